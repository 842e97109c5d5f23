//! Tracing set up once, the same way, for every leadflow binary, and W3C
//! trace context carried across gRPC calls so one lead is one trace.
//!
//! `RUST_LOG` picks what is logged (default `info`), `LEADFLOW_LOG_FORMAT`
//! picks how (`pretty` or `json`). When `OTEL_EXPORTER_OTLP_ENDPOINT` is set,
//! spans are also exported over OTLP/gRPC with `service.name` set per
//! service; [`TelemetryGuard`] flushes them at shutdown.
//!
//! Lead PII (names, emails) never goes into span attributes: spans carry ids.

mod propagation;

pub use propagation::{GrpcTraceLayer, current_traceparent, inject, parent_from_traceparent};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    #[default]
    Pretty,
    /// One JSON object per line, for Kubernetes log pipelines.
    Json,
}

impl LogFormat {
    /// Reads `LEADFLOW_LOG_FORMAT` (`pretty` or `json`; anything else: pretty).
    pub fn from_env() -> Self {
        match std::env::var("LEADFLOW_LOG_FORMAT").as_deref() {
            Ok("json") => LogFormat::Json,
            _ => LogFormat::Pretty,
        }
    }
}

/// Keeps telemetry alive; dropping it flushes and stops the OTLP exporter.
#[must_use = "dropping the guard at once would flush and stop telemetry"]
pub struct TelemetryGuard {
    /// The service name every span is attributed to.
    pub service_name: String,
    /// The OTLP trace pipeline (`None` without an endpoint); shut down on drop to flush spans.
    provider: Option<SdkTracerProvider>,
    /// The OTLP metrics pipeline, only with traces; shut down on drop to flush the last readings.
    meters: Option<opentelemetry_sdk::metrics::SdkMeterProvider>,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("service_name", &self.service_name)
            .field("otlp", &self.provider.is_some())
            .finish()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(meters) = self.meters.take()
            && let Err(error) = meters.shutdown()
        {
            eprintln!("flushing metrics at shutdown failed: {error}");
        }
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("flushing traces at shutdown failed: {error}");
        }
    }
}

/// Installs the global subscriber (and the OTLP exporter when configured).
/// Call once, first thing in `main`, inside the tokio runtime. A second call
/// keeps the first setup.
pub fn init(service_name: &str) -> TelemetryGuard {
    init_with(
        service_name,
        LogFormat::from_env(),
        std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok(),
    )
}

/// [`init`] with explicit settings.
pub fn init_with(
    service_name: &str,
    format: LogFormat,
    otlp_endpoint: Option<String>,
) -> TelemetryGuard {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let provider = otlp_endpoint
        .filter(|e| !e.is_empty())
        .and_then(|endpoint| {
            use opentelemetry_otlp::WithExportConfig;
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build();
            match exporter {
                Ok(exporter) => Some(
                    SdkTracerProvider::builder()
                        .with_batch_exporter(exporter)
                        .with_resource(
                            Resource::builder()
                                .with_service_name(service_name.to_owned())
                                .build(),
                        )
                        .build(),
                ),
                Err(error) => {
                    eprintln!("OTLP export disabled: {error}");
                    None
                }
            }
        });
    let meters = provider.as_ref().and(otlp_metrics(service_name));
    // Logs follow RUST_LOG; traces always carry leadflow's own spans at info,
    // whatever the log level: one filter per layer.
    let log_filter =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(service_name.to_owned()))
            .with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target("leadflow", tracing::Level::INFO),
            )
    });
    let registry = tracing_subscriber::registry().with(otel);
    let installed = match format {
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .compact()
                    .with_span_events(FmtSpan::NONE)
                    .with_filter(log_filter()),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_filter(log_filter()),
            )
            .try_init(),
    };
    if installed.is_ok() {
        tracing::debug!(
            service = service_name,
            ?format,
            otlp = provider.is_some(),
            "telemetry initialised"
        );
    }
    TelemetryGuard {
        service_name: service_name.to_owned(),
        provider,
        meters,
    }
}

/// The OTLP metrics pipeline (same endpoint as traces), installed as the
/// global meter provider so [`meter`] instruments export through it.
fn otlp_metrics(service_name: &str) -> Option<opentelemetry_sdk::metrics::SdkMeterProvider> {
    use opentelemetry_otlp::WithExportConfig;
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok()?;
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .ok()?;
    let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_periodic_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service_name.to_owned())
                .build(),
        )
        .build();
    opentelemetry::global::set_meter_provider(provider.clone());
    Some(provider)
}

/// leadflow's meter: instruments created from it export over OTLP when
/// telemetry is configured, and cost next to nothing otherwise.
pub fn meter() -> opentelemetry::metrics::Meter {
    opentelemetry::global::meter("leadflow")
}

/// A counter of the leadflow meter. Keep it in a `LazyLock` static, so it is
/// made on first use, after [`init`] has installed the provider.
pub fn counter(
    name: &'static str,
    description: &'static str,
) -> opentelemetry::metrics::Counter<u64> {
    meter()
        .u64_counter(name)
        .with_description(description)
        .build()
}
