//! `leadflow all` as `make run` starts it: one process, SQLite files under
//! ./data, routing state in memory, mail as .eml files, HS256 dev tokens.

use std::time::Duration;

use leadflow_auth::{Caller, Role, TokenMinter};
use leadflow_e2e::*;
use leadflow_proto::common::v1 as common;
use leadflow_proto::leads::v1 as leads_pb;
use leadflow_proto::leads::v1::lead_service_client::LeadServiceClient;
use leadflow_proto::leads::v1::team_service_client::TeamServiceClient;
use leadflow_proto::notifier::v1 as notifier_pb;
use leadflow_proto::notifier::v1::notifier_service_client::NotifierServiceClient;
use leadflow_proto::routing::v1 as routing_pb;
use leadflow_proto::routing::v1::routing_service_client::RoutingServiceClient;
use leadflow_testkit::free_port;
use tonic::transport::Endpoint;

const SECRET: &str = "single-binary-dev-secret-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadflow_all_routes_and_notifies_on_sqlite_and_exits_cleanly_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("leadflow-all-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (leads_port, routing_port, notifier_port) = (free_port(), free_port(), free_port());
    let env = vec![
        ("LEADFLOW_ENV", "development".to_owned()),
        ("LEADFLOW_AUTH_HS256_SECRET", SECRET.to_owned()),
        ("LEADS_LISTEN_ADDR", format!("127.0.0.1:{leads_port}")),
        ("ROUTING_LISTEN_ADDR", format!("127.0.0.1:{routing_port}")),
        ("NOTIFIER_LISTEN_ADDR", format!("127.0.0.1:{notifier_port}")),
        (
            "LEADS_ROUTING_URL",
            format!("http://127.0.0.1:{routing_port}"),
        ),
        (
            "LEADS_NOTIFIER_URL",
            format!("http://127.0.0.1:{notifier_port}"),
        ),
        ("LEADS_OUTBOX_POLL_MS", "200".to_owned()),
    ];
    let process = ServiceProcess::start_in("leadflow", &dir, &["all"], &env);
    for port in [leads_port, routing_port, notifier_port] {
        wait_serving(port).await;
    }
    for file in ["leads.db", "routing.db", "notifier.db"] {
        assert!(dir.join("data").join(file).exists(), "{file} under ./data");
    }
    let minter = TokenMinter::hs256(SECRET.as_bytes(), "leadflow-dev");
    let token = |user: &str, role: Role| {
        minter.mint(&Caller::new(user, "demo", role), Duration::from_secs(600))
    };
    let (owner, ana) = (token("owner-1", Role::Owner), token("ana", Role::Sales));
    let channel = |port: u16| {
        Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect_lazy()
    };

    let mut team = TeamServiceClient::new(channel(leads_port));
    for (user, role) in [
        ("owner-1", common::Role::Owner),
        ("ana", common::Role::Sales),
    ] {
        team.upsert_member(req(
            leads_pb::UpsertMemberRequest {
                user_id: user.into(),
                display_name: user.into(),
                email: format!("{user}@example.com"),
                role: role as i32,
                active: None,
            },
            &owner,
        ))
        .await
        .unwrap();
    }
    RoutingServiceClient::new(channel(routing_port))
        .update_routing_settings(req(
            routing_pb::UpdateRoutingSettingsRequest {
                settings: Some(routing_pb::RoutingSettings {
                    enabled: true,
                    strategy: routing_pb::Strategy::RoundRobin as i32,
                    rotation_user_ids: vec!["ana".into()],
                    ..Default::default()
                }),
                expected_version: 0,
            },
            &owner,
        ))
        .await
        .unwrap();
    let mut notifier = NotifierServiceClient::new(channel(notifier_port));
    notifier
        .update_preferences(req(
            notifier_pb::UpdatePreferencesRequest {
                email_enabled: true,
                push_enabled: true,
            },
            &ana,
        ))
        .await
        .unwrap();
    let lead = LeadServiceClient::new(channel(leads_port))
        .create_lead(req(
            leads_pb::CreateLeadRequest {
                name: "Jane Doe".into(),
                source: common::LeadSource::Website as i32,
                ..Default::default()
            },
            &owner,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lead.owner_id, "ana", "routed on create");
    let bell = eventually(Duration::from_secs(15), "Ana's bell", || {
        let mut notifier = notifier.clone();
        let ana = ana.clone();
        async move {
            let list = notifier
                .list_notifications(req(notifier_pb::ListNotificationsRequest::default(), &ana))
                .await
                .ok()?
                .into_inner();
            list.notifications.into_iter().next()
        }
    })
    .await;
    assert_eq!(bell.title, "New lead: Jane Doe (Website)");
    eventually(Duration::from_secs(15), "the .eml file", || async {
        let mail = dir.join("data/mail");
        std::fs::read_dir(&mail)
            .ok()?
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .then_some(())
    })
    .await;
    assert!(process.terminate(), "leadflow exits cleanly on SIGTERM");
    std::fs::remove_dir_all(&dir).ok();
}
