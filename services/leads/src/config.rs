//! Every setting of the leads service: one struct, parsed once from flags or
//! environment variables, with defaults that make `make run` work on a laptop.

use std::net::SocketAddr;
use std::path::PathBuf;

use leadflow_auth::AuthArgs;
use leadflow_db::DatabaseUrl;
use leadflow_server::ServerArgs;

/// The leads service's configuration.
#[derive(clap::Args, Debug, Clone)]
pub struct Config {
    /// Where the gRPC server listens.
    #[arg(long, env = "LEADS_LISTEN_ADDR", default_value = "0.0.0.0:50051")]
    pub listen_addr: SocketAddr,
    /// The leads database: `postgres://…` in production, a SQLite file by default.
    #[arg(
        long,
        env = "LEADS_DATABASE_URL",
        default_value = "sqlite://data/leads.db?mode=rwc"
    )]
    pub database_url: DatabaseUrl,
    /// Upper bound of the database connection pool.
    #[arg(long, env = "LEADS_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// Apply pending migrations at start-up. Turn off when an init container
    /// runs `leads migrate` instead.
    #[arg(long, env = "LEADS_MIGRATE_ON_START", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate_on_start: bool,
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
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub server: ServerArgs,
}
