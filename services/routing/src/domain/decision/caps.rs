//! Caps in the decision: each eligible rep's limits on their own local day,
//! the hold when everyone is at one (and until when), the words that say
//! so, and the day counters reconcile restores after a state loss.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use leadflow_schedule::Schedule;

use super::{Candidate, Cap, CapHit, Plan, PoolPlan, SkipReason};
use crate::domain::settings::Settings;

/// The caps of `eligible` at `at` (their local day in their own zone, UTC
/// without a schedule); `None` when the settings cap nobody.
pub(super) fn caps_of(
    settings: &Settings,
    team: &HashMap<&str, &Candidate>,
    eligible: &[String],
    at: DateTime<Utc>,
) -> Option<Vec<Cap>> {
    if !settings.has_limits() {
        return None;
    }
    let utc = Schedule::default();
    Some(
        eligible
            .iter()
            .map(|id| {
                let limit = settings.limit_of(id);
                let schedule = team
                    .get(id.as_str())
                    .and_then(|c| c.schedule.as_ref())
                    .unwrap_or(&utc);
                Cap {
                    max_open: limit.max_open_leads,
                    max_per_day: limit.max_new_per_day,
                    day: schedule.local_day(at).to_string(),
                    day_ends: schedule.next_local_midnight(at),
                    zone: schedule.time_zone.name().to_owned(),
                }
            })
            .collect(),
    )
}

/// A pool whose reps on shift are all at a cap: the lead waits for the
/// first of them to be free again (a local midnight), or for an off-shift
/// rep's return, whichever is first. A rep at their open-lead cap frees up
/// when one of their leads closes, which nobody can time: leads retries
/// held leads as soon as capacity frees.
pub fn held_by_caps(pool: &PoolPlan, capped: &[(&str, CapHit)]) -> Plan {
    let caps = pool.caps.as_deref().unwrap_or_default();
    let mut skipped = pool.skipped.clone();
    let mut notes = pool.notes.clone();
    let mut retry_at = pool.back_at;
    for &(id, hit) in capped {
        skipped.push((id.to_owned(), SkipReason::Capped));
        let cap = pool
            .eligible
            .iter()
            .position(|e| e == id)
            .and_then(|i| caps.get(i));
        notes.push(cap_note(id, hit, cap));
        if let (CapHit::Day { .. }, Some(cap)) = (hit, cap) {
            retry_at = Some(retry_at.map_or(cap.day_ends, |r| r.min(cap.day_ends)));
        }
    }
    Plan::Held {
        pool: pool.pool.clone(),
        retry_at,
        skipped,
        notes,
    }
}

/// "ben skipped: 10 of 10 new leads today (Europe/Berlin)".
pub fn cap_note(id: &str, hit: CapHit, cap: Option<&Cap>) -> String {
    match hit {
        CapHit::Open { open, max } => format!("{id} skipped: {open} of {max} open leads"),
        CapHit::Day { today, max } => format!(
            "{id} skipped: {today} of {max} new leads today ({})",
            cap.map_or("UTC", |c| c.zone.as_str())
        ),
    }
}

/// The per-day counters ([`Cap::daily_key`] → count) that `routed` (leads
/// routing gave each rep, per bucket start) adds up to on each rep's local
/// today at `now`: a bucket counts on the local day it starts in (buckets
/// are 15 minutes, and every zone's offset is a multiple of that, so none
/// straddles a local midnight). Reps without a schedule count in UTC.
pub fn routed_today(
    schedules: &HashMap<String, Schedule>,
    routed: &[(String, DateTime<Utc>, i64)],
    now: DateTime<Utc>,
) -> Vec<(String, i64)> {
    let utc = Schedule::default();
    let mut today: std::collections::BTreeMap<String, i64> = Default::default();
    for (user, since, count) in routed {
        let schedule = schedules.get(user).unwrap_or(&utc);
        let day = schedule.local_day(now);
        if schedule.local_day(*since) == day {
            *today
                .entry(Cap::daily_key(user, &day.to_string()))
                .or_default() += count;
        }
    }
    today.into_iter().collect()
}
