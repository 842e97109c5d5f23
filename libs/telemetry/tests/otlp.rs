//! Spans reach an OTLP collector, with the server span continuing the
//! caller's W3C trace.

use std::convert::Infallible;
use std::time::Duration;

use fake_opentelemetry_collector::FakeCollectorServer;
use leadflow_telemetry::{GrpcTraceLayer, LogFormat, init_with};
use tower::{Layer, Service, ServiceExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_call_continues_the_callers_trace_and_is_exported() {
    // Logs filtered to another crate must not hide the spans.
    // SAFETY: set before any thread reads the environment.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("RUST_LOG", "leadflow_leads=info");
    }
    let mut collector = FakeCollectorServer::start().await.unwrap();
    let guard = init_with(
        "telemetry-test",
        LogFormat::Pretty,
        Some(collector.endpoint()),
    );
    let service = GrpcTraceLayer.layer(tower::service_fn(|_request: http::Request<()>| async {
        tracing::info_span!("handler").in_scope(|| {});
        Ok::<_, Infallible>(http::Response::new(()))
    }));
    let request = http::Request::builder()
        .uri("/leadflow.leads.v1.LeadService/CreateLead")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(())
        .unwrap();
    let mut service = service;
    service.ready().await.unwrap().call(request).await.unwrap();
    drop(guard);
    let spans = collector.exported_spans(1, Duration::from_secs(5)).await;
    let server = spans
        .iter()
        .find(|s| s.name == "leadflow.leads.v1.LeadService/CreateLead")
        .unwrap_or_else(|| panic!("{:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>()));
    assert_eq!(server.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(server.parent_span_id, "00f067aa0ba902b7");
    assert!(
        server
            .attributes
            .get("rpc.method")
            .is_some_and(|v| v.contains("\"CreateLead\"")),
        "{:?}",
        server.attributes
    );
}
