//! Benchmark: how fast the review UI answers with many cases in the database.
//!
//! Fills a fresh SQLite file with at least `IGW_BENCH_CASES` cases (default 5,000: the
//! 40 fixtures again and again, each copy a distinct message) through the real intake,
//! then times requests through the real router: the queue page, the queue with a
//! search word, the JSON API search, and one case page. Prints median and p95 over 30
//! requests each. Run it with `cargo bench --bench web_queue`; under `cargo test` it
//! does nothing.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::Utc;
use incident_gateway::store::messages::Origin;
use incident_gateway::store::users::{self, Role};
use incident_gateway::web;
use tower::ServiceExt;

mod common;

#[tokio::main]
async fn main() {
    let Some(bench) = common::start("web_queue").await else {
        return;
    };
    // The temporary directory stays with `bench` until the end.
    let (app, n, emls) = (bench.app, bench.n, bench.emls);
    let (store, pipeline) = (app.store.clone(), app.pipeline.clone());

    let started = Instant::now();
    let mut first = None;
    // Some fixtures make no case (auto-replies, bounces, replies to a tracking ID):
    // messages go in until the database holds at least `n` cases.
    let mut i = 0usize;
    loop {
        if i.is_multiple_of(emls.len()) {
            let mut c = store.acquire().await.expect("conn");
            let (cases, _) = incident_gateway::store::cases::counts(&mut c)
                .await
                .expect("counts");
            if cases as usize >= n {
                break;
            }
        }
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
        i += 1;
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
        fill.as_secs_f64() * 1000.0 / messages.max(1) as f64
    );

    // A session for the pages, a token for the API.
    let token = "igw_bench_token";
    let cookie = {
        let mut tx = store.begin_write().await.expect("tx");
        let cookie = common::session(&mut tx, "bench", Role::Analyst).await;
        users::add_token(&mut tx, "bench", token, Utc::now())
            .await
            .expect("token");
        tx.commit().await.expect("commit");
        cookie
    };
    let app = web::router(app.web_state());
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
            "queue page, overdue view",
            "/cases?view=overdue".into(),
            false,
        ),
        (
            "queue page, waiting on reporter",
            "/cases?view=waiting".into(),
            false,
        ),
        (
            "queue page, all by agency, page 20",
            "/cases?view=all&sort=agency&page=20".into(),
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
