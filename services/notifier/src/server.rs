//! Builds and runs the notifier: the gRPC server, the delivery worker and
//! the live fan-out, with a shutdown that ends open streams first.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use leadflow_auth::{AuthLayer, TokenVerifier};
use leadflow_proto::notifier::v1::notifier_service_server::NotifierServiceServer;
use leadflow_server::{GracefulStop, ServerArgs};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tonic::server::NamedService;

use crate::channels::email::Email;
use crate::channels::webpush::WebPush;
use crate::config::Config;
use crate::delivery::Worker;
use crate::domain::push::PushPolicy;
use crate::domain::retry::RetryPolicy;
use crate::grpc::NotifierApi;
use crate::hub::Hub;
use crate::intake::Intake;
use crate::store::Store;

/// Everything the notifier runs with, opened and ready.
pub struct Parts {
    pub store: Store,
    pub hub: Hub,
    pub webpush: Option<Arc<WebPush>>,
    pub email: Option<Arc<Email>>,
    pub push_policy: PushPolicy,
    pub retry: RetryPolicy,
    pub poll: Duration,
}

impl Parts {
    /// Opens the database (and migrates), the hub and the channels.
    pub async fn open(config: &Config) -> anyhow::Result<Parts> {
        tracing::info!(database = %config.database_url, "opening the notifier database");
        let store = Store::connect(config.database_url.expose(), config.db_max_connections).await?;
        if config.migrate_on_start {
            store.migrate().await?;
        }
        let hub = if config.database_url.is_sqlite() {
            Hub::local()
        } else {
            Hub::postgres(store.connection().clone(), config.database_url.expose())
        };
        let webpush = match &config.vapid_private_key {
            Some(key) => Some(Arc::new(WebPush::new(
                key,
                &config.vapid_subject,
                config.send_timeout(),
                config.push_ttl_secs,
            )?)),
            None => {
                tracing::warn!("NOTIFIER_VAPID_PRIVATE_KEY is not set: Web Push is off");
                None
            }
        };
        let email = Some(Arc::new(Email::new(
            &config.smtp_url,
            &config.mail_from,
            &config.app_url,
            config.send_timeout(),
        )?));
        let mut push_policy = PushPolicy {
            allow_loopback_http: config.push_allow_loopback,
            ..PushPolicy::default()
        };
        if !config.push_allowlist.is_empty() {
            push_policy.allowlist = config
                .push_allowlist
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect();
        }
        Ok(Parts {
            store,
            hub,
            webpush,
            email,
            push_policy,
            retry: RetryPolicy {
                base: Duration::from_millis(config.retry_base_ms),
                cap: Duration::from_secs(config.retry_cap_secs),
                max_attempts: config.max_attempts.max(1),
            },
            poll: Duration::from_millis(config.poll_ms),
        })
    }
}

pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    config
        .database_url
        .refuse_sqlite_in_production(
            config.auth.mode == leadflow_auth::Mode::Production,
            "NOTIFIER_DATABASE_URL",
        )
        .map_err(anyhow::Error::msg)?;
    let verifier = Arc::new(TokenVerifier::from_args(&config.auth)?);
    let parts = Parts::open(&config).await?;
    serve(parts, verifier, &config.server, listener, shutdown).await
}

/// Serves until `shutdown`: streams end first, then calls drain, then the
/// worker stops (a delivery it had taken is retried by whoever runs next).
pub async fn serve(
    parts: Parts,
    verifier: Arc<TokenVerifier>,
    args: &ServerArgs,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    let worker = tokio::spawn(
        Worker {
            store: parts.store.clone(),
            webpush: parts.webpush.clone(),
            email: parts.email.clone(),
            policy: parts.retry,
            wake: wake.clone(),
            poll: parts.poll,
        }
        .run(stop_rx.clone()),
    );
    let gauges = tokio::spawn(crate::delivery::publish_delivery_gauges(
        parts.store.clone(),
        Duration::from_secs(5),
    ));
    let api = NotifierApi {
        directory: Arc::new(leadflow_db::directory::Directory::new(
            parts.store.connection().clone(),
        )),
        intake: Intake::start(parts.store.clone(), parts.hub.clone(), wake),
        store: parts.store,
        hub: parts.hub,
        webpush: parts.webpush,
        push_policy: parts.push_policy,
        shutdown: stop_rx,
    };
    let (health, health_service) = tonic_health::server::health_reporter();
    let services = [<NotifierServiceServer<NotifierApi> as NamedService>::NAME];
    let stop = GracefulStop::new(health, &services, args);
    stop.serving().await;
    let router = args
        .builder()
        .layer(AuthLayer::new(verifier))
        .add_service(health_service)
        .add_service(leadflow_server::reflection_service(&services))
        .add_service(NotifierServiceServer::new(api));
    let server =
        router.serve_with_incoming_shutdown(leadflow_server::incoming(listener), stop.signal());
    let shutdown = async move {
        shutdown.await;
        // End open streams so clients reconnect elsewhere and the drain can finish.
        let _ = stop_tx.send(true);
    };
    let result = stop.run(server, shutdown).await;
    // A send in flight may finish; then the worker stops for good (an
    // abandoned lease simply expires and another worker retries).
    let worker_abort = worker.abort_handle();
    if tokio::time::timeout(Duration::from_secs(5), worker)
        .await
        .is_err()
    {
        worker_abort.abort();
    }
    gauges.abort();
    result?;
    Ok(())
}
