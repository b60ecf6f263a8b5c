//! The review web UI and JSON API, driven through the router (no socket) against a
//! real SQLite file, with cases made by the real intake pipeline.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::{TimeZone, Utc};
use incident_gateway::config::Config;
use incident_gateway::intake::Pipeline;
use incident_gateway::service::Application;
use incident_gateway::store::messages::Origin;
use incident_gateway::store::users::{self, Role};
use incident_gateway::store::Store;
use incident_gateway::web::{self, AppState};
use tower::ServiceExt;

struct App {
    _dir: tempfile::TempDir,
    store: Store,
    pipeline: Pipeline,
    state: AppState,
}

struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
    bytes: Vec<u8>,
}

impl Resp {
    fn header(&self, name: header::HeaderName) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }
}

async fn app() -> App {
    app_with("").await
}

/// An app whose config has `extra` (TOML) appended.
async fn app_with(extra: &str) -> App {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "[gateway]\ndata_dir = \"{}\"\n{extra}",
        dir.path().display()
    );
    let config =
        Config::from_toml_with_env(&text, "test", Vec::<(String, String)>::new()).expect("config");
    let app = Application::build(config).await.expect("application");
    App {
        _dir: dir,
        store: app.store.clone(),
        pipeline: app.pipeline.clone(),
        state: app.web_state(),
    }
}

impl App {
    async fn send(&self, req: Request<Body>) -> Resp {
        let res = web::router(self.state.clone())
            .oneshot(req)
            .await
            .expect("router answers");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), 16 * 1024 * 1024)
            .await
            .expect("body")
            .to_vec();
        Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Resp {
        let mut b = Request::get(path);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::empty()).expect("request")).await
    }

    async fn post(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Resp {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut b =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::from(body)).expect("request")).await
    }

    /// Posts a case action form.
    async fn act(&self, tid: &str, action: &str, cookie: &str, form: &[(&str, &str)]) -> Resp {
        self.post(
            &format!("/cases/{tid}/actions/{action}"),
            Some(cookie),
            form,
        )
        .await
    }

    async fn add_user(&self, name: &str, role: Role, password: &str) {
        let hash = web::auth::hash_password(password).expect("hash");
        let mut tx = self.store.begin_write().await.expect("tx");
        users::add(&mut tx, name, role, &hash, Utc::now())
            .await
            .expect("add user");
        tx.commit().await.expect("commit");
    }

    /// Logs in through the form; returns the session cookie and the page CSRF token.
    async fn login(&self, name: &str, password: &str) -> (String, String) {
        let r = self.try_login(name, password).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "login failed: {}", r.body);
        let set = r.header(header::SET_COOKIE);
        assert!(set.contains("HttpOnly"), "{set}");
        assert!(set.contains("SameSite=Strict"), "{set}");
        let cookie = set.split(';').next().expect("cookie").to_string();
        let page = self.get("/cases", Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        (cookie, csrf_of(&page.body))
    }

    /// Cases from fixtures 01 (payroll phish, details missing), 05 (ransomware) and 26
    /// (malware with indicators), in that order.
    async fn ingest_three(&self) -> [String; 3] {
        [
            self.ingest_fixture("01-phish-payroll-plain.eml").await,
            self.ingest_fixture("05-ransomware-dcr-outlook-screenshot.eml")
                .await,
            self.ingest_fixture("26-qakbot-three-hosts-log-attachment.eml")
                .await,
        ]
    }

    /// A case made directly in the store, reported `ago` before now (the clock the
    /// timers read).
    async fn case_reported(
        &self,
        tid: &incident_gateway::domain::TrackingId,
        subject: &str,
        ago: chrono::Duration,
    ) {
        use incident_gateway::store::cases::{self, NewCase};
        let mut tx = self.store.begin_write().await.unwrap();
        cases::insert(
            &mut tx,
            NewCase {
                tracking_id: tid,
                subject,
                reporter_email: Some("r@agency.test"),
                reporter_name: None,
                now: Utc::now() - ago,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    /// Accounts `ana` (analyst) and `val` (viewer), each logged in: (cookie, CSRF token).
    async fn analyst_and_viewer(&self) -> ((String, String), (String, String)) {
        self.add_user("ana", Role::Analyst, "analyst-password-1")
            .await;
        self.add_user("val", Role::Viewer, "viewer-password-1")
            .await;
        (
            self.login("ana", "analyst-password-1").await,
            self.login("val", "viewer-password-1").await,
        )
    }

    async fn try_login(&self, name: &str, password: &str) -> Resp {
        let form = self.get("/login", None).await;
        assert_eq!(form.status, StatusCode::OK);
        let nonce = csrf_of(&form.body);
        let set = form.header(header::SET_COOKIE);
        let cookie = set.split(';').next().expect("login cookie").to_string();
        self.post(
            "/login",
            Some(&cookie),
            &[("username", name), ("password", password), ("csrf", &nonce)],
        )
        .await
    }

    async fn ingest(&self, raw: &[u8]) -> Option<String> {
        self.pipeline
            .ingest(raw, &Origin::Pipe)
            .await
            .expect("ingest")
            .tracking_id
            .map(|t| t.to_string())
    }

    async fn ingest_fixture(&self, name: &str) -> String {
        let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let raw = std::fs::read(&path).expect("fixture");
        self.ingest(&raw).await.expect("fixture makes a case")
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn csrf_of(html: &str) -> String {
    let re = regex::Regex::new(r#"name="csrf" value="([0-9a-f]{64})""#).expect("re");
    re.captures(html)
        .unwrap_or_else(|| panic!("no CSRF token in page: {html}"))[1]
        .to_string()
}

/// minijinja's HTML escaping, to say what escaped text must look like.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

const SCRIPT: &str = "<script>alert(1)</script>";
const IMG: &str = "<img src=x onerror=alert(1)>";

fn hostile_message() -> Vec<u8> {
    format!(
        "From: Pat Hostile <pat.hostile@mass.gov>\r\n\
To: soc@mass.gov\r\n\
Subject: Phishing {SCRIPT} {IMG}\r\n\
Date: Tue, 13 Jan 2026 10:02:11 -0500\r\n\
Message-ID: <hostile-1@mass.gov>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"OUT\"\r\n\
\r\n\
--OUT\r\n\
Content-Type: multipart/alternative; boundary=\"ALT\"\r\n\
\r\n\
--ALT\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
We got a phishing email at 9:40 this morning. Text part {SCRIPT} {IMG}\r\n\
Phone: 617-555-0100\r\n\
--ALT\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<html><body><p>We got a phishing email at 9:40 this morning.</p>{SCRIPT}{IMG}\
<a href=\"https://evil.example/x\">click</a><img src=\"https://tracker.example/p.gif\"></body></html>\r\n\
--ALT--\r\n\
--OUT\r\n\
Content-Type: application/octet-stream; name=\"{IMG}.txt\"\r\n\
Content-Disposition: attachment; filename=\"{IMG}.txt\"\r\n\
\r\n\
attachment bytes 12345\r\n\
--OUT--\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn nothing_without_login() {
    let a = app().await;
    let tid = a.ingest_fixture("01-phish-payroll-plain.eml").await;
    for path in [
        "/cases".to_string(),
        format!("/cases/{tid}"),
        "/quarantine".into(),
        "/outbound".into(),
        "/messages/1/raw".into(),
    ] {
        let r = a.get(&path, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.header(header::LOCATION), "/login", "{path}");
        assert!(!r.body.contains(&tid), "{path} leaks the case");
    }
    // A made-up session cookie is no session.
    let r = a.get("/cases", Some("igw_session=00ff")).await;
    assert_eq!(r.header(header::LOCATION), "/login");
    for path in [
        "/api/v1/cases".to_string(),
        format!("/api/v1/cases/{tid}"),
        format!("/api/v1/cases/{tid}/events"),
        format!("/api/v1/cases/{tid}/messages"),
    ] {
        let r = a.get(&path, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(r
            .header(header::CONTENT_TYPE)
            .starts_with("application/json"));
        assert!(r.body.contains("\"error\""), "{}", r.body);
        assert!(!r.body.contains(&tid));
    }
    let r = a
        .post(
            &format!("/cases/{tid}/fields"),
            None,
            &[("field", "reporter_phone"), ("value", "1")],
        )
        .await;
    assert_eq!(r.header(header::LOCATION), "/login");
    // Security headers on every page, the login form too.
    let r = a.get("/login", None).await;
    let csp = r.header(header::CONTENT_SECURITY_POLICY);
    assert!(
        csp.contains("script-src 'self'") && csp.contains("img-src 'self' data:"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.header(header::X_FRAME_OPTIONS), "DENY");
    assert_eq!(r.header(header::REFERRER_POLICY), "no-referrer");
}

async fn field_value(a: &App, tid: &str, field: &str) -> serde_json::Value {
    let mut c = a.store.acquire().await.expect("conn");
    let d = incident_gateway::store::cases::detail(&mut c, &tid.parse().expect("tid"))
        .await
        .expect("detail");
    d.fields[field]["value"].clone()
}

#[tokio::test]
async fn a_viewer_changes_nothing() {
    let a = app().await;
    let tid = a.ingest_fixture("01-phish-payroll-plain.eml").await;
    a.add_user("vera", Role::Viewer, "viewer-password-1").await;
    let (cookie, csrf) = a.login("vera", "viewer-password-1").await;
    let page = a.get(&format!("/cases/{tid}"), Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains("/fields\""),
        "a viewer is shown no edit form"
    );
    let before = field_value(&a, &tid, "reporter_phone").await;
    let r = a
        .post(
            &format!("/cases/{tid}/fields"),
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("field", "reporter_phone"),
                ("value", "999"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("viewer"), "{}", r.body);
    assert_eq!(field_value(&a, &tid, "reporter_phone").await, before);
    for path in ["/outbound/1/release", "/outbound/1/drop"] {
        let r = a.post(path, Some(&cookie), &[("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert!(
        !page.body.contains("/actions/"),
        "a viewer is shown no action form"
    );
    let events_before = a
        .get(&format!("/api/v1/cases/{tid}/events"), Some(&cookie))
        .await
        .body;
    for (action, value) in [
        ("status", "triage"),
        ("severity", "critical"),
        ("priority", "p1"),
        ("assign", "vera"),
        ("flag", "major_incident"),
        ("note", ""),
        ("update", ""),
        ("link", "SOC-2026-000001"),
        ("merge", "SOC-2026-000001"),
    ] {
        let r = a
            .act(
                &tid,
                action,
                &cookie,
                &[
                    ("csrf", &csrf),
                    ("value", value),
                    ("on", "on"),
                    ("message", "x"),
                    ("step", "send"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{action}: {}", r.body);
    }
    let events_after = a
        .get(&format!("/api/v1/cases/{tid}/events"), Some(&cookie))
        .await
        .body;
    assert!(events_before.contains("case_opened"), "{events_before}");
    assert_eq!(events_before, events_after, "no event from a viewer");
    // Logging out is allowed, and ends the session.
    let r = a.post("/logout", Some(&cookie), &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = a.get("/cases", Some(&cookie)).await;
    assert_eq!(r.header(header::LOCATION), "/login");
}

#[tokio::test]
async fn csrf_is_checked_and_an_analyst_edit_is_recorded() {
    let a = app().await;
    let tid = a.ingest_fixture("01-phish-payroll-plain.eml").await;
    a.add_user("ana", Role::Analyst, "analyst-password-1").await;
    let (cookie, csrf) = a.login("ana", "analyst-password-1").await;
    let path = format!("/cases/{tid}/fields");
    let before = field_value(&a, &tid, "reporter_phone").await;
    let r = a
        .post(
            &path,
            Some(&cookie),
            &[("field", "reporter_phone"), ("value", "617-555-9999")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("CSRF"), "{}", r.body);
    let wrong = "0".repeat(64);
    let r = a
        .post(
            &path,
            Some(&cookie),
            &[
                ("csrf", &wrong),
                ("field", "reporter_phone"),
                ("value", "617-555-9999"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(field_value(&a, &tid, "reporter_phone").await, before);

    let r = a
        .post(
            &path,
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("field", "reporter_phone"),
                ("value", "617-555-9999"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        field_value(&a, &tid, "reporter_phone").await,
        serde_json::json!("617-555-9999")
    );
    let page = a.get(&format!("/cases/{tid}"), Some(&cookie)).await;
    assert!(page.body.contains("617-555-9999"));
    assert!(
        page.body.contains("field_changed"),
        "the timeline shows the edit"
    );
    assert!(page.body.contains("analyst:ana"));
    let mut c = a.store.acquire().await.expect("conn");
    let log = users::audit_log(&mut c, 10).await.expect("audit");
    let actions: Vec<&str> = log.iter().map(|r| r.action.as_str()).collect();
    assert!(actions.contains(&"login"), "{actions:?}");
    assert!(actions.contains(&"field_changed"), "{actions:?}");
}

#[tokio::test]
async fn logins_are_rate_limited() {
    let a = app().await;
    a.add_user("ana", Role::Analyst, "analyst-password-1").await;
    for i in 0..5 {
        let r = a.try_login("ana", "wrong-password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        assert!(r.body.contains("Wrong account name or password"));
    }
    // Even the right password is refused now, with when to retry.
    let r = a.try_login("ana", "analyst-password-1").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.body.contains("Try again after"), "{}", r.body);
    assert!(r.header(header::SET_COOKIE).is_empty(), "no session");
    // Another account is not locked by ana's failures.
    a.add_user("bob", Role::Viewer, "viewer-password-1").await;
    a.login("bob", "viewer-password-1").await;
    let mut c = a.store.acquire().await.expect("conn");
    let log = users::audit_log(&mut c, 20).await.expect("audit");
    assert_eq!(log.iter().filter(|r| r.action == "login_failed").count(), 5);
    assert_eq!(
        log.iter().filter(|r| r.action == "login_throttled").count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_login_limit_holds_under_parallel_guesses() {
    let a = Arc::new(app().await);
    a.add_user("ana", Role::Analyst, "analyst-password-1").await;
    // 30 guesses at once, the right password last: the limit (5) must hold although
    // every guess is in flight before the first failure is recorded.
    let tries = (0..30).map(|i| {
        let a = a.clone();
        tokio::spawn(async move {
            let pw = if i == 29 {
                "analyst-password-1"
            } else {
                "wrong-password"
            };
            a.try_login("ana", pw).await.status
        })
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(tries)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s != StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        checked <= 5,
        "{checked} of 30 parallel guesses had their password checked: {statuses:?}"
    );
    let mut c = a.store.acquire().await.expect("conn");
    let log = users::audit_log(&mut c, 100).await.expect("audit");
    assert!(log.iter().filter(|r| r.action == "login_failed").count() <= 5);
    assert_eq!(
        log.iter().filter(|r| r.action == "login_throttled").count(),
        30 - checked
    );
}

#[tokio::test]
async fn a_login_without_the_form_token_is_refused() {
    let a = app().await;
    a.add_user("ana", Role::Analyst, "analyst-password-1").await;
    let r = a
        .post(
            "/login",
            None,
            &[
                ("username", "ana"),
                ("password", "analyst-password-1"),
                ("csrf", "x"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.header(header::SET_COOKIE).is_empty());
}

#[tokio::test]
async fn hostile_content_is_shown_as_text() {
    let a = app().await;
    let tid = a
        .ingest(&hostile_message())
        .await
        .expect("the hostile report makes a case");
    a.add_user("ana", Role::Analyst, "analyst-password-1").await;
    let (cookie, _) = a.login("ana", "analyst-password-1").await;

    let queue = a.get("/cases", Some(&cookie)).await;
    let case = a.get(&format!("/cases/{tid}"), Some(&cookie)).await;
    assert_eq!(case.status, StatusCode::OK, "{}", case.body);
    for (name, page) in [("queue", &queue.body), ("case", &case.body)] {
        assert!(page.contains(&tid), "{name}");
        assert!(!page.contains(SCRIPT), "{name} page carries a live script");
        assert!(
            !page.contains("<img src=x"),
            "{name} page carries a live img"
        );
        assert!(!page.contains("onerror=alert(1)>"), "{name}");
        // The subject is there, as text.
        assert!(
            page.contains(&escaped(SCRIPT)),
            "{name}: escaped script missing"
        );
        assert!(page.contains(&escaped(IMG)), "{name}: escaped img missing");
    }
    // The attachment's name shows as text too.
    assert!(
        case.body.contains(&format!("{}.txt", escaped(IMG))),
        "{}",
        case.body
    );
    // The HTML part is sanitised: nothing remote loads, nothing runs.
    let start = case
        .body
        .find("<div class=\"html-body\">")
        .expect("html body shown");
    let end = start + case.body[start..].find("</div>").expect("html body ends");
    let html_body = &case.body[start..end];
    assert!(!html_body.contains("onerror"), "{html_body}");
    assert!(!html_body.contains("<script"), "{html_body}");
    assert!(!case.body.contains(" src=\"https://tracker.example"));
    assert!(!case.body.contains(" href=\"https://evil.example"));
    assert!(case
        .body
        .contains("data-blocked-src=\"https://tracker.example/p.gif\""));
    assert!(case
        .body
        .contains("data-blocked-href=\"https://evil.example/x\""));
    assert!(case
        .body
        .contains("We got a phishing email at 9:40 this morning."));
}

#[tokio::test]
async fn downloads_are_attachments() {
    let a = app().await;
    let tid = a.ingest(&hostile_message()).await.expect("case");
    a.add_user("vera", Role::Viewer, "viewer-password-1").await;
    let (cookie, _) = a.login("vera", "viewer-password-1").await;
    let case = a.get(&format!("/cases/{tid}"), Some(&cookie)).await;
    let re = regex::Regex::new(r#"href="(/cases/[^"]+/attachments/[0-9a-f]{64})""#).expect("re");
    let link = re.captures(&case.body).expect("attachment link")[1].to_string();
    let r = a.get(&link, Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK);
    let cd = r.header(header::CONTENT_DISPOSITION);
    assert!(cd.starts_with("attachment;"), "{cd}");
    assert!(!cd.contains('<'), "{cd}");
    assert_eq!(r.header(header::CONTENT_TYPE), "application/octet-stream");
    assert_eq!(r.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert!(r.body.starts_with("attachment bytes 12345"), "{}", r.body);
    // A hash that is not this case's attachment is not served.
    let other = format!("/cases/{tid}/attachments/{}", "a".repeat(64));
    assert_eq!(
        a.get(&other, Some(&cookie)).await.status,
        StatusCode::NOT_FOUND
    );

    let re = regex::Regex::new(r#"href="(/messages/\d+/raw)""#).expect("re");
    let raw_link = re.captures(&case.body).expect("raw link")[1].to_string();
    let r = a.get(&raw_link, Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r
        .header(header::CONTENT_DISPOSITION)
        .starts_with("attachment;"));
    assert_eq!(r.header(header::CONTENT_TYPE), "message/rfc822");
    assert_eq!(r.bytes, hostile_message());
}

#[tokio::test]
async fn metrics_count_what_is_stored() {
    let a = app().await;
    a.ingest_fixture("01-phish-payroll-plain.eml").await;
    a.ingest_fixture("03-mfa-fatigue-gmail-personal.eml").await;
    let auto = b"From: someone@mass.gov\r\nTo: soc@mass.gov\r\nSubject: Out of office\r\n\
Auto-Submitted: auto-replied\r\nMessage-ID: <ooo-1@mass.gov>\r\n\r\nI am away.\r\n";
    assert!(
        a.ingest(auto).await.is_none(),
        "an auto-reply makes no case"
    );
    let polled = Utc
        .with_ymd_and_hms(2026, 11, 25, 3, 0, 0)
        .single()
        .expect("time");
    {
        let mut tx = a.store.begin_write().await.expect("tx");
        incident_gateway::store::messages::checkpoint(&mut tx, "INBOX", 7, 42, polled)
            .await
            .expect("checkpoint");
        tx.commit().await.expect("commit");
    }
    let r = a.get("/metrics", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r
        .header(header::CONTENT_TYPE)
        .starts_with("text/plain; version=0.0.4"));
    let lines: Vec<&str> = r.body.lines().collect();
    let has = |l: &str| lines.contains(&l);
    assert!(
        has("igw_messages_ingested_total{kind=\"report\"} 2"),
        "{}",
        r.body
    );
    assert!(
        has("igw_messages_ingested_total{kind=\"auto_reply\"} 1"),
        "{}",
        r.body
    );
    assert!(has("igw_cases{status=\"new\"} 2"), "{}", r.body);
    assert!(
        has(&format!(
            "igw_imap_last_poll_timestamp_seconds{{mailbox=\"INBOX\"}} {}",
            polled.timestamp()
        )),
        "{}",
        r.body
    );
    // The outbox series agree with the table: an acknowledgement for each report.
    let mut c = a.store.acquire().await.expect("conn");
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("select status, count(*) from outbox group by status")
            .fetch_all(&mut *c)
            .await
            .expect("outbox");
    assert_eq!(
        by_status.iter().map(|(_, n)| n).sum::<i64>(),
        2,
        "{by_status:?}"
    );
    for (status, n) in &by_status {
        assert!(
            has(&format!("igw_outbox_messages{{status=\"{status}\"}} {n}")),
            "{}",
            r.body
        );
    }
    let h = a.get("/healthz", None).await;
    assert_eq!((h.status, h.body.trim()), (StatusCode::OK, "ok"));
}

#[tokio::test]
async fn api_by_token() {
    let a = app().await;
    let tid = a.ingest_fixture("01-phish-payroll-plain.eml").await;
    let other = a.ingest_fixture("03-mfa-fatigue-gmail-personal.eml").await;
    a.add_user("siem", Role::Viewer, "integration-pw-1").await;
    let token = "igw_test_token_0123456789";
    {
        let mut tx = a.store.begin_write().await.expect("tx");
        users::add_token(&mut tx, "siem", token, Utc::now())
            .await
            .expect("token");
        tx.commit().await.expect("commit");
    }
    let get = |path: String, auth: &'static str| {
        let req = Request::get(path)
            .header(header::AUTHORIZATION, auth)
            .body(Body::empty())
            .expect("req");
        a.send(req)
    };
    let r = get("/api/v1/cases".into(), "Bearer igw_test_token_0123456789").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(v["total"], 2);
    // Search: a word only the payroll report has.
    let r = get(
        "/api/v1/cases?q=Chelsea".into(),
        "Bearer igw_test_token_0123456789",
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(v["total"], 1, "{}", r.body);
    assert_eq!(v["cases"][0]["tracking_id"], tid.as_str());
    assert_ne!(tid, other);

    let r = get(
        format!("/api/v1/cases/{tid}"),
        "Bearer igw_test_token_0123456789",
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(v["tracking_id"], tid.as_str());
    assert!(v["fields"].is_object());
    let r = get(
        format!("/api/v1/cases/{tid}/events"),
        "Bearer igw_test_token_0123456789",
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert!(!v.as_array().expect("events").is_empty());
    let r = get(
        format!("/api/v1/cases/{tid}/messages"),
        "Bearer igw_test_token_0123456789",
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(v["inbound"].as_array().expect("inbound").len(), 1);
    let r = get(
        "/api/v1/cases/SOC-2026-999999".into(),
        "Bearer igw_test_token_0123456789",
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = get("/api/v1/cases".into(), "Bearer igw_wrong").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = get("/api/v1/cases".into(), "Basic c2llbTp4").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// The severity filter matches what the queue shows: the analyst's severity, else the
/// suggested one (it used to match analyst-set values only, so `critical` found none of
/// the suggested-critical cases); `none` is "not yet set by an analyst".
#[tokio::test]
async fn the_severity_filter_matches_the_severity_the_queue_shows() {
    let a = app().await;
    let low = a.ingest_fixture("01-phish-payroll-plain.eml").await;
    let critical = a
        .ingest_fixture("05-ransomware-dcr-outlook-screenshot.eml")
        .await;
    a.add_user("ana", Role::Analyst, "analyst-password-1").await;
    let (cookie, csrf) = a.login("ana", "analyst-password-1").await;
    let shows = |body: &str, tid: &str| body.contains(&format!("/cases/{tid}\""));
    let r = a.get("/cases?severity=critical", Some(&cookie)).await;
    assert!(
        shows(&r.body, &critical) && !shows(&r.body, &low),
        "{}",
        r.body
    );
    // An analyst raises the phish: now it is critical too, and no longer "none".
    let r = a
        .act(
            &low,
            "severity",
            &cookie,
            &[("csrf", &csrf), ("value", "critical")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = a.get("/cases?severity=critical", Some(&cookie)).await;
    assert!(
        shows(&r.body, &critical) && shows(&r.body, &low),
        "{}",
        r.body
    );
    let r = a.get("/cases?severity=none", Some(&cookie)).await;
    assert!(
        shows(&r.body, &critical) && !shows(&r.body, &low),
        "{}",
        r.body
    );
    let r = a.get("/cases?severity=low", Some(&cookie)).await;
    assert!(
        !shows(&r.body, &critical) && !shows(&r.body, &low),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn queue_filters_and_held_mail_release() {
    let a = app().await;
    let ok = a.ingest_fixture("01-phish-payroll-plain.eml").await;
    let gmail = a.ingest_fixture("03-mfa-fatigue-gmail-personal.eml").await;
    a.add_user("ana", Role::Analyst, "analyst-password-1").await;
    let (cookie, csrf) = a.login("ana", "analyst-password-1").await;
    let r = a.get("/cases?q=Chelsea", Some(&cookie)).await;
    assert!(
        r.body.contains(&ok) && !r.body.contains(&gmail),
        "search narrows"
    );
    let r = a.get("/cases?status=closed", Some(&cookie)).await;
    assert!(!r.body.contains(&ok) && r.body.contains("No case matches."));

    // The Gmail reporter's acknowledgement is held for an analyst.
    let held = a.get("/outbound", Some(&cookie)).await;
    assert!(held.body.contains(&gmail), "{}", held.body);
    let re = regex::Regex::new(r#"action="/outbound/(\d+)/release""#).expect("re");
    let id = re.captures(&held.body).expect("release form")[1].to_string();
    let r = a
        .post(
            &format!("/outbound/{id}/release"),
            Some(&cookie),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let held = a.get("/outbound", Some(&cookie)).await;
    assert!(!held.body.contains(&gmail));
    let case = a.get(&format!("/cases/{gmail}"), Some(&cookie)).await;
    assert!(case.body.contains("outbound_released"));
    // Deciding twice is refused plainly.
    let r = a
        .post(
            &format!("/outbound/{id}/drop"),
            Some(&cookie),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("not held"), "{}", r.body);
}

#[tokio::test]
async fn an_empty_value_is_not_saved() {
    let a = app().await;
    let tid = a.ingest_fixture("01-phish-payroll-plain.eml").await;
    a.add_user("ana", Role::Analyst, "analyst-password-1").await;
    let (cookie, csrf) = a.login("ana", "analyst-password-1").await;
    let before = field_value(&a, &tid, "reporter_phone").await;
    let r = a
        .post(
            &format!("/cases/{tid}/fields"),
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("field", "reporter_phone"),
                ("value", "  "),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("empty value"), "{}", r.body);
    assert_eq!(field_value(&a, &tid, "reporter_phone").await, before);
}

async fn get_with(a: &App, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut b = Request::get(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    a.send(b.body(Body::empty()).expect("request")).await
}

#[tokio::test]
async fn trusted_proxy_header_signs_in_only_when_configured() {
    // Off by default: the header is ignored.
    let a = app().await;
    a.add_user("ana", Role::Analyst, "analyst-password-1").await;
    let r = get_with(&a, "/login", &[("X-Remote-User", "ana")]).await;
    assert_eq!(r.status, StatusCode::OK, "the password form, no session");
    assert!(!r.header(header::SET_COOKIE).contains("igw_session"));
    let r = get_with(&a, "/cases", &[("X-Remote-User", "ana")]).await;
    assert_eq!(r.header(header::LOCATION), "/login");

    let a = app_with("[web]\ntrusted_user_header = \"X-Remote-User\"\n").await;
    a.add_user("ana", Role::Analyst, "analyst-password-1").await;
    let r = get_with(&a, "/login", &[("X-Remote-User", "ana")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let cookie = r
        .header(header::SET_COOKIE)
        .split(';')
        .next()
        .expect("cookie")
        .to_string();
    assert!(cookie.starts_with("igw_session="), "{cookie}");
    let r = get_with(
        &a,
        "/cases",
        &[("X-Remote-User", "ana"), ("Cookie", cookie.as_str())],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("ana (analyst)"));
    // The proxy now vouches for someone else: ana's session does not count.
    let r = get_with(
        &a,
        "/cases",
        &[("X-Remote-User", "mallory"), ("Cookie", cookie.as_str())],
    )
    .await;
    assert_eq!(r.header(header::LOCATION), "/login");
    let r = get_with(&a, "/login", &[("X-Remote-User", "mallory")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("no enabled account"), "{}", r.body);
}

#[tokio::test]
async fn session_cookie_is_secure_when_configured_or_behind_tls() {
    let a = app().await;
    a.add_user("ana", Role::Analyst, "analyst-password-1").await;
    let r = a.try_login("ana", "analyst-password-1").await;
    assert!(!r.header(header::SET_COOKIE).contains("Secure"));

    let form = get_with(&a, "/login", &[("X-Forwarded-Proto", "https")]).await;
    assert!(form.header(header::SET_COOKIE).ends_with("; Secure"));

    let a = app_with("[web]\nsecure_cookies = true\n").await;
    a.add_user("ana", Role::Analyst, "analyst-password-1").await;
    let r = a.try_login("ana", "analyst-password-1").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let set = r.header(header::SET_COOKIE);
    assert!(
        set.starts_with("igw_session=") && set.contains("; Secure"),
        "{set}"
    );
}

/// `run` serves the UI on `[web] listen` and stops with the rest on SIGTERM;
/// `user add` and `user token` work from the command line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_the_ui_and_the_cli_manages_accounts() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let bin = env!("CARGO_BIN_EXE_incident-gateway");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let config = dir.path().join("gw.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\ndata_dir = \"{}\"\n[web]\nlisten = \"127.0.0.1:{port}\"\n",
            dir.path().display()
        ),
    )
    .expect("config");
    let mut add = Command::new(bin)
        .args(["--config"])
        .arg(&config)
        .args(["user", "add", "ana", "--role", "viewer", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("user add");
    add.stdin
        .take()
        .expect("stdin")
        .write_all(b"viewer-password-1\n")
        .expect("password");
    let out = add.wait_with_output().expect("user add ends");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .args(["user", "token", "ana"])
        .output()
        .expect("user token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(token.starts_with("igw_") && token.len() > 40, "{token}");

    let mut run = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .arg("run")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run");
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            assert_eq!(r.status(), 200);
            let body = r.text().await.expect("body");
            assert_eq!(body.lines().next(), Some("ok"), "{body}");
            assert!(body.contains("task outbox: running"), "{body}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the UI never answered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let r = http
        .get(format!("{base}/api/v1/cases"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("api");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    for c in v["cases"].as_array().expect("cases") {
        assert!(
            c["timers"]["age_secs"].is_i64(),
            "each case has its timers: {c}"
        );
        assert_eq!(c["timers"]["triage_overdue"], false, "{c}");
    }
    let r = http
        .get(format!("{base}/api/v1/cases"))
        .bearer_auth("igw_not_a_token")
        .send()
        .await
        .expect("api");
    assert_eq!(r.status(), 401);
    // SAFETY: signalling our own child process by its pid.
    unsafe {
        libc::kill(run.id() as i32, libc::SIGTERM);
    }
    let status = run.wait().expect("run ends");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn hostile_content_is_text_in_quarantine_and_held_mail() {
    let a = app().await;
    // An auto-reply lands in quarantine; a report from outside the allowed domains
    // gets its acknowledgement (which quotes the subject) held for an analyst.
    let auto = format!(
        "From: away@mass.gov\r\nTo: soc@mass.gov\r\nSubject: Away {SCRIPT} {IMG}\r\n\
Auto-Submitted: auto-replied\r\nMessage-ID: <ooo-2@mass.gov>\r\n\r\nI am away.\r\n"
    );
    assert!(a.ingest(auto.as_bytes()).await.is_none());
    let outside = String::from_utf8(hostile_message())
        .expect("utf-8")
        .replace("pat.hostile@mass.gov", "pat.hostile@gmail.com")
        .replace("<hostile-1@mass.gov>", "<hostile-2@gmail.com>");
    let tid = a.ingest(outside.as_bytes()).await.expect("case");
    a.add_user("ana", Role::Analyst, "analyst-password-1").await;
    let (cookie, _) = a.login("ana", "analyst-password-1").await;
    let q = a.get("/quarantine", Some(&cookie)).await;
    assert!(q.body.contains("Away "), "{}", q.body);
    let held = a.get("/outbound", Some(&cookie)).await;
    assert!(held.body.contains(&tid), "{}", held.body);
    for (name, page) in [("quarantine", &q.body), ("outbound", &held.body)] {
        assert!(!page.contains(SCRIPT), "{name}");
        assert!(!page.contains("<img src=x"), "{name}");
        assert!(page.contains(&escaped(SCRIPT)), "{name}: {page}");
        assert!(page.contains(&escaped(IMG)), "{name}");
    }
}

/// A directory that gives fixture 01's agency (Department of Revenue) an SCIO.
fn dor_directory(dir: &std::path::Path) -> String {
    let path = dir.join("directory.toml");
    std::fs::write(
        &path,
        "[[secretariats]]\nid = \"ANF\"\nname = \"A and F\"\nscio = \"scio@anf.state.ma.us\"\n\n\
         [[agencies]]\nname = \"Department of Revenue\"\naliases = [\"DOR\"]\ndomains = [\"dor.state.ma.us\"]\nsecretariat = \"ANF\"\n\n\
         [lists]\nleadership = [\"leaders@mass.gov\"]\n",
    )
    .expect("directory");
    format!("directory = \"{}\"\n", path.display())
}

async fn outbox_kinds(store: &Store) -> Vec<(String, String)> {
    let mut c = store.acquire().await.expect("conn");
    sqlx::query_as("select kind, status from outbox order by id")
        .fetch_all(&mut *c)
        .await
        .expect("outbox")
}

#[tokio::test]
async fn case_actions_run_for_analysts_with_csrf_and_are_recorded() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let app = app_with(&dor_directory(tmp.path())).await;
    let tid = app.ingest_fixture("01-phish-payroll-plain.eml").await;
    let ((ana, csrf), (val, vcsrf)) = app.analyst_and_viewer().await;
    let before = outbox_kinds(&app.store).await;
    assert!(
        before.iter().any(|(k, _)| k == "scio_new"),
        "the SCIO thread opened at intake: {before:?}"
    );

    // A viewer, a missing token, a wrong token: refused, nothing changes.
    let r = app
        .act(
            &tid,
            "severity",
            &val,
            &[("csrf", &vcsrf), ("value", "critical")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .act(&tid, "severity", &ana, &[("value", "critical")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .act(
            &tid,
            "severity",
            &ana,
            &[("csrf", &"0".repeat(64)), ("value", "critical")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(outbox_kinds(&app.store).await, before);

    // The analyst: severity, status, a move the lifecycle refuses, a flag, a note.
    for (action, fields, want) in [
        (
            "severity",
            vec![("value", "critical")],
            StatusCode::SEE_OTHER,
        ),
        (
            "status",
            vec![("value", "investigating")],
            StatusCode::SEE_OTHER,
        ),
        (
            "status",
            vec![("value", "reopened")],
            StatusCode::BAD_REQUEST,
        ),
        (
            "flag",
            vec![("value", "major_incident"), ("on", "on")],
            StatusCode::SEE_OTHER,
        ),
        (
            "note",
            vec![("message", "call the ISO <b>first</b>")],
            StatusCode::SEE_OTHER,
        ),
    ] {
        let mut form = fields;
        form.push(("csrf", &csrf));
        let r = app.act(&tid, action, &ana, &form).await;
        assert_eq!(r.status, want, "{action}: {}", r.body);
        if want == StatusCode::BAD_REQUEST {
            assert!(
                r.body
                    .contains("only a resolved or closed case can be reopened"),
                "{}",
                r.body
            );
        }
    }

    // The update: a preview queues nothing and shows the email; sending queues it.
    let n = outbox_kinds(&app.store).await.len();
    let msg = "Contained: the sender domain is blocked. <script>alert(1)</script>";
    let r = app
        .act(
            &tid,
            "update",
            &ana,
            &[("csrf", &csrf), ("message", msg), ("step", "preview")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("scio@anf.state.ma.us"), "{}", r.body);
    assert!(r
        .body
        .contains(&format!("Re: [{tid}] New incident: Department of Revenue")));
    assert!(r.body.contains("the sender domain is blocked"));
    assert!(
        !r.body.contains(SCRIPT),
        "the analyst's HTML is shown as text"
    );
    assert_eq!(
        outbox_kinds(&app.store).await.len(),
        n,
        "a preview sends nothing"
    );
    let r = app
        .act(
            &tid,
            "update",
            &ana,
            &[("csrf", &csrf), ("message", msg), ("step", "send")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    let kinds: Vec<String> = outbox_kinds(&app.store)
        .await
        .into_iter()
        .map(|k| k.0)
        .collect();
    // severity and status: two updates; the flag: the major-incident notice; the
    // written update: one more (leadership now on the thread). The note: nothing.
    assert_eq!(
        kinds[before.len()..],
        ["scio_update", "scio_update", "escalation", "scio_update"]
    );
    let page = app.get(&format!("/cases/{tid}"), Some(&ana)).await;
    for kind in [
        "severity_changed",
        "status_changed",
        "flag_set",
        "escalation_queued",
        "note_added",
        "scio_update_queued",
    ] {
        assert!(page.body.contains(kind), "{kind} in the timeline");
    }
    assert!(page.body.contains(&escaped("call the ISO <b>first</b>")));
    assert!(page.body.contains("analyst:ana"));
    let mut c = app.store.acquire().await.expect("conn");
    let audited: Vec<String> = sqlx::query_scalar(
        "select action from audit where username = 'ana' and case_id is not null order by id",
    )
    .fetch_all(&mut *c)
    .await
    .expect("audit");
    assert_eq!(
        audited,
        [
            "severity_changed",
            "status_changed",
            "flag_set",
            "note_added",
            "scio_update"
        ]
    );
}

#[tokio::test]
async fn unverified_correspondence_is_listed_beside_the_quarantine() {
    let app = app().await;
    let tid = app.ingest_fixture("01-phish-payroll-plain.eml").await;
    let stranger = format!(
        "From: Someone <someone@elsewhere.example>\r\nTo: soc@mass.gov\r\nSubject: Re: [{tid}] <b>details</b>\r\nMessage-ID: <stranger-1@elsewhere.example>\r\nDate: Tue, 13 Jan 2026 11:00:00 -0500\r\n\r\nI have more details.\r\n"
    );
    assert_eq!(
        app.ingest(stranger.as_bytes()).await.as_deref(),
        Some(tid.as_str())
    );
    app.add_user("val", Role::Viewer, "viewer-password-1").await;
    let (val, _) = app.login("val", "viewer-password-1").await;
    let page = app.get("/quarantine", Some(&val)).await;
    assert_eq!(page.status, StatusCode::OK);
    let table = page
        .body
        .split("id=\"unverified\"")
        .nth(1)
        .expect("the unverified list");
    assert!(table.contains(&format!("/cases/{tid}#message-")), "{table}");
    assert!(table.contains("someone@elsewhere.example"));
    assert!(table.contains(&escaped("<b>details</b>")), "{table}");
    assert!(!table.contains("<b>details</b>"));

    // An analyst looks and clears the flag, once; viewers and forged forms cannot.
    let review = |a: &App| {
        let store = a.store.clone();
        let tid = tid.clone();
        async move {
            let mut c = store.acquire().await.unwrap();
            let r: bool =
                sqlx::query_scalar("select needs_review from cases where tracking_id = ?")
                    .bind(&tid)
                    .fetch_one(&mut *c)
                    .await
                    .unwrap();
            r
        }
    };
    assert!(review(&app).await);
    app.add_user("ana", Role::Analyst, "analyst-password-1")
        .await;
    let (ana, csrf) = app.login("ana", "analyst-password-1").await;
    let page = app.get(&format!("/cases/{tid}"), Some(&ana)).await;
    assert!(page.body.contains("id=\"clear-review\""), "{}", page.body);
    let path = format!("/cases/{tid}/actions/clear_review");
    let conclusion = "A colleague of the reporter, <i>confirmed</i> by phone";
    let viewer_csrf = csrf_of(&app.get("/cases", Some(&val)).await.body);
    for (cookie, c) in [(&val, viewer_csrf.as_str()), (&ana, "")] {
        let r = app
            .act(
                &tid,
                "clear_review",
                cookie,
                &[("csrf", c), ("message", conclusion)],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
    }
    assert!(review(&app).await, "still flagged");
    let r = app
        .act(
            &tid,
            "clear_review",
            &ana,
            &[("csrf", &csrf), ("message", conclusion)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(!review(&app).await, "cleared");
    let page = app.get(&format!("/cases/{tid}"), Some(&ana)).await;
    assert!(!page.body.contains("id=\"clear-review\""));
    assert!(
        page.body.contains("review_cleared") && page.body.contains(&escaped("<i>confirmed</i>"))
    );
    assert!(!page.body.contains("<i>confirmed</i>"));
    let r = app
        .act(&tid, "clear_review", &ana, &[("csrf", &csrf)])
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "not flagged any more: {}",
        r.body
    );
    let mut c = app.store.acquire().await.unwrap();
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit where action = 'review_cleared' and username = 'ana'",
    )
    .fetch_one(&mut *c)
    .await
    .unwrap();
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn api_actions_need_an_analysts_bearer_token() {
    let app = app().await;
    let tid = app.ingest_fixture("01-phish-payroll-plain.eml").await;
    app.add_user("ana", Role::Analyst, "analyst-password-1")
        .await;
    app.add_user("val", Role::Viewer, "viewer-password-1").await;
    {
        let mut tx = app.store.begin_write().await.expect("tx");
        users::add_token(&mut tx, "ana", "igw_ana_token", Utc::now())
            .await
            .expect("token");
        users::add_token(&mut tx, "val", "igw_val_token", Utc::now())
            .await
            .expect("token");
        tx.commit().await.expect("commit");
    }
    let (session, _) = app.login("ana", "analyst-password-1").await;
    let call = |auth: Option<(&'static str, String)>, action: &str, body: &str| {
        let mut b = Request::post(format!("/api/v1/cases/{tid}/actions/{action}"))
            .header(header::CONTENT_TYPE, "application/json");
        if let Some((name, value)) = auth {
            b = b.header(name, value);
        }
        b.body(Body::from(body.to_string())).expect("request")
    };
    let bearer = |t: &str| Some(("authorization", format!("Bearer {t}")));
    let sev = r#"{"value": "critical"}"#;

    let r = app.send(call(None, "severity", sev)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let r = app
        .send(call(bearer("igw_val_token"), "severity", sev))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app
        .send(call(Some(("cookie", session.clone())), "severity", sev))
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "a session would need CSRF: {}",
        r.body
    );
    let r = app
        .send(call(
            bearer("igw_ana_token"),
            "severity",
            r#"{"value": "urgent"}"#,
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("low medium high critical"), "{}", r.body);

    let r = app
        .send(call(bearer("igw_ana_token"), "severity", sev))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let out: serde_json::Value = serde_json::from_str(&r.body).expect("JSON");
    assert_eq!(out["tracking_id"], tid.as_str());
    let r = app
        .send(call(
            bearer("igw_ana_token"),
            "note",
            r#"{"message": "from the SOAR playbook"}"#,
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .send(call(bearer("igw_ana_token"), "severity", sev))
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "no change twice: {}",
        r.body
    );

    let events = app
        .get(&format!("/api/v1/cases/{tid}/events"), Some(&session))
        .await;
    let v: serde_json::Value = serde_json::from_str(&events.body).expect("JSON");
    let mine: Vec<&str> = v
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["actor"] == "analyst:ana")
        .map(|e| e["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(mine, ["severity_changed", "note_added"], "{v}");
}

#[tokio::test]
async fn sharing_from_the_case_page_the_queue_and_the_api() {
    let a = app().await;
    let tid = a.ingest_fixture("01-phish-payroll-plain.eml").await;
    a.add_user("ana", Role::Analyst, "analyst-password-1").await;
    a.add_user("val", Role::Viewer, "viewer-password-1").await;
    let (ana, csrf) = a.login("ana", "analyst-password-1").await;
    let (val, _) = a.login("val", "viewer-password-1").await;

    // The case page: TLP:AMBER by default, links to both exports, a Remove button per
    // indicator.
    let page = a.get(&format!("/cases/{tid}"), Some(&ana)).await;
    assert!(page.body.contains("TLP:AMBER"), "{}", page.body);
    assert!(page.body.contains(&format!("/cases/{tid}/export/stix")));
    assert!(page.body.contains(&format!("/cases/{tid}/export/misp")));
    let url = "https://commonwealth-hrcms.com/selfservice/login.php?id=88231";
    assert!(page.body.contains("actions/remove_indicator"));

    let r = a
        .get(&format!("/cases/{tid}/export/stix"), Some(&ana))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r
        .header(header::CONTENT_DISPOSITION)
        .contains(&format!("{tid}.stix.json")));
    assert!(r
        .header(header::CONTENT_TYPE)
        .starts_with("application/stix+json"));
    assert!(
        r.body.contains(url),
        "the URL is exported before its removal"
    );

    // Remove it (CSRF-checked), set the TLP: the page says so, the exports follow.
    let r = a
        .act(
            &tid,
            "remove_indicator",
            &ana,
            &[("kind", "urls"), ("value", url)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no CSRF token, no change");
    let r = a
        .act(
            &tid,
            "remove_indicator",
            &ana,
            &[("csrf", &csrf), ("kind", "urls"), ("value", url)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = a
        .act(&tid, "tlp", &ana, &[("csrf", &csrf), ("value", "green")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = a.get(&format!("/cases/{tid}"), Some(&ana)).await;
    assert!(page.body.contains("TLP:GREEN"));
    assert!(page.body.contains("removed (false positive, by "));
    assert!(page.body.contains("actions/restore_indicator"));
    for format in ["stix", "misp"] {
        let r = a
            .get(&format!("/cases/{tid}/export/{format}"), Some(&ana))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            !r.body.contains(url),
            "{format} carries a removed indicator"
        );
        assert!(r.body.contains("commonwealth-hrcms.com"));
    }
    // Sharing is for analysts; a viewer gets the queue's CSV only.
    let r = a
        .get(&format!("/cases/{tid}/export/stix"), Some(&val))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The queue's CSV keeps the page's filter.
    let queue = a.get("/cases?q=Chelsea", Some(&val)).await;
    assert!(
        queue.body.contains("/cases.csv?q=Chelsea"),
        "{}",
        queue.body
    );
    let r = a.get("/cases.csv?q=Chelsea", Some(&val)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header(header::CONTENT_TYPE).starts_with("text/csv"));
    assert_eq!(r.body.matches("\r\n").count(), 2, "{}", r.body);
    assert!(r.body.contains(&tid));
    let r = a.get("/cases.csv?q=nothing-matches-this", Some(&val)).await;
    assert_eq!(r.body.matches("\r\n").count(), 1, "the header only");

    // The timeline shows the exports; the audit trail has them too.
    let page = a.get(&format!("/cases/{tid}"), Some(&ana)).await;
    assert!(page.body.contains("Case exported"), "{}", page.body);
    assert!(page.body.contains("Indicator removed"));
    let mut c = a.store.acquire().await.expect("conn");
    let exports: i64 = sqlx::query_scalar("select count(*) from audit where action = 'export'")
        .fetch_one(&mut *c)
        .await
        .expect("audit");
    assert_eq!(exports, 5, "three case exports by ana, two CSVs by val");

    // The API: a case, a period, the queue; an analyst's bearer token.
    let token = "igw_share_token_0123456789";
    {
        let mut tx = a.store.begin_write().await.expect("tx");
        users::add_token(&mut tx, "ana", token, Utc::now())
            .await
            .expect("token");
        tx.commit().await.expect("commit");
    }
    for path in [
        format!("/api/v1/cases/{tid}/export/misp"),
        "/api/v1/export/stix?since=2000-01-01&until=2999-12-31".to_string(),
        "/api/v1/cases.csv?q=Chelsea".to_string(),
    ] {
        let req = Request::get(&path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("req");
        let r = a.send(req).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        assert!(r.body.contains(&tid), "{path}");
        assert!(!r.body.contains(url), "{path}");
    }
    let req = Request::get("/api/v1/export/stix?since=2026-03-02&until=2026-03-01")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("req");
    assert_eq!(a.send(req).await.status, StatusCode::BAD_REQUEST);
}

/// `/dashboard`: a login first; a viewer sees it; a range it cannot show is a 400 that
/// says why; a hostile stored category is text in the chart and the table, and the
/// page has no inline script or style (the CSP holds).
#[tokio::test]
async fn the_dashboard_needs_a_login_refuses_bad_ranges_and_escapes_stored_values() {
    let a = app().await;
    let tid = a.ingest_fixture("01-phish-payroll-plain.eml").await;
    let r = a.get("/dashboard", None).await;
    assert_eq!(r.header(header::LOCATION), "/login");
    {
        let mut c = a.store.acquire().await.expect("conn");
        sqlx::query("update cases set category = ? where tracking_id = ?")
            .bind("<script>alert(1)</script>")
            .bind(&tid)
            .execute(&mut *c)
            .await
            .expect("update");
    }
    a.add_user("vera", Role::Viewer, "viewer-password-1").await;
    let (cookie, _) = a.login("vera", "viewer-password-1").await;
    let page = a.get("/dashboard", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<a href=\"/dashboard\">Dashboard</a>"));
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.body.contains(" style="), "inline style under the CSP");
    assert_eq!(
        page.body.matches("<script").count(),
        1,
        "only /static/app.js"
    );
    assert!(
        page.body.contains(r#"<span id="total">1</span>"#),
        "{}",
        page.body
    );
    for (q, says) in [
        ("?from=2026-12-01&to=2026-11-01", "before from"),
        ("?from=yesterday&to=2026-11-01", "is not a date"),
        ("?from=2020-01-01&to=2026-11-01", "at most"),
    ] {
        let r = a.get(&format!("/dashboard{q}"), Some(&cookie)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert!(r.body.contains(says), "{q}: {}", r.body);
    }
}

#[tokio::test]
async fn queue_defaults_to_needs_me_now_without_closed_cases() {
    let a = app().await;
    let tid = a.ingest_fixture("01-phish-payroll-plain.eml").await;
    a.add_user("ana", Role::Analyst, "analyst-password-1").await;
    let (cookie, csrf) = a.login("ana", "analyst-password-1").await;
    let page = a.get("/cases", Some(&cookie)).await;
    assert!(page.body.contains("Needs me now"), "{}", page.body);
    assert!(
        page.body.contains(&format!("/cases/{tid}")),
        "open case in the default view"
    );
    assert!(page.body.contains("<th>Timers</th>"));
    let r = a
        .post(
            &format!("/cases/{tid}/actions/status"),
            Some(&cookie),
            &[("csrf", &csrf), ("value", "resolved")],
        )
        .await;
    assert!(r.status.is_redirection(), "{}", r.body);
    let page = a.get("/cases", Some(&cookie)).await;
    assert!(
        !page.body.contains(&format!("/cases/{tid}\"")),
        "resolved case left the default view"
    );
    for view in ["closed", "all"] {
        let page = a.get(&format!("/cases?view={view}"), Some(&cookie)).await;
        assert!(page.body.contains(&format!("/cases/{tid}\"")), "{view}");
    }
}

#[tokio::test]
async fn an_overdue_triage_timer_is_highlighted_on_queue_and_case() {
    use incident_gateway::domain::TrackingId;
    let a = app().await;
    a.add_user("ana", Role::Analyst, "analyst-password-1").await;
    let (cookie, _) = a.login("ana", "analyst-password-1").await;
    // Reported two days ago on the clock the timers read: long past medium's 4 h.
    let (late, fresh) = (
        TrackingId::new("SOC", 2026, 901).unwrap(),
        TrackingId::new("SOC", 2026, 902).unwrap(),
    );
    for (tid, ago) in [(&late, 48), (&fresh, 0)] {
        a.case_reported(tid, "timer case", chrono::Duration::hours(ago))
            .await;
    }
    let page = a.get("/cases", Some(&cookie)).await;
    let row_of = |tid: &TrackingId| {
        let at = page.body.find(&format!("/cases/{tid}\"")).expect("row");
        let end = page.body[at..].find("</tr>").unwrap() + at;
        page.body[at..end].to_string()
    };
    let late_row = row_of(&late);
    assert!(
        late_row.contains("timer overdue") && late_row.contains("triage overdue by 1 d 20 h"),
        "{late_row}"
    );
    let fresh_row = row_of(&fresh);
    assert!(
        fresh_row.contains("triage due in 3 h") && !fresh_row.contains("overdue"),
        "{fresh_row}"
    );
    let case = a.get(&format!("/cases/{late}"), Some(&cookie)).await;
    assert!(
        case.body
            .contains("class=\"timer overdue\" id=\"timer-triage\""),
        "{}",
        case.body
    );
    {
        let mut tx = a.store.begin_write().await.unwrap();
        users::add_token(&mut tx, "ana", "igw_timer_token", Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let api = a
        .send(
            Request::get("/api/v1/cases?view=all")
                .header("authorization", "Bearer igw_timer_token")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let v: serde_json::Value = serde_json::from_str(&api.body).expect("json");
    let late_json = v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["tracking_id"] == late.to_string())
        .cloned()
        .expect("late case listed");
    assert_eq!(late_json["timers"]["triage_overdue"], true, "{late_json}");
}

#[tokio::test]
async fn triage_is_one_step_one_scio_update_analysts_only() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let app = app_with(&dor_directory(tmp.path())).await;
    let tid = app.ingest_fixture("01-phish-payroll-plain.eml").await;
    let ((ana, csrf), (val, vcsrf)) = app.analyst_and_viewer().await;
    let before = outbox_kinds(&app.store).await;
    let path = format!("/cases/{tid}/triage");
    let form = |c: &str| {
        vec![
            ("csrf", c.to_string()),
            ("severity", "high".to_string()),
            ("priority", "p2".to_string()),
            ("assignee", "ana".to_string()),
            ("status", "investigating".to_string()),
            ("note", "Looking at it <b>now</b>".to_string()),
        ]
    };
    for (cookie, c) in [
        (&val, vcsrf.clone()),
        (&ana, "0".repeat(64)),
        (&ana, String::new()),
    ] {
        let f = form(&c);
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = app.post(&path, Some(cookie), &f).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    assert_eq!(
        outbox_kinds(&app.store).await,
        before,
        "refused: nothing queued"
    );
    let f = form(&csrf);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = app.post(&path, Some(&ana), &f).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let after = outbox_kinds(&app.store).await;
    assert_eq!(
        after.len(),
        before.len() + 1,
        "exactly one SCIO update: {after:?}"
    );
    let location = r
        .headers
        .get(header::LOCATION)
        .expect("location")
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(location.ends_with("#actions"), "{location}");
    let page = app
        .get(location.trim_end_matches("#actions"), Some(&ana))
        .await;
    assert!(
        page.body
            .contains("Triaged: severity high, priority p2, assignee ana, status investigating"),
        "{}",
        page.body
    );
    assert!(page.body.contains("1 SCIO update queued"));
    let mut c = app.store.acquire().await.expect("conn");
    let case = incident_gateway::store::cases::by_tracking_id(&mut c, &tid.parse().expect("tid"))
        .await
        .expect("case")
        .expect("exists");
    assert_eq!(case.severity.as_deref(), Some("high"));
    assert_eq!(case.assignee.as_deref(), Some("ana"));
    let audit = users::audit_log(&mut c, 5).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "case_triaged" && a.username == "ana"),
        "{audit:?}"
    );
}

/// The cases' (assignee, status, merged into) as stored.
async fn case_state(store: &Store, tid: &str) -> (Option<String>, String, Option<String>) {
    let mut c = store.acquire().await.expect("conn");
    let d = incident_gateway::store::cases::detail(&mut c, &tid.parse().expect("tid"))
        .await
        .expect("case");
    (
        d.case.assignee.clone(),
        d.case.status.to_string(),
        d.merged_into.clone(),
    )
}

#[tokio::test]
async fn bulk_actions_from_the_queue_are_analysts_only_audited_and_merge_asks_first() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let app = app_with(&dor_directory(tmp.path())).await;
    let mut tids = Vec::new();
    for f in [
        "01-phish-payroll-plain.eml",
        "05-ransomware-dcr-outlook-screenshot.eml",
        "19-facebook-hijack-mobile-screenshot.eml",
        "26-qakbot-three-hosts-log-attachment.eml",
    ] {
        tids.push(app.ingest_fixture(f).await);
    }
    app.add_user("ana", Role::Analyst, "analyst-password-1")
        .await;
    app.add_user("bo", Role::Analyst, "analyst-password-2")
        .await;
    app.add_user("val", Role::Viewer, "viewer-password-1").await;
    let (ana, csrf) = app.login("ana", "analyst-password-1").await;
    let (val, vcsrf) = app.login("val", "viewer-password-1").await;

    // The queue offers the selection to analysts only.
    let q = app.get("/cases?view=all", Some(&ana)).await;
    assert!(q.body.contains("id=\"bulk\""), "{}", q.body);
    for t in &tids {
        assert!(
            q.body
                .contains(&format!("form=\"bulk\" name=\"case\" value=\"{t}\"")),
            "a box for {t}"
        );
    }
    assert!(q.body.contains("<option value=\"bo\">bo</option>"));
    let qv = app.get("/cases?view=all", Some(&val)).await;
    assert!(!qv.body.contains("id=\"bulk\""));

    let assign = |c: &str| {
        vec![
            ("csrf", c.to_string()),
            ("action", "assign".to_string()),
            ("assignee", "bo".to_string()),
            ("back", "/cases?view=all".to_string()),
            ("case", tids[0].clone()),
            ("case", tids[1].clone()),
            ("case", tids[2].clone()),
        ]
    };
    for (cookie, c) in [
        (&val, vcsrf.clone()),
        (&ana, "0".repeat(64)),
        (&ana, String::new()),
    ] {
        let f = assign(&c);
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = app.post("/cases/bulk", Some(cookie), &f).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    for t in &tids {
        assert_eq!(
            case_state(&app.store, t).await.0,
            None,
            "refused: {t} unchanged"
        );
    }

    let f = assign(&csrf);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = app.post("/cases/bulk", Some(&ana), &f).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let location = r.header(header::LOCATION);
    assert!(
        location.starts_with("/cases?view=all&done=") && location.ends_with("#queue"),
        "{location}"
    );
    let page = app
        .get(location.trim_end_matches("#queue"), Some(&ana))
        .await;
    assert!(
        page.body.contains(&format!(
            "Assigned to bo: 3 case(s) ({}, {}, {}).",
            tids[0], tids[1], tids[2]
        )),
        "{}",
        page.body
    );
    for t in &tids[..3] {
        assert_eq!(case_state(&app.store, t).await.0.as_deref(), Some("bo"));
    }
    assert_eq!(
        case_state(&app.store, &tids[3]).await.0,
        None,
        "not selected"
    );
    {
        let mut c = app.store.acquire().await.expect("conn");
        let audit = users::audit_log(&mut c, 50).await.expect("audit");
        let n = audit
            .iter()
            .filter(|a| a.action == "assignee_changed" && a.username == "ana")
            .count();
        assert_eq!(n, 3, "one audit row per case: {audit:?}");
    }

    // Input an attacker could put in a link: escaped, refused, nothing changed.
    let r = app
        .post(
            "/cases/bulk",
            Some(&ana),
            &[
                ("csrf", &csrf),
                ("action", "assign"),
                ("assignee", "bo"),
                ("case", SCRIPT),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        !r.body.contains(SCRIPT) && r.body.contains("is not a tracking ID"),
        "{}",
        r.body
    );
    // A `back` elsewhere goes to the queue instead.
    let r = app
        .post(
            "/cases/bulk",
            Some(&ana),
            &[
                ("csrf", &csrf),
                ("action", "status"),
                ("status", "investigating"),
                ("back", "https://evil.example/"),
                ("case", &tids[1]),
                ("case", &tids[2]),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.header(header::LOCATION).starts_with("/cases?done="));
    assert_eq!(case_state(&app.store, &tids[2]).await.1, "investigating");

    // Merge: a confirmation page first; nothing merged until it is confirmed.
    let merge = [
        ("csrf", csrf.as_str()),
        ("action", "merge"),
        ("back", "/cases"),
        ("case", tids[0].as_str()),
        ("case", tids[3].as_str()),
    ];
    let r = app.post("/cases/bulk", Some(&ana), &merge).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body
            .contains(&format!("Merge 1 case(s) into {}", tids[0])),
        "{}",
        r.body
    );
    assert_eq!(
        case_state(&app.store, &tids[3]).await.2,
        None,
        "not yet merged"
    );
    let confirm = csrf_of(&r.body);
    let mut confirmed: Vec<(&str, &str)> = merge.to_vec();
    confirmed[0] = ("csrf", confirm.as_str());
    confirmed.push(("confirm", "yes"));
    confirmed.push(("into", &tids[0]));
    let r = app.post("/cases/bulk", Some(&ana), &confirmed).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        case_state(&app.store, &tids[3]).await.2.as_deref(),
        Some(tids[0].as_str())
    );

    // Export: the selected cases only, as CSV.
    let r = app
        .post(
            "/cases/bulk",
            Some(&ana),
            &[
                ("csrf", &csrf),
                ("action", "export"),
                ("case", &tids[1]),
                ("case", &tids[2]),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.header(header::CONTENT_TYPE).starts_with("text/csv"));
    assert!(r.body.contains(&tids[1]) && r.body.contains(&tids[2]));
    assert!(!r.body.contains(&tids[0]), "{}", r.body);
}

/// A report whose attachments claim to be images: one really is not, one is SVG.
fn fake_images_message() -> Vec<u8> {
    use base64::Engine as _;
    let svg = base64::engine::general_purpose::STANDARD
        .encode(b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>");
    let html =
        base64::engine::general_purpose::STANDARD.encode(b"<html><script>alert(1)</script></html>");
    format!(
        "From: Pat Sender <pat.sender@mass.gov>\r\n\
To: soc@mass.gov\r\n\
Subject: Screenshots of the ransom note\r\n\
Date: Tue, 13 Jan 2026 10:02:11 -0500\r\n\
Message-ID: <fake-images-1@mass.gov>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"OUT\"\r\n\
\r\n\
--OUT\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Ransom note on a file server at 9:40 this morning, screenshots attached.\r\n\
--OUT\r\n\
Content-Type: image/png; name=\"note.png\"\r\n\
Content-Disposition: attachment; filename=\"note.png\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
{html}\r\n\
--OUT\r\n\
Content-Type: image/svg+xml; name=\"note.svg\"\r\n\
Content-Disposition: attachment; filename=\"note.svg\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
{svg}\r\n\
--OUT--\r\n"
    )
    .into_bytes()
}

/// The `/…/preview` addresses on a case page.
fn preview_links(html: &str) -> Vec<String> {
    html.split("src=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|s| s.ends_with("/preview"))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn image_attachments_preview_inline_and_nothing_else_does() {
    let app = app().await;
    app.add_user("val", Role::Viewer, "viewer-password-1").await;
    let (val, _) = app.login("val", "viewer-password-1").await;

    // A real screenshot: shown inline, served as the PNG it is, sandboxed.
    let tid = app
        .ingest_fixture("05-ransomware-dcr-outlook-screenshot.eml")
        .await;
    let page = app.get(&format!("/cases/{tid}"), Some(&val)).await;
    let links = preview_links(&page.body);
    assert_eq!(links.len(), 1, "{}", page.body);
    assert!(page.body.contains("class=\"att-preview\""));
    let r = app.get(&links[0], Some(&val)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header(header::CONTENT_TYPE), "image/png");
    assert_eq!(r.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert!(r
        .header(header::CONTENT_SECURITY_POLICY)
        .contains("sandbox"));
    assert!(r.bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    let anonymous = app.get(&links[0], None).await;
    assert_ne!(anonymous.status, StatusCode::OK, "a login is needed");

    // A text attachment: its first lines as text on the page.
    let tid = app
        .ingest_fixture("26-qakbot-three-hosts-log-attachment.eml")
        .await;
    let page = app.get(&format!("/cases/{tid}"), Some(&val)).await;
    assert!(
        page.body.contains("<pre class=\"att-text\">"),
        "{}",
        page.body
    );

    // "image/png" that is HTML, and SVG: never served inline.
    let tid = app.ingest(&fake_images_message()).await.expect("a case");
    let page = app.get(&format!("/cases/{tid}"), Some(&val)).await;
    assert!(page.body.contains("note.svg") && page.body.contains("note.png"));
    let links = preview_links(&page.body);
    assert_eq!(links.len(), 1, "the claimed PNG only: {links:?}");
    let r = app.get(&links[0], Some(&val)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.header(header::CONTENT_TYPE).starts_with("text/html"));
    assert!(!r.body.contains("<script>alert(1)"), "{}", r.body);
    let svg = page
        .body
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|h| {
            h.contains("/attachments/")
                && !h.ends_with("/preview")
                && links[0] != format!("{h}/preview")
        })
        .expect("the SVG's download link")
        .to_string();
    let r = app.get(&format!("{svg}/preview"), Some(&val)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "no SVG preview");
}

/// The tracking IDs the queue page lists, in order.
fn listed(html: &str) -> Vec<String> {
    html.split("<tr class=\"prio-")
        .skip(1)
        .filter_map(|row| {
            let at = row.find("data-case=\"")? + "data-case=\"".len();
            Some(row[at..at + row[at..].find('"')?].to_string())
        })
        .collect()
}

/// Today's date in America/New_York, moved by `days`.
fn local_day(days: i64) -> String {
    (Utc::now() + chrono::Duration::days(days))
        .with_timezone(&chrono_tz::America::New_York)
        .format("%Y-%m-%d")
        .to_string()
}

#[tokio::test]
async fn queue_search_finds_words_sorts_by_column_and_narrows_by_date_and_view() {
    use incident_gateway::domain::TrackingId;
    let a = app().await;
    let [payroll, ransom, qakbot] = a.ingest_three().await;
    // Reported ten days ago and never triaged: overdue on every clock.
    let old = TrackingId::new("SOC", 2026, 977).unwrap();
    a.case_reported(&old, "stale case", chrono::Duration::days(10))
        .await;
    let old = old.to_string();
    a.add_user("ana", Role::Analyst, "analyst-password-1").await;
    let (cookie, _) = a.login("ana", "analyst-password-1").await;
    let list = |path: String| {
        let a = &a;
        let cookie = cookie.clone();
        async move {
            let r = a.get(&path, Some(&cookie)).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
            (listed(&r.body), r.body)
        }
    };

    // Words and word starts in the subject, the report, the indicators, the ID.
    for (q, want) in [
        ("ransom", vec![ransom.clone()]),
        ("RANSOMWARE dcr", vec![ransom.clone()]),
        ("Worcester", vec![qakbot.clone()]),
        ("203.0.113", vec![qakbot.clone()]),
        ("aa543fcf05dd2fbcb6eda3c59f46fe15", vec![qakbot.clone()]),
        ("commonwealth-hrcms.com", vec![payroll.clone()]),
        (qakbot.as_str(), vec![qakbot.clone()]),
        ("ransomware Worcester", vec![]),
        ("nosuchwordanywhere", vec![]),
    ] {
        let (got, _) = list(format!("/cases?view=all&q={}", enc(q))).await;
        assert_eq!(got, want, "search {q:?}");
    }
    // Search syntax is text: quotes, stars and operators find nothing odd and break nothing.
    for q in ["\"", "ransom*\" OR \"", "NEAR(a b)", "-- ;", "title:x"] {
        let r = a
            .get(&format!("/cases?view=all&q={}", enc(q)), Some(&cookie))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{q:?}: {}", r.body);
    }
    let api = a
        .send(
            Request::get("/api/v1/cases?q=ransom")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.body);
    let v: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(v["total"], 1, "the API searches the same way: {v}");

    // Any column sorts, both ways; the header says which.
    let (asc, body) = list("/cases?view=all&sort=received&dir=asc".into()).await;
    assert_eq!(
        asc,
        vec![old.clone(), payroll.clone(), ransom.clone(), qakbot.clone()]
    );
    assert!(body.contains("aria-sort=\"ascending\""), "{body}");
    let (desc, _) = list("/cases?view=all&sort=received&dir=desc".into()).await;
    assert_eq!(desc, asc.iter().rev().cloned().collect::<Vec<_>>());
    let (by_case, _) = list("/cases?view=all&sort=case".into()).await;
    let mut ids = by_case.clone();
    ids.sort();
    assert_eq!(by_case, ids);
    let (_, body) = list("/cases?view=all&sort=subject&dir=desc".into()).await;
    assert!(body.contains("aria-sort=\"descending\""));
    // A column that is not one falls back to the view's order, never into the SQL.
    let (odd, _) = list(format!(
        "/cases?view=all&sort={}",
        enc("id; drop table cases")
    ))
    .await;
    assert_eq!(odd.len(), 4);

    // Date range (America/New_York days, both ends included); a bad date is said so.
    let (recent, _) = list(format!("/cases?view=all&from={}", local_day(-2))).await;
    assert!(!recent.contains(&old) && recent.len() == 3, "{recent:?}");
    let (older, _) = list(format!("/cases?view=all&to={}", local_day(-5))).await;
    assert_eq!(older, vec![old.clone()]);
    let (all, body) = list(format!("/cases?view=all&from={}", enc("<b>31/11</b>"))).await;
    assert_eq!(all.len(), 4);
    assert!(
        body.contains("The date '&lt;b&gt;31&#x2f;11&lt;&#x2f;b&gt;' is not a day")
            && !body.contains("<b>31/11</b>"),
        "{body}"
    );

    // Overdue: the stale case.
    let (overdue, body) = list("/cases?view=overdue".into()).await;
    assert_eq!(overdue, vec![old.clone()]);
    assert!(
        body.contains(
            "data-view=\"overdue\" aria-current=\"page\">Overdue <span class=\"count\">1</span>"
        ),
        "{body}"
    );
    // Waiting on the reporter: a report we asked details of (the hurried two lines),
    // not the three that gave everything nor the stale case.
    let hurried = a.ingest_fixture("13-virus-popups-hurried.eml").await;
    let (waiting, _) = list("/cases?view=waiting".into()).await;
    assert_eq!(waiting, vec![hurried], "{waiting:?}");
}

#[tokio::test]
async fn saved_views_are_the_analysts_own_audited_csrf_checked_and_escaped() {
    let a = app().await;
    a.ingest_fixture("05-ransomware-dcr-outlook-screenshot.eml")
        .await;
    a.add_user("ana", Role::Analyst, "analyst-password-1").await;
    a.add_user("bo", Role::Analyst, "analyst-password-2").await;
    a.add_user("val", Role::Viewer, "viewer-password-1").await;
    let (ana, csrf) = a.login("ana", "analyst-password-1").await;
    let (bo, bcsrf) = a.login("bo", "analyst-password-2").await;
    let (val, vcsrf) = a.login("val", "viewer-password-1").await;
    let name = "<script>alert(1)</script> critical";
    let back = "/cases?view=all&severity=critical&q=ransom&page=3";
    for (cookie, c) in [(&val, vcsrf.as_str()), (&ana, ""), (&ana, bcsrf.as_str())] {
        let r = a
            .post(
                "/views",
                Some(cookie),
                &[("csrf", c), ("name", name), ("back", back)],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    let r = a
        .post(
            "/views",
            Some(&ana),
            &[("csrf", &csrf), ("name", " "), ("back", back)],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = a
        .post(
            "/views",
            Some(&ana),
            &[("csrf", &csrf), ("name", name), ("back", back)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let location = r.header(header::LOCATION);
    assert!(
        location.starts_with("/cases?view=all&severity=critical&q=ransom&done="),
        "the page number is not part of the view: {location}"
    );
    let page = a.get("/cases", Some(&ana)).await;
    assert!(
        page.body.contains(
            "<a href=\"/cases?view=all&amp;severity=critical&amp;q=ransom\">&lt;script&gt;alert(1)&lt;&#x2f;script&gt; critical</a>"
        ),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>alert(1)"));
    // Someone else's page does not show it, and they cannot delete it.
    let other = a.get("/cases", Some(&bo)).await;
    assert!(!other.body.contains("alert(1)"));
    let id: i64 = {
        let mut c = a.store.acquire().await.unwrap();
        sqlx::query_scalar("select id from saved_views where username = 'ana'")
            .fetch_one(&mut *c)
            .await
            .unwrap()
    };
    let r = a
        .post(
            &format!("/views/{id}/delete"),
            Some(&bo),
            &[("csrf", &bcsrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = a
        .post(
            &format!("/views/{id}/delete"),
            Some(&val),
            &[("csrf", &vcsrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = a
        .post(
            &format!("/views/{id}/delete"),
            Some(&ana),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = a.get("/cases", Some(&ana)).await;
    assert!(!page.body.contains("alert(1)</a>"));
    let mut c = a.store.acquire().await.unwrap();
    let audit: Vec<(String, String, String)> = sqlx::query_as(
        "select username, action, detail_json from audit where action like '%_view' order by id",
    )
    .fetch_all(&mut *c)
    .await
    .unwrap();
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert_eq!(
        (audit[0].0.as_str(), audit[0].1.as_str()),
        ("ana", "save_view")
    );
    assert!(audit[0].2.contains("severity=critical"), "{audit:?}");
    assert_eq!(audit[1].1, "delete_view");
}

#[tokio::test]
async fn the_queue_hears_of_new_cases_and_answers_304_while_nothing_changed() {
    let a = app().await;
    a.ingest_fixture("01-phish-payroll-plain.eml").await;
    a.add_user("val", Role::Viewer, "viewer-password-1").await;
    let (val, _) = a.login("val", "viewer-password-1").await;
    let page = a.get("/cases", Some(&val)).await;
    let at = page
        .body
        .find("data-newest=\"")
        .expect("newest id on the page")
        + 13;
    let newest = &page.body[at..at + page.body[at..].find('"').unwrap()];
    let path = format!("/cases/newer?after={newest}");
    let r = a.get(&path, None).await;
    assert_ne!(r.status, StatusCode::OK, "not without a login");
    let r = a.get(&path, Some(&val)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["new"], 0, "{v}");
    let etag = r.header(header::ETAG);
    let same = get_with(&a, &path, &[("cookie", &val), ("if-none-match", &etag)]).await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    // The page's poll says it is a background request: it does not keep the session
    // alive (its idle clock is not restarted), while a page load does.
    let last_seen = || {
        let store = a.store.clone();
        async move {
            let mut c = store.acquire().await.unwrap();
            let t: String = sqlx::query_scalar("select max(last_seen_at) from web_sessions")
                .fetch_one(&mut *c)
                .await
                .unwrap();
            t
        }
    };
    let before = last_seen().await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let polled = get_with(&a, &path, &[("cookie", &val), ("x-igw-background", "1")]).await;
    assert_eq!(polled.status, StatusCode::OK);
    assert_eq!(
        last_seen().await,
        before,
        "a poll does not touch the session"
    );
    a.get("/cases", Some(&val)).await;
    assert!(last_seen().await > before, "a page load does");
    a.ingest_fixture("05-ransomware-dcr-outlook-screenshot.eml")
        .await;
    a.ingest_fixture("26-qakbot-three-hosts-log-attachment.eml")
        .await;
    let r = get_with(&a, &path, &[("cookie", &val), ("if-none-match", &etag)]).await;
    assert_eq!(r.status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["new"], 2, "{v}");
}

#[tokio::test]
async fn closing_asks_a_resolution_previews_and_tells_the_scio_and_the_reporter_once_each() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let app = app_with(&dor_directory(tmp.path())).await;
    let tid = app.ingest_fixture("01-phish-payroll-plain.eml").await;
    let ((ana, csrf), (val, vcsrf)) = app.analyst_and_viewer().await;
    let path = format!("/cases/{tid}/close");
    let resolution =
        "Blocked the sender domain; no one entered a password. <script>alert(1)</script>";
    let before = outbox_kinds(&app.store).await;
    let page = app.get(&format!("/cases/{tid}"), Some(&ana)).await;
    assert!(page.body.contains("id=\"close-form\""), "{}", page.body);

    for (cookie, c) in [(&val, vcsrf.as_str()), (&ana, ""), (&ana, &"0".repeat(64))] {
        for step in ["preview", "send"] {
            let r = app
                .post(
                    &path,
                    Some(cookie),
                    &[
                        ("csrf", c),
                        ("status", "resolved"),
                        ("resolution", resolution),
                        ("tell_reporter", "on"),
                        ("step", step),
                    ],
                )
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        }
    }
    for (status, text, why) in [
        ("resolved", "  ", "a resolution is needed"),
        ("investigating", resolution, "does not end a case"),
    ] {
        let r = app
            .post(
                &path,
                Some(&ana),
                &[
                    ("csrf", &csrf),
                    ("status", status),
                    ("resolution", text),
                    ("step", "send"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains(why), "{}", r.body);
    }

    // The preview shows both messages, escaped, and changes nothing.
    let r = app
        .post(
            &path,
            Some(&ana),
            &[
                ("csrf", &csrf),
                ("status", "resolved"),
                ("resolution", resolution),
                ("tell_reporter", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r
        .body
        .contains("Nothing has changed and nothing has been sent yet."));
    assert!(r.body.contains("scio@anf.state.ma.us"), "{}", r.body);
    assert!(r.body.contains("To the reporter"), "{}", r.body);
    assert!(
        r.body.contains(&format!(
            "[{tid}] Resolved: Suspicious payroll email to Chelsea office staff"
        )),
        "{}",
        r.body
    );
    assert!(!r.body.contains("<script>alert(1)"), "escaped");
    assert_eq!(
        outbox_kinds(&app.store).await,
        before,
        "nothing queued by a preview"
    );
    assert_eq!(case_state(&app.store, &tid).await.1, "new");

    // Sent from the preview's own form.
    let confirm = csrf_of(&r.body);
    let r = app
        .post(
            &path,
            Some(&ana),
            &[
                ("csrf", &confirm),
                ("status", "resolved"),
                ("resolution", resolution),
                ("tell_reporter", "on"),
                ("step", "send"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let location = r.header(header::LOCATION);
    assert!(
        location.starts_with(&format!("/cases/{tid}?done=")),
        "{location}"
    );
    assert_eq!(case_state(&app.store, &tid).await.1, "resolved");
    let page = app
        .get(location.trim_end_matches("#actions"), Some(&ana))
        .await;
    assert!(
        page.body
            .contains("resolved: 1 SCIO update queued; the reporter is told"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("id=\"close-form\""),
        "no second close form"
    );
    let after = outbox_kinds(&app.store).await;
    let new: Vec<&String> = after[before.len()..].iter().map(|(k, _)| k).collect();
    assert_eq!(new, ["scio_update", "closure"], "{after:?}");
    let mut c = app.store.acquire().await.unwrap();
    let (recipient, raw): (String, Vec<u8>) =
        sqlx::query_as("select recipient, raw from outbox where kind = 'closure'")
            .fetch_one(&mut *c)
            .await
            .unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    assert_eq!(recipient, "maria.costa@dor.state.ma.us");
    assert!(
        raw.contains("In-Reply-To: <a3f9c2e1-5b7d-4c1a-9e2f-7d81c0b4e6a2@dor.state.ma.us>"),
        "the reporter's thread: {raw}"
    );
    assert!(raw.contains("Blocked the sender domain"), "{raw}");
    let scio: Vec<u8> = sqlx::query_scalar("select raw from outbox where kind = 'scio_update'")
        .fetch_one(&mut *c)
        .await
        .unwrap();
    let scio = String::from_utf8_lossy(&scio);
    assert!(
        scio.contains("Resolution:") && scio.contains("Blocked the sender domain"),
        "{scio}"
    );
    let audit: i64 = sqlx::query_scalar(
        "select count(*) from audit where action = 'case_closed' and username = 'ana'",
    )
    .fetch_one(&mut *c)
    .await
    .unwrap();
    assert_eq!(audit, 1);
    let events: i64 = sqlx::query_scalar(
        "select count(*) from events e join cases c on c.id = e.case_id
          where c.tracking_id = ? and e.kind = 'case_closed'",
    )
    .bind(&tid)
    .fetch_one(&mut *c)
    .await
    .unwrap();
    assert_eq!(events, 1);
    drop(c);
    // The same end twice is refused; nothing more is sent.
    let r = app
        .post(
            &path,
            Some(&ana),
            &[
                ("csrf", &csrf),
                ("status", "resolved"),
                ("resolution", "again"),
                ("step", "send"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(outbox_kinds(&app.store).await.len(), after.len());
}

#[tokio::test]
async fn an_indicator_says_which_other_cases_it_appears_in() {
    let a = app().await;
    let first = a
        .ingest_fixture("26-qakbot-three-hosts-log-attachment.eml")
        .await;
    // The same alert reported again by someone else: a second case.
    let raw = std::fs::read(format!(
        "{}/fixtures/26-qakbot-three-hosts-log-attachment.eml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let again = String::from_utf8_lossy(&raw).replacen(
        "Message-ID:",
        "Message-ID: <second-report@mass.gov>\r\nX-Old-Message-ID:",
        1,
    );
    let second = a.ingest(again.as_bytes()).await.expect("a second case");
    assert_ne!(first, second);
    let other = a.ingest_fixture("01-phish-payroll-plain.eml").await;
    a.add_user("val", Role::Viewer, "viewer-password-1").await;
    let (val, _) = a.login("val", "viewer-password-1").await;
    let page = a.get(&format!("/cases/{first}"), Some(&val)).await;
    let row = |body: &str, value: &str| {
        let at = body
            .find(&format!("<code>{value}</code>"))
            .unwrap_or_else(|| panic!("{value} listed: {body}"));
        body[at..at + body[at..].find("</tr>").unwrap()].to_string()
    };
    let ip = row(&page.body, "203.0.113.150");
    assert!(
        ip.contains(
            "<a href=\"&#x2f;cases?view=all&amp;q=203.0.113.150\">seen in 1 other case</a>"
        ),
        "{ip}"
    );
    let md5 = row(&page.body, "aa543fcf05dd2fbcb6eda3c59f46fe15");
    assert!(md5.contains("seen in 1 other case"), "{md5}");
    let page = a.get(&format!("/cases/{other}"), Some(&val)).await;
    let lone = row(&page.body, "192.0.2.57");
    assert!(lone.contains("only here"), "{lone}");
}

#[tokio::test]
async fn the_case_page_merge_asks_first_and_comes_back_to_the_case() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = app_with(&dor_directory(tmp.path())).await;
    let dup = a.ingest_fixture("01-phish-payroll-plain.eml").await;
    let main = a
        .ingest_fixture("05-ransomware-dcr-outlook-screenshot.eml")
        .await;
    let ((ana, csrf), _) = a.analyst_and_viewer().await;
    let page = a.get(&format!("/cases/{dup}"), Some(&ana)).await;
    assert!(page.body.contains("id=\"merge-form\""), "{}", page.body);
    // Fields carry the names people read, the stored name on hover.
    assert!(
        page.body
            .contains("<th title=\"reporter_phone\">Reporter&#x27;s phone</th>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Acknowledgement to "), "{}", page.body);
    // The reporter's own words come before the actions.
    let words = page
        .body
        .find("In the reporter's words")
        .expect("the reporter's words");
    assert!(words < page.body.find("id=\"actions\"").expect("actions"));
    assert!(page.body[words..].contains("This morning at 9:40 the help desk"));
    let form = [
        ("csrf", csrf.as_str()),
        ("action", "merge"),
        ("case", dup.as_str()),
        ("into", main.as_str()),
        ("back", &format!("/cases/{dup}")),
    ];
    let r = a.post("/cases/bulk", Some(&ana), &form).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.contains(&format!("Merge 1 case(s) into {main}")),
        "{}",
        r.body
    );
    assert_eq!(
        case_state(&a.store, &dup).await.2,
        None,
        "not merged before the answer"
    );
    assert!(
        r.body.contains("maria.costa@dor.state.ma.us"),
        "whom it tells: {}",
        r.body
    );
    // And the words, as they will be sent: the reporter's message and the SCIO lines.
    let preview = &r.body[r.body.find("id=\"merge-preview\"").expect("the preview")..];
    assert!(
        preview.contains(&escaped(&format!(
            "[{main}] Your report {dup} is now part of {main}"
        ))),
        "{preview}"
    );
    assert!(
        preview.contains(&escaped(&format!(
            "Merged into {main}: this case's updates continue on that case's thread."
        ))),
        "{preview}"
    );
    assert!(
        preview.contains(&format!("{main} has no SCIO thread")),
        "{preview}"
    );
    let before = outbox_kinds(&a.store).await;
    let confirm = csrf_of(&r.body);
    let mut confirmed = form.to_vec();
    confirmed[0] = ("csrf", confirm.as_str());
    confirmed.push(("confirm", "yes"));
    let r = a.post("/cases/bulk", Some(&ana), &confirmed).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let location = r.header(header::LOCATION);
    assert!(
        location.starts_with(&format!("/cases/{dup}?done=")) && location.ends_with("#actions"),
        "{location}"
    );
    assert_eq!(
        case_state(&a.store, &dup).await.2.as_deref(),
        Some(main.as_str())
    );
    // The merged case's reporter hears where their report went, in their own thread;
    // its SCIO thread hears it once; the other case has no thread, and a merge opens none.
    let after = outbox_kinds(&a.store).await;
    let new: Vec<&str> = after[before.len()..]
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(new, ["merge_notice", "scio_update"], "{after:?}");
    let mut c = a.store.acquire().await.unwrap();
    let (to, subject, raw): (String, String, Vec<u8>) =
        sqlx::query_as("select recipient, subject, raw from outbox where kind = 'merge_notice'")
            .fetch_one(&mut *c)
            .await
            .unwrap();
    assert_eq!(to, "maria.costa@dor.state.ma.us");
    assert_eq!(
        subject,
        format!("[{main}] Your report {dup} is now part of {main}")
    );
    let raw = String::from_utf8_lossy(&raw);
    assert!(
        raw.contains("In-Reply-To: <a3f9c2e1-5b7d-4c1a-9e2f-7d81c0b4e6a2@dor.state.ma.us>"),
        "{raw}"
    );
    let scio: Vec<u8> =
        sqlx::query_scalar("select raw from outbox where kind = 'scio_update' order by id desc")
            .fetch_one(&mut *c)
            .await
            .unwrap();
    let scio = String::from_utf8_lossy(&scio);
    assert!(scio.contains("Merged into"), "{scio}");
}

#[tokio::test]
async fn tags_are_added_in_bulk_filtered_on_removed_audited_and_only_well_formed() {
    let a = app().await;
    let [one, two, three] = a.ingest_three().await;
    let ((ana, csrf), (val, vcsrf)) = a.analyst_and_viewer().await;
    let bulk = |c: &str, tag: &str| {
        vec![
            ("csrf", c.to_string()),
            ("action", "tag".to_string()),
            ("tag", tag.to_string()),
            ("back", "/cases?view=all".to_string()),
            ("case", one.clone()),
            ("case", two.clone()),
        ]
    };
    for (cookie, c) in [(&val, vcsrf.as_str()), (&ana, "")] {
        let f = bulk(c, "invoice");
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = a.post("/cases/bulk", Some(cookie), &f).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    let f = bulk(&csrf, SCRIPT);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = a.post("/cases/bulk", Some(&ana), &f).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.body.contains("is not a tag") && !r.body.contains(SCRIPT),
        "{}",
        r.body
    );

    let f = bulk(&csrf, "  Invoice Campaign ");
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = a.post("/cases/bulk", Some(&ana), &f).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = a
        .get("/cases?view=all&tag=invoice-campaign", Some(&ana))
        .await;
    let mut got = listed(&page.body);
    got.sort();
    assert_eq!(got, vec![one.clone(), two.clone()], "{}", page.body);
    assert!(
        page.body
            .contains("<option value=\"invoice-campaign\" selected>invoice-campaign (2)</option>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("class=\"tag\""));
    let case = a.get(&format!("/cases/{one}"), Some(&val)).await;
    assert!(case.body.contains(">invoice-campaign</a>"), "{}", case.body);
    assert!(
        !case.body.contains("id=\"tag-add\""),
        "viewers get no tag form"
    );

    // Removed from one case on its page; the same removal again is refused.
    for (cookie, c, want) in [
        (&val, vcsrf.as_str(), StatusCode::FORBIDDEN),
        (&ana, csrf.as_str(), StatusCode::SEE_OTHER),
        (&ana, csrf.as_str(), StatusCode::BAD_REQUEST),
    ] {
        let r = a
            .act(
                &one,
                "tag",
                cookie,
                &[("csrf", c), ("value", "invoice-campaign"), ("on", "off")],
            )
            .await;
        assert_eq!(r.status, want, "{}", r.body);
    }
    let page = a
        .get("/cases?view=all&tag=invoice-campaign", Some(&ana))
        .await;
    assert_eq!(listed(&page.body), vec![two.clone()]);
    let r = a
        .act(
            &three,
            "tag",
            &ana,
            &[("csrf", &csrf), ("value", "vendor:crestline"), ("on", "on")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let mut c = a.store.acquire().await.unwrap();
    let audit: Vec<(String,)> =
        sqlx::query_as("select action from audit where action like 'tag_%' order by id")
            .fetch_all(&mut *c)
            .await
            .unwrap();
    let audit: Vec<&str> = audit.iter().map(|(a,)| a.as_str()).collect();
    assert_eq!(
        audit,
        ["tag_added", "tag_added", "tag_removed", "tag_added"]
    );
}

/// A verified answer from the reporter of fixture 01 (DOR), threaded under the report.
fn dor_answer(tid: &str, n: u32, body: &str) -> Vec<u8> {
    format!(
        "From: Maria Costa <maria.costa@dor.state.ma.us>\r\nTo: soc@mass.gov\r\n\
         Subject: RE: [{tid}] Received: Suspicious payroll email to Chelsea office staff\r\n\
         Message-ID: <answer-{n}@dor.state.ma.us>\r\n\
         In-Reply-To: <a3f9c2e1-5b7d-4c1a-9e2f-7d81c0b4e6a2@dor.state.ma.us>\r\n\
         Authentication-Results: mx.mass.gov; dmarc=pass header.from=dor.state.ma.us\r\n\
         Date: Tue, 13 Jan 2026 11:00:00 -0500\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn a_verified_answer_tells_the_assignee_once_per_answer() {
    use incident_gateway::actions::By;
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = app_with(&format!(
        "{}trusted_authserv_id = \"mx.mass.gov\"\n[soc]\nassignee_domain = \"mass.gov\"\n",
        dor_directory(tmp.path())
    ))
    .await;
    let tid = a.ingest_fixture("01-phish-payroll-plain.eml").await;
    a.add_user("bo", Role::Analyst, "analyst-password-2").await;
    a.state
        .actions
        .assign(
            &tid.parse().unwrap(),
            Some("bo"),
            By::cli("ana"),
            Utc::now(),
        )
        .await
        .expect("assign");
    let answered = |a: &App| {
        let store = a.store.clone();
        async move {
            let mut c = store.acquire().await.unwrap();
            let rows: Vec<(String, String)> = sqlx::query_as(
                "select o.recipient, json_extract(e.detail_json, '$.answer') from events e
                   join outbox o on o.id = e.outbox_id
                  where e.kind = 'soc_notice_queued'
                    and json_extract(e.detail_json, '$.notice') = 'answered' order by e.id",
            )
            .fetch_all(&mut *c)
            .await
            .unwrap();
            rows
        }
    };
    assert!(answered(&a).await.is_empty());
    let first = dor_answer(&tid, 1, "Systems affected: the payroll self-service portal");
    assert_eq!(a.ingest(&first).await.as_deref(), Some(tid.as_str()));
    let got = answered(&a).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "bo@mass.gov");
    // The same message again (a redelivery) tells nobody again; the next answer does.
    a.ingest(&first).await;
    assert_eq!(answered(&a).await.len(), 1);
    a.ingest(&dor_answer(
        &tid,
        2,
        "Actions taken: we blocked the sender.",
    ))
    .await;
    let got = answered(&a).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_ne!(got[0].1, got[1].1, "one per answer");
    let mut c = a.store.acquire().await.unwrap();
    let raw: Vec<u8> = sqlx::query_scalar(
        "select raw from outbox where kind = 'soc_notice' and recipient = 'bo@mass.gov' order by id desc",
    )
    .fetch_one(&mut *c)
    .await
    .unwrap();
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.contains("The reporter answered"), "{raw}");
}

#[tokio::test]
async fn a_clock_run_out_tells_on_call_then_the_assignee_once_each() {
    use incident_gateway::actions::By;
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("directory.toml");
    std::fs::write(
        &path,
        "[[secretariats]]\nid = \"ANF\"\nname = \"A and F\"\nscio = \"scio@anf.state.ma.us\"\n\n\
         [[agencies]]\nname = \"Department of Revenue\"\naliases = [\"DOR\"]\ndomains = [\"dor.state.ma.us\"]\nsecretariat = \"ANF\"\n\n\
         [lists]\nsoc_oncall = [\"oncall@mass.gov\"]\n",
    )
    .expect("directory");
    let a = app_with(&format!(
        "directory = \"{}\"\n[soc]\nassignee_domain = \"mass.gov\"\nnotify_new_case_at = \"off\"\n\
         triage_critical_minutes = 60\ntriage_high_minutes = 60\ntriage_medium_minutes = 60\ntriage_low_minutes = 60\n\
         [updates]\ncritical_hours = 100\nhigh_hours = 100\nmedium_hours = 100\nlow_hours = 100\n",
        path.display()
    ))
    .await;
    let tid = a.ingest_fixture("01-phish-payroll-plain.eml").await;
    let notifier = a.state.actions.notifier().clone();
    let overdue = |a: &App| {
        let store = a.store.clone();
        async move {
            let mut c = store.acquire().await.unwrap();
            let rows: Vec<(String, String, Vec<u8>)> = sqlx::query_as(
                "select o.recipient, json_extract(e.detail_json, '$.overdue'), o.raw from events e
                   join outbox o on o.id = e.outbox_id
                  where e.kind = 'soc_notice_queued'
                    and json_extract(e.detail_json, '$.notice') = 'overdue' order by e.id",
            )
            .fetch_all(&mut *c)
            .await
            .unwrap();
            rows
        }
    };
    let now = Utc::now();
    // Within its triage time nobody is told.
    assert_eq!(notifier.soc_overdue(&a.store, now).await.unwrap(), 0);
    // Two hours on, untriaged: on-call hears once, however often the schedule runs.
    let later = now + chrono::Duration::hours(2);
    assert_eq!(notifier.soc_overdue(&a.store, later).await.unwrap(), 1);
    assert_eq!(notifier.soc_overdue(&a.store, later).await.unwrap(), 0);
    let got = overdue(&a).await;
    assert_eq!(
        got.len(),
        1,
        "{:?}",
        got.iter().map(|r| &r.1).collect::<Vec<_>>()
    );
    assert_eq!(got[0].0, "oncall@mass.gov");
    assert!(got[0].1.starts_with("triage:"), "{}", got[0].1);
    let mail = String::from_utf8_lossy(&got[0].2).replace("=\r\n", "");
    assert!(
        mail.contains(&format!("[{tid}] Triage is overdue")),
        "{mail}"
    );
    assert!(mail.contains("Nobody has triaged this case"), "{mail}");

    // Assigned: triaged, so that clock stops. The SCIO thread's clock (100 h) runs on;
    // past it with no update queued, the assignee hears once.
    a.state
        .actions
        .assign(&tid.parse().unwrap(), Some("bo"), By::cli("ana"), now)
        .await
        .expect("assign");
    assert_eq!(notifier.soc_overdue(&a.store, later).await.unwrap(), 0);
    let quiet = now + chrono::Duration::hours(101);
    assert_eq!(notifier.soc_overdue(&a.store, quiet).await.unwrap(), 1);
    assert_eq!(notifier.soc_overdue(&a.store, quiet).await.unwrap(), 0);
    let got = overdue(&a).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].0, "bo@mass.gov");
    assert!(got[1].1.starts_with("update:"), "{}", got[1].1);
    let mail = String::from_utf8_lossy(&got[1].2).replace("=\r\n", "");
    assert!(mail.contains("SCIO update overdue"), "{mail}");
    // The periodic update queued, the clock starts again: nothing is overdue.
    assert_eq!(notifier.periodic(&a.store, quiet).await.unwrap(), 1);
    let after = quiet + chrono::Duration::minutes(1);
    assert_eq!(notifier.soc_overdue(&a.store, after).await.unwrap(), 0);
    // A clock run out more than a day ago is left to the Overdue view (a first run does
    // not mail on-call about every old case).
    let stale = quiet + chrono::Duration::hours(100 + 25);
    assert_eq!(notifier.soc_overdue(&a.store, stale).await.unwrap(), 0);
    assert_eq!(overdue(&a).await.len(), 2);
}

/// The quarantined message's row (the newest message that belongs to no case).
async fn newest_quarantined(store: &Store) -> i64 {
    let mut c = store.acquire().await.unwrap();
    sqlx::query_scalar("select max(id) from messages where case_id is null")
        .fetch_one(&mut *c)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_quarantined_message_reads_safely_and_becomes_a_case_or_not_an_incident() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = app_with(&dor_directory(tmp.path())).await;
    let ((ana, csrf), (val, vcsrf)) = a.analyst_and_viewer().await;
    // A real report that its mail system stamped as automatic: quarantined, unanswered.
    let stamped = String::from_utf8(hostile_message()).unwrap().replace(
        "MIME-Version: 1.0\r\n",
        "MIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n",
    );
    assert!(a.ingest(stamped.as_bytes()).await.is_none(), "quarantined");
    let row = newest_quarantined(&a.store).await;
    let list = a.get("/quarantine", Some(&val)).await;
    assert!(
        list.body.contains(&format!("href=\"/messages/{row}\"")),
        "{}",
        list.body
    );
    // The message page: headers, the body without its scripts, the attachment's name
    // as text; the decisions for analysts only.
    let page = a.get(&format!("/messages/{row}"), Some(&val)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("We got a phishing email at 9:40 this morning."),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains(SCRIPT) && !page.body.contains("<img src=x"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&escaped(IMG)),
        "the attachment's name, as text"
    );
    assert!(
        !page.body.contains("Open a case from this"),
        "not for viewers"
    );
    let page = a.get(&format!("/messages/{row}"), Some(&ana)).await;
    assert!(page.body.contains("Open a case from this"), "{}", page.body);
    assert!(page.body.contains("Not an incident"));

    // Refused to a viewer and without the form token; nothing changes.
    let open = format!("/messages/{row}/open-case");
    let r = a
        .post(
            &open,
            Some(&val),
            &[("csrf", &vcsrf), ("acknowledge", "on")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = a.post(&open, Some(&ana), &[("acknowledge", "on")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(newest_quarantined(&a.store).await, row);

    // Opened: a case with the message as its report, the sender acknowledged once with
    // the new tracking ID, the decision on the timeline and in the audit trail.
    let r = a
        .post(&open, Some(&ana), &[("csrf", &csrf), ("acknowledge", "on")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let to = r.header(header::LOCATION);
    assert!(to.starts_with("/cases/SOC-"), "{to}");
    let tid = to
        .trim_start_matches("/cases/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let case = a.get(&to, Some(&ana)).await;
    assert!(
        case.body
            .contains(&format!("Case {tid} opened from message #{row}")),
        "{}",
        case.body
    );
    assert!(
        case.body.contains("Opened from quarantine"),
        "{}",
        case.body
    );
    let mut c = a.store.acquire().await.unwrap();
    let (kind, case_id): (String, Option<i64>) =
        sqlx::query_as("select kind, case_id from messages where id = ?")
            .bind(row)
            .fetch_one(&mut *c)
            .await
            .unwrap();
    assert_eq!(kind, "report");
    assert!(case_id.is_some());
    let acks: Vec<(String, String)> =
        sqlx::query_as("select recipient, subject from outbox where kind = 'ack'")
            .fetch_all(&mut *c)
            .await
            .unwrap();
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(acks[0].0, "pat.hostile@mass.gov");
    assert!(acks[0].1.contains(&tid), "{acks:?}");
    let audit: Vec<String> =
        sqlx::query_scalar("select action from audit where action in ('opened_from_quarantine', 'quarantine_dismissed') order by id")
            .fetch_all(&mut *c)
            .await
            .unwrap();
    assert_eq!(audit, ["opened_from_quarantine"]);
    drop(c);
    // Twice is refused with the reason, and makes no second case.
    let r = a
        .post(&open, Some(&ana), &[("csrf", &csrf), ("acknowledge", "on")])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        r.body.contains(&format!("already belongs to case {tid}")),
        "{}",
        r.body
    );
    let list = a.get("/quarantine", Some(&ana)).await;
    assert!(!list.body.contains(&format!("href=\"/messages/{row}\"")));

    // Not an incident: off the open list, listed as dismissed with who and why (as text).
    let auto = "From: away@mass.gov\r\nTo: soc@mass.gov\r\nSubject: Away\r\n\
Auto-Submitted: auto-replied\r\nMessage-ID: <ooo-9@mass.gov>\r\n\r\nI am away.\r\n";
    assert!(a.ingest(auto.as_bytes()).await.is_none());
    let away = newest_quarantined(&a.store).await;
    let dismiss = format!("/messages/{away}/dismiss");
    let r = a
        .post(&dismiss, Some(&val), &[("csrf", &vcsrf), ("note", "x")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = a
        .post(&dismiss, Some(&ana), &[("csrf", &csrf), ("note", SCRIPT)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let open_list = a.get("/quarantine", Some(&ana)).await;
    assert!(!open_list
        .body
        .contains(&format!("href=\"/messages/{away}\"")));
    assert!(
        open_list.body.contains("Not an incident (1)"),
        "{}",
        open_list.body
    );
    let gone = a.get("/quarantine?dismissed=1", Some(&ana)).await;
    assert!(
        gone.body.contains(&format!("href=\"/messages/{away}\"")),
        "{}",
        gone.body
    );
    assert!(gone.body.contains(&escaped(SCRIPT)) && !gone.body.contains(SCRIPT));
    let r = a
        .post(&dismiss, Some(&ana), &[("csrf", &csrf), ("note", "again")])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let mut c = a.store.acquire().await.unwrap();
    let (n, by): (i64, String) = sqlx::query_as(
        "select count(*), max(username) from audit where action = 'quarantine_dismissed'",
    )
    .fetch_one(&mut *c)
    .await
    .unwrap();
    assert_eq!((n, by.as_str()), (1, "ana"));
}

#[tokio::test]
async fn a_triage_is_undone_within_its_seconds_and_its_mail_never_leaves() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // The chat webhook is set (nothing listens: no worker runs here), so a triage that
    // assigns bo writes an SCIO update, bo's notice and its chat post.
    let a = app_with(&format!(
        "{}[soc]\nassignee_domain = \"mass.gov\"\nwebhook_url = \"http://127.0.0.1:9/hooks/soc\"\n",
        dor_directory(tmp.path())
    ))
    .await;
    let tid = a.ingest_fixture("01-phish-payroll-plain.eml").await;
    let ((ana, csrf), (val, vcsrf)) = a.analyst_and_viewer().await;
    a.add_user("bo", Role::Analyst, "analyst-password-2").await;
    let triage = |c: &str, status: &str| {
        vec![
            ("csrf", c.to_string()),
            ("severity", "high".to_string()),
            ("priority", "p2".to_string()),
            ("assignee", "bo".to_string()),
            ("status", status.to_string()),
            ("note", String::new()),
        ]
    };
    let path = format!("/cases/{tid}/triage");
    let post_triage = |status: &'static str| {
        let f = triage(&csrf, status);
        let (a, ana, path) = (&a, &ana, &path);
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = a.post(path, Some(ana), &f).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
            r.header(header::LOCATION)
        }
    };
    let to = post_triage("investigating").await;
    let page = a.get(to.trim_end_matches("#actions"), Some(&ana)).await;
    assert!(
        page.body
            .contains("Its mail leaves in 10 s unless you undo"),
        "{}",
        page.body
    );
    let undo = regex::Regex::new(r#"action="(/cases/[^/]+/undo/\d+)""#)
        .unwrap()
        .captures(&page.body)
        .map(|c| c[1].to_string())
        .unwrap_or_else(|| panic!("an undo button: {}", page.body));
    // What it wrote waits out the window: the SCIO update, bo's notice, the chat post.
    let written = |a: &App| {
        let store = a.store.clone();
        async move {
            let mut c = store.acquire().await.unwrap();
            let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
                "select id, kind, status, next_attempt_at from outbox
                  where kind in ('scio_update', 'soc_notice', 'webhook') order by id",
            )
            .fetch_all(&mut *c)
            .await
            .unwrap();
            rows
        }
    };
    let rows = written(&a).await;
    let kinds: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(kinds, ["scio_update", "soc_notice", "webhook"], "{rows:?}");
    for (_, kind, status, due) in &rows {
        assert_eq!(status, "pending", "{kind}");
        let due = incident_gateway::store::parse_ts(due).unwrap();
        assert!(
            due > Utc::now() + chrono::Duration::seconds(5),
            "{kind}: {due}"
        );
    }
    // Not for a viewer (who sees no button), not without the token.
    let viewer_page = a.get(&format!("/cases/{tid}"), Some(&val)).await;
    assert!(!viewer_page.body.contains("Undo the triage"));
    assert_eq!(
        a.post(&undo, Some(&val), &[("csrf", &vcsrf)]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        a.post(&undo, Some(&ana), &[]).await.status,
        StatusCode::FORBIDDEN
    );
    // Undone: the values back, the update withdrawn, on record and audited.
    let r = a.post(&undo, Some(&ana), &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = a
        .get(
            r.header(header::LOCATION).trim_end_matches("#actions"),
            Some(&ana),
        )
        .await;
    assert!(
        page.body.contains("Undone: status back to new, assignee back to unset, priority back to p4, severity back to unset; 3 message(s) withdrawn"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Undo the triage"), "no second undo");
    let (assignee, status, _) = case_state(&a.store, &tid).await;
    assert_eq!((assignee, status.as_str()), (None, "new"));
    let statuses: Vec<String> = written(&a).await.into_iter().map(|r| r.2).collect();
    assert_eq!(statuses, ["dropped", "dropped", "dropped"]);
    let mut c = a.store.acquire().await.unwrap();
    let audit = users::audit_log(&mut c, 5).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "triage_undone" && e.username == "ana"),
        "{audit:?}"
    );
    drop(c);
    let again = a.post(&undo, Some(&ana), &[("csrf", &csrf)]).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(
        again.body.contains("it was undone already"),
        "{}",
        again.body
    );

    // Assigned again: bo is told again (the withdrawn notice was never sent).
    post_triage("investigating").await;
    let rows = written(&a).await;
    let live: Vec<&str> = rows
        .iter()
        .filter(|r| r.2 == "pending")
        .map(|r| r.1.as_str())
        .collect();
    assert_eq!(live, ["scio_update", "soc_notice", "webhook"], "{rows:?}");
    // Past its window, or once a value has moved on, an undo is refused and changes nothing.
    let by = incident_gateway::actions::By::cli("ana");
    let parsed: incident_gateway::domain::TrackingId = tid.parse().unwrap();
    let (event, until) = a
        .state
        .actions
        .undoable_triage(&parsed, by, Utc::now())
        .await
        .unwrap()
        .expect("undoable");
    let late = a.state.actions.undo_triage(&parsed, event, by, until).await;
    assert!(format!("{late:?}").contains("are over"), "{late:?}");
    a.state
        .actions
        .set_status(&parsed, "contained".parse().unwrap(), by, Utc::now())
        .await
        .unwrap();
    let moved = a
        .state
        .actions
        .undo_triage(&parsed, event, by, Utc::now())
        .await;
    assert!(
        format!("{moved:?}").contains("status has been changed again"),
        "{moved:?}"
    );
    assert_eq!(case_state(&a.store, &tid).await.1, "contained");
}

#[tokio::test]
async fn fields_are_edited_with_typed_controls() {
    let a = app().await;
    let tid = a
        .ingest_fixture("05-ransomware-dcr-outlook-screenshot.eml")
        .await;
    let ((ana, csrf), _) = a.analyst_and_viewer().await;
    let page = a.get(&format!("/cases/{tid}"), Some(&ana)).await;
    let row = |name: &str| {
        let start = page
            .body
            .find(&format!("id=\"field-{name}\""))
            .unwrap_or_else(|| panic!("no row for {name}"));
        let end = page.body[start..].find("</tr>").unwrap() + start;
        page.body[start..end].to_string()
    };
    let pi = row("personal_information");
    assert!(pi.contains("<select name=\"value\""), "{pi}");
    assert!(pi.contains("<option value=\"unknown\" selected>"), "{pi}");
    let when = row("detected_at");
    assert!(
        when.contains("type=\"datetime-local\" name=\"value\" value=\"2026-05-16T05:35\""),
        "{when}"
    );
    let systems = row("systems_affected");
    assert!(
        systems.contains("name=\"keep_0\" value=\"DCR-FS02\" checked"),
        "{systems}"
    );
    assert!(systems.contains("name=\"keep_4\""), "{systems}");

    let post = |form: Vec<(&'static str, String)>| {
        let (a, ana, tid) = (&a, &ana, &tid);
        async move {
            let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            a.post(&format!("/cases/{tid}/fields"), Some(ana), &f).await
        }
    };
    let typed = |field: &'static str, editor: &'static str, value: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("field", field.to_string()),
            ("editor", editor.to_string()),
            ("value", value.to_string()),
        ]
    };
    assert_eq!(
        post(typed("personal_information", "yesno", "yes"))
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(field_value(&a, &tid, "personal_information").await, "yes");
    let bad = post(typed("personal_information", "yesno", "maybe")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("yes, no, unknown"), "{}", bad.body);
    // A New York wall-clock time is stored with its offset (EDT in May).
    assert_eq!(
        post(typed("detected_at", "datetime", "2026-05-16T06:10"))
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        field_value(&a, &tid, "detected_at").await,
        "2026-05-16T06:10:00-04:00"
    );
    assert_eq!(
        post(typed("detected_at", "datetime", "yesterday"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // The list: two kept, two added (one a script, stored and shown as text).
    let mut f = vec![
        ("csrf", csrf.clone()),
        ("field", "systems_affected".to_string()),
        ("editor", "list".to_string()),
        ("keep_0", "DCR-FS02".to_string()),
        ("keep_2", "DCR-APP07".to_string()),
    ];
    f.push(("add", format!("DCR-FS09, {SCRIPT}")));
    assert_eq!(post(f).await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        field_value(&a, &tid, "systems_affected").await,
        serde_json::json!(["DCR-FS02", "DCR-APP07", "DCR-FS09", SCRIPT])
    );
    let page = a.get(&format!("/cases/{tid}"), Some(&ana)).await;
    assert!(!page.body.contains(SCRIPT) && page.body.contains(&escaped(SCRIPT)));
    // Without the form token nothing changes.
    let mut f = typed("personal_information", "yesno", "no");
    f[0].1 = String::new();
    assert_eq!(post(f).await.status, StatusCode::FORBIDDEN);
    assert_eq!(field_value(&a, &tid, "personal_information").await, "yes");
}

#[tokio::test]
async fn an_analyst_adds_an_indicator_defanged_or_not() {
    let a = app().await;
    let tid = a.ingest_fixture("01-phish-payroll-plain.eml").await;
    let ((ana, csrf), (val, vcsrf)) = a.analyst_and_viewer().await;
    let add = |kind: &'static str, value: &'static str, cookie: &str, token: &str| {
        let (a, tid, cookie, token) = (&a, &tid, cookie.to_string(), token.to_string());
        async move {
            a.act(
                tid,
                "add_indicator",
                &cookie,
                &[("csrf", &token), ("kind", kind), ("value", value)],
            )
            .await
        }
    };
    assert_eq!(
        add("", "198.51.100.23", &val, &vcsrf).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        add("", "198.51.100.23", &ana, "").await.status,
        StatusCode::FORBIDDEN
    );
    let r = add("", "hxxps://payroll-verify[.]example/step2", &ana, &csrf).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let to = r.header(header::LOCATION);
    assert!(to.ends_with("#indicators"), "{to}");
    let page = a.get(to.trim_end_matches("#indicators"), Some(&ana)).await;
    assert!(
        page.body
            .contains(&escaped("urls https://payroll-verify.example/step2 added")),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!(
        "<code>{}</code>",
        escaped("https://payroll-verify.example/step2")
    )));
    // Asked for its domain, the domain is what is kept.
    let r = add(
        "domains",
        "hxxps://payroll-verify[.]example/step2",
        &ana,
        &csrf,
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // Twice, or not an indicator at all: refused with why, nothing changes.
    let again = add("", "https://payroll-verify.example/step2", &ana, &csrf).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("already"), "{}", again.body);
    let junk = add("", SCRIPT, &ana, &csrf).await;
    assert_eq!(junk.status, StatusCode::BAD_REQUEST);
    assert!(junk.body.contains("is not an indicator"), "{}", junk.body);
    assert!(!junk.body.contains(SCRIPT), "{}", junk.body);
    let mut c = a.store.acquire().await.unwrap();
    let iocs: String = sqlx::query_scalar("select iocs_json from cases")
        .fetch_one(&mut *c)
        .await
        .unwrap();
    let iocs: serde_json::Value = serde_json::from_str(&iocs).unwrap();
    assert!(
        iocs["urls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u == "https://payroll-verify.example/step2"),
        "{iocs}"
    );
    assert!(
        iocs["domains"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u == "payroll-verify.example"),
        "{iocs}"
    );
    let (events, audited): (i64, i64) = sqlx::query_as(
        "select (select count(*) from events where kind = 'indicator_added'),
                (select count(*) from audit where action = 'indicator_added' and username = 'ana')",
    )
    .fetch_one(&mut *c)
    .await
    .unwrap();
    assert_eq!((events, audited), (2, 2));
    drop(c);
    // Removed with a reason: struck through with who and why (as text), on the event.
    let why = "our <b>test</b> vendor";
    let r = a
        .act(
            &tid,
            "remove_indicator",
            &ana,
            &[
                ("csrf", &csrf),
                ("kind", "domains"),
                ("value", "payroll-verify.example"),
                ("message", why),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = a.get(&format!("/cases/{tid}"), Some(&ana)).await;
    assert!(
        page.body.contains(&format!(
            "removed (false positive, by ana: {})",
            escaped(why)
        )),
        "{}",
        page.body
    );
    let mut c = a.store.acquire().await.unwrap();
    let reason: String = sqlx::query_scalar(
        "select json_extract(detail_json, '$.reason') from events where kind = 'indicator_removed'",
    )
    .fetch_one(&mut *c)
    .await
    .unwrap();
    assert_eq!(reason, why);
}

#[tokio::test]
async fn a_pdf_attachment_previews_its_first_page_as_text() {
    let a = app().await;
    a.add_user("val", Role::Viewer, "viewer-password-1").await;
    let (val, _) = a.login("val", "viewer-password-1").await;
    // A report whose whole content is a PDF made by Word: its first page, as text.
    let tid = a
        .ingest_fixture("dev/128-ransomware-frontdesk-dls-pdf-only.eml")
        .await;
    let page = a.get(&format!("/cases/{tid}"), Some(&val)).await;
    let at = page
        .body
        .find("First page, as text")
        .unwrap_or_else(|| panic!("a PDF preview: {}", page.body));
    let shown = &page.body[at..at + page.body[at..].find("</pre>").unwrap()];
    assert!(shown.contains("<pre class=\"att-text\">"), "{shown}");
    assert!(shown.to_lowercase().contains("ransom"), "{shown}");
    // Something that only claims to be a PDF says why there is no preview.
    let fake = "From: Pat <pat@mass.gov>\r\nTo: soc@mass.gov\r\nSubject: Report attached\r\n\
        Message-ID: <fake-pdf@mass.gov>\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n\
        See the attached report of a phishing email.\r\n--B\r\n\
        Content-Type: application/pdf; name=\"report.pdf\"\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\n\r\n\
        <script>alert(1)</script> not a pdf\r\n--B--\r\n";
    let tid = a.ingest(fake.as_bytes()).await.expect("a case");
    let page = a.get(&format!("/cases/{tid}"), Some(&val)).await;
    assert!(
        page.body
            .contains("(No preview: it does not start like a PDF (%PDF-).)"),
        "{}",
        page.body
    );
}

/// A private adnanh/webhook server on a loopback port (the Debian package the test
/// command installs): hook `soc` appends each payload to `payloads.jsonl` when the URL
/// carries `token`, and answers 403 otherwise. Stopped when dropped.
struct ChatWebhook {
    child: std::process::Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl ChatWebhook {
    fn start(token: &str) -> Option<Self> {
        let bin = ["/usr/bin/webhook", "/usr/local/bin/webhook"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(bin) = bin else {
            assert!(
                std::env::var("CI").is_err(),
                "webhook is not installed: scripts/install-test-deps.sh installs it"
            );
            eprintln!(
                "skipped: the webhook package is not installed (scripts/install-test-deps.sh)"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("record.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> payloads.jsonl\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let hooks = serde_json::json!([{
            "id": "soc",
            "execute-command": script,
            "command-working-directory": dir.path(),
            "pass-arguments-to-command": [{ "source": "entire-payload" }],
            "http-methods": ["POST"],
            "trigger-rule": { "match": {
                "type": "value", "value": token,
                "parameter": { "source": "url", "name": "token" },
            }},
            "trigger-rule-mismatch-http-response-code": 403,
            // Answer once the payload is written (the command's output is the answer).
            "include-command-output-in-response": true,
        }]);
        let hooks_file = dir.path().join("hooks.json");
        std::fs::write(&hooks_file, hooks.to_string()).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new(bin)
            .args([
                "-hooks",
                &hooks_file.display().to_string(),
                "-ip",
                "127.0.0.1",
            ])
            .args(["-port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start webhook");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "webhook did not listen"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Some(Self { child, dir, port })
    }

    fn url(&self, token: &str) -> String {
        format!("http://127.0.0.1:{}/hooks/soc?token={token}", self.port)
    }

    /// The payloads received so far.
    fn received(&self) -> Vec<serde_json::Value> {
        let text =
            std::fs::read_to_string(self.dir.path().join("payloads.jsonl")).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    }
}

impl Drop for ChatWebhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn soc_notices_reach_the_chat_webhook_once_and_its_token_stays_secret() {
    let token = "t0ken-4f9a21";
    let Some(hook) = ChatWebhook::start(token) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let app = Application::build(chat_config(dir.path(), &hook.url(token)))
        .await
        .expect("app");
    // A critical case (suggested): the on-call notice, by mail and to the chat.
    let raw = std::fs::read(format!(
        "{}/fixtures/05-ransomware-dcr-outlook-screenshot.eml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let out = app
        .pipeline
        .ingest(&raw, &Origin::Pipe)
        .await
        .expect("ingest");
    let tid = out.tracking_id.expect("a case");
    let worker = app.worker();
    worker.drain().await.expect("drain");
    let got = hook.received();
    let mut c = app.store.acquire().await.unwrap();
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("select status, last_error from outbox where kind = 'webhook'")
            .fetch_all(&mut *c)
            .await
            .unwrap();
    drop(c);
    assert_eq!(got.len(), 1, "{got:?}; the webhook rows: {rows:?}");
    let text = got[0]["text"].as_str().expect("text");
    assert!(
        text.starts_with(&format!(
            "[{tid}] New case for the SOC: Department of Conservation and Recreation"
        )),
        "{text}"
    );
    assert!(text.contains("critical (suggested)"), "{text}");
    // Posted once: another drain sends nothing again; the row is sent, on the timeline.
    worker.drain().await.expect("drain");
    assert_eq!(hook.received().len(), 1);
    let mut c = app.store.acquire().await.unwrap();
    let (status, events): (String, i64) = sqlx::query_as(
        "select o.status, (select count(*) from events e where e.kind = 'webhook_queued')
           from outbox o where o.kind = 'webhook'",
    )
    .fetch_one(&mut *c)
    .await
    .unwrap();
    assert_eq!((status.as_str(), events), ("sent", 1));
    drop(c);

    // A wrong token: refused (403), failed for good, and the token is nowhere stored.
    let dir2 = tempfile::tempdir().expect("tempdir");
    let app2 = Application::build(chat_config(dir2.path(), &hook.url("wrong-secret-77")))
        .await
        .expect("app");
    app2.pipeline
        .ingest(&raw, &Origin::Pipe)
        .await
        .expect("ingest");
    app2.worker().drain().await.expect("drain");
    assert_eq!(
        hook.received().len(),
        1,
        "nothing recorded for a wrong token"
    );
    let mut c = app2.store.acquire().await.unwrap();
    let (status, error): (String, String) =
        sqlx::query_as("select status, last_error from outbox where kind = 'webhook'")
            .fetch_one(&mut *c)
            .await
            .unwrap();
    assert_eq!(status, "failed");
    assert!(error.contains("HTTP 403"), "{error}");
    let leaked: i64 = sqlx::query_scalar(
        "select (select count(*) from outbox where last_error like '%wrong-secret%' or raw like '%wrong-secret%')
              + (select count(*) from events where detail_json like '%wrong-secret%')
              + (select count(*) from audit where detail_json like '%wrong-secret%')",
    )
    .fetch_one(&mut *c)
    .await
    .unwrap();
    assert_eq!(leaked, 0);
    // Plain http to another machine is refused at start, without repeating the URL.
    let e = Config::from_toml_with_env(
        "[soc]\nwebhook_url = \"http://chat.example.com/hook?token=abc123\"\n",
        "test",
        Vec::<(String, String)>::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("clear text") && !e.contains("abc123"), "{e}");
}

/// A configuration on `data_dir` whose SOC notices also go to the webhook `url`.
fn chat_config(data_dir: &std::path::Path, url: &str) -> Config {
    let text = format!(
        "[gateway]\ndata_dir = \"{}\"\n[soc]\nwebhook_url = \"{url}\"\n",
        data_dir.display()
    );
    Config::from_toml_with_env(&text, "test", Vec::<(String, String)>::new()).expect("config")
}

/// A report with the same suspect message attached (the report-phishing button).
fn campaign_report(from: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: soc@mass.gov\r\nSubject: {subject}\r\nMessage-ID: <{}@dor.state.ma.us>\r\nDate: Tue, 10 Mar 2026 09:45:00 -0400\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nPhishing, reported with the button.\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: IT Desk <desk@quota-keep.example.net>\r\nSubject: Your mailbox is full\r\nMessage-ID: <quota-1@quota-keep.example.net>\r\n\r\nKeep your mailbox: https://quota-keep.example.net/keep\r\n--b--\r\n",
        uuid::Uuid::new_v4().simple()
    )
    .into_bytes()
}

#[tokio::test]
async fn a_campaign_case_lists_its_reports_takes_an_answer_and_splits_one_out() {
    let app = app().await;
    let tid = app
        .ingest(&campaign_report(
            "amy@dor.state.ma.us",
            "FW: Your mailbox is full",
        ))
        .await
        .unwrap();
    let hostile = "FW: <script>alert(1)</script> full";
    for (from, subject) in [
        ("bob@dor.state.ma.us", hostile),
        ("cy@eohhs.mass.gov", "Fwd: phish"),
    ] {
        let joined = app.ingest(&campaign_report(from, subject)).await.unwrap();
        assert_eq!(joined, tid, "the same suspect message joins the case");
    }
    let ((ana, csrf), (val, vcsrf)) = app.analyst_and_viewer().await;
    let queue = app.get("/cases?view=all", Some(&ana)).await;
    assert!(queue.body.contains("3 reports"), "{}", queue.body);

    let page = app.get(&format!("/cases/{tid}"), Some(&ana)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"campaign\""), "{}", page.body);
    assert!(page.body.contains("reported by 3 people"), "{}", page.body);
    assert!(page.body.contains("Campaign: 3 reports"));
    assert!(
        !page.body.contains("<script>alert(1)"),
        "a reporter's subject is text"
    );
    assert!(page.body.contains(&escaped("<script>alert(1)</script>")));
    assert_eq!(
        page.body.matches("class=\"split-report\"").count(),
        2,
        "not the first report"
    );
    let viewer_page = app.get(&format!("/cases/{tid}"), Some(&val)).await;
    assert_eq!(
        viewer_page.body.matches("class=\"split-report\"").count(),
        0
    );

    // The answer for later reporters: saved, shown as text.
    let r = app
        .act(
            &tid,
            "campaign_answer",
            &ana,
            &[
                ("csrf", &csrf),
                ("message", "Known phish: delete it. <b>Do not click.</b>"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        r.header(header::LOCATION).ends_with("#campaign"),
        "{}",
        r.header(header::LOCATION)
    );
    let page = app.get(&r.header(header::LOCATION), Some(&ana)).await;
    assert!(page.body.contains("id=\"campaign-done\""), "{}", page.body);
    assert!(page
        .body
        .contains(&escaped("Known phish: delete it. <b>Do not click.</b>")));
    assert!(!page.body.contains("<b>Do not click.</b>"));

    // A viewer cannot split; the analyst splits the second report out.
    let d = incident_gateway::store::cases::detail(
        &mut app.store.acquire().await.unwrap(),
        &tid.parse().unwrap(),
    )
    .await
    .unwrap();
    let second = d.campaign.list[1].message_row.to_string();
    let r = app
        .act(
            &tid,
            "split_report",
            &val,
            &[("csrf", &vcsrf), ("value", &second)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .act(
            &tid,
            "split_report",
            &ana,
            &[("csrf", &csrf), ("value", &second)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = app.get(&r.header(header::LOCATION), Some(&ana)).await;
    assert!(page.body.contains("split out: it is case"), "{}", page.body);
    assert!(page.body.contains("Campaign: 2 reports"), "{}", page.body);
    let (cases, _) =
        incident_gateway::store::cases::counts(&mut app.store.acquire().await.unwrap())
            .await
            .unwrap();
    assert_eq!(cases, 2, "the split report is a case of its own");
    // The first report is the campaign's own: refused, with the reason.
    let first = d.campaign.first_row.unwrap().to_string();
    let r = app
        .act(
            &tid,
            "split_report",
            &ana,
            &[("csrf", &csrf), ("value", &first)],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("first report"), "{}", r.body);
}
