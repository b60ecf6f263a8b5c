//! Building the exact bytes of an outbound message (fixed at enqueue time).

use lettre::message::header::ContentType;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox as LettreMailbox, MultiPart, SinglePart};
use lettre::Message;

use super::template::Rendered;
use crate::domain::{EmailAddress, EventKind, OutboxKind};

/// Why a message could not be built (an address lettre refuses, usually).
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("address '{0}' cannot be used in an outbound message")]
    Address(String),
    #[error("cannot build message: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("media type '{0}' cannot be used for a part")]
    MediaType(String),
}

/// Threading and routing of one outbound message.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    pub from_name: &'a str,
    pub from: &'a EmailAddress,
    pub to: &'a [(Option<String>, EmailAddress)],
    /// Our own Message-ID, without brackets.
    pub message_id: &'a str,
    /// The message answered, without brackets.
    pub in_reply_to: Option<&'a str>,
    /// Thread ancestry, oldest first, without brackets.
    pub references: &'a [String],
    /// RFC 3834 `Auto-Submitted`: `auto-replied` for answers to a message,
    /// `auto-generated` for notices and updates.
    pub auto_submitted: &'a str,
}

/// A Message-ID of ours: unique, with the SOC's domain.
pub fn new_message_id(tag: &str, domain: &str) -> String {
    format!("{}.{}@{}", tag, uuid::Uuid::new_v4().simple(), domain)
}

/// A part beyond the text and HTML bodies: an image the HTML shows by `cid:` (inline)
/// or a file attached.
#[derive(Debug, Clone)]
pub struct Part {
    /// The Content-ID (inline) or file name (attachment): our own text, never a sender's.
    pub name: String,
    /// e.g. `image/png`, `text/html; charset=utf-8`.
    pub media_type: &'static str,
    pub bytes: Vec<u8>,
}

/// The extra parts of a message: inline images (multipart/related with the HTML) and
/// attachments (multipart/mixed around it all). Empty: plain multipart/alternative.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    pub inline: Vec<Part>,
    pub attachments: Vec<Part>,
}

/// The full RFC 5322 bytes, with `Auto-Submitted`, as multipart/alternative.
pub fn compose(env: &Envelope<'_>, body: &Rendered) -> Result<Vec<u8>, ComposeError> {
    compose_with(env, body, &Extras::default())
}

fn content_type(p: &Part) -> Result<ContentType, ComposeError> {
    ContentType::parse(p.media_type).map_err(|_| ComposeError::MediaType(p.media_type.to_string()))
}

/// [`compose`] with inline images and attachments.
pub fn compose_with(
    env: &Envelope<'_>,
    body: &Rendered,
    extras: &Extras,
) -> Result<Vec<u8>, ComposeError> {
    let from = LettreMailbox::new(
        Some(env.from_name.to_string()),
        env.from
            .as_str()
            .parse()
            .map_err(|_| ComposeError::Address(env.from.to_string()))?,
    );
    let mut b = Message::builder()
        .from(from)
        .subject(body.subject.clone())
        .message_id(Some(format!("<{}>", env.message_id)));
    for (name, addr) in env.to {
        let a = addr
            .as_str()
            .parse()
            .map_err(|_| ComposeError::Address(addr.to_string()))?;
        b = b.to(LettreMailbox::new(name.clone(), a));
    }
    if let Some(irt) = env.in_reply_to {
        b = b.in_reply_to(format!("<{irt}>"));
    }
    if !env.references.is_empty() {
        let refs: Vec<String> = env.references.iter().map(|r| format!("<{r}>")).collect();
        b = b.references(refs.join(" "));
    }
    let mut msg = if extras.inline.is_empty() && extras.attachments.is_empty() {
        b.multipart(MultiPart::alternative_plain_html(
            body.text.clone(),
            body.html.clone(),
        ))?
    } else {
        let mut related = MultiPart::related().singlepart(SinglePart::html(body.html.clone()));
        for p in &extras.inline {
            related = related.singlepart(
                Attachment::new_inline(p.name.clone()).body(p.bytes.clone(), content_type(p)?),
            );
        }
        let alternative = MultiPart::alternative()
            .singlepart(SinglePart::plain(body.text.clone()))
            .multipart(related);
        let mut mixed = MultiPart::mixed().multipart(alternative);
        for p in &extras.attachments {
            mixed = mixed.singlepart(
                Attachment::new(p.name.clone()).body(p.bytes.clone(), content_type(p)?),
            );
        }
        b.multipart(mixed)?
    };
    let headers = msg.headers_mut();
    headers.insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("Auto-Submitted"),
        env.auto_submitted.into(),
    ));
    // Ask Exchange not to answer our mail with its own auto-replies.
    headers.insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"),
        "All".into(),
    ));
    Ok(msg.formatted())
}

/// One message to queue: composed now, so its bytes and Message-ID never change.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub case_id: Option<i64>,
    /// Outbox kind: `ack`, `scio_update`, `escalation`, …
    pub kind: OutboxKind,
    /// The start of the Message-ID (`ack.SOC-2026-000001`, `receipt.soc`).
    pub id_tag: &'a str,
    pub to: &'a [(Option<String>, EmailAddress)],
    pub in_reply_to: Option<&'a str>,
    pub references: &'a [String],
    /// `auto-replied` or `auto-generated` (RFC 3834).
    pub auto_submitted: &'a str,
    /// `Some(reason)`: held for an analyst.
    pub hold_reason: Option<&'a str>,
    pub caused_by_message: Option<i64>,
}

/// Why a message could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Compose(#[from] ComposeError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Composes `m` from the SOC address and writes its outbox row. Returns the row and
/// the Message-ID.
pub async fn enqueue(
    conn: &mut sqlx::SqliteConnection,
    config: &crate::config::Config,
    m: &Outgoing<'_>,
    rendered: &Rendered,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(i64, String), QueueError> {
    enqueue_with(conn, config, m, rendered, &Extras::default(), now).await
}

/// [`enqueue`] with inline images and attachments.
pub async fn enqueue_with(
    conn: &mut sqlx::SqliteConnection,
    config: &crate::config::Config,
    m: &Outgoing<'_>,
    rendered: &Rendered,
    extras: &Extras,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(i64, String), QueueError> {
    let soc = config.soc_address();
    let message_id = new_message_id(m.id_tag, soc.domain());
    let envelope = Envelope {
        from_name: &config.gateway.name,
        from: &soc,
        to: m.to,
        message_id: &message_id,
        in_reply_to: m.in_reply_to,
        references: m.references,
        auto_submitted: m.auto_submitted,
    };
    let bytes = compose_with(&envelope, rendered, extras)?;
    let recipients: Vec<String> = m.to.iter().map(|(_, a)| a.to_string()).collect();
    // The envelope sender: a bounce comes back to it, and only a bounce of this
    // message can know it (see extract::dsn).
    // 64 random bits: unguessable, and short enough for the 64-octet local part.
    let token = &uuid::Uuid::new_v4().simple().to_string()[..16];
    let envelope_from = Some(crate::extract::dsn::verp_address(&soc, token))
        .filter(|a| config.gateway.verp && a.split('@').next().is_some_and(|l| l.len() <= 64))
        .unwrap_or_else(|| soc.as_str().to_string());
    let id = crate::store::outbox::enqueue(
        conn,
        crate::store::outbox::NewOutbound {
            case_id: m.case_id,
            kind: m.kind,
            message_id: &message_id,
            from_addr: &envelope_from,
            recipients: &recipients,
            subject: &rendered.subject,
            raw: &bytes,
            hold_reason: m.hold_reason,
            caused_by_message: m.caused_by_message,
            now,
        },
    )
    .await?;
    Ok((id, message_id))
}

/// What the case's history records about a message queued for it.
pub struct Record<'a> {
    /// `system` or `analyst:<name>`.
    pub actor: &'a str,
    /// The event when the message goes out by itself; a held one is `outbound_held`.
    pub queued: EventKind,
    /// The event's detail; the Message-ID is added to it.
    pub detail: serde_json::Value,
}

/// [`enqueue`], and the event that says so on the message's case (tied to the outbox
/// row and to the inbound message that caused it): the one way every sender of mail
/// queues it.
pub async fn enqueue_recorded(
    conn: &mut sqlx::SqliteConnection,
    config: &crate::config::Config,
    m: &Outgoing<'_>,
    rendered: &Rendered,
    record: Record<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(i64, String), QueueError> {
    let (id, message_id) = enqueue(conn, config, m, rendered, now).await?;
    if let Some(case_id) = m.case_id {
        let mut detail = record.detail;
        if let Some(d) = detail.as_object_mut() {
            d.insert("message_id".into(), serde_json::json!(message_id));
        }
        crate::store::record_event(
            conn,
            crate::store::NewEvent {
                case_id,
                at: now,
                actor: record.actor,
                kind: if m.hold_reason.is_some() {
                    EventKind::OutboundHeld
                } else {
                    record.queued
                },
                detail,
                message_row_id: m.caused_by_message,
                outbox_id: Some(id),
            },
        )
        .await?;
    }
    Ok((id, message_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::parse_inbound;

    #[test]
    fn composed_message_has_threading_and_loop_headers() {
        let from = EmailAddress::parse("soc@mass.gov").unwrap();
        let to = vec![(
            Some("Jane Doe".to_string()),
            EmailAddress::parse("jane@agency.test").unwrap(),
        )];
        let env = Envelope {
            from_name: "Commonwealth SOC",
            from: &from,
            to: &to,
            message_id: "ack.1@mass.gov",
            in_reply_to: Some("orig@agency.test"),
            references: &["orig@agency.test".to_string()],
            auto_submitted: "auto-replied",
        };
        let body = Rendered {
            subject: "[SOC-2026-000001] Received: Ünïcode phish".into(),
            text: "plain\n".into(),
            html: "<p>html</p>".into(),
        };
        let raw = compose(&env, &body).unwrap();
        let back = parse_inbound(&raw);
        assert_eq!(back.message_id.as_deref(), Some("ack.1@mass.gov"));
        assert_eq!(back.in_reply_to, vec!["orig@agency.test"]);
        assert_eq!(back.references, vec!["orig@agency.test"]);
        assert_eq!(back.auto_submitted.as_deref(), Some("auto-replied"));
        assert_eq!(back.subject, "[SOC-2026-000001] Received: Ünïcode phish");
        assert_eq!(back.text_body.trim(), "plain");
        assert_eq!(
            back.html_body.as_deref().map(str::trim),
            Some("<p>html</p>")
        );
        // Our own acknowledgement, if it ever came back, is never answered.
        let c = crate::extract::classify(&back, &raw, std::slice::from_ref(&from));
        assert!(!c.acknowledge);
    }
}
