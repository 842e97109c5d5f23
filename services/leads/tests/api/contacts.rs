//! Sticky ownership's lookup on both databases: the newest open, owned lead
//! with the same email (trimmed, any case) and the newest with the same
//! company domain; closed and unassigned leads, other organisations and
//! free-mail domains never match.

use leadflow_db::OwnDatabase;
use leadflow_leads::domain::change;
use leadflow_leads::domain::contact::MatchBy;
use leadflow_leads::domain::lead::{LeadSource, LeadStatus, NewLead};
use leadflow_leads::domain::routing::RoutingOutcome;
use leadflow_leads::store::{Creation, Store, new_lead_id};
use leadflow_testkit::TestDb;

async fn add(store: &Store, org: &str, email: &str, owner: Option<&str>) -> String {
    let new = NewLead {
        name: email.into(),
        email: email.into(),
        phone: String::new(),
        company: String::new(),
        source: LeadSource::Website,
        tags: Vec::new(),
        owner_id: owner.map(str::to_owned),
    };
    let creation = Creation {
        plan: change::create("web", &new, &RoutingOutcome::NotAsked),
        release_if_unused: None,
        new,
        key: None,
        id: new_lead_id(),
    };
    store.create_lead(org, "web", &creation).await.unwrap().id
}

async fn check(store: &Store) {
    let org = format!("org-{}", uuid::Uuid::new_v4().simple());
    add(store, &org, "jane@acme.com", Some("ana")).await;
    let newer = add(store, &org, "Jane@ACME.com", Some("ben")).await;
    add(store, &org, "jane@acme.com", None).await;
    let colleague = add(store, &org, "bob@acme.com", Some("cara")).await;
    add(store, "other-org", "jane@acme.com", Some("zed")).await;
    let found = store
        .contact_matches(&org, "  JANE@acme.com ")
        .await
        .unwrap();
    let email = found.iter().find(|m| m.by == MatchBy::Email).unwrap();
    assert_eq!(
        (email.owner_id.as_str(), email.lead_id.as_str()),
        ("ben", newer.as_str())
    );
    let domain = found.iter().find(|m| m.by == MatchBy::Domain).unwrap();
    assert_eq!(
        (domain.owner_id.as_str(), domain.lead_id.as_str()),
        ("cara", colleague.as_str())
    );
    // Won: no longer matches; the older open one does.
    let lead = store.lead(&org, &newer).await.unwrap().unwrap();
    let won = change::set_status(&lead, "ben", LeadStatus::Won).unwrap();
    store.apply(&org, &won).await.unwrap();
    let found = store.contact_matches(&org, "jane@acme.com").await.unwrap();
    let email = found.iter().find(|m| m.by == MatchBy::Email).unwrap();
    assert_eq!(email.owner_id, "ana");
    // Free mail never matches by domain; no email, no lookup.
    add(store, &org, "g1@gmail.com", Some("ana")).await;
    let found = store.contact_matches(&org, "g2@gmail.com").await.unwrap();
    assert!(found.is_empty(), "{found:?}");
    assert!(store.contact_matches(&org, "  ").await.unwrap().is_empty());
}

#[tokio::test]
async fn returning_contacts_are_found_on_postgres_and_sqlite() {
    let db = TestDb::new().await;
    let postgres = Store::connect(&db.url, 4).await.unwrap();
    postgres.migrate().await.unwrap();
    check(&postgres).await;
    let dir = std::env::temp_dir().join(format!(
        "leadflow-contacts-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("leads.db").display());
    let sqlite = Store::connect(&url, 4).await.unwrap();
    sqlite.migrate().await.unwrap();
    check(&sqlite).await;
    std::fs::remove_dir_all(&dir).ok();
}
