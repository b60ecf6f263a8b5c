//! Indicators of compromise in free text, refanged and de-duplicated.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Most indicators of one kind kept per message; a flood beyond it is cut (and noted).
pub const MAX_PER_KIND: usize = 10_000;

/// Indicators by type; every list sorted and unique, at most [`MAX_PER_KIND`] each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Iocs {
    pub ipv4: Vec<String>,
    pub ipv6: Vec<String>,
    pub domains: Vec<String>,
    pub urls: Vec<String>,
    pub emails: Vec<String>,
    pub md5: Vec<String>,
    pub sha1: Vec<String>,
    pub sha256: Vec<String>,
    pub cves: Vec<String>,
    /// Some kind had more than [`MAX_PER_KIND`]; the first ones (sorted) were kept.
    #[serde(skip)]
    pub truncated: bool,
}

/// The kinds, named as in the contract, in the order of [`Iocs::lists_mut`].
pub const KINDS: [&str; 9] = [
    "ipv4", "ipv6", "domains", "urls", "emails", "md5", "sha1", "sha256", "cves",
];

impl Iocs {
    fn lists_mut(&mut self) -> [&mut Vec<String>; 9] {
        [
            &mut self.ipv4,
            &mut self.ipv6,
            &mut self.domains,
            &mut self.urls,
            &mut self.emails,
            &mut self.md5,
            &mut self.sha1,
            &mut self.sha256,
            &mut self.cves,
        ]
    }

    /// Every (kind, value) pair, kinds named as in the contract.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        let lists: [(&'static str, &Vec<String>); 9] = [
            ("ipv4", &self.ipv4),
            ("ipv6", &self.ipv6),
            ("domains", &self.domains),
            ("urls", &self.urls),
            ("emails", &self.emails),
            ("md5", &self.md5),
            ("sha1", &self.sha1),
            ("sha256", &self.sha256),
            ("cves", &self.cves),
        ];
        lists
            .into_iter()
            .flat_map(|(k, l)| l.iter().map(move |v| (k, v.as_str())))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        self.ipv4.len()
            + self.ipv6.len()
            + self.domains.len()
            + self.urls.len()
            + self.emails.len()
            + self.md5.len()
            + self.sha1.len()
            + self.sha256.len()
            + self.cves.len()
    }

    /// Keeps the indicators for which `keep(kind, value)` holds (kinds as in [`Self::pairs`]).
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        for (kind, list) in KINDS.into_iter().zip(self.lists_mut()) {
            list.retain(|v| keep(kind, v));
        }
    }

    /// Adds one indicator (`kind` as in [`Self::pairs`]), keeping its list sorted; false
    /// when it is there already or the kind is unknown.
    pub fn insert(&mut self, kind: &str, value: &str) -> bool {
        let Some(list) = KINDS
            .into_iter()
            .zip(self.lists_mut())
            .find_map(|(k, l)| (k == kind).then_some(l))
        else {
            return false;
        };
        match list.binary_search_by(|v| v.as_str().cmp(value)) {
            Ok(_) => false,
            Err(at) => {
                list.insert(at, value.to_string());
                true
            }
        }
    }

    /// Adds everything of `other`, keeping each list sorted and unique.
    pub fn merge(&mut self, other: Iocs) {
        let mut other = other;
        for (mine, theirs) in self.lists_mut().into_iter().zip(other.lists_mut()) {
            let set: BTreeSet<String> = mine.drain(..).chain(theirs.drain(..)).collect();
            *mine = set.into_iter().collect();
        }
        self.truncated |= other.truncated;
        self.cap();
    }

    fn cap(&mut self) {
        let mut cut = false;
        for list in self.lists_mut() {
            if list.len() > MAX_PER_KIND {
                list.truncate(MAX_PER_KIND);
                cut = true;
            }
        }
        self.truncated |= cut;
    }
}

/// The indicator an analyst typed (defanged or not), read as mail is read: of `kind`
/// (as in [`Iocs::pairs`]; empty: the most specific one the text holds, a URL before
/// its domain). `None`: the text is no such indicator (or a well-known service's).
pub fn typed(kind: &str, text: &str) -> Option<(&'static str, String)> {
    const SPECIFIC_FIRST: [&str; 9] = [
        "urls", "emails", "sha256", "sha1", "md5", "cves", "ipv4", "ipv6", "domains",
    ];
    let text: String = text.trim().chars().take(2_000).collect();
    let found = extract_iocs(&text, &Exclusions::default());
    let pairs = found.pairs();
    SPECIFIC_FIRST
        .into_iter()
        .filter(|k| kind.is_empty() || kind == *k)
        .find_map(|k| {
            pairs
                .iter()
                .find(|(pk, _)| *pk == k)
                .map(|(pk, v)| (*pk, v.to_string()))
        })
}

/// What must never be reported as an indicator.
#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    /// Addresses (ours, the reporter's).
    pub addresses: Vec<String>,
    /// Domains (ours, the reporter's); their subdomains, URLs and addresses too.
    pub domains: Vec<String>,
}

/// Well-known benign service domains (`data/benign-domains.txt`).
static BENIGN: LazyLock<Vec<String>> = LazyLock::new(|| {
    include_str!("data/benign-domains.txt")
        .lines()
        .map(|l| {
            l.split('#')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|l| !l.is_empty())
        .collect()
});

fn under(d: &str, parent: &str) -> bool {
    let x = parent.trim().trim_start_matches('.');
    !x.is_empty() && (d == x || d.strip_suffix(x).is_some_and(|p| p.ends_with('.')))
}

/// Is `d` (or a domain it is under) one of the well-known benign service domains?
pub fn is_benign_domain(d: &str) -> bool {
    let d = d.trim_end_matches('.').to_ascii_lowercase();
    BENIGN.iter().any(|b| under(&d, b))
}

impl Exclusions {
    fn domain_excluded(&self, d: &str) -> bool {
        let d = d.to_ascii_lowercase();
        is_benign_domain(&d)
            || self
                .domains
                .iter()
                .any(|x| under(&d, &x.to_ascii_lowercase()))
    }
}

/// The link a wrapper points to: Microsoft Safe Links (`?url=`) and Proofpoint URL
/// Defense (`/v3/__…__`, `/v2/url?u=`).
fn unwrap_link(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    if lower.contains("safelinks.protection.outlook.com") {
        let q = url.split_once('?')?.1;
        let v = q.split('&').find_map(|kv| kv.strip_prefix("url="))?;
        return Some(percent_decode(v));
    }
    if lower.contains("urldefense.com/v3/__") || lower.contains("urldefense.proofpoint.com/v3/__") {
        let inner = url.split_once("/v3/__")?.1;
        return Some(inner.split("__").next()?.to_string());
    }
    if lower.contains("urldefense.proofpoint.com/v2/url") {
        let q = url.split_once('?')?.1;
        let v = q.split('&').find_map(|kv| kv.strip_prefix("u="))?;
        return Some(percent_decode(&v.replace('_', "/").replace('-', "%")));
    }
    None
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Top-level domains that make a bare `name.tld` an indicator (file extensions are not).
const TLDS: &[&str] = &[
    "com",
    "net",
    "org",
    "gov",
    "edu",
    "mil",
    "int",
    "io",
    "co",
    "us",
    "uk",
    "de",
    "ru",
    "cn",
    "info",
    "biz",
    "xyz",
    "top",
    "online",
    "site",
    "club",
    "app",
    "dev",
    "me",
    "tv",
    "cc",
    "ly",
    "ws",
    "link",
    "click",
    "live",
    "shop",
    "store",
    "tech",
    "ai",
    "to",
    "su",
    "ua",
    "ir",
    "kp",
    "in",
    "br",
    "jp",
    "fr",
    "it",
    "nl",
    "ca",
    "au",
    "onion",
    "biz",
    "pw",
    "tk",
    "ml",
    "ga",
    "cf",
    "gq",
    "icu",
    "cloud",
    "email",
    "support",
    "services",
    "help",
    "page",
    "work",
    "life",
    "world",
    "today",
    "news",
    "best",
    "ch",
    "es",
    "pl",
    "se",
    "no",
    "fi",
    "dk",
    "be",
    "at",
    "cz",
    "ro",
    "hu",
    "gr",
    "pt",
    "ie",
    "il",
    "tr",
    "kr",
    "tw",
    "hk",
    "sg",
    "my",
    "id",
    "ph",
    "vn",
    "th",
    "za",
    "ng",
    "ke",
    "eg",
    "mx",
    "ar",
    "cl",
    "pe",
    "ve",
    "nz",
    "ma",
    "sa",
    "ae",
    "pk",
    "bd",
    "lk",
    "np",
    "kz",
    "by",
    "lt",
    "lv",
    "ee",
    "bg",
    "rs",
    "hr",
    "si",
    "sk",
    "md",
    "ge",
    "am",
    "az",
    "uz",
    "mn",
    "so",
    "cx",
    "gd",
    "vip",
    "win",
    "bid",
    "loan",
    "men",
    "date",
    "review",
    "stream",
    "download",
    "racing",
    "party",
    "science",
    "network",
    "digital",
    "solutions",
    "center",
    "agency",
    "company",
    "group",
    "security",
    "systems",
    "host",
    "website",
    "space",
    "fun",
    "buzz",
    "rest",
    "bar",
    "mobi",
    "name",
    "pro",
    "asia",
    "eu",
    "global",
];

/// Extensions that are files, even where a TLD of the same name exists, unless defanged.
const FILE_EXTS: &[&str] = &[
    "zip", "mov", "exe", "dll", "doc", "docx", "xls", "xlsx", "pdf", "png", "jpg", "txt", "one",
    "js", "ps1", "bat", "lnk", "iso", "img", "htm", "html", "dat", "csv", "eml", "msg",
];

static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b(?:https?|ftp)://[^\s<>"'`{}|\\^\[\]]+"#).expect("url regex")
});
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b[a-z0-9][a-z0-9._%+\-]*@((?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+[a-z]{2,24})\b",
    )
    .expect("email regex")
});
static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b((?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,24})\b")
        .expect("domain regex")
});
static IPV4: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d{1,3}(?:\.\d{1,3}){3}").expect("ipv4 regex"));
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:^|[^0-9a-f:])([0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:%[a-z0-9]+)?)")
        .expect("ipv6 regex")
});
static HEX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b[0-9a-f]{32,64}\b").expect("hex regex"));
static CVE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bCVE-(\d{4})-(\d{4,7})\b").expect("cve regex"));
static DEFANG: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"(?i)\bhxxp(s?)", "http$1"),
        (r"(?i)\bh\*\*p(s?)", "http$1"),
        (r"(?i)\s?[\[\(\{]\s*(?:\.|dot)\s*[\]\)\}]\s?", "."),
        (r"(?i)\s?[\[\(\{]\s*(?:@|at)\s*[\]\)\}]\s?", "@"),
        (r"(?i)\[:\]", ":"),
        (r"(?i)\[://\]", "://"),
        (r"(?i)\[/\]", "/"),
    ]
    .into_iter()
    .map(|(p, r)| (Regex::new(p).expect("defang regex"), r))
    .collect()
});

/// Refangs: `hxxp`→`http`, `[.]`/`(dot)`→`.`, `[@]`/`[at]`→`@`, `[:]`→`:`.
pub fn refang(s: &str) -> String {
    let mut out = s.to_string();
    for (re, rep) in DEFANG.iter() {
        out = re.replace_all(&out, *rep).into_owned();
    }
    out
}

fn good_domain(d: &str, defanged: bool) -> bool {
    let d = d.trim_end_matches('.').to_ascii_lowercase();
    let Some((_, tld)) = d.rsplit_once('.') else {
        return false;
    };
    if !TLDS.contains(&tld) {
        return false;
    }
    if !defanged && FILE_EXTS.contains(&tld) {
        return false;
    }
    // Two-label names whose first label is all digits (versions) are not domains.
    !d.split('.').all(|l| l.chars().all(|c| c.is_ascii_digit()))
}

/// Finds indicators in free text.
pub fn extract_iocs(text: &str, exclude: &Exclusions) -> Iocs {
    let refanged = refang(text);
    let defanged_text = refanged != text;
    // Quoted-printable soft breaks and HTML entities that survive in forwarded text.
    let t = refanged.replace("&amp;", "&");
    let mut sets: [BTreeSet<String>; 9] = Default::default();
    let [ipv4, ipv6, domains, urls, emails, md5, sha1, sha256, cves] = &mut sets;

    let mut url_spans = Vec::new();
    for m in URL.find_iter(&t) {
        let mut u = m
            .as_str()
            .trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', '"', '>', ']'])
            .to_string();
        while u.ends_with(')') && u.matches('(').count() < u.matches(')').count() {
            u.pop();
        }
        // A wrapped link is read as the link inside it.
        let u = match unwrap_link(&u) {
            Some(inner) if inner.contains("://") => inner,
            Some(_) => {
                url_spans.push(m.range());
                continue;
            }
            None => u,
        };
        let Some((scheme, rest)) = u.split_once("://") else {
            continue;
        };
        let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..host_end];
        let host = authority.rsplit('@').next().unwrap_or("");
        let host = if host.starts_with('[') {
            host.trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .to_string()
        } else {
            host.split(':').next().unwrap_or("").to_ascii_lowercase()
        };
        if host.is_empty() || exclude.domain_excluded(&host) {
            url_spans.push(m.range());
            continue;
        }
        let normalized = format!(
            "{}://{}{}",
            scheme.to_ascii_lowercase(),
            authority.to_ascii_lowercase(),
            &rest[host_end..]
        );
        urls.insert(normalized);
        if let Ok(ip) = host.parse::<Ipv4Addr>() {
            ipv4.insert(ip.to_string());
        } else if let Ok(ip) = host.parse::<Ipv6Addr>() {
            ipv6.insert(ip.to_string());
        } else if host.contains('.') {
            domains.insert(host.trim_end_matches('.').to_string());
        }
        url_spans.push(m.range());
    }
    // Matches come in order and do not overlap: a binary search finds the span.
    let in_spans = |spans: &[std::ops::Range<usize>], pos: usize| {
        let i = spans.partition_point(|r| r.end <= pos);
        spans.get(i).is_some_and(|r| r.contains(&pos))
    };
    let in_url = |pos: usize| in_spans(&url_spans, pos);

    let excluded_addr = |a: &str| exclude.addresses.iter().any(|x| x.eq_ignore_ascii_case(a));
    let mut email_spans = Vec::new();
    for c in EMAIL.captures_iter(&t) {
        let m = c
            .get(0)
            .map(|m| (m.start(), m.end(), m.as_str()))
            .unwrap_or((0, 0, ""));
        email_spans.push(m.0..m.1);
        if in_url(m.0) {
            continue;
        }
        let domain = c
            .get(1)
            .map(|d| d.as_str().to_ascii_lowercase())
            .unwrap_or_default();
        if !good_domain(&domain, true) || excluded_addr(m.2) || exclude.domain_excluded(&domain) {
            continue;
        }
        let (local, _) = m.2.rsplit_once('@').unwrap_or((m.2, ""));
        emails.insert(format!("{}@{domain}", local.to_ascii_lowercase()));
    }
    let in_email = |pos: usize| in_spans(&email_spans, pos);

    for m in DOMAIN.find_iter(&t) {
        if in_url(m.start()) || in_email(m.start()) {
            continue;
        }
        // Not part of an email's local part or a longer dotted token like a file path.
        let before = t[..m.start()].chars().next_back();
        if matches!(before, Some('@') | Some('/') | Some('\\') | Some('_')) {
            continue;
        }
        let d = m.as_str().to_ascii_lowercase();
        if good_domain(&d, defanged_text && text.contains("[.]")) && !exclude.domain_excluded(&d) {
            // `host/path` written without a scheme (alert fields do) is a link too.
            let rest = &t[m.end()..];
            if rest.starts_with('/') && rest[1..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
                let path_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                let path = rest[..path_end].trim_end_matches(['.', ',', ';', ')', '"', '\'', '>']);
                urls.insert(format!("{d}{path}"));
            }
            domains.insert(d);
        }
    }

    for m in IPV4.find_iter(&t) {
        let before = t[..m.start()].chars().next_back();
        let after = &t[m.end()..];
        let joined = before.is_some_and(|c| c.is_ascii_digit() || c == '.')
            || after.starts_with(|c: char| c.is_ascii_digit())
            || (after.starts_with('.') && after[1..].starts_with(|c: char| c.is_ascii_digit()));
        // A network (`10.210.0.0/16`) is not an address.
        let network =
            after.starts_with('/') && after[1..].starts_with(|c: char| c.is_ascii_digit());
        if joined || network {
            continue;
        }
        if let Ok(ip) = m.as_str().parse::<Ipv4Addr>() {
            if ip.octets()[3] != 0 {
                ipv4.insert(ip.to_string());
            }
        }
    }
    for c in IPV6.captures_iter(&t) {
        if let Some(m) = c.get(1) {
            let cand = m.as_str().split('%').next().unwrap_or("");
            if cand.matches(':').count() < 2
                || !cand.chars().any(|ch| ch.is_ascii_alphabetic()) && !cand.contains("::")
            {
                continue;
            }
            if let Ok(ip) = cand.parse::<Ipv6Addr>() {
                ipv6.insert(ip.to_string());
            }
        }
    }
    for m in HEX.find_iter(&t) {
        // An ID inside a link (a console's detection ID) is not a file hash.
        if in_url(m.start()) {
            continue;
        }
        let h = m.as_str().to_ascii_lowercase();
        match h.len() {
            32 => md5.insert(h),
            40 => sha1.insert(h),
            64 => sha256.insert(h),
            _ => false,
        };
    }
    for c in CVE.captures_iter(&t) {
        if let (Some(y), Some(n)) = (c.get(1), c.get(2)) {
            cves.insert(format!("CVE-{}-{}", y.as_str(), n.as_str()));
        }
    }
    let [ipv4, ipv6, domains, urls, emails, md5, sha1, sha256, cves] = sets;
    let v = |s: BTreeSet<String>| s.into_iter().collect();
    let mut found = Iocs {
        ipv4: v(ipv4),
        ipv6: v(ipv6),
        domains: v(domains),
        urls: v(urls),
        emails: v(emails),
        md5: v(md5),
        sha1: v(sha1),
        sha256: v(sha256),
        cves: v(cves),
        truncated: false,
    };
    found.cap();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_indicator_is_read_as_mail_is() {
        assert_eq!(
            typed("", "hxxps://evil-payroll[.]example/login"),
            Some(("urls", "https://evil-payroll.example/login".to_string()))
        );
        assert_eq!(
            typed("domains", "hxxps://evil-payroll[.]example/login"),
            Some(("domains", "evil-payroll.example".to_string()))
        );
        assert_eq!(
            typed("", "203.0.113[.]7"),
            Some(("ipv4", "203.0.113.7".to_string()))
        );
        assert_eq!(typed("ipv4", "not an address"), None);
        assert_eq!(typed("", "hello"), None);
        let mut i = Iocs::default();
        assert!(i.insert("ipv4", "203.0.113.9"));
        assert!(i.insert("ipv4", "203.0.113.7"));
        assert!(!i.insert("ipv4", "203.0.113.7"), "already there");
        assert!(!i.insert("nonsense", "x"));
        assert_eq!(i.ipv4, ["203.0.113.7", "203.0.113.9"]);
    }

    fn ex() -> Exclusions {
        Exclusions {
            addresses: vec!["jane@dor.state.ma.us".into(), "soc@mass.gov".into()],
            domains: vec!["dor.state.ma.us".into(), "mass.gov".into()],
        }
    }

    #[test]
    fn defanged_indicators_are_refanged() {
        let t = "Link: hxxps://login-micros0ft[.]com/auth?x=1. Sender user[@]example[.]com from 10.0.0[.]5 and 198.51.100.23; see evil[.]com.";
        let i = extract_iocs(t, &ex());
        assert_eq!(i.urls, vec!["https://login-micros0ft.com/auth?x=1"]);
        assert_eq!(
            i.domains,
            vec!["evil.com", "example.com", "login-micros0ft.com"]
                .into_iter()
                .filter(|d| *d != "example.com")
                .collect::<Vec<_>>()
        );
        assert_eq!(i.emails, vec!["user@example.com"]);
        assert_eq!(i.ipv4, vec!["10.0.0.5", "198.51.100.23"]);
    }

    #[test]
    fn hashes_cves_and_ipv6() {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
        let sha256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        let t = format!("{md5} {sha1} {sha256} {}x {} CVE-2024-3400 at 2001:db8::dead:beef at 10:45:00 v1.2.3.4.5", "a".repeat(33), "b".repeat(128));
        let i = extract_iocs(&t, &ex());
        assert_eq!(i.md5, vec![md5]);
        assert_eq!(i.sha1, vec![sha1]);
        assert_eq!(i.sha256, vec![sha256.to_lowercase()]);
        assert_eq!(i.cves, vec!["CVE-2024-3400"]);
        assert_eq!(i.ipv6, vec!["2001:db8::dead:beef"]);
        assert!(i.ipv4.is_empty(), "{:?}", i.ipv4);
    }

    #[test]
    fn file_names_and_our_domains_are_not_indicators() {
        let t = "See invoice.docx, image001.png and report.pdf. Portal https://www.mass.gov/x and jane@dor.state.ma.us, soc@mass.gov.";
        let i = extract_iocs(t, &ex());
        assert!(i.is_empty(), "{i:?}");
    }

    #[test]
    fn a_flood_of_indicators_is_capped_and_says_so() {
        let t: String = (0..MAX_PER_KIND + 50)
            .map(|i| format!("http://h{i}.evil.test/ u{i}@evil.com "))
            .collect();
        let i = extract_iocs(&t, &ex());
        assert_eq!(i.urls.len(), MAX_PER_KIND);
        assert_eq!(i.emails.len(), MAX_PER_KIND);
        assert!(i.truncated);
        assert!(!extract_iocs("http://a.test/", &ex()).truncated);
    }

    #[test]
    fn merge_keeps_sorted_unique() {
        let mut a = extract_iocs("b.com a.com", &ex());
        a.merge(extract_iocs("a.com c.com", &ex()));
        assert_eq!(a.domains, vec!["a.com", "b.com", "c.com"]);
        assert_eq!(a.len(), 3);
    }
}
