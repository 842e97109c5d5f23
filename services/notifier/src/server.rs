//! Builds and runs the notifier: the gRPC server, the delivery worker and
//! the live fan-out, on the chassis' [`Host`], with a shutdown that ends
//! open streams first.

use std::sync::Arc;
use std::time::Duration;

use leadflow_auth::TokenVerifier;
use leadflow_db::OwnDatabase;
use leadflow_proto::notifier::v1::notifier_service_server::NotifierServiceServer;
use leadflow_server::{ExtraCommands, Host, ServiceMain, Signal};
use tokio::net::TcpListener;
use tokio::sync::Notify;

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
    /// The notifier database.
    pub store: Store,
    /// The live fan-out to open streams (across replicas on Postgres).
    pub hub: Hub,
    /// Web Push, when a VAPID key is configured.
    pub webpush: Option<Arc<WebPush>>,
    /// Email over SMTP.
    pub email: Option<Arc<Email>>,
    /// Which push endpoints subscriptions may name.
    pub push_policy: PushPolicy,
    /// How failed deliveries back off, and when they end DEAD.
    pub retry: RetryPolicy,
    /// How often the delivery worker looks when not woken.
    pub poll: Duration,
}

impl Parts {
    /// Opens the database (refusing SQLite in production, and migrating
    /// unless turned off), the hub and the channels.
    pub async fn open(config: &Config) -> anyhow::Result<Parts> {
        let store: Store = config.database.open(config.auth.is_production()).await?;
        let hub = if config.database.url.is_sqlite() {
            Hub::local()
        } else {
            Hub::postgres(store.connection().clone(), config.database.url.expose())
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

/// The notifier's gRPC service and workers, ready to [`Host::serve`] (tests
/// serve it on port 0). When stopping, streams end first, then calls drain,
/// then the delivery worker finishes the sends it holds and stops, within the
/// grace period (a lease it could not finish simply expires and another
/// worker retries).
pub fn host(parts: Parts) -> Host {
    let mut host = Host::new();
    let wake = Arc::new(Notify::new());
    let worker = Worker {
        store: parts.store.clone(),
        webpush: parts.webpush.clone(),
        email: parts.email.clone(),
        policy: parts.retry,
        wake: wake.clone(),
        poll: parts.poll,
    };
    host.spawn("delivery worker", |stop| worker.run(stop));
    let gauges = parts.store.clone();
    host.spawn("delivery gauges", |stop| {
        crate::delivery::publish_delivery_gauges(gauges, Duration::from_secs(5), stop)
    });
    let api = NotifierApi {
        directory: Arc::new(leadflow_db::directory::Directory::new(
            parts.store.connection().clone(),
        )),
        intake: Intake::start(parts.store.clone(), parts.hub.clone(), wake),
        store: parts.store,
        hub: parts.hub,
        webpush: parts.webpush,
        push_policy: parts.push_policy,
        // Open streams end as stopping begins, so their clients reconnect
        // elsewhere and the drain can finish.
        shutdown: host.draining(),
    };
    host.serving(NotifierServiceServer::new(api))
}

/// The notifier, as the chassis starts it (`notifier`, `leadflow notifier`).
pub struct NotifierService;

/// The notifier's own subcommands.
#[derive(clap::Subcommand, Debug, Clone, Copy)]
pub enum NotifierCommands {
    /// Print a new VAPID key pair as environment variables.
    VapidKeys,
}

impl ServiceMain for NotifierService {
    const NAME: &'static str = "notifier";
    const ABOUT: &'static str = "leadflow notifier: the bell, Web Push and email";
    type Config = Config;

    /// Checks the configuration, opens everything and serves until `shutdown`.
    async fn serve(config: Config, listener: TcpListener, shutdown: Signal) -> anyhow::Result<()> {
        let verifier = Arc::new(TokenVerifier::from_args(&config.auth)?);
        let parts = Parts::open(&config).await?;
        host(parts)
            .serve(&config.server, verifier, listener, shutdown)
            .await
    }

    async fn migrate(config: Config) -> anyhow::Result<()> {
        Ok(config.database.migrate::<Store>().await?)
    }
}

impl ExtraCommands<NotifierService> for NotifierCommands {
    fn run(self, _: Config) -> anyhow::Result<()> {
        match self {
            NotifierCommands::VapidKeys => {
                let (private, public) = crate::channels::webpush::generate_vapid_keys();
                println!("NOTIFIER_VAPID_PRIVATE_KEY={private}");
                println!("# public key (GetVapidPublicKey returns it): {public}");
                Ok(())
            }
        }
    }
}
