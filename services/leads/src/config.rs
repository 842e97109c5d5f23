//! Every setting of the leads service: one struct, parsed once from flags or
//! environment variables, with defaults that make `make run` work on a laptop.

use std::net::SocketAddr;

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
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub server: ServerArgs,
}
