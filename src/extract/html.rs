//! HTML email bodies → readable plain text (Outlook, Gmail, mobile clients).
//!
//! A tolerant tokenizer, no DOM: block elements end lines, `li` gets "- ",
//! `blockquote` lines get "> ", links keep their target, `head`/`style`/`script`
//! content is dropped, entities are decoded.
//!
//! Bounded work for hostile input: one pass over the bytes (a tag's end is looked
//! for once, never rescanned from every `<`), at most [`MAX_QUOTE_PREFIX`] levels of
//! `"> "` per line, and at most [`MAX_TEXT_BYTES`] of text out.

/// Deepest blockquote nesting shown as its own `"> "` level; deeper levels share it.
pub const MAX_QUOTE_PREFIX: usize = 8;
/// Most text produced from one HTML body; the rest is not read.
pub const MAX_TEXT_BYTES: usize = 2 * 1024 * 1024;

/// Readable plain text from an HTML email body (at most [`MAX_TEXT_BYTES`]).
pub fn html_to_text(html: &str) -> String {
    html_to_text_bounded(html).0
}

/// Readable plain text, and whether it was cut at [`MAX_TEXT_BYTES`].
pub fn html_to_text_bounded(html: &str) -> (String, bool) {
    let mut out = String::new();
    let mut i = 0;
    let b = html.as_bytes();
    let mut skip_until: Option<&'static str> = None;
    let mut quote_depth = 0usize;
    let mut pre = 0usize;
    let mut link: Option<(String, usize)> = None;
    let mut tags = TagEnds::default();
    let mut truncated = false;
    while i < b.len() {
        if out.len() > MAX_TEXT_BYTES {
            truncated = true;
            break;
        }
        if b[i] == b'<' {
            // Comments (Outlook's conditional comments too), CDATA, doctype.
            if html[i..].starts_with("<!--") {
                i = html[i + 4..]
                    .find("-->")
                    .map(|e| i + 4 + e + 3)
                    .unwrap_or(b.len());
                continue;
            }
            if html[i..].starts_with("<!") || html[i..].starts_with("<?") {
                i = html[i..].find('>').map(|e| i + e + 1).unwrap_or(b.len());
                continue;
            }
            let Some(end) = tags.end(html, i) else {
                push_text(&mut out, "<", pre > 0);
                i += 1;
                continue;
            };
            let tag = &html[i + 1..end];
            i = end + 1;
            let closing = tag.starts_with('/');
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == ':')
                .collect::<String>()
                .to_ascii_lowercase();
            if name.is_empty() {
                push_text(&mut out, &format!("<{tag}>"), pre > 0);
                continue;
            }
            if let Some(until) = skip_until {
                if closing && name == until {
                    skip_until = None;
                }
                continue;
            }
            match name.as_str() {
                "head" | "style" | "script" | "title" | "xml" | "template" if !closing => {
                    skip_until = Some(match name.as_str() {
                        "head" => "head",
                        "style" => "style",
                        "script" => "script",
                        "title" => "title",
                        "xml" => "xml",
                        _ => "template",
                    });
                }
                "br" => newline(&mut out, quote_depth),
                // A closing paragraph always ends its line, so an empty one is a blank line.
                "p" if closing => newline(&mut out, quote_depth),
                "p" | "div" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "table" | "ul"
                | "ol" | "hr" | "section" | "article" | "header" | "footer" | "dl" | "dt"
                | "dd" => {
                    block(&mut out, quote_depth);
                }
                "li" if !closing => {
                    block(&mut out, quote_depth);
                    out.push_str("- ");
                }
                "td" | "th"
                    if !closing
                        && !out.ends_with('\n')
                        && !out.is_empty()
                        && !out.ends_with("> ") =>
                {
                    out.push_str(" | ");
                }
                "blockquote" => {
                    block(&mut out, quote_depth);
                    if closing {
                        quote_depth = quote_depth.saturating_sub(1);
                    } else {
                        quote_depth += 1;
                        // A fresh line's prefix is replaced, not extended: nested
                        // openings do not pile up prefixes.
                        if let Some(start) = fresh_line(&out) {
                            out.truncate(start);
                        }
                        out.push_str(&prefix(quote_depth));
                    }
                }
                "pre" => {
                    block(&mut out, quote_depth);
                    pre = if closing {
                        pre.saturating_sub(1)
                    } else {
                        pre + 1
                    };
                }
                "a" if !closing => {
                    let href = attr(tag, "href").unwrap_or_default();
                    link = Some((href, out.len()));
                }
                "a" => {
                    if let Some((href, start)) = link.take() {
                        let text = out.get(start..).unwrap_or("").trim().to_string();
                        let lower = href.to_ascii_lowercase();
                        let shown = lower.trim_start_matches("mailto:");
                        if (lower.starts_with("http") || lower.starts_with("mailto:"))
                            && !text.eq_ignore_ascii_case(&href)
                            && !text.eq_ignore_ascii_case(shown)
                        {
                            out.push_str(&format!(" <{}>", decode_entities(&href)));
                        }
                    }
                }
                "img" => {
                    if let Some(alt) = attr(tag, "alt").filter(|a| !a.trim().is_empty()) {
                        push_text(&mut out, &format!("[{}]", decode_entities(&alt)), false);
                    }
                }
                _ => {}
            }
            continue;
        }
        let next = html[i..].find('<').map(|e| i + e).unwrap_or(b.len());
        if skip_until.is_none() {
            let text = decode_entities(&html[i..next]);
            if pre > 0 {
                out.push_str(&text);
            } else {
                push_text(&mut out, &text, false);
            }
        }
        i = next;
    }
    (tidy(&out), truncated)
}

/// Finds where tags end in one pass over the document.
///
/// A tag ends at the first `>` outside quotes. When a quote is never closed the scan
/// reaches the end of the input once; from then on quotes are ignored and the next `>`
/// (remembered, so found once) ends each tag. Without `>` after a `<` it is text.
#[derive(Default)]
struct TagEnds {
    /// A quoted scan ran off the end: quotes no longer count.
    quotes_broken: bool,
    /// The next `>` at or after the position it was looked up from; `None` = none left.
    next_gt: Option<Option<usize>>,
}

impl TagEnds {
    fn end(&mut self, html: &str, start: usize) -> Option<usize> {
        let b = html.as_bytes();
        // `<` followed by a space or digit is text, not a tag.
        if b.get(start + 1)
            .is_none_or(|c| !(c.is_ascii_alphabetic() || *c == b'/'))
        {
            return None;
        }
        if !self.quotes_broken {
            let mut quote: Option<u8> = None;
            for (j, &c) in b.iter().enumerate().skip(start + 1) {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (None, b'"') | (None, b'\'') => quote = Some(c),
                    (None, b'>') => return Some(j),
                    _ => {}
                }
            }
            self.quotes_broken = true;
        }
        match self.next_gt {
            Some(Some(p)) if p > start => Some(p),
            Some(None) => None,
            _ => {
                let found = b[start..]
                    .iter()
                    .position(|&c| c == b'>')
                    .map(|p| start + p);
                self.next_gt = Some(found);
                found
            }
        }
    }
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(p) = lower[from..].find(name) {
        let at = from + p;
        from = at + name.len();
        let before_ok = at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace();
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let off = tag.len() - rest.len() + 1;
        let val = tag[off..].trim_start();
        return Some(match val.chars().next() {
            Some(q @ ('"' | '\'')) => val[1..].split(q).next().unwrap_or("").to_string(),
            _ => val
                .split(|c: char| c.is_whitespace() || c == '>')
                .next()
                .unwrap_or("")
                .to_string(),
        });
    }
    None
}

fn push_text(out: &mut String, text: &str, keep: bool) {
    if keep {
        out.push_str(text);
        return;
    }
    let collapsed: String = text
        .chars()
        .map(|c| {
            if c.is_whitespace() || c == '\u{a0}' {
                ' '
            } else {
                c
            }
        })
        .collect();
    let mut last_space = out.ends_with(' ') || out.ends_with('\n') || out.is_empty();
    for c in collapsed.chars() {
        if c == ' ' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
}

/// The `"> "` prefix of a line at a quote depth (capped at [`MAX_QUOTE_PREFIX`]).
fn prefix(depth: usize) -> String {
    "> ".repeat(depth.min(MAX_QUOTE_PREFIX))
}

/// Where the current line starts, when it holds nothing but a quote prefix. Looks at
/// the last few bytes only, so a long line costs nothing here.
fn fresh_line(out: &str) -> Option<usize> {
    let b = out.as_bytes();
    let from = b.len().saturating_sub(2 * MAX_QUOTE_PREFIX + 1);
    let start = match b[from..].iter().rposition(|&c| c == b'\n') {
        Some(p) => from + p + 1,
        None if from == 0 => 0,
        None => return None,
    };
    b[start..]
        .iter()
        .all(|&c| c == b'>' || c == b' ')
        .then_some(start)
}

fn newline(out: &mut String, depth: usize) {
    while out.ends_with(' ') {
        out.pop();
    }
    out.push('\n');
    out.push_str(&prefix(depth));
}

/// Ends the current line unless it is empty or holds just this depth's prefix.
fn block(out: &mut String, depth: usize) {
    let fresh = fresh_line(out).is_some_and(|s| s == out.len() || out[s..] == prefix(depth));
    if !fresh {
        newline(out, depth);
    }
}

fn tidy(s: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut blank = 0;
    for line in s.lines() {
        let l = line.trim_end().to_string();
        let is_blank = l.trim_start_matches(['>', ' ']).is_empty();
        if is_blank {
            blank += 1;
            if blank > 1 {
                continue;
            }
            lines.push(String::new());
        } else {
            blank = 0;
            lines.push(l.trim_start_matches(' ').to_string());
        }
    }
    let text = lines.join("\n").trim().to_string();
    if text.is_empty() {
        text
    } else {
        text + "\n"
    }
}

/// Decodes named and numeric character references; unknown ones stay as written.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        let end = rest[1..].find(';').map(|e| e + 1).filter(|e| *e <= 12);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let ch = if let Some(num) = name.strip_prefix('#') {
                let n = if let Some(h) = num.strip_prefix(['x', 'X']) {
                    u32::from_str_radix(h, 16).ok()
                } else {
                    num.parse().ok()
                };
                n.and_then(char::from_u32).map(|c| c.to_string())
            } else {
                named(name).map(String::from)
            };
            ch.map(|c| (c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push_str(&c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn named(n: &str) -> Option<&'static str> {
    Some(match n {
        "nbsp" => " ",
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "rsquo" => "\u{2019}",
        "lsquo" => "\u{2018}",
        "ldquo" => "\u{201c}",
        "rdquo" => "\u{201d}",
        "ndash" => "\u{2013}",
        "mdash" => "\u{2014}",
        "hellip" => "\u{2026}",
        "bull" => "\u{2022}",
        "middot" => "\u{b7}",
        "copy" => "\u{a9}",
        "reg" => "\u{ae}",
        "trade" => "\u{2122}",
        "euro" => "\u{20ac}",
        "pound" => "\u{a3}",
        "eacute" => "\u{e9}",
        "egrave" => "\u{e8}",
        "agrave" => "\u{e0}",
        "aacute" => "\u{e1}",
        "iacute" => "\u{ed}",
        "oacute" => "\u{f3}",
        "uacute" => "\u{fa}",
        "ccedil" => "\u{e7}",
        "ouml" => "\u{f6}",
        "uuml" => "\u{fc}",
        "auml" => "\u{e4}",
        "szlig" => "\u{df}",
        "ntilde" => "\u{f1}",
        "deg" => "\u{b0}",
        "sect" => "\u{a7}",
        "times" => "\u{d7}",
        "zwnj" | "zwj" | "shy" => "",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outlook_paragraphs_and_reply_divider() {
        let h = r#"<html><head><style>p.MsoNormal{margin:0}</style></head><body><div class=WordSection1>
<p class=MsoNormal>Hi SOC,<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>
<p class=MsoNormal>We clicked a link&nbsp;at 9:40 &#8211; sorry.<o:p></o:p></p>
<div style="border:none;border-top:solid #E1E1E1 1.0pt"><p class=MsoNormal><b>From:</b> IT Desk &lt;it@evil.test&gt;<br><b>Sent:</b> Tuesday<br><b>To:</b> Jane<br><b>Subject:</b> Reset</p></div></div></body></html>"#;
        let t = html_to_text(h);
        assert_eq!(t, "Hi SOC,\n\nWe clicked a link at 9:40 \u{2013} sorry.\nFrom: IT Desk <it@evil.test>\nSent: Tuesday\nTo: Jane\nSubject: Reset\n");
    }

    #[test]
    fn gmail_quote_lists_links_and_tables() {
        let h = r#"<div dir="ltr">Look:<ul><li>one</li><li><a href="https://x.test/a">here</a></li></ul><table><tr><td>a</td><td>b</td></tr></table><div class="gmail_quote"><div class="gmail_attr">On Mon, Bob wrote:<br></div><blockquote class="gmail_quote">old text<br>more</blockquote></div></div>"#;
        let t = html_to_text(h);
        assert!(t.contains("- one\n- here <https://x.test/a>"), "{t}");
        assert!(t.contains("a | b"), "{t}");
        assert!(t.contains("On Mon, Bob wrote:\n> old text\n> more"), "{t}");
    }

    #[test]
    fn nesting_bombs_stay_small() {
        // 3,000 nested quotes: one capped prefix, not 3,000 "> " per line.
        let nested = format!("{}deep text", "<blockquote>".repeat(3_000));
        let t = html_to_text(&nested);
        assert_eq!(t, format!("{}deep text\n", "> ".repeat(MAX_QUOTE_PREFIX)));
        // Two levels still read as two levels.
        assert_eq!(
            html_to_text("<blockquote>a<blockquote>b</blockquote></blockquote>"),
            "> a\n> > b\n"
        );
        // Output is capped, and says so.
        let (t, cut) = html_to_text_bounded(&"<p>word</p>".repeat(MAX_TEXT_BYTES / 4));
        assert!(cut && t.len() <= MAX_TEXT_BYTES + 64, "{}", t.len());
    }

    #[test]
    fn unclosed_tags_are_text_and_read_once() {
        // Each `<a` without `>` is text; the scan for `>` is not repeated per `<`.
        let t = html_to_text(&"<a".repeat(100_000));
        assert_eq!(t.len(), 200_001);
        assert_eq!(html_to_text("<a title=\"x>y<b>bold</b>"), "ybold\n");
        assert_eq!(html_to_text("<b>x</b> <a \"unclosed"), "x <a \"unclosed\n");
    }

    #[test]
    fn malformed_and_hostile_input() {
        assert_eq!(html_to_text(""), "");
        assert_eq!(
            html_to_text("<script>alert(1)</script>a < b > c<b"),
            "a < b > c<b\n"
        );
        assert_eq!(
            html_to_text("<p class=x>unquoted <i>ok</p"),
            "unquoted ok</p\n"
        );
        assert_eq!(
            decode_entities("&amp;&bogus; &#x2019;&#8217;&"),
            "&&bogus; \u{2019}\u{2019}&"
        );
    }
}
