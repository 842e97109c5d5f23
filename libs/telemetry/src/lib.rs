//! Tracing set up once, the same way, for every leadflow binary.
//!
//! `RUST_LOG` picks what is logged (default `info`), `LEADFLOW_LOG_FORMAT`
//! picks how: `pretty` for a terminal, `json` for a log pipeline. OTLP export
//! of traces joins this in the end-to-end work; it will hang off the same
//! [`TelemetryGuard`], which flushes exporters when dropped at shutdown.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

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

/// Keeps telemetry alive; dropping it flushes whatever is buffered.
#[derive(Debug)]
#[must_use = "dropping the guard at once would flush and stop telemetry"]
pub struct TelemetryGuard {
    /// The service name every record and span is attributed to.
    pub service_name: String,
}

/// Installs the global subscriber. Call once, first thing in `main`. A second
/// call (e.g. two services hosted in one process) keeps the first setup.
pub fn init(service_name: &str) -> TelemetryGuard {
    init_with(service_name, LogFormat::from_env())
}

/// [`init`] with an explicit format.
pub fn init_with(service_name: &str, format: LogFormat) -> TelemetryGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        .with_target(true);
    let installed = match format {
        LogFormat::Pretty => builder.compact().try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if installed.is_ok() {
        tracing::debug!(service = service_name, ?format, "telemetry initialised");
    }
    TelemetryGuard {
        service_name: service_name.to_owned(),
    }
}
