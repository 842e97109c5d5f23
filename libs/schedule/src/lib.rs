//! Working hours, time off and local days, in each rep's own IANA time zone.
//!
//! Routing asks "may this rep take a lead now, and if not, from when?"
//! (working hours, time off) and "which local day is it for them?" (daily
//! caps reset at the rep's own midnight). Leads asks the same for the SLA
//! clock. Both ask here, so the two services never disagree about a shift.
//!
//! Times are computed with the IANA database (chrono-tz), never with fixed
//! offsets, so daylight-saving switches move shifts with the local clock. A
//! block boundary that falls in a gap (02:30 on a spring-forward night) is
//! taken at its first valid instant (the moment the clock jumps to 03:00); one
//! that falls in an overlap (01:30 on a fall-back night) at its first, earlier
//! occurrence.
//!
//! A schedule without working hours means "any time" (24/7); time off still
//! applies to it.

mod clock;

pub use clock::{
    Clock, ManualClock, OffsetFileClock, SharedClock, SystemClock, clock_from_setting, system_clock,
};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Most working-hour blocks in one week.
pub const MAX_BLOCKS: usize = 50;
/// Most time-off ranges one rep may have.
pub const MAX_TIME_OFF: usize = 100;
/// How far ahead [`Schedule::next_eligible`] looks before saying "never".
pub const HORIZON_DAYS: i64 = 400;

/// Bad schedule input; `field` names the request field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    /// The request field, as the API names it (`time_zone`, `working_hours.end`).
    pub field: &'static str,
    /// What is wrong with it, for the caller to read.
    pub message: String,
}

impl ScheduleError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        ScheduleError {
            field,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ScheduleError {}

/// One block of working hours on one weekday, in local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// ISO 8601 weekday: 1 = Monday … 7 = Sunday.
    pub day_of_week: u8,
    /// Minutes after local midnight the block starts (0 to 1439).
    pub start: u16,
    /// Minutes after local midnight it ends (after `start`; 1440 is "24:00").
    pub end: u16,
}

impl Block {
    /// `"HH:MM"` of a minute of the day (1440 is `"24:00"`).
    pub fn clock(minutes: u16) -> String {
        format!("{:02}:{:02}", minutes / 60, minutes % 60)
    }
}

/// A range of absolute time off: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeOff {
    /// The first instant off.
    pub start: DateTime<Utc>,
    /// The first instant back.
    pub end: DateTime<Utc>,
}

/// A working-hours block as it arrived on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockInput {
    /// ISO weekday, unchecked.
    pub day_of_week: i32,
    /// `"HH:MM"`, unchecked.
    pub start: String,
    /// `"HH:MM"` or `"24:00"`, unchecked.
    pub end: String,
}

/// A schedule as it arrived on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleInput {
    /// An IANA name, unchecked.
    pub time_zone: String,
    /// The week's blocks, unchecked.
    pub working_hours: Vec<BlockInput>,
    /// Time-off ranges, unchecked.
    pub time_off: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// A rep's week in their own time zone, and their time off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Where the rep's local day and working hours are reckoned.
    pub time_zone: Tz,
    /// Sorted by day, then start; never overlapping. Empty: any time.
    pub working_hours: Vec<Block>,
    /// Sorted by start; may overlap (each is honoured).
    pub time_off: Vec<TimeOff>,
}

impl Default for Schedule {
    /// UTC, any time, no time off: a rep who never set a schedule.
    fn default() -> Self {
        Schedule {
            time_zone: Tz::UTC,
            working_hours: Vec::new(),
            time_off: Vec::new(),
        }
    }
}

/// Whether a rep may take a lead at an instant, and until or from when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// On shift and not off. `until`: when that stops (`None`: not within the horizon).
    On {
        /// The end of the shift, or the start of time off, whichever is first.
        until: Option<DateTime<Utc>>,
    },
    /// Outside working hours.
    OffShift {
        /// When they may next take a lead (`None`: not within the horizon).
        next: Option<DateTime<Utc>>,
    },
    /// On time off.
    TimeOff {
        /// When they may next take a lead (`None`: not within the horizon).
        next: Option<DateTime<Utc>>,
    },
}

/// `"HH:MM"` as minutes after midnight; `"24:00"` only where `end_of_day`.
fn parse_clock(field: &'static str, text: &str, end_of_day: bool) -> Result<u16, ScheduleError> {
    let bad = || ScheduleError::new(field, format!("{text:?} is not a time of day (HH:MM)"));
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    match (h, m) {
        (24, 0) if end_of_day => Ok(1440),
        (0..=23, 0..=59) => Ok(h * 60 + m),
        _ => Err(bad()),
    }
}

impl Schedule {
    /// Validates a schedule from the wire. Every error names its field.
    pub fn parse(input: ScheduleInput) -> Result<Schedule, ScheduleError> {
        let time_zone: Tz = input.time_zone.trim().parse().map_err(|_| {
            ScheduleError::new(
                "time_zone",
                format!(
                    "{:?} is not an IANA time zone (e.g. Europe/Berlin)",
                    input.time_zone
                ),
            )
        })?;
        if input.working_hours.len() > MAX_BLOCKS {
            return Err(ScheduleError::new(
                "working_hours",
                format!("at most {MAX_BLOCKS} blocks"),
            ));
        }
        let mut blocks = Vec::with_capacity(input.working_hours.len());
        for block in &input.working_hours {
            let day_of_week = u8::try_from(block.day_of_week)
                .ok()
                .filter(|d| (1..=7).contains(d))
                .ok_or_else(|| {
                    ScheduleError::new(
                        "working_hours.day_of_week",
                        format!("{} is not 1 (Monday) to 7 (Sunday)", block.day_of_week),
                    )
                })?;
            let start = parse_clock("working_hours.start", &block.start, false)?;
            let end = parse_clock("working_hours.end", &block.end, true)?;
            if end <= start {
                return Err(ScheduleError::new(
                    "working_hours.end",
                    format!(
                        "{} is not after {} (a night shift is two blocks)",
                        block.end, block.start
                    ),
                ));
            }
            blocks.push(Block {
                day_of_week,
                start,
                end,
            });
        }
        blocks.sort_by_key(|b| (b.day_of_week, b.start));
        if let Some(pair) = blocks
            .windows(2)
            .find(|w| w[0].day_of_week == w[1].day_of_week && w[0].end > w[1].start)
        {
            return Err(ScheduleError::new(
                "working_hours",
                format!(
                    "blocks {}-{} and {}-{} on day {} overlap",
                    Block::clock(pair[0].start),
                    Block::clock(pair[0].end),
                    Block::clock(pair[1].start),
                    Block::clock(pair[1].end),
                    pair[0].day_of_week
                ),
            ));
        }
        if input.time_off.len() > MAX_TIME_OFF {
            return Err(ScheduleError::new(
                "time_off",
                format!("at most {MAX_TIME_OFF} ranges"),
            ));
        }
        let mut time_off = Vec::with_capacity(input.time_off.len());
        for &(start, end) in &input.time_off {
            if end <= start {
                return Err(ScheduleError::new(
                    "time_off.end",
                    format!("{end} is not after {start}"),
                ));
            }
            time_off.push(TimeOff { start, end });
        }
        time_off.sort_by_key(|t| t.start);
        Ok(Schedule {
            time_zone,
            working_hours: blocks,
            time_off,
        })
    }

    /// The rep's local calendar day at `at` (daily caps count per local day).
    pub fn local_day(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.time_zone).date_naive()
    }

    /// The next local midnight after `at`: when the rep's day turns over.
    pub fn next_local_midnight(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let tomorrow = self.local_day(at) + Duration::days(1);
        self.instant(tomorrow, 0)
    }

    /// The instant of local `date` at `minutes` after midnight (1440: the next
    /// midnight): the first valid instant in a gap, the earlier in an overlap.
    pub fn instant(&self, date: NaiveDate, minutes: u16) -> DateTime<Utc> {
        let (date, minutes) = if minutes >= 1440 {
            (date + Duration::days(1), 0)
        } else {
            (date, minutes)
        };
        let start = date
            .and_hms_opt(u32::from(minutes / 60), u32::from(minutes % 60), 0)
            .expect("a valid clock time");
        // Gaps are at most a few hours; step to the first minute that exists.
        for step in 0..=(26 * 60) {
            let naive = start + Duration::minutes(step);
            if let Some(t) = self.time_zone.from_local_datetime(&naive).earliest() {
                return t.with_timezone(&Utc);
            }
        }
        Utc.from_utc_datetime(&start)
    }

    /// The working-hour intervals of local `date`, in order.
    fn shifts_on(
        &self,
        date: NaiveDate,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let day = date.weekday().number_from_monday() as u8;
        self.working_hours
            .iter()
            .filter(move |b| b.day_of_week == day)
            .map(move |b| (self.instant(date, b.start), self.instant(date, b.end)))
    }

    /// The shift that contains `at`, or the next one to start after it.
    fn shift_from(&self, at: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let today = self.local_day(at);
        (-1..=8)
            .flat_map(|d| self.shifts_on(today + Duration::days(d)))
            .filter(|&(_, end)| end > at)
            .min_by_key(|&(start, _)| start)
    }

    fn time_off_at(&self, at: DateTime<Utc>) -> Option<&TimeOff> {
        self.time_off
            .iter()
            .filter(|t| t.start <= at && at < t.end)
            .max_by_key(|t| t.end)
    }

    /// The first instant at or after `at` the rep may take a lead: on shift
    /// and not off. `None` if there is none within [`HORIZON_DAYS`].
    pub fn next_eligible(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let horizon = at + Duration::days(HORIZON_DAYS);
        let mut t = at;
        while t < horizon {
            if let Some(off) = self.time_off_at(t) {
                t = off.end;
                continue;
            }
            if self.working_hours.is_empty() {
                return Some(t);
            }
            match self.shift_from(t) {
                Some((start, _)) if start <= t => return Some(t),
                Some((start, _)) => t = start,
                // No block in the next week: only possible with no blocks.
                None => return None,
            }
        }
        None
    }

    /// [`Schedule::availability`]'s answer when `at` falls in one of its
    /// local day's blocks and not in time off: two instants per block of
    /// that day instead of the ten-day scan (a block never reaches past its
    /// own day, so no other day's block can contain `at`). `None`: ask the
    /// full question.
    fn on_shift_today(&self, at: DateTime<Utc>) -> Option<Availability> {
        if self.working_hours.is_empty() || self.time_off_at(at).is_some() {
            return None;
        }
        let (_, shift_end) = self
            .shifts_on(self.local_day(at))
            .filter(|&(start, end)| start <= at && at < end)
            .min_by_key(|&(start, _)| start)?;
        let next_off = self
            .time_off
            .iter()
            .map(|t| t.start)
            .filter(|&s| s > at)
            .min();
        Some(Availability::On {
            until: Some(next_off.map_or(shift_end, |off| off.min(shift_end))),
        })
    }

    /// Whether the rep may take a lead at `at`, and until or from when.
    pub fn availability(&self, at: DateTime<Utc>) -> Availability {
        self.on_shift_today(at)
            .unwrap_or_else(|| self.availability_by_scan(at))
    }

    /// [`Schedule::availability`] the long way: the shifts of ten days.
    fn availability_by_scan(&self, at: DateTime<Utc>) -> Availability {
        if self.time_off_at(at).is_some() {
            return Availability::TimeOff {
                next: self.next_eligible(at),
            };
        }
        let shift_end = if self.working_hours.is_empty() {
            None
        } else {
            match self.shift_from(at) {
                Some((start, end)) if start <= at => Some(end),
                _ => {
                    return Availability::OffShift {
                        next: self.next_eligible(at),
                    };
                }
            }
        };
        let next_off = self
            .time_off
            .iter()
            .map(|t| t.start)
            .filter(|&s| s > at)
            .min();
        let until = match (shift_end, next_off) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Availability::On { until }
    }

    /// `at` on the rep's local clock, for explanations: `09:00 America/New_York`.
    pub fn local_clock(&self, at: DateTime<Utc>) -> String {
        let local = at.with_timezone(&self.time_zone);
        format!("{} {}", local.format("%H:%M"), self.time_zone.name())
    }

    /// The instant `work` of the rep's working time after `start`: the
    /// clock runs only while they are on shift and not off (an SLA that
    /// counts working hours only). A rep without working hours is always on,
    /// so that is `start + work`. `None` if the time is not used up within
    /// [`HORIZON_DAYS`] (time off for a year).
    pub fn after_working(&self, start: DateTime<Utc>, work: Duration) -> Option<DateTime<Utc>> {
        let horizon = start + Duration::days(HORIZON_DAYS);
        let (mut t, mut left) = (start, work);
        while t < horizon {
            match self.availability(t) {
                Availability::On { until } => match until {
                    Some(end) if end - t < left => {
                        left -= end - t;
                        t = end;
                    }
                    _ => return Some(t + left),
                },
                Availability::OffShift { next } | Availability::TimeOff { next } => {
                    t = next.filter(|&n| n > t)?;
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;
