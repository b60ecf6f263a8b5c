//! Replies to a case: who may change it (participants whose mail passes sender
//! authentication), what a reply changes (only fields its new text gives, each an event),
//! and what goes back (the remaining questions, or a neutral receipt that reveals nothing).

use chrono::{DateTime, Duration, Utc};
use sqlx::SqliteConnection;

use super::answer::Answer;
use super::Pipeline;
use crate::domain::{EventKind, OutboxKind};
use crate::extract::auth::{self, AuthVerdict};
use crate::extract::fields;
use crate::extract::report::Analysis;
use crate::extract::rules;
use crate::extract::InboundEmail;
use crate::store::{self, cases, outbox, NewEvent, StoreError};

/// What a verified reply changed on its case.
struct Applied {
    changed: Vec<String>,
    missing: Vec<String>,
    tracking_id: String,
    reporter_name: Option<String>,
}

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
        cases::add_participants(tx, case_id, &people, now).await
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
    /// Records on the case (`sender_not_authenticated`, with message `row`) why a
    /// report's sender could not be authenticated, when it could not; returns why.
    pub(super) async fn record_unauthenticated(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        row: i64,
        email: &InboundEmail,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let reason = self.unauthenticated_report(email);
        if let Some(reason) = &reason {
            store::record_message_event(
                tx,
                case_id,
                row,
                now,
                EventKind::SenderNotAuthenticated,
                serde_json::json!({ "reason": reason }),
            )
            .await?;
        }
        Ok(reason)
    }

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
        let participant = self.is_participant(tx, case_id, email).await?;
        // A campaign's later reporter answering their acknowledgement: kept for the
        // analysts and told to whoever works the case, never a change to the case (it
        // is the first report's) and no answer that would say more about it.
        if let (false, Some(s)) = (participant, &sender) {
            if crate::store::campaigns::reporter_seen(tx, case_id, s).await? {
                cases::flag_for_review(tx, case_id).await?;
                self.notifier
                    .soc_answered(tx, case_id, row, &[], now)
                    .await?;
                return Ok((
                    None,
                    "a later reporter of this campaign wrote back: kept for the analysts; no field changed".into(),
                ));
            }
        }
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
                    kind: EventKind::UnverifiedCorrespondence,
                    detail: serde_json::json!({ "reason": why, "subject": email.subject }),
                    message_row_id: Some(row),
                    outbox_id: None,
                },
            )
            .await?;
            cases::flag_for_review(tx, case_id).await?;
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
            cases::verify_participant(tx, case_id, s, now).await?;
        }

        // A verified reply: its new text may answer what is missing.
        let applied = self
            .apply_reply_fields(tx, case_id, row, analysis, &actor, now)
            .await?;
        if !applied.changed.is_empty() {
            self.notifier.after_report(tx, case_id, row, now).await?;
        }
        // Whoever works the case hears that the reporter answered.
        self.notifier
            .soc_answered(tx, case_id, row, &applied.changed, now)
            .await?;

        // The next message asks only for what is still missing (or says it is complete).
        self.follow_up(tx, case_id, row, analysis, &applied, now)
            .await
    }

    /// A participant is someone the case itself names (its reporter, the report's Cc,
    /// someone verified before) or whom the directory names for this case's own agency.
    /// Another agency's contact, or another secretariat's SCIO, is not one: tags are
    /// sequential, so anyone could walk every case.
    async fn is_participant(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        email: &InboundEmail,
    ) -> Result<bool, StoreError> {
        let Some(from) = email.from.as_ref() else {
            return Ok(false);
        };
        let sender = from.address.as_str().to_lowercase();
        let (listed, agency) = cases::participant_and_agency(tx, case_id, &sender).await?;
        Ok(listed || agency.is_some_and(|a| self.directory.get().speaks_for(&from.address, &a)))
    }

    /// Takes the fields a verified reply gives into the case, one event each; a value an
    /// analyst set is kept (and the proposal recorded). Stores what is still missing.
    async fn apply_reply_fields(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        row: i64,
        analysis: &Analysis,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Applied, StoreError> {
        let (mut case_fields, tracking_id, reporter_name) =
            cases::reply_context(tx, case_id).await?;
        let mut changed = Vec::new();
        let event = |kind, detail| NewEvent {
            case_id,
            at: now,
            actor,
            kind,
            detail,
            message_row_id: Some(row),
            outbox_id: None,
        };
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
                    event(
                        EventKind::FieldUpdateNotApplied,
                        serde_json::json!({
                            "field": name,
                            "kept": old.map(|o| &o.value),
                            "proposed": proposed.value,
                            "reason": "an analyst set this value",
                        }),
                    ),
                )
                .await?;
                continue;
            }
            let mut new = proposed.clone();
            new.source.message = Some(row);
            store::record_event(
                tx,
                event(
                    EventKind::FieldChanged,
                    serde_json::json!({
                        "field": name,
                        "old": old.map(|o| &o.value),
                        "new": new.value,
                        "source": new.source,
                    }),
                ),
            )
            .await?;
            case_fields.insert(name.clone(), new);
            changed.push(name.clone());
        }
        let missing: Vec<String> = rules::missing(&case_fields, true)
            .into_iter()
            .map(String::from)
            .collect();
        cases::update_fields(tx, case_id, &case_fields, &missing, now).await?;

        Ok(Applied {
            changed,
            missing,
            tracking_id,
            reporter_name,
        })
    }

    /// The answer to a verified reply: what is still missing, or that the report is
    /// complete; none when nothing changed and nothing is missing, or over the rate limit.
    async fn follow_up(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        row: i64,
        analysis: &Analysis,
        applied: &Applied,
        now: DateTime<Utc>,
    ) -> Result<(Option<i64>, String), StoreError> {
        let email = &analysis.email;
        let Applied {
            changed,
            missing,
            tracking_id,
            reporter_name,
        } = applied;
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
            "original_subject": strip_tag_and_re(&email.subject, tracking_id),
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
                    kind: OutboxKind::Followup,
                    template: "followup",
                    ctx,
                    to,
                    email,
                    queued_event: EventKind::FollowupQueued,
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
