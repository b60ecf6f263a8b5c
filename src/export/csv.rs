//! The queue as CSV (RFC 4180): the columns the queue shows plus its timers. Subjects
//! come from attackers, so a cell that a spreadsheet would read as a formula gets a
//! leading apostrophe.

use chrono::{DateTime, Utc};

use crate::store::parse_ts;
use crate::store::sharing::TimedRow;

pub const HEADER: [&str; 16] = [
    "priority",
    "case",
    "status",
    "severity",
    "severity_suggested",
    "category",
    "agency",
    "subject",
    "missing",
    "assignee",
    "received_at",
    "age_hours",
    "last_reporter_message_at",
    "hours_since_reporter_message",
    "acknowledged_at",
    "minutes_to_ack",
];

/// One cell: defused when it starts like a formula, quoted when it holds a comma,
/// quote or line break (inner quotes doubled).
pub fn cell(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// Hours from `from` to `to`, one decimal; empty when either is unknown.
fn hours(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> String {
    match (from, to) {
        (Some(a), Some(b)) => format!("{:.1}", ((b - a).num_seconds().max(0) as f64) / 3600.0),
        _ => String::new(),
    }
}

fn minutes(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> String {
    match (from, to) {
        (Some(a), Some(b)) => (b - a).num_minutes().max(0).to_string(),
        _ => String::new(),
    }
}

/// The document: a header line, then one line per case, CRLF line ends.
pub fn queue(rows: &[TimedRow], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    push_line(&mut out, HEADER.iter().map(|h| h.to_string()));
    for r in rows {
        let c = &r.row.case;
        let created = parse_ts(&c.created_at);
        let last = r.last_reporter_message_at.as_deref().and_then(parse_ts);
        let ack = r.acknowledged_at.as_deref().and_then(parse_ts);
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        push_line(
            &mut out,
            [
                opt(&c.priority),
                c.tracking_id.clone(),
                c.status.to_string(),
                opt(&c.severity),
                opt(&c.severity_suggested),
                opt(&c.category),
                opt(&c.agency),
                c.subject.clone(),
                r.row.missing_count.to_string(),
                opt(&c.assignee),
                c.created_at.clone(),
                hours(created, Some(now)),
                opt(&r.last_reporter_message_at),
                hours(last, Some(now)),
                opt(&r.acknowledged_at),
                minutes(created, ack),
            ]
            .into_iter(),
        );
    }
    out
}

fn push_line(out: &mut String, cells: impl Iterator<Item = String>) {
    let line: Vec<String> = cells.map(|c| cell(&c)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_as_rfc_4180_says() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\r\nlines"), "\"two\r\nlines\"");
        assert_eq!(cell("one\nline"), "\"one\nline\"");
        assert_eq!(cell(""), "");
    }

    #[test]
    fn formula_cells_are_defused() {
        assert_eq!(
            cell("=HYPERLINK(\"http://evil.test\")"),
            "\"'=HYPERLINK(\"\"http://evil.test\"\")\""
        );
        assert_eq!(cell("+1+1"), "'+1+1");
        assert_eq!(cell("-2+3"), "'-2+3");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("\tcmd"), "'\tcmd");
        assert_eq!(cell("\r=1"), "\"'\r=1\"");
        // Only at the start: a formula sign inside is text already.
        assert_eq!(cell("a=b"), "a=b");
        assert_eq!(cell("RE: =cmd"), "RE: =cmd");
    }
}
