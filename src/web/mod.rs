//! The SOC review web UI and JSON API (axum), served by `run` on `[web] listen`.
//!
//! Pages are rendered server-side through minijinja with auto-escaping, because every
//! page shows hostile email content. Every response carries a strict
//! Content-Security-Policy (scripts and styles only from `/static/`).

pub mod actions;
pub mod api;
pub mod auth;
pub mod dashboard;
pub mod export;
pub mod pages;
pub mod render;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;

use crate::actions::{ActionError, Actions};
use crate::config::{Config, WebConfig};
use crate::notify::{Notifier, NotifyError};
use crate::routing::DirectoryHandle;
use crate::store::{Store, StoreError};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub web: Arc<WebConfig>,
    /// The tracking-ID prefix, for parsing IDs in paths.
    pub config: Arc<Config>,
    /// Analyst actions (the same code the CLI runs).
    pub actions: Actions,
    /// The state of `run`'s tasks (empty when the router runs alone, as in tests).
    pub health: crate::health::Health,
}

impl AppState {
    /// State with its own view of the directory (tests); `run` shares its live one
    /// through [`AppState::with_actions`].
    pub fn new(store: Store, config: Arc<Config>) -> Self {
        let actions = Actions::open(store.clone(), config.clone()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "directory unusable; the web UI's actions run without it");
            Actions::new(
                store.clone(),
                Notifier::new(
                    config.clone(),
                    DirectoryHandle::fixed(crate::routing::Directory::default()),
                ),
            )
        });
        Self::with_actions(store, config, actions)
    }

    pub fn with_actions(store: Store, config: Arc<Config>, actions: Actions) -> Self {
        Self {
            store,
            web: Arc::new(config.web.clone()),
            config,
            actions,
            health: crate::health::Health::default(),
        }
    }

    /// The same state reporting `run`'s tasks in `/healthz` and `/metrics`.
    pub fn with_health(mut self, health: crate::health::Health) -> Self {
        self.health = health;
        self
    }
}

/// The SOC's clocks of each of `cases` (in their order) at `now`: one read of their
/// SCIO threads for the lot.
/// The queue filter as asked, with who "mine" is and the SOC's clocks now (the
/// `overdue` view).
pub(crate) fn scoped(
    mut f: crate::store::queue::QueueFilter,
    who: &auth::Who,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> crate::store::queue::QueueFilter {
    f.me = Some(who.user.name.clone());
    f.cutoffs = Some(crate::sla::cutoffs(config, now));
    f
}

pub(crate) async fn timers_of(
    conn: &mut sqlx::SqliteConnection,
    config: &Config,
    cases: &[&crate::store::cases::CaseRow],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<crate::sla::Timers>, StoreError> {
    let ids: Vec<i64> = cases.iter().map(|c| c.id).collect();
    let spoke = crate::store::notices::threads_last_spoke(conn, &ids).await?;
    Ok(cases
        .iter()
        .map(|c| crate::sla::timers(config, c, spoke.get(&c.id).map(String::as_str), now))
        .collect())
}

/// The clocks as pages show them: "due in 20 min" / "overdue by 1 h", local time on
/// hover, `overdue` to highlight.
pub(crate) fn timer_views(
    timers: &[crate::sla::Timers],
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<serde_json::Value> {
    use crate::outbound::template::local_time;
    let one = |due: Option<chrono::DateTime<chrono::Utc>>, overdue: bool| {
        due.map(|d| {
            serde_json::json!({
                "text": crate::sla::due_text(d, now),
                "at": local_time(d),
                "overdue": overdue,
            })
        })
    };
    timers
        .iter()
        .map(|t| {
            serde_json::json!({
                "triage": one(t.triage_due_at, t.triage_overdue),
                "update": one(t.update_due_at, t.update_overdue),
                "age": crate::sla::span(t.age_secs),
            })
        })
        .collect()
}

/// Why a request failed. Internal causes are logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("template: {0}")]
    Template(#[from] minijinja::Error),
}

impl From<ActionError> for WebError {
    fn from(e: ActionError) -> Self {
        match e {
            ActionError::Refused(m) => WebError::BadRequest(m),
            // A notice that cannot be written: the analyst is told, the case is unchanged.
            ActionError::Notify(e @ NotifyError::Compose { .. }) => {
                WebError::BadRequest(e.to_string())
            }
            ActionError::Notify(NotifyError::Store(e)) | ActionError::Store(e) => {
                WebError::Store(e)
            }
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            WebError::NotFound => (StatusCode::NOT_FOUND, "Not found.".to_string()),
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            WebError::TooManyRequests(m) => (StatusCode::TOO_MANY_REQUESTS, m.clone()),
            WebError::Store(StoreError::NoSuchCase(_)) => {
                (StatusCode::NOT_FOUND, "No such case.".to_string())
            }
            WebError::Store(StoreError::Invalid(m)) => (StatusCode::BAD_REQUEST, m.clone()),
            WebError::Store(e) if e.is_transient() => {
                tracing::error!(error = %e, "web request failed: database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database is unavailable; try again shortly.".to_string(),
                )
            }
            other => {
                tracing::error!(error = %other, "web request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong; the error is in the gateway's log.".to_string(),
                )
            }
        };
        let body = render(
            "error.html",
            minijinja::context! { status => status.as_u16(), message => message },
        )
        .unwrap_or_else(|_| Html("error".to_string()));
        (status, body).into_response()
    }
}

static TEMPLATES: OnceLock<minijinja::Environment<'static>> = OnceLock::new();

/// The page templates, embedded in the binary; `.html` templates auto-escape.
fn templates() -> &'static minijinja::Environment<'static> {
    TEMPLATES.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        // Stored times as people read them: `|local` in America/New_York, `|ago` relative.
        env.add_filter("local", |t: String| {
            crate::store::parse_ts(&t).map_or(t, crate::outbound::template::local_time)
        });
        env.add_filter("ago", |t: String| {
            crate::store::parse_ts(&t).map_or(t, |t| {
                let secs = (chrono::Utc::now() - t).num_seconds();
                if secs < 60 {
                    "just now".to_string()
                } else {
                    format!("{} ago", crate::sla::span(secs))
                }
            })
        });
        for (name, src) in [
            ("base.html", include_str!("../../templates/web/base.html")),
            ("login.html", include_str!("../../templates/web/login.html")),
            ("queue.html", include_str!("../../templates/web/queue.html")),
            ("case.html", include_str!("../../templates/web/case.html")),
            (
                "message_body.html",
                include_str!("../../templates/web/message_body.html"),
            ),
            (
                "message.html",
                include_str!("../../templates/web/message.html"),
            ),
            (
                "bulk_merge.html",
                include_str!("../../templates/web/bulk_merge.html"),
            ),
            (
                "quarantine.html",
                include_str!("../../templates/web/quarantine.html"),
            ),
            (
                "outbound.html",
                include_str!("../../templates/web/outbound.html"),
            ),
            ("error.html", include_str!("../../templates/web/error.html")),
            (
                "dashboard.html",
                include_str!("../../templates/web/dashboard.html"),
            ),
            (
                "update_preview.html",
                include_str!("../../templates/web/update_preview.html"),
            ),
            (
                "close_preview.html",
                include_str!("../../templates/web/close_preview.html"),
            ),
        ] {
            if let Err(e) = env.add_template(name, src) {
                // A broken embedded template is a build defect; the page shows an error.
                tracing::error!(template = name, error = %e, "web template does not compile");
            }
        }
        env
    })
}

/// Renders a page template.
pub fn render(name: &str, ctx: minijinja::Value) -> Result<Html<String>, WebError> {
    Ok(Html(templates().get_template(name)?.render(ctx)?))
}

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'";

/// Security headers on every response.
async fn security_headers(req: Request, next: Next) -> Response {
    // Behind a TLS-terminating proxy, cookies are Secure even without
    // `[web] secure_cookies`.
    let behind_tls = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if behind_tls {
        if let Some(c) = h.get(header::SET_COOKIE).and_then(|v| v.to_str().ok()) {
            if !c.contains("; Secure") {
                if let Ok(v) = HeaderValue::from_str(&format!("{c}; Secure")) {
                    h.insert(header::SET_COOKIE, v);
                }
            }
        }
    }
    // A route with a stricter policy of its own (an attachment preview) keeps it.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

async fn static_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../templates/web/static/app.js"),
    )
}

async fn static_css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../templates/web/static/app.css"),
    )
}

/// All routes; pure, so tests drive it with `tower::ServiceExt::oneshot`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { axum::response::Redirect::to("/cases") }),
        )
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/cases", get(pages::queue))
        .route("/cases/bulk", post(actions::bulk))
        .route("/cases/newer", get(pages::newer_cases))
        .route("/views", post(actions::save_view))
        .route("/views/{id}/delete", post(actions::delete_view))
        .route("/cases/{tid}", get(pages::case))
        .route("/cases/{tid}/fields", post(pages::set_field))
        .route("/cases/{tid}/actions/{action}", post(actions::act))
        .route("/cases/{tid}/triage", post(actions::triage))
        .route("/cases/{tid}/close", post(actions::close))
        .route("/cases/{tid}/undo/{event}", post(actions::undo))
        .route("/cases/{tid}/attachments/{sha256}", get(pages::attachment))
        .route(
            "/cases/{tid}/attachments/{sha256}/preview",
            get(pages::attachment_preview),
        )
        .route("/cases.csv", get(export::queue_csv))
        .route("/cases/{tid}/export/{format}", get(export::case))
        .route("/messages/{id}", get(pages::message))
        .route("/messages/{id}/open-case", post(actions::open_quarantined))
        .route("/messages/{id}/dismiss", post(actions::dismiss_quarantined))
        .route("/messages/{id}/raw", get(pages::raw_message))
        .route("/quarantine", get(pages::quarantine))
        .route("/outbound", get(pages::outbound))
        .route("/dashboard", get(dashboard::dashboard))
        .route("/outbound/{id}/{decision}", post(pages::decide_held))
        .route("/static/app.js", get(static_js))
        .route("/static/app.css", get(static_css))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .nest("/api/v1", api::router())
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Why the web server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr} ([web] listen): {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("web server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Binds `[web] listen` and serves until `shutdown` turns true.
pub async fn serve(
    store: Store,
    config: Arc<Config>,
    actions: Actions,
    health: crate::health::Health,
    shutdown: watch::Receiver<bool>,
) -> Result<(), ServeError> {
    let addr = config.web.listen.clone();
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: addr.clone(),
            source,
        })?;
    serve_on(
        listener,
        AppState::with_actions(store, config, actions).with_health(health),
        shutdown,
    )
    .await
}

/// Serves on a bound listener (tests bind port 0).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: AppState,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ServeError> {
    if let Ok(a) = listener.local_addr() {
        tracing::info!(addr = %a, "review web UI listening");
    }
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
        })
        .await?;
    Ok(())
}
