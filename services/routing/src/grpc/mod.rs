//! The gRPC face of the routing service. Every handler authorises its
//! caller, parses the request ([`requests`]), calls one use case
//! ([`crate::app::Routing`]) and converts the answer ([`convert`]); errors
//! become statuses through `RoutingError`'s one mapping.

mod convert;
mod requests;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use leadflow_auth::Caller;
use leadflow_proto::common::v1 as common;
use leadflow_proto::routing::v1::{self as pb, routing_service_server::RoutingService};
use tonic::{Request, Response, Status};

use crate::app::{Reconcile, Reconciled, RouteLead, Routing, SettingsUpdate, Simulation};
use crate::domain::permissions::{
    Permission, may_call_internal, may_manage_routing, may_read_settings,
};
use crate::store::{RoutingState, SettingsStore};
use convert::*;

pub use requests::MAX_SIMULATED_LEADS;

/// The RoutingService handlers.
#[derive(Clone)]
pub struct RoutingApi {
    /// The use cases every handler delegates to.
    app: Routing,
}

impl RoutingApi {
    pub fn new(
        settings: SettingsStore,
        state: Arc<dyn RoutingState>,
        settings_cache_ttl: Duration,
    ) -> Self {
        RoutingApi {
            app: Routing::new(settings, state, settings_cache_ttl),
        }
    }

    /// The same API reading `clock` for "now" (tests move it).
    pub fn with_clock(self, clock: leadflow_schedule::SharedClock) -> Self {
        RoutingApi {
            app: self.app.with_clock(clock),
        }
    }

    /// The caller, if `may` lets them and they were not deactivated.
    async fn authorize<T>(&self, request: &Request<T>, may: Permission) -> Result<Caller, Status> {
        let caller = Caller::from_request(request)?;
        Ok(self.app.admit(caller, may).await?)
    }
}

#[tonic::async_trait]
impl RoutingService for RoutingApi {
    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "GetRoutingSettings"))]
    async fn get_routing_settings(
        &self,
        request: Request<pb::GetRoutingSettingsRequest>,
    ) -> Result<Response<pb::RoutingSettings>, Status> {
        let caller = self.authorize(&request, may_read_settings).await?;
        let settings = self.app.settings(&caller.org_id).await?;
        Ok(Response::new(settings_to_pb(&settings)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "UpdateRoutingSettings"))]
    async fn update_routing_settings(
        &self,
        request: Request<pb::UpdateRoutingSettingsRequest>,
    ) -> Result<Response<pb::RoutingSettings>, Status> {
        let caller = self.authorize(&request, may_manage_routing).await?;
        let update = SettingsUpdate::try_from(request.into_inner())?;
        let saved = self.app.update_settings(&caller, update).await?;
        Ok(Response::new(settings_to_pb(&saved)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ListRoutingAudit"))]
    async fn list_routing_audit(
        &self,
        request: Request<pb::ListRoutingAuditRequest>,
    ) -> Result<Response<pb::ListRoutingAuditResponse>, Status> {
        let caller = self.authorize(&request, may_manage_routing).await?;
        let page = requests::audit_page(request.into_inner(), &caller.org_id)?;
        let page = self.app.audit(&caller.org_id, page).await?;
        Ok(Response::new(audit_page_to_pb(page)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "RouteLead", lead.id, routing.reason))]
    async fn route_lead(
        &self,
        request: Request<pb::RouteLeadRequest>,
    ) -> Result<Response<pb::RouteDecision>, Status> {
        let caller = self.authorize(&request, may_call_internal).await?;
        let ask = RouteLead::try_from(request.into_inner())?;
        let lead_id = ask.lead_id.clone();
        let routed = self.app.route_lead(&caller.org_id, ask).await?;
        Ok(Response::new(observe_decision(routed_to_pb(
            routed, lead_id,
        ))))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "SimulateRouting"))]
    async fn simulate_routing(
        &self,
        request: Request<pb::SimulateRoutingRequest>,
    ) -> Result<Response<pb::SimulateRoutingResponse>, Status> {
        let caller = self.authorize(&request, may_manage_routing).await?;
        let simulation = Simulation::try_from(request.into_inner())?;
        let decisions = self.app.simulate(&caller.org_id, simulation).await?;
        Ok(Response::new(simulated_to_pb(decisions)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ApplyOwnershipChanges", changes))]
    async fn apply_ownership_changes(
        &self,
        request: Request<pb::ApplyOwnershipChangesRequest>,
    ) -> Result<Response<pb::ApplyOwnershipChangesResponse>, Status> {
        let caller = self.authorize(&request, may_call_internal).await?;
        let facts = requests::ownership_changes(request.into_inner())?;
        tracing::Span::current().record("changes", facts.len());
        self.app.apply_ownership(&caller.org_id, &facts).await?;
        Ok(Response::new(pb::ApplyOwnershipChangesResponse {}))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "GetWorkload"))]
    async fn get_workload(
        &self,
        request: Request<pb::GetWorkloadRequest>,
    ) -> Result<Response<pb::GetWorkloadResponse>, Status> {
        let caller = self.authorize(&request, may_manage_routing).await?;
        let members = self.app.workload(&caller.org_id).await?;
        Ok(Response::new(workload_to_pb(members)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ReconcileWorkload", corrected))]
    async fn reconcile_workload(
        &self,
        request: Request<pb::ReconcileWorkloadRequest>,
    ) -> Result<Response<pb::ReconcileWorkloadResponse>, Status> {
        let caller = self.authorize(&request, may_call_internal).await?;
        let step = Reconcile::try_from(request.into_inner())?;
        let done = self.app.reconcile(&caller.org_id, step).await?;
        Ok(Response::new(observe_reconcile(&caller.org_id, done)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ApplyDirectoryChanges"))]
    async fn apply_directory_changes(
        &self,
        request: Request<common::ApplyDirectoryChangesRequest>,
    ) -> Result<Response<common::ApplyDirectoryChangesResponse>, Status> {
        let caller = self.authorize(&request, may_call_internal).await?;
        let facts = requests::directory_from_pb(request.into_inner())?;
        self.app.apply_directory(&caller.org_id, &facts).await?;
        Ok(Response::new(common::ApplyDirectoryChangesResponse {}))
    }
}

/// Counts a RouteLead decision and records its reason on the RPC's span.
fn observe_decision(decision: pb::RouteDecision) -> pb::RouteDecision {
    let reason =
        pb::DecisionReason::try_from(decision.reason).map_or("unknown", |r| r.as_str_name());
    DECISIONS.add(
        1,
        &[
            opentelemetry::KeyValue::new("reason", reason),
            opentelemetry::KeyValue::new("fallback", decision.fallback_used),
        ],
    );
    tracing::Span::current().record("routing.reason", decision.reason);
    decision
}

/// Records what a reconcile step corrected on the RPC's span (and in the
/// log, when there was drift), and answers it.
fn observe_reconcile(org_id: &str, done: Reconciled) -> pb::ReconcileWorkloadResponse {
    tracing::Span::current().record("corrected", done.corrected);
    if done.corrected > 0 {
        tracing::info!(org = %org_id, corrected = done.corrected, "workload drift corrected by reconcile");
    }
    pb::ReconcileWorkloadResponse {
        corrected: done.corrected as i64,
        epoch: done.epoch,
    }
}

/// Routing decisions by reason and fallback, for alerts ("leads are not
/// being routed") and dashboards.
static DECISIONS: LazyLock<opentelemetry::metrics::Counter<u64>> = LazyLock::new(|| {
    leadflow_telemetry::counter(
        "leadflow.routing.decisions",
        "RouteLead decisions by reason and fallback",
    )
});
