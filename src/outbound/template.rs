//! Outbound mail templates: Markdown with a front-matter subject, rendered to a plain
//! text part that reads well on its own and an HTML part.

use std::sync::LazyLock;

use minijinja::{AutoEscape, Environment, State, UndefinedBehavior, Value};
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use serde::Serialize;

/// A template problem: a bug in `templates/`, reported with the template's name.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("email template '{name}' is malformed: {message}")]
    Malformed { name: String, message: String },
    #[error("email template '{name}' failed to render: {source}")]
    Render {
        name: String,
        source: minijinja::Error,
    },
}

/// The rendered parts of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Email templates compiled into the binary (so it runs from any directory).
const TEMPLATES: &[(&str, &str)] = &[
    ("ack", include_str!("../../templates/email/ack.md")),
    (
        "followup",
        include_str!("../../templates/email/followup.md"),
    ),
    ("receipt", include_str!("../../templates/email/receipt.md")),
    (
        "reminder",
        include_str!("../../templates/email/reminder.md"),
    ),
    (
        "scio_new",
        include_str!("../../templates/email/scio_new.md"),
    ),
    (
        "scio_update",
        include_str!("../../templates/email/scio_update.md"),
    ),
    (
        "escalation",
        include_str!("../../templates/email/escalation.md"),
    ),
    (
        "major_incident",
        include_str!("../../templates/email/major_incident.md"),
    ),
    (
        "soc_notice",
        include_str!("../../templates/email/soc_notice.md"),
    ),
    ("trends", include_str!("../../templates/email/trends.md")),
    (
        "scio_campaign",
        include_str!("../../templates/email/scio_campaign.md"),
    ),
    ("closure", include_str!("../../templates/email/closure.md")),
    ("merged", include_str!("../../templates/email/merged.md")),
];

/// The set of email templates.
pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

/// The bodies' escaping: every value printed into a body is text, not Markdown.
const MARKDOWN: AutoEscape = AutoEscape::Custom("markdown");

/// Subjects are rendered as templates of this name suffix: a header, not Markdown.
const SUBJECT: &str = ".subject";

impl Templates {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Every value is escaped by default: a subject, a display name, a field value is
        // someone else's text, and our Markdown must not read it as links, images or
        // HTML. Our own Markdown opts out explicitly with `| safe` (the analyst's update).
        env.set_auto_escape_callback(|name| {
            if name.ends_with(SUBJECT) {
                AutoEscape::None
            } else {
                MARKDOWN
            }
        });
        env.set_formatter(|out, state, value| {
            if state.auto_escape() == MARKDOWN && !value.is_safe() {
                out.write_str(&text_for_markdown(&value.to_string()))?;
                Ok(())
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        // `{{ x | md }}`: the default escaping, spelled out (kept where templates say it).
        env.add_filter("md", |state: &State, s: String| {
            escaped(state, s, text_for_markdown)
        });
        // `{{ x | code }}`: text for a fenced block; a fence inside cannot close it, and
        // its URLs are defanged (a client links them in the plain part).
        env.add_filter("code", |state: &State, s: String| {
            escaped(state, s, |s| defang(s).replace("```", "'''"))
        });
        for (name, text) in TEMPLATES {
            // Names and sources are static; a syntax error is caught by the unit tests.
            let _ = env.add_template(name, text);
        }
        Self { env }
    }

    /// Renders template `name` with `ctx`.
    pub fn render<S: Serialize>(&self, name: &str, ctx: S) -> Result<Rendered, TemplateError> {
        let source = TEMPLATES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
            .ok_or_else(|| TemplateError::Malformed {
                name: name.into(),
                message: "no such template".into(),
            })?;
        let (front, _) = split_front_matter(source).ok_or_else(|| TemplateError::Malformed {
            name: name.into(),
            message: "missing '---' front matter with a subject".into(),
        })?;
        let subject_tpl = front
            .lines()
            .find_map(|l| l.strip_prefix("subject:"))
            .map(|s| s.trim().trim_matches('"').to_string())
            .ok_or_else(|| TemplateError::Malformed {
                name: name.into(),
                message: "front matter has no 'subject:'".into(),
            })?;
        let render_err = |source| TemplateError::Render {
            name: name.into(),
            source,
        };
        let tpl = self.env.get_template(name).map_err(render_err)?;
        let full = tpl.render(&ctx).map_err(render_err)?;
        let body = split_front_matter(&full).map(|(_, b)| b).unwrap_or(&full);
        let subject_name = format!("{name}{SUBJECT}");
        let subject = self
            .env
            .render_named_str(&subject_name, &subject_tpl, &ctx)
            .map_err(render_err)?;
        Ok(Rendered {
            subject: crate::extract::clean_header(&subject),
            text: markdown_to_text(body),
            html: markdown_to_html(body),
        })
    }
}

/// A time as our mail shows it: "Wed 25 Nov 2026 09:15 EST", in Massachusetts.
pub fn local_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono_tz::America::New_York)
        .format("%a %-d %b %Y %H:%M %Z")
        .to_string()
}

/// A filter's result: escaped and marked safe in a body (so the formatter does not
/// escape it twice), unchanged in a subject.
fn escaped(state: &State, s: String, escape: impl Fn(&str) -> String) -> Value {
    if state.auto_escape() == MARKDOWN {
        Value::from_safe_string(escape(&s))
    } else {
        Value::from(s)
    }
}

/// Someone else's text, ready to be printed into Markdown: URLs defanged, then every
/// Markdown and HTML character escaped.
fn text_for_markdown(s: &str) -> String {
    md_escape(&defang(s))
}

static SCHEME: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"(?i)\b(?:(h)tt(ps?)|([a-z][a-z0-9+.-]*)):(//)?").expect("static regex")
});
static HOST: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r"[\p{L}\p{N}](?:[\p{L}\p{N}_-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}_-]*[\p{L}\p{N}])?)*\.\p{L}[\p{L}\p{N}-]*[\p{L}\p{N}]",
    )
    .expect("static regex")
});

/// Makes URLs and host names in someone else's text unclickable in any mail client, as
/// a SOC writes indicators: `https://evil.example/x` → `hxxps://evil[.]example/x`,
/// `www.evil.example` → `www[.]evil[.]example`, `javascript:` → `javascript[:]`. Outlook
/// and Gmail link such text even in a plain-text part. Email addresses are left alone
/// (a client makes them `mailto:` at most, which opens no page).
pub fn defang(s: &str) -> String {
    let schemes = SCHEME.replace_all(s, |c: &regex::Captures<'_>| {
        match (c.get(1), c.get(2), c.get(3), c.get(4)) {
            // http, https: the usual hxxp.
            (Some(h), Some(ps), _, slashes) => format!(
                "{}xx{}:{}",
                h.as_str(),
                ps.as_str(),
                slashes.map(|m| m.as_str()).unwrap_or("")
            ),
            // ftp://, file://, and the script-like schemes without slashes.
            (_, _, Some(name), slashes)
                if slashes.is_some()
                    || ["javascript", "vbscript", "data"]
                        .contains(&name.as_str().to_ascii_lowercase().as_str()) =>
            {
                format!(
                    "{}[:]{}",
                    name.as_str(),
                    slashes.map(|m| m.as_str()).unwrap_or("")
                )
            }
            _ => c[0].to_string(),
        }
    });
    let bytes = schemes.as_bytes();
    HOST.replace_all(&schemes, |c: &regex::Captures<'_>| {
        let m = c.get(0).map(|m| (m.start(), m.end(), m.as_str()));
        let Some((start, end, host)) = m else {
            return String::new();
        };
        // Part of an email address: `jane.doe@agency.gov` stays as written.
        let by_at = (start > 0 && bytes[start - 1] == b'@') || bytes.get(end) == Some(&b'@');
        if by_at {
            host.to_string()
        } else {
            host.replace('.', "[.]")
        }
    })
    .into_owned()
}

/// Backslash-escapes ASCII punctuation that Markdown would read as syntax, and turns
/// line breaks into spaces, so a value is shown as the text it is.
pub fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '<' | '>' | '(' | ')' | '#' | '+'
            | '-' | '.' | '!' | '|' | '~' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

fn split_front_matter(s: &str) -> Option<(&str, &str)> {
    let rest = s.strip_prefix("---\n")?;
    let end = rest.find("\n---\n")?;
    Some((&rest[..end], &rest[end + 5..]))
}

const PRE_WRAP: &str =
    "<pre style=\"white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word;\">";

/// HTML from Markdown. Raw HTML in the source (including anything a reporter put in a
/// subject we quote) is shown as text, never passed through.
pub fn markdown_to_html(md: &str) -> String {
    let parser = Parser::new_ext(md, Options::ENABLE_TABLES).map(|ev| match ev {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        other => other,
    });
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, parser);
    // Quoted report text wraps at the reader's width (Outlook, phones) instead of
    // running one long line off the side.
    let body = body.replace("<pre>", PRE_WRAP);
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n<body style=\"font-family: Arial, Helvetica, sans-serif; font-size: 14px;\">\n{body}</body></html>\n"
    )
}

/// Plain text from Markdown: emphasis markers dropped, lists kept, links as `text <url>`,
/// paragraphs re-flowed to 76 columns.
pub fn markdown_to_text(md: &str) -> String {
    let mut out = String::new();
    let mut para = String::new();
    let mut list_depth = 0usize;
    let mut in_code = false;
    let mut link_stack: Vec<String> = Vec::new();
    let mut heading: Option<HeadingLevel> = None;

    let flush = |out: &mut String, para: &mut String, prefix: &str| {
        let text = para.trim();
        if !text.is_empty() {
            out.push_str(&wrap(text, 76, prefix));
            out.push('\n');
        }
        para.clear();
    };

    for ev in Parser::new_ext(md, Options::ENABLE_TABLES) {
        match ev {
            Event::Start(Tag::Heading { level, .. }) => heading = Some(level),
            Event::End(TagEnd::Heading(_)) => {
                let t = para.trim().to_string();
                para.clear();
                out.push_str(&t);
                out.push('\n');
                let ch = if heading == Some(HeadingLevel::H1) {
                    '='
                } else {
                    '-'
                };
                out.push_str(&ch.to_string().repeat(t.chars().count()));
                out.push_str("\n\n");
                heading = None;
            }
            Event::Start(Tag::Paragraph) => {}
            Event::End(TagEnd::Paragraph) => {
                if list_depth > 0 {
                    continue;
                }
                flush(&mut out, &mut para, "");
                out.push('\n');
            }
            Event::Start(Tag::List(_)) => list_depth += 1,
            Event::End(TagEnd::List(_)) => {
                list_depth = list_depth.saturating_sub(1);
                if list_depth == 0 {
                    out.push('\n');
                }
            }
            Event::Start(Tag::Item) => para.clear(),
            Event::End(TagEnd::Item) => {
                let indent = "  ".repeat(list_depth.saturating_sub(1));
                let text = para.trim().to_string();
                para.clear();
                let wrapped = wrap(&text, 74 - indent.len().min(40), &format!("{indent}  "));
                out.push_str(&indent);
                out.push_str("- ");
                out.push_str(wrapped.trim_start());
                out.push('\n');
            }
            Event::Start(Tag::CodeBlock(_)) => in_code = true,
            Event::End(TagEnd::CodeBlock) => {
                in_code = false;
                out.push('\n');
            }
            Event::Start(Tag::Link { dest_url, .. }) => link_stack.push(dest_url.to_string()),
            Event::End(TagEnd::Link) => {
                if let Some(url) = link_stack.pop() {
                    if !para.trim_end().ends_with(url.as_str()) {
                        para.push_str(&format!(" <{url}>"));
                    }
                }
            }
            Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => {
                if in_code {
                    for line in t.lines() {
                        out.push_str("    ");
                        out.push_str(line);
                        out.push('\n');
                    }
                } else {
                    para.push_str(&t);
                }
            }
            Event::SoftBreak => para.push(' '),
            Event::HardBreak => para.push('\n'),
            Event::Rule => out.push_str(&"-".repeat(40)),
            _ => {}
        }
    }
    flush(&mut out, &mut para, "");
    let trimmed = out.trim_end();
    format!("{trimmed}\n")
}

/// Greedy word wrap; explicit newlines are kept.
fn wrap(text: &str, width: usize, cont_prefix: &str) -> String {
    let mut out = String::new();
    for (i, raw_line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(cont_prefix);
        }
        let mut col = 0;
        for word in raw_line.split_whitespace() {
            let w = word.chars().count();
            if col > 0 && col + 1 + w > width {
                out.push('\n');
                out.push_str(cont_prefix);
                col = cont_prefix.len();
            } else if col > 0 {
                out.push(' ');
                col += 1;
            }
            out.push_str(word);
            col += w;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ack_ctx(subject: &str) -> serde_json::Value {
        json!({
            "tracking_id": "SOC-2026-000123",
            "original_subject": subject,
            "reporter_name": "Jane Doe",
            "received_at": "Tue 10 Mar 2026 09:45 EDT",
            "soc_name": "Commonwealth SOC",
            "missing": [],
            "missing_block": "",
        })
    }

    #[test]
    fn ack_renders_subject_text_and_html() {
        let r = Templates::new()
            .render("ack", ack_ctx("Phishing email"))
            .unwrap();
        assert_eq!(r.subject, "[SOC-2026-000123] Received: Phishing email");
        assert!(
            r.text.contains("opened case SOC-2026-000123."),
            "{}",
            r.text
        );
        assert!(
            !r.text.contains("**"),
            "plain text keeps no Markdown markers: {}",
            r.text
        );
        assert!(
            r.text.contains("- Your subject: Phishing email"),
            "{}",
            r.text
        );
        assert!(r.html.contains("<strong>SOC-2026-000123</strong>"));
        assert!(
            r.text.lines().all(|l| l.chars().count() <= 78),
            "{}",
            r.text
        );
    }

    #[test]
    fn ack_lists_the_missing_fields_as_a_fill_in_block() {
        let mut ctx = ack_ctx("Phish");
        ctx["missing"] = json!([{"label": "Phone", "why": "so we can call"}]);
        ctx["missing_block"] = json!("Phone:\nActions taken:\n");
        let r = Templates::new().render("ack", ctx).unwrap();
        assert!(
            r.text.contains("    Phone:\n    Actions taken:\n"),
            "{}",
            r.text
        );
        assert!(r.text.contains("- Phone: so we can call."), "{}", r.text);
        assert!(
            r.html.contains(&format!(
                "{PRE_WRAP}<code>Phone:\nActions taken:\n</code></pre>"
            )),
            "{}",
            r.html
        );
        let complete = Templates::new().render("ack", ack_ctx("Phish")).unwrap();
        assert!(complete.text.contains("has the details we need"));
        assert!(!complete.text.contains("Why we ask"));
    }

    #[test]
    fn hostile_subject_is_text_in_html() {
        let r = Templates::new()
            .render(
                "ack",
                ack_ctx("<script>alert(1)</script> <img src=x onerror=alert(2)>"),
            )
            .unwrap();
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(!r.html.contains("<img"), "{}", r.html);
        assert!(r.html.contains("&lt;script&gt;"));
    }

    /// What an attacker can put in a subject, a display name or a field value.
    const PAYLOADS: &[&str] = &[
        "[Reset your password](https://evil.example/reset)",
        "![x](https://evil.example/p.gif)",
        "<a href=\"https://evil.example/reset\">Reset</a>",
        "<img src=\"https://evil.example/p.gif\">",
        "<script>alert(1)</script>",
        "[click](javascript:alert(1)) <a href=\"JavaScript:alert(2)\">x</a>",
        "<https://evil.example/autolink> <www.evil.example>",
        "Reset at https://evil.example/reset or HTTP://EVIL.EXAMPLE or www.evil.example/reset",
        "[a][1]\n\n[1]: https://evil.example/ref",
        "```\n[x](https://evil.example/fence)\n```\n<img src=x onerror=alert(3)>",
        "<iframe src=\"data:text/html;base64,PHNjcmlwdD4=\"></iframe> ![](data:image/gif;base64,R0lG)",
        "&lt;a href=&quot;https://evil.example&quot;&gt; &#60;img src=x&#62;",
        "ftp://evil.example/x file://evil.example/c$ evil.example/reset",
    ];

    /// Every variable any template reads, every string set to `p`.
    fn payload_ctx(p: &str, open: bool) -> serde_json::Value {
        let mut ctx = base_payload_ctx(p, open);
        // The trends report's (aggregates; names of categories and agencies).
        let trends = json!({
            "title": p, "period_label": p, "start": p, "last_day": p, "trend_weeks": 12,
            "total": 1, "categories": [{"name": p, "n": 1}], "secretariats": [{"name": p, "n": 1}],
            "agencies": [{"name": p, "n": 1}], "majors": [p, p],
            "complete": {"on_arrival": 1, "after_answer": 1, "by_analyst": 0, "incomplete": 1},
        });
        // A campaign's (the SCIO notice, a later reporter's acknowledgement).
        let campaign = json!({
            "first_report": p, "reports": 2, "agency_count": 1, "suspect_subject": p,
            "campaign_reports": if open { json!(2) } else { json!(null) },
        });
        if let Some(c) = ctx.as_object_mut() {
            for extra in [trends, campaign] {
                if let Some(t) = extra.as_object() {
                    c.extend(t.clone());
                }
            }
        }
        ctx
    }

    fn base_payload_ctx(p: &str, open: bool) -> serde_json::Value {
        json!({
            "tracking_id": p, "original_subject": p, "reporter_name": p,
            "received_at": p, "soc_name": p, "soc_phone": p, "triage_due": p,
            "missing": [{"label": p, "why": p}], "missing_block": p,
            "number": 1, "max": 2,
            "banner": p, "agency": p, "category": p, "severity": p,
            "severity_suggested": open, "priority": p, "status": p, "open": open,
            "flags": p, "reported_at": p, "reporter": p, "interval": p,
            "next_update": p, "last_update": p, "via": p, "changes": [p, p],
            "description": p, "subject": p, "headline": p, "reason": p, "action": p,
            "status_word": p, "status_verb": p, "resolution": p, "into": p,

            "sender_unverified": if open { json!(p) } else { json!(null) },
            // The analyst's own Markdown is the one opt-out (see `only_the_analysts_...`).
            "message": if open { json!("The SOC is on it.") } else { json!(null) },
        })
    }

    /// The HTML tags our own Markdown produces; anything else came from a value.
    const OUR_TAGS: &[&str] = &[
        "!doctype", "html", "head", "meta", "body", "p", "strong", "em", "ul", "ol", "li", "pre",
        "code", "hr", "br", "h1", "h2", "h3",
    ];

    /// Panics when `html` has a tag we never write, or any attribute but our own two.
    fn assert_no_live_html(html: &str, what: &str) {
        for tag in html.split('<').skip(1) {
            let tag = tag.split('>').next().unwrap_or("");
            let name = tag
                .trim_start_matches('/')
                .split(|c: char| c.is_whitespace())
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            assert!(
                OUR_TAGS.contains(&name.as_str()),
                "{what}: tag <{tag}> in\n{html}"
            );
            let attrs_ok = !tag.contains('=')
                || tag == "meta charset=\"utf-8\""
                || tag.starts_with("body style=\"font-family")
                || tag.starts_with("pre style=\"white-space");
            assert!(attrs_ok, "{what}: attribute in <{tag}> in\n{html}");
        }
        let lower = html.to_ascii_lowercase();
        for bad in ["<a ", "<img", "<script", "<iframe", "javascript:"] {
            assert!(!lower.contains(bad), "{what}: {bad} in\n{html}");
        }
    }

    fn assert_no_clickable_text(text: &str, what: &str) {
        let lower = text.to_ascii_lowercase();
        for bad in [
            "http://",
            "https://",
            "www.",
            "ftp://",
            "file://",
            "javascript:",
            "data:text",
            "data:image",
            "evil.example",
        ] {
            assert!(
                !lower.contains(bad),
                "{what}: {bad} in the plain part:\n{text}"
            );
        }
    }

    #[test]
    fn every_template_shows_hostile_values_as_dead_text() {
        let t = Templates::new();
        for (name, _) in TEMPLATES {
            for p in PAYLOADS {
                for open in [true, false] {
                    let what = format!("{name} with {p:?} (open={open})");
                    let r = t
                        .render(name, payload_ctx(p, open))
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert_no_live_html(&r.html, &what);
                    assert_no_clickable_text(&r.text, &what);
                    assert!(!r.subject.contains('\n'), "{what}: {:?}", r.subject);
                }
            }
        }
    }

    #[test]
    fn the_ack_shows_the_subject_as_the_reporter_wrote_it() {
        let mut ctx = ack_ctx("[Reset your password](https://evil.example/reset)");
        ctx["reporter_name"] = json!("![x](https://evil.example/p.gif) Jane_Doe");
        let r = Templates::new().render("ack", ctx).unwrap();
        assert!(
            r.text
                .contains("- Your subject: [Reset your password](hxxps://evil[.]example/reset)"),
            "{}",
            r.text
        );
        assert!(
            r.text
                .starts_with("Hello ![x](hxxps://evil[.]example/p[.]gif) Jane_Doe,"),
            "{}",
            r.text
        );
        assert!(!r.html.contains("<a "), "{}", r.html);
        assert!(!r.html.contains("<img"), "{}", r.html);
        // The subject is a header, not Markdown: no backslashes, nothing defanged.
        assert_eq!(
            r.subject,
            "[SOC-2026-000123] Received: [Reset your password](https://evil.example/reset)"
        );
    }

    #[test]
    fn only_the_analysts_update_is_markdown_on_purpose() {
        // `| safe` is the explicit opt-out; it may stand only on the analyst's message.
        for (name, src) in TEMPLATES {
            for (i, _) in src.match_indices("| safe") {
                let before = &src[..i];
                let var = before.rsplit("{{").next().unwrap_or("").trim();
                assert_eq!(var, "message", "{name}: `| safe` on {var}");
            }
        }
        let mut ctx = payload_ctx("x", true);
        ctx["message"] = json!("See the [advisory](https://www.mass.gov/advisory) **now**.");
        let r = Templates::new().render("scio_update", ctx).unwrap();
        assert!(
            r.html
                .contains("<a href=\"https://www.mass.gov/advisory\">advisory</a>"),
            "{}",
            r.html
        );
        assert!(r.html.contains("<strong>now</strong>"), "{}", r.html);
    }

    #[test]
    fn md_and_code_filters_do_not_escape_twice() {
        let mut ctx = payload_ctx("x", true);
        ctx["agency"] = json!("Dept. of Revenue (DOR) - Tax_Unit");
        ctx["category"] = json!("data_exposure");
        ctx["description"] = json!("Line *one*\nvisit http://evil.example now");
        ctx["message"] = json!(null);
        let r = Templates::new().render("scio_new", ctx.clone()).unwrap();
        assert!(
            r.text.contains("Agency: Dept. of Revenue (DOR) - Tax_Unit"),
            "{}",
            r.text
        );
        assert!(!r.text.contains('\\'), "{}", r.text);
        assert!(
            r.text
                .contains("    Line *one*\n    visit hxxp://evil[.]example now"),
            "{}",
            r.text
        );
        // In a subject the filter leaves the text alone.
        let e = Templates::new().render("escalation", ctx).unwrap();
        assert_eq!(
            e.subject,
            "[x] x: Dept. of Revenue (DOR) - Tax_Unit – data_exposure"
        );
    }

    #[test]
    fn defang_breaks_links_and_keeps_the_rest() {
        for (input, want) in [
            ("https://evil.example/reset", "hxxps://evil[.]example/reset"),
            ("HTTP://EVIL.EXAMPLE", "HxxP://EVIL[.]EXAMPLE"),
            ("www.evil.example/x", "www[.]evil[.]example/x"),
            ("javascript:alert(1)", "javascript[:]alert(1)"),
            ("ftp://evil.example", "ftp[:]//evil[.]example"),
            ("jane.doe@agency.gov", "jane.doe@agency.gov"),
            (
                "Status: Triage → Investigating",
                "Status: Triage → Investigating",
            ),
            (
                "M.G.L. c. 93H, e.g. 1,240 records, v1.2",
                "M.G.L. c. 93H, e.g. 1,240 records, v1.2",
            ),
            ("Dept. of Revenue", "Dept. of Revenue"),
        ] {
            assert_eq!(defang(input), want, "{input}");
        }
    }

    #[test]
    fn missing_variable_is_an_error_not_a_blank() {
        let e = Templates::new().render("ack", json!({"tracking_id": "x"}));
        assert!(e.is_err());
    }
}
