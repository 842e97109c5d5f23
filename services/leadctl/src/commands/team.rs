//! `leadctl team …`: list, upsert, availability, schedule.

use chrono::NaiveDate;
use clap::Subcommand;
use leadflow_proto::common::v1::{self as common, Role};
use leadflow_proto::leads::v1 as pb;
use leadflow_proto::leads::v1::team_service_client::TeamServiceClient;

use crate::client::{Api, Service};
use crate::output::{self, Format, enum_value, or_dash, yes_no};
use crate::parse;

#[derive(Subcommand, Debug)]
pub enum TeamCommand {
    /// The organisation's members.
    List {
        /// Include deactivated members.
        #[arg(long)]
        all: bool,
        /// Only members who can own leads.
        #[arg(long)]
        sales_capable: bool,
    },
    /// Add a member or change one (owner, admin).
    Upsert {
        /// The member's user id (the `sub` of their tokens).
        user_id: String,
        /// The name shown on leads and in notifications.
        #[arg(long)]
        name: String,
        /// Where their email notifications go.
        #[arg(long, default_value = "")]
        email: String,
        /// owner, admin, manager, sales or accounting.
        #[arg(long, value_parser = parse::role)]
        role: Role,
        /// Deactivate (true keeps or makes them active; unset leaves it as it is).
        #[arg(long, value_parser = parse::on_off)]
        active: Option<bool>,
    },
    /// Mark a member available (on) or away (off) for routing.
    Availability {
        /// The member's user id.
        user_id: String,
        /// on or off.
        #[arg(value_parser = parse::on_off, action = clap::ArgAction::Set)]
        available: bool,
    },
    /// Set a member's working hours and time off (replaces the whole
    /// schedule; no --hours and no --off: any time again).
    Schedule {
        /// The member's user id.
        user_id: String,
        /// Their IANA time zone: Europe/Berlin, America/New_York, …
        #[arg(long = "tz", default_value = "")]
        time_zone: String,
        /// Working hours in their local time (repeat for more):
        /// `mon-fri=09:00-17:00`, `sat=10:00-12:00,13:00-15:00`.
        #[arg(long = "hours", value_parser = parse_hours)]
        hours: Vec<Vec<common::WorkingHours>>,
        /// Days off, inclusive, in their time zone (repeat for more):
        /// `2026-12-24..2026-12-27`, or one day `2026-12-31`.
        #[arg(long = "off", value_parser = parse_days)]
        off: Vec<(NaiveDate, NaiveDate)>,
    },
}

/// The generated client of the leads service's team API.
type TeamClient = TeamServiceClient<tonic::transport::Channel>;

/// A member table's columns ([`member_row`]).
const MEMBER_HEADER: [&str; 6] = ["USER", "NAME", "ROLE", "ACTIVE", "AVAILABLE", "EMAIL"];

/// Runs one `team` command.
pub async fn run(api: &Api, format: Format, command: TeamCommand) -> anyhow::Result<()> {
    let mut team = api.client(Service::Leads, false, TeamClient::new)?;
    let member = match command {
        TeamCommand::List { all, sales_capable } => {
            let request = pb::ListMembersRequest {
                sales_capable_only: sales_capable,
                include_inactive: all,
            };
            let members = team.call(request, TeamClient::list_members).await?;
            let ids = members.members.iter().map(|m| &m.user_id);
            output::print(format, &members, ids, || {
                output::print_table(&MEMBER_HEADER, members.members.iter().map(member_row));
            });
            return Ok(());
        }
        TeamCommand::Upsert {
            user_id,
            name,
            email,
            role,
            active,
        } => {
            let request = pb::UpsertMemberRequest {
                user_id,
                display_name: name,
                email,
                role: role as i32,
                active,
            };
            team.call(request, TeamClient::upsert_member).await?
        }
        TeamCommand::Availability { user_id, available } => {
            let request = pb::SetAvailabilityRequest { user_id, available };
            team.call(request, TeamClient::set_availability).await?
        }
        TeamCommand::Schedule {
            user_id,
            time_zone,
            hours,
            off,
        } => {
            let time_off = days_off(&time_zone, &off)?;
            let request = pb::SetScheduleRequest {
                user_id,
                time_zone,
                working_hours: hours.into_iter().flatten().collect(),
                time_off,
            };
            team.call(request, TeamClient::set_schedule).await?
        }
    };
    output::print(format, &member, [&member.user_id], || {
        output::print_table(&MEMBER_HEADER, [member_row(&member)]);
    });
    Ok(())
}

/// A member as one table row, under [`MEMBER_HEADER`].
fn member_row(m: &pb::Member) -> Vec<String> {
    vec![
        m.user_id.clone(),
        m.display_name.clone(),
        enum_value(m.role, Role::as_str_name),
        yes_no(m.active),
        yes_no(m.available),
        or_dash(&m.email),
    ]
}

/// The ISO weekday of `mon` … `sun`.
fn weekday(name: &str) -> Result<i32, String> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    DAYS.iter()
        .position(|d| name.trim().eq_ignore_ascii_case(d))
        .map(|i| i as i32 + 1)
        .ok_or_else(|| format!("`{name}` is not a day (mon, tue, … sun)"))
}

/// `mon-fri=09:00-17:00` or `sat,sun=10:00-12:00,13:00-15:00`: blocks for
/// each day named. Times are checked by the server (which names the field).
fn parse_hours(text: &str) -> Result<Vec<common::WorkingHours>, String> {
    let (days, times) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not days=HH:MM-HH:MM"))?;
    let mut numbers = Vec::new();
    for part in days.split(',') {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (weekday(from)?, weekday(to)?);
                if to < from {
                    return Err(format!("`{part}` runs backwards"));
                }
                numbers.extend(from..=to);
            }
            None => numbers.push(weekday(part)?),
        }
    }
    let mut blocks = Vec::new();
    for range in times.split(',') {
        let (start, end) = range
            .split_once('-')
            .ok_or_else(|| format!("`{range}` is not HH:MM-HH:MM"))?;
        for &day in &numbers {
            blocks.push(common::WorkingHours {
                day_of_week: day,
                start: start.trim().to_owned(),
                end: end.trim().to_owned(),
            });
        }
    }
    Ok(blocks)
}

/// `2026-12-24..2026-12-27` (inclusive) or `2026-12-31`.
fn parse_days(text: &str) -> Result<(NaiveDate, NaiveDate), String> {
    let day = |d: &str| {
        NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
            .map_err(|_| format!("`{d}` is not a date (YYYY-MM-DD)"))
    };
    let (first, last) = match text.split_once("..") {
        Some((first, last)) => (day(first)?, day(last)?),
        None => (day(text)?, day(text)?),
    };
    if last < first {
        return Err(format!("`{text}` ends before it starts"));
    }
    Ok((first, last))
}

/// Whole local days off as instants: from the first day's local midnight to
/// the local midnight after the last, in `time_zone`.
fn days_off(
    time_zone: &str,
    days: &[(NaiveDate, NaiveDate)],
) -> anyhow::Result<Vec<common::TimeOffRange>> {
    if days.is_empty() {
        return Ok(Vec::new());
    }
    let schedule = leadflow_schedule::Schedule::parse(leadflow_schedule::ScheduleInput {
        time_zone: time_zone.to_owned(),
        ..Default::default()
    })
    .map_err(|e| anyhow::anyhow!("--tz: {}", e.message))?;
    let stamp = |t: chrono::DateTime<chrono::Utc>| prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    };
    Ok(days
        .iter()
        .map(|&(first, last)| common::TimeOffRange {
            start: Some(stamp(schedule.instant(first, 0))),
            end: Some(stamp(schedule.instant(last, 1440))),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_and_days_read_as_an_operator_writes_them() {
        let blocks = parse_hours("mon-fri=09:00-12:00,13:00-17:00").unwrap();
        assert_eq!(blocks.len(), 10);
        assert_eq!(
            (
                blocks[0].day_of_week,
                blocks[0].start.as_str(),
                blocks[0].end.as_str()
            ),
            (1, "09:00", "12:00")
        );
        assert_eq!(parse_hours("sat,sun=10:00-14:00").unwrap().len(), 2);
        assert!(
            parse_hours("fri-mon=09:00-17:00")
                .unwrap_err()
                .contains("backwards")
        );
        assert!(
            parse_hours("funday=09:00-17:00")
                .unwrap_err()
                .contains("not a day")
        );
        let (first, last) = parse_days("2026-12-24..2026-12-27").unwrap();
        let off = days_off("Europe/Berlin", &[(first, last)]).unwrap();
        // 24 December 00:00 CET to 28 December 00:00 CET.
        assert_eq!(off[0].start.unwrap().seconds, 1_798_066_800);
        assert_eq!(off[0].end.unwrap().seconds, 1_798_412_400);
        assert!(days_off("Nowhere/Land", &[(first, last)]).is_err());
    }
}
