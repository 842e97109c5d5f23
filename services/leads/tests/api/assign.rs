//! AssignLeads: assign, reassign and bulk assignment by ids or by filter.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use leadflow_auth::Role;
use leadflow_leads::domain::lead::{AssignmentMethod, EventKind};
use leadflow_proto::common::v1 as common;
use leadflow_proto::leads::v1 as pb;
use tonic::Code;

use crate::helpers::*;

fn facebook(name: String) -> pb::CreateLeadRequest {
    pb::CreateLeadRequest {
        source: common::LeadSource::Facebook as i32,
        ..new_lead(&name)
    }
}

async fn import(app: &TestApp, bodies: Vec<pb::CreateLeadRequest>) -> Vec<pb::Lead> {
    let mut leads = Vec::new();
    for chunk in bodies.chunks(1000) {
        let results = app
            .leads()
            .batch_create_leads(req(
                pb::BatchCreateLeadsRequest {
                    requests: chunk.to_vec(),
                    route: false,
                },
                &app.owner(),
            ))
            .await
            .unwrap()
            .into_inner()
            .results;
        for r in results {
            match r.outcome.unwrap() {
                pb::batch_create_lead_result::Outcome::Lead(l) => leads.push(l),
                pb::batch_create_lead_result::Outcome::Error(e) => {
                    panic!("import row failed: {e:?}")
                }
            }
        }
    }
    leads
}

fn by_filter(
    filter: pb::LeadFilter,
    assignee: &str,
    allow_reassign: bool,
) -> pb::AssignLeadsRequest {
    pb::AssignLeadsRequest {
        lead_ids: vec![],
        filter: Some(filter),
        assignee_id: assignee.into(),
        allow_reassign,
    }
}

#[tokio::test]
async fn a_filter_assigns_all_1200_matching_leads_across_pages_in_one_batch() {
    let app = spawn_app().await;
    app.add_member("ana", Role::Sales).await;
    import(
        &app,
        (0..1200).map(|i| facebook(format!("FB {i}"))).collect(),
    )
    .await;
    import(
        &app,
        (0..30).map(|i| new_lead(&format!("Web {i}"))).collect(),
    )
    .await;

    let filter = pb::LeadFilter {
        sources: vec![common::LeadSource::Facebook as i32],
        owner: "unassigned".into(),
        ..Default::default()
    };
    let outcome = app
        .leads()
        .assign_leads(req(
            by_filter(filter, "ana", false),
            &app.token("owner-1", Role::Owner),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(outcome.assigned, 1200);
    assert!(outcome.skipped.is_empty());

    let anas = app
        .all_leads(pb::LeadFilter {
            owner: "ana".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(anas.len(), 1200, "all pages of the filter were assigned");
    assert!(
        anas.iter()
            .all(|l| l.assignment_method == pb::AssignmentMethod::Bulk as i32)
    );
    let unassigned = app
        .all_leads(pb::LeadFilter {
            owner: "unassigned".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(unassigned.len(), 30, "website leads were not touched");

    let history = app.store.history(&app.org, &anas[700].id).await.unwrap();
    let assigned = history.last().unwrap();
    assert_eq!(assigned.kind, EventKind::Assigned);
    assert_eq!(assigned.method, Some(AssignmentMethod::Bulk));
    assert_eq!(
        assigned.batch_id.as_deref(),
        Some(outcome.batch_id.as_str())
    );
    assert_eq!(assigned.actor_id, "owner-1");
}

#[tokio::test]
async fn a_filtered_assign_skips_a_lead_claimed_after_the_filter_was_chosen() {
    let app = spawn_app().await;
    app.add_member("ana", Role::Sales).await;
    app.add_member("ben", Role::Sales).await;
    let leads = import(&app, (0..10).map(|i| facebook(format!("FB {i}"))).collect()).await;

    // The manager filtered "Facebook leads" and is about to press Assign; Ben claims one first.
    let filter = pb::LeadFilter {
        sources: vec![common::LeadSource::Facebook as i32],
        ..Default::default()
    };
    app.leads()
        .claim_lead(req(
            pb::ClaimLeadRequest {
                id: leads[3].id.clone(),
            },
            &app.token("ben", Role::Sales),
        ))
        .await
        .unwrap();
    let outcome = app
        .leads()
        .assign_leads(req(by_filter(filter, "ana", false), &app.owner()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(outcome.assigned, 9);
    assert_eq!(outcome.skipped.len(), 1);
    assert_eq!(outcome.skipped[0].lead_id, leads[3].id);
    assert_eq!(
        outcome.skipped[0].reason,
        pb::AssignSkipReason::AlreadyAssigned as i32
    );
    assert_eq!(outcome.skipped[0].owner_id, "ben");
    let claimed = app
        .store
        .lead(&app.org, &leads[3].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.owner_id.as_deref(), Some("ben"), "the claim stands");

    // The same with ids picked from a page a moment ago.
    let fresh = import(
        &app,
        (0..3).map(|i| new_lead(&format!("Web {i}"))).collect(),
    )
    .await;
    app.leads()
        .claim_lead(req(
            pb::ClaimLeadRequest {
                id: fresh[1].id.clone(),
            },
            &app.token("ben", Role::Sales),
        ))
        .await
        .unwrap();
    let ids: Vec<String> = fresh.iter().map(|l| l.id.clone()).collect();
    let outcome = app
        .leads()
        .assign_leads(req(
            pb::AssignLeadsRequest {
                lead_ids: ids,
                assignee_id: "ana".into(),
                ..Default::default()
            },
            &app.owner(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(outcome.assigned, 2);
    assert_eq!(outcome.skipped[0].lead_id, fresh[1].id);
}

#[tokio::test]
async fn claims_racing_a_bulk_assignment_are_never_overwritten() {
    let app = Arc::new(spawn_app().await);
    let reps: Vec<String> = (0..8).map(|i| format!("rep-{i}")).collect();
    for rep in &reps {
        app.add_member(rep, Role::Sales).await;
    }
    app.add_member("bulk-target", Role::Sales).await;
    let leads = import(
        &app,
        (0..400).map(|i| facebook(format!("FB {i}"))).collect(),
    )
    .await;

    let mut claimers = Vec::new();
    for (n, rep) in reps.iter().enumerate() {
        let (app, rep) = (app.clone(), rep.clone());
        let ids: Vec<String> = leads
            .iter()
            .skip(n)
            .step_by(reps.len())
            .take(25)
            .map(|l| l.id.clone())
            .collect();
        claimers.push(tokio::spawn(async move {
            let token = app.token(&rep, Role::Sales);
            let mut won = Vec::new();
            for id in ids {
                if app
                    .leads()
                    .claim_lead(req(pb::ClaimLeadRequest { id: id.clone() }, &token))
                    .await
                    .is_ok()
                {
                    won.push(id);
                }
            }
            (rep, won)
        }));
    }
    let filter = pb::LeadFilter {
        sources: vec![common::LeadSource::Facebook as i32],
        ..Default::default()
    };
    let outcome = app
        .leads()
        .assign_leads(req(by_filter(filter, "bulk-target", false), &app.owner()))
        .await
        .unwrap()
        .into_inner();

    let mut claimed: HashMap<String, String> = HashMap::new();
    for c in claimers {
        let (rep, won) = c.await.unwrap();
        claimed.extend(won.into_iter().map(|id| (id, rep.clone())));
    }
    let assigned: HashSet<String> = outcome.assigned_lead_ids.into_iter().collect();
    for (id, rep) in &claimed {
        assert!(
            !assigned.contains(id),
            "bulk assignment took lead {id} claimed by {rep}"
        );
        let lead = app.store.lead(&app.org, id).await.unwrap().unwrap();
        assert_eq!(lead.owner_id.as_deref(), Some(rep.as_str()));
    }
    assert_eq!(
        assigned.len() + claimed.len(),
        400,
        "every lead went to exactly one side"
    );
}

#[tokio::test]
async fn reassigning_moves_the_lead_and_the_old_rep_loses_sight_of_it() {
    let app = spawn_app().await;
    app.add_member("ana", Role::Sales).await;
    app.add_member("ben", Role::Sales).await;
    app.add_member("mia", Role::Manager).await;
    let lead = app.lead("Jane Doe").await;
    let mia = app.token("mia", Role::Manager);
    let assign = |to: &str, allow_reassign: bool| pb::AssignLeadsRequest {
        lead_ids: vec![lead.id.clone()],
        assignee_id: to.into(),
        allow_reassign,
        filter: None,
    };
    let first = app
        .leads()
        .assign_leads(req(assign("ana", false), &mia))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.assigned, 1);
    let stored = app.store.lead(&app.org, &lead.id).await.unwrap().unwrap();
    assert_eq!(stored.assignment_method, Some(AssignmentMethod::Manual));
    assert_eq!(stored.assigned_by.as_deref(), Some("mia"));

    // Without allow_reassign an owned lead is skipped…
    let skipped = app
        .leads()
        .assign_leads(req(assign("ben", false), &mia))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(skipped.assigned, 0);
    assert_eq!(
        skipped.skipped[0].reason,
        pb::AssignSkipReason::AlreadyAssigned as i32
    );
    // …with it, this is Reassign.
    let moved = app
        .leads()
        .assign_leads(req(assign("ben", true), &mia))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.assigned, 1);

    let ana = app.token("ana", Role::Sales);
    let err = app
        .leads()
        .get_lead(req(
            pb::GetLeadRequest {
                id: lead.id.clone(),
            },
            &ana,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = app
        .leads()
        .get_lead_history(req(
            pb::GetLeadHistoryRequest {
                id: lead.id.clone(),
            },
            &ana,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let ben = app.token("ben", Role::Sales);
    assert_eq!(
        app.leads()
            .get_lead(req(
                pb::GetLeadRequest {
                    id: lead.id.clone()
                },
                &ben
            ))
            .await
            .unwrap()
            .into_inner()
            .owner_id,
        "ben"
    );

    let history = app.store.history(&app.org, &lead.id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.kind, EventKind::Reassigned);
    assert_eq!(
        (last.from_owner_id.as_deref(), last.to_owner_id.as_deref()),
        (Some("ana"), Some("ben"))
    );
    assert_eq!(last.batch_id.as_deref(), Some(moved.batch_id.as_str()));
}

#[tokio::test]
async fn the_assignee_must_be_an_active_sales_capable_member() {
    let app = spawn_app().await;
    app.add_member("acct", Role::Accounting).await;
    app.add_member("gone", Role::Sales).await;
    app.team()
        .upsert_member(req(
            pb::UpsertMemberRequest {
                user_id: "gone".into(),
                display_name: "Gone".into(),
                email: String::new(),
                role: role_pb(Role::Sales) as i32,
                active: Some(false),
            },
            &app.owner(),
        ))
        .await
        .unwrap();
    let lead = app.lead("Jane").await;
    for assignee in ["acct", "gone", "nobody"] {
        let err = app
            .leads()
            .assign_leads(req(
                pb::AssignLeadsRequest {
                    lead_ids: vec![lead.id.clone()],
                    assignee_id: assignee.into(),
                    ..Default::default()
                },
                &app.owner(),
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{assignee}");
    }
    // Unknown lead ids are reported, not fatal.
    let missing = uuid::Uuid::now_v7().to_string();
    let outcome = app
        .leads()
        .assign_leads(req(
            pb::AssignLeadsRequest {
                lead_ids: vec![lead.id.clone(), missing.clone()],
                assignee_id: OWNER.into(),
                ..Default::default()
            },
            &app.owner(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(outcome.assigned, 1);
    assert_eq!(outcome.skipped[0].lead_id, missing);
    assert_eq!(
        outcome.skipped[0].reason,
        pb::AssignSkipReason::LeadNotFound as i32
    );
}
