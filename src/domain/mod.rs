//! Pure domain types: valid by construction, no I/O.

pub mod fields;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// At most `max` bytes of `s` from its start, cut at a character boundary.
pub fn prefix_of(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// At most `max` bytes of `s` from its end, cut at a character boundary.
pub fn suffix_of(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Why a value could not be turned into a domain type.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DomainError {
    #[error("'{0}' is not a tracking ID (expected PREFIX-YYYY-NNNNNN, e.g. SOC-2026-000123)")]
    TrackingId(String),
    #[error("'{0}' is not an email address")]
    Address(String),
    #[error(
        "'{0}' is not a tag: use 1 to 40 letters, digits, '-', '_', '.' or ':' (spaces become '-')"
    )]
    Tag(String),
    #[error("'{value}' is not a valid {what} (expected one of: {expected})")]
    Enum {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// A tag analysts put on cases: lower case, `[a-z0-9._:-]`, 1 to 40 characters
/// ("Invoice campaign" is read as `invoice-campaign`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Tag(String);

impl Tag {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Tag {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t: String = s
            .split_whitespace()
            .collect::<Vec<_>>()
            .join("-")
            .to_lowercase();
        let ok = (1..=40).contains(&t.chars().count())
            && t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.:".contains(c));
        if ok {
            Ok(Tag(t))
        } else {
            Err(DomainError::Tag(s.chars().take(60).collect()))
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// A case's public identifier, `PREFIX-YYYY-NNNNNN`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrackingId {
    prefix: String,
    year: i32,
    seq: i64,
}

impl TrackingId {
    /// Builds an ID from its parts; the prefix must be 1–16 ASCII letters/digits.
    pub fn new(prefix: &str, year: i32, seq: i64) -> Result<Self, DomainError> {
        let ok_prefix = !prefix.is_empty()
            && prefix.len() <= 16
            && prefix.chars().all(|c| c.is_ascii_alphanumeric());
        if !ok_prefix || !(1000..=9999).contains(&year) || !(1..=999_999).contains(&seq) {
            return Err(DomainError::TrackingId(format!("{prefix}-{year}-{seq}")));
        }
        Ok(Self {
            prefix: prefix.to_ascii_uppercase(),
            year,
            seq,
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn year(&self) -> i32 {
        self.year
    }

    pub fn seq(&self) -> i64 {
        self.seq
    }

    /// The subject tag, `[SOC-2026-000123]`.
    pub fn tag(&self) -> String {
        format!("[{self}]")
    }
}

impl fmt::Display for TrackingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:04}-{:06}", self.prefix, self.year, self.seq)
    }
}

impl FromStr for TrackingId {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DomainError::TrackingId(s.to_string());
        let s = s.trim().trim_start_matches('[').trim_end_matches(']');
        let mut parts = s.rsplitn(3, '-');
        let seq = parts.next().ok_or_else(err)?;
        let year = parts.next().ok_or_else(err)?;
        let prefix = parts.next().ok_or_else(err)?;
        if seq.len() != 6 || year.len() != 4 {
            return Err(err());
        }
        let seq: i64 = seq.parse().map_err(|_| err())?;
        let year: i32 = year.parse().map_err(|_| err())?;
        Self::new(prefix, year, seq).map_err(|_| err())
    }
}

impl TryFrom<String> for TrackingId {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<TrackingId> for String {
    fn from(t: TrackingId) -> String {
        t.to_string()
    }
}

/// A lower-cased `local@domain` address (display names live elsewhere).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Accepts `local@domain` with a dotted or single-label domain; strips angle brackets.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let t = s
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        let err = || DomainError::Address(s.to_string());
        let (local, domain) = t.rsplit_once('@').ok_or_else(err)?;
        let ok_local = !local.is_empty()
            && local.len() <= 64
            && !local
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c));
        let ok_domain = !domain.is_empty()
            && domain.len() <= 253
            && domain
                .split('.')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'));
        if !ok_local || !ok_domain {
            return Err(err());
        }
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map(|(l, _)| l).unwrap_or("")
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }

    /// True when the domain equals `domain` or is a subdomain of it.
    pub fn in_domain(&self, domain: &str) -> bool {
        let d = self.domain();
        let want = domain.trim().trim_start_matches('.').to_lowercase();
        d == want || d.ends_with(&format!(".{want}"))
    }

    /// Same mailbox, ignoring case of the local part too (practical for matching senders).
    pub fn same_mailbox(&self, other: &EmailAddress) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }

    /// False when the local part carries source routing a relay may follow instead of
    /// the domain: `carl%outside.test@agency.test` (the "percent hack"),
    /// `outside.test!carl@agency.test` (a UUCP bang path), or a quoted local part
    /// (`"carl@outside.test"@agency.test`). The domain check cannot vouch for such an
    /// address, so the disclosure rule holds mail to it for an analyst.
    pub fn is_plainly_routable(&self) -> bool {
        self.routing_concern().is_none()
    }

    /// Why the address is not plainly routable (see [`Self::is_plainly_routable`]).
    pub fn routing_concern(&self) -> Option<&'static str> {
        let local = self.local_part();
        if local.contains('%') {
            Some("a '%' in the local part (a relay may route it to another domain)")
        } else if local.contains('!') {
            Some("a '!' in the local part (a bang path a relay may route elsewhere)")
        } else if local.contains('"') || local.contains('\\') {
            Some("a quoted local part")
        } else {
            None
        }
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<EmailAddress> for String {
    fn from(a: EmailAddress) -> String {
        a.0
    }
}

/// Every `[PREFIX-YYYY-NNNNNN]` tag in a subject, in order.
pub fn subject_tags(subject: &str, prefix: &str) -> Vec<TrackingId> {
    let mut out = Vec::new();
    let mut rest = subject;
    while let Some(start) = rest.find('[') {
        let after = &rest[start + 1..];
        let Some(end) = after.find(']') else { break };
        let inner = &after[..end];
        if let Ok(t) = inner.parse::<TrackingId>() {
            if t.prefix().eq_ignore_ascii_case(prefix) && !out.contains(&t) {
                out.push(t);
            }
        }
        rest = &after[end..];
    }
    out
}

/// Declares a string-backed enum with `as_str`, `FromStr`, `ALL`, and serde and sqlx
/// (stored as TEXT) in snake_case.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
        #[serde(rename_all = "snake_case")]
        #[sqlx(type_name = "TEXT", rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(DomainError::Enum {
                        what: $what,
                        value: s.to_string(),
                        expected: concat!($($text, " "),+),
                    }),
                }
            }
        }
    };
}

string_enum!(
    /// Where a case stands in its lifecycle.
    Status, "status", {
        New => "new",
        Triage => "triage",
        Investigating => "investigating",
        Contained => "contained",
        Resolved => "resolved",
        Closed => "closed",
        Reopened => "reopened",
    }
);

string_enum!(
    /// How bad an incident is.
    Severity, "severity", {
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
);

impl Severity {
    /// Low 0 … critical 3: for "at or above" comparisons.
    pub fn rank(&self) -> usize {
        Self::ALL.iter().position(|s| s == self).unwrap_or(0)
    }
}

string_enum!(
    /// Facts about a case that trigger escalation notices.
    Flag, "flag", {
        MajorIncident => "major_incident",
        PersonalInformation => "personal_information",
        LawEnforcementContacted => "law_enforcement_contacted",
        ExternalCommunications => "external_communications",
    }
);

impl Status {
    /// Resolved and closed cases get no periodic updates or reminders.
    pub fn is_open(&self) -> bool {
        !matches!(self, Status::Resolved | Status::Closed)
    }

    /// Whether an analyst may move a case from `self` to `to`. Any forward or backward
    /// step is allowed between open states (analysts correct mistakes); a resolved or
    /// closed case comes back only through `reopened`, and only such a case can be
    /// reopened.
    pub fn can_move_to(&self, to: Status) -> Result<(), String> {
        if *self == to {
            return Err(format!("the case is already {to}"));
        }
        match (self, to) {
            (Status::Resolved | Status::Closed, Status::Reopened) => Ok(()),
            (Status::Resolved, Status::Closed) => Ok(()),
            (Status::Resolved | Status::Closed, _) => Err(format!(
                "a {self} case must be reopened first (set status reopened)"
            )),
            (_, Status::Reopened) => Err(format!(
                "only a resolved or closed case can be reopened; this one is {self}"
            )),
            _ => Ok(()),
        }
    }
}

string_enum!(
    /// How urgent: p1 (act now) to p4 (routine).
    Priority, "priority", {
        P1 => "p1",
        P2 => "p2",
        P3 => "p3",
        P4 => "p4",
    }
);

string_enum!(
    /// What an inbound message is, decided before any case logic.
    MessageKind, "message kind", {
        Report => "report",
        Reply => "reply",
        AutoReply => "auto_reply",
        Bounce => "bounce",
        Bulk => "bulk",
        Unparseable => "unparseable",
    }
);

string_enum!(
    /// State of an outbound message in the outbox.
    OutboxStatus, "outbox status", {
        Pending => "pending",
        Sent => "sent",
        Failed => "failed",
        Held => "held",
        Dropped => "dropped",
    }
);

string_enum!(
    /// What an outbound message is: an automatic answer to the reporter, or a notice.
    OutboxKind, "outbox kind", {
        Ack => "ack",
        Followup => "followup",
        Reminder => "reminder",
        Receipt => "receipt",
        ScioNew => "scio_new",
        ScioUpdate => "scio_update",
        ScioCopy => "scio_copy",
        ScioCampaign => "scio_campaign",
        Escalation => "escalation",
        SocNotice => "soc_notice",
        TrendsReport => "trends_report",
        Closure => "closure",
        MergeNotice => "merge_notice",
        Webhook => "webhook",
    }
);

string_enum!(
    /// What an entry in a case's history records. Stored as its text; new kinds are
    /// added here, so every writer and reader agrees on the spelling.
    EventKind, "event kind", {
        CaseOpened => "case_opened",
        CorrespondenceReceived => "correspondence_received",
        UnverifiedCorrespondence => "unverified_correspondence",
        AutoReplyReceived => "auto_reply_received",
        BounceReceived => "bounce_received",
        ReporterUndeliverable => "reporter_undeliverable",
        SenderNotAuthenticated => "sender_not_authenticated",
        FieldChanged => "field_changed",
        FieldUpdateNotApplied => "field_update_not_applied",
        StatusChanged => "status_changed",
        SeverityChanged => "severity_changed",
        PriorityChanged => "priority_changed",
        AssigneeChanged => "assignee_changed",
        FlagSet => "flag_set",
        FlagCleared => "flag_cleared",
        MajorIncidentSuggested => "major_incident_suggested",
        NoteAdded => "note_added",
        CaseLinked => "case_linked",
        CaseMerged => "case_merged",
        MergedInto => "merged_into",
        MergedFrom => "merged_from",
        AckQueued => "ack_queued",
        FollowupQueued => "followup_queued",
        ReminderQueued => "reminder_queued",
        ReceiptQueued => "receipt_queued",
        AckSuppressed => "ack_suppressed",
        ScioUpdateQueued => "scio_update_queued",
        ScioCopyQueued => "scio_copy_queued",
        ScioCampaignQueued => "scio_campaign_queued",
        CampaignReportAdded => "campaign_report_added",
        CampaignAnswerSet => "campaign_answer_set",
        ReportSplitOut => "report_split_out",
        SplitFrom => "split_from",
        ScioUnrouted => "scio_unrouted",
        ScioNoticeRateLimited => "scio_notice_rate_limited",
        EscalationQueued => "escalation_queued",
        EscalationUnrouted => "escalation_unrouted",
        SocNoticeQueued => "soc_notice_queued",
        SocNoticeUnrouted => "soc_notice_unrouted",
        NotificationFailed => "notification_failed",
        OutboundHeld => "outbound_held",
        OutboundReleased => "outbound_released",
        OutboundDropped => "outbound_dropped",
        OutboundSent => "outbound_sent",
        OutboundFailed => "outbound_failed",
        OutboundPartlyRefused => "outbound_partly_refused",
        OutboundConfirmed => "outbound_confirmed",
        IndicatorRemoved => "indicator_removed",
        IndicatorRestored => "indicator_restored",
        TlpChanged => "tlp_changed",
        CaseExported => "case_exported",
        CaseTriaged => "case_triaged",
        CaseClosed => "case_closed",
        ReviewCleared => "review_cleared",
        TagAdded => "tag_added",
        TagRemoved => "tag_removed",
        ClosureQueued => "closure_queued",
        MergeNoticeQueued => "merge_notice_queued",
        OpenedFromQuarantine => "opened_from_quarantine",
        IndicatorAdded => "indicator_added",
        TriageUndone => "triage_undone",
        WebhookQueued => "webhook_queued",
    }
);

/// The Traffic Light Protocol 2.0 label a case is shared under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Tlp {
    Clear,
    Green,
    Amber,
    AmberStrict,
    Red,
}

impl Tlp {
    pub const ALL: &'static [Tlp] = &[
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    /// As TLP 2.0 writes it, lower case: `amber+strict`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Tlp {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let t = t.strip_prefix("tlp:").unwrap_or(&t);
        Tlp::ALL
            .iter()
            .copied()
            .find(|l| l.as_str() == t || (t == "white" && *l == Tlp::Clear))
            .ok_or_else(|| DomainError::Enum {
                what: "TLP",
                value: s.to_string(),
                expected: "clear green amber amber+strict red",
            })
    }
}

impl TryFrom<String> for Tlp {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Tlp> for String {
    fn from(t: Tlp) -> String {
        t.as_str().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_lower_case_words_joined_or_refused() {
        let t = |s: &str| s.parse::<Tag>().map(|t| t.to_string());
        assert_eq!(t("  Invoice   Campaign ").unwrap(), "invoice-campaign");
        assert_eq!(t("vendor:crestline").unwrap(), "vendor:crestline");
        assert_eq!(t("cve-2026.1_x").unwrap(), "cve-2026.1_x");
        for bad in [
            "",
            "   ",
            "<script>",
            "a/b",
            "x".repeat(41).as_str(),
            "é",
            "a\u{0}b",
        ] {
            assert!(t(bad).is_err(), "{bad:?}");
        }
        assert!(t(&"x".repeat(40)).is_ok());
    }

    #[test]
    fn finds_tags_in_subjects() {
        let t = subject_tags(
            "RE: [SOC-2026-000123] Received: x [SOC-2026-000124] [OTHER-2026-000001]",
            "SOC",
        );
        let s: Vec<String> = t.iter().map(|t| t.to_string()).collect();
        assert_eq!(s, vec!["SOC-2026-000123", "SOC-2026-000124"]);
        assert!(subject_tags("[SOC-2026-12]", "SOC").is_empty());
        assert!(subject_tags("no tags [", "SOC").is_empty());
    }

    #[test]
    fn tracking_id_round_trips_and_pads() {
        let id = TrackingId::new("soc", 2026, 123).unwrap();
        assert_eq!(id.to_string(), "SOC-2026-000123");
        assert_eq!(id.tag(), "[SOC-2026-000123]");
        assert_eq!("SOC-2026-000123".parse::<TrackingId>().unwrap(), id);
        assert_eq!("[SOC-2026-000123]".parse::<TrackingId>().unwrap(), id);
    }

    #[test]
    fn tracking_id_rejects_malformed() {
        for bad in [
            "SOC-26-000123",
            "SOC-2026-123",
            "-2026-000123",
            "SOC-2026-00012x",
            "SOC 2026 000123",
        ] {
            assert!(bad.parse::<TrackingId>().is_err(), "{bad}");
        }
        assert!(TrackingId::new("SOC", 2026, 0).is_err());
        assert!(TrackingId::new("SOC", 2026, 1_000_000).is_err());
    }

    #[test]
    fn address_parsing_and_domains() {
        let a = EmailAddress::parse("<Jane.Doe@DOR.State.MA.US>").unwrap();
        assert_eq!(a.as_str(), "Jane.Doe@dor.state.ma.us");
        assert!(a.in_domain("state.ma.us"));
        assert!(a.in_domain("dor.state.ma.us"));
        assert!(!a.in_domain("ma.us.evil.com"));
        assert!(EmailAddress::parse("xstate.ma.us").is_err());
        assert!(EmailAddress::parse("a b@c.d").is_err());
        assert!(EmailAddress::parse("a@").is_err());
        assert!(EmailAddress::parse("a@b..c").is_err());
    }

    #[test]
    fn source_routed_addresses_are_not_plainly_routable() {
        let ok = EmailAddress::parse("carl.smith+soc@agency.test").unwrap();
        assert!(ok.is_plainly_routable());
        for bad in [
            "carl%outside.test@agency.test",
            "outside.test!carl@agency.test",
            "carl\\@outside.test@agency.test",
        ] {
            let a = EmailAddress::parse(bad).unwrap_or_else(|e| panic!("{bad}: {e}"));
            assert!(!a.is_plainly_routable(), "{bad}");
            assert!(a.routing_concern().is_some(), "{bad}");
        }
        // A quoted local part is not even accepted as an address.
        assert!(EmailAddress::parse("\"carl@outside.test\"@agency.test").is_err());
    }

    #[test]
    fn status_moves() {
        use Status::*;
        assert!(New.can_move_to(Investigating).is_ok());
        assert!(Contained.can_move_to(Triage).is_ok());
        assert!(Resolved.can_move_to(Closed).is_ok());
        assert!(Closed.can_move_to(Reopened).is_ok());
        assert!(Reopened.can_move_to(Investigating).is_ok());
        assert!(Closed
            .can_move_to(Investigating)
            .unwrap_err()
            .contains("reopened first"));
        assert!(New.can_move_to(Reopened).is_err());
        assert!(Triage
            .can_move_to(Triage)
            .unwrap_err()
            .contains("already triage"));
        assert!(!Resolved.is_open() && Reopened.is_open());
    }

    #[test]
    fn enums_parse_case_insensitively() {
        assert_eq!("HIGH".parse::<Severity>().unwrap(), Severity::High);
        assert_eq!(
            "auto_reply".parse::<MessageKind>().unwrap(),
            MessageKind::AutoReply
        );
        let e = "urgent".parse::<Severity>().unwrap_err();
        assert!(e.to_string().contains("low medium high critical"));
    }
}
