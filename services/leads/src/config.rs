//! Every setting of the leads service: one struct, parsed once from flags or
//! environment variables, with defaults that make `make run` work on a laptop.

use std::net::SocketAddr;
use std::path::PathBuf;

use leadflow_auth::AuthArgs;
use leadflow_server::ServerArgs;

leadflow_db::database_args! {
    /// Where the leads service keeps its data, and how it opens it.
    pub struct LeadsDatabase {
        service: "leads",
        env: "LEADS",
        sqlite_file: "leads.db",
        max_connections: 16,
        holds: "team directory, leads, history, outbox",
    }
}

/// The leads service's configuration.
#[derive(clap::Args, Debug, Clone)]
pub struct Config {
    /// Where the gRPC server listens.
    #[arg(long, env = "LEADS_LISTEN_ADDR", default_value = "0.0.0.0:50051")]
    pub listen_addr: SocketAddr,
    /// The leads database; see [`LeadsDatabase`].
    #[command(flatten)]
    pub database: LeadsDatabase,
    /// How long CreateLead idempotency keys are kept (at least 24 hours).
    #[arg(long, env = "LEADS_IDEMPOTENCY_RETENTION_HOURS", default_value_t = 48,
          value_parser = clap::value_parser!(u64).range(24..))]
    pub idempotency_retention_hours: u64,
    /// The routing service (`http://host:50052`). Unset: leads created
    /// without an owner stay unassigned.
    #[arg(long, env = "LEADS_ROUTING_URL")]
    pub routing_url: Option<String>,
    /// The notifier (`http://host:50053`). Unset: nobody is notified.
    #[arg(long, env = "LEADS_NOTIFIER_URL")]
    pub notifier_url: Option<String>,
    /// Ed25519 private key (PKCS#8 PEM) that signs leads' own calls to routing
    /// and the notifier; they trust its public half. In development the HS256
    /// secret is used when this is unset.
    #[arg(long, env = "LEADS_SERVICE_KEY_FILE")]
    pub service_key_file: Option<PathBuf>,
    /// The `iss` of leads' service tokens.
    #[arg(long, env = "LEADS_SERVICE_ISSUER", default_value = "leadflow-leads")]
    pub service_issuer: String,
    /// How often the addresses of routing and the notifier are resolved
    /// again (client-side balancing over a headless Service's pods).
    #[arg(long, env = "LEADS_DNS_REFRESH_SECS", default_value_t = 10)]
    pub dns_refresh_secs: u64,
    /// How long CreateLead waits for routing before storing the lead
    /// unassigned and routing it later.
    #[arg(long, env = "LEADS_ROUTE_DEADLINE_MS", default_value_t = 300)]
    pub route_deadline_ms: u64,
    /// How often every organisation's workload is reconciled with routing.
    #[arg(long, env = "LEADS_RECONCILE_EVERY_SECS", default_value_t = 600)]
    pub reconcile_every_secs: u64,
    /// How often the outbox dispatcher looks for events when not woken.
    #[arg(long, env = "LEADS_OUTBOX_POLL_MS", default_value_t = 1_000)]
    pub outbox_poll_ms: u64,
    /// How long delivered outbox events are kept.
    #[arg(long, env = "LEADS_OUTBOX_RETENTION_HOURS", default_value_t = 72)]
    pub outbox_retention_hours: u64,
    /// Development only: a file holding an offset in seconds that moves
    /// this process's clock (SLA deadlines, history times, timers), for
    /// tests that run leads as a process. `LEADFLOW_ENV=production`
    /// refuses to start with it set.
    #[arg(long, env = "LEADFLOW_DEV_CLOCK_FILE")]
    pub dev_clock_file: Option<PathBuf>,
    /// Which tokens are accepted, shared by every service.
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Timeouts, limits and shutdown timing, shared by every service.
    #[command(flatten)]
    pub server: ServerArgs,
}

impl leadflow_server::ServiceConfig for Config {
    fn listen_addr(&self) -> SocketAddr {
        self.listen_addr
    }
}
