//! What the leads service sends routing and the notifier, and what their
//! answers mean here: the one place their messages are built and read.

use leadflow_auth::Role;
use leadflow_proto::common::v1 as common;
use leadflow_proto::notifier::v1 as notifier_pb;
use leadflow_proto::routing::v1 as routing_pb;

use super::{MAX_CANDIDATES, RouteQuestion};
use crate::domain::contact::MatchBy;
use crate::domain::events::{
    DirectoryFact, LeadMention, NotifyKind, OwnershipFact, notification_text,
};
use crate::domain::lead::LeadSource;
use crate::domain::member::Member;
use crate::domain::routing::RoutingOutcome;
use crate::domain::sla::SlaPolicy;
use crate::wire::{role_to_pb, source_to_pb};

/// Routing's answer about a lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteAnswer {
    /// Who gets it, or why nobody does.
    pub outcome: RoutingOutcome,
    /// Routing lost its counts: the organisation must be reconciled.
    pub state_reset: bool,
}

/// RouteLead for `question`, with the team as candidates. A team larger than
/// routing takes sends only the members who can take a lead (active,
/// available, sales-capable): the others would only be listed as skipped.
pub fn route_request(question: RouteQuestion<'_>, team: &[Member]) -> routing_pb::RouteLeadRequest {
    let everyone = team.len() <= MAX_CANDIDATES;
    routing_pb::RouteLeadRequest {
        exclude_user_ids: question.exclude.to_vec(),
        preferred_owners: question
            .preferred
            .iter()
            .map(|m| routing_pb::PreferredOwner {
                user_id: m.owner_id.clone(),
                r#match: match m.by {
                    MatchBy::Email => routing_pb::ContactMatch::SameEmail,
                    MatchBy::Domain => routing_pb::ContactMatch::SameDomain,
                } as i32,
                lead_id: m.lead_id.clone(),
                lead_created_at: Some(prost_types::Timestamp {
                    seconds: m.lead_created_at.timestamp(),
                    nanos: m.lead_created_at.timestamp_subsec_nanos() as i32,
                }),
            })
            .collect(),
        lead_id: question.lead_id.to_owned(),
        source: source_to_pb(question.source) as i32,
        tags: question.tags.to_vec(),
        attempt: question.attempt,
        candidates: team
            .iter()
            .filter(|m| everyone || m.can_take_routed_leads())
            .take(MAX_CANDIDATES)
            .map(|m| routing_pb::Candidate {
                user_id: m.user_id.clone(),
                role: role_to_pb(m.role) as i32,
                active: m.active,
                available: m.available,
            })
            .collect(),
    }
}

/// What routing's decision means for the lead.
pub fn route_answer(decision: routing_pb::RouteDecision) -> RouteAnswer {
    if decision.reason == routing_pb::DecisionReason::Held as i32 {
        let retry_at = decision.retry_at.and_then(|t| {
            chrono::DateTime::from_timestamp(t.seconds, t.nanos.clamp(0, 999_999_999) as u32)
        });
        return RouteAnswer {
            outcome: RoutingOutcome::held(decision.explanation, decision.rule, retry_at),
            state_reset: decision.state_reset,
        };
    }
    let sla = decision.sla.and_then(|sla| {
        SlaPolicy::from_wire(
            sla.accept_within_minutes,
            sla.max_hops,
            sla.count_working_hours_only,
        )
    });
    RouteAnswer {
        outcome: RoutingOutcome::answered(
            decision.reason == routing_pb::DecisionReason::Routed as i32,
            decision.assignee_id,
            decision.explanation,
        )
        .with_sla(sla, decision.rule),
        state_reset: decision.state_reset,
    }
}

/// Routed counts as routing reads them.
pub fn routed_counts(
    counts: &[(String, chrono::DateTime<chrono::Utc>, i64)],
) -> Vec<routing_pb::RoutedCount> {
    counts
        .iter()
        .map(|(user, since, count)| routing_pb::RoutedCount {
            user_id: user.clone(),
            since: Some(prost_types::Timestamp {
                seconds: since.timestamp(),
                nanos: 0,
            }),
            count: i32::try_from(*count).unwrap_or(i32::MAX),
        })
        .collect()
}

/// Ownership facts as routing reads them.
pub fn ownership_changes(facts: &[OwnershipFact]) -> Vec<routing_pb::OwnershipChange> {
    facts
        .iter()
        .map(|f| routing_pb::OwnershipChange {
            lead_id: f.lead_id.clone(),
            owner_id: f.owner_id.clone().unwrap_or_default(),
            open: f.open,
            version: f.version,
        })
        .collect()
}

/// Directory facts as routing and the notifier read them.
pub fn directory_changes(facts: &[DirectoryFact]) -> common::ApplyDirectoryChangesRequest {
    common::ApplyDirectoryChangesRequest {
        members: facts
            .iter()
            .map(|f| common::DirectoryFact {
                user_id: f.user_id.clone(),
                role: f
                    .role
                    .parse::<Role>()
                    .map_or(common::Role::Unspecified, role_to_pb) as i32,
                active: f.active,
                available: f.available,
                version: f.version,
                schedule: f
                    .schedule
                    .as_ref()
                    .map(leadflow_db::directory::schedule_to_wire),
            })
            .collect(),
    }
}

/// One notification as the outbox holds it.
#[derive(Debug, Clone, Copy)]
pub struct Notification<'a> {
    /// Who hears of it.
    pub recipient_id: &'a str,
    /// Why the recipient is told: picks the title and text, and the notifier's kind.
    pub kind: NotifyKind,
    /// Who made the change.
    pub actor_id: &'a str,
    /// The lead, or the first leads of a batch.
    pub leads: &'a [LeadMention],
    /// A bulk assignment: its id and how many leads it gave.
    pub batch: Option<&'a (String, i32)>,
    /// [`NotifyKind::Moved`]: who has the lead now.
    pub moved_to: Option<&'a str>,
}

/// A stored source name as the wire enum.
pub fn source_of(stored: &str) -> common::LeadSource {
    LeadSource::parse_stored(stored).map_or(common::LeadSource::Other, source_to_pb)
}

fn lead_ref(lead: &LeadMention) -> notifier_pb::LeadRef {
    notifier_pb::LeadRef {
        id: lead.id.clone(),
        name: leadflow_text::fit(&lead.name, leadflow_text::notify::MAX_NAME_CHARS).into_owned(),
        source: source_of(&lead.source) as i32,
    }
}

/// The Notify call for `notification` (idempotent on `idempotency_key`);
/// `None` when it names no lead at all. `member` is the recipient's
/// directory entry, for the address and name of the email.
pub fn notify_request(
    idempotency_key: String,
    notification: Notification<'_>,
    member: Option<&Member>,
) -> Option<notifier_pb::NotifyRequest> {
    let Notification {
        recipient_id,
        kind,
        actor_id,
        leads,
        batch,
        moved_to,
    } = notification;
    let subject = match (batch, leads.first()) {
        (Some((batch_id, count)), _) => {
            notifier_pb::notify_request::Subject::Batch(notifier_pb::LeadBatch {
                batch_id: batch_id.clone(),
                count: *count,
                leads: leads.iter().map(lead_ref).collect(),
            })
        }
        (None, Some(lead)) => notifier_pb::notify_request::Subject::Lead(lead_ref(lead)),
        (None, None) => return None,
    };
    let (title, body) = notification_text(kind, leads, batch, moved_to);
    Some(notifier_pb::NotifyRequest {
        idempotency_key,
        recipient: Some(notifier_pb::Recipient {
            user_id: recipient_id.to_owned(),
            email: member.map(|m| m.email.clone()).unwrap_or_default(),
            display_name: member.map(|m| m.display_name.clone()).unwrap_or_default(),
        }),
        kind: (match kind {
            NotifyKind::Routed => notifier_pb::NotificationKind::LeadRouted,
            NotifyKind::Assigned => notifier_pb::NotificationKind::LeadAssigned,
            NotifyKind::Reassigned => notifier_pb::NotificationKind::LeadReassigned,
            NotifyKind::BulkAssigned => notifier_pb::NotificationKind::LeadsAssigned,
            NotifyKind::Moved => notifier_pb::NotificationKind::LeadMoved,
            NotifyKind::Escalated => notifier_pb::NotificationKind::LeadEscalated,
        }) as i32,
        title,
        body,
        subject: Some(subject),
        actor_id: actor_id.to_owned(),
    })
}
