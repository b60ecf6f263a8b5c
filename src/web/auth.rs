//! Who is asking: password login with server-side sessions, bearer tokens for the API,
//! CSRF tokens on every form, login rate limiting and the audit trail of logins.

use std::net::SocketAddr;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::{Duration, Utc};
use serde::Deserialize;

use super::{render, AppState, WebError};
use crate::store::users::{self, AuditEntry, Role, User};

pub const SESSION_COOKIE: &str = "igw_session";
const LOGIN_COOKIE: &str = "igw_login";

/// Hashes a password as an argon2id PHC string with a random salt.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("no such account").unwrap_or_default())
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .and_then(|h| Argon2::default().verify_password(password.as_bytes(), &h))
        .is_ok()
}

/// 32 random bytes as hex: session ids, CSRF tokens, API tokens.
pub fn random_token() -> Result<String, WebError> {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b)
        .map_err(|_| WebError::BadRequest("no randomness available".into()))?;
    Ok(hex::encode(b))
}

fn same(a: &str, b: &str) -> bool {
    // Constant time over the length of the expected value.
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn client_ip(parts_ext: &axum::http::Extensions) -> String {
    parts_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The account behind a request.
#[derive(Debug, Clone)]
pub struct Who {
    pub user: User,
    /// The session's CSRF token; `None` for a bearer token (the API is read-only).
    pub csrf: Option<String>,
    pub ip: String,
}

impl Who {
    /// `analyst:<name>`, the actor of case events.
    pub fn actor(&self) -> String {
        format!("analyst:{}", self.user.name)
    }

    /// Changes need an analyst and the session's CSRF token.
    pub fn may_change(&self, csrf_sent: &str) -> Result<(), WebError> {
        if self.user.role != Role::Analyst {
            return Err(WebError::Forbidden(
                "Your account can view cases but not change them (viewer role).".into(),
            ));
        }
        match &self.csrf {
            Some(expected) if same(expected, csrf_sent) => Ok(()),
            _ => Err(WebError::Forbidden(
                "This form is out of date or did not come from this site (CSRF check failed). \
                 Reload the page and try again."
                    .into(),
            )),
        }
    }
}

async fn identify(
    parts: &Parts,
    state: &AppState,
    allow_token: bool,
) -> Result<Option<Who>, WebError> {
    let ip = client_ip(&parts.extensions);
    let now = Utc::now();
    let mut conn = state.store.acquire().await?;
    if allow_token {
        if let Some(auth) = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            let Some(token) = auth.strip_prefix("Bearer ") else {
                return Ok(None);
            };
            return Ok(users::by_token(&mut conn, token.trim(), now)
                .await?
                .map(|user| Who {
                    user,
                    csrf: None,
                    ip,
                }));
        }
    }
    let Some(sid) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let idle = Duration::minutes(state.web.session_idle_minutes.min(525_600) as i64);
    // The queue's poll for new cases says it is one (`X-IGW-Background`): it must not
    // keep an unattended session alive. Sending the header only ever shortens one's
    // own session.
    let touch = !parts.headers.contains_key(BACKGROUND);
    let session = users::session(&mut conn, &sid, now, idle, touch).await?;
    // Behind an SSO proxy, a session is good only for the user the proxy vouches for.
    if let (Some(s), Some(sso)) = (&session, trusted_user(&parts.headers, state)) {
        if s.user.name != sso {
            return Ok(None);
        }
    }
    Ok(session.map(|s| Who {
        user: s.user,
        csrf: Some(s.csrf_token),
        ip,
    }))
}

/// The header a page's background request carries (see [`users::session`]).
pub const BACKGROUND: &str = "x-igw-background";

/// The account name in the trusted reverse-proxy header, when that is configured.
fn trusted_user(headers: &HeaderMap, state: &AppState) -> Option<String> {
    let name = state.web.trusted_user_header.as_deref()?;
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
}

/// A signed-in user of the pages; anyone else is sent to the login form.
pub struct PageUser(pub Who);

pub enum PageRejection {
    Login,
    Error(WebError),
}

impl IntoResponse for PageRejection {
    fn into_response(self) -> Response {
        match self {
            PageRejection::Login => Redirect::to("/login").into_response(),
            PageRejection::Error(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for PageUser {
    type Rejection = PageRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match identify(parts, state, false).await {
            Ok(Some(w)) => Ok(PageUser(w)),
            Ok(None) => Err(PageRejection::Login),
            Err(e) => Err(PageRejection::Error(e)),
        }
    }
}

/// An API caller: a bearer token or a session; anyone else gets a 401 JSON error.
pub struct ApiUser(pub Who);

pub struct ApiRejection(StatusCode, &'static str);

impl IntoResponse for ApiRejection {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match identify(parts, state, true).await {
            Ok(Some(w)) => Ok(ApiUser(w)),
            Ok(None) => Err(ApiRejection(
                StatusCode::UNAUTHORIZED,
                "authentication required: send 'Authorization: Bearer <token>' (incident-gateway user token NAME)",
            )),
            Err(e) => {
                tracing::error!(error = %e, "API authentication failed");
                Err(ApiRejection(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the gateway cannot check credentials right now",
                ))
            }
        }
    }
}

fn set_cookie(state: &AppState, name: &str, value: &str, path: &str, max_age: i64) -> String {
    let secure = if state.web.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

fn login_form(
    state: &AppState,
    status: StatusCode,
    message: Option<String>,
    username: &str,
) -> Result<Response, WebError> {
    // The login form's CSRF token is a cookie of its own (double submit): there is no
    // session yet to hold it.
    let nonce = random_token()?;
    let page = render(
        "login.html",
        minijinja::context! { csrf => nonce, message => message, username => username },
    )?;
    Ok((
        status,
        [(
            header::SET_COOKIE,
            set_cookie(state, LOGIN_COOKIE, &nonce, "/login", 3600),
        )],
        page,
    )
        .into_response())
}

pub async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
) -> Result<Response, WebError> {
    if let Some(name) = trusted_user(&headers, &state) {
        return sso_login(&state, &name, &client_ip(&ext)).await;
    }
    login_form(&state, StatusCode::OK, None, "")
}

/// The reverse proxy vouches for `name`: a session for that account, if it is enabled.
async fn sso_login(state: &AppState, name: &str, ip: &str) -> Result<Response, WebError> {
    let now = Utc::now();
    let mut tx = state.store.begin_write().await?;
    let user = users::for_login(&mut tx, name)
        .await?
        .map(|(u, _)| u)
        .filter(|u| !u.disabled);
    let Some(user) = user else {
        users::audit(
            &mut tx,
            AuditEntry {
                at: now,
                username: name,
                action: "login_failed",
                ip: Some(ip),
                case_id: None,
                detail: serde_json::json!({ "via": "trusted_user_header" }),
            },
        )
        .await?;
        tx.commit().await?;
        return Err(WebError::Forbidden(format!(
            "Single sign-on names '{name}', which has no enabled account here; ask an administrator to run `incident-gateway user add`."
        )));
    };
    start_session(state, tx, user, ip, now, "trusted_user_header").await
}

/// Opens a session for `user` in `tx`, audits the login, and sends the browser on.
async fn start_session(
    state: &AppState,
    mut tx: crate::store::WriteTx,
    user: User,
    ip: &str,
    now: chrono::DateTime<Utc>,
    via: &str,
) -> Result<Response, WebError> {
    let sid = random_token()?;
    let csrf = random_token()?;
    let max = Duration::hours(state.web.session_max_hours.clamp(1, 24 * 365) as i64);
    users::create_session(&mut tx, &sid, user.id, &csrf, now, max).await?;
    users::audit(
        &mut tx,
        AuditEntry {
            at: now,
            username: &user.name,
            action: "login",
            ip: Some(ip),
            case_id: None,
            detail: serde_json::json!({ "role": user.role, "via": via }),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user = %user.name, %ip, via, "login");
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/cases".to_string()),
            (
                header::SET_COOKIE,
                set_cookie(state, SESSION_COOKIE, &sid, "/", max.num_seconds()),
            ),
        ],
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    Form(f): Form<LoginForm>,
) -> Result<Response, WebError> {
    let ip = client_ip(&ext);
    let username: String = f.username.trim().chars().take(64).collect();
    let nonce_ok = cookie(&headers, LOGIN_COOKIE).is_some_and(|c| same(&c, &f.csrf));
    if !nonce_ok {
        return Err(WebError::Forbidden(
            "The login form expired or did not come from this site (CSRF check failed). \
             Reload the login page and try again."
                .into(),
        ));
    }
    let now = Utc::now();
    let window = Duration::minutes(state.web.login_window_minutes.clamp(1, 1440) as i64);
    let mut tx = state.store.begin_write().await?;
    let reserved = users::reserve_login_attempt(
        &mut tx,
        &username,
        &ip,
        now,
        now - window,
        state.web.login_max_failures,
        state.web.login_max_failures_per_ip,
    )
    .await?;
    let attempt = match reserved {
        Ok(id) => id,
        Err(failures) => {
            let oldest = if failures.by_name >= state.web.login_max_failures {
                failures.by_name_oldest
            } else {
                failures.by_ip_oldest
            };
            let until = oldest.unwrap_or(now) + window;
            users::audit(
                &mut tx,
                AuditEntry {
                    at: now,
                    username: &username,
                    action: "login_throttled",
                    ip: Some(&ip),
                    case_id: None,
                    detail: serde_json::json!({}),
                },
            )
            .await?;
            tx.commit().await?;
            tracing::warn!(user = %username, %ip, "login refused: too many failed attempts");
            let minutes = ((until - now).num_seconds().max(0) + 59) / 60;
            return Err(WebError::TooManyRequests(format!(
                "Too many failed logins. Try again after {} UTC (in about {minutes} minute(s)).",
                until.format("%H:%M")
            )));
        }
    };
    tx.commit().await?;
    let mut conn = state.store.acquire().await?;
    let account = users::for_login(&mut conn, &username).await?;
    drop(conn);
    let password = f.password;
    let ok_user = tokio::task::spawn_blocking(move || match account {
        Some((user, hash)) if !user.disabled => verify_password(&password, &hash).then_some(user),
        _ => {
            // As slow as a real check, so timing does not tell which names exist.
            let _ = verify_password(&password, dummy_hash());
            None
        }
    })
    .await
    .ok()
    .flatten();
    let mut tx = state.store.begin_write().await?;
    users::finish_login_attempt(&mut tx, attempt, ok_user.is_some()).await?;
    let Some(user) = ok_user else {
        users::audit(
            &mut tx,
            AuditEntry {
                at: now,
                username: &username,
                action: "login_failed",
                ip: Some(&ip),
                case_id: None,
                detail: serde_json::json!({}),
            },
        )
        .await?;
        tx.commit().await?;
        tracing::info!(user = %username, %ip, "failed login");
        return login_form(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("Wrong account name or password, or the account is disabled.".into()),
            &username,
        );
    };
    start_session(&state, tx, user, &ip, now, "password").await
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, WebError> {
    // Viewers may log out too: only the CSRF token is checked.
    if !who.csrf.as_deref().is_some_and(|c| same(c, &f.csrf)) {
        return Err(WebError::Forbidden(
            "This form is out of date or did not come from this site (CSRF check failed). \
             Reload the page and try again."
                .into(),
        ));
    }
    let mut tx = state.store.begin_write().await?;
    if let Some(sid) = cookie(&headers, SESSION_COOKIE) {
        users::delete_session(&mut tx, &sid).await?;
    }
    users::audit(
        &mut tx,
        AuditEntry {
            at: Utc::now(),
            username: &who.user.name,
            action: "logout",
            ip: Some(&who.ip),
            case_id: None,
            detail: serde_json::json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/login".to_string()),
            (
                header::SET_COOKIE,
                set_cookie(&state, SESSION_COOKIE, "", "/", 0),
            ),
        ],
    )
        .into_response())
}
