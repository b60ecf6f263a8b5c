//! Yes/no/unknown answers in free text, read with their negation and modality:
//! "we have not contacted law enforcement" is no, "should we call the police?" and
//! "if police are needed" are no answer at all, "a State Police detective is on site"
//! and "the vendor notified the FBI" are yes, "not sure" and "TBD" are unknown.
//! English, Spanish and Portuguese. Quotes and apostrophes are normalised first.

/// A yes/no/unknown reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tri {
    Yes,
    No,
    Unknown,
}

impl Tri {
    pub fn as_str(&self) -> &'static str {
        match self {
            Tri::Yes => "yes",
            Tri::No => "no",
            Tri::Unknown => "unknown",
        }
    }
}

/// The text without what it quotes in double quotes: a lure's words ("su cuenta fue
/// suspendida", "EOTSS IT: your account will be deactivated") are not the reporter's.
pub fn unquoted(c: &str) -> String {
    let mut out = String::with_capacity(c.len());
    let mut inside = false;
    for ch in c.chars() {
        match ch {
            '"' | '«' | '»' | '\u{201C}' | '\u{201D}' => inside = !inside,
            _ if !inside => out.push(ch),
            _ => {}
        }
    }
    out
}

/// Curly quotes and apostrophes made plain, dashes made hyphens, lower case.
pub fn normalize(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{2032}' | '`' | '\u{00B4}' => '\'',
            '\u{201C}' | '\u{201D}' | '\u{201F}' => '"',
            '\u{2010}'..='\u{2015}' => '-',
            '\u{00A0}' | '\u{202F}' => ' ',
            c => c,
        })
        .collect::<String>()
        .to_lowercase()
}

/// What a yes/no field is about, and what makes a mention of it an answer.
struct Topic {
    field: &'static str,
    /// Mentions that are an answer by themselves ("SSNs", "a police report").
    strong: &'static [&'static str],
    /// Mentions that answer only beside a verb of `verbs` ("police" + "called").
    weak: &'static [&'static str],
    verbs: &'static [&'static str],
    /// A clause with one of these is about something else (a phish's lure).
    not_about: &'static [&'static str],
}

const TOPICS: &[Topic] = &[
    Topic {
        field: "personal_information",
        strong: &[
            "ssn",
            "social security",
            "dob",
            "date of birth",
            "dates of birth",
            "driver's license",
            "drivers license",
            "phi",
            "medical record",
            "health information",
            "medicaid number",
            "tax return",
            "tax record",
            "case records",
            "seguro social",
            "fecha de nacimiento",
            "fechas de nacimiento",
            "data de nascimento",
            "datas de nascimento",
            "cpf",
            "historial clínico",
            "prontuário",
        ],
        weak: &[
            "pii",
            "personal information",
            "personal data",
            "personal info",
            "sensitive data",
            "home address",
            "bank account",
            "credit card",
            "datos personales",
            "información personal",
            "informacion personal",
            "dados pessoais",
            "informação pessoal",
            "informações pessoais",
            "informacao pessoal",
            "client info",
            "client information",
            "case information",
            "case/client info",
            "client data",
            "case data",
            "customer data",
            "member data",
            "patient data",
            "student data",
            "inmate data",
            "resident data",
            "youth records",
            "medical information",
            "health records",
            "case files",
            "bank account numbers",
            "home addresses",
            "mailing addresses",
            "street addresses",
            "names and addresses",
            "names, addresses",
            "criminal history",
            "diagnósticos",
            "diagnoses",
        ],
        verbs: &[
            "contain",
            "contained",
            "contains",
            "include",
            "included",
            "includes",
            "involved",
            "involve",
            "exposed",
            "affected",
            "accessed",
            "downloaded",
            "viewed",
            "stolen",
            "leaked",
            "compromised",
            "with",
            "held",
            "holds",
            "had",
            "has",
            "on it",
            "contiene",
            "contenía",
            "incluye",
            "con",
            "contém",
            "continha",
            "inclui",
            "com",
            "expuestos",
            "expostos",
            "involucra",
            "envolve",
        ],
        not_about: &[
            "asking for",
            "asked for",
            "asks for",
            "asking them",
            "asking users",
            "requesting",
            "requested",
            "verify your",
            "update your",
            "confirm your",
            "enter your",
            "pidiendo",
            "solicitando",
            "pedindo",
        ],
    },
    Topic {
        field: "law_enforcement_contacted",
        strong: &[
            "police report",
            "911",
            "filed a report with",
            "police case number",
            "police incident number",
            "detective",
            "trooper",
            "boletim de ocorrência",
            "boletim de ocorrencia",
            "denuncia policial",
            "denuncia ante",
        ],
        weak: &[
            "police",
            "law enforcement",
            "fbi",
            "secret service",
            "fusion center",
            "ic3",
            "pd",
            "policía",
            "policia",
            "polícia",
            "fiscalía",
            "autoridades",
        ],
        verbs: &[
            "contact",
            "contacted",
            "called",
            "call",
            "notified",
            "notify",
            "told",
            "informed",
            "reported",
            "report",
            "filed",
            "on site",
            "on-site",
            "onsite",
            "arrived",
            "involved",
            "responded",
            "investigating",
            "aware",
            "came",
            "is here",
            "are here",
            "spoke",
            "spoken",
            "engaged",
            "alerted",
            "llamamos",
            "llamé",
            "notificamos",
            "notificado",
            "notificada",
            "informamos",
            "informado",
            "informada",
            "contactamos",
            "contactado",
            "denunciamos",
            "denuncia",
            "denúncia",
            "presentamos",
            "fizemos",
            "número de caso",
            "case number",
            "chamamos",
            "acionamos",
            "acionada",
            "acionado",
            "notificada",
            "comunicamos",
            "avisamos",
            "avisada",
            "avisado",
            "contatamos",
            "contatada",
            "contatado",
            "registramos",
            "en el sitio",
            "no local",
        ],
        not_about: &[
            "pretend",
            "impersonat",
            "claiming to be",
            "claims to be",
            "posing as",
            "haciéndose pasar",
            "se passando",
        ],
    },
    Topic {
        field: "external_communications",
        strong: &[
            "press release",
            "press inquiry",
            "press statement",
            "posted a notice",
            "notice on the website",
            "public notice",
            "outage notice",
            "comunicado de prensa",
            "nota à imprensa",
            "told anyone outside",
            "communicated outside",
            "communicated externally",
            "external communication",
            "outside the agency",
            "externally",
            "nothing external",
            "anything external",
            "nothing public",
            "told anyone",
            "told no one",
            "told nobody",
            "told anybody",
            "public statement",
            "statement to the press",
            "media inquiry",
            "media inquiries",
            "external comms",
            "shared outside",
            "sent outside",
            "gone outside",
            "outside of the agency",
            "outside our agency",
            "outside of our agency",
            "outside the department",
            "outside our department",
            "outside the office",
            "informado a nadie",
            "avisado a nadie",
            "dicho a nadie",
            "contado a nadie",
            "comunicado nada",
            "nadie fuera",
            "nadie de fuera",
            "informado ninguém",
            "avisado ninguém",
            "ninguém de fora",
            "ninguém fora",
            "comunicamos nada",
            "fuera de la agencia",
            "fora da agência",
            "fora do órgão",
        ],
        weak: &[
            "the msp",
            "our msp",
            "contractor",
            "press",
            "media",
            "reporter from",
            "journalist",
            "the public",
            "resident",
            "customer",
            "constituent",
            "applicant",
            "provider",
            "recipient",
            "taxpayer",
            "anyone outside",
            "no one outside",
            "nobody outside",
            "supplier",
            "families",
            "family",
            "client",
            "consumer",
            "parents",
            "claimant",
            "proveedores",
            "fornecedores",
            "clientes",
            "familias",
            "famílias",
            "empresa",
            "our contact at",
            "lost and found",
            "lost & found",
            "objetos perdidos",
            "achados e perdidos",
            "the venue",
            "the hotel",
            "the carrier",
            "our carrier",
            "the employer",
            "vendor",
            "the bank",
            "prensa",
            "medios",
            "periodista",
            "público",
            "proveedor",
            "imprensa",
            "jornalista",
            "fornecedor",
            "externamente",
        ],
        verbs: &[
            "is aware",
            "are aware",
            "made aware",
            "was aware",
            "wrote to",
            "writing to",
            "escribimos",
            "escrevemos",
            "están al tanto",
            "está al tanto",
            "está ciente",
            "estão cientes",
            "told",
            "notified",
            "informed",
            "communicated",
            "contacted",
            "called",
            "emailed",
            "posted",
            "warned",
            "alerted",
            "statement",
            "reached out",
            "asked",
            "warning",
            "let them know",
            "sent a notice",
            "spoke",
            "opened a ticket",
            "informamos",
            "notificamos",
            "comunicamos",
            "contactamos",
            "llamamos",
            "avisamos",
            "contatamos",
            "chamamos",
            "publicamos",
            "comunicado",
            "published",
            "announcement",
            "contact",
            "outreach",
            "communication",
            "inquiry",
            "involvement",
            "comunicación",
            "comunicação",
            "llamé",
            "avisé",
            "liguei",
            "avisei",
            "contatei",
            "informei",
        ],
        // Told us: news coming in is not our communication going out; and telling
        // the police is the other question.
        not_about: &[
            "contacted law enforcement",
            "notified law enforcement",
            "contacted the police",
            "called the police",
            "told the police",
            "notified the police",
            "contacted the fbi",
            "notified the fbi",
            "notified us",
            "told us",
            "informed us",
            "emailed us",
            "called us",
            "contacted us",
            "alerted us",
            "warned us",
            "reached out to us",
            "notified me",
            "told me",
            "called me",
            "emailed me",
            "nos notificó",
            "nos informó",
            "nos avisó",
            "nos avisou",
            "nos informou",
            "nos notificou",
        ],
    },
];

/// Whole-word cues of "don't know".
const UNKNOWN: &[&str] = &[
    "unknown",
    "not sure",
    "unsure",
    "don't know",
    "do not know",
    "dont know",
    "unclear",
    "tbd",
    "to be determined",
    "not yet known",
    "not known",
    "still determining",
    "still checking",
    "still investigating whether",
    "not looked yet",
    "haven't looked",
    "have not looked",
    "haven't checked",
    "have not checked",
    "not checked yet",
    "still checking whether",
    "not yet determined",
    "not determined",
    "no sabemos",
    "no sé",
    "no estoy segura",
    "no estoy seguro",
    "no lo sé",
    "no lo sabemos",
    "todavía no sabemos",
    "não tenho certeza",
    "nao tenho certeza",
    "não temos certeza",
    "ainda não sabemos",
    "desconocido",
    "por determinar",
    "por confirmar",
    "não sabemos",
    "nao sabemos",
    "não sei",
    "desconhecido",
    "a confirmar",
    "a determinar",
    "rule out",
    "ruled out",
    "no podemos descartar",
    "no descartamos",
    "não podemos descartar",
    "não descartamos",
];

/// Whole words that negate a clause.
const NEGATORS: &[&str] = &[
    "no", "not", "never", "none", "nobody", "no one", "nothing", "neither", "nor", "without",
    "haven't", "hasn't", "hadn't", "didn't", "don't", "doesn't", "wasn't", "weren't", "isn't",
    "aren't", "won't", "cannot", "can't", "nunca", "ningún", "ninguna", "ninguno", "nadie", "nada",
    "sin", "tampoco", "não", "nao", "nenhum", "nenhuma", "ninguém", "sem",
];

/// A clause with one of these asks, supposes or plans: it states nothing.
const NOT_STATED: &[&str] = &[
    "if ",
    "whether",
    "should we",
    "should i",
    "do we need",
    "do i need",
    "do you want",
    "would you like",
    "in case",
    "will ",
    "plan to",
    "planning to",
    "going to",
    "intend to",
    "may need",
    "might need",
    "may have to",
    "would ",
    "could ",
    "please ",
    "let us know",
    "let me know",
    "asked us to",
    "si es necesario",
    "en caso",
    "debemos",
    "¿",
    "se necessário",
    "caso seja",
    "devemos",
    "vamos a ",
];

/// `cue` in `text` as whole words (a plural `s` allowed): "phi" is not in "phishing",
/// "dob" not in "adobe", but "ssn" is in "SSNs".
pub fn has_cue(text: &str, cue: &str) -> bool {
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

/// Clauses of a sentence: answers about different things are often joined
/// ("No PII, and we called the State Police").
pub fn clauses(sentence: &str) -> Vec<String> {
    // "I called the lost and found, nothing turned in yet": the lost and found is one
    // party, and what follows the comma is its own clause, its "nothing" no denial of
    // the call.
    let mut parts = vec![normalize(sentence)
        .replace("lost and found", "lost & found")
        .replace(", nothing ", "; nothing ")
        .replace(", nada ", "; nada ")];
    for sep in [
        ";",
        ", and ",
        " and ",
        ", but ",
        " but ",
        " however",
        ", y ",
        " y ",
        " pero ",
        ", e ",
        " e ",
        " mas ",
        " porém",
        " so ",
        ". ",
        " - ",
        " \u{2013} ",
        " \u{2014} ",
    ] {
        parts = parts
            .iter()
            .flat_map(|p| p.split(sep).map(str::to_string).collect::<Vec<_>>())
            .collect();
    }
    parts.retain(|p| !p.trim().is_empty());
    parts
}

/// The clause is negated ("not", "never", "haven't", "nunca", "não"…).
pub fn negated(clause: &str) -> bool {
    NEGATORS.iter().any(|n| has_cue(clause, n)) || clause.contains("n't ") || not_applicable(clause)
}

/// A short clause answered "N/A" ("Police N/A", "External comms: n/a"): nothing to
/// tell, so no; never "case number N/A yet" in a longer clause.
fn not_applicable(clause: &str) -> bool {
    let c = clause.trim().trim_end_matches(['.', '!', ';']).trim_end();
    (c.ends_with(" n/a") || c.ends_with(":n/a") || c == "n/a") && c.split_whitespace().count() <= 4
}

/// The clause asks, supposes or plans ("should we…", "if…", "will…"): it states nothing.
pub fn not_stated(clause: &str) -> bool {
    clause.contains('?') || NOT_STATED.iter().any(|c| clause.contains(c))
}

/// "No data", "no inmate data", "no records": a negated mention of data in general.
static NO_DATA: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"\b(?:no|without|nothing|none of the|not any)\s+(?:[a-z]+\s+){0,2}?(?:data|records)\b",
    )
    .expect("no data regex")
});

/// People's information in general words ("member information", "client names", and
/// head first in Spanish and Portuguese: "información de clientes", "dados dos alunos").
static PEOPLE_DATA: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"\b(?:member|client|customer|patient|resident|student|employee|applicant|claimant|youth|inmate|taxpayer|consumer|licensee|constituent)s?'?\s+(?:information|info|data|names|records|files|details)\b|\b(?:información|informacion|datos|dados|informações|informação|informacoes|registros|expedientes|nombres|nomes)\s+(?:de|del|de los|de las|do|da|dos|das)\s+(?:clientes|pacientes|miembros|membros|residentes|estudiantes|alunos|usuarios|usuários|empleados|funcionários|ciudadanos|cidadãos|contribuyentes|contribuintes|beneficiarios|beneficiários|familias|famílias|menores|niños|crianças|solicitantes|participantes)\b")
        .expect("people data regex")
});

/// Telling nobody outside, which answers law enforcement only when denied.
const NOBODY_OUTSIDE: &[&str] = &[
    "anyone outside",
    "anybody outside",
    "nobody outside",
    "no one outside",
    "nadie fuera",
    "ninguém de fora",
    "ninguém fora",
];

/// The answer a clause gives about `field`, if it gives one.
pub fn answer_in_clause(field: &str, clause: &str) -> Option<Tri> {
    answer_in(field, clause, clause)
}

/// The answer of `clause`, whose verbs may stand elsewhere in its `sentence`
/// ("1,240 complaints with names, addresses and bank account numbers").
fn answer_in(field: &str, clause: &str, sentence: &str) -> Option<Tri> {
    let topic = TOPICS.iter().find(|t| t.field == field)?;
    let strong = topic.strong.iter().any(|c| has_cue(clause, c));
    let weak = topic.weak.iter().any(|c| has_cue(clause, c))
        || (field == "personal_information" && PEOPLE_DATA.is_match(clause));
    if !strong && !weak {
        if field == "personal_information" && NO_DATA.is_match(clause) && !not_stated(clause) {
            return Some(Tri::No);
        }
        // "Haven't called anyone outside IT": nobody outside, so not the police either.
        if field == "law_enforcement_contacted"
            && NOBODY_OUTSIDE.iter().any(|c| clause.contains(c))
            && negated(clause)
            && !not_stated(clause)
        {
            return Some(Tri::No);
        }
        return None;
    }
    if topic.not_about.iter().any(|c| clause.contains(c)) {
        return None;
    }
    // "Clients were replying to mail she never sent" names people, not telling them:
    // an outside party answers only beside a verb of telling.
    // The press and the public are an answer by themselves ("no press, nothing public").
    const MEDIA: &[&str] = &[
        "press",
        "media",
        "the public",
        "journalist",
        "prensa",
        "medios",
        "periodista",
        "público",
        "imprensa",
        "jornalista",
        "externamente",
    ];
    if field == "external_communications"
        && !strong
        && !MEDIA.iter().any(|c| has_cue(clause, c))
        && !topic.verbs.iter().any(|v| has_cue(clause, v))
    {
        return None;
    }
    let unknown = UNKNOWN.iter().any(|c| has_cue(clause, c));
    if unknown {
        return Some(Tri::Unknown);
    }
    if not_stated(clause) {
        return None;
    }
    if negated(clause) {
        return Some(Tri::No);
    }
    if strong || topic.verbs.iter().any(|v| has_cue(clause, v)) {
        return Some(Tri::Yes);
    }
    // The verb in another clause of the sentence, when that clause says nothing else.
    if sentence != clause
        && !topic.not_about.iter().any(|c| sentence.contains(c))
        && !negated(sentence)
        && !not_stated(sentence)
        && topic.verbs.iter().any(|v| has_cue(sentence, v))
    {
        return Some(Tri::Yes);
    }
    None
}

/// Verbs that say personal information was reached, not only kept.
const EXPOSED: &[&str] = &[
    "accessed",
    "exposed",
    "downloaded",
    "viewed",
    "stolen",
    "leaked",
    "compromised",
    "sent",
    "emailed",
    "posted",
    "shared",
    "copied",
    "exfiltrated",
    "forwarded",
    "uploaded",
    "read",
    "printed",
    "mailed",
    "misdirected",
    "lost",
    "missing",
    "taken",
    "disclosed",
    "involved",
    "affected",
    "at risk",
    "opened",
    "looked up",
    "searched",
    "expuestos",
    "enviados",
    "accedieron",
    "robados",
    "expostos",
    "enviados",
    "acessados",
    "roubados",
    "vazados",
];
/// Does a "yes" about personal information only say the data is kept there (or
/// merely name it), not that it was reached? Then it means "present", not "involved".
pub fn only_held(sentence: &str) -> bool {
    let s = normalize(sentence);
    !EXPOSED.iter().any(|v| has_cue(&s, v))
}

/// The answer a sentence gives about `field`: its clauses read one by one; a clause
/// that answers unknown or no is taken over a later yes about the same thing only when
/// no clause says yes outright.
pub fn answer(field: &str, sentence: &str) -> Option<Tri> {
    let whole = normalize(sentence);
    // Most sentences name none of the field's topics: no clause needs reading.
    let topic = TOPICS.iter().find(|t| t.field == field)?;
    let named = |c: &&str| whole.contains(*c);
    if !topic.strong.iter().any(named)
        && !topic.weak.iter().any(named)
        && !(field == "personal_information"
            && (NO_DATA.is_match(&whole) || PEOPLE_DATA.is_match(&whole)))
        && !(field == "law_enforcement_contacted" && NOBODY_OUTSIDE.iter().any(named))
    {
        return None;
    }
    let found: Vec<Tri> = clauses(sentence)
        .iter()
        .filter_map(|c| answer_in(field, c, &whole))
        .collect();
    if found.contains(&Tri::Yes) {
        Some(Tri::Yes)
    } else {
        found.first().copied()
    }
}

/// What a labelled value answers when it is neither a plain yes/no nor a sentence
/// [`answer`] reads: "I have not told anyone" (no), "still checking" (unknown), and for
/// law enforcement and external communications any other statement names who was told
/// ("solo la respuesta a la persona que llamó", "Worcester PD, report 26-114": yes).
pub fn label_answer(field: &str, value: &str) -> Option<Tri> {
    let v = normalize(value);
    let v = v.trim().trim_end_matches('.');
    if v.is_empty() || v.chars().all(|c| !c.is_alphanumeric()) {
        return None;
    }
    if UNKNOWN.iter().any(|c| has_cue(v, c))
        || [
            "checking",
            "investigating",
            "verificando",
            "averiguando",
            "pending",
        ]
        .iter()
        .any(|c| has_cue(v, c))
    {
        return Some(Tri::Unknown);
    }
    if not_stated(v) {
        return None;
    }
    if negated(v)
        || ["nope", "n/a", "no one", "nobody", "nadie", "ninguém"]
            .iter()
            .any(|c| has_cue(v, c))
    {
        return Some(Tri::No);
    }
    // Yes only when the statement names who was told: an agency or a report number
    // for the police, a party for communications ("waiting on legal" names nobody).
    let cued = || {
        TOPICS
            .iter()
            .find(|t| t.field == field)
            .is_some_and(|t| t.weak.iter().chain(t.strong).any(|c| has_cue(v, c)))
    };
    let named = match field {
        "law_enforcement_contacted" => {
            crate::extract::fields::le_agency(value).is_some()
                || v.chars().any(|c| c.is_ascii_digit())
                || cued()
        }
        "external_communications" => {
            cued()
                || [
                    "person",
                    "persona",
                    "pessoa",
                    "caller",
                    "requester",
                    "partner",
                    "school",
                    "hospital",
                    "agency",
                    "agencies",
                    "city",
                    "town",
                    "landlord",
                ]
                .iter()
                .any(|c| has_cue(v, c))
        }
        _ => false,
    };
    named.then_some(Tri::Yes)
}

/// The answer of a labelled value ("Police contacted: yes, State Police", "no PII",
/// "Unknown", "Sí", "Não"), or `None` when it is not a yes/no answer.
pub fn tri_value(v: &str) -> Option<Tri> {
    let v = normalize(v.trim());
    // A form's ticked box: "☐ Yes ☒ No ☐ Unknown", "[x] Yes [ ] No", or the mark
    // after its word ("Yes ✓"). The word beside the first mark answers.
    let marked = ['☒', '☑', '✔', '✓', '■']
        .iter()
        .filter_map(|m| v.find(*m).map(|at| (at, m.len_utf8())))
        .chain(
            ["[x]", "(x)"]
                .iter()
                .filter_map(|m| v.find(*m).map(|at| (at, m.len()))),
        )
        .min();
    let v = match marked {
        Some((at, len)) => {
            let word = |t: &str| {
                t.split(|c: char| !c.is_alphanumeric())
                    .find(|w| !w.is_empty())
                    .map(str::to_string)
            };
            // Boxes before their words ("☐ Yes ☒ No") when the value begins with one,
            // else after them ("Yes ☒ No ☐").
            let boxes_first = v
                .trim_start()
                .starts_with(['☐', '☒', '☑', '■', '□', '[', '(']);
            let beside = if boxes_first {
                word(&v[at + len..])
            } else {
                v[..at].split_whitespace().last().and_then(word)
            };
            beside.unwrap_or_default()
        }
        None => v,
    };
    let v = v.trim_start_matches(['[', '(', '*', '-', ' ']).trim();
    let first = v
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .next()
        .unwrap_or("");
    if [
        "unknown",
        "unsure",
        "tbd",
        "unclear",
        "pending",
        "desconocido",
        "desconhecido",
        "n/a?",
    ]
    .contains(&first)
        || UNKNOWN.iter().any(|c| v.starts_with(c))
    {
        return Some(Tri::Unknown);
    }
    if [
        "yes",
        "y",
        "true",
        "confirmed",
        "sí",
        "si",
        "sim",
        "x",
        "affirmative",
    ]
    .contains(&first)
    {
        return Some(Tri::Yes);
    }
    if [
        "no", "n", "none", "false", "not", "nope", "never", "não", "nao", "nenhum", "nenhuma",
        "ninguno", "ninguna", "nada", "negative",
    ]
    .contains(&first)
    {
        return Some(Tri::No);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le(s: &str) -> Option<&'static str> {
        answer("law_enforcement_contacted", s).map(|t| t.as_str())
    }
    fn pi(s: &str) -> Option<&'static str> {
        answer("personal_information", s).map(|t| t.as_str())
    }
    fn ext(s: &str) -> Option<&'static str> {
        answer("external_communications", s).map(|t| t.as_str())
    }

    #[test]
    fn peoples_information_in_general_words_in_three_languages() {
        assert_eq!(pi("No personal info on the PC per user."), Some("no"));
        assert_eq!(pi("No hay información de clientes afectada."), Some("no"));
        assert_eq!(
            pi("No sabemos si el atacante vio datos de clientes; su buzón tiene casos."),
            Some("unknown")
        );
        assert_eq!(
            pi("A planilha continha dados dos alunos e dos pais."),
            Some("yes")
        );
    }

    #[test]
    fn a_police_report_filed_in_spanish_and_police_not_applicable() {
        assert_eq!(
            le("Hicimos la denuncia a la policía de Worcester anoche, número de caso 26-41877."),
            Some("yes")
        );
        assert_eq!(le("Police N/A."), Some("no"));
        assert_eq!(
            le("Filed with Worcester PD, case number N/A yet."),
            Some("yes")
        );
        assert_eq!(ext("I called the help desk from the company phone."), None);
    }

    #[test]
    fn calling_the_lost_and_found_is_telling_someone_outside() {
        assert_eq!(
            ext("I called the MBTA lost and found this morning, nothing turned in yet."),
            Some("yes")
        );
        assert_eq!(
            ext("She called the venue's lost and found, nothing found."),
            Some("yes")
        );
        assert_eq!(ext("We have told no one, nothing external."), Some("no"));
    }

    #[test]
    fn negation_scope_and_curly_apostrophes() {
        assert_eq!(
            le("We haven\u{2019}t contacted law enforcement."),
            Some("no")
        );
        assert_eq!(le("Police have not been called yet."), Some("no"));
        assert_eq!(
            le("No PII involved. We have not contacted law enforcement"),
            Some("no")
        );
        assert_eq!(
            pi("No PII involved, and we called the State Police."),
            Some("no")
        );
        assert_eq!(
            le("No PII involved, and we called the State Police."),
            Some("yes")
        );
        assert_eq!(
            ext("nothing has been communicated outside the agency"),
            Some("no")
        );
    }

    #[test]
    fn questions_conditionals_and_plans_are_no_answer() {
        assert_eq!(le("Should we call the police?"), None);
        assert_eq!(le("We will contact the FBI if needed."), None);
        assert_eq!(le("Let me know if police are needed"), None);
        assert_eq!(pi("Please confirm whether PII was involved"), None);
    }

    #[test]
    fn presence_and_third_party_contact_are_yes() {
        assert_eq!(le("A State Police detective is on site."), Some("yes"));
        assert_eq!(le("The Fusion Center (MSP) has been told."), Some("yes"));
        assert_eq!(le("The vendor notified the FBI on Monday."), Some("yes"));
        assert_eq!(le("Llamamos a la policía estatal."), Some("yes"));
        assert_eq!(le("Não acionamos a polícia."), Some("no"));
        assert_eq!(
            le("The email pretends to be from the FBI and was reported"),
            None
        );
    }

    #[test]
    fn personal_information_kept_is_not_involved() {
        assert!(only_held(
            "The server does hold customer names, addresses and dates of birth."
        ));
        assert!(!only_held(
            "Files with names and SSNs were downloaded from their server."
        ));
        assert!(!only_held(
            "The records viewed include criminal history and dates of birth."
        ));
        assert_eq!(ext("Our vendor notified us at 10:12 today."), None);
        assert_eq!(
            ext("I also don't know whether the vendor has contacted law enforcement."),
            None
        );
        assert_eq!(
            ext("We called the affected customer this morning to let them know."),
            Some("yes")
        );
        assert_eq!(
            le("We have not called law enforcement yet - we would like your advice on whether to involve the State Police."),
            Some("no")
        );
    }

    #[test]
    fn addresses_mail_goes_to_and_a_doubt_not_ruled_out() {
        // Mail sent to outside addresses is no one's home address.
        assert_eq!(
            answer(
                "personal_information",
                "Her Sent Items show 41 messages to outside addresses with a link."
            ),
            None
        );
        assert_eq!(
            answer(
                "personal_information",
                "The file has client names and addresses of 40 families."
            ),
            Some(Tri::Yes)
        );
        assert_eq!(
            answer(
                "personal_information",
                "So I can't rule out PII, we are looking."
            ),
            Some(Tri::Unknown)
        );
    }

    #[test]
    fn unknown_and_lures() {
        assert_eq!(
            pi("Not sure yet whether any PII was in the mailbox."),
            Some("unknown")
        );
        assert_eq!(pi("PII: TBD"), Some("unknown"));
        assert_eq!(
            pi("The spreadsheet had names and SSNs for 312 clients."),
            Some("yes")
        );
        assert_eq!(pi("The phish was asking for bank account numbers."), None);
        assert_eq!(
            pi("The file contained datos personales de 40 ciudadanos."),
            Some("yes")
        );
        assert_eq!(tri_value("no PII"), Some(Tri::No));
        assert_eq!(tri_value("Unknown"), Some(Tri::Unknown));
        assert_eq!(tri_value("Sí, la policía estatal"), Some(Tri::Yes));
        assert_eq!(tri_value("Não"), Some(Tri::No));
        assert_eq!(tri_value("sent it to the FBI"), None);
        let label = |f: &str, v: &str| label_answer(f, v).map(|t| t.as_str());
        assert_eq!(
            label("external_communications", "I have not told anyone"),
            Some("no")
        );
        assert_eq!(
            label(
                "external_communications",
                "solo la respuesta a la persona que llamó"
            ),
            Some("yes")
        );
        assert_eq!(
            label("law_enforcement_contacted", "Worcester PD, report 26-114"),
            Some("yes")
        );
        assert_eq!(
            label("personal_information", "still checking"),
            Some("unknown")
        );
        assert_eq!(label("personal_information", "names on a list"), None);
        assert_eq!(ext("Nothing has gone out externally."), Some("no"));
        assert_eq!(ext("No police, nothing external."), Some("no"));
        assert_eq!(ext("Clients were replying to emails she never sent."), None);
        assert_eq!(ext("We have not contacted the taxpayers."), Some("no"));
        assert_eq!(
            ext("There is no sign anyone outside MCB accessed it."),
            None
        );
        assert_eq!(le("Haven't called anyone outside IT."), Some("no"));
        assert_eq!(le("We called someone outside IT."), None);
        assert_eq!(
            le("Llamamos al 911 y la policía revisó el edificio y no encontró nada."),
            Some("yes")
        );
        assert_eq!(tri_value("☐ Yes  ☒ No  ☐ Unknown"), Some(Tri::No));
        assert_eq!(tri_value("[x] Yes [ ] No"), Some(Tri::Yes));
        assert_eq!(tri_value("No estoy segura"), Some(Tri::Unknown));
        assert_eq!(tri_value("Yes ☒  No ☐"), Some(Tri::Yes));
        assert_eq!(tri_value("Yes ✓"), Some(Tri::Yes));
        let many = "☒".repeat(50_000);
        assert_eq!(tri_value(&many), None);
        assert_eq!(label("law_enforcement_contacted", "waiting on legal"), None);
    }
}
