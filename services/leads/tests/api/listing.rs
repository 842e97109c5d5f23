//! ListLeads: filters, visibility, and keyset paging that stays stable while
//! leads keep arriving.

use std::collections::HashSet;
use std::sync::Arc;

use leadflow_auth::Role;
use leadflow_proto::common::v1 as common;
use leadflow_proto::leads::v1 as pb;

use crate::helpers::*;

async fn batch(app: &TestApp, bodies: Vec<pb::CreateLeadRequest>) {
    for chunk in bodies.chunks(1000) {
        app.leads()
            .batch_create_leads(req(
                pb::BatchCreateLeadsRequest {
                    requests: chunk.to_vec(),
                    route: false,
                },
                &app.owner(),
            ))
            .await
            .unwrap();
    }
}

/// Pages through ListLeads, returning ids in the order seen.
async fn page_through(app: &TestApp, token: &str, order_by: &str, page_size: i32) -> Vec<String> {
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = app
            .leads()
            .list_leads(req(
                pb::ListLeadsRequest {
                    filter: None,
                    page_size,
                    page_token,
                    order_by: order_by.into(),
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.leads.into_iter().map(|l| l.id));
        if page.next_page_token.is_empty() {
            return seen;
        }
        page_token = page.next_page_token;
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn paging_sees_every_existing_lead_once_while_new_leads_arrive() {
    let app = Arc::new(spawn_app().await);
    batch(
        &app,
        (0..300).map(|i| new_lead(&format!("Lead {i}"))).collect(),
    )
    .await;
    let existing: HashSet<String> = app
        .all_leads(pb::LeadFilter::default())
        .await
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(existing.len(), 300);

    for order in ["created_at", "created_at desc"] {
        let writer = {
            let app = app.clone();
            tokio::spawn(async move {
                for i in 0..60 {
                    app.lead(&format!("Arriving {i}")).await;
                }
            })
        };
        let seen = page_through(&app, &app.owner(), order, 25).await;
        writer.await.unwrap();
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{order}: a lead was seen twice");
        let missing = existing.iter().filter(|id| !unique.contains(id)).count();
        assert_eq!(missing, 0, "{order}: {missing} existing leads were skipped");
    }
}

#[tokio::test]
async fn pages_come_in_creation_order_with_a_total() {
    let app = spawn_app().await;
    for i in 0..7 {
        app.lead(&format!("Lead {i}")).await;
    }
    let page = app
        .leads()
        .list_leads(req(
            pb::ListLeadsRequest {
                page_size: 3,
                order_by: "created_at desc".into(),
                ..Default::default()
            },
            &app.owner(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.total_size, 7);
    let names: Vec<&str> = page.leads.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["Lead 6", "Lead 5", "Lead 4"]);
    assert!(!page.next_page_token.is_empty());

    // A token is bound to its query: reusing it with another order is refused.
    let err = app
        .leads()
        .list_leads(req(
            pb::ListLeadsRequest {
                page_size: 3,
                page_token: page.next_page_token,
                ..Default::default()
            },
            &app.owner(),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn filters_combine_owner_status_source_tags_dates_and_text() {
    let app = spawn_app().await;
    app.add_member("ana", Role::Sales).await;
    let mk = |name: &str, source: common::LeadSource, tags: &[&str], owner: &str| {
        pb::CreateLeadRequest {
            name: name.into(),
            email: format!("{}@example.com", name.to_lowercase().replace(' ', ".")),
            company: if name.contains("Acme") {
                "Acme Corp".into()
            } else {
                String::new()
            },
            source: source as i32,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            owner_id: owner.into(),
            ..Default::default()
        }
    };
    app.lead_with(
        mk("Alice Acme", common::LeadSource::Facebook, &["vip"], ""),
        &app.owner(),
    )
    .await;
    let t0 = std::time::SystemTime::now();
    app.lead_with(
        mk(
            "Bob Bloggs",
            common::LeadSource::Google,
            &["vip", "q4"],
            "ana",
        ),
        &app.owner(),
    )
    .await;
    app.lead_with(
        mk("Carol 100%", common::LeadSource::Google, &[], ""),
        &app.owner(),
    )
    .await;

    let names = |leads: Vec<pb::Lead>| {
        let mut names: Vec<String> = leads.into_iter().map(|l| l.name).collect();
        names.sort();
        names
    };
    let f = |f: pb::LeadFilter| f;
    assert_eq!(
        names(
            app.all_leads(f(pb::LeadFilter {
                owner: "unassigned".into(),
                ..Default::default()
            }))
            .await
        ),
        ["Alice Acme", "Carol 100%"]
    );
    assert_eq!(
        names(
            app.all_leads(f(pb::LeadFilter {
                owner: "ana".into(),
                ..Default::default()
            }))
            .await
        ),
        ["Bob Bloggs"]
    );
    assert_eq!(
        names(
            app.all_leads(f(pb::LeadFilter {
                sources: vec![common::LeadSource::Google as i32],
                ..Default::default()
            }))
            .await
        ),
        ["Bob Bloggs", "Carol 100%"]
    );
    assert_eq!(
        names(
            app.all_leads(f(pb::LeadFilter {
                tags: vec!["vip".into()],
                ..Default::default()
            }))
            .await
        ),
        ["Alice Acme", "Bob Bloggs"]
    );
    assert_eq!(
        names(
            app.all_leads(f(pb::LeadFilter {
                query: "acme".into(),
                ..Default::default()
            }))
            .await
        ),
        ["Alice Acme"]
    );
    assert_eq!(
        names(
            app.all_leads(f(pb::LeadFilter {
                query: "100%".into(),
                ..Default::default()
            }))
            .await
        ),
        ["Carol 100%"]
    );
    assert_eq!(
        names(
            app.all_leads(f(pb::LeadFilter {
                query: "%".into(),
                ..Default::default()
            }))
            .await
        ),
        ["Carol 100%"],
        "% is literal"
    );
    assert_eq!(
        names(
            app.all_leads(f(pb::LeadFilter {
                statuses: vec![pb::LeadStatus::Won as i32],
                ..Default::default()
            }))
            .await
        ),
        Vec::<String>::new()
    );
    let after = prost_types::Timestamp::from(t0);
    assert_eq!(
        names(
            app.all_leads(f(pb::LeadFilter {
                created_after: Some(after),
                ..Default::default()
            }))
            .await
        ),
        ["Bob Bloggs", "Carol 100%"]
    );
    assert_eq!(
        names(
            app.all_leads(f(pb::LeadFilter {
                created_before: Some(after),
                ..Default::default()
            }))
            .await
        ),
        ["Alice Acme"]
    );
}

#[tokio::test]
async fn sales_list_unassigned_leads_and_their_own_only() {
    let app = spawn_app().await;
    app.add_member("ana", Role::Sales).await;
    app.add_member("ben", Role::Sales).await;
    app.lead("Free").await;
    app.lead_with(
        pb::CreateLeadRequest {
            owner_id: "ana".into(),
            ..new_lead("Ana's")
        },
        &app.owner(),
    )
    .await;
    app.lead_with(
        pb::CreateLeadRequest {
            owner_id: "ben".into(),
            ..new_lead("Ben's")
        },
        &app.owner(),
    )
    .await;
    let page = app
        .leads()
        .list_leads(req(
            pb::ListLeadsRequest::default(),
            &app.token("ana", Role::Sales),
        ))
        .await
        .unwrap()
        .into_inner();
    let mut names: Vec<String> = page.leads.into_iter().map(|l| l.name).collect();
    names.sort();
    assert_eq!(names, ["Ana's", "Free"]);
    assert_eq!(page.total_size, 2);
}
