//! What reading one message may cost, decided before mail-parser sees it.
//!
//! A parsing thread cannot be stopped, so the input is bounded first, by one linear
//! pass over the raw bytes. mail-parser's work grows with the multipart headers
//! times the size: for every `boundary=` whose delimiter never comes it searches to
//! the end of the message (`seek_next_part`), so a 2 MB mutant repeating an
//! unterminated multipart header took 1,013 s. A message over these limits is read
//! from its headers only, and the analysis says why.

use std::collections::HashSet;

/// Most `boundary=` parameters in one message.
pub const MAX_BOUNDARIES: usize = 500;
/// Most `boundary=` parameters × message bytes: mail-parser's worst-case scanning.
pub const MAX_BOUNDARY_WORK: u64 = 1 << 31;
/// Most MIME part delimiters (`--boundary` lines of a declared boundary).
pub const MAX_PARTS: usize = 2_000;

/// What the pre-scan counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    pub bytes: usize,
    pub boundaries: usize,
    pub parts: usize,
    pub longest_line: usize,
}

impl Shape {
    /// Counts boundary parameters, part delimiters and the longest line, in one pass.
    /// A base64-encoded `message/*` part is decoded and counted too: mail-parser parses
    /// such a part as a message of its own (up to 3 levels deep).
    pub fn of(raw: &[u8]) -> Shape {
        Self::nested(raw, 3)
    }

    fn nested(raw: &[u8], depth: usize) -> Shape {
        let mut shape = Shape {
            bytes: raw.len(),
            ..Shape::default()
        };
        let mut declared: HashSet<&[u8]> = HashSet::new();
        // Part headers being read (after a delimiter), and what they said so far.
        let (mut in_headers, mut message, mut base64) = (false, false, false);
        // Where the body of an encoded message part starts.
        let mut encoded_from: Option<usize> = None;
        let mut pos = 0;
        for line in raw.split(|&b| b == b'\n') {
            let start = pos;
            pos += line.len() + 1;
            shape.longest_line = shape.longest_line.max(line.len());
            let delimiter = line
                .strip_prefix(b"--")
                .map(trim_delimiter)
                .is_some_and(|name| !name.is_empty() && declared.contains(name));
            if delimiter {
                shape.parts += 1;
                if let Some(from) = encoded_from.take() {
                    shape.add_encoded(&raw[from..start], depth);
                }
                (in_headers, message, base64) = (true, false, false);
            } else if in_headers {
                let lower = line.to_ascii_lowercase();
                if lower.starts_with(b"content-type:") {
                    message = contains(&lower, b"message/");
                } else if lower.starts_with(b"content-transfer-encoding:") {
                    base64 = contains(&lower, b"base64");
                } else if line.is_empty() || line == b"\r" {
                    in_headers = false;
                    if message && base64 && depth > 0 {
                        encoded_from = Some(pos.min(raw.len()));
                    }
                }
            }
            for value in boundary_values(line) {
                shape.boundaries += 1;
                if declared.len() <= MAX_BOUNDARIES {
                    declared.insert(value);
                }
            }
        }
        if let Some(from) = encoded_from {
            shape.add_encoded(&raw[from..], depth);
        }
        shape
    }

    fn add_encoded(&mut self, encoded: &[u8], depth: usize) {
        if let Some(decoded) = mail_parser::decoders::base64::base64_decode(encoded) {
            let inner = Self::nested(&decoded, depth - 1);
            self.boundaries += inner.boundaries;
            self.parts += inner.parts;
            self.longest_line = self.longest_line.max(inner.longest_line);
        }
    }

    /// Why this message must not be parsed whole, if it must not.
    pub fn over_limits(&self) -> Option<String> {
        if self.boundaries > MAX_BOUNDARIES {
            return Some(format!(
                "{} MIME boundary parameters (the limit is {MAX_BOUNDARIES})",
                self.boundaries
            ));
        }
        let work = self.boundaries as u64 * self.bytes as u64;
        if work > MAX_BOUNDARY_WORK {
            return Some(format!(
                "{} MIME boundary parameters in {} bytes would cost the MIME parser {work} byte scans (the limit is {MAX_BOUNDARY_WORK})",
                self.boundaries, self.bytes
            ));
        }
        if self.parts > MAX_PARTS {
            return Some(format!(
                "{} MIME parts (the limit is {MAX_PARTS})",
                self.parts
            ));
        }
        None
    }
}

/// Runs `work` on the blocking pool (never on an async worker) and waits at most
/// `secs` (at least 1) for it. `Err` says why there is no result: the budget ran out
/// (a thread cannot be stopped: the work runs on to its end in the background, which
/// the pre-scan keeps bounded) or the work panicked.
pub async fn in_budget<T: Send + 'static>(
    secs: u64,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let secs = secs.max(1);
    let task = tokio::task::spawn_blocking(work);
    match tokio::time::timeout(std::time::Duration::from_secs(secs), task).await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "reading a message failed");
            Err(format!("it failed ({e})"))
        }
        Err(_) => {
            tracing::warn!(secs, "reading a message ran out of time");
            Err(format!("it took longer than {secs} s"))
        }
    }
}

/// Why `raw` must be read from its headers only, if it must.
pub fn check(raw: &[u8]) -> Option<String> {
    Shape::of(raw).over_limits()
}

/// The header block: up to the first empty line (at most 1 MB).
pub fn header_block(raw: &[u8]) -> &[u8] {
    const MAX_HEADER_BYTES: usize = 1 << 20;
    let mut pos = 0;
    for line in raw.split(|&b| b == b'\n') {
        let end = pos + line.len() + 1;
        if line.is_empty() || line == b"\r" || end > MAX_HEADER_BYTES {
            break;
        }
        pos = end;
    }
    &raw[..pos.min(raw.len())]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A delimiter line's boundary: without the closing `--` and trailing white space.
fn trim_delimiter(rest: &[u8]) -> &[u8] {
    let mut end = rest.len();
    while end > 0 && rest[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    let rest = &rest[..end];
    rest.strip_suffix(b"--").unwrap_or(rest)
}

/// The values of every `boundary=` parameter on one line (quoted or token).
fn boundary_values(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    const NAME: &[u8] = b"boundary";
    line.iter().enumerate().filter_map(move |(i, &b)| {
        if b != b'=' || i < NAME.len() || !line[i - NAME.len()..i].eq_ignore_ascii_case(NAME) {
            return None;
        }
        let v = &line[i + 1..];
        let v = match v.first() {
            Some(b'"') => {
                let inner = &v[1..];
                &inner[..inner.iter().position(|&c| c == b'"').unwrap_or(inner.len())]
            }
            _ => {
                let end = v
                    .iter()
                    .position(|&c| c == b';' || c.is_ascii_whitespace())
                    .unwrap_or(v.len());
                &v[..end]
            }
        };
        Some(v)
    })
}

/// A message whose `parts` parts each declare a boundary that never comes (tests).
#[cfg(test)]
pub(crate) fn boundary_clash(parts: usize) -> String {
    format!(
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n{}",
        "--b\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\nx\r\n".repeat(parts)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_multipart_is_within_limits() {
        let raw = b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: multipart/alternative; BOUNDARY=b2\r\n\r\n--b2\r\n\r\nx\r\n--b2--\r\n--b1--\r\n";
        let s = Shape::of(raw);
        assert_eq!((s.boundaries, s.parts), (2, 4));
        assert_eq!(s.over_limits(), None);
    }

    #[test]
    fn a_repeated_unterminated_multipart_header_is_caught() {
        let raw = boundary_clash(600);
        let reason = check(raw.as_bytes()).expect("over the limits");
        assert!(reason.contains("601 MIME boundary parameters"), "{reason}");
    }

    #[tokio::test]
    async fn work_over_the_budget_is_abandoned_not_awaited() {
        assert_eq!(in_budget(5, || 2).await, Ok(2));
        let slow = in_budget(1, || std::thread::sleep(std::time::Duration::from_secs(3)));
        assert_eq!(slow.await, Err("it took longer than 1 s".to_string()));
        let failed = in_budget(5, || -> u8 { panic!("boom") }).await;
        assert!(failed.is_err_and(|e| e.starts_with("it failed")));
    }

    #[test]
    fn a_bomb_inside_a_base64_attached_message_is_counted() {
        use base64::Engine;
        let inner = boundary_clash(600);
        let encoded = base64::engine::general_purpose::STANDARD.encode(inner);
        let raw = format!("Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--o--\r\n");
        let reason = check(raw.as_bytes()).expect("over the limits");
        assert!(reason.contains("602 MIME boundary parameters"), "{reason}");
    }

    #[test]
    fn the_header_block_ends_at_the_first_empty_line() {
        assert_eq!(
            header_block(b"A: 1\r\nB: 2\r\n\r\nbody"),
            b"A: 1\r\nB: 2\r\n"
        );
        assert_eq!(header_block(b"A: 1\n\nbody\n\n"), b"A: 1\n");
        assert_eq!(header_block(b"A: 1"), b"A: 1");
        assert_eq!(header_block(b""), b"");
    }
}
