//! The directory on the wire: ApplyDirectoryChanges' facts, and schedules
//! (which also travel in leads' Member and SetSchedule), read one way by
//! every service.

use chrono::{DateTime, Utc};
use leadflow_proto::common::v1 as common;
use leadflow_schedule::{Block, BlockInput, Schedule, ScheduleError, ScheduleInput};
use leadflow_server::error::InvalidField;

use super::{DirectoryFact, MAX_FACTS};

/// ApplyDirectoryChanges' members as facts: at most [`MAX_FACTS`], each with
/// an id, a version that is not negative and a valid schedule if any.
/// Routing and the notifier both take them this way, so they keep the same
/// directory.
pub fn facts_from_wire(
    members: Vec<common::DirectoryFact>,
) -> Result<Vec<DirectoryFact>, InvalidField> {
    if members.len() > MAX_FACTS {
        return Err(InvalidField::new(
            "members",
            format!("at most {MAX_FACTS} per call"),
        ));
    }
    members.into_iter().map(fact_from_wire).collect()
}

fn fact_from_wire(fact: common::DirectoryFact) -> Result<DirectoryFact, InvalidField> {
    if !leadflow_text::is_id(&fact.user_id) {
        return Err(InvalidField::new("members.user_id", leadflow_text::ID_RULE));
    }
    if fact.version < 0 {
        return Err(InvalidField::new("members.version", "may not be negative"));
    }
    let role = match common::Role::try_from(fact.role) {
        Ok(common::Role::Unspecified) | Err(_) => "unknown",
        Ok(role) => role.as_str_name(),
    };
    let schedule = match fact.schedule {
        Some(wire) => schedule_from_wire(wire)
            .map_err(|e| InvalidField::new("members.schedule", e.to_string()))?,
        None => None,
    };
    Ok(DirectoryFact {
        role: role.to_ascii_lowercase(),
        user_id: fact.user_id,
        active: fact.active,
        available: fact.available,
        version: fact.version,
        schedule,
    })
}

fn instant(t: Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    let t = t?;
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// A schedule from the wire, validated; `None` when it is empty (no time
/// zone, no blocks, no time off: any time). Errors name the field inside the
/// schedule (`time_zone`, `working_hours.end`, `time_off.start`).
pub fn schedule_from_wire(wire: common::Schedule) -> Result<Option<Schedule>, ScheduleError> {
    if wire.time_zone.trim().is_empty() && wire.working_hours.is_empty() && wire.time_off.is_empty()
    {
        return Ok(None);
    }
    let mut time_off = Vec::with_capacity(wire.time_off.len());
    for range in wire.time_off {
        let start = instant(range.start).ok_or_else(|| ScheduleError {
            field: "time_off.start",
            message: "is required and must be a valid time".into(),
        })?;
        let end = instant(range.end).ok_or_else(|| ScheduleError {
            field: "time_off.end",
            message: "is required and must be a valid time".into(),
        })?;
        time_off.push((start, end));
    }
    Schedule::parse(ScheduleInput {
        time_zone: wire.time_zone,
        working_hours: wire
            .working_hours
            .into_iter()
            .map(|b| BlockInput {
                day_of_week: b.day_of_week,
                start: b.start,
                end: b.end,
            })
            .collect(),
        time_off,
    })
    .map(Some)
}

/// A schedule as the wire shows it.
pub fn schedule_to_wire(schedule: &Schedule) -> common::Schedule {
    common::Schedule {
        time_zone: schedule.time_zone.name().to_owned(),
        working_hours: schedule
            .working_hours
            .iter()
            .map(|b: &Block| common::WorkingHours {
                day_of_week: i32::from(b.day_of_week),
                start: Block::clock(b.start),
                end: Block::clock(b.end),
            })
            .collect(),
        time_off: schedule
            .time_off
            .iter()
            .map(|t| common::TimeOffRange {
                start: Some(timestamp(t.start)),
                end: Some(timestamp(t.end)),
            })
            .collect(),
    }
}
