//! The guide's rules, each as its own test, through RouteLead.

use leadflow_auth::Role;
use leadflow_proto::common::v1 as common;
use leadflow_proto::routing::v1 as pb;

use crate::helpers::*;

fn team() -> Vec<pb::Candidate> {
    vec![
        rep("ana"),
        rep("ben"),
        pb::Candidate {
            active: false,
            ..rep("carl")
        },
        pb::Candidate {
            available: false,
            ..rep("dora")
        },
        pb::Candidate {
            role: common::Role::Accounting as i32,
            ..rep("eve")
        },
    ]
}

async fn app() -> RoutingApp {
    spawn_routing(1, StateKind::shared_redis()).await
}

fn skipped(d: &pb::RouteDecision) -> Vec<(String, i32)> {
    d.skipped
        .iter()
        .map(|s| (s.user_id.clone(), s.reason))
        .collect()
}

#[tokio::test]
async fn with_routing_off_a_lead_stays_unassigned() {
    let app = app().await;
    let d = app
        .route(&lead_id(), common::LeadSource::Website, &team())
        .await;
    assert_eq!(d.reason, pb::DecisionReason::RoutingOff as i32);
    assert_eq!(d.assignee_id, "");
}

#[tokio::test]
async fn inactive_picks_are_skipped() {
    let app = app().await;
    app.set(pb::RoutingSettings {
        rotation_user_ids: vec!["carl".into(), "ben".into()],
        ..round_robin()
    })
    .await;
    for _ in 0..3 {
        let d = app
            .route(&lead_id(), common::LeadSource::Website, &team())
            .await;
        assert_eq!(d.assignee_id, "ben");
        assert_eq!(
            skipped(&d),
            [("carl".into(), pb::SkipReason::Inactive as i32)]
        );
        assert!(!d.fallback_used);
    }
}

#[tokio::test]
async fn when_every_pick_is_inactive_routing_falls_back_to_the_whole_active_team() {
    let app = app().await;
    app.set(pb::RoutingSettings {
        rotation_user_ids: vec!["carl".into(), "dora".into()],
        ..round_robin()
    })
    .await;
    let d = app
        .route(&lead_id(), common::LeadSource::Website, &team())
        .await;
    assert!(d.fallback_used);
    assert!(["ana", "ben"].contains(&d.assignee_id.as_str()));
    assert!(d.explanation.contains("fallback"), "{}", d.explanation);
}

#[tokio::test]
async fn no_picks_means_the_whole_sales_capable_team_and_accounting_never_gets_a_lead() {
    let app = app().await;
    app.set(round_robin()).await;
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(
            app.route(&lead_id(), common::LeadSource::Website, &team())
                .await
                .assignee_id,
        );
    }
    assert_eq!(got, ["ana", "ben", "ana", "ben"]);
}

#[tokio::test]
async fn source_rules_send_facebook_leads_to_a_and_google_leads_to_b() {
    let app = app().await;
    let rule = |name: &str, source: common::LeadSource, who: &str| pb::RoutingRule {
        name: name.into(),
        sources: vec![source as i32],
        user_ids: vec![who.into()],
        ..Default::default()
    };
    app.set(pb::RoutingSettings {
        rules: vec![
            rule("facebook", common::LeadSource::Facebook, "ana"),
            rule("google", common::LeadSource::Google, "ben"),
        ],
        ..round_robin()
    })
    .await;
    for _ in 0..3 {
        let fb = app
            .route(&lead_id(), common::LeadSource::Facebook, &team())
            .await;
        assert_eq!(
            (fb.assignee_id.as_str(), fb.rule.as_str()),
            ("ana", "facebook")
        );
        let g = app
            .route(&lead_id(), common::LeadSource::Google, &team())
            .await;
        assert_eq!((g.assignee_id.as_str(), g.rule.as_str()), ("ben", "google"));
    }
    let web = app
        .route(&lead_id(), common::LeadSource::Website, &team())
        .await;
    assert_eq!(web.rule, "default");
}

#[tokio::test]
async fn nobody_eligible_is_no_candidates() {
    let app = app().await;
    app.set(round_robin()).await;
    let d = app
        .route(&lead_id(), common::LeadSource::Website, &team()[2..])
        .await;
    assert_eq!(d.reason, pb::DecisionReason::NoCandidates as i32);
    assert_eq!(d.assignee_id, "");
}

#[tokio::test]
async fn a_retried_route_lead_returns_the_same_decision() {
    let app = app().await;
    app.set(round_robin()).await;
    let id = lead_id();
    let first = app.route(&id, common::LeadSource::Website, &team()).await;
    let again = app.route(&id, common::LeadSource::Website, &team()).await;
    assert_eq!(first.assignee_id, again.assignee_id);
    let next = app
        .route(&lead_id(), common::LeadSource::Website, &team())
        .await;
    assert_ne!(
        next.assignee_id, first.assignee_id,
        "the retry did not move the cursor"
    );
    assert!(!first.state_generation.is_empty());
}

#[tokio::test]
async fn simulate_uses_the_same_logic_and_leaves_cursors_and_counts_untouched() {
    let app = app().await;
    app.set(round_robin()).await;
    app.route(&lead_id(), common::LeadSource::Website, &team())
        .await; // ana
    let manager = app.token(Role::Manager);
    let workload_before = app
        .client(0)
        .get_workload(req(pb::GetWorkloadRequest {}, &manager))
        .await
        .unwrap()
        .into_inner();
    let simulated = app
        .client(0)
        .simulate_routing(req(
            pb::SimulateRoutingRequest {
                settings: None,
                leads: vec![
                    pb::SimulatedLead {
                        source: common::LeadSource::Website as i32,
                        tags: vec![]
                    };
                    3
                ],
                candidates: team(),
                at: None,
            },
            &manager,
        ))
        .await
        .unwrap()
        .into_inner()
        .decisions;
    let names: Vec<&str> = simulated.iter().map(|d| d.assignee_id.as_str()).collect();
    assert_eq!(
        names,
        ["ben", "ana", "ben"],
        "continues from the live cursor"
    );
    let workload_after = app
        .client(0)
        .get_workload(req(pb::GetWorkloadRequest {}, &manager))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(workload_before, workload_after);
    let real = app
        .route(&lead_id(), common::LeadSource::Website, &team())
        .await;
    assert_eq!(real.assignee_id, "ben", "the real cursor did not move");

    // A draft can be tried without saving it.
    let draft = pb::RoutingSettings {
        rotation_user_ids: vec!["ana".into()],
        ..round_robin()
    };
    let tried = app
        .client(0)
        .simulate_routing(req(
            pb::SimulateRoutingRequest {
                settings: Some(draft),
                leads: vec![pb::SimulatedLead {
                    source: common::LeadSource::Website as i32,
                    tags: vec![],
                }],
                candidates: team(),
                at: None,
            },
            &manager,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tried.decisions[0].assignee_id, "ana");
    let saved = app
        .client(0)
        .get_routing_settings(req(pb::GetRoutingSettingsRequest {}, &manager))
        .await
        .unwrap()
        .into_inner();
    assert!(
        saved.rotation_user_ids.is_empty(),
        "the draft was not saved"
    );
}
