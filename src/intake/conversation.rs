//! Replies to a case: who may change it (participants whose mail passes sender
//! authentication), what a reply changes (only fields its new text gives, each an event),
//! and what goes back (the remaining questions, or a neutral receipt that reveals nothing).

use chrono::{DateTime, Duration, Utc};
use sqlx::SqliteConnection;

use super::{Answer, Pipeline};
use crate::extract::auth::{self, AuthVerdict};
use crate::extract::fields::{self, Fields};
use crate::extract::report::Analysis;
use crate::extract::rules;
use crate::extract::InboundEmail;
use crate::store::outbox;
use crate::store::{self, NewEvent, StoreError};

/// Fields a reply never changes: they come from headers or are the first report's words.
const NOT_FROM_REPLIES: &[&str] = &["reporter_email", "reporter_name", "description"];

impl Pipeline {
    /// Records who may speak for a new case: the reporter (From and Reply-To) and the
    /// Cc addresses of the report that are within the allowed domains.
    pub(super) async fn add_participants(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        email: &InboundEmail,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut people: Vec<(String, &str)> = Vec::new();
        for m in email.from.iter().chain(email.reply_to.iter()) {
            people.push((m.address.as_str().to_lowercase(), "reporter"));
        }
        for m in &email.cc {
            if self.recipient_allowed(&m.address)
                && !self.own.iter().any(|o| o.same_mailbox(&m.address))
            {
                people.push((m.address.as_str().to_lowercase(), "cc"));
            }
        }
        for (address, role) in people {
            sqlx::query(
                "insert into case_participants (case_id, address, role, added_at) values (?, ?, ?, ?)
                 on conflict (case_id, address) do nothing",
            )
            .bind(case_id)
            .bind(address)
            .bind(role)
            .bind(store::ts(now))
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }

    /// What our receiving server recorded about the sender's domain.
    fn sender_authentication(&self, email: &InboundEmail) -> AuthVerdict {
        let Some(from) = email.from.as_ref() else {
            return AuthVerdict::Unknown("the message has no sender address".into());
        };
        if let Some(why) = &email.from_ambiguous {
            return AuthVerdict::Unknown(format!("ambiguous sender: {why}"));
        }
        if self.config.gateway.trust_intake_server {
            return AuthVerdict::Pass(
                "the intake server is trusted ([gateway] trust_intake_server)".into(),
            );
        }
        match &self.config.gateway.trusted_authserv_id {
            Some(id) => auth::verify(&email.authentication_results, id, from.address.domain()),
            None => AuthVerdict::Unknown("no [gateway] trusted_authserv_id is configured".into()),
        }
    }

    /// Why a new report's sender is not authenticated, when sender authentication is
    /// configured and the report did not pass it.
    pub(super) fn unauthenticated_report(&self, email: &InboundEmail) -> Option<String> {
        if self.config.gateway.trusted_authserv_id.is_none()
            && !self.config.gateway.trust_intake_server
        {
            return None;
        }
        match self.sender_authentication(email) {
            AuthVerdict::Pass(_) => None,
            AuthVerdict::Fail(why) | AuthVerdict::Unknown(why) => Some(why),
        }
    }

    /// Sender verification: a participant of the case AND authenticated by our server.
    fn verify_sender(&self, email: &InboundEmail, participant: bool) -> (bool, String) {
        let Some(from) = email.from.as_ref() else {
            return (false, "the message has no sender address".into());
        };
        if let Some(why) = &email.from_ambiguous {
            return (false, format!("ambiguous sender: {why}"));
        }
        match (participant, self.sender_authentication(email)) {
            (false, _) => (
                false,
                format!("{} is not a participant of the case", from.address),
            ),
            (true, AuthVerdict::Pass(why)) => (true, why),
            (true, AuthVerdict::Fail(why)) => {
                (false, format!("sender authentication failed: {why}"))
            }
            (true, AuthVerdict::Unknown(why)) => {
                (false, format!("sender not authenticated: {why}"))
            }
        }
    }

    /// Handles a reply stored as `row` on `case_id`. Returns the outbox row of the
    /// answer (follow-up or receipt), if any, and a note for the operator.
    pub(super) async fn handle_reply(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        row: i64,
        analysis: &Analysis,
        now: DateTime<Utc>,
    ) -> Result<(Option<i64>, String), StoreError> {
        let email = &analysis.email;
        let sender = email
            .from
            .as_ref()
            .map(|f| f.address.as_str().to_lowercase());
        // A participant is someone the case itself names (its reporter, the report's
        // Cc, someone verified before) or whom the directory names for this case's own
        // agency. Another agency's contact, or another secretariat's SCIO, is not one:
        // tags are sequential, so anyone could walk every case.
        let participant = match (&sender, email.from.as_ref()) {
            (Some(s), Some(from)) => {
                let (listed, agency) =
                    crate::store::cases::participant_and_agency(tx, case_id, s).await?;
                listed || agency.is_some_and(|a| self.directory.get().speaks_for(&from.address, &a))
            }
            _ => false,
        };
        let (verified, why) = self.verify_sender(email, participant);
        let actor = format!(
            "sender:{}",
            sender.clone().unwrap_or_else(|| "unknown".into())
        );
        if !verified {
            store::record_event(
                tx,
                NewEvent {
                    case_id,
                    at: now,
                    actor: &actor,
                    kind: "unverified_correspondence",
                    detail: serde_json::json!({ "reason": why, "subject": email.subject }),
                    message_row_id: Some(row),
                    outbox_id: None,
                },
            )
            .await?;
            sqlx::query("update cases set needs_review = 1 where id = ?")
                .bind(case_id)
                .execute(&mut *tx)
                .await?;
            let receipt = self
                .neutral_receipt(tx, Some(case_id), row, analysis, now)
                .await?;
            return Ok((
                receipt,
                format!("unverified correspondence ({why}); no field changed"),
            ));
        }

        // Proven once: this participant may receive case details (the disclosure rule).
        if let Some(s) = &sender {
            sqlx::query(
                "insert into case_participants (case_id, address, role, added_at, verified_at)
                 values (?, ?, 'directory', ?, ?)
                 on conflict (case_id, address) do update set verified_at = coalesce(verified_at, excluded.verified_at)",
            )
            .bind(case_id)
            .bind(s)
            .bind(store::ts(now))
            .bind(store::ts(now))
            .execute(&mut *tx)
            .await?;
        }

        // A verified reply: its new text may answer what is missing.
        let (fields_json, tracking_id, reporter_name): (String, String, Option<String>) =
            sqlx::query_as(
                "select fields_json, tracking_id, reporter_name from cases where id = ?",
            )
            .bind(case_id)
            .fetch_one(&mut *tx)
            .await?;
        let mut case_fields: Fields = serde_json::from_str(&fields_json).unwrap_or_default();
        let mut changed = Vec::new();
        for (name, proposed) in &analysis.fields {
            if NOT_FROM_REPLIES.contains(&name.as_str()) {
                continue;
            }
            let old = case_fields.get(name);
            if old.is_some_and(|o| o.value == proposed.value) {
                continue;
            }
            if old.is_some_and(|o| o.source.part == "analyst") {
                store::record_event(
                    tx,
                    NewEvent {
                        case_id,
                        at: now,
                        actor: &actor,
                        kind: "field_update_not_applied",
                        detail: serde_json::json!({
                            "field": name,
                            "kept": old.map(|o| &o.value),
                            "proposed": proposed.value,
                            "reason": "an analyst set this value",
                        }),
                        message_row_id: Some(row),
                        outbox_id: None,
                    },
                )
                .await?;
                continue;
            }
            let mut new = proposed.clone();
            new.source.message = Some(row);
            store::record_event(
                tx,
                NewEvent {
                    case_id,
                    at: now,
                    actor: &actor,
                    kind: "field_changed",
                    detail: serde_json::json!({
                        "field": name,
                        "old": old.map(|o| &o.value),
                        "new": new.value,
                        "source": new.source,
                    }),
                    message_row_id: Some(row),
                    outbox_id: None,
                },
            )
            .await?;
            case_fields.insert(name.clone(), new);
            changed.push(name.clone());
        }
        let missing: Vec<String> = rules::missing(&case_fields, true)
            .into_iter()
            .map(String::from)
            .collect();
        let agency = case_fields
            .get("agency")
            .and_then(|f| f.value.as_str())
            .map(String::from);
        sqlx::query("update cases set fields_json = ?, missing_json = ?, agency = coalesce(?, agency), updated_at = ? where id = ?")
            .bind(serde_json::to_string(&case_fields).unwrap_or_else(|_| "{}".into()))
            .bind(serde_json::to_string(&missing).unwrap_or_else(|_| "[]".into()))
            .bind(agency)
            .bind(store::ts(now))
            .bind(case_id)
            .execute(&mut *tx)
            .await?;

        if !changed.is_empty() {
            self.notifier.after_report(tx, case_id, row, now).await?;
        }

        // The next message asks only for what is still missing (or says it is complete).
        let Some(to) = email.reply_address().filter(|_| analysis.class.acknowledge) else {
            return Ok((
                None,
                format!("verified reply; {} field(s) updated", changed.len()),
            ));
        };
        if changed.is_empty() && missing.is_empty() {
            return Ok((None, "verified reply; nothing new to record".into()));
        }
        let limit = self.config.gateway.ack_rate_limit_per_hour as i64;
        if outbox::count_recent(
            tx,
            to.address.as_str(),
            "followup",
            now - Duration::hours(1),
        )
        .await?
            >= limit
        {
            return Ok((
                None,
                format!(
                    "verified reply; {} field(s) updated; follow-up rate limit reached",
                    changed.len()
                ),
            ));
        }
        let names: Vec<&str> = missing.iter().map(String::as_str).collect();
        let ctx = serde_json::json!({
            "tracking_id": tracking_id,
            "original_subject": strip_tag_and_re(&email.subject, &tracking_id),
            "reporter_name": reporter_name,
            "soc_name": self.config.gateway.name,
            "missing": !missing.is_empty(),
            "missing_block": fields::fill_in_block(&names),
        });
        let (id, _) = self
            .enqueue_answer(
                tx,
                Answer {
                    case_id: Some(case_id),
                    row,
                    kind: "followup",
                    template: "followup",
                    ctx,
                    to,
                    email,
                    queued_event: "followup_queued",
                },
                now,
            )
            .await?;
        Ok((
            id,
            format!(
                "verified reply; {} field(s) updated, {} still missing",
                changed.len(),
                missing.len()
            ),
        ))
    }

    /// A receipt that says nothing about any case, rate-limited per sender.
    pub(super) async fn neutral_receipt(
        &self,
        tx: &mut SqliteConnection,
        case_id: Option<i64>,
        row: i64,
        analysis: &Analysis,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let email = &analysis.email;
        let Some(to) = email.reply_address().filter(|_| analysis.class.acknowledge) else {
            return Ok(None);
        };
        let limit = self.config.gateway.ack_rate_limit_per_hour as i64;
        if outbox::count_recent(tx, to.address.as_str(), "receipt", now - Duration::hours(1))
            .await?
            >= limit
        {
            return Ok(None);
        }
        let ctx = serde_json::json!({ "soc_name": self.config.gateway.name });
        let (id, _) = self
            .enqueue_answer(
                tx,
                Answer {
                    case_id,
                    row,
                    kind: "receipt",
                    template: "receipt",
                    ctx,
                    to,
                    email,
                    queued_event: "receipt_queued",
                },
                now,
            )
            .await?;
        Ok(id)
    }
}

impl Pipeline {
    /// Sends the reminders due at `now`: open cases still missing required fields whose
    /// participants have been silent since our last request for `after_hours` (a
    /// stranger's message does not count as an answer), at most `max`
    /// per case; never when the first message got no answer (auto-replies, bounces,
    /// rate limits) or the reporter's address is undeliverable. Returns how many.
    pub async fn send_reminders(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let cfg = &self.config.reminders;
        if cfg.max == 0 {
            return Ok(0);
        }
        let cutoff = store::ts(now - Duration::hours(cfg.after_hours as i64));
        let mut tx = self.store.begin_write().await?;
        let due: Vec<(i64, String, String, Option<String>, String, i64)> = sqlx::query_as(
            "select c.id, c.tracking_id, c.missing_json, c.reporter_name, c.subject,
                    (select count(*) from outbox r where r.case_id = c.id and r.kind = 'reminder') as sent
             from cases c
             where c.missing_json != '[]' and c.status not in ('resolved', 'closed')
               and c.reporter_undeliverable = 0
               and exists (select 1 from outbox o where o.case_id = c.id and o.kind in ('ack', 'followup', 'reminder') and o.status != 'dropped')
               and (select max(o.created_at) from outbox o where o.case_id = c.id
                      and o.kind in ('ack', 'followup', 'reminder') and o.status != 'dropped') <= ?
               and not exists (select 1 from messages m where m.case_id = c.id and m.kind = 'reply'
                      and lower(m.from_addr) in (select p.address from case_participants p where p.case_id = c.id)
                      and m.received_at > (select max(o.created_at) from outbox o where o.case_id = c.id
                      and o.kind in ('ack', 'followup', 'reminder')))",
        )
        .bind(&cutoff)
        .fetch_all(&mut *tx)
        .await?;
        let mut sent = 0;
        for (case_id, tracking_id, missing_json, reporter_name, subject, count) in due {
            if count >= cfg.max as i64 {
                continue;
            }
            let first: Option<(i64, Vec<u8>)> =
                sqlx::query_as("select id, raw from messages where case_id = ? and kind = 'report' order by id limit 1")
                    .bind(case_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((row, raw)) = first else { continue };
            let email = crate::extract::parse_inbound(&raw);
            let Some(to) = email.reply_address() else {
                continue;
            };
            let missing: Vec<String> = serde_json::from_str(&missing_json).unwrap_or_default();
            let names: Vec<&str> = missing.iter().map(String::as_str).collect();
            let ctx = serde_json::json!({
                "tracking_id": tracking_id,
                "original_subject": if subject.is_empty() { "your report".to_string() } else { subject },
                "reporter_name": reporter_name,
                "soc_name": self.config.gateway.name,
                "missing_block": fields::fill_in_block(&names),
                "number": count + 1,
                "max": cfg.max,
            });
            let (id, _) = self
                .enqueue_answer(
                    &mut tx,
                    Answer {
                        case_id: Some(case_id),
                        row,
                        kind: "reminder",
                        template: "reminder",
                        ctx,
                        to,
                        email: &email,
                        queued_event: "reminder_queued",
                    },
                    now,
                )
                .await?;
            sent += usize::from(id.is_some());
        }
        tx.commit().await?;
        Ok(sent)
    }
}

/// "RE: [SOC-2026-000001] Received: Phish" → "Phish".
fn strip_tag_and_re(subject: &str, tracking_id: &str) -> String {
    let mut s = subject.replace(&format!("[{tracking_id}]"), " ");
    loop {
        let t = s.trim_start();
        let lower = t.to_ascii_lowercase();
        let cut = ["re:", "aw:", "fw:", "fwd:", "received:"]
            .iter()
            .find(|p| lower.starts_with(**p))
            .map(|p| p.len());
        match cut {
            Some(n) => s = t[n..].to_string(),
            None => break,
        }
    }
    let out = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.is_empty() {
        "your report".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_lose_prefixes_and_the_tag() {
        assert_eq!(
            strip_tag_and_re("RE: [SOC-2026-000001] Received: Phish", "SOC-2026-000001"),
            "Phish"
        );
        assert_eq!(
            strip_tag_and_re("[SOC-2026-000001]", "SOC-2026-000001"),
            "your report"
        );
    }
}
