//! Sharing with partners: a case or the cases of a period as a STIX 2.1 bundle or MISP
//! events, and the queue as CSV. Pure rendering over what the store read; the audited
//! action that calls it is `actions::Actions::export`.
//!
//! Only indicators not marked as removed reach an export (the store leaves them out),
//! and the reporter's personal details never do: no free text from the report is
//! exported, descriptions are built from the case's structured fields, and an
//! indicator containing the reporter's address or phone number is left out.

pub mod csv;
pub mod misp;
pub mod stix;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{DomainError, Tlp, TrackingId};
use crate::store::queue::QueueFilter;
use crate::store::sharing::SharedCase;

/// What an export is made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Stix,
    Misp,
    Csv,
}

impl Format {
    pub fn as_str(&self) -> &'static str {
        match self {
            Format::Stix => "stix",
            Format::Misp => "misp",
            Format::Csv => "csv",
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            Format::Stix => "application/stix+json;version=2.1",
            Format::Misp => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    fn extension(&self) -> &'static str {
        match self {
            Format::Stix => "stix.json",
            Format::Misp => "misp.json",
            Format::Csv => "csv",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "stix" => Ok(Format::Stix),
            "misp" => Ok(Format::Misp),
            "csv" => Ok(Format::Csv),
            _ => Err(DomainError::Enum {
                what: "export format",
                value: s.to_string(),
                expected: "stix misp csv",
            }),
        }
    }
}

/// Which cases an export covers.
#[derive(Debug, Clone)]
pub enum Scope {
    Case(TrackingId),
    /// Cases opened in `[since, until)`.
    Opened {
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    /// The queue as filtered in the web UI (CSV).
    Queue(Box<QueueFilter>),
    /// The cases ticked in the queue (CSV).
    Selected(Vec<TrackingId>),
}

impl Scope {
    /// The cases opened from `since` to `until`: each a day (`2026-03-01`, the
    /// whole day included) or an RFC 3339 time.
    pub fn period(since: &str, until: &str) -> Result<Scope, String> {
        let since = instant(since, false)?;
        let until = instant(until, true)?;
        if until <= since {
            return Err("the period is empty: --until must come after --since".into());
        }
        Ok(Scope::Opened { since, until })
    }

    /// A file name for the download: `SOC-2026-000001.stix.json`.
    pub fn file_name(&self, format: Format) -> String {
        let stem = match self {
            Scope::Case(t) => t.to_string(),
            Scope::Opened { since, until } => format!(
                "cases-{}-to-{}",
                since.format("%Y%m%d"),
                until.format("%Y%m%d")
            ),
            Scope::Queue(_) => "queue".to_string(),
            Scope::Selected(_) => "selected-cases".to_string(),
        };
        format!("{stem}.{}", format.extension())
    }

    /// As the audit trail records it.
    pub fn describe(&self) -> serde_json::Value {
        match self {
            Scope::Case(t) => serde_json::json!({ "case": t.to_string() }),
            Scope::Opened { since, until } => serde_json::json!({
                "since": crate::store::ts(*since),
                "until": crate::store::ts(*until),
            }),
            Scope::Queue(f) => serde_json::json!({ "filter": f }),
            Scope::Selected(t) => serde_json::json!({
                "cases": t.iter().map(|t| t.to_string()).collect::<Vec<_>>()
            }),
        }
    }
}

/// A day's start (or, with `end`, the next day's start), or an RFC 3339 time.
fn instant(s: &str, end: bool) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let d = if end { d.succ_opt().unwrap_or(d) } else { d };
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("'{s}' is not a date (YYYY-MM-DD) or an RFC 3339 time"))
}

/// Who exports, under which default TLP.
#[derive(Debug, Clone)]
pub struct Sharer<'a> {
    /// The SOC's name (the STIX identity, the MISP creator organisation).
    pub identity: &'a str,
    pub default_tlp: Tlp,
}

impl Sharer<'_> {
    pub fn tlp(&self, c: &SharedCase) -> Tlp {
        c.tlp.unwrap_or(self.default_tlp)
    }

    /// The namespace of this SOC's deterministic ids: the same case and value give the
    /// same id in every export, so a partner's import dedupes; another SOC running the
    /// gateway (with the same tracking IDs) gets other ids.
    fn namespace(&self) -> Uuid {
        uuid5(GATEWAY_NAMESPACE, self.identity)
    }

    /// A deterministic id in this SOC's namespace over `parts`.
    fn id(&self, parts: &[&str]) -> Uuid {
        uuid5(self.namespace(), &parts.join("\u{1f}"))
    }
}

/// The root of every id the gateway derives: a fixed constant, never to change (every
/// id a partner holds would change with it).
const GATEWAY_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_4f0e_5a3d_5c61_9a8e_2d4b_7c90_e113);

/// RFC 4122 UUIDv5 (SHA-1) of `name` in `namespace`.
pub fn uuid5(namespace: Uuid, name: &str) -> Uuid {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(namespace.as_bytes());
    h.update(name.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes).into_uuid()
}

/// The reporter's personal details as they may appear in an indicator: address, name
/// and phone (from the case and from its extracted `reporter_*` fields), lower-cased.
fn personal_details(c: &SharedCase) -> Vec<String> {
    let mut out: Vec<String> = [&c.case.reporter_email, &c.case.reporter_name]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    if let Some(fields) = c.fields.as_object() {
        for (name, f) in fields {
            if name.starts_with("reporter") {
                if let Some(v) = f["value"].as_str() {
                    out.push(v.to_string());
                }
            }
        }
    }
    out.into_iter()
        .map(|s| s.trim().to_lowercase())
        // A short value ("Al") would strike out unrelated indicators.
        .filter(|s| s.chars().count() >= 5)
        .collect()
}

/// The case's indicators to share: `(kind, value)`, kinds as in [`crate::extract::iocs::Iocs`].
pub fn shareable(c: &SharedCase) -> Vec<(&'static str, &str)> {
    let personal = personal_details(c);
    c.iocs
        .pairs()
        .into_iter()
        .filter(|(_, v)| {
            let v = v.to_lowercase();
            !personal.iter().any(|p| v.contains(p.as_str()))
        })
        .collect()
}

/// The incident in one line, from structured fields only (never the subject or the
/// report's text, which may name people).
fn summary(c: &SharedCase) -> String {
    let category = c
        .case
        .category
        .as_deref()
        .map(label)
        .unwrap_or_else(|| "Unclassified".into());
    format!(
        "{} {category}{}",
        c.case.tracking_id,
        c.case
            .agency
            .as_deref()
            .map(|a| format!(" ({a})"))
            .unwrap_or_default()
    )
}

/// An aggregate description: category, agency, date, severity, status, counts.
fn description(c: &SharedCase, sharer: &Sharer<'_>, indicators: usize) -> String {
    let severity = c
        .case
        .severity
        .as_deref()
        .or(c.case.severity_suggested.as_deref())
        .unwrap_or("not assessed");
    format!(
        "{} incident reported to {}{} on {}; severity {severity}; status {}; {indicators} indicator(s) shared.",
        c.case
            .category
            .as_deref()
            .map(label)
            .unwrap_or_else(|| "Unclassified".into()),
        sharer.identity,
        c.case
            .agency
            .as_deref()
            .map(|a| format!(" by {a}"))
            .unwrap_or_default(),
        c.case.created_at.get(..10).unwrap_or(&c.case.created_at),
        c.case.status,
    )
}

/// "data_exposure" → "Data exposure".
fn label(s: &str) -> String {
    let t = s.replace('_', " ");
    let mut c = t.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Status;
    use crate::extract::iocs::Iocs;
    use crate::store::cases::CaseRow;

    /// A case whose report quoted the reporter's own address, signature and phone.
    fn case() -> SharedCase {
        SharedCase {
            case: CaseRow {
                id: 1,
                tracking_id: "SOC-2026-000007".into(),
                status: Status::Investigating,
                severity: Some("high".into()),
                severity_suggested: None,
                priority: None,
                category: Some("phishing".into()),
                agency: Some("Department of Revenue".into()),
                assignee: None,
                reporter_email: Some("Jane.Doe@dor.state.ma.us".into()),
                reporter_name: Some("Jane Doe".into()),
                subject: "Jane Doe +1 617 555 0142: phish".into(),
                created_at: "2026-03-10T13:45:00.000Z".into(),
                updated_at: "2026-03-10T14:00:00.000Z".into(),
                reporter_undeliverable: false,
                needs_review: false,
            },
            tlp: None,
            iocs: Iocs {
                emails: vec![
                    "jane.doe@dor.state.ma.us".into(),
                    "payroll@evil.test".into(),
                ],
                urls: vec![
                    "https://evil.test/login?u=jane.doe@dor.state.ma.us".into(),
                    "https://evil.test/login".into(),
                ],
                domains: vec!["evil.test".into()],
                ..Iocs::default()
            },
            fields: serde_json::json!({
                "reporter_phone": { "value": "+16175550142" },
                "summary": { "value": "Jane Doe got a phish" },
            }),
        }
    }

    #[test]
    fn indicators_naming_the_reporter_are_not_shared() {
        let c = case();
        let shared: Vec<&str> = shareable(&c).into_iter().map(|(_, v)| v).collect();
        assert_eq!(
            shared,
            vec!["evil.test", "https://evil.test/login", "payroll@evil.test"]
        );
    }

    #[test]
    fn no_export_names_the_reporter_or_quotes_the_subject() {
        let c = case();
        let s = Sharer {
            identity: "EOTSS Security Operations Center",
            default_tlp: Tlp::Amber,
        };
        let docs = [
            stix::bundle(&s, std::slice::from_ref(&c)).to_string(),
            misp::event(&s, &c).to_string(),
        ];
        for doc in docs {
            let doc = doc.to_lowercase();
            for p in ["jane.doe", "jane doe", "+16175550142", "617 555", "phish\""] {
                assert!(!doc.contains(p), "{p} in {doc}");
            }
            assert!(doc.contains("payroll@evil.test"));
        }
    }
}
