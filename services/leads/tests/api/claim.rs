//! ClaimLead: sales take unassigned leads; races have exactly one winner.

use std::sync::Arc;

use leadflow_auth::Role;
use leadflow_proto::leads::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_sales_rep_claims_an_unassigned_lead_and_it_is_in_the_history() {
    let app = spawn_app().await;
    app.add_member("ana", Role::Sales).await;
    let lead = app.lead("Jane Doe").await;
    let claimed = app
        .leads()
        .claim_lead(req(
            pb::ClaimLeadRequest {
                id: lead.id.clone(),
            },
            &app.token("ana", Role::Sales),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(claimed.owner_id, "ana");
    assert_eq!(
        claimed.assignment_method,
        pb::AssignmentMethod::Claim as i32
    );
    assert_eq!(claimed.version, lead.version + 1);

    let history = app
        .leads()
        .get_lead_history(req(pb::GetLeadHistoryRequest { id: lead.id }, &app.owner()))
        .await
        .unwrap()
        .into_inner()
        .events;
    let kinds: Vec<i32> = history.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            pb::LeadEventKind::Created as i32,
            pb::LeadEventKind::Claimed as i32
        ]
    );
    assert_eq!(history[1].actor_id, "ana");
    assert_eq!(history[1].to_owner_id, "ana");
}

#[tokio::test]
async fn sales_cannot_claim_a_lead_owned_by_someone_else() {
    let app = spawn_app().await;
    app.add_member("ana", Role::Sales).await;
    app.add_member("ben", Role::Sales).await;
    let lead = app.lead("Jane Doe").await;
    app.leads()
        .claim_lead(req(
            pb::ClaimLeadRequest {
                id: lead.id.clone(),
            },
            &app.token("ana", Role::Sales),
        ))
        .await
        .unwrap();
    let err = app
        .leads()
        .claim_lead(req(
            pb::ClaimLeadRequest { id: lead.id },
            &app.token("ben", Role::Sales),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message()
            .contains("ask an owner or manager to reassign"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn fifty_simultaneous_claims_of_one_lead_have_exactly_one_winner() {
    let app = Arc::new(spawn_app().await);
    let reps: Vec<String> = (0..50).map(|i| format!("rep-{i:02}")).collect();
    for rep in &reps {
        app.add_member(rep, Role::Sales).await;
    }
    let lead = app.lead("Contested Lead").await;

    let barrier = Arc::new(tokio::sync::Barrier::new(reps.len()));
    let mut tasks = Vec::new();
    for rep in reps.clone() {
        let (app, barrier, id) = (app.clone(), barrier.clone(), lead.id.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = app.leads();
            let token = app.token(&rep, Role::Sales);
            barrier.wait().await;
            (
                rep,
                client
                    .claim_lead(req(pb::ClaimLeadRequest { id }, &token))
                    .await,
            )
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (rep, result) = task.await.unwrap();
        match result {
            Ok(lead) => {
                assert_eq!(lead.into_inner().owner_id, rep);
                winners.push(rep);
            }
            Err(status) => {
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                assert!(
                    status.message().contains("owner or manager"),
                    "{}",
                    status.message()
                );
            }
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");

    let stored = app.store.lead(&app.org, &lead.id).await.unwrap().unwrap();
    assert_eq!(stored.owner_id.as_deref(), Some(winners[0].as_str()));
    let claims = app
        .store
        .history(&app.org, &lead.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == leadflow_leads::domain::lead::EventKind::Claimed)
        .count();
    assert_eq!(claims, 1, "exactly one CLAIMED event");
}

#[tokio::test]
async fn claiming_your_own_lead_again_changes_nothing() {
    let app = spawn_app().await;
    app.add_member("ana", Role::Sales).await;
    let lead = app.lead("Jane Doe").await;
    let token = app.token("ana", Role::Sales);
    let first = app
        .leads()
        .claim_lead(req(
            pb::ClaimLeadRequest {
                id: lead.id.clone(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    let again = app
        .leads()
        .claim_lead(req(
            pb::ClaimLeadRequest {
                id: lead.id.clone(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.version, again.version);
    assert_eq!(
        app.store.history(&app.org, &lead.id).await.unwrap().len(),
        2
    );
}

#[tokio::test]
async fn sales_unassign_only_their_own_leads() {
    let app = spawn_app().await;
    app.add_member("ana", Role::Sales).await;
    app.add_member("ben", Role::Sales).await;
    let lead = app.lead("Jane Doe").await;
    let ana = app.token("ana", Role::Sales);
    app.leads()
        .claim_lead(req(
            pb::ClaimLeadRequest {
                id: lead.id.clone(),
            },
            &ana,
        ))
        .await
        .unwrap();

    // Ben cannot even see Ana's lead.
    let err = app
        .leads()
        .unassign_lead(req(
            pb::UnassignLeadRequest {
                id: lead.id.clone(),
            },
            &app.token("ben", Role::Sales),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let back = app
        .leads()
        .unassign_lead(req(
            pb::UnassignLeadRequest {
                id: lead.id.clone(),
            },
            &ana,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(back.owner_id, "");
    let history = app.store.history(&app.org, &lead.id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        last.kind,
        leadflow_leads::domain::lead::EventKind::Unassigned
    );
    assert_eq!(last.from_owner_id.as_deref(), Some("ana"));
}

#[tokio::test]
async fn accounting_cannot_claim_and_a_deactivated_rep_cannot_either() {
    let app = spawn_app().await;
    app.add_member("acct", Role::Accounting).await;
    let lead = app.lead("Jane Doe").await;
    let err = app
        .leads()
        .claim_lead(req(
            pb::ClaimLeadRequest {
                id: lead.id.clone(),
            },
            &app.token("acct", Role::Accounting),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // A sales token for someone the directory does not know cannot claim.
    let err = app
        .leads()
        .claim_lead(req(
            pb::ClaimLeadRequest { id: lead.id },
            &app.token("stranger", Role::Sales),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
}
