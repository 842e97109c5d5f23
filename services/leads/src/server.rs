//! Builds and runs the leads gRPC server: auth in front of TeamService and
//! LeadService, health and reflection beside them, idempotency-key pruning in
//! the background, and a bounded graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use leadflow_auth::{AuthLayer, TokenVerifier};
use leadflow_proto::leads::v1::lead_service_server::LeadServiceServer;
use leadflow_proto::leads::v1::team_service_server::TeamServiceServer;
use leadflow_server::{GracefulStop, ServerArgs};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::server::NamedService;

use crate::config::Config;
use crate::grpc::{LeadApi, TeamApi};
use crate::store::Store;

/// How often expired idempotency keys are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Connects, migrates (unless turned off) and serves until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let verifier = Arc::new(TokenVerifier::from_args(&config.auth)?);
    tracing::info!(database = %config.database_url, "opening the leads database");
    let store = Store::connect(config.database_url.expose(), config.db_max_connections).await?;
    if config.migrate_on_start {
        store.migrate().await?;
    }
    let pruner = tokio::spawn(prune_idempotency_keys(
        store.clone(),
        Duration::from_secs(config.idempotency_retention_hours * 3600),
    ));
    let result = serve(store, verifier, &config.server, listener, shutdown).await;
    pruner.abort();
    result
}

/// Serves an already opened store on `listener` (tests use port 0).
pub async fn serve(
    store: Store,
    verifier: Arc<TokenVerifier>,
    args: &ServerArgs,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    let services = [
        <LeadServiceServer<LeadApi> as NamedService>::NAME,
        <TeamServiceServer<TeamApi> as NamedService>::NAME,
    ];
    let stop = GracefulStop::new(health, &services, args);
    stop.serving().await;
    let router = args
        .builder()
        .layer(AuthLayer::new(verifier))
        .add_service(health_service)
        .add_service(leadflow_server::reflection_service(&services))
        .add_service(TeamServiceServer::new(TeamApi::new(store.clone())))
        .add_service(LeadServiceServer::new(LeadApi::new(store)));
    let server =
        router.serve_with_incoming_shutdown(TcpListenerStream::new(listener), stop.signal());
    stop.run(server, shutdown).await?;
    Ok(())
}

async fn prune_idempotency_keys(store: Store, retention: Duration) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        let cutoff = chrono::Utc::now() - retention;
        match store.prune_idempotency_keys(cutoff).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "expired idempotency keys pruned"),
            Err(error) => tracing::warn!(%error, "pruning idempotency keys failed; will retry"),
        }
    }
}
