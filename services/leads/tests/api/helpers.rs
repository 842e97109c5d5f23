//! `spawn_app`: a leads server of its own for each test.

use leadflow_auth::Role;
use leadflow_db::OwnDatabase;
use leadflow_leads::store::Store;
use leadflow_proto::common::v1 as common;
use leadflow_proto::leads::v1 as pb;
use leadflow_proto::leads::v1::lead_service_client::LeadServiceClient;
use leadflow_proto::leads::v1::team_service_client::TeamServiceClient;
use leadflow_server::ServerArgs;
use leadflow_testkit::{TestAuth, TestDb, TestServer, authed};
use tonic::transport::Channel;

pub use leadflow_testkit::authed as req;

/// The owner every test organisation starts with.
pub const OWNER: &str = "owner-1";

pub struct TestApp {
    pub server: TestServer,
    pub store: Store,
    pub auth: TestAuth,
    /// The organisation most tests act in.
    pub org: String,
    // Dropped last: the database outlives the server using it.
    pub _db: TestDb,
}

pub async fn spawn_app() -> TestApp {
    let db = TestDb::new().await;
    let store = Store::connect(&db.url, 16).await.expect("connect test db");
    store.migrate().await.expect("migrate");
    let auth = TestAuth::new();
    let (server_store, verifier) = (store.clone(), auth.verifier.clone());
    let server = TestServer::spawn(move |listener, shutdown| async move {
        leadflow_leads::host(server_store, leadflow_leads::Links::standalone())
            .serve(&ServerArgs::default(), verifier, listener, shutdown)
            .await
    })
    .await;
    let app = TestApp {
        server,
        store,
        auth,
        org: format!("org-{}", uuid::Uuid::new_v4().simple()),
        _db: db,
    };
    app.add_member_in(&app.org.clone(), OWNER, Role::Owner)
        .await;
    app
}

impl TestApp {
    pub fn channel(&self) -> Channel {
        self.server.channel()
    }

    pub fn leads(&self) -> LeadServiceClient<Channel> {
        LeadServiceClient::new(self.channel())
    }

    pub fn team(&self) -> TeamServiceClient<Channel> {
        TeamServiceClient::new(self.channel())
    }

    /// A token for `user` with `role` in the test organisation.
    pub fn token(&self, user: &str, role: Role) -> String {
        self.auth.token(user, &self.org, role)
    }

    pub fn owner(&self) -> String {
        self.token(OWNER, Role::Owner)
    }

    /// Adds an active member through the API, as the org's owner.
    pub async fn add_member(&self, user_id: &str, role: Role) -> pb::Member {
        self.add_member_in(&self.org, user_id, role).await
    }

    pub async fn add_member_in(&self, org: &str, user_id: &str, role: Role) -> pb::Member {
        let token = self.auth.token(OWNER, org, Role::Owner);
        self.team()
            .upsert_member(authed(
                pb::UpsertMemberRequest {
                    user_id: user_id.into(),
                    display_name: format!("User {user_id}"),
                    email: format!("{user_id}@example.com"),
                    role: role_pb(role) as i32,
                    active: Some(true),
                },
                &token,
            ))
            .await
            .unwrap_or_else(|s| panic!("add member {user_id}: {s:?}"))
            .into_inner()
    }

    /// Creates an unassigned website lead as the owner.
    pub async fn lead(&self, name: &str) -> pb::Lead {
        self.lead_with(new_lead(name), &self.owner()).await
    }

    pub async fn lead_with(&self, body: pb::CreateLeadRequest, token: &str) -> pb::Lead {
        self.leads()
            .create_lead(authed(body, token))
            .await
            .unwrap_or_else(|s| panic!("create lead: {s:?}"))
            .into_inner()
    }

    /// Every lead of the org as the owner sees them (all pages).
    pub async fn all_leads(&self, filter: pb::LeadFilter) -> Vec<pb::Lead> {
        let mut leads = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .leads()
                .list_leads(authed(
                    pb::ListLeadsRequest {
                        filter: Some(filter.clone()),
                        page_size: 500,
                        page_token,
                        order_by: String::new(),
                    },
                    &self.owner(),
                ))
                .await
                .expect("list leads")
                .into_inner();
            leads.extend(page.leads);
            if page.next_page_token.is_empty() {
                return leads;
            }
            page_token = page.next_page_token;
        }
    }
}

pub fn role_pb(role: Role) -> common::Role {
    match role {
        Role::Owner => common::Role::Owner,
        Role::Admin => common::Role::Admin,
        Role::Manager => common::Role::Manager,
        Role::Sales => common::Role::Sales,
        Role::Accounting => common::Role::Accounting,
        Role::Integration | Role::Service => common::Role::Unspecified,
    }
}

/// A valid CreateLead body from the website.
pub fn new_lead(name: &str) -> pb::CreateLeadRequest {
    pb::CreateLeadRequest {
        name: name.into(),
        email: "jane@example.com".into(),
        source: common::LeadSource::Website as i32,
        ..Default::default()
    }
}

/// The gRPC code of a result, for compact assertions.
pub fn code<T>(result: &Result<T, tonic::Status>) -> tonic::Code {
    match result {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    }
}
