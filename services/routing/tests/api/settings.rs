//! Settings: versioned, audited, validated.

use leadflow_auth::Role;
use leadflow_db::OwnDatabase;
use leadflow_proto::common::v1 as common;
use leadflow_proto::routing::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_stale_expected_version_is_aborted_and_every_update_is_audited() {
    let app = spawn_routing(1, StateKind::Memory).await;
    let manager = app.token(Role::Manager);
    let update = |settings: pb::RoutingSettings, expected_version: i64| {
        req(
            pb::UpdateRoutingSettingsRequest {
                settings: Some(settings),
                expected_version,
            },
            &manager,
        )
    };
    let v1 = app
        .client(0)
        .update_routing_settings(update(round_robin(), 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((v1.version, v1.updated_by.as_str()), (1, "manager-1"));
    let v2 = app
        .client(0)
        .update_routing_settings(update(balanced(), 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v2.version, 2);
    let stale = app
        .client(0)
        .update_routing_settings(update(round_robin(), 1))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let stale_create = app
        .client(0)
        .update_routing_settings(update(round_robin(), 0))
        .await
        .unwrap_err();
    assert_eq!(stale_create.code(), Code::Aborted);

    let audit = app
        .client(0)
        .list_routing_audit(req(
            pb::ListRoutingAuditRequest {
                page_size: 1,
                page_token: String::new(),
            },
            &manager,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(audit.entries.len(), 1);
    let newest = &audit.entries[0];
    assert_eq!(newest.actor_id, "manager-1");
    assert_eq!(
        newest.before.as_ref().unwrap().strategy,
        pb::Strategy::RoundRobin as i32
    );
    assert_eq!(
        newest.after.as_ref().unwrap().strategy,
        pb::Strategy::BalancedWorkload as i32
    );
    let older = app
        .client(0)
        .list_routing_audit(req(
            pb::ListRoutingAuditRequest {
                page_size: 1,
                page_token: audit.next_page_token,
            },
            &manager,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(older.entries.len(), 1);
    assert!(
        older.entries[0].before.is_none(),
        "the first save had nothing before it"
    );
    assert!(older.next_page_token.is_empty());
}

#[tokio::test]
async fn invalid_settings_are_refused_naming_the_field() {
    let app = spawn_routing(1, StateKind::Memory).await;
    let manager = app.token(Role::Manager);
    let rule = |name: &str| pb::RoutingRule {
        name: name.into(),
        user_ids: vec!["a".into()],
        ..Default::default()
    };
    let cases = [
        (
            "settings.strategy",
            pb::RoutingSettings {
                enabled: true,
                ..Default::default()
            },
        ),
        (
            "settings.strategy",
            pb::RoutingSettings {
                enabled: true,
                strategy: 7,
                ..Default::default()
            },
        ),
        (
            "settings.rules.name",
            pb::RoutingSettings {
                rules: vec![rule("fb"), rule("fb")],
                ..round_robin()
            },
        ),
        (
            "settings.rules.sources",
            pb::RoutingSettings {
                rules: vec![pb::RoutingRule {
                    sources: vec![42],
                    ..rule("x")
                }],
                ..round_robin()
            },
        ),
        (
            "settings.rules.strategy",
            pb::RoutingSettings {
                rules: vec![pb::RoutingRule {
                    strategy: 9,
                    ..rule("x")
                }],
                ..round_robin()
            },
        ),
        (
            "settings.rules.user_ids",
            pb::RoutingSettings {
                rules: vec![pb::RoutingRule {
                    user_ids: vec![],
                    ..rule("x")
                }],
                ..round_robin()
            },
        ),
        (
            "settings.rotation_user_ids",
            pb::RoutingSettings {
                rotation_user_ids: vec!["a b".into()],
                ..round_robin()
            },
        ),
    ];
    for (field, settings) in cases {
        let err = app
            .client(0)
            .update_routing_settings(req(
                pb::UpdateRoutingSettingsRequest {
                    settings: Some(settings),
                    expected_version: 0,
                },
                &manager,
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        assert!(
            err.message().starts_with(field),
            "{field}: {}",
            err.message()
        );
    }
    let saved = app
        .client(0)
        .get_routing_settings(req(pb::GetRoutingSettingsRequest {}, &manager))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(saved.version, 0, "nothing was saved");
}

#[tokio::test]
async fn settings_and_their_audit_work_on_sqlite_too() {
    use leadflow_routing::domain::settings::{Settings, Strategy};
    use leadflow_routing::store::SettingsStore;

    let store = SettingsStore::connect("sqlite::memory:", 1).await.unwrap();
    store.migrate().await.unwrap();
    let on = Settings {
        enabled: true,
        strategy: Some(Strategy::RoundRobin),
        ..Settings::default()
    };
    let saved = store.update("org", "mia", &on, 0).await.unwrap();
    assert_eq!(saved.version, 1);
    assert!(matches!(
        store.update("org", "mia", &on, 0).await,
        Err(leadflow_routing::error::RoutingError::Aborted(_))
    ));
    store
        .update("org", "mia", &Settings::default(), 1)
        .await
        .unwrap();
    assert_eq!(store.get("org").await.unwrap().version, 2);
    let audit = store.audit("org", None, 10).await.unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].before.as_ref().unwrap().settings, on);
}

#[tokio::test]
async fn sla_and_sticky_policies_are_saved_and_name_the_deciding_pools_sla() {
    let app = spawn_routing(1, StateKind::Memory).await;
    let sla = |minutes, hops| pb::SlaPolicy {
        accept_within_minutes: minutes,
        max_hops: hops,
        count_working_hours_only: true,
    };
    let settings = pb::RoutingSettings {
        sla: Some(sla(15, 2)),
        sticky: Some(pb::StickyPolicy {
            match_email: true,
            match_domain: false,
            lookback_days: 90,
        }),
        rules: vec![pb::RoutingRule {
            name: "ads".into(),
            sources: vec![common::LeadSource::Google as i32],
            user_ids: vec!["ana".into(), "ben".into()],
            sla: Some(sla(5, 0)),
            ..Default::default()
        }],
        ..round_robin()
    };
    let saved = app.set(settings).await;
    assert_eq!(saved.sla, Some(sla(15, 2)));
    assert_eq!(saved.rules[0].sla, Some(sla(5, 0)));
    assert_eq!(
        saved.sticky.map(|s| (s.match_email, s.lookback_days)),
        Some((true, 90))
    );
    let team = [rep("ana"), rep("ben")];
    let web = app
        .route(&lead_id(), common::LeadSource::Website, &team)
        .await;
    assert_eq!(web.sla, Some(sla(15, 2)), "the default pool's SLA");
    let ads = app
        .route(&lead_id(), common::LeadSource::Google, &team)
        .await;
    assert_eq!(ads.sla, Some(sla(5, 0)), "the rule's own SLA");

    // An SLA chain's earlier holders are skipped; with nobody left, held.
    let mut again = route_request(&lead_id(), common::LeadSource::Google, &team);
    again.exclude_user_ids = vec!["ana".into()];
    let next = app
        .client(0)
        .route_lead(req(again.clone(), &app.token(Role::Service)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.assignee_id, "ben");
    assert!(
        next.skipped
            .iter()
            .any(|s| s.user_id == "ana" && s.reason == pb::SkipReason::AlreadyHeld as i32)
    );
    again.lead_id = lead_id();
    again.exclude_user_ids = vec!["ana".into(), "ben".into()];
    let nobody = app
        .client(0)
        .route_lead(req(again, &app.token(Role::Service)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(nobody.reason, pb::DecisionReason::Held as i32, "{nobody:?}");
    assert_eq!(nobody.assignee_id, "");

    // Bad policies name their field, and nothing is saved.
    let manager = app.token(Role::Manager);
    let cases = [
        (
            "settings.sla.accept_within_minutes",
            pb::RoutingSettings {
                sla: Some(sla(-1, 2)),
                ..round_robin()
            },
        ),
        (
            "settings.sla.max_hops",
            pb::RoutingSettings {
                sla: Some(sla(15, 11)),
                ..round_robin()
            },
        ),
        (
            "settings.rules.sla.max_hops",
            pb::RoutingSettings {
                rules: vec![pb::RoutingRule {
                    name: "x".into(),
                    user_ids: vec!["a".into()],
                    sla: Some(sla(15, 99)),
                    ..Default::default()
                }],
                ..round_robin()
            },
        ),
        (
            "settings.sticky.lookback_days",
            pb::RoutingSettings {
                sticky: Some(pb::StickyPolicy {
                    match_email: true,
                    match_domain: true,
                    lookback_days: 3_651,
                }),
                ..round_robin()
            },
        ),
    ];
    for (field, settings) in cases {
        let err = app
            .client(0)
            .update_routing_settings(req(
                pb::UpdateRoutingSettingsRequest {
                    settings: Some(settings),
                    expected_version: saved.version,
                },
                &manager,
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        assert!(
            err.message().starts_with(field),
            "{field}: {}",
            err.message()
        );
    }
}
