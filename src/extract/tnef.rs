//! Outlook TNEF (`winmail.dat`, `application/ms-tnef`): attachments and body unpacked.
//!
//! Format: a 4-byte signature, a 2-byte key, then attributes
//! `level:u8 id:u32 len:u32 data[len] checksum:u16`. Attachments start at
//! `attAttachRendData`; names come from `attAttachTitle` or the MAPI long filename;
//! the body from `attBody` or the MAPI `PR_BODY` / `PR_BODY_HTML` / `PR_RTF_COMPRESSED`.
//! Parsing is bounded by the input; malformed data ends the walk with a note.

const SIGNATURE: u32 = 0x223E_9F78;
const ATT_BODY: u16 = 0x800C;
const ATT_ATTACH_DATA: u16 = 0x800F;
const ATT_ATTACH_TITLE: u16 = 0x8010;
const ATT_ATTACH_REND_DATA: u16 = 0x9002;
const ATT_MAPI_PROPS: u16 = 0x9003;
const ATT_ATTACHMENT: u16 = 0x9005;

const PR_BODY: u16 = 0x1000;
const PR_RTF_COMPRESSED: u16 = 0x1009;
const PR_BODY_HTML: u16 = 0x1013;
const PR_ATTACH_DATA: u16 = 0x3701;
const PR_ATTACH_FILENAME: u16 = 0x3704;
const PR_ATTACH_LONG_FILENAME: u16 = 0x3707;
const PR_DISPLAY_NAME: u16 = 0x3001;

/// One file found inside TNEF.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TnefAttachment {
    pub name: Option<String>,
    pub data: Vec<u8>,
}

/// What a TNEF blob holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tnef {
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    /// Plain text recovered from the compressed RTF body.
    pub body_rtf_text: Option<String>,
    pub attachments: Vec<TnefAttachment>,
    pub notes: Vec<String>,
}

impl Tnef {
    /// The best body text available.
    pub fn body(&self) -> Option<String> {
        self.body_text
            .clone()
            .or_else(|| self.body_html.as_deref().map(super::html::html_to_text))
            .or_else(|| self.body_rtf_text.clone())
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|s| u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn pad4(&mut self, len: usize) {
        let pad = (4 - len % 4) % 4;
        self.pos = (self.pos + pad).min(self.b.len());
    }
}

/// True when `data` starts with the TNEF signature.
pub fn is_tnef(data: &[u8]) -> bool {
    data.len() >= 6 && u32::from_le_bytes([data[0], data[1], data[2], data[3]]) == SIGNATURE
}

/// Unpacks a TNEF blob. Never panics; problems become notes.
pub fn parse(data: &[u8]) -> Tnef {
    let mut out = Tnef::default();
    if !is_tnef(data) {
        out.notes.push("not a TNEF stream (bad signature)".into());
        return out;
    }
    let mut r = Reader { b: data, pos: 6 };
    let mut current: Option<TnefAttachment> = None;
    while r.pos < data.len() {
        let Some((level, id, payload)) = (|| {
            let level = r.u8()?;
            let id = r.u32()?;
            let len = r.u32()? as usize;
            let payload = r.take(len)?;
            r.u16()?; // checksum, not verified: a wrong one should not cost us the content
            Some((level, id, payload))
        })() else {
            out.notes.push(format!(
                "TNEF stream truncated or malformed at byte {}",
                r.pos
            ));
            break;
        };
        let code = (id & 0xFFFF) as u16;
        match (level, code) {
            (_, ATT_ATTACH_REND_DATA) => {
                if let Some(a) = current.take() {
                    out.attachments.push(a);
                }
                current = Some(TnefAttachment::default());
            }
            (_, ATT_ATTACH_TITLE) => {
                let a = current.get_or_insert_with(TnefAttachment::default);
                if a.name.is_none() {
                    a.name = Some(cstr(payload));
                }
            }
            (_, ATT_ATTACH_DATA) => {
                current.get_or_insert_with(TnefAttachment::default).data = payload.to_vec();
            }
            (_, ATT_ATTACHMENT) => {
                let a = current.get_or_insert_with(TnefAttachment::default);
                for (pid, value) in mapi_props(payload, &mut out.notes) {
                    match (pid, value) {
                        (PR_ATTACH_LONG_FILENAME, MapiValue::Text(s)) => a.name = Some(s),
                        (PR_ATTACH_FILENAME | PR_DISPLAY_NAME, MapiValue::Text(s))
                            if a.name.is_none() =>
                        {
                            a.name = Some(s)
                        }
                        (PR_ATTACH_DATA, MapiValue::Bytes(b)) if a.data.is_empty() => a.data = b,
                        _ => {}
                    }
                }
            }
            (1, ATT_BODY) => out.body_text = Some(cstr(payload)),
            (1, ATT_MAPI_PROPS) => {
                for (pid, value) in mapi_props(payload, &mut out.notes) {
                    match (pid, value) {
                        (PR_BODY, MapiValue::Text(s)) if out.body_text.is_none() => {
                            out.body_text = Some(s)
                        }
                        (PR_BODY_HTML, MapiValue::Text(s)) => out.body_html = Some(s),
                        (PR_BODY_HTML, MapiValue::Bytes(b)) => {
                            out.body_html = Some(String::from_utf8_lossy(&b).into_owned())
                        }
                        (PR_RTF_COMPRESSED, MapiValue::Bytes(b)) => match decompress_rtf(&b) {
                            Some(rtf) => out.body_rtf_text = Some(rtf_to_text(&rtf)),
                            None => out
                                .notes
                                .push("the compressed RTF body could not be decoded".into()),
                        },
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(a) = current.take() {
        out.attachments.push(a);
    }
    out.attachments
        .retain(|a| !a.data.is_empty() || a.name.is_some());
    out
}

enum MapiValue {
    Text(String),
    Bytes(Vec<u8>),
    Other,
}

/// MAPI property list: `count:u32` then `type:u16 id:u16 [name] value`.
fn mapi_props(data: &[u8], notes: &mut Vec<String>) -> Vec<(u16, MapiValue)> {
    let mut r = Reader { b: data, pos: 0 };
    let mut out = Vec::new();
    let Some(count) = r.u32() else { return out };
    for _ in 0..count.min(10_000) {
        match mapi_prop(&mut r) {
            Some(p) => out.push(p),
            None => {
                notes.push("TNEF MAPI property list is malformed; later properties skipped".into());
                break;
            }
        }
    }
    out
}

fn mapi_prop(r: &mut Reader<'_>) -> Option<(u16, MapiValue)> {
    let ptype = r.u16()?;
    let id = r.u16()?;
    if id >= 0x8000 {
        r.take(16)?; // property set GUID
        let kind = r.u32()?;
        if kind == 0 {
            r.u32()?;
        } else {
            let len = r.u32()? as usize;
            r.take(len)?;
            r.pad4(len);
        }
    }
    let multi = ptype & 0x1000 != 0;
    let base = ptype & 0x0FFF;
    let values = if multi || matches!(base, 0x1E | 0x1F | 0x102 | 0x0D) {
        r.u32()? as usize
    } else {
        1
    };
    let mut last = MapiValue::Other;
    for _ in 0..values.min(100_000) {
        last = match base {
            0x02 | 0x03 | 0x04 | 0x0A | 0x0B => {
                r.take(4)?;
                MapiValue::Other
            }
            0x05 | 0x06 | 0x07 | 0x14 | 0x40 => {
                r.take(8)?;
                MapiValue::Other
            }
            0x48 => {
                r.take(16)?;
                MapiValue::Other
            }
            0x1E | 0x1F | 0x102 | 0x0D => {
                let len = r.u32()? as usize;
                let bytes = r.take(len)?;
                r.pad4(len);
                match base {
                    0x1E => MapiValue::Text(cstr(bytes)),
                    0x1F => MapiValue::Text(utf16(bytes)),
                    0x0D => MapiValue::Bytes(bytes.get(16..).unwrap_or(&[]).to_vec()),
                    _ => MapiValue::Bytes(bytes.to_vec()),
                }
            }
            _ => return None,
        };
    }
    Some((id, last))
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let s = &b[..end];
    match std::str::from_utf8(s) {
        Ok(t) => t.to_string(),
        // Legacy TNEF strings are in the sender's ANSI code page, most often windows-1252.
        Err(_) => s.iter().map(|&c| c as char).collect(),
    }
}

fn utf16(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
    String::from_utf16_lossy(&units[..end])
}

const RTF_PREBUF: &[u8] = b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx";

/// Decompresses `PR_RTF_COMPRESSED` (MS-OXRTFCP: "LZFu" or uncompressed "MELA").
pub fn decompress_rtf(data: &[u8]) -> Option<Vec<u8>> {
    let mut r = Reader { b: data, pos: 0 };
    let _comp_size = r.u32()?;
    let raw_size = r.u32()? as usize;
    let magic = r.u32()?;
    let _crc = r.u32()?;
    let body = data.get(16..)?;
    match magic {
        0x414C_454D => Some(body.iter().take(raw_size).copied().collect()),
        0x7546_5A4C => {
            let mut dict = [0u8; 4096];
            dict[..RTF_PREBUF.len()].copy_from_slice(RTF_PREBUF);
            let mut write = RTF_PREBUF.len();
            let mut out = Vec::with_capacity(raw_size.min(16 << 20));
            let mut i = 0;
            'outer: while i < body.len() {
                let control = body[i];
                i += 1;
                for bit in 0..8 {
                    if control & (1 << bit) == 0 {
                        let Some(&c) = body.get(i) else { break 'outer };
                        i += 1;
                        out.push(c);
                        dict[write % 4096] = c;
                        write += 1;
                    } else {
                        let (Some(&hi), Some(&lo)) = (body.get(i), body.get(i + 1)) else {
                            break 'outer;
                        };
                        i += 2;
                        let offset = ((hi as usize) << 4) | ((lo as usize) >> 4);
                        let len = (lo as usize & 0xF) + 2;
                        if offset == write % 4096 {
                            break 'outer; // end marker
                        }
                        for k in 0..len {
                            let c = dict[(offset + k) % 4096];
                            out.push(c);
                            dict[write % 4096] = c;
                            write += 1;
                        }
                    }
                    if out.len() > raw_size.max(1) + 4096 {
                        break 'outer;
                    }
                }
            }
            Some(out)
        }
        _ => None,
    }
}

/// Crude RTF → text: groups that are destinations are skipped, `\par` and `\line` are
/// newlines, `\'hh` and `\uN` are decoded. For HTML wrapped in RTF (`\fromhtml`) the
/// `\htmlrtf` runs are dropped and the HTML is turned into text.
pub fn rtf_to_text(rtf: &[u8]) -> String {
    let s = rtf;
    let mut out = String::new();
    let mut i = 0;
    // Stack of "skip this group" flags.
    let mut skip: Vec<bool> = vec![false];
    let mut htmlrtf = false;
    let mut from_html = false;
    let mut uc_skip = 0usize;
    let skipping = |skip: &Vec<bool>| skip.last().copied().unwrap_or(false);
    while i < s.len() {
        let c = s[i];
        match c {
            b'{' => {
                let parent = skipping(&skip);
                // `{\*\dest ...}` and well-known destinations are not text.
                let rest = &s[i + 1..s.len().min(i + 16)];
                let dest = rest.starts_with(b"\\*")
                    || [
                        &b"\\fonttbl"[..],
                        b"\\colortbl",
                        b"\\stylesheet",
                        b"\\info",
                        b"\\pict",
                        b"\\header",
                        b"\\footer",
                    ]
                    .iter()
                    .any(|d| rest.starts_with(d));
                let htmltag = rest.starts_with(b"\\*\\htmltag");
                skip.push(if from_html && htmltag {
                    parent
                } else {
                    parent || dest
                });
                if from_html && htmltag {
                    // Skip the control word and its number; the group's text is HTML.
                    i += 1;
                    while i < s.len() && s[i] != b' ' && s[i] != b'{' && s[i] != b'}' {
                        if s[i] == b'\\'
                            && i > 0
                            && s[i - 1] != b'{'
                            && !s[i..].starts_with(b"\\*")
                            && !s[i..].starts_with(b"\\htmltag")
                        {
                            break;
                        }
                        i += 1;
                    }
                    continue;
                }
                i += 1;
            }
            b'}' => {
                if skip.len() > 1 {
                    skip.pop();
                }
                i += 1;
            }
            b'\\' => {
                i += 1;
                let Some(&n) = s.get(i) else { break };
                if n == b'\'' {
                    let hex = s
                        .get(i + 1..i + 3)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    i += 3;
                    if let Some(b) = hex {
                        if !skipping(&skip) && !htmlrtf {
                            if uc_skip > 0 {
                                uc_skip -= 1;
                            } else {
                                out.push(b as char);
                            }
                        }
                    }
                    continue;
                }
                if !n.is_ascii_alphabetic() {
                    if !skipping(&skip) && !htmlrtf && matches!(n, b'\\' | b'{' | b'}') {
                        out.push(n as char);
                    }
                    i += 1;
                    continue;
                }
                let start = i;
                while i < s.len() && s[i].is_ascii_alphabetic() {
                    i += 1;
                }
                let word = &s[start..i];
                let num_start = i;
                if i < s.len() && (s[i] == b'-' || s[i].is_ascii_digit()) {
                    i += 1;
                    while i < s.len() && s[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                let num: Option<i64> = std::str::from_utf8(&s[num_start..i])
                    .ok()
                    .and_then(|t| t.parse().ok());
                if i < s.len() && s[i] == b' ' {
                    i += 1;
                }
                match word {
                    b"fromhtml" => from_html = true,
                    b"htmlrtf" => htmlrtf = num != Some(0),
                    b"par" | b"line" if !skipping(&skip) && !htmlrtf => out.push('\n'),
                    b"tab" if !skipping(&skip) && !htmlrtf => out.push('\t'),
                    b"u" if !skipping(&skip) && !htmlrtf => {
                        if let Some(v) = num {
                            let v = if v < 0 { v + 65536 } else { v };
                            if let Some(ch) = char::from_u32(v as u32) {
                                out.push(ch);
                            }
                            uc_skip = 1;
                        }
                    }
                    _ => {}
                }
            }
            b'\r' | b'\n' => i += 1,
            _ => {
                if !skipping(&skip) && !htmlrtf {
                    if uc_skip > 0 {
                        uc_skip -= 1;
                    } else {
                        out.push(c as char);
                    }
                }
                i += 1;
            }
        }
    }
    if from_html {
        super::html::html_to_text(&out)
    } else {
        out.lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn corpus() -> Option<PathBuf> {
        let d = std::env::var_os("IGW_CORPUS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
        d.is_dir().then_some(d)
    }

    #[test]
    fn garbage_is_notes_not_panics() {
        for data in [
            &b""[..],
            b"\x78\x9f\x3e\x22\x01\x00",
            b"\x78\x9f\x3e\x22\x01\x00\x01\xff\xff\xff\xff\xff\xff\xff\xff",
        ] {
            let t = parse(data);
            assert!(t.attachments.is_empty());
        }
        assert!(decompress_rtf(b"short").is_none());
    }

    #[test]
    fn rtf_text_is_recovered() {
        let t = rtf_to_text(br"{\rtf1\ansi{\fonttbl{\f0 Arial;}}\f0 Hello\par caf\'e9 \u8217? ok}");
        assert_eq!(t, "Hello\ncaf\u{e9} \u{2019} ok");
    }

    /// The MimeKit TNEF samples list the attachment names each holds.
    #[test]
    fn mimekit_tnef_samples_yield_their_listed_files() {
        let Some(dir) = corpus() else {
            assert!(
                std::env::var("CI").map(|v| v != "true").unwrap_or(true),
                "corpus required under CI"
            );
            eprintln!("SKIP: corpus not found");
            return;
        };
        let dir = dir.join("mimekit");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("mimekit dir") {
            let p = entry.expect("entry").path();
            if p.extension().is_none_or(|e| e != "tnef") {
                continue;
            }
            let t = parse(&std::fs::read(&p).expect("read tnef"));
            let list = std::fs::read_to_string(p.with_extension("list")).unwrap_or_default();
            let names: Vec<String> = t
                .attachments
                .iter()
                .filter_map(|a| a.name.clone())
                .collect();
            for want in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
                // MimeKit's lists also name the bodies it writes (body.rtf, body.html).
                if want.starts_with("body.") {
                    continue;
                }
                assert!(
                    names.iter().any(|n| n == want),
                    "{}: {want} not in {names:?}",
                    p.display()
                );
            }
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} TNEF samples checked");
    }
}
