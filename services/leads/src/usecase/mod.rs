//! The leads service's use cases: read what a decision needs, let the domain
//! decide, have the store apply the change in one transaction, and wake the
//! dispatcher. Handlers (`grpc/`) only authenticate, parse and convert; the
//! dispatcher's late routing comes through here too.

mod assign;
mod create;
mod sla;

use std::sync::Arc;

use leadflow_auth::Caller;
use tokio::sync::Notify;

use crate::dispatch::Reconciler;
use crate::domain::change::{self, ClaimOutcome};
use crate::domain::lead::{Lead, LeadEvent, LeadStatus};
use crate::domain::permissions::{self, LeadScope};
use crate::domain::routing::RoutingOutcome;
use crate::error::LeadsError;
use crate::peers::{Peers, RouteAnswer, RouteQuestion};
use crate::store::{Applied, DueTimer, Settle, Store};

pub use assign::AssignInput;
pub use create::{BatchInput, CreateInput};
pub use sla::SlaGate;

/// How the leads service reaches the other services.
#[derive(Clone)]
pub struct Wiring {
    /// Routing and the notifier.
    pub peers: Arc<Peers>,
    /// Wakes the outbox dispatcher after a commit.
    pub wake: Arc<Notify>,
    /// Reconciles an organisation whose routing state was reset.
    pub reconciler: Arc<Reconciler>,
    /// A test's hook into SLA expiries ([`SlaGate`]); `None` in production.
    pub sla_gate: Option<SlaGate>,
    /// Sends a committed change's notifications at once ([`crate::fastpath`]).
    pub fast: crate::fastpath::FastPath,
}

/// The use cases, over one store and the peers.
#[derive(Clone)]
pub struct Leads {
    /// The leads database.
    store: Store,
    /// Routing, the notifier and the dispatcher.
    wiring: Wiring,
}

fn changed_meanwhile() -> LeadsError {
    LeadsError::Aborted("the lead changed at the same time; read it again and retry".into())
}

impl Leads {
    pub fn new(store: Store, wiring: Wiring) -> Self {
        Leads { store, wiring }
    }

    /// The store, for handlers that only read.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Tells the dispatcher there is something new in the outbox.
    fn committed(&self) {
        self.wiring.wake.notify_one();
    }

    /// Asks routing about a lead; a reset routing state triggers a reconcile.
    async fn ask_routing(
        &self,
        org_id: &str,
        question: RouteQuestion<'_>,
        deadline: Option<std::time::Duration>,
    ) -> Result<Result<RouteAnswer, tonic::Status>, LeadsError> {
        let team = self.store.list_members(org_id, false, true).await?;
        let answer = self
            .wiring
            .peers
            .route(org_id, question, &team, deadline)
            .await;
        if answer.as_ref().is_ok_and(|a| a.state_reset) {
            self.wiring.reconciler.trigger(org_id);
        }
        Ok(answer)
    }

    /// A lead the caller can see, or NOT_FOUND (whether absent or invisible).
    pub async fn visible_lead(
        &self,
        caller: &Caller,
        scope: &LeadScope,
        id: &str,
    ) -> Result<Lead, LeadsError> {
        match self.store.lead(&caller.org_id, id).await? {
            Some(lead) if scope.sees(lead.owner_id.as_deref()) => Ok(lead),
            _ => Err(LeadsError::lead_not_found()),
        }
    }

    /// GetLead.
    pub async fn get(
        &self,
        caller: &Caller,
        scope: &LeadScope,
        id: &str,
    ) -> Result<Lead, LeadsError> {
        self.visible_lead(caller, scope, id).await
    }

    /// GetLeadHistory.
    pub async fn history(
        &self,
        caller: &Caller,
        scope: &LeadScope,
        id: &str,
    ) -> Result<Vec<LeadEvent>, LeadsError> {
        self.visible_lead(caller, scope, id).await?;
        self.store.history(&caller.org_id, id).await
    }

    /// ClaimLead: of any number of simultaneous claims exactly one wins.
    pub async fn claim(&self, caller: &Caller, id: &str) -> Result<Lead, LeadsError> {
        permissions::may_claim(caller)?;
        let me = self.store.member(&caller.org_id, &caller.user_id).await?;
        if !me.is_some_and(|m| m.can_own_leads()) {
            return Err(LeadsError::FailedPrecondition(
                "only an active, sales-capable team member can claim leads".into(),
            ));
        }
        let outcome = match self
            .store
            .apply(&caller.org_id, &change::claim(id, &caller.user_id))
            .await?
        {
            Applied::Changed(lead) => ClaimOutcome::Claimed(lead),
            Applied::Unchanged(current) => change::claim_lost(current, &caller.user_id),
        };
        match outcome {
            ClaimOutcome::Claimed(lead) | ClaimOutcome::AlreadyYours(lead) => Ok(lead),
            ClaimOutcome::Taken => Err(LeadsError::FailedPrecondition(
                "this lead is already assigned — ask an owner or manager to reassign it".into(),
            )),
            ClaimOutcome::NotFound => Err(LeadsError::lead_not_found()),
        }
    }

    /// UnassignLead: back to the pool, if the owner the caller saw still has it.
    pub async fn unassign(
        &self,
        caller: &Caller,
        scope: &LeadScope,
        id: &str,
    ) -> Result<Lead, LeadsError> {
        let lead = self.visible_lead(caller, scope, id).await?;
        permissions::may_unassign(caller, lead.owner_id.as_deref())?;
        let Some(change) = change::unassign(&lead, &caller.user_id) else {
            return Ok(lead);
        };
        self.apply(&caller.org_id, &change).await
    }

    /// UpdateLeadStatus, if the lead is still as the caller saw it.
    pub async fn set_status(
        &self,
        caller: &Caller,
        scope: &LeadScope,
        id: &str,
        status: LeadStatus,
    ) -> Result<Lead, LeadsError> {
        let lead = self.visible_lead(caller, scope, id).await?;
        permissions::may_update_status(caller, lead.owner_id.as_deref())?;
        let Some(change) = change::set_status(&lead, &caller.user_id, status) else {
            return Ok(lead);
        };
        self.apply(&caller.org_id, &change).await
    }

    /// AcceptLead: the owner has seen the lead and is on it, which meets a
    /// running SLA. Accepting twice changes nothing the second time.
    pub async fn accept(
        &self,
        caller: &Caller,
        scope: &LeadScope,
        id: &str,
    ) -> Result<Lead, LeadsError> {
        let lead = self.visible_lead(caller, scope, id).await?;
        permissions::may_accept(caller, lead.owner_id.as_deref())?;
        let Some(change) = change::accept(&lead, &caller.user_id) else {
            return Ok(lead);
        };
        self.apply(&caller.org_id, &change).await
    }

    /// Applies a change whose guard is the state the caller saw: ABORTED if
    /// it changed in the meantime.
    async fn apply(&self, org_id: &str, change: &change::LeadChange) -> Result<Lead, LeadsError> {
        match self.store.apply(org_id, change).await? {
            Applied::Changed(lead) => Ok(lead),
            Applied::Unchanged(_) => Err(changed_meanwhile()),
        }
    }

    /// Late routing of a lead created while routing was away (the outbox's
    /// Route event): the same question as at creation, so a pick routing made
    /// after the deadline is replayed, not made twice. `Ok` also when the
    /// lead was claimed or assigned in the meantime (that wins); `Err` is the
    /// peer's refusal, for the dispatcher to retry or give up on.
    pub async fn route_late(&self, org_id: &str, lead_id: &str) -> Result<(), LateRouting> {
        let lead = self.store.lead(org_id, lead_id).await?;
        let Some(lead) = lead.filter(|l| l.owner_id.is_none() && l.status == LeadStatus::New)
        else {
            return Ok(());
        };
        // The same question as at creation, so a sticky pick is replayed.
        let preferred = self.store.contact_matches(org_id, &lead.email).await?;
        let question = RouteQuestion {
            lead_id,
            source: lead.source,
            tags: &lead.tags,
            attempt: crate::peers::FIRST_ATTEMPT,
            exclude: &[],
            preferred: &preferred,
        };
        let answer = self
            .ask_routing(org_id, question, Some(std::time::Duration::from_secs(5)))
            .await??;
        let mut change = change::route_late(lead_id, &answer.outcome);
        change.sla = self.sla_start(org_id, &answer.outcome, None).await?;
        self.store.apply(org_id, &change).await?;
        if matches!(answer.outcome, RoutingOutcome::Routed { .. }) {
            self.committed();
        }
        Ok(())
    }
}

impl Leads {
    /// A held lead's retry (the timer worker): the same question as at
    /// creation (routing remembers no HELD answer, so it decides afresh),
    /// and its outcome settled with the timer in one transaction. A lead
    /// that is no longer held ends its timer. Routing off, or nobody left
    /// to ask, keeps the lead held: it stays claimable and assignable by
    /// hand meanwhile, and is routed as soon as someone can take it.
    /// `Ok(false)`: the timer's lease was lost to another worker.
    pub async fn retry_held(&self, timer: &DueTimer) -> Result<bool, LeadsError> {
        let lead = self.store.lead(&timer.org_id, &timer.lead_id).await?;
        let Some(lead) = lead.filter(|l| {
            l.owner_id.is_none() && l.status == LeadStatus::New && l.held_since.is_some()
        }) else {
            return self.store.settle_timer(timer, Settle::Gone).await;
        };
        if !self.store.heads_its_pool(timer).await? {
            return self.store.settle_timer(timer, Settle::Wait).await;
        }
        let preferred = self
            .store
            .contact_matches(&timer.org_id, &lead.email)
            .await?;
        let question = RouteQuestion {
            lead_id: &lead.id,
            source: lead.source,
            tags: &lead.tags,
            attempt: crate::peers::FIRST_ATTEMPT,
            exclude: &[],
            preferred: &preferred,
        };
        let answer = self
            .ask_routing(
                &timer.org_id,
                question,
                Some(std::time::Duration::from_secs(5)),
            )
            .await?;
        let settle = match &answer {
            Err(status) => Settle::Failed {
                error: format!("{:?}: {}", status.code(), status.message()),
                backoff: crate::dispatch::retry_backoff(timer.attempts),
            },
            Ok(answer) => match &answer.outcome {
                RoutingOutcome::Routed { .. } => {
                    let mut change = change::route_held(&lead.id, &answer.outcome);
                    change.sla = self.sla_start(&timer.org_id, &answer.outcome, None).await?;
                    let settled = self
                        .store
                        .settle_timer(timer, Settle::Routed(&change))
                        .await?;
                    self.committed();
                    return Ok(settled);
                }
                RoutingOutcome::Held { retry_at, .. } => Settle::StillHeld {
                    retry_at: *retry_at,
                },
                RoutingOutcome::Pending { explanation } => Settle::Failed {
                    error: explanation.clone(),
                    backoff: crate::dispatch::retry_backoff(timer.attempts),
                },
                RoutingOutcome::NotRouted { .. } | RoutingOutcome::NotAsked => {
                    Settle::StillHeld { retry_at: None }
                }
            },
        };
        self.store.settle_timer(timer, settle).await
    }
}

/// Why late routing did not finish.
#[derive(Debug)]
pub enum LateRouting {
    /// Routing refused or did not answer.
    Peer(tonic::Status),
    /// The leads database failed.
    Local(LeadsError),
}

impl From<tonic::Status> for LateRouting {
    fn from(status: tonic::Status) -> Self {
        LateRouting::Peer(status)
    }
}

impl From<LeadsError> for LateRouting {
    fn from(error: LeadsError) -> Self {
        LateRouting::Local(error)
    }
}
