//! `leadflow`: any subset of the three services in one process, like the
//! single-binary mode of Loki or Tempo. `leadflow all` runs everything;
//! `leadflow leads routing` runs two. Each service is configured by its own
//! environment variables (see the README) and listens on its own port; they
//! talk to each other over gRPC exactly as in a cluster.

use clap::{Parser, ValueEnum};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Service {
    All,
    Leads,
    Routing,
    Notifier,
}

#[derive(Parser, Debug)]
#[command(
    name = "leadflow",
    version,
    about = "leadflow: leads, routing and notifier in one process"
)]
struct Cli {
    /// Which services to run.
    #[arg(value_enum, required = true)]
    services: Vec<Service>,
}

#[derive(Parser)]
struct LeadsEnv {
    #[command(flatten)]
    config: leadflow_leads::Config,
}

#[derive(Parser)]
struct RoutingEnv {
    #[command(flatten)]
    config: leadflow_routing::Config,
}

#[derive(Parser)]
struct NotifierEnv {
    #[command(flatten)]
    config: leadflow_notifier::Config,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _telemetry = leadflow_telemetry::init("leadflow");
    let wants = |s: Service| cli.services.contains(&Service::All) || cli.services.contains(&s);

    // One signal stops every service; each drains as it would alone.
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = std::sync::Arc::new(stop_tx);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    if wants(Service::Routing) {
        let config = RoutingEnv::parse_from(["routing"]).config;
        let listener = leadflow_server::bind(config.listen_addr, "routing").await?;
        let shutdown = stopped();
        tasks.spawn(async move {
            (
                "routing",
                leadflow_routing::run(config, listener, shutdown).await,
            )
        });
    }
    if wants(Service::Notifier) {
        let config = NotifierEnv::parse_from(["notifier"]).config;
        let listener = leadflow_server::bind(config.listen_addr, "notifier").await?;
        let shutdown = stopped();
        tasks.spawn(async move {
            (
                "notifier",
                leadflow_notifier::run(config, listener, shutdown).await,
            )
        });
    }
    if wants(Service::Leads) {
        let config = LeadsEnv::parse_from(["leads"]).config;
        let listener = leadflow_server::bind(config.listen_addr, "leads").await?;
        let shutdown = stopped();
        tasks.spawn(async move {
            (
                "leads",
                leadflow_leads::run(config, listener, shutdown).await,
            )
        });
    }
    let on_signal = stop_tx.clone();
    tokio::spawn(async move {
        leadflow_server::shutdown_signal().await;
        let _ = on_signal.send(true);
    });
    let mut failed = None;
    while let Some(done) = tasks.join_next().await {
        let (name, result) = done?;
        if let Err(error) = result {
            tracing::error!(service = name, %error, "service stopped with an error; stopping the others");
            let _ = stop_tx.send(true);
            failed.get_or_insert(anyhow::anyhow!("{name}: {error}"));
        }
    }
    match failed {
        Some(error) => Err(error),
        None => Ok(()),
    }
}
