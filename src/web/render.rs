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

/// Reads a raw message's first HTML and text parts; never fails (unparseable → empty).
pub fn safe_body(raw: &[u8]) -> SafeBody {
    let Some(msg) = mail_parser::MessageParser::default().parse(raw) else {
        return SafeBody {
            text: Some(String::from_utf8_lossy(raw).into_owned()),
            ..Default::default()
        };
    };
    let html_part = msg.html_part(0).filter(|p| p.is_text_html());
    let (html, blocked) = match html_part.and_then(|_| msg.body_html(0)) {
        Some(h) => {
            let (clean, n) = sanitize_html(&h);
            (Some(clean), n)
        }
        None => (None, 0),
    };
    let text = msg
        .text_part(0)
        .filter(|p| p.is_text() && !p.is_text_html())
        .and_then(|_| msg.body_text(0))
        .map(|t| t.into_owned());
    SafeBody {
        html,
        text,
        blocked,
    }
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
    fn text_mentioning_src_is_left_alone() {
        let (out, _) = sanitize_html("<p>set src = 1 and href=2</p>");
        assert!(out.contains("set src = 1 and href=2"), "{out}");
    }
}
