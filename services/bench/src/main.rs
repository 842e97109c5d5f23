//! `leadflow-bench`: the figures a buyer asks for, each printed beside the
//! physical limit it should be compared with, measured in the same run
//! (absolute times on a shared 2-core machine drift from run to run; ratios
//! drift much less).
//!
//! `make bench` builds the release binaries and runs this against a stack it
//! starts itself: the release `leadflow all` as its own process on the local
//! Postgres (a database per service) and Redis. It measures RouteLead (round
//! robin and balanced), CreateLead end to end, speed-to-lead, a 10,000-lead
//! bulk assignment, each service's footprint and what one lead costs (write
//! transactions, WAL syncs, CPU);
//! and beside them `redis-benchmark` EVALSHA, `pgbench` INSERT and the
//! Postgres row-lock round robin. Every response is checked; errors are
//! counted and a run with errors says so first. Output: a table, a JSON file,
//! and BENCHMARKS.md with a chart.

mod costs;
mod limits;
mod load;
mod report;
mod scenarios;
mod stack;
mod sticky;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use leadflow_proto::routing::v1::Strategy;
use leadflow_testkit::TestDb;

use crate::costs::Meter;
use crate::report::{Footprint, Machine, Results};
use crate::stack::{Infra, Ports, Process, wait_serving};

#[derive(Parser, Debug)]
#[command(
    name = "leadflow-bench",
    about = "leadflow benchmarks, side by side with the limits"
)]
struct Cli {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent callers, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    callers: Vec<usize>,
    /// Leads in the bulk assignment.
    #[arg(long, default_value_t = 10_000)]
    bulk: usize,
    #[arg(
        long,
        env = "LEADFLOW_TEST_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    redis_url: String,
    /// Where BENCHMARKS.md, BENCHMARKS.json and BENCHMARKS.svg go.
    #[arg(long, default_value = ".")]
    out_dir: PathBuf,
    /// Profiling aid: only measure speed-to-lead at this many leads/s, print it, stop.
    #[arg(long)]
    speed_only: Option<f64>,
    /// Profiling aid: only measure RouteLead (round robin) or CreateLead end
    /// to end at `--callers`, print the figures as JSON, stop.
    #[arg(long, value_enum)]
    only: Option<Only>,
    /// Hand-written notes (profiling, before/after) appended to BENCHMARKS.md.
    #[arg(long, default_value = "services/bench/NOTES.md")]
    notes: PathBuf,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Only {
    Route,
    Create,
    /// Plain round robin, then weights + caps + working hours, in one run.
    Fair,
    /// CreateLead with sticky ownership over 100,000 existing leads.
    Sticky,
}

fn org(name: &str) -> String {
    format!(
        "bench-{name}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let seconds = cli.seconds;
    let machine = Machine::read();
    eprintln!(
        "leadflow-bench: {} ({} cores); {} s per point",
        machine.cpu, machine.cores, seconds
    );

    let infra = Infra::new(&cli.redis_url).await?;
    let ports = Ports::fresh();
    let stack = Process::start(&infra, ports, "leadflow", &["all"])?;
    for port in [ports.leads, ports.routing, ports.notifier] {
        wait_serving(port, Instant::now(), Duration::from_secs(60)).await?;
    }
    let fair = org("fair");
    let (rr, balanced, create, speed, bulk, sticky) = (
        org("rr"),
        org("balanced"),
        org("create"),
        org("speed"),
        org("bulk"),
        org("sticky"),
    );
    for (name, strategy) in [
        (&sticky, Strategy::RoundRobin),
        (&rr, Strategy::RoundRobin),
        (&balanced, Strategy::BalancedWorkload),
        (&create, Strategy::RoundRobin),
        (&speed, Strategy::RoundRobin),
        (&bulk, Strategy::RoundRobin),
    ] {
        stack::organisation(&infra, ports, name, strategy).await?;
    }
    stack::fair_routing(&infra, ports, &fair).await?;
    let meter = Meter::new(&infra.leads_db.url, Some(stack.pid())).await?;

    if let Some(rate) = cli.speed_only {
        let figure = scenarios::speed_to_lead(&infra, ports, &speed, rate, seconds).await?;
        println!("{}", serde_json::to_string_pretty(&figure)?);
        stack.stop();
        return Ok(());
    }

    match cli.only {
        Some(Only::Route) => {
            let figures =
                scenarios::route_lead(&infra, ports, &rr, &cli.callers, seconds, &meter).await?;
            println!("{}", serde_json::to_string_pretty(&figures)?);
            stack.stop();
            return Ok(());
        }
        Some(Only::Fair) => {
            let plain =
                scenarios::route_lead(&infra, ports, &rr, &cli.callers, seconds, &meter).await?;
            let fair =
                scenarios::route_lead(&infra, ports, &fair, &cli.callers, seconds, &meter).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({"plain": plain, "fair": fair}))?
            );
            stack.stop();
            return Ok(());
        }
        Some(Only::Sticky) => {
            let figures =
                sticky::sticky_create(&infra, ports, &sticky, &create, &cli.callers, seconds)
                    .await?;
            println!("{}", serde_json::to_string_pretty(&figures)?);
            stack.stop();
            return Ok(());
        }
        Some(Only::Create) => {
            let figures =
                scenarios::create_lead(&infra, ports, &create, &cli.callers, seconds, &meter)
                    .await?;
            println!("{}", serde_json::to_string_pretty(&figures)?);
            stack.stop();
            return Ok(());
        }
        None => {}
    }

    eprintln!("RouteLead, round robin and balanced …");
    let route_rr = scenarios::route_lead(&infra, ports, &rr, &cli.callers, seconds, &meter).await?;
    let route_balanced =
        scenarios::route_lead(&infra, ports, &balanced, &cli.callers, seconds, &meter).await?;
    eprintln!("RouteLead with weights, caps and working hours on …");
    let route_fair =
        scenarios::route_lead(&infra, ports, &fair, &cli.callers, seconds, &meter).await?;

    eprintln!("the limits: redis-benchmark EVALSHA, pgbench INSERT, Postgres row lock …");
    let limits_db = TestDb::new().await;
    let mut redis = Vec::new();
    let mut pgbench = Vec::new();
    for &n in &cli.callers {
        let before = meter.read().await?;
        let mut figure = limits::redis_evalsha(&cli.redis_url, n, seconds, &infra.redis_prefix)?;
        figure.cost = Some(Meter::cost(&before, &meter.read().await?, figure.ok));
        redis.push(figure);
        let before = meter.read().await?;
        let mut figure = limits::pgbench_insert(
            &limits_db.url,
            stack::database_name(&limits_db.url),
            n,
            seconds,
            stack::dir_of(&infra),
        )?;
        figure.cost = Some(Meter::cost(&before, &meter.read().await?, figure.ok));
        pgbench.push(figure);
    }
    let row_lock = limits::postgres_row_lock(&limits_db.url, &cli.callers, seconds).await?;

    eprintln!("CreateLead end to end …");
    let create_lead =
        scenarios::create_lead(&infra, ports, &create, &cli.callers, seconds, &meter).await?;

    let best = create_lead
        .iter()
        .map(|c| c.end_to_end_per_second)
        .fold(0.0, f64::max);
    let mut speed_curve = Vec::new();
    for share in [0.10, 0.25, 0.50, 0.75] {
        eprintln!(
            "speed-to-lead at {:.0} leads/s ({:.0}% of the best CreateLead rate) …",
            best * share,
            share * 100.0
        );
        speed_curve.push(
            scenarios::speed_to_lead(&infra, ports, &speed, best * share, seconds.max(5)).await?,
        );
    }
    let speed_to_lead = speed_curve[2].clone();

    eprintln!("bulk assignment of {} leads …", cli.bulk);
    let bulk_figure = scenarios::bulk_assign(&infra, ports, &bulk, cli.bulk).await;
    eprintln!(
        "CreateLead with sticky ownership over {} leads …",
        sticky::SEEDED
    );
    let create_lead_sticky =
        sticky::sticky_create(&infra, ports, &sticky, &create, &cli.callers, seconds).await?;
    meter.close().await;
    let clean = stack.stop();
    anyhow::ensure!(clean, "leadflow all did not exit cleanly on SIGTERM");

    eprintln!("footprint: each service as its own process …");
    let mut footprint = Vec::new();
    for (service, port_of) in [
        ("leads", (|p: Ports| p.leads) as fn(Ports) -> u16),
        ("routing", |p: Ports| p.routing),
        ("notifier", |p: Ports| p.notifier),
    ] {
        let ports = Ports::fresh();
        let started = Instant::now();
        let process = Process::start(&infra, ports, service, &["serve"])?;
        let to_serving = wait_serving(port_of(ports), started, Duration::from_secs(30)).await?;
        tokio::time::sleep(Duration::from_secs(3)).await; // idle
        footprint.push(Footprint {
            service: service.into(),
            idle_rss_mib: process.rss_mib().unwrap_or(0.0),
            start_to_serving_ms: to_serving.as_secs_f64() * 1e3,
        });
        process.stop();
    }

    let mut results = Results {
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        machine,
        seconds_per_point: seconds,
        callers: cli.callers.clone(),
        errors: 0,
        route_lead_round_robin: route_rr,
        route_lead_balanced: route_balanced,
        route_lead_fair: route_fair,
        limit_redis_evalsha: redis,
        limit_postgres_row_lock: row_lock,
        limit_pgbench_insert: pgbench,
        create_lead,
        speed_to_lead,
        speed_curve,
        bulk: bulk_figure,
        create_lead_sticky,
        footprint,
        targets: Vec::new(),
    };
    results.count_errors();
    results.judge();

    println!("{}", results.tables());
    std::fs::create_dir_all(&cli.out_dir)?;
    let json = cli.out_dir.join("BENCHMARKS.json");
    std::fs::write(&json, serde_json::to_string_pretty(&results)?)?;
    let chart = cli.out_dir.join("BENCHMARKS.svg");
    results.chart(&chart)?;
    let notes = std::fs::read_to_string(&cli.notes).unwrap_or_default();
    std::fs::write(
        cli.out_dir.join("BENCHMARKS.md"),
        results.markdown("BENCHMARKS.svg", &notes),
    )?;
    eprintln!(
        "wrote {}, {} and BENCHMARKS.md{}",
        json.display(),
        chart.display(),
        if results.errors > 0 {
            format!(" — THIS RUN HAD {} ERRORS", results.errors)
        } else {
            String::new()
        }
    );
    Ok(())
}
