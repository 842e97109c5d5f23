//! CreateLead and BatchCreateLeads: validation at the edge, explicit owners,
//! and idempotency.

use std::sync::Arc;

use leadflow_auth::Role;
use leadflow_proto::common::v1 as common;
use leadflow_proto::leads::v1 as pb;
use tonic::Code;

use crate::helpers::*;

async fn lead_count(app: &TestApp) -> usize {
    app.all_leads(pb::LeadFilter::default()).await.len()
}

#[tokio::test]
async fn the_same_key_and_body_give_the_same_lead_and_another_body_is_already_exists() {
    let app = spawn_app().await;
    let body = pb::CreateLeadRequest {
        idempotency_key: "form-123".into(),
        ..new_lead("Jane Doe")
    };
    let first = app.lead_with(body.clone(), &app.owner()).await;
    let again = app.lead_with(body.clone(), &app.owner()).await;
    assert_eq!(first.id, again.id);
    assert_eq!(first, again);

    let err = app
        .leads()
        .create_lead(req(
            pb::CreateLeadRequest {
                company: "Acme".into(),
                ..body.clone()
            },
            &app.owner(),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(lead_count(&app).await, 1);

    // Keys are scoped per organisation: another org's "form-123" is its own lead.
    let other_org = "org-other";
    app.add_member_in(other_org, OWNER, Role::Owner).await;
    let theirs = app
        .lead_with(body, &app.auth.token(OWNER, other_org, Role::Owner))
        .await;
    assert_ne!(theirs.id, first.id);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_create_one_lead() {
    let app = Arc::new(spawn_app().await);
    let body = pb::CreateLeadRequest {
        idempotency_key: "retry-storm".into(),
        ..new_lead("Jane Doe")
    };
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (app, body, barrier) = (app.clone(), body.clone(), barrier.clone());
            tokio::spawn(async move {
                let mut client = app.leads();
                let token = app.owner();
                barrier.wait().await;
                client
                    .create_lead(req(body, &token))
                    .await
                    .map(|r| r.into_inner().id)
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().expect("every retry succeeds"));
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "all 20 got the same lead");
    assert_eq!(lead_count(&app).await, 1);
}

#[tokio::test]
async fn a_batch_creates_each_row_on_its_own_and_replays_keys() {
    let app = spawn_app().await;
    let rows = vec![
        pb::CreateLeadRequest {
            idempotency_key: "row-1".into(),
            ..new_lead("Good One")
        },
        pb::CreateLeadRequest {
            name: String::new(),
            ..new_lead("")
        },
        pb::CreateLeadRequest {
            idempotency_key: "row-1".into(),
            ..new_lead("Good One")
        },
        pb::CreateLeadRequest {
            idempotency_key: "row-1".into(),
            ..new_lead("Other Body")
        },
        new_lead("Good Two"),
    ];
    let results = app
        .leads()
        .batch_create_leads(req(
            pb::BatchCreateLeadsRequest {
                requests: rows,
                route: false,
            },
            &app.owner(),
        ))
        .await
        .unwrap()
        .into_inner()
        .results;
    use pb::batch_create_lead_result::Outcome;
    let outcome = |i: usize| results[i].outcome.clone().unwrap();
    let Outcome::Lead(first) = outcome(0) else {
        panic!("row 0 should succeed")
    };
    let Outcome::Error(bad) = outcome(1) else {
        panic!("row 1 should fail")
    };
    assert_eq!(
        (bad.code, bad.field.as_str()),
        (Code::InvalidArgument as i32, "name")
    );
    let Outcome::Lead(replayed) = outcome(2) else {
        panic!("row 2 replays row 0")
    };
    assert_eq!(replayed.id, first.id);
    let Outcome::Error(conflict) = outcome(3) else {
        panic!("row 3 reuses a key")
    };
    assert_eq!(conflict.code, Code::AlreadyExists as i32);
    assert!(matches!(outcome(4), Outcome::Lead(_)));
    assert_eq!(lead_count(&app).await, 2);
}

#[tokio::test]
async fn an_explicit_owner_must_be_an_active_sales_capable_member_and_sales_name_only_themselves() {
    let app = spawn_app().await;
    app.add_member("ana", Role::Sales).await;
    app.add_member("ben", Role::Sales).await;
    app.add_member("acct", Role::Accounting).await;
    let owned_by = |owner: &str| pb::CreateLeadRequest {
        owner_id: owner.into(),
        ..new_lead("Jane")
    };

    let lead = app.lead_with(owned_by("ana"), &app.owner()).await;
    assert_eq!(lead.owner_id, "ana");
    assert_eq!(
        lead.assignment_method,
        pb::AssignmentMethod::ExplicitOwner as i32
    );

    for owner in ["acct", "nobody"] {
        let err = app
            .leads()
            .create_lead(req(owned_by(owner), &app.owner()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{owner}");
        assert!(err.message().contains("owner_id"));
    }
    let ana = app.token("ana", Role::Sales);
    let err = app
        .leads()
        .create_lead(req(owned_by("ben"), &ana))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let mine = app.lead_with(owned_by("ana"), &ana).await;
    assert_eq!(mine.owner_id, "ana");
    assert_eq!(lead_count(&app).await, 2);
}

/// One bad input each; every case must be INVALID_ARGUMENT naming the field,
/// and nothing may be written.
#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field_and_writes_nothing() {
    let app = spawn_app().await;
    let lead = app.lead("Existing").await;
    let before = lead_count(&app).await;
    let owner = app.owner();
    let (mut leads, mut team) = (app.leads(), app.team());
    let create = |f: &dyn Fn(&mut pb::CreateLeadRequest)| {
        let mut body = new_lead("Jane Doe");
        f(&mut body);
        body
    };

    let mut cases: Vec<(&str, &str, Result<(), tonic::Status>)> = Vec::new();
    macro_rules! case {
        ($label:expr, $field:expr, $call:expr) => {
            cases.push(($label, $field, $call.await.map(drop)));
        };
    }
    case!(
        "empty name",
        "name",
        leads.create_lead(req(create(&|b| b.name = "  ".into()), &owner))
    );
    case!(
        "201-char name",
        "name",
        leads.create_lead(req(create(&|b| b.name = "x".repeat(201)), &owner))
    );
    case!(
        "email without @",
        "email",
        leads.create_lead(req(
            create(&|b| b.email = "jane.example.com".into()),
            &owner
        ))
    );
    case!(
        "email with space",
        "email",
        leads.create_lead(req(
            create(&|b| b.email = "jane doe@example.com".into()),
            &owner
        ))
    );
    case!(
        "21 tags",
        "tags",
        leads.create_lead(req(
            create(&|b| b.tags = (0..21).map(|i| format!("t{i}")).collect()),
            &owner
        ))
    );
    case!(
        "51-char tag",
        "tags",
        leads.create_lead(req(create(&|b| b.tags = vec!["x".repeat(51)]), &owner))
    );
    case!(
        "empty tag",
        "tags",
        leads.create_lead(req(create(&|b| b.tags = vec![String::new()]), &owner))
    );
    case!(
        "unknown source",
        "source",
        leads.create_lead(req(create(&|b| b.source = 42), &owner))
    );
    case!(
        "unspecified source",
        "source",
        leads.create_lead(req(create(&|b| b.source = 0), &owner))
    );
    case!(
        "CR/LF in name",
        "name",
        leads.create_lead(req(
            create(&|b| b.name = "Jane\r\nBcc: x@y.z".into()),
            &owner
        ))
    );
    case!(
        "letters in phone",
        "phone",
        leads.create_lead(req(create(&|b| b.phone = "call me".into()), &owner))
    );
    case!(
        "owner id with spaces",
        "owner_id",
        leads.create_lead(req(create(&|b| b.owner_id = "ana smith".into()), &owner))
    );
    case!(
        "oversized idempotency key",
        "idempotency_key",
        leads.create_lead(req(
            create(&|b| b.idempotency_key = "k".repeat(129)),
            &owner
        ))
    );
    case!(
        "empty batch",
        "requests",
        leads.batch_create_leads(req(pb::BatchCreateLeadsRequest::default(), &owner))
    );
    case!(
        "1,001-row batch",
        "requests",
        leads.batch_create_leads(req(
            pb::BatchCreateLeadsRequest {
                requests: vec![new_lead("x"); 1001],
                route: false
            },
            &owner
        ))
    );
    case!(
        "lead id not a uuid",
        "id",
        leads.get_lead(req(pb::GetLeadRequest { id: "42".into() }, &owner))
    );
    case!(
        "unknown status",
        "status",
        leads.update_lead_status(req(
            pb::UpdateLeadStatusRequest {
                id: lead.id.clone(),
                status: 99
            },
            &owner
        ))
    );
    case!(
        "page size over 500",
        "page_size",
        leads.list_leads(req(
            pb::ListLeadsRequest {
                page_size: 501,
                ..Default::default()
            },
            &owner
        ))
    );
    case!(
        "tampered page token",
        "page_token",
        leads.list_leads(req(
            pb::ListLeadsRequest {
                page_token: "eyJ0IjowLCJpIjoiIn0.AAAA".into(),
                ..Default::default()
            },
            &owner
        ))
    );
    case!(
        "order by name",
        "order_by",
        leads.list_leads(req(
            pb::ListLeadsRequest {
                order_by: "name".into(),
                ..Default::default()
            },
            &owner
        ))
    );
    case!(
        "unknown status filter",
        "filter.statuses",
        leads.list_leads(req(
            pb::ListLeadsRequest {
                filter: Some(pb::LeadFilter {
                    statuses: vec![77],
                    ..Default::default()
                }),
                ..Default::default()
            },
            &owner
        ))
    );
    case!(
        "assign with ids and filter",
        "lead_ids",
        leads.assign_leads(req(
            pb::AssignLeadsRequest {
                lead_ids: vec![lead.id.clone()],
                filter: Some(pb::LeadFilter::default()),
                assignee_id: OWNER.into(),
                allow_reassign: false
            },
            &owner
        ))
    );
    case!(
        "assign without assignee",
        "assignee_id",
        leads.assign_leads(req(
            pb::AssignLeadsRequest {
                lead_ids: vec![lead.id.clone()],
                ..Default::default()
            },
            &owner
        ))
    );
    case!(
        "member without display name",
        "display_name",
        team.upsert_member(req(
            pb::UpsertMemberRequest {
                user_id: "x".into(),
                role: common::Role::Sales as i32,
                ..Default::default()
            },
            &owner
        ))
    );
    case!(
        "member with unknown role",
        "role",
        team.upsert_member(req(
            pb::UpsertMemberRequest {
                user_id: "x".into(),
                display_name: "X".into(),
                role: 17,
                ..Default::default()
            },
            &owner
        ))
    );
    case!(
        "member with bad email",
        "email",
        team.upsert_member(req(
            pb::UpsertMemberRequest {
                user_id: "x".into(),
                display_name: "X".into(),
                email: "x@".into(),
                role: common::Role::Sales as i32,
                active: None
            },
            &owner
        ))
    );

    assert!(cases.len() >= 15);
    let mut failures = Vec::new();
    for (label, field, result) in &cases {
        match result {
            Err(status)
                if status.code() == Code::InvalidArgument
                    && status.message().starts_with(&format!("{field}:")) => {}
            other => failures.push(format!(
                "{label}: want INVALID_ARGUMENT naming `{field}`, got {other:?}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(lead_count(&app).await, before, "nothing was written");
    let members = team
        .list_members(req(
            pb::ListMembersRequest {
                include_inactive: true,
                ..Default::default()
            },
            &owner,
        ))
        .await
        .unwrap()
        .into_inner()
        .members;
    assert_eq!(members.len(), 1, "no member was written");
}
