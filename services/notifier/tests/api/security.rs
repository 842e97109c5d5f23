//! Permissions, isolation and SSRF.

use leadflow_auth::Role;
use leadflow_proto::notifier::v1 as pb;
use leadflow_testkit::push::PushService;
use tonic::Code;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_service_notifies_and_only_the_recipient_reads_never_across_organisations() {
    let app = spawn_notifier(1, "file:///tmp/leadflow-test-mail", fast_retry(3)).await;
    for role in [Role::Owner, Role::Manager, Role::Sales, Role::Integration] {
        let err = app
            .client(0)
            .notify(req(
                notify_request("k", "ana", "X"),
                &app.token("someone", role),
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{role}");
    }
    let n = app.notify(0, "k-1", "ana", "Jane Doe").await;

    // Ben (same org) and Ana's namesake in another org see nothing of Ana's.
    let ben = app.rep("ben");
    let other_org_ana = app.auth.token("ana", "org-elsewhere", Role::Sales);
    for token in [&ben, &other_org_ana] {
        let list = app
            .client(0)
            .list_notifications(req(pb::ListNotificationsRequest::default(), token))
            .await
            .unwrap()
            .into_inner();
        assert!(list.notifications.is_empty());
        let left = app
            .client(0)
            .mark_read(req(
                pb::MarkReadRequest {
                    ids: vec![n.id.clone()],
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(left.count, 0);
    }
    let ana_unread = app
        .client(0)
        .get_unread_count(req(pb::GetUnreadCountRequest {}, &app.rep("ana")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ana_unread.count, 1,
        "their MarkRead did not touch Ana's notification"
    );

    // Machines have no inbox; deliveries are for owners and admins of the same org.
    let err = app
        .client(0)
        .list_notifications(req(pb::ListNotificationsRequest::default(), &app.service()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let deliveries = |token: String| {
        let mut client = app.client(0);
        let id = n.id.clone();
        async move {
            client
                .list_deliveries(req(
                    pb::ListDeliveriesRequest {
                        notification_id: id,
                    },
                    &token,
                ))
                .await
        }
    };
    assert_eq!(
        deliveries(app.token("mgr", Role::Manager))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert!(deliveries(app.token("adm", Role::Admin)).await.is_ok());
    let other_owner = app.auth.token("owner-1", "org-elsewhere", Role::Owner);
    assert_eq!(
        deliveries(other_owner).await.unwrap_err().code(),
        Code::NotFound
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_endpoints_off_the_allowlist_or_on_private_addresses_are_refused() {
    let app = spawn_notifier(1, "file:///tmp/leadflow-test-mail", fast_retry(3)).await;
    let push = PushService::start().await;
    let good = push.subscribe();
    let add = |endpoint: &str, p256dh: &str, auth: &str| {
        let mut client = app.client(0);
        let request = pb::AddPushSubscriptionRequest {
            endpoint: endpoint.into(),
            p256dh: p256dh.into(),
            auth: auth.into(),
        };
        let token = app.rep("ana");
        async move { client.add_push_subscription(req(request, &token)).await }
    };
    for endpoint in [
        "https://evil.example.com/collect",
        "https://10.0.0.7/push",
        "https://169.254.169.254/latest/meta-data",
        "http://fcm.googleapis.com/fcm/send/x",
        "http://192.168.1.10:8080/push",
        "ftp://fcm.googleapis.com/x",
    ] {
        let err = add(endpoint, &good.p256dh, &good.auth).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{endpoint}");
        assert!(err.message().starts_with("endpoint"), "{}", err.message());
    }
    assert_eq!(
        add(&good.endpoint, "not-a-key", &good.auth)
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    assert_eq!(
        add(&good.endpoint, &good.p256dh, "AAAA")
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    assert!(
        add(
            "https://fcm.googleapis.com/fcm/send/abc",
            &good.p256dh,
            &good.auth
        )
        .await
        .is_ok()
    );

    // An endpoint belongs to one recipient: re-adding it moves it; removal acts only on one's own.
    add(&good.endpoint, &good.p256dh, &good.auth).await.unwrap();
    app.client(0)
        .add_push_subscription(req(
            pb::AddPushSubscriptionRequest {
                endpoint: good.endpoint.clone(),
                p256dh: good.p256dh.clone(),
                auth: good.auth.clone(),
            },
            &app.rep("ben"),
        ))
        .await
        .unwrap();
    assert!(
        app.store
            .subscriptions(&app.org, "ana")
            .await
            .unwrap()
            .iter()
            .all(|s| s.endpoint != good.endpoint)
    );
    let removed = app
        .client(0)
        .remove_push_subscription(req(
            pb::RemovePushSubscriptionRequest {
                endpoint: good.endpoint.clone(),
            },
            &app.rep("ana"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!removed.removed, "Ana cannot remove Ben's subscription");
    assert_eq!(
        app.store
            .subscriptions(&app.org, "ben")
            .await
            .unwrap()
            .len(),
        1
    );
}
