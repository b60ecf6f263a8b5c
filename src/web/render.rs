//! Showing a stored message safely: HTML through ammonia with every URL-bearing
//! attribute removed, so nothing remote loads until an analyst clicks.

use std::collections::HashSet;
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

/// A message body as the case page shows it.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SafeBody {
    /// Sanitised HTML (safe to insert unescaped), when the message has an HTML part.
    pub html: Option<String>,
    /// The plain-text part, escaped by the template.
    pub text: Option<String>,
    /// How many remote images and links were blocked.
    pub blocked: usize,
}

/// Attributes that load or point somewhere; never kept as such.
const URL_ATTRIBUTES: &[&str] = &[
    "src",
    "href",
    "srcset",
    "cite",
    "background",
    "longdesc",
    "action",
    "formaction",
    "poster",
    "usemap",
];

fn tag_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"<[^<>]*>").unwrap_or_else(|_| unreachable!()))
}

fn url_attr_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?i)(\s)(src|href)(\s*=)").unwrap_or_else(|_| unreachable!()))
}

/// Sanitises hostile HTML. `src` and `href` survive only renamed to
/// `data-blocked-src` / `data-blocked-href` (the page's script turns a click into a
/// link the analyst chooses to open); everything else that loads is dropped.
pub fn sanitize_html(html: &str) -> (String, usize) {
    let mut blocked = 0usize;
    let renamed = tag_re().replace_all(html, |c: &regex::Captures<'_>| {
        let tag = &c[0];
        let out = url_attr_re().replace_all(tag, "${1}data-blocked-${2}${3}");
        if out != tag {
            blocked += url_attr_re().find_iter(tag).count();
        }
        out.into_owned()
    });
    let mut prefixes = HashSet::new();
    prefixes.insert("data-blocked-");
    let clean = ammonia::Builder::default()
        .generic_attribute_prefixes(prefixes)
        .link_rel(Some("noopener noreferrer nofollow"))
        .attribute_filter(|_element, attribute, value| {
            if URL_ATTRIBUTES.contains(&attribute) {
                None
            } else {
                Some(value.into())
            }
        })
        .clean(&renamed)
        .to_string();
    (clean, blocked)
}

/// Most bytes of one HTML or text part shown on the case page (the raw message, a
/// download away, keeps everything).
pub const MAX_SHOWN_BYTES: usize = 1024 * 1024;

/// [`safe_body`] on the blocking pool within `secs`, so a hostile message cannot stall
/// the web server (or `/healthz`); past the budget the page says so instead.
pub async fn safe_body_in_budget(raw: Vec<u8>, secs: u64) -> SafeBody {
    crate::extract::bounds::in_budget(secs, move || safe_body(&raw))
        .await
        .unwrap_or_else(|why| withheld(&format!("reading it failed: {why}")))
}

fn withheld(reason: &str) -> SafeBody {
    SafeBody {
        text: Some(format!(
            "(The body of this message is not shown: {reason}. Download the raw message to read it.)"
        )),
        ..Default::default()
    }
}

/// Reads a raw message's first HTML and text parts; never fails (unparseable → empty).
/// Messages the intake pre-scan would not parse whole are not parsed here either.
pub fn safe_body(raw: &[u8]) -> SafeBody {
    if let Some(reason) = crate::extract::bounds::check(raw) {
        return withheld(&reason);
    }
    let Some(msg) = mail_parser::MessageParser::default().parse(raw) else {
        return SafeBody {
            text: Some(shown(&String::from_utf8_lossy(raw)).to_string()),
            ..Default::default()
        };
    };
    let html_part = msg.html_part(0).filter(|p| p.is_text_html());
    let (html, blocked) = match html_part.and_then(|_| msg.body_html(0)) {
        Some(h) => {
            let (clean, n) = sanitize_html(shown(&h));
            (Some(clean), n)
        }
        None => (None, 0),
    };
    let text = msg
        .text_part(0)
        .filter(|p| p.is_text() && !p.is_text_html())
        .and_then(|_| msg.body_text(0))
        .map(|t| shown(&t).to_string());
    SafeBody {
        html,
        text,
        blocked,
    }
}

/// At most [`MAX_SHOWN_BYTES`] of a part, cut at a character boundary.
fn shown(s: &str) -> &str {
    crate::extract::prefix_of(s, MAX_SHOWN_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_remote_loads_are_gone() {
        let (out, n) = sanitize_html(
            r#"<p onclick="x()">hi<script>alert(1)</script><img src=x onerror=alert(1)>
            <a href="https://evil.test/x">link</a><img SRC = "https://t.test/p.gif">
            <style>body{}</style><iframe src="https://a"></iframe></p>"#,
        );
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("alert(1)</script>"), "{out}");
        assert!(!out.contains("onerror"), "{out}");
        assert!(!out.contains("onclick"), "{out}");
        assert!(!out.contains(" src="), "{out}");
        assert!(!out.contains(" href="), "{out}");
        assert!(!out.contains("<iframe"), "{out}");
        assert!(
            out.contains(r#"data-blocked-href="https://evil.test/x""#),
            "{out}"
        );
        assert!(
            out.contains(r#"data-blocked-src="https://t.test/p.gif""#),
            "{out}"
        );
        assert_eq!(n, 4);
    }

    #[test]
    fn hostile_shapes_are_not_parsed_and_big_bodies_are_cut() {
        let raw = crate::extract::bounds::boundary_clash(600);
        let body = safe_body(raw.as_bytes());
        assert!(body.html.is_none());
        let text = body.text.unwrap_or_default();
        assert!(
            text.contains("not shown") && text.contains("601 MIME boundary parameters"),
            "{text}"
        );
        let nested = format!(
            "Content-Type: text/html\r\n\r\n{}x",
            "<blockquote>".repeat(17_000)
        );
        let body = safe_body(nested.as_bytes());
        assert!(body.html.is_some_and(|h| h.len() <= 2 * MAX_SHOWN_BYTES));
        let long = format!("Subject: x\r\n\r\n{}", "a".repeat(3 * MAX_SHOWN_BYTES));
        assert_eq!(
            safe_body(long.as_bytes()).text.map(|t| t.len()),
            Some(MAX_SHOWN_BYTES)
        );
    }

    #[test]
    fn text_mentioning_src_is_left_alone() {
        let (out, _) = sanitize_html("<p>set src = 1 and href=2</p>");
        assert!(out.contains("set src = 1 and href=2"), "{out}");
    }
}
