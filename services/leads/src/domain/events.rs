//! What the leads service tells the other services, through its outbox.
//!
//! Each event is written in the same transaction as the change it reports,
//! then delivered at least once by the dispatcher. Receivers deduplicate:
//! routing by the lead's version, the notifier by the event's id.

use serde::{Deserialize, Serialize};

use super::lead::{Lead, LeadSource};
use super::member::Member;

/// Leads named in one batch notification ("12 leads assigned to you").
pub const BATCH_PREVIEW: usize = 5;

/// One lead's ownership as routing's workload bookkeeping needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnershipFact {
    /// The lead.
    pub lead_id: String,
    /// Its owner; `None` while unassigned.
    pub owner_id: Option<String>,
    /// Whether it counts toward the owner's workload (not closed).
    pub open: bool,
    /// The lead's change counter: routing ignores facts older than it has.
    pub version: i64,
}

impl OwnershipFact {
    /// The fact of `lead` as it is now.
    pub fn of(lead: &Lead) -> Self {
        OwnershipFact {
            lead_id: lead.id.clone(),
            owner_id: lead.owner_id.clone(),
            open: lead.status.is_open(),
            version: lead.version,
        }
    }
}

/// One member as the other services keep the directory (the same type they
/// read it into).
pub use leadflow_db::directory::DirectoryFact;

/// The fact of `member` at their `version`-th change.
pub fn directory_fact(member: &Member, version: i64) -> DirectoryFact {
    DirectoryFact {
        user_id: member.user_id.clone(),
        role: member.role.as_str().to_owned(),
        active: member.active,
        available: member.available,
        version,
        schedule: member.schedule.clone(),
    }
}

/// A lead as a notification names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadMention {
    /// The lead.
    pub id: String,
    /// Its name, as the notification shows it.
    pub name: String,
    /// The stored source name (e.g. "website").
    pub source: String,
}

impl LeadMention {
    /// How a notification names `lead`.
    pub fn of(lead: &Lead) -> Self {
        LeadMention {
            id: lead.id.clone(),
            name: lead.name.clone(),
            source: lead.source.as_str().to_owned(),
        }
    }

    /// The lead as a person reads it: "Jane Doe (Website)".
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.source_label())
    }

    /// How a person reads the lead's source ("Website").
    pub fn source_label(&self) -> &'static str {
        LeadSource::parse_stored(&self.source).map_or("Other", LeadSource::label)
    }
}

/// Why the rep is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyKind {
    Routed,
    Assigned,
    Reassigned,
    BulkAssigned,
    /// The recipient did not accept the lead in time; it went to another rep.
    Moved,
    /// An SLA chain ran out (to managers and owners).
    Escalated,
}

/// An outbox event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutboxEvent {
    /// Ownership changes for routing's workload counts.
    Ownership {
        /// One fact per lead that changed.
        changes: Vec<OwnershipFact>,
    },
    /// Tell `recipient_id` about one lead or a batch.
    Notify {
        /// Who hears of it.
        recipient_id: String,
        /// Why.
        kind: NotifyKind,
        /// Who made the change.
        actor_id: String,
        /// The lead, or the first [`BATCH_PREVIEW`] of a batch.
        leads: Vec<LeadMention>,
        /// Set for a bulk assignment: one notification per assignee.
        batch: Option<(String, i32)>,
        /// [`NotifyKind::Moved`]: who has the lead now.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        moved_to: Option<String>,
    },
    /// Routing was unavailable when the lead was created: route it now, if it
    /// is still unassigned.
    Route {
        /// The lead to route.
        lead_id: String,
    },
    /// Directory facts for routing and the notifier.
    Directory {
        /// One fact per member that changed.
        members: Vec<DirectoryFact>,
    },
}

impl OutboxEvent {
    /// The outbox row's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            OutboxEvent::Ownership { .. } => "ownership",
            OutboxEvent::Notify { .. } => "notify",
            OutboxEvent::Route { .. } => "route",
            OutboxEvent::Directory { .. } => "directory",
        }
    }
}

/// The in-app title and body of a notification, built to fit the notifier's
/// limits: a lead's name is shortened (on a grapheme boundary, with an
/// ellipsis) so that the words around it and its source always show.
pub fn notification_text(
    kind: NotifyKind,
    leads: &[LeadMention],
    batch: Option<&(String, i32)>,
    moved_to: Option<&str>,
) -> (String, String) {
    use leadflow_text::{fit, fit_into, notify};
    match (batch, leads.first()) {
        (Some((_, count)), _) => {
            let names: Vec<String> = leads.iter().map(LeadMention::label).collect();
            let more = (*count as usize).saturating_sub(names.len());
            let tail = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            let body = fit_into(
                &format!("{{}}{tail}."),
                &names.join(", "),
                notify::MAX_BODY_CHARS,
            );
            (
                fit(
                    &format!("{count} leads assigned to you"),
                    notify::MAX_TITLE_CHARS,
                )
                .into_owned(),
                body,
            )
        }
        (None, Some(lead)) => {
            let source = lead.source_label();
            let title = match kind {
                NotifyKind::Routed => format!("New lead: {{}} ({source})"),
                NotifyKind::Reassigned => format!("Lead reassigned to you: {{}} ({source})"),
                NotifyKind::Assigned | NotifyKind::BulkAssigned => {
                    format!("Lead assigned to you: {{}} ({source})")
                }
                NotifyKind::Moved => format!(
                    "Lead moved to {}: {{}} ({source})",
                    moved_to.unwrap_or("another rep")
                ),
                NotifyKind::Escalated => format!("Lead not accepted in time: {{}} ({source})"),
            };
            let body = match kind {
                NotifyKind::Routed => format!("{{}} ({source}) was routed to you."),
                NotifyKind::Moved => format!(
                    "{{}} ({source}) was not accepted in time and went to {}.",
                    moved_to.unwrap_or("another rep")
                ),
                NotifyKind::Escalated => format!(
                    "{{}} ({source}) ran out of its routing SLA with nobody left to move it to; \
                     it stays with its last owner."
                ),
                _ => format!("{{}} ({source}) is now yours."),
            };
            (
                fit_into(&title, &lead.name, notify::MAX_TITLE_CHARS),
                fit_into(&body, &lead.name, notify::MAX_BODY_CHARS),
            )
        }
        (None, None) => ("Leads assigned to you".into(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mention(name: &str, source: &str) -> LeadMention {
        LeadMention {
            id: "l".into(),
            name: name.into(),
            source: source.into(),
        }
    }

    #[test]
    fn the_bell_names_the_lead_and_its_source() {
        let (title, _) = notification_text(
            NotifyKind::Routed,
            &[mention("Jane Doe", "website")],
            None,
            None,
        );
        assert_eq!(title, "New lead: Jane Doe (Website)");
        let (title, body) = notification_text(
            NotifyKind::BulkAssigned,
            &[mention("A", "facebook"), mention("B", "facebook")],
            Some(&("b-1".into(), 12)),
            None,
        );
        assert_eq!(title, "12 leads assigned to you");
        assert_eq!(body, "A (Facebook), B (Facebook) and 10 more.");
    }

    #[test]
    fn the_bell_fits_the_notifiers_limits_for_the_longest_names() {
        use leadflow_text::notify::{MAX_BODY_CHARS, MAX_TITLE_CHARS};
        let family = "👨\u{200d}👩\u{200d}👧\u{200d}👦";
        for name in [
            "a".repeat(200),
            "山".repeat(200),
            family.repeat(200 / 7) + "xxxx",
        ] {
            assert!(name.chars().count() <= 200);
            for kind in [
                NotifyKind::Routed,
                NotifyKind::Assigned,
                NotifyKind::Reassigned,
                NotifyKind::Moved,
                NotifyKind::Escalated,
            ] {
                let (title, body) =
                    notification_text(kind, &[mention(&name, "website")], None, Some("ben"));
                assert!(title.chars().count() <= MAX_TITLE_CHARS, "{title}");
                assert!(title.ends_with("… (Website)"), "{title}");
                assert!(body.chars().count() <= MAX_BODY_CHARS);
            }
            let five: Vec<_> = (0..5).map(|_| mention(&name, "facebook")).collect();
            let (title, body) = notification_text(
                NotifyKind::BulkAssigned,
                &five,
                Some(&("b".into(), 500)),
                None,
            );
            assert_eq!(title, "500 leads assigned to you");
            assert!(body.chars().count() <= MAX_BODY_CHARS);
            assert!(body.ends_with(" and 495 more."), "{body}");
        }
    }

    #[test]
    fn events_round_trip_as_json() {
        let e = OutboxEvent::Ownership {
            changes: vec![OwnershipFact {
                lead_id: "l".into(),
                owner_id: None,
                open: true,
                version: 3,
            }],
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<OutboxEvent>(&json).unwrap(), e);
    }
}
