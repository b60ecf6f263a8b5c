//! Bounces of our own mail, recognised by the per-message envelope sender (VERP) we
//! give every outbound message: `soc+bounce-<token>@domain`. A delivery status
//! notification goes to the envelope sender, so only a real bounce of that message
//! reaches that address; quoting our Message-ID proves nothing (anyone who saw the
//! message can forge that).

/// The marker between the SOC mailbox's local part and the token.
pub const VERP_MARK: &str = "+bounce-";

/// The envelope sender for one outbound message: `local+bounce-TOKEN@domain`.
pub fn verp_address(soc: &crate::domain::EmailAddress, token: &str) -> String {
    format!("{}{VERP_MARK}{token}@{}", soc.local_part(), soc.domain()).to_ascii_lowercase()
}

/// How far into a message the header block and a DSN's status part are read.
const SCAN_LIMIT: usize = 256 * 1024;

/// The addresses a message was delivered to, as the receiving servers recorded them
/// (`Delivered-To`, `X-Original-To`, `Envelope-To`, `X-Envelope-To`) and its `To`,
/// lower-cased, from the top-level header block only.
pub fn delivery_addresses(raw: &[u8]) -> Vec<String> {
    let head = header_block(raw);
    let mut out = Vec::new();
    for (name, value) in unfolded_headers(&head) {
        let n = name.to_ascii_lowercase();
        if matches!(
            n.as_str(),
            "delivered-to" | "x-original-to" | "envelope-to" | "x-envelope-to" | "to"
        ) {
            out.extend(addresses_in(&value));
        }
    }
    out
}

/// The recipients a delivery status notification reports as failed: the
/// `Final-Recipient` (or `Original-Recipient`) of each per-recipient block whose
/// `Action` is `failed`, lower-cased.
pub fn failed_recipients(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(&raw[..raw.len().min(SCAN_LIMIT * 4)]);
    let mut out = Vec::new();
    // Per-recipient fields come in blocks separated by blank lines (RFC 3464 §2.1).
    let mut recipient: Option<String> = None;
    let mut failed = false;
    let mut flush = |recipient: &mut Option<String>, failed: &mut bool| {
        if let (Some(r), true) = (recipient.take(), *failed) {
            if !out.contains(&r) {
                out.push(r);
            }
        }
        *failed = false;
    };
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            flush(&mut recipient, &mut failed);
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "final-recipient" | "original-recipient" => {
                // `rfc822; user@example.org`
                let addr = value.rsplit(';').next().unwrap_or("").trim();
                let addr = addr.trim_start_matches('<').trim_end_matches('>');
                if addr.contains('@')
                    && (recipient.is_none() || name.trim().eq_ignore_ascii_case("final-recipient"))
                {
                    recipient = Some(addr.to_ascii_lowercase());
                }
            }
            "action" => failed = value.trim().eq_ignore_ascii_case("failed"),
            _ => {}
        }
    }
    flush(&mut recipient, &mut failed);
    out
}

/// The token of a VERP address of ours (`local+bounce-TOKEN@domain` for our `local`
/// and `domain`), if `address` is one.
pub fn verp_token<'a>(address: &'a str, soc: &crate::domain::EmailAddress) -> Option<&'a str> {
    let (local, domain) = address.rsplit_once('@')?;
    let (base, token) = local.split_once(VERP_MARK)?;
    (base.eq_ignore_ascii_case(soc.local_part())
        && domain.eq_ignore_ascii_case(soc.domain())
        && !token.is_empty()
        && token.chars().all(|c| c.is_ascii_alphanumeric()))
    .then_some(token)
}

fn header_block(raw: &[u8]) -> String {
    let limit = raw.len().min(SCAN_LIMIT);
    let end = raw[..limit]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw[..limit].windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(limit);
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

fn unfolded_headers(head: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((n, v)) = line.split_once(':') {
            out.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

fn addresses_in(value: &str) -> Vec<String> {
    value
        .split([',', ' ', '\t', '<', '>', '"'])
        .filter(|t| t.contains('@'))
        .map(|t| {
            t.trim_matches(|c: char| c == ';' || c == '\'')
                .to_ascii_lowercase()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EmailAddress;

    #[test]
    fn verp_addresses_round_trip() {
        let soc = EmailAddress::parse("soc@mass.gov").unwrap();
        let a = verp_address(&soc, "a1b2c3");
        assert_eq!(a, "soc+bounce-a1b2c3@mass.gov");
        assert_eq!(verp_token(&a, &soc), Some("a1b2c3"));
        assert_eq!(
            verp_token("SOC+bounce-a1b2c3@MASS.gov", &soc),
            Some("a1b2c3")
        );
        assert_eq!(verp_token("other+bounce-a1b2c3@mass.gov", &soc), None);
        assert_eq!(verp_token("soc+bounce-a1b2c3@evil.test", &soc), None);
        assert_eq!(verp_token("soc+bounce-@mass.gov", &soc), None);
        assert_eq!(verp_token("soc@mass.gov", &soc), None);
    }

    #[test]
    fn a_dsn_names_its_failed_recipients_and_where_it_was_delivered() {
        let dsn = b"Delivered-To: soc+bounce-abc@mass.gov\r\nFrom: MAILER-DAEMON@x\r\nTo: <soc+bounce-abc@mass.gov>\r\nSubject: Undelivered\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\nFinal-Recipient: rfc822; Gone@dor.state.ma.us\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\nFinal-Recipient: rfc822; late@dor.state.ma.us\r\nAction: delayed\r\n--b--\r\n";
        assert_eq!(failed_recipients(dsn), vec!["gone@dor.state.ma.us"]);
        let to = delivery_addresses(dsn);
        assert!(
            to.contains(&"soc+bounce-abc@mass.gov".to_string()),
            "{to:?}"
        );
        // Headers inside the body are not the message's own.
        let quoted = b"To: soc@mass.gov\r\n\r\nDelivered-To: soc+bounce-abc@mass.gov\r\n";
        assert_eq!(delivery_addresses(quoted), vec!["soc@mass.gov"]);
    }
}
