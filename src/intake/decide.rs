//! Deciding what one message is for, from what analysis and matching found: a new
//! case, an addition to a case, a tag of ours that matches no case, or the quarantine.
//! Pure: no database, so each rule is tested alone.

use crate::domain::MessageKind;

/// What intake does with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decision {
    /// A report that matches no case opens one.
    NewCase,
    /// A report carrying a tag of ours that matches no case: stored in the quarantine
    /// and answered exactly like a stranger's reply to a real case (a neutral receipt),
    /// so the answer never tells whether a tracking ID exists.
    UnknownTag { tag: String },
    /// A message about an existing case. A report that matched a case is a reply;
    /// `bounced` is the reporter address our bounced mail went to, when the bounce is
    /// about this case.
    Attach {
        case_id: i64,
        how: &'static str,
        kind: MessageKind,
        bounced: Option<String>,
    },
    /// Not a report and about no case: kept in the quarantine for the analysts.
    Quarantine { kind: MessageKind },
}

/// `matched` is the case the threading headers or subject tag point to; `bounced` the
/// case and recipient of our mail that this message reports as undeliverable.
pub(super) fn decide(
    kind: MessageKind,
    tag: Option<&str>,
    matched: Option<(i64, &'static str)>,
    bounced: Option<&(i64, String)>,
) -> Decision {
    let matched = matched.or_else(|| bounced.map(|(case_id, _)| (*case_id, "bounced message")));
    match (kind, matched) {
        (MessageKind::Report, None) => match tag {
            Some(tag) => Decision::UnknownTag {
                tag: tag.to_string(),
            },
            None => Decision::NewCase,
        },
        (kind, Some((case_id, how))) => Decision::Attach {
            case_id,
            how,
            kind: if kind == MessageKind::Report {
                MessageKind::Reply
            } else {
                kind
            },
            bounced: bounced
                .filter(|(c, _)| *c == case_id)
                .map(|(_, recipient)| recipient.clone()),
        },
        (kind, None) => Decision::Quarantine { kind },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MessageKind::*;

    #[test]
    fn a_report_opens_a_case_unless_it_carries_a_tag_of_ours() {
        assert_eq!(decide(Report, None, None, None), Decision::NewCase);
        assert_eq!(
            decide(Report, Some("SOC-2026-000009"), None, None),
            Decision::UnknownTag {
                tag: "SOC-2026-000009".into()
            }
        );
    }

    #[test]
    fn a_report_that_matches_a_case_is_a_reply_to_it() {
        assert_eq!(
            decide(
                Report,
                Some("SOC-2026-000001"),
                Some((1, "subject tag")),
                None
            ),
            Decision::Attach {
                case_id: 1,
                how: "subject tag",
                kind: Reply,
                bounced: None
            }
        );
        assert_eq!(
            decide(AutoReply, None, Some((4, "references")), None),
            Decision::Attach {
                case_id: 4,
                how: "references",
                kind: AutoReply,
                bounced: None
            }
        );
    }

    #[test]
    fn a_bounce_goes_to_the_case_of_the_mail_that_bounced() {
        let bounced = (7, "gone@agency.test".to_string());
        assert_eq!(
            decide(Bounce, None, None, Some(&bounced)),
            Decision::Attach {
                case_id: 7,
                how: "bounced message",
                kind: Bounce,
                bounced: Some("gone@agency.test".into())
            }
        );
        // Threading headers that name another case win; that case's reporter is not
        // marked undeliverable by a bounce of another case's mail.
        assert_eq!(
            decide(Bounce, None, Some((3, "references")), Some(&bounced)),
            Decision::Attach {
                case_id: 3,
                how: "references",
                kind: Bounce,
                bounced: None
            }
        );
    }

    #[test]
    fn anything_else_about_no_case_is_quarantined() {
        for kind in [Reply, AutoReply, Bounce, Bulk, Unparseable] {
            assert_eq!(
                decide(kind, None, None, None),
                Decision::Quarantine { kind }
            );
        }
    }
}
