//! The review UI in real headless Chromium (Debian's `chromium` + `chromium-driver`,
//! installed by scripts/install-test-deps.sh), driven over the W3C WebDriver protocol
//! by the small client below.

use std::net::TcpListener as StdListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use incident_gateway::config::Config;
use incident_gateway::service::Application;
use incident_gateway::store::messages::Origin;
use incident_gateway::store::users::{self, Role};
use incident_gateway::web;
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// chromedriver, stopped when dropped.
struct Driver {
    child: Child,
    base: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver leads its own process group, Chromium included: stop them all,
        // even when the test failed before closing its session.
        // SAFETY: signalling the process group of a child we started.
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver session.
struct Browser {
    http: reqwest::Client,
    session: String,
}

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = res.status();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "WebDriver {url} failed: {status} {v}");
        v["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Waits up to 20 s for an element matching `css`.
    async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let url = format!("{}/element", self.session);
            let res = self
                .http
                .post(&url)
                .json(&json!({ "using": "css selector", "value": css }))
                .send()
                .await
                .expect("find element");
            let ok = res.status().is_success();
            let v: Value = res.json().await.unwrap_or(Value::Null);
            if ok {
                return v["value"][ELEMENT]
                    .as_str()
                    .expect("element id")
                    .to_string();
            }
            if Instant::now() > deadline {
                let src = self.call(reqwest::Method::GET, "/source", None).await;
                panic!("no element {css} on {}: {src}", self.url().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Presses keys as a person would (W3C actions: key down, key up, each in turn),
    /// into whatever has the focus.
    async fn keys(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|k| {
                let k = k.to_string();
                [
                    json!({ "type": "keyDown", "value": k }),
                    json!({ "type": "keyUp", "value": k }),
                ]
            })
            .collect();
        self.call(
            reqwest::Method::POST,
            "/actions",
            Some(json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] })),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// The text of the first element matching `css`, if there is one now (a page
    /// being replaced answers "stale element": that is `None` too).
    async fn try_text(&self, css: &str) -> Option<String> {
        let res = self
            .http
            .post(format!("{}/element", self.session))
            .json(&json!({ "using": "css selector", "value": css }))
            .send()
            .await
            .ok()?;
        let v: Value = res.json().await.ok()?;
        let id = v["value"][ELEMENT].as_str()?.to_string();
        let res = self
            .http
            .get(format!("{}/element/{id}/text", self.session))
            .send()
            .await
            .ok()?;
        if !res.status().is_success() {
            return None;
        }
        let v: Value = res.json().await.ok()?;
        v["value"].as_str().map(String::from)
    }

    /// Waits up to 20 s for the text of `css` to contain `want`.
    async fn wait_text(&self, css: &str, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let t = self.try_text(css).await.unwrap_or_default();
            if t.contains(want) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "{css} says {t:?}, never {want:?} (at {})",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// With `IGW_SCREENSHOT_DIR` set, saves a PNG of the page (for looking at the UI).
    async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("IGW_SCREENSHOT_DIR") else {
            return;
        };
        use base64::Engine as _;
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .expect("screenshot is base64");
        std::fs::write(Path::new(&dir).join(format!("{name}.png")), png).expect("save screenshot");
    }

    async fn quit(&self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

async fn start_browser(profile: &Path) -> (Driver, Browser) {
    let port = free_port();
    use std::os::unix::process::CommandExt;
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = http
            .get(format!("{}/status", driver.base))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success());
        if let Some(r) = ready {
            let v: Value = r.json().await.unwrap_or(Value::Null);
            if v["value"]["ready"] == true {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let caps = json!({ "capabilities": { "alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    }}});
    let res = http
        .post(format!("{}/session", driver.base))
        .json(&caps)
        .send()
        .await
        .expect("new session");
    let status = res.status();
    let v: Value = res.json().await.expect("session json");
    assert!(status.is_success(), "Chromium did not start: {v}");
    let id = v["value"]["sessionId"].as_str().expect("session id");
    let session = format!("{}/session/{id}", driver.base);
    (driver, Browser { http, session })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_logs_in_and_reads_a_case() {
    if chromium_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // The sample directory: fixture 01's agency has an SCIO, so updates have a thread.
    let text = format!(
        "[gateway]\ndata_dir = \"{}\"\ndirectory = \"{}/fixtures/directory.toml\"\n",
        dir.path().display(),
        env!("CARGO_MANIFEST_DIR")
    );
    let config =
        Config::from_toml_with_env(&text, "test", Vec::<(String, String)>::new()).expect("config");
    let app = Application::build(config).await.expect("application");
    let (store, pipeline) = (app.store.clone(), app.pipeline.clone());
    let raw = std::fs::read(format!(
        "{}/fixtures/01-phish-payroll-plain.eml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let tid = pipeline
        .ingest(&raw, &Origin::Pipe)
        .await
        .expect("ingest")
        .tracking_id
        .expect("a case")
        .to_string();
    {
        let hash = web::auth::hash_password("analyst-password-1").expect("hash");
        let mut tx = store.begin_write().await.expect("tx");
        users::add(&mut tx, "ana", Role::Analyst, &hash, Utc::now())
            .await
            .expect("user");
        tx.commit().await.expect("commit");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(web::serve_on(listener, app.web_state(), rx));

    let profile = dir.path().join("chromium-profile");
    let (_driver, b) = start_browser(&profile).await;

    // Not logged in: the queue sends us to the login form.
    b.goto(&format!("{base}/cases")).await;
    b.find("#login-submit").await;
    assert!(b.url().await.ends_with("/login"), "{}", b.url().await);
    b.type_into("#username", "ana").await;
    b.type_into("#password", "analyst-password-1").await;
    b.click("#login-submit").await;

    // The queue lists the case.
    let link = b.wait_text("#queue a.case-link", &tid).await;
    assert_eq!(link, tid);
    b.screenshot("queue").await;
    b.click("#queue a.case-link").await;

    // The case page: a field with its value and its source line, highlighted.
    b.wait_text("#case-title", &tid).await;
    let phone = b.text("#field-reporter_phone .value").await;
    assert_eq!(phone, "+16175550142");
    let line = b.text("#field-reporter_phone .source mark").await;
    assert_eq!(line, "If you need anything else, call me at 617-555-0142.");

    // Edit the field through the form; the new value and the event show.
    b.type_into("#field-reporter_phone [name=value]", "617-555-7777")
        .await;
    b.click("#field-reporter_phone button[type=submit]").await;
    b.wait_text("#field-reporter_phone .value", "617-555-7777")
        .await;
    b.wait_text("#timeline", "field_changed").await;
    b.screenshot("case").await;

    // Severity: the analyst's choice shows, and the change is in the timeline.
    b.click("#severity-select option[value=critical]").await;
    b.click("#severity-submit").await;
    b.wait_text("#case-severity", "critical").await;
    b.wait_text("#timeline", "severity_changed").await;

    // An update to the SCIO thread: previewed as the email, then sent, then in the
    // timeline.
    let update = "Contained: the sender domain is blocked at the gateway.";
    b.type_into("#update-message", update).await;
    b.click("#update-preview").await;
    b.wait_text("#preview-subject", &format!("Re: [{tid}] New incident"))
        .await;
    assert!(b.text("#preview-to").await.contains("scio@anf.state.ma.us"));
    assert!(b.text("#preview-text").await.contains(update));
    b.screenshot("preview").await;
    b.click("#update-send").await;
    b.wait_text("#timeline", "scio_update_queued").await;
    b.wait_text("#timeline", update).await;
    b.screenshot("after-update").await;

    b.quit().await;
    let _ = stop.send(true);
    let _ = server.await;
}

/// created_at, category, status, severity, severity_suggested, missing_json.
type CaseCounted = (
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    String,
);

/// The week (its Monday, UTC) of a stored timestamp, counted here without SQL dates.
fn week_of(stored: &str) -> String {
    use chrono::Datelike;
    let t = chrono::DateTime::parse_from_rfc3339(stored).expect("stored time");
    let d = t.with_timezone(&Utc).date_naive();
    (d - chrono::Duration::days(d.weekday().num_days_from_monday() as i64))
        .format("%Y-%m-%d")
        .to_string()
}

/// The dashboard over the demo data (the 40 fixtures, opened over ten weeks), opened
/// by a viewer in Chromium: each number in its tables equals a count made here from
/// the rows of the same database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_reads_the_dashboard_and_its_numbers_are_the_databases() {
    use incident_gateway::actions::By;
    use incident_gateway::domain::Status;
    use std::collections::BTreeMap;

    if chromium_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = env!("CARGO_MANIFEST_DIR");
    let text = format!(
        "[gateway]\ndata_dir = \"{}\"\ndirectory = \"{root}/fixtures/directory.toml\"\n",
        dir.path().display(),
    );
    let config =
        Config::from_toml_with_env(&text, "test", Vec::<(String, String)>::new()).expect("config");
    let app = Application::build(config).await.expect("application");
    let store = app.store.clone();
    let mut files: Vec<_> = std::fs::read_dir(format!("{root}/fixtures"))
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 40, "the demo data is the 40 fixtures");
    let now = Utc::now();
    let mut tids = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let raw = std::fs::read(f).expect("fixture");
        // Opened over the last ten weeks, a case every 41 hours.
        let at = now - chrono::Duration::hours(41 * i as i64);
        let o = app
            .pipeline
            .ingest_at(raw, &Origin::Demo, at)
            .await
            .expect("ingest");
        if let Some(t) = o.tracking_id {
            tids.push((t, at));
        }
    }
    // Every acknowledgement sent (to files), and an analyst triages every third case.
    app.worker().drain().await.expect("outbox");
    for (t, at) in tids.iter().step_by(3) {
        app.actions
            .set_status(
                &t.parse().expect("tracking id"),
                Status::Triage,
                By::cli("ana"),
                *at + chrono::Duration::minutes(90),
            )
            .await
            .expect("triage");
    }
    {
        let hash = web::auth::hash_password("viewer-password-1").expect("hash");
        let mut tx = store.begin_write().await.expect("tx");
        users::add(&mut tx, "vic", Role::Viewer, &hash, Utc::now())
            .await
            .expect("user");
        tx.commit().await.expect("commit");
    }

    // The counts, from the rows.
    let mut conn = store.acquire().await.expect("conn");
    let rows: Vec<CaseCounted> = sqlx::query_as(
        "select created_at, category, status, severity, severity_suggested, missing_json
             from cases where merged_into is null",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("cases");
    let acked: Vec<(String,)> = sqlx::query_as(
        "select c.created_at from cases c where c.merged_into is null and exists
            (select 1 from outbox o where o.case_id = c.id and o.kind = 'ack' and o.status = 'sent')",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("acks");
    drop(conn);
    assert!(rows.len() >= 30, "{} cases", rows.len());
    let mut by_week_cat: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut by_week: BTreeMap<String, i64> = BTreeMap::new();
    let mut open_by_sev: BTreeMap<String, i64> = BTreeMap::new();
    let mut incomplete = 0;
    for (created, category, status, sev, suggested, missing) in &rows {
        let w = week_of(created);
        let cat = category.clone().unwrap_or_else(|| "uncategorised".into());
        *by_week_cat.entry((w.clone(), cat)).or_default() += 1;
        *by_week.entry(w).or_default() += 1;
        if status != "resolved" && status != "closed" {
            let s = sev
                .clone()
                .or(suggested.clone())
                .unwrap_or_else(|| "unset".into());
            *open_by_sev.entry(s).or_default() += 1;
        }
        if missing.trim() != "[]" {
            incomplete += 1;
        }
    }
    let mut acked_by_week: BTreeMap<String, i64> = BTreeMap::new();
    for (created,) in &acked {
        *acked_by_week.entry(week_of(created)).or_default() += 1;
    }
    assert!(by_week.len() >= 9, "spread over weeks: {by_week:?}");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(web::serve_on(listener, app.web_state(), rx));
    let profile = dir.path().join("chromium-profile");
    let (_driver, b) = start_browser(&profile).await;
    b.goto(&format!("{base}/dashboard")).await;
    b.find("#login-submit").await;
    b.type_into("#username", "vic").await;
    b.type_into("#password", "viewer-password-1").await;
    b.click("#login-submit").await;
    // The login lands on the queue; wait for it, or that navigation may still be
    // under way when the dashboard is asked for, and win.
    b.find("#queue").await;
    b.goto(&format!("{base}/dashboard")).await;
    b.find("#c-by-category").await;
    assert_eq!(b.text("#total").await, rows.len().to_string());

    let cell = |table: &str, key: &str, series: &str| {
        format!(r#"#t-{table} td[data-key="{key}"][data-series="{series}"]"#)
    };
    for ((w, cat), n) in &by_week_cat {
        assert_eq!(
            b.text(&cell("by-category", w, cat)).await,
            n.to_string(),
            "{w} {cat}"
        );
    }
    for (w, n) in &by_week {
        assert_eq!(
            b.text(&cell("by-category", w, "Total")).await,
            n.to_string(),
            "{w}"
        );
        assert_eq!(
            b.text(&cell("by-secretariat", w, "Total")).await,
            n.to_string(),
            "{w}"
        );
    }
    for (s, n) in &open_by_sev {
        assert_eq!(
            b.text(&cell("open", s, "Total")).await,
            n.to_string(),
            "open {s}"
        );
    }
    for (w, n) in &acked_by_week {
        assert_eq!(
            b.text(&cell("ack", w, "cases")).await,
            n.to_string(),
            "acks {w}"
        );
    }
    assert_eq!(
        b.text(&cell("complete", "incomplete", "cases")).await,
        incomplete.to_string()
    );
    // Each triaged case was triaged 90 minutes after it opened.
    let triage_week = week_of(&incident_gateway::store::ts(tids[0].1));
    assert_eq!(
        b.text(&cell("triage", &triage_week, "median")).await,
        "90.0"
    );
    b.screenshot("dashboard").await;

    // A narrower range (what the form's GET asks for): only the last week's cases,
    // and no row for the weeks before it.
    let last = by_week.keys().last().expect("a week").clone();
    let oldest = by_week.keys().next().expect("a week").clone();
    b.goto(&format!(
        "{base}/dashboard?from={last}&to={}",
        now.format("%Y-%m-%d")
    ))
    .await;
    b.wait_text("#total", &by_week[&last].to_string()).await;
    assert!(b
        .try_text(&cell("by-category", &oldest, "Total"))
        .await
        .is_none());
    assert_eq!(
        b.text(&cell("by-category", &last, "Total")).await,
        by_week[&last].to_string()
    );

    b.quit().await;
    let _ = stop.send(true);
    let _ = server.await;
}

/// Whether the page fits `width` CSS pixels with no sideways scrolling.
async fn fits(b: &Browser, width: u32) -> (i64, i64) {
    b.call(
        reqwest::Method::POST,
        "/window/rect",
        Some(json!({ "width": width, "height": 900 })),
    )
    .await;
    let v = b
        .call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({
                "script": "return [document.documentElement.scrollWidth, window.innerWidth];",
                "args": []
            })),
        )
        .await;
    (v[0].as_i64().unwrap_or(-1), v[1].as_i64().unwrap_or(-1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mail_people_read_fits_a_phone_and_outlooks_reading_pane() {
    if chromium_missing() {
        return;
    }
    use incident_gateway::actions::By;
    use incident_gateway::domain::{Flag, Severity};
    use incident_gateway::store::{cases, outbox};
    let dir = tempfile::tempdir().expect("tempdir");
    let root = env!("CARGO_MANIFEST_DIR");
    let text = format!(
        "[gateway]\ndata_dir = \"{}\"\ndirectory = \"{root}/fixtures/directory.toml\"\nphone = \"617-555-0100\"\n",
        dir.path().display(),
    );
    let config =
        Config::from_toml_with_env(&text, "test", Vec::<(String, String)>::new()).expect("config");
    let app = Application::build(config).await.expect("application");
    // Fixture 09: an agency with an SCIO in the sample directory, a long report line.
    let raw =
        std::fs::read(format!("{root}/fixtures/09-defacement-mcb-latin1.eml")).expect("fixture");
    let tid = app
        .pipeline
        .ingest(&raw, &Origin::Pipe)
        .await
        .expect("ingest")
        .tracking_id
        .expect("a case")
        .to_string();
    let tid: incident_gateway::domain::TrackingId = tid.parse().expect("tracking id");
    let now = Utc::now();
    let by = By::cli("ana");
    let a = &app.actions;
    a.set_severity(&tid, Severity::Critical, by, now)
        .await
        .expect("severity");
    a.assign(&tid, Some("bo@mass.gov"), by, now)
        .await
        .expect("assign");
    a.set_flag(&tid, Flag::MajorIncident, true, by, now)
        .await
        .expect("flag");
    a.set_flag(&tid, Flag::MajorIncident, false, by, now)
        .await
        .expect("clear");
    let mut conn = app.store.acquire().await.expect("conn");
    let case = cases::by_tracking_id(&mut conn, &tid)
        .await
        .expect("read")
        .expect("case");
    let rows = outbox::for_case(&mut conn, case.id).await.expect("outbox");
    let mut kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    kinds.dedup();
    for want in ["ack", "scio_new", "scio_update", "soc_notice", "escalation"] {
        assert!(kinds.contains(&want), "no {want} among {kinds:?}");
    }

    let (_driver, b) = start_browser(&dir.path().join("chromium-profile")).await;
    let mut seen = std::collections::HashSet::new();
    for r in &rows {
        // One of each kind and subject (the thread's copies to each reader are alike).
        if !seen.insert((r.kind.clone(), r.subject.clone())) {
            continue;
        }
        let raw = outbox::raw(&mut conn, r.id)
            .await
            .expect("raw")
            .expect("bytes");
        let msg = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("our own mail parses");
        let html = msg.body_html(0).expect("an HTML part").to_string();
        let text = msg.body_text(0).expect("a text part").to_string();
        if text.contains("call the SOC") || text.contains("call\nthe SOC") {
            assert!(
                text.contains("617-555-0100"),
                "{}: no phone number in\n{text}",
                r.kind
            );
        }
        if r.kind == "scio_update" {
            assert!(html.contains("<h3>What changed</h3>"), "{html}");
            assert!(html.contains("<h3>Where the case stands</h3>"), "{html}");
        }
        let file = dir.path().join(format!("mail-{}.html", r.id));
        std::fs::write(&file, &html).expect("write");
        b.goto(&format!("file://{}", file.display())).await;
        for width in [400, 760] {
            let (scroll, inner) = fits(&b, width).await;
            assert!(
                scroll <= inner,
                "{} \"{}\" is {scroll} px wide in a {inner} px window",
                r.kind,
                r.subject
            );
            b.screenshot(&format!("mail-{}-{}-{width}", r.id, r.kind))
                .await;
        }
    }
    b.quit().await;
}

/// Skips (or, under CI, fails) when Debian's Chromium is not installed.
fn chromium_missing() -> bool {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return false;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{CHROMIUM} or {CHROMEDRIVER} missing under CI: scripts/install-test-deps.sh should have installed them");
    }
    eprintln!("SKIPPED: {CHROMIUM} or {CHROMEDRIVER} missing; run scripts/install-test-deps.sh");
    true
}

/// Runs `script` in the page and returns its value.
async fn eval(b: &Browser, script: &str) -> Value {
    b.call(
        reqwest::Method::POST,
        "/execute/sync",
        Some(json!({ "script": script, "args": [] })),
    )
    .await
}

/// What the analyst did, counted as the closing note reports it.
#[derive(Default, Debug)]
struct Walk {
    loads: u32,
    clicks: u32,
    typed: u32,
    keys: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analysts_morning_with_the_forty_fixtures() {
    if chromium_missing() {
        return;
    }
    use incident_gateway::domain::TrackingId;
    use incident_gateway::store::cases::{self, NewCase};
    let dir = tempfile::tempdir().expect("tempdir");
    let root = env!("CARGO_MANIFEST_DIR");
    let text = format!(
        "[gateway]\ndata_dir = \"{}\"\ndirectory = \"{root}/fixtures/directory.toml\"\n[soc]\nassignee_domain = \"mass.gov\"\n[web]\nqueue_refresh_seconds = 1\n",
        dir.path().display(),
    );
    let config =
        Config::from_toml_with_env(&text, "test", Vec::<(String, String)>::new()).expect("config");
    let app = Application::build(config).await.expect("application");
    let mut names: Vec<_> = std::fs::read_dir(format!("{root}/fixtures"))
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    let mut screenshot_case = None;
    for p in &names {
        let raw = std::fs::read(p).expect("fixture");
        let o = app
            .pipeline
            .ingest(&raw, &Origin::Pipe)
            .await
            .expect("ingest");
        if p.to_string_lossy()
            .contains("05-ransomware-dcr-outlook-screenshot")
        {
            screenshot_case = o.tracking_id.map(|t| t.to_string());
        }
    }
    let screenshot_case = screenshot_case.expect("fixture 05 makes a case");
    // A case reported two days ago on the clock the timers read.
    let late = TrackingId::new("SOC", 2026, 990).expect("tid");
    {
        let mut tx = app.store.begin_write().await.expect("tx");
        cases::insert(
            &mut tx,
            NewCase {
                tracking_id: &late,
                subject: "reported two days ago",
                reporter_email: Some("r@mass.gov"),
                reporter_name: None,
                now: Utc::now() - chrono::Duration::hours(48),
            },
        )
        .await
        .expect("late case");
        for (name, role) in [("ana", Role::Analyst), ("bo", Role::Analyst)] {
            let hash = web::auth::hash_password("analyst-password-1").expect("hash");
            users::add(&mut tx, name, role, &hash, Utc::now())
                .await
                .expect("user");
        }
        tx.commit().await.expect("commit");
    }
    let critical: Vec<String> = {
        let mut c = app.store.acquire().await.expect("conn");
        let mut v: Vec<String> = sqlx::query_scalar(
            "select tracking_id from cases where coalesce(severity, severity_suggested) = 'critical'",
        )
        .fetch_all(&mut *c)
        .await
        .expect("critical");
        v.sort();
        v
    };
    assert!(
        critical.len() >= 2,
        "the fixtures hold suggested-critical cases: {critical:?}"
    );
    let outbox_of = |kind: &'static str| {
        let store = app.store.clone();
        async move {
            let mut c = store.acquire().await.expect("conn");
            let rows: Vec<(String, String)> =
                // An SCIO update an undo withdrew was never sent; every other row counts.
                sqlx::query_as("select recipient, kind from outbox where kind = ? and (kind != 'scio_update' or status != 'dropped') order by id")
                    .bind(kind)
                    .fetch_all(&mut *c)
                    .await
                    .expect("outbox");
            rows
        }
    };

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(web::serve_on(listener, app.web_state(), rx));
    let (_driver, b) = start_browser(&dir.path().join("chromium-profile")).await;
    let mut walk = Walk::default();

    b.goto(&format!("{base}/cases")).await;
    walk.loads += 1;
    b.type_into("#username", "ana").await;
    b.type_into("#password", "analyst-password-1").await;
    b.click("#login-submit").await;
    walk.typed += 2;
    walk.clicks += 1;
    walk.loads += 1;

    // 1. "Needs me now" (the default): the suggested-critical cases first.
    b.wait_text("#views .current", "Needs me now").await;
    let rows = eval(
        &b,
        "return [...document.querySelectorAll('#queue tbody tr')].map(r => [r.dataset.case, r.querySelector('[data-label=Severity]').innerText]);",
    )
    .await;
    let rows: Vec<(String, String)> = serde_json::from_value(rows).expect("rows");
    let mut first: Vec<String> = rows[..critical.len()].iter().map(|r| r.0.clone()).collect();
    first.sort();
    assert_eq!(first, critical, "critical first: {rows:?}");
    assert!(rows[0].1.contains("critical (suggested)"), "{rows:?}");
    b.screenshot("morning-1-needs-me-now").await;

    // 2. The overdue triage timer of the late case is highlighted.
    let late_timer = format!("tr[data-case='{late}'] .timer.overdue");
    b.wait_text(&late_timer, "triage overdue").await;
    let colour = eval(
        &b,
        &format!(
            "return getComputedStyle(document.querySelector(\"{late_timer}\")).backgroundColor;"
        ),
    )
    .await;
    assert_eq!(colour, "rgb(176, 0, 32)", "overdue is red");

    // 3. One-step triage of the first critical case: one SCIO update, bo told once.
    let tid = rows[0].0.clone();
    let (updates, notices) = (
        outbox_of("scio_update").await.len(),
        outbox_of("soc_notice").await.len(),
    );
    // By keyboard: j to the first case (highlighted), o to open it.
    b.keys("j").await;
    let focused: String = serde_json::from_value(
        eval(
            &b,
            "return document.querySelector('#queue tr.focused').dataset.case;",
        )
        .await,
    )
    .expect("a highlighted row");
    assert_eq!(focused, tid, "j highlights the first case");
    b.keys("o").await;
    walk.keys += 2;
    walk.loads += 1;
    b.wait_text("#case-title", &tid).await;
    b.click("#triage-severity option[value=critical]").await;
    b.click("#triage-priority option[value=p1]").await;
    b.click("#triage-assignee option[value=bo]").await;
    b.click("#triage-status option[value=investigating]").await;
    b.type_into("#triage-note", "Servers isolated; restoring from backup.")
        .await;
    b.click("#triage-submit").await;
    walk.clicks += 5;
    walk.typed += 1;
    walk.loads += 1;
    b.wait_text("#action-done", "Triaged").await;
    b.screenshot("morning-2-triaged").await;
    assert_eq!(
        outbox_of("scio_update").await.len(),
        updates + 1,
        "one SCIO message"
    );
    let to_bo = |n: Vec<(String, String)>| n.iter().filter(|(r, _)| r == "bo@mass.gov").count();
    assert_eq!(to_bo(outbox_of("soc_notice").await), 1, "bo is told once");
    assert!(outbox_of("soc_notice").await.len() > notices);
    // A second triage of the same case does not tell bo again.
    b.click("#triage-status option[value=contained]").await;
    b.click("#triage-submit").await;
    walk.clicks += 2;
    walk.loads += 1;
    b.wait_text("#action-done", "status contained").await;
    assert_eq!(to_bo(outbox_of("soc_notice").await), 1, "still once");
    // That was a slip: undone within its seconds, before its SCIO update left.
    assert_eq!(outbox_of("scio_update").await.len(), updates + 2);
    b.click("#undo button").await;
    walk.clicks += 1;
    walk.loads += 1;
    b.wait_text("#action-done", "Undone: status back to investigating")
        .await;
    assert_eq!(
        outbox_of("scio_update").await.len(),
        updates + 1,
        "the undone triage's update is withdrawn"
    );
    b.wait_text("#case-status", "investigating").await;

    // 4. Bulk: three unassigned cases to ana from the queue.
    b.goto(&format!("{base}/cases?view=unassigned")).await;
    walk.loads += 1;
    let picks: Vec<String> = {
        let v = eval(&b, "return [...document.querySelectorAll('#queue tbody tr')].slice(0, 3).map(r => r.dataset.case);").await;
        serde_json::from_value(v).expect("three cases")
    };
    assert_eq!(picks.len(), 3);
    for t in &picks {
        b.click(&format!("tr[data-case='{t}'] td.select input"))
            .await;
    }
    b.click("#bulk-assignee option[value=ana]").await;
    b.click("#bulk-assign").await;
    walk.clicks += 5;
    walk.loads += 1;
    b.wait_text("#bulk-done", "Assigned to ana: 3 case(s)")
        .await;
    b.screenshot("morning-3-bulk-assigned").await;
    // A report arrives while the queue is open: the page says so without a reload.
    let arriving = format!(
        "From: Dana Reyes <dana.reyes@mass.gov>\r\nTo: soc@mass.gov\r\nSubject: Suspicious invoice email\r\n\
         Message-ID: <arriving-1@mass.gov>\r\nDate: {}\r\n\r\nI received a suspicious invoice email asking me to log in. I did not click.\r\n",
        Utc::now().to_rfc2822()
    );
    app.pipeline
        .ingest(arriving.as_bytes(), &Origin::Pipe)
        .await
        .expect("ingest");
    b.wait_text("#new-cases", "1 new case has arrived").await;
    {
        let mut c = app.store.acquire().await.expect("conn");
        for t in &picks {
            let a: Option<String> =
                sqlx::query_scalar("select assignee from cases where tracking_id = ?")
                    .bind(t)
                    .fetch_one(&mut *c)
                    .await
                    .expect("case");
            assert_eq!(a.as_deref(), Some("ana"), "{t}");
        }
    }

    // 5. The ransom-note screenshot previews on its case page.
    b.goto(&format!("{base}/cases/{screenshot_case}")).await;
    walk.loads += 1;
    b.find("img.att-preview").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let w = eval(&b, "const i = document.querySelector('img.att-preview'); return i.complete ? i.naturalWidth : -1;").await;
        if w.as_i64().unwrap_or(-1) > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the image never loaded: {w}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.screenshot("morning-4-image-preview").await;

    // 6. A phone at night: 400 px, no sideways scrolling, the actions reachable.
    for page in [format!("{base}/cases"), format!("{base}/cases/{tid}")] {
        b.goto(&page).await;
        let (scroll, inner) = fits(&b, 400).await;
        assert!(
            scroll <= inner,
            "{page} is {scroll} px wide in a {inner} px window"
        );
        b.screenshot(&format!(
            "morning-5-400px-{}",
            if page.ends_with("/cases") {
                "queue"
            } else {
                "case"
            }
        ))
        .await;
    }
    b.goto(&format!("{base}/cases?view=unassigned")).await;
    let _ = fits(&b, 400).await;
    let pick: String = serde_json::from_value(
        eval(
            &b,
            "return document.querySelector('#queue tbody tr').dataset.case;",
        )
        .await,
    )
    .expect("a case");
    b.click(&format!("tr[data-case='{pick}'] td.select input"))
        .await;
    b.click("#bulk-assignee option[value=bo]").await;
    b.click("#bulk-assign").await;
    b.wait_text("#bulk-done", "Assigned to bo: 1 case(s)").await;

    let emails = outbox_of("scio_update").await.len() - updates;
    println!(
        "morning walk: {} page loads, {} clicks, {} typed entries, {} keys pressed, {emails} SCIO email(s)",
        walk.loads, walk.clicks, walk.typed, walk.keys
    );
    b.quit().await;
    let _ = stop.send(true);
    let _ = server.await;
}
