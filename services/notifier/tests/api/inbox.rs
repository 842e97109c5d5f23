//! The in-app bell: inbox, unread count, and the live stream across replicas.

use leadflow_db::OwnDatabase;
use std::time::Duration;

use leadflow_proto::notifier::v1 as pb;
use leadflow_proto::notifier::v1::notification_event::Event;
use tonic::Streaming;

use crate::helpers::*;

async fn next(stream: &mut Streaming<pb::NotificationEvent>) -> Event {
    tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("an event within 5 s")
        .expect("stream ok")
        .expect("stream open")
        .event
        .expect("event")
}

async fn watch(
    app: &NotifierApp,
    replica: usize,
    user: &str,
    after_id: &str,
) -> Streaming<pb::NotificationEvent> {
    app.client(replica)
        .watch_notifications(req(
            pb::WatchNotificationsRequest {
                after_id: after_id.into(),
            },
            &app.rep(user),
        ))
        .await
        .unwrap()
        .into_inner()
}

fn title(event: Event) -> String {
    match event {
        Event::Notification(n) => n.title,
        other => panic!("expected a notification, got {other:?}"),
    }
}

fn count(event: Event) -> i64 {
    match event {
        Event::UnreadCount(c) => c.count,
        other => panic!("expected an unread count, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_on_one_replica_sees_notifications_created_through_another() {
    let app = spawn_notifier(2, "file:///tmp/leadflow-test-mail", fast_retry(3)).await;
    app.notify(1, "k-0", "ana", "Before Watching").await;
    let mut stream = watch(&app, 0, "ana", "").await;
    assert_eq!(
        count(next(&mut stream).await),
        1,
        "the first event is the unread count"
    );

    let started = std::time::Instant::now();
    app.notify(1, "k-1", "ana", "Jane Doe").await;
    assert_eq!(
        title(next(&mut stream).await),
        "New lead: Jane Doe (Website)"
    );
    println!("cross-replica notification after {:?}", started.elapsed());
    assert_eq!(count(next(&mut stream).await), 2);
    // Someone else's notification never shows on Ana's stream.
    app.notify(1, "k-2", "ben", "Not For Ana").await;
    app.notify(0, "k-3", "ana", "John Roe").await;
    assert_eq!(
        title(next(&mut stream).await),
        "New lead: John Roe (Website)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_with_after_id_misses_nothing() {
    let app = spawn_notifier(2, "file:///tmp/leadflow-test-mail", fast_retry(3)).await;
    let mut stream = watch(&app, 0, "ana", "").await;
    count(next(&mut stream).await);
    let first = app.notify(0, "k-a", "ana", "First").await;
    assert_eq!(title(next(&mut stream).await), "New lead: First (Website)");
    drop(stream);

    // Offline: two more arrive.
    app.notify(1, "k-b", "ana", "Second").await;
    app.notify(1, "k-c", "ana", "Third").await;
    let mut resumed = watch(&app, 1, "ana", &first.id).await;
    assert_eq!(count(next(&mut resumed).await), 3);
    assert_eq!(
        title(next(&mut resumed).await),
        "New lead: Second (Website)"
    );
    assert_eq!(title(next(&mut resumed).await), "New lead: Third (Website)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mark_read_in_one_tab_updates_the_count_on_another_open_stream() {
    let app = spawn_notifier(2, "file:///tmp/leadflow-test-mail", fast_retry(3)).await;
    let a = app.notify(0, "k-1", "ana", "One").await;
    app.notify(0, "k-2", "ana", "Two").await;
    let mut other_tab = watch(&app, 1, "ana", "").await;
    assert_eq!(count(next(&mut other_tab).await), 2);
    let left = app
        .client(0)
        .mark_read(req(
            pb::MarkReadRequest {
                ids: vec![a.id.clone()],
            },
            &app.rep("ana"),
        ))
        .await
        .unwrap()
        .into_inner()
        .count;
    assert_eq!(left, 1);
    assert_eq!(count(next(&mut other_tab).await), 1);
    app.client(0)
        .mark_all_read(req(pb::MarkAllReadRequest {}, &app.rep("ana")))
        .await
        .unwrap();
    assert_eq!(count(next(&mut other_tab).await), 0);
    let unread = app
        .client(1)
        .get_unread_count(req(pb::GetUnreadCountRequest {}, &app.rep("ana")))
        .await
        .unwrap()
        .into_inner()
        .count;
    assert_eq!(unread, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_lists_newest_first_in_pages_with_an_unread_filter() {
    let app = spawn_notifier(1, "file:///tmp/leadflow-test-mail", fast_retry(3)).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            app.notify(0, &format!("k-{i}"), "ana", &format!("Lead {i}"))
                .await
                .id,
        );
    }
    app.client(0)
        .mark_read(req(
            pb::MarkReadRequest {
                ids: vec![ids[4].clone()],
            },
            &app.rep("ana"),
        ))
        .await
        .unwrap();
    let page = |token: String, unread_only| {
        let app = &app;
        async move {
            app.client(0)
                .list_notifications(req(
                    pb::ListNotificationsRequest {
                        page_size: 2,
                        page_token: token,
                        unread_only,
                    },
                    &app.rep("ana"),
                ))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let first = page(String::new(), false).await;
    assert_eq!(
        first
            .notifications
            .iter()
            .map(|n| n.id.clone())
            .collect::<Vec<_>>(),
        [ids[4].clone(), ids[3].clone()]
    );
    let second = page(first.next_page_token, false).await;
    assert_eq!(second.notifications[0].id, ids[2]);
    let unread = page(String::new(), true).await;
    assert_eq!(
        unread.notifications[0].id, ids[3],
        "read ones are filtered out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_streams_so_clients_reconnect_elsewhere() {
    let mut app = spawn_notifier(1, "file:///tmp/leadflow-test-mail", fast_retry(3)).await;
    let mut stream = watch(&app, 0, "ana", "").await;
    count(next(&mut stream).await);
    let server = app.servers.pop().unwrap();
    let started = std::time::Instant::now();
    let stopped = tokio::spawn(server.stop());
    let end = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("the stream ends promptly");
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
    stopped.await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "shutdown took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_one_process_fans_out_in_process() {
    use leadflow_notifier::Parts;
    use leadflow_notifier::channels::email::Email;
    use leadflow_notifier::domain::push::PushPolicy;
    use leadflow_notifier::hub::Hub;
    use leadflow_notifier::store::Store;
    use std::sync::Arc;

    let dir = std::env::temp_dir().join(format!(
        "leadflow-notifier-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let store = Store::connect(
        &format!("sqlite://{}/notifier.db?mode=rwc", dir.display()),
        4,
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let mail_dir = dir.join("mail");
    let parts = Parts {
        store,
        hub: Hub::local(),
        webpush: None,
        email: Some(Arc::new(
            Email::new(
                &format!("file://{}", mail_dir.display()),
                "leadflow <l@leadflow.test>",
                "http://localhost:3000",
                Duration::from_secs(5),
            )
            .unwrap(),
        )),
        push_policy: PushPolicy::default(),
        retry: fast_retry(3),
        poll: Duration::from_millis(200),
    };
    let auth = leadflow_testkit::TestAuth::new();
    let verifier = auth.verifier.clone();
    let server = leadflow_testkit::TestServer::spawn(move |listener, shutdown| async move {
        leadflow_notifier::host(parts)
            .serve(
                &leadflow_server::ServerArgs::default(),
                verifier,
                listener,
                shutdown,
            )
            .await
    })
    .await;
    let mut client =
        leadflow_proto::notifier::v1::notifier_service_client::NotifierServiceClient::new(
            server.channel(),
        );
    let ana = auth.token("ana", "org", leadflow_auth::Role::Sales);
    client
        .update_preferences(req(
            pb::UpdatePreferencesRequest {
                email_enabled: true,
                push_enabled: true,
            },
            &ana,
        ))
        .await
        .unwrap();
    let mut stream = client
        .watch_notifications(req(pb::WatchNotificationsRequest::default(), &ana))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(count(next(&mut stream).await), 0);
    let service = auth.token("leads-service", "org", leadflow_auth::Role::Service);
    client
        .notify(req(notify_request("k-1", "ana", "Jane Doe"), &service))
        .await
        .unwrap();
    assert_eq!(
        title(next(&mut stream).await),
        "New lead: Jane Doe (Website)"
    );

    // make run's mail: an .eml file a newcomer can open.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let eml = loop {
        let files: Vec<_> = std::fs::read_dir(&mail_dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        if let Some(file) = files
            .into_iter()
            .find(|p| p.extension().is_some_and(|e| e == "eml"))
        {
            break std::fs::read_to_string(file).unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no .eml file was written"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(eml.contains("Subject: New lead: Jane Doe (Website)"));
    drop(stream);
    server.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

/// Ids are taken at insert, commits land in any order: a notification whose
/// transaction took id N but committed after id N+1 was streamed must still
/// reach the watcher (found by `make bench`'s speed-to-lead run, where a few
/// of 700 never arrived).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_committed_after_a_newer_one_still_reaches_the_watcher() {
    use sea_orm::sqlx;
    let app = spawn_notifier(1, "file:///tmp/leadflow-test-mail", fast_retry(3)).await;
    app.notify(0, "k-template", "ana", "Template").await;
    let mut stream = watch(&app, 0, "ana", "").await;
    assert_eq!(count(next(&mut stream).await), 1);

    // A transaction takes the next id and stays open…
    let pool = sqlx::PgPool::connect(&app._db.url).await.unwrap();
    let mut slow = pool.begin().await.unwrap();
    let (late_id,): (i64,) = sqlx::query_as(
        "INSERT INTO notifications (org_id, recipient_id, idempotency_key, kind, title, body, subject, actor_id, created_at) \
         SELECT org_id, recipient_id, 'k-late', kind, 'New lead: Committed Late (Website)', body, subject, actor_id, now() \
         FROM notifications WHERE idempotency_key = 'k-template' RETURNING id",
    )
    .fetch_one(&mut *slow)
    .await
    .unwrap();
    // …while a newer one commits and is streamed.
    let first = app.notify(0, "k-first", "ana", "Committed First").await;
    assert!(first.id.parse::<i64>().unwrap() > late_id);
    let mut titles = Vec::new();
    while titles.is_empty() {
        if let Event::Notification(n) = next(&mut stream).await {
            titles.push(n.title);
        }
    }
    // The older id commits now, and says so as the notifier does.
    sqlx::query("SELECT pg_notify('leadflow_notifier', $1)")
        .bind(format!(
            r#"{{"org":"{}","user":"ana","what":"new"}}"#,
            app.org
        ))
        .execute(&mut *slow)
        .await
        .unwrap();
    slow.commit().await.unwrap();
    while titles.len() < 2 {
        if let Event::Notification(n) = next(&mut stream).await {
            titles.push(n.title);
        }
    }
    assert_eq!(
        titles,
        [
            "New lead: Committed First (Website)",
            "New lead: Committed Late (Website)"
        ]
    );
    pool.close().await;
}
