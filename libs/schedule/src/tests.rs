//! Shifts in two zones across daylight-saving switches, gaps and overlaps,
//! time off, local midnights, and validation naming its field.

use super::*;

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().expect("an RFC 3339 instant")
}

fn weekdays(tz: &str, start: &str, end: &str) -> Schedule {
    Schedule::parse(ScheduleInput {
        time_zone: tz.into(),
        working_hours: (1..=5)
            .map(|day| BlockInput {
                day_of_week: day,
                start: start.into(),
                end: end.into(),
            })
            .collect(),
        time_off: vec![],
    })
    .expect("a valid schedule")
}

fn on(schedule: &Schedule, at: &str) -> bool {
    matches!(schedule.availability(utc(at)), Availability::On { .. })
}

#[test]
fn nine_to_five_in_new_york_and_berlin_on_a_winter_and_a_summer_date() {
    let ana = weekdays("America/New_York", "09:00", "17:00");
    let ben = weekdays("Europe/Berlin", "09:00", "17:00");
    // Winter (EST = UTC-5, CET = UTC+1): 13:00 UTC is 08:00 for ana, 14:00 for ben.
    assert!(!on(&ana, "2026-01-14T13:00:00Z") && on(&ben, "2026-01-14T13:00:00Z"));
    assert!(on(&ana, "2026-01-14T15:00:00Z") && on(&ben, "2026-01-14T15:00:00Z"));
    // Summer (EDT = UTC-4, CEST = UTC+2): 12:00 UTC is 08:00 for ana, 14:00 for ben.
    assert!(!on(&ana, "2026-07-15T12:00:00Z") && on(&ben, "2026-07-15T12:00:00Z"));
    assert!(on(&ana, "2026-07-15T14:00:00Z") && on(&ben, "2026-07-15T14:00:00Z"));
    // In summer both clocks are an hour ahead: 13:00 UTC is already 09:00 in
    // New York, and 15:00 UTC is 17:00 in Berlin, the end of ben's shift.
    assert!(on(&ana, "2026-07-15T13:00:00Z"));
    assert!(!on(&ben, "2026-07-15T15:00:00Z"));
    // Shifts end exclusive: 17:00 Berlin in winter is 16:00 UTC.
    assert!(on(&ben, "2026-01-14T15:59:59Z") && !on(&ben, "2026-01-14T16:00:00Z"));
}

#[test]
fn between_the_us_and_eu_switches_the_boundaries_move_with_each_local_clock() {
    let ana = weekdays("America/New_York", "09:00", "17:00");
    let ben = weekdays("Europe/Berlin", "09:00", "17:00");
    // Monday 16 March 2026: New York is on EDT since 8 March, Berlin still on CET.
    assert_eq!(
        ana.next_eligible(utc("2026-03-16T00:00:00Z")),
        Some(utc("2026-03-16T13:00:00Z")),
        "09:00 EDT"
    );
    assert_eq!(
        ben.next_eligible(utc("2026-03-16T00:00:00Z")),
        Some(utc("2026-03-16T08:00:00Z")),
        "09:00 CET"
    );
    // A week earlier (both on winter time) and two weeks later (both on summer time).
    assert_eq!(
        ana.next_eligible(utc("2026-03-06T00:00:00Z")),
        Some(utc("2026-03-06T14:00:00Z"))
    );
    assert_eq!(
        ben.next_eligible(utc("2026-03-30T00:00:00Z")),
        Some(utc("2026-03-30T07:00:00Z"))
    );
}

#[test]
fn a_boundary_in_a_gap_is_its_first_valid_instant_and_in_an_overlap_the_earlier() {
    let new_york = weekdays("America/New_York", "09:00", "17:00");
    // 8 March 2026, 02:00 EST jumps to 03:00 EDT: 02:30 does not exist.
    let gap = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
    assert_eq!(
        new_york.instant(gap, 150),
        utc("2026-03-08T07:00:00Z"),
        "03:00 EDT"
    );
    // 1 November 2026, 02:00 EDT falls back to 01:00 EST: 01:30 happens twice.
    let overlap = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    assert_eq!(
        new_york.instant(overlap, 90),
        utc("2026-11-01T05:30:00Z"),
        "01:30 EDT"
    );
}

#[test]
fn time_off_makes_a_rep_ineligible_for_exactly_that_range() {
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    let local = |d: u32| {
        berlin
            .with_ymd_and_hms(2026, 3, d, 0, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    };
    // 10 to 20 March inclusive, in Berlin: [10 March 00:00, 21 March 00:00).
    let (start, end) = (local(10), local(21));
    let rep = Schedule::parse(ScheduleInput {
        time_zone: "Europe/Berlin".into(),
        time_off: vec![(start, end)],
        ..Default::default()
    })
    .unwrap();
    let second = Duration::seconds(1);
    assert_eq!(
        rep.availability(start - second),
        Availability::On { until: Some(start) }
    );
    assert_eq!(
        rep.availability(start),
        Availability::TimeOff { next: Some(end) }
    );
    assert_eq!(
        rep.availability(end - second),
        Availability::TimeOff { next: Some(end) }
    );
    assert_eq!(rep.availability(end), Availability::On { until: None });
}

#[test]
fn off_shift_the_next_start_is_the_first_shift_after_the_weekend_and_time_off() {
    let ben = weekdays("Europe/Berlin", "09:00", "17:00");
    // Saturday 17 January 2026: next shift Monday 09:00 CET.
    assert_eq!(
        ben.availability(utc("2026-01-17T12:00:00Z")),
        Availability::OffShift {
            next: Some(utc("2026-01-19T08:00:00Z"))
        }
    );
    let away_monday = Schedule {
        time_off: vec![TimeOff {
            start: utc("2026-01-19T00:00:00Z"),
            end: utc("2026-01-20T00:00:00Z"),
        }],
        ..ben.clone()
    };
    assert_eq!(
        away_monday.next_eligible(utc("2026-01-17T12:00:00Z")),
        Some(utc("2026-01-20T08:00:00Z")),
        "Tuesday 09:00"
    );
    assert_eq!(
        ben.local_clock(utc("2026-01-19T08:00:00Z")),
        "09:00 Europe/Berlin"
    );
}

#[test]
fn a_day_may_have_several_blocks_and_a_night_shift_is_two() {
    let night = Schedule::parse(ScheduleInput {
        time_zone: "UTC".into(),
        working_hours: vec![
            BlockInput {
                day_of_week: 1,
                start: "22:00".into(),
                end: "24:00".into(),
            },
            BlockInput {
                day_of_week: 2,
                start: "00:00".into(),
                end: "06:00".into(),
            },
            BlockInput {
                day_of_week: 2,
                start: "12:00".into(),
                end: "13:00".into(),
            },
        ],
        time_off: vec![],
    })
    .unwrap();
    // Monday 19 January 2026 23:00 to Tuesday 05:59: on; 06:00: off until 12:00.
    assert!(on(&night, "2026-01-19T23:30:00Z"));
    assert!(on(&night, "2026-01-20T05:59:00Z"));
    assert_eq!(
        night.availability(utc("2026-01-20T06:00:00Z")),
        Availability::OffShift {
            next: Some(utc("2026-01-20T12:00:00Z"))
        }
    );
}

#[test]
fn local_days_turn_over_at_the_reps_own_midnight() {
    let tokyo = weekdays("Asia/Tokyo", "09:00", "17:00");
    let at = utc("2026-01-14T14:59:00Z"); // 23:59 in Tokyo
    assert_eq!(
        tokyo.local_day(at),
        NaiveDate::from_ymd_opt(2026, 1, 14).unwrap()
    );
    assert_eq!(tokyo.next_local_midnight(at), utc("2026-01-14T15:00:00Z"));
    assert_eq!(
        tokyo.local_day(utc("2026-01-14T15:00:00Z")),
        NaiveDate::from_ymd_opt(2026, 1, 15).unwrap()
    );
}

#[test]
fn bad_schedules_name_their_field() {
    let field = |input: ScheduleInput| Schedule::parse(input).unwrap_err().field;
    let block = |day: i32, start: &str, end: &str| BlockInput {
        day_of_week: day,
        start: start.into(),
        end: end.into(),
    };
    let with = |blocks: Vec<BlockInput>| ScheduleInput {
        time_zone: "Europe/Berlin".into(),
        working_hours: blocks,
        time_off: vec![],
    };
    assert_eq!(
        field(ScheduleInput {
            time_zone: "Mars/Olympus".into(),
            ..Default::default()
        }),
        "time_zone"
    );
    assert_eq!(
        field(with(vec![block(1, "17:00", "09:00")])),
        "working_hours.end"
    );
    assert_eq!(
        field(with(vec![block(1, "09:00", "09:00")])),
        "working_hours.end"
    );
    assert_eq!(
        field(with(vec![
            block(1, "09:00", "13:00"),
            block(1, "12:00", "17:00")
        ])),
        "working_hours"
    );
    assert_eq!(
        field(with(vec![block(0, "09:00", "17:00")])),
        "working_hours.day_of_week"
    );
    assert_eq!(
        field(with(vec![block(8, "09:00", "17:00")])),
        "working_hours.day_of_week"
    );
    assert_eq!(
        field(with(vec![block(1, "24:00", "24:00")])),
        "working_hours.start"
    );
    assert_eq!(
        field(with(vec![block(1, "9:00", "17:00")])),
        "working_hours.start"
    );
    assert_eq!(
        field(with(vec![block(1, "09:00", "17:60")])),
        "working_hours.end"
    );
    assert_eq!(
        field(ScheduleInput {
            time_zone: "UTC".into(),
            time_off: vec![(utc("2026-03-20T00:00:00Z"), utc("2026-03-10T00:00:00Z"))],
            ..Default::default()
        }),
        "time_off.end"
    );
    // Touching blocks are fine.
    assert!(
        Schedule::parse(with(vec![
            block(1, "09:00", "12:00"),
            block(1, "12:00", "17:00")
        ]))
        .is_ok()
    );
}

#[test]
fn a_schedule_survives_its_stored_form() {
    let ana = weekdays("America/New_York", "09:00", "17:30");
    let json = serde_json::to_string(&ana).unwrap();
    assert!(json.contains("America/New_York"), "{json}");
    assert_eq!(serde_json::from_str::<Schedule>(&json).unwrap(), ana);
}

#[test]
fn the_quick_answer_on_shift_is_the_scan_answer_across_daylight_saving_and_night_shifts() {
    let block = |day: i32, start: &str, end: &str| BlockInput {
        day_of_week: day,
        start: start.into(),
        end: end.into(),
    };
    let night = Schedule::parse(ScheduleInput {
        time_zone: "Europe/Berlin".into(),
        // A night shift as two blocks, and blocks on the switch nights'
        // gap and overlap hours (Sunday 02:00-03:00).
        working_hours: (1..=7)
            .flat_map(|d| [block(d, "00:00", "02:30"), block(d, "22:00", "24:00")])
            .chain([block(7, "02:30", "09:00")])
            .collect(),
        time_off: vec![(utc("2026-03-10T00:00:00Z"), utc("2026-03-12T06:30:00Z"))],
    })
    .unwrap();
    let schedules = [
        night,
        weekdays("America/New_York", "09:00", "17:00"),
        weekdays("Australia/Lord_Howe", "00:30", "24:00"),
    ];
    // Every 7 minutes through March and October (both switches, both zones).
    for (from, to) in [
        ("2026-03-01T00:00:00Z", "2026-04-02T00:00:00Z"),
        ("2026-10-01T00:00:00Z", "2026-11-05T00:00:00Z"),
    ] {
        let (mut at, end) = (utc(from), utc(to));
        while at < end {
            for schedule in &schedules {
                assert_eq!(
                    schedule.availability(at),
                    schedule.availability_by_scan(at),
                    "{} at {at}",
                    schedule.time_zone
                );
            }
            at += Duration::minutes(7);
        }
    }
}

#[test]
fn working_time_runs_only_on_shift_across_evenings_weekends_and_time_off() {
    // Monday to Friday 09:00-17:00 in Berlin (CET in January: UTC+1).
    let mut berlin = weekdays("Europe/Berlin", "09:00", "17:00");
    let fifteen = Duration::minutes(15);
    // Wednesday 16:55 local: five minutes today, ten tomorrow from 09:00.
    assert_eq!(
        berlin.after_working(utc("2026-01-14T15:55:00Z"), fifteen),
        Some(utc("2026-01-15T08:10:00Z"))
    );
    // Friday 16:55: the weekend does not count; Monday 09:10.
    assert_eq!(
        berlin.after_working(utc("2026-01-16T15:55:00Z"), fifteen),
        Some(utc("2026-01-19T08:10:00Z"))
    );
    // Saturday: the clock starts on Monday at 09:00.
    assert_eq!(
        berlin.after_working(utc("2026-01-17T10:00:00Z"), fifteen),
        Some(utc("2026-01-19T08:15:00Z"))
    );
    // Well inside a shift it is plain addition.
    assert_eq!(
        berlin.after_working(utc("2026-01-14T10:00:00Z"), fifteen),
        Some(utc("2026-01-14T10:15:00Z"))
    );
    // Exactly used up at the shift's end: the end itself.
    assert_eq!(
        berlin.after_working(utc("2026-01-14T15:45:00Z"), fifteen),
        Some(utc("2026-01-14T16:00:00Z"))
    );
    // Time off on Thursday moves the rest to Friday.
    berlin.time_off.push(TimeOff {
        start: utc("2026-01-15T00:00:00Z"),
        end: utc("2026-01-16T00:00:00Z"),
    });
    assert_eq!(
        berlin.after_working(utc("2026-01-14T15:55:00Z"), fifteen),
        Some(utc("2026-01-16T08:10:00Z"))
    );
    // No working hours: always on.
    assert_eq!(
        Schedule::default().after_working(utc("2026-01-17T10:00:00Z"), fifteen),
        Some(utc("2026-01-17T10:15:00Z"))
    );
}
