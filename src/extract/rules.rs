//! Category, suggested severity and priority, by documented rules
//! (`incident-fields.md`), each with the reasons that led to it.

use serde::{Deserialize, Serialize};

use super::fields::Fields;

/// Kind of incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Phishing,
    AccountCompromise,
    Malware,
    Ransomware,
    UnauthorizedAccess,
    DataExposure,
    LostOrStolenDevice,
    DenialOfService,
    WebDefacement,
    InsiderMisuse,
    VendorIncident,
    Other,
}

impl Category {
    pub fn as_str(&self) -> &'static str {
        match self {
            Category::Phishing => "phishing",
            Category::AccountCompromise => "account_compromise",
            Category::Malware => "malware",
            Category::Ransomware => "ransomware",
            Category::UnauthorizedAccess => "unauthorized_access",
            Category::DataExposure => "data_exposure",
            Category::LostOrStolenDevice => "lost_or_stolen_device",
            Category::DenialOfService => "denial_of_service",
            Category::WebDefacement => "web_defacement",
            Category::InsiderMisuse => "insider_misuse",
            Category::VendorIncident => "vendor_incident",
            Category::Other => "other",
        }
    }
}

/// The gateway's reading of how bad and how urgent a report is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub category: Category,
    pub category_reasons: Vec<String>,
    pub severity_suggested: &'static str,
    pub severity_reasons: Vec<String>,
    /// Key impact fields are unknown or missing: the suggestion may rise.
    pub provisional: bool,
    pub priority: &'static str,
    pub major_incident_suggested: bool,
}

/// Cue phrases per category with weights; order breaks ties towards the more severe.
const CUES: &[(Category, &[(&str, u32)])] = &[
    (
        Category::Ransomware,
        &[
            ("cifraron", 3),
            ("encriptad", 3),
            ("nota de rescate", 5),
            ("nota de resgate", 5),
            ("pedido de resgate", 4),
            ("cifrados", 3),
            ("cifrado", 2),
            ("rescate", 3),
            ("criptografados", 3),
            ("resgate", 3),
            ("sequestro de dados", 4),
            ("ransomware", 5),
            ("ransom note", 5),
            ("ransom", 3),
            ("encrypted files", 3),
            ("files encrypted", 3),
            (".locked", 3),
            ("lockbit", 5),
            ("blackcat", 5),
            ("akira", 4),
            ("decrypt", 2),
            ("files are encrypted", 3),
            ("bitcoin", 1),
        ],
    ),
    (
        Category::DenialOfService,
        &[
            ("denegación de servicio", 5),
            ("negação de serviço", 5),
            ("llamadas automáticas", 3),
            ("chamadas automáticas", 3),
            ("miles de llamadas", 3),
            ("milhares de chamadas", 3),
            ("fuera de servicio", 2),
            ("flooded with", 3),
            ("tdos", 5),
            ("telephony denial", 5),
            ("automated calls", 3),
            ("requests/sec", 3),
            ("requests per second", 3),
            ("botnet", 3),
            ("random-subdomain", 3),
            ("dns flood", 5),
            ("query flood", 4),
            ("inundad", 2),
            ("fora do ar", 2),
            ("caído", 1),
            ("ddos", 5),
            ("denial of service", 5),
            ("traffic flood", 4),
            ("flood of", 2),
            ("subscription bomb", 5),
            ("email bomb", 4),
            ("thousands of sign-up", 3),
            ("overwhelmed", 1),
        ],
    ),
    (
        Category::WebDefacement,
        &[
            ("hacked by", 4),
            ("página modificada", 4),
            ("página alterada", 4),
            ("modificaron la página", 4),
            ("alteraron la página", 4),
            ("site invadido", 4),
            ("sitio hackeado", 4),
            ("site hackeado", 4),
            ("página hackeada", 4),
            ("página de facebook", 2),
            ("página oficial", 2),
            ("site alterado", 4),
            ("sitio alterado", 4),
            ("desfigur", 4),
            ("pichad", 4),
            ("page takeover", 4),
            ("page was hijacked", 4),
            ("posting scam", 3),
            ("posting crypto", 3),
            ("modificado", 1),
            ("alterado", 1),
            ("kiosk", 1),
            ("hacked", 1),
            ("defaced", 5),
            ("defacement", 5),
            ("website altered", 4),
            ("hacked homepage", 4),
            ("homepage", 1),
            ("replaced with", 1),
            ("hacked our page", 3),
            ("facebook page", 2),
        ],
    ),
    (
        Category::VendorIncident,
        &[
            ("el proveedor", 2),
            ("o fornecedor", 2),
            ("proveedor fue", 4),
            ("fornecedor foi", 4),
            ("aviso del proveedor", 4),
            ("aviso do fornecedor", 4),
            ("our vendor was breached", 5),
            ("vendor incident", 6),
            ("incidente de proveedor", 6),
            ("incidente do fornecedor", 6),
            ("provider was compromised", 5),
            ("provider was breached", 5),
            ("their hosting environment", 5),
            ("their environment", 4),
            ("their support environment", 5),
            ("their network", 3),
            ("their servers", 3),
            ("on their end", 3),
            ("on their side", 3),
            ("vendor notice", 4),
            ("notice below from", 3),
            ("notified us that they", 4),
            ("they are responding to", 4),
            ("their letter", 3),
            ("the vendor says", 3),
            ("vendor reports", 4),
            ("provider reports", 4),
            ("vendor's remote", 3),
            ("su proveedor", 2),
            ("nuestro proveedor", 3),
            ("nosso fornecedor", 3),
            ("vendor was breached", 5),
            ("third-party incident", 4),
            ("supplier notified", 4),
            ("notice of security incident", 4),
            ("vendor notified", 3),
            ("vendor", 1),
            ("our msp", 3),
            ("managed service provider", 3),
            ("saas provider", 2),
            ("their systems", 1),
            ("our vendor", 3),
            ("the vendor's", 2),
            ("notified us that", 3),
            ("third party", 1),
            ("third-party", 1),
            ("courtesy notice", 3),
            ("notice of data breach", 5),
            ("notice of data security incident", 5),
            ("data security incident", 3),
            ("writing to inform you", 3),
            ("writing to notify you", 3),
            ("formal letter", 2),
            ("their data center", 4),
            ("their platform", 3),
            ("their database", 3),
            ("vendor's system", 4),
            ("vendor's email", 4),
            ("vendor's account", 3),
            ("supplier's", 2),
            ("our customers", 2),
            ("nuestros clientes", 2),
            ("nossos clientes", 2),
        ],
    ),
    (
        Category::LostOrStolenDevice,
        &[
            ("hurtad", 3),
            ("se me perdió", 3),
            ("left my", 3),
            ("left it on", 2),
            ("can't find", 2),
            ("cannot find", 2),
            ("misplaced", 3),
            ("dejé", 2),
            ("olvidé", 2),
            ("esqueci", 2),
            ("deixei", 2),
            ("lost and found", 3),
            ("sumiu", 2),
            ("desapareci", 2),
            ("robaron", 4),
            ("robada", 4),
            ("robado", 4),
            ("perdí", 3),
            ("extravié", 3),
            ("extraviado", 3),
            ("extraviada", 3),
            ("roubado", 4),
            ("roubada", 4),
            ("roubaram", 4),
            ("foi furtado", 4),
            ("foi furtada", 4),
            ("furtaram", 4),
            ("perdi ", 3),
            ("perdeu", 3),
            ("lost the", 2),
            ("was stolen", 4),
            ("missing", 1),
            ("lost laptop", 5),
            ("stolen laptop", 5),
            ("laptop was stolen", 5),
            ("stolen", 3),
            ("lost my", 3),
            ("missing usb", 5),
            ("usb drive", 2),
            ("left in a taxi", 4),
            ("left it in", 2),
            ("stolen phone", 5),
            ("lost phone", 5),
            ("phone was stolen", 5),
            ("missing laptop", 4),
            ("thumb drive", 2),
            ("break-in", 2),
        ],
    ),
    (
        Category::DataExposure,
        &[
            ("expuesto", 2),
            ("exposto", 2),
            ("acceso público", 3),
            ("acesso público", 3),
            ("cualquiera con el enlace", 4),
            ("qualquer pessoa com o link", 4),
            ("dirección equivocada", 3),
            ("endereço errado", 3),
            ("enviado por error", 4),
            ("enviado por engano", 4),
            ("exposed", 2),
            ("open to the internet", 4),
            ("misconfigured", 2),
            ("mal configurado", 2),
            ("without authentication", 3),
            ("sin autenticación", 3),
            ("sem autenticação", 3),
            ("reachable from the internet", 3),
            ("publicly accessible", 4),
            ("publicly available", 3),
            ("accessible to anyone", 4),
            ("shared externally", 3),
            ("publicly readable", 4),
            ("no password", 1),
            ("elasticsearch", 2),
            ("unredacted", 4),
            ("without redaction", 4),
            ("sin redactar", 4),
            ("wrong person", 3),
            ("wrong agency", 3),
            ("persona equivocada", 4),
            ("pessoa errada", 4),
            ("publicó", 2),
            ("publicado por error", 4),
            ("someone else's", 3),
            ("otra persona", 2),
            ("outra pessoa", 2),
            ("exposición de datos", 5),
            ("exposição de dados", 5),
            ("data exposure", 5),
            ("por error", 3),
            ("por engano", 3),
            ("destinatario equivocado", 5),
            ("destinatário errado", 5),
            ("anyone with the link", 4),
            ("publicly shared", 4),
            ("wrong recipient", 5),
            ("misdirected", 5),
            ("sent to the wrong", 5),
            ("exposed bucket", 5),
            ("posted publicly", 4),
            ("data leak", 4),
            ("publicly accessible", 3),
            ("anyone with the link", 4),
            ("shared link", 2),
            ("sent in error", 4),
            ("posted", 3),
            ("by mistake", 2),
            ("publicly", 2),
            ("wrong address", 3),
            ("wrong vendor", 3),
        ],
    ),
    (
        Category::InsiderMisuse,
        &[
            ("uso indebido", 4),
            ("uso indevido", 4),
            ("ex empleado", 4),
            ("ex-empleado", 4),
            ("ex-funcionário", 4),
            ("ex funcionário", 4),
            ("dlp", 2),
            ("personal dropbox", 4),
            ("uploaded to a personal", 4),
            ("to a personal", 3),
            ("photos of her screen", 5),
            ("photos of his screen", 5),
            ("taking photos", 3),
            ("former employee", 4),
            ("ex-employee", 4),
            ("who left", 2),
            ("still logging in", 3),
            ("looked up", 2),
            ("fraude interna", 5),
            ("correo personal", 2),
            ("e-mail pessoal", 2),
            ("consultas", 1),
            ("without need", 4),
            ("no business reason", 4),
            ("snooping", 5),
            ("misuse", 3),
            ("accessed records", 3),
            ("insider", 3),
            ("personal gmail", 2),
            ("personal email account", 3),
            ("lookups", 2),
            ("employee accessed", 4),
            ("forwarded to his personal", 4),
            ("forwarded to her personal", 4),
        ],
    ),
    (
        Category::AccountCompromise,
        &[
            ("authenticator", 2),
            ("approved the", 2),
            ("approved it", 3),
            ("was used to send", 4),
            ("used to send", 3),
            ("fue usada para", 4),
            ("foi usada para", 4),
            ("regla que reenvia", 4),
            ("regra que encaminha", 4),
            ("regra de encaminhamento", 4),
            ("regla de reenvío", 4),
            ("and approved", 2),
            ("session from", 2),
            ("sign-in log shows", 2),
            ("comprometida", 3),
            ("hackeada", 4),
            ("hackeado", 3),
            ("accedieron a", 3),
            ("acessaram a", 3),
            ("aprobé", 3),
            ("aprovei", 3),
            ("mfa code", 3),
            ("verification code", 2),
            ("código de verificación", 3),
            ("código de verificação", 3),
            ("sending spam", 4),
            ("sent spam", 4),
            ("restricted from sending", 5),
            ("from my work address", 4),
            ("never sent", 3),
            ("got into my", 4),
            ("got into her", 4),
            ("got into his", 4),
            ("taken over", 3),
            ("token", 1),
            ("session hijack", 3),
            ("global admin", 2),
            ("consent", 1),
            ("enviando spam", 4),
            ("mandando spam", 4),
            ("conta invadida", 5),
            ("cuenta hackeada", 5),
            ("hackearon", 3),
            ("invadiram", 3),
            ("prompts", 2),
            ("mfa", 2),
            ("cuenta comprometida", 5),
            ("conta comprometida", 5),
            ("notificaciones de mfa", 4),
            ("notificações de mfa", 4),
            ("solicitações de mfa", 4),
            ("aprovar", 1),
            ("inicio de sesión", 2),
            ("regla de bandeja", 5),
            ("inbox rules", 5),
            ("forwarding rule", 4),
            ("password spray", 5),
            ("successful sign-in", 3),
            ("brute force followed by success", 5),
            ("sign-ins", 2),
            ("compromised account", 5),
            ("account was compromised", 5),
            ("account compromise", 5),
            ("mailbox rule", 5),
            ("inbox rule", 5),
            ("mfa fatigue", 5),
            ("mfa push", 3),
            ("push notifications", 2),
            ("impossible travel", 5),
            ("password spray", 5),
            ("business email compromise", 5),
            ("account was hacked", 4),
            ("hacked", 1),
            ("sign-in from", 2),
            ("signed in from", 2),
            ("mfa prompts", 3),
        ],
    ),
    (
        Category::UnauthorizedAccess,
        &[
            ("acceso no autorizado", 5),
            ("acesso não autorizado", 5),
            ("intrusión", 4),
            ("intrusão", 4),
            ("invasão", 3),
            ("fuerza bruta", 3),
            ("força bruta", 3),
            ("explotaron", 4),
            ("exploraram", 4),
            ("vulnerabilidad", 1),
            ("vulnerabilidade", 1),
            ("dcsync", 5),
            ("domain controller", 3),
            ("hands-on-keyboard", 4),
            ("new admin account", 4),
            ("none of us created", 3),
            ("citrix bleed", 5),
            ("session hijacking", 3),
            ("password guessing", 3),
            ("failed logins", 2),
            ("failed ssh", 3),
            ("anyconnect", 2),
            ("cryptominer", 3),
            ("miner", 2),
            ("unauthorized login", 5),
            ("unauthorised login", 5),
            ("unauthorized access", 4),
            ("intrusion", 4),
            ("exploited", 4),
            ("web shell", 5),
            ("webshell", 5),
            ("brute force", 3),
            ("brute-force", 3),
            ("rdp", 2),
            ("rogue device", 4),
            ("exploit", 2),
            ("vulnerability", 1),
        ],
    ),
    (
        Category::Malware,
        &[
            ("troyano", 5),
            ("cavalo de troia", 5),
            ("infectad", 3),
            ("infectou", 3),
            ("se mueve solo", 4),
            ("mexendo sozinho", 4),
            ("mexe sozinho", 4),
            ("acceso remoto", 3),
            ("acesso remoto", 3),
            ("lento", 1),
            ("ventanas", 2),
            ("abrí un archivo adjunto", 3),
            ("abri o anexo", 3),
            ("opened an attachment", 2),
            ("opened the attachment", 2),
            ("macro", 2),
            ("xlsm", 2),
            ("powershell", 2),
            ("payload", 2),
            ("ventanas emergentes", 3),
            ("vírus", 4),
            ("janelas", 2),
            ("malicioso", 2),
            ("command and control", 4),
            ("command-and-control", 4),
            ("cobalt strike", 5),
            ("virus", 4),
            ("trojan", 5),
            ("infected", 3),
            ("edr alert", 4),
            ("malicious attachment", 3),
            ("beaconing", 4),
            ("malware", 4),
            ("qakbot", 5),
            ("antivirus", 2),
            ("popups", 2),
            ("pop-ups", 2),
            ("remote access tool", 3),
            ("crowdstrike", 2),
            ("defender", 1),
            ("moving by itself", 4),
            ("by itself", 2),
            ("remote access", 3),
            ("anydesk", 4),
            ("teamviewer", 3),
            ("controlling", 2),
        ],
    ),
    (
        Category::Other,
        &[
            ("amenaza de bomba", 5),
            ("ameaça de bomba", 5),
            ("clonagem de cartão", 5),
            ("clonación de tarjetas", 5),
            ("skimmer", 5),
            ("bomb threat", 5),
            ("threatening email", 4),
            ("threatening", 3),
            ("amenaza", 3),
            ("ameaça", 3),
            ("physical threat", 4),
        ],
    ),
    (
        Category::Phishing,
        &[
            ("correo falso", 3),
            ("e-mail falso", 3),
            ("enlace sospechoso", 3),
            ("link suspeito", 3),
            ("hice clic", 3),
            ("cliquei", 3),
            ("página falsa", 3),
            ("se hace pasar", 3),
            ("se passando por", 3),
            ("credential phish", 4),
            ("got this text", 3),
            ("got a text", 3),
            ("a text from", 2),
            ("mensaje de texto", 3),
            ("mensagem de texto", 3),
            ("sms", 2),
            ("fake page", 3),
            ("phishalarm", 4),
            ("report phishing", 3),
            ("correo sospechoso", 4),
            ("enlace", 1),
            ("e-mail suspeito", 4),
            ("suplantación", 3),
            ("contraseña", 1),
            ("senha", 1),
            ("phish", 4),
            ("suspicious email", 4),
            ("clicked a link", 4),
            ("clicked the link", 4),
            ("credential harvesting", 4),
            ("spoofed", 3),
            ("fake login", 3),
            ("smishing", 4),
            ("text message", 1),
            ("gift card", 2),
            ("docusign", 2),
            ("qr code", 2),
            ("forwarded message", 1),
            ("verify your account", 2),
            ("mailbox is almost full", 3),
            ("storage is almost full", 3),
            ("[forwarded evidence]", 2),
            ("suspicious", 1),
        ],
    ),
];

/// Does the cue found at `start..end` of `hay` stand at word edges? It begins a word
/// ("rdp" is not in "wordpress"), and a short one ends one too; a longer one may begin
/// a longer word ("phish" in "phishing").
fn at_word_edges(hay: &str, cue: &str, start: usize, end: usize) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let begins = !cue.starts_with(char::is_alphanumeric)
        || !hay[..start].chars().next_back().is_some_and(word);
    let ends = cue.chars().count() > 4
        || !cue.ends_with(char::is_alphanumeric)
        || !hay[end..].chars().next().is_some_and(word);
    begins && ends
}

/// Every cue of [`CUES`], in order, as one automaton: a single pass over the text
/// finds every place of every cue (one compiled regex per cue cost megabytes).
static CUE_FINDER: std::sync::LazyLock<aho_corasick::AhoCorasick> =
    std::sync::LazyLock::new(|| {
        aho_corasick::AhoCorasick::new(CUE_LIST.iter()).expect("cue automaton")
    });

/// Every cue of [`CUES`], in order: the automaton's pattern `i` is `CUE_LIST[i]`.
static CUE_LIST: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    CUES.iter()
        .flat_map(|(_, cues)| cues.iter().map(|(c, _)| *c))
        .collect()
});

/// For each cue of [`CUES`], in order: does it occur at word edges, not denied?
fn cues_present(hay: &str, portuguese: bool) -> Vec<bool> {
    let cues = &*CUE_LIST;
    let mut present = vec![false; cues.len()];
    for m in CUE_FINDER.find_overlapping_iter(hay) {
        let i = m.pattern().as_usize();
        // A cue the reporter denies ("no sign of exploitation") is no cue.
        if !present[i]
            && at_word_edges(hay, cues[i], m.start(), m.end())
            && !denied(hay, m.start(), portuguese)
        {
            present[i] = true;
        }
    }
    present
}

/// Is the word at `at` denied by what stands just before it ("no evidence of ",
/// "not ", "without ")?
/// A Portuguese text's "no" is "in the" ("no servidor"), never a denial.
fn denied(hay: &str, at: usize, portuguese: bool) -> bool {
    let before = super::suffix_of(&hay[..at], 32);
    let clause = before
        .rsplit(['.', ';', ',', '\n'])
        .next()
        .unwrap_or(before);
    [
        "no evidence of ",
        "no sign of ",
        "no signs of ",
        "no indication of ",
        "not been ",
        "no ",
        "not ",
        "without ",
        "never ",
        "didn't ",
        "did not ",
        "nobody ",
        "no one ",
        "none of ",
        "nadie ",
        "ninguém ",
        "não ",
        "nao ",
        "nunca ",
        "sin ",
        "sem ",
    ]
    .iter()
    .filter(|n| !(portuguese && n.starts_with("no ")))
    .any(|n| {
        // As a word: "casino " or "uno " is no "no ".
        clause
            .match_indices(n)
            .any(|(i, _)| at_word_edges(clause, n, i, i + n.len()))
    })
}

/// The text states that nothing was compromised.
fn nothing_compromised(hay: &str) -> bool {
    [
        "no evidence of exploitation",
        "no sign of exploitation",
        "no signs of exploitation",
        "no indication of exploitation",
        "no exploitation",
        "not been exploited",
        "was not exploited",
        "no evidence of compromise",
        "no signs of compromise",
        "no indication of compromise",
        "no indicators of compromise",
    ]
    .iter()
    .any(|c| hay.contains(c))
}

/// Category by weighted cue words; severity by the table of incident-fields.md;
/// priority p1 (act now) … p4 (routine): severity sets the base (critical p1, high p2,
/// medium p3, low p4) and ongoing activity or personal information raises it one step.
pub fn assess(subject: &str, text: &str, fields: &Fields) -> Assessment {
    let hay = Hay::new(subject, text);
    let (category, reasons) = category(&hay);
    assess_as(category, reasons, &hay, fields)
}

/// What the rules read of a report, made once for the category and the severity: its
/// subject and text in lower case, and whether it is Portuguese (whose "no" is "in
/// the", never a denial).
pub struct Hay {
    text: String,
    portuguese: bool,
}

impl Hay {
    pub fn new(subject: &str, text: &str) -> Self {
        Hay {
            text: format!("{subject}\n{text}").to_lowercase(),
            portuguese: super::extractors::language(text) == "pt",
        }
    }
}

/// The vendor cues' score past which the incident is the vendor's whatever else it is.
const VENDOR_SURE: u32 = 8;

/// The category by weighted cue words, with the cues found.
pub fn category(hay: &Hay) -> (Category, Vec<String>) {
    let portuguese = hay.portuguese;
    let hay = &hay.text;
    // One pass over the text finds which cues occur.
    let present = cues_present(hay, portuguese);
    let mut best: Option<(Category, u32, Vec<String>)> = None;
    let mut vendor: (u32, Vec<String>) = (0, Vec::new());
    let mut index = 0;
    for (cat, cues) in CUES {
        let mut score = 0;
        let mut why = Vec::new();
        for (cue, w) in *cues {
            let here = present[index];
            index += 1;
            if here {
                score += w;
                why.push(if cue.starts_with('[') {
                    "a forwarded message is attached as evidence".to_string()
                } else {
                    format!("cue '{cue}'")
                });
            }
        }
        if *cat == Category::VendorIncident {
            vendor = (score, why.clone());
        }
        if score > 0 && best.as_ref().is_none_or(|(_, s, _)| score > *s) {
            best = Some((*cat, score, why));
        }
    }
    // Ransomware, an intrusion or an exposure at a vendor, told as the vendor's
    // ("their data center suffered a ransomware attack"), is the vendor's incident.
    if vendor.0 >= VENDOR_SURE
        && best
            .as_ref()
            .is_some_and(|(c, _, _)| *c != Category::VendorIncident)
    {
        let mut why = vendor.1;
        why.push("the incident happened at a vendor".into());
        best = Some((Category::VendorIncident, vendor.0, why));
    }
    match best {
        // A weakness found and patched, with no sign anyone used it, is no intrusion.
        Some((
            Category::UnauthorizedAccess | Category::VendorIncident | Category::Malware,
            _,
            _,
        )) if nothing_compromised(hay)
            && ["vulnerab", "cve-", " patch"]
                .iter()
                .any(|c| hay.contains(c)) =>
        {
            (
                Category::Other,
                vec!["a weakness with no sign of exploitation".into()],
            )
        }
        Some((c, _, why)) => (c, why),
        None => (Category::Other, vec!["no cue words of any category".into()]),
    }
}

/// Severity and priority for a report already given its category.
pub fn assess_as(
    category: Category,
    category_reasons: Vec<String>,
    hay: &Hay,
    fields: &Fields,
) -> Assessment {
    let portuguese = hay.portuguese;
    let hay = &hay.text;

    let tri = |name: &str| {
        fields
            .get(name)
            .and_then(|f| f.value.as_str())
            .unwrap_or("")
    };
    let records = fields
        .get("records_affected")
        .and_then(|f| f.value.as_i64())
        .unwrap_or(0);
    let pi = tri("personal_information");
    let le = tri("law_enforcement_contacted");
    let impact = tri("functional_impact");
    let mut sev = 0u8; // 0 low, 1 medium, 2 high, 3 critical
    let mut reasons = Vec::new();
    let mut raise = |level: u8, why: String| {
        if level > sev {
            sev = level;
        }
        reasons.push(why);
    };
    let spreading = [
        "spreading",
        "spread to",
        "multiple servers",
        "several servers",
        "all file shares",
        "statewide outage",
        "multiple agencies",
    ];
    // Several machines named or counted ("at least 40 PCs", "both servers").
    static MANY_HOSTS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\b(?:\d{1,5}|two|three|four|five|several|multiple|many|both)\s+(?:\w+\s+){0,2}?(?:machines|pcs|computers|workstations|servers|hosts|laptops|endpoints|equipos|computadoras|servidores|computadores|máquinas)\b")
            .expect("many hosts regex")
    });
    if category == Category::Ransomware
        && (spreading.iter().any(|s| hay.contains(s))
            || MANY_HOSTS.find_iter(hay).any(|m| {
                // Counted as hit, in the clause that counts them ("at least 40 PCs show
                // the note"), not as scanned, nor a product's number ("Windows 10 PCs").
                let clause_start = hay[..m.start()]
                    .rfind(['.', ';', '\n'])
                    .map_or(0, |i| i + 1);
                let clause_end = hay[m.end()..]
                    .find(['.', ';', '\n'])
                    .map_or(hay.len(), |i| m.end() + i);
                let clause = &hay[clause_start..clause_end];
                let n = m.as_str().split_whitespace().next().unwrap_or("");
                !["0", "1"].contains(&n)
                    && !hay[..m.start()].ends_with("windows ")
                    && !denied(hay, m.start(), portuguese)
                    && [
                        "encrypt",
                        "ransom",
                        "note",
                        "locked",
                        "infected",
                        "hit",
                        "affected",
                        "down",
                        "screen",
                        "cifrad",
                        "criptograf",
                        "extension",
                    ]
                    .iter()
                    .any(|w| clause.contains(w))
                    && !["scanned", "checked", "clean"]
                        .iter()
                        .any(|w| clause.contains(w))
            }))
    {
        raise(3, "ransomware spreading".into());
    }
    // At scale, personal information taken or laid open, not only reachable: "no
    // evidence the data was copied out" keeps it high.
    let taken = [
        "downloaded",
        "exfiltrat",
        "copied out",
        "copied off",
        "was copied",
        "were copied",
        "stolen",
        "posted",
        "published",
        "leaked",
        "publicly",
        " sold",
        "data dump",
        "dumped",
        "descargad",
        "baixad",
        "publicad",
        "misdirected",
        "wrong recipient",
        "sent to the wrong",
        "sent in error",
        "destinatario equivocado",
        "destinatário errado",
    ]
    .iter()
    .any(|c| {
        hay.match_indices(c)
            .any(|(at, _)| !denied(hay, at, portuguese))
    });
    if pi == "yes" && records >= 500 && taken {
        raise(
            3,
            format!("personal information of {records} records (≥ 500) taken or exposed"),
        );
    }
    // "Statewide" alone is often a contract's or a program's word, not an impact.
    if [
        "statewide outage",
        "statewide impact",
        "down statewide",
        "across all agencies",
        "life-safety",
        "public safety system",
        "911 system",
        "life safety",
        "multiple agencies",
        "multi-agency",
    ]
    .iter()
    .any(|s| hay.contains(s))
    {
        raise(3, "statewide, multi-agency or public-safety impact".into());
    }
    if pi == "yes" {
        raise(2, "personal information involved".into());
    }
    if le == "yes" {
        raise(2, "law enforcement involved".into());
    }
    // Whether personal information was reached is not known: the highest level the
    // category can plausibly reach, provisional (incident-reference §3.4). A phish's
    // unknown is its interaction (medium at most), a flood's no data at all.
    if pi == "unknown" && !matches!(category, Category::Phishing | Category::DenialOfService) {
        raise(
            2,
            "personal information not known to be safe: high until it is known (provisional)"
                .into(),
        );
    }
    if impact == "high" {
        raise(2, "a core service is down".into());
    }
    if [
        "server",
        "domain controller",
        "admin account",
        "privileged",
        "web shell",
        "webshell",
        "dcsync",
        "jump box",
        "jump host",
        "jump server",
        "domain admin",
        "service account",
        "kerberoast",
        "golden ticket",
        "mimikatz",
        "lsass",
        "servidor",
    ]
    .iter()
    .any(|s| hay.contains(s))
        && matches!(
            category,
            Category::UnauthorizedAccess
                | Category::Ransomware
                | Category::AccountCompromise
                | Category::Malware
                | Category::VendorIncident
        )
    {
        raise(2, "a server or privileged account compromised".into());
    }
    // An account the attacker got into, with what it holds not known to be safe.
    let got_in = [
        "approved one",
        "approved the",
        "successful sign-in",
        "successful login",
        "successful logon",
        "signed in from",
        "inbox rule",
        "forwards everything",
        "downloaded mail",
        "session active",
        "successful sign-ins",
        "brute force followed by success",
    ]
    .iter()
    .any(|c| hay.contains(c));
    if got_in
        && pi != "no"
        && matches!(
            category,
            Category::AccountCompromise | Category::UnauthorizedAccess
        )
    {
        raise(
            2,
            "an attacker got into the account and what it holds may be exposed".into(),
        );
    }
    // Malware on more than one host.
    let hosts = fields
        .get("systems_affected")
        .and_then(|f| f.value.as_array())
        .map(|a| {
            a.iter()
                .filter(|h| {
                    h.as_str()
                        .is_some_and(|h| h.chars().any(|c| c.is_ascii_digit()))
                })
                .count()
        })
        .unwrap_or(0);
    if category == Category::Malware && hosts >= 2 {
        raise(2, format!("malware on {hosts} hosts"));
    }
    match category {
        Category::WebDefacement => raise(2, "a public-facing site or account altered".into()),
        // Ransomware held on one machine, with no personal data said to be on it,
        // is malware contained on one host; else high until its reach is known.
        Category::Ransomware
            if pi != "yes"
                && pi != "unknown"
                && [
                    "rolled back",
                    "rollback",
                    "not spreading",
                    "did not spread",
                    "didn't spread",
                    "no network shares",
                    "only this laptop",
                    "only that laptop",
                    "only one machine",
                    "wi-fi off",
                    "wifi off",
                    "no se propagó",
                    "não se espalhou",
                    "sem compartilhamentos",
                    "wi-fi desligad",
                    "desliguei o wi-fi",
                    "desligamos o wi-fi",
                    "apagué el wi-fi",
                    "desconecté el wi-fi",
                    "no mapped drives",
                    "nenhuma pasta de rede",
                    "ninguna carpeta de red",
                    "don't believe it spread",
                    "do not believe it spread",
                    "don't think it spread",
                ]
                .iter()
                .any(|c| hay.contains(c)) =>
        {
            raise(1, "ransomware contained on one host".into())
        }
        Category::Ransomware => raise(2, "ransomware".into()),
        Category::AccountCompromise
        | Category::Malware
        | Category::LostOrStolenDevice
        | Category::InsiderMisuse
        | Category::UnauthorizedAccess
        | Category::DataExposure => raise(
            1,
            format!("{} on a single host or account", category.as_str()),
        ),
        Category::Phishing => {
            let refused = [
                "did not click",
                "didn't click",
                "no one clicked",
                "nobody clicked",
                "not clicked",
                "no clicks",
                "did not enter",
                "didn't enter",
            ];
            // Clicking is interaction even when nothing was typed after it.
            let clicked = [
                "clicked",
                "hice clic",
                "di clic",
                "abrí el enlace",
                "cliquei",
                "abri o link",
                "cliqué",
            ]
            .iter()
            .any(|c| {
                hay.match_indices(c)
                    .any(|(at, _)| !denied(hay, at, portuguese))
            });
            let typed = [
                "entered",
                "password",
                "credentials",
                "contraseña",
                "senha",
                "ingresé",
                "digitei",
                "coloquei",
            ]
            .iter()
            .any(|s| hay.contains(s))
                && !refused.iter().any(|d| hay.contains(d));
            if clicked || typed {
                raise(1, "a user interacted with the phish".into());
            } else {
                reasons.push("phishing received, no interaction reported".into());
            }
        }
        // A flood that took the service down is a core service down.
        Category::DenialOfService
            if [
                "is down",
                "was down",
                "went down",
                "been down",
                "unavailable",
                "unreachable",
                "not loading",
                "timing out",
                "time out",
                "outage",
                "offline",
                "could not take",
                "couldn't take",
                "no responde",
                "fuera de servicio",
                "caído",
                "caída",
                "fora do ar",
                "não responde",
                "indisponível",
            ]
            .iter()
            .any(|c| hay.contains(c)) =>
        {
            raise(2, "denial_of_service took a service down".into())
        }
        Category::DenialOfService | Category::VendorIncident => {
            raise(1, format!("{} affecting a service", category.as_str()))
        }
        Category::Other if nothing_compromised(hay) => {
            reasons.push("no compromise found, as the report states".into())
        }
        Category::Other => raise(1, "unclear impact".into()),
    }
    let provisional = pi.is_empty() || pi == "unknown" || impact.is_empty();
    let severity_suggested = ["low", "medium", "high", "critical"][sev as usize];
    let mut p = 3 - sev as i32; // critical → 0 (p1)
    let ongoing =
        tri("is_ongoing") == "yes" || hay.contains("ongoing") || hay.contains("still happening");
    if (ongoing || pi == "yes") && p > 0 {
        p -= 1;
    }
    let priority = ["p1", "p2", "p3", "p4"][p.clamp(0, 3) as usize];
    Assessment {
        category,
        category_reasons,
        severity_suggested,
        severity_reasons: reasons,
        provisional,
        priority,
        major_incident_suggested: sev == 3,
    }
}

/// The required fields of incident-fields.md.
pub const REQUIRED: &[&str] = &[
    "agency",
    "reporter_email",
    "reporter_phone",
    "detected_at",
    "systems_affected",
    "personal_information",
    "law_enforcement_contacted",
    "external_communications",
    "actions_taken",
];

/// Required fields the report does not give (category and description always exist).
pub fn missing(fields: &Fields, has_reporter_email: bool) -> Vec<&'static str> {
    REQUIRED
        .iter()
        .copied()
        .filter(|f| match *f {
            "reporter_email" => !has_reporter_email && !fields.contains_key("reporter_email"),
            other => !fields.contains_key(other),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::fields::{FieldValue, Source};

    fn field(v: serde_json::Value) -> FieldValue {
        FieldValue {
            value: v,
            source: Source {
                part: "body".into(),
                line: 1,
                text: String::new(),
                message: None,
            },
        }
    }

    #[test]
    fn a_flood_that_took_the_service_down_is_high() {
        let fields = Fields::new();
        let hay = Hay::new(
            "DDoS",
            "The e-filing portal has been unavailable since 9:10 under a flood of requests.",
        );
        let a = assess_as(Category::DenialOfService, vec![], &hay, &fields);
        assert_eq!(a.severity_suggested, "high", "{:?}", a.severity_reasons);
        let hay = Hay::new(
            "DDoS",
            "A flood of requests slowed the portal a little; it stayed up.",
        );
        let a = assess_as(Category::DenialOfService, vec![], &hay, &fields);
        assert_eq!(a.severity_suggested, "medium", "{:?}", a.severity_reasons);
    }

    #[test]
    fn ransomware_held_on_one_machine_is_contained_malware() {
        let mut fields = Fields::new();
        fields.insert(
            "personal_information".into(),
            field(serde_json::json!("no")),
        );
        let text = "Ransom note on one laptop. SentinelOne rolled back the encrypted files.";
        let hay = Hay::new("Ransomware", text);
        let a = assess_as(Category::Ransomware, vec![], &hay, &fields);
        assert_eq!(a.severity_suggested, "medium", "{:?}", a.severity_reasons);
        // Its reach unknown, it stays high.
        let hay = Hay::new("Ransomware", "Ransom note on one laptop, files encrypted.");
        let a = assess_as(Category::Ransomware, vec![], &hay, &fields);
        assert_eq!(a.severity_suggested, "high", "{:?}", a.severity_reasons);
    }

    #[test]
    fn an_incident_told_as_the_vendors_is_the_vendors() {
        let hay = Hay::new(
            "Notice",
            "This is a courtesy notice from Pacific Records Imaging. A misconfigured storage container in their data center was reachable from the internet without authentication. We will send a formal letter.",
        );
        let (c, why) = category(&hay);
        assert_eq!(c, Category::VendorIncident, "{why:?}");
        // Without the vendor's framing, the same exposure is an exposure.
        let hay = Hay::new(
            "Open share",
            "Our file share was reachable from the internet without authentication.",
        );
        assert_eq!(category(&hay).0, Category::DataExposure);
    }

    #[test]
    fn categories_from_cues() {
        let f = Fields::new();
        let cases = [
            (
                "Acceso raro",
                "Detectamos un acceso no autorizado al servidor de nómina anoche.",
                Category::UnauthorizedAccess,
            ),
            (
                "Site da agência",
                "O site foi hackeado e a página alterada mostra outra mensagem.",
                Category::WebDefacement,
            ),
            (
                "Computador",
                "O computador foi infectado por um cavalo de troia ontem.",
                Category::Malware,
            ),
            (
                "Resgate",
                "No servidor havia uma nota de resgate e os arquivos não abrem.",
                Category::Ransomware,
            ),
            (
                "Casino",
                "The casino ransomware note appeared on the kiosk.",
                Category::Ransomware,
            ),
            (
                "Planilla",
                "La planilla quedó con acceso público para cualquiera con el enlace.",
                Category::DataExposure,
            ),
            (
                "Suspicious email",
                "A phishing email asking to verify",
                Category::Phishing,
            ),
            (
                "Ransom note",
                "files encrypted with .locked extension",
                Category::Ransomware,
            ),
            (
                "Laptop",
                "my laptop was stolen from the car",
                Category::LostOrStolenDevice,
            ),
            (
                "Oops",
                "spreadsheet sent to the wrong recipient",
                Category::DataExposure,
            ),
            ("Site", "our homepage was defaced", Category::WebDefacement),
            ("hmm", "the printer jammed", Category::Other),
        ];
        for (s, t, want) in cases {
            assert_eq!(assess(s, t, &f).category, want, "{t}");
        }
    }

    #[test]
    fn cues_begin_words_and_scale_needs_data_taken() {
        // "rdp" is not in "wordpress", a surname is not a theft.
        let (c, _) = category(&Hay::new(
            "Blog",
            "our WordPress blog shows a new admin page",
        ));
        assert_ne!(c, Category::UnauthorizedAccess);
        let (c, _) = category(&Hay::new(
            "Phish",
            "Luciana Furtado got a fake login page, phish",
        ));
        assert_eq!(c, Category::Phishing);
        let (c, _) = category(&Hay::new(
            "ASA",
            "CVE-2025-20362 on our firewall; patched, no sign of exploitation",
        ));
        assert_eq!(c, Category::Other);
        let mut f = Fields::new();
        f.insert("personal_information".into(), field("yes".into()));
        f.insert("records_affected".into(), field(1900.into()));
        let viewed = assess(
            "Vendor",
            "our vendor was breached; records viewed, no evidence the data was copied out",
            &f,
        );
        assert_eq!(viewed.severity_suggested, "high");
        let taken = assess(
            "Vendor",
            "our vendor was breached; the files were downloaded",
            &f,
        );
        assert_eq!(taken.severity_suggested, "critical");
        let spreading = assess(
            "Ransom",
            "ransomware: at least 40 machines show the note",
            &Fields::new(),
        );
        assert_eq!(spreading.severity_suggested, "critical");
        let one = assess(
            "Ransom",
            "ransomware on one PC; we scanned all 40 machines, nothing else",
            &Fields::new(),
        );
        assert_eq!(one.severity_suggested, "high");
        let (c, _) = category(&Hay::new(
            "Malware",
            "malware on the dispatch console; no indicators of compromise elsewhere",
        ));
        assert_eq!(c, Category::Malware);
        let mut unknown = Fields::new();
        unknown.insert("personal_information".into(), field("unknown".into()));
        let a = assess(
            "Mailbox",
            "her account was compromised, inbox rule",
            &unknown,
        );
        assert_eq!(a.severity_suggested, "high");
        assert!(a.provisional);
        let p = assess("Phish", "suspicious email, phish, not sure", &unknown);
        assert_eq!(p.severity_suggested, "low");
    }

    #[test]
    fn severity_levels() {
        let mut f = Fields::new();
        assert_eq!(
            assess("Phish", "suspicious email, nobody clicked", &f).severity_suggested,
            "low"
        );
        f.insert("personal_information".into(), field("yes".into()));
        assert_eq!(
            assess("Oops", "misdirected email", &f).severity_suggested,
            "high"
        );
        f.insert("records_affected".into(), field(1240.into()));
        let a = assess("Oops", "misdirected email", &f);
        assert_eq!(a.severity_suggested, "critical");
        assert!(a.major_incident_suggested);
        assert_eq!(a.priority, "p1");
    }

    #[test]
    fn missing_lists_required_fields() {
        let mut f = Fields::new();
        assert_eq!(missing(&f, true).len(), REQUIRED.len() - 1);
        for r in REQUIRED {
            f.insert(r.to_string(), field("x".into()));
        }
        assert!(missing(&f, true).is_empty());
    }
}
