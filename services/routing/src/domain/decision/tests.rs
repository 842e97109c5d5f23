//! The decision rules, one case each, and the explanation's bounds.

use super::*;
use crate::domain::settings::Rule;

#[test]
fn an_explanation_names_twenty_people_and_counts_the_rest() {
    let many = (0..1_000).map(|i| format!("u{i:04}"));
    let text = some_of(many, 1_000);
    assert!(text.starts_with("u0000, u0001,"));
    assert!(text.ends_with("u0019 and 980 more"), "{text}");
    assert_eq!(some_of(["a".to_owned()].into_iter(), 1), "a");
}

fn rep(id: &str) -> Candidate {
    Candidate {
        user_id: id.into(),
        role: Some(Role::Sales),
        active: true,
        available: true,
    }
}

fn team() -> Vec<Candidate> {
    vec![
        rep("ana"),
        rep("ben"),
        Candidate {
            active: false,
            ..rep("carl")
        },
        Candidate {
            available: false,
            ..rep("dora")
        },
        Candidate {
            role: Some(Role::Accounting),
            ..rep("eve")
        },
        Candidate {
            role: Some(Role::Manager),
            ..rep("mia")
        },
    ]
}

fn on(strategy: Strategy) -> Settings {
    Settings {
        enabled: true,
        strategy: Some(strategy),
        ..Settings::default()
    }
}

fn pool(plan: &Plan) -> &PoolPlan {
    match plan {
        Plan::Pick(p) => p,
        other => panic!("expected a pool, got {other:?}"),
    }
}

#[test]
fn routing_off_routes_nothing() {
    assert_eq!(
        plan(&Settings::default(), &team(), LeadSource::Website, &[]),
        Plan::Off
    );
}

#[test]
fn an_empty_rotation_is_the_whole_active_sales_capable_team_without_accounting() {
    let p = plan(&on(Strategy::RoundRobin), &team(), LeadSource::Website, &[]);
    let p = pool(&p);
    assert_eq!(p.pool, Pool::Team);
    assert_eq!(p.eligible, ["ana", "ben", "mia"]);
    assert!(!p.fallback_used);
    assert!(
        p.skipped.iter().all(|(id, _)| id != "eve"),
        "accounting never appears"
    );
    assert!(p.skipped.contains(&("carl".into(), SkipReason::Inactive)));
    assert!(
        p.skipped
            .contains(&("dora".into(), SkipReason::Unavailable))
    );
}

#[test]
fn inactive_and_away_picks_are_skipped() {
    let settings = Settings {
        rotation_user_ids: vec!["carl".into(), "ben".into(), "dora".into()],
        ..on(Strategy::RoundRobin)
    };
    let p = plan(&settings, &team(), LeadSource::Website, &[]);
    let p = pool(&p);
    assert_eq!(
        (p.pool.clone(), p.eligible.clone()),
        (Pool::Rotation, vec!["ben".to_owned()])
    );
    assert_eq!(
        p.skipped,
        [
            ("carl".into(), SkipReason::Inactive),
            ("dora".into(), SkipReason::Unavailable)
        ]
    );
}

#[test]
fn when_every_pick_is_inactive_routing_falls_back_to_the_whole_team() {
    let settings = Settings {
        rotation_user_ids: vec!["carl".into(), "gone".into()],
        ..on(Strategy::RoundRobin)
    };
    let p = plan(&settings, &team(), LeadSource::Website, &[]);
    let p = pool(&p);
    assert_eq!(p.pool, Pool::Team);
    assert!(p.fallback_used);
    assert_eq!(p.eligible, ["ana", "ben", "mia"]);
    assert!(p.skipped.contains(&("gone".into(), SkipReason::NotAMember)));
}

#[test]
fn source_rules_send_facebook_to_a_and_google_to_b() {
    let rule = |name: &str, source, who: &str| Rule {
        name: name.into(),
        sources: vec![source],
        tags: vec![],
        user_ids: vec![who.into()],
        strategy: None,
    };
    let settings = Settings {
        rules: vec![
            rule("facebook", LeadSource::Facebook, "ana"),
            rule("google", LeadSource::Google, "ben"),
        ],
        ..on(Strategy::RoundRobin)
    };
    let fb = plan(&settings, &team(), LeadSource::Facebook, &[]);
    assert_eq!(
        (pool(&fb).pool.rule_name(), pool(&fb).eligible.clone()),
        ("facebook", vec!["ana".to_owned()])
    );
    let g = plan(&settings, &team(), LeadSource::Google, &[]);
    assert_eq!(pool(&g).eligible, ["ben"]);
    let web = plan(&settings, &team(), LeadSource::Website, &[]);
    assert_eq!(pool(&web).pool.rule_name(), "default");
}

#[test]
fn the_first_matching_rule_wins_and_an_empty_rule_falls_through_to_the_default() {
    let settings = Settings {
        rules: vec![
            Rule {
                name: "vip".into(),
                sources: vec![],
                tags: vec!["vip".into()],
                user_ids: vec!["carl".into()],
                strategy: None,
            },
            Rule {
                name: "all".into(),
                sources: vec![],
                tags: vec![],
                user_ids: vec!["ana".into()],
                strategy: None,
            },
        ],
        rotation_user_ids: vec!["ben".into()],
        ..on(Strategy::RoundRobin)
    };
    // vip matches first, but carl is inactive: the default rotation, not rule "all".
    let p = plan(&settings, &team(), LeadSource::Website, &["vip".into()]);
    assert_eq!(
        (pool(&p).pool.clone(), pool(&p).eligible.clone()),
        (Pool::Rotation, vec!["ben".to_owned()])
    );
    assert!(explain(&p, Some("ben")).contains("rule \"vip\" matched but nobody"));
}

#[test]
fn nobody_eligible_is_no_candidates() {
    let team = vec![
        Candidate {
            active: false,
            ..rep("carl")
        },
        Candidate {
            role: Some(Role::Accounting),
            ..rep("eve")
        },
    ];
    assert!(matches!(
        plan(&on(Strategy::RoundRobin), &team, LeadSource::Website, &[]),
        Plan::NoCandidates { .. }
    ));
    assert!(matches!(
        plan(&on(Strategy::RoundRobin), &[], LeadSource::Website, &[]),
        Plan::NoCandidates { .. }
    ));
}

#[test]
fn round_robin_follows_the_cursor_and_survives_people_joining_and_leaving() {
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let pool = ids(&["ana", "ben", "dora"]);
    assert_eq!(next_round_robin(&pool, None), "ana");
    assert_eq!(next_round_robin(&pool, Some("ana")), "ben");
    assert_eq!(next_round_robin(&pool, Some("dora")), "ana", "wraps around");
    // ben (the cursor) left: the next after him is still dora, nobody repeats.
    assert_eq!(
        next_round_robin(&ids(&["ana", "dora"]), Some("ben")),
        "dora"
    );
    // carl joined after ben: he is next, nobody is skipped.
    assert_eq!(
        next_round_robin(&ids(&["ana", "ben", "carl", "dora"]), Some("ben")),
        "carl"
    );
}

#[test]
fn balanced_picks_the_least_loaded_and_breaks_ties_after_the_cursor() {
    let pool: Vec<String> = ["ana", "ben", "carl"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let load: HashMap<String, i64> =
        [("ana".into(), 2), ("ben".into(), 1), ("carl".into(), 1)].into();
    assert_eq!(pick_balanced(&pool, &load, None), "ben");
    assert_eq!(
        pick_balanced(&pool, &load, Some("ben")),
        "carl",
        "tie broken after the cursor"
    );
    assert_eq!(pick_balanced(&pool, &HashMap::new(), Some("carl")), "ana");
}

fn lead(source: LeadSource, tags: &[&str]) -> Lead {
    Lead {
        source,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

#[test]
fn choose_is_round_robin_or_balanced_by_the_strategy() {
    let pool: Vec<String> = ["ana", "ben"].iter().map(|s| s.to_string()).collect();
    let load: HashMap<String, i64> = [("ben".into(), 3)].into();
    assert_eq!(
        choose(Strategy::RoundRobin, &pool, Some("ana"), &load),
        "ben"
    );
    assert_eq!(
        choose(Strategy::BalancedWorkload, &pool, Some("ana"), &load),
        "ana"
    );
}

#[test]
fn decide_plans_then_picks_after_the_pools_own_cursor() {
    let settings = Settings {
        rules: vec![Rule {
            name: "fb".into(),
            sources: vec![LeadSource::Facebook],
            tags: vec![],
            user_ids: vec!["ana".into(), "ben".into()],
            strategy: None,
        }],
        ..on(Strategy::RoundRobin)
    };
    let state = Snapshot {
        cursors: [
            ("rule:fb".into(), "ana".into()),
            ("team".into(), "mia".into()),
        ]
        .into(),
        load: HashMap::new(),
    };
    let fb = decide(&settings, &team(), &lead(LeadSource::Facebook, &[]), &state);
    assert_eq!(fb.assignee.as_deref(), Some("ben"));
    assert_eq!(pool(&fb.plan).pool, Pool::Rule("fb".into()));
    let web = decide(&settings, &team(), &lead(LeadSource::Website, &[]), &state);
    assert_eq!(
        web.assignee.as_deref(),
        Some("ana"),
        "the team cursor wraps"
    );
    let off = decide(
        &Settings::default(),
        &team(),
        &lead(LeadSource::Website, &[]),
        &state,
    );
    assert_eq!(off, Decision::new(Plan::Off, None));
}

#[test]
fn a_dry_run_moves_its_scratch_cursor_and_counts_like_the_live_state() {
    let mut state = Snapshot::default();
    let leads = vec![lead(LeadSource::Website, &[]); 4];
    let rr = dry_run(&on(Strategy::RoundRobin), &team(), &leads, &mut state);
    let who: Vec<_> = rr.iter().filter_map(|d| d.assignee.clone()).collect();
    assert_eq!(who, ["ana", "ben", "mia", "ana"]);
    assert_eq!(state.cursor("team"), Some("ana"));
    assert_eq!(state.load["ana"], 2);
    // Balanced from there: ben and mia have one each, ana two.
    let balanced = dry_run(
        &on(Strategy::BalancedWorkload),
        &team(),
        &leads[..2],
        &mut state,
    );
    let who: Vec<_> = balanced.iter().filter_map(|d| d.assignee.clone()).collect();
    assert_eq!(who, ["ben", "mia"]);
}

#[test]
fn a_snapshot_forgets_a_rep_whose_count_reaches_zero() {
    let mut state = Snapshot::default();
    state.count("ana", 1);
    state.count("ana", -1);
    assert!(state.load.is_empty());
}
