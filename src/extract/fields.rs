//! Field extraction from the reporter's own words: the fill-in block first (labels
//! with variants), then free text. Every value keeps the line it came from.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Weekday};
use chrono_tz::America::New_York;
use regex::Regex;

use serde_json::Value;

pub use crate::domain::fields::{AgencyEntry, FieldValue, Fields, Source};

/// Inputs besides the text.
pub struct Context<'a> {
    /// The message's Date (relative times resolve against it, in America/New_York).
    pub date: Option<DateTime<FixedOffset>>,
    pub sender: Option<&'a str>,
    pub sender_name: Option<&'a str>,
    pub agencies: &'a [AgencyEntry],
}

/// Labels of the fill-in block and their variants → field.
const LABELS: &[(&str, &[&str])] = &[
    (
        "agency",
        &[
            "agency",
            "organization",
            "organisation",
            "department",
            "agency name",
            "reporting agency",
        ],
    ),
    (
        "reporter_phone",
        &[
            "phone",
            "contact phone",
            "phone number",
            "callback number",
            "call back number",
            "cell",
            "telephone",
            "contact number",
        ],
    ),
    (
        "detected_at",
        &[
            "detected at",
            "time detected",
            "date and time detected",
            "when detected",
            "discovered",
            "detected",
            "date/time detected",
        ],
    ),
    (
        "occurred_at",
        &[
            "occurred at",
            "start time",
            "when did it start",
            "occurred",
            "began",
        ],
    ),
    (
        "systems_affected",
        &[
            "systems affected",
            "affected systems",
            "systems",
            "assets affected",
            "system affected",
        ],
    ),
    ("users_affected", &["users affected", "number of users"]),
    (
        "personal_information",
        &[
            "personal information involved",
            "personal information involved (yes/no/unknown)",
            "pii involved",
            "pii",
            "sensitive data involved",
            "personal information",
        ],
    ),
    (
        "records_affected",
        &["records affected", "number of records"],
    ),
    (
        "law_enforcement_contacted",
        &[
            "law enforcement contacted",
            "law enforcement contacted (yes/no/unknown)",
            "police contacted",
            "le contacted",
            "law enforcement",
        ],
    ),
    ("law_enforcement_agency", &["law enforcement agency"]),
    (
        "external_communications",
        &[
            "external communications",
            "external communications (yes/no/unknown)",
            "external comms",
            "communicated externally",
            "press or public communication",
        ],
    ),
    (
        "actions_taken",
        &[
            "actions taken",
            "containment actions",
            "steps taken",
            "actions so far",
            "actions",
        ],
    ),
    ("third_party", &["third party", "vendor involved", "vendor"]),
    ("functional_impact", &["functional impact", "impact"]),
    ("is_ongoing", &["ongoing", "is it ongoing", "still ongoing"]),
];

/// The fill-in block, in order, with the line the acknowledgement prints.
const BLOCK: &[(&str, &str, &str)] = &[
    (
        "agency",
        "Agency:",
        "so we route the case to your secretariat's CIO",
    ),
    (
        "reporter_phone",
        "Phone:",
        "so an analyst can call you if it gets worse",
    ),
    (
        "detected_at",
        "Detected at:",
        "the clock for notification deadlines starts here",
    ),
    (
        "systems_affected",
        "Systems affected:",
        "tells us what to contain and whom else to warn",
    ),
    (
        "personal_information",
        "Personal information involved (yes/no/unknown):",
        "decides breach notification under M.G.L. c. 93H",
    ),
    (
        "law_enforcement_contacted",
        "Law enforcement contacted (yes/no/unknown):",
        "the SOC coordinates every contact with police",
    ),
    (
        "external_communications",
        "External communications (yes/no/unknown):",
        "nothing may go to the public without the SOC knowing",
    ),
    (
        "actions_taken",
        "Actions taken:",
        "so we do not undo or repeat your containment",
    ),
];

/// The fill-in block lines for the missing fields, in the order of incident-fields.md.
pub fn fill_in_block(missing: &[&str]) -> String {
    BLOCK
        .iter()
        .filter(|(f, _, _)| missing.contains(f))
        .map(|(_, label, _)| format!("{label}\n"))
        .collect()
}

/// Why a field matters, in one line (printed beside the block).
pub fn why_it_matters(field: &str) -> &'static str {
    BLOCK
        .iter()
        .find(|(f, _, _)| *f == field)
        .map(|(_, _, why)| *why)
        .unwrap_or("")
}

/// Built-in agencies (shared/data/ma-agencies.csv), used when no directory is configured.
const BUILTIN: &[(&str, &str)] = &[
    ("Executive Office for Administration and Finance", "ANF"),
    ("Department of Revenue", "DOR"),
    ("Office of the Comptroller", "CTR"),
    ("Human Resources Division", "HRD"),
    (
        "Division of Capital Asset Management and Maintenance",
        "DCAMM",
    ),
    ("Operational Services Division", "OSD"),
    (
        "Executive Office of Technology Services and Security",
        "EOTSS",
    ),
    ("Executive Office of Health and Human Services", "EOHHS"),
    ("Department of Public Health", "DPH"),
    ("Department of Mental Health", "DMH"),
    ("Department of Children and Families", "DCF"),
    ("Department of Transitional Assistance", "DTA"),
    ("Department of Developmental Services", "DDS"),
    ("Department of Youth Services", "DYS"),
    ("MassHealth", "MassHealth"),
    ("Massachusetts Rehabilitation Commission", "MRC"),
    ("Massachusetts Commission for the Blind", "MCB"),
    ("Department of Veterans' Services", "DVS"),
    ("Executive Office of Public Safety and Security", "EOPSS"),
    ("Massachusetts State Police", "MSP"),
    ("Department of Correction", "DOC"),
    ("Department of Fire Services", "DFS"),
    ("Massachusetts Emergency Management Agency", "MEMA"),
    (
        "Executive Office of Energy and Environmental Affairs",
        "EEA",
    ),
    ("Department of Environmental Protection", "MassDEP"),
    ("Department of Conservation and Recreation", "DCR"),
    ("Department of Fish and Game", "DFG"),
    ("Department of Agricultural Resources", "MDAR"),
    ("Department of Energy Resources", "DOER"),
    ("Department of Public Utilities", "DPU"),
    ("Massachusetts Department of Transportation", "MassDOT"),
    ("Registry of Motor Vehicles", "RMV"),
    ("Executive Office of Education", "EOE"),
    ("Department of Elementary and Secondary Education", "DESE"),
    ("Department of Higher Education", "DHE"),
    ("Department of Early Education and Care", "EEC"),
    (
        "Executive Office of Labor and Workforce Development",
        "EOLWD",
    ),
    ("Department of Unemployment Assistance", "DUA"),
    ("Department of Labor Standards", "DLS"),
    ("Department of Industrial Accidents", "DIA"),
    (
        "Executive Office of Housing and Livable Communities",
        "EOHLC",
    ),
    ("Executive Office of Economic Development", "EOED"),
    ("Division of Occupational Licensure", "DOL"),
    (
        "Office of Consumer Affairs and Business Regulation",
        "OCABR",
    ),
    ("Division of Insurance", "DOI"),
    ("Division of Banks", "DOB"),
    ("Executive Office of Elder Affairs", "EOEA"),
    ("Massachusetts Office of Information Technology", "MassIT"),
    (
        "Department of Criminal Justice Information Services",
        "DCJIS",
    ),
    (
        "Massachusetts Department of Transportation Highway Division",
        "MassDOT Highway",
    ),
    ("Department of Public Safety", "DPS"),
    ("Office of the Chief Medical Examiner", "OCME"),
    ("Parole Board", "Parole"),
    ("Sex Offender Registry Board", "SORB"),
    ("Department of Career Services", "DCS"),
];

static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:\+?1[\s.\-]?)?\(?\b([2-9]\d{2})\)?[\s.\-]?(\d{3})[\s.\-]?(\d{4})\b(?:\s*(?:,\s*)?(?:x|ext\.?|extension)\s*(\d{1,6}))?")
        .expect("phone regex")
});
static CLOCK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(\d{1,2})(?::(\d{2}))?\s*(a\.?m\.?|p\.?m\.?)(?:\W|$)|\b(\d{1,2}):(\d{2})\b")
        .expect("clock regex")
});
static ISO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})").expect("iso regex")
});
static MDY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b").expect("mdy regex"));
static MONTH_DAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b").expect("month regex")
});
static COUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(\d{1,3}(?:,\d{3})+|\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|a dozen|dozens of)\s+(?:[a-z']+\s+){0,2}?(records|ssns|social security numbers|clients|residents|individuals|customers|patients|claimants|people|applicants|students|rows|users|accounts|employees|staff|mailboxes|members)\b").expect("count regex")
});
static HOST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[A-Z][A-Z0-9]{1,}(?:-[A-Z0-9]+){1,4}\b").expect("host regex"));
static SYSTEM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:the|our|my|his|her|their|a|one|two|three|\d+)\s+((?:[\w'\-]+\s+){0,3}(?:server|servers|laptop|laptops|workstation|workstations|website|portal|mailbox|file share|file server|vpn|database|pc|pcs|computer|computers|phone|iphone|firewall|web site|site|account|tablet|usb drive|thumb drive|application|sharepoint site|onedrive))\b").expect("system regex")
});

fn number_word(w: &str) -> Option<i64> {
    let w = w.to_ascii_lowercase().replace(',', "");
    if let Ok(n) = w.parse() {
        return Some(n);
    }
    Some(match w.as_str() {
        "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" => 12,
        "fifteen" => 15,
        "twenty" => 20,
        "a dozen" => 12,
        _ => return None,
    })
}

/// Sentences of the text with the (0-based) line each starts on; a sentence may run
/// over several lines of a paragraph (mail clients wrap at ~72 columns).
fn sentences(lines: &[&str]) -> Vec<(usize, String)> {
    const NOT_ENDS: &[&str] = &[
        "e.g.", "i.e.", "a.m.", "p.m.", "approx.", "St.", "Dept.", "Mr.", "Ms.", "Dr.",
    ];
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim();
        // Blank lines and short label lines end a paragraph.
        if line.is_empty()
            || (line.contains(':')
                && line.len() < 80
                && !cur.is_empty()
                && cur.ends_with(['.', '!', '?']))
        {
            if !cur.trim().is_empty() {
                out.push((start, std::mem::take(&mut cur)));
            }
            cur.clear();
            if line.is_empty() {
                continue;
            }
        }
        for word in line.split_whitespace() {
            if cur.is_empty() {
                start = i;
            } else {
                cur.push(' ');
            }
            cur.push_str(word);
            if word.ends_with(['.', '!', '?']) && !NOT_ENDS.contains(&word) {
                out.push((start, std::mem::take(&mut cur)));
            }
        }
    }
    if !cur.trim().is_empty() {
        out.push((start, cur));
    }
    out
}

/// Extracts fields from the reporter's own text.
pub fn extract_fields(text: &str, part: &str, ctx: &Context<'_>) -> Fields {
    let lines: Vec<&str> = text.lines().collect();
    let mut f = Fields::new();
    let src = |i: usize| Source {
        message: None,
        part: part.to_string(),
        line: i + 1,
        text: lines
            .get(i)
            .map(|l| l.trim().to_string())
            .unwrap_or_default(),
    };
    let put = |f: &mut Fields, name: &str, value: Value, i: usize| {
        f.entry(name.to_string()).or_insert(FieldValue {
            value,
            source: src(i),
        });
    };

    // 1. The fill-in block: "Label: value" lines with a non-empty value.
    for (i, raw) in lines.iter().enumerate() {
        let line = raw
            .trim()
            .trim_start_matches(['-', '*', '•', '>'])
            .trim()
            .replace("**", "");
        let Some((label, value)) = line.split_once(':').or_else(|| line.split_once('?')) else {
            continue;
        };
        let label = label
            .trim()
            .trim_end_matches('?')
            .trim()
            .to_ascii_lowercase();
        let value = value.trim();
        if value.is_empty() || label.len() > 60 {
            continue;
        }
        let Some((field, _)) = LABELS.iter().find(|(_, vs)| vs.contains(&label.as_str())) else {
            continue;
        };
        let v = match *field {
            "personal_information"
            | "law_enforcement_contacted"
            | "external_communications"
            | "is_ongoing" => match tri(value) {
                Some(t) => {
                    if *field == "law_enforcement_contacted" && t == "yes" {
                        if let Some(agency) = le_agency(value) {
                            put(&mut f, "law_enforcement_agency", Value::String(agency), i);
                        }
                    }
                    Value::String(t.into())
                }
                None => continue,
            },
            "reporter_phone" => match phone(value) {
                Some(p) => Value::String(p),
                None => Value::String(value.to_string()),
            },
            "detected_at" | "occurred_at" => match resolve_time(value, ctx.date) {
                Some(t) => Value::String(t),
                None => continue,
            },
            "users_affected" | "records_affected" => {
                let digits: String = value.chars().filter(|c| c.is_ascii_digit()).collect();
                match digits.parse::<i64>() {
                    Ok(n) => Value::from(n),
                    Err(_) => continue,
                }
            }
            "systems_affected" => Value::Array(
                value
                    .split([',', ';'])
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.into()))
                    .collect(),
            ),
            "agency" => Value::String(
                canonical_agency(value, ctx.agencies).unwrap_or_else(|| value.to_string()),
            ),
            "functional_impact" => match impact(value) {
                Some(x) => Value::String(x.into()),
                None => continue,
            },
            _ => Value::String(value.to_string()),
        };
        put(&mut f, field, v, i);
    }

    // 2. Free text, for what the block did not give.
    let lower: Vec<String> = lines.iter().map(|l| l.to_lowercase()).collect();
    if !f.contains_key("reporter_phone") {
        let cue = [
            "call", "phone", "cell", "reach", "desk", "mobile", "office:", "tel", "direct",
        ];
        let mut best: Option<(usize, String, bool)> = None;
        for (i, l) in lines.iter().enumerate() {
            if let Some(p) = phone(l) {
                let cued = cue.iter().any(|c| lower[i].contains(c));
                if best.as_ref().is_none_or(|(_, _, bc)| cued && !bc) {
                    best = Some((i, p, cued));
                }
            }
        }
        if let Some((i, p, _)) = best {
            put(&mut f, "reporter_phone", Value::String(p), i);
        }
    }
    let units = sentences(&lines);
    // Times: a sentence that says when it was noticed is detection, one that says
    // when it began is occurrence; of two unmarked times the earlier is occurrence.
    let mut times: Vec<(usize, String, Option<bool>)> = Vec::new();
    for (i, sentence) in &units {
        let Some(t) = resolve_time(sentence, ctx.date) else {
            continue;
        };
        let l = sentence.to_lowercase();
        let detect = DETECT_CUES.iter().any(|c| l.contains(c));
        let occur = OCCUR_CUES.iter().any(|c| l.contains(c));
        let cue = match (detect, occur) {
            (true, false) => Some(true),
            (false, true) => Some(false),
            _ => None,
        };
        if !times.iter().any(|(_, x, _)| *x == t) {
            times.push((*i, t, cue));
        }
        if times.len() >= 6 {
            break;
        }
    }
    let unmarked: Vec<&(usize, String, Option<bool>)> =
        times.iter().filter(|(_, _, c)| c.is_none()).collect();
    let detected = times
        .iter()
        .find(|(_, _, c)| *c == Some(true))
        .or_else(|| unmarked.iter().max_by_key(|(_, t, _)| t.clone()).copied());
    let occurred = times
        .iter()
        .find(|(_, _, c)| *c == Some(false))
        .or_else(|| {
            unmarked
                .iter()
                .filter(|x| Some(**x) != detected)
                .min_by_key(|(_, t, _)| t.clone())
                .copied()
        });
    if let Some((i, t, _)) = detected {
        put(&mut f, "detected_at", Value::String(t.clone()), *i);
    }
    if let Some((i, t, _)) = occurred.filter(|o| Some(*o) != detected) {
        put(&mut f, "occurred_at", Value::String(t.clone()), *i);
    }
    for (i, l) in lines.iter().enumerate() {
        for c in COUNT.captures_iter(l) {
            let (Some(n), Some(what)) = (c.get(1).and_then(|m| number_word(m.as_str())), c.get(2))
            else {
                continue;
            };
            let what = what.as_str().to_ascii_lowercase();
            let name = if [
                "users",
                "accounts",
                "employees",
                "staff",
                "mailboxes",
                "members",
            ]
            .contains(&what.as_str())
            {
                "users_affected"
            } else {
                "records_affected"
            };
            put(&mut f, name, Value::from(n), i);
        }
    }
    for (name, yes, no, unknown) in TRI_CUES {
        if f.contains_key(*name) {
            continue;
        }
        for (i, sentence) in &units {
            let i = *i;
            let l = sentence.to_lowercase();
            let v = if unknown.iter().any(|c| has_cue(&l, c)) {
                "unknown"
            } else if no.iter().any(|c| has_cue(&l, c)) {
                "no"
            } else if yes.iter().any(|c| has_cue(&l, c)) {
                "yes"
            } else {
                continue;
            };
            put(&mut f, name, Value::String(v.into()), i);
            if *name == "law_enforcement_contacted"
                && v == "yes"
                && !f.contains_key("law_enforcement_agency")
            {
                if let Some(a) = le_agency(sentence) {
                    put(&mut f, "law_enforcement_agency", Value::String(a), i);
                }
            }
            break;
        }
    }
    if !f.contains_key("actions_taken") {
        let verbs = [
            "disconnected",
            "isolated",
            "unplugged",
            "reset",
            "blocked",
            "quarantined",
            "wiped",
            "reimaged",
            "re-imaged",
            "disabled",
            "revoked",
            "changed the password",
            "changed her password",
            "changed his password",
            "took it offline",
            "taken offline",
            "shut down",
            "removed",
            "deleted",
            "purged",
            "filed a police report",
            "pulled",
            "locked",
            "remote wipe",
            "contained",
        ];
        let mut found: Vec<(usize, String)> = Vec::new();
        for (i, unit) in &units {
            let i = *i;
            for sentence in unit.split_inclusive(';') {
                let s = sentence.to_lowercase();
                if s.contains("nothing yet") || s.contains("no action") {
                    found.push((i, "Nothing yet".into()));
                } else if verbs.iter().any(|v| s.contains(v))
                    && !s.trim_start().starts_with("please")
                    && !s.contains('?')
                {
                    found.push((i, sentence.trim().to_string()));
                }
            }
            if found.len() >= 3 {
                break;
            }
        }
        if let Some((i, _)) = found.first() {
            let text = found
                .iter()
                .map(|(_, s)| s.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            put(&mut f, "actions_taken", Value::String(text), *i);
        }
    }
    if !f.contains_key("systems_affected") {
        let mut items: Vec<String> = Vec::new();
        let mut first = None;
        for (i, l) in lines.iter().enumerate() {
            for m in HOST.find_iter(l) {
                let h = m.as_str();
                if h.chars().any(|c| c.is_ascii_digit())
                    && !h.starts_with("CVE-")
                    && !items.iter().any(|x| x == h)
                {
                    items.push(h.to_string());
                    first.get_or_insert(i);
                }
            }
            for c in SYSTEM.captures_iter(l) {
                if let Some(m) = c.get(1) {
                    let s = m.as_str().trim().to_string();
                    if !items.iter().any(|x| x.eq_ignore_ascii_case(&s)) {
                        items.push(s);
                        first.get_or_insert(i);
                    }
                }
            }
            if items.len() >= 5 {
                break;
            }
        }
        if let Some(i) = first {
            put(
                &mut f,
                "systems_affected",
                Value::Array(items.into_iter().take(5).map(Value::String).collect()),
                i,
            );
        }
    }
    if !f.contains_key("third_party") {
        static TP: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"(?:[Oo]ur |[Tt]he |[Aa] )?(?:vendor|contractor|provider|supplier|MSP|partner)(?:,)?\s+((?:[A-Z][\w&.\-]*)(?:\s+[A-Z][\w&.\-]*){0,3})").expect("third party regex")
        });
        for (i, l) in lines.iter().enumerate() {
            if let Some(m) = TP.captures(l).and_then(|c| c.get(1)) {
                put(
                    &mut f,
                    "third_party",
                    Value::String(m.as_str().trim_end_matches('.').to_string()),
                    i,
                );
                break;
            }
        }
    }
    if !f.contains_key("functional_impact") {
        for (i, l) in lower.iter().enumerate() {
            if let Some(x) = impact(l) {
                put(&mut f, "functional_impact", Value::String(x.into()), i);
                break;
            }
        }
    }
    if !f.contains_key("agency") {
        if let Some((name, i)) = find_agency(&lines, ctx) {
            put(&mut f, "agency", Value::String(name), i);
        }
    }
    if let Some(name) = ctx.sender_name.map(display_name).filter(|n| !n.is_empty()) {
        f.entry("reporter_name".into()).or_insert(FieldValue {
            value: Value::String(name),
            source: Source {
                part: "header:From".into(),
                line: 0,
                text: ctx.sender_name.unwrap_or("").to_string(),
                message: None,
            },
        });
    }
    let description: String = text.trim().chars().take(2000).collect();
    if !description.is_empty() {
        put(&mut f, "description", Value::String(description), 0);
    }
    f
}

/// (field, yes cues, no cues, unknown cues) — lower-case substrings of a line.
/// Words that mark a time as when something was noticed.
const DETECT_CUES: &[&str] = &[
    "noticed",
    "discovered",
    "detected",
    "realized",
    "realised",
    "found",
    "alerted",
    "saw ",
    "got an alert",
    "reported",
    "received",
    "called me",
    "came in",
    "flagged",
    "woke up",
];
/// Words that mark a time as when it began.
const OCCUR_CUES: &[&str] = &[
    "started",
    "began",
    "first access",
    "logs show",
    "first seen",
    "since",
    "was sent",
    "sent at",
    "left ",
    "was stolen",
    "clicked",
    "happened",
    "occurred",
    "signed in",
    "logged in",
    "beginning",
    "first login",
];

/// `cue` in `text` as whole words, plural allowed: "phi" is not in "phishing", "dob"
/// not in "adobe", but "ssn" is in "SSNs".
fn has_cue(text: &str, cue: &str) -> bool {
    text.match_indices(cue).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let rest = &text[at + cue.len()..];
        let rest = rest
            .strip_prefix('s')
            .filter(|r| !r.starts_with(char::is_alphanumeric))
            .unwrap_or(rest);
        !before.is_some_and(char::is_alphanumeric) && !rest.starts_with(char::is_alphanumeric)
    })
}

/// A yes/no/unknown field with its cue phrases.
type TriCue = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

const TRI_CUES: &[TriCue] = &[
    (
        "personal_information",
        &[
            "ssn",
            "social security",
            "dob",
            "date of birth",
            "driver's license",
            "drivers license",
            "driver’s license",
            "credit card",
            "bank account",
            "phi",
            "medical record",
            "tax record",
            "tax return",
            "pii",
            "personal information",
            "home address",
            "case records",
            "health information",
        ],
        &[
            "no pii",
            "no personal information",
            "no sensitive data",
            "does not contain",
            "doesn't contain",
            "did not contain",
            "no personal data",
            "encrypted, no",
        ],
        &[
            "not sure if",
            "unknown whether",
            "don't know if",
            "do not know if",
            "unclear whether",
            "unclear if",
            "not sure whether",
            "not yet known",
        ],
    ),
    (
        "law_enforcement_contacted",
        &[
            "state police",
            "police report",
            "called the police",
            "contacted the police",
            "notified the police",
            "fbi",
            "secret service",
            " pd ",
            " pd.",
            " pd,",
            "police department",
            "filed a report with",
        ],
        &[
            "no police",
            "not contacted law enforcement",
            "no law enforcement",
            "haven't contacted",
            "have not contacted",
            "not involved police",
            "did not call the police",
            "no need for police",
        ],
        &["not sure if we should call", "unknown if police"],
    ),
    (
        "external_communications",
        &[
            "notified residents",
            "press inquiry",
            "posted a notice",
            "told the public",
            "vendor was told",
            "vendor was notified",
            "notified the vendor",
            "informed the vendor",
            "told the vendor",
            "media",
            "reporter from",
            "notified customers",
            "notice on the website",
            "called the vendor",
            "contacted the vendor",
            "emailed the vendor",
            "opened a ticket with",
        ],
        &[
            "nothing communicated externally",
            "no external communication",
            "not communicated outside",
            "no one outside",
            "nothing has been communicated",
            "nothing external",
            "told anyone outside",
            "communicated outside",
            "not told anyone",
            "haven't told anyone",
            "haven’t told anyone",
            "have not told anyone",
            "no communication outside",
        ],
        &[],
    ),
    (
        "is_ongoing",
        &[
            "still happening",
            "ongoing",
            "continuing",
            "still going",
            "is still",
            "right now",
        ],
        &[
            "has stopped",
            "no longer",
            "was contained",
            "is contained",
            "stopped",
        ],
        &[],
    ),
];

fn tri(v: &str) -> Option<&'static str> {
    let v = v.trim().to_ascii_lowercase();
    let first = v
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .next()
        .unwrap_or("");
    if ["unknown", "unsure", "tbd", "unclear"].contains(&first)
        || v.starts_with("not sure")
        || v.starts_with("don't know")
        || v.starts_with("not yet known")
    {
        return Some("unknown");
    }
    if ["yes", "y", "true", "confirmed"].contains(&first) {
        return Some("yes");
    }
    if ["no", "n", "none", "false", "not"].contains(&first) {
        return Some("no");
    }
    None
}

fn impact(l: &str) -> Option<&'static str> {
    let l = l.to_lowercase();
    if l.contains("no impact") || l.contains("no operational impact") || l.starts_with("none") {
        Some("none")
    } else if [
        "cannot process",
        "can't process",
        "statewide",
        "is down",
        "are down",
        "went down",
        "outage",
        "unavailable",
        "offline for",
    ]
    .iter()
    .any(|c| l.contains(c))
    {
        Some("high")
    } else if ["degraded", "slow", "intermittent"]
        .iter()
        .any(|c| l.contains(c))
    {
        Some("medium")
    } else if l.starts_with("low") || l.starts_with("minimal") {
        Some("low")
    } else if l.starts_with("high") {
        Some("high")
    } else if l.starts_with("medium") {
        Some("medium")
    } else {
        None
    }
}

fn le_agency(text: &str) -> Option<String> {
    let l = text.to_lowercase();
    if l.contains("state police") || l.contains(" msp") {
        return Some("Massachusetts State Police".into());
    }
    if l.contains("fbi") {
        return Some("FBI".into());
    }
    if l.contains("secret service") {
        return Some("U.S. Secret Service".into());
    }
    static PD: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\b([A-Z][a-z]+(?:\s[A-Z][a-z]+)?)\s(?:PD|Police(?:\sDepartment)?)\b")
            .expect("pd regex")
    });
    PD.captures(text)
        .and_then(|c| c.get(1))
        .map(|m| format!("{} Police Department", m.as_str()))
}

/// E.164 for a NANP number (`;ext=N` for an extension).
fn phone(s: &str) -> Option<String> {
    let c = PHONE.captures(s)?;
    let whole = c.get(0)?.as_str();
    // Not part of a longer digit run (an account number, a date).
    let end = c.get(0)?.end();
    if s[end..]
        .chars()
        .next()
        .is_some_and(|ch| ch.is_ascii_digit())
    {
        return None;
    }
    let digits: String = whole.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() < 10 {
        return None;
    }
    let mut out = format!(
        "+1{}{}{}",
        c.get(1)?.as_str(),
        c.get(2)?.as_str(),
        c.get(3)?.as_str()
    );
    if let Some(x) = c.get(4) {
        out.push_str(&format!(";ext={}", x.as_str()));
    }
    Some(out)
}

fn ny(date: NaiveDate, time: NaiveTime) -> Option<String> {
    let local = New_York
        .from_local_datetime(&date.and_time(time))
        .earliest()?;
    Some(local.fixed_offset().to_rfc3339())
}

/// A time of day in a line, resolved against the message date (America/New_York).
pub fn resolve_time(line: &str, date: Option<DateTime<FixedOffset>>) -> Option<String> {
    if let Some(c) = ISO.captures(line) {
        let n = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
        let d = NaiveDate::from_ymd_opt(n(1)? as i32, n(2)?, n(3)?)?;
        let t = NaiveTime::from_hms_opt(n(4)?, n(5)?, 0)?;
        return ny(d, t);
    }
    let sent = date?.with_timezone(&New_York);
    let l = line.to_lowercase();
    let clock = CLOCK.captures(line)?;
    let (mut hour, minute, ampm) = if let Some(h) = clock.get(1) {
        let m = clock
            .get(2)
            .and_then(|m| m.as_str().parse().ok())
            .unwrap_or(0);
        let ap = clock
            .get(3)
            .map(|a| a.as_str().to_ascii_lowercase().starts_with('p'));
        (h.as_str().parse::<u32>().ok()?, m, ap)
    } else {
        (
            clock.get(4)?.as_str().parse::<u32>().ok()?,
            clock.get(5)?.as_str().parse::<u32>().ok()?,
            None,
        )
    };
    if hour > 23 || minute > 59 {
        return None;
    }
    match ampm {
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        None if hour < 12
            && (l.contains("afternoon") || l.contains("evening") || l.contains("tonight")) =>
        {
            hour += 12
        }
        None if (1..=6).contains(&hour) && l.contains("last night") => {}
        None if hour < 12 && l.contains("last night") => hour += 12,
        _ => {}
    }
    let time = NaiveTime::from_hms_opt(hour, minute, 0)?;
    let today = sent.date_naive();
    let mut day = today;
    let mut explicit = false;
    if let Some(c) = MDY.captures(line) {
        let (m, d) = (
            c.get(1)?.as_str().parse().ok()?,
            c.get(2)?.as_str().parse().ok()?,
        );
        let y = c
            .get(3)
            .and_then(|y| y.as_str().parse::<i32>().ok())
            .map(|y| if y < 100 { 2000 + y } else { y });
        if let Some(nd) = NaiveDate::from_ymd_opt(y.unwrap_or(today.year()), m, d) {
            day = nd;
            explicit = true;
        }
    } else if let Some(c) = MONTH_DAY.captures(line) {
        let months = [
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ];
        let m = months
            .iter()
            .position(|x| c.get(1).is_some_and(|g| g.as_str().eq_ignore_ascii_case(x)))?
            as u32
            + 1;
        if let Some(nd) = NaiveDate::from_ymd_opt(today.year(), m, c.get(2)?.as_str().parse().ok()?)
        {
            day = nd;
            explicit = true;
        }
    } else if l.contains("yesterday") || (l.contains("last night") && hour >= 12) {
        day = today - Duration::days(1);
        explicit = true;
    } else if let Some(wd) = weekday_in(&l) {
        let mut d = today - Duration::days(1);
        while d.weekday() != wd {
            d -= Duration::days(1);
        }
        day = d;
        explicit = true;
    } else if ampm.is_none()
        && !(l.contains(" at ")
            || l.contains("around")
            || l.contains("about")
            || l.contains("morning")
            || l.contains("detected")
            || l.contains(':'))
    {
        return None;
    }
    let mut at = ny(day, time)?;
    // "at 9:40" in a message sent at 8:00 means yesterday.
    if !explicit {
        if let Ok(t) = DateTime::parse_from_rfc3339(&at) {
            if t > sent.fixed_offset() + Duration::minutes(5) {
                at = ny(day - Duration::days(1), time)?;
            }
        }
    }
    Some(at)
}

fn weekday_in(l: &str) -> Option<Weekday> {
    [
        ("monday", Weekday::Mon),
        ("tuesday", Weekday::Tue),
        ("wednesday", Weekday::Wed),
        ("thursday", Weekday::Thu),
        ("friday", Weekday::Fri),
        ("saturday", Weekday::Sat),
        ("sunday", Weekday::Sun),
    ]
    .iter()
    .find(|(n, _)| l.contains(n))
    .map(|(_, w)| *w)
}

/// "O'Brien, Kevin (DCF)" → "Kevin O'Brien".
fn display_name(n: &str) -> String {
    let n = n.split('(').next().unwrap_or(n).trim().trim_matches('"');
    match n.split_once(',') {
        Some((last, first)) if !first.trim().is_empty() => {
            format!("{} {}", first.trim(), last.trim())
        }
        _ => n.to_string(),
    }
}

fn agencies(ctx: &Context<'_>) -> Vec<(String, Vec<String>, Vec<String>)> {
    if !ctx.agencies.is_empty() {
        return ctx
            .agencies
            .iter()
            .map(|a| (a.name.clone(), a.aliases.clone(), a.domains.clone()))
            .collect();
    }
    BUILTIN
        .iter()
        .map(|(n, a)| (n.to_string(), vec![a.to_string()], Vec::new()))
        .collect()
}

fn canonical_agency(value: &str, list: &[AgencyEntry]) -> Option<String> {
    let ctx = Context {
        date: None,
        sender: None,
        sender_name: None,
        agencies: list,
    };
    let v = value.trim();
    agencies(&ctx).into_iter().find_map(|(name, aliases, _)| {
        (name.eq_ignore_ascii_case(v)
            || aliases.iter().any(|a| a.eq_ignore_ascii_case(v))
            || v.to_lowercase().contains(&name.to_lowercase()))
        .then_some(name)
    })
}

fn find_agency(lines: &[&str], ctx: &Context<'_>) -> Option<(String, usize)> {
    let list = agencies(ctx);
    // The sender's domain, unless it is the shared mass.gov.
    if let Some(domain) = ctx
        .sender
        .and_then(|s| s.rsplit_once('@'))
        .map(|(_, d)| d.to_ascii_lowercase())
    {
        for (name, _, domains) in &list {
            if domains
                .iter()
                .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
            {
                return Some((name.clone(), 0));
            }
        }
    }
    // Full names anywhere (the signature is the usual place), then aliases as whole words.
    for (i, l) in lines.iter().enumerate().rev() {
        let low = l.to_lowercase();
        if let Some((name, _, _)) = list
            .iter()
            .filter(|(n, _, _)| low.contains(&n.to_lowercase()))
            .max_by_key(|(n, _, _)| n.len())
        {
            return Some((name.clone(), i));
        }
    }
    for (i, l) in lines.iter().enumerate() {
        let words: Vec<&str> = l
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        for (name, aliases, _) in &list {
            if aliases
                .iter()
                .any(|a| a.len() >= 3 && words.contains(&a.as_str()))
            {
                return Some((name.clone(), i));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> Option<DateTime<FixedOffset>> {
        DateTime::parse_from_rfc2822(s).ok()
    }

    fn ctx<'a>(d: &str) -> Context<'a> {
        Context {
            date: date(d),
            sender: Some("jane@mass.gov"),
            sender_name: Some("Doe, Jane (DOR)"),
            agencies: &[],
        }
    }

    fn val(f: &Fields, k: &str) -> Value {
        f.get(k).map(|v| v.value.clone()).unwrap_or(Value::Null)
    }

    #[test]
    fn fill_in_block_with_variants() {
        let t = "Hi,\nAgency: DOR\nContact phone: 617-555-0142 x4412\nTime detected: 03/10 09:40\nSystems affected:\nPII involved? no\nPolice contacted: yes, State Police\nExternal comms: unknown\nActions taken: reset the password";
        let f = extract_fields(t, "body", &ctx("Tue, 10 Mar 2026 11:00:00 -0400"));
        assert_eq!(val(&f, "agency"), "Department of Revenue");
        assert_eq!(val(&f, "reporter_phone"), "+16175550142;ext=4412");
        assert_eq!(val(&f, "detected_at"), "2026-03-10T09:40:00-04:00");
        assert_eq!(f["detected_at"].source.line, 4);
        assert_eq!(val(&f, "personal_information"), "no");
        assert!(has_cue("the phi of 3 patients", "phi"));
        assert!(!has_cue("a phishing email", "phi"));
        assert!(has_cue("no pii.", "no pii"));
        assert!(has_cue("names, ssns and dobs", "ssn"));
        assert!(has_cue(
            "no external communications.",
            "external communication"
        ));
        assert_eq!(val(&f, "law_enforcement_contacted"), "yes");
        assert_eq!(
            val(&f, "law_enforcement_agency"),
            "Massachusetts State Police"
        );
        assert_eq!(val(&f, "external_communications"), "unknown");
        assert_eq!(val(&f, "reporter_name"), "Jane Doe");
        assert!(
            !f.contains_key("systems_affected")
                || val(&f, "systems_affected") != Value::String(String::new())
        );
    }

    #[test]
    fn free_text_times_phones_counts() {
        let c = ctx("Thu, 15 Jan 2026 10:00:00 -0500");
        let f = extract_fields("We noticed it this morning at 9:40.\nCall me at (857) 555 0199.\nApproximately 1,240 records with SSNs.", "body", &c);
        assert_eq!(val(&f, "detected_at"), "2026-01-15T09:40:00-05:00");
        assert_eq!(val(&f, "reporter_phone"), "+18575550199");
        assert_eq!(val(&f, "records_affected"), 1240);
        assert_eq!(val(&f, "personal_information"), "yes");
        let f = extract_fields("It started yesterday around 3pm.", "body", &c);
        assert_eq!(val(&f, "occurred_at"), "2026-01-14T15:00:00-05:00");
        let f = extract_fields("The user clicked on Tuesday at 10am", "body", &c);
        assert_eq!(val(&f, "occurred_at"), "2026-01-13T10:00:00-05:00");
        // Two times: the one noticed is detection, the other occurrence, across wrapped lines.
        let f = extract_fields("I left the laptop in the car last night at\n10:30 pm. I noticed it was gone\nat 7:15 this morning.", "body", &c);
        assert_eq!(val(&f, "occurred_at"), "2026-01-14T22:30:00-05:00");
        assert_eq!(val(&f, "detected_at"), "2026-01-15T07:15:00-05:00");
        assert_eq!(f["detected_at"].source.line, 2);
    }

    #[test]
    fn block_lists_only_missing_in_order() {
        assert_eq!(
            fill_in_block(&["actions_taken", "agency"]),
            "Agency:\nActions taken:\n"
        );
        assert!(!why_it_matters("reporter_phone").is_empty());
    }
}
