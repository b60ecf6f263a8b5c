//! Every message of the shared public corpus goes through `ingest` (the MTA pipe path):
//! no panic, exit 0, and each one stored byte for byte (or recognised as a duplicate
//! of a stored one).

mod common;

use std::process::{Command, Stdio};

use common::corpus::{corpus_dir, corpus_files};

use std::io::Write;

#[test]
fn every_corpus_message_is_ingested_and_stored() {
    let Some(dir) = corpus_dir() else { return };
    let files = corpus_files(&dir);
    assert!(
        files.len() > 1000,
        "expected the whole corpus, found {} files",
        files.len()
    );

    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = tmp.path().join("gateway.toml");
    std::fs::write(
        &cfg,
        format!(
            "[gateway]\ndata_dir = \"{}\"\nack_rate_limit_per_hour = 100000\n",
            tmp.path().display()
        ),
    )
    .expect("write config");

    let mut rows = Vec::with_capacity(files.len());
    for f in &files {
        let raw = std::fs::read(f).expect("read corpus file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_incident-gateway"))
            .args(["ingest", "--config"])
            .arg(&cfg)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ingest");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&raw)
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait ingest");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: ingest exited {:?}\nstdout: {stdout}\nstderr: {}",
            f.display(),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        let row: i64 = stdout
            .strip_prefix("stored message #")
            .and_then(|s| s.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{}: unexpected ingest output {stdout}", f.display()));
        rows.push((f.clone(), raw, row));
    }

    // Check the database: each file's row holds its bytes, or the same content
    // (a duplicate by Message-ID + content hash, stored once).
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!(
            "sqlite://{}",
            tmp.path().join("gateway.db").display()
        ))
        .await
        .expect("open db");
        let mut distinct = std::collections::BTreeSet::new();
        for (f, raw, row) in &rows {
            let (stored, hash): (Vec<u8>, String) =
                sqlx::query_as("select raw, content_hash from messages where id = ?")
                    .bind(row)
                    .fetch_one(&pool)
                    .await
                    .unwrap_or_else(|e| panic!("{}: row {row} missing: {e}", f.display()));
            assert!(
                stored == *raw || hash == incident_gateway::extract::content_hash(raw),
                "{}: row {row} holds other content",
                f.display()
            );
            distinct.insert(*row);
        }
        let total: i64 = sqlx::query_scalar("select count(*) from messages")
            .fetch_one(&pool)
            .await
            .expect("count");
        assert_eq!(
            total as usize,
            distinct.len(),
            "every stored row belongs to a corpus file"
        );
        let by_kind: Vec<(String, i64)> =
            sqlx::query_as("select kind, count(*) from messages group by kind order by kind")
                .fetch_all(&pool)
                .await
                .expect("kinds");
        eprintln!(
            "corpus: {} files ingested, {} distinct messages stored, by kind: {by_kind:?}",
            rows.len(),
            distinct.len()
        );
    });
}

#[test]
fn every_corpus_message_goes_through_parse_json() {
    let Some(dir) = corpus_dir() else { return };
    let files = corpus_files(&dir);
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for f in &files {
        let out = Command::new(env!("CARGO_BIN_EXE_incident-gateway"))
            .env_remove("IGW_CONFIG")
            .args(["parse", "--json"])
            .arg(f)
            .output()
            .expect("spawn parse");
        assert!(
            out.status.success(),
            "{}: parse exited {:?}: {}",
            f.display(),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: parse --json printed no JSON: {e}", f.display()));
        for key in [
            "kind",
            "acknowledge",
            "tracking_id",
            "category",
            "severity_suggested",
            "fields",
            "missing",
            "iocs",
            "attachments",
        ] {
            assert!(
                v.get(key).is_some(),
                "{}: no '{key}' in the parse output",
                f.display()
            );
        }
        *kinds
            .entry(v["kind"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    eprintln!(
        "corpus: {} files through parse --json, by kind: {kinds:?}",
        files.len()
    );
}
