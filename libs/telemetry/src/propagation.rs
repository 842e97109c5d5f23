//! W3C trace context over gRPC metadata, both ways.
//!
//! Servers: [`GrpcTraceLayer`] opens one span per call named after the
//! method, with OTel's RPC attributes, whose parent is the caller's
//! `traceparent`. Clients: [`inject`] writes the current span's context into
//! outgoing metadata. Work done later on someone's behalf (the outbox)
//! stores [`current_traceparent`] and resumes with [`parent_from_traceparent`].

use std::collections::HashMap;
use std::task::{Context, Poll};

use opentelemetry::propagation::{Extractor, Injector};
use tower::{Layer, Service};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// Writes the current span's trace context into outgoing request metadata.
pub fn inject(metadata: &mut tonic::metadata::MetadataMap) {
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&context, &mut MetadataInjector(metadata))
    });
}

/// The current span's `traceparent`, to store with work done later.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    let mut carrier: HashMap<String, String> = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, &mut carrier));
    carrier.remove("traceparent")
}

/// Makes `span` a child of a stored `traceparent`.
pub fn parent_from_traceparent(span: &tracing::Span, traceparent: &str) {
    let carrier: HashMap<String, String> =
        HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    let _ = span.set_parent(context);
}

/// One server span per gRPC call, continuing the caller's trace.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcTraceLayer;

impl<S> Layer<S> for GrpcTraceLayer {
    type Service = GrpcTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcTrace { inner }
    }
}

/// The service [`GrpcTraceLayer`] wraps.
#[derive(Debug, Clone)]
pub struct GrpcTrace<S> {
    /// The service each call is forwarded to, inside its server span.
    inner: S,
}

impl<S, B, R> Service<http::Request<B>> for GrpcTrace<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    R: Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let path = request.uri().path();
        if path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.") {
            // Probes every few seconds are not worth a trace.
            return Box::pin(inner.call(request));
        }
        let (service, method) = path
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or((path, ""));
        let span = tracing::info_span!(
            "grpc.server",
            otel.name = %path.trim_start_matches('/'),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
        );
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&HeaderExtractor(request.headers()))
        });
        let _ = span.set_parent(parent);
        let (service, method) = (service.to_owned(), method.to_owned());
        let started = std::time::Instant::now();
        let call = inner.call(request).instrument(span);
        Box::pin(async move {
            let result = call.await;
            // Per-rpc rate, errors and latency (OTel RPC semantic conventions).
            // Errors of unary calls come back "trailers-only": the status is
            // in the headers. Its absence means OK (or a stream's trailers).
            let status: i64 = match &result {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                Err(_) => 14,
            };
            RPC_DURATION.record(
                started.elapsed().as_secs_f64() * 1000.0,
                &[
                    opentelemetry::KeyValue::new("rpc.system", "grpc"),
                    opentelemetry::KeyValue::new("rpc.service", service),
                    opentelemetry::KeyValue::new("rpc.method", method),
                    opentelemetry::KeyValue::new("rpc.grpc.status_code", status),
                ],
            );
            result
        })
    }
}

/// gRPC server latency per service, method and status (made on first use,
/// after [`crate::init`] has installed the provider).
static RPC_DURATION: std::sync::LazyLock<opentelemetry::metrics::Histogram<f64>> =
    std::sync::LazyLock::new(|| {
        crate::meter()
            .f64_histogram("rpc.server.duration")
            .with_unit("ms")
            .with_description("gRPC server call latency; its count is the call rate")
            .build()
    });
