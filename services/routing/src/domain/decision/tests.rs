//! The decision rules, one case each, and the explanation's bounds.

use super::*;
use crate::domain::settings::{Rule, Sla, Weights};

#[test]
fn an_explanation_names_twenty_people_and_counts_the_rest() {
    let many = (0..1_000).map(|i| format!("u{i:04}"));
    let text = some_of(many, 1_000);
    assert!(text.starts_with("u0000, u0001,"));
    assert!(text.ends_with("u0019 and 980 more"), "{text}");
    assert_eq!(some_of(["a".to_owned()].into_iter(), 1), "a");
}

/// The moment decisions are made at (a Wednesday, 13:00 UTC).
fn at() -> chrono::DateTime<chrono::Utc> {
    "2026-01-14T13:00:00Z".parse().unwrap()
}

fn rep(id: &str) -> Candidate {
    Candidate {
        user_id: id.into(),
        role: Some(Role::Sales),
        active: true,
        available: true,
        schedule: None,
        already_held: false,
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
        plan(
            &Settings::default(),
            &team(),
            LeadSource::Website,
            &[],
            at()
        ),
        Plan::Off
    );
}

#[test]
fn an_empty_rotation_is_the_whole_active_sales_capable_team_without_accounting() {
    let p = plan(
        &on(Strategy::RoundRobin),
        &team(),
        LeadSource::Website,
        &[],
        at(),
    );
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
    let p = plan(&settings, &team(), LeadSource::Website, &[], at());
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
    let p = plan(&settings, &team(), LeadSource::Website, &[], at());
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
        weights: Weights::new(),
        sla: None,
    };
    let settings = Settings {
        rules: vec![
            rule("facebook", LeadSource::Facebook, "ana"),
            rule("google", LeadSource::Google, "ben"),
        ],
        ..on(Strategy::RoundRobin)
    };
    let fb = plan(&settings, &team(), LeadSource::Facebook, &[], at());
    assert_eq!(
        (pool(&fb).pool.rule_name(), pool(&fb).eligible.clone()),
        ("facebook", vec!["ana".to_owned()])
    );
    let g = plan(&settings, &team(), LeadSource::Google, &[], at());
    assert_eq!(pool(&g).eligible, ["ben"]);
    let web = plan(&settings, &team(), LeadSource::Website, &[], at());
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
                weights: Weights::new(),
                sla: None,
            },
            Rule {
                name: "all".into(),
                sources: vec![],
                tags: vec![],
                user_ids: vec!["ana".into()],
                strategy: None,
                weights: Weights::new(),
                sla: None,
            },
        ],
        rotation_user_ids: vec!["ben".into()],
        ..on(Strategy::RoundRobin)
    };
    // vip matches first, but carl is inactive: the default rotation, not rule "all".
    let p = plan(
        &settings,
        &team(),
        LeadSource::Website,
        &["vip".into()],
        at(),
    );
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
        plan(
            &on(Strategy::RoundRobin),
            &team,
            LeadSource::Website,
            &[],
            at()
        ),
        Plan::NoCandidates { .. }
    ));
    assert!(matches!(
        plan(
            &on(Strategy::RoundRobin),
            &[],
            LeadSource::Website,
            &[],
            at()
        ),
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
            weights: Weights::new(),
            sla: None,
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
        current: HashMap::new(),
        daily: HashMap::new(),
    };
    let fb = decide(
        &settings,
        &team(),
        &lead(LeadSource::Facebook, &[]),
        &state,
        at(),
    );
    assert_eq!(fb.assignee.as_deref(), Some("ben"));
    assert_eq!(pool(&fb.plan).pool, Pool::Rule("fb".into()));
    let web = decide(
        &settings,
        &team(),
        &lead(LeadSource::Website, &[]),
        &state,
        at(),
    );
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
        at(),
    );
    assert_eq!(off, Decision::new(Plan::Off, None));
}

#[test]
fn a_dry_run_moves_its_scratch_cursor_and_counts_like_the_live_state() {
    let mut state = Snapshot::default();
    let leads = vec![lead(LeadSource::Website, &[]); 4];
    let rr = dry_run(&on(Strategy::RoundRobin), &team(), &leads, &mut state, at());
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
        at(),
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

/// `n` picks of smooth weighted round robin from zero, as indices.
fn weighted_run(weights: &[u32], n: usize) -> Vec<usize> {
    let mut current = vec![0; weights.len()];
    (0..n)
        .map(|_| {
            let (best, next) = smooth_weighted(weights, &current);
            current = next;
            best
        })
        .collect()
}

#[test]
fn smooth_weights_give_exact_shares_every_cycle_and_stay_under_one_lead_ahead() {
    for weights in [
        vec![3, 2, 1],
        vec![1, 1, 1, 1, 7, 7],
        vec![5, 1],
        vec![100, 1, 37],
    ] {
        let total: i64 = weights.iter().map(|&w| i64::from(w)).sum();
        let mut counts = vec![0i64; weights.len()];
        for (n, pick) in weighted_run(&weights, 3 * total as usize)
            .into_iter()
            .enumerate()
        {
            counts[pick] += 1;
            let n = n as i64 + 1;
            for (count, &w) in counts.iter().zip(&weights) {
                assert!(
                    count * total - n * i64::from(w) < total,
                    "{weights:?} after {n}: {counts:?}"
                );
            }
            if n % total == 0 {
                let k = n / total;
                let want: Vec<i64> = weights.iter().map(|&w| k * i64::from(w)).collect();
                assert_eq!(counts, want, "{weights:?} after {n}");
            }
        }
    }
}

#[test]
fn a_skipped_rep_keeps_its_place_and_does_not_catch_up_in_a_burst() {
    let pool = ids(&["ana", "ben", "carl"]);
    let pair = ids(&["ana", "ben"]);
    let mut state = Snapshot::default();
    let pick = |eligible: &[String], weights: &[u32], state: &mut Snapshot| {
        let choice = choose_in(
            Strategy::RoundRobin,
            eligible,
            Some(weights),
            state.pool("team"),
        );
        let who = choice.assignee.to_owned();
        state.record("team", &choice);
        who
    };
    for _ in 0..3 {
        pick(&pool, &[1, 1, 1], &mut state);
    }
    let carl_before = state.current["team"]["carl"];
    // carl is away for 10 leads: his current weight stays as it was.
    for _ in 0..10 {
        assert_ne!(pick(&pair, &[1, 1], &mut state), "carl");
    }
    assert_eq!(
        state.current["team"]["carl"], carl_before,
        "frozen while skipped"
    );
    // Back: he gets one lead per cycle, not the ten he missed.
    let back: Vec<String> = (0..6)
        .map(|_| pick(&pool, &[1, 1, 1], &mut state))
        .collect();
    assert_eq!(
        back.iter().filter(|id| *id == "carl").count(),
        2,
        "{back:?}"
    );
}

#[test]
fn pools_carry_the_weights_of_their_rule_or_of_the_settings() {
    let settings = Settings {
        rules: vec![Rule {
            name: "fb".into(),
            sources: vec![LeadSource::Facebook],
            tags: vec![],
            user_ids: vec!["ana".into(), "ben".into()],
            strategy: None,
            weights: [("ben".to_owned(), 4)].into(),
            sla: None,
        }],
        weights: [("ana".to_owned(), 2)].into(),
        ..on(Strategy::RoundRobin)
    };
    let fb = plan(&settings, &team(), LeadSource::Facebook, &[], at());
    assert_eq!(pool(&fb).weights, Some(vec![1, 4]), "ana 1 (absent), ben 4");
    let web = plan(&settings, &team(), LeadSource::Website, &[], at());
    assert_eq!(pool(&web).eligible, ["ana", "ben", "mia"]);
    assert_eq!(pool(&web).weights, Some(vec![2, 1, 1]));
    assert_eq!(
        explain(&web, Some("ana")),
        "weighted round robin over the whole sales team (ana weight 2, ben weight 1, mia weight 1): assigned to ana; skipped carl (inactive), dora (away)"
    );
    let unweighted = plan(
        &on(Strategy::RoundRobin),
        &team(),
        LeadSource::Website,
        &[],
        at(),
    );
    assert_eq!(
        pool(&unweighted).weights,
        None,
        "no weights: plain round robin"
    );
}

#[test]
fn weighted_balance_compares_open_leads_per_unit_of_weight() {
    let pool = ids(&["ana", "ben"]);
    let load: HashMap<String, i64> = [("ana".into(), 5), ("ben".into(), 2)].into();
    let state = PoolState {
        cursor: None,
        load: &load,
        current: None,
        daily: None,
    };
    // 5/3 < 2/1: ana, though she has more open leads.
    let choice = choose_in(Strategy::BalancedWorkload, &pool, Some(&[3, 1]), state);
    assert_eq!(choice.assignee, "ana");
    assert_eq!(
        choose(Strategy::BalancedWorkload, &pool, None, &load),
        "ben"
    );
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Weekdays 09:00-17:00 in `tz`.
fn nine_to_five(tz: &str) -> leadflow_schedule::Schedule {
    leadflow_schedule::Schedule::parse(leadflow_schedule::ScheduleInput {
        time_zone: tz.into(),
        working_hours: (1..=5)
            .map(|day| leadflow_schedule::BlockInput {
                day_of_week: day,
                start: "09:00".into(),
                end: "17:00".into(),
            })
            .collect(),
        time_off: vec![],
    })
    .unwrap()
}

/// ana in New York and ben in Berlin, both 09:00-17:00 local.
fn two_zones() -> Vec<Candidate> {
    vec![
        Candidate {
            schedule: Some(nine_to_five("America/New_York")),
            ..rep("ana")
        },
        Candidate {
            schedule: Some(nine_to_five("Europe/Berlin")),
            ..rep("ben")
        },
    ]
}

fn hours_on() -> Settings {
    Settings {
        respect_working_hours: true,
        ..on(Strategy::RoundRobin)
    }
}

fn utc(text: &str) -> chrono::DateTime<chrono::Utc> {
    text.parse().unwrap()
}

#[test]
fn with_working_hours_only_reps_on_shift_are_in_the_pool() {
    let at_13 = plan(
        &hours_on(),
        &two_zones(),
        LeadSource::Website,
        &[],
        utc("2026-01-14T13:00:00Z"),
    );
    assert_eq!(pool(&at_13).eligible, ["ben"]);
    assert!(
        pool(&at_13)
            .skipped
            .contains(&("ana".into(), SkipReason::OffShift))
    );
    let at_15 = plan(
        &hours_on(),
        &two_zones(),
        LeadSource::Website,
        &[],
        utc("2026-01-14T15:00:00Z"),
    );
    assert_eq!(pool(&at_15).eligible, ["ana", "ben"]);
    // Off, schedules are ignored: 24/7.
    let off = plan(
        &on(Strategy::RoundRobin),
        &two_zones(),
        LeadSource::Website,
        &[],
        utc("2026-01-14T03:00:00Z"),
    );
    assert_eq!(pool(&off).eligible, ["ana", "ben"]);
}

#[test]
fn with_nobody_on_shift_the_lead_is_held_until_the_first_shift_starts() {
    // Wednesday 03:00 UTC: 22:00 in New York, 04:00 in Berlin.
    let held = plan(
        &hours_on(),
        &two_zones(),
        LeadSource::Website,
        &[],
        utc("2026-01-14T03:00:00Z"),
    );
    let Plan::Held {
        pool,
        retry_at,
        skipped,
        ..
    } = &held
    else {
        panic!("expected HELD, got {held:?}");
    };
    assert_eq!(pool, &Pool::Team);
    assert_eq!(
        *retry_at,
        Some(utc("2026-01-14T08:00:00Z")),
        "09:00 in Berlin"
    );
    assert_eq!(skipped.len(), 2);
    let text = explain(&held, None);
    assert!(
        text.contains("ben off shift until 09:00 Europe/Berlin"),
        "{text}"
    );
    assert!(
        text.contains("ana off shift until 09:00 America/New_York"),
        "{text}"
    );
}

#[test]
fn an_off_shift_rule_or_rotation_holds_and_never_falls_back_but_an_inactive_one_does() {
    let mut team = two_zones();
    team.push(rep("carl")); // any time
    let settings = Settings {
        rules: vec![Rule {
            name: "us".into(),
            sources: vec![LeadSource::Facebook],
            tags: vec![],
            user_ids: vec!["ana".into()],
            strategy: None,
            weights: Weights::new(),
            sla: None,
        }],
        rotation_user_ids: vec!["ana".into(), "ben".into()],
        ..hours_on()
    };
    let night = utc("2026-01-14T03:00:00Z");
    let rule = plan(&settings, &team, LeadSource::Facebook, &[], night);
    assert!(
        matches!(&rule, Plan::Held { pool: Pool::Rule(name), .. } if name == "us"),
        "{rule:?}"
    );
    let rotation = plan(&settings, &team, LeadSource::Website, &[], night);
    assert!(
        matches!(
            &rotation,
            Plan::Held {
                pool: Pool::Rotation,
                ..
            }
        ),
        "{rotation:?}"
    );
    // An inactive rotation falls back to the whole team (carl), as without hours.
    let asleep: Vec<Candidate> = team
        .iter()
        .map(|c| Candidate {
            active: c.user_id == "carl",
            ..c.clone()
        })
        .collect();
    let fallback = plan(&settings, &asleep, LeadSource::Website, &[], night);
    assert_eq!(pool(&fallback).eligible, ["carl"]);
    assert!(pool(&fallback).fallback_used);
}

#[test]
fn a_rep_on_time_off_is_skipped_for_exactly_that_range() {
    let mut schedule = nine_to_five("Europe/Berlin");
    schedule.time_off.push(leadflow_schedule::TimeOff {
        start: utc("2026-03-10T00:00:00Z"),
        end: utc("2026-03-21T00:00:00Z"),
    });
    let team = vec![
        Candidate {
            schedule: Some(schedule),
            ..rep("ben")
        },
        rep("carl"),
    ];
    let during = plan(
        &hours_on(),
        &team,
        LeadSource::Website,
        &[],
        utc("2026-03-16T10:00:00Z"),
    );
    assert_eq!(pool(&during).eligible, ["carl"]);
    assert!(
        pool(&during)
            .skipped
            .contains(&("ben".into(), SkipReason::TimeOff))
    );
    let after = plan(
        &hours_on(),
        &team,
        LeadSource::Website,
        &[],
        utc("2026-03-23T10:00:00Z"),
    );
    assert_eq!(pool(&after).eligible, ["ben", "carl"]);
}

#[test]
fn routed_counts_restore_each_reps_own_local_today() {
    use leadflow_schedule::{Schedule, ScheduleInput};
    let berlin = Schedule::parse(ScheduleInput {
        time_zone: "Europe/Berlin".into(),
        ..Default::default()
    })
    .unwrap();
    let schedules = HashMap::from([("ben".to_owned(), berlin)]);
    let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    // 2026-03-03 00:30 Berlin is 2026-03-02 23:30 UTC.
    let now = t("2026-03-03T09:00:00Z");
    let routed = vec![
        ("ben".to_owned(), t("2026-03-02T23:30:00Z"), 2), // Berlin's today
        ("ben".to_owned(), t("2026-03-02T22:45:00Z"), 5), // Berlin's yesterday
        ("ben".to_owned(), t("2026-03-03T08:00:00Z"), 1),
        ("ana".to_owned(), t("2026-03-02T23:30:00Z"), 4), // UTC's yesterday
        ("ana".to_owned(), t("2026-03-03T00:00:00Z"), 3),
    ];
    let today = routed_today(&schedules, &routed, now);
    assert_eq!(
        today,
        vec![
            (Cap::daily_key("ana", "2026-03-03"), 3),
            (Cap::daily_key("ben", "2026-03-03"), 3),
        ]
    );
}

#[test]
fn an_sla_chain_never_goes_back_to_an_earlier_holder_and_holds_when_nobody_is_left() {
    let settings = on(Strategy::RoundRobin);
    let mut team = team();
    team[0].already_held = true; // ana held it first
    let p = plan(&settings, &team, LeadSource::Website, &[], at());
    assert_eq!(pool(&p).eligible, ["ben", "mia"]);
    assert!(
        pool(&p)
            .skipped
            .contains(&("ana".to_owned(), SkipReason::AlreadyHeld))
    );
    // ben and mia held it too: nobody eligible is left, and the pool holds
    // the lead (an SLA chain escalates then) instead of falling through.
    for rep in team
        .iter_mut()
        .filter(|c| c.user_id == "ben" || c.user_id == "mia")
    {
        rep.already_held = true;
    }
    let rotation = Settings {
        rotation_user_ids: vec!["ana".into(), "ben".into()],
        ..on(Strategy::RoundRobin)
    };
    for settings in [settings, rotation] {
        let p = plan(&settings, &team, LeadSource::Website, &[], at());
        assert!(matches!(p, Plan::Held { .. }), "{p:?}");
    }
}

#[test]
fn a_rule_takes_the_settings_sla_unless_it_has_its_own() {
    let sla = |minutes| Sla {
        accept_within_minutes: minutes,
        max_hops: 2,
        count_working_hours_only: false,
    };
    let rule = |name: &str, source, own: Option<Sla>| Rule {
        name: name.into(),
        sources: vec![source],
        tags: Vec::new(),
        user_ids: vec!["ana".into(), "ben".into()],
        strategy: None,
        weights: Weights::new(),
        sla: own,
    };
    let settings = Settings {
        sla: Some(sla(15)),
        rules: vec![
            rule("fb", LeadSource::Facebook, None),
            rule("google", LeadSource::Google, Some(sla(5))),
            rule("events", LeadSource::CsvImport, Some(sla(0))),
        ],
        ..on(Strategy::RoundRobin)
    };
    let sla_for = |source| pool(&plan(&settings, &team(), source, &[], at())).sla;
    assert_eq!(sla_for(LeadSource::Facebook), Some(sla(15)), "inherited");
    assert_eq!(sla_for(LeadSource::Google), Some(sla(5)), "its own");
    assert_eq!(sla_for(LeadSource::CsvImport), None, "0 minutes: none");
    assert_eq!(
        sla_for(LeadSource::Website),
        Some(sla(15)),
        "the default pool"
    );
}
