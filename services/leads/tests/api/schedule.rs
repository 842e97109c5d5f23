//! SetSchedule: who may set whose working hours and time off, what is
//! refused (naming the field), and Member showing the schedule.

use leadflow_auth::Role;
use leadflow_proto::common::v1 as common;
use leadflow_proto::leads::v1 as pb;
use tonic::Code;

use crate::helpers::*;

fn nine_to_five(user_id: &str, tz: &str) -> pb::SetScheduleRequest {
    pb::SetScheduleRequest {
        user_id: user_id.into(),
        time_zone: tz.into(),
        working_hours: (1..=5)
            .map(|day| common::WorkingHours {
                day_of_week: day,
                start: "09:00".into(),
                end: "17:00".into(),
            })
            .collect(),
        time_off: vec![common::TimeOffRange {
            start: Some(prost_types::Timestamp {
                seconds: 1_773_100_800, // 2026-03-10T00:00:00Z
                nanos: 0,
            }),
            end: Some(prost_types::Timestamp {
                seconds: 1_774_051_200, // 2026-03-21T00:00:00Z
                nanos: 0,
            }),
        }],
    }
}

async fn set(
    app: &TestApp,
    body: pb::SetScheduleRequest,
    token: &str,
) -> Result<pb::Member, tonic::Status> {
    app.team()
        .set_schedule(req(body, token))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn a_rep_sets_their_own_schedule_and_lead_managers_set_anyones() {
    let app = spawn_app().await;
    for (id, role) in [
        ("ana", Role::Sales),
        ("ben", Role::Sales),
        ("meg", Role::Manager),
        ("adi", Role::Admin),
        ("acct", Role::Accounting),
    ] {
        app.add_member(id, role).await;
    }
    let own = set(
        &app,
        nine_to_five("ana", "America/New_York"),
        &app.token("ana", Role::Sales),
    )
    .await
    .expect("a rep sets their own");
    let schedule = own.schedule.expect("Member shows the schedule");
    assert_eq!(schedule.time_zone, "America/New_York");
    assert_eq!(schedule.working_hours.len(), 5);
    assert_eq!(schedule.time_off.len(), 1);

    let denied = set(
        &app,
        nine_to_five("ben", "UTC"),
        &app.token("ana", Role::Sales),
    )
    .await;
    assert_eq!(
        code(&denied),
        Code::PermissionDenied,
        "a rep may not set another's"
    );
    let denied = set(
        &app,
        nine_to_five("ben", "UTC"),
        &app.token("acct", Role::Accounting),
    )
    .await;
    assert_eq!(code(&denied), Code::PermissionDenied);
    let denied = set(
        &app,
        nine_to_five("ben", "UTC"),
        &app.token("crm", Role::Integration),
    )
    .await;
    assert_eq!(
        code(&denied),
        Code::PermissionDenied,
        "machines set no schedules"
    );
    for (who, role) in [("meg", Role::Manager), ("adi", Role::Admin)] {
        let set_by = set(
            &app,
            nine_to_five("ben", "Europe/Berlin"),
            &app.token(who, role),
        )
        .await
        .unwrap_or_else(|s| panic!("{who}: {s:?}"));
        assert_eq!(set_by.schedule.unwrap().time_zone, "Europe/Berlin");
    }
    set(&app, nine_to_five("ben", "Asia/Tokyo"), &app.owner())
        .await
        .expect("the owner");

    // Another organisation's owner cannot see ana at all.
    let other = app.auth.token("boss", "org-elsewhere", Role::Owner);
    let hidden = set(&app, nine_to_five("ana", "UTC"), &other).await;
    assert_eq!(code(&hidden), Code::NotFound);
    let missing = set(&app, nine_to_five("nobody", "UTC"), &app.owner()).await;
    assert_eq!(code(&missing), Code::NotFound);

    // ListMembers shows it; an empty schedule clears it.
    let listed = app
        .team()
        .list_members(req(pb::ListMembersRequest::default(), &app.owner()))
        .await
        .unwrap()
        .into_inner()
        .members;
    let ana = listed.iter().find(|m| m.user_id == "ana").unwrap();
    assert_eq!(ana.schedule.as_ref().unwrap().time_zone, "America/New_York");
    let cleared = set(
        &app,
        pb::SetScheduleRequest {
            user_id: "ana".into(),
            ..Default::default()
        },
        &app.token("ana", Role::Sales),
    )
    .await
    .unwrap();
    assert_eq!(cleared.schedule, None, "any time again");
}

#[tokio::test]
async fn bad_schedules_are_refused_naming_the_field() {
    let app = spawn_app().await;
    app.add_member("ana", Role::Sales).await;
    let refused = |body: pb::SetScheduleRequest| {
        let app = &app;
        async move {
            let status = set(app, body, &app.owner()).await.expect_err("refused");
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
            status.message().to_owned()
        }
    };
    let base = nine_to_five("ana", "Europe/Berlin");
    let message = refused(pb::SetScheduleRequest {
        time_zone: "Europe/Atlantis".into(),
        ..base.clone()
    })
    .await;
    assert!(message.starts_with("time_zone"), "{message}");
    let block = |day, start: &str, end: &str| common::WorkingHours {
        day_of_week: day,
        start: start.into(),
        end: end.into(),
    };
    let message = refused(pb::SetScheduleRequest {
        working_hours: vec![block(1, "17:00", "09:00")],
        ..base.clone()
    })
    .await;
    assert!(message.starts_with("working_hours.end"), "{message}");
    let message = refused(pb::SetScheduleRequest {
        working_hours: vec![block(2, "09:00", "13:00"), block(2, "12:00", "18:00")],
        ..base.clone()
    })
    .await;
    assert!(message.starts_with("working_hours:"), "{message}");
    let message = refused(pb::SetScheduleRequest {
        working_hours: vec![block(9, "09:00", "17:00")],
        ..base.clone()
    })
    .await;
    assert!(
        message.starts_with("working_hours.day_of_week"),
        "{message}"
    );
    let message = refused(pb::SetScheduleRequest {
        working_hours: (0..51)
            .map(|i| block(1 + i % 7, "00:00", "00:01"))
            .collect(),
        ..base.clone()
    })
    .await;
    assert!(message.starts_with("working_hours"), "{message}");
    let message = refused(pb::SetScheduleRequest {
        time_off: vec![common::TimeOffRange {
            start: base.time_off[0].end,
            end: base.time_off[0].start,
        }],
        ..base.clone()
    })
    .await;
    assert!(message.starts_with("time_off.end"), "{message}");
    let message = refused(pb::SetScheduleRequest {
        user_id: " ".into(),
        ..base
    })
    .await;
    assert!(message.starts_with("user_id"), "{message}");
}
