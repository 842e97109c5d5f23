//! Weighted rotation through the API: exact shares under 64 concurrent
//! callers on three replicas (Redis) and on the memory store, the one-sided
//! prefix bound of smooth weighted round robin, a weight change mid-cycle,
//! weighted balancing, and the settings' validation.

use std::collections::HashMap;
use std::sync::Arc;

use leadflow_auth::Role;
use leadflow_proto::common::v1 as common;
use leadflow_proto::routing::v1 as pb;

use crate::fairness::route_many_to;
use crate::helpers::*;

/// ana, ben and carl.
pub fn three() -> Vec<pb::Candidate> {
    ["ana", "ben", "carl"].into_iter().map(rep).collect()
}

fn weights(pairs: &[(&str, i32)]) -> HashMap<String, i32> {
    pairs.iter().map(|(id, w)| (id.to_string(), *w)).collect()
}

/// Round robin over the whole team, weighted 3:2:1.
pub fn three_two_one() -> pb::RoutingSettings {
    pb::RoutingSettings {
        weights: weights(&[("ana", 3), ("ben", 2), ("carl", 1)]),
        ..round_robin()
    }
}

pub fn counts_of(counts: &HashMap<String, usize>) -> [usize; 3] {
    ["ana", "ben", "carl"].map(|id| counts.get(id).copied().unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn weights_three_two_one_over_three_replicas_give_exactly_3000_2000_1000() {
    let app = Arc::new(spawn_routing(3, StateKind::shared_redis()).await);
    app.set(three_two_one()).await;
    let counts = route_many_to(&app, &app.org, three(), 6_000).await;
    assert_eq!(counts_of(&counts), [3_000, 2_000, 1_000], "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn weights_three_two_one_on_the_memory_store_give_exactly_3000_2000_1000() {
    let app = Arc::new(spawn_routing(1, StateKind::Memory).await);
    app.set(three_two_one()).await;
    let counts = route_many_to(&app, &app.org, three(), 6_000).await;
    assert_eq!(counts_of(&counts), [3_000, 2_000, 1_000], "{counts:?}");
}

#[tokio::test]
async fn no_rep_is_ever_a_whole_lead_ahead_of_its_share() {
    let app = spawn_routing(1, StateKind::shared_redis()).await;
    app.set(three_two_one()).await;
    let (shares, total) = ([3, 2, 1], 6);
    let mut counts = [0i64; 3];
    for n in 1..=600i64 {
        let decision = app
            .route(&lead_id(), common::LeadSource::Website, &three())
            .await;
        let i = ["ana", "ben", "carl"]
            .iter()
            .position(|id| *id == decision.assignee_id)
            .expect("one of the three");
        counts[i] += 1;
        for (count, share) in counts.iter().zip(shares) {
            // countᵢ − n·wᵢ/W < 1, in integers.
            assert!(
                count * total - n * share < total,
                "after {n} leads: {counts:?}"
            );
        }
        if n % total == 0 {
            assert_eq!(counts, [n / 2, n / 3, n / 6], "after {n} leads");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_weight_change_mid_cycle_takes_effect_at_the_next_lead() {
    let app = Arc::new(spawn_routing(3, StateKind::shared_redis()).await);
    app.set(three_two_one()).await;
    // 3,001 is not a multiple of W = 6: the change lands mid-cycle.
    let before = route_many_to(&app, &app.org, three(), 3_001).await;
    assert_eq!(counts_of(&before).iter().sum::<usize>(), 3_001);
    app.set(pb::RoutingSettings {
        weights: weights(&[("ana", 1), ("ben", 1), ("carl", 1)]),
        ..round_robin()
    })
    .await;
    let after = route_many_to(&app, &app.org, three(), 3_000).await;
    for n in counts_of(&after) {
        assert!(n.abs_diff(1_000) <= 1, "{after:?}");
    }
}

#[tokio::test]
async fn weighted_balance_compares_open_leads_per_unit_of_weight() {
    let app = spawn_routing(1, StateKind::shared_redis()).await;
    app.set(pb::RoutingSettings {
        weights: weights(&[("ana", 3)]),
        ..balanced()
    })
    .await;
    let mut counts = HashMap::new();
    for _ in 0..40 {
        let decision = app
            .route(&lead_id(), common::LeadSource::Website, &three())
            .await;
        *counts.entry(decision.assignee_id).or_insert(0usize) += 1;
    }
    // Every lead stays open, so the open counts settle at 3:1:1.
    assert_eq!(counts_of(&counts), [24, 8, 8], "{counts:?}");
}

#[tokio::test]
async fn weights_out_of_range_or_outside_their_pool_are_refused_naming_the_field() {
    let app = spawn_routing(1, StateKind::Memory).await;
    let token = app.token(Role::Owner);
    let update = |settings: pb::RoutingSettings| pb::UpdateRoutingSettingsRequest {
        settings: Some(settings),
        expected_version: 0,
    };
    let refused = |settings: pb::RoutingSettings| {
        let (mut client, token) = (app.client(0), token.clone());
        async move {
            client
                .update_routing_settings(req(update(settings), &token))
                .await
                .expect_err("refused")
        }
    };
    for bad in [0, 101, -3] {
        let status = refused(pb::RoutingSettings {
            weights: weights(&[("ana", bad)]),
            ..round_robin()
        })
        .await;
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status.message().starts_with("settings.weights"),
            "{status:?}"
        );
    }
    let status = refused(pb::RoutingSettings {
        rotation_user_ids: vec!["ana".into(), "ben".into()],
        weights: weights(&[("carl", 2)]),
        ..round_robin()
    })
    .await;
    assert!(
        status.message().starts_with("settings.weights"),
        "{status:?}"
    );
    assert!(status.message().contains("carl"), "{status:?}");
    let status = refused(pb::RoutingSettings {
        rules: vec![pb::RoutingRule {
            name: "fb".into(),
            user_ids: vec!["ana".into()],
            weights: weights(&[("ben", 2)]),
            ..Default::default()
        }],
        ..round_robin()
    })
    .await;
    assert!(
        status.message().starts_with("settings.rules.weights"),
        "{status:?}"
    );
    // With an empty rotation (the whole team), any member may have a weight,
    // and the weights read back as saved.
    let saved = app.set(three_two_one()).await;
    assert_eq!(saved.weights, three_two_one().weights);
}
