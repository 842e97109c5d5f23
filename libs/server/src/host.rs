//! What one service process hosts, and its whole life: serving, then a
//! bounded drain, then its workers stopped within the same grace period.
//!
//! The order on SIGTERM, as Kubernetes expects it:
//! 1. [`Host::draining`] fires: open streams end, so their clients reconnect
//!    to another replica and do not hold the drain up.
//! 2. Health turns NOT_SERVING and, for `drain_delay`, the server keeps
//!    serving while endpoints are removed and clients re-resolve.
//! 3. The server stops accepting and in-flight calls finish, for at most
//!    `shutdown_grace`.
//! 4. The workers are told to stop and are awaited until that same deadline;
//!    they keep working during the drain, so what in-flight calls wrote (an
//!    outbox event, a delivery) is still handed on by this process.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use leadflow_auth::{AuthLayer, TokenVerifier};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::ServerArgs;
use crate::tasks::{Shutdown, Trigger, Workers};

/// A service's gRPC services and background workers, ready to serve.
#[derive(Debug, Default)]
pub struct Host {
    /// Full names of the gRPC services, for health and reflection.
    names: Vec<&'static str>,
    /// The gRPC services themselves, behind the auth layer.
    routes: Routes,
    /// Background workers, stopped after the drain.
    workers: Workers,
    /// Fired when stopping begins, before the drain.
    draining: Trigger,
}

impl Host {
    pub fn new() -> Host {
        Host::default()
    }

    /// Serves `service` (a tonic-generated `…Server`).
    pub fn serving<S>(mut self, service: S) -> Host
    where
        S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.routes = self.routes.add_service(service);
        self
    }

    /// Starts a background worker now; see [`Workers::spawn`].
    pub fn spawn<F>(&mut self, name: &'static str, worker: impl FnOnce(Shutdown) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.workers.spawn(name, worker);
    }

    /// Fires when stopping begins, before calls drain: long-lived streams
    /// end on it.
    pub fn draining(&self) -> Shutdown {
        self.draining.subscribe()
    }

    /// Serves on `listener` until `shutdown` resolves, then drains and stops
    /// the workers within the grace period.
    pub async fn serve(
        self,
        args: &ServerArgs,
        verifier: Arc<TokenVerifier>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let (health, health_service) = tonic_health::server::health_reporter();
        let stop = GracefulStop {
            tx: Trigger::new(),
            health,
            names: self.names.clone(),
            args: args.clone(),
        };
        stop.set_all(ServingStatus::Serving).await;
        let server = args
            .builder()
            .layer(AuthLayer::new(verifier))
            .add_routes(self.routes)
            .add_service(health_service)
            .add_service(crate::reflection_service(&self.names))
            .serve_with_incoming_shutdown(crate::incoming(listener), {
                let mut stopped = stop.tx.subscribe();
                async move { stopped.wait().await }
            });
        let draining = self.draining;
        let shutdown = async move {
            shutdown.await;
            draining.fire();
        };
        let (result, deadline) = stop.run(server, shutdown).await;
        self.workers.stop(deadline).await;
        Ok(result?)
    }
}

/// Health, the stop trigger tonic waits on, and the timings of the drain.
struct GracefulStop {
    /// Tells tonic to stop accepting and drain.
    tx: Trigger,
    /// Flips to NOT_SERVING when the drain begins.
    health: HealthReporter,
    /// Service names whose health flips with the server's.
    names: Vec<&'static str>,
    /// The drain delay and the grace period.
    args: ServerArgs,
}

impl GracefulStop {
    /// Serves until `shutdown` resolves (or the server fails), then drains
    /// within the grace period. Returns the server's result and the deadline
    /// the rest of the shutdown must also keep.
    async fn run<E>(
        self,
        server: impl Future<Output = Result<(), E>>,
        shutdown: impl Future<Output = ()>,
    ) -> (Result<(), E>, Instant) {
        tokio::pin!(server);
        tokio::select! {
            result = &mut server => return (result, Instant::now() + self.args.shutdown_grace()),
            () = shutdown => {}
        }
        self.set_all(ServingStatus::NotServing).await;
        let drain_delay = std::time::Duration::from_millis(self.args.drain_delay_ms);
        if !drain_delay.is_zero() {
            tokio::time::sleep(drain_delay).await;
        }
        let deadline = Instant::now() + self.args.shutdown_grace();
        self.tx.fire();
        match tokio::time::timeout_at(deadline, &mut server).await {
            Ok(result) => {
                tracing::info!("drained");
                (result, deadline)
            }
            Err(_) => {
                tracing::warn!(grace = ?self.args.shutdown_grace(), "grace period over with calls in flight, exiting anyway");
                (Ok(()), deadline)
            }
        }
    }

    async fn set_all(&self, status: ServingStatus) {
        self.health.set_service_status("", status).await;
        for service in &self.names {
            self.health.set_service_status(service, status).await;
        }
    }
}
