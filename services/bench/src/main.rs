//! `leadflow-bench`: throughput and latency figures that anyone can
//! reproduce, each printed beside the limit it should be compared with,
//! measured in the same run (absolute times on a shared 2-core machine drift
//! from run to run; ratios drift much less).
//!
//! `leadflow-bench routing` compares RouteLead (round robin, state in Redis
//! changed by one Lua script per decision) with what database-backed CRMs do:
//! a cursor in a Postgres row under `SELECT … FOR UPDATE`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use leadflow_auth::Role;
use leadflow_proto::common::v1 as common;
use leadflow_proto::routing::v1 as pb;
use leadflow_proto::routing::v1::routing_service_client::RoutingServiceClient;
use leadflow_routing::grpc::RoutingApi;
use leadflow_routing::store::{RedisState, RedisTarget, SettingsStore};
use leadflow_server::ServerArgs;
use leadflow_testkit::{TestAuth, TestDb, TestServer, authed};
use sea_orm::sqlx::{self, postgres::PgPoolOptions};

#[derive(Parser, Debug)]
#[command(
    name = "leadflow-bench",
    about = "leadflow benchmarks, side by side with the limits"
)]
struct Cli {
    /// Which benchmark.
    #[arg(value_parser = ["routing"], default_value = "routing")]
    which: String,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent callers, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    callers: Vec<usize>,
    #[arg(
        long,
        env = "LEADFLOW_TEST_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    redis_url: String,
}

/// One measurement.
#[derive(Debug, Clone)]
struct Figure {
    ops: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

impl Figure {
    fn per_second(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `op` from `callers` concurrent tasks for `duration`.
async fn measure<F, Fut>(callers: usize, duration: Duration, op: F) -> anyhow::Result<Figure>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..callers {
        let (op, stop) = (op.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                op(caller).await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let elapsed = started.elapsed();
    all.sort();
    let at = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Ok(Figure {
        ops: all.len(),
        elapsed,
        p50: at(0.50),
        p99: at(0.99),
    })
}

const REPS: [&str; 7] = [
    "rep-1", "rep-2", "rep-3", "rep-4", "rep-5", "rep-6", "rep-7",
];

async fn routing(cli: &Cli) -> anyhow::Result<()> {
    let duration = Duration::from_secs(cli.seconds);
    let db = TestDb::new().await;
    let auth = TestAuth::new();
    let org = format!("bench-{}", uuid::Uuid::new_v4().simple());

    // leadflow: a routing server with its state in the local Redis.
    let settings = SettingsStore::connect(&db.url, 8).await?;
    settings.migrate().await?;
    let state = Arc::new(RedisState::new(
        RedisTarget::Single(cli.redis_url.clone()),
        format!("bench-{}", uuid::Uuid::new_v4().simple()),
        Duration::from_secs(600),
        Duration::from_secs(2),
    ));
    let api = RoutingApi::new(settings, state, Duration::from_secs(1));
    let verifier = auth.verifier.clone();
    let server = TestServer::spawn(move |listener, shutdown| async move {
        let args = ServerArgs {
            concurrency_limit: 1024,
            ..ServerArgs::default()
        };
        leadflow_routing::serve(api, verifier, &args, listener, shutdown).await
    })
    .await;
    let manager = auth.token("bench-manager", &org, Role::Manager);
    RoutingServiceClient::new(server.channel())
        .update_routing_settings(authed(
            pb::UpdateRoutingSettingsRequest {
                settings: Some(pb::RoutingSettings {
                    enabled: true,
                    strategy: pb::Strategy::RoundRobin as i32,
                    ..Default::default()
                }),
                expected_version: 0,
            },
            &manager,
        ))
        .await?;
    let token = Arc::new(auth.token("leads-service", &org, Role::Service));
    let candidates: Arc<Vec<pb::Candidate>> = Arc::new(
        REPS.iter()
            .map(|id| pb::Candidate {
                user_id: (*id).into(),
                role: common::Role::Sales as i32,
                active: true,
                available: true,
            })
            .collect(),
    );
    // A handful of HTTP/2 connections, as a replica of the leads service would hold.
    let channels: Arc<Vec<_>> = Arc::new((0..8).map(|_| server.channel()).collect());

    // The baseline: a round-robin cursor in a Postgres row, locked per pick.
    let max_callers = cli.callers.iter().copied().max().unwrap_or(1) as u32;
    let pool = PgPoolOptions::new()
        .max_connections(max_callers)
        .connect(&db.url)
        .await?;
    sqlx::query("CREATE TABLE rr_cursor (org_id TEXT PRIMARY KEY, last_user TEXT NOT NULL)")
        .execute(&pool)
        .await?;
    sqlx::query("INSERT INTO rr_cursor VALUES ($1, '')")
        .bind(&org)
        .execute(&pool)
        .await?;

    println!("RouteLead (round robin, Redis + Lua) vs a Postgres row under SELECT … FOR UPDATE");
    println!(
        "{} s per point, 7 reps, on {} cores\n",
        cli.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:>7} | {:>12} {:>9} {:>9} | {:>12} {:>9} {:>9} | {:>7}",
        "callers", "RouteLead/s", "p50", "p99", "PG FOR UPD/s", "p50", "p99", "ratio"
    );
    for &callers in &cli.callers {
        let (channels, token, candidates) = (channels.clone(), token.clone(), candidates.clone());
        let leadflow = measure(callers, duration, move |caller| {
            let mut client = RoutingServiceClient::new(channels[caller % channels.len()].clone());
            let (token, candidates) = (token.clone(), candidates.clone());
            async move {
                let request = pb::RouteLeadRequest {
                    lead_id: uuid::Uuid::now_v7().to_string(),
                    source: common::LeadSource::Website as i32,
                    tags: vec![],
                    candidates: candidates.to_vec(),
                };
                client.route_lead(authed(request, &token)).await?;
                Ok(())
            }
        })
        .await?;

        let (pool, org) = (pool.clone(), org.clone());
        let baseline = measure(callers, duration, move |_| {
            let (pool, org) = (pool.clone(), org.clone());
            async move {
                let mut txn = pool.begin().await?;
                let (last,): (String,) =
                    sqlx::query_as("SELECT last_user FROM rr_cursor WHERE org_id = $1 FOR UPDATE")
                        .bind(&org)
                        .fetch_one(&mut *txn)
                        .await?;
                let next = REPS
                    .iter()
                    .find(|r| **r > last.as_str())
                    .unwrap_or(&REPS[0]);
                sqlx::query("UPDATE rr_cursor SET last_user = $2 WHERE org_id = $1")
                    .bind(&org)
                    .bind(*next)
                    .execute(&mut *txn)
                    .await?;
                txn.commit().await?;
                Ok(())
            }
        })
        .await?;
        println!(
            "{:>7} | {:>12.0} {:>9.2?} {:>9.2?} | {:>12.0} {:>9.2?} {:>9.2?} | {:>6.1}x",
            callers,
            leadflow.per_second(),
            leadflow.p50,
            leadflow.p99,
            baseline.per_second(),
            baseline.p50,
            baseline.p99,
            leadflow.per_second() / baseline.per_second()
        );
    }
    pool.close().await;
    server.stop().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.which.as_str() {
        "routing" => routing(&cli).await,
        other => anyhow::bail!("unknown benchmark {other}"),
    }
}
