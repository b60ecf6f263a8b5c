//! The field extractors, one small function each, run in the order of [`EXTRACTORS`]:
//! labelled lines first (what the reporter labelled wins), then free text. Each only
//! fills fields still empty, and every value keeps the line it came from.

use serde_json::Value;

use super::answers::{self, Tri};
use super::fields::{
    canonical_agency, display_name, find_agency, impact, label_field, label_field_loose, le_agency,
    number_word, phone, sentences, Context, FieldValue, Fields, Source, COUNT, HOST, LOCAL_HOST,
    OWN_ACCOUNT, PHONE, SISTEMA, SYSTEM,
};
use super::when::{self, Role};

/// What every extractor reads: the text, its lines and sentences, and the context.
pub struct Input<'a> {
    pub lines: Vec<&'a str>,
    pub lower: Vec<String>,
    /// Sentences with the (0-based) line each starts on.
    pub units: Vec<(usize, String)>,
    pub part: &'a str,
    pub ctx: &'a Context<'a>,
    /// The report's language: "en", "es" or "pt".
    pub lang: &'static str,
    /// Numeric dates are day/month (a Spanish or Portuguese report).
    pub day_first: bool,
    pub text: &'a str,
}

impl<'a> Input<'a> {
    pub fn new(text: &'a str, part: &'a str, ctx: &'a Context<'a>) -> Self {
        let lines: Vec<&str> = text.lines().collect();
        let lang = language(text);
        Input {
            lower: lines.iter().map(|l| answers::normalize(l)).collect(),
            units: sentences(&lines),
            day_first: matches!(lang, "es" | "pt"),
            lang,
            lines,
            part,
            ctx,
            text,
        }
    }

    fn source(&self, i: usize) -> Source {
        Source::at_line(self.part, i, self.lines.get(i).copied().unwrap_or(""))
    }

    /// Sets `name` unless an earlier extractor did.
    fn put(&self, f: &mut Fields, name: &str, value: Value, i: usize) {
        f.entry(name.to_string()).or_insert(FieldValue {
            value,
            source: self.source(i),
        });
    }
}

/// One extractor: reads the input, fills what it finds and is still empty.
pub type Extractor = fn(&Input<'_>, &mut Fields);

/// The extractors, in the order they run.
pub const EXTRACTORS: &[(&str, Extractor)] = &[
    ("labelled lines and table rows", labelled),
    ("reporter phone in free text", phone_in_text),
    ("times and their roles", times),
    ("counts of records and users", counts),
    ("yes/no answers in free text", yes_no),
    ("actions taken", actions),
    ("systems affected", systems),
    ("third party", third_party),
    ("functional impact", functional_impact),
    ("agency", agency),
    ("reporter name", reporter_name),
    ("description", description),
];

/// Runs every extractor over `text`.
pub fn run(text: &str, part: &str, ctx: &Context<'_>) -> Fields {
    let input = Input::new(text, part, ctx);
    let mut f = Fields::new();
    for (_, extract) in EXTRACTORS {
        extract(&input, &mut f);
    }
    f
}

/// `en`, `es` or `pt`, by the commonest function words.
pub fn language(text: &str) -> &'static str {
    let lower = answers::normalize(text);
    let count = |words: &[&str]| {
        lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| words.contains(w))
            .count()
    };
    let en = count(&["the", "and", "we", "was", "is", "of", "to", "have"]);
    let es = count(&[
        "el", "los", "las", "del", "que", "y", "fue", "una", "hemos", "está",
    ]);
    let pt = count(&[
        "o", "os", "as", "do", "da", "que", "e", "foi", "uma", "não", "está",
    ]);
    if es > en && es >= pt {
        "es"
    } else if pt > en && pt > es {
        "pt"
    } else {
        "en"
    }
}

/// A label and its value in one line: `Label: value`, `Label | value` (a table row),
/// `Label<TAB>value`, `Label? value`.
fn split_label<'a>(line: &'a str) -> Option<(&'a str, &'a str)> {
    const SEPS: [char; 4] = [':', '|', '\t', '?'];
    let value = |v: &'a str| v.trim_start_matches([':', '|', ' ', '\t']);
    // The fill-in wordings at any separator first ("Police contacted? No: we handled
    // it" is the label before the `?`), then key words: only before `:` or `?`, never
    // across a `?` (the question is the label), and never between table cells (a
    // signature's "Agency name | street address").
    for sep in SEPS {
        if let Some((l, v)) = line.split_once(sep) {
            if label_field(l).is_some() {
                return Some((l, value(v)));
            }
        }
    }
    for sep in [':', '?'] {
        if let Some((l, v)) = line.split_once(sep) {
            if !l.contains('?') && label_field_loose(l).is_some() {
                return Some((l, value(v)));
            }
        }
    }
    None
}

/// The bullets, bold marks and quote marks around a labelled line.
fn clean_line(raw: &str) -> String {
    raw.trim()
        .trim_start_matches(['-', '*', '•', '>', '|', ' '])
        .trim()
        .replace("**", "")
}

/// Labelled lines ("Phone: …", "Teléfono: …", "Done so far: …"), table rows
/// ("Phone | …"), and a label alone on its line with its value on the next (a table
/// laid out cell by cell).
pub fn labelled(input: &Input<'_>, f: &mut Fields) {
    let lines = &input.lines;
    for (i, raw) in lines.iter().enumerate() {
        let line = clean_line(raw);
        let (field, value, at) = match split_label(&line) {
            Some((label, value)) if !value.trim().is_empty() => {
                let Some(field) = label_field(label).or_else(|| {
                    (!line.contains(" | "))
                        .then(|| label_field_loose(label))
                        .flatten()
                }) else {
                    continue;
                };
                (field, value.trim().to_string(), i)
            }
            _ => {
                // A label alone ("Phone" or "Phone:"), its value on the next line.
                // A label by its key words only when it is marked as one.
                let marked = line.trim_end().ends_with([':', '?']);
                let bare = line.trim_end_matches([':', '|']).trim();
                let Some(field) =
                    label_field(bare).or_else(|| marked.then(|| label_field_loose(bare)).flatten())
                else {
                    continue;
                };
                let Some((j, next)) = super::body::next_text_line(lines, i) else {
                    continue;
                };
                let next = clean_line(next);
                let next_bare = next.trim_end_matches(':').trim();
                if j > i + 2
                    || split_label(&next).is_some()
                    || label_field(next_bare).is_some()
                    || next.len() > 200
                {
                    continue;
                }
                (field, next, j)
            }
        };
        if let Some(v) = label_value(input, f, field, &value, at) {
            input.put(f, field, v, at);
        }
    }
}

/// The value of a labelled field, in the field's own form.
fn label_value(
    input: &Input<'_>,
    f: &mut Fields,
    field: &str,
    value: &str,
    i: usize,
) -> Option<Value> {
    let ctx = input.ctx;
    Some(match field {
        "personal_information"
        | "law_enforcement_contacted"
        | "external_communications"
        | "is_ongoing" => {
            let t = answers::tri_value(value)
                .or_else(|| answers::answer(field, value))
                .or_else(|| answers::label_answer(field, value))?;
            if field == "law_enforcement_contacted" && t == Tri::Yes {
                if let Some(agency) = le_agency(value) {
                    input.put(f, "law_enforcement_agency", Value::String(agency), i);
                }
            }
            Value::String(t.as_str().into())
        }
        // A contact line may give a name only: no number, no phone.
        "reporter_phone" => Value::String(phone(value)?),
        "detected_at" | "occurred_at" => {
            let found = when::times_in(value, ctx.date, input.day_first);
            let t = found
                .iter()
                .find(|t| !matches!(t.role, Role::Meeting | Role::Action | Role::Ended))
                .or(found.first())?;
            Value::String(t.at.clone())
        }
        "users_affected" | "records_affected" => {
            let digits: String = value
                .split(|c: char| !c.is_ascii_digit() && c != ',')
                .find(|w| w.chars().any(|c| c.is_ascii_digit()))?
                .chars()
                .filter(|c| c.is_ascii_digit())
                .collect();
            Value::from(digits.parse::<i64>().ok()?)
        }
        "systems_affected" => Value::Array(
            value
                .split([',', ';'])
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.into()))
                .collect(),
        ),
        // "Departamento de Niños y Familias (DCF), oficina de Lawrence": the name or
        // alias inside the value, else the value as written.
        "agency" => Value::String(
            canonical_agency(value, ctx.agencies)
                .or_else(|| {
                    let only_text = Context {
                        date: None,
                        sender: None,
                        sender_name: None,
                        agencies: ctx.agencies,
                    };
                    find_agency(&[value], &only_text).map(|(name, _)| name)
                })
                .unwrap_or_else(|| value.to_string()),
        ),
        "functional_impact" => Value::String(impact(value)?.into()),
        // A person's name: a few words of letters ("Lorraine Whitfield"), not an
        // address, a number or a sentence.
        "reporter_name" => {
            let v = value.trim();
            let words = v.split_whitespace().count();
            let name_like = (1..=5).contains(&words)
                && v.chars().all(|c| c.is_alphabetic() || " .'-’".contains(c))
                && v.chars().next().is_some_and(char::is_uppercase);
            if !name_like {
                return None;
            }
            Value::String(display_name(v))
        }
        _ => Value::String(value.to_string()),
    })
}

/// A phone number in free text, one beside "call", "cell", "desk"… preferred.
pub fn phone_in_text(input: &Input<'_>, f: &mut Fields) {
    if f.contains_key("reporter_phone") {
        return;
    }
    let cue = [
        "call",
        "phone",
        "cell",
        "reach",
        "desk",
        "mobile",
        "office:",
        "tel",
        "direct",
        "celular",
        "teléfono",
        "telefone",
        "contato",
        "contacto",
        "ramal",
    ];
    let mut best: Option<(usize, String, bool)> = None;
    for (i, l) in input.lines.iter().enumerate() {
        if let Some(p) = phone(l) {
            let cued = cue.iter().any(|c| input.lower[i].contains(c));
            if best.as_ref().is_none_or(|(_, _, bc)| cued && !bc) {
                best = Some((i, p, cued));
            }
        }
    }
    if let Some((i, p, _)) = best {
        input.put(f, "reporter_phone", Value::String(p), i);
    }
}

/// Detection and occurrence times: a time cued as noticed is detection, one cued as a
/// beginning is occurrence; actions and meetings are neither; of unmarked times the
/// latest is detection and the earliest occurrence.
pub fn times(input: &Input<'_>, f: &mut Fields) {
    let mut found: Vec<(usize, String, Role)> = Vec::new();
    // The day the paragraph's last dated time was on, for a bare time after it.
    let mut carry: Option<(usize, when::Carry)> = None;
    // Each line's paragraph (blank lines counted so far), so two sentences are compared
    // in one step however long the paragraph.
    let paragraph: Vec<usize> = input
        .lines
        .iter()
        .scan(0, |n, l| {
            *n += usize::from(l.trim().is_empty());
            Some(*n)
        })
        .collect();
    for (i, sentence) in &input.units {
        let prior = carry
            .filter(|(from, _)| paragraph.get(*from) == paragraph.get(*i))
            .map(|(_, c)| c);
        let times = when::times_in_after(sentence, input.ctx.date, input.day_first, prior);
        if let Some(c) = times.iter().rev().find_map(|t| t.day) {
            carry = Some((*i, c));
        }
        for t in times {
            if matches!(t.role, Role::Action | Role::Meeting | Role::Ended) {
                continue;
            }
            if !found.iter().any(|(_, x, _)| *x == t.at) {
                found.push((*i, t.at, t.role));
            }
        }
        if found.len() >= 8 {
            break;
        }
    }
    let key = |t: &String| chrono::DateTime::parse_from_rfc3339(t).ok();
    let unmarked: Vec<&(usize, String, Role)> = found
        .iter()
        .filter(|(_, _, r)| *r == Role::Unmarked)
        .collect();
    let detected = found
        .iter()
        .find(|(_, _, r)| *r == Role::Detected)
        .or_else(|| unmarked.iter().max_by_key(|(_, t, _)| key(t)).copied());
    let occurred = found
        .iter()
        .find(|(_, _, r)| *r == Role::Occurred)
        .or_else(|| {
            unmarked
                .iter()
                .filter(|x| Some(**x) != detected)
                .min_by_key(|(_, t, _)| key(t))
                .copied()
        });
    // A report whose only time is when it began, sent within two hours of it ("red
    // screens since about 7:55" at 8:09), was seen then: the directive asks for a report
    // at once, so that time answers detection too. Later, when it was noticed is not said
    // ("first post at 2:10 am", written in the morning).
    let seen_at_start = occurred.filter(|(_, t, _)| match (key(t), input.ctx.date) {
        (Some(start), Some(sent)) => {
            let gap = sent.signed_duration_since(start);
            gap >= chrono::TimeDelta::zero() && gap <= chrono::TimeDelta::hours(2)
        }
        _ => false,
    });
    if let Some((i, t, _)) = detected.or(seen_at_start) {
        input.put(f, "detected_at", Value::String(t.clone()), *i);
    }
    if let Some((i, t, _)) = occurred.filter(|o| Some(*o) != detected) {
        input.put(f, "occurred_at", Value::String(t.clone()), *i);
    }
}

/// "1,240 records", "14 people", "three users".
pub fn counts(input: &Input<'_>, f: &mut Fields) {
    for (i, l) in input.lines.iter().enumerate() {
        for c in COUNT.captures_iter(l) {
            let (Some(n), Some(what)) = (c.get(1).and_then(|m| number_word(m.as_str())), c.get(2))
            else {
                continue;
            };
            let what = what.as_str().to_lowercase();
            let users = [
                "users",
                "accounts",
                "employees",
                "staff",
                "mailboxes",
                "members",
                "usuarios",
                "cuentas",
                "empleados",
                "usuários",
                "contas",
                "funcionários",
            ];
            let name = if users.contains(&what.as_str()) {
                "users_affected"
            } else {
                "records_affected"
            };
            input.put(f, name, Value::from(n), i);
        }
    }
}

/// Personal information, law enforcement and external communications in free text,
/// with negation, modality, presence and third-party contact (see [`answers`]).
pub fn yes_no(input: &Input<'_>, f: &mut Fields) {
    personal_information(input, f);
    for name in ["law_enforcement_contacted", "external_communications"] {
        if f.contains_key(name) {
            continue;
        }
        for (i, sentence) in &input.units {
            let Some(t) = answers::answer(name, sentence) else {
                continue;
            };
            input.put(f, name, Value::String(t.as_str().into()), *i);
            if name == "law_enforcement_contacted" && t == Tri::Yes {
                if let Some(a) = le_agency(sentence) {
                    input.put(f, "law_enforcement_agency", Value::String(a), *i);
                }
            }
            break;
        }
    }
    if !f.contains_key("is_ongoing") {
        for (i, sentence) in &input.units {
            let l = answers::normalize(sentence);
            let v = if ["has stopped", "no longer", "was contained", "is contained"]
                .iter()
                .any(|c| l.contains(c))
            {
                "no"
            } else if ["still happening", "ongoing", "still going", "right now"]
                .iter()
                .any(|c| l.contains(c))
                && !l.contains('?')
            {
                "yes"
            } else {
                continue;
            };
            input.put(f, "is_ongoing", Value::String(v.into()), *i);
            break;
        }
    }
}

/// Marks a personal-information "unknown" that rests on data only said to be kept
/// where the incident happened: the report reads it as "yes" for a lost device, a
/// misdirected or posted file or an insider (see `report`), "unknown" otherwise.
pub const PI_HELD: &str = "personal_information_held";

/// Personal information over the whole text: data said to be reached ("were
/// downloaded", "posted … with SSNs") is yes; else the first explicit answer ("no PII",
/// "don't know if any personal information was read"); else data only said to be kept
/// ("the server holds DOBs") is unknown, marked with [`PI_HELD`].
fn personal_information(input: &Input<'_>, f: &mut Fields) {
    let name = "personal_information";
    if f.contains_key(name) {
        return;
    }
    let mut explicit: Option<(usize, Tri)> = None;
    let mut held: Option<usize> = None;
    // A count of the records or people reached says they were involved.
    let counted = |s: &str| {
        COUNT.captures_iter(s).any(|c| {
            c.get(2).is_some_and(|u| {
                !matches!(
                    u.as_str().to_lowercase().as_str(),
                    "ssns" | "social security numbers" | "rows"
                )
            })
        })
    };
    for (i, sentence) in &input.units {
        // "Some with DOBs, so I don't know if any personal information was read":
        // the reporter's own doubt outweighs the data named beside it.
        let doubt = answers::clauses(sentence)
            .iter()
            .any(|c| answers::answer_in_clause(name, c) == Some(Tri::Unknown));
        let answer = if doubt {
            Some(Tri::Unknown)
        } else {
            answers::answer(name, sentence)
        };
        match answer {
            Some(Tri::Yes) if !answers::only_held(sentence) || counted(sentence) => {
                input.put(f, name, Value::String("yes".into()), *i);
                return;
            }
            Some(Tri::Yes) => {
                held.get_or_insert(*i);
            }
            Some(t) => {
                explicit.get_or_insert((*i, t));
            }
            None => {}
        }
    }
    if let Some((i, t)) = explicit {
        input.put(f, name, Value::String(t.as_str().into()), i);
    } else if let Some(i) = held {
        input.put(f, name, Value::String("unknown".into()), i);
        input.put(f, PI_HELD, Value::Bool(true), i);
    }
}

/// What was done, in the reporter's words (see [`actions::deeds`]): up to three parts
/// that say someone did something, else those only said to have happened, else that
/// nothing has been done yet.
pub fn actions(input: &Input<'_>, f: &mut Fields) {
    if f.contains_key("actions_taken") {
        return;
    }
    let mut found: Vec<(usize, String, u8)> = Vec::new();
    for (i, unit) in &input.units {
        for sentence in unit.split_inclusive(". ") {
            if let Some((text, rank)) = super::actions::deeds(sentence) {
                found.push((*i, text, rank));
            }
        }
        if found.iter().filter(|x| x.2 == 0).count() >= 3 {
            break;
        }
    }
    let Some(best) = found.iter().map(|x| x.2).min() else {
        return;
    };
    let chosen: Vec<&(usize, String, u8)> = found.iter().filter(|x| x.2 == best).take(3).collect();
    let text = chosen
        .iter()
        .map(|(_, s, _)| s.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    input.put(f, "actions_taken", Value::String(text), chosen[0].0);
}

/// Host names (upper case with digits) and "the … server/laptop/portal" phrases.
pub fn systems(input: &Input<'_>, f: &mut Fields) {
    if f.contains_key("systems_affected") {
        return;
    }
    let mut items: Vec<String> = Vec::new();
    let mut first = None;
    // Sentences, not lines: a plain-text client wraps "a misconfigured / storage
    // container" across two lines.
    for (i, l) in &input.units {
        let (i, l) = (*i, l.as_str());
        // A mail client's or a ticket system's own line names its product, not a system.
        let low = &l.to_lowercase();
        if [
            "sent from my",
            "enviado desde mi",
            "enviado do meu",
            "enviado de meu",
            "get outlook for",
            "obtener outlook para",
            "obter o outlook para",
            "in the self-service portal",
            "you can view this",
            "view this incident",
            "view this request",
            "view request",
        ]
        .iter()
        .any(|c| low.contains(c))
        {
            continue;
        }
        let upper = HOST.find_iter(l).map(|m| m.as_str()).filter(|h| {
            h.chars().any(|c| c.is_ascii_digit())
                && !h.starts_with("CVE-")
                && !h.starts_with("SOC-")
                && !h.starts_with("INC")
        });
        let lower = LOCAL_HOST
            .find_iter(l)
            .map(|m| m.as_str())
            .filter(|h| h.chars().any(|c| c.is_ascii_digit()) || h.matches('.').count() >= 2);
        for h in upper.chain(lower) {
            if !items.iter().any(|x| x == h) {
                items.push(h.to_string());
                first.get_or_insert(i);
            }
        }
        // A line giving a number to call back ("call me at", "Teléfono:"), or saying
        // what the mail was sent from, names the reporter's phone, not an affected one
        // ("my work cell (617-555-0142) was stolen" is one).
        let contact_line = PHONE.is_match(l)
            && [
                "call",
                "reach",
                "reached",
                "contact",
                "llamar",
                "llámame",
                "llamen",
                "ligar",
                "liguem",
                "contacto",
                "contato",
                "cell:",
                "cel:",
                "tel:",
                "tel.",
                "phone:",
                "teléfono:",
                "telefone:",
                "celular:",
                "mobile:",
            ]
            .iter()
            .any(|c| low.contains(c));
        // Each language's word order: English modifiers come before the head ("the
        // payroll server"), Spanish and Portuguese owners after it ("el celular del
        // trabajo"); the English rule on Portuguese reads "a minha senha pelo portal".
        let phrases = if input.lang == "en" {
            &*SYSTEM
        } else {
            &*SISTEMA
        };
        for c in phrases.captures_iter(l).chain(OWN_ACCOUNT.captures_iter(l)) {
            if let Some(m) = c.get(1) {
                let head = m.as_str().to_lowercase();
                let phone = ["phone", "celular", "teléfono", "telefone", "cell"]
                    .iter()
                    .any(|p| head.contains(p));
                // The few words before the phrase (never the whole line again per match).
                let before = super::suffix_of(&l[..m.start()], 24).to_lowercase();
                let before = before.trim_end();
                let sent_from = [
                    "sent from my",
                    "writing from my",
                    "writing you from my",
                    "one from my",
                    "this from my",
                    "note from my",
                    "typing on my",
                    "typing this on my",
                    "enviado desde mi",
                    "escribo desde mi",
                    "enviado do meu",
                    "escrevendo do meu",
                ]
                .iter()
                .any(|p| before.ends_with(p));
                if phone && (contact_line || sent_from) {
                    continue;
                }
                // The next word only (never the rest of the line again per match).
                let after = super::prefix_of(&l[m.end()..], 12).to_lowercase();
                if [" payable", " receivable"]
                    .iter()
                    .any(|w| after.starts_with(w))
                {
                    continue;
                }
                let Some(s) = tidy_system(m.as_str(), input.lang) else {
                    continue;
                };
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
        input.put(
            f,
            "systems_affected",
            Value::Array(items.into_iter().take(5).map(Value::String).collect()),
            i,
        );
    }
}

/// A system phrase as found, or `None` when it is not one: the English words before the
/// head stop at a preposition ("updates on the server" is the server, "all of the
/// accounts" the accounts); a Spanish or Portuguese owner that is no owner ("la
/// computadora de repente", "a conta de luz") or a brand (the lure's "página de
/// Microsoft") is no system.
fn tidy_system(phrase: &str, lang: &str) -> Option<String> {
    const PREPOSITIONS: &[&str] = &[
        "of", "on", "in", "from", "to", "for", "at", "with", "by", "into",
    ];
    const ARTICLES: &[&str] = &[
        "the", "a", "an", "our", "my", "his", "her", "their", "all", "both", "each", "every",
    ];
    const NO_OWNER: &[&str] = &[
        "repente",
        "nuevo",
        "nueva",
        "novo",
        "nova",
        "luz",
        "agua",
        "água",
        "gas",
        "gás",
        "inicio",
        "início",
        "banco",
        "pago",
        "pagos",
        "pagamento",
        "manera",
        "forma",
        "modo",
        "vez",
        "hoy",
        "hoje",
        "ayer",
        "ontem",
        "microsoft",
        "google",
        "office",
        "outlook",
        "docusign",
        "paypal",
        "amazon",
        "netflix",
        "dhl",
        "fedex",
        "ups",
        "correos",
        "apple",
        "adobe",
        "dropbox",
    ];
    let words: Vec<&str> = phrase.split_whitespace().collect();
    if lang == "en" {
        // Not inside a name: "Division of Insurance website".
        let capital = |i: usize| {
            words
                .get(i)
                .is_some_and(|w| w.starts_with(char::is_uppercase))
        };
        let from = (0..words.len())
            .rev()
            .find(|&i| {
                PREPOSITIONS.contains(&words[i].to_lowercase().as_str())
                    && !(i > 0 && capital(i - 1) && capital(i + 1))
            })
            .map_or(0, |i| i + 1);
        let rest: Vec<&str> = words[from..]
            .iter()
            .copied()
            .skip_while(|w| ARTICLES.contains(&w.to_lowercase().as_str()))
            .collect();
        return (!rest.is_empty()).then(|| rest.join(" "));
    }
    let owner_is_none = words
        .iter()
        .any(|w| NO_OWNER.contains(&w.to_lowercase().as_str()));
    (!owner_is_none && !words.is_empty()).then(|| words.join(" "))
}

/// "our vendor Acme Corp", "the MSP Northbridge".
pub fn third_party(input: &Input<'_>, f: &mut Fields) {
    if f.contains_key("third_party") {
        return;
    }
    static TP: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?:[Oo]ur |[Tt]he |[Aa] )?(?:vendor|contractor|provider|supplier|MSP|partner)(?:,)?\s+((?:[A-Z][\w&.\-]*)(?:\s+[A-Z][\w&.\-]*){0,3})").expect("third party regex")
    });
    for (i, l) in input.lines.iter().enumerate() {
        if let Some(m) = TP.captures(l).and_then(|c| c.get(1)) {
            input.put(
                f,
                "third_party",
                Value::String(m.as_str().trim_end_matches('.').to_string()),
                i,
            );
            return;
        }
    }
}

/// "the portal is down" → high, "slow" → medium, "no impact" → none.
pub fn functional_impact(input: &Input<'_>, f: &mut Fields) {
    if f.contains_key("functional_impact") {
        return;
    }
    for (i, l) in input.lower.iter().enumerate() {
        if let Some(x) = impact(l) {
            input.put(f, "functional_impact", Value::String(x.into()), i);
            return;
        }
    }
}

/// The agency from the sender's domain, else named in the text (see [`find_agency`]).
pub fn agency(input: &Input<'_>, f: &mut Fields) {
    if f.contains_key("agency") {
        return;
    }
    match find_agency(&input.lines, input.ctx) {
        Some((name, Some(i))) => input.put(f, "agency", Value::String(name), i),
        // From the sender's domain or display name.
        Some((name, None)) => {
            let ctx = input.ctx;
            let text = match (ctx.sender_name, ctx.sender) {
                (Some(n), Some(a)) => format!("{n} <{a}>"),
                (Some(n), None) => n.to_string(),
                (None, a) => a.unwrap_or("").to_string(),
            };
            f.entry("agency".into()).or_insert(FieldValue {
                value: Value::String(name),
                source: Source::unlined("header:From", &text),
            });
        }
        None => {}
    }
}

/// The sender's display name, "O'Brien, Kevin (DCF)" read as "Kevin O'Brien".
pub fn reporter_name(input: &Input<'_>, f: &mut Fields) {
    let ctx = input.ctx;
    if let Some(name) = ctx.sender_name.map(display_name).filter(|n| !n.is_empty()) {
        // A directory's plain-letter name is written with its accents in the
        // signature ("Beltran, Luz Marina (DTA)" signs "Luz Marina Beltrán").
        let name = accented_in(&input.lines, &name).unwrap_or(name);
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
}

/// `name` as the text writes it with accents, the last time it does (a signature).
fn accented_in(lines: &[&str], name: &str) -> Option<String> {
    if !name.is_ascii() {
        return None;
    }
    let want: Vec<String> = name.split_whitespace().map(|w| w.to_lowercase()).collect();
    let n = want.len();
    if n == 0 || n > 5 {
        return None;
    }
    lines.iter().rev().take(400).find_map(|line| {
        // A signature's line is short; a long one is no place to look.
        if line.is_ascii() || line.len() > 300 {
            return None;
        }
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | '|' | '(' | ')' | '-'))
            .filter(|w| !w.is_empty())
            .collect();
        words.windows(n).find_map(|win| {
            let same = win
                .iter()
                .zip(&want)
                .all(|(w, x)| fold_accents(&w.to_lowercase()) == *x);
            let written = win.join(" ");
            (same && !written.is_ascii()).then_some(written)
        })
    })
}

/// Latin letters without their accents ("Beltrán" → "Beltran", "Gonçalves" → "Goncalves").
fn fold_accents(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            c => c,
        })
        .collect()
}

/// The reporter's text, at most 2,000 characters.
pub fn description(input: &Input<'_>, f: &mut Fields) {
    let description: String = input.text.trim().chars().take(2000).collect();
    if !description.is_empty() {
        input.put(f, "description", Value::String(description), 0);
    }
}

#[cfg(test)]
mod accent_tests {
    #[test]
    fn a_plain_directory_name_takes_the_signatures_accents() {
        let lines = ["Gracias,", "Luz Marina Beltrán | DTA Lawrence"];
        assert_eq!(
            super::accented_in(&lines, "Luz Marina Beltran").as_deref(),
            Some("Luz Marina Beltrán")
        );
        assert_eq!(
            super::accented_in(&["Luz Marina Beltrão"], "Luz Marina Beltran"),
            None
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn ctx(date: &str) -> Context<'static> {
        Context {
            date: DateTime::parse_from_rfc2822(date).ok(),
            sender: Some("jane@mass.gov"),
            sender_name: Some("Doe, Jane (DOR)"),
            agencies: &[],
        }
    }

    const D: &str = "Tue, 13 Jan 2026 11:00:00 -0500";

    fn one(x: Extractor, text: &str) -> Fields {
        let c = ctx(D);
        let input = Input::new(text, "body", &c);
        let mut f = Fields::new();
        x(&input, &mut f);
        f
    }

    fn val(f: &Fields, k: &str) -> Value {
        f.get(k).map(|v| v.value.clone()).unwrap_or(Value::Null)
    }

    #[test]
    fn a_forms_name_field_names_the_reporter_when_it_is_a_name() {
        let f = one(
            labelled,
            "Your name: Lorraine Whitfield\nNombre: 617-555-0100\n",
        );
        assert_eq!(val(&f, "reporter_name"), "Lorraine Whitfield");
        let f = one(labelled, "Name: see the attached file for details\n");
        assert!(!f.contains_key("reporter_name"), "{f:?}");
    }

    #[test]
    fn labelled_lines_in_three_languages_and_tables() {
        let f = one(
            labelled,
            "Agencia: DOR\nTeléfono: 617-555-0142\nDone so far: blocked the sender\n",
        );
        assert_eq!(val(&f, "agency"), "Department of Revenue");
        assert_eq!(val(&f, "reporter_phone"), "+16175550142");
        assert_eq!(val(&f, "actions_taken"), "blocked the sender");
        let f = one(
            labelled,
            "Agencia: Departamento de Niños y Familias (DCF), oficina de Lawrence",
        );
        assert_eq!(val(&f, "agency"), "Department of Children and Families");
        let f = one(
            labelled,
            "Órgão | DTA\nTelefone | (617) 555-0100\nPolícia acionada: Não",
        );
        assert_eq!(val(&f, "agency"), "Department of Transitional Assistance");
        assert_eq!(val(&f, "reporter_phone"), "+16175550100");
        assert_eq!(val(&f, "law_enforcement_contacted"), "no");
        // A table laid out cell by cell: the label alone, its value on the next line.
        let f = one(
            labelled,
            "Personal information involved\nUnknown\nSystems affected\nWS-DOR-1142",
        );
        assert_eq!(val(&f, "personal_information"), "unknown");
        assert_eq!(
            val(&f, "systems_affected"),
            serde_json::json!(["WS-DOR-1142"])
        );
    }

    #[test]
    fn phone_prefers_a_cued_number() {
        let f = one(
            phone_in_text,
            "The phish came from (413) 555-0177.\nCall me at 617-555-0142.",
        );
        assert_eq!(val(&f, "reporter_phone"), "+16175550142");
    }

    #[test]
    fn times_skip_actions_and_meetings() {
        let f = one(
            times,
            "I noticed the alert at 8:20 this morning. We isolated the laptop at 8:55 and reset the password at 10:40. Debrief meeting at 2:00 pm today.",
        );
        assert_eq!(val(&f, "detected_at"), "2026-01-13T08:20:00-05:00");
        assert!(!f.contains_key("occurred_at"), "{f:?}");
    }

    #[test]
    fn a_start_just_before_the_report_is_when_it_was_seen() {
        // D is 11:00: a start 45 minutes before it was seen as it began.
        let f = one(
            times,
            "All agent PCs are showing a ransom screen since about 10:15, at least 40 machines.",
        );
        assert_eq!(val(&f, "detected_at"), "2026-01-13T10:15:00-05:00");
        // Nine hours before: when it was noticed is not said.
        let f = one(
            times,
            "Our Facebook page started posting spam overnight, first one at 2:10 am.",
        );
        assert_eq!(val(&f, "occurred_at"), "2026-01-13T02:10:00-05:00");
        assert!(!f.contains_key("detected_at"), "{f:?}");
    }

    #[test]
    fn counts_and_yes_no() {
        let f = one(counts, "Approximately 1,240 records and 3 users.");
        assert_eq!(val(&f, "records_affected"), 1240);
        assert_eq!(val(&f, "users_affected"), 3);
        let f = one(
            yes_no,
            "No PII involved. We haven\u{2019}t contacted law enforcement. The vendor notified the FBI yesterday.",
        );
        assert_eq!(val(&f, "personal_information"), "no");
        assert_eq!(val(&f, "law_enforcement_contacted"), "no");
        let f = one(yes_no, "A State Police detective is on site.");
        assert_eq!(val(&f, "law_enforcement_contacted"), "yes");
        assert_eq!(
            val(&f, "law_enforcement_agency"),
            "Massachusetts State Police"
        );
    }

    #[test]
    fn an_own_account_or_internal_host_is_a_system_and_my_email_is_not() {
        let sys = |text: &str| {
            let f = one(systems, text);
            f.get("systems_affected").map(|v| v.value.clone())
        };
        assert_eq!(
            sys("She entered her Microsoft 365 account password on the page."),
            Some(serde_json::json!(["Microsoft 365 account"]))
        );
        assert_eq!(
            sys("Alguien entró en mi cuenta de correo anoche."),
            Some(serde_json::json!(["cuenta de correo"]))
        );
        assert_eq!(
            sys("Defender flagged dph-lab-ws-2231.dph.local at 9:30."),
            Some(serde_json::json!(["dph-lab-ws-2231.dph.local"]))
        );
        // Where someone writes from, and the phishing message itself, are not systems.
        assert_eq!(sys("I am writing from my personal email."), None);
        assert_eq!(sys("Te escribo desde mi correo personal."), None);
        assert_eq!(sys("I deleted the email."), None);
    }

    #[test]
    fn spanish_and_portuguese_systems_read_head_first_with_their_owner() {
        let sys = |text: &str| {
            let f = one(systems, text);
            f.get("systems_affected").map(|v| v.value.clone())
        };
        assert_eq!(
            sys("Perdí el celular del trabajo hace 20 minutos en el tren."),
            Some(serde_json::json!(["celular del trabajo"]))
        );
        assert_eq!(
            sys("Bom dia, hoje abri o notebook da Cláudia Rocha e os arquivos estão criptografados."),
            Some(serde_json::json!(["notebook da Cláudia Rocha"]))
        );
        assert_eq!(
            sys("Alguien usó la cuenta de correo de nuestra supervisora Carmen y pidió pagos que no eran de ella."),
            Some(serde_json::json!(["cuenta de correo de nuestra supervisora Carmen"]))
        );
        // The English rule does not read Portuguese ("a minha senha pelo portal"); a bare
        // account, a page of the lure, the message and the team are no systems.
        assert_eq!(
            sys("Às 9h55 troquei a minha senha pelo portal e não aprovei o pedido."),
            None
        );
        assert_eq!(sys("La página pedía la cuenta y la contraseña."), None);
        assert_eq!(sys("Recibí el correo y avisé al equipo de TI."), None);
        // The phone to call back on is no affected phone.
        assert_eq!(
            sys("Me pueden llamar al 617-555-0183 (el celular de mi esposo)."),
            None
        );
        assert_eq!(sys("Call me on my cell phone, 617-555-0114."), None);
        assert_eq!(
            sys("All agent PCs show a ransom screen."),
            Some(serde_json::json!(["agent PCs"]))
        );
        // A stolen phone with its number is still the system; so is a phone something
        // happened on.
        assert_eq!(
            sys("My work cell phone (617-555-0142) was stolen on the Red Line."),
            Some(serde_json::json!(["work cell phone"]))
        );
        assert_eq!(
            sys("Malware deleted the photos from my phone."),
            Some(serde_json::json!(["phone"]))
        );
        // Words before the head stop at a preposition; accounts payable is a team.
        assert_eq!(
            sys("We installed all updates on the server."),
            Some(serde_json::json!(["server"]))
        );
        assert_eq!(sys("Forwarded to the accounts payable team."), None);
        assert_eq!(sys("La computadora de repente se apagó y no prende."), None);
    }

    #[test]
    fn actions_systems_third_party_impact() {
        let f = one(
            actions,
            "We blocked the sender and purged the message. Should I reset?",
        );
        assert!(val(&f, "actions_taken")
            .as_str()
            .unwrap_or("")
            .contains("blocked"));
        let f = one(systems, "It reached the file server FS-DOR-02.");
        assert_eq!(
            val(&f, "systems_affected"),
            serde_json::json!(["FS-DOR-02", "file server"])
        );
        let f = one(third_party, "Our vendor Acme Billing told us.");
        assert_eq!(val(&f, "third_party"), "Acme Billing");
        let f = one(functional_impact, "The portal is down for everyone.");
        assert_eq!(val(&f, "functional_impact"), "high");
    }

    #[test]
    fn agency_name_and_description() {
        let f = one(agency, "Thanks,\nJane\nDepartment of Revenue");
        assert_eq!(val(&f, "agency"), "Department of Revenue");
        let f = one(reporter_name, "");
        assert_eq!(val(&f, "reporter_name"), "Jane Doe");
        let f = one(description, "  text  ");
        assert_eq!(val(&f, "description"), "text");
    }

    #[test]
    fn language_by_function_words() {
        assert_eq!(
            language("Recibimos un correo y el usuario hizo clic en el enlace."),
            "es"
        );
        assert_eq!(
            language("O usuário clicou no link e não sabemos se foi roubado."),
            "pt"
        );
        assert_eq!(
            language("The user clicked the link and we reset the password."),
            "en"
        );
    }
}
