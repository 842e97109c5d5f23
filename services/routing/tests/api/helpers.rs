//! Spawning routing replicas that share one settings database and one state.

use leadflow_db::OwnDatabase;
use std::sync::Arc;
use std::time::Duration;

use leadflow_auth::Role;
use leadflow_proto::common::v1 as common;
use leadflow_proto::routing::v1 as pb;
use leadflow_proto::routing::v1::routing_service_client::RoutingServiceClient;
use leadflow_routing::grpc::RoutingApi;
use leadflow_routing::store::{MemoryState, RedisState, RedisTarget, RoutingState, SettingsStore};
use leadflow_server::ServerArgs;
use leadflow_testkit::redis::{redis_url, unique_prefix};
use leadflow_testkit::{TestAuth, TestDb, TestServer, authed};
use tonic::transport::Channel;

pub use leadflow_testkit::authed as req;

/// Generous, so a loaded 2-core CI machine does not turn slowness into UNAVAILABLE.
pub const STATE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the replicas keep their routing state.
#[derive(Clone, Debug)]
pub enum StateKind {
    Memory,
    Redis(RedisTarget),
}

impl StateKind {
    /// The shared local Redis (with a fresh key prefix per app).
    pub fn shared_redis() -> StateKind {
        StateKind::Redis(RedisTarget::Single(redis_url()))
    }
}

pub struct RoutingApp {
    pub servers: Vec<TestServer>,
    pub auth: TestAuth,
    pub org: String,
    pub prefix: String,
    pub _db: TestDb,
}

/// A state store for this app's key prefix.
pub fn state(kind: &StateKind, prefix: &str) -> Arc<dyn RoutingState> {
    match kind {
        StateKind::Memory => Arc::new(MemoryState::new(Duration::from_secs(3600))),
        StateKind::Redis(target) => Arc::new(RedisState::new(
            target.clone(),
            prefix,
            Duration::from_secs(3600),
            STATE_TIMEOUT,
        )),
    }
}

pub async fn spawn_routing(replicas: usize, kind: StateKind) -> RoutingApp {
    spawn_routing_with_clock(replicas, kind, leadflow_schedule::system_clock()).await
}

/// [`spawn_routing`] with every replica reading `clock` for "now".
pub async fn spawn_routing_with_clock(
    replicas: usize,
    kind: StateKind,
    clock: leadflow_schedule::SharedClock,
) -> RoutingApp {
    assert!(
        replicas == 1 || !matches!(kind, StateKind::Memory),
        "memory state is one replica only"
    );
    let db = TestDb::new().await;
    let settings = SettingsStore::connect(&db.url, 8).await.expect("connect");
    settings.migrate().await.expect("migrate");
    let auth = TestAuth::new();
    let prefix = unique_prefix();
    let mut servers = Vec::new();
    for _ in 0..replicas {
        let api = RoutingApi::new(
            SettingsStore::connect(&db.url, 8).await.expect("connect"),
            state(&kind, &prefix),
            Duration::from_millis(1000),
        )
        .with_clock(clock.clone());
        let verifier = auth.verifier.clone();
        servers.push(
            TestServer::spawn(move |listener, shutdown| async move {
                leadflow_routing::host(api)
                    .serve(&ServerArgs::default(), verifier, listener, shutdown)
                    .await
            })
            .await,
        );
    }
    RoutingApp {
        servers,
        auth,
        org: format!("org-{}", uuid::Uuid::new_v4().simple()),
        prefix,
        _db: db,
    }
}

impl RoutingApp {
    /// A client of replica `i`.
    pub fn client(&self, i: usize) -> RoutingServiceClient<Channel> {
        RoutingServiceClient::new(self.servers[i % self.servers.len()].channel())
    }

    pub fn token(&self, role: Role) -> String {
        self.token_in(&self.org, role)
    }

    pub fn token_in(&self, org: &str, role: Role) -> String {
        let user = match role {
            Role::Service => "leads-service",
            Role::Integration => "website",
            _ => "manager-1",
        };
        self.auth.token(user, org, role)
    }

    pub async fn set(&self, settings: pb::RoutingSettings) -> pb::RoutingSettings {
        self.set_in(&self.org, settings).await
    }

    /// Saves settings for `org` at whatever version they are now.
    pub async fn set_in(&self, org: &str, settings: pb::RoutingSettings) -> pb::RoutingSettings {
        let token = self.token_in(org, Role::Manager);
        let current = self
            .client(0)
            .get_routing_settings(authed(pb::GetRoutingSettingsRequest {}, &token))
            .await
            .unwrap()
            .into_inner();
        self.client(0)
            .update_routing_settings(authed(
                pb::UpdateRoutingSettingsRequest {
                    settings: Some(settings),
                    expected_version: current.version,
                },
                &token,
            ))
            .await
            .unwrap_or_else(|s| panic!("update settings: {s:?}"))
            .into_inner()
    }

    pub async fn route(
        &self,
        lead_id: &str,
        source: common::LeadSource,
        candidates: &[pb::Candidate],
    ) -> pb::RouteDecision {
        self.client(0)
            .route_lead(authed(
                route_request(lead_id, source, candidates),
                &self.token(Role::Service),
            ))
            .await
            .unwrap_or_else(|s| panic!("route: {s:?}"))
            .into_inner()
    }
}

pub fn route_request(
    lead_id: &str,
    source: common::LeadSource,
    candidates: &[pb::Candidate],
) -> pb::RouteLeadRequest {
    pb::RouteLeadRequest {
        lead_id: lead_id.into(),
        source: source as i32,
        tags: vec![],
        candidates: candidates.to_vec(),
        attempt: 1,
        exclude_user_ids: Vec::new(),
        preferred_owners: Vec::new(),
    }
}

/// An active, available sales rep.
pub fn rep(id: &str) -> pb::Candidate {
    pb::Candidate {
        user_id: id.into(),
        role: common::Role::Sales as i32,
        active: true,
        available: true,
    }
}

pub fn round_robin() -> pb::RoutingSettings {
    pb::RoutingSettings {
        enabled: true,
        strategy: pb::Strategy::RoundRobin as i32,
        ..Default::default()
    }
}

pub fn balanced() -> pb::RoutingSettings {
    pb::RoutingSettings {
        enabled: true,
        strategy: pb::Strategy::BalancedWorkload as i32,
        ..Default::default()
    }
}

pub fn lead_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn code<T>(result: &Result<T, tonic::Status>) -> tonic::Code {
    match result {
        Ok(_) => tonic::Code::Ok,
        Err(s) => s.code(),
    }
}
