//! Builds and runs the routing gRPC server on the chassis' [`Host`].

use std::sync::Arc;
use std::time::Duration;

use leadflow_auth::TokenVerifier;
use leadflow_proto::routing::v1::routing_service_server::RoutingServiceServer;
use leadflow_server::{Host, ServiceMain, Signal};
use tokio::net::TcpListener;

use crate::config::{Config, StateUrl};
use crate::grpc::RoutingApi;
use crate::store::{MemoryState, RedisState, RoutingState, SettingsStore};

/// The state store the configuration asks for.
pub fn state_store(config: &Config) -> Arc<dyn RoutingState> {
    match &config.state_url {
        StateUrl::Memory => {
            tracing::info!("routing state in memory (one replica only)");
            Arc::new(MemoryState::new(config.decision_ttl()))
        }
        StateUrl::Redis(target) => {
            tracing::info!(?target, prefix = %config.redis_prefix, "routing state in Redis");
            Arc::new(RedisState::new(
                target.clone(),
                config.redis_prefix.clone(),
                config.decision_ttl(),
                config.state_timeout(),
            ))
        }
    }
}

/// Routing's one gRPC service, ready to [`Host::serve`] (tests serve it on
/// port 0).
pub fn host(api: RoutingApi) -> Host {
    Host::new().serving(RoutingServiceServer::new(api))
}

/// Routing, as the chassis starts it (`routing`, `leadflow routing`).
pub struct RoutingService;

impl ServiceMain for RoutingService {
    const NAME: &'static str = "routing";
    const ABOUT: &'static str = "leadflow routing service: who gets a new lead";
    type Config = Config;

    /// Connects, migrates (unless turned off) and serves until `shutdown`.
    async fn serve(config: Config, listener: TcpListener, shutdown: Signal) -> anyhow::Result<()> {
        if config.auth.is_production() && matches!(config.state_url, StateUrl::Memory) {
            anyhow::bail!(
                "ROUTING_STATE_URL=memory keeps round-robin cursors in one process, which \
                 replicas cannot share; with LEADFLOW_ENV=production set it to redis://… or \
                 redis-cluster://…"
            );
        }
        let clock = leadflow_schedule::clock_from_setting(
            config.dev_clock_file.as_deref(),
            config.auth.is_production(),
        )
        .map_err(anyhow::Error::msg)?;
        let verifier = Arc::new(TokenVerifier::from_args(&config.auth)?);
        let settings: SettingsStore = config.database.open(config.auth.is_production()).await?;
        let api = RoutingApi::new(
            settings,
            state_store(&config),
            Duration::from_millis(config.settings_cache_ms),
        )
        .with_clock(clock);
        host(api)
            .serve(&config.server, verifier, listener, shutdown)
            .await
    }

    async fn migrate(config: Config) -> anyhow::Result<()> {
        Ok(config.database.migrate::<SettingsStore>().await?)
    }
}
