//! Reading what people type: enum values in any case (`website`, `WEBSITE`,
//! `ai-assistant`), times as RFC 3339 or a plain date.

use leadflow_proto::common::v1::{LeadSource, Role};
use leadflow_proto::leads::v1::LeadStatus;
use leadflow_proto::routing::v1::Strategy;

/// `ai-assistant` → `AI_ASSISTANT`, the way the proto names values.
fn normalise(text: &str) -> String {
    text.trim().to_ascii_uppercase().replace('-', "_")
}

/// The error for an unknown value: what was typed and what would do.
fn one_of(what: &str, text: &str, names: &[&str]) -> String {
    format!(
        "`{text}` is not a {what}; use one of: {}",
        names
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `text` as a value of a proto enum, never its unspecified zero: the
/// values are 1 upwards, each read by `name` (the generated `as_str_name`),
/// and an unknown `text` gets them all listed.
fn proto_enum<E: Copy + TryFrom<i32>>(
    what: &str,
    text: &str,
    name: fn(&E) -> &'static str,
) -> Result<E, String> {
    let values: Vec<E> = (1..).map_while(|n| E::try_from(n).ok()).collect();
    let wanted = normalise(text);
    values
        .iter()
        .copied()
        .find(|v| name(v) == wanted)
        .ok_or_else(|| {
            let names: Vec<&str> = values.iter().map(name).collect();
            one_of(what, text, &names)
        })
}

/// A lead source (`--source`).
pub fn source(text: &str) -> Result<LeadSource, String> {
    proto_enum("lead source", text, LeadSource::as_str_name)
}

/// A lead status (`leads status`, `--status`).
pub fn status(text: &str) -> Result<LeadStatus, String> {
    proto_enum("lead status", text, LeadStatus::as_str_name)
}

/// A member's role (`team upsert --role`).
pub fn role(text: &str) -> Result<Role, String> {
    proto_enum("role", text, Role::as_str_name)
}

pub fn strategy(text: &str) -> Result<Strategy, String> {
    match normalise(text).as_str() {
        "RR" | "ROUND_ROBIN" => Ok(Strategy::RoundRobin),
        "BALANCED" | "BALANCED_WORKLOAD" => Ok(Strategy::BalancedWorkload),
        _ => Err(one_of("strategy", text, &["round_robin", "balanced"])),
    }
}

pub fn on_off(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "available" => Ok(true),
        "off" | "false" | "no" | "unavailable" => Ok(false),
        _ => Err(format!("`{text}` is not on or off")),
    }
}

/// RFC 3339 (`2026-11-01T09:00:00Z`) or a date (`2026-11-01`, midnight UTC).
pub fn time(text: &str) -> Result<prost_types::Timestamp, String> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        })
        .map_err(|_| format!("`{text}` is not a time; use 2026-11-01 or 2026-11-01T09:00:00Z"))?;
    Ok(prost_types::Timestamp {
        seconds: parsed.timestamp(),
        nanos: parsed.timestamp_subsec_nanos() as i32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_values_are_read_in_any_case() {
        assert_eq!(source("website"), Ok(LeadSource::Website));
        assert_eq!(source("AI-assistant"), Ok(LeadSource::AiAssistant));
        assert!(source("fax").unwrap_err().contains("website"));
        assert!(source("lead_source_unspecified").is_err());
        assert_eq!(status("Won"), Ok(LeadStatus::Won));
        assert_eq!(role("sales"), Ok(Role::Sales));
        assert_eq!(strategy("balanced"), Ok(Strategy::BalancedWorkload));
        assert_eq!(strategy("rr"), Ok(Strategy::RoundRobin));
        assert_eq!(on_off("off"), Ok(false));
    }

    #[test]
    fn times_are_rfc3339_or_dates() {
        assert_eq!(time("2026-11-01").unwrap().seconds, 1_793_491_200);
        assert_eq!(time("2026-11-01T00:00:01Z").unwrap().seconds, 1_793_491_201);
        assert!(time("yesterday").is_err());
    }
}
