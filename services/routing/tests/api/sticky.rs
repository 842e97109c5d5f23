//! Sticky ownership through RouteLead: a preferred owner the settings allow
//! gets the lead without moving the rotation, is passed over (and named)
//! when at a cap, is replayed on a retried question without being counted
//! twice, is ignored with sticky ownership off, and bad preferred owners are
//! refused naming their field. On Redis and in memory alike.

use leadflow_auth::Role;
use leadflow_proto::common::v1 as common;
use leadflow_proto::routing::v1 as pb;

use crate::caps::limit;
use crate::helpers::*;

fn sticky_email() -> Option<pb::StickyPolicy> {
    Some(pb::StickyPolicy {
        match_email: true,
        match_domain: false,
        lookback_days: 30,
    })
}

fn preferred(user: &str, days_ago: i64) -> pb::PreferredOwner {
    let created = chrono::Utc::now() - chrono::Duration::days(days_ago);
    pb::PreferredOwner {
        user_id: user.into(),
        r#match: pb::ContactMatch::SameEmail as i32,
        lead_id: lead_id(),
        lead_created_at: Some(prost_types::Timestamp {
            seconds: created.timestamp(),
            nanos: 0,
        }),
    }
}

async fn route(app: &RoutingApp, lead: &str, owners: Vec<pb::PreferredOwner>) -> pb::RouteDecision {
    let team = [rep("ana"), rep("ben"), rep("cara")];
    let mut request = route_request(lead, common::LeadSource::Website, &team);
    request.preferred_owners = owners;
    app.client(0)
        .route_lead(req(request, &app.token(Role::Service)))
        .await
        .unwrap_or_else(|s| panic!("route: {s:?}"))
        .into_inner()
}

#[tokio::test]
async fn a_preferred_owner_gets_the_lead_without_moving_the_rotation_and_is_passed_over_at_a_cap() {
    for kind in [StateKind::shared_redis(), StateKind::Memory] {
        let app = spawn_routing(1, kind).await;
        app.set(pb::RoutingSettings {
            rotation_user_ids: vec!["ana".into(), "ben".into(), "cara".into()],
            sticky: sticky_email(),
            default_limit: Some(limit(2, 0)),
            ..round_robin()
        })
        .await;
        assert_eq!(route(&app, &lead_id(), vec![]).await.assignee_id, "ana");
        // Cara's returning contact: hers, and the rotation stays put.
        let returning = lead_id();
        let d = route(&app, &returning, vec![preferred("cara", 1)]).await;
        assert_eq!(d.assignee_id, "cara");
        assert!(d.preferred_owner_used);
        assert!(
            d.explanation
                .starts_with("returning contact: cara owns open lead"),
            "{}",
            d.explanation
        );
        assert_eq!(route(&app, &lead_id(), vec![]).await.assignee_id, "ben");
        // Asked again (a retry): the same answer, counted once.
        let again = route(&app, &returning, vec![preferred("cara", 1)]).await;
        assert_eq!(again.assignee_id, "cara");
        let workload = app
            .client(0)
            .get_workload(req(pb::GetWorkloadRequest {}, &app.token(Role::Owner)))
            .await
            .unwrap()
            .into_inner()
            .members;
        let cara = workload
            .iter()
            .find(|m| m.user_id == "cara")
            .map(|m| m.open_leads);
        assert_eq!(cara, Some(1), "{workload:?}");
        // Cara takes one more from the rotation: now at her cap of 2.
        assert_eq!(route(&app, &lead_id(), vec![]).await.assignee_id, "cara");
        let d = route(&app, &lead_id(), vec![preferred("cara", 1)]).await;
        assert_eq!(
            d.assignee_id, "ana",
            "the rotation decides: {}",
            d.explanation
        );
        assert!(!d.preferred_owner_used);
        assert!(
            d.explanation
                .contains("but cara is at their cap: 2 of 2 open leads"),
            "{}",
            d.explanation
        );
        // Older than lookback_days: no match at all.
        let d = route(&app, &lead_id(), vec![preferred("ben", 31)]).await;
        assert!(!d.preferred_owner_used && !d.explanation.contains("returning contact"));
    }
}

#[tokio::test]
async fn preferred_owners_are_ignored_with_sticky_off_and_bad_ones_name_their_field() {
    let app = spawn_routing(1, StateKind::Memory).await;
    app.set(round_robin()).await;
    let d = route(&app, &lead_id(), vec![preferred("cara", 1)]).await;
    assert!(!d.preferred_owner_used, "sticky ownership is off");
    let team = [rep("ana")];
    let bad = |owners: Vec<pb::PreferredOwner>| {
        let mut request = route_request(&lead_id(), common::LeadSource::Website, &team);
        request.preferred_owners = owners;
        request
    };
    let unspecified = pb::PreferredOwner {
        r#match: 0,
        ..preferred("ana", 1)
    };
    let timeless = pb::PreferredOwner {
        lead_created_at: None,
        ..preferred("ana", 1)
    };
    for (request, field) in [
        (bad(vec![unspecified]), "preferred_owners.match"),
        (bad(vec![timeless]), "preferred_owners.lead_created_at"),
        (
            bad((0..11).map(|_| preferred("ana", 1)).collect()),
            "preferred_owners",
        ),
    ] {
        let err = app
            .client(0)
            .route_lead(req(request, &app.token(Role::Service)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains(field), "{}", err.message());
    }
}
