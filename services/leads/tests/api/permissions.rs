//! The permission matrix: every TeamService and LeadService rpc × every role,
//! checked against the table in API.md.

use leadflow_auth::Role;
use leadflow_proto::leads::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The call succeeds.
    Allow,
    /// PERMISSION_DENIED: the role may not do this.
    Deny,
    /// NOT_FOUND: the role may not even see the lead.
    Hidden,
}
use Expect::*;

const ROLES: [Role; 7] = Role::ALL;

/// Columns follow `Role::ALL`: owner, admin, manager, sales, accounting, integration, service.
const MATRIX: &[(&str, [Expect; 7])] = &[
    (
        "UpsertMember",
        [Allow, Allow, Deny, Deny, Deny, Allow, Deny],
    ),
    (
        "ListMembers",
        [Allow, Allow, Allow, Allow, Allow, Allow, Deny],
    ),
    (
        "SetAvailability(other member)",
        [Allow, Allow, Allow, Deny, Deny, Deny, Deny],
    ),
    (
        "CreateLead",
        [Allow, Allow, Allow, Allow, Deny, Allow, Deny],
    ),
    (
        "BatchCreateLeads",
        [Allow, Allow, Allow, Deny, Deny, Allow, Deny],
    ),
    (
        "GetLead(unassigned)",
        [Allow, Allow, Allow, Allow, Allow, Deny, Deny],
    ),
    ("ListLeads", [Allow, Allow, Allow, Allow, Allow, Deny, Deny]),
    (
        "UpdateLeadStatus(someone else's lead)",
        [Allow, Allow, Allow, Hidden, Deny, Deny, Deny],
    ),
    (
        "ClaimLead(unassigned)",
        [Allow, Allow, Allow, Allow, Deny, Deny, Deny],
    ),
    (
        "UnassignLead(someone else's lead)",
        [Allow, Allow, Allow, Hidden, Deny, Deny, Deny],
    ),
    ("AssignLeads", [Allow, Allow, Allow, Deny, Deny, Deny, Deny]),
    (
        "AcceptLead(someone else's lead)",
        [Deny, Deny, Deny, Hidden, Deny, Deny, Deny],
    ),
    (
        "GetLeadHistory(unassigned)",
        [Allow, Allow, Allow, Allow, Allow, Deny, Deny],
    ),
];

fn user_for(role: Role) -> &'static str {
    match role {
        Role::Owner => OWNER,
        Role::Admin => "admin-1",
        Role::Manager => "manager-1",
        Role::Sales => "sales-1",
        Role::Accounting => "acct-1",
        Role::Integration => "website-forms",
        Role::Service => "leads-service",
    }
}

/// A lead owned by rep-x (not the caller).
async fn owned_lead(app: &TestApp) -> pb::Lead {
    let mut body = new_lead("Owned");
    body.owner_id = "rep-x".into();
    app.lead_with(body, &app.owner()).await
}

async fn call(app: &TestApp, rpc: &str, role: Role) -> Result<(), tonic::Status> {
    let token = app.token(user_for(role), role);
    let (mut leads, mut team) = (app.leads(), app.team());
    match rpc {
        "UpsertMember" => team
            .upsert_member(req(
                pb::UpsertMemberRequest {
                    user_id: format!("new-{}", role.as_str()),
                    display_name: "New Rep".into(),
                    email: String::new(),
                    role: role_pb(Role::Sales) as i32,
                    active: None,
                },
                &token,
            ))
            .await
            .map(drop),
        "ListMembers" => team
            .list_members(req(pb::ListMembersRequest::default(), &token))
            .await
            .map(drop),
        "SetAvailability(other member)" => team
            .set_availability(req(
                pb::SetAvailabilityRequest {
                    user_id: "rep-x".into(),
                    available: false,
                },
                &token,
            ))
            .await
            .map(drop),
        "CreateLead" => leads
            .create_lead(req(new_lead("New"), &token))
            .await
            .map(drop),
        "BatchCreateLeads" => leads
            .batch_create_leads(req(
                pb::BatchCreateLeadsRequest {
                    requests: vec![new_lead("A"), new_lead("B")],
                    route: false,
                },
                &token,
            ))
            .await
            .map(drop),
        "GetLead(unassigned)" => {
            let lead = app.lead("Free").await;
            leads
                .get_lead(req(pb::GetLeadRequest { id: lead.id }, &token))
                .await
                .map(drop)
        }
        "ListLeads" => leads
            .list_leads(req(pb::ListLeadsRequest::default(), &token))
            .await
            .map(drop),
        "UpdateLeadStatus(someone else's lead)" => {
            let lead = owned_lead(app).await;
            leads
                .update_lead_status(req(
                    pb::UpdateLeadStatusRequest {
                        id: lead.id,
                        status: pb::LeadStatus::Contacted as i32,
                    },
                    &token,
                ))
                .await
                .map(drop)
        }
        "ClaimLead(unassigned)" => {
            let lead = app.lead("Free").await;
            leads
                .claim_lead(req(pb::ClaimLeadRequest { id: lead.id }, &token))
                .await
                .map(drop)
        }
        "UnassignLead(someone else's lead)" => {
            let lead = owned_lead(app).await;
            leads
                .unassign_lead(req(pb::UnassignLeadRequest { id: lead.id }, &token))
                .await
                .map(drop)
        }
        "AssignLeads" => {
            let lead = app.lead("Free").await;
            leads
                .assign_leads(req(
                    pb::AssignLeadsRequest {
                        lead_ids: vec![lead.id],
                        assignee_id: "rep-x".into(),
                        ..Default::default()
                    },
                    &token,
                ))
                .await
                .map(drop)
        }
        "AcceptLead(someone else's lead)" => {
            let lead = owned_lead(app).await;
            leads
                .accept_lead(req(pb::AcceptLeadRequest { id: lead.id }, &token))
                .await
                .map(drop)
        }
        "GetLeadHistory(unassigned)" => {
            let lead = app.lead("Free").await;
            leads
                .get_lead_history(req(pb::GetLeadHistoryRequest { id: lead.id }, &token))
                .await
                .map(drop)
        }
        other => panic!("no call for {other}"),
    }
}

#[tokio::test]
async fn every_rpc_times_every_role_matches_the_api_table() {
    let app = spawn_app().await;
    for role in [Role::Admin, Role::Manager, Role::Sales, Role::Accounting] {
        app.add_member(user_for(role), role).await;
    }
    app.add_member("rep-x", Role::Sales).await;

    let mut mismatches = Vec::new();
    for (rpc, row) in MATRIX {
        for (role, expect) in ROLES.iter().zip(row) {
            let result = call(&app, rpc, *role).await;
            let want = match expect {
                Allow => Code::Ok,
                Deny => Code::PermissionDenied,
                Hidden => Code::NotFound,
            };
            if code(&result) != want {
                mismatches.push(format!("{rpc} as {role}: want {want:?}, got {result:?}"));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "permission mismatches:\n{}",
        mismatches.join("\n")
    );
}

#[tokio::test]
async fn sales_may_change_the_status_of_their_own_lead_and_their_own_availability() {
    let app = spawn_app().await;
    app.add_member("ana", Role::Sales).await;
    let ana = app.token("ana", Role::Sales);
    let mut body = new_lead("Mine");
    body.owner_id = "ana".into();
    let lead = app.lead_with(body, &ana).await;
    let updated = app
        .leads()
        .update_lead_status(req(
            pb::UpdateLeadStatusRequest {
                id: lead.id.clone(),
                status: pb::LeadStatus::Qualified as i32,
            },
            &ana,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.status, pb::LeadStatus::Qualified as i32);

    // An unassigned lead is visible to sales, but its status is not theirs to change.
    let free = app.lead("Free").await;
    let err = app
        .leads()
        .update_lead_status(req(
            pb::UpdateLeadStatusRequest {
                id: free.id,
                status: pb::LeadStatus::Lost as i32,
            },
            &ana,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    let me = app
        .team()
        .set_availability(req(
            pb::SetAvailabilityRequest {
                user_id: "ana".into(),
                available: false,
            },
            &ana,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!me.available);
}

#[tokio::test]
async fn only_the_owner_accepts_a_lead_whatever_their_role_and_bad_ids_name_the_field() {
    let app = spawn_app().await;
    for role in [Role::Admin, Role::Manager, Role::Sales] {
        app.add_member(user_for(role), role).await;
    }
    for role in [Role::Owner, Role::Admin, Role::Manager, Role::Sales] {
        let user = user_for(role);
        let mut body = new_lead("Mine");
        body.owner_id = user.into();
        let lead = app.lead_with(body, &app.owner()).await;
        let accepted = app
            .leads()
            .accept_lead(req(
                pb::AcceptLeadRequest {
                    id: lead.id.clone(),
                },
                &app.token(user, role),
            ))
            .await
            .unwrap_or_else(|s| panic!("{role} accepts their own lead: {s:?}"))
            .into_inner();
        assert!(accepted.accepted_at.is_some(), "{role}");
        let history = app
            .leads()
            .get_lead_history(req(pb::GetLeadHistoryRequest { id: lead.id }, &app.owner()))
            .await
            .unwrap()
            .into_inner()
            .events;
        let accepts: Vec<_> = history
            .iter()
            .filter(|e| e.kind == pb::LeadEventKind::Accepted as i32)
            .collect();
        assert_eq!(accepts.len(), 1, "{role}");
        assert_eq!(accepts[0].actor_id, user);
    }
    // An unassigned lead is nobody's to accept.
    let free = app.lead("Free").await;
    let sales = app.token(user_for(Role::Sales), Role::Sales);
    let err = app
        .leads()
        .accept_lead(req(pb::AcceptLeadRequest { id: free.id }, &sales))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // Another organisation's lead does not exist for the caller.
    let mut body = new_lead("Theirs");
    body.owner_id = OWNER.into();
    let theirs = app.lead_with(body, &app.owner()).await;
    let other_org = app.auth.token(OWNER, "org-elsewhere", Role::Owner);
    let err = app
        .leads()
        .accept_lead(req(pb::AcceptLeadRequest { id: theirs.id }, &other_org))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    for bad in ["", "not-a-lead-id"] {
        let err = app
            .leads()
            .accept_lead(req(pb::AcceptLeadRequest { id: bad.into() }, &sales))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{bad:?}");
        assert!(err.message().contains("id"), "{}", err.message());
    }
}
