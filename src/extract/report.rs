//! Report understanding: one message in, the structured reading of it out — the
//! contract printed by `incident-gateway parse --json` and stored on each case.

use mail_parser::{MessageParser, MimeHeaders, PartType};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::answers;
use super::fields::{self, AgencyEntry, FieldValue, Fields, Source};
use super::iocs::{extract_iocs, Exclusions, Iocs};
use super::rules::{self, Assessment, Category};
use super::{body, bounds, classify, html, inbound_from, quote, tnef, unreadable, InboundEmail};
use crate::domain::{EmailAddress, MessageKind};

/// Default ceiling of one attachment part kept by the gateway (25 MB).
pub const DEFAULT_MAX_PART_BYTES: usize = 25 * 1024 * 1024;
/// Most text read for fields, indicators and rules from the reporter's words and from
/// each piece of evidence; the rest is kept in the raw message, not analysed.
pub const MAX_TEXT_BYTES: usize = 1024 * 1024;

/// Most indicators whose place of finding is recorded (the list itself keeps more).
pub const MAX_INDICATOR_SOURCES: usize = 500;

/// What the analysis needs besides the bytes.
pub struct Options<'a> {
    /// Our own addresses: never acknowledged, never indicators.
    pub own: &'a [EmailAddress],
    pub agencies: &'a [AgencyEntry],
    pub tracking_prefix: &'a str,
    pub max_part_bytes: usize,
}

/// An attachment as the analyst sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Attachment {
    pub name: Option<String>,
    pub media_type: String,
    pub size: usize,
    pub sha256: String,
    /// False when over the size limit: recorded, bytes not kept.
    pub kept: bool,
    /// `message`, or the container it came from (`winmail.dat`, a forwarded message).
    pub from: String,
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// One suggested escalation to leadership (incident-fields.md's triggers): `data_loss`
/// (personal information "yes", or a data exposure) or `major_incident` (critical).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Escalation {
    pub cause: String,
    /// Why, quoting the reporter's sentence that caused it.
    pub reason: String,
}

/// The sentence of `text` that holds line `line` (1-based), or the line itself.
fn sentence_at(text: &str, source: &Source) -> String {
    if source.part != "body" {
        return source.text.clone();
    }
    let lines: Vec<&str> = text.lines().collect();
    fields::sentences(&lines)
        .into_iter()
        .rfind(|(start, _)| *start < source.line.max(1))
        .map(|(_, s)| s)
        .unwrap_or_else(|| source.text.clone())
}

/// The sentence in `text` holding a category cue (`cue 'misdirected'`).
fn sentence_with_cue(text: &str, reasons: &[String]) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let units = fields::sentences(&lines);
    reasons.iter().find_map(|r| {
        let cue = r.strip_prefix("cue '")?.strip_suffix('\'')?;
        units
            .iter()
            .find(|(_, s)| s.to_lowercase().contains(cue))
            .map(|(_, s)| s.clone())
    })
}

fn escalations_of(
    note: &str,
    fields: &Fields,
    category: Category,
    category_reasons: &[String],
    major: bool,
    severity_reasons: &[String],
) -> Vec<Escalation> {
    let mut out = Vec::new();
    if let Some(pi) = fields
        .get("personal_information")
        .filter(|f| f.value.as_str() == Some("yes"))
    {
        out.push(Escalation {
            cause: "data_loss".into(),
            reason: format!(
                "personal information involved: \"{}\"",
                sentence_at(note, &pi.source)
            ),
        });
    } else if category == Category::DataExposure {
        let s = sentence_with_cue(note, category_reasons).unwrap_or_default();
        out.push(Escalation {
            cause: "data_loss".into(),
            reason: format!("data exposure: \"{s}\""),
        });
    }
    if major {
        let why = severity_reasons.first().cloned().unwrap_or_default();
        let s = fields
            .get("records_affected")
            .map(|f| sentence_at(note, &f.source))
            .or_else(|| sentence_with_cue(note, category_reasons))
            .unwrap_or_default();
        out.push(Escalation {
            cause: "major_incident".into(),
            reason: format!("critical ({why}): \"{s}\""),
        });
    }
    out
}

/// Where one indicator was found: the reporter's text, a forwarded or attached
/// message's body, sender or headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndicatorSource {
    pub kind: String,
    pub value: String,
    pub found_in: String,
}

/// A forwarded message kept apart from the reporter's words.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    /// `inline-forward` (with the divider style) or `attached-message`.
    pub origin: String,
    pub from: Option<String>,
    pub subject: Option<String>,
    pub date: Option<String>,
    /// An attached message's own Message-ID (campaign fingerprints).
    #[serde(skip)]
    pub message_id: Option<String>,
    pub text: String,
    /// An attached message's trace and sender headers (Received, Return-Path, Reply-To),
    /// read for indicators only.
    #[serde(skip)]
    pub headers: String,
}

/// The reading of one message. The first fields are the `parse --json` contract.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub kind: MessageKind,
    pub acknowledge: bool,
    pub tracking_id: Option<String>,
    pub category: String,
    pub severity_suggested: String,
    pub fields: Fields,
    pub missing: Vec<String>,
    pub iocs: Iocs,
    pub attachments: Vec<Attachment>,
    // Beyond the contract: the reasons and the material behind them.
    pub subject: String,
    pub category_reasons: Vec<String>,
    pub severity_reasons: Vec<String>,
    pub severity_provisional: bool,
    pub priority: String,
    pub major_incident_suggested: bool,
    pub evidence: Vec<Evidence>,
    /// The automatic escalations to leadership this reading suggests, each with the
    /// sentence that caused it.
    pub escalations: Vec<Escalation>,
    /// Where each indicator was first found.
    pub indicator_sources: Vec<IndicatorSource>,
    /// What identifies the suspect message a report forwards (`campaign`): reports
    /// that share one join one campaign case.
    pub fingerprints: Vec<String>,
    /// The reporter's own text, as read (quotes and forwards removed).
    pub note: String,
    pub notes: Vec<String>,
    #[serde(skip)]
    pub email: InboundEmail,
    /// The loop/backscatter verdict (kind as stored, and why no answer).
    #[serde(skip)]
    pub class: super::Classification,
}

impl Analysis {
    /// The `parse --json` contract: exactly the keys other tools rely on.
    pub fn contract(&self) -> serde_json::Value {
        // An out-of-office, a bounce or a newsletter reports no incident: nothing to
        // classify or grade.
        let incident = !matches!(
            self.kind,
            MessageKind::AutoReply | MessageKind::Bounce | MessageKind::Bulk
        );
        serde_json::json!({
            "kind": self.kind,
            "acknowledge": self.acknowledge,
            "tracking_id": self.tracking_id,
            "category": incident.then_some(&self.category),
            "severity_suggested": incident.then_some(&self.severity_suggested),
            // Nor any incident's fields: an out-of-office's signature phone is no
            // reporter's callback number.
            "fields": if incident { serde_json::json!(self.fields) } else { serde_json::json!({}) },
            "missing": self.missing,
            "iocs": self.iocs,
            "attachments": self.attachments.iter().map(|a| serde_json::json!({
                "name": a.name,
                "media_type": a.media_type,
                "size": a.size,
                "sha256": a.sha256,
                "kept": a.kept,
                "from": a.from,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Reads a message the way a careful analyst would. Never fails. A message whose shape
/// would make parsing it too costly (see [`bounds`]) is read from its headers only.
pub fn analyze(raw: &[u8], opts: &Options<'_>) -> Analysis {
    match bounds::check(raw) {
        None => analyze_whole(raw, opts),
        Some(reason) => analyze_headers(raw, opts, &reason),
    }
}

/// Reads only the header block, noting "not analysed: {reason}".
pub fn analyze_headers(raw: &[u8], opts: &Options<'_>, reason: &str) -> Analysis {
    let mut a = analyze_whole(bounds::header_block(raw), opts);
    a.notes.push(format!(
        "not analysed: {reason}; stored whole, only its headers were read"
    ));
    a
}

fn analyze_whole(raw: &[u8], opts: &Options<'_>) -> Analysis {
    // One MIME parse serves the headers, the text and the attachments.
    let parsed = MessageParser::default().parse(raw);
    let email = match &parsed {
        Some(msg) => inbound_from(msg),
        None => unreadable(),
    };
    let class = classify(&email, raw, opts.own);
    let mut notes = email.parse_notes.clone();
    let tags = crate::domain::subject_tags(&email.subject, opts.tracking_prefix);
    let kind = match class.kind {
        MessageKind::Report if !tags.is_empty() => MessageKind::Reply,
        MessageKind::Unparseable => MessageKind::Report,
        k => k,
    };

    let mut note = String::new();
    let mut evidence = Vec::new();
    let mut attachments = Vec::new();
    let mut inline_answers = String::new();
    if let Some(msg) = &parsed {
        // The reporter's text: text parts as written, HTML-only parts through our converter.
        let mut text = BoundedText::default();
        for id in msg.text_body.iter() {
            let Some(part) = msg.parts.get(*id as usize) else {
                continue;
            };
            let t = match &part.body {
                PartType::Text(t) => std::borrow::Cow::Borrowed(&**t),
                PartType::Html(h) => std::borrow::Cow::Owned(html_text(h, &mut notes)),
                _ => continue,
            };
            if !text.0.is_empty() {
                text.push("\n\n");
            }
            text.push(&t);
        }
        let text = text.finish("the reporter's text", &mut notes);
        let text = text.replace("\r\n", "\n");
        let (own_note, forwarded) = body::split_forward(&text);
        // Quoted history is not the reporter's words (a forward was split off above).
        note = quote::new_text(&own_note, false).text;
        // A reply quotes our acknowledgement: answers next to its labels count.
        if !tags.is_empty() {
            inline_answers = fields::inline_answers(&text);
        }
        if let Some(fwd) = forwarded {
            let style = body::find_divider(&text)
                .map(|d| d.style)
                .unwrap_or("inline");
            evidence.push(inline_evidence(&fwd, style));
        }
        for part in msg.attachments() {
            collect_attachment(
                part,
                "message",
                opts.max_part_bytes,
                &mut attachments,
                &mut evidence,
                &mut notes,
                0,
            );
        }
        // A report sent as a form: a body of a line or two and the form attached as a
        // PDF or Word document. The form (a PDF's first page) is then the reporter's text.
        if note.split_whitespace().map(str::len).sum::<usize>() < FORM_BODY_MAX {
            if let Some((label, form)) = msg.attachments().find_map(attached_form) {
                notes.push(format!(
                    "the body is short: the attached form {label} is read as the report"
                ));
                note.push_str("\n\n");
                note.push_str(&form);
            }
        }
    }

    // Fields from the reporter's own words, plus the headers.
    let reply = email.reply_address().cloned();
    let ctx = fields::Context {
        date: email.date,
        sender: reply.as_ref().map(|m| m.address.as_str()),
        sender_name: email.from.as_ref().and_then(|f| f.name.as_deref()),
        agencies: opts.agencies,
    };
    let mut fields = fields::extract_fields(&note, "body", &ctx);
    // Answers written next to our fill-in labels inside the quoted acknowledgement.
    if !inline_answers.is_empty() {
        let part = "body (answer next to a label of the quoted acknowledgement)";
        for (k, v) in fields::extract_fields(&inline_answers, part, &ctx) {
            if k != "description" {
                fields.entry(k).or_insert(v);
            }
        }
    }
    // The description is the reporter's text without signature and legal footer.
    let description = quote::new_text(&note, true).text;
    if let Some(d) = fields.get_mut("description") {
        if !description.is_empty() {
            d.value = serde_json::Value::String(description.chars().take(2000).collect());
        }
    }
    if let Some(r) = &reply {
        fields.insert(
            "reporter_email".into(),
            FieldValue {
                value: serde_json::Value::String(r.address.to_string()),
                source: Source {
                    part: if email.reply_to.is_some() {
                        "header:Reply-To"
                    } else {
                        "header:From"
                    }
                    .into(),
                    line: 0,
                    text: r.address.to_string(),
                    message: None,
                },
            },
        );
    }

    // Indicators: the reporter's note and every piece of evidence.
    let mut exclusions = Exclusions::default();
    for a in opts.own {
        exclusions.addresses.push(a.to_string());
        exclusions.domains.push(a.domain().to_string());
    }
    if let Some(r) = &reply {
        exclusions.addresses.push(r.address.to_string());
        exclusions.domains.push(r.address.domain().to_string());
    }
    for a in opts.agencies {
        exclusions.domains.extend(a.domains.iter().cloned());
    }
    // Bounces, automatic replies and list mail are not read for indicators.
    let mut iocs = Iocs::default();
    let mut indicator_sources = Vec::new();
    let mut evidence_links = std::collections::BTreeSet::new();
    if matches!(kind, MessageKind::Report | MessageKind::Reply) {
        let mut seen = std::collections::HashSet::new();
        let mut add = |text: &str, place: String| {
            let found = extract_iocs(text, &exclusions);
            if place.ends_with(" body") {
                evidence_links.extend(found.urls.iter().cloned());
            }
            // Where each was found, for the first ones only: a flood of indicators
            // must not cost memory in proportion (see tests/hostile_parse.rs).
            let room = MAX_INDICATOR_SOURCES.saturating_sub(indicator_sources.len());
            for (k, v) in found.pairs().into_iter().take(room) {
                if indicator_sources.len() < MAX_INDICATOR_SOURCES
                    && seen.insert((k, v.to_string()))
                {
                    indicator_sources.push(IndicatorSource {
                        kind: k.to_string(),
                        value: v.to_string(),
                        found_in: place.clone(),
                    });
                }
            }
            iocs.merge(found);
        };
        add(&note, "the reporter's text".into());
        for e in &evidence {
            add(&e.text, format!("{} body", e.origin));
            if let Some(f) = &e.from {
                add(f, format!("{} sender", e.origin));
            }
            if !e.headers.is_empty() {
                add(&e.headers, format!("{} headers", e.origin));
            }
        }
    }
    if iocs.truncated {
        notes.push(format!(
            "more than {} indicators of one kind: only the first {0} (sorted) of each kind were kept",
            super::iocs::MAX_PER_KIND
        ));
    }

    // Forwarded alerts and tickets: their own fields give times and hosts (the
    // reporter's words win), and their classification leads the category reading.
    let mut alert_hints = String::new();
    let mut sources: Vec<(Option<&str>, Option<&str>, &str, String)> = evidence
        .iter()
        .map(|e| {
            (
                e.from.as_deref(),
                e.subject.as_deref(),
                e.text.as_str(),
                format!("{} (alert or ticket fields)", e.origin),
            )
        })
        .collect();
    let sender_line = email
        .from
        .as_ref()
        .map(|m| format!("{} <{}>", m.name.as_deref().unwrap_or(""), m.address));
    sources.push((
        sender_line.as_deref(),
        Some(email.subject.as_str()),
        note.as_str(),
        "body (alert or ticket fields)".into(),
    ));
    let mut alert_evidence = Vec::new();
    let mut victim: Option<FieldValue> = None;
    let mut alert_hosts = false;
    let mut alert_times = false;
    for (i, (from, subject, text, part)) in sources.iter().enumerate() {
        let Some(product) = super::alerts::product(*from, *subject, text) else {
            continue;
        };
        alert_evidence.push(i);
        let mut af = super::alerts::alert_fields(text, part, product, &ctx);
        // Only times among the alert's own fields outweigh the forwarder's (not the
        // time it was sent, taken below when it gives none).
        let own_times: Vec<&str> = ["detected_at", "occurred_at"]
            .into_iter()
            .filter(|k| af.contains_key(*k))
            .collect();
        // A security product's alert with no time of detection among its fields was
        // detected when it was sent ("Sent: Tuesday, August 25, 2026 2:31 AM" above a
        // Defender for Identity alert that gives only its activity) — not a ticket's
        // notice, which may come days later, and only a time between the alert's
        // activity and the report.
        if !af.contains_key("detected_at") && super::alerts::is_security_alert(product) {
            if let Some(sent) = evidence.get(i).and_then(|e| e.date.as_deref()) {
                let at = |f: &FieldValue| {
                    f.value
                        .as_str()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                };
                let after = af.get("occurred_at").and_then(at);
                let day_first = matches!(super::extractors::language(text), "es" | "pt");
                let sent_at = super::when::times_in(sent, ctx.date, day_first)
                    .into_iter()
                    .find(|t| {
                        chrono::DateTime::parse_from_rfc3339(&t.at).is_ok_and(|t| {
                            ctx.date.is_none_or(|d| t <= d) && after.is_none_or(|a| t >= a)
                        })
                    });
                if let Some(t) = sent_at {
                    af.insert(
                        "detected_at".into(),
                        FieldValue {
                            value: serde_json::Value::String(t.at),
                            source: Source::unlined(part, &format!("sent {sent}")),
                        },
                    );
                }
            }
        }
        if let Some(h) = af.remove("category_hint") {
            alert_hints.push_str(&format!("[alert of {product}]\n"));
            if let Some(s) = subject {
                alert_hints.push_str(s);
                alert_hints.push('\n');
            }
            alert_hints.push_str(h.value.as_str().unwrap_or(""));
            alert_hints.push('\n');
        }
        if let Some(v) = af.remove("victim") {
            victim.get_or_insert(v);
        }
        // The alert's own host is the system, before the forwarder's words for it
        // ("the Defender portal", "a workstation").
        if let Some(hosts) = af.remove("systems_affected") {
            if !alert_hosts {
                fields.insert("systems_affected".into(), hosts);
                alert_hosts = true;
            }
        }
        // A security product's own times say when it saw the activity and when it
        // began, better than the forwarder's "around 9" (first such alert only).
        if super::alerts::is_security_alert(product) && !alert_times {
            alert_times = true;
            for k in own_times {
                if let Some(v) = af.remove(k) {
                    fields.insert(k.into(), v);
                }
            }
        }
        for (k, v) in af {
            fields.entry(k).or_insert(v);
        }
    }
    let mut assess_text = alert_hints;
    assess_text.push_str(&note);
    for (i, e) in evidence.iter().enumerate() {
        assess_text.push_str(if alert_evidence.contains(&i) {
            "\n\n[forwarded alert]\n"
        } else {
            "\n\n[forwarded evidence]\n"
        });
        if let Some(s) = &e.subject {
            assess_text.push_str(s);
            assess_text.push('\n');
        }
        assess_text.push_str(&e.text);
    }
    // Personal information kept on a lost device, in a misdirected or posted file or
    // in what an insider took was involved; elsewhere its presence leaves it unknown.
    let held = fields.remove(super::extractors::PI_HELD).is_some();
    let hay = rules::Hay::new(&email.subject, &assess_text);
    let (first, first_reasons) = rules::category(&hay);
    if held
        && matches!(
            first,
            Category::DataExposure | Category::LostOrStolenDevice | Category::InsiderMisuse
        )
    {
        if let Some(pi) = fields.get_mut("personal_information") {
            pi.value = serde_json::Value::String("yes".into());
        }
    }
    // How many records a forwarded notice (a vendor's letter) says were reached.
    if first != Category::Phishing && !fields.contains_key("records_affected") {
        for e in &evidence {
            let input = super::extractors::Input::new(&e.text, &e.origin, &ctx);
            let mut counted = Fields::new();
            super::extractors::counts(&input, &mut counted);
            if let Some(r) = counted.remove("records_affected") {
                fields.insert("records_affected".into(), r);
                break;
            }
        }
    }
    // Law enforcement told by a third party, as a forwarded notice states it (not
    // what a phish claims).
    if first != Category::Phishing && !fields.contains_key("law_enforcement_contacted") {
        if let Some((e, line, sentence)) = evidence.iter().find_map(|e| {
            let lines: Vec<&str> = e.text.lines().collect();
            fields::sentences(&lines)
                .into_iter()
                .find(|(_, s)| {
                    answers::answer("law_enforcement_contacted", s) == Some(answers::Tri::Yes)
                })
                .map(|(i, s)| (e, i, s))
        }) {
            let src = Source::at_line(&e.origin, line, e.text.lines().nth(line).unwrap_or(""));
            if let Some(a) = fields::le_agency(&sentence) {
                fields.insert(
                    "law_enforcement_agency".into(),
                    FieldValue {
                        value: serde_json::Value::String(a),
                        source: src.clone(),
                    },
                );
            }
            fields.insert(
                "law_enforcement_contacted".into(),
                FieldValue {
                    value: serde_json::Value::String("yes".into()),
                    source: src,
                },
            );
        }
    }
    // A thread forwarded whole ("see the thread below") whose note says nothing of when
    // it was noticed: the earliest message of it that does ("Came in at 6:50 this
    // morning", read against that message's own date). Not a phish's claims.
    let note_lang = super::extractors::language(&note);
    if first != Category::Phishing && !fields.contains_key("detected_at") {
        let day_first = matches!(note_lang, "es" | "pt");
        if let Some(found) = evidence
            .iter()
            .filter(|e| e.origin.starts_with("inline-forward"))
            .find_map(|e| detected_in_thread(e, &ctx, day_first))
        {
            fields.insert("detected_at".into(), found);
        }
    }
    let Assessment {
        category,
        category_reasons,
        severity_suggested,
        severity_reasons,
        provisional,
        priority,
        major_incident_suggested,
    } = rules::assess_as(first, first_reasons, &hay, &fields);
    if kind == MessageKind::Report {
        // The note as the inferences below read it, made once.
        let lower = answers::normalize(&note);
        reached_by_the_lure(
            &mut fields,
            category,
            &lower,
            victim.as_ref(),
            !evidence.is_empty(),
        );
        one_person(&mut fields, category, &severity_reasons, &lower);
        sent_by_mistake(&mut fields, category, &lower, note_lang);
    }
    let escalations = if kind == MessageKind::Report {
        escalations_of(
            &note,
            &fields,
            category,
            &category_reasons,
            major_incident_suggested,
            &severity_reasons,
        )
    } else {
        Vec::new()
    };
    let missing = if kind == MessageKind::Report {
        rules::missing(&fields, reply.is_some())
            .into_iter()
            .map(String::from)
            .collect()
    } else {
        Vec::new()
    };
    let fingerprints = if kind == MessageKind::Report {
        super::campaign::fingerprints(&evidence, &evidence_links, &attachments)
    } else {
        Vec::new()
    };
    if !email.parsed {
        notes.push(
            "nothing could be read from this message; an analyst must look at the raw source"
                .into(),
        );
    }

    Analysis {
        kind,
        acknowledge: class.acknowledge && kind == MessageKind::Report,
        tracking_id: tags.first().map(|t| t.to_string()),
        category: category.as_str().to_string(),
        severity_suggested: severity_suggested.to_string(),
        fields,
        missing,
        iocs,
        attachments,
        subject: email.subject.clone(),
        category_reasons,
        severity_reasons,
        severity_provisional: provisional,
        priority: priority.to_string(),
        major_incident_suggested,
        evidence,
        escalations,
        indicator_sources,
        fingerprints,
        note,
        notes,
        email,
        class,
    }
}

/// A phish or a taken-over account names no system when the one it reached is the
/// reporter's own: "Jane Doe's mailbox" (or phone, for a text message; or account),
/// marked as inferred so the analyst sees it was not written.
fn reached_by_the_lure(
    fields: &mut Fields,
    category: Category,
    lower: &str,
    victim: Option<&FieldValue>,
    forwarded: bool,
) {
    if fields.contains_key("systems_affected")
        || !matches!(category, Category::Phishing | Category::AccountCompromise)
    {
        return;
    }
    let what = if category == Category::AccountCompromise {
        "account"
    } else {
        "mailbox"
    };
    // The person a forwarded alert or ticket names ("Recipient: robin.achebe@mass.gov",
    // "Caller: Ingrid Solberg").
    if let Some(v) = victim.and_then(|v| v.value.as_array().map(|a| (a, &v.source))) {
        let (people, source) = v;
        let named: Vec<serde_json::Value> = people
            .iter()
            .filter_map(|p| p.as_str())
            .map(|p| serde_json::Value::String(format!("{p}'s {what}")))
            .collect();
        if !named.is_empty() {
            fields.insert(
                "systems_affected".into(),
                FieldValue {
                    value: serde_json::Value::Array(named),
                    source: source.clone(),
                },
            );
            return;
        }
    }
    // A phish that reached several people, counted: their mailboxes.
    if category == Category::Phishing {
        if let Some(n) = fields
            .get("users_affected")
            .and_then(|v| v.value.as_i64())
            .filter(|n| *n > 1)
        {
            let source = fields["users_affected"].source.clone();
            fields.insert(
                "systems_affected".into(),
                FieldValue {
                    value: serde_json::json!([format!("mailboxes of {n} recipients")]),
                    source,
                },
            );
            return;
        }
    }
    let who = ["reporter_name", "reporter_email"]
        .iter()
        .find_map(|k| fields.get(*k).and_then(|v| v.value.as_str()))
        .map(str::to_string);
    let Some(who) = who else {
        return;
    };
    // Only when the reporter writes of themselves ("I got this", "me llegó"), not of a
    // user, a colleague or a named person ("a user clicked", "she entered").
    let own = [
        "i got",
        "i received",
        "i clicked",
        "i opened",
        "i entered",
        "i approved",
        "my inbox",
        "my mailbox",
        "my account",
        "my email",
        "my phone",
        "my cell",
        "me llegó",
        "recibí",
        "abrí",
        "hice clic",
        "mi correo",
        "mi cuenta",
        "recebi",
        "abri ",
        "cliquei",
        "meu e-mail",
        "minha conta",
        "got this",
    ];
    let other = [
        "a user",
        "an employee",
        "one of our",
        "our staff",
        "staff member",
        "colleague",
        "coworker",
        "co-worker",
        "she ",
        "he ",
        "her ",
        "his ",
        "users",
        "employees",
        "un usuario",
        "una usuaria",
        "un empleado",
        "compañer",
        "um usuário",
        "funcionári",
        "colega",
    ];
    // A forwarded or attached suspect message with no one else named is the
    // reporter's own ("Is this legit?", "reported as phishing by … using the add-in").
    if !(own.iter().any(|c| lower.contains(c)) || forwarded)
        || other.iter().any(|c| answers::has_cue(lower, c.trim()))
    {
        return;
    }
    let texted = [
        "text message",
        "a text ",
        "got a text",
        "got this text",
        "text on my",
        "texted me",
        "sms",
        "smishing",
        "mensaje de texto",
        "mensagem de texto",
        "imessage",
    ]
    .iter()
    .any(|c| lower.contains(c));
    let what = if texted { "phone (text message)" } else { what };
    fields.insert(
        "systems_affected".into(),
        FieldValue {
            value: serde_json::json!([format!("{who}'s {what}")]),
            source: Source {
                part: "inferred".into(),
                line: 0,
                text: format!(
                    "a {} report naming no other system: the reporter's own {what}",
                    category.as_str()
                ),
                message: None,
            },
        },
    );
}

/// Data sent by mistake names no system when the one it left by is mail: "the email
/// sent to the wrong recipient" (in the report's language), marked as inferred.
fn sent_by_mistake(fields: &mut Fields, category: Category, lower: &str, lang: &str) {
    if fields.contains_key("systems_affected") || category != Category::DataExposure {
        return;
    }
    let mistaken = [
        "wrong recipient",
        "wrong address",
        "wrong person",
        "wrong email",
        "wrong contact",
        "sent to the wrong",
        "misdirected",
        "by mistake",
        "por error",
        "por equivocación",
        "equivocad",
        "por engano",
        "errado",
        "errada",
    ]
    .iter()
    .any(|c| lower.contains(c));
    let by_mail = ["email", "e-mail", "correo", "mail "]
        .iter()
        .any(|c| lower.contains(c));
    if !(mistaken && by_mail) {
        return;
    }
    let what = match lang {
        "es" => "correo enviado al destinatario equivocado",
        "pt" => "e-mail enviado ao destinatário errado",
        _ => "email sent to the wrong recipient",
    };
    fields.insert(
        "systems_affected".into(),
        FieldValue {
            value: serde_json::json!([what]),
            source: Source {
                part: "inferred".into(),
                line: 0,
                text: "data sent by mistake by email, naming no other system".into(),
                message: None,
            },
        },
    );
}

/// A report about one person's account, one insider, one infected machine or one
/// click counts one user affected when it gives no number itself; marked as inferred.
fn one_person(fields: &mut Fields, category: Category, severity_reasons: &[String], lower: &str) {
    if fields.contains_key("users_affected") {
        return;
    }
    // "Several staff accounts were taken over": more than one, number unknown.
    if [
        "accounts",
        "mailboxes",
        "several",
        "multiple",
        "many users",
        "employees",
        "cuentas",
        "contas",
        "usuarios",
        "usuários",
        "varios",
        "vários",
    ]
    .iter()
    .any(|c| answers::has_cue(lower, c))
    {
        return;
    }
    let spreading = severity_reasons
        .iter()
        .any(|r| r.contains("spreading") || r.contains(" hosts"));
    let one = match category {
        Category::AccountCompromise | Category::InsiderMisuse => true,
        Category::Malware | Category::Ransomware => !spreading,
        Category::Phishing => severity_reasons
            .iter()
            .any(|r| r.contains("interacted with the phish")),
        _ => false,
    };
    if !one {
        return;
    }
    fields.insert(
        "users_affected".into(),
        FieldValue {
            value: serde_json::json!(1),
            source: Source {
                part: "inferred".into(),
                line: 0,
                text: format!(
                    "a {} report about one person, giving no number",
                    category.as_str()
                ),
                message: None,
            },
        },
    );
}

/// An HTML part as text, noting when the converter's ceiling cut it.
fn html_text(h: &str, notes: &mut Vec<String>) -> String {
    let (t, cut) = html::html_to_text_bounded(h);
    if cut {
        notes.push(format!(
            "an HTML part gave more than {} bytes of text: the rest was not read",
            html::MAX_TEXT_BYTES
        ));
    }
    t
}

/// Text gathered up to [`MAX_TEXT_BYTES`]; what comes after is not copied.
#[derive(Default)]
struct BoundedText(String, bool);

impl BoundedText {
    fn push(&mut self, s: &str) {
        let kept = super::prefix_of(s, MAX_TEXT_BYTES.saturating_sub(self.0.len()));
        self.0.push_str(kept);
        self.1 |= kept.len() < s.len();
    }

    /// The text, noting when it was cut.
    fn finish(self, what: &str, notes: &mut Vec<String>) -> String {
        if self.1 {
            notes.push(format!(
                "{what} is longer than {MAX_TEXT_BYTES} bytes: only the first {MAX_TEXT_BYTES} were analysed"
            ));
        }
        self.0
    }
}

/// The time the earliest message of a forwarded thread says something was noticed.
/// The thread is cut at each message's "Sent:"/"Date:" line (at any quote depth);
/// messages are read oldest first, each against its own date, and only a time cued as
/// detection counts. A message from outside the Commonwealth is not read.
fn detected_in_thread(
    e: &Evidence,
    ctx: &fields::Context<'_>,
    day_first: bool,
) -> Option<FieldValue> {
    let lines: Vec<String> = e.text.lines().map(unquoted).collect();
    let header = |l: &str, keys: &[&str]| {
        header_field(l)
            .filter(|(k, _)| keys.contains(&k.as_str()))
            .map(|(_, v)| v)
    };
    const SENT: &[&str] = &[
        "sent",
        "date",
        "enviado",
        "enviado el",
        "fecha",
        "data",
        "enviada em",
    ];
    const FROM: &[&str] = &["from", "de"];
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| header(&lines[i], SENT).is_some())
        .collect();
    for (n, &at) in starts.iter().enumerate().rev() {
        let end = starts.get(n + 1).copied().unwrap_or(lines.len());
        let sent_text = header(&lines[at], SENT)?;
        let sent = super::when::times_in(&sent_text, ctx.date, day_first)
            .into_iter()
            .next()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t.at).ok());
        let Some(sent) = sent else { continue };
        let from = lines[at.saturating_sub(3)..at]
            .iter()
            .chain(lines.get(at + 1..(at + 4).min(end)).into_iter().flatten())
            .find_map(|l| header(l, FROM))
            .unwrap_or_default()
            .to_lowercase();
        if from.contains('@') && !from.contains("mass.gov") && !from.contains("state.ma.us") {
            continue;
        }
        // The message's own words, after its header block.
        let body_from = (at + 1..end).find(|&i| lines[i].is_empty()).unwrap_or(end);
        let body: Vec<&str> = lines[body_from..end].iter().map(String::as_str).collect();
        for (i, sentence) in fields::sentences(&body) {
            let detected = super::when::times_in(&sentence, Some(sent), day_first)
                .into_iter()
                .find(|t| t.role == super::when::Role::Detected);
            if let Some(t) = detected {
                let line = body_from + i;
                return Some(FieldValue {
                    value: serde_json::Value::String(t.at),
                    source: Source::at_line(
                        &e.origin,
                        line,
                        e.text.lines().nth(line).unwrap_or(""),
                    ),
                });
            }
        }
    }
    None
}

/// A quoted line without its quote marks and bold stars.
fn unquoted(line: &str) -> String {
    line.trim().trim_start_matches(['>', ' ']).replace('*', "")
}

/// A forwarded message's header line ("> **From:** Ann Lee"): its name in lower case
/// and its value.
fn header_field(line: &str) -> Option<(String, String)> {
    let l = unquoted(line);
    let (k, v) = l.split_once(':')?;
    Some((k.trim().to_lowercase(), v.trim().to_string()))
}

fn inline_evidence(fwd: &str, style: &str) -> Evidence {
    let mut from = None;
    let mut subject = None;
    let mut date = None;
    for line in fwd.lines().take(12) {
        if let Some((k, v)) = header_field(line) {
            match k.as_str() {
                "from" if from.is_none() => from = Some(v),
                "subject" if subject.is_none() => subject = Some(v),
                "date" | "sent" if date.is_none() => date = Some(v),
                _ => {}
            }
        }
    }
    Evidence {
        origin: format!("inline-forward ({style})"),
        from,
        subject,
        date,
        message_id: None,
        text: fwd.to_string(),
        headers: String::new(),
    }
}

/// A body with fewer letters than this (not counting spaces) may be a cover note for
/// an attached form.
const FORM_BODY_MAX: usize = 400;
/// The largest attached form read, and the most its streams may inflate to.
const FORM_MAX_BYTES: usize = 4 << 20;

/// An attached PDF or Word document that reads as an incident report form: its name
/// and its text (a PDF's first page; it must name an incident or a report).
fn attached_form(part: &mail_parser::MessagePart<'_>) -> Option<(String, String)> {
    let subtype = part
        .content_type()
        .and_then(|c| c.subtype())
        .unwrap_or("")
        .to_ascii_lowercase();
    let name = part.attachment_name().unwrap_or("").to_ascii_lowercase();
    let bytes = part.contents();
    if bytes.len() > FORM_MAX_BYTES {
        return None;
    }
    let text = if subtype == "pdf" || name.ends_with(".pdf") {
        super::pdf::first_page_text_within(bytes, FORM_MAX_BYTES).ok()?
    } else if subtype.ends_with("wordprocessingml.document") || name.ends_with(".docx") {
        super::docx::text(bytes).ok()?
    } else {
        return None;
    };
    let head: String = text.chars().take(600).collect::<String>().to_lowercase();
    if !(head.contains("incident") || head.contains("report") || head.contains("incidente")) {
        return None;
    }
    let label = part
        .attachment_name()
        .map(super::clean_header)
        .unwrap_or_else(|| "(a PDF)".into());
    Some((label, text))
}

/// Records one attachment; opens attached messages and TNEF, up to a small depth.
#[allow(clippy::too_many_arguments)]
fn collect_attachment(
    part: &mail_parser::MessagePart<'_>,
    from: &str,
    max: usize,
    out: &mut Vec<Attachment>,
    evidence: &mut Vec<Evidence>,
    notes: &mut Vec<String>,
    depth: usize,
) {
    let media_type = part
        .content_type()
        .map(|c| {
            format!("{}/{}", c.ctype(), c.subtype().unwrap_or("octet-stream")).to_ascii_lowercase()
        })
        .unwrap_or_else(|| "application/octet-stream".into());
    let name = part.attachment_name().map(super::clean_header);
    let bytes = part.contents();
    let label = name.clone().unwrap_or_else(|| media_type.clone());
    push_attachment(
        out,
        name.clone(),
        media_type.clone(),
        bytes,
        from,
        max,
        notes,
    );
    if depth >= 3 {
        return;
    }
    if let PartType::Message(inner) = &part.body {
        let mut text = BoundedText::default();
        for id in inner.text_body.iter() {
            if let Some(p) = inner.parts.get(*id as usize) {
                match &p.body {
                    PartType::Text(t) => text.push(t),
                    PartType::Html(h) => text.push(&html_text(h, notes)),
                    _ => {}
                }
                text.push("\n");
            }
        }
        let text = text.finish(&format!("the attached message {label}"), notes);
        evidence.push(Evidence {
            origin: "attached-message".into(),
            from: inner
                .from()
                .and_then(|a| a.first())
                .and_then(|a| a.address.as_deref())
                .map(|a| {
                    match inner
                        .from()
                        .and_then(|f| f.first())
                        .and_then(|f| f.name.as_deref())
                    {
                        Some(n) => format!("{n} <{a}>"),
                        None => a.to_string(),
                    }
                }),
            subject: inner.subject().map(super::clean_header),
            date: inner.date().map(|d| d.to_rfc3339()),
            message_id: inner.message_id().map(super::clean_header),
            text,
            headers: trace_headers(inner),
        });
        for p in inner.attachments() {
            collect_attachment(p, &label, max, out, evidence, notes, depth + 1);
        }
    } else if media_type == "application/ms-tnef" || tnef::is_tnef(bytes) {
        let t = tnef::parse(bytes);
        notes.extend(t.notes.iter().map(|n| format!("{label}: {n}")));
        if let Some(body) = t.body() {
            let mut text = BoundedText::default();
            text.push(&body);
            evidence.push(Evidence {
                origin: format!("tnef-body ({label})"),
                from: None,
                subject: None,
                date: None,
                message_id: None,
                text: text.finish(&format!("the TNEF body of {label}"), notes),
                headers: String::new(),
            });
        }
        for a in &t.attachments {
            let mt = guess_media_type(a.name.as_deref());
            push_attachment(out, a.name.clone(), mt, &a.data, &label, max, notes);
        }
    }
}

/// The headers of an attached message that name where it came from: the hosts and
/// addresses of `Received`, and `Return-Path`, `Reply-To` and `Sender`.
fn trace_headers(msg: &mail_parser::Message<'_>) -> String {
    let mut out = String::new();
    for (name, value) in msg.headers_raw() {
        let n = name.to_ascii_lowercase();
        if ![
            "received",
            "return-path",
            "reply-to",
            "sender",
            "x-originating-ip",
        ]
        .contains(&n.as_str())
        {
            continue;
        }
        let v = super::clean_header(value);
        // Only the "from" clause of a Received line: the "by" host is the receiver's.
        let v = if n == "received" {
            v.split(" by ").next().unwrap_or("").to_string()
        } else {
            v
        };
        out.push_str(&v);
        out.push('\n');
        if out.len() > 16 * 1024 {
            break;
        }
    }
    out
}

fn push_attachment(
    out: &mut Vec<Attachment>,
    name: Option<String>,
    media_type: String,
    bytes: &[u8],
    from: &str,
    max: usize,
    notes: &mut Vec<String>,
) {
    let kept = bytes.len() <= max;
    if !kept {
        notes.push(format!(
            "attachment {} is {} bytes, over the {} byte limit: recorded with its hash, not kept",
            name.as_deref().unwrap_or("(unnamed)"),
            bytes.len(),
            max
        ));
    }
    out.push(Attachment {
        name,
        media_type,
        size: bytes.len(),
        sha256: hex::encode(Sha256::digest(bytes)),
        kept,
        from: from.to_string(),
        data: if kept { bytes.to_vec() } else { Vec::new() },
    });
}

fn guess_media_type(name: Option<&str>) -> String {
    let ext = name
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" => "text/plain",
        "htm" | "html" => "text/html",
        "csv" => "text/csv",
        "pdf" => "application/pdf",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "zip" => "application/zip",
        "eml" => "message/rfc822",
        "rtf" => "application/rtf",
        _ => "application/octet-stream",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(max: usize) -> (Vec<EmailAddress>, usize) {
        (
            vec![EmailAddress::parse("soc@mass.gov").expect("address")],
            max,
        )
    }

    #[test]
    fn the_alerts_recipient_a_forward_and_a_count_name_the_mailboxes() {
        let v = |value: serde_json::Value, part: &str| FieldValue {
            value,
            source: Source {
                part: part.into(),
                line: 3,
                text: String::new(),
                message: None,
            },
        };
        let mut f = Fields::new();
        let victim = v(serde_json::json!(["robin.achebe@mass.gov"]), "alert");
        reached_by_the_lure(
            &mut f,
            Category::Phishing,
            &answers::normalize("She clicked."),
            Some(&victim),
            true,
        );
        assert_eq!(
            f["systems_affected"].value,
            serde_json::json!(["robin.achebe@mass.gov's mailbox"])
        );
        assert_eq!(f["systems_affected"].source.part, "alert");
        let mut f = Fields::new();
        f.insert("users_affected".into(), v(serde_json::json!(23), "body"));
        reached_by_the_lure(
            &mut f,
            Category::Phishing,
            &answers::normalize("staff got it"),
            None,
            true,
        );
        assert_eq!(
            f["systems_affected"].value,
            serde_json::json!(["mailboxes of 23 recipients"])
        );
        // A forwarded phish with no one else named is the reporter's.
        let mut f = Fields::new();
        f.insert(
            "reporter_name".into(),
            v(serde_json::json!("Alan Whitcomb"), "header:From"),
        );
        reached_by_the_lure(
            &mut f,
            Category::Phishing,
            &answers::normalize(
                "This message was reported as phishing using the Report Message add-in.",
            ),
            None,
            true,
        );
        assert_eq!(
            f["systems_affected"].value,
            serde_json::json!(["Alan Whitcomb's mailbox"])
        );
    }

    #[test]
    fn data_emailed_by_mistake_left_by_mail() {
        let mut f = Fields::new();
        let text = "Hola, les escribo porque hoy a las 3 de la tarde envié por error un correo con la lista de los clientes del programa a otra empresa que no es la nuestra. Ya llamé a esa empresa y dijeron que lo iban a borrar.";
        sent_by_mistake(
            &mut f,
            Category::DataExposure,
            &answers::normalize(text),
            super::super::extractors::language(text),
        );
        assert_eq!(
            f["systems_affected"].value,
            serde_json::json!(["correo enviado al destinatario equivocado"])
        );
        assert_eq!(f["systems_affected"].source.part, "inferred");
        // A letter in the post is no email.
        let mut f = Fields::new();
        sent_by_mistake(
            &mut f,
            Category::DataExposure,
            &answers::normalize("A letter with her SSN went to the wrong address."),
            super::super::extractors::language("A letter with her SSN went to the wrong address."),
        );
        assert!(!f.contains_key("systems_affected"));
    }

    #[test]
    fn one_person_and_their_own_mailbox_are_inferred_and_say_so() {
        let name = |n: &str| FieldValue {
            value: serde_json::json!(n),
            source: Source {
                part: "header:From".into(),
                line: 0,
                text: n.into(),
                message: None,
            },
        };
        let mut f = Fields::new();
        f.insert("reporter_name".into(), name("Jane Doe"));
        reached_by_the_lure(
            &mut f,
            Category::Phishing,
            &answers::normalize("I got this text on my cell"),
            None,
            false,
        );
        assert_eq!(
            f["systems_affected"].value,
            serde_json::json!(["Jane Doe's phone (text message)"])
        );
        assert_eq!(f["systems_affected"].source.part, "inferred");
        one_person(
            &mut f,
            Category::Phishing,
            &["phishing received, no interaction reported".into()],
            "",
        );
        assert!(!f.contains_key("users_affected"));
        one_person(
            &mut f,
            Category::Ransomware,
            &["ransomware spreading".into()],
            "",
        );
        assert!(!f.contains_key("users_affected"));
        one_person(
            &mut f,
            Category::AccountCompromise,
            &[],
            &answers::normalize("Several staff accounts were taken over."),
        );
        assert!(!f.contains_key("users_affected"));
        one_person(
            &mut f,
            Category::AccountCompromise,
            &[],
            &answers::normalize("her account"),
        );
        assert_eq!(f["users_affected"].value, serde_json::json!(1));
        // Someone else's click is not the reporter's mailbox.
        let mut h = Fields::new();
        h.insert("reporter_name".into(), name("Jane Doe"));
        reached_by_the_lure(
            &mut h,
            Category::Phishing,
            &answers::normalize("A user clicked a link in a phishing email."),
            None,
            true,
        );
        assert!(!h.contains_key("systems_affected"));
        // A system the report names is kept.
        let mut g = Fields::new();
        g.insert("reporter_name".into(), name("Jane Doe"));
        g.insert("systems_affected".into(), name("FS-01"));
        reached_by_the_lure(&mut g, Category::Phishing, "", None, true);
        assert_eq!(g["systems_affected"].value, serde_json::json!("FS-01"));
    }

    const FORWARDED: &str = "From: Jane Doe <jane@dor.state.ma.us>\r\nTo: soc@mass.gov\r\nSubject: FW: pay now\r\nMessage-ID: <a@dor>\r\nDate: Tue, 10 Mar 2026 09:45:00 -0400\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nPlease look at the attached phish. Call me at 617-555-0142.\r\n--b\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=phish.eml\r\n\r\nFrom: Payroll <pay@evil-payroll.test>\r\nSubject: Verify your account\r\n\r\nClick hxxps://evil-payroll[.]com/login now. Phone: 202-555-0199\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n--b--\r\n";

    /// A message with `body` and a PDF attachment whose one page shows `lines`.
    fn with_pdf(body: &str, lines: &[&str]) -> Vec<u8> {
        let shown: String = lines.iter().map(|l| format!("({l}) Tj T* ")).collect();
        let content = format!("BT 12 TL {shown}ET");
        let pdf = format!(
            "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n\
             2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n\
             3 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>\nendobj\n\
             4 0 obj\n<< /Length {} >>\nstream\n{content}\nendstream\nendobj\n%%EOF\n",
            content.len()
        );
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(pdf.as_bytes());
        format!(
            "From: Gina Romano <gina.romano@dls.state.ma.us>\r\nTo: soc@mass.gov\r\nSubject: Incident report\r\n\
             Message-ID: <form@dls>\r\nDate: Tue, 17 Feb 2026 14:05:00 -0500\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n{body}\r\n\
             --b\r\nContent-Type: application/pdf; name=form.pdf\r\nContent-Disposition: attachment; filename=form.pdf\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b--\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn a_report_sent_as_an_attached_form_is_read_from_the_form() {
        let (own, max) = opts(DEFAULT_MAX_PART_BYTES);
        let o = Options {
            own: &own,
            agencies: &[],
            tracking_prefix: "SOC",
            max_part_bytes: max,
        };
        let form = [
            "INFORMATION SECURITY INCIDENT REPORT FORM",
            "Phone: 617-555-0117",
            "Law enforcement contacted: no",
        ];
        let a = analyze(&with_pdf("Please see the attached form.", &form), &o);
        assert_eq!(a.fields["reporter_phone"].value, "+16175550117");
        assert_eq!(a.fields["law_enforcement_contacted"].value, "no");
        assert!(
            a.notes.iter().any(|n| n.contains("attached form form.pdf")),
            "{:?}",
            a.notes
        );
        // A long body is the report; a PDF that is no report form (an invoice) is
        // evidence, never the reporter's words.
        let long = "We received a phishing email. ".repeat(30);
        let a = analyze(&with_pdf(&long, &form), &o);
        assert!(!a.fields.contains_key("reporter_phone"), "{:?}", a.fields);
        let invoice = ["INVOICE 4471", "Call 202-555-0199 to pay"];
        let a = analyze(&with_pdf("See attached.", &invoice), &o);
        assert!(!a.fields.contains_key("reporter_phone"), "{:?}", a.fields);
    }

    #[test]
    fn forwarded_evidence_is_kept_apart_from_the_reporters_words() {
        let (own, max) = opts(DEFAULT_MAX_PART_BYTES);
        let a = analyze(
            FORWARDED.as_bytes(),
            &Options {
                own: &own,
                agencies: &[],
                tracking_prefix: "SOC",
                max_part_bytes: max,
            },
        );
        assert_eq!(a.evidence.len(), 1);
        assert_eq!(
            a.evidence[0].subject.as_deref(),
            Some("Verify your account")
        );
        // The phish's phone number is not the reporter's; its link is an indicator.
        assert_eq!(a.fields["reporter_phone"].value, "+16175550142");
        assert!(
            a.iocs
                .urls
                .contains(&"https://evil-payroll.com/login".to_string()),
            "{:?}",
            a.iocs
        );
        assert!(!a.note.contains("Verify your account"));
        assert_eq!(a.category, "phishing");
    }

    /// `raw` read with the default limits.
    fn read(raw: &str) -> Analysis {
        let (own, max) = opts(DEFAULT_MAX_PART_BYTES);
        analyze(
            raw.as_bytes(),
            &Options {
                own: &own,
                agencies: &[],
                tracking_prefix: "SOC",
                max_part_bytes: max,
            },
        )
    }

    fn html_reply(html: &str) -> Analysis {
        read(&format!("From: Jane Doe <jane@dor.state.ma.us>\r\nTo: soc@mass.gov\r\nSubject: RE: [SOC-2026-000001] Received: Phish\r\nDate: Tue, 10 Mar 2026 11:00:00 -0400\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"))
    }

    #[test]
    fn outlook_html_reply_reads_answers_on_top_and_inline() {
        let a = html_reply(
            r#"<html><body><div class=WordSection1><p class=MsoNormal>Phone: 617-555-0142<o:p></o:p></p><p class=MsoNormal>Actions taken: we blocked the sender<o:p></o:p></p><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0in 0in 0in"><p class=MsoNormal><b>From:</b> SOC &lt;soc@mass.gov&gt;<br><b>Sent:</b> Tuesday, March 10, 2026 9:50 AM<br><b>To:</b> Jane Doe<br><b>Subject:</b> [SOC-2026-000001] Received: Phish</p></div><p class=MsoNormal>Agency:<o:p></o:p></p><p class=MsoNormal>Law enforcement contacted (yes/no/unknown): no<o:p></o:p></p></div></body></html>"#,
        );
        assert_eq!(a.kind, MessageKind::Reply);
        assert_eq!(a.fields["reporter_phone"].value, "+16175550142");
        assert!(a.fields["actions_taken"]
            .value
            .as_str()
            .unwrap()
            .contains("blocked"));
        // Our acknowledgement prints its labels empty: a value next to one, inside
        // the quoted acknowledgement, is the reporter's inline answer.
        assert_eq!(a.fields["law_enforcement_contacted"].value, "no");
        assert!(a.fields["law_enforcement_contacted"]
            .source
            .part
            .contains("quoted acknowledgement"));
        assert!(
            !a.fields.contains_key("agency"),
            "an empty label is no answer"
        );
    }

    #[test]
    fn inline_answers_in_red_below_are_read_but_not_the_rest_of_the_quote() {
        let a = html_reply(
            r#"<div>Answers inline below in red.</div><div style="border-top:solid #E1E1E1 1.0pt"><p><b>From:</b> SOC &lt;soc@mass.gov&gt;<br><b>Sent:</b> Tuesday, March 10, 2026 9:50 AM<br><b>To:</b> Jane Doe<br><b>Subject:</b> [SOC-2026-000001] Received: Phish</p></div><p>To assess it we still need: call the SOC at 617-555-0100 if it gets worse.</p><p>Phone: <span style="color:red">508-555-0146 (cell)</span></p><p>Detected at: <span style="color:red">this morning about 8:15</span></p><p>Why we ask:</p><ul><li><b>Agency:</b> so we route the case to your secretariat's CIO.</li></ul>"#,
        );
        assert_eq!(a.fields["reporter_phone"].value, "+15085550146");
        assert_eq!(a.fields["detected_at"].value, "2026-03-10T08:15:00-04:00");
        // Our own explanation beside a label is not an answer.
        assert!(
            !a.fields.contains_key("agency"),
            "{:?}",
            a.fields.get("agency")
        );
    }

    #[test]
    fn gmail_and_apple_blockquotes_are_quoted_history() {
        let a = html_reply(
            r#"<div dir="ltr">Agency: DOR<br>Systems affected: WS-DOR-1142</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Tue, Mar 10, 2026 at 9:50 AM SOC &lt;soc@mass.gov&gt; wrote:<br></div><blockquote class="gmail_quote">Call us at 617-555-0100<br>We wiped and reimaged the laptop.</blockquote></div>"#,
        );
        assert_eq!(a.fields["agency"].value, "Department of Revenue");
        assert!(
            !a.fields.contains_key("reporter_phone") && !a.fields.contains_key("actions_taken")
        );
        let a = html_reply(
            r#"<html><body dir="auto">Police contacted: yes, State Police<br><div><br><blockquote type="cite">On Mar 10, 2026, at 9:50 AM, SOC wrote:<br><br>The SOC desk: 617-555-0100</blockquote></div></body></html>"#,
        );
        assert_eq!(a.fields["law_enforcement_contacted"].value, "yes");
        assert!(!a.fields.contains_key("reporter_phone"));
    }

    #[test]
    fn a_forwarded_alert_giving_only_its_activity_was_detected_when_sent() {
        let raw = "From: Paul Whitcombe <paul.whitcombe@mass.gov>\r\nTo: soc@mass.gov\r\nSubject: FW: Suspected DCSync attack\r\nDate: Tue, 25 Aug 2026 02:58:14 -0400\r\n\r\nSOC - see below, I isolated the jump host.\r\n\r\nFrom: Microsoft Defender for Identity <mdi-noreply@microsoft.com>\r\nSent: Tuesday, August 25, 2026 2:31 AM\r\nTo: DCJIS SecOps <dcjis.secops@mass.gov>\r\nSubject: Suspected DCSync attack\r\n\r\nSeverity\r\n\r\nHigh\r\n\r\nFirst activity\r\n\r\nAug 25, 2026 6:24:51 AM UTC\r\n";
        let a = read(raw);
        assert_eq!(a.fields["detected_at"].value, "2026-08-25T02:31:00-04:00");
        assert_eq!(a.fields["occurred_at"].value, "2026-08-25T02:24:51-04:00");
        assert!(
            !a.missing.contains(&"detected_at".to_string()),
            "{:?}",
            a.missing
        );
        // A ticket system's notice is sent when the ticket moves, not when anything
        // was detected.
        let ticket = raw.replace(
            "Microsoft Defender for Identity <mdi-noreply@microsoft.com>",
            "ServiceNow <instance@service-now.com>",
        );
        let a = read(&ticket);
        assert!(
            a.fields
                .get("detected_at")
                .is_none_or(|d| d.value != "2026-08-25T02:31:00-04:00"),
            "{:?}",
            a.fields.get("detected_at")
        );
    }

    #[test]
    fn a_forwarded_alerts_own_times_outweigh_the_forwarders() {
        let raw = "From: Ann Lee <ann.lee@mass.gov>\r\nTo: soc@mass.gov\r\nSubject: FW: Defender alert\r\nDate: Tue, 01 Dec 2026 10:02:00 -0500\r\n\r\nSOC - the user says she opened the attachment around 9.\r\n\r\nFrom: Microsoft Defender <defender-noreply@microsoft.com>\r\nSent: Tuesday, December 1, 2026 9:15 AM\r\nTo: DPH Security <dph.security@mass.gov>\r\nSubject: Suspicious PowerShell\r\n\r\nDevice: dph-lab-ws-2231.dph.local\r\nFirst activity: 12/1/2026 2:09:41 PM UTC\r\nAlert time: 12/1/2026 2:14:03 PM UTC\r\n";
        let a = read(raw);
        assert_eq!(a.fields["detected_at"].value, "2026-12-01T09:14:03-05:00");
        assert_eq!(a.fields["occurred_at"].value, "2026-12-01T09:09:41-05:00");
        assert_eq!(
            a.fields["systems_affected"].value,
            serde_json::json!(["dph-lab-ws-2231.dph.local"])
        );
    }

    #[test]
    fn a_thread_forwarded_whole_is_dated_by_its_earliest_noticing() {
        let raw = "From: Ann Lee <ann.lee@mass.gov>\r\nTo: soc@mass.gov\r\nSubject: FW: BMS setpoints\r\nDate: Tue, 03 Nov 2026 14:31:08 -0500\r\n\r\nSOC - adding you, see the whole thread below; the vendor's account was misused.\r\n\r\nFrom: Bob Hall <bob.hall@mass.gov>\r\nSent: Tuesday, November 3, 2026 11:02 AM\r\nTo: Ann Lee <ann.lee@mass.gov>\r\nSubject: RE: BMS setpoints\r\n\r\nWe disabled their access at 11:00.\r\n\r\n> From: Carl Ross <carl.ross@mass.gov>\r\n> Sent: Tuesday, November 3, 2026 6:58 AM\r\n> To: Bob Hall <bob.hall@mass.gov>\r\n> Subject: BMS setpoints\r\n>\r\n> Came in at 6:50 this morning and floors 3-7 were at 85 degrees.\r\n";
        let a = read(raw);
        assert_eq!(a.fields["detected_at"].value, "2026-11-03T06:50:00-05:00");
        assert!(a.fields["detected_at"]
            .source
            .part
            .starts_with("inline-forward"));
    }

    #[test]
    fn parts_over_the_size_limit_are_recorded_not_kept() {
        let (own, _) = opts(0);
        let a = analyze(
            FORWARDED.as_bytes(),
            &Options {
                own: &own,
                agencies: &[],
                tracking_prefix: "SOC",
                max_part_bytes: 40,
            },
        );
        let big = a
            .attachments
            .iter()
            .find(|x| x.name.as_deref() == Some("big.bin"))
            .expect("big.bin recorded");
        assert_eq!(big.size, 60);
        assert!(!big.kept && big.data.is_empty());
        assert_eq!(big.sha256.len(), 64);
        assert!(
            a.notes
                .iter()
                .any(|n| n.contains("big.bin") && n.contains("not kept")),
            "{:?}",
            a.notes
        );
    }
}
