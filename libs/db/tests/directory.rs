//! The directory routing and the notifier keep, on real databases: facts
//! apply by version, schedules travel with them and read back as sent.

use leadflow_db::directory::{self, Directory, DirectoryFact};
use leadflow_schedule::{BlockInput, Schedule, ScheduleInput};
use sea_orm::DatabaseConnection;

async fn directory_table(db: &DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let backend = db.get_database_backend();
    db.execute_raw(backend.build(&directory::create_table()))
        .await
        .unwrap();
    db.execute_raw(backend.build(&directory::add_schedule_column()))
        .await
        .unwrap();
}

fn fact(user_id: &str, version: i64, schedule: Option<Schedule>) -> DirectoryFact {
    DirectoryFact {
        user_id: user_id.into(),
        role: "sales".into(),
        active: true,
        available: true,
        version,
        schedule,
    }
}

fn berlin_mornings() -> Schedule {
    Schedule::parse(ScheduleInput {
        time_zone: "Europe/Berlin".into(),
        working_hours: vec![BlockInput {
            day_of_week: 1,
            start: "08:00".into(),
            end: "12:00".into(),
        }],
        time_off: vec![],
    })
    .unwrap()
}

async fn schedules_travel_with_facts_and_an_older_fact_changes_nothing(db: DatabaseConnection) {
    directory_table(&db).await;
    let dir = Directory::new(db);
    let ids = vec!["ana".to_owned(), "ben".to_owned()];
    dir.apply(
        "org",
        &[
            fact("ana", 2, Some(berlin_mornings())),
            fact("ben", 1, None),
        ],
    )
    .await
    .unwrap();
    let schedules = dir.schedules("org", &ids).await.unwrap();
    assert_eq!(schedules.get("ana"), Some(&berlin_mornings()));
    assert!(!schedules.contains_key("ben"), "no schedule: any time");
    // A late, older fact (version 1, no schedule) does not undo version 2.
    dir.apply("org", &[fact("ana", 1, None)]).await.unwrap();
    assert_eq!(dir.schedules("org", &ids).await.unwrap().len(), 1);
    // A newer one clears it; other organisations never see it.
    dir.apply("org", &[fact("ana", 3, None)]).await.unwrap();
    assert!(dir.schedules("org", &ids).await.unwrap().is_empty());
    dir.apply("other", &[fact("ana", 1, Some(berlin_mornings()))])
        .await
        .unwrap();
    assert!(dir.schedules("org", &ids).await.unwrap().is_empty());
}

#[tokio::test]
async fn on_postgres() {
    let db = leadflow_testkit::TestDb::new().await;
    let conn = leadflow_db::connect(&db.url, 4).await.unwrap();
    schedules_travel_with_facts_and_an_older_fact_changes_nothing(conn).await;
}

#[tokio::test]
async fn on_sqlite() {
    let conn = leadflow_db::connect("sqlite::memory:", 1).await.unwrap();
    schedules_travel_with_facts_and_an_older_fact_changes_nothing(conn).await;
}
