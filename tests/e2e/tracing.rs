//! One CreateLead is one trace across three processes, exported over OTLP.

use std::collections::HashMap;
use std::time::Duration;

use fake_opentelemetry_collector::{ExportedSpan, FakeCollectorServer};
use leadflow_auth::Role;
use leadflow_e2e::*;
use leadflow_proto::common::v1 as common;
use leadflow_proto::notifier::v1 as notifier_pb;
use leadflow_proto::routing::v1 as routing_pb;

/// An attribute's string value (the fake collector keeps the OTLP value's
/// debug form, e.g. `Some(AnyValue { value: Some(StringValue("x")) })`).
fn attr(span: &ExportedSpan, key: &str) -> Option<String> {
    let raw = span.attributes.get(key)?;
    let start = raw.find("StringValue(\"")? + "StringValue(\"".len();
    let end = raw[start..].find("\")")? + start;
    Some(raw[start..end].to_owned())
}

/// Walks parent links from `span` up; true if `ancestor_id` is among them.
fn descends_from(
    spans: &HashMap<&str, &ExportedSpan>,
    span: &ExportedSpan,
    ancestor_id: &str,
) -> bool {
    let mut current = span.parent_span_id.as_str();
    for _ in 0..64 {
        if current == ancestor_id {
            return true;
        }
        match spans.get(current) {
            Some(parent) => current = parent.parent_span_id.as_str(),
            None => return false,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_create_lead_is_one_trace_through_leads_routing_and_the_notifier() {
    let mut collector = FakeCollectorServer::start().await.expect("collector");
    let dir =
        std::env::temp_dir().join(format!("leadflow-trace-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let stack = Stack::new().await;
    let (_, public) = key_files(&stack, &dir);
    let otel = |name: &str| {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()),
            ("OTEL_BSP_SCHEDULE_DELAY", "200".to_owned()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "500".to_owned()),
            ("LEADFLOW_AUTH_PUBLIC_KEYS", public.display().to_string()),
            ("RUST_LOG", format!("{name}=info")),
        ]
    };
    let mut routing_env = otel("leadflow_routing");
    routing_env.extend([
        (
            "ROUTING_LISTEN_ADDR",
            format!("127.0.0.1:{}", stack.routing_port),
        ),
        ("ROUTING_DATABASE_URL", stack.routing_db.url.clone()),
        ("ROUTING_STATE_URL", stack.redis_url.clone()),
        ("ROUTING_REDIS_PREFIX", stack.redis_prefix.clone()),
    ]);
    let mut notifier_env = otel("leadflow_notifier");
    notifier_env.extend([
        (
            "NOTIFIER_LISTEN_ADDR",
            format!("127.0.0.1:{}", stack.notifier_port),
        ),
        ("NOTIFIER_DATABASE_URL", stack.notifier_db.url.clone()),
        (
            "NOTIFIER_SMTP_URL",
            format!("file://{}/mail", dir.display()),
        ),
        ("NOTIFIER_POLL_MS", "200".to_owned()),
    ]);
    let routing = ServiceProcess::start("routing", &routing_env);
    let notifier = ServiceProcess::start("notifier", &notifier_env);
    let leads = LeadsProcess::start_with(&stack, &dir, &otel("leadflow_leads"));
    for port in [stack.routing_port, stack.notifier_port, stack.leads_port] {
        wait_serving(port).await;
    }
    stack.team_of(&["ana"]).await;
    stack
        .routing_on(routing_pb::Strategy::RoundRobin, &["ana"])
        .await;
    stack
        .notifier()
        .update_preferences(req(
            notifier_pb::UpdatePreferencesRequest {
                email_enabled: true,
                push_enabled: true,
            },
            &stack.token("ana", Role::Sales),
        ))
        .await
        .unwrap();

    let lead = stack.create("Jane Doe", common::LeadSource::Website).await;
    assert_eq!(lead.owner_id, "ana");
    eventually(Duration::from_secs(15), "the notification", || async {
        let list = stack
            .notifier()
            .list_notifications(req(
                notifier_pb::ListNotificationsRequest::default(),
                &stack.token("ana", Role::Sales),
            ))
            .await
            .ok()?
            .into_inner();
        (!list.notifications.is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // the email delivery attempt
    leads.terminate_gracefully();
    notifier.terminate();
    routing.terminate();

    let spans = collector.exported_spans(10, Duration::from_secs(10)).await;
    let by_id: HashMap<&str, &ExportedSpan> =
        spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let server = |service: &str, method: &str| {
        spans
            .iter()
            .find(|s| {
                attr(s, "rpc.service").as_deref() == Some(service)
                    && attr(s, "rpc.method").as_deref() == Some(method)
            })
            .unwrap_or_else(|| {
                panic!(
                    "no {service}/{method} server span among {:?}",
                    spans.iter().map(|s| &s.name).collect::<Vec<_>>()
                )
            })
    };
    let create = server("leadflow.leads.v1.LeadService", "CreateLead");
    let route = server("leadflow.routing.v1.RoutingService", "RouteLead");
    let notify = server("leadflow.notifier.v1.NotifierService", "Notify");
    assert_eq!(attr(create, "rpc.system").as_deref(), Some("grpc"));
    for span in [route, notify] {
        assert_eq!(
            span.trace_id, create.trace_id,
            "{} is in the CreateLead's trace",
            span.name
        );
        assert!(
            descends_from(&by_id, span, &create.span_id),
            "{} descends from leads' CreateLead span",
            span.name
        );
    }
    let in_trace: Vec<&ExportedSpan> = spans
        .iter()
        .filter(|s| s.trace_id == create.trace_id)
        .collect();
    let names: Vec<&str> = in_trace.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.iter().any(|n| n.starts_with("redis EVALSHA")),
        "the Redis script: {names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("sql ")),
        "the SQL: {names:?}"
    );
    let redis = in_trace
        .iter()
        .find(|s| s.name.starts_with("redis EVALSHA"))
        .unwrap();
    assert_eq!(attr(redis, "db.system").as_deref(), Some("redis"));
    assert!(descends_from(&by_id, redis, &route.span_id));
    assert!(
        in_trace
            .iter()
            .any(|s| s.name == "deliver" && descends_from(&by_id, s, &create.span_id)),
        "the email delivery attempt joins the trace: {names:?}"
    );
    assert!(
        names.contains(&"outbox deliver"),
        "the outbox dispatch: {names:?}"
    );
    // Lead PII never lands in span attributes.
    for span in &spans {
        for value in span.attributes.values() {
            assert!(!value.contains("Jane Doe"), "PII in {}: {value}", span.name);
        }
    }

    // Metrics travel the same way: per-rpc latency, routing decisions, the outbox.
    let exported = collector.exported_metrics(3, Duration::from_secs(10)).await;
    let names: std::collections::HashSet<String> = exported
        .iter()
        .flat_map(|e| e.metrics.iter().map(|m| m.name.clone()))
        .collect();
    for wanted in [
        "rpc.server.duration",
        "leadflow.routing.decisions",
        "leadflow.outbox.backlog",
        "leadflow.deliveries.backlog",
    ] {
        assert!(names.contains(wanted), "{wanted} missing from {names:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
