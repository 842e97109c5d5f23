//! Workload bookkeeping through the API: replays, reordering and reconcile.

use leadflow_auth::Role;
use leadflow_proto::common::v1 as common;
use leadflow_proto::routing::v1 as pb;

use crate::helpers::*;

fn change(lead: &str, owner: &str, open: bool, version: i64) -> pb::OwnershipChange {
    pb::OwnershipChange {
        lead_id: lead.into(),
        owner_id: owner.into(),
        open,
        version,
    }
}

async fn workload(app: &RoutingApp) -> Vec<(String, i64)> {
    app.client(0)
        .get_workload(req(pb::GetWorkloadRequest {}, &app.token(Role::Manager)))
        .await
        .unwrap()
        .into_inner()
        .members
        .into_iter()
        .map(|m| (m.user_id, m.open_leads))
        .collect()
}

#[tokio::test]
async fn duplicate_and_reordered_batches_cause_zero_drift_and_reconcile_restores_exact_counts() {
    let app = spawn_routing(1, StateKind::shared_redis()).await;
    let service = app.token(Role::Service);
    let batch = vec![
        change("l1", "ana", true, 1),
        change("l2", "ana", true, 1),
        change("l3", "ben", true, 1),
        change("l1", "ben", true, 2),  // reassigned
        change("l2", "ana", false, 2), // lost
        change("l3", "", true, 2),     // unassigned
        change("l4", "ana", true, 1),
    ];
    let apply = |changes: Vec<pb::OwnershipChange>| {
        let mut client = app.client(0);
        let token = service.clone();
        async move {
            client
                .apply_ownership_changes(req(pb::ApplyOwnershipChangesRequest { changes }, &token))
                .await
                .unwrap()
        }
    };
    apply(batch.clone()).await;
    let expected = vec![("ana".to_owned(), 1), ("ben".to_owned(), 1)];
    assert_eq!(workload(&app).await, expected);
    apply(batch.clone()).await;
    apply(batch.iter().rev().cloned().collect()).await;
    for c in batch.iter().cloned() {
        apply(vec![c]).await;
    }
    assert_eq!(workload(&app).await, expected, "zero drift");

    // State lost (e.g. Redis flushed for this org): reconcile brings it back exactly.
    let truth = vec![
        change("l1", "ben", true, 2),
        change("l2", "ana", false, 2),
        change("l3", "", true, 2),
        change("l4", "ana", true, 1),
    ];
    forget(&[&format!("{}:*", app.prefix)]).await;
    assert_eq!(workload(&app).await, vec![]);
    let corrected = app
        .client(0)
        .reconcile_workload(req(
            pb::ReconcileWorkloadRequest {
                leads: truth.clone(),
                ..Default::default()
            },
            &service,
        ))
        .await
        .unwrap()
        .into_inner()
        .corrected;
    assert_eq!(corrected, 2);
    assert_eq!(workload(&app).await, expected);
    // The next RouteLead says the state had been reset.
    app.set(round_robin()).await;
    let d = app
        .route(&lead_id(), common::LeadSource::Team, &[rep("ana")])
        .await;
    assert!(
        !d.state_reset,
        "the reconcile already started a new generation"
    );
}

#[tokio::test]
async fn a_lost_state_is_reported_by_route_lead() {
    let app = spawn_routing(1, StateKind::shared_redis()).await;
    app.set(round_robin()).await;
    let first = app
        .route(&lead_id(), common::LeadSource::Team, &[rep("ana")])
        .await;
    assert!(first.state_reset, "a brand-new state is a new generation");
    let second = app
        .route(&lead_id(), common::LeadSource::Team, &[rep("ana")])
        .await;
    assert!(!second.state_reset);
    std::process::Command::new("redis-cli")
        .args(["del", &format!("{}:{{{}}}:gen", app.prefix, app.org)])
        .output()
        .unwrap();
    let third = app
        .route(&lead_id(), common::LeadSource::Team, &[rep("ana")])
        .await;
    assert!(third.state_reset);
    assert_ne!(third.state_generation, second.state_generation);
}

/// Deletes the keys matching these patterns from the shared Redis, as a
/// restart without persistence would.
async fn forget(patterns: &[&str]) {
    let client = redis::Client::open(leadflow_testkit::redis::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for pattern in patterns {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query_async(&mut conn)
            .await
            .unwrap();
        for key in keys {
            let _: i64 = redis::cmd("DEL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    }
}
