//! The same fairness, on a real three-master Redis Cluster started by the
//! test, with several organisations so keys land in different slots.

use std::sync::Arc;

use leadflow_routing::store::RedisTarget;
use leadflow_testkit::redis::RedisCluster;

use crate::fairness::{LEADS, REPS, route_many, route_many_to, spread};
use crate::helpers::*;
use crate::weights::{counts_of, three, three_two_one};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fairness_holds_on_a_redis_cluster_for_several_organisations() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    let app =
        Arc::new(spawn_routing(3, StateKind::Redis(RedisTarget::Cluster(cluster.urls()))).await);
    let orgs: Vec<String> = (0..3).map(|i| format!("{}-{i}", app.org)).collect();
    for org in &orgs[..2] {
        app.set_in(org, round_robin()).await;
    }
    app.set_in(&orgs[2], balanced()).await;

    let runs = orgs.iter().map(|org| {
        let (app, org) = (app.clone(), org.clone());
        tokio::spawn(async move { route_many(&app, &org).await })
    });
    let results: Vec<_> = futures_join(runs).await;
    for (org, counts) in orgs.iter().zip(&results[..2]) {
        assert_eq!(counts.len(), REPS, "{org}: {counts:?}");
        assert!(
            counts.values().all(|&n| n == LEADS / REPS),
            "{org}: {counts:?}"
        );
    }
    let (min, max) = spread(&results[2]);
    assert!(max - min <= 1, "balanced on the cluster: {:?}", results[2]);

    // Weights 3:2:1 stay exact on the cluster too.
    let weighted = format!("{}-weighted", app.org);
    app.set_in(&weighted, three_two_one()).await;
    let counts = route_many_to(&app, &weighted, three(), 6_000).await;
    assert_eq!(counts_of(&counts), [3_000, 2_000, 1_000], "{counts:?}");

    // Caps hold on the cluster: 200 at once, never past 5 open each.
    let capped = format!("{}-capped", app.org);
    app.set_in(
        &capped,
        leadflow_proto::routing::v1::RoutingSettings {
            default_limit: Some(crate::caps::limit(5, 0)),
            ..balanced()
        },
    )
    .await;
    let (routed, held) = crate::caps::route_capped(&app, &capped, 200).await;
    assert_eq!(counts_of(&routed), [5, 5, 5], "{routed:?}");
    assert_eq!(held.len(), 185);

    // A dozen more organisations: their keys land in many slots, so on more
    // than one master (all on one would be a 1-in-177,147 fluke).
    for i in 0..12 {
        let org = format!("{}-extra-{i}", app.org);
        app.set_in(&org, round_robin()).await;
        app.client(i)
            .route_lead(req(
                route_request(
                    &lead_id(),
                    leadflow_proto::common::v1::LeadSource::Team,
                    &[rep("a")],
                ),
                &app.token_in(&org, leadflow_auth::Role::Service),
            ))
            .await
            .unwrap();
    }
    let per_node = cluster.keys_per_node();
    assert!(
        per_node.iter().filter(|&&n| n > 0).count() >= 2,
        "keys spread over masters: {per_node:?}"
    );
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}
