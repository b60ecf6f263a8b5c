//! The SOC's clocks on a case: time to triage (`[soc] triage_*_minutes` by
//! severity) and time to the next SCIO status update (the interval the periodic
//! updates use, `[updates] *_hours`). Pure: the caller gives the case, when its SCIO
//! thread last spoke and the time now, so the queue, the case page and the API show
//! the same figures.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::domain::{Severity, Status};
use crate::store::cases::CaseRow;
use crate::store::parse_ts;
use crate::store::queue::Cutoffs;

/// The clocks of one case at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timers {
    /// Seconds since the case was reported.
    pub age_secs: i64,
    /// When triage is due, while the case waits for it (`None`: triaged or closed).
    pub triage_due_at: Option<DateTime<Utc>>,
    pub triage_overdue: bool,
    /// When the next SCIO status update is due (`None`: no SCIO thread, or closed).
    pub update_due_at: Option<DateTime<Utc>>,
    pub update_overdue: bool,
}

/// The severity in force: the analyst's, else the suggested one.
pub fn effective_severity(case: &CaseRow) -> Option<Severity> {
    case.severity
        .as_deref()
        .or(case.severity_suggested.as_deref())
        .and_then(|s| s.parse().ok())
}

/// A case is triaged once an analyst has set its severity or assignee, or moved it
/// past `new`.
pub fn is_triaged(case: &CaseRow) -> bool {
    case.severity.is_some() || case.assignee.is_some() || case.status != Status::New
}

/// The clocks of `case` at `now`; `thread_last_spoke` is the time of the latest
/// message of its SCIO thread, as stored.
pub fn timers(
    config: &Config,
    case: &CaseRow,
    thread_last_spoke: Option<&str>,
    now: DateTime<Utc>,
) -> Timers {
    let severity = effective_severity(case);
    let open = !matches!(case.status, Status::Resolved | Status::Closed);
    let reported = parse_ts(&case.created_at);
    let triage_due_at = reported
        .filter(|_| open && !is_triaged(case))
        .map(|t| t + config.soc.triage_within(severity));
    let update_due_at = thread_last_spoke
        .and_then(parse_ts)
        .filter(|_| open)
        .map(|t| t + config.updates.interval(severity));
    Timers {
        age_secs: reported.map_or(0, |t| (now - t).num_seconds().max(0)),
        triage_overdue: triage_due_at.is_some_and(|d| d <= now),
        triage_due_at,
        update_overdue: update_due_at.is_some_and(|d| d <= now),
        update_due_at,
    }
}

/// The same clocks for the whole queue at `now`: the moments before which a case is
/// overdue, by severity, for the store's `overdue` view.
pub fn cutoffs(config: &Config, now: DateTime<Utc>) -> Cutoffs {
    let at = |d: chrono::Duration| crate::store::ts(now - d);
    let by = |f: &dyn Fn(Option<Severity>) -> chrono::Duration| {
        [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
        ]
        .map(|s| at(f(Some(s))))
    };
    Cutoffs {
        triage: by(&|s| config.soc.triage_within(s)),
        update: by(&|s| config.updates.interval(s)),
    }
}

/// "3 h 5 min", "2 d 4 h", "45 s": a span for a timer, to the two largest units.
pub fn span(secs: i64) -> String {
    let s = secs.unsigned_abs();
    let (d, h, m) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// "due in 3 h 5 min" or "overdue by 20 min".
pub fn due_text(due: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (due - now).num_seconds();
    if secs > 0 {
        format!("due in {}", span(secs))
    } else {
        format!("overdue by {}", span(secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(status: Status, severity: Option<&str>, suggested: Option<&str>) -> CaseRow {
        CaseRow {
            id: 1,
            tracking_id: "SOC-2026-000001".into(),
            status,
            severity: severity.map(Into::into),
            severity_suggested: suggested.map(Into::into),
            priority: None,
            category: None,
            agency: None,
            assignee: None,
            reporter_email: None,
            reporter_name: None,
            subject: String::new(),
            created_at: "2026-12-01T10:00:00.000Z".into(),
            updated_at: "2026-12-01T10:00:00.000Z".into(),
            reporter_undeliverable: false,
            needs_review: false,
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        parse_ts(s).unwrap()
    }

    #[test]
    fn an_untriaged_critical_case_is_overdue_after_its_minutes() {
        let config = Config::default();
        let c = case(Status::New, None, Some("critical"));
        let t = timers(&config, &c, None, at("2026-12-01T10:10:00.000Z"));
        assert_eq!(t.triage_due_at, Some(at("2026-12-01T10:15:00.000Z")));
        assert!(!t.triage_overdue);
        assert_eq!(t.update_due_at, None, "no SCIO thread, no update clock");
        let t = timers(&config, &c, None, at("2026-12-01T10:15:00.000Z"));
        assert!(t.triage_overdue);
        assert_eq!(t.age_secs, 900);
    }

    #[test]
    fn triage_stops_the_clock_and_the_update_runs_from_the_thread() {
        let config = Config::default();
        let mut c = case(Status::New, Some("high"), Some("low"));
        let now = at("2026-12-02T11:00:00.000Z");
        let t = timers(&config, &c, Some("2026-12-01T10:30:00.000Z"), now);
        assert_eq!(t.triage_due_at, None);
        // high: every 24 h from the thread's last message.
        assert_eq!(t.update_due_at, Some(at("2026-12-02T10:30:00.000Z")));
        assert!(t.update_overdue);
        c.status = Status::Closed;
        let t = timers(&config, &c, Some("2026-12-01T10:30:00.000Z"), now);
        assert_eq!((t.triage_due_at, t.update_due_at), (None, None));
    }

    #[test]
    fn spans_read_as_people_say_them() {
        assert_eq!(span(45), "45 s");
        assert_eq!(span(3_900), "1 h 5 min");
        assert_eq!(span(7_200), "2 h");
        assert_eq!(span(190_000), "2 d 4 h");
        let now = at("2026-12-01T10:00:00.000Z");
        assert_eq!(
            due_text(at("2026-12-01T10:20:00.000Z"), now),
            "due in 20 min"
        );
        assert_eq!(
            due_text(at("2026-12-01T09:40:00.000Z"), now),
            "overdue by 20 min"
        );
    }
}
