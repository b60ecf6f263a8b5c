//! Configuration: one TOML file, then `IGW_SECTION__KEY` environment overrides.
//!
//! Every key has a default so the gateway runs with no file at all (the embedded
//! default: SQLite under `./data`, outbound mail written to `./data/outbox/`).

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

use crate::domain::EmailAddress;

/// What went wrong while loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: String, message: String },
    #[error("config file {path} is not a valid configuration: {message}")]
    Value { path: String, message: String },
    #[error("environment variable {var}={value:?} is not valid for [{section}] {key}: {message}")]
    Env {
        var: String,
        value: String,
        section: String,
        key: String,
        message: String,
    },
    #[error("configuration is invalid: {0}")]
    Invalid(String),
}

/// The first environment override that alone makes the file's settings invalid.
fn blame_override(
    file: &toml::Table,
    overrides: &[(String, String, Vec<String>)],
) -> Option<ConfigError> {
    overrides.iter().find_map(|(var, value, path)| {
        let mut root = file.clone();
        let section = root
            .entry(path[0].clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(t) = section {
            t.insert(path[1].clone(), env_value(value));
        }
        let e = toml::Value::Table(root).try_into::<Config>().err()?;
        Some(ConfigError::Env {
            var: var.clone(),
            value: value.clone(),
            section: path[0].clone(),
            key: path[1].clone(),
            message: e.message().trim().to_string(),
        })
    })
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub gateway: GatewayConfig,
    pub database: DatabaseConfig,
    pub imap: Option<ImapConfig>,
    pub smtp: Option<SmtpConfig>,
    /// The token source for `auth = "oauth2"` in `[imap]` and `[smtp]`.
    pub oauth2: Option<OAuth2Config>,
    pub outbox: OutboxConfig,
    pub reminders: RemindersConfig,
    pub updates: UpdatesConfig,
    pub web: WebConfig,
    /// The case-event feed for a SIEM (`crate::siem`); absent = no feed.
    pub siem: Option<SiemConfig>,
    pub sharing: SharingConfig,
    pub reports: ReportsConfig,
    pub soc: SocConfig,
}

/// The SOC's own notices and its service targets: who in the SOC hears of a new
/// case and of an assignment, and how soon a case must be triaged.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SocConfig {
    /// A new case whose severity (the analyst's, else the suggested one) is at or
    /// above this notifies the directory's `soc_oncall` list once: critical, high,
    /// medium, low, or `off`.
    pub notify_new_case_at: String,
    /// An analyst assigned a case by someone else hears of it by mail.
    pub notify_assignee: bool,
    /// A verified answer from the reporter (or another participant) tells the case's
    /// assignee by mail, once per answer; an unassigned case tells `soc_oncall` when its
    /// severity is at or above `notify_new_case_at`.
    pub notify_answers: bool,
    /// An open case past its triage time, or past its SCIO update time with no update
    /// queued, tells its assignee (unassigned: `soc_oncall`) by mail, once per clock
    /// running out.
    pub notify_overdue: bool,
    /// A chat incoming webhook (Microsoft Teams, Slack) that gets every SOC notice too,
    /// as `{"text": …}` through the outbox; the URL is a secret (it carries its token)
    /// and is never logged. `IGW_SOC__WEBHOOK_URL` sets it from the environment.
    #[serde(deserialize_with = "lenient_opt_secret")]
    pub webhook_url: Option<SecretString>,
    /// A CA file to trust for the webhook's TLS besides the public roots.
    pub webhook_ca_file: Option<std::path::PathBuf>,
    /// The mail domain of accounts whose name is not an address (`jdoe` →
    /// `jdoe@<domain>`); empty: only accounts named by an address are told.
    pub assignee_domain: String,
    /// Minutes from report to triage (an analyst sets severity, assignee or status),
    /// by severity.
    pub triage_critical_minutes: u64,
    pub triage_high_minutes: u64,
    pub triage_medium_minutes: u64,
    pub triage_low_minutes: u64,
}

impl Default for SocConfig {
    fn default() -> Self {
        Self {
            notify_new_case_at: "critical".into(),
            notify_assignee: true,
            notify_answers: true,
            notify_overdue: true,
            webhook_url: None,
            webhook_ca_file: None,
            assignee_domain: String::new(),
            triage_critical_minutes: 15,
            triage_high_minutes: 60,
            triage_medium_minutes: 240,
            triage_low_minutes: 1440,
        }
    }
}

impl SocConfig {
    /// The severity from which a new case is announced to on-call (`None`: never).
    pub fn new_case_threshold(&self) -> Option<crate::domain::Severity> {
        self.notify_new_case_at.parse().ok()
    }

    /// The time allowed from report to triage for a severity (unset: medium).
    pub fn triage_within(&self, severity: Option<crate::domain::Severity>) -> chrono::Duration {
        use crate::domain::Severity::*;
        let m = match severity.unwrap_or(Medium) {
            Critical => self.triage_critical_minutes,
            High => self.triage_high_minutes,
            Medium => self.triage_medium_minutes,
            Low => self.triage_low_minutes,
        };
        chrono::Duration::minutes(m.clamp(1, 60 * 24 * 365) as i64)
    }
}

/// Exports to partners (STIX 2.1, MISP): who we are in them and the default TLP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SharingConfig {
    /// The SOC's name in the STIX `identity` and as the MISP event's creator;
    /// empty: `[gateway] name`.
    pub identity_name: String,
    /// The TLP of a case no analyst has set one for: clear, green, amber, amber+strict, red.
    pub default_tlp: crate::domain::Tlp,
}

impl Default for SharingConfig {
    fn default() -> Self {
        Self {
            identity_name: String::new(),
            default_tlp: crate::domain::Tlp::Amber,
        }
    }
}

/// The routine trends report (weekly and monthly) to a leadership / SCIO list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Who receives it (`Name <address>` or an address); empty: no report is sent.
    pub recipients: Vec<String>,
    /// Send the weekly report (for each ISO week, Monday 00:00 UTC, once it is over).
    pub weekly: bool,
    /// Send the monthly report (for each calendar month in UTC, once it is over).
    pub monthly: bool,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        Self {
            recipients: Vec::new(),
            weekly: true,
            monthly: true,
        }
    }
}

/// Status updates to the SCIO thread: the rhythm per severity, and the banner.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpdatesConfig {
    /// Hours between status updates of an open case, by severity.
    pub critical_hours: u64,
    pub high_hours: u64,
    pub medium_hours: u64,
    pub low_hours: u64,
    /// The first lines of every SCIO update and escalation notice.
    pub banner: String,
    /// "New incident" notices to an agency's officials opened by reports from one
    /// sender address within an hour; later reports wait for an analyst.
    pub new_case_notices_per_sender_per_hour: u32,
    /// The same, per agency (a loop or a flood of reports naming one agency).
    pub new_case_notices_per_agency_per_hour: u32,
}

impl Default for UpdatesConfig {
    fn default() -> Self {
        Self {
            critical_hours: 4,
            high_hours: 24,
            medium_hours: 72,
            low_hours: 168,
            banner: "SENSITIVE - FOR OFFICIAL COMMONWEALTH USE ONLY. Do not forward outside the Commonwealth; nothing in this message may be released to the public without the SOC's consent.".into(),
            new_case_notices_per_sender_per_hour: 3,
            new_case_notices_per_agency_per_hour: 10,
        }
    }
}

impl UpdatesConfig {
    /// The interval for a severity (unset: medium).
    pub fn interval(&self, severity: Option<crate::domain::Severity>) -> chrono::Duration {
        use crate::domain::Severity::*;
        let h = match severity.unwrap_or(Medium) {
            Critical => self.critical_hours,
            High => self.high_hours,
            Medium => self.medium_hours,
            Low => self.low_hours,
        };
        chrono::Duration::hours(h.clamp(1, 24 * 365) as i64)
    }
}

/// Reminders for reports that still lack required details.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemindersConfig {
    /// Hours of silence after our last request before a reminder.
    pub after_hours: u64,
    /// Reminders per case at most.
    pub max: u32,
}

impl Default for RemindersConfig {
    fn default() -> Self {
        Self {
            after_hours: 4,
            max: 2,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// The SOC mailbox address: From of everything we send; mail from it is never answered.
    pub address: String,
    /// Display name on outbound mail.
    pub name: String,
    /// The SOC's phone line, given wherever mail tells people to call the SOC.
    pub phone: String,
    pub tracking_prefix: String,
    pub data_dir: PathBuf,
    /// Domains (and their subdomains) that may receive mail from the gateway without review.
    pub allowed_domains: Vec<String>,
    /// Other addresses of ours (aliases, the IMAP login) that must never be answered.
    pub own_addresses: Vec<String>,
    /// Acknowledgements per sender address per hour.
    pub ack_rate_limit_per_hour: u32,
    /// Largest message parsed, in bytes (larger ones are stored, not parsed).
    pub max_message_bytes: usize,
    /// Largest attachment part kept, in bytes; a larger one is recorded (name, size,
    /// SHA-256) but its bytes are not kept.
    pub max_attachment_bytes: usize,
    /// Longest the analysis of one message may take, in seconds; past it the message is
    /// stored with what its headers say and a "not analysed" note, and intake moves on.
    pub analysis_timeout_secs: u64,
    /// The directory file (agencies, aliases, domains) used to recognise agencies.
    pub directory: Option<PathBuf>,
    /// The `authserv-id` of our receiving mail server: only its `Authentication-Results`
    /// count when verifying the sender of a reply.
    pub trusted_authserv_id: Option<String>,
    /// Treat every inbound message as sender-authenticated (loopback tests and an intake
    /// server that rejects unauthenticated mail itself). Participants still apply.
    pub trust_intake_server: bool,
    /// Give each outbound message its own envelope sender (`soc+bounce-TOKEN@domain`,
    /// VERP) so that a bounce is known to be ours by the address it comes back to. The
    /// SOC mailbox must accept plus-addressed mail (Exchange Online and Google
    /// Workspace do). Off: bounces never mark a reporter undeliverable.
    pub verp: bool,
    /// Reports that forward the same suspect message within this many hours of the
    /// campaign's last report join its case (0: every report opens its own case).
    pub campaign_window_hours: u32,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            address: "soc@mass.gov".into(),
            name: "Commonwealth Security Operations Center".into(),
            phone: String::new(),
            tracking_prefix: "SOC".into(),
            data_dir: PathBuf::from("./data"),
            allowed_domains: vec!["mass.gov".into(), "state.ma.us".into()],
            own_addresses: Vec::new(),
            ack_rate_limit_per_hour: 10,
            max_message_bytes: 64 * 1024 * 1024,
            max_attachment_bytes: 25 * 1024 * 1024,
            analysis_timeout_secs: 20,
            directory: None,
            trusted_authserv_id: None,
            trust_intake_server: false,
            verp: true,
            campaign_window_hours: 72,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path` (created if missing). Empty: `<data_dir>/gateway.db`.
    pub url: String,
}

/// Refuses a `[database] url` this build cannot open, so that nothing is ever stored
/// somewhere else than the operator meant (sqlx would take `postgres://host/db` as a
/// SQLite file name). `sqlite:` URLs, plain file paths and the empty default pass.
pub fn check_database_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    let scheme_len = url.find(':').filter(|&i| {
        i > 1
            && url[..i].starts_with(|c: char| c.is_ascii_alphabetic())
            && url[..i]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
    });
    let Some(n) = scheme_len else {
        return Ok(());
    };
    match url[..n].to_ascii_lowercase().as_str() {
        "sqlite" => Ok(()),
        "postgres" | "postgresql" => Err(format!(
            "[database] url = '{}': PostgreSQL is not supported yet; this build stores in SQLite only (url = \"sqlite:///var/lib/incident-gateway/gateway.db\", or leave url empty for <data_dir>/gateway.db)",
            redact_password(url)
        )),
        other => Err(format!(
            "[database] url = '{}': the scheme '{other}:' is not supported; use sqlite://PATH (or leave url empty for <data_dir>/gateway.db)",
            redact_password(url)
        )),
    }
}

/// `scheme://user:secret@host` with the secret replaced, for messages.
fn redact_password(url: &str) -> String {
    let Some(rest_at) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[rest_at..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!("{}{}:***{}", &url[..rest_at], &rest[..colon], &rest[at..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// How to protect a connection to a mail server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
    /// Plain connect, then upgrade with STARTTLS (IMAP 143, submission 587).
    Starttls,
    /// No encryption: for loopback test servers only.
    None,
}

/// How the gateway logs in to a mail server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// IMAP LOGIN / SMTP AUTH PLAIN or LOGIN with `password`.
    #[default]
    Password,
    /// SASL XOAUTH2 or OAUTHBEARER with an access token from `[oauth2]`.
    Oauth2,
}

/// The SASL mechanism that carries the access token to the IMAP server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SaslMechanism {
    /// Google's and Microsoft's `XOAUTH2`.
    #[default]
    Xoauth2,
    /// RFC 7628 `OAUTHBEARER`.
    Oauthbearer,
}

/// Which OAuth2 grant obtains the access tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// App-only access (Microsoft 365 service principal): client id and secret.
    #[default]
    ClientCredentials,
    /// A refresh token obtained once by an administrator (Google Workspace, or
    /// delegated Microsoft access).
    RefreshToken,
}

/// The OAuth2 client: where tokens come from. The client secret and the refresh token
/// are never in this file: each is read from a file or an environment variable when a
/// token is requested.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Config {
    #[serde(default)]
    pub grant: Grant,
    /// Microsoft Entra tenant (domain or id): gives the default `token_url` and scope.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The token endpoint; default with `tenant`:
    /// `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`.
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub client_id: String,
    /// Space-separated scopes; default with `tenant`: `https://outlook.office365.com/.default`.
    #[serde(default)]
    pub scope: Option<String>,
    /// A file holding the client secret (its first line).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The name of an environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// A file holding the refresh token (its first line), for `grant = "refresh_token"`.
    #[serde(default)]
    pub refresh_token_file: Option<PathBuf>,
    /// The name of an environment variable holding the refresh token.
    #[serde(default)]
    pub refresh_token_env: Option<String>,
    /// Time limit of one token request, in seconds.
    #[serde(default = "default_token_timeout")]
    pub timeout_secs: u64,
    /// PEM file with extra CA certificates to trust for the token endpoint (a
    /// TLS-inspecting proxy, a test server); the public web roots are always trusted.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_token_timeout() -> u64 {
    20
}

impl OAuth2Config {
    /// The token endpoint, from `token_url` or the tenant.
    pub fn token_url(&self) -> Option<String> {
        self.token_url.clone().or_else(|| {
            self.tenant.as_ref().map(|t| {
                format!(
                    "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
                    t.trim()
                )
            })
        })
    }

    /// The scope requested, from `scope` or the tenant (Exchange Online).
    pub fn scope(&self) -> Option<String> {
        self.scope.clone().or_else(|| {
            self.tenant
                .as_ref()
                .map(|_| "https://outlook.office365.com/.default".to_string())
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default = "default_security")]
    pub security: Security,
    /// The login name; with `auth = "oauth2"` the mailbox address (a shared mailbox's
    /// own address, not the app's).
    #[serde(deserialize_with = "lenient_string")]
    pub username: String,
    /// Required with `auth = "password"`.
    #[serde(default, deserialize_with = "lenient_opt_secret")]
    pub password: Option<SecretString>,
    #[serde(default)]
    pub auth: AuthMethod,
    /// With `auth = "oauth2"`: the SASL mechanism (the server must advertise it).
    #[serde(default)]
    pub sasl_mechanism: SaslMechanism,
    /// The `[oauth2]` section, copied here at load for `auth = "oauth2"`.
    #[serde(skip)]
    pub oauth2: Option<OAuth2Config>,
    #[serde(default = "default_inbox")]
    pub mailbox: String,
    #[serde(default = "default_processed")]
    pub processed_mailbox: String,
    /// PEM file with extra CA certificates to trust (a private CA, a test server).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Seconds between polls when the server has no IDLE.
    #[serde(default = "default_poll")]
    pub poll_interval_secs: u64,
    /// IDLE is ended and re-issued after this many seconds on our clock (servers drop
    /// it after 30 min); this also bounds how long a server that stopped answering
    /// during IDLE goes unnoticed (then IO timeout, 30 s).
    #[serde(default = "default_idle_renew")]
    pub idle_renew_secs: u64,
    /// Ceiling of the reconnect back-off.
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_secs: u64,
    /// Use polling even when the server offers IDLE.
    #[serde(default)]
    pub disable_idle: bool,
    /// The folder where the SMTP server files a copy of what the gateway sends
    /// (Exchange Online: "Sent Items", Gmail: "[Gmail]/Sent Mail"). When set, a
    /// message whose send was interrupted (the process died before the server's answer
    /// was recorded) is looked for there by its Message-ID before it is sent again.
    #[serde(default)]
    pub sent_mailbox: Option<String>,
    /// A message that intake started on this many times without finishing (the
    /// process died each time) is stored raw and unanalysed, and quarantined.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Permit `security = "none"` to a host that is not this machine (the password
    /// and every message then cross the network in clear text).
    #[serde(default)]
    pub allow_plaintext_remote: bool,
}

fn default_max_attempts() -> u32 {
    3
}

impl ImapConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            Security::Tls => 993,
            _ => 143,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default = "default_security")]
    pub security: Security,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub username: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_secret")]
    pub password: Option<SecretString>,
    /// `oauth2`: AUTH XOAUTH2 as `username` with a token from `[oauth2]`.
    #[serde(default)]
    pub auth: AuthMethod,
    /// The `[oauth2]` section, copied here at load for `auth = "oauth2"`.
    #[serde(skip)]
    pub oauth2: Option<OAuth2Config>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Time limit of each step (connect, greeting, TLS, each command) in seconds.
    #[serde(default = "default_smtp_timeout")]
    pub timeout_secs: u64,
    /// Permit `security = "none"` to a host that is not this machine.
    #[serde(default)]
    pub allow_plaintext_remote: bool,
}

impl SmtpConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            Security::Tls => 465,
            Security::Starttls => 587,
            Security::None => 25,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// First retry delay after a temporary failure; doubles each attempt.
    pub retry_base_secs: u64,
    /// Ceiling of the retry delay.
    pub retry_max_secs: u64,
    /// A message still not accepted after this long is marked failed.
    pub give_up_after_hours: u64,
    /// How often the worker looks for due mail when idle.
    pub poll_interval_ms: u64,
    /// A message being sent is leased for this long; when the sender dies mid-send
    /// (the outcome unknown), it is sent again, same bytes and Message-ID, after this.
    pub lease_secs: u64,
    /// Messages sent at the same time (each over its own SMTP connection, kept open
    /// between messages): a burst of acknowledgements goes out at the server's pace.
    pub senders: usize,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            retry_base_secs: 5,
            retry_max_secs: 900,
            give_up_after_hours: 72,
            poll_interval_ms: 500,
            lease_secs: 120,
            senders: 4,
        }
    }
}

/// Every case event, in order, to a JSON-lines file and/or an RFC 5424 syslog
/// collector over TCP (octet-counted frames, TLS by default).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiemConfig {
    /// One JSON object per line; relative to `[gateway] data_dir`.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// The file is rotated (`events.jsonl` -> `events.jsonl.1` …) when it reaches this size.
    #[serde(default = "default_siem_file_max_mb")]
    pub file_max_mb: u64,
    /// Rotated files kept besides the current one.
    #[serde(default = "default_siem_file_keep")]
    pub file_keep: u32,
    /// The collector as `host:port` (RFC 5425 uses 6514 for TLS, 601 or 514 for TCP).
    #[serde(default)]
    pub syslog: Option<String>,
    /// `tls` (the default) or `none`.
    #[serde(default = "default_siem_security")]
    pub security: Security,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Permit `security = "none"` to a collector that is not this machine.
    #[serde(default)]
    pub allow_plaintext_remote: bool,
    /// Syslog facility name (`local0`…`local7`, `user`, `auth`, `security`, …).
    #[serde(default = "default_siem_facility")]
    pub facility: String,
    /// The HOSTNAME field; default: this machine's name.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Longest syslog message; a longer record goes without its detail (the file has it).
    /// RFC 5425 collectors take at least 2048; rsyslog's default limit is 8192.
    #[serde(default = "default_siem_max_message")]
    pub max_message_bytes: usize,
    /// Time limit of connecting and of each write, in seconds.
    #[serde(default = "default_siem_timeout")]
    pub timeout_secs: u64,
    /// How often the feed looks for new events, in milliseconds.
    #[serde(default = "default_siem_poll_ms")]
    pub poll_interval_ms: u64,
    /// Most events read and written at once (the feed's whole buffer).
    #[serde(default = "default_siem_batch")]
    pub batch: u32,
    /// A sink configured for the first time starts at the oldest event (`beginning`) or
    /// after the newest (`now`).
    #[serde(default)]
    pub start: FeedStart,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedStart {
    #[default]
    Beginning,
    Now,
}

fn default_siem_file_max_mb() -> u64 {
    100
}
fn default_siem_file_keep() -> u32 {
    7
}
fn default_siem_security() -> Security {
    Security::Tls
}
fn default_siem_facility() -> String {
    "local0".into()
}
fn default_siem_timeout() -> u64 {
    10
}
fn default_siem_poll_ms() -> u64 {
    1000
}
fn default_siem_max_message() -> usize {
    8192
}
fn default_siem_batch() -> u32 {
    500
}

/// The numeric syslog facility of a name (RFC 5424 section 6.2.1).
pub fn syslog_facility(name: &str) -> Option<u8> {
    const NAMES: [&str; 24] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp", "ntp", "security", "console", "clock", "local0", "local1", "local2",
        "local3", "local4", "local5", "local6", "local7",
    ];
    NAMES.iter().position(|n| *n == name).map(|i| i as u8)
}

impl SiemConfig {
    /// The JSON-lines file, resolved against `data_dir`.
    pub fn file_path(&self, data_dir: &Path) -> Option<PathBuf> {
        self.file.as_ref().map(|f| data_dir.join(f))
    }

    /// `host` and `port` of the collector (`[v6]:port` accepted).
    pub fn collector(&self) -> Option<Result<(String, u16), String>> {
        let addr = self.syslog.as_deref()?.trim();
        let bad = || {
            format!("[siem] syslog = '{addr}' is not host:port (e.g. \"siem.example.org:6514\")")
        };
        Some((|| {
            let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let port: u16 = port.parse().map_err(|_| bad())?;
            if host.is_empty() || port == 0 {
                return Err(bad());
            }
            Ok((host.to_string(), port))
        })())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.file.is_none() && self.syslog.is_none() {
            return Err(ConfigError::Invalid(
                "[siem] needs file = \"events.jsonl\" or syslog = \"host:port\" (or both); remove the section for no feed".into(),
            ));
        }
        if self.security == Security::Starttls {
            return Err(ConfigError::Invalid(
                "[siem] security = \"starttls\" does not exist for syslog; use \"tls\" (RFC 5425) or \"none\"".into(),
            ));
        }
        if self.file_max_mb == 0 || self.batch == 0 || self.timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "[siem] file_max_mb, batch and timeout_secs must each be at least 1".into(),
            ));
        }
        if self.max_message_bytes < 2048 {
            return Err(ConfigError::Invalid(
                "[siem] max_message_bytes must be at least 2048 (what RFC 5425 collectors must accept)".into(),
            ));
        }
        if syslog_facility(&self.facility).is_none() {
            return Err(ConfigError::Invalid(format!(
                "[siem] facility = '{}' is not a syslog facility (local0 … local7, user, auth, security, …)",
                self.facility
            )));
        }
        if let Some(c) = self.collector() {
            let (host, _) = c.map_err(ConfigError::Invalid)?;
            check_transport(
                "siem",
                &host,
                self.security,
                self.allow_plaintext_remote,
                self.ca_file.as_deref(),
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    pub listen: String,
    /// Mark the session cookie `Secure` (set when users reach the UI over HTTPS,
    /// e.g. through a TLS-terminating reverse proxy).
    pub secure_cookies: bool,
    /// A session unused this long ends.
    pub session_idle_minutes: u64,
    /// A session ends this long after login, used or not.
    pub session_max_hours: u64,
    /// Failed logins for one account name within the window before logins are refused.
    pub login_max_failures: i64,
    /// Failed logins from one client address within the window before logins are refused.
    pub login_max_failures_per_ip: i64,
    pub login_window_minutes: u64,
    /// Single sign-on behind a reverse proxy that authenticates users and passes the
    /// account name in this header (e.g. `X-Remote-User`). Off when unset. Only set it
    /// when the proxy is the sole way in and strips the header from clients' requests.
    pub trusted_user_header: Option<String>,
    /// How often an open queue page asks whether new cases arrived (the "2 new cases"
    /// notice), in seconds.
    pub queue_refresh_seconds: u64,
    /// A triage in the web UI can be undone this many seconds (its mail waits as
    /// long); 0: no undo, the mail leaves at once.
    pub undo_seconds: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            secure_cookies: false,
            session_idle_minutes: 60,
            session_max_hours: 12,
            login_max_failures: 5,
            login_max_failures_per_ip: 20,
            login_window_minutes: 15,
            trusted_user_header: None,
            queue_refresh_seconds: 20,
            undo_seconds: 10,
        }
    }
}

fn default_security() -> Security {
    Security::Tls
}
fn default_inbox() -> String {
    "INBOX".into()
}
fn default_processed() -> String {
    "Processed".into()
}
fn default_poll() -> u64 {
    60
}
fn default_idle_renew() -> u64 {
    5 * 60
}
fn default_reconnect_max() -> u64 {
    300
}
fn default_smtp_timeout() -> u64 {
    30
}

/// Accepts a TOML string or number (an environment override `IGW_IMAP__USERNAME=1234`).
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Int(i64),
        Float(f64),
        Bool(bool),
    }
    Ok(match Scalar::deserialize(d)? {
        Scalar::Text(s) => s,
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => f.to_string(),
        Scalar::Bool(b) => b.to_string(),
    })
}

fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    lenient_string(d).map(Some)
}

fn lenient_opt_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    lenient_string(d).map(|s| Some(SecretString::from(s)))
}

impl Config {
    /// Loads `path` (if given), applies `IGW_*` overrides from the process environment,
    /// and validates.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// As [`Config::load`], with the environment passed in (for tests).
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let (text, name) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_path_buf(),
                    source,
                })?,
                p.display().to_string(),
            ),
            None => (String::new(), "(built-in defaults)".to_string()),
        };
        Self::from_toml_with_env(&text, &name, env)
    }

    pub fn from_toml_with_env(
        text: &str,
        name: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut root: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: name.to_string(),
                    message: e.to_string(),
                })?;
        let file_only = root.clone();
        let mut overrides = Vec::new();
        for (key, value) in env {
            let Some(rest) = key.strip_prefix("IGW_") else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
            if path.len() != 2 || path.iter().any(|p| p.is_empty()) {
                continue;
            }
            let section = root
                .entry(path[0].clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(table) = section else {
                return Err(ConfigError::Invalid(format!(
                    "{key}: [{}] is not a section",
                    path[0]
                )));
            };
            table.insert(path[1].clone(), env_value(&value));
            overrides.push((key, value, path));
        }
        let mut config: Config =
            toml::Value::Table(root)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    let file_error = toml::Value::Table(file_only.clone())
                        .try_into::<Config>()
                        .err();
                    file_error
                        .is_none()
                        .then(|| blame_override(&file_only, &overrides))
                        .flatten()
                        .unwrap_or_else(|| ConfigError::Value {
                            path: name.to_string(),
                            message: file_error
                                .unwrap_or(e)
                                .to_string()
                                .trim()
                                .replace('\n', " "),
                        })
                })?;
        config.validate()?;
        if let Some(imap) = config
            .imap
            .as_mut()
            .filter(|c| c.auth == AuthMethod::Oauth2)
        {
            imap.oauth2 = config.oauth2.clone();
        }
        if let Some(smtp) = config
            .smtp
            .as_mut()
            .filter(|c| c.auth == AuthMethod::Oauth2)
        {
            smtp.oauth2 = config.oauth2.clone();
        }
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        EmailAddress::parse(&self.gateway.address).map_err(|_| {
            ConfigError::Invalid(format!(
                "[gateway] address = '{}' is not an email address",
                self.gateway.address
            ))
        })?;
        crate::domain::TrackingId::new(&self.gateway.tracking_prefix, 2026, 1).map_err(|_| {
            ConfigError::Invalid(format!(
                "[gateway] tracking_prefix = '{}' must be 1-16 letters or digits",
                self.gateway.tracking_prefix
            ))
        })?;
        for a in &self.gateway.own_addresses {
            EmailAddress::parse(a).map_err(|_| {
                ConfigError::Invalid(format!(
                    "[gateway] own_addresses: '{a}' is not an email address"
                ))
            })?;
        }
        if let Some(imap) = &self.imap {
            if imap.host.trim().is_empty() {
                return Err(ConfigError::Invalid("[imap] host is empty".into()));
            }
            check_transport(
                "imap",
                &imap.host,
                imap.security,
                imap.allow_plaintext_remote,
                imap.ca_file.as_deref(),
            )?;
            if imap.auth == AuthMethod::Password && imap.password.is_none() {
                return Err(ConfigError::Invalid(
                    "[imap] password is missing (or set auth = \"oauth2\" with an [oauth2] section)".into(),
                ));
            }
            if imap.mailbox == imap.processed_mailbox {
                return Err(ConfigError::Invalid(
                    "[imap] processed_mailbox must differ from mailbox, or processed mail would be read again".into(),
                ));
            }
        }
        check_database_url(&self.database.url).map_err(ConfigError::Invalid)?;
        for r in &self.reports.recipients {
            let addr = r
                .rsplit_once('<')
                .map_or(r.as_str(), |(_, a)| a.trim_end_matches('>'));
            if EmailAddress::parse(addr.trim()).is_err() {
                return Err(ConfigError::Invalid(format!(
                    "[reports] recipients: '{r}' is not an email address (write \"Name <address>\" or an address)"
                )));
            }
        }
        let soc = &self.soc;
        if let Some(url) = &soc.webhook_url {
            use secrecy::ExposeSecret;
            check_webhook_url(url.expose_secret()).map_err(ConfigError::Invalid)?;
        }
        if soc.notify_new_case_at != "off" && soc.new_case_threshold().is_none() {
            return Err(ConfigError::Invalid(format!(
                "[soc] notify_new_case_at = '{}': write critical, high, medium, low or off",
                soc.notify_new_case_at
            )));
        }
        if [
            soc.triage_critical_minutes,
            soc.triage_high_minutes,
            soc.triage_medium_minutes,
            soc.triage_low_minutes,
        ]
        .contains(&0)
        {
            return Err(ConfigError::Invalid(
                "[soc] triage_critical_minutes, triage_high_minutes, triage_medium_minutes and triage_low_minutes must each be at least 1".into(),
            ));
        }
        let u = &self.updates;
        if [u.critical_hours, u.high_hours, u.medium_hours, u.low_hours].contains(&0) {
            return Err(ConfigError::Invalid(
                "[updates] critical_hours, high_hours, medium_hours and low_hours must each be at least 1".into(),
            ));
        }
        if let Some(smtp) = &self.smtp {
            if smtp.host.trim().is_empty() {
                return Err(ConfigError::Invalid("[smtp] host is empty".into()));
            }
            check_transport(
                "smtp",
                &smtp.host,
                smtp.security,
                smtp.allow_plaintext_remote,
                smtp.ca_file.as_deref(),
            )?;
            if smtp.auth == AuthMethod::Oauth2 && smtp.username.is_none() {
                return Err(ConfigError::Invalid(
                    "[smtp] auth = \"oauth2\" needs username (the mailbox address the token acts for)".into(),
                ));
            }
            if smtp.auth == AuthMethod::Password
                && smtp.username.is_some() != smtp.password.is_some()
            {
                return Err(ConfigError::Invalid(
                    "[smtp] username and password go together: set both or neither".into(),
                ));
            }
        }
        if let Some(siem) = &self.siem {
            siem.validate()?;
        }
        self.validate_oauth2()
    }

    fn validate_oauth2(&self) -> Result<(), ConfigError> {
        let wanted = [
            self.imap.as_ref().map(|c| ("imap", c.auth)),
            self.smtp.as_ref().map(|c| ("smtp", c.auth)),
        ];
        let users: Vec<&str> = wanted
            .iter()
            .flatten()
            .filter(|(_, a)| *a == AuthMethod::Oauth2)
            .map(|(s, _)| *s)
            .collect();
        let Some(o) = &self.oauth2 else {
            return match users.first() {
                Some(section) => Err(ConfigError::Invalid(format!(
                    "[{section}] auth = \"oauth2\" needs an [oauth2] section (client_id, tenant or token_url, and the client secret's file or variable)"
                ))),
                None => Ok(()),
            };
        };
        let bad = |m: &str| Err(ConfigError::Invalid(format!("[oauth2] {m}")));
        if o.client_id.trim().is_empty() {
            return bad("client_id is empty");
        }
        let Some(url) = o.token_url() else {
            return bad("needs token_url, or tenant for Microsoft 365");
        };
        if let Err(e) = check_token_url(&url) {
            return bad(&e);
        }
        check_transport("oauth2", "", Security::Tls, true, o.ca_file.as_deref())?;
        let has_secret = o.client_secret_file.is_some() || o.client_secret_env.is_some();
        match o.grant {
            Grant::ClientCredentials if !has_secret => {
                return bad(
                    "grant = \"client_credentials\" needs client_secret_file or client_secret_env",
                );
            }
            Grant::ClientCredentials if o.scope().is_none() => {
                return bad("grant = \"client_credentials\" needs scope (Microsoft 365: \"https://outlook.office365.com/.default\")");
            }
            Grant::RefreshToken
                if o.refresh_token_file.is_none() && o.refresh_token_env.is_none() =>
            {
                return bad(
                    "grant = \"refresh_token\" needs refresh_token_file or refresh_token_env",
                );
            }
            _ => {}
        }
        Ok(())
    }

    /// The SOC address, validated at load.
    pub fn soc_address(&self) -> EmailAddress {
        EmailAddress::parse(&self.gateway.address).unwrap_or_else(|_| {
            // validate() has already refused a bad address; this is unreachable in practice.
            EmailAddress::parse("soc@invalid.invalid").expect("static address parses")
        })
    }

    /// Every address of ours: never acknowledged, never an indicator.
    pub fn own_addresses(&self) -> Vec<EmailAddress> {
        let mut v = vec![self.soc_address()];
        v.extend(
            self.gateway
                .own_addresses
                .iter()
                .filter_map(|a| EmailAddress::parse(a).ok()),
        );
        if let Some(imap) = &self.imap {
            if let Ok(a) = EmailAddress::parse(&imap.username) {
                v.push(a);
            }
        }
        v
    }

    /// The database URL, defaulting to a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        if self.database.url.trim().is_empty() {
            format!(
                "sqlite://{}",
                self.gateway.data_dir.join("gateway.db").display()
            )
        } else {
            self.database.url.clone()
        }
    }

    /// Where the file transport writes outbound mail when no `[smtp]` is configured.
    pub fn outbox_dir(&self) -> PathBuf {
        self.gateway.data_dir.join("outbox")
    }
}

/// Is `host` this machine (where plain text never leaves it)?
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim().trim_end_matches('.');
    let h = h
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h);
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A token endpoint must be HTTPS; plain HTTP only to this machine (a test server).
pub fn check_token_url(url: &str) -> Result<(), String> {
    let rest = if let Some(r) = url.strip_prefix("https://") {
        r
    } else if let Some(r) = url.strip_prefix("http://") {
        let authority = r.split(['/', '?']).next().unwrap_or("");
        let host = match authority.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
            _ => authority,
        };
        if !is_loopback(host) {
            return Err(format!(
                "token_url {url} is plain http to another machine: the client secret would cross the network in clear text; use https://"
            ));
        }
        r
    } else {
        return Err(format!("token_url {url} must start with https://"));
    };
    if rest.split(['/', '?']).next().unwrap_or("").is_empty() {
        return Err(format!("token_url {url} names no host"));
    }
    Ok(())
}

/// The webhook must be https (plain http only to this machine); the message never
/// repeats the URL, whose path is its secret.
pub fn check_webhook_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err("[soc] webhook_url must start with https://".into());
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(
            "[soc] webhook_url has a user or password before the host: not supported (a webhook carries its token in the path)".into(),
        );
    }
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    };
    if host.is_empty() {
        return Err("[soc] webhook_url names no host".into());
    }
    if !tls && !is_loopback(host) {
        return Err(format!(
            "[soc] webhook_url is plain http to {host}: its token would cross the network in clear text; use https://"
        ));
    }
    Ok(())
}

/// Plain text only to this machine unless allowed; a `ca_file` must hold a certificate.
fn check_transport(
    section: &str,
    host: &str,
    security: Security,
    allow_plaintext_remote: bool,
    ca_file: Option<&Path>,
) -> Result<(), ConfigError> {
    if security == Security::None && !allow_plaintext_remote && !is_loopback(host) {
        return Err(ConfigError::Invalid(format!(
            "[{section}] security = \"none\" sends {what} in clear text to {host}, which is not this machine; use security = \"tls\"{or_starttls}, or set allow_plaintext_remote = true if the network is trusted",
            what = if section == "siem" { "the case events" } else { "the password and mail" },
            or_starttls = if section == "siem" { "" } else { " or \"starttls\"" }
        )));
    }
    if let Some(path) = ca_file {
        use rustls_pki_types::pem::PemObject;
        let pem = std::fs::read(path).map_err(|e| {
            ConfigError::Invalid(format!(
                "[{section}] ca_file {}: cannot read it: {e}",
                path.display()
            ))
        })?;
        let mut count = 0;
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
            cert.map_err(|e| {
                ConfigError::Invalid(format!(
                    "[{section}] ca_file {} is not valid PEM: {e}",
                    path.display()
                ))
            })?;
            count += 1;
        }
        if count == 0 {
            return Err(ConfigError::Invalid(format!(
                "[{section}] ca_file {} contains no certificate (expected PEM blocks \"-----BEGIN CERTIFICATE-----\"); point it at the CA that signed the server's certificate",
                path.display()
            )));
        }
    }
    Ok(())
}

/// An environment value as TOML: integers and booleans typed, lists as `[..]`, else a string.
fn env_value(v: &str) -> toml::Value {
    if let Ok(i) = v.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match v {
        "true" => return toml::Value::Boolean(true),
        "false" => return toml::Value::Boolean(false),
        _ => {}
    }
    if v.starts_with('[') {
        if let Ok(t) = format!("v = {v}").parse::<toml::Table>() {
            if let Some(val) = t.get("v") {
                return val.clone();
            }
        }
    }
    toml::Value::String(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_without_a_file() {
        let c = Config::from_toml_with_env("", "x", env(&[])).unwrap();
        assert_eq!(c.gateway.tracking_prefix, "SOC");
        assert!(c.imap.is_none());
        assert_eq!(c.database_url(), "sqlite://./data/gateway.db");
        assert_eq!(c.web.listen, "127.0.0.1:8080");
    }

    #[test]
    fn a_database_url_this_build_cannot_open_is_refused_not_taken_as_a_file() {
        let err = |url: &str| {
            Config::from_toml_with_env(&format!("[database]\nurl = \"{url}\"\n"), "x", env(&[]))
                .unwrap_err()
                .to_string()
        };
        let pg = err("postgres://igw:hunter2@127.0.0.1:15432/igw");
        assert!(pg.contains("PostgreSQL is not supported yet"), "{pg}");
        assert!(
            !pg.contains("hunter2") && pg.contains("igw:***@127.0.0.1"),
            "{pg}"
        );
        assert!(err("postgresql://db/igw").contains("PostgreSQL"));
        assert!(err("mysql://db/igw").contains("the scheme 'mysql:' is not supported"));
        for ok in [
            "",
            "sqlite://data/gw.db",
            "sqlite::memory:",
            "data/gw.db",
            "/var/lib/igw/gw.db",
        ] {
            Config::from_toml_with_env(&format!("[database]\nurl = \"{ok}\"\n"), "x", env(&[]))
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn a_siem_section_says_what_is_wrong_with_it() {
        let err = |text: &str| {
            Config::from_toml_with_env(text, "x", env(&[]))
                .unwrap_err()
                .to_string()
        };
        assert!(err("[siem]\n").contains("needs file"));
        assert!(err("[siem]\nsyslog = \"siem.example.org\"\n").contains("is not host:port"));
        assert!(
            err("[siem]\nsyslog = \"siem.example.org:514\"\nsecurity = \"none\"\n")
                .contains("sends the case events in clear text to siem.example.org")
        );
        assert!(err("[siem]\nfile = \"e.jsonl\"\nfacility = \"local9\"\n")
            .contains("is not a syslog facility"));
        assert!(err("[siem]\nsyslog = \"h:1\"\nsecurity = \"starttls\"\n").contains("RFC 5425"));
        let c = Config::from_toml_with_env(
            "[siem]\nsyslog = \"[::1]:6514\"\nfile = \"e.jsonl\"\n",
            "x",
            env(&[]),
        )
        .unwrap();
        let siem = c.siem.unwrap();
        assert_eq!(siem.collector(), Some(Ok(("::1".to_string(), 6514))));
        assert_eq!(siem.security, Security::Tls);
        assert_eq!(syslog_facility(&siem.facility), Some(16));
    }

    #[test]
    fn env_overrides_file_and_secrets_are_redacted() {
        let text = r#"
            [imap]
            host = "imap.example"
            username = "soc"
            password = "from-file"
        "#;
        let c = Config::from_toml_with_env(
            text,
            "x",
            env(&[
                ("IGW_IMAP__PASSWORD", "1234"),
                ("IGW_IMAP__PORT", "1993"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        let imap = c.imap.unwrap();
        assert_eq!(
            imap.password.as_ref().map(|p| p.expose_secret()),
            Some("1234")
        );
        assert_eq!(imap.port(), 1993);
        assert!(
            !format!("{imap:?}").contains("1234"),
            "password must not appear in Debug"
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = Config::from_toml_with_env("[gateway]\nadress = \"x\"", "f.toml", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("adress"), "{e}");
        let e = Config::from_toml_with_env("[gateway]\naddress = \"nope\"", "f.toml", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an email address"), "{e}");
        let e = Config::from_toml_with_env(
            "[imap]\nhost='h'\nusername='u'\npassword='p'\nsecurity='ssl'",
            "f.toml",
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("ssl"), "{e}");
    }

    #[test]
    fn the_default_tlp_is_amber_and_a_bad_one_is_named() {
        let c = Config::from_toml_with_env("", "x", env(&[])).unwrap();
        assert_eq!(c.sharing.default_tlp, crate::domain::Tlp::Amber);
        let c = Config::from_toml_with_env(
            "[sharing]\ndefault_tlp = \"amber+strict\"",
            "x",
            env(&[(
                "IGW_SHARING__IDENTITY_NAME",
                "EOTSS Security Operations Center",
            )]),
        )
        .unwrap();
        assert_eq!(c.sharing.default_tlp, crate::domain::Tlp::AmberStrict);
        assert_eq!(c.sharing.identity_name, "EOTSS Security Operations Center");
        let e =
            Config::from_toml_with_env("[sharing]\ndefault_tlp = \"purple\"", "f.toml", env(&[]))
                .unwrap_err()
                .to_string();
        assert!(e.contains("purple") && e.contains("amber+strict"), "{e}");
    }

    #[test]
    fn a_bad_environment_value_names_the_variable() {
        let e = Config::from_toml_with_env(
            "[smtp]\nhost = 'mail.example'",
            "gw.toml",
            env(&[("IGW_SMTP__PORT", "abc")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("IGW_SMTP__PORT"), "{e}");
        assert!(e.contains("[smtp] port"), "{e}");
        assert!(!e.contains("not valid TOML"), "{e}");
        // A bad value in the file itself is the file's, not an innocent variable's.
        let e = Config::from_toml_with_env(
            "[smtp]\nhost = 'mail.example'\nport = 'abc'",
            "gw.toml",
            env(&[("IGW_SMTP__TIMEOUT_SECS", "5")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("gw.toml"), "{e}");
        assert!(!e.contains("IGW_SMTP__TIMEOUT_SECS"), "{e}");
    }

    #[test]
    fn plain_text_to_another_host_needs_explicit_consent() {
        let smtp = |extra: &str| {
            Config::from_toml_with_env(
                &format!("[smtp]\nhost = 'mail.example'\nsecurity = 'none'\n{extra}"),
                "x",
                env(&[]),
            )
        };
        let e = smtp("").unwrap_err().to_string();
        assert!(e.contains("[smtp] security = \"none\""), "{e}");
        assert!(e.contains("allow_plaintext_remote"), "{e}");
        assert!(smtp("allow_plaintext_remote = true").is_ok());
        let imap = "[imap]\nhost = '10.1.2.3'\nsecurity = 'none'\nusername = 'u'\npassword = 'p'";
        let e = Config::from_toml_with_env(imap, "x", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("[imap] security"), "{e}");
        for host in ["127.0.0.1", "localhost", "::1"] {
            let t = format!("[smtp]\nhost = '{host}'\nsecurity = 'none'");
            assert!(
                Config::from_toml_with_env(&t, "x", env(&[])).is_ok(),
                "{host}"
            );
        }
        assert!(!is_loopback("localhost.example"));
        assert!(is_loopback("[::1]"));
    }

    #[test]
    fn a_ca_file_without_a_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let t = format!(
            "[smtp]\nhost = 'mail.example'\nsecurity = 'starttls'\nca_file = '{}'",
            empty.display()
        );
        let e = Config::from_toml_with_env(&t, "x", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("contains no certificate"), "{e}");
        assert!(e.contains("[smtp] ca_file"), "{e}");
        let missing = dir.path().join("missing.pem");
        let t = format!(
            "[imap]\nhost = 'h'\nusername = 'u'\npassword = 'p'\nca_file = '{}'",
            missing.display()
        );
        let e = Config::from_toml_with_env(&t, "x", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[imap] ca_file") && e.contains("cannot read"),
            "{e}"
        );
    }

    #[test]
    fn oauth2_settings_are_checked_and_copied_to_imap_and_smtp() {
        let imap =
            "[imap]\nhost = 'outlook.office365.com'\nusername = 'soc@mass.gov'\nauth = 'oauth2'\n";
        let smtp = "[smtp]\nhost = 'smtp.office365.com'\nsecurity = 'starttls'\nauth = 'oauth2'\nusername = 'soc@mass.gov'\n";
        let load = |extra: &str| {
            Config::from_toml_with_env(&format!("{imap}{smtp}{extra}"), "x", env(&[]))
        };
        let e = load("").unwrap_err().to_string();
        assert!(e.contains("needs an [oauth2] section"), "{e}");
        let e = load("[oauth2]\nclient_id = 'a'\ntenant = 't'")
            .unwrap_err()
            .to_string();
        assert!(e.contains("client_secret_file or client_secret_env"), "{e}");
        let e = load("[oauth2]\nclient_id = 'a'\ntoken_url = 'http://idp.example/token'\nclient_secret_env = 'S'\nscope = 's'")
            .unwrap_err()
            .to_string();
        assert!(e.contains("clear text"), "{e}");
        let e = load("[oauth2]\nclient_id = 'a'\ngrant = 'refresh_token'\ntoken_url = 'https://oauth2.googleapis.com/token'")
            .unwrap_err()
            .to_string();
        assert!(e.contains("refresh_token_file or refresh_token_env"), "{e}");
        let c = load(
            "[oauth2]\nclient_id = 'a'\ntenant = 'mass.onmicrosoft.com'\nclient_secret_env = 'S'",
        )
        .unwrap();
        let o = c.imap.as_ref().and_then(|i| i.oauth2.clone()).unwrap();
        assert_eq!(
            o.token_url().as_deref(),
            Some("https://login.microsoftonline.com/mass.onmicrosoft.com/oauth2/v2.0/token")
        );
        assert_eq!(
            o.scope().as_deref(),
            Some("https://outlook.office365.com/.default")
        );
        assert!(c.smtp.as_ref().is_some_and(|s| s.oauth2.is_some()));
        // Password login still needs its password.
        let e = Config::from_toml_with_env("[imap]\nhost = 'h'\nusername = 'u'", "x", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("[imap] password is missing"), "{e}");
    }

    #[test]
    fn env_lists_parse() {
        let c = Config::from_toml_with_env(
            "",
            "x",
            env(&[("IGW_GATEWAY__ALLOWED_DOMAINS", "[\"agency.test\"]")]),
        )
        .unwrap();
        assert_eq!(c.gateway.allowed_domains, vec!["agency.test"]);
    }
}
