//! Sender authentication as the receiving server recorded it (`Authentication-Results`,
//! RFC 8601). Only the topmost header stamped by the configured trusted server
//! (`authserv-id`) counts: the receiving server prepends its own, so anything below it
//! was written before our server saw the message, by anyone. The receiving server must
//! also strip copies that claim its authserv-id from arriving mail (RFC 8601 §5;
//! Exchange Online and Postfix milters such as OpenDMARC do), or a sender could forge
//! the one header we read.

/// Whether a message's From domain is authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthVerdict {
    /// DMARC pass, or SPF/DKIM pass aligned with the From domain.
    Pass(String),
    /// DMARC fail, or every aligned method failed.
    Fail(String),
    /// No result from the trusted server, or nothing aligned.
    Unknown(String),
}

impl AuthVerdict {
    pub fn passed(&self) -> bool {
        matches!(self, AuthVerdict::Pass(_))
    }
}

/// One `method=result` with its properties (`header.d`, `smtp.mailfrom`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
struct MethodResult {
    method: String,
    result: String,
    props: Vec<(String, String)>,
}

/// Splits one header value into its authserv-id and results; comments `( … )` are dropped.
fn parse(value: &str) -> Option<(String, Vec<MethodResult>)> {
    let mut clean = String::with_capacity(value.len());
    let mut depth = 0usize;
    for c in value.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => clean.push(c),
            _ => {}
        }
    }
    let mut parts = clean.split(';');
    let id = parts
        .next()?
        .split_whitespace()
        .next()?
        .to_ascii_lowercase();
    let mut out = Vec::new();
    for part in parts {
        let mut tokens = part.split_whitespace();
        let Some((method, result)) = tokens.next().and_then(|t| t.split_once('=')) else {
            continue;
        };
        let props = tokens
            .filter_map(|t| t.split_once('='))
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    v.trim_matches('"').to_ascii_lowercase(),
                )
            })
            .collect();
        out.push(MethodResult {
            method: method.to_ascii_lowercase(),
            result: result.to_ascii_lowercase(),
            props,
        });
    }
    Some((id, out))
}

/// Relaxed alignment: the same domain, or one a subdomain of the other.
fn aligned(a: &str, b: &str) -> bool {
    let (a, b) = (
        a.trim_start_matches('@').to_ascii_lowercase(),
        b.to_ascii_lowercase(),
    );
    let a = a.rsplit('@').next().unwrap_or(&a).to_string();
    a == b || a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}"))
}

/// The verdict for `from_domain`, from the `Authentication-Results` values of a message
/// in header order (topmost first). Only the first value whose authserv-id is
/// `trusted_authserv_id` is read; a DMARC result counts only for the From domain.
pub fn verify(values: &[String], trusted_authserv_id: &str, from_domain: &str) -> AuthVerdict {
    let trusted = trusted_authserv_id.to_ascii_lowercase();
    let results: Vec<MethodResult> = values
        .iter()
        .filter_map(|v| parse(v))
        .find(|(id, _)| *id == trusted)
        .map(|(_, r)| r)
        .unwrap_or_default();
    if results.is_empty() {
        return AuthVerdict::Unknown(format!(
            "no Authentication-Results from the trusted server {trusted_authserv_id}"
        ));
    }
    let prop = |r: &MethodResult, k: &str| {
        r.props
            .iter()
            .find(|(pk, _)| pk == k)
            .map(|(_, v)| v.clone())
    };
    if let Some(d) = results.iter().find(|r| r.method == "dmarc") {
        // DMARC evaluates the RFC 5322.From domain; a result for another domain says
        // nothing about this message's sender. One that names no domain is not taken
        // on trust: the aligned SPF/DKIM results below decide.
        let from = from_domain.to_ascii_lowercase();
        match prop(d, "header.from") {
            Some(hf) if hf == from => {
                return match d.result.as_str() {
                    "pass" => AuthVerdict::Pass("dmarc=pass".into()),
                    "fail" => AuthVerdict::Fail("dmarc=fail".into()),
                    other => AuthVerdict::Unknown(format!("dmarc={other}")),
                };
            }
            Some(hf) => {
                return AuthVerdict::Unknown(format!(
                    "dmarc result is for {hf}, not the From domain {from}"
                ))
            }
            None => {}
        }
    }
    for r in &results {
        let domain = match r.method.as_str() {
            "dkim" => prop(r, "header.d").or_else(|| prop(r, "header.i")),
            "spf" => prop(r, "smtp.mailfrom").or_else(|| prop(r, "smtp.helo")),
            _ => None,
        };
        if r.result == "pass" && domain.as_deref().is_some_and(|d| aligned(d, from_domain)) {
            return AuthVerdict::Pass(format!("{}=pass aligned with {from_domain}", r.method));
        }
    }
    if results
        .iter()
        .any(|r| (r.method == "dkim" || r.method == "spf") && r.result == "fail")
    {
        return AuthVerdict::Fail("SPF/DKIM failed and nothing aligned passed".into());
    }
    AuthVerdict::Unknown("no aligned SPF or DKIM pass".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        vec![s.to_string()]
    }

    #[test]
    fn dmarc_pass_from_the_trusted_server() {
        let h = v("mx.mass.gov; dkim=pass header.d=dor.state.ma.us; spf=pass smtp.mailfrom=dor.state.ma.us; dmarc=pass (p=reject) header.from=dor.state.ma.us");
        assert!(verify(&h, "mx.mass.gov", "dor.state.ma.us").passed());
    }

    #[test]
    fn other_servers_results_do_not_count() {
        let h = v("evil.example; dmarc=pass header.from=dor.state.ma.us");
        assert!(matches!(
            verify(&h, "mx.mass.gov", "dor.state.ma.us"),
            AuthVerdict::Unknown(_)
        ));
    }

    #[test]
    fn dmarc_fail_and_unaligned_passes() {
        let h = v("mx.mass.gov; spf=pass smtp.mailfrom=bounces.evil.example; dmarc=fail header.from=dor.state.ma.us");
        assert!(matches!(
            verify(&h, "mx.mass.gov", "dor.state.ma.us"),
            AuthVerdict::Fail(_)
        ));
        let h = v("mx.mass.gov; spf=pass smtp.mailfrom=bounces.evil.example");
        assert!(matches!(
            verify(&h, "mx.mass.gov", "dor.state.ma.us"),
            AuthVerdict::Unknown(_)
        ));
        let h = v("mx.mass.gov; dkim=pass header.d=mail.dor.state.ma.us (comment; with semicolon)");
        assert!(verify(&h, "MX.mass.gov", "dor.state.ma.us").passed());
    }

    #[test]
    fn only_the_topmost_trusted_header_counts() {
        // Ours at the top says fail; a forged pass written lower by the sender.
        let h = vec![
            "mx.mass.gov; dmarc=fail header.from=dor.state.ma.us".to_string(),
            "mx.mass.gov; dmarc=pass header.from=dor.state.ma.us".to_string(),
        ];
        assert!(matches!(
            verify(&h, "mx.mass.gov", "dor.state.ma.us"),
            AuthVerdict::Fail(_)
        ));
        // Ours says nothing aligned; a forged DKIM pass lower down does not add to it.
        let h = vec![
            "mx.mass.gov; spf=none smtp.mailfrom=evil.example".to_string(),
            "mx.mass.gov; dkim=pass header.d=dor.state.ma.us".to_string(),
        ];
        assert!(!verify(&h, "mx.mass.gov", "dor.state.ma.us").passed());
        // Another server's header above ours does not hide ours.
        let h = vec![
            "relay.example; dmarc=fail header.from=dor.state.ma.us".to_string(),
            "mx.mass.gov; dmarc=pass header.from=dor.state.ma.us".to_string(),
        ];
        assert!(verify(&h, "mx.mass.gov", "dor.state.ma.us").passed());
    }

    #[test]
    fn dmarc_counts_only_for_the_from_domain() {
        let h = v("mx.mass.gov; dmarc=pass header.from=evil.example");
        assert!(matches!(
            verify(&h, "mx.mass.gov", "dor.state.ma.us"),
            AuthVerdict::Unknown(_)
        ));
        let h = v("mx.mass.gov; dmarc=pass");
        assert!(!verify(&h, "mx.mass.gov", "dor.state.ma.us").passed());
        // Without a domain, DMARC is not taken on trust; an aligned DKIM pass counts.
        let h = v("mx.mass.gov; dkim=pass header.d=dor.state.ma.us; dmarc=pass");
        assert!(verify(&h, "mx.mass.gov", "dor.state.ma.us").passed());
        let h = v("mx.mass.gov; dmarc=pass header.from=DOR.state.ma.us");
        assert!(verify(&h, "mx.mass.gov", "dor.state.ma.us").passed());
    }
}
