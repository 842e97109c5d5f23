//! Caps through the API: with everyone at a cap the lead is HELD (with
//! `retry_at` the reps' next local midnight), never given to someone over
//! their limit, whatever the concurrency, on three replicas; a freed seat
//! (a close applied through ApplyOwnershipChanges) and a new local day
//! (the clock advanced) make room again.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use leadflow_auth::Role;
use leadflow_proto::common::v1 as common;
use leadflow_proto::routing::v1 as pb;
use leadflow_schedule::ManualClock;

use crate::helpers::*;
use crate::weights::three;

pub fn limit(max_open_leads: i32, max_new_per_day: i32) -> pb::MemberLimit {
    pb::MemberLimit {
        user_id: String::new(),
        max_open_leads,
        max_new_per_day,
    }
}

/// `leads` RouteLead calls from 64 callers over every replica: who got how
/// many, and how many were held (with their retry_at).
pub async fn route_capped(
    app: &Arc<RoutingApp>,
    org: &str,
    leads: usize,
) -> (HashMap<String, usize>, Vec<Option<prost_types::Timestamp>>) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let callers: Vec<_> = (0..64)
        .map(|c| {
            let (app, next, org) = (app.clone(), next.clone(), org.to_owned());
            tokio::spawn(async move {
                let mut client = app.client(c);
                let token = app.token_in(&org, Role::Service);
                let mut mine = Vec::new();
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < leads {
                    let decision = client
                        .route_lead(req(
                            route_request(&lead_id(), common::LeadSource::Website, &three()),
                            &token,
                        ))
                        .await
                        .expect("route")
                        .into_inner();
                    mine.push(decision);
                }
                mine
            })
        })
        .collect();
    let (mut routed, mut held) = (HashMap::new(), Vec::new());
    for caller in callers {
        for decision in caller.await.unwrap() {
            match pb::DecisionReason::try_from(decision.reason) {
                Ok(pb::DecisionReason::Routed) => {
                    *routed.entry(decision.assignee_id).or_insert(0) += 1
                }
                Ok(pb::DecisionReason::Held) => {
                    assert!(decision.assignee_id.is_empty());
                    held.push(decision.retry_at)
                }
                other => panic!("unexpected decision {other:?}: {decision:?}"),
            }
        }
    }
    (routed, held)
}

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_day_cap_of_10_holds_everything_past_30_until_midnight_on_three_replicas() {
    let clock = ManualClock::at(utc("2026-03-02T15:00:00Z"));
    let app = Arc::new(
        spawn_routing_with_clock(3, StateKind::shared_redis(), Arc::new(clock.clone())).await,
    );
    app.set(pb::RoutingSettings {
        default_limit: Some(limit(0, 10)),
        ..round_robin()
    })
    .await;
    let (routed, held) = route_capped(&app, &app.org, 50).await;
    assert_eq!(
        ["ana", "ben", "carl"].map(|id| routed.get(id).copied().unwrap_or(0)),
        [10, 10, 10],
        "{routed:?}"
    );
    assert_eq!(held.len(), 20);
    // No schedules: the reps' day is UTC's, so the wait is until 00:00 UTC.
    let midnight = utc("2026-03-03T00:00:00Z").timestamp();
    assert!(
        held.iter()
            .all(|r| r.as_ref().map(|t| t.seconds) == Some(midnight)),
        "{held:?}"
    );
    // The explanation names the cap.
    let d = app
        .route(&lead_id(), common::LeadSource::Website, &three())
        .await;
    assert_eq!(d.reason, pb::DecisionReason::Held as i32);
    assert!(
        d.explanation.contains("10 of 10 new leads today"),
        "{}",
        d.explanation
    );
    assert!(
        d.skipped
            .iter()
            .all(|s| s.reason == pb::SkipReason::Capped as i32)
            && d.skipped.len() == 3,
        "{:?}",
        d.skipped
    );
    // A new local day: ten more each.
    clock.set(utc("2026-03-03T00:00:01Z"));
    let (routed, held) = route_capped(&app, &app.org, 40).await;
    assert_eq!(
        ["ana", "ben", "carl"].map(|id| routed.get(id).copied().unwrap_or(0)),
        [10, 10, 10],
        "{routed:?}"
    );
    assert_eq!(held.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_leads_on_three_replicas_never_pass_an_open_cap() {
    let app = Arc::new(spawn_routing(3, StateKind::shared_redis()).await);
    app.set(pb::RoutingSettings {
        limits: vec![pb::MemberLimit {
            user_id: "ana".into(),
            max_open_leads: 7,
            max_new_per_day: 0,
        }],
        default_limit: Some(limit(5, 0)),
        ..balanced()
    })
    .await;
    let (routed, held) = route_capped(&app, &app.org, 200).await;
    assert_eq!(
        ["ana", "ben", "carl"].map(|id| routed.get(id).copied().unwrap_or(0)),
        [7, 5, 5],
        "{routed:?}"
    );
    assert_eq!(held.len(), 183);
    // An open cap has no moment it lifts by itself: no retry_at.
    assert!(held.iter().all(Option::is_none), "{held:?}");
}

#[tokio::test]
async fn a_closed_lead_frees_its_owners_seat_under_an_open_cap() {
    let app = spawn_routing(1, StateKind::shared_redis()).await;
    app.set(pb::RoutingSettings {
        default_limit: Some(limit(2, 0)),
        ..round_robin()
    })
    .await;
    let team = [rep("ana")];
    let first = lead_id();
    let d = app.route(&first, common::LeadSource::Website, &team).await;
    assert_eq!(d.assignee_id, "ana");
    let d = app
        .route(&lead_id(), common::LeadSource::Website, &team)
        .await;
    assert_eq!(d.assignee_id, "ana");
    let d = app
        .route(&lead_id(), common::LeadSource::Website, &team)
        .await;
    assert_eq!(d.reason, pb::DecisionReason::Held as i32);
    assert!(
        d.explanation.contains("2 of 2 open leads"),
        "{}",
        d.explanation
    );
    // leads reports the first one WON.
    app.client(0)
        .apply_ownership_changes(req(
            pb::ApplyOwnershipChangesRequest {
                changes: vec![pb::OwnershipChange {
                    lead_id: first,
                    owner_id: "ana".into(),
                    open: false,
                    version: 5,
                }],
            },
            &app.token(Role::Service),
        ))
        .await
        .expect("apply");
    let d = app
        .route(&lead_id(), common::LeadSource::Website, &team)
        .await;
    assert_eq!(d.assignee_id, "ana", "{}", d.explanation);
}

#[tokio::test]
async fn a_negative_limit_is_invalid_argument_naming_the_field() {
    let app = spawn_routing(1, StateKind::Memory).await;
    let token = app.token(Role::Admin);
    for (settings, field) in [
        (
            pb::RoutingSettings {
                default_limit: Some(limit(-1, 0)),
                ..round_robin()
            },
            "settings.default_limit",
        ),
        (
            pb::RoutingSettings {
                limits: vec![pb::MemberLimit {
                    user_id: "ana".into(),
                    max_open_leads: 0,
                    max_new_per_day: -3,
                }],
                ..round_robin()
            },
            "settings.limits",
        ),
    ] {
        let status = app
            .client(0)
            .update_routing_settings(req(
                pb::UpdateRoutingSettingsRequest {
                    settings: Some(settings),
                    expected_version: 0,
                },
                &token,
            ))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains(field), "{}", status.message());
    }
}
