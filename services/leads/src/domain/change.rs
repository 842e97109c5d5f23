//! Every change of one lead, as a value: the guarded write, the history rows
//! and whom to tell. The rules below decide it from what was read; the store
//! applies it in one transaction and decides nothing.
//!
//! Outbox events that carry the lead's state (its new version, its name for a
//! notification) are named here as [`Tell`]s and filled in from the row the
//! write produced ([`LeadChange::events`]), so a version is never guessed.

use super::events::{LeadMention, NotifyKind, OutboxEvent, OwnershipFact};
use super::lead::{AssignmentMethod, EventKind, Lead, LeadEvent, LeadStatus, NewLead};
use super::routing::RoutingOutcome;
use super::sla::{self, EscalationReason, SlaChain, SlaTimer};

/// The actor of changes routing makes.
pub const ROUTING_ACTOR: &str = "leadflow-routing";

/// A history row to write: an entry of the lead's history before the store
/// gives it its id, its lead and its time.
pub type HistoryRow = LeadEvent<(), (), ()>;

impl HistoryRow {
    /// A row of `kind` by `actor_id` with nothing else set.
    pub fn new(kind: EventKind, actor_id: &str) -> HistoryRow {
        HistoryRow {
            id: (),
            lead_id: (),
            kind,
            actor_id: actor_id.to_owned(),
            method: None,
            from_owner_id: None,
            to_owner_id: None,
            from_status: None,
            to_status: None,
            batch_id: None,
            explanation: None,
            at: (),
        }
    }

    /// HELD: routing holds the lead; the explanation says who is capped or
    /// off shift and until when.
    pub fn held(explanation: &str) -> HistoryRow {
        HistoryRow {
            explanation: Some(explanation.to_owned()),
            ..HistoryRow::new(EventKind::Held, ROUTING_ACTOR)
        }
    }

    /// ROUTED: routing gave the lead to `assignee`, with its explanation.
    pub fn routed(assignee: &str, explanation: &str) -> HistoryRow {
        HistoryRow {
            method: Some(AssignmentMethod::Routing),
            to_owner_id: Some(assignee.to_owned()),
            explanation: Some(explanation.to_owned()),
            ..HistoryRow::new(EventKind::Routed, ROUTING_ACTOR)
        }
    }
}

/// A lead routing holds: it waits, unassigned, in its pool's queue of held
/// leads, and is asked about again when capacity may have freed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The pool that holds it (the rule's name, or `default`).
    pub pool: String,
    /// The earliest moment someone of the pool may take it, if routing knows.
    pub retry_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Hold {
    /// The hold routing's answer asks for, if it held the lead.
    pub fn of(outcome: &RoutingOutcome) -> Option<Hold> {
        match outcome {
            RoutingOutcome::Held { pool, retry_at, .. } => Some(Hold {
                pool: pool.clone(),
                retry_at: *retry_at,
            }),
            _ => None,
        }
    }
}

/// The write of a change, with the guard that settles races: of any number
/// of writers with the same guard, exactly one lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeadWrite {
    /// Nothing but history (routing left the lead alone).
    HistoryOnly,
    /// Give the lead an owner if it has none (`owner_id IS NULL`).
    TakeUnassigned {
        /// The new owner.
        owner: String,
        /// Who gave it (the claimer, or routing).
        assigned_by: String,
        /// How.
        method: AssignmentMethod,
    },
    /// Routing gives a held lead to `owner`, if it is still unassigned,
    /// new and held: a close, or a claim and unassignment, while routing was
    /// asked wins.
    TakeHeld {
        /// The new owner.
        owner: String,
    },
    /// Back to the unassigned pool, if `expected_owner` still owns it.
    Release {
        /// The owner the caller saw.
        expected_owner: String,
    },
    /// Mark the lead held and queue its retry, if it is still unassigned
    /// and new (a claim in the meantime wins).
    Hold(Hold),
    /// The owner accepts the lead, if they still own it: it ends a running SLA.
    Accept {
        /// The owner the caller saw (the caller).
        owner: String,
    },
    /// An SLA chain moves the lead from its holder to the next rep, if the
    /// holder still has it and it is still NEW: an action that committed
    /// first wins.
    Reroute {
        /// The holder whose time ran out.
        from: String,
        /// Routing's pick for the next hop.
        to: String,
    },
    /// An SLA chain ends in escalation: the lead stays with its holder (if
    /// they still have it and it is still NEW), its deadline cleared.
    Escalate {
        /// The last holder.
        holder: String,
    },
    /// A new status, if the lead is still at `expected_version`.
    SetStatus {
        /// The new status.
        status: LeadStatus,
        /// The version the caller saw.
        expected_version: i64,
    },
}

impl LeadWrite {
    /// Whether this write, once landed, ends the lead's running SLA chain:
    /// every change of owner or status does, and an accept (a hold and a
    /// history-only write change neither).
    pub fn ends_sla(&self) -> bool {
        !matches!(self, LeadWrite::HistoryOnly | LeadWrite::Hold(_))
    }
}

/// Whom a change tells, once it has landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tell {
    /// Routing, of the lead's owner and open state at its new version.
    Ownership,
    /// A rep, of the lead.
    Notify {
        /// Who hears of it.
        recipient_id: String,
        /// Why.
        kind: NotifyKind,
        /// Who made the change.
        actor_id: String,
        /// The rep the lead went to instead ([`NotifyKind::Moved`]).
        moved_to: Option<String>,
    },
    /// The dispatcher, to route the lead once routing is back.
    RouteLater,
}

impl Tell {
    /// The outbox event this becomes for `lead` as written.
    pub fn event(&self, lead: &Lead) -> OutboxEvent {
        match self {
            Tell::Ownership => OutboxEvent::Ownership {
                changes: vec![OwnershipFact::of(lead)],
            },
            Tell::Notify {
                recipient_id,
                kind,
                actor_id,
                moved_to,
            } => OutboxEvent::Notify {
                recipient_id: recipient_id.clone(),
                kind: *kind,
                actor_id: actor_id.clone(),
                leads: vec![LeadMention::of(lead)],
                batch: None,
                moved_to: moved_to.clone(),
            },
            Tell::RouteLater => OutboxEvent::Route {
                lead_id: lead.id.clone(),
            },
        }
    }
}

/// One change of one existing lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadChange {
    /// The lead.
    pub lead_id: String,
    /// What is written, under which guard.
    pub write: LeadWrite,
    /// The history rows, written only if the write lands.
    pub history: Vec<HistoryRow>,
    /// Whom to tell, only if the write lands.
    pub tell: Vec<Tell>,
    /// The SLA timer the change starts (a routed lead of a pool with an
    /// SLA, or an SLA chain's next hop). Whether or not it starts one, a
    /// change of owner or status ends the lead's running SLA.
    pub sla: Option<SlaTimer>,
}

impl LeadChange {
    /// The outbox events for `lead` as the write left it.
    pub fn events(&self, lead: &Lead) -> Vec<OutboxEvent> {
        self.tell.iter().map(|tell| tell.event(lead)).collect()
    }
}

/// ClaimLead: `user_id` takes the lead if nobody has it.
pub fn claim(lead_id: &str, user_id: &str) -> LeadChange {
    LeadChange {
        lead_id: lead_id.to_owned(),
        write: LeadWrite::TakeUnassigned {
            owner: user_id.to_owned(),
            assigned_by: user_id.to_owned(),
            method: AssignmentMethod::Claim,
        },
        history: vec![HistoryRow {
            method: Some(AssignmentMethod::Claim),
            to_owner_id: Some(user_id.to_owned()),
            ..HistoryRow::new(EventKind::Claimed, user_id)
        }],
        tell: vec![Tell::Ownership],
        sla: None,
    }
}

/// How a claim ended.
#[derive(Debug)]
pub enum ClaimOutcome {
    /// The caller took it.
    Claimed(Lead),
    /// The caller already owns it (a retried claim): nothing changed.
    AlreadyYours(Lead),
    /// Someone owns it: the caller lost the race or it was never free.
    Taken,
    /// No such lead in the caller's organisation.
    NotFound,
}

/// What a claim that did not land means, from the lead as it is now.
pub fn claim_lost(current: Option<Lead>, user_id: &str) -> ClaimOutcome {
    match current {
        None => ClaimOutcome::NotFound,
        Some(lead) if lead.owner_id.as_deref() == Some(user_id) => ClaimOutcome::AlreadyYours(lead),
        Some(_) => ClaimOutcome::Taken,
    }
}

/// UnassignLead: back to the pool. `None`: it has no owner (nothing to do).
pub fn unassign(lead: &Lead, actor_id: &str) -> Option<LeadChange> {
    let owner = lead.owner_id.clone()?;
    Some(LeadChange {
        lead_id: lead.id.clone(),
        history: vec![HistoryRow {
            from_owner_id: Some(owner.clone()),
            ..HistoryRow::new(EventKind::Unassigned, actor_id)
        }],
        write: LeadWrite::Release {
            expected_owner: owner,
        },
        tell: vec![Tell::Ownership],
        sla: None,
    })
}

/// UpdateLeadStatus. `None`: the lead already has that status.
pub fn set_status(lead: &Lead, actor_id: &str, status: LeadStatus) -> Option<LeadChange> {
    (lead.status != status).then(|| LeadChange {
        lead_id: lead.id.clone(),
        write: LeadWrite::SetStatus {
            status,
            expected_version: lead.version,
        },
        history: vec![HistoryRow {
            from_owner_id: lead.owner_id.clone(),
            to_owner_id: lead.owner_id.clone(),
            from_status: Some(lead.status),
            to_status: Some(status),
            ..HistoryRow::new(EventKind::StatusChanged, actor_id)
        }],
        tell: vec![Tell::Ownership],
        sla: None,
    })
}

/// Late routing of a lead created while routing was away: routing's pick
/// takes it if it is still unassigned (a claim in the meantime wins);
/// otherwise the history says why it was left alone.
pub fn route_late(lead_id: &str, outcome: &RoutingOutcome) -> LeadChange {
    match outcome {
        RoutingOutcome::Routed {
            assignee,
            explanation,
            ..
        } => LeadChange {
            lead_id: lead_id.to_owned(),
            write: LeadWrite::TakeUnassigned {
                owner: assignee.clone(),
                assigned_by: ROUTING_ACTOR.to_owned(),
                method: AssignmentMethod::Routing,
            },
            history: vec![HistoryRow::routed(assignee, explanation)],
            tell: vec![
                Tell::Ownership,
                Tell::Notify {
                    recipient_id: assignee.clone(),
                    kind: NotifyKind::Routed,
                    actor_id: ROUTING_ACTOR.to_owned(),
                    moved_to: None,
                },
            ],
            sla: None,
        },
        RoutingOutcome::Held {
            explanation,
            pool,
            retry_at,
        } => LeadChange {
            lead_id: lead_id.to_owned(),
            write: LeadWrite::Hold(Hold {
                pool: pool.clone(),
                retry_at: *retry_at,
            }),
            history: vec![HistoryRow::held(explanation)],
            tell: Vec::new(),
            sla: None,
        },
        RoutingOutcome::NotRouted { explanation } | RoutingOutcome::Pending { explanation } => {
            LeadChange {
                lead_id: lead_id.to_owned(),
                write: LeadWrite::HistoryOnly,
                history: vec![HistoryRow {
                    explanation: Some(explanation.clone()),
                    ..HistoryRow::new(EventKind::Routed, ROUTING_ACTOR)
                }],
                tell: Vec::new(),
                sla: None,
            }
        }
        RoutingOutcome::NotAsked => LeadChange {
            lead_id: lead_id.to_owned(),
            write: LeadWrite::HistoryOnly,
            history: Vec::new(),
            tell: Vec::new(),
            sla: None,
        },
    }
}

/// A held lead's retry, as late routing, except that routing's pick lands
/// only while the lead is still held ([`LeadWrite::TakeHeld`]).
pub fn route_held(lead_id: &str, outcome: &RoutingOutcome) -> LeadChange {
    let mut change = route_late(lead_id, outcome);
    if let LeadWrite::TakeUnassigned { owner, .. } = &change.write {
        change.write = LeadWrite::TakeHeld {
            owner: owner.clone(),
        };
    }
    change
}

/// AcceptLead by its owner `actor_id`: recorded, and the running SLA ends.
/// `None`: already accepted and no SLA running (nothing to do).
pub fn accept(lead: &Lead, actor_id: &str) -> Option<LeadChange> {
    if lead.accepted_at.is_some() && lead.accept_by.is_none() {
        return None;
    }
    Some(LeadChange {
        lead_id: lead.id.clone(),
        write: LeadWrite::Accept {
            owner: actor_id.to_owned(),
        },
        history: vec![HistoryRow {
            from_owner_id: lead.owner_id.clone(),
            to_owner_id: lead.owner_id.clone(),
            ..HistoryRow::new(EventKind::Accepted, actor_id)
        }],
        tell: Vec::new(),
        sla: None,
    })
}

/// An SLA chain's re-route: routing picked `next` for the lead `chain`'s
/// holder did not accept; `next_timer` is the following hop's timer. The
/// new rep hears of it as a routed lead, the old one that it moved.
pub fn sla_reroute(
    lead_id: &str,
    chain: &SlaChain,
    next: &str,
    routing_explanation: &str,
    next_timer: SlaTimer,
) -> LeadChange {
    LeadChange {
        lead_id: lead_id.to_owned(),
        write: LeadWrite::Reroute {
            from: chain.holder.clone(),
            to: next.to_owned(),
        },
        history: vec![HistoryRow {
            method: Some(AssignmentMethod::SlaReroute),
            from_owner_id: Some(chain.holder.clone()),
            to_owner_id: Some(next.to_owned()),
            explanation: Some(sla::moved_explanation(chain, next, routing_explanation)),
            ..HistoryRow::new(EventKind::Reassigned, ROUTING_ACTOR)
        }],
        tell: vec![
            Tell::Ownership,
            Tell::Notify {
                recipient_id: next.to_owned(),
                kind: NotifyKind::Routed,
                actor_id: ROUTING_ACTOR.to_owned(),
                moved_to: None,
            },
            Tell::Notify {
                recipient_id: chain.holder.clone(),
                kind: NotifyKind::Moved,
                actor_id: ROUTING_ACTOR.to_owned(),
                moved_to: Some(next.to_owned()),
            },
        ],
        sla: Some(next_timer),
    }
}

/// An SLA chain's end in escalation: one bell to each of `managers` (the
/// organisation's active managers and owners), the lead left with its
/// holder.
pub fn sla_escalate(
    lead_id: &str,
    chain: &SlaChain,
    reason: &EscalationReason,
    managers: &[String],
) -> LeadChange {
    LeadChange {
        lead_id: lead_id.to_owned(),
        write: LeadWrite::Escalate {
            holder: chain.holder.clone(),
        },
        history: vec![HistoryRow {
            from_owner_id: Some(chain.holder.clone()),
            to_owner_id: Some(chain.holder.clone()),
            explanation: Some(sla::escalation_explanation(chain, reason)),
            ..HistoryRow::new(EventKind::Escalated, ROUTING_ACTOR)
        }],
        tell: managers
            .iter()
            .map(|manager| Tell::Notify {
                recipient_id: manager.clone(),
                kind: NotifyKind::Escalated,
                actor_id: ROUTING_ACTOR.to_owned(),
                moved_to: None,
            })
            .collect(),
        sla: None,
    }
}

/// A new lead as it is to be stored: its owner, the history and whom to tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLeadPlan {
    /// The owner it starts with (explicit, or routing's pick).
    pub owner_id: Option<String>,
    /// How it got that owner.
    pub method: Option<AssignmentMethod>,
    /// Who gave it that owner (the creator, or routing).
    pub assigned_by: Option<String>,
    /// CREATED, and ROUTED when routing picked the owner.
    pub history: Vec<HistoryRow>,
    /// Routing (ownership), the owner (unless they created it), or the
    /// dispatcher (routing was away).
    pub tell: Vec<Tell>,
    /// Routing held the lead: it starts held, with its retry queued.
    pub hold: Option<Hold>,
    /// Routing's pool has an SLA: the timer it starts (set by the use
    /// case, which knows the clock and the holder's schedule).
    pub sla: Option<SlaTimer>,
}

/// CreateLead: how `new`, created by `actor_id`, starts its life.
pub fn create(actor_id: &str, new: &NewLead, routing: &RoutingOutcome) -> NewLeadPlan {
    let explicit = new.owner_id.as_deref();
    let (owner_id, method, assigned_by) = match (explicit, routing) {
        (Some(owner), _) => (
            Some(owner.to_owned()),
            Some(AssignmentMethod::ExplicitOwner),
            Some(actor_id.to_owned()),
        ),
        (None, RoutingOutcome::Routed { assignee, .. }) => (
            Some(assignee.clone()),
            Some(AssignmentMethod::Routing),
            Some(ROUTING_ACTOR.to_owned()),
        ),
        (None, _) => (None, None, None),
    };
    let created_explanation = match routing {
        RoutingOutcome::NotRouted { explanation } | RoutingOutcome::Pending { explanation } => {
            Some(explanation.clone())
        }
        _ => None,
    };
    let mut history = vec![HistoryRow {
        method: explicit.map(|_| AssignmentMethod::ExplicitOwner),
        to_owner_id: explicit.map(str::to_owned),
        to_status: Some(LeadStatus::New),
        explanation: created_explanation,
        ..HistoryRow::new(EventKind::Created, actor_id)
    }];
    match (explicit, routing) {
        (
            None,
            RoutingOutcome::Routed {
                assignee,
                explanation,
                ..
            },
        ) => history.push(HistoryRow::routed(assignee, explanation)),
        (None, RoutingOutcome::Held { explanation, .. }) => {
            history.push(HistoryRow::held(explanation))
        }
        _ => {}
    }
    let mut tell = Vec::new();
    if let Some(owner) = &owner_id {
        tell.push(Tell::Ownership);
        if owner != actor_id {
            tell.push(Tell::Notify {
                recipient_id: owner.clone(),
                kind: if explicit.is_some() {
                    NotifyKind::Assigned
                } else {
                    NotifyKind::Routed
                },
                actor_id: actor_id.to_owned(),
                moved_to: None,
            });
        }
    }
    if matches!(routing, RoutingOutcome::Pending { .. }) && explicit.is_none() {
        tell.push(Tell::RouteLater);
    }
    NewLeadPlan {
        owner_id,
        method,
        assigned_by,
        history,
        tell,
        hold: explicit.is_none().then(|| Hold::of(routing)).flatten(),
        sla: None,
    }
}

/// Routing may have counted a pick for `id` (it was asked), but no lead with
/// that id was stored: a replayed key, or a row that failed. Tells routing
/// the id is closed, so the provisional count goes at once instead of at the
/// next reconcile (which removes the entry itself).
pub fn release_unused_pick(id: &str, routing: &RoutingOutcome) -> Option<OutboxEvent> {
    routing.may_have_picked().then(|| OutboxEvent::Ownership {
        changes: vec![OwnershipFact {
            lead_id: id.to_owned(),
            owner_id: None,
            open: false,
            version: 1,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lead::LeadSource;

    fn new_lead(owner: Option<&str>) -> NewLead {
        NewLead {
            name: "Ada".into(),
            email: String::new(),
            phone: String::new(),
            company: String::new(),
            source: LeadSource::Website,
            tags: Vec::new(),
            owner_id: owner.map(str::to_owned),
        }
    }

    fn routed(to: &str) -> RoutingOutcome {
        RoutingOutcome::Routed {
            assignee: to.into(),
            explanation: "round robin".into(),
            sla: None,
        }
    }

    #[test]
    fn an_explicit_owner_wins_over_routing_and_hears_of_it() {
        let plan = create("manager", &new_lead(Some("ana")), &routed("ben"));
        assert_eq!(plan.owner_id.as_deref(), Some("ana"));
        assert_eq!(plan.method, Some(AssignmentMethod::ExplicitOwner));
        assert_eq!(plan.history.len(), 1);
        assert!(plan.tell.contains(&Tell::Notify {
            recipient_id: "ana".into(),
            kind: NotifyKind::Assigned,
            actor_id: "manager".into(),
            moved_to: None,
        }));
    }

    #[test]
    fn a_routed_lead_is_created_then_routed_and_the_rep_is_told() {
        let plan = create("web-form", &new_lead(None), &routed("ben"));
        assert_eq!(plan.owner_id.as_deref(), Some("ben"));
        assert_eq!(plan.assigned_by.as_deref(), Some(ROUTING_ACTOR));
        let kinds: Vec<EventKind> = plan.history.iter().map(|h| h.kind).collect();
        assert_eq!(kinds, [EventKind::Created, EventKind::Routed]);
        assert_eq!(plan.tell.len(), 2);
    }

    #[test]
    fn a_lead_created_while_routing_is_away_is_routed_later() {
        let plan = create(
            "web-form",
            &new_lead(None),
            &RoutingOutcome::unreachable("Unavailable"),
        );
        assert_eq!(plan.owner_id, None);
        assert_eq!(plan.tell, [Tell::RouteLater]);
        assert!(plan.history[0].explanation.is_some());
    }

    #[test]
    fn whoever_assigns_a_lead_to_themselves_is_not_notified() {
        let plan = create("ana", &new_lead(Some("ana")), &RoutingOutcome::NotAsked);
        assert_eq!(plan.tell, [Tell::Ownership]);
    }

    #[test]
    fn late_routing_only_takes_a_lead_nobody_took() {
        let change = route_late("l1", &routed("ben"));
        assert!(matches!(change.write, LeadWrite::TakeUnassigned { .. }));
        let left = route_late(
            "l1",
            &RoutingOutcome::NotRouted {
                explanation: "nobody available".into(),
            },
        );
        assert_eq!(left.write, LeadWrite::HistoryOnly);
        assert!(left.tell.is_empty());
    }

    #[test]
    fn a_status_that_does_not_change_writes_nothing() {
        let lead = Lead {
            id: "l1".into(),
            name: "Ada".into(),
            email: String::new(),
            phone: String::new(),
            company: String::new(),
            source: LeadSource::Website,
            tags: Vec::new(),
            status: LeadStatus::New,
            owner_id: None,
            assigned_at: None,
            assigned_by: None,
            assignment_method: None,
            version: 3,
            created_by: "x".into(),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            held_since: None,
            accept_by: None,
            accepted_at: None,
        };
        assert!(set_status(&lead, "ana", LeadStatus::New).is_none());
        let change = set_status(&lead, "ana", LeadStatus::Contacted).expect("a change");
        assert_eq!(
            change.write,
            LeadWrite::SetStatus {
                status: LeadStatus::Contacted,
                expected_version: 3
            }
        );
        assert!(unassign(&lead, "ana").is_none());
        assert!(matches!(claim_lost(None, "ana"), ClaimOutcome::NotFound));
        let mut owned = lead;
        owned.owner_id = Some("ana".into());
        assert!(matches!(
            claim_lost(Some(owned.clone()), "ana"),
            ClaimOutcome::AlreadyYours(_)
        ));
        assert!(matches!(
            claim_lost(Some(owned), "ben"),
            ClaimOutcome::Taken
        ));
    }

    fn held() -> RoutingOutcome {
        RoutingOutcome::held(
            "everyone capped; ben: 10 of 10 new leads today (Europe/Berlin)".into(),
            String::new(),
            None,
        )
    }

    #[test]
    fn a_held_lead_starts_unassigned_and_held_with_the_reason_in_its_history() {
        let plan = create("web-form", &new_lead(None), &held());
        assert_eq!(plan.owner_id, None);
        assert_eq!(
            plan.hold,
            Some(Hold {
                pool: "default".into(),
                retry_at: None
            })
        );
        let kinds: Vec<EventKind> = plan.history.iter().map(|h| h.kind).collect();
        assert_eq!(kinds, [EventKind::Created, EventKind::Held]);
        assert!(
            plan.history[1]
                .explanation
                .as_deref()
                .unwrap()
                .contains("10 of 10")
        );
        assert!(plan.tell.is_empty(), "nobody to tell while held");
        // An explicit owner is never held.
        assert_eq!(create("m", &new_lead(Some("ana")), &held()).hold, None);
    }

    #[test]
    fn late_routing_that_is_held_marks_the_lead_held_if_still_free() {
        let change = route_late("l1", &held());
        assert!(matches!(change.write, LeadWrite::Hold(_)));
        assert_eq!(change.history[0].kind, EventKind::Held);
    }

    #[test]
    fn a_held_retry_takes_the_lead_only_while_it_is_still_held() {
        let change = route_held("l1", &routed("ben"));
        assert_eq!(
            change.write,
            LeadWrite::TakeHeld {
                owner: "ben".into()
            }
        );
        assert_eq!(change.history[0].kind, EventKind::Routed);
        assert!(change.tell.contains(&Tell::Ownership));
    }
}
