//! Builds and runs the routing gRPC server on the chassis' [`Host`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use leadflow_auth::TokenVerifier;
use leadflow_proto::routing::v1::routing_service_server::RoutingServiceServer;
use leadflow_server::{Host, NoExtraCommands, ServerArgs, ServiceMain};
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

/// Connects, migrates (unless turned off) and serves until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let production = config.auth.mode == leadflow_auth::Mode::Production;
    config
        .database_url
        .refuse_sqlite_in_production(production, "ROUTING_DATABASE_URL")
        .map_err(anyhow::Error::msg)?;
    if production && matches!(config.state_url, StateUrl::Memory) {
        anyhow::bail!(
            "ROUTING_STATE_URL=memory keeps round-robin cursors in one process, which replicas \
             cannot share; with LEADFLOW_ENV=production set it to redis://… or redis-cluster://…"
        );
    }
    let verifier = Arc::new(TokenVerifier::from_args(&config.auth)?);
    tracing::info!(database = %config.database_url, "opening the routing database");
    let settings =
        SettingsStore::connect(config.database_url.expose(), config.db_max_connections).await?;
    if config.migrate_on_start {
        settings.migrate().await?;
    }
    let api = RoutingApi::new(
        settings,
        state_store(&config),
        Duration::from_millis(config.settings_cache_ms),
    );
    serve(api, verifier, &config.server, listener, shutdown).await
}

/// Serves `api` on `listener` (tests use port 0).
pub async fn serve(
    api: RoutingApi,
    verifier: Arc<TokenVerifier>,
    args: &ServerArgs,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    Host::new()
        .serving(RoutingServiceServer::new(api))
        .serve(args, verifier, listener, shutdown)
        .await
}

/// Routing, as the chassis starts it (`routing`, `leadflow routing`).
pub struct RoutingService;

impl ServiceMain for RoutingService {
    const NAME: &'static str = "routing";
    const ABOUT: &'static str = "leadflow routing service: who gets a new lead";
    type Config = Config;
    type Extra = NoExtraCommands;

    fn listen_addr(config: &Config) -> std::net::SocketAddr {
        config.listen_addr
    }

    async fn serve(
        config: Config,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        run(config, listener, shutdown).await
    }

    async fn migrate(config: Config) -> anyhow::Result<()> {
        SettingsStore::connect(config.database_url.expose(), 1)
            .await?
            .migrate()
            .await?;
        Ok(())
    }

    fn extra(command: NoExtraCommands, _: Config) -> anyhow::Result<()> {
        command.run()
    }
}
