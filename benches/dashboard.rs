//! Benchmark: how fast `/dashboard` renders over many cases.
//!
//! Opens `IGW_BENCH_CASES` cases (default 5,000: the 40 fixtures again and again, each
//! copy a distinct message) through the real intake, spread over the last 12 weeks,
//! sends their acknowledgements (to files) and has an analyst triage one in ten; then
//! times the dashboard (default range) through the real router, 30 requests, and prints
//! median and p95. `cargo bench --bench dashboard`; under `cargo test` it does nothing.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::Utc;
use incident_gateway::actions::By;
use incident_gateway::domain::Status;
use incident_gateway::store::messages::Origin;
use incident_gateway::store::users::Role;
use incident_gateway::web;
use tower::ServiceExt;

mod common;

#[tokio::main]
async fn main() {
    let Some(bench) = common::start("dashboard").await else {
        return;
    };
    // The temporary directory stays with `bench` until the end.
    let (app, n, emls) = (bench.app, bench.n, bench.emls);
    let n = n as i64;
    let emls: Vec<String> = emls
        .iter()
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect();

    let started = Instant::now();
    let now = Utc::now();
    let span = chrono::Duration::weeks(12).num_seconds();
    for i in 0..n {
        let eml = &emls[i as usize % emls.len()];
        let raw = format!("Message-ID: <dash-bench-{i}@bench.example>\r\nX-Bench: {i}\r\n")
            + &eml.replacen("Message-ID:", "X-Old-Message-ID:", 1);
        let at = now - chrono::Duration::seconds(span * i / n);
        let o = app
            .pipeline
            .ingest_at(raw.into_bytes(), &Origin::Demo, at)
            .await
            .expect("ingest");
        if let (Some(t), 0) = (o.tracking_id, i % 10) {
            app.actions
                .set_status(
                    &t.parse().expect("tracking id"),
                    Status::Triage,
                    By::cli("bench"),
                    at + chrono::Duration::minutes(30 + i % 300),
                )
                .await
                .expect("triage");
        }
    }
    let sent = app.worker().drain().await.expect("outbox").len();
    println!(
        "opened {n} cases over 12 weeks, {sent} outbound sent, in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let cookie = {
        let mut tx = app.store.begin_write().await.expect("tx");
        let cookie = common::session(&mut tx, "bench", Role::Viewer).await;
        tx.commit().await.expect("commit");
        cookie
    };
    // Each aggregate alone (one query each), to see where the time goes.
    {
        use incident_gateway::store::stats;
        let r = incident_gateway::reports::Range::last_weeks(Utc::now(), 12);
        let (f, t) = (r.from, r.to);
        let mut c = app.store.acquire().await.expect("conn");
        macro_rules! time {
            ($what:literal, $e:expr) => {{
                let s = Instant::now();
                for _ in 0..10 {
                    $e.await.expect($what);
                }
                println!(
                    "  {:<24} {:>7.1} ms",
                    $what,
                    s.elapsed().as_secs_f64() * 100.0
                );
            }};
        }
        time!(
            "weekly_by_category",
            stats::weekly_by_category(&mut c, f, t)
        );
        time!("weekly_by_agency", stats::weekly_by_agency(&mut c, f, t));
        time!(
            "open_by_severity_age",
            stats::open_by_severity_age(&mut c, t)
        );
        time!("time_to_ack", stats::time_to_ack(&mut c, f, t));
        time!("time_to_triage", stats::time_to_triage(&mut c, f, t));
        time!(
            "shared_indicators",
            stats::shared_indicators(&mut c, f, t, 15)
        );
        time!("completeness", stats::completeness(&mut c, f, t));
    }
    let router = web::router(app.web_state());
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..30 {
        let req = Request::get("/dashboard")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .expect("request");
        let t = Instant::now();
        let res = router.clone().oneshot(req).await.expect("response");
        let status = res.status();
        bytes = axum::body::to_bytes(res.into_body(), 64 << 20)
            .await
            .map(|b| b.len())
            .unwrap_or(0);
        times.push(t.elapsed());
        assert_eq!(status, StatusCode::OK);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "/dashboard (12 weeks, {n} cases, {bytes} bytes)   median {:>7.1} ms   p95 {:>7.1} ms",
        ms(times[times.len() / 2]),
        ms(times[times.len() * 95 / 100])
    );
}
