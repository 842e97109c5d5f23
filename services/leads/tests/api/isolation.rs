//! Organisations never see each other: another org's lead is NOT_FOUND.

use leadflow_auth::Role;
use leadflow_proto::leads::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn org_b_cannot_read_list_claim_or_assign_org_a_leads() {
    let app = spawn_app().await;
    app.add_member("ana", Role::Sales).await;
    let lead = app.lead("Org A's lead").await;

    let org_b = "org-b";
    app.add_member_in(org_b, OWNER, Role::Owner).await;
    app.add_member_in(org_b, "zed", Role::Sales).await;
    let b_owner = app.auth.token(OWNER, org_b, Role::Owner);
    let b_sales = app.auth.token("zed", org_b, Role::Sales);
    let id = lead.id.clone();
    let mut leads = app.leads();

    let read = leads
        .get_lead(req(pb::GetLeadRequest { id: id.clone() }, &b_owner))
        .await;
    assert_eq!(code(&read), Code::NotFound);
    let history = leads
        .get_lead_history(req(pb::GetLeadHistoryRequest { id: id.clone() }, &b_owner))
        .await;
    assert_eq!(code(&history), Code::NotFound);
    let listed = leads
        .list_leads(req(pb::ListLeadsRequest::default(), &b_owner))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.leads.is_empty());
    assert_eq!(listed.total_size, 0);
    let claim = leads
        .claim_lead(req(pb::ClaimLeadRequest { id: id.clone() }, &b_sales))
        .await;
    assert_eq!(code(&claim), Code::NotFound);
    let status = leads
        .update_lead_status(req(
            pb::UpdateLeadStatusRequest {
                id: id.clone(),
                status: pb::LeadStatus::Won as i32,
            },
            &b_owner,
        ))
        .await;
    assert_eq!(code(&status), Code::NotFound);
    let unassign = leads
        .unassign_lead(req(pb::UnassignLeadRequest { id: id.clone() }, &b_owner))
        .await;
    assert_eq!(code(&unassign), Code::NotFound);

    // Assign by id: reported as not found, nothing changes.
    let by_id = leads
        .assign_leads(req(
            pb::AssignLeadsRequest {
                lead_ids: vec![id.clone()],
                assignee_id: "zed".into(),
                ..Default::default()
            },
            &b_owner,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_id.assigned, 0);
    assert_eq!(
        by_id.skipped[0].reason,
        pb::AssignSkipReason::LeadNotFound as i32
    );
    // Assign by an empty filter: matches only org B's (zero) leads.
    let by_filter = leads
        .assign_leads(req(
            pb::AssignLeadsRequest {
                filter: Some(pb::LeadFilter::default()),
                assignee_id: "zed".into(),
                ..Default::default()
            },
            &b_owner,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_filter.assigned, 0);
    // Org B cannot hand org A's lead to org A's rep either: ana is not B's member.
    let cross = leads
        .assign_leads(req(
            pb::AssignLeadsRequest {
                lead_ids: vec![id.clone()],
                assignee_id: "ana".into(),
                ..Default::default()
            },
            &b_owner,
        ))
        .await;
    assert_eq!(code(&cross), Code::FailedPrecondition);

    let untouched = app.store.lead(&app.org, &id).await.unwrap().unwrap();
    assert_eq!(untouched.owner_id, None);
    assert_eq!(untouched.version, lead.version);
    let members = app
        .team()
        .list_members(req(pb::ListMembersRequest::default(), &b_owner))
        .await
        .unwrap()
        .into_inner()
        .members;
    let ids: Vec<&str> = members.iter().map(|m| m.user_id.as_str()).collect();
    assert_eq!(ids, [OWNER, "zed"], "org B sees only its own team");
}
