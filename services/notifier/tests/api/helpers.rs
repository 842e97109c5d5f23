//! Spawning notifier replicas over one database.

use leadflow_db::OwnDatabase;
use std::time::Duration;

use leadflow_auth::Role;
use leadflow_notifier::Parts;
use leadflow_notifier::channels::email::Email;
use leadflow_notifier::channels::webpush::{WebPush, generate_vapid_keys};
use leadflow_notifier::domain::push::PushPolicy;
use leadflow_notifier::domain::retry::RetryPolicy;
use leadflow_notifier::hub::Hub;
use leadflow_notifier::store::Store;
use leadflow_proto::common::v1 as common;
use leadflow_proto::notifier::v1 as pb;
use leadflow_proto::notifier::v1::notifier_service_client::NotifierServiceClient;
use leadflow_server::ServerArgs;
use leadflow_testkit::{TestAuth, TestDb, TestServer, authed};
use std::sync::Arc;
use tonic::transport::Channel;

pub use leadflow_testkit::authed as req;

pub struct NotifierApp {
    pub servers: Vec<TestServer>,
    pub store: Store,
    pub auth: TestAuth,
    pub org: String,
    pub smtp_url: String,
    pub vapid_private: String,
    pub retry: RetryPolicy,
    pub _db: TestDb,
}

/// Fast retries, so failure paths finish within a test.
pub fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(100),
        cap: Duration::from_secs(3),
        max_attempts,
    }
}

pub async fn spawn_notifier(replicas: usize, smtp_url: &str, retry: RetryPolicy) -> NotifierApp {
    let db = TestDb::new().await;
    let store = Store::connect(&db.url, 8).await.expect("connect");
    store.migrate().await.expect("migrate");
    let (vapid_private, _) = generate_vapid_keys();
    let mut app = NotifierApp {
        servers: Vec::new(),
        store,
        auth: TestAuth::new(),
        org: format!("org-{}", uuid::Uuid::new_v4().simple()),
        smtp_url: smtp_url.to_owned(),
        vapid_private,
        retry,
        _db: db,
    };
    for _ in 0..replicas {
        app.add_replica().await;
    }
    app
}

impl NotifierApp {
    /// Starts one more notifier over the same database.
    pub async fn add_replica(&mut self) {
        let store = Store::connect(&self._db.url, 8).await.expect("connect");
        let parts = Parts {
            hub: Hub::postgres(store.connection().clone(), &self._db.url),
            store,
            webpush: Some(Arc::new(
                WebPush::new(
                    &self.vapid_private,
                    "mailto:ops@leadflow.test",
                    Duration::from_secs(5),
                    60,
                )
                .unwrap(),
            )),
            email: Some(Arc::new(
                Email::new(
                    &self.smtp_url,
                    "leadflow <leadflow@leadflow.test>",
                    "https://crm.example.com",
                    Duration::from_secs(15),
                )
                .unwrap(),
            )),
            push_policy: PushPolicy {
                allow_loopback_http: true,
                ..PushPolicy::default()
            },
            retry: self.retry,
            poll: Duration::from_millis(200),
        };
        let verifier = self.auth.verifier.clone();
        self.servers.push(
            TestServer::spawn(move |listener, shutdown| async move {
                leadflow_notifier::host(parts)
                    .serve(&ServerArgs::default(), verifier, listener, shutdown)
                    .await
            })
            .await,
        );
    }

    pub fn client(&self, i: usize) -> NotifierServiceClient<Channel> {
        NotifierServiceClient::new(self.servers[i].channel())
    }

    pub fn token(&self, user: &str, role: Role) -> String {
        self.auth.token(user, &self.org, role)
    }

    pub fn service(&self) -> String {
        self.token("leads-service", Role::Service)
    }

    pub fn rep(&self, user: &str) -> String {
        self.token(user, Role::Sales)
    }

    /// Notify `user` about one lead, through replica `i`.
    pub async fn notify(
        &self,
        i: usize,
        key: &str,
        user: &str,
        lead_name: &str,
    ) -> pb::Notification {
        self.client(i)
            .notify(authed(
                notify_request(key, user, lead_name),
                &self.service(),
            ))
            .await
            .expect("notify")
            .into_inner()
    }

    pub async fn enable_email(&self, user: &str) {
        self.client(0)
            .update_preferences(authed(
                pb::UpdatePreferencesRequest {
                    email_enabled: true,
                    push_enabled: true,
                },
                &self.rep(user),
            ))
            .await
            .unwrap();
    }
}

pub fn notify_request(key: &str, user: &str, lead_name: &str) -> pb::NotifyRequest {
    pb::NotifyRequest {
        idempotency_key: key.into(),
        recipient: Some(pb::Recipient {
            user_id: user.into(),
            email: format!("{user}@example.com"),
            display_name: format!("Rep {user}"),
        }),
        kind: pb::NotificationKind::LeadRouted as i32,
        title: format!("New lead: {lead_name} (Website)"),
        body: format!("{lead_name} from the website was routed to you."),
        subject: Some(pb::notify_request::Subject::Lead(pb::LeadRef {
            id: format!("lead-{}", uuid::Uuid::new_v4().simple()),
            name: lead_name.into(),
            source: common::LeadSource::Website as i32,
        })),
        actor_id: "routing".into(),
    }
}

/// Polls ListDeliveries until every delivery is in a final state.
pub async fn settled(
    app: &NotifierApp,
    notification_id: &str,
    timeout: Duration,
) -> Vec<pb::Delivery> {
    let deadline = std::time::Instant::now() + timeout;
    let owner = app.token("owner-1", Role::Owner);
    loop {
        let deliveries = app
            .client(0)
            .list_deliveries(authed(
                pb::ListDeliveriesRequest {
                    notification_id: notification_id.into(),
                },
                &owner,
            ))
            .await
            .unwrap()
            .into_inner()
            .deliveries;
        let done = deliveries.iter().all(|d| {
            [
                pb::DeliveryStatus::Delivered as i32,
                pb::DeliveryStatus::Failed as i32,
                pb::DeliveryStatus::Dead as i32,
            ]
            .contains(&d.status)
        });
        if done || std::time::Instant::now() > deadline {
            return deliveries;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
