//! The routing SLA's use cases: starting a chain when routing picks a rep
//! from a pool with an SLA, and what the timer worker does when a deadline
//! passes ([`Leads::expire_sla`]). The rules are in [`crate::domain::sla`].

use std::sync::Arc;

use futures::future::BoxFuture;
use leadflow_auth::Role;

use super::Leads;
use crate::domain::change;
use crate::domain::lead::Lead;
use crate::domain::member::Member;
use crate::domain::routing::RoutingOutcome;
use crate::domain::sla::{self, EscalationReason, Expiry, SlaChain, SlaTimer};
use crate::error::LeadsError;
use crate::peers::RouteQuestion;
use crate::store::{DueTimer, Settle};

/// A test's hook into an SLA expiry, awaited with the lead's id after
/// routing answered and before the expiry's effect commits: a test holds it
/// to commit a competing action in exactly that gap. `None` in production.
pub type SlaGate = Arc<dyn Fn(String) -> BoxFuture<'static, ()> + Send + Sync>;

impl Leads {
    /// The SLA timer a routed `outcome` starts now, if its pool has an SLA.
    /// `team` is the team when already read (the holder's schedule counts
    /// when only working hours do).
    pub(super) async fn sla_start(
        &self,
        org_id: &str,
        outcome: &RoutingOutcome,
        team: Option<&[Member]>,
    ) -> Result<Option<SlaTimer>, LeadsError> {
        let RoutingOutcome::Routed {
            assignee,
            sla: Some((policy, pool)),
            ..
        } = outcome
        else {
            return Ok(None);
        };
        let schedule = if policy.working_hours_only {
            self.schedule_of(org_id, assignee, team).await?
        } else {
            None
        };
        Ok(Some(sla::start(
            *policy,
            pool,
            assignee,
            self.store.now(),
            schedule.as_ref(),
        )))
    }

    /// `user_id`'s schedule, from `team` if given.
    async fn schedule_of(
        &self,
        org_id: &str,
        user_id: &str,
        team: Option<&[Member]>,
    ) -> Result<Option<leadflow_schedule::Schedule>, LeadsError> {
        let member = match team.and_then(|t| t.iter().find(|m| m.user_id == user_id)) {
            Some(member) => Some(member.clone()),
            None => self.store.member(org_id, user_id).await?,
        };
        Ok(member.and_then(|m| m.schedule))
    }

    /// An SLA deadline passed (the timer worker). If the holder has not
    /// acted, the lead goes to the next eligible rep of its pool (routing
    /// asked with every earlier holder excluded, under this hop's attempt
    /// number), or, with no hop or nobody left, the managers and owners are
    /// told once. The effect commits with the end of the timer, under its
    /// lease: exactly once on any number of replicas. `Ok(false)`: the
    /// lease was lost to another worker.
    pub async fn expire_sla(&self, timer: &DueTimer) -> Result<bool, LeadsError> {
        let Some(chain) = timer.chain.as_ref() else {
            tracing::warn!(lead = %timer.lead_id, "an SLA timer without a readable chain; ended");
            return self.store.settle_timer(timer, Settle::Gone).await;
        };
        let lead = self.store.lead(&timer.org_id, &timer.lead_id).await?;
        let (lead, exclude, attempt) = match (sla::on_expiry(chain, lead.as_ref()), lead) {
            (Expiry::Reroute { exclude, attempt }, Some(lead)) => (lead, exclude, attempt),
            (Expiry::Escalate, Some(_)) => {
                return self
                    .escalate(timer, chain, EscalationReason::OutOfHops)
                    .await;
            }
            _ => return self.store.settle_timer(timer, Settle::Gone).await,
        };
        let question = RouteQuestion {
            lead_id: &lead.id,
            source: lead.source,
            tags: &lead.tags,
            attempt,
            exclude: &exclude,
            preferred: &[],
        };
        let answer = self
            .ask_routing(
                &timer.org_id,
                question,
                Some(std::time::Duration::from_secs(5)),
            )
            .await?;
        let failed = |error: String| Settle::Failed {
            error,
            backoff: crate::dispatch::retry_backoff(timer.attempts),
        };
        let outcome = match answer {
            Ok(answer) => answer.outcome,
            Err(status) => {
                let error = format!("{:?}: {}", status.code(), status.message());
                return self.store.settle_timer(timer, failed(error)).await;
            }
        };
        match outcome {
            RoutingOutcome::Routed {
                assignee,
                explanation,
                ..
            } => {
                self.reroute(timer, chain, &lead, &assignee, &explanation)
                    .await
            }
            RoutingOutcome::Held { explanation, .. }
            | RoutingOutcome::NotRouted { explanation } => {
                let reason = EscalationReason::NobodyLeft {
                    routing: explanation,
                };
                self.escalate(timer, chain, reason).await
            }
            RoutingOutcome::NotAsked => {
                let reason = EscalationReason::NobodyLeft {
                    routing: "routing is not configured".into(),
                };
                self.escalate(timer, chain, reason).await
            }
            RoutingOutcome::Pending { explanation } => {
                self.store.settle_timer(timer, failed(explanation)).await
            }
        }
    }

    /// Moves the lead to `next`, starting the chain's next hop.
    async fn reroute(
        &self,
        timer: &DueTimer,
        chain: &SlaChain,
        lead: &Lead,
        next: &str,
        explanation: &str,
    ) -> Result<bool, LeadsError> {
        let schedule = if chain.policy.working_hours_only {
            self.schedule_of(&timer.org_id, next, None).await?
        } else {
            None
        };
        let next_timer = sla::next_hop(chain, next, self.store.now(), schedule.as_ref());
        let change = change::sla_reroute(&lead.id, chain, next, explanation, next_timer);
        self.sla_gate(&lead.id).await;
        let settled = self
            .store
            .settle_timer(timer, Settle::Expired(&change))
            .await?;
        self.committed();
        Ok(settled)
    }

    /// Ends the chain with one bell to each active manager and owner.
    async fn escalate(
        &self,
        timer: &DueTimer,
        chain: &SlaChain,
        reason: EscalationReason,
    ) -> Result<bool, LeadsError> {
        let managers: Vec<String> = self
            .store
            .list_members(&timer.org_id, false, false)
            .await?
            .into_iter()
            .filter(|m| matches!(m.role, Role::Owner | Role::Manager))
            .map(|m| m.user_id)
            .collect();
        let change = change::sla_escalate(&timer.lead_id, chain, &reason, &managers);
        self.sla_gate(&timer.lead_id).await;
        let settled = self
            .store
            .settle_timer(timer, Settle::Expired(&change))
            .await?;
        self.committed();
        Ok(settled)
    }

    /// Waits on the test hook, if one is set.
    async fn sla_gate(&self, lead_id: &str) {
        if let Some(gate) = &self.wiring.sla_gate {
            gate(lead_id.to_owned()).await;
        }
    }
}
