//! OAuth2 access tokens for IMAP and SMTP: the client-credentials grant (Microsoft 365
//! app-only access) and the refresh-token grant (Google Workspace, delegated Microsoft
//! access), cached until shortly before expiry, with a back-off after a refusal so a
//! revoked client cannot make the gateway hammer the token endpoint.
//!
//! The client secret and the refresh token are read from their file or environment
//! variable at each token request (a rotated secret needs no restart), held as
//! [`SecretString`], and never written to a log or an error message.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex as StdMutex, OnceLock};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use crate::config::{check_token_url, Grant, OAuth2Config};

/// Why no token could be had, phrased for the person fixing it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OAuthError {
    #[error("OAuth2 token endpoint {url} is unreachable: {reason} (check [oauth2] token_url or tenant, the network, and behind a TLS-inspecting proxy [oauth2] ca_file)")]
    Unreachable { url: String, reason: String },
    #[error("OAuth2 token endpoint {url} refused the client (invalid_client): {description} (check [oauth2] client_id and the client secret: it may be wrong, expired or revoked in the app registration)")]
    InvalidClient { url: String, description: String },
    #[error("OAuth2 token endpoint {url} refused the scope '{scope}' (invalid_scope): {description} (check [oauth2] scope; Microsoft 365 app-only: https://outlook.office365.com/.default)")]
    InvalidScope {
        url: String,
        scope: String,
        description: String,
    },
    #[error("OAuth2 token endpoint {url} refused the refresh token (invalid_grant): {description} (it was revoked or has expired: obtain a new one)")]
    InvalidGrant { url: String, description: String },
    #[error("OAuth2 token endpoint {url} answered HTTP {status} {error}: {description}")]
    Refused {
        url: String,
        status: u16,
        error: String,
        description: String,
    },
    #[error(
        "OAuth2 token endpoint {url} sent an answer that is not a token (HTTP {status}): {reason}"
    )]
    BadReply {
        url: String,
        status: u16,
        reason: String,
    },
    #[error("OAuth2 {0}")]
    Secret(String),
    #[error("[oauth2] {0}")]
    Config(String),
    /// A recent request failed; the endpoint is not asked again until the back-off ends.
    #[error("{last} (no new token request for {retry_in_secs} s)")]
    BackingOff { last: String, retry_in_secs: u64 },
}

impl OAuthError {
    /// A refusal that repeating soon will not change (a wrong or revoked client).
    fn is_lasting(&self) -> bool {
        matches!(
            self,
            OAuthError::InvalidClient { .. }
                | OAuthError::InvalidScope { .. }
                | OAuthError::InvalidGrant { .. }
                | OAuthError::Secret(_)
                | OAuthError::Config(_)
        ) || matches!(self, OAuthError::Refused { status, .. } if (400..500).contains(status) && *status != 429)
    }
}

/// An access token and when it stops being used.
#[derive(Clone)]
pub struct AccessToken {
    secret: SecretString,
    /// When the token is considered spent: its expiry less a safety margin.
    pub renew_at: Instant,
    obtained: Instant,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"[redacted]")
            .field("renew_at", &self.renew_at)
            .finish()
    }
}

impl AccessToken {
    pub fn expose(&self) -> &str {
        self.secret.expose_secret()
    }

    /// Just issued: a server refusing it would refuse a new one too (the mailbox, its
    /// permission), so it is neither replaced nor retried.
    pub fn is_fresh(&self) -> bool {
        self.obtained.elapsed() < Duration::from_secs(30)
    }

    /// Time left before it should be replaced.
    pub fn remaining(&self) -> Duration {
        self.renew_at.saturating_duration_since(Instant::now())
    }
}

/// Back-off after a failed request: first and longest delay.
const TRANSIENT_BACKOFF: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(300));
const LASTING_BACKOFF: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(3600));

struct Backoff {
    until: Instant,
    delay: Duration,
    message: String,
}

#[derive(Default)]
struct State {
    cached: Option<AccessToken>,
    backoff: Option<Backoff>,
    /// A refresh token the server rotated to (used instead of the configured one).
    rotated_refresh: Option<SecretString>,
}

/// Tokens for one OAuth2 client, shared by IMAP intake, the outbox and `check-config`.
pub struct TokenSource {
    cfg: OAuth2Config,
    state: tokio::sync::Mutex<State>,
}

/// One token source per `[oauth2]` configuration in the process, so IMAP and SMTP share
/// the cached token and the back-off.
pub fn shared(cfg: &OAuth2Config) -> Arc<TokenSource> {
    static SOURCES: OnceLock<StdMutex<HashMap<String, Arc<TokenSource>>>> = OnceLock::new();
    let key = format!("{cfg:?}");
    let mut map = SOURCES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    map.entry(key)
        .or_insert_with(|| Arc::new(TokenSource::new(cfg.clone())))
        .clone()
}

impl TokenSource {
    pub fn new(cfg: OAuth2Config) -> Self {
        Self {
            cfg,
            state: Default::default(),
        }
    }

    /// A valid token: the cached one, or a new one from the endpoint (unless a recent
    /// failure's back-off is still running).
    pub async fn token(&self) -> Result<AccessToken, OAuthError> {
        let mut state = self.state.lock().await;
        if let Some(t) = &state.cached {
            if Instant::now() < t.renew_at {
                return Ok(t.clone());
            }
        }
        if let Some(b) = &state.backoff {
            let now = Instant::now();
            if now < b.until {
                return Err(OAuthError::BackingOff {
                    last: b.message.clone(),
                    retry_in_secs: (b.until - now).as_secs() + 1,
                });
            }
        }
        match self.request(&mut state).await {
            Ok(t) => {
                state.backoff = None;
                state.cached = Some(t.clone());
                Ok(t)
            }
            Err((e, hint)) => {
                let (first, max) = if e.is_lasting() {
                    LASTING_BACKOFF
                } else {
                    TRANSIENT_BACKOFF
                };
                let prev = state.backoff.as_ref().map(|b| b.delay * 2).unwrap_or(first);
                let delay = prev
                    .clamp(first, max)
                    .max(hint.unwrap_or_default().min(max));
                tracing::warn!(error = %e, retry_in_s = delay.as_secs(), "OAuth2 token request failed; backing off");
                state.backoff = Some(Backoff {
                    until: Instant::now() + delay,
                    delay,
                    message: e.to_string(),
                });
                state.cached = None;
                Err(e)
            }
        }
    }

    /// The server refused `token`: unless it was just issued, it is not used again and
    /// the next [`Self::token`] asks the endpoint for a new one (a token revoked before
    /// its expiry).
    pub async fn rejected(&self, token: &AccessToken) {
        if token.is_fresh() {
            return;
        }
        let mut state = self.state.lock().await;
        if state
            .cached
            .as_ref()
            .is_some_and(|c| c.expose() == token.expose())
        {
            tracing::info!("the mail server refused the cached OAuth2 token; requesting a new one");
            state.cached = None;
        }
    }

    fn secret(
        file: Option<&Path>,
        env: Option<&str>,
        what: &str,
    ) -> Result<Option<SecretString>, OAuthError> {
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                OAuthError::Secret(format!(
                    "cannot read the {what} from [oauth2] {what}_file {}: {e}",
                    path.display()
                ))
            })?;
            let line = text.lines().next().unwrap_or("").trim().to_string();
            if line.is_empty() {
                return Err(OAuthError::Secret(format!(
                    "[oauth2] {what}_file {} is empty",
                    path.display()
                )));
            }
            return Ok(Some(SecretString::from(line)));
        }
        if let Some(var) = env {
            return match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(Some(SecretString::from(v.trim().to_string()))),
                _ => Err(OAuthError::Secret(format!(
                    "environment variable {var} ([oauth2] {what}_env) is not set or empty"
                ))),
            };
        }
        Ok(None)
    }

    /// One token request. The error comes with the server's Retry-After, if any.
    async fn request(
        &self,
        state: &mut State,
    ) -> Result<AccessToken, (OAuthError, Option<Duration>)> {
        let cfg = &self.cfg;
        let url = cfg
            .token_url()
            .ok_or_else(|| (OAuthError::Config("needs token_url or tenant".into()), None))?;
        check_token_url(&url).map_err(|e| (OAuthError::Config(e), None))?;
        let client_secret = Self::secret(
            cfg.client_secret_file.as_deref(),
            cfg.client_secret_env.as_deref(),
            "client_secret",
        )
        .map_err(|e| (e, None))?;
        let mut form = vec![("client_id", cfg.client_id.clone())];
        let mut secrets = Vec::new();
        if let Some(s) = &client_secret {
            form.push(("client_secret", s.expose_secret().to_string()));
            secrets.push(s.expose_secret().to_string());
        }
        match cfg.grant {
            Grant::ClientCredentials => form.push(("grant_type", "client_credentials".into())),
            Grant::RefreshToken => {
                let refresh = match &state.rotated_refresh {
                    Some(r) => r.clone(),
                    None => Self::secret(
                        cfg.refresh_token_file.as_deref(),
                        cfg.refresh_token_env.as_deref(),
                        "refresh_token",
                    )
                    .map_err(|e| (e, None))?
                    .ok_or_else(|| {
                        (
                            OAuthError::Config(
                                "grant = \"refresh_token\" needs refresh_token_file or refresh_token_env".into(),
                            ),
                            None,
                        )
                    })?,
                };
                secrets.push(refresh.expose_secret().to_string());
                form.push(("grant_type", "refresh_token".into()));
                form.push(("refresh_token", refresh.expose_secret().to_string()));
            }
        }
        let scope = cfg.scope().unwrap_or_default();
        if !scope.is_empty() {
            form.push(("scope", scope.clone()));
        }
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let shown = url.split('?').next().unwrap_or(&url).to_string();
        let timeout = Duration::from_secs(cfg.timeout_secs.max(1));
        let ca_file = cfg.ca_file.as_deref();
        let reply = tokio::time::timeout(
            timeout,
            crate::http::post(
                &url,
                ca_file,
                "application/x-www-form-urlencoded",
                body.into_bytes(),
            ),
        )
        .await
        .map_err(|_| format!("no answer within {} s", timeout.as_secs()))
        .and_then(|r| r);
        let reply = reply.map_err(|reason| {
            (
                OAuthError::Unreachable {
                    url: shown.clone(),
                    reason: scrub(&reason, &secrets),
                },
                None,
            )
        })?;
        let parsed = parse_reply(&shown, &scope, reply.status, &reply.body, &secrets);
        match parsed {
            Ok((token, lifetime, rotated)) => {
                if let Some(r) = rotated {
                    state.rotated_refresh = Some(SecretString::from(r));
                }
                // Renewed well before the end: a fifth of its life, at most 5 minutes.
                let margin = (lifetime / 5).min(Duration::from_secs(300));
                tracing::info!(
                    expires_in_s = lifetime.as_secs(),
                    "OAuth2 access token acquired"
                );
                Ok(AccessToken {
                    secret: SecretString::from(token),
                    renew_at: Instant::now() + lifetime - margin,
                    obtained: Instant::now(),
                })
            }
            Err(e) => Err((e, reply.retry_after)),
        }
    }
}

/// Replaces any secret that a server echoed in its text.
fn scrub(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 4)
        .fold(text.to_string(), |t, s| t.replace(s.as_str(), "[secret]"))
}

/// The token, its lifetime and a rotated refresh token, or the server's refusal.
fn parse_reply(
    url: &str,
    scope: &str,
    status: u16,
    body: &[u8],
    secrets: &[String],
) -> Result<(String, Duration, Option<String>), OAuthError> {
    #[derive(serde::Deserialize)]
    struct Reply {
        access_token: Option<String>,
        expires_in: Option<serde_json::Value>,
        refresh_token: Option<String>,
        error: Option<String>,
        error_description: Option<String>,
    }
    let text = scrub(&String::from_utf8_lossy(body), secrets);
    let reply: Reply = serde_json::from_slice(body).map_err(|e| OAuthError::BadReply {
        url: url.to_string(),
        status,
        reason: format!(
            "not JSON ({e}): {}",
            text.chars().take(200).collect::<String>()
        ),
    })?;
    if let (200..=299, Some(token)) = (status, reply.access_token) {
        let secs = match &reply.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .unwrap_or(3600)
        // A day at most: an absurd lifetime must not overflow the clock arithmetic.
        .clamp(1, 24 * 3600);
        return Ok((token, Duration::from_secs(secs), reply.refresh_token));
    }
    let error = reply.error.unwrap_or_default();
    // Microsoft's descriptions carry a trace id and a timestamp on further lines.
    let description = scrub(
        reply
            .error_description
            .as_deref()
            .and_then(|d| d.lines().next())
            .unwrap_or("(no description)"),
        secrets,
    );
    let url = url.to_string();
    Err(match error.as_str() {
        "invalid_client" | "unauthorized_client" => OAuthError::InvalidClient { url, description },
        "invalid_scope" => OAuthError::InvalidScope {
            url,
            scope: scope.to_string(),
            description,
        },
        "invalid_grant" => OAuthError::InvalidGrant { url, description },
        "" if (200..=299).contains(&status) => OAuthError::BadReply {
            url,
            status,
            reason: "no access_token in the answer".into(),
        },
        _ => OAuthError::Refused {
            url,
            status,
            error,
            description,
        },
    })
}

/// `application/x-www-form-urlencoded` for one value.
fn form_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The SASL XOAUTH2 initial response (Google, Microsoft).
pub fn xoauth2(user: &str, token: &AccessToken) -> String {
    format!("user={user}\x01auth=Bearer {}\x01\x01", token.expose())
}

/// The RFC 7628 OAUTHBEARER initial response; `user` as an RFC 5801 saslname.
pub fn oauthbearer(user: &str, host: &str, port: u16, token: &AccessToken) -> String {
    let user = user.replace('=', "=3D").replace(',', "=2C");
    format!(
        "n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {}\x01\x01",
        token.expose()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_and_plain_http_is_for_loopback_only() {
        use crate::http::split_url;
        assert_eq!(
            split_url("https://login.microsoftonline.com/t/oauth2/v2.0/token").unwrap(),
            (
                true,
                "login.microsoftonline.com".into(),
                443,
                "/t/oauth2/v2.0/token".into()
            )
        );
        assert_eq!(
            split_url("http://127.0.0.1:8123/token").unwrap(),
            (false, "127.0.0.1".into(), 8123, "/token".into())
        );
        assert!(check_token_url("http://127.0.0.1:8123/token").is_ok());
        let e = check_token_url("http://oauth2.example.com/token").unwrap_err();
        assert!(e.contains("clear text"), "{e}");
        assert!(check_token_url("ftp://x/token").is_err());
    }

    #[test]
    fn refusals_are_named_and_secrets_scrubbed() {
        let secrets = vec!["s3cr3t-value".to_string()];
        let e = parse_reply(
            "https://t/token",
            "https://outlook.office365.com/.default",
            401,
            br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret s3cr3t-value provided.\r\nTrace ID: x"}"#,
            &secrets,
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("invalid_client"), "{text}");
        assert!(text.contains("AADSTS7000215"), "{text}");
        assert!(!text.contains("s3cr3t-value"), "{text}");
        assert!(!text.contains("Trace ID"), "{text}");
        assert!(e.is_lasting());
        let e =
            parse_reply("u", "bad", 400, br#"{"error":"invalid_scope"}"#, &secrets).unwrap_err();
        assert!(matches!(e, OAuthError::InvalidScope { .. }));
        let (_, life, _) = parse_reply(
            "u",
            "",
            200,
            br#"{"access_token":"abc","expires_in":18446744073709551615}"#,
            &secrets,
        )
        .unwrap();
        assert_eq!(life.as_secs(), 24 * 3600);
        let (t, life, _) = parse_reply(
            "u",
            "",
            200,
            br#"{"access_token":"abc","expires_in":"3599","token_type":"Bearer"}"#,
            &secrets,
        )
        .unwrap();
        assert_eq!((t.as_str(), life.as_secs()), ("abc", 3599));
        let e = parse_reply("u", "", 503, b"<html>busy</html>", &secrets).unwrap_err();
        assert!(!e.is_lasting(), "{e}");
    }

    #[tokio::test]
    async fn a_refused_cached_token_is_dropped_a_fresh_one_kept() {
        let cfg: OAuth2Config = toml::from_str("client_id = 'app'\ntenant = 't'").unwrap();
        let source = TokenSource::new(cfg);
        let token = |age: u64| AccessToken {
            secret: SecretString::from(format!("tok-{age}")),
            renew_at: Instant::now() + Duration::from_secs(600),
            obtained: Instant::now() - Duration::from_secs(age),
        };
        for (age, kept) in [(0, true), (120, false)] {
            let t = token(age);
            source.state.lock().await.cached = Some(t.clone());
            source.rejected(&t).await;
            let cached = source.state.lock().await.cached.is_some();
            assert_eq!(cached, kept, "token {age} s old");
        }
    }

    #[test]
    fn sasl_strings() {
        let t = AccessToken {
            secret: SecretString::from("tok".to_string()),
            renew_at: Instant::now(),
            obtained: Instant::now(),
        };
        assert_eq!(
            xoauth2("soc@mass.gov", &t),
            "user=soc@mass.gov\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(
            oauthbearer("a,b=c@x", "imap.x", 993, &t),
            "n,a=a=2Cb=3Dc@x,\x01host=imap.x\x01port=993\x01auth=Bearer tok\x01\x01"
        );
        assert!(!format!("{t:?}").contains("tok\""));
        assert_eq!(form_encode("a b&c=/"), "a%20b%26c%3D%2F");
    }
}
