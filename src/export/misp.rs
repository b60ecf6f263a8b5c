//! MISP events: one `Event` per case with its TLP as a tag and its shareable
//! indicators as attributes (MISP's core format, as `pymisp.MISPEvent().load` reads).

use serde_json::{json, Value};

use super::{description, shareable, summary, Sharer};
use crate::domain::Tlp;
use crate::store::sharing::SharedCase;

/// The MISP attribute type and category of an indicator kind.
fn attribute_type(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "ipv4" | "ipv6" => ("ip-dst", "Network activity"),
        "domains" => ("domain", "Network activity"),
        "urls" => ("url", "Network activity"),
        "emails" => ("email-src", "Payload delivery"),
        "md5" => ("md5", "Payload delivery"),
        "sha1" => ("sha1", "Payload delivery"),
        "sha256" => ("sha256", "Payload delivery"),
        _ => ("vulnerability", "External analysis"),
    }
}

/// 1 high … 4 undefined.
fn threat_level(c: &SharedCase) -> &'static str {
    match c
        .case
        .severity
        .as_deref()
        .or(c.case.severity_suggested.as_deref())
    {
        Some("critical" | "high") => "1",
        Some("medium") => "2",
        Some("low") => "3",
        _ => "4",
    }
}

/// 0 initial, 1 ongoing, 2 completed.
fn analysis(c: &SharedCase) -> &'static str {
    match c.case.status.as_str() {
        "new" | "triage" => "0",
        "resolved" | "closed" => "2",
        _ => "1",
    }
}

/// MISP distribution from the TLP: 0 this organisation only, 1 this community,
/// 2 connected communities, 3 all communities.
fn distribution(t: Tlp) -> &'static str {
    match t {
        Tlp::Red | Tlp::AmberStrict => "0",
        Tlp::Amber => "1",
        Tlp::Green => "2",
        Tlp::Clear => "3",
    }
}

fn unix(ts: &str) -> String {
    crate::store::parse_ts(ts)
        .map(|t| t.timestamp().to_string())
        .unwrap_or_else(|| "0".into())
}

/// One case as a MISP event (`{"Event": {...}}`).
pub fn event(s: &Sharer<'_>, c: &SharedCase) -> Value {
    let tid = c.case.tracking_id.as_str();
    let tlp = s.tlp(c);
    let timestamp = unix(c.case.updated_at.as_str().max(c.case.created_at.as_str()));
    let indicators = shareable(c);
    let attributes: Vec<Value> = indicators
        .iter()
        .map(|(kind, value)| {
            let (ty, category) = attribute_type(kind);
            json!({
                "uuid": s.id(&["misp-attribute", tid, kind, value]).to_string(),
                "type": ty,
                "category": category,
                "value": value,
                // Every exported indicator is one an analyst left in (not removed); a
                // CVE is context, not something to detect on (MISP's own default).
                "to_ids": ty != "vulnerability",
                "distribution": "5",
                "timestamp": timestamp,
                "comment": format!("Seen in {tid}"),
            })
        })
        .collect();
    json!({
        "Event": {
            "uuid": s.id(&["misp-event", tid]).to_string(),
            "info": format!("{}: {}", summary(c), description(c, s, indicators.len())),
            "date": c.case.created_at.get(..10).unwrap_or("1970-01-01"),
            "threat_level_id": threat_level(c),
            "analysis": analysis(c),
            "distribution": distribution(tlp),
            "published": false,
            "timestamp": timestamp,
            "Orgc": { "name": s.identity },
            "Tag": [{ "name": format!("tlp:{}", tlp.as_str()) }],
            "Attribute": attributes,
        }
    })
}

/// One case: its event; several: a JSON array of events (MISP's `events/index` shape).
pub fn events(s: &Sharer<'_>, cases: &[SharedCase], one: bool) -> Value {
    match cases {
        [c] if one => event(s, c),
        _ => Value::Array(cases.iter().map(|c| event(s, c)).collect()),
    }
}
