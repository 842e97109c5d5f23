//! The leased queue on real databases: a lease taken over after it lapses
//! fences the slow holder out, a heartbeat keeps it, and attempts counted at
//! claim time end in DEAD even when no outcome is ever recorded.

use std::time::Duration;

use leadflow_db::queue::LeasedQueue;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection};

const QUEUE: LeasedQueue = LeasedQueue {
    table: "jobs",
    due: &["pending"],
    dead: "dead",
    lease: Duration::from_millis(400),
    max_attempts: 3,
    order: &["id"],
};

async fn jobs_table(db: &DatabaseConnection) {
    let id = match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        _ => "BIGSERIAL PRIMARY KEY",
    };
    db.execute_unprepared(&format!(
        "CREATE TABLE jobs (id {id}, status TEXT NOT NULL, attempts INTEGER NOT NULL, \
         last_error TEXT, next_attempt_at TIMESTAMPTZ NOT NULL, lease_until TIMESTAMPTZ, \
         lease_token BIGINT, done_by BIGINT)"
    ))
    .await
    .unwrap();
}

async fn add_job(db: &DatabaseConnection) {
    let insert = Query::insert()
        .into_table(Alias::new("jobs"))
        .columns([
            Alias::new("status"),
            Alias::new("attempts"),
            Alias::new("next_attempt_at"),
        ])
        .values_panic([
            "pending".into(),
            0.into(),
            (chrono::Utc::now() - chrono::Duration::seconds(1)).into(),
        ])
        .to_owned();
    db.execute_raw(db.get_database_backend().build(&insert))
        .await
        .unwrap();
}

/// Records "done" for job `id` as the holder of `token`; whether it counted.
async fn finish(db: &DatabaseConnection, id: i64, token: i64) -> bool {
    let update = Query::update()
        .table(Alias::new("jobs"))
        .value(Alias::new("status"), "done")
        .value(Alias::new("done_by"), token)
        .cond_where(LeasedQueue::held(id, token))
        .to_owned();
    db.execute_raw(db.get_database_backend().build(&update))
        .await
        .unwrap()
        .rows_affected()
        == 1
}

async fn status(db: &DatabaseConnection) -> (String, i32) {
    let select = Query::select()
        .columns([Alias::new("status"), Alias::new("attempts")])
        .from(Alias::new("jobs"))
        .and_where(Expr::col(Alias::new("id")).eq(1))
        .to_owned();
    let row = db
        .query_one_raw(db.get_database_backend().build(&select))
        .await
        .unwrap()
        .unwrap();
    (
        row.try_get("", "status").unwrap(),
        row.try_get("", "attempts").unwrap(),
    )
}

async fn a_lapsed_lease_is_taken_over_and_the_slow_holder_is_fenced_out(db: &DatabaseConnection) {
    jobs_table(db).await;
    add_job(db).await;
    let slow = QUEUE.claim(db, 10).await.unwrap();
    assert_eq!(slow.rows.len(), 1);
    assert_eq!(slow.rows[0].attempts, 0);
    assert!(
        QUEUE.claim(db, 10).await.unwrap().rows.is_empty(),
        "held: nobody else takes it"
    );
    // The slow worker stalls past its lease without a heartbeat.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let fast = QUEUE.claim(db, 10).await.unwrap();
    assert_eq!(fast.rows.len(), 1, "taken over once the lease lapsed");
    assert_eq!(fast.rows[0].attempts, 1, "the stalled attempt counted");
    assert_ne!(fast.token, slow.token);
    assert!(
        !finish(db, 1, slow.token).await,
        "the late outcome is rejected"
    );
    assert!(finish(db, 1, fast.token).await);
    assert_eq!(status(db).await, ("done".into(), 2));
}

async fn a_heartbeat_keeps_the_lease_past_its_length(db: &DatabaseConnection) {
    jobs_table(db).await;
    add_job(db).await;
    let claim = QUEUE.claim(db, 10).await.unwrap();
    let work = async {
        tokio::time::sleep(Duration::from_millis(1_200)).await; // 3 leases long
        QUEUE.claim(db, 10).await.unwrap()
    };
    let other = tokio::select! {
        other = work => other,
        () = QUEUE.keep_alive(db, claim.token) => unreachable!(),
    };
    assert!(other.rows.is_empty(), "still held by the live worker");
    assert!(finish(db, 1, claim.token).await);
}

async fn attempts_that_never_record_an_outcome_still_end_dead(db: &DatabaseConnection) {
    jobs_table(db).await;
    add_job(db).await;
    for attempt in 0..3 {
        let claim = QUEUE.claim(db, 10).await.unwrap();
        assert_eq!(claim.rows.len(), 1, "attempt {attempt}");
        tokio::time::sleep(Duration::from_millis(500)).await; // outlives its lease
    }
    let last = QUEUE.claim(db, 10).await.unwrap();
    assert!(last.rows.is_empty());
    assert_eq!(last.exhausted, vec![1]);
    assert_eq!(status(db).await, ("dead".into(), 3));
    assert!(QUEUE.claim(db, 10).await.unwrap().exhausted.is_empty());
}

macro_rules! on_both {
    ($($name:ident),+ $(,)?) => {
        mod postgres {
            $(#[tokio::test] async fn $name() {
                let test_db = leadflow_testkit::TestDb::new().await;
                let db = leadflow_db::connect(&test_db.url, 4).await.unwrap();
                super::$name(&db).await;
            })+
        }
        mod sqlite {
            $(#[tokio::test] async fn $name() {
                let dir = std::env::temp_dir().join(format!("lf-queue-{}", uuid::Uuid::new_v4().simple()));
                let url = format!("sqlite://{}/q.db?mode=rwc", dir.display());
                let db = leadflow_db::connect(&url, 1).await.unwrap();
                super::$name(&db).await;
                let _ = std::fs::remove_dir_all(dir);
            })+
        }
    };
}

on_both!(
    a_lapsed_lease_is_taken_over_and_the_slow_holder_is_fenced_out,
    a_heartbeat_keeps_the_lease_past_its_length,
    attempts_that_never_record_an_outcome_still_end_dead,
);
