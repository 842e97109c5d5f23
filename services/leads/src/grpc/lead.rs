//! LeadService: leads and every manual way they get or lose an owner. Each
//! handler authenticates, parses, calls a use case and converts.

use leadflow_auth::Caller;
use leadflow_proto::leads::v1::{self as pb, lead_service_server::LeadService};
use tonic::{Request, Response, Status};

use super::active_caller;
use super::convert::{
    ListQuery, assign_input, assign_response, batch_input, batch_response, create_input,
    event_to_pb, lead_to_pb, list_query, status_input,
};
use crate::domain::filter::{PageCursor, query_fingerprint};
use crate::domain::lead::parse_lead_id;
use crate::domain::permissions::{self, LeadScope};
use crate::error::LeadsError;
use crate::store::Store;
use crate::usecase::{Leads, Wiring};

/// The LeadService handlers.
#[derive(Clone)]
pub struct LeadApi {
    /// The use cases every handler delegates to.
    leads: Leads,
}

impl LeadApi {
    pub fn new(store: Store, wiring: Wiring) -> Self {
        LeadApi {
            leads: Leads::new(store, wiring),
        }
    }

    fn store(&self) -> &Store {
        self.leads.store()
    }

    /// One ListLeads page of `list` within `scope`, read with one row more
    /// than the page so the response knows whether another page follows.
    async fn page(
        &self,
        org_id: &str,
        scope: &LeadScope,
        list: ListQuery,
    ) -> Result<pb::ListLeadsResponse, LeadsError> {
        let fingerprint = query_fingerprint(scope, &list.query, list.order);
        let cursor = PageCursor::decode_optional(&list.page_token, &fingerprint)?;
        let (leads, total) = self
            .store()
            .list_leads(
                org_id,
                scope,
                &list.query,
                list.order,
                cursor.as_ref(),
                list.limit + 1,
            )
            .await?;
        Ok(list.response(leads, total, &fingerprint))
    }

    /// The verified caller, refused if deactivated.
    async fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        active_caller(self.store(), request).await
    }
}

#[tonic::async_trait]
impl LeadService for LeadApi {
    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "CreateLead", lead.id))]
    async fn create_lead(
        &self,
        request: Request<pb::CreateLeadRequest>,
    ) -> Result<Response<pb::Lead>, Status> {
        // The use case checks the caller is active, in the same read as the team.
        let caller = Caller::from_request(&request)?;
        let input = create_input(request.into_inner());
        let lead = self.leads.create(&caller, input).await?;
        tracing::Span::current().record("lead.id", lead.id.as_str());
        Ok(Response::new(lead_to_pb(lead)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "BatchCreateLeads", rows))]
    async fn batch_create_leads(
        &self,
        request: Request<pb::BatchCreateLeadsRequest>,
    ) -> Result<Response<pb::BatchCreateLeadsResponse>, Status> {
        let caller = self.caller(&request).await?;
        permissions::may_batch_create(&caller)?;
        tracing::Span::current().record("rows", request.get_ref().requests.len());
        let batch = batch_input(request.into_inner())?;
        let results = self.leads.batch_create(&caller, batch).await?;
        Ok(Response::new(batch_response(results)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "GetLead"))]
    async fn get_lead(
        &self,
        request: Request<pb::GetLeadRequest>,
    ) -> Result<Response<pb::Lead>, Status> {
        let caller = self.caller(&request).await?;
        let scope = permissions::lead_scope(&caller)?;
        let id = parse_lead_id("id", &request.get_ref().id)?;
        Ok(Response::new(lead_to_pb(
            self.leads.get(&caller, &scope, &id).await?,
        )))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ListLeads"))]
    async fn list_leads(
        &self,
        request: Request<pb::ListLeadsRequest>,
    ) -> Result<Response<pb::ListLeadsResponse>, Status> {
        let caller = self.caller(&request).await?;
        let scope = permissions::lead_scope(&caller)?;
        let list = list_query(request.into_inner())?;
        Ok(Response::new(
            self.page(&caller.org_id, &scope, list).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "UpdateLeadStatus"))]
    async fn update_lead_status(
        &self,
        request: Request<pb::UpdateLeadStatusRequest>,
    ) -> Result<Response<pb::Lead>, Status> {
        let caller = self.caller(&request).await?;
        let scope = permissions::lead_scope(&caller)?;
        let (id, status) = status_input(request.get_ref())?;
        let lead = self.leads.set_status(&caller, &scope, &id, status).await?;
        Ok(Response::new(lead_to_pb(lead)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ClaimLead"))]
    async fn claim_lead(
        &self,
        request: Request<pb::ClaimLeadRequest>,
    ) -> Result<Response<pb::Lead>, Status> {
        let caller = self.caller(&request).await?;
        permissions::may_claim(&caller)?;
        let id = parse_lead_id("id", &request.get_ref().id)?;
        Ok(Response::new(lead_to_pb(
            self.leads.claim(&caller, &id).await?,
        )))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "UnassignLead"))]
    async fn unassign_lead(
        &self,
        request: Request<pb::UnassignLeadRequest>,
    ) -> Result<Response<pb::Lead>, Status> {
        let caller = self.caller(&request).await?;
        let scope = permissions::lead_scope(&caller)?;
        let id = parse_lead_id("id", &request.get_ref().id)?;
        Ok(Response::new(lead_to_pb(
            self.leads.unassign(&caller, &scope, &id).await?,
        )))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "AssignLeads", assigned, skipped))]
    async fn assign_leads(
        &self,
        request: Request<pb::AssignLeadsRequest>,
    ) -> Result<Response<pb::AssignLeadsResponse>, Status> {
        let caller = self.caller(&request).await?;
        permissions::may_assign(&caller)?;
        let outcome = self
            .leads
            .assign(&caller, assign_input(request.into_inner())?)
            .await?;
        let span = tracing::Span::current();
        span.record("assigned", outcome.assigned.len());
        span.record("skipped", outcome.skipped.len());
        Ok(Response::new(assign_response(outcome)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "AcceptLead"))]
    async fn accept_lead(
        &self,
        request: Request<pb::AcceptLeadRequest>,
    ) -> Result<Response<pb::Lead>, Status> {
        let caller = self.caller(&request).await?;
        let scope = permissions::lead_scope(&caller)?;
        let id = parse_lead_id("id", &request.get_ref().id)?;
        Ok(Response::new(lead_to_pb(
            self.leads.accept(&caller, &scope, &id).await?,
        )))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "GetLeadHistory"))]
    async fn get_lead_history(
        &self,
        request: Request<pb::GetLeadHistoryRequest>,
    ) -> Result<Response<pb::GetLeadHistoryResponse>, Status> {
        let caller = self.caller(&request).await?;
        let scope = permissions::lead_scope(&caller)?;
        let id = parse_lead_id("id", &request.get_ref().id)?;
        let events = self.leads.history(&caller, &scope, &id).await?;
        Ok(Response::new(pb::GetLeadHistoryResponse {
            events: events.into_iter().map(event_to_pb).collect(),
        }))
    }
}
