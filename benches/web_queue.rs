//! Benchmark: how fast the review UI answers with many cases in the database.
//!
//! Fills a fresh SQLite file with `IGW_BENCH_CASES` cases (default 5,000: the 40
//! fixtures again and again, each copy a distinct message) through the real intake,
//! then times requests through the real router: the queue page, the queue with a
//! search word, the JSON API search, and one case page. Prints median and p95 over 30
//! requests each. Run it with `cargo bench --bench web_queue`; under `cargo test` it
//! does nothing.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::Utc;
use incident_gateway::config::Config;
use incident_gateway::service::Application;
use incident_gateway::store::messages::Origin;
use incident_gateway::store::users::{self, Role};
use incident_gateway::web;
use tower::ServiceExt;

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("web_queue: a benchmark; run it with `cargo bench --bench web_queue`");
        return;
    }
    let n: usize = std::env::var("IGW_BENCH_CASES")
        .ok()
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000)
        .max(40);
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = format!("{}/fixtures", env!("CARGO_MANIFEST_DIR"));
    let text = format!(
        "[gateway]\ndata_dir = \"{}\"\ndirectory = \"{fixtures}/directory.toml\"\n",
        dir.path().display()
    );
    let config =
        Config::from_toml_with_env(&text, "bench", Vec::<(String, String)>::new()).expect("config");
    let app = Application::build(config).await.expect("application");
    let (store, pipeline) = (app.store.clone(), app.pipeline.clone());
    let mut emls: Vec<Vec<u8>> = std::fs::read_dir(&fixtures)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| std::fs::read(p).expect("fixture"))
        .collect();
    emls.sort();

    let started = Instant::now();
    let mut first = None;
    for i in 0..n {
        // A distinct message each time: a new Message-ID and a line of its own.
        let raw = String::from_utf8_lossy(&emls[i % emls.len()])
            .replacen(
                "Message-ID:",
                &format!("X-Bench: {i}\r\nX-Old-Message-ID:"),
                1,
            )
            .replacen(
                "\r\n\r\n",
                &format!("\r\nMessage-ID: <bench-{i}@bench.example>\r\n\r\n"),
                1,
            );
        let o = pipeline
            .ingest(raw.as_bytes(), &Origin::Demo)
            .await
            .expect("ingest");
        if first.is_none() {
            first = o.tracking_id.clone();
        }
    }
    let fill = started.elapsed();
    let (cases, messages) = {
        let mut c = store.acquire().await.expect("conn");
        incident_gateway::store::cases::counts(&mut c)
            .await
            .expect("counts")
    };
    println!(
        "filled {cases} cases ({messages} messages) in {:.1} s ({:.1} ms per message through intake)",
        fill.as_secs_f64(),
        fill.as_secs_f64() * 1000.0 / n as f64
    );

    // A session for the pages, a token for the API.
    let sid = "b".repeat(64);
    let token = "igw_bench_token";
    {
        let mut tx = store.begin_write().await.expect("tx");
        let hash = web::auth::hash_password("bench-password-1").expect("hash");
        let id = users::add(&mut tx, "bench", Role::Analyst, &hash, Utc::now())
            .await
            .expect("user");
        users::create_session(
            &mut tx,
            &sid,
            id,
            &"c".repeat(64),
            Utc::now(),
            chrono::Duration::hours(1),
        )
        .await
        .expect("session");
        users::add_token(&mut tx, "bench", token, Utc::now())
            .await
            .expect("token");
        tx.commit().await.expect("commit");
    }
    let app = web::router(app.web_state());
    let cookie = format!("{}={sid}", web::auth::SESSION_COOKIE);
    let tid = first.expect("a case");

    for (what, path, auth) in [
        ("queue page, no filter", "/cases".to_string(), false),
        (
            "queue page, search 'password'",
            "/cases?q=password".into(),
            false,
        ),
        (
            "queue page, status=new & severity=high",
            "/cases?status=new&severity=high".into(),
            false,
        ),
        (
            "API search 'ransomware'",
            "/api/v1/cases?q=ransomware".into(),
            true,
        ),
        ("case page", format!("/cases/{tid}"), false),
    ] {
        let mut times = Vec::new();
        for _ in 0..30 {
            let mut req = Request::get(&path);
            req = if auth {
                req.header(header::AUTHORIZATION, format!("Bearer {token}"))
            } else {
                req.header(header::COOKIE, &cookie)
            };
            let t = Instant::now();
            let res = app
                .clone()
                .oneshot(req.body(Body::empty()).expect("request"))
                .await
                .expect("response");
            let status = res.status();
            let _ = axum::body::to_bytes(res.into_body(), 64 << 20).await;
            times.push(t.elapsed());
            assert_eq!(status, StatusCode::OK, "{path}");
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{what:<42} median {:>7.1} ms   p95 {:>7.1} ms",
            ms(times[times.len() / 2]),
            ms(times[times.len() * 95 / 100])
        );
    }
}
