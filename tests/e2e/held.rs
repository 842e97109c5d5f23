//! Caps that hold, end to end: a lead nobody may take now is kept
//! unassigned and held (history HELD, `filter.owner = held`), and routed,
//! oldest first, the moment someone can take it: at the reps' local
//! midnight (routing's clock advanced), when a capped rep's lead is won, and
//! when that win commits between routing's HELD answer and the hold's commit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use leadflow_auth::Role;
use leadflow_db::OwnDatabase;
use leadflow_e2e::*;
use leadflow_leads::domain::change;
use leadflow_leads::domain::lead::{LeadSource, NewLead};
use leadflow_leads::domain::routing::RoutingOutcome;
use leadflow_leads::store::Creation;
use leadflow_proto::common::v1 as common;
use leadflow_proto::leads::v1 as leads_pb;
use leadflow_proto::routing::v1 as routing_pb;
use leadflow_schedule::ManualClock;

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// Round robin over `reps`, everyone capped by `limit`.
async fn capped_round_robin(stack: &Stack, reps: &[&str], limit: routing_pb::MemberLimit) {
    stack
        .routing_on(routing_pb::Strategy::RoundRobin, reps)
        .await;
    stack
        .change_routing(|settings| settings.default_limit = Some(limit))
        .await;
}

fn per_day(n: i32) -> routing_pb::MemberLimit {
    routing_pb::MemberLimit {
        user_id: String::new(),
        max_open_leads: 0,
        max_new_per_day: n,
    }
}

fn open(n: i32) -> routing_pb::MemberLimit {
    routing_pb::MemberLimit {
        user_id: String::new(),
        max_open_leads: n,
        max_new_per_day: 0,
    }
}

async fn held_leads(stack: &Stack) -> Vec<leads_pb::Lead> {
    stack
        .leads()
        .list_leads(req(
            leads_pb::ListLeadsRequest {
                filter: Some(leads_pb::LeadFilter {
                    owner: "held".into(),
                    ..Default::default()
                }),
                page_size: 500,
                ..Default::default()
            },
            &stack.owner(),
        ))
        .await
        .expect("list held")
        .into_inner()
        .leads
}

/// Polls until `id` has an owner; returns it and how long that took.
async fn owner_within(stack: &Stack, id: &str, limit: Duration) -> (String, Duration) {
    let start = Instant::now();
    loop {
        let lead = stack.lead(id).await;
        if !lead.owner_id.is_empty() {
            return (lead.owner_id, start.elapsed());
        }
        assert!(start.elapsed() < limit * 3, "{id} still unassigned");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn win(stack: &Stack, id: &str) {
    stack
        .leads()
        .update_lead_status(req(
            leads_pb::UpdateLeadStatusRequest {
                id: id.into(),
                status: leads_pb::LeadStatus::Won as i32,
            },
            &stack.owner(),
        ))
        .await
        .expect("won");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_creates_over_three_reps_capped_at_ten_a_day_hold_twenty_until_midnight() {
    let clock = ManualClock::at(utc("2026-03-02T15:00:00Z"));
    let mut stack = Stack::new().await;
    stack.routing_clock = Arc::new(clock.clone());
    stack.start_routing().await;
    stack.start_notifier().await;
    stack.start_leads().await;
    let stack = Arc::new(stack);
    stack.team_of(&["ana", "ben", "cy"]).await;
    capped_round_robin(&stack, &["ana", "ben", "cy"], per_day(10)).await;
    let creates: Vec<_> = (0..50)
        .map(|i| {
            let stack = stack.clone();
            tokio::spawn(async move {
                stack
                    .create(&format!("Lead {i}"), common::LeadSource::Website)
                    .await
            })
        })
        .collect();
    let mut created = Vec::new();
    for create in creates {
        created.push(create.await.unwrap());
    }
    let count = |who: &str| created.iter().filter(|l| l.owner_id == who).count();
    assert_eq!([count("ana"), count("ben"), count("cy")], [10, 10, 10]);
    let held = held_leads(&stack).await;
    assert_eq!(held.len(), 20);
    assert!(
        held.iter()
            .all(|l| l.owner_id.is_empty() && l.held_since.is_some())
    );
    let events = stack.history(&held[0].id).await;
    let hold = events
        .iter()
        .find(|e| e.kind == leads_pb::LeadEventKind::Held as i32)
        .expect("a HELD history event");
    assert!(
        hold.routing_explanation
            .contains("10 of 10 new leads today"),
        "{}",
        hold.routing_explanation
    );
    // Until the reps' midnight (UTC: they have no schedule), nothing moves.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(held_leads(&stack).await.len(), 20);
    clock.set(utc("2026-03-03T00:00:05Z"));
    eventually(
        Duration::from_secs(20),
        "every held lead routed",
        || async { held_leads(&stack).await.is_empty().then_some(()) },
    )
    .await;
    // Oldest first: the held leads were routed in the order they were held.
    let mut routed_at = Vec::new();
    for held in &held {
        let events = stack.history(&held.id).await;
        let routed = events
            .iter()
            .find(|e| e.kind == leads_pb::LeadEventKind::Routed as i32 && !e.to_owner_id.is_empty())
            .expect("routed after midnight");
        let key =
            |t: &Option<prost_types::Timestamp>| t.as_ref().map(|t| (t.seconds, t.nanos)).unwrap();
        routed_at.push((key(&held.created_at), held.id.clone(), key(&routed.time)));
    }
    routed_at.sort();
    for pair in routed_at.windows(2) {
        if pair[0].0 < pair[1].0 {
            assert!(
                pair[0].2 <= pair[1].2,
                "an older held lead went later: {pair:?}"
            );
        }
    }
    let all = stack.all_leads().await;
    let count = |who: &str| all.iter().filter(|l| l.owner_id == who).count();
    // The new day's share: 20 more, round robin, none over ten a day.
    let mut counts = [count("ana"), count("ben"), count("cy")];
    counts.sort();
    assert!(counts.iter().all(|&c| (16..=20).contains(&c)), "{counts:?}");
    assert_eq!(counts.iter().sum::<usize>(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_won_lead_gives_its_seat_to_the_oldest_held_lead_within_a_second() {
    let stack = Stack::up().await;
    stack.team_of(&["ana"]).await;
    capped_round_robin(&stack, &["ana"], open(5)).await;
    let mut leads = Vec::new();
    for i in 0..7 {
        leads.push(
            stack
                .create(&format!("Lead {i}"), common::LeadSource::Website)
                .await,
        );
    }
    assert!(leads[..5].iter().all(|l| l.owner_id == "ana"));
    assert!(
        leads[5..]
            .iter()
            .all(|l| l.owner_id.is_empty() && l.held_since.is_some())
    );
    win(&stack, &leads[0].id).await;
    let (owner, took) = owner_within(&stack, &leads[5].id, Duration::from_secs(1)).await;
    assert_eq!(owner, "ana");
    eprintln!("a won lead's seat went to the oldest held lead in {took:?}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    // One seat freed, one lead moved: the newer one still waits.
    assert!(stack.lead(&leads[6].id).await.held_since.is_some());
    // A held lead is an unassigned lead: ana may claim it past her cap.
    let claimed = stack
        .leads()
        .claim_lead(req(
            leads_pb::ClaimLeadRequest {
                id: leads[6].id.clone(),
            },
            &stack.token("ana", Role::Sales),
        ))
        .await
        .expect("claim a held lead")
        .into_inner();
    assert_eq!(claimed.owner_id, "ana");
    assert!(claimed.held_since.is_none());
    assert!(held_leads(&stack).await.is_empty());
    let bell = eventually(Duration::from_secs(10), "ana's bell", || async {
        let ids = stack.bell_lead_ids("ana").await?;
        ids.contains(&leads[5].id).then_some(ids)
    })
    .await;
    assert_eq!(bell.iter().filter(|id| **id == leads[5].id).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_win_committed_between_the_held_answer_and_the_hold_still_routes_within_a_second() {
    let stack = Stack::up().await;
    stack.team_of(&["ana"]).await;
    capped_round_robin(&stack, &["ana"], open(1)).await;
    let first = stack.create("First", common::LeadSource::Website).await;
    assert_eq!(first.owner_id, "ana");
    // CreateLead's question, asked as leads asks it: HELD.
    let id = leadflow_leads::store::new_lead_id();
    let decision = stack
        .routing()
        .route_lead(req(
            routing_pb::RouteLeadRequest {
                lead_id: id.clone(),
                source: common::LeadSource::Website as i32,
                candidates: vec![routing_pb::Candidate {
                    user_id: "ana".into(),
                    role: common::Role::Sales as i32,
                    active: true,
                    available: true,
                }],
                attempt: 1,
                ..Default::default()
            },
            &stack.token("leads", Role::Service),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decision.reason, routing_pb::DecisionReason::Held as i32);
    // Before the hold commits, the first lead is won and routing applies it
    // (its workload empties): the wake-up that follows finds nothing held.
    win(&stack, &first.id).await;
    eventually(
        Duration::from_secs(10),
        "routing applied the win",
        || async {
            let workload = stack
                .routing()
                .get_workload(req(
                    routing_pb::GetWorkloadRequest::default(),
                    &stack.owner(),
                ))
                .await
                .ok()?
                .into_inner();
            workload.members.is_empty().then_some(())
        },
    )
    .await;
    // Now the hold commits, exactly as CreateLead would write it.
    let store = leadflow_leads::store::Store::connect(&stack.leads_db.url, 2)
        .await
        .unwrap();
    let new = NewLead {
        name: "Held".into(),
        email: String::new(),
        phone: String::new(),
        company: String::new(),
        source: LeadSource::Website,
        tags: Vec::new(),
        owner_id: None,
    };
    let outcome = RoutingOutcome::held(decision.explanation, decision.rule, None);
    let creation = Creation {
        plan: change::create("website", &new, &outcome),
        release_if_unused: None,
        new,
        key: None,
        id: id.clone(),
    };
    store
        .create_lead(&stack.org, "website", &creation)
        .await
        .expect("hold committed");
    let (owner, took) = owner_within(&stack, &id, Duration::from_secs(1)).await;
    assert_eq!(owner, "ana");
    eprintln!("a hold committed after the win was routed in {took:?}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_loses_its_state_reconcile_restores_todays_counts_and_the_caps_hold() {
    let redis = tokio::task::spawn_blocking(leadflow_testkit::redis::RedisProcess::start)
        .await
        .unwrap();
    let stack = Stack::up_with_redis(redis.url()).await;
    stack.team_of(&["ana", "ben"]).await;
    capped_round_robin(&stack, &["ana", "ben"], per_day(2)).await;
    for i in 0..4 {
        let lead = stack
            .create(&format!("Lead {i}"), common::LeadSource::Website)
            .await;
        assert!(!lead.owner_id.is_empty());
    }
    let flushed = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "flushall"])
        .output()
        .unwrap();
    assert!(flushed.status.success());
    // The settings live in routing's database; the counters come back from
    // the leads database's history.
    stack
        .operations()
        .reconcile_now(req(leads_pb::ReconcileNowRequest {}, &stack.owner()))
        .await
        .expect("reconcile");
    let next = stack
        .create("After the loss", common::LeadSource::Website)
        .await;
    assert!(
        next.owner_id.is_empty() && next.held_since.is_some(),
        "both reps already had 2 of 2 today: {next:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_leads_replicas_route_each_held_lead_exactly_once() {
    let clock = ManualClock::at(utc("2026-03-02T15:00:00Z"));
    let mut stack = Stack::new().await;
    stack.routing_clock = Arc::new(clock.clone());
    stack.start_routing().await;
    stack.start_notifier().await;
    stack.start_leads().await;
    let replicas = [stack.leads_replica().await, stack.leads_replica().await];
    let stack = Arc::new(stack);
    stack.team_of(&["ana", "ben", "cy"]).await;
    capped_round_robin(&stack, &["ana", "ben", "cy"], per_day(10)).await;
    // 60 leads through the three replicas: 30 routed, 30 held.
    let channels: Vec<_> = std::iter::once(stack.leads.as_ref().unwrap().channel())
        .chain(replicas.iter().map(|r| r.channel()))
        .collect();
    let creates: Vec<_> = (0..60)
        .map(|i| {
            let (stack, channel) = (stack.clone(), channels[i % 3].clone());
            tokio::spawn(async move {
                leads_pb::lead_service_client::LeadServiceClient::new(channel)
                    .create_lead(req(
                        leads_pb::CreateLeadRequest {
                            name: format!("Lead {i}"),
                            source: common::LeadSource::Website as i32,
                            ..Default::default()
                        },
                        &stack.token("website", Role::Integration),
                    ))
                    .await
                    .expect("create")
                    .into_inner()
            })
        })
        .collect();
    for create in creates {
        create.await.unwrap();
    }
    let held = held_leads(&stack).await;
    assert_eq!(held.len(), 30);
    // Midnight: each replica's timer worker races for the same 30 timers.
    clock.set(utc("2026-03-03T00:00:05Z"));
    eventually(
        Duration::from_secs(20),
        "every held lead routed",
        || async { held_leads(&stack).await.is_empty().then_some(()) },
    )
    .await;
    for lead in &held {
        let routed = stack
            .history(&lead.id)
            .await
            .into_iter()
            .filter(|e| e.kind == leads_pb::LeadEventKind::Routed as i32)
            .count();
        assert_eq!(routed, 1, "{} routed {routed} times", lead.id);
    }
    let all = stack.all_leads().await;
    let count = |who: &str| all.iter().filter(|l| l.owner_id == who).count();
    assert_eq!([count("ana"), count("ben"), count("cy")], [20, 20, 20]);
    // One bell per lead, whichever replica routed it.
    for rep in ["ana", "ben", "cy"] {
        let mine: Vec<&str> = all
            .iter()
            .filter(|l| l.owner_id == rep)
            .map(|l| l.id.as_str())
            .collect();
        let bells = eventually(Duration::from_secs(10), "every bell", || async {
            let ids = stack.bell_lead_ids(rep).await?;
            (ids.len() >= mine.len()).then_some(ids)
        })
        .await;
        let mut sorted = bells.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), bells.len(), "{rep} got a bell twice");
        assert!(mine.iter().all(|id| bells.iter().any(|b| b == id)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_that_lands_after_the_lead_was_closed_or_released_changes_nothing() {
    let stack = Stack::up().await;
    stack.team_of(&["ana"]).await;
    let store = leadflow_leads::store::Store::connect(&stack.leads_db.url, 2)
        .await
        .unwrap();
    let held = |name: &str| {
        let new = NewLead {
            name: name.into(),
            email: String::new(),
            phone: String::new(),
            company: String::new(),
            source: LeadSource::Website,
            tags: Vec::new(),
            owner_id: None,
        };
        let outcome = RoutingOutcome::held("everyone capped".into(), String::new(), None);
        Creation {
            plan: change::create("website", &new, &outcome),
            release_if_unused: None,
            new,
            key: None,
            id: leadflow_leads::store::new_lead_id(),
        }
    };
    let routed = RoutingOutcome::Routed {
        assignee: "ana".into(),
        explanation: "round robin".into(),
        sla: None,
    };
    // Closed while routing was asked: the late pick does not land.
    let lost = store
        .create_lead(&stack.org, "website", &held("Lost"))
        .await
        .unwrap();
    stack
        .leads()
        .update_lead_status(req(
            leads_pb::UpdateLeadStatusRequest {
                id: lost.id.clone(),
                status: leads_pb::LeadStatus::Lost as i32,
            },
            &stack.owner(),
        ))
        .await
        .unwrap();
    let applied = store
        .apply(&stack.org, &change::route_held(&lost.id, &routed))
        .await
        .unwrap();
    assert!(matches!(
        applied,
        leadflow_leads::store::Applied::Unchanged(_)
    ));
    assert!(stack.lead(&lost.id).await.owner_id.is_empty());
    // Claimed and released meanwhile: no longer held, so the pick does not land.
    let released = store
        .create_lead(&stack.org, "website", &held("Released"))
        .await
        .unwrap();
    for call in ["claim", "unassign"] {
        let token = stack.token("ana", Role::Sales);
        let mut leads = stack.leads();
        let done = match call {
            "claim" => leads
                .claim_lead(req(
                    leads_pb::ClaimLeadRequest {
                        id: released.id.clone(),
                    },
                    &token,
                ))
                .await
                .map(drop),
            _ => leads
                .unassign_lead(req(
                    leads_pb::UnassignLeadRequest {
                        id: released.id.clone(),
                    },
                    &token,
                ))
                .await
                .map(drop),
        };
        done.unwrap_or_else(|s| panic!("{call}: {s:?}"));
    }
    let applied = store
        .apply(&stack.org, &change::route_held(&released.id, &routed))
        .await
        .unwrap();
    assert!(matches!(
        applied,
        leadflow_leads::store::Applied::Unchanged(_)
    ));
    let now = stack.lead(&released.id).await;
    assert!(now.owner_id.is_empty() && now.held_since.is_none());
}
