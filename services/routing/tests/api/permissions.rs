//! The permission matrix: every RoutingService rpc × every role.

use leadflow_auth::Role;
use leadflow_proto::common::v1 as common;
use leadflow_proto::routing::v1 as pb;
use tonic::Code;

use crate::helpers::*;

/// Columns follow `Role::ALL`: owner, admin, manager, sales, accounting, integration, service.
const MATRIX: &[(&str, [bool; 7])] = &[
    (
        "GetRoutingSettings",
        [true, true, true, true, true, true, true],
    ),
    (
        "UpdateRoutingSettings",
        [true, true, true, false, false, false, false],
    ),
    (
        "ListRoutingAudit",
        [true, true, true, false, false, false, false],
    ),
    (
        "RouteLead",
        [false, false, false, false, false, false, true],
    ),
    (
        "SimulateRouting",
        [true, true, true, false, false, false, false],
    ),
    (
        "ApplyOwnershipChanges",
        [false, false, false, false, false, false, true],
    ),
    (
        "GetWorkload",
        [true, true, true, false, false, false, false],
    ),
    (
        "ReconcileWorkload",
        [false, false, false, false, false, false, true],
    ),
];

async fn call(app: &RoutingApp, rpc: &str, role: Role) -> Result<(), tonic::Status> {
    let token = app.token(role);
    let mut c = app.client(0);
    let fact = || pb::OwnershipChange {
        lead_id: lead_id(),
        owner_id: "a".into(),
        open: true,
        version: 1,
    };
    match rpc {
        "GetRoutingSettings" => c
            .get_routing_settings(req(pb::GetRoutingSettingsRequest {}, &token))
            .await
            .map(drop),
        "UpdateRoutingSettings" => {
            let current = c
                .get_routing_settings(req(pb::GetRoutingSettingsRequest {}, &token))
                .await?
                .into_inner();
            c.update_routing_settings(req(
                pb::UpdateRoutingSettingsRequest {
                    settings: Some(round_robin()),
                    expected_version: current.version,
                },
                &token,
            ))
            .await
            .map(drop)
        }
        "ListRoutingAudit" => c
            .list_routing_audit(req(pb::ListRoutingAuditRequest::default(), &token))
            .await
            .map(drop),
        "RouteLead" => c
            .route_lead(req(
                route_request(&lead_id(), common::LeadSource::Team, &[rep("a")]),
                &token,
            ))
            .await
            .map(drop),
        "SimulateRouting" => c
            .simulate_routing(req(
                pb::SimulateRoutingRequest {
                    settings: Some(round_robin()),
                    leads: vec![pb::SimulatedLead {
                        source: common::LeadSource::Team as i32,
                        tags: vec![],
                    }],
                    candidates: vec![rep("a")],
                    at: None,
                },
                &token,
            ))
            .await
            .map(drop),
        "ApplyOwnershipChanges" => c
            .apply_ownership_changes(req(
                pb::ApplyOwnershipChangesRequest {
                    changes: vec![fact()],
                },
                &token,
            ))
            .await
            .map(drop),
        "GetWorkload" => c
            .get_workload(req(pb::GetWorkloadRequest {}, &token))
            .await
            .map(drop),
        "ReconcileWorkload" => c
            .reconcile_workload(req(
                pb::ReconcileWorkloadRequest {
                    leads: vec![fact()],
                    ..Default::default()
                },
                &token,
            ))
            .await
            .map(drop),
        other => panic!("no call for {other}"),
    }
}

#[tokio::test]
async fn every_rpc_times_every_role_matches_the_api_table() {
    let app = spawn_routing(1, StateKind::Memory).await;
    let mut mismatches = Vec::new();
    for (rpc, row) in MATRIX {
        for (role, allowed) in Role::ALL.iter().zip(row) {
            let result = call(&app, rpc, *role).await;
            let want = if *allowed {
                Code::Ok
            } else {
                Code::PermissionDenied
            };
            if code(&result) != want {
                mismatches.push(format!("{rpc} as {role}: want {want:?}, got {result:?}"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[tokio::test]
async fn organisations_never_share_settings_or_workload() {
    let app = spawn_routing(1, StateKind::shared_redis()).await;
    app.set(round_robin()).await;
    app.route(&lead_id(), common::LeadSource::Website, &[rep("a")])
        .await;
    let other = format!("{}-other", app.org);
    let manager_b = app.token_in(&other, Role::Manager);
    let settings = app
        .client(0)
        .get_routing_settings(req(pb::GetRoutingSettingsRequest {}, &manager_b))
        .await
        .unwrap()
        .into_inner();
    assert!(!settings.enabled && settings.version == 0);
    let workload = app
        .client(0)
        .get_workload(req(pb::GetWorkloadRequest {}, &manager_b))
        .await
        .unwrap()
        .into_inner();
    assert!(workload.members.is_empty());
}
