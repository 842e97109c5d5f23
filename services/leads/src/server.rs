//! Builds and runs the leads gRPC server: auth in front of TeamService and
//! LeadService, health and reflection beside them, idempotency-key pruning in
//! the background, and a bounded graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use leadflow_auth::{AuthLayer, TokenVerifier};
use leadflow_proto::leads::v1::lead_service_server::LeadServiceServer;
use leadflow_proto::leads::v1::operations_service_server::OperationsServiceServer;
use leadflow_proto::leads::v1::team_service_server::TeamServiceServer;
use leadflow_server::{GracefulStop, ServerArgs};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::server::NamedService;

use crate::config::Config;
use crate::dispatch::{Dispatcher, Reconciler};
use crate::grpc::{LeadApi, OperationsApi, TeamApi, Wiring};
use crate::peers::{Peers, ServiceTokens};
use crate::store::Store;
use leadflow_auth::TokenMinter;
use tokio::sync::{Notify, watch};

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
    let minter = match (&config.service_key_file, &config.auth.auth_hs256_secret) {
        (Some(path), _) => {
            TokenMinter::ed25519(&std::fs::read(path)?, config.service_issuer.clone())?
        }
        (None, Some(secret)) if config.auth.mode == leadflow_auth::Mode::Development => {
            TokenMinter::hs256(secret.as_bytes(), config.service_issuer.clone())
        }
        (None, _) if config.routing_url.is_some() || config.notifier_url.is_some() => {
            anyhow::bail!("LEADS_SERVICE_KEY_FILE is needed to call routing and the notifier")
        }
        (None, _) => TokenMinter::hs256(uuid::Uuid::new_v4().as_bytes(), "unused"),
    };
    let peers = Peers::new(
        config.routing_url.as_deref(),
        config.notifier_url.as_deref(),
        ServiceTokens::new(minter),
        Duration::from_millis(config.route_deadline_ms),
    )?;
    let links = Links {
        peers: Arc::new(peers),
        poll: Duration::from_millis(config.outbox_poll_ms),
        reconcile_every: Duration::from_secs(config.reconcile_every_secs),
        outbox_retention: Duration::from_secs(config.outbox_retention_hours * 3600),
    };
    let pruner = tokio::spawn(prune_idempotency_keys(
        store.clone(),
        Duration::from_secs(config.idempotency_retention_hours * 3600),
    ));
    let result = serve(store, verifier, &config.server, links, listener, shutdown).await;
    pruner.abort();
    result
}

/// How this leads server reaches routing and the notifier, and its rhythms.
pub struct Links {
    pub peers: Arc<Peers>,
    pub poll: Duration,
    pub reconcile_every: Duration,
    pub outbox_retention: Duration,
}

impl Links {
    /// No routing, no notifier: leads stay unassigned, nobody is told.
    pub fn standalone() -> Links {
        let minter = TokenMinter::hs256(uuid::Uuid::new_v4().as_bytes(), "unused");
        Links {
            peers: Arc::new(
                Peers::new(
                    None,
                    None,
                    ServiceTokens::new(minter),
                    Duration::from_millis(300),
                )
                .expect("no urls"),
            ),
            poll: Duration::from_secs(1),
            reconcile_every: Duration::from_secs(600),
            outbox_retention: Duration::from_secs(72 * 3600),
        }
    }
}

/// Serves an already opened store on `listener` (tests use port 0).
pub async fn serve(
    store: Store,
    verifier: Arc<TokenVerifier>,
    args: &ServerArgs,
    links: Links,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    let reconciler = Reconciler::new(store.clone(), links.peers.clone());
    let dispatcher = tokio::spawn(
        Dispatcher {
            store: store.clone(),
            peers: links.peers.clone(),
            reconciler: reconciler.clone(),
            wake: wake.clone(),
            poll: links.poll,
        }
        .run(stop_rx.clone()),
    );
    let periodic = tokio::spawn(
        reconciler
            .clone()
            .run_periodically(links.reconcile_every, stop_rx.clone()),
    );
    let outbox_pruner = tokio::spawn(prune_outbox(store.clone(), links.outbox_retention));
    let gauges = tokio::spawn(crate::dispatch::publish_outbox_gauges(
        store.clone(),
        Duration::from_secs(5),
    ));
    let operations = OperationsApi::new(store.clone(), reconciler.clone(), wake.clone());
    let wiring = Wiring {
        peers: links.peers,
        wake,
        reconciler,
    };
    let (health, health_service) = tonic_health::server::health_reporter();
    let services = [
        <LeadServiceServer<LeadApi> as NamedService>::NAME,
        <TeamServiceServer<TeamApi> as NamedService>::NAME,
        <OperationsServiceServer<OperationsApi> as NamedService>::NAME,
    ];
    let stop = GracefulStop::new(health, &services, args);
    stop.serving().await;
    let router = args
        .builder()
        .layer(AuthLayer::new(verifier))
        .add_service(health_service)
        .add_service(leadflow_server::reflection_service(&services))
        .add_service(TeamServiceServer::new(TeamApi::new(store.clone())))
        .add_service(LeadServiceServer::new(LeadApi::new(store, wiring)))
        .add_service(OperationsServiceServer::new(operations));
    let server =
        router.serve_with_incoming_shutdown(TcpListenerStream::new(listener), stop.signal());
    let result = stop.run(server, shutdown).await;
    let _ = stop_tx.send(true);
    let dispatcher_abort = dispatcher.abort_handle();
    if tokio::time::timeout(Duration::from_secs(5), dispatcher)
        .await
        .is_err()
    {
        dispatcher_abort.abort();
    }
    periodic.abort();
    outbox_pruner.abort();
    gauges.abort();
    result?;
    Ok(())
}

async fn prune_outbox(store: Store, retention: Duration) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        let cutoff = chrono::Utc::now() - retention;
        match store.prune_outbox(cutoff).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "delivered outbox events pruned"),
            Err(error) => tracing::warn!(%error, "pruning the outbox failed; will retry"),
        }
    }
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
