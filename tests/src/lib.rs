//! The whole system for a test: leads, routing and the notifier as real gRPC
//! servers on loopback ports, each on its own fresh Postgres database,
//! routing state in the shared Redis under a key prefix of the test's own.
//! Each service can be stopped and started again on the same port, as a
//! restart or an outage would.

use leadflow_db::OwnDatabase;
use std::sync::Arc;
use std::time::Duration;

use leadflow_auth::Role;
use leadflow_leads::Links;
use leadflow_leads::peers::{Peers, ServiceTokens};
use leadflow_notifier::Parts;
use leadflow_notifier::channels::email::Email;
use leadflow_notifier::domain::push::PushPolicy;
use leadflow_notifier::domain::retry::RetryPolicy;
use leadflow_notifier::hub::Hub;
use leadflow_proto::common::v1 as common;
use leadflow_proto::leads::v1 as leads_pb;
use leadflow_proto::leads::v1::lead_service_client::LeadServiceClient;
use leadflow_proto::leads::v1::team_service_client::TeamServiceClient;
use leadflow_proto::notifier::v1::notifier_service_client::NotifierServiceClient;
use leadflow_proto::routing::v1 as routing_pb;
use leadflow_proto::routing::v1::routing_service_client::RoutingServiceClient;
use leadflow_routing::grpc::RoutingApi;
use leadflow_routing::store::{RedisState, RedisTarget, SettingsStore};
use leadflow_server::ServerArgs;
use leadflow_testkit::redis::{redis_url, unique_prefix};
use leadflow_testkit::{TestAuth, TestDb, TestServer, authed, free_port};
use tonic::transport::{Channel, Endpoint};

pub use leadflow_testkit::authed as req;

/// The three services, their databases and ports.
pub struct Stack {
    pub auth: TestAuth,
    pub org: String,
    pub redis_prefix: String,
    pub leads_db: TestDb,
    pub routing_db: TestDb,
    pub notifier_db: TestDb,
    /// The Redis routing keeps its state in (the shared one by default).
    pub redis_url: String,
    pub leads_port: u16,
    pub routing_port: u16,
    pub notifier_port: u16,
    pub leads: Option<TestServer>,
    pub routing: Option<TestServer>,
    pub notifier: Option<TestServer>,
    /// The clock routing decides by (working hours, local days): a test
    /// sets it before starting routing to move time by hand.
    pub routing_clock: leadflow_schedule::SharedClock,
    /// The clock the leads servers write times and run timers by (SLA
    /// deadlines): a test sets it before starting leads.
    pub leads_clock: leadflow_schedule::SharedClock,
    /// A test's hook into SLA expiries, given to leads servers started after it is set.
    pub sla_gate: Option<leadflow_leads::usecase::SlaGate>,
    /// Where leads servers started from now on reach the notifier, when not
    /// at `notifier_port` (a [`FlakyProxy`] in front of it).
    pub leads_notifier_port: Option<u16>,
}

fn channel(port: u16) -> Channel {
    Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("url")
        .connect_lazy()
}

impl Stack {
    /// Creates the databases; starts nothing yet.
    pub async fn new() -> Stack {
        Stack {
            auth: TestAuth::new(),
            org: format!("org-{}", uuid::Uuid::new_v4().simple()),
            redis_prefix: unique_prefix(),
            redis_url: redis_url(),
            leads_db: TestDb::new().await,
            routing_db: TestDb::new().await,
            notifier_db: TestDb::new().await,
            leads_port: free_port(),
            routing_port: free_port(),
            notifier_port: free_port(),
            leads: None,
            routing: None,
            notifier: None,
            routing_clock: leadflow_schedule::system_clock(),
            leads_clock: leadflow_schedule::system_clock(),
            sla_gate: None,
            leads_notifier_port: None,
        }
    }

    /// Starts all three.
    pub async fn up() -> Stack {
        Self::up_with_redis(redis_url()).await
    }

    /// Starts all three, routing on the Redis at `url`.
    pub async fn up_with_redis(url: String) -> Stack {
        let mut stack = Stack::new().await;
        stack.redis_url = url;
        stack.start_routing().await;
        stack.start_notifier().await;
        stack.start_leads().await;
        stack
    }

    pub async fn start_routing(&mut self) {
        let settings = SettingsStore::connect(&self.routing_db.url, 8)
            .await
            .expect("routing db");
        settings.migrate().await.expect("migrate routing");
        let state = Arc::new(RedisState::new(
            RedisTarget::Single(self.redis_url.clone()),
            self.redis_prefix.clone(),
            Duration::from_secs(3600),
            Duration::from_secs(2),
        ));
        let api = RoutingApi::new(settings, state, Duration::from_millis(200))
            .with_clock(self.routing_clock.clone());
        let verifier = self.auth.verifier.clone();
        self.routing = Some(
            TestServer::spawn_on(self.routing_port, move |listener, shutdown| async move {
                leadflow_routing::host(api)
                    .serve(&ServerArgs::default(), verifier, listener, shutdown)
                    .await
            })
            .await,
        );
    }

    pub async fn start_notifier(&mut self) {
        self.start_notifier_with(self.auth.verifier.clone()).await;
    }

    /// Starts the notifier trusting only the keys `verifier` trusts.
    pub async fn start_notifier_with(&mut self, verifier: Arc<leadflow_auth::TokenVerifier>) {
        let store = leadflow_notifier::store::Store::connect(&self.notifier_db.url, 8)
            .await
            .expect("notifier db");
        store.migrate().await.expect("migrate notifier");
        let parts = Parts {
            hub: Hub::postgres(store.connection().clone(), &self.notifier_db.url),
            store,
            webpush: None,
            email: Some(Arc::new(
                Email::new(
                    "file:///tmp/leadflow-e2e-mail",
                    "leadflow <l@leadflow.test>",
                    "http://localhost:3000",
                    Duration::from_secs(5),
                )
                .unwrap(),
            )),
            push_policy: PushPolicy::default(),
            retry: RetryPolicy {
                base: Duration::from_millis(100),
                cap: Duration::from_secs(2),
                max_attempts: 5,
            },
            poll: Duration::from_millis(200),
        };
        self.notifier = Some(
            TestServer::spawn_on(self.notifier_port, move |listener, shutdown| async move {
                leadflow_notifier::host(parts)
                    .serve(&ServerArgs::default(), verifier, listener, shutdown)
                    .await
            })
            .await,
        );
    }

    pub async fn start_leads(&mut self) {
        self.leads = Some(self.leads_server(self.leads_port).await);
    }

    /// Another leads replica on the same database and peers, on a port of
    /// its own (`TestServer::port`), as a second pod would be.
    pub async fn leads_replica(&self) -> TestServer {
        self.leads_server(free_port()).await
    }

    async fn leads_server(&self, port: u16) -> TestServer {
        let store = leadflow_leads::store::Store::connect(&self.leads_db.url, 16)
            .await
            .expect("leads db")
            .with_clock(self.leads_clock.clone());
        store.migrate().await.expect("migrate leads");
        let peers = Peers::new(
            Some(&format!("http://127.0.0.1:{}", self.routing_port)),
            Some(&format!(
                "http://127.0.0.1:{}",
                self.leads_notifier_port.unwrap_or(self.notifier_port)
            )),
            ServiceTokens::new(self.auth.minter.clone()),
            Duration::from_millis(500),
            Duration::from_secs(10),
        )
        .expect("peers");
        let links = Links {
            peers: Arc::new(peers),
            poll: Duration::from_millis(200),
            reconcile_every: Duration::from_secs(3600),
            outbox_retention: Duration::from_secs(3600),
            sla_gate: self.sla_gate.clone(),
        };
        let verifier = self.auth.verifier.clone();
        TestServer::spawn_on(port, move |listener, shutdown| async move {
            leadflow_leads::host(store, links)
                .serve(&ServerArgs::default(), verifier, listener, shutdown)
                .await
        })
        .await
    }

    pub async fn stop_routing(&mut self) {
        if let Some(server) = self.routing.take() {
            server.stop().await.expect("routing stops");
        }
    }

    pub async fn stop_leads(&mut self) {
        if let Some(server) = self.leads.take() {
            server.stop().await.expect("leads stops");
        }
    }

    pub async fn stop_notifier(&mut self) {
        if let Some(server) = self.notifier.take() {
            server.stop().await.expect("notifier stops");
        }
    }

    pub fn leads(&self) -> LeadServiceClient<Channel> {
        LeadServiceClient::new(channel(self.leads_port))
    }

    pub fn team(&self) -> TeamServiceClient<Channel> {
        TeamServiceClient::new(channel(self.leads_port))
    }

    pub fn operations(
        &self,
    ) -> leads_pb::operations_service_client::OperationsServiceClient<Channel> {
        leads_pb::operations_service_client::OperationsServiceClient::new(channel(self.leads_port))
    }

    /// The organisation's outbox dead letters, as its owner lists them.
    pub async fn dead_letters(&self) -> Vec<leads_pb::DeadLetter> {
        self.operations()
            .list_dead_letters(authed(
                leads_pb::ListDeadLettersRequest { page_size: 1_000 },
                &self.owner(),
            ))
            .await
            .expect("list dead letters")
            .into_inner()
            .dead_letters
    }

    pub fn routing(&self) -> RoutingServiceClient<Channel> {
        RoutingServiceClient::new(channel(self.routing_port))
    }

    pub fn notifier(&self) -> NotifierServiceClient<Channel> {
        NotifierServiceClient::new(channel(self.notifier_port))
    }

    pub fn token(&self, user: &str, role: Role) -> String {
        self.auth.token(user, &self.org, role)
    }

    pub fn owner(&self) -> String {
        self.token("owner-1", Role::Owner)
    }

    /// The owner, plus `reps` as active sales reps.
    pub async fn team_of(&self, reps: &[&str]) {
        for (user, role) in std::iter::once(("owner-1", common::Role::Owner))
            .chain(reps.iter().map(|r| (*r, common::Role::Sales)))
        {
            self.team()
                .upsert_member(authed(
                    leads_pb::UpsertMemberRequest {
                        user_id: user.into(),
                        display_name: format!("User {user}"),
                        email: format!("{user}@example.com"),
                        role: role as i32,
                        active: Some(true),
                    },
                    &self.owner(),
                ))
                .await
                .expect("upsert member");
        }
    }

    /// Turns routing on with `strategy` over `rotation` (routing must be up).
    pub async fn routing_on(&self, strategy: routing_pb::Strategy, rotation: &[&str]) {
        let manager = self.owner();
        let current = self
            .routing()
            .get_routing_settings(authed(routing_pb::GetRoutingSettingsRequest {}, &manager))
            .await
            .unwrap()
            .into_inner();
        self.routing()
            .update_routing_settings(authed(
                routing_pb::UpdateRoutingSettingsRequest {
                    settings: Some(routing_pb::RoutingSettings {
                        enabled: true,
                        strategy: strategy as i32,
                        rotation_user_ids: rotation.iter().map(|r| r.to_string()).collect(),
                        ..Default::default()
                    }),
                    expected_version: current.version,
                },
                &manager,
            ))
            .await
            .expect("routing on");
    }

    /// Creates a lead from `source`, as the website integration would.
    pub async fn create(&self, name: &str, source: common::LeadSource) -> leads_pb::Lead {
        self.leads()
            .create_lead(authed(
                leads_pb::CreateLeadRequest {
                    name: name.into(),
                    source: source as i32,
                    ..Default::default()
                },
                &self.token("website", Role::Integration),
            ))
            .await
            .expect("create lead")
            .into_inner()
    }

    /// The lead ids of every single-lead bell in `rep`'s inbox, newest first
    /// (all pages). `None` if the notifier did not answer.
    pub async fn bell_lead_ids(&self, rep: &str) -> Option<Vec<String>> {
        let mut ids = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .notifier()
                .list_notifications(authed(
                    leadflow_proto::notifier::v1::ListNotificationsRequest {
                        page_size: 100,
                        page_token,
                        unread_only: false,
                    },
                    &self.token(rep, Role::Sales),
                ))
                .await
                .ok()?
                .into_inner();
            ids.extend(
                page.notifications
                    .into_iter()
                    .filter_map(|n| match n.subject {
                        Some(leadflow_proto::notifier::v1::notification::Subject::Lead(l)) => {
                            Some(l.id)
                        }
                        _ => None,
                    }),
            );
            if page.next_page_token.is_empty() {
                return Some(ids);
            }
            page_token = page.next_page_token;
        }
    }

    /// One lead, as the owner sees it.
    pub async fn lead(&self, id: &str) -> leads_pb::Lead {
        self.leads()
            .get_lead(authed(
                leads_pb::GetLeadRequest { id: id.into() },
                &self.owner(),
            ))
            .await
            .expect("get lead")
            .into_inner()
    }

    /// A lead's history, oldest first, as the owner sees it.
    pub async fn history(&self, id: &str) -> Vec<leads_pb::LeadEvent> {
        self.leads()
            .get_lead_history(authed(
                leads_pb::GetLeadHistoryRequest { id: id.into() },
                &self.owner(),
            ))
            .await
            .expect("history")
            .into_inner()
            .events
    }

    /// Reads the routing settings, lets `change` edit them, and saves them
    /// as the owner (routing must be up).
    pub async fn change_routing(&self, change: impl FnOnce(&mut routing_pb::RoutingSettings)) {
        let owner = self.owner();
        let mut settings = self
            .routing()
            .get_routing_settings(authed(routing_pb::GetRoutingSettingsRequest {}, &owner))
            .await
            .expect("routing settings")
            .into_inner();
        let expected_version = settings.version;
        change(&mut settings);
        self.routing()
            .update_routing_settings(authed(
                routing_pb::UpdateRoutingSettingsRequest {
                    settings: Some(settings),
                    expected_version,
                },
                &owner,
            ))
            .await
            .expect("routing settings saved");
    }

    /// Every lead of the org, as the owner sees them.
    pub async fn all_leads(&self) -> Vec<leads_pb::Lead> {
        let mut out = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .leads()
                .list_leads(authed(
                    leads_pb::ListLeadsRequest {
                        page_size: 500,
                        page_token,
                        ..Default::default()
                    },
                    &self.owner(),
                ))
                .await
                .expect("list leads")
                .into_inner();
            out.extend(page.leads);
            if page.next_page_token.is_empty() {
                return out;
            }
            page_token = page.next_page_token;
        }
    }
}

/// Eight writers creating website leads as fast as they are answered, for
/// `run`; then stops them and returns the leads that were acknowledged.
/// `during` runs once `run` has passed (a SIGKILL, say), before the writers
/// are told to stop.
pub async fn burst(
    stack: &Arc<Stack>,
    run: Duration,
    during: impl FnOnce(),
) -> Vec<leads_pb::Lead> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (stack, stop) = (stack.clone(), stop.clone());
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let body = leads_pb::CreateLeadRequest {
                        name: format!("Burst {w}-{i}"),
                        source: common::LeadSource::Website as i32,
                        ..Default::default()
                    };
                    if let Ok(lead) = stack
                        .leads()
                        .create_lead(authed(body, &stack.token("website", Role::Integration)))
                        .await
                    {
                        acknowledged.push(lead.into_inner());
                    }
                    i += 1;
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(run).await;
    during();
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.expect("writer"));
    }
    acknowledged
}

/// Polls `check` until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The leads service as a real process (for crash tests), configured like a
/// production deployment: Postgres, public-key tokens, its own service key.
pub struct LeadsProcess {
    child: std::process::Child,
}

/// A workspace binary next to the test executable (built by
/// `cargo test --workspace --all-targets`).
pub fn workspace_bin(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join(name);
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build --bin {name}`",
        bin.display()
    );
    bin
}

/// Writes the test's trusted public key (and its private half, for the leads
/// service's own calls) into `dir`; returns (private, public) paths.
pub fn key_files(stack: &Stack, dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let private = dir.join("leads-service.pem");
    let public = dir.join("trusted.pub.pem");
    std::fs::write(&private, &stack.auth.keys.private_pem).unwrap();
    std::fs::write(&public, &stack.auth.keys.public_pem).unwrap();
    (private, public)
}

impl LeadsProcess {
    /// Starts the `leads` binary against the stack's database and peers.
    pub fn start(stack: &Stack, dir: &std::path::Path) -> LeadsProcess {
        Self::start_with(stack, dir, &[])
    }

    /// [`LeadsProcess::start`] with extra environment variables, which win
    /// over the defaults (`LEADS_LISTEN_ADDR` for a second replica).
    pub fn start_with(
        stack: &Stack,
        dir: &std::path::Path,
        extra: &[(&str, String)],
    ) -> LeadsProcess {
        let bin = workspace_bin("leads");
        let (private, public) = key_files(stack, dir);
        let child = std::process::Command::new(bin)
            .env_clear()
            .env("RUST_LOG", "warn")
            .env("LEADFLOW_ENV", "production")
            .env(
                "LEADS_LISTEN_ADDR",
                format!("127.0.0.1:{}", stack.leads_port),
            )
            .env("LEADS_DATABASE_URL", &stack.leads_db.url)
            .env(
                "LEADS_ROUTING_URL",
                format!("http://127.0.0.1:{}", stack.routing_port),
            )
            .env(
                "LEADS_NOTIFIER_URL",
                format!("http://127.0.0.1:{}", stack.notifier_port),
            )
            .env("LEADS_SERVICE_KEY_FILE", &private)
            .env("LEADFLOW_AUTH_PUBLIC_KEYS", &public)
            .env("LEADS_OUTBOX_POLL_MS", "200")
            .env("LEADS_ROUTE_DEADLINE_MS", "1000")
            // Last, so a test may override any of the above (a replica's port).
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start leads");
        LeadsProcess { child }
    }

    /// SIGTERM, then wait for a clean exit (exporters flush).
    pub fn terminate_gracefully(mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// SIGKILL: no drain, no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LeadsProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until a gRPC server answers health checks on `port`.
pub async fn wait_serving(port: u16) {
    eventually(
        Duration::from_secs(30),
        "the server to serve",
        || async move {
            let channel = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
                .ok()?
                .connect()
                .await
                .ok()?;
            tonic_health::pb::health_client::HealthClient::new(channel)
                .check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .ok()
                .map(drop)
        },
    )
    .await
}

/// Any service binary as a process, killed when dropped.
pub struct ServiceProcess {
    child: std::process::Child,
}

impl ServiceProcess {
    pub fn start(bin: &str, envs: &[(&str, String)]) -> ServiceProcess {
        Self::start_in(bin, &std::env::temp_dir(), &[], envs)
    }

    /// Starts `bin args…` in `dir` (its relative paths, like `./data`, land there).
    pub fn start_in(
        bin: &str,
        dir: &std::path::Path,
        args: &[&str],
        envs: &[(&str, String)],
    ) -> ServiceProcess {
        let child = std::process::Command::new(workspace_bin(bin))
            .current_dir(dir)
            .args(args)
            .env_clear()
            .env("RUST_LOG", "warn")
            .env("LEADFLOW_ENV", "production")
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start service");
        ServiceProcess { child }
    }

    /// SIGKILL: no drain, no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait (so exporters flush).
    /// Returns whether it exited cleanly.
    pub fn terminate(mut self) -> bool {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().is_ok_and(|s| s.success())
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP proxy that cuts connections at random: each one it accepts lives
/// between 5 and 150 ms and is then dropped mid-stream, failing whatever
/// calls were in flight on it (a notifier behind a flaky network).
pub struct FlakyProxy {
    /// Where it listens.
    pub port: u16,
    /// Stops it when dropped.
    _task: tokio::task::JoinHandle<()>,
}

impl FlakyProxy {
    /// A proxy to `127.0.0.1:upstream`.
    pub async fn start(upstream: u16) -> FlakyProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    let life = Duration::from_millis(rand::random::<u64>() % 145 + 5);
                    let _ = tokio::time::timeout(
                        life,
                        tokio::io::copy_bidirectional(&mut inbound, &mut outbound),
                    )
                    .await;
                });
            }
        });
        FlakyProxy { port, _task: task }
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self._task.abort();
    }
}
