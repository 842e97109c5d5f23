//! The gRPC face of the routing service: thin handlers that authorise,
//! convert, call the domain and the stores, and map errors.

mod convert;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use leadflow_auth::Caller;
use leadflow_proto::routing::v1::{self as pb, routing_service_server::RoutingService};
use tonic::{Request, Response, Status};

use crate::domain::decision::{self, Plan, explain, next_round_robin, pick_balanced};
use crate::domain::permissions;
use crate::domain::settings::{Settings, Strategy, VersionedSettings};
use crate::error::RoutingError;
use crate::store::{RoutingState, SettingsStore};
use convert::*;

/// Most leads in one SimulateRouting call.
pub const MAX_SIMULATED_LEADS: usize = 1_000;

/// Settings read per RouteLead are cached this briefly per replica: an update
/// on this replica is seen at once, one on another replica within the TTL.
#[derive(Debug)]
struct SettingsCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (VersionedSettings, Instant)>>,
}

impl SettingsCache {
    fn get(&self, org_id: &str) -> Option<VersionedSettings> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(org_id)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(s, _)| s.clone())
    }

    fn put(&self, org_id: &str, settings: VersionedSettings) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert(org_id.to_owned(), (settings, Instant::now()));
    }
}

/// The RoutingService handlers.
#[derive(Clone)]
pub struct RoutingApi {
    settings: SettingsStore,
    /// Who is still active, as the leads directory last said.
    directory: Arc<leadflow_db::directory::Directory>,
    state: Arc<dyn RoutingState>,
    cache: Arc<SettingsCache>,
}

impl RoutingApi {
    pub fn new(
        settings: SettingsStore,
        state: Arc<dyn RoutingState>,
        settings_cache_ttl: Duration,
    ) -> Self {
        RoutingApi {
            directory: Arc::new(leadflow_db::directory::Directory::new(
                settings.connection().clone(),
            )),
            settings,
            state,
            cache: Arc::new(SettingsCache {
                ttl: settings_cache_ttl,
                entries: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The caller, refused if the directory says they were deactivated
    /// (machine identities are not members).
    async fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let caller = Caller::from_request(request)?;
        if caller.role.is_person()
            && self
                .directory
                .is_deactivated(&caller.org_id, &caller.user_id)
                .await
                .map_err(RoutingError::from)?
        {
            return Err(RoutingError::PermissionDenied(
                "your membership of this organisation was deactivated".into(),
            )
            .into());
        }
        Ok(caller)
    }

    async fn current_settings(&self, org_id: &str) -> Result<VersionedSettings, RoutingError> {
        if let Some(settings) = self.cache.get(org_id) {
            return Ok(settings);
        }
        let settings = self.settings.get(org_id).await?;
        self.cache.put(org_id, settings.clone());
        Ok(settings)
    }
}

/// The wire decision for a plan and (if any) the chosen rep.
fn decision_to_pb(plan: &Plan, lead_id: &str, assignee: Option<&str>) -> pb::RouteDecision {
    let mut out = pb::RouteDecision {
        lead_id: lead_id.to_owned(),
        explanation: explain(plan, assignee),
        ..Default::default()
    };
    match plan {
        Plan::Off => out.reason = pb::DecisionReason::RoutingOff as i32,
        Plan::NoCandidates { skipped, .. } => {
            out.reason = pb::DecisionReason::NoCandidates as i32;
            out.skipped = skipped_to_pb(skipped);
        }
        Plan::Pick(p) => {
            out.reason = pb::DecisionReason::Routed as i32;
            out.assignee_id = assignee.unwrap_or_default().to_owned();
            out.strategy = strategy_to_pb(Some(p.strategy));
            out.rule = p.pool.rule_name().to_owned();
            out.fallback_used = p.fallback_used;
            out.skipped = skipped_to_pb(&p.skipped);
        }
    }
    out
}

fn skipped_to_pb(skipped: &[(String, decision::SkipReason)]) -> Vec<pb::SkippedCandidate> {
    skipped
        .iter()
        .map(|(id, reason)| pb::SkippedCandidate {
            user_id: id.clone(),
            reason: skip_reason_to_pb(*reason),
        })
        .collect()
}

/// Converts directory facts from the wire.
fn directory_from_pb(
    facts: Vec<leadflow_proto::common::v1::DirectoryFact>,
) -> Result<Vec<leadflow_db::directory::DirectoryFact>, RoutingError> {
    if facts.len() > leadflow_db::directory::MAX_FACTS {
        return Err(RoutingError::invalid(
            "members",
            format!("at most {} per call", leadflow_db::directory::MAX_FACTS),
        ));
    }
    facts
        .into_iter()
        .map(|f| {
            check_id("members.user_id", &f.user_id)?;
            if f.version < 0 {
                return Err(RoutingError::invalid(
                    "members.version",
                    "may not be negative",
                ));
            }
            Ok(leadflow_db::directory::DirectoryFact {
                role: role_from_pb(f.role)
                    .map_or("unknown", |r| r.as_str())
                    .to_owned(),
                user_id: f.user_id,
                active: f.active,
                available: f.available,
                version: f.version,
            })
        })
        .collect()
}

#[tonic::async_trait]
impl RoutingService for RoutingApi {
    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "GetRoutingSettings"))]
    async fn get_routing_settings(
        &self,
        request: Request<pb::GetRoutingSettingsRequest>,
    ) -> Result<Response<pb::RoutingSettings>, Status> {
        let caller = self.caller(&request).await?;
        permissions::may_read_settings(&caller)?;
        let settings = self.settings.get(&caller.org_id).await?;
        Ok(Response::new(settings_to_pb(&settings)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "UpdateRoutingSettings"))]
    async fn update_routing_settings(
        &self,
        request: Request<pb::UpdateRoutingSettingsRequest>,
    ) -> Result<Response<pb::RoutingSettings>, Status> {
        let caller = self.caller(&request).await?;
        permissions::may_manage_routing(&caller)?;
        let req = request.into_inner();
        let settings = settings_from_pb(
            req.settings
                .ok_or_else(|| RoutingError::invalid("settings", "is required"))?,
        )?;
        if req.expected_version < 0 {
            return Err(RoutingError::invalid("expected_version", "may not be negative").into());
        }
        let saved = self
            .settings
            .update(
                &caller.org_id,
                &caller.user_id,
                &settings,
                req.expected_version,
            )
            .await?;
        self.cache.put(&caller.org_id, saved.clone());
        Ok(Response::new(settings_to_pb(&saved)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ListRoutingAudit"))]
    async fn list_routing_audit(
        &self,
        request: Request<pb::ListRoutingAuditRequest>,
    ) -> Result<Response<pb::ListRoutingAuditResponse>, Status> {
        let caller = self.caller(&request).await?;
        permissions::may_manage_routing(&caller)?;
        let req = request.into_inner();
        let limit = match req.page_size {
            0 => 50,
            n if (1..=200).contains(&n) => n as u64,
            _ => {
                return Err(RoutingError::invalid("page_size", "must be between 1 and 200").into());
            }
        };
        let before_id = match req.page_token.as_str() {
            "" => None,
            token => Some(
                URL_SAFE_NO_PAD
                    .decode(token)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|s| {
                        s.strip_prefix("audit:")
                            .and_then(|id| id.parse::<i64>().ok())
                    })
                    .ok_or_else(|| {
                        RoutingError::invalid("page_token", "is not a page token of this list")
                    })?,
            ),
        };
        let entries = self
            .settings
            .audit(&caller.org_id, before_id, limit + 1)
            .await?;
        let more = entries.len() as u64 > limit;
        let page: Vec<_> = entries.into_iter().take(limit as usize).collect();
        let next_page_token = match page.last() {
            Some(last) if more => URL_SAFE_NO_PAD.encode(format!("audit:{}", last.id)),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListRoutingAuditResponse {
            entries: page.into_iter().map(audit_to_pb).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "RouteLead", lead.id, routing.reason))]
    async fn route_lead(
        &self,
        request: Request<pb::RouteLeadRequest>,
    ) -> Result<Response<pb::RouteDecision>, Status> {
        let caller = self.caller(&request).await?;
        permissions::may_call_internal(&caller)?;
        let req = request.into_inner();
        lead_id(&req.lead_id)?;
        tracing::Span::current().record("lead.id", req.lead_id.as_str());
        let source = source_from_pb("source", req.source)?;
        let tags = tags_from_pb("tags", req.tags)?;
        let candidates = candidates_from_pb(req.candidates)?;
        let attempt = attempt_from_pb(req.attempt)?;
        let settings = self.current_settings(&caller.org_id).await?;
        let plan = decision::plan(&settings.settings, &candidates, source, &tags);
        let mut decision = match &plan {
            Plan::Pick(p) => {
                let picked = self
                    .state
                    .pick(
                        &caller.org_id,
                        &req.lead_id,
                        attempt,
                        &p.pool.key(),
                        p.strategy,
                        &p.eligible,
                    )
                    .await
                    .map_err(RoutingError::from)?;
                let mut d = decision_to_pb(&plan, &req.lead_id, Some(&picked.assignee));
                if picked.replayed {
                    d.explanation
                        .push_str(" (a retry: the decision made earlier for this lead)");
                }
                d.state_generation = picked.generation.id;
                d.state_reset = picked.generation.reset;
                d
            }
            _ => decision_to_pb(&plan, &req.lead_id, None),
        };
        if decision.state_reset {
            tracing::warn!(org = %caller.org_id, "routing state was empty: a new generation started; workload needs a reconcile");
        }
        decision.lead_id = req.lead_id;
        decisions_counter().add(
            1,
            &[
                opentelemetry::KeyValue::new(
                    "reason",
                    pb::DecisionReason::try_from(decision.reason)
                        .map_or("unknown", |r| r.as_str_name()),
                ),
                opentelemetry::KeyValue::new("fallback", decision.fallback_used),
            ],
        );
        tracing::Span::current().record("routing.reason", decision.reason);
        Ok(Response::new(decision))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "SimulateRouting"))]
    async fn simulate_routing(
        &self,
        request: Request<pb::SimulateRoutingRequest>,
    ) -> Result<Response<pb::SimulateRoutingResponse>, Status> {
        let caller = self.caller(&request).await?;
        permissions::may_manage_routing(&caller)?;
        let req = request.into_inner();
        let settings: Settings = match req.settings {
            Some(draft) => settings_from_pb(draft)?,
            None => self.settings.get(&caller.org_id).await?.settings,
        };
        if req.leads.len() > MAX_SIMULATED_LEADS {
            return Err(
                RoutingError::invalid("leads", format!("at most {MAX_SIMULATED_LEADS}")).into(),
            );
        }
        let candidates = candidates_from_pb(req.candidates)?;
        // A scratch copy of the live state: the dry run moves nothing real.
        let mut scratch = self
            .state
            .snapshot(&caller.org_id)
            .await
            .map_err(RoutingError::from)?;
        let mut decisions = Vec::with_capacity(req.leads.len());
        for lead in req.leads {
            let source = source_from_pb("leads.source", lead.source)?;
            let tags = tags_from_pb("leads.tags", lead.tags)?;
            let plan = decision::plan(&settings, &candidates, source, &tags);
            let assignee = match &plan {
                Plan::Pick(p) => {
                    let key = p.pool.key();
                    let cursor = scratch.cursors.get(&key).map(String::as_str);
                    let pick = match p.strategy {
                        Strategy::RoundRobin => next_round_robin(&p.eligible, cursor),
                        Strategy::BalancedWorkload => {
                            pick_balanced(&p.eligible, &scratch.load, cursor)
                        }
                    }
                    .to_owned();
                    scratch.cursors.insert(key, pick.clone());
                    *scratch.load.entry(pick.clone()).or_default() += 1;
                    Some(pick)
                }
                _ => None,
            };
            decisions.push(decision_to_pb(&plan, "", assignee.as_deref()));
        }
        Ok(Response::new(pb::SimulateRoutingResponse { decisions }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ApplyOwnershipChanges", changes))]
    async fn apply_ownership_changes(
        &self,
        request: Request<pb::ApplyOwnershipChangesRequest>,
    ) -> Result<Response<pb::ApplyOwnershipChangesResponse>, Status> {
        let caller = self.caller(&request).await?;
        permissions::may_call_internal(&caller)?;
        let facts = facts_from_pb("changes", request.into_inner().changes)?;
        tracing::Span::current().record("changes", facts.len());
        self.state
            .apply(&caller.org_id, &facts)
            .await
            .map_err(RoutingError::from)?;
        Ok(Response::new(pb::ApplyOwnershipChangesResponse {}))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "GetWorkload"))]
    async fn get_workload(
        &self,
        request: Request<pb::GetWorkloadRequest>,
    ) -> Result<Response<pb::GetWorkloadResponse>, Status> {
        let caller = self.caller(&request).await?;
        permissions::may_manage_routing(&caller)?;
        let load = self
            .state
            .workload(&caller.org_id)
            .await
            .map_err(RoutingError::from)?;
        let mut members: Vec<pb::MemberWorkload> = load
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(user_id, open_leads)| pb::MemberWorkload {
                user_id,
                open_leads,
            })
            .collect();
        members.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        Ok(Response::new(pb::GetWorkloadResponse { members }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ReconcileWorkload", corrected))]
    async fn reconcile_workload(
        &self,
        request: Request<pb::ReconcileWorkloadRequest>,
    ) -> Result<Response<pb::ReconcileWorkloadResponse>, Status> {
        let caller = self.caller(&request).await?;
        permissions::may_call_internal(&caller)?;
        let req = request.into_inner();
        let truth = facts_from_pb("leads", req.leads)?;
        let forget = facts_from_pb("forget", req.forget)?;
        if req.finish && req.epoch < 1 {
            return Err(
                RoutingError::invalid("epoch", "finish needs the epoch begin returned").into(),
            );
        }
        let org = caller.org_id.as_str();
        let state = |e| Status::from(RoutingError::from(e));
        let epoch = if req.begin {
            self.state.begin_reconcile(org).await.map_err(state)?
        } else {
            req.epoch
        };
        let mut corrected = self.state.reconcile(org, &truth).await.map_err(state)?;
        corrected += self.state.forget(org, &forget).await.map_err(state)?;
        if req.finish {
            corrected += self.state.sweep(org, epoch).await.map_err(state)?;
        }
        tracing::Span::current().record("corrected", corrected);
        if corrected > 0 {
            tracing::info!(org = %caller.org_id, corrected, "workload drift corrected by reconcile");
        }
        Ok(Response::new(pb::ReconcileWorkloadResponse {
            corrected: corrected as i64,
            epoch,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ApplyDirectoryChanges"))]
    async fn apply_directory_changes(
        &self,
        request: Request<leadflow_proto::common::v1::ApplyDirectoryChangesRequest>,
    ) -> Result<Response<leadflow_proto::common::v1::ApplyDirectoryChangesResponse>, Status> {
        let caller = self.caller(&request).await?;
        permissions::may_call_internal(&caller)?;
        let facts = directory_from_pb(request.into_inner().members)?;
        self.directory
            .apply(&caller.org_id, &facts)
            .await
            .map_err(RoutingError::from)?;
        Ok(Response::new(
            leadflow_proto::common::v1::ApplyDirectoryChangesResponse {},
        ))
    }
}

/// Routing decisions by reason and fallback, for alerts ("leads are not
/// being routed") and dashboards.
fn decisions_counter() -> &'static opentelemetry::metrics::Counter<u64> {
    static COUNTER: std::sync::OnceLock<opentelemetry::metrics::Counter<u64>> =
        std::sync::OnceLock::new();
    COUNTER.get_or_init(|| {
        leadflow_telemetry::meter()
            .u64_counter("leadflow.routing.decisions")
            .with_description("RouteLead decisions by reason and fallback")
            .build()
    })
}
