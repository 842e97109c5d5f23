use std::collections::HashMap;
use std::time::Duration;

use leadflow_auth::Role;
use leadflow_e2e::*;
use leadflow_proto::common::v1 as common;
use leadflow_proto::leads::v1 as leads_pb;
use leadflow_proto::notifier::v1 as notifier_pb;
use leadflow_proto::routing::v1 as routing_pb;

const REPS: [&str; 3] = ["ana", "ben", "cy"];

fn label(source: i32) -> &'static str {
    match common::LeadSource::try_from(source).unwrap() {
        common::LeadSource::Website => "Website",
        common::LeadSource::AiAssistant => "AI assistant",
        common::LeadSource::Team => "Team",
        _ => "Other",
    }
}

async fn inbox(stack: &Stack, user: &str) -> Vec<notifier_pb::Notification> {
    stack
        .notifier()
        .list_notifications(req(
            notifier_pb::ListNotificationsRequest {
                page_size: 100,
                ..Default::default()
            },
            &stack.token(user, Role::Sales),
        ))
        .await
        .unwrap()
        .into_inner()
        .notifications
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_leads_from_three_sources_go_ten_ten_ten_and_each_rep_hears_of_exactly_theirs() {
    let stack = Stack::up().await;
    stack.team_of(&REPS).await;
    stack
        .routing_on(routing_pb::Strategy::RoundRobin, &REPS)
        .await;
    let mut streams = HashMap::new();
    for rep in REPS {
        let mut stream = stack
            .notifier()
            .watch_notifications(req(
                notifier_pb::WatchNotificationsRequest::default(),
                &stack.token(rep, Role::Sales),
            ))
            .await
            .unwrap()
            .into_inner();
        stream.message().await.unwrap().unwrap(); // the unread count
        streams.insert(rep, stream);
    }

    let sources = [
        common::LeadSource::Website,
        common::LeadSource::AiAssistant,
        common::LeadSource::Team,
    ];
    let mut expected: HashMap<String, Vec<String>> = HashMap::new();
    for i in 0..30 {
        let lead = stack.create(&format!("Lead {i:02}"), sources[i % 3]).await;
        assert_eq!(
            lead.assignment_method,
            leads_pb::AssignmentMethod::Routing as i32,
            "routed on create"
        );
        expected
            .entry(lead.owner_id.clone())
            .or_default()
            .push(format!("New lead: {} ({})", lead.name, label(lead.source)));
    }
    for rep in REPS {
        assert_eq!(expected[rep].len(), 10, "{expected:?}");
    }

    for rep in REPS {
        let stream = streams.get_mut(rep).unwrap();
        let mut titles = Vec::new();
        while titles.len() < 10 {
            let event = tokio::time::timeout(Duration::from_secs(15), stream.message())
                .await
                .unwrap_or_else(|_| panic!("notifications arrive for {rep}: got {titles:?}"))
                .unwrap()
                .unwrap();
            if let Some(notifier_pb::notification_event::Event::Notification(n)) = event.event {
                titles.push(n.title);
            }
        }
        titles.sort();
        let mut want = expected[rep].clone();
        want.sort();
        assert_eq!(titles, want, "{rep}'s bell");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for rep in REPS {
        assert_eq!(
            inbox(&stack, rep).await.len(),
            10,
            "exactly ten for {rep}, no duplicates"
        );
    }

    // The history says how and why.
    let lead = &stack.all_leads().await[0];
    let history = stack
        .leads()
        .get_lead_history(req(
            leads_pb::GetLeadHistoryRequest {
                id: lead.id.clone(),
            },
            &stack.owner(),
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    let routed = history
        .iter()
        .find(|e| e.kind == leads_pb::LeadEventKind::Routed as i32)
        .expect("a ROUTED event");
    assert_eq!(routed.to_owner_id, lead.owner_id);
    assert!(
        routed.routing_explanation.contains("round robin"),
        "{}",
        routed.routing_explanation
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leads_created_while_routing_is_down_are_routed_when_it_returns() {
    let mut stack = Stack::up().await;
    stack.team_of(&REPS).await;
    stack
        .routing_on(routing_pb::Strategy::RoundRobin, &REPS)
        .await;
    stack.stop_routing().await;

    for i in 0..50 {
        let lead = stack
            .create(&format!("Offline {i}"), common::LeadSource::Website)
            .await;
        assert_eq!(lead.owner_id, "", "stored unassigned while routing is down");
    }
    // A claim in the meantime wins over late routing.
    let claimed = stack.all_leads().await[7].id.clone();
    stack
        .leads()
        .claim_lead(req(
            leads_pb::ClaimLeadRequest {
                id: claimed.clone(),
            },
            &stack.token("ana", Role::Sales),
        ))
        .await
        .unwrap();

    stack.start_routing().await;
    let leads = eventually(Duration::from_secs(30), "every lead routed", || async {
        let leads = stack.all_leads().await;
        leads
            .iter()
            .all(|l| !l.owner_id.is_empty())
            .then_some(leads)
    })
    .await;
    assert_eq!(leads.len(), 50);
    let claimed_lead = leads.iter().find(|l| l.id == claimed).unwrap();
    assert_eq!(
        (
            claimed_lead.owner_id.as_str(),
            claimed_lead.assignment_method
        ),
        ("ana", leads_pb::AssignmentMethod::Claim as i32)
    );
    let mut per_rep: HashMap<&str, usize> = HashMap::new();
    for lead in leads.iter().filter(|l| l.id != claimed) {
        assert_eq!(
            lead.assignment_method,
            leads_pb::AssignmentMethod::Routing as i32
        );
        *per_rep.entry(lead.owner_id.as_str()).or_default() += 1;
        let history = stack
            .leads()
            .get_lead_history(req(
                leads_pb::GetLeadHistoryRequest {
                    id: lead.id.clone(),
                },
                &stack.owner(),
            ))
            .await
            .unwrap()
            .into_inner()
            .events;
        let routed = history
            .iter()
            .filter(|e| {
                e.kind == leads_pb::LeadEventKind::Routed as i32 && !e.to_owner_id.is_empty()
            })
            .count();
        assert_eq!(routed, 1, "routed exactly once: {history:?}");
    }
    let (min, max) = (
        per_rep.values().min().unwrap(),
        per_rep.values().max().unwrap(),
    );
    assert!(max - min <= 1, "{per_rep:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_held_while_the_notifier_is_down_arrive_exactly_once() {
    let mut stack = Stack::up().await;
    stack.team_of(&["ana", "ben"]).await;
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(
            stack
                .create(&format!("Lead {i}"), common::LeadSource::Facebook)
                .await
                .id,
        );
    }
    stack.stop_notifier().await;
    for (i, id) in ids.iter().enumerate() {
        let rep = if i % 2 == 0 { "ana" } else { "ben" };
        stack
            .leads()
            .assign_leads(req(
                leads_pb::AssignLeadsRequest {
                    lead_ids: vec![id.clone()],
                    assignee_id: rep.into(),
                    ..Default::default()
                },
                &stack.owner(),
            ))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stack.start_notifier().await;
    for rep in ["ana", "ben"] {
        let got = eventually(Duration::from_secs(40), "every notification", || async {
            let got = inbox(&stack, rep).await;
            (got.len() >= 25).then_some(got)
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let again = inbox(&stack, rep).await;
        assert_eq!(again.len(), 25, "{rep}: exactly once each");
        let mut leads: Vec<String> = got
            .iter()
            .map(|n| match &n.subject {
                Some(notifier_pb::notification::Subject::Lead(l)) => l.id.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        leads.sort();
        leads.dedup();
        assert_eq!(leads.len(), 25);
        assert!(
            got.iter()
                .all(|n| n.title.starts_with("Lead assigned to you: ")
                    && n.title.ends_with("(Facebook)"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_assignment_rings_the_bell_once() {
    let stack = Stack::up().await;
    stack.team_of(&["ana"]).await;
    for i in 0..12 {
        stack
            .create(&format!("FB {i}"), common::LeadSource::Facebook)
            .await;
    }
    let outcome = stack
        .leads()
        .assign_leads(req(
            leads_pb::AssignLeadsRequest {
                filter: Some(leads_pb::LeadFilter::default()),
                assignee_id: "ana".into(),
                ..Default::default()
            },
            &stack.owner(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(outcome.assigned, 12);
    let got = eventually(
        Duration::from_secs(15),
        "the batch notification",
        || async {
            let got = inbox(&stack, "ana").await;
            (!got.is_empty()).then_some(got)
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(inbox(&stack, "ana").await.len(), 1);
    assert_eq!(got[0].title, "12 leads assigned to you");
    match &got[0].subject {
        Some(notifier_pb::notification::Subject::Batch(b)) => {
            assert_eq!(
                (b.count, b.batch_id.as_str()),
                (12, outcome.batch_id.as_str())
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balanced_routing_sends_the_next_leads_to_the_least_loaded_rep_and_workload_matches() {
    let stack = Stack::up().await;
    stack.team_of(&REPS).await;
    stack
        .routing_on(routing_pb::Strategy::BalancedWorkload, &REPS)
        .await;
    let mut leads = Vec::new();
    for i in 0..9 {
        leads.push(
            stack
                .create(&format!("Lead {i}"), common::LeadSource::Website)
                .await,
        );
    }
    // Ana closes all three of hers: the next leads go to her.
    for lead in leads.iter().filter(|l| l.owner_id == "ana") {
        stack
            .leads()
            .update_lead_status(req(
                leads_pb::UpdateLeadStatusRequest {
                    id: lead.id.clone(),
                    status: leads_pb::LeadStatus::Won as i32,
                },
                &stack.owner(),
            ))
            .await
            .unwrap();
    }
    let workload = || async {
        let members = stack
            .routing()
            .get_workload(req(routing_pb::GetWorkloadRequest {}, &stack.owner()))
            .await
            .unwrap()
            .into_inner()
            .members;
        members
            .into_iter()
            .map(|m| (m.user_id, m.open_leads))
            .collect::<HashMap<_, _>>()
    };
    eventually(
        Duration::from_secs(10),
        "routing to see the closures",
        || async { (!workload().await.contains_key("ana")).then_some(()) },
    )
    .await;
    // Ben's leads move to Cy (a reassignment): Ben 0, Cy 6, Ana 0.
    let bens: Vec<String> = leads
        .iter()
        .filter(|l| l.owner_id == "ben")
        .map(|l| l.id.clone())
        .collect();
    stack
        .leads()
        .assign_leads(req(
            leads_pb::AssignLeadsRequest {
                lead_ids: bens,
                assignee_id: "cy".into(),
                allow_reassign: true,
                filter: None,
            },
            &stack.owner(),
        ))
        .await
        .unwrap();
    eventually(
        Duration::from_secs(10),
        "routing to see the reassignment",
        || async {
            let w = workload().await;
            (w.get("cy") == Some(&6) && !w.contains_key("ben")).then_some(())
        },
    )
    .await;
    // The next leads go to the least loaded: Ana and Ben take turns, Cy gets none.
    let mut next = Vec::new();
    for i in 0..4 {
        next.push(
            stack
                .create(&format!("Next {i}"), common::LeadSource::Website)
                .await
                .owner_id,
        );
    }
    next.sort();
    assert_eq!(
        next,
        ["ana", "ana", "ben", "ben"],
        "the least-loaded reps get them"
    );
    // GetWorkload matches the leads database exactly.
    let truth = stack
        .all_leads()
        .await
        .into_iter()
        .filter(|l| l.status != leads_pb::LeadStatus::Won as i32)
        .fold(HashMap::new(), |mut m, l| {
            *m.entry(l.owner_id).or_insert(0i64) += 1;
            m
        });
    let got = eventually(Duration::from_secs(10), "workload to settle", || async {
        let w = workload().await;
        (w == truth).then_some(w)
    })
    .await;
    assert_eq!(got.values().sum::<i64>(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_loses_its_state_leads_reconciles_and_balanced_routing_is_right_again() {
    let redis = tokio::task::spawn_blocking(leadflow_testkit::redis::RedisProcess::start)
        .await
        .unwrap();
    let stack = Stack::up_with_redis(redis.url()).await;
    stack.team_of(&REPS).await;
    stack
        .routing_on(routing_pb::Strategy::BalancedWorkload, &REPS)
        .await;
    let mut leads = Vec::new();
    for i in 0..9 {
        leads.push(
            stack
                .create(&format!("Lead {i}"), common::LeadSource::Website)
                .await,
        );
    }
    // Ben closes his three: he is the least loaded.
    for lead in leads.iter().filter(|l| l.owner_id == "ben") {
        stack
            .leads()
            .update_lead_status(req(
                leads_pb::UpdateLeadStatusRequest {
                    id: lead.id.clone(),
                    status: leads_pb::LeadStatus::Lost as i32,
                },
                &stack.owner(),
            ))
            .await
            .unwrap();
    }
    let workload = || async {
        let members = stack
            .routing()
            .get_workload(req(routing_pb::GetWorkloadRequest {}, &stack.owner()))
            .await
            .unwrap()
            .into_inner()
            .members;
        members
            .into_iter()
            .map(|m| (m.user_id, m.open_leads))
            .collect::<HashMap<_, _>>()
    };
    let truth = HashMap::from([("ana".to_owned(), 3i64), ("cy".to_owned(), 3)]);
    eventually(
        Duration::from_secs(10),
        "workload before the flush",
        || async { (workload().await == truth).then_some(()) },
    )
    .await;

    // Redis restarts empty (here: FLUSHALL on the test's own redis-server).
    let flushed = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "flushall"])
        .output()
        .unwrap();
    assert!(flushed.status.success());
    assert!(workload().await.is_empty(), "the counts are gone");

    // The next lead tells leads the state was reset; leads sends the truth back.
    let first = stack
        .create("After Flush", common::LeadSource::Website)
        .await;
    let mut expected = truth.clone();
    *expected.entry(first.owner_id.clone()).or_default() += 1;
    eventually(
        Duration::from_secs(10),
        "the reconcile to restore exact counts",
        || async { (workload().await == expected).then_some(()) },
    )
    .await;
    // And balanced routing is right again: ben (0 open) gets the next ones.
    let next = stack.create("Next", common::LeadSource::Website).await;
    assert_eq!(next.owner_id, "ben");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_lead_survives_a_sigkill_and_its_events_are_delivered() {
    use std::sync::Arc;

    let dir =
        std::env::temp_dir().join(format!("leadflow-crash-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut stack = Stack::new().await;
    stack.start_routing().await;
    stack.start_notifier().await;
    let mut leads = LeadsProcess::start(&stack, &dir);
    wait_serving(stack.leads_port).await;
    stack.team_of(&REPS).await;
    stack
        .routing_on(routing_pb::Strategy::RoundRobin, &REPS)
        .await;

    let stack = Arc::new(stack);
    let acknowledged: Vec<String> = burst(&stack, Duration::from_millis(1500), || leads.kill())
        .await
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert!(
        acknowledged.len() > 10,
        "the burst got going: {}",
        acknowledged.len()
    );

    let _leads = LeadsProcess::start(&stack, &dir);
    wait_serving(stack.leads_port).await;
    let stored = stack.all_leads().await;
    let by_id: HashMap<&str, &leads_pb::Lead> = stored.iter().map(|l| (l.id.as_str(), l)).collect();
    for id in &acknowledged {
        assert!(
            by_id.contains_key(id.as_str()),
            "acknowledged lead {id} was lost"
        );
    }
    // Their events are delivered: every routed lead's owner hears of it (once).
    let routed: Vec<&leads_pb::Lead> = acknowledged
        .iter()
        .filter_map(|id| by_id.get(id.as_str()).copied())
        .filter(|l| !l.owner_id.is_empty())
        .collect();
    for rep in REPS {
        let want: Vec<&str> = routed
            .iter()
            .filter(|l| l.owner_id == rep)
            .map(|l| l.id.as_str())
            .collect();
        let got =
            // Events the killed process had leased wait out its lease (2 s,
            // no longer renewed) before the new one takes them.
            eventually(
                Duration::from_secs(30),
                "notifications after the crash",
                || async {
                    let ids = stack.bell_lead_ids(rep).await?;
                    want.iter()
                        .all(|id| ids.iter().any(|got| got == id))
                        .then_some(ids)
                },
            )
            .await;
        let mut unique = got.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), got.len(), "{rep}: no notification twice");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_events_become_dead_letters_that_an_operator_can_retry() {
    use leadflow_proto::leads::v1::operations_service_client::OperationsServiceClient;

    let mut stack = Stack::new().await;
    stack.start_routing().await;
    // A notifier that does not (yet) trust the leads service's key.
    stack
        .start_notifier_with(leadflow_testkit::TestAuth::new().verifier)
        .await;
    stack.start_leads().await;
    stack.team_of(&["ana"]).await;
    let lead = stack.create("Jane Doe", common::LeadSource::Website).await;
    stack
        .leads()
        .assign_leads(req(
            leads_pb::AssignLeadsRequest {
                lead_ids: vec![lead.id.clone()],
                assignee_id: "ana".into(),
                ..Default::default()
            },
            &stack.owner(),
        ))
        .await
        .unwrap();
    let leads_port = stack.leads_port;
    let ops = move || {
        OperationsServiceClient::new(
            tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{leads_port}"))
                .unwrap()
                .connect_lazy(),
        )
    };
    let dead = eventually(Duration::from_secs(10), "a dead letter", || async {
        let dead = ops()
            .list_dead_letters(req(
                leads_pb::ListDeadLettersRequest::default(),
                &stack.owner(),
            ))
            .await
            .ok()?
            .into_inner()
            .dead_letters;
        dead.iter().any(|d| d.kind == "notify").then_some(dead)
    })
    .await;
    // The bell, and the directory facts the notifier refused alike.
    let notify: Vec<_> = dead.iter().filter(|d| d.kind == "notify").collect();
    assert_eq!(notify.len(), 1, "{dead:?}");
    assert!(
        dead.iter()
            .all(|d| d.kind == "notify" || d.kind == "directory")
    );
    assert!(
        notify[0].last_error.contains("Unauthenticated"),
        "{}",
        notify[0].last_error
    );
    let sales = ops()
        .list_dead_letters(req(
            leads_pb::ListDeadLettersRequest::default(),
            &stack.token("ana", Role::Sales),
        ))
        .await;
    assert_eq!(sales.unwrap_err().code(), tonic::Code::PermissionDenied);

    // The operator fixes the trust and retries: the rep is told, once.
    stack.stop_notifier().await;
    stack.start_notifier().await;
    let retried = ops()
        .retry_dead_letters(req(
            leads_pb::RetryDeadLettersRequest { ids: vec![] },
            &stack.owner(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(retried.retried >= dead.len() as i64);
    let got = eventually(
        Duration::from_secs(10),
        "the retried notification",
        || async {
            let got = inbox(&stack, "ana").await;
            (!got.is_empty()).then_some(got)
        },
    )
    .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].title, "Lead assigned to you: Jane Doe (Website)");
    let corrected = ops()
        .reconcile_now(req(leads_pb::ReconcileNowRequest {}, &stack.owner()))
        .await
        .unwrap()
        .into_inner()
        .corrected;
    assert_eq!(corrected, 0, "routing already knew every owner");
}
