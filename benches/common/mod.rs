//! Shared by the benchmarks: an account signed in to the review UI.

use chrono::Utc;
use incident_gateway::store::users::{self, Role};
use incident_gateway::store::WriteTx;
use incident_gateway::web;

/// Adds account `name` with `role` and an hour's session in `tx`; returns the
/// `Cookie` header value that carries the session.
pub async fn session(tx: &mut WriteTx, name: &str, role: Role) -> String {
    let sid = "b".repeat(64);
    let hash = web::auth::hash_password("bench-password-1").expect("hash");
    let id = users::add(tx, name, role, &hash, Utc::now())
        .await
        .expect("user");
    users::create_session(
        tx,
        &sid,
        id,
        &"c".repeat(64),
        Utc::now(),
        chrono::Duration::hours(1),
    )
    .await
    .expect("session");
    format!("{}={sid}", web::auth::SESSION_COOKIE)
}

/// A benchmark's gateway: a fresh database, the sample directory, the fixtures' bytes.
pub struct Bench {
    /// Kept (not read) so the database outlives the benchmark.
    pub _dir: tempfile::TempDir,
    pub app: incident_gateway::service::Application,
    /// `IGW_BENCH_CASES` (default 5,000, at least 40).
    pub n: usize,
    /// The fixtures' `.eml` files, in name order.
    pub emls: Vec<Vec<u8>>,
}

/// `None` (after saying how to run it) unless run by `cargo bench`.
pub async fn start(name: &str) -> Option<Bench> {
    if !std::env::args().any(|a| a == "--bench") {
        println!("{name}: a benchmark; run it with `cargo bench --bench {name}`");
        return None;
    }
    let n: usize = std::env::var("IGW_BENCH_CASES")
        .ok()
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000)
        .max(40);
    let mut dir = tempfile::tempdir().expect("tempdir");
    if std::env::var_os("IGW_BENCH_KEEP").is_some() {
        // Kept for a look afterwards (`EXPLAIN QUERY PLAN`, say).
        dir.disable_cleanup(true);
        println!("keeping the database under {}", dir.path().display());
    }
    let fixtures = format!("{}/fixtures", env!("CARGO_MANIFEST_DIR"));
    // Copies of one fixture stand for distinct reports here, not for a campaign.
    let text = format!(
        "[gateway]\ndata_dir = \"{}\"\ndirectory = \"{fixtures}/directory.toml\"\ncampaign_window_hours = 0\n",
        dir.path().display()
    );
    let config = incident_gateway::config::Config::from_toml_with_env(
        &text,
        "bench",
        Vec::<(String, String)>::new(),
    )
    .expect("config");
    let app = incident_gateway::service::Application::build(config)
        .await
        .expect("application");
    let mut emls: Vec<Vec<u8>> = std::fs::read_dir(&fixtures)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| std::fs::read(p).expect("fixture"))
        .collect();
    emls.sort();
    Some(Bench {
        _dir: dir,
        app,
        n,
        emls,
    })
}
