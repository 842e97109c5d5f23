//! The bell's fast path beside the outbox: right after CreateLead commits,
//! leads sends the notification itself; the outbox delivers whatever that
//! did not. With a healthy notifier nearly every bell costs one Notify (its
//! outbox row is marked delivered without the dispatcher ever taking it);
//! with a notifier behind a network that cuts connections at random, every
//! lead still gets exactly one bell and every outbox event ends delivered.
//! (The notifier down for the fast path and back for the outbox is
//! `flows::notifications_held_while_the_notifier_is_down_arrive_exactly_once`,
//! whose assignments go through the fast path.)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use leadflow_db::OwnDatabase;
use leadflow_e2e::*;
use leadflow_proto::common::v1 as common;
use leadflow_proto::routing::v1 as routing_pb;
use sea_orm::{ConnectionTrait, Statement};

const REPS: [&str; 3] = ["ana", "ben", "cara"];

/// Notify rows of the outbox: (delivered, of which the dispatcher never took).
async fn notify_rows(stack: &Stack) -> (i64, i64, i64) {
    let store = leadflow_leads::store::Store::connect(&stack.leads_db.url, 1)
        .await
        .unwrap();
    let row = store
        .connection()
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS total, \
                    count(*) FILTER (WHERE status = 'delivered') AS delivered, \
                    count(*) FILTER (WHERE status = 'delivered' AND attempts = 0) AS fast \
             FROM outbox WHERE kind = 'notify'",
        ))
        .await
        .unwrap()
        .unwrap();
    (
        row.try_get("", "total").unwrap(),
        row.try_get("", "delivered").unwrap(),
        row.try_get("", "fast").unwrap(),
    )
}

/// `n` website leads from 8 concurrent callers; their ids by owner.
async fn create_many(stack: &Arc<Stack>, n: usize) -> HashMap<String, Vec<String>> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let (stack, next) = (stack.clone(), next.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                    let lead = stack.create("Fast", common::LeadSource::Website).await;
                    mine.push((lead.owner_id, lead.id));
                }
                mine
            })
        })
        .collect();
    let mut by_owner: HashMap<String, Vec<String>> = HashMap::new();
    for caller in callers {
        for (owner, id) in caller.await.unwrap() {
            by_owner.entry(owner).or_default().push(id);
        }
    }
    by_owner
}

/// Every rep's inbox holds exactly their leads, each once.
async fn exactly_one_bell_each(stack: &Stack, by_owner: &HashMap<String, Vec<String>>) {
    for rep in REPS {
        let mine = by_owner.get(rep).cloned().unwrap_or_default();
        let bells = eventually(Duration::from_secs(60), "every bell", || async {
            let ids = stack.bell_lead_ids(rep).await?;
            (ids.len() >= mine.len()).then_some(ids)
        })
        .await;
        let mut sorted = bells.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), bells.len(), "{rep} got a bell twice");
        let mut expected = mine.clone();
        expected.sort();
        assert_eq!(sorted, expected, "{rep}'s bells are exactly their leads");
    }
}

async fn set_up(stack: &Stack) {
    stack.team_of(&REPS).await;
    stack
        .routing_on(routing_pb::Strategy::RoundRobin, &REPS)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_a_healthy_notifier_nearly_every_bell_costs_one_notify() {
    let stack = Arc::new(Stack::up().await);
    set_up(&stack).await;
    let by_owner = create_many(&stack, 200).await;
    exactly_one_bell_each(&stack, &by_owner).await;
    let (total, delivered, fast) = eventually(
        Duration::from_secs(30),
        "every notify event delivered",
        || async {
            let rows = notify_rows(&stack).await;
            (rows.0 == 200 && rows.1 == 200).then_some(rows)
        },
    )
    .await;
    assert_eq!((total, delivered), (200, 200));
    assert!(
        fast >= 180,
        "the fast path delivered {fast} of 200 without the dispatcher"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fast_path_and_the_outbox_racing_over_a_flaky_network_ring_each_bell_once() {
    let mut stack = Stack::new().await;
    stack.start_routing().await;
    stack.start_notifier().await;
    let proxy = FlakyProxy::start(stack.notifier_port).await;
    stack.leads_notifier_port = Some(proxy.port);
    stack.start_leads().await;
    let stack = Arc::new(stack);
    set_up(&stack).await;
    let by_owner = create_many(&stack, 500).await;
    assert_eq!(by_owner.values().map(Vec::len).sum::<usize>(), 500);
    exactly_one_bell_each(&stack, &by_owner).await;
    let (total, delivered, fast) = eventually(
        Duration::from_secs(60),
        "every notify event delivered",
        || async {
            let rows = notify_rows(&stack).await;
            (rows.0 == 500 && rows.1 == 500).then_some(rows)
        },
    )
    .await;
    eprintln!("{fast} of {total} delivered by the fast path alone, {delivered} delivered");
    // Both paths did some of the work: the network failed some fast sends.
    assert!(fast < 500, "the proxy cut no call at all");
    drop(proxy);
    // Nothing more arrives later.
    tokio::time::sleep(Duration::from_secs(2)).await;
    exactly_one_bell_each(&stack, &by_owner).await;
}
