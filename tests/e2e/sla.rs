//! The routing SLA, end to end, on a clock the test moves (leads and
//! routing share it): a lead its holder does not act on moves to the next
//! rep of its pool at the deadline, with the history row and both bells; an
//! accept or a status change before then cancels it; a chain stops after
//! `max_hops` with one escalation bell to each manager and owner; an action
//! that commits while the worker holds the expired timer wins; and with
//! working hours only, the clock runs only on the holder's shift.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use leadflow_auth::Role;
use leadflow_e2e::*;
use leadflow_proto::common::v1 as common;
use leadflow_proto::leads::v1 as leads_pb;
use leadflow_proto::notifier::v1 as notifier_pb;
use leadflow_proto::routing::v1 as routing_pb;
use leadflow_schedule::ManualClock;

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn time_of(t: &Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.as_ref()
        .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos as u32))
}

/// The three services on `clock`, with ana, ben and cara in a round robin
/// whose SLA is `minutes` and `max_hops`, and max as a manager.
async fn sla_stack(clock: &ManualClock, minutes: i32, max_hops: i32, hours_only: bool) -> Stack {
    let mut stack = Stack::new().await;
    stack.routing_clock = Arc::new(clock.clone());
    stack.leads_clock = Arc::new(clock.clone());
    start(&mut stack).await;
    set_up_team(&stack, minutes, max_hops, hours_only).await;
    stack
}

async fn start(stack: &mut Stack) {
    stack.start_routing().await;
    stack.start_notifier().await;
    stack.start_leads().await;
}

async fn set_up_team(stack: &Stack, minutes: i32, max_hops: i32, hours_only: bool) {
    stack.team_of(&["ana", "ben", "cara"]).await;
    stack
        .team()
        .upsert_member(req(
            leads_pb::UpsertMemberRequest {
                user_id: "max".into(),
                display_name: "Max".into(),
                email: "max@example.com".into(),
                role: common::Role::Manager as i32,
                active: Some(true),
            },
            &stack.owner(),
        ))
        .await
        .expect("manager");
    stack
        .routing_on(routing_pb::Strategy::RoundRobin, &["ana", "ben", "cara"])
        .await;
    stack
        .change_routing(|settings| {
            settings.sla = Some(routing_pb::SlaPolicy {
                accept_within_minutes: minutes,
                max_hops,
                count_working_hours_only: hours_only,
            })
        })
        .await;
}

fn of_kind(
    events: &[leads_pb::LeadEvent],
    kind: leads_pb::LeadEventKind,
) -> Vec<&leads_pb::LeadEvent> {
    events.iter().filter(|e| e.kind == kind as i32).collect()
}

/// `user`'s bells: (kind, title, lead id).
async fn bells(stack: &Stack, user: &str, role: Role) -> Vec<(i32, String, String)> {
    stack
        .notifier()
        .list_notifications(req(
            notifier_pb::ListNotificationsRequest {
                page_size: 100,
                page_token: String::new(),
                unread_only: false,
            },
            &stack.token(user, role),
        ))
        .await
        .expect("bells")
        .into_inner()
        .notifications
        .into_iter()
        .map(|n| {
            let lead = match n.subject {
                Some(notifier_pb::notification::Subject::Lead(l)) => l.id,
                _ => String::new(),
            };
            (n.kind, n.title, lead)
        })
        .collect()
}

/// Waits until `user` has a bell of `kind` about `lead_id`; returns its title.
async fn bell(
    stack: &Stack,
    user: &str,
    role: Role,
    kind: notifier_pb::NotificationKind,
    lead_id: &str,
) -> String {
    eventually(Duration::from_secs(10), "the bell", || async {
        bells(stack, user, role)
            .await
            .into_iter()
            .find(|(k, _, l)| *k == kind as i32 && l == lead_id)
            .map(|(_, title, _)| title)
    })
    .await
}

async fn owner_becomes(stack: &Stack, id: &str, owner: &str) -> leads_pb::Lead {
    eventually(Duration::from_secs(10), "the re-route", || async {
        let lead = stack.lead(id).await;
        (lead.owner_id == owner).then_some(lead)
    })
    .await
}

/// Long enough for the timer worker (every 250 ms) to have acted on a due
/// timer several times over: used to show that nothing happens.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1_500)).await;
}

async fn set_status(stack: &Stack, id: &str, status: leads_pb::LeadStatus, token: &str) {
    stack
        .leads()
        .update_lead_status(req(
            leads_pb::UpdateLeadStatusRequest {
                id: id.into(),
                status: status as i32,
            },
            token,
        ))
        .await
        .expect("status");
}

async fn accept(stack: &Stack, id: &str, token: &str) -> leads_pb::Lead {
    stack
        .leads()
        .accept_lead(req(leads_pb::AcceptLeadRequest { id: id.into() }, token))
        .await
        .expect("accept")
        .into_inner()
}

#[tokio::test]
async fn an_unaccepted_lead_moves_to_the_next_rep_at_its_deadline_with_history_and_both_bells() {
    let t0 = utc("2026-01-14T10:00:00Z");
    let clock = ManualClock::at(t0);
    let stack = sla_stack(&clock, 15, 2, false).await;
    let created = stack.create("Jane Doe", common::LeadSource::Website).await;
    assert_eq!(created.owner_id, "ana");
    assert_eq!(
        time_of(&created.accept_by),
        Some(utc("2026-01-14T10:15:00Z"))
    );
    bell(
        &stack,
        "ana",
        Role::Sales,
        notifier_pb::NotificationKind::LeadRouted,
        &created.id,
    )
    .await;

    // Two seconds early: nothing yet.
    clock.set(utc("2026-01-14T10:14:58Z"));
    settle().await;
    assert_eq!(stack.lead(&created.id).await.owner_id, "ana");

    clock.set(utc("2026-01-14T10:15:00Z"));
    let moved = owner_becomes(&stack, &created.id, "ben").await;
    assert_eq!(
        moved.assignment_method,
        leads_pb::AssignmentMethod::SlaReroute as i32
    );
    assert_eq!(
        time_of(&moved.accept_by),
        Some(utc("2026-01-14T10:30:00Z")),
        "the next hop's deadline runs from the re-route"
    );
    let events = stack.history(&created.id).await;
    let rerouted = of_kind(&events, leads_pb::LeadEventKind::Reassigned);
    assert_eq!(rerouted.len(), 1, "{events:?}");
    let row = rerouted[0];
    assert_eq!(row.method, leads_pb::AssignmentMethod::SlaReroute as i32);
    assert_eq!(
        (row.from_owner_id.as_str(), row.to_owner_id.as_str()),
        ("ana", "ben")
    );
    assert!(
        row.routing_explanation
            .starts_with("ana did not accept within 15 min; next in rotation: ben"),
        "{}",
        row.routing_explanation
    );
    let at = time_of(&row.time).unwrap();
    assert!(
        (at - utc("2026-01-14T10:15:00Z")).num_milliseconds().abs() <= 2_000,
        "re-routed at {at}"
    );
    bell(
        &stack,
        "ben",
        Role::Sales,
        notifier_pb::NotificationKind::LeadRouted,
        &created.id,
    )
    .await;
    let title = bell(
        &stack,
        "ana",
        Role::Sales,
        notifier_pb::NotificationKind::LeadMoved,
        &created.id,
    )
    .await;
    assert_eq!(title, "Lead moved to ben: Jane Doe (Website)");

    // Ana's workload drops, Ben's grows; Ana's turn is not given back (the
    // re-route was Ben's turn): the next new lead goes to Cara.
    eventually(
        Duration::from_secs(10),
        "routing to count the move",
        || async {
            let members = stack
                .routing()
                .get_workload(req(routing_pb::GetWorkloadRequest {}, &stack.owner()))
                .await
                .ok()?
                .into_inner()
                .members;
            let open = |user: &str| {
                members
                    .iter()
                    .find(|m| m.user_id == user)
                    .map_or(0, |m| m.open_leads)
            };
            (open("ana") == 0 && open("ben") == 1).then_some(())
        },
    )
    .await;
    let next = stack.create("Next", common::LeadSource::Website).await;
    assert_eq!(next.owner_id, "cara");
}

#[tokio::test]
async fn an_accept_or_a_status_change_at_14_59_cancels_the_reroute() {
    let clock = ManualClock::at(utc("2026-01-14T10:00:00Z"));
    let stack = sla_stack(&clock, 15, 2, false).await;
    let accepted = stack.create("Accepted", common::LeadSource::Website).await;
    let contacted = stack.create("Contacted", common::LeadSource::Website).await;
    assert_eq!(
        (accepted.owner_id.as_str(), contacted.owner_id.as_str()),
        ("ana", "ben")
    );

    clock.set(utc("2026-01-14T10:14:59Z"));
    let after = accept(&stack, &accepted.id, &stack.token("ana", Role::Sales)).await;
    assert_eq!(after.accept_by, None, "the deadline is gone");
    assert_eq!(
        time_of(&after.accepted_at),
        Some(utc("2026-01-14T10:14:59Z"))
    );
    set_status(
        &stack,
        &contacted.id,
        leads_pb::LeadStatus::Contacted,
        &stack.token("ben", Role::Sales),
    )
    .await;
    assert_eq!(stack.lead(&contacted.id).await.accept_by, None);

    clock.set(utc("2026-01-14T11:00:00Z"));
    settle().await;
    for (id, owner) in [(&accepted.id, "ana"), (&contacted.id, "ben")] {
        assert_eq!(stack.lead(id).await.owner_id, owner);
        let events = stack.history(id).await;
        assert!(
            of_kind(&events, leads_pb::LeadEventKind::Reassigned).is_empty(),
            "{events:?}"
        );
    }
    let events = stack.history(&accepted.id).await;
    let accepts = of_kind(&events, leads_pb::LeadEventKind::Accepted);
    assert_eq!(accepts.len(), 1);
    assert_eq!(accepts[0].actor_id, "ana");
    // Accepting again records nothing more.
    accept(&stack, &accepted.id, &stack.token("ana", Role::Sales)).await;
    let events = stack.history(&accepted.id).await;
    assert_eq!(of_kind(&events, leads_pb::LeadEventKind::Accepted).len(), 1);
}

#[tokio::test]
async fn a_chain_moves_a_to_b_to_c_then_escalates_once_to_each_manager_and_owner() {
    let clock = ManualClock::at(utc("2026-01-14T10:00:00Z"));
    let stack = sla_stack(&clock, 15, 2, false).await;
    let created = stack.create("Chain", common::LeadSource::Website).await;
    assert_eq!(created.owner_id, "ana");
    clock.set(utc("2026-01-14T10:15:00Z"));
    owner_becomes(&stack, &created.id, "ben").await;
    clock.set(utc("2026-01-14T10:30:00Z"));
    let third = owner_becomes(&stack, &created.id, "cara").await;
    assert_eq!(time_of(&third.accept_by), Some(utc("2026-01-14T10:45:00Z")));
    clock.set(utc("2026-01-14T10:45:00Z"));
    let escalated = eventually(Duration::from_secs(10), "the escalation", || async {
        let events = stack.history(&created.id).await;
        of_kind(&events, leads_pb::LeadEventKind::Escalated)
            .first()
            .map(|e| (*e).clone())
    })
    .await;
    assert!(
        escalated
            .routing_explanation
            .contains("cara did not accept within 15 min, and the SLA allows 2 re-routes"),
        "{}",
        escalated.routing_explanation
    );
    for (user, role) in [("max", Role::Manager), ("owner-1", Role::Owner)] {
        bell(
            &stack,
            user,
            role,
            notifier_pb::NotificationKind::LeadEscalated,
            &created.id,
        )
        .await;
    }
    // Nothing more happens: the lead stays with Cara, its deadline gone.
    clock.set(utc("2026-01-14T12:00:00Z"));
    settle().await;
    let now = stack.lead(&created.id).await;
    assert_eq!(now.owner_id, "cara");
    assert_eq!(now.accept_by, None);
    let events = stack.history(&created.id).await;
    assert_eq!(
        of_kind(&events, leads_pb::LeadEventKind::Reassigned).len(),
        2
    );
    assert_eq!(
        of_kind(&events, leads_pb::LeadEventKind::Escalated).len(),
        1
    );
    for (user, role) in [("max", Role::Manager), ("owner-1", Role::Owner)] {
        let escalations = bells(&stack, user, role)
            .await
            .into_iter()
            .filter(|(k, _, _)| *k == notifier_pb::NotificationKind::LeadEscalated as i32)
            .count();
        assert_eq!(escalations, 1, "{user}");
    }
    // The reps are not told of escalations.
    assert!(
        bells(&stack, "cara", Role::Sales)
            .await
            .iter()
            .all(|(k, _, _)| *k != notifier_pb::NotificationKind::LeadEscalated as i32)
    );
}

#[tokio::test]
async fn a_status_change_committed_while_the_worker_holds_the_expired_timer_wins() {
    let clock = ManualClock::at(utc("2026-01-14T10:00:00Z"));
    let mut stack = Stack::new().await;
    stack.routing_clock = Arc::new(clock.clone());
    stack.leads_clock = Arc::new(clock.clone());
    // The gate: the worker reports the lead once routing has answered,
    // then waits until the test lets it commit.
    let (reached_tx, mut reached) = tokio::sync::mpsc::unbounded_channel::<String>();
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let gate_release = release.clone();
    stack.sla_gate = Some(Arc::new(move |lead_id| {
        let (reached_tx, release) = (reached_tx.clone(), gate_release.clone());
        Box::pin(async move {
            let _ = reached_tx.send(lead_id);
            if let Ok(permit) = release.acquire().await {
                permit.forget();
            }
        })
    }));
    start(&mut stack).await;
    set_up_team(&stack, 15, 2, false).await;
    let created = stack.create("Race", common::LeadSource::Website).await;
    assert_eq!(created.owner_id, "ana");

    clock.set(utc("2026-01-14T10:15:00Z"));
    let held = tokio::time::timeout(Duration::from_secs(10), reached.recv())
        .await
        .expect("the worker reached the gate")
        .unwrap();
    assert_eq!(held, created.id);
    // Routing has picked Ben for the re-route; Ana acts first.
    set_status(
        &stack,
        &created.id,
        leads_pb::LeadStatus::Contacted,
        &stack.token("ana", Role::Sales),
    )
    .await;
    release.add_permits(1);
    settle().await;

    let now = stack.lead(&created.id).await;
    assert_eq!(now.owner_id, "ana", "the action that committed first wins");
    assert_eq!(now.status, leads_pb::LeadStatus::Contacted as i32);
    assert_eq!(now.accept_by, None);
    let events = stack.history(&created.id).await;
    assert!(
        of_kind(&events, leads_pb::LeadEventKind::Reassigned).is_empty(),
        "{events:?}"
    );
    assert!(of_kind(&events, leads_pb::LeadEventKind::Escalated).is_empty());
    assert!(
        bells(&stack, "ben", Role::Sales).await.is_empty(),
        "ben is told of nothing"
    );
    // The worker never comes back to it.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), reached.recv())
            .await
            .is_err()
    );
}

/// Monday to Friday, 09:00 to 17:00 in Berlin.
async fn berlin_nine_to_five(stack: &Stack, user: &str) {
    stack
        .team()
        .set_schedule(req(
            leads_pb::SetScheduleRequest {
                user_id: user.into(),
                time_zone: "Europe/Berlin".into(),
                working_hours: (1..=5)
                    .map(|day| common::WorkingHours {
                        day_of_week: day,
                        start: "09:00".into(),
                        end: "17:00".into(),
                    })
                    .collect(),
                time_off: Vec::new(),
            },
            &stack.owner(),
        ))
        .await
        .expect("schedule");
}

#[tokio::test]
async fn with_working_hours_only_16_55_expires_at_09_10_the_next_working_day_across_a_weekend() {
    // Wednesday 16:55 in Berlin (CET, UTC+1).
    let clock = ManualClock::at(utc("2026-01-14T15:55:00Z"));
    let stack = sla_stack(&clock, 15, 2, true).await;
    for rep in ["ana", "ben", "cara"] {
        berlin_nine_to_five(&stack, rep).await;
    }
    let wednesday = stack.create("Wednesday", common::LeadSource::Website).await;
    assert_eq!(wednesday.owner_id, "ana");
    assert_eq!(
        time_of(&wednesday.accept_by),
        Some(utc("2026-01-15T08:10:00Z")),
        "five minutes on Wednesday, ten from 09:00 on Thursday"
    );
    accept(&stack, &wednesday.id, &stack.token("ana", Role::Sales)).await;

    // Friday 16:55: the weekend does not count.
    clock.set(utc("2026-01-16T15:55:00Z"));
    let friday = stack.create("Friday", common::LeadSource::Website).await;
    assert_eq!(friday.owner_id, "ben");
    assert_eq!(
        time_of(&friday.accept_by),
        Some(utc("2026-01-19T08:10:00Z"))
    );
    // Friday 17:30 and all of Saturday: still Ben's.
    clock.set(utc("2026-01-17T12:00:00Z"));
    settle().await;
    assert_eq!(stack.lead(&friday.id).await.owner_id, "ben");
    // Monday 09:10 Berlin.
    clock.set(utc("2026-01-19T08:10:00Z"));
    let moved = owner_becomes(&stack, &friday.id, "cara").await;
    let events = stack.history(&moved.id).await;
    let row = of_kind(&events, leads_pb::LeadEventKind::Reassigned)[0].clone();
    assert_eq!(time_of(&row.time), Some(utc("2026-01-19T08:10:00Z")));
    assert!(
        row.routing_explanation.contains("15 working min"),
        "{}",
        row.routing_explanation
    );
    assert_eq!(time_of(&moved.accept_by), Some(utc("2026-01-19T08:25:00Z")));
}

/// Every bell of `user` (all pages): (kind, lead id).
async fn all_bells(stack: &Stack, user: &str) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = stack
            .notifier()
            .list_notifications(req(
                notifier_pb::ListNotificationsRequest {
                    page_size: 100,
                    page_token,
                    unread_only: false,
                },
                &stack.token(user, Role::Sales),
            ))
            .await
            .expect("bells")
            .into_inner();
        out.extend(page.notifications.into_iter().map(|n| {
            let lead = match n.subject {
                Some(notifier_pb::notification::Subject::Lead(l)) => l.id,
                _ => String::new(),
            };
            (n.kind, lead)
        }));
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_leads_processes_reroute_each_expired_lead_exactly_once_through_a_sigkill() {
    let mut stack = Stack::new().await;
    stack.start_routing().await;
    stack.start_notifier().await;
    let dir = std::env::temp_dir().join(format!("leadflow-sla-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    // The development clock all three replicas read: moved by the test.
    let clock_file = dir.join("clock-offset");
    std::fs::write(&clock_file, "0").unwrap();
    let ports = [
        stack.leads_port,
        leadflow_testkit::free_port(),
        leadflow_testkit::free_port(),
    ];
    let mut replicas: Vec<LeadsProcess> = ports
        .iter()
        .map(|port| {
            LeadsProcess::start_with(
                &stack,
                &dir,
                &[
                    ("LEADFLOW_ENV", "development".into()),
                    ("LEADFLOW_DEV_CLOCK_FILE", clock_file.display().to_string()),
                    ("LEADS_LISTEN_ADDR", format!("127.0.0.1:{port}")),
                ],
            )
        })
        .collect();
    for port in ports {
        wait_serving(port).await;
    }
    let stack = Arc::new(stack);
    set_up_team(&stack, 15, 1, false).await;

    // 500 leads through the three replicas, each routed with a 15-minute SLA.
    let creates: Vec<_> = (0..500)
        .map(|i| {
            let stack = stack.clone();
            let port = ports[i % 3];
            tokio::spawn(async move {
                let channel =
                    tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
                        .unwrap()
                        .connect_lazy();
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
    let mut leads = Vec::new();
    for create in creates {
        leads.push(create.await.unwrap());
    }
    assert!(
        leads
            .iter()
            .all(|l| !l.owner_id.is_empty() && l.accept_by.is_some())
    );

    // Sixteen minutes later on every replica at once: all 500 are due.
    std::fs::write(&clock_file, "960").unwrap();
    let moved = || async {
        stack
            .all_leads()
            .await
            .into_iter()
            .filter(|l| l.assignment_method == leads_pb::AssignmentMethod::SlaReroute as i32)
            .count()
    };
    eventually(Duration::from_secs(30), "the first re-routes", || async {
        (moved().await > 0).then_some(())
    })
    .await;
    // One replica dies mid-way: its claimed timers are taken over.
    replicas[1].kill();
    let at_kill = moved().await;
    eprintln!("re-routed when one replica was killed: {at_kill} of 500");
    let done = eventually(Duration::from_secs(60), "every lead re-routed", || async {
        let n = moved().await;
        (n == leads.len()).then_some(n)
    })
    .await;
    assert_eq!(done, 500);

    let before: std::collections::HashMap<_, _> = leads
        .iter()
        .map(|l| (l.id.clone(), l.owner_id.clone()))
        .collect();
    for lead in stack.all_leads().await {
        let events = stack.history(&lead.id).await;
        let rerouted = of_kind(&events, leads_pb::LeadEventKind::Reassigned);
        assert_eq!(
            rerouted.len(),
            1,
            "{} re-routed {} times",
            lead.id,
            rerouted.len()
        );
        assert_eq!(rerouted[0].from_owner_id, before[&lead.id]);
        assert_ne!(lead.owner_id, before[&lead.id]);
    }
    // No duplicate bell: each lead's first and second rep were told once
    // that it is theirs, and the first once that it moved.
    let mut routed_bells = 0;
    let mut moved_bells = 0;
    for rep in ["ana", "ben", "cara"] {
        let bells = eventually(Duration::from_secs(30), "every bell", || async {
            let bells = all_bells(&stack, rep).await;
            let mine = before.values().filter(|o| *o == rep).count();
            let theirs = stack
                .all_leads()
                .await
                .iter()
                .filter(|l| l.owner_id == rep)
                .count();
            (bells.len() >= 2 * mine + theirs).then_some(bells)
        })
        .await;
        let mut unique = bells.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), bells.len(), "{rep} got a bell twice");
        routed_bells += bells
            .iter()
            .filter(|(k, _)| *k == notifier_pb::NotificationKind::LeadRouted as i32)
            .count();
        moved_bells += bells
            .iter()
            .filter(|(k, _)| *k == notifier_pb::NotificationKind::LeadMoved as i32)
            .count();
    }
    assert_eq!((routed_bells, moved_bells), (1000, 500));
}

#[tokio::test]
async fn a_manual_reassignment_an_unassignment_or_a_claim_ends_the_chain() {
    let clock = ManualClock::at(utc("2026-01-14T10:00:00Z"));
    let stack = sla_stack(&clock, 15, 2, false).await;
    let reassigned = stack
        .create("Reassigned", common::LeadSource::Website)
        .await;
    let released = stack.create("Released", common::LeadSource::Website).await;
    let max = stack.token("max", Role::Manager);
    stack
        .leads()
        .assign_leads(req(
            leads_pb::AssignLeadsRequest {
                lead_ids: vec![reassigned.id.clone()],
                assignee_id: "cara".into(),
                allow_reassign: true,
                ..Default::default()
            },
            &max,
        ))
        .await
        .expect("reassign");
    stack
        .leads()
        .unassign_lead(req(
            leads_pb::UnassignLeadRequest {
                id: released.id.clone(),
            },
            &max,
        ))
        .await
        .expect("unassign");
    // Claimed by Ana once free: a claim starts no chain either.
    stack
        .leads()
        .claim_lead(req(
            leads_pb::ClaimLeadRequest {
                id: released.id.clone(),
            },
            &stack.token("ana", Role::Sales),
        ))
        .await
        .expect("claim");
    for id in [&reassigned.id, &released.id] {
        assert_eq!(stack.lead(id).await.accept_by, None);
    }
    clock.set(utc("2026-01-14T11:00:00Z"));
    settle().await;
    assert_eq!(stack.lead(&reassigned.id).await.owner_id, "cara");
    assert_eq!(stack.lead(&released.id).await.owner_id, "ana");
    for id in [&reassigned.id, &released.id] {
        let events = stack.history(id).await;
        assert!(
            events.iter().all(
                |e| e.method != leads_pb::AssignmentMethod::SlaReroute as i32
                    && e.kind != leads_pb::LeadEventKind::Escalated as i32
            ),
            "{events:?}"
        );
    }
}

#[tokio::test]
async fn with_nobody_left_in_the_pool_the_chain_escalates_before_max_hops() {
    let clock = ManualClock::at(utc("2026-01-14T10:00:00Z"));
    let stack = sla_stack(&clock, 15, 5, false).await;
    // Only Ana and Ben route: Cara goes away.
    stack
        .team()
        .set_availability(req(
            leads_pb::SetAvailabilityRequest {
                user_id: "cara".into(),
                available: false,
            },
            &stack.owner(),
        ))
        .await
        .expect("away");
    let created = stack
        .create("Small pool", common::LeadSource::Website)
        .await;
    assert_eq!(created.owner_id, "ana");
    clock.set(utc("2026-01-14T10:15:00Z"));
    owner_becomes(&stack, &created.id, "ben").await;
    // Ben's time runs out too; Ana held it already and Cara is away.
    clock.set(utc("2026-01-14T10:30:00Z"));
    let escalated = eventually(Duration::from_secs(10), "the escalation", || async {
        let events = stack.history(&created.id).await;
        of_kind(&events, leads_pb::LeadEventKind::Escalated)
            .first()
            .map(|e| (*e).clone())
    })
    .await;
    assert!(
        escalated
            .routing_explanation
            .contains("ben did not accept within 15 min, and nobody else in the pool can take it"),
        "{}",
        escalated.routing_explanation
    );
    bell(
        &stack,
        "max",
        Role::Manager,
        notifier_pb::NotificationKind::LeadEscalated,
        &created.id,
    )
    .await;
    let now = stack.lead(&created.id).await;
    assert_eq!(now.owner_id, "ben", "it stays with its last holder");
    assert_eq!(now.accept_by, None);
}
