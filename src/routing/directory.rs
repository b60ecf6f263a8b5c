//! The directory file (TOML) the SOC maintains: who hears about which agency's cases.
//!
//! ```toml
//! [[secretariats]]
//! id = "ANF"
//! name = "Executive Office for Administration and Finance"
//! scio = "Pat Example <pat.example@anf.state.ma.us>"
//! designees = ["deputy@anf.state.ma.us"]
//!
//! [[agencies]]
//! name = "Department of Revenue"
//! aliases = ["DOR"]
//! domains = ["dor.state.ma.us"]
//! secretariat = "ANF"            # or, outside a secretariat: cio = "cio@agency"
//! iso = "iso@dor.state.ma.us"
//! contacts = ["it-director@dor.state.ma.us"]
//!
//! [[vendors]]
//! name = "Acme Payroll"
//! domains = ["acmepayroll.example"]
//! serves = ["DOR"]
//! contacts = ["security@acmepayroll.example"]
//!
//! [lists]
//! leadership = ["ciso@mass.gov"]
//! communications = ["press-office@mass.gov"]
//! soc_oncall = ["soc-oncall@mass.gov"]
//! ```
//!
//! Every problem is reported with the line and column it is on.

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::domain::fields::AgencyEntry;
use crate::domain::EmailAddress;

/// A directory file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot read directory file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("directory file {path} is invalid: {message}")]
    Invalid { path: String, message: String },
    #[error("directory file {path}, line {line}, column {column}: {message}")]
    At {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
}

/// One person (or list address) with an optional display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub name: Option<String>,
    pub address: EmailAddress,
}

impl Contact {
    /// Accepts `addr@domain` or `Display Name <addr@domain>`.
    pub fn parse(s: &str) -> Option<Contact> {
        let s = s.trim();
        let (name, addr) = match (s.rfind('<'), s.ends_with('>')) {
            (Some(i), true) => {
                let name = s[..i].trim().trim_matches('"').trim();
                (
                    (!name.is_empty()).then(|| name.to_string()),
                    &s[i + 1..s.len() - 1],
                )
            }
            _ => (None, s),
        };
        let address = EmailAddress::parse(addr).ok()?;
        address
            .domain()
            .contains('.')
            .then_some(Contact { name, address })
    }
}

/// A secretariat (executive office) and its SCIO.
#[derive(Debug, Clone)]
pub struct Secretariat {
    pub id: String,
    pub name: String,
    pub scio: Contact,
    pub designees: Vec<Contact>,
}

/// An agency with the people told of its cases.
#[derive(Debug, Clone)]
pub struct Agency {
    pub name: String,
    pub aliases: Vec<String>,
    pub domains: Vec<String>,
    pub secretariat: Option<String>,
    pub iso: Option<Contact>,
    /// The SCIO-equivalent of an agency outside a secretariat.
    pub cio: Option<Contact>,
    pub contacts: Vec<Contact>,
}

/// A vendor or third party and the agencies it serves.
#[derive(Debug, Clone)]
pub struct Vendor {
    pub name: String,
    pub domains: Vec<String>,
    /// Canonical names of the agencies served.
    pub serves: Vec<String>,
    pub contacts: Vec<Contact>,
}

/// The distribution lists escalations go to.
#[derive(Debug, Clone, Default)]
pub struct Lists {
    pub leadership: Vec<Contact>,
    pub communications: Vec<Contact>,
    pub soc_oncall: Vec<Contact>,
}

/// Who gets the SCIO thread of an agency's cases, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    pub agency: String,
    /// SCIO (or agency CIO), designees, agency ISO; no duplicates.
    pub to: Vec<Contact>,
    /// "EOHHS SCIO" or "agency CIO (outside a secretariat)".
    pub via: String,
}

/// The loaded directory.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// For recognising agencies in reports.
    pub agencies: Vec<AgencyEntry>,
    /// Every address in the directory, lower-cased (people and lists).
    pub members: Vec<String>,
    pub secretariats: Vec<Secretariat>,
    pub records: Vec<Agency>,
    pub vendors: Vec<Vendor>,
    pub lists: Lists,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretariatRecord {
    id: Spanned<String>,
    name: Spanned<String>,
    scio: Spanned<String>,
    #[serde(default)]
    designees: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgencyRecord {
    name: Spanned<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    domains: Vec<Spanned<String>>,
    secretariat: Option<Spanned<String>>,
    iso: Option<Spanned<String>>,
    cio: Option<Spanned<String>>,
    #[serde(default)]
    contacts: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VendorRecord {
    name: Spanned<String>,
    #[serde(default)]
    domains: Vec<Spanned<String>>,
    serves: Vec<Spanned<String>>,
    #[serde(default)]
    contacts: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListsRecord {
    #[serde(default)]
    leadership: Vec<Spanned<String>>,
    #[serde(default)]
    communications: Vec<Spanned<String>>,
    #[serde(default)]
    soc_oncall: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    #[serde(default)]
    secretariats: Vec<SecretariatRecord>,
    #[serde(default)]
    agencies: Vec<AgencyRecord>,
    #[serde(default)]
    vendors: Vec<VendorRecord>,
    #[serde(default)]
    lists: ListsRecord,
}

/// Turns byte spans into line-precise errors.
struct Checker<'a> {
    text: &'a str,
    path: &'a str,
}

impl Checker<'_> {
    fn at(&self, span: Range<usize>, message: String) -> DirectoryError {
        let (line, column) = line_col(self.text, span.start);
        DirectoryError::At {
            path: self.path.to_string(),
            line,
            column,
            message,
        }
    }

    fn contact(&self, s: &Spanned<String>, what: &str) -> Result<Contact, DirectoryError> {
        Contact::parse(s.get_ref()).ok_or_else(|| {
            self.at(
                s.span(),
                format!(
                    "{what} '{}' is not an email address (write addr@domain or \"Name <addr@domain>\")",
                    s.get_ref()
                ),
            )
        })
    }

    fn contacts(&self, v: &[Spanned<String>], what: &str) -> Result<Vec<Contact>, DirectoryError> {
        v.iter().map(|s| self.contact(s, what)).collect()
    }

    fn domains(&self, v: &[Spanned<String>]) -> Result<Vec<String>, DirectoryError> {
        v.iter()
            .map(|d| {
                let t = d.get_ref().trim().trim_start_matches('@').to_lowercase();
                let ok = t.contains('.')
                    && t.split('.').all(|l| {
                        !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-')
                    });
                if ok {
                    Ok(t)
                } else {
                    Err(self.at(
                        d.span(),
                        format!(
                            "'{}' is not a mail domain (e.g. dor.state.ma.us)",
                            d.get_ref()
                        ),
                    ))
                }
            })
            .collect()
    }

    fn non_empty(&self, s: &Spanned<String>, what: &str) -> Result<String, DirectoryError> {
        let t = s.get_ref().trim();
        if t.is_empty() {
            return Err(self.at(s.span(), format!("{what} must not be empty")));
        }
        Ok(t.to_string())
    }
}

/// 1-based line and column of byte `offset`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl Directory {
    pub fn load(path: &Path) -> Result<Self, DirectoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| DirectoryError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates directory TOML; every error names its line and column.
    pub fn parse(text: &str, name: &str) -> Result<Self, DirectoryError> {
        let c = Checker { text, path: name };
        let file: DirectoryFile = toml::from_str(text).map_err(|e: toml::de::Error| {
            let message = e.message().to_string();
            match e.span() {
                Some(span) => c.at(span, message),
                None => DirectoryError::Invalid {
                    path: name.to_string(),
                    message,
                },
            }
        })?;

        let mut secretariats = Vec::new();
        for s in &file.secretariats {
            let id = c.non_empty(&s.id, "secretariat id")?;
            if secretariats
                .iter()
                .any(|x: &Secretariat| x.id.eq_ignore_ascii_case(&id))
            {
                return Err(c.at(s.id.span(), format!("secretariat '{id}' is listed twice")));
            }
            secretariats.push(Secretariat {
                name: c.non_empty(&s.name, "secretariat name")?,
                scio: c.contact(&s.scio, "scio")?,
                designees: c.contacts(&s.designees, "designee")?,
                id,
            });
        }

        let mut records: Vec<Agency> = Vec::new();
        for a in &file.agencies {
            let name = c.non_empty(&a.name, "agency name")?;
            if records.iter().any(|x| x.name.eq_ignore_ascii_case(&name)) {
                return Err(c.at(a.name.span(), format!("agency '{name}' is listed twice")));
            }
            let secretariat = match &a.secretariat {
                Some(s) => {
                    let id = s.get_ref().trim();
                    match secretariats.iter().find(|x| x.id.eq_ignore_ascii_case(id)) {
                        Some(x) => Some(x.id.clone()),
                        None => {
                            let known: Vec<&str> =
                                secretariats.iter().map(|x| x.id.as_str()).collect();
                            return Err(c.at(
                                s.span(),
                                format!(
                                    "agency '{name}' names secretariat '{id}', which no [[secretariats]] entry defines (known: {})",
                                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                                ),
                            ));
                        }
                    }
                }
                None => None,
            };
            let cio = a.cio.as_ref().map(|s| c.contact(s, "cio")).transpose()?;
            if secretariat.is_none() && cio.is_none() {
                return Err(c.at(
                    a.name.span(),
                    format!(
                        "agency '{name}' has neither a secretariat nor a cio: name its secretariat, or its CIO / IT or security director as cio"
                    ),
                ));
            }
            records.push(Agency {
                aliases: a.aliases.iter().map(|s| s.trim().to_string()).collect(),
                domains: c.domains(&a.domains)?,
                secretariat,
                iso: a.iso.as_ref().map(|s| c.contact(s, "iso")).transpose()?,
                cio,
                contacts: c.contacts(&a.contacts, "contact")?,
                name,
            });
        }

        let mut vendors = Vec::new();
        for v in &file.vendors {
            let name = c.non_empty(&v.name, "vendor name")?;
            let mut serves = Vec::new();
            for s in &v.serves {
                match find_agency(&records, s.get_ref()) {
                    Some(a) => serves.push(a.name.clone()),
                    None => {
                        return Err(c.at(
                            s.span(),
                            format!(
                                "vendor '{name}' serves '{}', which is no agency name or alias in this file",
                                s.get_ref()
                            ),
                        ))
                    }
                }
            }
            vendors.push(Vendor {
                domains: c.domains(&v.domains)?,
                serves,
                contacts: c.contacts(&v.contacts, "contact")?,
                name,
            });
        }

        let lists = Lists {
            leadership: c.contacts(&file.lists.leadership, "leadership list address")?,
            communications: c
                .contacts(&file.lists.communications, "communications list address")?,
            soc_oncall: c.contacts(&file.lists.soc_oncall, "soc_oncall list address")?,
        };

        let mut members: Vec<String> = Vec::new();
        {
            let mut add = |x: &Contact| {
                let a = x.address.as_str().to_lowercase();
                if !members.contains(&a) {
                    members.push(a);
                }
            };
            for s in &secretariats {
                add(&s.scio);
                s.designees.iter().for_each(&mut add);
            }
            for a in &records {
                a.iso.iter().chain(a.cio.iter()).for_each(&mut add);
                a.contacts.iter().for_each(&mut add);
            }
            for v in &vendors {
                v.contacts.iter().for_each(&mut add);
            }
            lists
                .leadership
                .iter()
                .chain(&lists.communications)
                .chain(&lists.soc_oncall)
                .for_each(&mut add);
        }

        Ok(Self {
            agencies: records
                .iter()
                .map(|a| AgencyEntry {
                    name: a.name.clone(),
                    aliases: a.aliases.clone(),
                    domains: a.domains.clone(),
                })
                .collect(),
            members,
            secretariats,
            records,
            vendors,
            lists,
        })
    }

    /// True when `address` is anyone the directory names.
    pub fn contains(&self, address: &EmailAddress) -> bool {
        let a = address.as_str().to_lowercase();
        self.members.contains(&a)
    }

    /// True when `address` is one of the people the directory names for `agency`'s
    /// cases: its contacts, ISO and CIO, its secretariat's SCIO and designees, and the
    /// contacts of a vendor serving it. Another agency's contact is not among them.
    pub fn speaks_for(&self, address: &EmailAddress, agency: &str) -> bool {
        let Some(a) = self.agency(agency) else {
            return false;
        };
        let is = |c: &Contact| c.address.same_mailbox(address);
        let secretariat = a
            .secretariat
            .as_ref()
            .and_then(|id| self.secretariats.iter().find(|s| &s.id == id));
        a.contacts.iter().any(is)
            || a.iso.iter().any(is)
            || a.cio.iter().any(is)
            || secretariat.is_some_and(|s| is(&s.scio) || s.designees.iter().any(is))
            || self.vendors.iter().any(|v| {
                v.serves
                    .iter()
                    .any(|name| name.eq_ignore_ascii_case(&a.name))
                    && v.contacts.iter().any(is)
            })
    }

    /// The agency a name, alias or email domain refers to.
    pub fn agency(&self, name: &str) -> Option<&Agency> {
        find_agency(&self.records, name)
    }

    /// The one agency a vendor's address serves (none when it serves several).
    pub fn agency_served_by(&self, address: &EmailAddress) -> Option<&Agency> {
        let v = self
            .vendors
            .iter()
            .find(|v| v.domains.iter().any(|d| address.in_domain(d)))?;
        match v.serves.as_slice() {
            [one] => self.agency(one),
            _ => None,
        }
    }

    /// Who gets the SCIO thread of `agency`'s cases.
    pub fn audience(&self, agency: &str) -> Option<Audience> {
        let a = self.agency(agency)?;
        let mut to: Vec<Contact> = Vec::new();
        let mut push = |c: &Contact| {
            if !to.iter().any(|x| x.address.same_mailbox(&c.address)) {
                to.push(c.clone());
            }
        };
        let via = match a
            .secretariat
            .as_ref()
            .and_then(|id| self.secretariats.iter().find(|s| &s.id == id))
        {
            Some(s) => {
                push(&s.scio);
                s.designees.iter().for_each(&mut push);
                format!("{} SCIO", s.id)
            }
            None => {
                a.cio.iter().for_each(&mut push);
                "agency CIO (outside a secretariat)".to_string()
            }
        };
        a.iso.iter().for_each(&mut push);
        (!to.is_empty()).then(|| Audience {
            agency: a.name.clone(),
            to,
            via,
        })
    }
}

fn find_agency<'a>(records: &'a [Agency], name: &str) -> Option<&'a Agency> {
    let n = name.trim();
    records.iter().find(|a| {
        a.name.eq_ignore_ascii_case(n) || a.aliases.iter().any(|x| x.eq_ignore_ascii_case(n))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[[secretariats]]
id = "ANF"
name = "Executive Office for Administration and Finance"
scio = "Pat Example <pat@anf.state.ma.us>"
designees = ["deputy@anf.state.ma.us", "pat@ANF.state.ma.us"]

[[agencies]]
name = "Department of Revenue"
aliases = ["DOR"]
domains = ["dor.state.ma.us"]
secretariat = "anf"
iso = "iso@dor.state.ma.us"

[[agencies]]
name = "State Lottery"
domains = ["lottery.state.ma.us"]
cio = "cio@lottery.state.ma.us"

[[vendors]]
name = "Acme Payroll"
domains = ["acmepayroll.example"]
serves = ["DOR"]
contacts = ["security@acmepayroll.example"]

[lists]
leadership = ["ciso@mass.gov"]
soc_oncall = ["oncall@mass.gov"]
"#;

    fn err(text: &str) -> String {
        Directory::parse(text, "dir.toml").unwrap_err().to_string()
    }

    #[test]
    fn audiences_follow_secretariat_or_cio() {
        let d = Directory::parse(SAMPLE, "dir.toml").unwrap();
        let a = d.audience("dor").unwrap();
        let to: Vec<&str> = a.to.iter().map(|c| c.address.as_str()).collect();
        // The SCIO once (a designee repeating the SCIO is not a second recipient).
        assert_eq!(
            to,
            [
                "pat@anf.state.ma.us",
                "deputy@anf.state.ma.us",
                "iso@dor.state.ma.us"
            ]
        );
        assert_eq!(a.to[0].name.as_deref(), Some("Pat Example"));
        assert_eq!(a.via, "ANF SCIO");
        let l = d.audience("State Lottery").unwrap();
        assert_eq!(l.to[0].address.as_str(), "cio@lottery.state.ma.us");
        assert!(d.audience("Nowhere").is_none());
        let vendor = EmailAddress::parse("noc@mail.acmepayroll.example").unwrap();
        assert_eq!(
            d.agency_served_by(&vendor).unwrap().name,
            "Department of Revenue"
        );
        assert!(d.contains(&EmailAddress::parse("CISO@mass.gov").unwrap()));
        assert!(d.contains(&EmailAddress::parse("security@acmepayroll.example").unwrap()));
        assert!(!d.contains(&EmailAddress::parse("someone@mass.gov").unwrap()));
        assert_eq!(d.agencies.len(), 2);
    }

    #[test]
    fn errors_name_the_line() {
        let bad_ref = SAMPLE.replace("secretariat = \"anf\"", "secretariat = \"EOXX\"");
        let e = err(&bad_ref);
        assert!(e.contains("line 12,"), "{e}");
        assert!(e.contains("'EOXX'") && e.contains("known: ANF"), "{e}");

        let bad_addr = SAMPLE.replace("iso@dor.state.ma.us", "iso at dor");
        let e = err(&bad_addr);
        assert!(e.contains("line 13,") && e.contains("'iso at dor'"), "{e}");

        let typo = SAMPLE.replace("designees =", "designee =");
        let e = err(&typo);
        assert!(e.contains("line 6,") && e.contains("designee"), "{e}");

        let syntax = SAMPLE.replace("[lists]", "[lists");
        assert!(err(&syntax).contains("line 26,"), "{}", err(&syntax));

        let orphan = SAMPLE.replace("cio = \"cio@lottery.state.ma.us\"", "");
        let e = err(&orphan);
        assert!(
            e.contains("line 16,") && e.contains("neither a secretariat nor a cio"),
            "{e}"
        );

        let vendor = SAMPLE.replace("serves = [\"DOR\"]", "serves = [\"DOX\"]");
        assert!(err(&vendor).contains("line 23,"), "{}", err(&vendor));

        let twice =
            format!("{SAMPLE}\n[[secretariats]]\nid = \"ANF\"\nname = \"x\"\nscio = \"a@b.cd\"\n");
        assert!(err(&twice).contains("listed twice"), "{}", err(&twice));
    }

    #[test]
    fn contacts_parse_with_and_without_names() {
        let c = Contact::parse("\"Doe, Jane\" <Jane@X.gov>").unwrap();
        assert_eq!(c.name.as_deref(), Some("Doe, Jane"));
        assert_eq!(c.address.as_str(), "Jane@x.gov");
        assert!(Contact::parse("jane@localhost").is_none());
        assert!(Contact::parse("not an address").is_none());
    }
}
