//! AssignLeads: which of the chosen leads change hands, how, and who hears.
//!
//! The store locks the chosen rows first and hands them to [`plan`], so the
//! decision is made on what is locked: a lead claimed a moment ago is seen as
//! owned and skipped, never taken.

use super::change::HistoryRow;
use super::events::{BATCH_PREVIEW, LeadMention, NotifyKind, OutboxEvent, OwnershipFact};
use super::filter::LeadQuery;
use super::lead::{AssignmentMethod, EventKind, Lead};

/// Which leads an AssignLeads call is about.
#[derive(Debug, Clone)]
pub enum AssignSelection {
    /// These ids (repeats count once).
    Ids(Vec<String>),
    /// "Select all across pages".
    Filter(LeadQuery),
}

/// Why a lead was left alone by AssignLeads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Someone owns it and reassigning was not allowed.
    AlreadyAssigned,
    /// The assignee owns it already.
    AlreadyOwnedByAssignee,
    /// No such lead in the organisation.
    NotFound,
}

/// One lead AssignLeads left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignSkip {
    /// The lead.
    pub lead_id: String,
    /// Why it was skipped.
    pub reason: SkipReason,
    /// Its owner, for the caller to see who has it.
    pub owner_id: Option<String>,
}

/// The result of one AssignLeads call.
#[derive(Debug, Clone)]
pub struct AssignOutcome {
    /// The batch every history row of this call carries.
    pub batch_id: String,
    /// The leads that changed hands.
    pub assigned: Vec<String>,
    /// The leads left alone.
    pub skipped: Vec<AssignSkip>,
}

/// What the caller asked, beyond the selection.
#[derive(Debug, Clone)]
pub struct AssignRequest {
    /// Who gets the leads.
    pub assignee_id: String,
    /// Who assigns them.
    pub actor_id: String,
    /// Whether leads owned by someone else are taken over.
    pub allow_reassign: bool,
    /// One lead by id: a manual assignment rather than a bulk one.
    pub single: bool,
    /// The id of this call's batch.
    pub batch_id: String,
}

/// A chosen lead as locked: its id and owner.
pub type Held = (String, Option<String>);

/// The decision for every chosen lead.
#[derive(Debug, Clone)]
pub struct AssignPlan {
    /// Unassigned leads the assignee gets.
    pub fresh: Vec<String>,
    /// Owned leads taken over: (id, previous owner).
    pub taken_over: Vec<(String, String)>,
    /// Leads left alone.
    pub skipped: Vec<AssignSkip>,
    /// Manual for one lead, bulk otherwise.
    pub method: AssignmentMethod,
}

/// Decides each chosen lead (in the order chosen); `skipped` are the ids
/// already known to be missing.
pub fn plan(
    request: &AssignRequest,
    chosen: Vec<Held>,
    mut skipped: Vec<AssignSkip>,
) -> AssignPlan {
    let mut fresh = Vec::new();
    let mut taken_over = Vec::new();
    for (id, owner) in chosen {
        match owner {
            None => fresh.push(id),
            Some(owner) if owner == request.assignee_id => skipped.push(AssignSkip {
                lead_id: id,
                reason: if request.allow_reassign {
                    SkipReason::AlreadyOwnedByAssignee
                } else {
                    SkipReason::AlreadyAssigned
                },
                owner_id: Some(owner),
            }),
            Some(owner) if !request.allow_reassign => skipped.push(AssignSkip {
                lead_id: id,
                reason: SkipReason::AlreadyAssigned,
                owner_id: Some(owner),
            }),
            Some(owner) => taken_over.push((id, owner)),
        }
    }
    AssignPlan {
        fresh,
        taken_over,
        skipped,
        method: if request.single {
            AssignmentMethod::Manual
        } else {
            AssignmentMethod::Bulk
        },
    }
}

impl AssignPlan {
    /// Every lead that changes hands: the fresh ones, then the taken over.
    pub fn changed(&self) -> impl Iterator<Item = &str> {
        self.fresh
            .iter()
            .map(String::as_str)
            .chain(self.taken_over.iter().map(|(id, _)| id.as_str()))
    }

    /// One history row per lead that changes hands, with the lead's id.
    pub fn history<'a>(
        &'a self,
        request: &'a AssignRequest,
    ) -> impl Iterator<Item = (&'a str, HistoryRow)> + 'a {
        let row = move |from: Option<&str>, kind| HistoryRow {
            method: Some(self.method),
            from_owner_id: from.map(str::to_owned),
            to_owner_id: Some(request.assignee_id.clone()),
            batch_id: Some(request.batch_id.clone()),
            ..HistoryRow::new(kind, &request.actor_id)
        };
        self.fresh
            .iter()
            .map(move |id| (id.as_str(), row(None, EventKind::Assigned)))
            .chain(self.taken_over.iter().map(move |(id, from)| {
                (id.as_str(), row(Some(from.as_str()), EventKind::Reassigned))
            }))
    }

    /// Routing learns every new owner (with the lead's new version); the
    /// assignee hears of it once, however many leads it was. `written` are
    /// the changed leads as written, oldest first.
    pub fn events(&self, request: &AssignRequest, written: &[Lead]) -> Vec<OutboxEvent> {
        if written.is_empty() {
            return Vec::new();
        }
        let mut outbox = vec![OutboxEvent::Ownership {
            changes: written.iter().map(OwnershipFact::of).collect(),
        }];
        if request.assignee_id != request.actor_id {
            let (kind, batch) = if request.single {
                let kind = if self.taken_over.is_empty() {
                    NotifyKind::Assigned
                } else {
                    NotifyKind::Reassigned
                };
                (kind, None)
            } else {
                let count = self.fresh.len() + self.taken_over.len();
                (
                    NotifyKind::BulkAssigned,
                    Some((request.batch_id.clone(), count as i32)),
                )
            };
            outbox.push(OutboxEvent::Notify {
                recipient_id: request.assignee_id.clone(),
                kind,
                actor_id: request.actor_id.clone(),
                leads: written
                    .iter()
                    .take(BATCH_PREVIEW)
                    .map(LeadMention::of)
                    .collect(),
                batch,
                moved_to: None,
            });
        }
        outbox
    }

    /// What the caller is told.
    pub fn outcome(self, batch_id: String) -> AssignOutcome {
        let mut assigned = self.fresh;
        assigned.extend(self.taken_over.into_iter().map(|(id, _)| id));
        AssignOutcome {
            batch_id,
            assigned,
            skipped: self.skipped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(allow_reassign: bool) -> AssignRequest {
        AssignRequest {
            assignee_id: "ana".into(),
            actor_id: "manager".into(),
            allow_reassign,
            single: false,
            batch_id: "b1".into(),
        }
    }

    fn held() -> Vec<Held> {
        vec![
            ("free".into(), None),
            ("anas".into(), Some("ana".into())),
            ("bens".into(), Some("ben".into())),
        ]
    }

    #[test]
    fn without_reassign_only_unassigned_leads_change_hands() {
        let plan = plan(&request(false), held(), Vec::new());
        assert_eq!(plan.fresh, ["free"]);
        assert!(plan.taken_over.is_empty());
        let reasons: Vec<SkipReason> = plan.skipped.iter().map(|s| s.reason).collect();
        assert_eq!(
            reasons,
            [SkipReason::AlreadyAssigned, SkipReason::AlreadyAssigned]
        );
    }

    #[test]
    fn with_reassign_other_owners_lose_the_lead_and_the_assignee_keeps_theirs() {
        let plan = plan(&request(true), held(), Vec::new());
        assert_eq!(plan.fresh, ["free"]);
        assert_eq!(plan.taken_over, [("bens".to_owned(), "ben".to_owned())]);
        assert_eq!(plan.skipped[0].reason, SkipReason::AlreadyOwnedByAssignee);
        let kinds: Vec<EventKind> = plan.history(&request(true)).map(|(_, h)| h.kind).collect();
        assert_eq!(kinds, [EventKind::Assigned, EventKind::Reassigned]);
        assert_eq!(plan.method, AssignmentMethod::Bulk);
    }
}
