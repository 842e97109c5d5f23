//! Every setting of the routing service, parsed once from flags or
//! environment variables, with defaults that make `make run` work.

use std::net::SocketAddr;
use std::time::Duration;

use leadflow_auth::AuthArgs;
use leadflow_server::ServerArgs;

use crate::store::RedisTarget;

leadflow_db::database_args! {
    /// Where routing keeps its settings, and how it opens them.
    pub struct RoutingDatabase {
        service: "routing",
        env: "ROUTING",
        sqlite_file: "routing.db",
        max_connections: 8,
        holds: "settings and their audit log",
    }
}

/// Where the routing state lives.
#[derive(Debug, Clone)]
pub enum StateUrl {
    /// In this process (one replica only).
    Memory,
    Redis(RedisTarget),
}

impl std::str::FromStr for StateUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "memory" {
            Ok(StateUrl::Memory)
        } else if let Some(nodes) = s.strip_prefix("redis-cluster://") {
            let nodes: Vec<String> = nodes
                .split(',')
                .filter(|n| !n.is_empty())
                .map(|n| format!("redis://{n}"))
                .collect();
            if nodes.is_empty() {
                return Err("redis-cluster:// needs at least one host:port".into());
            }
            Ok(StateUrl::Redis(RedisTarget::Cluster(nodes)))
        } else if s.starts_with("redis://") || s.starts_with("rediss://") {
            Ok(StateUrl::Redis(RedisTarget::Single(s.to_owned())))
        } else {
            Err(
                "expected `memory`, redis://host:port/db or redis-cluster://host:port,host:port"
                    .into(),
            )
        }
    }
}

/// The routing service's configuration.
#[derive(clap::Args, Debug, Clone)]
pub struct Config {
    /// Where the gRPC server listens.
    #[arg(long, env = "ROUTING_LISTEN_ADDR", default_value = "0.0.0.0:50052")]
    pub listen_addr: SocketAddr,
    /// The routing database; see [`RoutingDatabase`].
    #[command(flatten)]
    pub database: RoutingDatabase,
    /// The routing state: `memory` (one replica), `redis://host:port/db`, or
    /// `redis-cluster://host:port,host:port`.
    #[arg(long, env = "ROUTING_STATE_URL", default_value = "memory")]
    pub state_url: StateUrl,
    /// Prefix of every Redis key.
    #[arg(long, env = "ROUTING_REDIS_PREFIX", default_value = "lf")]
    pub redis_prefix: String,
    /// The most one state operation may take before RouteLead answers UNAVAILABLE.
    #[arg(long, env = "ROUTING_STATE_TIMEOUT_MS", default_value_t = 500)]
    pub state_timeout_ms: u64,
    /// How long a lead's decision is remembered, so a retried RouteLead gets it back.
    #[arg(long, env = "ROUTING_DECISION_TTL_SECS", default_value_t = 86_400)]
    pub decision_ttl_secs: u64,
    /// How long a replica reuses settings it read (its own updates apply at once).
    #[arg(long, env = "ROUTING_SETTINGS_CACHE_MS", default_value_t = 1_000)]
    pub settings_cache_ms: u64,
    /// Development only: a file holding an offset in seconds that moves
    /// this process's clock (working hours, local days), for tests that run
    /// routing as a process. `LEADFLOW_ENV=production` refuses to start with it.
    #[arg(long, env = "LEADFLOW_DEV_CLOCK_FILE")]
    pub dev_clock_file: Option<std::path::PathBuf>,
    /// Which tokens are accepted, shared by every service.
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Timeouts, limits and shutdown timing, shared by every service.
    #[command(flatten)]
    pub server: ServerArgs,
}

impl Config {
    pub fn state_timeout(&self) -> Duration {
        Duration::from_millis(self.state_timeout_ms)
    }

    pub fn decision_ttl(&self) -> Duration {
        Duration::from_secs(self.decision_ttl_secs)
    }
}

impl leadflow_server::ServiceConfig for Config {
    fn listen_addr(&self) -> SocketAddr {
        self.listen_addr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_passwords_never_reach_a_log_line() {
        let single: StateUrl = "redis://:s3cret@redis:6379/0".parse().unwrap();
        let cluster: StateUrl = "redis-cluster://:s3cret@h1:6379,:s3cret@h2:6379"
            .parse()
            .unwrap();
        for url in [single, cluster] {
            let StateUrl::Redis(target) = url else {
                panic!("a Redis URL")
            };
            let shown = format!("{target:?}");
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("***"), "{shown}");
        }
    }
}
