//! The tonic server plumbing every leadflow service shares, so all three
//! behave the same in a cluster: the same tower layers (timeout, global
//! concurrency limit), grpc.health.v1 and reflection, HTTP/2 keepalive, and a
//! bounded graceful shutdown.
//!
//! Shutdown follows the usual Kubernetes sequence: on SIGTERM health turns
//! NOT_SERVING (so readiness fails and endpoints are removed), the server stops
//! accepting new work, in-flight calls finish, and the process exits within
//! the grace period even if a call does not.

pub mod cli;
pub mod error;
mod host;
pub mod page;
pub mod tasks;

pub use cli::{ExtraCommands, ServiceConfig, ServiceMain, Signal};
pub use host::Host;
pub use tasks::{Shutdown, Workers};

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::Server;

/// Server settings common to every service. Flatten into a service's config.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// Deadline for one unary call (and for a stream to start), in milliseconds.
    #[arg(long, env = "LEADFLOW_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Requests handled at once across all connections; more wait in line.
    #[arg(long, env = "LEADFLOW_CONCURRENCY_LIMIT", default_value_t = 512)]
    pub concurrency_limit: usize,
    /// After SIGTERM, how long in-flight calls may take before the process exits anyway.
    #[arg(long, env = "LEADFLOW_SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    pub shutdown_grace_secs: u64,
    /// After SIGTERM, how long to keep serving while NOT_SERVING propagates to
    /// load balancers and clients re-resolve DNS (0 in development).
    #[arg(long, env = "LEADFLOW_DRAIN_DELAY_MS", default_value_t = 0)]
    pub drain_delay_ms: u64,
}

impl Default for ServerArgs {
    fn default() -> Self {
        ServerArgs {
            request_timeout_ms: 10_000,
            concurrency_limit: 512,
            shutdown_grace_secs: 20,
            drain_delay_ms: 0,
        }
    }
}

impl ServerArgs {
    /// A tonic server builder with leadflow's standard layers and HTTP/2 settings.
    /// Services add the auth layer and their own services on top.
    pub fn builder(
        &self,
    ) -> Server<
        tower::layer::util::Stack<
            leadflow_telemetry::GrpcTraceLayer,
            tower::layer::util::Stack<
                tower::limit::GlobalConcurrencyLimitLayer,
                tower::layer::util::Identity,
            >,
        >,
    > {
        Server::builder()
            .timeout(Duration::from_millis(self.request_timeout_ms))
            .tcp_nodelay(true)
            // Keeps long-lived streams (the notification bell) alive through
            // idle NATs and proxies, and notices dead peers.
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                self.concurrency_limit,
            ))
            // One span per call, continuing the caller's W3C trace.
            .layer(leadflow_telemetry::GrpcTraceLayer)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

/// Resolves on SIGTERM (Kubernetes) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        _ = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// Server reflection for the services this process serves (plus health and
/// reflection itself), so grpcurl needs no local .proto files and lists only
/// what answers here.
pub fn reflection_service(
    services: &[&str],
) -> tonic_reflection::server::v1::ServerReflectionServer<
    impl tonic_reflection::server::v1::ServerReflection,
> {
    let mut builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(leadflow_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name("grpc.health.v1.Health")
        .with_service_name("grpc.reflection.v1.ServerReflection");
    for service in services {
        builder = builder.with_service_name(*service);
    }
    builder
        .build_v1()
        .expect("the compiled-in descriptor sets are valid")
}

/// Polls grpc.health.v1 at `url` until it reports SERVING (overall status);
/// `Err` with a sentence after `limit`. For whoever starts services and must
/// know when they are ready (`leadflow all --demo`, the benchmark).
pub async fn wait_until_serving(url: &str, limit: Duration) -> Result<(), String> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())
        .map_err(|e| format!("{url}: {e}"))?;
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let status = HealthClient::new(endpoint.connect_lazy())
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .map(|r| r.into_inner().status);
        if status.is_ok_and(|s| s == ServingStatus::Serving as i32) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("{url} did not start serving within {limit:?}"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Binds a listener, logging where a service listens.
pub async fn bind(addr: SocketAddr, service: &str) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(service, addr = %listener.local_addr()?, "listening");
    Ok(listener)
}

/// Drives one gRPC server through its whole life: serving, then a bounded drain.
///
/// The connections `listener` accepts, for `serve_with_incoming_shutdown`,
/// with TCP_NODELAY set. Tonic sets it only on listeners it binds itself; on
/// ours, Nagle's algorithm held small stream frames back until the peer's
/// delayed ACK (~40 ms): `make bench` saw speed-to-lead jump from 6 ms to
/// 46 ms once two notifications were in flight on one stream.
pub fn incoming(listener: tokio::net::TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}
