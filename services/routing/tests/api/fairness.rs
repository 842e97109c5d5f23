//! Fairness under concurrency: three routing replicas sharing one Redis,
//! 64 concurrent callers, 7,000 leads, 7 reps.

use std::collections::HashMap;
use std::sync::Arc;

use leadflow_auth::Role;
use leadflow_proto::common::v1 as common;
use leadflow_proto::routing::v1 as pb;

use crate::helpers::*;

pub const REPS: usize = 7;
pub const LEADS: usize = 7_000;
pub const CALLERS: usize = 64;

pub fn team() -> Vec<pb::Candidate> {
    (0..REPS).map(|i| rep(&format!("rep-{i}"))).collect()
}

/// Sends `LEADS` RouteLead calls for `org` from `CALLERS` concurrent callers
/// spread over every replica, and counts leads per rep.
pub async fn route_many(app: &Arc<RoutingApp>, org: &str) -> HashMap<String, usize> {
    route_many_to(app, org, team(), LEADS).await
}

/// `leads` RouteLead calls for `org` over `team`, from `CALLERS` concurrent
/// callers spread over every replica; leads per rep.
pub async fn route_many_to(
    app: &Arc<RoutingApp>,
    org: &str,
    team: Vec<pb::Candidate>,
    leads: usize,
) -> HashMap<String, usize> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut callers = Vec::new();
    for c in 0..CALLERS {
        let (app, next, org, team) = (app.clone(), next.clone(), org.to_owned(), team.clone());
        callers.push(tokio::spawn(async move {
            let mut client = app.client(c);
            let token = app.token_in(&org, Role::Service);
            let mut mine = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < leads {
                let decision = client
                    .route_lead(req(
                        route_request(&lead_id(), common::LeadSource::Website, &team),
                        &token,
                    ))
                    .await
                    .expect("route")
                    .into_inner();
                assert_eq!(decision.reason, pb::DecisionReason::Routed as i32);
                mine.push(decision.assignee_id);
            }
            mine
        }));
    }
    let mut counts = HashMap::new();
    for caller in callers {
        for assignee in caller.await.unwrap() {
            *counts.entry(assignee).or_insert(0) += 1;
        }
    }
    counts
}

pub fn spread(counts: &HashMap<String, usize>) -> (usize, usize) {
    let min = counts.values().copied().min().unwrap_or(0);
    let max = counts.values().copied().max().unwrap_or(0);
    (min, max)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn round_robin_across_three_replicas_gives_every_rep_exactly_a_thousand() {
    let app = Arc::new(spawn_routing(3, StateKind::shared_redis()).await);
    app.set(round_robin()).await;
    let counts = route_many(&app, &app.org).await;
    assert_eq!(counts.len(), REPS, "{counts:?}");
    assert!(counts.values().all(|&n| n == LEADS / REPS), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn balanced_across_three_replicas_stays_within_one() {
    let app = Arc::new(spawn_routing(3, StateKind::shared_redis()).await);
    app.set(balanced()).await;
    let counts = route_many(&app, &app.org).await;
    let (min, max) = spread(&counts);
    assert_eq!(counts.values().sum::<usize>(), LEADS);
    assert!(max - min <= 1, "{counts:?}");
    let workload = app
        .client(1)
        .get_workload(req(pb::GetWorkloadRequest {}, &app.token(Role::Manager)))
        .await
        .unwrap()
        .into_inner()
        .members;
    for member in workload {
        assert_eq!(
            member.open_leads as usize, counts[&member.user_id],
            "GetWorkload agrees"
        );
    }
}
