//! Outbound mail templates: Markdown with a front-matter subject, rendered to a plain
//! text part that reads well on its own and an HTML part.

use minijinja::{Environment, UndefinedBehavior};
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

impl Templates {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Markdown is not HTML: escaping happens when Markdown becomes HTML, below.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        // `{{ x | md }}`: text from a report or the directory, shown literally in Markdown.
        env.add_filter("md", |s: String| md_escape(&s));
        // `{{ x | code }}`: text for a fenced block; a fence inside cannot close it.
        env.add_filter("code", |s: String| s.replace("```", "'''"));
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
        let subject = self
            .env
            .render_str(&subject_tpl, &ctx)
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

/// HTML from Markdown. Raw HTML in the source (including anything a reporter put in a
/// subject we quote) is shown as text, never passed through.
pub fn markdown_to_html(md: &str) -> String {
    let parser = Parser::new_ext(md, Options::ENABLE_TABLES).map(|ev| match ev {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        other => other,
    });
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, parser);
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
            r.html
                .contains("<pre><code>Phone:\nActions taken:\n</code></pre>"),
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

    #[test]
    fn missing_variable_is_an_error_not_a_blank() {
        let e = Templates::new().render("ack", json!({"tracking_id": "x"}));
        assert!(e.is_err());
    }
}
