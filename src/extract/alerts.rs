//! Forwarded alerts of security products (Microsoft Defender and Sentinel, CrowdStrike
//! Falcon, SentinelOne, Proofpoint TAP, Splunk, Palo Alto) and tickets of service desks
//! (ServiceNow, Jira, TOPdesk): their own fields give the times, hosts and the words
//! the category is read from; the forwarder's note stays the reporter's description.

use serde_json::Value;

use super::answers::normalize;
use super::fields::{Context, FieldValue, Fields, Source};
use super::when::{self, Role};

/// Products by the words their notifications carry (sender, subject or body).
const PRODUCTS: &[(&str, &[&str])] = &[
    (
        "Microsoft Defender",
        &[
            "microsoft defender",
            "365 defender",
            "defender for endpoint",
            "defender for office 365",
            "defender for identity",
            "defender for cloud",
            "defender-noreply@",
            "security.microsoft.com",
        ],
    ),
    (
        "Microsoft Entra ID",
        &[
            "microsoft entra",
            "entra id protection",
            "azure ad identity protection",
        ],
    ),
    (
        "Microsoft Sentinel",
        &["[sentinel]", "microsoft sentinel", "azure sentinel"],
    ),
    ("CrowdStrike Falcon", &["crowdstrike", "[falcon]"]),
    ("SentinelOne", &["sentinelone", "[s1]"]),
    (
        "Proofpoint TAP",
        &["proofpoint tap", "targeted attack protection"],
    ),
    (
        "Splunk",
        &["splunk alert", "splunk >", "@splunk", "splunk <"],
    ),
    ("Palo Alto", &["pan-os", "palo alto", "log type: threat"]),
    ("ServiceNow", &["service-now.com", "servicenow"]),
    ("Jira", &["atlassian.net", "(jira)"]),
    ("TOPdesk", &["topdesk"]),
];

/// Alert field labels → the incident field they give.
const ALERT_LABELS: &[(&str, &[&str])] = &[
    (
        "detected_at",
        &[
            "alert time",
            "detect time",
            "detection time",
            "detected",
            "identified time",
            "trigger time",
            "triggered",
            "generated time",
            "threat time",
            "created",
            "incident created",
            "opened",
            "call date",
            "time generated",
            "time of occurrence",
        ],
    ),
    (
        "occurred_at",
        &[
            "first activity",
            "first seen",
            "message time",
            "start time",
            "first event",
        ],
    ),
    (
        "systems_affected",
        &[
            "device",
            "device name",
            "host name",
            "hostname",
            "host",
            "endpoint",
            "computer",
            "computer name",
            "affected host",
            "affected device",
            "entities",
            "source address",
        ],
    ),
    (
        // Whose mailbox or account the alert is about (not an incident field: the
        // systems affected of a phish or a taken-over account, see `report`).
        "victim",
        &[
            "recipient",
            "recipients",
            "recipient address",
            "user",
            "user name",
            "username",
            "account",
            "account name",
            "affected user",
            "affected account",
            "impacted user",
            "user principal name",
            "upn",
            "mailbox",
            "caller",
        ],
    ),
    (
        "category_hint",
        &[
            "category",
            "classification",
            "threat name",
            "threat",
            "alert",
            "alert type",
            "tactic & technique",
            "threat/content name",
            "title",
            "short description",
            "brief description",
            "request type",
        ],
    ),
];

/// A security product's alert (not a ticket system's notice).
pub fn is_security_alert(product: &str) -> bool {
    !matches!(product, "ServiceNow" | "Jira" | "TOPdesk")
}

/// The product whose notification `text` (with its sender and subject) is, if any.
pub fn product(sender: Option<&str>, subject: Option<&str>, text: &str) -> Option<&'static str> {
    let hay = normalize(&format!(
        "{}\n{}\n{}",
        sender.unwrap_or(""),
        subject.unwrap_or(""),
        super::prefix_of(text, 4000)
    ));
    PRODUCTS
        .iter()
        .find(|(_, cues)| cues.iter().any(|c| hay.contains(c)))
        .map(|(p, _)| *p)
}

/// The incident field an alert's label gives, and the zone its times are written in
/// when the label names one ("Created (UTC)").
fn alert_label(label: &str) -> Option<(&'static str, Option<&'static str>)> {
    let l = normalize(label);
    let l = l.trim().trim_end_matches(':').trim();
    let (bare, zone) = match label_zone(l) {
        Some((bare, zone)) => (bare, Some(zone)),
        None => (l, None),
    };
    ALERT_LABELS
        .iter()
        .find(|(_, vs)| vs.contains(&bare))
        .map(|(f, _)| (*f, zone))
}

/// A label ending in the zone its times are written in: "Created (UTC)" gives
/// ("created", "UTC").
fn label_zone(label: &str) -> Option<(&str, &'static str)> {
    let (bare, zone) = label.trim().strip_suffix(')')?.rsplit_once('(')?;
    let zone = [
        "UTC", "GMT", "ET", "EST", "EDT", "CT", "CST", "CDT", "PT", "PST", "PDT",
    ]
    .into_iter()
    .find(|z| zone.trim().eq_ignore_ascii_case(z))?;
    Some((bare.trim(), zone))
}

/// A value read under a label naming `zone`, with the zone added when the value itself
/// names none ("2/11/2026 3:03 PM" under "Time (UTC)").
fn zoned(value: &str, zone: Option<&str>) -> String {
    let v = value.trim();
    match zone {
        Some(z) if !names_zone(v) => format!("{v} {z}"),
        _ => v.to_string(),
    }
}

/// The value names its zone: "…Z", "UTC", "EDT", "-04:00".
fn names_zone(v: &str) -> bool {
    let upper = v.to_ascii_uppercase();
    v.ends_with('Z')
        || [
            "UTC", "GMT", " ET", "EST", "EDT", " CT", "CST", "CDT", " PT", "PST", "PDT",
        ]
        .iter()
        .any(|z| upper.contains(z))
        || v.rsplit_once(['+', '-']).is_some_and(|(_, off)| {
            let d: String = off.chars().filter(|c| *c != ':').collect();
            d.len() == 4 && d.chars().all(|c| c.is_ascii_digit())
        })
}

/// What an alert's own fields say: times, hosts, and the words of its classification
/// (under `category_hint`, for the category rules; not an incident field).
pub fn alert_fields(text: &str, part: &str, product: &str, ctx: &Context<'_>) -> Fields {
    let lines: Vec<&str> = text.lines().collect();
    let mut f = Fields::new();
    let mut hints: Vec<String> = Vec::new();
    // The hosts and the people named, each with the line of its first value.
    let mut lists: std::collections::BTreeMap<&str, (Vec<Value>, Source)> =
        std::collections::BTreeMap::new();
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim().trim_start_matches(['>', ' ']);
        // "Label: value", "Label | value" (a table row), "Label<TAB>value" or a label
        // alone with its value below.
        let split = [" | ", "\t", ":"].iter().find_map(|sep| {
            line.split_once(sep)
                .and_then(|(l, v)| alert_label(l).map(|label| (label, v)))
        });
        let (field, value, at) = match split {
            Some(((field, zone), v)) if !v.trim().is_empty() => {
                (field, zoned(v.trim().trim_start_matches('|'), zone), i)
            }
            _ => {
                let Some((field, zone)) = alert_label(line) else {
                    continue;
                };
                let Some((j, next)) = super::body::next_text_line(&lines, i) else {
                    continue;
                };
                if j > i + 2 || next.len() > 200 || alert_label(next.trim()).is_some() {
                    continue;
                }
                (field, zoned(next, zone), j)
            }
        };
        let source = Source::at_line(part, at, lines.get(at).copied().unwrap_or(""));
        match field {
            "detected_at" | "occurred_at" => {
                let found = when::times_in(&value, ctx.date, false);
                if let Some(t) = found.iter().find(|t| t.role != Role::Meeting) {
                    f.entry(field.to_string()).or_insert(FieldValue {
                        value: Value::String(t.at.clone()),
                        source,
                    });
                }
            }
            // A PAN-OS log's "Device Name" is the firewall that logged it.
            "systems_affected"
                if product == "Palo Alto" && normalize(line).starts_with("device name") => {}
            "systems_affected" | "victim" if field != "victim" || value.len() < 120 => {
                let (items, _) = lists.entry(field).or_insert_with(|| (Vec::new(), source));
                let v = Value::String(value);
                if !items.contains(&v) && items.len() < 5 {
                    items.push(v);
                }
            }
            "victim" => {}
            _ => hints.push(value),
        }
    }
    for (field, (items, source)) in lists {
        f.insert(
            field.to_string(),
            FieldValue {
                value: Value::Array(items),
                source,
            },
        );
    }
    if !hints.is_empty() {
        f.insert(
            "category_hint".into(),
            FieldValue {
                value: Value::String(hints.join("\n")),
                source: Source {
                    message: None,
                    part: part.to_string(),
                    line: 0,
                    text: String::new(),
                },
            },
        );
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn ctx() -> Context<'static> {
        Context {
            date: DateTime::parse_from_rfc2822("Tue, 01 Dec 2026 09:40:00 -0500").ok(),
            sender: None,
            sender_name: None,
            agencies: &[],
        }
    }

    #[test]
    fn the_person_an_alert_names_and_a_firewalls_own_name() {
        let t = "Alert Type: Click Permitted\nRecipient: robin.achebe@mass.gov\n";
        let f = alert_fields(t, "alert", "Proofpoint TAP", &ctx());
        assert_eq!(
            f["victim"].value,
            serde_json::json!(["robin.achebe@mass.gov"])
        );
        let t = "Device Name: doi-pa-5450-01\nSource address: 10.72.3.58\n";
        let f = alert_fields(t, "alert", "Palo Alto", &ctx());
        assert_eq!(
            f["systems_affected"].value,
            serde_json::json!(["10.72.3.58"])
        );
    }

    #[test]
    fn defender_fields_laid_out_label_then_value() {
        let t = "Microsoft Defender\n\nSeverity\n\nHigh\n\nCategory\n\nExecution\n\nDevice\n\ndph-lab-ws-2231.dph.local\n\nFirst activity\n\n12/1/2026 2:09:41 PM UTC\n\nAlert time\n\n12/1/2026 2:14:03 PM UTC\n";
        assert_eq!(
            product(
                Some("Microsoft Defender <defender-noreply@microsoft.com>"),
                None,
                t
            ),
            Some("Microsoft Defender")
        );
        let f = alert_fields(t, "alert", "", &ctx());
        assert_eq!(f["detected_at"].value, "2026-12-01T09:14:03-05:00");
        assert_eq!(f["occurred_at"].value, "2026-12-01T09:09:41-05:00");
        assert_eq!(
            f["systems_affected"].value,
            serde_json::json!(["dph-lab-ws-2231.dph.local"])
        );
        assert!(f["category_hint"]
            .value
            .as_str()
            .unwrap_or("")
            .contains("Execution"));
    }

    #[test]
    fn a_zone_in_the_label_or_in_parentheses_is_the_values_zone() {
        // A Sentinel incident's table row, its label naming the zone.
        let t = "Incident | 18842\nCreated (UTC) | 2026-06-08T10:21:37Z\nFirst activity (UTC) | 2026-06-08 09:02:14\n";
        let f = alert_fields(t, "alert", "", &ctx());
        assert_eq!(f["detected_at"].value, "2026-06-08T06:21:37-04:00");
        assert_eq!(f["occurred_at"].value, "2026-06-08T05:02:14-04:00");
        // Defender for Office 365: the zone in parentheses after the time.
        let t = "Alert policy: User restricted from sending email\nTime of occurrence: 2/11/2026 3:03:12 PM (UTC)\n";
        let f = alert_fields(t, "alert", "", &ctx());
        assert_eq!(f["detected_at"].value, "2026-02-11T10:03:12-05:00");
    }

    #[test]
    fn falcon_and_palo_alto_lines() {
        let t = "Severity:            High\nHost name:           DOC-MCIC-WS114\nDetect time:         2026-06-17T10:52:18Z\n";
        let f = alert_fields(t, "alert", "", &ctx());
        assert_eq!(f["detected_at"].value, "2026-06-17T06:52:18-04:00");
        assert_eq!(
            f["systems_affected"].value,
            serde_json::json!(["DOC-MCIC-WS114"])
        );
        let t = "Log type: THREAT\nGenerated time: 2026/01/29 10:58:44\nCategory: command-and-control\n";
        let f = alert_fields(t, "alert", "", &ctx());
        assert_eq!(f["detected_at"].value, "2026-01-29T10:58:44-05:00");
        assert_eq!(
            product(None, Some("PAN-OS Threat Alert"), t),
            Some("Palo Alto")
        );
        assert_eq!(
            product(Some("jane@dor.state.ma.us"), Some("Phish"), "Click here"),
            None
        );
    }
}
