//! The system under test, started the way a deployment runs it: the release
//! `leadflow all` binary as its own process (production mode: Postgres, a
//! database per service, routing state in Redis, Ed25519 tokens), and an
//! organisation with seven sales reps and round robin on.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use leadflow_auth::{Caller, Ed25519KeyPair, Role, TokenMinter};
use leadflow_proto::common::v1 as common;
use leadflow_proto::leads::v1 as leads_pb;
use leadflow_proto::leads::v1::team_service_client::TeamServiceClient;
use leadflow_proto::routing::v1 as routing_pb;
use leadflow_proto::routing::v1::routing_service_client::RoutingServiceClient;
use leadflow_testkit::{TestDb, authed, free_port};
use tonic::transport::{Channel, Endpoint};

/// The seven reps every benchmark organisation routes to.
pub const REPS: [&str; 7] = [
    "rep-1", "rep-2", "rep-3", "rep-4", "rep-5", "rep-6", "rep-7",
];

/// Databases, keys and the Redis prefix of one run.
pub struct Infra {
    pub leads_db: TestDb,
    pub routing_db: TestDb,
    pub notifier_db: TestDb,
    pub redis_url: String,
    pub redis_prefix: String,
    /// Signs callers' tokens (the "identity provider").
    pub minter: TokenMinter,
    dir: PathBuf,
    keys: Vec<PathBuf>,
    service_key: PathBuf,
}

impl Infra {
    pub async fn new(redis_url: &str) -> anyhow::Result<Infra> {
        let dir =
            std::env::temp_dir().join(format!("leadflow-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let idp = Ed25519KeyPair::generate();
        let leads_key = Ed25519KeyPair::generate();
        let idp_pub = dir.join("idp.pub.pem");
        let leads_pub = dir.join("leads.pub.pem");
        let service_key = dir.join("leads.pem");
        std::fs::write(&idp_pub, &idp.public_pem)?;
        std::fs::write(&leads_pub, &leads_key.public_pem)?;
        std::fs::write(&service_key, &leads_key.private_pem)?;
        Ok(Infra {
            leads_db: TestDb::new().await,
            routing_db: TestDb::new().await,
            notifier_db: TestDb::new().await,
            redis_url: redis_url.to_owned(),
            redis_prefix: format!("bench-{}", uuid::Uuid::new_v4().simple()),
            minter: TokenMinter::ed25519(idp.private_pem.as_bytes(), "bench-idp")?,
            dir,
            keys: vec![idp_pub, leads_pub],
            service_key,
        })
    }

    pub fn token(&self, org: &str, user: &str, role: Role) -> String {
        self.minter
            .mint(&Caller::new(user, org, role), Duration::from_secs(6 * 3600))
    }

    /// The environment every service process gets.
    fn env(&self, ports: Ports) -> Vec<(&'static str, String)> {
        let keys: Vec<String> = self.keys.iter().map(|k| k.display().to_string()).collect();
        vec![
            ("LEADFLOW_ENV", "production".into()),
            ("RUST_LOG", "warn".into()),
            ("LEADFLOW_AUTH_PUBLIC_KEYS", keys.join(",")),
            ("LEADFLOW_CONCURRENCY_LIMIT", "2048".into()),
            // The bulk assignment is one call; let it finish to be measured.
            ("LEADFLOW_REQUEST_TIMEOUT_MS", "120000".into()),
            ("LEADS_LISTEN_ADDR", format!("127.0.0.1:{}", ports.leads)),
            (
                "ROUTING_LISTEN_ADDR",
                format!("127.0.0.1:{}", ports.routing),
            ),
            (
                "NOTIFIER_LISTEN_ADDR",
                format!("127.0.0.1:{}", ports.notifier),
            ),
            ("LEADS_DATABASE_URL", self.leads_db.url.clone()),
            ("ROUTING_DATABASE_URL", self.routing_db.url.clone()),
            ("NOTIFIER_DATABASE_URL", self.notifier_db.url.clone()),
            (
                "LEADS_ROUTING_URL",
                format!("http://127.0.0.1:{}", ports.routing),
            ),
            (
                "LEADS_NOTIFIER_URL",
                format!("http://127.0.0.1:{}", ports.notifier),
            ),
            (
                "LEADS_SERVICE_KEY_FILE",
                self.service_key.display().to_string(),
            ),
            ("LEADS_DB_MAX_CONNECTIONS", "32".into()),
            ("NOTIFIER_DB_MAX_CONNECTIONS", "32".into()),
            ("ROUTING_STATE_URL", self.redis_url.clone()),
            ("ROUTING_REDIS_PREFIX", self.redis_prefix.clone()),
            // Every RouteLead remembers its decision; a day of them would be
            // millions of keys left in the shared Redis.
            ("ROUTING_DECISION_TTL_SECS", "120".into()),
            (
                "NOTIFIER_SMTP_URL",
                format!("file://{}/mail", self.dir.display()),
            ),
        ]
    }
}

impl Drop for Infra {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        // The run's Redis keys (routing state, the EVALSHA limit's cursor).
        let _ = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "redis-cli -u '{url}' --scan --pattern '{prefix}*' | xargs -r -n 1000 redis-cli -u '{url}' unlink >/dev/null",
                    url = self.redis_url,
                    prefix = self.redis_prefix
                ),
            ])
            .status();
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub leads: u16,
    pub routing: u16,
    pub notifier: u16,
}

impl Ports {
    pub fn fresh() -> Ports {
        Ports {
            leads: free_port(),
            routing: free_port(),
            notifier: free_port(),
        }
    }
}

/// A release binary next to this one (`cargo build --release` builds both).
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?
        .parent()
        .context("the bench binary has a directory")?
        .join(name);
    anyhow::ensure!(
        path.exists(),
        "{} is missing: build it with `cargo build --release --bin {name}`",
        path.display()
    );
    Ok(path)
}

/// A leadflow process; SIGTERM when dropped.
pub struct Process {
    child: Child,
}

impl Process {
    pub fn start(
        infra: &Infra,
        ports: Ports,
        binary: &str,
        args: &[&str],
    ) -> anyhow::Result<Process> {
        let child = Command::new(sibling_binary(binary)?)
            .args(args)
            .env_clear()
            .envs(infra.env(ports))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        Ok(Process { child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now, from /proc (Linux), in MiB.
    pub fn rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }

    pub fn stop(mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().is_ok_and(|s| s.success())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn channel(port: u16) -> Channel {
    Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("a valid address")
        .tcp_nodelay(true)
        .connect_lazy()
}

/// Waits until the service on `port` serves; returns the time since `since`.
pub async fn wait_serving(port: u16, since: Instant, limit: Duration) -> anyhow::Result<Duration> {
    leadflow_server::wait_until_serving(&format!("http://127.0.0.1:{port}"), limit)
        .await
        .map_err(anyhow::Error::msg)?;
    Ok(since.elapsed())
}

/// Creates an organisation: an owner and the seven reps, routing on with
/// `strategy` over all of them.
pub async fn organisation(
    infra: &Infra,
    ports: Ports,
    org: &str,
    strategy: routing_pb::Strategy,
) -> anyhow::Result<()> {
    let owner = infra.token(org, "owner", Role::Owner);
    let mut team = TeamServiceClient::new(channel(ports.leads));
    let people = std::iter::once(("owner", common::Role::Owner))
        .chain(REPS.iter().map(|r| (*r, common::Role::Sales)));
    for (user, role) in people {
        team.upsert_member(authed(
            leads_pb::UpsertMemberRequest {
                user_id: user.into(),
                display_name: user.into(),
                email: format!("{user}@bench.leadflow.test"),
                role: role as i32,
                active: Some(true),
            },
            &owner,
        ))
        .await
        .with_context(|| format!("adding {user}"))?;
    }
    RoutingServiceClient::new(channel(ports.routing))
        .update_routing_settings(authed(
            routing_pb::UpdateRoutingSettingsRequest {
                settings: Some(routing_pb::RoutingSettings {
                    enabled: true,
                    strategy: strategy as i32,
                    rotation_user_ids: REPS.iter().map(|r| (*r).to_owned()).collect(),
                    ..Default::default()
                }),
                expected_version: 0,
            },
            &owner,
        ))
        .await
        .context("turning routing on")?;
    Ok(())
}

/// Every fairness control on, none of them holding a lead: the reps weigh
/// 1 to 7, each has caps of open leads and of new leads per local day far
/// above what a run routes (so the caps are checked on every pick), and
/// working hours are respected with schedules of every day, all day, in
/// three zones (so every pick reads and evaluates them). Routing does all
/// the work of the full controls and still routes every lead.
pub async fn fair_routing(infra: &Infra, ports: Ports, org: &str) -> anyhow::Result<()> {
    organisation(infra, ports, org, routing_pb::Strategy::RoundRobin).await?;
    let owner = infra.token(org, "owner", Role::Owner);
    let mut team = TeamServiceClient::new(channel(ports.leads));
    let zones = ["America/New_York", "Europe/Berlin", "Asia/Tokyo"];
    for (i, rep) in REPS.iter().enumerate() {
        team.set_schedule(authed(
            leads_pb::SetScheduleRequest {
                user_id: (*rep).into(),
                time_zone: zones[i % zones.len()].into(),
                working_hours: (1..=7)
                    .map(|day| common::WorkingHours {
                        day_of_week: day,
                        start: "00:00".into(),
                        end: "24:00".into(),
                    })
                    .collect(),
                time_off: vec![],
            },
            &owner,
        ))
        .await
        .with_context(|| format!("scheduling {rep}"))?;
    }
    let big = 1_000_000_000;
    RoutingServiceClient::new(channel(ports.routing))
        .update_routing_settings(authed(
            routing_pb::UpdateRoutingSettingsRequest {
                settings: Some(routing_pb::RoutingSettings {
                    enabled: true,
                    strategy: routing_pb::Strategy::RoundRobin as i32,
                    rotation_user_ids: REPS.iter().map(|r| (*r).to_owned()).collect(),
                    weights: REPS
                        .iter()
                        .enumerate()
                        .map(|(i, r)| ((*r).to_owned(), i as i32 + 1))
                        .collect(),
                    default_limit: Some(routing_pb::MemberLimit {
                        user_id: String::new(),
                        max_open_leads: big,
                        max_new_per_day: big,
                    }),
                    respect_working_hours: true,
                    ..Default::default()
                }),
                expected_version: 1,
            },
            &owner,
        ))
        .await
        .context("turning every fairness control on")?;
    // The schedules reach routing through leads' outbox.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(())
}

pub fn database_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

pub fn dir_of(infra: &Infra) -> &Path {
    &infra.dir
}
