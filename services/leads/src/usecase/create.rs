//! CreateLead and BatchCreateLeads: validate the owner, replay a known key,
//! ask routing (with CreateLead's short deadline), and store the lead with
//! the plan the domain made from routing's answer.

use std::collections::HashSet;

use leadflow_auth::Caller;

use super::Leads;
use crate::domain::change;
use crate::domain::lead::{Lead, NewLead};
use crate::domain::member::Member;
use crate::domain::permissions;
use crate::domain::routing::RoutingOutcome;
use crate::error::LeadsError;
use crate::grpc::refuse_deactivated;
use crate::peers::{FIRST_ATTEMPT, RouteQuestion};
use crate::store::{Creation, new_lead_id};

/// A parsed CreateLead body.
#[derive(Debug, Clone)]
pub struct CreateInput {
    /// The validated lead.
    pub new: NewLead,
    /// The idempotency key, if given.
    pub key: Option<String>,
}

/// A parsed BatchCreateLeads call: each row valid or not on its own.
#[derive(Debug)]
pub struct BatchInput {
    /// The rows, in order.
    pub rows: Vec<Result<CreateInput, LeadsError>>,
    /// Route each new lead without an owner, as CreateLead would.
    pub route: bool,
}

impl Leads {
    /// Checks an explicit owner: the caller may name one, and they can own leads.
    async fn check_owner(&self, caller: &Caller, new: &NewLead) -> Result<(), LeadsError> {
        let Some(owner_id) = &new.owner_id else {
            return Ok(());
        };
        permissions::may_name_owner(caller, owner_id)?;
        let owner = self.store.member(&caller.org_id, owner_id).await?;
        if !owner.is_some_and(|m| m.can_own_leads()) {
            return Err(LeadsError::FailedPrecondition(
                "owner_id must be an active, sales-capable member of the team".into(),
            ));
        }
        Ok(())
    }

    /// Asks routing for a lead created without an owner. Never fails on
    /// routing's account: when routing is away the lead is routed later
    /// through the outbox. `team` is the team when it was already read.
    async fn route_new(
        &self,
        org_id: &str,
        lead_id: &str,
        new: &NewLead,
        team: Option<&[Member]>,
    ) -> Result<RoutingOutcome, LeadsError> {
        if new.owner_id.is_some() || !self.wiring.peers.routes() {
            return Ok(RoutingOutcome::NotAsked);
        }
        let preferred = self.store.contact_matches(org_id, &new.email).await?;
        let question = RouteQuestion {
            lead_id,
            source: new.source,
            tags: &new.tags,
            attempt: FIRST_ATTEMPT,
            exclude: &[],
            preferred: &preferred,
        };
        let answer = match team {
            Some(team) => {
                let answer = self.wiring.peers.route(org_id, question, team, None).await;
                if answer.as_ref().is_ok_and(|a| a.state_reset) {
                    self.wiring.reconciler.trigger(org_id);
                }
                answer
            }
            None => self.ask_routing(org_id, question, None).await?,
        };
        Ok(match answer {
            Ok(answer) => answer.outcome,
            Err(status) => {
                tracing::warn!(code = ?status.code(), "routing unavailable; the lead will be routed when it is back");
                RoutingOutcome::unreachable(status.code())
            }
        })
    }

    /// Everything decided about one new lead, ready for the store.
    fn creation(
        actor_id: &str,
        input: CreateInput,
        id: String,
        routing: &RoutingOutcome,
    ) -> Creation {
        Creation {
            plan: change::create(actor_id, &input.new, routing),
            release_if_unused: change::release_unused_pick(&id, routing),
            new: input.new,
            key: input.key,
            id,
        }
    }

    /// CreateLead (a repeated key with the same body answers the first lead).
    /// `input` is the parsed body, or why it did not parse: the caller's
    /// standing is checked first, so a caller who may not create leads hears
    /// that rather than what is wrong with the body.
    pub async fn create(
        &self,
        caller: &Caller,
        input: Result<CreateInput, LeadsError>,
    ) -> Result<Lead, LeadsError> {
        // A lead without an owner is routed, which needs the whole team; the
        // same read says whether the caller is still active (one query, not two).
        let routed = input.as_ref().is_ok_and(|i| i.new.owner_id.is_none());
        let team = if routed && self.wiring.peers.routes() {
            let team = self.store.list_members(&caller.org_id, false, true).await?;
            refuse_deactivated(caller, &team)?;
            Some(team)
        } else {
            crate::grpc::ensure_active(&self.store, caller).await?;
            None
        };
        permissions::may_create_lead(caller)?;
        let input = input?;
        self.check_owner(caller, &input.new).await?;
        if let Some(key) = &input.key
            && let Some(lead) = self
                .store
                .replay(&caller.org_id, key, &input.new.fingerprint())
                .await?
        {
            return Ok(lead);
        }
        let id = new_lead_id();
        let routing = self
            .route_new(&caller.org_id, &id, &input.new, team.as_deref())
            .await?;
        let mut creation = Self::creation(&caller.user_id, input, id, &routing);
        creation.plan.sla = self
            .sla_start(&caller.org_id, &routing, team.as_deref())
            .await?;
        let (lead, written) = crate::store::outbox::collecting(self.store.create_lead(
            &caller.org_id,
            &caller.user_id,
            &creation,
        ))
        .await;
        let lead = lead?;
        self.wiring.fast.send(written);
        self.committed();
        Ok(lead)
    }

    /// BatchCreateLeads: each row succeeds or fails on its own.
    pub async fn batch_create(
        &self,
        caller: &Caller,
        batch: BatchInput,
    ) -> Result<Vec<Result<Lead, LeadsError>>, LeadsError> {
        permissions::may_batch_create(caller)?;
        let mut rows = Vec::with_capacity(batch.rows.len());
        // A key repeated within the batch is one lead: only its first row
        // may be routed (the others replay it), or routing would count a
        // pick for a lead that is never stored.
        let mut keys_seen = HashSet::new();
        for row in batch.rows {
            let input = match row {
                Ok(input) => input,
                Err(error) => {
                    rows.push(Err(error));
                    continue;
                }
            };
            if let Err(error) = self.check_owner(caller, &input.new).await {
                rows.push(Err(error));
                continue;
            }
            let replayed = match &input.key {
                Some(key) if !keys_seen.insert(key.clone()) => true,
                Some(key) => self
                    .store
                    .replay(&caller.org_id, key, &input.new.fingerprint())
                    .await
                    .map_or(true, |l| l.is_some()),
                None => false,
            };
            let id = new_lead_id();
            let routing = if batch.route && !replayed {
                self.route_new(&caller.org_id, &id, &input.new, None)
                    .await?
            } else {
                RoutingOutcome::NotAsked
            };
            let mut creation = Self::creation(&caller.user_id, input, id, &routing);
            creation.plan.sla = self.sla_start(&caller.org_id, &routing, None).await?;
            rows.push(Ok(creation));
        }
        let results = self
            .store
            .create_leads(&caller.org_id, &caller.user_id, rows)
            .await?;
        Ok(results)
    }
}
