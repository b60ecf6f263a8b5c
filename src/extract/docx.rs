//! The text of a Word document (`.docx`): the zip's `word/document.xml`, inflated
//! within a budget, its runs' text (`<w:t>`) with a line per paragraph. Pure and
//! bounded; nothing in the file is run, fields and macros are never evaluated.

use std::io::Read;

/// The most of `word/document.xml` inflated.
pub const MAX_XML: usize = 4 << 20;
/// The most characters of text returned.
pub const MAX_TEXT: usize = 8_000;

/// Why there is no text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocxError {
    #[error("it is not a zip file (a .docx is one)")]
    NotZip,
    #[error("it has no word/document.xml")]
    NoDocument,
    #[error("its document is stored in a way this reader does not read")]
    Unreadable,
}

/// The document's text, a line per paragraph.
pub fn text(docx: &[u8]) -> Result<String, DocxError> {
    if !docx.starts_with(b"PK\x03\x04") {
        return Err(DocxError::NotZip);
    }
    let xml = document_xml(docx)?;
    Ok(xml_text(&xml))
}

/// `word/document.xml`, found by its local file header (the central directory names
/// the same sizes; a header without them is refused).
fn document_xml(zip: &[u8]) -> Result<Vec<u8>, DocxError> {
    const NAME: &[u8] = b"word/document.xml";
    let mut at = 0;
    while at + 30 <= zip.len() {
        let Some(found) = zip[at..].windows(4).position(|w| w == b"PK\x03\x04") else {
            break;
        };
        let h = at + found;
        if h + 30 > zip.len() {
            break;
        }
        let u16_at = |o: usize| u16::from_le_bytes([zip[h + o], zip[h + o + 1]]) as usize;
        let u32_at = |o: usize| {
            u32::from_le_bytes([zip[h + o], zip[h + o + 1], zip[h + o + 2], zip[h + o + 3]])
                as usize
        };
        let (flags, method, size) = (u16_at(6), u16_at(8), u32_at(18));
        let (name_len, extra_len) = (u16_at(26), u16_at(28));
        let name_end = h + 30 + name_len;
        if name_end > zip.len() {
            break;
        }
        if &zip[h + 30..name_end] != NAME {
            at = h + 4;
            continue;
        }
        // Sizes only in a data descriptor after the data (bit 3): not read here.
        if flags & 0x08 != 0 && size == 0 {
            return Err(DocxError::Unreadable);
        }
        let start = name_end + extra_len;
        let end = start.checked_add(size).ok_or(DocxError::Unreadable)?;
        let data = zip.get(start..end).ok_or(DocxError::Unreadable)?;
        return match method {
            0 => Ok(data[..data.len().min(MAX_XML)].to_vec()),
            8 => {
                let mut out = Vec::new();
                flate2::read::DeflateDecoder::new(data)
                    .take(MAX_XML as u64)
                    .read_to_end(&mut out)
                    .map_err(|_| DocxError::Unreadable)?;
                Ok(out)
            }
            _ => Err(DocxError::Unreadable),
        };
    }
    Err(DocxError::NoDocument)
}

/// The text of the runs, a line per paragraph and per table row, tabs kept.
fn xml_text(xml: &[u8]) -> String {
    let xml = String::from_utf8_lossy(xml);
    let mut out = String::new();
    // Inside a table cell, paragraphs run on; cells are " | " apart, a row a line (as
    // the HTML reader writes tables).
    let mut in_cell = 0usize;
    let mut rest: &str = &xml;
    while let Some(lt) = rest.find('<') {
        let Some(gt) = rest[lt..].find('>') else {
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        rest = &rest[lt + gt + 1..];
        let name = tag
            .trim_start_matches('/')
            .split([' ', '/'])
            .next()
            .unwrap_or("");
        match name {
            "w:t" if !tag.starts_with('/') && !tag.ends_with('/') => {
                let end = rest.find("</w:t>").unwrap_or(rest.len());
                out.push_str(&unescape(&rest[..end]));
                rest = &rest[end..];
            }
            "w:tab" => out.push('\t'),
            "w:br" | "w:cr" => out.push('\n'),
            "w:tc" if !tag.starts_with('/') => {
                if !out.is_empty() && !out.ends_with('\n') {
                    let kept = out.trim_end_matches(' ').len();
                    out.truncate(kept);
                    out.push_str(" | ");
                }
                in_cell += 1;
            }
            "w:tc" => in_cell = in_cell.saturating_sub(1),
            "w:tr" if tag.starts_with('/') => out.push('\n'),
            "w:p"
                if tag.starts_with('/')
                    && in_cell > 0
                    && !out.ends_with(' ')
                    && !out.ends_with('\n') =>
            {
                out.push(' ')
            }
            "w:p" if tag.starts_with('/') && in_cell == 0 => out.push('\n'),
            _ => {}
        }
        if out.chars().count() >= MAX_TEXT {
            break;
        }
    }
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    let mut text = String::new();
    for l in lines {
        if l.trim().is_empty() && text.ends_with("\n\n") {
            continue;
        }
        text.push_str(l);
        text.push('\n');
    }
    text.trim().chars().take(MAX_TEXT).collect()
}

/// XML's five entities and numeric references.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let tail = &rest[amp..];
        let Some(semi) = tail.find(';').filter(|&i| i <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..semi];
        let ch = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &tail[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A zip with one file, stored (`deflate` false) or deflated.
    fn zip_of(name: &str, data: &[u8], deflate: bool) -> Vec<u8> {
        let body = if deflate {
            let mut z =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(data).unwrap();
            z.finish().unwrap()
        } else {
            data.to_vec()
        };
        let mut out = b"PK\x03\x04".to_vec();
        out.extend_from_slice(&20u16.to_le_bytes()); // version
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&(if deflate { 8u16 } else { 0 }).to_le_bytes());
        out.extend_from_slice(&[0; 8]); // time, date, crc
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&body);
        out
    }

    const XML: &str = r#"<?xml version="1.0"?><w:document><w:body>
        <w:p><w:r><w:t>Incident report &amp; form</w:t></w:r></w:p>
        <w:p><w:r><w:t xml:space="preserve">Phone: </w:t></w:r><w:r><w:t>617-555-0117</w:t></w:r></w:p>
        <w:tbl><w:tr><w:tc><w:p><w:r><w:t>Agency</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>DLS</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
        </w:body></w:document>"#;

    #[test]
    fn a_documents_paragraphs_and_cells_are_lines() {
        for deflate in [false, true] {
            let docx = zip_of("word/document.xml", XML.as_bytes(), deflate);
            assert_eq!(
                text(&docx).unwrap(),
                "Incident report & form\nPhone: 617-555-0117\nAgency | DLS",
                "{deflate}"
            );
        }
    }

    #[test]
    fn what_is_not_a_readable_docx_says_why() {
        assert_eq!(text(b"hello"), Err(DocxError::NotZip));
        assert_eq!(
            text(&zip_of("other.xml", b"x", false)),
            Err(DocxError::NoDocument)
        );
        let whole = zip_of("word/document.xml", XML.as_bytes(), true);
        for cut in 0..whole.len() {
            let _ = text(&whole[..cut]);
        }
        assert_eq!(
            unescape("a &#x263A; &#9731; &bogus; &"),
            "a \u{263a} \u{2603} &bogus; &"
        );
    }
}
