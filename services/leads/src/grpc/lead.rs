//! LeadService: leads and every manual way they get or lose an owner.

use leadflow_auth::Caller;
use leadflow_proto::leads::v1::{self as pb, lead_service_server::LeadService};
use tonic::{Request, Response, Status};

use super::convert::{event_to_pb, filter_input, lead_to_pb, source_from_pb, status_from_pb};
use super::{active_caller, ensure_active, refuse_deactivated};
use crate::dispatch::Reconciler;
use crate::domain::filter::{LeadQuery, PageCursor, SortOrder, page_size, query_fingerprint};
use crate::domain::lead::{
    Lead, NewLead, NewLeadInput, parse_idempotency_key, parse_lead_id, parse_user_id,
};
use crate::domain::member::Member;
use crate::domain::permissions::{self, LeadScope};
use crate::error::LeadsError;
use crate::peers::Peers;
use crate::store::new_lead_id;
use crate::store::{AssignSelection, BatchRow, ClaimOutcome, CreateRouting, SkipReason, Store};
use leadflow_proto::routing::v1 as routing_pb;
use std::sync::Arc;
use tokio::sync::Notify;

/// Most rows in one BatchCreateLeads call.
pub const MAX_BATCH_ROWS: usize = 1_000;
/// Most ids in one AssignLeads call; beyond that, select with a filter.
pub const MAX_ASSIGN_IDS: usize = 10_000;

/// How the leads service reaches the other services.
#[derive(Clone)]
pub struct Wiring {
    pub peers: Arc<Peers>,
    /// Wakes the outbox dispatcher after a commit.
    pub wake: Arc<Notify>,
    pub reconciler: Arc<Reconciler>,
}

/// The LeadService handlers.
#[derive(Clone)]
pub struct LeadApi {
    store: Store,
    wiring: Wiring,
}

impl LeadApi {
    pub fn new(store: Store, wiring: Wiring) -> Self {
        LeadApi { store, wiring }
    }

    /// Tells the dispatcher there is something new in the outbox.
    fn committed(&self) {
        self.wiring.wake.notify_one();
    }

    /// Asks routing for a lead created without an owner. Never fails: when
    /// routing is away the lead is routed later through the outbox.
    async fn route_new(
        &self,
        org_id: &str,
        lead_id: &str,
        new: &NewLead,
        team: Option<Vec<Member>>,
    ) -> Result<CreateRouting, LeadsError> {
        if new.owner_id.is_some() || !self.wiring.peers.routes() {
            return Ok(CreateRouting::NotAsked);
        }
        let team = match team {
            Some(team) => team,
            None => self.store.list_members(org_id, false, true).await?,
        };
        Ok(
            match self
                .wiring
                .peers
                .route(
                    org_id,
                    crate::peers::RouteQuestion {
                        lead_id,
                        source: new.source,
                        tags: &new.tags,
                        attempt: crate::peers::FIRST_ATTEMPT,
                    },
                    &team,
                    None,
                )
                .await
            {
                Ok(decision) => {
                    if decision.state_reset {
                        self.wiring.reconciler.trigger(org_id);
                    }
                    if decision.reason == routing_pb::DecisionReason::Routed as i32
                        && !decision.assignee_id.is_empty()
                    {
                        CreateRouting::Routed {
                            assignee: decision.assignee_id,
                            explanation: decision.explanation,
                        }
                    } else {
                        CreateRouting::NotRouted {
                            explanation: decision.explanation,
                        }
                    }
                }
                Err(status) => {
                    tracing::warn!(code = ?status.code(), "routing unavailable; the lead will be routed when it is back");
                    CreateRouting::Pending {
                        explanation: format!(
                            "routing was unavailable ({:?}); the lead is routed as soon as it is back",
                            status.code()
                        ),
                    }
                }
            },
        )
    }

    /// A lead the caller can see, or NOT_FOUND (whether absent or invisible).
    async fn visible_lead(
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

    /// Validates a CreateLead body and checks its explicit owner (if any).
    async fn new_lead(
        &self,
        caller: &Caller,
        req: pb::CreateLeadRequest,
    ) -> Result<(NewLead, Option<String>), LeadsError> {
        let key = parse_idempotency_key(&req.idempotency_key)?;
        let new = NewLead::parse(NewLeadInput {
            source: source_from_pb(req.source),
            source_raw: req.source,
            name: req.name,
            email: req.email,
            phone: req.phone,
            company: req.company,
            tags: req.tags,
            owner_id: req.owner_id,
        })?;
        if let Some(owner_id) = &new.owner_id {
            permissions::may_name_owner(caller, owner_id)?;
            let owner = self.store.member(&caller.org_id, owner_id).await?;
            if !owner.is_some_and(|m| m.can_own_leads()) {
                return Err(LeadsError::FailedPrecondition(
                    "owner_id must be an active, sales-capable member of the team".into(),
                ));
            }
        }
        Ok((new, key))
    }
}

#[tonic::async_trait]
impl LeadService for LeadApi {
    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "CreateLead", lead.id))]
    async fn create_lead(
        &self,
        request: Request<pb::CreateLeadRequest>,
    ) -> Result<Response<pb::Lead>, Status> {
        // A lead without an owner is routed, which needs the whole team; the
        // same read says whether the caller is still active (one query, not two).
        let caller = Caller::from_request(&request)?;
        let team = if request.get_ref().owner_id.is_empty() && self.wiring.peers.routes() {
            let team = self.store.list_members(&caller.org_id, false, true).await?;
            refuse_deactivated(&caller, &team)?;
            Some(team)
        } else {
            ensure_active(&self.store, &caller).await?;
            None
        };
        permissions::may_create_lead(&caller)?;
        let (new, key) = self.new_lead(&caller, request.into_inner()).await?;
        if let Some(key) = &key
            && let Some(lead) = self
                .store
                .replay(&caller.org_id, key, &new.fingerprint())
                .await?
        {
            return Ok(Response::new(lead_to_pb(lead)));
        }
        let id = new_lead_id();
        let routing = self.route_new(&caller.org_id, &id, &new, team).await?;
        let lead = self
            .store
            .create_lead(
                &caller.org_id,
                &caller.user_id,
                &new,
                key.as_deref(),
                id,
                &routing,
            )
            .await?;
        self.committed();
        tracing::Span::current().record("lead.id", lead.id.as_str());
        Ok(Response::new(lead_to_pb(lead)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "BatchCreateLeads", rows))]
    async fn batch_create_leads(
        &self,
        request: Request<pb::BatchCreateLeadsRequest>,
    ) -> Result<Response<pb::BatchCreateLeadsResponse>, Status> {
        let caller = active_caller(&self.store, &request).await?;
        permissions::may_batch_create(&caller)?;
        let req = request.into_inner();
        tracing::Span::current().record("rows", req.requests.len());
        if req.requests.is_empty() {
            return Err(LeadsError::invalid("requests", "must hold at least one lead").into());
        }
        if req.requests.len() > MAX_BATCH_ROWS {
            return Err(LeadsError::invalid(
                "requests",
                format!("at most {MAX_BATCH_ROWS} leads per batch"),
            )
            .into());
        }
        // With `route`, each new lead without an owner is routed like a
        // CreateLead; without it they stay unassigned for bulk assignment.
        let mut rows = Vec::with_capacity(req.requests.len());
        // A key repeated within the batch is one lead: only its first row
        // may be routed (the others replay it), or routing would count a
        // pick for a lead that is never stored.
        let mut keys_seen = std::collections::HashSet::new();
        for row in req.requests {
            let row = match self.new_lead(&caller, row).await {
                Ok((new, key)) => {
                    let id = new_lead_id();
                    let replayed = match &key {
                        Some(key) if !keys_seen.insert(key.clone()) => true,
                        Some(key) => self
                            .store
                            .replay(&caller.org_id, key, &new.fingerprint())
                            .await
                            .map_or(true, |l| l.is_some()),
                        None => false,
                    };
                    let routing = if req.route && !replayed {
                        self.route_new(&caller.org_id, &id, &new, None).await?
                    } else {
                        CreateRouting::NotAsked
                    };
                    Ok(BatchRow {
                        new,
                        key,
                        id,
                        routing,
                    })
                }
                Err(e) => Err(e),
            };
            rows.push(row);
        }
        let results = self
            .store
            .create_leads(&caller.org_id, &caller.user_id, rows)
            .await?;
        let results = results
            .into_iter()
            .map(|result| pb::BatchCreateLeadResult {
                outcome: Some(match result {
                    Ok(lead) => pb::batch_create_lead_result::Outcome::Lead(lead_to_pb(lead)),
                    Err(error) => pb::batch_create_lead_result::Outcome::Error(row_error(error)),
                }),
            })
            .collect();
        Ok(Response::new(pb::BatchCreateLeadsResponse { results }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "GetLead"))]
    async fn get_lead(
        &self,
        request: Request<pb::GetLeadRequest>,
    ) -> Result<Response<pb::Lead>, Status> {
        let caller = active_caller(&self.store, &request).await?;
        let scope = permissions::lead_scope(&caller)?;
        let id = parse_lead_id("id", &request.get_ref().id)?;
        let lead = self.visible_lead(&caller, &scope, &id).await?;
        Ok(Response::new(lead_to_pb(lead)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ListLeads"))]
    async fn list_leads(
        &self,
        request: Request<pb::ListLeadsRequest>,
    ) -> Result<Response<pb::ListLeadsResponse>, Status> {
        let caller = active_caller(&self.store, &request).await?;
        let scope = permissions::lead_scope(&caller)?;
        let req = request.into_inner();
        let query = LeadQuery::parse(filter_input(req.filter)?)?;
        let order = SortOrder::parse(&req.order_by)?;
        let limit = page_size(req.page_size)?;
        let fingerprint = query_fingerprint(&scope, &query, order);
        let cursor = match req.page_token.as_str() {
            "" => None,
            token => Some(PageCursor::decode(token, &fingerprint)?),
        };
        let (leads, total) = self
            .store
            .list_leads(
                &caller.org_id,
                &scope,
                &query,
                order,
                cursor.as_ref(),
                limit + 1,
            )
            .await?;
        let has_more = leads.len() as u64 > limit;
        let page: Vec<Lead> = leads.into_iter().take(limit as usize).collect();
        let next_page_token = match page.last() {
            Some(last) if has_more => PageCursor {
                created_at_us: last.created_at.timestamp_micros(),
                id: last.id.clone(),
            }
            .encode(&fingerprint),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListLeadsResponse {
            leads: page.into_iter().map(lead_to_pb).collect(),
            next_page_token,
            total_size: total.min(i32::MAX as u64) as i32,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "UpdateLeadStatus"))]
    async fn update_lead_status(
        &self,
        request: Request<pb::UpdateLeadStatusRequest>,
    ) -> Result<Response<pb::Lead>, Status> {
        let caller = active_caller(&self.store, &request).await?;
        let scope = permissions::lead_scope(&caller)?;
        let req = request.into_inner();
        let id = parse_lead_id("id", &req.id)?;
        let status = status_from_pb(req.status).ok_or_else(|| {
            LeadsError::invalid(
                "status",
                if req.status == 0 {
                    "is required".to_owned()
                } else {
                    format!("unknown value {}", req.status)
                },
            )
        })?;
        let lead = self.visible_lead(&caller, &scope, &id).await?;
        permissions::may_update_status(&caller, lead.owner_id.as_deref())?;
        if lead.status == status {
            return Ok(Response::new(lead_to_pb(lead)));
        }
        let updated = self
            .store
            .update_status(&caller.org_id, &lead, &caller.user_id, status)
            .await?
            .ok_or_else(|| {
                LeadsError::Aborted(
                    "the lead changed at the same time; read it again and retry".into(),
                )
            })?;
        Ok(Response::new(lead_to_pb(updated)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ClaimLead"))]
    async fn claim_lead(
        &self,
        request: Request<pb::ClaimLeadRequest>,
    ) -> Result<Response<pb::Lead>, Status> {
        let caller = active_caller(&self.store, &request).await?;
        permissions::may_claim(&caller)?;
        let id = parse_lead_id("id", &request.get_ref().id)?;
        let me = self.store.member(&caller.org_id, &caller.user_id).await?;
        if !me.is_some_and(|m| m.can_own_leads()) {
            return Err(LeadsError::FailedPrecondition(
                "only an active, sales-capable team member can claim leads".into(),
            )
            .into());
        }
        match self
            .store
            .claim(&caller.org_id, &id, &caller.user_id)
            .await?
        {
            ClaimOutcome::Claimed(lead) | ClaimOutcome::AlreadyYours(lead) => {
                Ok(Response::new(lead_to_pb(lead)))
            }
            ClaimOutcome::Taken => Err(LeadsError::FailedPrecondition(
                "this lead is already assigned — ask an owner or manager to reassign it".into(),
            )
            .into()),
            ClaimOutcome::NotFound => Err(LeadsError::lead_not_found().into()),
        }
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "UnassignLead"))]
    async fn unassign_lead(
        &self,
        request: Request<pb::UnassignLeadRequest>,
    ) -> Result<Response<pb::Lead>, Status> {
        let caller = active_caller(&self.store, &request).await?;
        let scope = permissions::lead_scope(&caller)?;
        let id = parse_lead_id("id", &request.get_ref().id)?;
        let lead = self.visible_lead(&caller, &scope, &id).await?;
        permissions::may_unassign(&caller, lead.owner_id.as_deref())?;
        let Some(owner) = lead.owner_id.clone() else {
            return Ok(Response::new(lead_to_pb(lead)));
        };
        let updated = self
            .store
            .unassign(&caller.org_id, &id, &caller.user_id, &owner)
            .await?
            .ok_or_else(|| {
                LeadsError::Aborted(
                    "the lead changed at the same time; read it again and retry".into(),
                )
            })?;
        Ok(Response::new(lead_to_pb(updated)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "AssignLeads", assigned, skipped))]
    async fn assign_leads(
        &self,
        request: Request<pb::AssignLeadsRequest>,
    ) -> Result<Response<pb::AssignLeadsResponse>, Status> {
        let caller = active_caller(&self.store, &request).await?;
        permissions::may_assign(&caller)?;
        let req = request.into_inner();
        let assignee_id = req.assignee_id.trim().to_owned();
        parse_user_id("assignee_id", &assignee_id)?;
        let selection = match (req.lead_ids.is_empty(), req.filter) {
            (false, None) => {
                if req.lead_ids.len() > MAX_ASSIGN_IDS {
                    return Err(LeadsError::invalid(
                        "lead_ids",
                        format!("at most {MAX_ASSIGN_IDS} ids; use a filter for more"),
                    )
                    .into());
                }
                let ids = req
                    .lead_ids
                    .iter()
                    .map(|id| parse_lead_id("lead_ids", id))
                    .collect::<Result<Vec<_>, _>>()?;
                AssignSelection::Ids(ids)
            }
            (true, Some(filter)) => {
                AssignSelection::Filter(LeadQuery::parse(filter_input(Some(filter))?)?)
            }
            (false, Some(_)) => {
                return Err(LeadsError::invalid(
                    "lead_ids",
                    "give either lead_ids or filter, not both",
                )
                .into());
            }
            (true, None) => {
                return Err(LeadsError::invalid("lead_ids", "give lead_ids or a filter").into());
            }
        };
        let assignee = self.store.member(&caller.org_id, &assignee_id).await?;
        if !assignee.is_some_and(|m| m.can_own_leads()) {
            return Err(LeadsError::FailedPrecondition(
                "assignee_id must be an active, sales-capable member of the team".into(),
            )
            .into());
        }
        let outcome = self
            .store
            .assign(
                &caller.org_id,
                &caller.user_id,
                &selection,
                &assignee_id,
                req.allow_reassign,
            )
            .await?;
        self.committed();
        let span = tracing::Span::current();
        span.record("assigned", outcome.assigned.len());
        span.record("skipped", outcome.skipped.len());
        Ok(Response::new(pb::AssignLeadsResponse {
            assigned: outcome.assigned.len() as i32,
            skipped: outcome
                .skipped
                .into_iter()
                .map(|s| pb::AssignSkip {
                    lead_id: s.lead_id,
                    reason: match s.reason {
                        SkipReason::AlreadyAssigned => pb::AssignSkipReason::AlreadyAssigned,
                        SkipReason::AlreadyOwnedByAssignee => {
                            pb::AssignSkipReason::AlreadyOwnedByAssignee
                        }
                        SkipReason::NotFound => pb::AssignSkipReason::LeadNotFound,
                    } as i32,
                    owner_id: s.owner_id.unwrap_or_default(),
                })
                .collect(),
            batch_id: outcome.batch_id,
            assigned_lead_ids: outcome.assigned,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "GetLeadHistory"))]
    async fn get_lead_history(
        &self,
        request: Request<pb::GetLeadHistoryRequest>,
    ) -> Result<Response<pb::GetLeadHistoryResponse>, Status> {
        let caller = active_caller(&self.store, &request).await?;
        let scope = permissions::lead_scope(&caller)?;
        let id = parse_lead_id("id", &request.get_ref().id)?;
        self.visible_lead(&caller, &scope, &id).await?;
        let events = self.store.history(&caller.org_id, &id).await?;
        Ok(Response::new(pb::GetLeadHistoryResponse {
            events: events.into_iter().map(event_to_pb).collect(),
        }))
    }
}

/// One failed row of a batch, in gRPC status terms.
fn row_error(error: LeadsError) -> pb::RowError {
    let field = match &error {
        LeadsError::InvalidArgument { field, .. } => (*field).to_owned(),
        _ => String::new(),
    };
    let status = Status::from(error);
    pb::RowError {
        code: status.code() as i32,
        message: status.message().to_owned(),
        field,
    }
}
