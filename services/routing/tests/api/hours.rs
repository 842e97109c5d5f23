//! Working hours through the API: schedules come from the directory feed,
//! RouteLead skips reps off shift or on time off and holds the lead when
//! nobody is on shift (HELD, retry_at), on a clock the test sets; and
//! SimulateRouting `at` decides exactly as the live path does at that moment.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use leadflow_auth::Role;
use leadflow_proto::common::v1 as common;
use leadflow_proto::routing::v1 as pb;
use leadflow_schedule::ManualClock;

use crate::helpers::*;

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn stamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }
}

fn nine_to_five(tz: &str) -> common::Schedule {
    common::Schedule {
        time_zone: tz.into(),
        working_hours: (1..=5)
            .map(|day| common::WorkingHours {
                day_of_week: day,
                start: "09:00".into(),
                end: "17:00".into(),
            })
            .collect(),
        time_off: vec![],
    }
}

/// ana in New York, ben in Berlin (both 09:00-17:00 local) on the directory
/// feed, and routing on with working hours respected.
async fn two_zones(app: &RoutingApp) {
    let facts = [("ana", "America/New_York"), ("ben", "Europe/Berlin")]
        .map(|(id, tz)| common::DirectoryFact {
            user_id: id.into(),
            role: common::Role::Sales as i32,
            active: true,
            available: true,
            version: 1,
            schedule: Some(nine_to_five(tz)),
        })
        .to_vec();
    app.client(0)
        .apply_directory_changes(req(
            common::ApplyDirectoryChangesRequest { members: facts },
            &app.token(Role::Service),
        ))
        .await
        .expect("directory facts");
    app.set(pb::RoutingSettings {
        respect_working_hours: true,
        ..round_robin()
    })
    .await;
}

fn team() -> Vec<pb::Candidate> {
    vec![rep("ana"), rep("ben")]
}

#[tokio::test]
async fn reps_off_shift_are_skipped_and_with_nobody_on_shift_the_lead_is_held() {
    let clock = ManualClock::at(utc("2026-01-14T13:00:00Z"));
    let app = spawn_routing_with_clock(1, StateKind::shared_redis(), Arc::new(clock.clone())).await;
    two_zones(&app).await;
    // Winter, 13:00 UTC: 08:00 in New York, 14:00 in Berlin.
    for _ in 0..3 {
        let d = app
            .route(&lead_id(), common::LeadSource::Website, &team())
            .await;
        assert_eq!(d.assignee_id, "ben", "{d:?}");
        assert!(
            d.skipped
                .iter()
                .any(|s| s.user_id == "ana" && s.reason == pb::SkipReason::OffShift as i32)
        );
    }
    // 15:00 UTC: both on shift.
    clock.set(utc("2026-01-14T15:00:00Z"));
    let both: Vec<String> = futures_like(&app, 2).await;
    assert_eq!(both, ["ana", "ben"]);
    // 03:00 UTC the next night: nobody on shift; held until 09:00 in Berlin.
    clock.set(utc("2026-01-15T03:00:00Z"));
    let held = app
        .route(&lead_id(), common::LeadSource::Website, &team())
        .await;
    assert_eq!(held.reason, pb::DecisionReason::Held as i32, "{held:?}");
    assert_eq!(held.assignee_id, "");
    assert_eq!(held.retry_at, Some(stamp(utc("2026-01-15T08:00:00Z"))));
    assert!(
        held.explanation
            .contains("ben off shift until 09:00 Europe/Berlin"),
        "{}",
        held.explanation
    );
    // In the summer the same clock times move with each zone's daylight saving.
    clock.set(utc("2026-07-15T12:00:00Z"));
    let summer = app
        .route(&lead_id(), common::LeadSource::Website, &team())
        .await;
    assert_eq!(summer.assignee_id, "ben", "08:00 EDT, 14:00 CEST");
}

/// `n` leads routed one after the other: their assignees.
async fn futures_like(app: &RoutingApp, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(
            app.route(&lead_id(), common::LeadSource::Website, &team())
                .await
                .assignee_id,
        );
    }
    out.sort();
    out
}

#[tokio::test]
async fn simulate_at_a_moment_decides_as_the_live_path_does_then() {
    let clock = ManualClock::at(utc("2026-01-14T13:00:00Z"));
    let app = spawn_routing_with_clock(1, StateKind::shared_redis(), Arc::new(clock.clone())).await;
    two_zones(&app).await;
    let moments = [
        "2026-01-14T13:00:00Z", // ben only
        "2026-01-14T15:00:00Z", // both
        "2026-01-15T03:00:00Z", // nobody: held
        "2026-03-16T13:30:00Z", // between the US and EU switches: both
        "2026-07-15T15:30:00Z", // summer, after Berlin's 17:00: ana only
    ];
    for moment in moments {
        let at = utc(moment);
        // Simulate first (it changes nothing), with no team: the directory.
        let simulated = app
            .client(0)
            .simulate_routing(req(
                pb::SimulateRoutingRequest {
                    settings: None,
                    leads: vec![pb::SimulatedLead {
                        source: common::LeadSource::Website as i32,
                        tags: vec![],
                    }],
                    candidates: vec![],
                    at: Some(stamp(at)),
                },
                &app.token(Role::Owner),
            ))
            .await
            .unwrap()
            .into_inner()
            .decisions
            .remove(0);
        clock.set(at);
        let live = app
            .route(&lead_id(), common::LeadSource::Website, &team())
            .await;
        assert_eq!(
            (
                simulated.reason,
                &simulated.assignee_id,
                &simulated.retry_at,
                &simulated.skipped
            ),
            (
                live.reason,
                &live.assignee_id,
                &live.retry_at,
                &live.skipped
            ),
            "at {moment}"
        );
        assert_eq!(simulated.explanation, live.explanation, "at {moment}");
    }
}
