//! Group commit of Notify: many concurrent calls share transactions, yet each
//! caller gets its own notification back, retries stay idempotent, deliveries
//! follow each recipient's preferences, and one notification the database
//! refuses fails only its own call.

use leadflow_db::OwnDatabase;
use std::collections::{HashMap, HashSet};

use leadflow_proto::notifier::v1 as pb;
use leadflow_testkit::smtp::SmtpSink;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::helpers::*;

const REPS: [&str; 4] = ["ana", "ben", "cara", "dan"];

/// Rows of `sql` (one bigint column) in the test database.
async fn scalar(app: &NotifierApp, sql: &str) -> i64 {
    app.store
        .connection()
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_notifies_share_commits_and_each_caller_gets_its_own_notification() {
    let smtp = SmtpSink::start().await;
    let app = spawn_notifier(1, &smtp.url(), fast_retry(3)).await;
    app.enable_email("ana").await;

    // 200 calls at once; every tenth key is sent twice, like a retry racing
    // the original.
    let mut calls = Vec::new();
    for i in 0..200 {
        let first = if i % 10 == 9 { i - 1 } else { i };
        let (key, user) = (format!("k-{first}"), REPS[first % REPS.len()]);
        let (mut client, token) = (app.client(0), app.service());
        calls.push(tokio::spawn(async move {
            let lead = format!("Lead {key}");
            let n = client
                .notify(req(notify_request(&key, user, &lead), &token))
                .await
                .expect("notify")
                .into_inner();
            (key, user, n)
        }));
    }
    let mut by_key: HashMap<String, HashSet<String>> = HashMap::new();
    let mut per_rep: HashMap<&str, HashSet<String>> = HashMap::new();
    for call in calls {
        let (key, user, n) = call.await.unwrap();
        per_rep.entry(user).or_default().insert(n.id.clone());
        assert_eq!(n.recipient_id, user, "the answer is the caller's own");
        let Some(pb::notification::Subject::Lead(lead)) = &n.subject else {
            panic!("a lead notification");
        };
        assert_eq!(lead.name, format!("Lead {key}"));
        by_key.entry(key).or_default().insert(n.id);
    }
    assert_eq!(by_key.len(), 180, "one notification per key");
    assert!(
        by_key.values().all(|ids| ids.len() == 1),
        "a repeated key gives the first notification back"
    );

    assert_eq!(
        scalar(&app, "SELECT count(*) FROM notifications").await,
        180
    );
    let transactions = scalar(
        &app,
        "SELECT count(DISTINCT xmin::text)::bigint FROM notifications",
    )
    .await;
    assert!(
        transactions < 180,
        "concurrent calls share transactions ({transactions} for 180 notifications)"
    );

    // Email is ana's choice only: one email delivery per notification of hers.
    let ana = scalar(
        &app,
        "SELECT count(*) FROM notifications WHERE recipient_id = 'ana'",
    )
    .await;
    let emails = scalar(
        &app,
        "SELECT count(*) FROM deliveries d JOIN notifications n ON n.id = d.notification_id \
         WHERE d.channel = 'email' AND n.recipient_id = 'ana'",
    )
    .await;
    assert_eq!(ana, per_rep["ana"].len() as i64);
    assert_eq!(emails, ana);
    assert_eq!(scalar(&app, "SELECT count(*) FROM deliveries").await, ana);

    // Each rep's inbox holds exactly their own.
    for rep in REPS {
        let inbox = app
            .client(0)
            .list_notifications(req(
                pb::ListNotificationsRequest {
                    page_size: 100,
                    ..Default::default()
                },
                &app.rep(rep),
            ))
            .await
            .unwrap()
            .into_inner()
            .notifications;
        assert_eq!(inbox.len(), per_rep[rep].len(), "{rep}'s inbox");
        assert!(inbox.iter().all(|n| n.recipient_id == rep));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_the_database_refuses_fails_only_its_own_call() {
    let smtp = SmtpSink::start().await;
    let app = spawn_notifier(1, &smtp.url(), fast_retry(3)).await;
    // A real refusal inside Postgres, for one title only.
    for sql in [
        "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN \
           IF NEW.title LIKE '%Poison%' THEN RAISE EXCEPTION 'refused'; END IF; \
           RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON notifications \
           FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
    ] {
        app.store
            .connection()
            .execute_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .unwrap();
    }

    let mut calls = Vec::new();
    for i in 0..60 {
        let name = if i == 30 {
            "Poison".to_owned()
        } else {
            format!("Lead {i}")
        };
        let (mut client, token) = (app.client(0), app.service());
        calls.push(tokio::spawn(async move {
            let result = client
                .notify(req(
                    notify_request(&format!("k-{i}"), REPS[i % REPS.len()], &name),
                    &token,
                ))
                .await;
            (name, result)
        }));
    }
    let mut failed = Vec::new();
    for call in calls {
        let (name, result) = call.await.unwrap();
        if let Err(status) = result {
            failed.push((name, status.code()));
        }
    }
    assert_eq!(failed, vec![("Poison".to_owned(), tonic::Code::Internal)]);
    assert_eq!(scalar(&app, "SELECT count(*) FROM notifications").await, 59);

    // The refused one, retried once the cause is gone, is stored like any other.
    app.store
        .connection()
        .execute_raw(Statement::from_string(
            DbBackend::Postgres,
            "DROP TRIGGER refuse_poison ON notifications",
        ))
        .await
        .unwrap();
    let n = app.notify(0, "k-30", REPS[30 % REPS.len()], "Poison").await;
    assert_eq!(n.recipient_id, REPS[30 % REPS.len()]);
    assert_eq!(scalar(&app, "SELECT count(*) FROM notifications").await, 60);
}
