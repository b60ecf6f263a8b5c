//! A database made before the queue's search and clocks (migration
//! 20261203000001_queue_search) upgrades in place: what it already holds is searchable,
//! and each case's missing count and clocks are filled in from its rows.

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

#[tokio::test]
async fn a_database_from_before_the_queue_search_is_filled_in_on_upgrade() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The migrations as they stood before: the same files, so the upgrade sees them as
    // already applied.
    let old = dir.path().join("migrations-before");
    std::fs::create_dir(&old).expect("dir");
    let all = format!("{}/migrations", env!("CARGO_MANIFEST_DIR"));
    for e in std::fs::read_dir(&all).expect("migrations") {
        let p = e.expect("entry").path();
        let name = p.file_name().expect("name").to_string_lossy().to_string();
        if name.as_str() < "20261203000001" {
            std::fs::copy(&p, old.join(&name)).expect("copy");
        }
    }
    let opts = SqliteConnectOptions::new()
        .filename(dir.path().join("gateway.db"))
        .create_if_missing(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .expect("open");
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .expect("old migrations")
        .run(&pool)
        .await
        .expect("old schema");

    // A case as wave 1 stored it: its report with the analysis, the acknowledgement.
    for sql in [
        "insert into cases (id, tracking_id, status, subject, agency, reporter_email,
            missing_json, created_at, updated_at)
         values (1, 'SOC-2026-000001', 'new', 'Suspicious payroll email', 'Department of Revenue',
            'maria.costa@dor.state.ma.us', '[\"systems_affected\",\"actions_taken\"]',
            '2026-11-30T14:00:00.000Z', '2026-11-30T14:00:00.000Z')",
        "insert into messages (id, case_id, kind, origin, content_hash, from_addr, subject,
            size, raw, received_at, analysis_json)
         values (7, 1, 'report', 'pipe', 'h1', 'maria.costa@dor.state.ma.us',
            'Suspicious payroll email', 3, x'414243', '2026-11-30T14:00:00.000Z',
            '{\"note\": \"Staff got a fake Workday login page\",
              \"evidence\": [{\"from\": \"hr@commonwealth-hrcms.com\", \"subject\": \"Update your direct deposit\",
                              \"text\": \"Click here to keep your pay\"}],
              \"iocs\": {\"ipv4\": [\"192.0.2.57\"], \"domains\": [\"commonwealth-hrcms.com\"]},
              \"attachments\": [{\"name\": \"screenshot.png\", \"sha256\": \"ab12\"}]}')",
        "insert into outbox (case_id, kind, message_id, from_addr, recipient, to_json, subject,
            raw, status, next_attempt_at, created_at)
         values (1, 'ack', '<ack-1@soc>', 'soc@mass.gov', 'maria.costa@dor.state.ma.us', '[]',
            '[SOC-2026-000001] Received', x'00', 'sent', '2026-11-30T14:00:01.000Z',
            '2026-11-30T14:00:01.000Z')",
        "insert into outbox (case_id, kind, message_id, from_addr, recipient, to_json, subject,
            raw, status, next_attempt_at, created_at)
         values (1, 'scio_new', '<scio-1@soc>', 'soc@mass.gov', 'scio@anf.state.ma.us', '[]',
            '[SOC-2026-000001] New incident', x'00', 'sent', '2026-11-30T14:00:02.000Z',
            '2026-11-30T14:00:02.000Z')",
    ] {
        sqlx::query(sql).execute(&pool).await.expect(sql);
    }

    incident_gateway::store::MIGRATOR
        .run(&pool)
        .await
        .expect("the upgrade");

    let found = |q: &'static str| {
        let pool = pool.clone();
        async move {
            let ids: Vec<i64> = sqlx::query_scalar(
                "select rowid from search_text where search_text match ? order by rowid",
            )
            .bind(q)
            .fetch_all(&pool)
            .await
            .expect("search");
            ids
        }
    };
    // The case's own document (rowid -1) and the message's (7).
    assert_eq!(found("\"payroll\"*").await, vec![-1, 7]);
    assert_eq!(found("\"workday\"").await, vec![7], "the reporter's note");
    assert_eq!(found("\"direct deposit\"").await, vec![7], "the evidence");
    assert_eq!(found("\"192.0.2.57\"").await, vec![7], "an indicator");
    assert_eq!(
        found("\"screenshot\"").await,
        vec![7],
        "an attachment's name"
    );
    assert_eq!(
        found("\"SOC-2026-000001\"").await,
        vec![-1],
        "the tracking ID"
    );
    let (missing, scio, asked, received): (i64, Option<String>, Option<String>, Option<String>) =
        sqlx::query_as(
            "select missing_count, last_scio_at, last_asked_at, last_received_at from cases where id = 1",
        )
        .fetch_one(&pool)
        .await
        .expect("case");
    assert_eq!(missing, 2);
    assert_eq!(scio.as_deref(), Some("2026-11-30T14:00:02.000Z"));
    assert_eq!(asked.as_deref(), Some("2026-11-30T14:00:01.000Z"));
    assert_eq!(received.as_deref(), Some("2026-11-30T14:00:00.000Z"));
}
