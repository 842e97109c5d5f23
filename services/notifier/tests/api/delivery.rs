//! Delivery to the outside: exactly once, Web Push to a real push service,
//! email to a real SMTP server, retries, DEAD, and a restart mid-queue.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use leadflow_proto::notifier::v1 as pb;
use leadflow_testkit::push::PushService;
use leadflow_testkit::smtp::SmtpSink;

use crate::helpers::*;

async fn subscribe(
    app: &NotifierApp,
    push: &PushService,
    user: &str,
) -> leadflow_testkit::push::TestSubscription {
    let sub = push.subscribe();
    app.client(0)
        .add_push_subscription(req(
            pb::AddPushSubscriptionRequest {
                endpoint: sub.endpoint.clone(),
                p256dh: sub.p256dh.clone(),
                auth: sub.auth.clone(),
            },
            &app.rep(user),
        ))
        .await
        .expect("subscribe");
    sub
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_notifies_with_one_key_give_one_inbox_entry_one_push_and_one_email() {
    let smtp = SmtpSink::start().await;
    let push = PushService::start().await;
    let app = spawn_notifier(1, &smtp.url(), fast_retry(5)).await;
    let sub = subscribe(&app, &push, "ana").await;
    app.enable_email("ana").await;

    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.notify(0, "route:lead-1", "ana", "Jane <Doe>").await.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);

    let pushes = push.wait_for(1, Duration::from_secs(10)).await;
    let mails = smtp.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await; // room for any duplicate to show up
    assert_eq!(
        push.received().len(),
        1,
        "one push: {:?}",
        push.rejections()
    );
    assert_eq!(smtp.received().len(), 1, "one email");

    let json = &pushes[0].json;
    assert_eq!(json["title"], "New lead: Jane <Doe> (Website)");
    assert!(json["body"].as_str().unwrap().contains("Jane <Doe>"));
    assert!(json["lead_id"].as_str().unwrap().starts_with("lead-"));
    assert_eq!(
        json["url"],
        format!("/leads/{}", json["lead_id"].as_str().unwrap())
    );
    assert_eq!(pushes[0].urgency.as_deref(), Some("high"));
    assert_eq!(pushes[0].ttl.as_deref(), Some("60"));
    assert_eq!(pushes[0].subscription, sub.id);

    let mail = &mails[0];
    assert_eq!(mail.to, ["ana@example.com"]);
    assert!(
        mail.data
            .contains("Subject: New lead: Jane <Doe> (Website)"),
        "{}",
        mail.data
    );
    assert!(
        mail.data.contains("Jane &lt;Doe&gt;"),
        "HTML part escapes the lead's name"
    );
    assert!(
        mail.data.contains("https://crm.example.com/leads/lead-"),
        "links to the lead"
    );

    let inbox = app
        .client(0)
        .list_notifications(req(
            pb::ListNotificationsRequest::default(),
            &app.rep("ana"),
        ))
        .await
        .unwrap()
        .into_inner()
        .notifications;
    assert_eq!(inbox.len(), 1);
    let deliveries = settled(&app, &ids[0], Duration::from_secs(5)).await;
    assert_eq!(deliveries.len(), 2);
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == pb::DeliveryStatus::Delivered as i32 && d.attempts == 1)
    );
}

#[test]
fn the_rfc_8291_appendix_a_test_vector_decrypts() {
    let b64 = |s: &str| URL_SAFE_NO_PAD.decode(s).unwrap();
    let components = ece::EcKeyComponents::new(
        b64("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"),
        b64(
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
        ),
    );
    let message = b64(
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
    );
    let plaintext = ece::decrypt(&components, &b64("BTBZMqHH6r4Tts7J_aSIgg"), &message).unwrap();
    assert_eq!(plaintext, b"When I grow up, I want to be a watermelon");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_removes_the_subscription() {
    let push = PushService::start().await;
    let app = spawn_notifier(1, "file:///tmp/leadflow-test-mail", fast_retry(5)).await;
    let sub = subscribe(&app, &push, "ana").await;
    push.answer_next(&sub, &[(410, None)]);
    let n = app.notify(0, "k-410", "ana", "Jane Doe").await;
    let deliveries = settled(&app, &n.id, Duration::from_secs(10)).await;
    assert_eq!(deliveries[0].status, pb::DeliveryStatus::Failed as i32);
    assert!(
        app.store
            .subscriptions(&app.org, "ana")
            .await
            .unwrap()
            .is_empty(),
        "subscription deleted"
    );
    // Nothing more is ever sent to it.
    app.notify(0, "k-410-b", "ana", "John Roe").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(push.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_is_retried_after_that_delay() {
    let push = PushService::start().await;
    let app = spawn_notifier(1, "file:///tmp/leadflow-test-mail", fast_retry(5)).await;
    let sub = subscribe(&app, &push, "ana").await;
    push.answer_next(&sub, &[(429, Some(2))]);
    let n = app.notify(0, "k-429", "ana", "Jane Doe").await;
    let deliveries = settled(&app, &n.id, Duration::from_secs(15)).await;
    assert_eq!(deliveries[0].status, pb::DeliveryStatus::Delivered as i32);
    assert_eq!(deliveries[0].attempts, 2);
    let requests = push.requests();
    assert_eq!((requests[0].1, requests[1].1), (429, 201));
    let waited = requests[1].2 - requests[0].2;
    assert!(
        waited >= Duration::from_millis(1900),
        "retried after {waited:?}, not after Retry-After"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_500s_end_dead_with_every_attempt_listed() {
    let push = PushService::start().await;
    let app = spawn_notifier(1, "file:///tmp/leadflow-test-mail", fast_retry(3)).await;
    let sub = subscribe(&app, &push, "ana").await;
    push.answer_next(&sub, &[(500, None), (503, None), (500, None), (500, None)]);
    let n = app.notify(0, "k-500", "ana", "Jane Doe").await;
    let deliveries = settled(&app, &n.id, Duration::from_secs(15)).await;
    let d = &deliveries[0];
    assert_eq!(d.status, pb::DeliveryStatus::Dead as i32);
    assert_eq!(d.attempts, 3);
    assert_eq!(d.attempt_log.len(), 3);
    assert_eq!(
        d.attempt_log.iter().map(|a| a.number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(
        d.attempt_log[2].outcome.starts_with("dead"),
        "{:?}",
        d.attempt_log
    );
    assert_eq!(
        d.target, "127.0.0.1",
        "only the push service's host is shown"
    );
    assert_eq!(push.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_is_retried_while_the_server_is_down_and_on_4xx_and_fails_on_5xx() {
    // Down at first: nothing listens on the port yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_notifier(1, &format!("smtp://127.0.0.1:{port}"), fast_retry(10)).await;
    app.enable_email("ana").await;
    app.enable_email("ben").await;
    let first = app.notify(0, "k-down", "ana", "Jane Doe").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let smtp = SmtpSink::start_on(port).await;
    let deliveries = settled(&app, &first.id, Duration::from_secs(15)).await;
    assert_eq!(deliveries[0].status, pb::DeliveryStatus::Delivered as i32);
    assert!(
        deliveries[0].attempts >= 2,
        "retried: {:?}",
        deliveries[0].attempt_log
    );
    assert_eq!(smtp.received().len(), 1);

    smtp.answer_next(&[451]);
    let second = app.notify(0, "k-4xx", "ben", "John Roe").await;
    let deliveries = settled(&app, &second.id, Duration::from_secs(15)).await;
    assert_eq!(deliveries[0].status, pb::DeliveryStatus::Delivered as i32);
    assert_eq!(deliveries[0].attempts, 2);

    smtp.answer_next(&[550]);
    let third = app.notify(0, "k-5xx", "ana", "Max Mustermann").await;
    let deliveries = settled(&app, &third.id, Duration::from_secs(15)).await;
    assert_eq!(deliveries[0].status, pb::DeliveryStatus::Failed as i32);
    assert_eq!(deliveries[0].attempts, 1);
    assert_eq!(smtp.received().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_pending_at_a_restart_complete_after_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut app = spawn_notifier(1, &format!("smtp://127.0.0.1:{port}"), fast_retry(50)).await;
    for user in ["ana", "ben", "cy"] {
        app.enable_email(user).await;
    }
    let mut ids = Vec::new();
    for (i, user) in ["ana", "ben", "cy"].iter().enumerate() {
        ids.push(
            app.notify(0, &format!("k-restart-{i}"), user, "Jane Doe")
                .await
                .id,
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.servers.pop().unwrap().stop().await.unwrap();
    assert_eq!(
        app.store.pending_deliveries().await.unwrap(),
        3,
        "still pending after the stop"
    );

    let smtp = SmtpSink::start_on(port).await;
    app.add_replica().await;
    for id in &ids {
        let deliveries = settled(&app, id, Duration::from_secs(20)).await;
        assert_eq!(deliveries[0].status, pb::DeliveryStatus::Delivered as i32);
    }

    let mut to: Vec<String> = smtp.received().into_iter().flat_map(|m| m.to).collect();
    to.sort();
    assert_eq!(to, ["ana@example.com", "ben@example.com", "cy@example.com"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_draining_one_queue_send_each_delivery_once() {
    let push = PushService::start().await;
    let app = spawn_notifier(2, "file:///tmp/leadflow-test-mail", fast_retry(5)).await;
    subscribe(&app, &push, "ana").await;
    for i in 0..40 {
        app.notify(i % 2, &format!("k-many-{i}"), "ana", &format!("Lead {i}"))
            .await;
    }
    let pushes = push.wait_for(40, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        push.received().len(),
        40,
        "every delivery once, none twice: {}",
        pushes.len()
    );
    let mut titles: Vec<String> = push
        .received()
        .iter()
        .map(|p| p.json["title"].as_str().unwrap().to_owned())
        .collect();
    titles.sort();
    titles.dedup();
    assert_eq!(titles.len(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_sent_padded_or_in_the_standard_alphabet_still_deliver() {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    let smtp = SmtpSink::start().await;
    let push = PushService::start().await;
    let app = spawn_notifier(1, &smtp.url(), fast_retry(3)).await;
    let (padded, standard) = (push.subscribe(), push.subscribe());
    for (user, sub, engine) in [("ana", &padded, &URL_SAFE), ("ben", &standard, &STANDARD)] {
        let reencode = |key: &str| engine.encode(URL_SAFE_NO_PAD.decode(key).unwrap());
        let p256dh = reencode(&sub.p256dh);
        app.client(0)
            .add_push_subscription(req(
                pb::AddPushSubscriptionRequest {
                    endpoint: sub.endpoint.clone(),
                    p256dh,
                    auth: reencode(&sub.auth),
                },
                &app.rep(user),
            ))
            .await
            .expect("subscribe");
    }
    let a = app.notify(0, "padded-1", "ana", "Jane").await;
    let b = app.notify(0, "standard-1", "ben", "Joe").await;
    push.wait_for(2, Duration::from_secs(10)).await;
    for n in [a, b] {
        let deliveries = settled(&app, &n.id, Duration::from_secs(10)).await;
        let push_delivery = deliveries
            .iter()
            .find(|d| d.channel == pb::Channel::WebPush as i32)
            .unwrap();
        assert_eq!(
            push_delivery.status,
            pb::DeliveryStatus::Delivered as i32,
            "{push_delivery:?}"
        );
    }
    assert!(push.rejections().is_empty(), "{:?}", push.rejections());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_bell_of_five_200_character_cjk_names_is_pushed() {
    let smtp = SmtpSink::start().await;
    let push = PushService::start().await;
    let app = spawn_notifier(1, &smtp.url(), fast_retry(3)).await;
    subscribe(&app, &push, "ana").await;
    let names: Vec<String> = (0..5)
        .map(|i| {
            format!(
                "{}{i}",
                "山田太郎".repeat(50).chars().take(199).collect::<String>()
            )
        })
        .collect();
    let body = names
        .iter()
        .map(|n| format!("{n} (Website)"))
        .collect::<Vec<_>>()
        .join(", ")
        + " and 2 more.";
    assert!(
        body.len() > 3_052,
        "the body alone is over the library's limit"
    );
    let request = pb::NotifyRequest {
        idempotency_key: "batch-cjk".into(),
        recipient: Some(pb::Recipient {
            user_id: "ana".into(),
            email: String::new(),
            display_name: "Ana".into(),
        }),
        kind: pb::NotificationKind::LeadsAssigned as i32,
        title: "7 leads assigned to you".into(),
        body,
        subject: Some(pb::notify_request::Subject::Batch(pb::LeadBatch {
            batch_id: "b-1".into(),
            count: 7,
            leads: names
                .iter()
                .enumerate()
                .map(|(i, name)| pb::LeadRef {
                    id: format!("lead-{i}"),
                    name: name.clone(),
                    source: leadflow_proto::common::v1::LeadSource::Website as i32,
                })
                .collect(),
        })),
        actor_id: "owner-1".into(),
    };
    let n = app
        .client(0)
        .notify(req(request, &app.service()))
        .await
        .expect("a batch bell is accepted")
        .into_inner();
    let pushes = push.wait_for(1, Duration::from_secs(10)).await;
    let json = &pushes[0].json;
    assert_eq!(json["title"], "7 leads assigned to you");
    let pushed_body = json["body"].as_str().unwrap();
    assert!(
        pushed_body.ends_with('…'),
        "shortened to fit: {pushed_body}"
    );
    assert!(pushed_body.starts_with(&names[0]));
    let deliveries = settled(&app, &n.id, Duration::from_secs(10)).await;
    assert_eq!(deliveries[0].status, pb::DeliveryStatus::Delivered as i32);
    // The inbox keeps the whole body.
    assert!(n.body.ends_with(" and 2 more."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_moves_to_the_caller_within_its_organisation_never_across() {
    let smtp = SmtpSink::start().await;
    let push = PushService::start().await;
    let app = spawn_notifier(1, &smtp.url(), fast_retry(3)).await;
    let sub = subscribe(&app, &push, "ana").await;
    let add = |token: String| {
        let sub = sub.clone();
        let mut client = app.client(0);
        async move {
            client
                .add_push_subscription(req(
                    pb::AddPushSubscriptionRequest {
                        endpoint: sub.endpoint,
                        p256dh: sub.p256dh,
                        auth: sub.auth,
                    },
                    &token,
                ))
                .await
        }
    };
    // Another organisation cannot take it.
    let outsider = app
        .auth
        .token("mallory", "org-elsewhere", leadflow_auth::Role::Sales);
    let refused = add(outsider).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::AlreadyExists, "{refused:?}");
    app.notify(0, "still-ana", "ana", "Jane").await;
    push.wait_for(1, Duration::from_secs(10)).await;

    // Within the organisation, the shared browser moves to ben.
    let moved = add(app.rep("ben"))
        .await
        .expect("ben takes the browser")
        .into_inner();
    assert_eq!(moved.user_id, "ben");
    app.notify(0, "for-ana", "ana", "Kim").await;
    app.notify(0, "for-ben", "ben", "Lou").await;
    push.wait_for(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let titles: Vec<String> = push
        .received()
        .iter()
        .map(|p| p.json["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(titles.iter().any(|t| t.contains("Lou")), "{titles:?}");
    assert!(
        !titles.iter().any(|t| t.contains("Kim")),
        "ana's lead no longer reaches the browser ben uses: {titles:?}"
    );
}
