//! One conformance suite, run against both state stores (Redis and memory):
//! they must follow the same rules.

use std::collections::HashMap;

use leadflow_routing::domain::decision::{Cap, CapHit, Snapshot, choose_in, choose_under_caps};
use leadflow_routing::domain::settings::Strategy;
use leadflow_routing::store::{
    MemoryState, Ownership, Pick, Picked, RedisState, RedisTarget, RoutingState,
};
use leadflow_testkit::redis::{redis_url, unique_prefix};
use std::time::Duration;

fn redis() -> RedisState {
    RedisState::new(
        RedisTarget::Single(redis_url()),
        unique_prefix(),
        Duration::from_secs(3600),
        Duration::from_millis(500),
    )
}

fn memory() -> MemoryState {
    MemoryState::new(Duration::from_secs(3600))
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn fact(lead: &str, owner: Option<&str>, open: bool, version: i64) -> Ownership {
    Ownership {
        lead_id: lead.into(),
        owner_id: owner.map(str::to_owned),
        open,
        version,
    }
}

async fn rr(state: &dyn RoutingState, lead: &str, pool: &[&str]) -> String {
    state
        .pick("org", lead, 1, "team", Strategy::RoundRobin, &ids(pool))
        .await
        .unwrap()
        .assignee
}

async fn round_robin_rotates_in_id_order_and_survives_joins_and_leaves(state: &dyn RoutingState) {
    let mut got = Vec::new();
    for i in 0..4 {
        got.push(rr(state, &format!("l{i}"), &["ana", "ben", "dora"]).await);
    }
    assert_eq!(got, ["ana", "ben", "dora", "ana"]);
    // ana (the cursor) leaves, carl joins: next is ben, then carl, then dora.
    let mut got = Vec::new();
    for i in 4..7 {
        got.push(rr(state, &format!("l{i}"), &["ben", "carl", "dora"]).await);
    }
    assert_eq!(got, ["ben", "carl", "dora"]);
}

async fn a_retried_pick_returns_the_same_rep_without_moving_the_cursor(state: &dyn RoutingState) {
    let first = state
        .pick(
            "org",
            "lead-1",
            1,
            "team",
            Strategy::RoundRobin,
            &ids(&["a", "b"]),
        )
        .await
        .unwrap();
    let again = state
        .pick(
            "org",
            "lead-1",
            1,
            "team",
            Strategy::RoundRobin,
            &ids(&["a", "b"]),
        )
        .await
        .unwrap();
    assert_eq!(first.assignee, again.assignee);
    assert!(!first.replayed && again.replayed);
    assert_eq!(
        rr(state, "lead-2", &["a", "b"]).await,
        "b",
        "the cursor moved once"
    );
    assert_eq!(
        state.workload("org").await.unwrap(),
        HashMap::from([("a".into(), 1), ("b".into(), 1)])
    );
}

async fn balanced_takes_the_least_loaded_and_spreads_ties(state: &dyn RoutingState) {
    state
        .apply(
            "org",
            &[
                fact("x1", Some("a"), true, 1),
                fact("x2", Some("a"), true, 1),
                fact("x3", Some("b"), true, 1),
            ],
        )
        .await
        .unwrap();
    let pick = |lead: &'static str| async move {
        state
            .pick(
                "org",
                lead,
                1,
                "team",
                Strategy::BalancedWorkload,
                &ids(&["a", "b", "c"]),
            )
            .await
            .unwrap()
            .assignee
    };
    // c has none; then b and c tie at 1 and the search starts after the
    // cursor (c), wrapping to a (2) and b (1); then c is the only one at 1.
    assert_eq!(pick("n1").await, "c");
    assert_eq!(pick("n2").await, "b");
    assert_eq!(pick("n3").await, "c");
    let load = state.workload("org").await.unwrap();
    assert_eq!(
        load,
        HashMap::from([("a".into(), 2), ("b".into(), 2), ("c".into(), 2)])
    );
}

async fn duplicate_and_reordered_facts_cause_no_drift(state: &dyn RoutingState) {
    let batch = vec![
        fact("l1", Some("a"), true, 1),
        fact("l2", Some("a"), true, 1),
        fact("l1", Some("b"), true, 2),  // reassigned
        fact("l2", Some("a"), false, 2), // won
        fact("l3", Some("b"), true, 1),
        fact("l3", None, true, 2), // unassigned
    ];
    state.apply("org", &batch).await.unwrap();
    let expected = HashMap::from([("b".to_owned(), 1)]);
    assert_eq!(state.workload("org").await.unwrap(), expected);
    state.apply("org", &batch).await.unwrap();
    let mut reversed = batch.clone();
    reversed.reverse();
    state.apply("org", &reversed).await.unwrap();
    for f in &batch {
        state.apply("org", std::slice::from_ref(f)).await.unwrap();
    }
    assert_eq!(
        state.workload("org").await.unwrap(),
        expected,
        "replays and reorders change nothing"
    );
}

async fn a_routed_lead_counts_once_when_its_ownership_arrives(state: &dyn RoutingState) {
    let picked = state
        .pick(
            "org",
            "lead-9",
            1,
            "team",
            Strategy::BalancedWorkload,
            &ids(&["a"]),
        )
        .await
        .unwrap();
    assert_eq!(
        state.workload("org").await.unwrap()["a"],
        1,
        "counted at once (provisional)"
    );
    state
        .apply("org", &[fact("lead-9", Some(&picked.assignee), true, 1)])
        .await
        .unwrap();
    assert_eq!(state.workload("org").await.unwrap()["a"], 1, "not twice");
    state
        .apply("org", &[fact("lead-9", Some("a"), false, 2)])
        .await
        .unwrap();
    assert!(
        !state.workload("org").await.unwrap().contains_key("a"),
        "closing lowers the count"
    );
}

async fn reconcile_restores_exact_counts(state: &dyn RoutingState) {
    let truth = vec![
        fact("l1", Some("a"), true, 3),
        fact("l2", Some("b"), true, 1),
        fact("l3", Some("b"), false, 2),
    ];
    // Drift: the state missed some facts and holds an older one.
    state
        .apply(
            "org",
            &[
                fact("l1", Some("c"), true, 2),
                fact("l3", Some("b"), true, 1),
            ],
        )
        .await
        .unwrap();
    let corrected = state.reconcile("org", &truth).await.unwrap();
    assert_eq!(corrected, 3);
    assert_eq!(
        state.workload("org").await.unwrap(),
        HashMap::from([("a".into(), 1), ("b".into(), 1)])
    );
    assert_eq!(
        state.reconcile("org", &truth).await.unwrap(),
        0,
        "a second reconcile finds nothing to fix"
    );
}

async fn a_new_state_reports_a_reset_generation_once(state: &dyn RoutingState) {
    let first = state
        .pick("org-g", "l1", 1, "team", Strategy::RoundRobin, &ids(&["a"]))
        .await
        .unwrap();
    let second = state
        .pick("org-g", "l2", 1, "team", Strategy::RoundRobin, &ids(&["a"]))
        .await
        .unwrap();
    assert!(first.generation.reset);
    assert!(!second.generation.reset);
    assert_eq!(first.generation.id, second.generation.id);
}

async fn a_snapshot_changes_nothing(state: &dyn RoutingState) {
    rr(state, "l1", &["a", "b"]).await;
    let before = state.snapshot("org").await.unwrap();
    let _ = state.snapshot("org").await.unwrap();
    assert_eq!(state.snapshot("org").await.unwrap(), before);
    assert_eq!(before.cursors["team"], "a");
}

async fn pick(state: &dyn RoutingState, lead: &str, attempt: u32, pool: &[&str]) -> String {
    state
        .pick(
            "org",
            lead,
            attempt,
            "team",
            Strategy::BalancedWorkload,
            &ids(pool),
        )
        .await
        .unwrap()
        .assignee
}

async fn a_replay_whose_rep_is_no_longer_eligible_decides_again_and_releases_the_count(
    state: &dyn RoutingState,
) {
    assert_eq!(pick(state, "lead-1", 1, &["a", "b"]).await, "a");
    // a was deactivated (or went away): the retry must not hand them the lead.
    assert_eq!(pick(state, "lead-1", 1, &["b"]).await, "b");
    assert_eq!(
        state.workload("org").await.unwrap(),
        HashMap::from([("b".into(), 1)]),
        "a's provisional count was released, b counted once"
    );
    // While b stays eligible, the retry replays b.
    let again = state
        .pick(
            "org",
            "lead-1",
            1,
            "team",
            Strategy::BalancedWorkload,
            &ids(&["a", "b"]),
        )
        .await
        .unwrap();
    assert!(again.replayed && again.assignee == "b");
}

async fn a_new_attempt_asks_a_new_question(state: &dyn RoutingState) {
    let first = rr(state, "lead-1", &["a", "b", "c"]).await;
    assert_eq!(first, "a");
    let rerouted = state
        .pick(
            "org",
            "lead-1",
            2,
            "team",
            Strategy::RoundRobin,
            &ids(&["a", "b", "c"]),
        )
        .await
        .unwrap();
    assert!(!rerouted.replayed, "an SLA re-route gets a fresh decision");
    assert_eq!(rerouted.assignee, "b");
    let replayed = state
        .pick(
            "org",
            "lead-1",
            2,
            "team",
            Strategy::RoundRobin,
            &ids(&["a", "b", "c"]),
        )
        .await
        .unwrap();
    assert!(replayed.replayed && replayed.assignee == "b");
}

async fn an_authoritative_reconcile_removes_picks_for_leads_never_stored_and_keeps_new_ones(
    state: &dyn RoutingState,
) {
    // Three picks; only l1 and l2 were stored (l3's CreateLead crashed).
    for lead in ["l1", "l2", "l3"] {
        pick(state, lead, 1, &["a", "b", "c"]).await;
    }
    assert_eq!(
        state.workload("org").await.unwrap().values().sum::<i64>(),
        3
    );
    let epoch = state.begin_reconcile("org").await.unwrap();
    let truth = [
        fact("l1", Some("a"), true, 1),
        fact("l2", Some("b"), true, 1),
    ];
    state.reconcile("org", &truth).await.unwrap();
    // A pick made while the reconcile runs, for a lead the snapshot did not see.
    let during = pick(state, "l4", 1, &["a", "b", "c"]).await;
    let removed = state.sweep("org", epoch).await.unwrap();
    assert_eq!(removed, 1, "only l3's phantom pick");
    // l4 went to a (the three tied at one, and a comes after the cursor c).
    assert_eq!(during, "a");
    assert_eq!(
        state.workload("org").await.unwrap(),
        HashMap::from([("a".into(), 2), ("b".into(), 1)]),
        "l1 and l4 for a, l2 for b; c's phantom is gone"
    );
    assert_eq!(state.entries("org").await.unwrap(), 3);
}

async fn closed_leads_are_forgotten_unless_newer(state: &dyn RoutingState) {
    state
        .apply(
            "org",
            &[
                fact("won", Some("a"), false, 3),
                fact("reopened", Some("a"), true, 5),
                fact("open", Some("a"), true, 1),
            ],
        )
        .await
        .unwrap();
    assert_eq!(state.entries("org").await.unwrap(), 3);
    let dropped = state
        .forget(
            "org",
            &[
                fact("won", Some("a"), false, 3),
                fact("reopened", Some("a"), false, 4),
            ],
        )
        .await
        .unwrap();
    assert_eq!(dropped, 0, "no counted entry was dropped");
    assert_eq!(
        state.entries("org").await.unwrap(),
        2,
        "won is gone, reopened (v5) stays"
    );
    assert_eq!(
        state.workload("org").await.unwrap(),
        HashMap::from([("a".into(), 2)])
    );
}

async fn weighted(
    state: &dyn RoutingState,
    lead: &str,
    strategy: Strategy,
    pool: &[&str],
    weights: &[u32],
) -> String {
    let eligible = ids(pool);
    let pick = Pick::new(lead, 1, "team", strategy, &eligible)
        .unwrap()
        .weighted(Some(weights))
        .unwrap();
    state.pick_with("org", &pick).await.unwrap().assignee
}

/// The domain's own sequence for the same picks: what the script must match.
fn domain_sequence(steps: &[(&[&str], &[u32])]) -> (Vec<String>, Snapshot) {
    let mut snapshot = Snapshot::default();
    let picks = steps
        .iter()
        .map(|(pool, weights)| {
            let eligible = ids(pool);
            let choice = choose_in(
                Strategy::RoundRobin,
                &eligible,
                Some(weights),
                snapshot.pool("team"),
            );
            let assignee = choice.assignee.to_owned();
            snapshot.record("team", &choice);
            assignee
        })
        .collect();
    (picks, snapshot)
}

async fn weighted_round_robin_follows_the_domain_and_freezes_a_skipped_rep(
    state: &dyn RoutingState,
) {
    let all: (&[&str], &[u32]) = (&["ana", "ben", "carl"], &[3, 2, 1]);
    let without_carl: (&[&str], &[u32]) = (&["ana", "ben"], &[3, 2]);
    let mut steps = vec![all; 6];
    steps.extend([without_carl; 4]);
    steps.extend([all; 8]);
    let (want, snapshot) = domain_sequence(&steps);
    let mut got = Vec::new();
    for (i, (pool, weights)) in steps.iter().enumerate() {
        got.push(weighted(state, &format!("w{i}"), Strategy::RoundRobin, pool, weights).await);
    }
    assert_eq!(got, want);
    assert_eq!(
        &got[..6],
        ["ana", "ben", "ana", "carl", "ben", "ana"],
        "one cycle of 3:2:1, smooth"
    );
    assert_eq!(
        state.snapshot("org").await.unwrap().current,
        snapshot.current,
        "the current weights are the domain's"
    );
}

async fn weighted_balance_divides_open_leads_by_weight(state: &dyn RoutingState) {
    state
        .apply(
            "org",
            &[
                fact("x1", Some("ana"), true, 1),
                fact("x2", Some("ana"), true, 1),
                fact("x3", Some("ana"), true, 1),
                fact("y1", Some("ben"), true, 1),
            ],
        )
        .await
        .unwrap();
    // 3 open of weight 4 (0.75 each) beats 1 open of weight 1.
    let pool = ["ana", "ben"];
    assert_eq!(
        weighted(state, "b1", Strategy::BalancedWorkload, &pool, &[4, 1]).await,
        "ana"
    );
    // Unweighted, ben's single lead wins.
    assert_eq!(
        state
            .pick(
                "org",
                "b2",
                1,
                "team",
                Strategy::BalancedWorkload,
                &ids(&pool)
            )
            .await
            .unwrap()
            .assignee,
        "ben"
    );
}

async fn a_pick_planned_with_older_settings_is_refused_and_moves_nothing(state: &dyn RoutingState) {
    state.publish_settings("org", 5).await.unwrap();
    state.publish_settings("org", 3).await.unwrap();
    let eligible = ids(&["ana", "ben"]);
    let pick = Pick::new("s1", 1, "team", Strategy::RoundRobin, &eligible).unwrap();
    let stale = state.pick_with("org", &pick.planned_with(4)).await.unwrap();
    assert!(stale.newer_settings, "5 was published; 3 did not lower it");
    assert_eq!(state.snapshot("org").await.unwrap(), Snapshot::default());
    let fresh = state.pick_with("org", &pick.planned_with(5)).await.unwrap();
    assert!(!fresh.newer_settings);
    assert_eq!(fresh.assignee, "ana");
}

fn cap(open: u32, per_day: u32, day: &str) -> Cap {
    Cap {
        max_open: open,
        max_per_day: per_day,
        day: day.into(),
        day_ends: "2030-01-01T00:00:00Z".parse().unwrap(),
        zone: "UTC".into(),
    }
}

async fn capped_pick(state: &dyn RoutingState, lead: &str, pool: &[&str], caps: &[Cap]) -> Picked {
    let eligible = ids(pool);
    let pick = Pick::new(lead, 1, "team", Strategy::RoundRobin, &eligible)
        .unwrap()
        .capped(Some(caps))
        .unwrap();
    state.pick_with("org", &pick).await.unwrap()
}

async fn a_rep_at_a_cap_is_passed_over_and_with_everyone_capped_nothing_moves(
    state: &dyn RoutingState,
) {
    let day = |d: &str| vec![cap(0, 2, d), cap(0, 2, d)];
    let mut got = Vec::new();
    for i in 0..4 {
        got.push(
            capped_pick(state, &format!("c{i}"), &["ana", "ben"], &day("2026-01-14"))
                .await
                .assignee,
        );
    }
    assert_eq!(got, ["ana", "ben", "ana", "ben"]);
    let before = state.snapshot("org").await.unwrap();
    let held = capped_pick(state, "c4", &["ana", "ben"], &day("2026-01-14")).await;
    assert!(held.all_capped && held.assignee.is_empty(), "{held:?}");
    assert_eq!(
        held.capped,
        [
            ("ana".to_owned(), CapHit::Day { today: 2, max: 2 }),
            ("ben".to_owned(), CapHit::Day { today: 2, max: 2 }),
        ]
    );
    assert_eq!(
        state.snapshot("org").await.unwrap(),
        before,
        "a held lead moves nothing"
    );
    // Their next local day counts afresh.
    let next_day = capped_pick(state, "c5", &["ana", "ben"], &day("2026-01-15")).await;
    assert_eq!(next_day.assignee, "ana");
    // An open-lead cap: ben owns one open lead and may have one.
    state
        .apply("org", &[fact("x", Some("ben"), true, 1)])
        .await
        .unwrap();
    let open_capped = capped_pick(
        state,
        "c6",
        &["ben", "carl"],
        &[cap(1, 0, "d"), cap(0, 0, "d")],
    )
    .await;
    assert_eq!(open_capped.assignee, "carl");
    assert!(
        matches!(open_capped.capped[..], [(ref id, CapHit::Open { max: 1, .. })] if id == "ben")
    );
}

async fn restoring_day_counters_raises_them_and_drops_old_days(state: &dyn RoutingState) {
    let key = |user: &str, day: &str| Cap::daily_key(user, day);
    state
        .restore_daily(
            "org",
            &[(key("ana", "2026-02-25"), 4), (key("ana", "2026-03-02"), 3)],
            "2026-02-20",
        )
        .await
        .unwrap();
    // Raised, never lowered; days before keep_from dropped.
    let raised = state
        .restore_daily(
            "org",
            &[(key("ana", "2026-03-02"), 2), (key("ben", "2026-03-02"), 5)],
            "2026-02-28",
        )
        .await
        .unwrap();
    assert_eq!(raised, 1);
    let daily = state.snapshot("org").await.unwrap().daily;
    assert_eq!(
        daily,
        HashMap::from([(key("ana", "2026-03-02"), 3), (key("ben", "2026-03-02"), 5)])
    );
}

/// A pool larger than pick.lua's HMGET slices (1,000 fields), weighted and
/// capped at once: every third rep is at an open-lead cap from the start,
/// every third is allowed one lead a day. The store follows the domain pick
/// for pick, reports the same capped reps and ends with the same weights.
async fn a_large_weighted_and_capped_pool_follows_the_domain(state: &dyn RoutingState) {
    const REPS: usize = 2_500;
    let eligible: Vec<String> = (0..REPS).map(|i| format!("r{i:04}")).collect();
    let weights: Vec<u32> = (0..REPS).map(|i| (i % 5) as u32 + 1).collect();
    let caps: Vec<Cap> = (0..REPS)
        .map(|i| match i % 3 {
            0 => cap(1, 0, "2026-05-04"),
            1 => cap(0, 1, "2026-05-04"),
            _ => cap(0, 0, "2026-05-04"),
        })
        .collect();
    let busy: Vec<Ownership> = (0..REPS)
        .step_by(3)
        .map(|i| fact(&format!("busy{i}"), Some(&eligible[i]), true, 1))
        .collect();
    state.apply("org", &busy).await.unwrap();
    let mut domain = Snapshot::default();
    for o in &busy {
        domain.count(o.owner_id.as_deref().unwrap(), 1);
    }
    for n in 0..40 {
        let want = choose_under_caps(
            Strategy::RoundRobin,
            &eligible,
            Some(&weights),
            Some(&caps),
            domain.pool("team"),
        );
        let lead = format!("big{n}");
        let pick = Pick::new(&lead, 1, "team", Strategy::RoundRobin, &eligible)
            .unwrap()
            .weighted(Some(&weights))
            .unwrap()
            .capped(Some(&caps))
            .unwrap();
        let got = state.pick_with("org", &pick).await.unwrap();
        let choice = want.choice.expect("most reps are under their caps");
        assert_eq!(got.assignee, choice.assignee, "pick {n}");
        let capped: Vec<(&str, CapHit)> = got
            .capped
            .iter()
            .map(|(id, hit)| (id.as_str(), *hit))
            .collect();
        assert_eq!(capped, want.capped, "pick {n}: the reps passed over");
        let assignee = choice.assignee.to_owned();
        domain.record("team", &choice);
        domain.count(&assignee, 1);
        domain.count_day(&assignee, "2026-05-04");
    }
    assert_eq!(
        state.snapshot("org").await.unwrap().current,
        domain.current,
        "the current weights are the domain's"
    );
}

macro_rules! conformance {
    ($($name:ident),+ $(,)?) => {
        mod redis_store {
            $(#[tokio::test] async fn $name() { super::$name(&super::redis()).await; })+
        }
        mod memory_store {
            $(#[tokio::test] async fn $name() { super::$name(&super::memory()).await; })+
        }
    };
}

conformance!(
    round_robin_rotates_in_id_order_and_survives_joins_and_leaves,
    a_retried_pick_returns_the_same_rep_without_moving_the_cursor,
    balanced_takes_the_least_loaded_and_spreads_ties,
    duplicate_and_reordered_facts_cause_no_drift,
    a_routed_lead_counts_once_when_its_ownership_arrives,
    reconcile_restores_exact_counts,
    a_new_state_reports_a_reset_generation_once,
    a_snapshot_changes_nothing,
    a_replay_whose_rep_is_no_longer_eligible_decides_again_and_releases_the_count,
    a_new_attempt_asks_a_new_question,
    an_authoritative_reconcile_removes_picks_for_leads_never_stored_and_keeps_new_ones,
    closed_leads_are_forgotten_unless_newer,
    weighted_round_robin_follows_the_domain_and_freezes_a_skipped_rep,
    weighted_balance_divides_open_leads_by_weight,
    a_pick_planned_with_older_settings_is_refused_and_moves_nothing,
    a_rep_at_a_cap_is_passed_over_and_with_everyone_capped_nothing_moves,
    restoring_day_counters_raises_them_and_drops_old_days,
    a_large_weighted_and_capped_pool_follows_the_domain,
);
