//! The text of a PDF's first page, read without running anything in it: the objects
//! (plain and inside object streams), the page tree's first page, its content streams
//! (uncompressed or Flate), and the strings its text operators show. Pure and bounded:
//! at most [`MAX_INPUT`] bytes are read, [`MAX_INFLATED`] inflated in all, and
//! [`MAX_TEXT`] characters returned. Text drawn with fonts of their own encoding (glyph
//! numbers, not characters) cannot be read this way; such a page says so.

use std::collections::HashMap;
use std::io::Read;

/// The most of a file read.
pub const MAX_INPUT: usize = 16 << 20;
/// The most read from all streams together, inflated or not.
pub const MAX_INFLATED: usize = 16 << 20;
/// The most characters of text returned.
pub const MAX_TEXT: usize = 4_000;
/// How deep the page tree is followed.
const MAX_DEPTH: usize = 32;

/// Why there is no text to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    #[error("it does not start like a PDF (%PDF-)")]
    NotPdf,
    #[error("its first page could not be found")]
    NoPage,
    #[error("its first page has no text layer this reader can read (a scan, or fonts with their own encoding): download it to read it")]
    NoText,
}

/// One object: its dictionary (as text) and its stream's raw bytes, if any.
struct Object<'a> {
    dict: String,
    stream: Option<std::borrow::Cow<'a, [u8]>>,
}

/// The text of the first page, line by line as drawn.
pub fn first_page_text(pdf: &[u8]) -> Result<String, PdfError> {
    first_page_text_within(pdf, MAX_INFLATED)
}

/// [`first_page_text`] reading at most `budget` bytes of streams (intake's share).
pub fn first_page_text_within(pdf: &[u8], budget: usize) -> Result<String, PdfError> {
    let pdf = &pdf[..pdf.len().min(MAX_INPUT)];
    if !pdf[..pdf.len().min(1024)].windows(5).any(|w| w == b"%PDF-") {
        return Err(PdfError::NotPdf);
    }
    let mut budget = budget.min(MAX_INFLATED);
    let objects = objects(pdf, &mut budget);
    let page = first_page(&objects).ok_or(PdfError::NoPage)?;
    let mut text = String::new();
    let mut contents = refs_after(&objects[&page].dict, "/Contents");
    // A stream named twice is read once.
    let mut seen = std::collections::HashSet::new();
    contents.retain(|id| seen.insert(*id));
    for id in contents {
        let Some(content) = objects.get(&id).and_then(|o| decoded(o, &mut budget)) else {
            continue;
        };
        shown_text(&content, &mut text);
        if text.chars().count() >= MAX_TEXT {
            break;
        }
    }
    let text = tidy(&text);
    if text.is_empty() {
        return Err(PdfError::NoText);
    }
    Ok(text)
}

/// Every `N G obj … endobj`, and the objects inside object streams.
fn objects<'a>(pdf: &'a [u8], budget: &mut usize) -> HashMap<u64, Object<'a>> {
    let mut out = HashMap::new();
    let mut at = 0;
    while let Some(found) = find(&pdf[at..], b" obj") {
        let obj_kw = at + found;
        at = obj_kw + 4;
        let Some(id) = object_number(&pdf[..obj_kw]) else {
            continue;
        };
        let end = find(&pdf[at..], b"endobj").map_or(pdf.len(), |e| at + e);
        let body = &pdf[at..end];
        let (dict, stream) = match find(body, b"stream") {
            Some(s) if !body[..s].ends_with(b"end") => {
                let mut data = s + 6;
                if body.get(data) == Some(&b'\r') {
                    data += 1;
                }
                if body.get(data) == Some(&b'\n') {
                    data += 1;
                }
                let stop = find(&body[data..], b"endstream").map_or(body.len(), |e| data + e);
                (&body[..s], Some(&body[data..stop]))
            }
            _ => (body, None),
        };
        out.insert(
            id,
            Object {
                dict: latin1(dict),
                stream: stream.map(std::borrow::Cow::Borrowed),
            },
        );
        at = end;
    }
    // Objects kept inside compressed object streams (PDF 1.5 and later).
    let streams: Vec<u64> = out
        .iter()
        .filter(|(_, o)| has_name(&o.dict, "/Type", "/ObjStm"))
        .map(|(id, _)| *id)
        .collect();
    for id in streams {
        let Some(data) = decoded(&out[&id], budget) else {
            continue;
        };
        let dict = &out[&id].dict;
        let (Some(n), Some(first)) = (int_after(dict, "/N"), int_after(dict, "/First")) else {
            continue;
        };
        let header = latin1(&data[..(first as usize).min(data.len())]);
        let nums: Vec<u64> = header
            .split_ascii_whitespace()
            .filter_map(|t| t.parse().ok())
            .collect();
        let pairs: Vec<(u64, usize)> = nums
            .chunks(2)
            .take(n as usize)
            .filter(|c| c.len() == 2)
            .filter_map(|c| {
                Some((
                    c[0],
                    (first as usize).checked_add(usize::try_from(c[1]).ok()?)?,
                ))
            })
            .collect();
        for (i, (num, start)) in pairs.iter().enumerate() {
            let end = pairs.get(i + 1).map_or(data.len(), |p| p.1).min(data.len());
            if *start < end && !out.contains_key(num) {
                out.insert(
                    *num,
                    Object {
                        dict: latin1(&data[*start..end]),
                        stream: None,
                    },
                );
            }
        }
    }
    out
}

/// The object number before ` obj` at the end of `before` (`12 0` in `12 0 obj`).
fn object_number(before: &[u8]) -> Option<u64> {
    let tail = &before[before.len().saturating_sub(24)..];
    let text = latin1(tail);
    let mut words = text.split_ascii_whitespace().rev();
    let generation = words.next()?;
    let number = words.next()?;
    generation.parse::<u64>().ok()?;
    let digits: String = number
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok()
}

/// The page tree's first page (else the first object that is a page).
fn first_page(objects: &HashMap<u64, Object<'_>>) -> Option<u64> {
    let root = objects
        .iter()
        .filter(|(_, o)| has_name(&o.dict, "/Type", "/Catalog"))
        .map(|(id, _)| *id)
        .min()
        .and_then(|c| refs_after(&objects[&c].dict, "/Pages").first().copied());
    let mut node = root;
    for _ in 0..MAX_DEPTH {
        let Some(id) = node else { break };
        let Some(o) = objects.get(&id) else { break };
        if has_name(&o.dict, "/Type", "/Page") {
            return Some(id);
        }
        node = refs_after(&o.dict, "/Kids").first().copied();
    }
    objects
        .iter()
        .filter(|(_, o)| has_name(&o.dict, "/Type", "/Page"))
        .map(|(id, _)| *id)
        .min()
}

/// Whether `dict` has `key value` (`/Type /Page` is not `/Type /Pages`).
fn has_name(dict: &str, key: &str, value: &str) -> bool {
    let mut rest = dict;
    while let Some(i) = rest.find(key) {
        let after = rest[i + key.len()..].trim_start();
        if let Some(tail) = after.strip_prefix(value) {
            if !tail.starts_with(|c: char| c.is_ascii_alphanumeric()) {
                return true;
            }
        }
        rest = &rest[i + key.len()..];
    }
    false
}

/// The `N G R` references right after `key`: one, or an array of them.
fn refs_after(dict: &str, key: &str) -> Vec<u64> {
    let Some(i) = dict.find(key) else {
        return Vec::new();
    };
    let after = dict[i + key.len()..].trim_start();
    let (span, many) = match after.strip_prefix('[') {
        Some(inner) => (&inner[..inner.find(']').unwrap_or(inner.len())], true),
        // The first 40 characters (never a cut inside one: the text is Latin-1 read).
        None => (
            after
                .char_indices()
                .nth(40)
                .map_or(after, |(i, _)| &after[..i]),
            false,
        ),
    };
    let words: Vec<&str> = span
        .split(|c: char| c.is_ascii_whitespace() || matches!(c, '/' | '>' | '<'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    let mut k = 0;
    while k + 3 <= words.len() && out.len() < 64 {
        let (n, g, r) = (
            words[k].parse::<u64>(),
            words[k + 1].parse::<u64>(),
            words[k + 2],
        );
        if let (Ok(n), Ok(_), "R") = (n, g, r) {
            out.push(n);
            k += 3;
        } else if many {
            k += 1;
        } else {
            break;
        }
    }
    out
}

fn int_after(dict: &str, key: &str) -> Option<u64> {
    let mut rest = dict;
    while let Some(i) = rest.find(key) {
        let after = &rest[i + key.len()..];
        if !after.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return after.split_ascii_whitespace().next()?.parse().ok();
        }
        rest = after;
    }
    None
}

/// A stream's bytes, inflated when it is Flate-compressed, within the budget; `None`
/// for other filters.
fn decoded(o: &Object<'_>, budget: &mut usize) -> Option<Vec<u8>> {
    let raw = o.stream.as_ref()?;
    if !o.dict.contains("/Filter") {
        // Uncompressed bytes count against the same budget as inflated ones.
        let n = raw.len().min(*budget);
        *budget -= n;
        return (n > 0).then(|| raw[..n].to_vec());
    }
    if !has_name(&o.dict, "/Filter", "/FlateDecode") && !o.dict.contains("[/FlateDecode]") {
        return None;
    }
    let mut out = Vec::new();
    let limit = (*budget as u64).min(MAX_INFLATED as u64);
    let _ = flate2::read::ZlibDecoder::new(&raw[..])
        .take(limit)
        .read_to_end(&mut out);
    *budget = budget.saturating_sub(out.len());
    (!out.is_empty()).then_some(out)
}

/// Appends the strings that the text operators of `content` show, a line per line
/// moved to.
fn shown_text(content: &[u8], out: &mut String) {
    let mut strings: Vec<Vec<u8>> = Vec::new();
    let mut numbers: Vec<f64> = Vec::new();
    let mut array: Option<Vec<u8>> = None;
    let mut i = 0;
    while i < content.len() && out.len() <= MAX_TEXT * 4 {
        let c = content[i];
        let shown = match c {
            b'(' => {
                let (s, next) = literal(content, i + 1);
                i = next;
                Some(s)
            }
            b'<' if content.get(i + 1) == Some(&b'<') => {
                i += 2;
                None
            }
            b'<' => {
                let end = content[i..]
                    .iter()
                    .position(|&b| b == b'>')
                    .map_or(content.len(), |e| i + e);
                let s = hex(&content[i + 1..end]);
                i = end + 1;
                Some(s)
            }
            _ => None,
        };
        if let Some(s) = shown {
            match array.as_mut() {
                Some(a) => a.extend_from_slice(&s),
                None => strings.push(s),
            }
            continue;
        }
        match c {
            b'[' => {
                array = Some(Vec::new());
                i += 1;
            }
            b']' => {
                strings.push(array.take().unwrap_or_default());
                i += 1;
            }
            b'%' => {
                while i < content.len() && !matches!(content[i], b'\n' | b'\r') {
                    i += 1;
                }
            }
            c if c.is_ascii_whitespace() || c == b'>' || c == b')' => i += 1,
            _ => {
                let start = i;
                i += 1;
                while i < content.len()
                    && !content[i].is_ascii_whitespace()
                    && !b"()<>[]/%".contains(&content[i])
                {
                    i += 1;
                }
                let word = &content[start..i];
                if let Ok(n) = latin1(word).parse::<f64>() {
                    match array.as_mut() {
                        // A wide gap inside a TJ array is a space between words.
                        Some(a) if n < -200.0 => a.push(b' '),
                        Some(_) => {}
                        None => numbers.push(n),
                    }
                    continue;
                }
                if word.starts_with(b"/") {
                    continue;
                }
                match word {
                    b"Tj" | b"TJ" => {
                        if let Some(s) = strings.pop() {
                            out.push_str(&decode_string(&s));
                        }
                    }
                    b"'" | b"\"" => {
                        out.push('\n');
                        if let Some(s) = strings.pop() {
                            out.push_str(&decode_string(&s));
                        }
                    }
                    b"T*" | b"ET" | b"Tm" => out.push('\n'),
                    // A move with a vertical part starts a new line.
                    b"Td" | b"TD" if numbers.last().is_some_and(|ty| *ty != 0.0) => out.push('\n'),
                    _ => {}
                }
                strings.clear();
                numbers.clear();
            }
        }
    }
}

/// A literal string `( … )` from just after its `(`: its bytes and where it ends.
fn literal(s: &[u8], mut i: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut depth = 1;
    while i < s.len() {
        let c = s[i];
        i += 1;
        match c {
            b'\\' if i < s.len() => {
                let e = s[i];
                i += 1;
                match e {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'b' | b'f' => {}
                    b'\r' | b'\n' => {}
                    b'0'..=b'7' => {
                        let mut v = (e - b'0') as u32;
                        for _ in 0..2 {
                            match s.get(i) {
                                Some(d @ b'0'..=b'7') => {
                                    v = v * 8 + (d - b'0') as u32;
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push((v & 0xff) as u8);
                    }
                    other => out.push(other),
                }
            }
            b'(' => {
                depth += 1;
                out.push(c);
            }
            b')' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    (out, i)
}

fn hex(s: &[u8]) -> Vec<u8> {
    let digits: Vec<u8> = s.iter().copied().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|c| {
            let hi = (c[0] as char).to_digit(16).unwrap_or(0);
            let lo = c
                .get(1)
                .and_then(|d| (*d as char).to_digit(16))
                .unwrap_or(0);
            (hi * 16 + lo) as u8
        })
        .collect()
}

/// A shown string as text: UTF-16 with its byte-order mark, else one byte a character
/// (the common Latin encodings agree on the letters that matter here).
fn decode_string(s: &[u8]) -> String {
    if s.starts_with(&[0xFE, 0xFF]) {
        let units: Vec<u16> = s[2..]
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    s.iter()
        .map(|&b| match b {
            0x92 => '\u{2019}',
            0x93 => '\u{201C}',
            0x94 => '\u{201D}',
            0x96 => '\u{2013}',
            0x97 => '\u{2014}',
            b => char::from(b),
        })
        .collect()
}

/// The text as shown: control characters out, blank runs collapsed, cut to
/// [`MAX_TEXT`]; empty when most of it is not readable (glyph numbers).
fn tidy(raw: &str) -> String {
    let total = raw.chars().filter(|c| !c.is_whitespace()).count();
    let odd = raw
        .chars()
        .filter(|c| !c.is_whitespace() && (c.is_control() || ('\u{80}'..='\u{9f}').contains(c)))
        .count();
    if total == 0 || odd * 3 > total {
        return String::new();
    }
    let mut out = String::new();
    let mut blank = 0;
    for line in raw.lines() {
        let line: String = line.chars().filter(|c| !c.is_control()).collect();
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
        if out.chars().count() >= MAX_TEXT {
            break;
        }
    }
    let out = out.trim().to_string();
    if out.chars().count() > MAX_TEXT {
        out.chars().take(MAX_TEXT).collect::<String>() + " […]"
    } else {
        out
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pdf(content: &[u8], compress: bool) -> Vec<u8> {
        let (stream, filter) = if compress {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(content).unwrap();
            (z.finish().unwrap(), " /Filter /FlateDecode")
        } else {
            (content.to_vec(), "")
        };
        let mut out = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n\
            2 0 obj\n<< /Type /Pages /Kids [3 0 R 6 0 R] /Count 2 >>\nendobj\n\
            3 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 5 0 R >>\nendobj\n"
            .to_vec();
        out.extend_from_slice(
            format!("5 0 obj\n<< /Length {}{filter} >>\nstream\n", stream.len()).as_bytes(),
        );
        out.extend_from_slice(&stream);
        out.extend_from_slice(
            b"\nendstream\nendobj\n6 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 7 0 R >>\nendobj\n\
              7 0 obj\n<< /Length 30 >>\nstream\nBT (Second page) Tj ET\nendstream\nendobj\n%%EOF\n",
        );
        out
    }

    #[test]
    fn the_first_page_s_text_is_read_line_by_line() {
        let content = b"BT /F1 12 Tf 72 720 Td (Incident report \\(DCR\\)) Tj 0 -14 Td \
            [(Ransom)-300(note found)] TJ T* (Caf\\351 server) Tj ET";
        for compress in [false, true] {
            let text = first_page_text(&pdf(content, compress)).unwrap();
            assert_eq!(
                text, "Incident report (DCR)\nRansom note found\nCafé server",
                "{compress}"
            );
        }
    }

    #[test]
    fn what_is_not_a_readable_pdf_says_why() {
        assert_eq!(first_page_text(b"hello"), Err(PdfError::NotPdf));
        assert_eq!(first_page_text(b"%PDF-1.4\nnothing"), Err(PdfError::NoPage));
        let glyphs = pdf(b"BT <0003000400050006> Tj ET", false);
        assert_eq!(first_page_text(&glyphs), Err(PdfError::NoText));
        // Non-ASCII bytes where names and numbers belong, numbers past any size, a
        // stream named many times: no panic, bounded work.
        let odd = b"%PDF-1.5\n1 0 obj\n<< /Type /Catalog /Pages (\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9) >>\nendobj\n\
            2 0 obj\n<< /Type /ObjStm /N 2 /First 18446744073709551615 /Length 9 >>\nstream\n1 0 2 99999999999999999999\nendstream\nendobj\n\
            3 0 obj\n<< /Type /Page /Contents [4 0 R 4 0 R 4 0 R 4 0 R] >>\nendobj\n\
            4 0 obj\n<< /Length 20 >>\nstream\nBT (\xe9t\xe9) Tj ET\nendstream\nendobj\n";
        assert_eq!(first_page_text(odd).unwrap(), "\u{e9}t\u{e9}", "read once");
        // Truncated and garbled files end without a panic.
        let whole = pdf(b"BT (x) Tj ET", true);
        for cut in (0..whole.len()).step_by(7) {
            let _ = first_page_text(&whole[..cut]);
        }
    }
}
