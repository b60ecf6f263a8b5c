//! Field extraction from the reporter's own words: the fill-in block first (labels
//! with variants), then free text. Every value keeps the line it came from.

use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset};
use regex::Regex;

pub use crate::domain::fields::{AgencyEntry, FieldValue, Fields, Source};

/// Inputs besides the text.
pub struct Context<'a> {
    /// The message's Date (relative times resolve against it, in America/New_York).
    pub date: Option<DateTime<FixedOffset>>,
    pub sender: Option<&'a str>,
    pub sender_name: Option<&'a str>,
    pub agencies: &'a [AgencyEntry],
}

/// Labels of the fill-in block and their variants → field, in English, Spanish and
/// Portuguese (lower case; see [`label_field`] for what is ignored around them).
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
            "agency/department",
            "department/agency",
            "caller's department",
            "agency / organization",
            "agency/organization",
            "your agency",
            "agencia",
            "organismo",
            "dependencia",
            "entidad",
            "órgão",
            "orgao",
            "entidade",
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
            "cell phone",
            "mobile",
            "telephone",
            "contact number",
            "caller phone",
            "best number",
            "your phone",
            "caller's telephone",
            "caller telephone",
            "your phone number",
            "teléfono",
            "telefono",
            "celular",
            "móvil",
            "movil",
            "contacto",
            "telefone",
            "contato",
            "número de contacto",
            "número de contato",
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
            "discovered at",
            "when discovered",
            "detected",
            "detected on",
            "date/time detected",
            "detect time",
            "detection time",
            "time of detection",
            "identified time",
            "first noticed",
            "noticed",
            "opened",
            "call date",
            "when did you notice the problem",
            "when did you notice",
            "when was it detected",
            "when was it discovered",
            "cuándo se detectó",
            "quando foi detectado",
            "fecha de detección",
            "hora de detección",
            "fecha y hora de detección",
            "detectado",
            "detectado el",
            "detectado a las",
            "data da detecção",
            "hora da detecção",
            "data e hora da detecção",
            "detectado em",
            "detecção",
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
            "first seen",
            "fecha del incidente",
            "ocurrió",
            "data do incidente",
            "ocorreu",
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
            "affected system",
            "affected host",
            "affected hosts",
            "affected device",
            "host name",
            "hostname",
            "host",
            "device name",
            "device",
            "endpoint",
            "computer name",
            "asset",
            "sistemas afectados",
            "equipos afectados",
            "equipo afectado",
            "sistemas afetados",
            "equipamentos afetados",
            "equipamento afetado",
        ],
    ),
    (
        "users_affected",
        &[
            "users affected",
            "number of users",
            "affected users",
            "users impacted",
            "number of affected users",
            "usuarios afectados",
            "usuários afetados",
        ],
    ),
    (
        "personal_information",
        &[
            "personal information involved",
            "pii involved",
            "pii",
            "pii/phi",
            "sensitive data involved",
            "personal information",
            "personal data",
            "personal data involved",
            "información personal",
            "información personal involucrada",
            "datos personales",
            "datos personales involucrados",
            "informação pessoal",
            "informação pessoal envolvida",
            "dados pessoais",
            "dados pessoais envolvidos",
            "informações pessoais",
            "is personal information involved",
            "was personal information involved",
            "is pii involved",
            "¿hay información personal involucrada",
            "hay información personal",
            "há dados pessoais envolvidos",
            "há informação pessoal",
        ],
    ),
    (
        "records_affected",
        &[
            "records affected",
            "number of records",
            "records impacted",
            "registros afectados",
            "registros afetados",
        ],
    ),
    (
        "law_enforcement_contacted",
        &[
            "law enforcement contacted",
            "police contacted",
            "le contacted",
            "law enforcement",
            "law enforcement notified",
            "police notified",
            "police",
            "policía",
            "policía contactada",
            "policía notificada",
            "contacto con la policía",
            "fuerzas del orden",
            "fuerzas del orden contactadas",
            "polícia",
            "polícia contatada",
            "polícia acionada",
            "polícia notificada",
            "autoridades policiais",
            "has law enforcement been contacted",
            "have you contacted law enforcement",
            "was law enforcement contacted",
            "¿se contactó a la policía",
            "a polícia foi acionada",
        ],
    ),
    ("law_enforcement_agency", &["law enforcement agency"]),
    (
        "reporter_name",
        &[
            "your name",
            "name",
            "full name",
            "reporter",
            "reporter name",
            "reporter's name",
            "reported by",
            "submitted by",
            "submitter",
            "contact name",
            "nombre",
            "su nombre",
            "nombre completo",
            "nome",
            "seu nome",
            "nome completo",
        ],
    ),
    (
        "external_communications",
        &[
            "external communications",
            "external communication",
            "external comms",
            "communicated externally",
            "press or public communication",
            "public communication",
            "comunicaciones externas",
            "comunicación externa",
            "comunicações externas",
            "comunicação externa",
            "has anything been communicated outside your agency",
            "has anything been communicated outside the agency",
            "anything communicated outside your agency",
        ],
    ),
    (
        "actions_taken",
        &[
            "actions taken",
            "action taken",
            "containment actions",
            "steps taken",
            "steps taken so far",
            "actions so far",
            "actions",
            "done so far",
            "what we did",
            "what we've done",
            "actions performed",
            "response actions",
            "remediation",
            "mitigation",
            "containment",
            "acciones tomadas",
            "acciones realizadas",
            "medidas tomadas",
            "lo que hicimos",
            "ações tomadas",
            "ações realizadas",
            "medidas adotadas",
            "providências",
            "o que fizemos",
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

/// A field's name as people read it: "Personal information involved" for
/// `personal_information`; a name without its own label is written out
/// ("Some new field").
pub fn human_label(name: &str) -> String {
    let known = match name {
        "agency" => "Agency",
        "reporter_name" => "Reporter",
        "reporter_email" => "Reporter's email",
        "reporter_phone" => "Reporter's phone",
        "description" => "What happened",
        "detected_at" => "Detected at",
        "occurred_at" => "Occurred at",
        "systems_affected" => "Systems affected",
        "actions_taken" => "Actions taken",
        "personal_information" => "Personal information involved",
        "records_affected" => "Records affected",
        "users_affected" => "Users affected",
        "law_enforcement_contacted" => "Law enforcement contacted",
        "law_enforcement_agency" => "Law enforcement agency",
        "external_communications" => "External communications",
        "functional_impact" => "Effect on the agency's work",
        "third_party" => "Third party (vendor) involved",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    let words = name.replace('_', " ");
    let mut c = words.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// The fill-in block lines for the missing fields, in the order of incident-fields.md.
pub fn fill_in_block(missing: &[&str]) -> String {
    BLOCK
        .iter()
        .filter(|(f, _, _)| missing.contains(f))
        .map(|(_, label, _)| format!("{label}\n"))
        .collect()
}

/// Lines that answer one of our fill-in labels with a value, wherever they are in the
/// text, quoted history included ("answers inline below"): our acknowledgement prints
/// the labels empty, so a filled one under it is the reporter's answer.
pub fn inline_answers(text: &str) -> String {
    let labels: Vec<(String, String)> = BLOCK
        .iter()
        .map(|(_, label, why)| {
            (
                super::answers::normalize(label),
                super::answers::normalize(why),
            )
        })
        .collect();
    let mut out = String::new();
    for line in text.lines() {
        let l = line
            .trim_start()
            .trim_start_matches(['>', ' ', '-', '*', '•'])
            .replace("**", "");
        let low = super::answers::normalize(&l);
        let Some((label, why)) = labels.iter().find(|(lab, _)| low.starts_with(lab.as_str()))
        else {
            continue;
        };
        let value = low[label.len()..].trim();
        // Our "why we ask" line beside the label is not an answer.
        if value.is_empty() || value.starts_with(why.as_str()) {
            continue;
        }
        out.push_str(l.trim());
        out.push('\n');
    }
    out
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

pub(crate) static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:\+?1[\s.\-]?)?\(?\b([2-9]\d{2})\)?[\s.\-]?(\d{3})[\s.\-]?(\d{4})\b(?:\s*(?:,\s*)?(?:x|ext\.?|extension)\s*(\d{1,6}))?")
        .expect("phone regex")
});
pub(crate) static COUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(\d{1,3}(?:,\d{3})+|\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|a dozen|dozens of)\+?\s+(?:[a-z']+\s+){0,2}?(records|ssns|social security numbers|clients|residents|individuals|customers|patients|claimants|people|applicants|students|rows|users|accounts|employees|staff|mailboxes|members|parents|families|households|licensees|taxpayers|consumers|complaints|youth|children|veterans|inmates|providers|beneficiaries|enrollees|participants|voters|tenants|borrowers|documents|registros|usuarios|usuários|personas|pessoas|clientes|residentes|miembros|membros|pacientes|beneficiarios|beneficiários|participantes|estudiantes|alunos|contribuyentes|contribuintes|familias|famílias|niños|crianças|ciudadanos|cidadãos|moradores|solicitantes|afiliados|documentos)\b").expect("count regex")
});
pub(crate) static HOST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[A-Z][A-Z0-9]{1,}(?:-[A-Z0-9]+){1,4}\b").expect("host regex"));
/// Internal host names in lower case: `dph-lab-ws-2231.dph.local`, `jamf.eoed.local`.
pub(crate) static LOCAL_HOST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:local|lan|internal|corp|ad)\b")
        .expect("local host regex")
});
/// Someone's own mailbox or account, and the same in Spanish and Portuguese: "her
/// Microsoft 365 account", "mi cuenta de correo", "a minha conta de e-mail". Only with a
/// possessive, since "the email" is usually the phishing message itself; never a bare
/// "my email" or "mi correo" (as often as not the address someone writes from).
pub(crate) static OWN_ACCOUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:my|her|his|their|mi|su|sus|meu|minha|seu|sua)\s+((?:(?:state|work|microsoft 365|m365|o365|office 365|outlook)\s+)?(?:e-?mail account|inbox|mailbox|account|credentials|cuenta(?: de correo)?|conta(?: de e-?mail)?|caixa de (?:e-?mail|correio)|computadora|computador|celular|tableta|ipad|cell phone|cellphone))\b")
        .expect("own account regex")
});
/// A system named in Spanish or Portuguese, where the head comes first and what it
/// belongs to follows: "el celular del trabajo", "la tableta Samsung de la casa", "o
/// notebook da Cláudia Rocha", "la cuenta de correo de Carmen Ibáñez". A definite
/// article or a possessive before it ("una página" is usually the lure); an account, a
/// page, a site or a portal only with what it belongs to ("la cuenta" alone may be a
/// bank's, "el portal" the phishing one); never "el correo" (the message itself) or
/// "el equipo" (also the team).
pub(crate) static SISTEMA: LazyLock<Regex> = LazyLock::new(|| {
    let owner = r"(?:\s+(?:del|de la|de las|de los|de|da|do|das|dos)\s+(?:(?:la|el|los|las|nuestra|nuestro|mi|su|a|o|minha|meu|sua|seu|nossa|nosso)\s+)?[\w'\-]+(?-i:(?:\s+\p{Lu}[\w'\-]+){0,2}))";
    let brand = r"(?-i:(?:\s+\p{Lu}[\w'\-]+){0,2})";
    Regex::new(&format!(
        r"(?i)\b(?:el|la|los|las|al|del|su|sus|mi|mis|nuestro|nuestra|nuestros|nuestras|o|os|a|as|no|na|nos|nas|meu|minha|meus|minhas|seu|sua|seus|suas|nosso|nossa|nossos|nossas)\s+((?:(?:computadora|computadoras|computador|computadores|portátil|laptop|notebook|celular|teléfono|telefone|tableta|tablet|iphone|ipad|servidor|servidores|buzón|caixa de (?:e-?mail|correio)|base de datos|banco de dados|carpeta|pasta|planilha|quiosco|quiosque|impresora|impressora){brand}{owner}?)|(?:(?:cuenta de correo|cuenta|conta de e-?mail|conta|página(?: web)?|sitio web|sitio|site|portal){brand}{owner}))\b"
    ))
    .expect("sistema regex")
});
pub(crate) static SYSTEM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:the|our|my|his|her|their|a|one|two|three|all|both|each|every|\d+)\s+((?:[\w'\-]+\s+){0,3}(?:server|servers|laptop|laptops|notebook|workstation|workstations|machines|website|portal|mailbox|mailboxes|inboxes|file share|file server|vpn|database|pc|pcs|computer|computers|phone|iphone|firewall|web site|site|account|accounts|tablet|tablets|usb drive|thumb drive|application|sharepoint site|sharepoint folder|onedrive|ipad|kiosk|kiosks|pay station|hotline|storage container|storage bucket|bucket|cell phone|resolvers|ivr))\b").expect("system regex")
});

pub(crate) fn number_word(w: &str) -> Option<i64> {
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
pub(crate) fn sentences(lines: &[&str]) -> Vec<(usize, String)> {
    const NOT_ENDS: &[&str] = &[
        "e.g.", "i.e.", "a.m.", "p.m.", "approx.", "St.", "Dept.", "Mr.", "Ms.", "Dr.",
    ];
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    let mut after_label = false;
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim();
        // Blank lines end a paragraph, a labelled line ("Systems affected: …",
        // "Contact phone: …") begins its own sentence, and after one a capital does.
        let labelled = starts_labelled(line);
        // A list's item ("• 11/13 07:05 – the vendor called us", "- reset at 8:10")
        // is a sentence of its own.
        let item = line.starts_with(['•', '◦', '▪', '·', '*'])
            || line.starts_with("- ")
            || line.starts_with("– ");
        if line.is_empty()
            || (!cur.is_empty()
                && (labelled || item || (after_label && line.starts_with(char::is_uppercase))))
        {
            if !cur.trim().is_empty() {
                out.push((start, std::mem::take(&mut cur)));
            }
            cur.clear();
            if line.is_empty() {
                after_label = false;
                continue;
            }
        }
        after_label = labelled;
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

/// `Label: value` with a label of a few words and no digits (not "at 2:40"), or one of
/// the fill-in labels however worded.
fn starts_labelled(line: &str) -> bool {
    let line = line.trim_start_matches(['-', '*', '•', '>', '|', ' ']);
    let Some((key, _)) = line.split_once(':') else {
        return false;
    };
    let words = key.split_whitespace().count();
    (1..=6).contains(&words)
        && !key.chars().any(|c| c.is_ascii_digit())
        && (label_field_loose(key).is_some()
            || (words <= 3 && key.starts_with(|c: char| c.is_uppercase())))
}

/// Extracts fields from the reporter's own text (see [`super::extractors`]).
pub fn extract_fields(text: &str, part: &str, ctx: &Context<'_>) -> Fields {
    super::extractors::run(text, part, ctx)
}

/// The field a fill-in label names, in English, Spanish or Portuguese: case, bullets,
/// a trailing `(yes/no/unknown)` and similar parentheses are ignored.
pub(crate) fn label_field(label: &str) -> Option<&'static str> {
    let l = label_key(label);
    if l.is_empty() || l.len() > 60 {
        return None;
    }
    LABELS
        .iter()
        .find(|(_, vs)| vs.contains(&l.as_str()))
        .map(|(f, _)| *f)
}

/// A label as [`label_field`] compares it: normalised, without its parentheses,
/// bullets, opening `¿` and closing `?`/`:`.
fn label_key(label: &str) -> String {
    let l = super::answers::normalize(label);
    let l = l.split('(').next().unwrap_or(&l);
    l.trim()
        .trim_start_matches(['-', '*', '•', '>', '|', ' ', '¿', '['])
        .trim_end_matches(['?', ':', '*', ' ', ']'])
        .trim()
        .to_string()
}

/// Key words of a label → field, tried in order, each with words that rule it out:
/// "Recommended actions" is a product's advice, not what was done; "Discovered by" names
/// a person, not a time.
#[rustfmt::skip]
const LOOSE_LABELS: &[(&str, &[&str], &[&str])] = &[
    (
        "law_enforcement_contacted",
        &["police", "law enforcement", "policía", "policia", "polícia", "fbi", "fuerzas del orden", "autoridades"],
        &[],
    ),
    (
        "personal_information",
        &["pii", "phi", "personal info", "personal data", "personal details", "información personal", "datos personales", "informação pessoal", "informações pessoais", "dados pessoais", "sensitive data", "datos sensibles", "dados sensíveis", "dados sensiveis"],
        &[],
    ),
    (
        "actions_taken",
        &["action", "acción", "acciones", "ação", "ações", "acoes", "steps taken", "done so far", "have you done", "has been done", "did you do", "we did", "remediat", "mitigat", "containment", "medidas", "providências", "providencias", "hicimos", "fizemos", "ha hecho", "han hecho", "foi feito", "foram feitas"],
        &["recommend", "required", "needed", "suggest", "next step", "recomend", "to do", "pendiente", "pendente", "call to action"],
    ),
    (
        "reporter_phone",
        &["phone", "teléfono", "telefono", "telefone", "cell", "celular", "mobile", "callback", "call back", "contact number"],
        &["attacker", "scam", "suspicious", "sender", "caller id", "from number"],
    ),
    (
        "detected_at",
        &["detect", "discover", "noticed", "notice", "identified", "detecta", "descubri", "notó", "noto", "percebe", "identific"],
        &["by", "por", "who", "quién", "quem", "method", "how", "source"],
    ),
    (
        "occurred_at",
        &["occur", "began", "start", "happened", "ocurr", "ocorr", "comenz", "começ", "inici", "sucedi", "aconteceu"],
        &["what", "qué", "que", "how", "why"],
    ),
    (
        "systems_affected",
        &["system", "host", "device", "asset", "endpoint", "computer", "server", "workstation", "sistema", "equipo", "equipamento", "dispositivo", "computador", "servidor"],
        &["operating", "owner", "type", "os ", "tipo", "administrator", "admin", "analyst", "engineer", "manager", "specialist", "team", "support", "services", "data", "datos", "dados"],
    ),
    (
        "agency",
        &["agency", "agencia", "agência", "department", "departamento", "organization", "organización", "organização", "órgão"],
        &["phone", "number", "contact", "address", "email", " of ", "massachusetts", "commonwealth", "executive", " and "],
    ),
];

/// The field a label names by its key words when it is none of [`LABELS`]' own
/// wordings: "Outside parties notified?", "¿Se comunicó algo fuera de su agencia?",
/// "What have you done so far?". Only for a label that stands as one (before `:`, `?`,
/// a table cell's edge), of at most eight words without digits.
pub(crate) fn label_field_loose(label: &str) -> Option<&'static str> {
    if let Some(f) = label_field(label) {
        return Some(f);
    }
    let l = label_key(label);
    let words = l.split_whitespace().count();
    if l.is_empty() || words > 8 || l.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    // Nor is a paragraph that holds a sentence's end before its first colon ("The
    // Department of Public Utilities' site (…) was defaced. She noticed it at 6:12").
    if label.contains(". ") || label.split_whitespace().count() > 14 {
        return None;
    }
    // A label is a noun phrase or a question, not a sentence about oneself ("My
    // computer did this: …").
    let first = l.split_whitespace().next().unwrap_or("");
    if [
        "i", "my", "we", "our", "it", "she", "he", "they", "this", "that", "yo", "mi", "mis",
        "meu", "minha", "eu", "nós", "nosotros",
    ]
    .contains(&first)
    {
        return None;
    }
    // Cues begin a word ("action" is not in "transaction"); a short one is a whole word
    // ("phi" is not in "phishing").
    let has = |cues: &[&str]| {
        cues.iter().any(|c| {
            l.match_indices(c).any(|(at, _)| {
                let before = l[..at].chars().next_back();
                let rest = &l[at + c.len()..];
                let rest = rest.strip_prefix('s').unwrap_or(rest);
                !before.is_some_and(char::is_alphanumeric)
                    && (c.chars().count() > 4 || !rest.starts_with(char::is_alphanumeric))
            })
        })
    };
    // Telling someone outside: both halves, or the word alone ("External:").
    let outside = has(&[
        "extern",
        "outside",
        "fuera de",
        "fora d",
        "third part",
        "public",
        "press",
        "media",
        "prensa",
        "imprensa",
        "terceros",
        "terceiros",
    ]);
    let told = has(&[
        "communicat",
        "comunic",
        "notif",
        "told",
        "tell",
        "inform",
        "contact",
        "statement",
        "notice",
        "aviso",
        "avisad",
        "press",
        "media",
        "prensa",
        "imprensa",
    ]);
    let police = has(LOOSE_LABELS[0].1);
    let alone = [
        "external",
        "externo",
        "externa",
        "communications",
        "comms",
        "comunicaciones",
        "comunicações",
        "press",
        "media",
        "prensa",
        "imprensa",
    ];
    if !police && ((outside && told) || alone.contains(&l.as_str())) {
        return Some("external_communications");
    }
    LOOSE_LABELS
        .iter()
        .find(|(_, cues, unless)| has(cues) && !has(unless))
        .map(|(field, _, _)| *field)
}

pub(crate) fn impact(l: &str) -> Option<&'static str> {
    let l = l.to_lowercase();
    if l.contains("no impact") || l.contains("no operational impact") || l.starts_with("none") {
        Some("none")
    } else if [
        "cannot process",
        "can't process",
        "is down",
        "are down",
        "went down",
        "outage",
        "unavailable",
        "offline for",
        "unusable",
        "unreachable",
        "not working",
        "can't get through",
        "cannot get through",
        "fuera de servicio",
        "fora do ar",
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

pub(crate) fn le_agency(text: &str) -> Option<String> {
    let l = text.to_lowercase();
    // In this order: the Fusion Center is the State Police's, and named it is the answer.
    const NAMED: &[(&[&str], &str)] = &[
        (
            &[
                "fusion center",
                "centro de fusión",
                "centro de fusion",
                "centro de fusão",
            ],
            "Commonwealth Fusion Center",
        ),
        (
            &[
                "state police",
                " msp",
                "policía estatal",
                "policía de massachusetts",
                "policia de massachusetts",
                "polícia de massachusetts",
                "policia estatal",
                "polícia estadual",
                "policia estadual",
            ],
            "Massachusetts State Police",
        ),
        (&["fbi"], "FBI"),
        (&["secret service"], "U.S. Secret Service"),
    ];
    if let Some((_, name)) = NAMED
        .iter()
        .find(|(cues, _)| cues.iter().any(|c| l.contains(c)))
    {
        return Some((*name).to_string());
    }
    static PD: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\b([A-Z][a-z]+(?:\s[A-Z][a-z]+)?)\s(?:PD|Police(?:\sDepartment)?)\b")
            .expect("pd regex")
    });
    // "la policía de Worcester", "a polícia de Framingham".
    static POLICIA: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?i:polic[ií]a|pol[ií]cia)\s+(?i:de|del|da|do)\s+(\p{Lu}\p{Ll}+(?:\s\p{Lu}\p{Ll}+)?)\b",
        )
        .expect("policía regex")
    });
    PD.captures(text)
        .or_else(|| POLICIA.captures(text))
        .and_then(|c| c.get(1))
        .map(|m| format!("{} Police Department", m.as_str()))
}

/// E.164 for a NANP number (`;ext=N` for an extension).
pub(crate) fn phone(s: &str) -> Option<String> {
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

/// "O'Brien, Kevin (DCF)" → "Kevin O'Brien".
pub(crate) fn display_name(n: &str) -> String {
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

pub(crate) fn canonical_agency(value: &str, list: &[AgencyEntry]) -> Option<String> {
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

pub(crate) fn find_agency(lines: &[&str], ctx: &Context<'_>) -> Option<(String, Option<usize>)> {
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
                return Some((name.clone(), None));
            }
        }
    }
    // Full names anywhere (the signature is the usual place), then aliases as whole words.
    let lower_names: Vec<String> = list.iter().map(|(n, _, _)| n.to_lowercase()).collect();
    // A line addressed to the SOC names where the report goes ("Escalated to EOTSS
    // SOC"), and a quoted lure names whom it pretends to be: neither is the reporter's.
    let readable = |l: &str| {
        let low = super::answers::unquoted(&l.to_lowercase());
        (!super::answers::has_cue(&low, "soc")).then_some(low)
    };
    for (i, l) in lines.iter().enumerate().rev() {
        let Some(low) = readable(l) else { continue };
        // Several names on one line ("Division of Banks | Office of Consumer Affairs
        // and Business Regulation"): an agency before its secretariat, then the first
        // written; of names inside one another, the longest.
        let found: Vec<(usize, usize, &String)> = lower_names
            .iter()
            .enumerate()
            .filter_map(|(k, n)| low.find(n.as_str()).map(|at| (at, n.len(), &list[k].0)))
            .collect();
        let inside = |a: &(usize, usize, &String)| {
            found
                .iter()
                .any(|b| b.1 > a.1 && b.0 <= a.0 && a.0 + a.1 <= b.0 + b.1)
        };
        if let Some((_, _, name)) = found
            .iter()
            .filter(|a| !inside(a))
            .min_by_key(|(at, _, name)| (name.starts_with("Executive Office"), *at))
        {
            return Some(((*name).clone(), Some(i)));
        }
    }
    for (i, l) in lines.iter().enumerate() {
        if readable(l).is_none() {
            continue;
        }
        // Aliases keep their case ("DOR", not the "dor" of "dolor").
        let kept = super::answers::unquoted(l);
        let words: Vec<&str> = kept
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        for (name, aliases, _) in &list {
            if aliases
                .iter()
                .any(|a| a.len() >= 3 && words.contains(&a.as_str()))
            {
                return Some((name.clone(), Some(i)));
            }
        }
    }
    // The text names none: the directory's display name does, "Whitcomb, Alan (OSD)".
    let tag = ctx
        .sender_name
        .and_then(|n| n.trim().strip_suffix(')'))
        .and_then(|n| n.rsplit_once('('))
        .map(|(_, tag)| tag.trim())?;
    list.iter()
        .find(|(_, aliases, _)| {
            aliases
                .iter()
                .any(|a| a.len() >= 2 && a.eq_ignore_ascii_case(tag))
        })
        .map(|(name, _, _)| (name.clone(), None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::answers::has_cue;
    use serde_json::Value;

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
    fn police_named_in_three_languages_and_the_fusion_center() {
        assert_eq!(
            le_agency("Hicimos la denuncia a la policía de Worcester anoche."),
            Some("Worcester Police Department".into())
        );
        assert_eq!(
            le_agency("Registramos um boletim na Polícia de Framingham."),
            Some("Framingham Police Department".into())
        );
        assert_eq!(
            le_agency("The Fusion Center (MSP) has been told."),
            Some("Commonwealth Fusion Center".into())
        );
        assert_eq!(
            le_agency("Avisamos a la Policía Estatal."),
            Some("Massachusetts State Police".into())
        );
        assert_eq!(
            le_agency("Llamamos a la Policía de Tránsito."),
            Some("Tránsito Police Department".into())
        );
        assert_eq!(
            le_agency("Avisamos a la Policía de Massachusetts."),
            Some("Massachusetts State Police".into())
        );
        assert_eq!(le_agency("We told our vendor."), None);
    }

    #[test]
    fn the_directory_display_name_names_the_agency_when_the_text_does_not() {
        let c = Context {
            date: None,
            sender: Some("alan.whitcomb@mass.gov"),
            sender_name: Some("Whitcomb, Alan (OSD)"),
            agencies: &[],
        };
        let found = |lines: &[&str]| find_agency(lines, &c);
        assert_eq!(
            found(&["This message was reported as phishing by Alan Whitcomb."]),
            Some(("Operational Services Division".into(), None))
        );
        // What the text names comes first.
        assert_eq!(
            found(&["Hi SOC,", "Jane Doe | Department of Revenue"]),
            Some(("Department of Revenue".into(), Some(1)))
        );
        let unknown = Context {
            sender_name: Some("Whitcomb, Alan (XYZQ)"),
            ..c
        };
        assert_eq!(find_agency(&["Hello"], &unknown), None);
    }

    #[test]
    fn the_agency_before_its_secretariat_and_never_the_soc() {
        let c = Context {
            date: None,
            sender: Some("jane@mass.gov"),
            sender_name: None,
            agencies: &[],
        };
        let name = |lines: &[&str]| find_agency(lines, &c).map(|(n, _)| n);
        assert_eq!(
            name(&["Division of Banks | Office of Consumer Affairs and Business Regulation"]),
            Some("Division of Banks".into())
        );
        assert_eq!(
            name(&["Incident INC0104455 -- Escalated to EOTSS SOC"]),
            None
        );
        assert_eq!(
            name(&["It said \"EOTSS IT: your account will be deactivated\""]),
            None
        );
        assert_eq!(
            name(&["Escalated to EOTSS SOC", "Department of Fish and Game"]),
            Some("Department of Fish and Game".into())
        );
    }

    #[test]
    fn labels_by_their_key_words() {
        let cases = [
            ("Outside parties notified?", Some("external_communications")),
            (
                "¿Se comunicó algo fuera de su agencia?",
                Some("external_communications"),
            ),
            ("External", Some("external_communications")),
            (
                "Was the State Police told",
                Some("law_enforcement_contacted"),
            ),
            ("What have you done so far?", Some("actions_taken")),
            ("Recommended actions", None),
            ("Date/time you first noticed", Some("detected_at")),
            ("Discovered by", None),
            ("Best phone to reach you", Some("reporter_phone")),
            ("Equipo o sistema afectado", Some("systems_affected")),
            ("Public IP", None),
            ("Clicked the phishing link", None),
            ("Personal device", Some("systems_affected")),
            ("Transaction amount", None),
            ("Fecha del hecho", None),
            ("My computer did this", None),
            ("We saw this at 9:40", None),
        ];
        for (label, want) in cases {
            assert_eq!(label_field_loose(label), want, "{label}");
        }
        // The exact wordings alone for a label standing without its colon.
        assert_eq!(label_field("Outside parties notified"), None);
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
