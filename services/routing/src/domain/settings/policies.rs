//! The two policies that act around a pick rather than in it: the SLA (how
//! long a routed rep has to act before the lead moves on, which the leads
//! service times) and sticky ownership (a returning contact's own rep,
//! whom the leads service finds and routing checks in the pick).
//!
//! Routing only stores and validates them, and names the SLA of the pool
//! that decided in each decision, so that the leads service starts the
//! timer in the same transaction as the assignment.

use serde::{Deserialize, Serialize};

use crate::error::RoutingError;

/// The longest SLA, in minutes (a week).
pub const MAX_SLA_MINUTES: i32 = 10_080;
/// The most re-routes an SLA chain may make before it escalates.
pub const MAX_SLA_HOPS: i32 = 10;
/// The longest a sticky match may look back, in days (ten years).
pub const MAX_LOOKBACK_DAYS: i32 = 3_650;

/// An SLA: `accept_within_minutes` for the holder to act, `max_hops`
/// re-routes before the managers are told.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sla {
    /// Minutes the holder has; 0: no SLA (a rule's way of opting out).
    pub accept_within_minutes: u32,
    /// Re-routes before escalating (0: escalate at the first expiry).
    pub max_hops: u32,
    /// The clock runs only during the holder's working hours.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub count_working_hours_only: bool,
}

impl Sla {
    /// Whether this SLA times anything.
    pub fn is_on(&self) -> bool {
        self.accept_within_minutes > 0
    }
}

/// Sticky ownership: how a new lead is matched to an open one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sticky {
    /// The same email, case-insensitive and trimmed.
    pub match_email: bool,
    /// The same email domain (never a free-mail one).
    pub match_domain: bool,
    /// Only matches created within this many days; 0: any age.
    pub lookback_days: u32,
}

impl Sticky {
    /// Whether anything is matched at all.
    pub fn is_on(&self) -> bool {
        self.match_email || self.match_domain
    }
}

/// An SLA as it arrived on the wire.
#[derive(Debug, Clone, Copy, Default)]
pub struct SlaInput {
    /// Raw minutes.
    pub accept_within_minutes: i32,
    /// Raw hops.
    pub max_hops: i32,
    /// As given.
    pub count_working_hours_only: bool,
}

/// A sticky policy as it arrived on the wire.
#[derive(Debug, Clone, Copy, Default)]
pub struct StickyInput {
    /// As given.
    pub match_email: bool,
    /// As given.
    pub match_domain: bool,
    /// Raw days.
    pub lookback_days: i32,
}

/// Reads an SLA under `field` (`settings.sla` or `settings.rules.sla`).
pub fn parse_sla(field: &str, raw: &SlaInput) -> Result<Sla, RoutingError> {
    if !(0..=MAX_SLA_MINUTES).contains(&raw.accept_within_minutes) {
        return Err(RoutingError::invalid(
            &format!("{field}.accept_within_minutes"),
            format!(
                "must be 0 (no SLA) to {MAX_SLA_MINUTES} minutes, not {}",
                raw.accept_within_minutes
            ),
        ));
    }
    if !(0..=MAX_SLA_HOPS).contains(&raw.max_hops) {
        return Err(RoutingError::invalid(
            &format!("{field}.max_hops"),
            format!("must be 0 to {MAX_SLA_HOPS}, not {}", raw.max_hops),
        ));
    }
    Ok(Sla {
        accept_within_minutes: raw.accept_within_minutes as u32,
        max_hops: raw.max_hops as u32,
        count_working_hours_only: raw.count_working_hours_only,
    })
}

/// Reads the sticky policy.
pub fn parse_sticky(raw: &StickyInput) -> Result<Sticky, RoutingError> {
    if !(0..=MAX_LOOKBACK_DAYS).contains(&raw.lookback_days) {
        return Err(RoutingError::invalid(
            "settings.sticky.lookback_days",
            format!(
                "must be 0 (any age) to {MAX_LOOKBACK_DAYS} days, not {}",
                raw.lookback_days
            ),
        ));
    }
    Ok(Sticky {
        match_email: raw.match_email,
        match_domain: raw.match_domain,
        lookback_days: raw.lookback_days as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(error: RoutingError) -> String {
        match error {
            RoutingError::InvalidArgument { field, .. } => field,
            other => panic!("not INVALID_ARGUMENT: {other:?}"),
        }
    }

    #[test]
    fn an_sla_has_zero_to_a_week_of_minutes_and_at_most_ten_hops() {
        let sla = |minutes, hops| SlaInput {
            accept_within_minutes: minutes,
            max_hops: hops,
            count_working_hours_only: false,
        };
        assert!(parse_sla("settings.sla", &sla(15, 2)).unwrap().is_on());
        assert!(!parse_sla("settings.sla", &sla(0, 0)).unwrap().is_on());
        assert_eq!(
            field_of(parse_sla("settings.sla", &sla(-1, 2)).unwrap_err()),
            "settings.sla.accept_within_minutes"
        );
        assert_eq!(
            field_of(parse_sla("settings.sla", &sla(MAX_SLA_MINUTES + 1, 2)).unwrap_err()),
            "settings.sla.accept_within_minutes"
        );
        assert_eq!(
            field_of(parse_sla("settings.rules.sla", &sla(15, 11)).unwrap_err()),
            "settings.rules.sla.max_hops"
        );
        assert_eq!(
            field_of(parse_sla("settings.sla", &sla(15, -1)).unwrap_err()),
            "settings.sla.max_hops"
        );
    }

    #[test]
    fn a_sticky_lookback_is_zero_to_ten_years() {
        let sticky = |days| StickyInput {
            match_email: true,
            match_domain: false,
            lookback_days: days,
        };
        assert_eq!(parse_sticky(&sticky(30)).unwrap().lookback_days, 30);
        assert_eq!(parse_sticky(&sticky(3_650)).unwrap().lookback_days, 3_650);
        assert_eq!(
            field_of(parse_sticky(&sticky(3_651)).unwrap_err()),
            "settings.sticky.lookback_days"
        );
        assert_eq!(
            field_of(parse_sticky(&sticky(-1)).unwrap_err()),
            "settings.sticky.lookback_days"
        );
        assert!(!parse_sticky(&StickyInput::default()).unwrap().is_on());
    }
}
