//! Leads as the business sees them: where they come from, where they stand,
//! how they got their owner, and what a valid new lead looks like.
//!
//! Everything here is plain Rust: the gRPC layer converts to and from these
//! types, the store persists them by their stable names ([`LeadSource::as_str`]
//! and friends), and the rules can be unit tested without a server.

use super::stored::stored_enum;
use crate::error::LeadsError;

stored_enum! {
    /// Where a lead came from; routing rules match on it.
    LeadSource {
        Team = "team" ("Team"),
        AiAssistant = "ai_assistant" ("AI assistant"),
        Website = "website" ("Website"),
        Facebook = "facebook" ("Facebook"),
        Google = "google" ("Google"),
        CsvImport = "csv_import" ("CSV import"),
        Other = "other" ("Other"),
    }
}

stored_enum! {
    /// Where a lead stands. WON, LOST and DORMANT are closed.
    LeadStatus {
        New = "new",
        Contacted = "contacted",
        Qualified = "qualified",
        Won = "won",
        Lost = "lost",
        Dormant = "dormant",
    }
}

impl LeadStatus {
    /// Open leads count toward a rep's workload.
    pub fn is_open(self) -> bool {
        !matches!(
            self,
            LeadStatus::Won | LeadStatus::Lost | LeadStatus::Dormant
        )
    }
}

stored_enum! {
    /// How a lead got its current owner.
    AssignmentMethod {
        Manual = "manual",
        Claim = "claim",
        Routing = "routing",
        Bulk = "bulk",
        ExplicitOwner = "explicit_owner",
        SlaReroute = "sla_reroute",
    }
}

stored_enum! {
    /// What a history event records.
    EventKind {
        Created = "created",
        Routed = "routed",
        Assigned = "assigned",
        Reassigned = "reassigned",
        Claimed = "claimed",
        Unassigned = "unassigned",
        StatusChanged = "status_changed",
        Held = "held",
        Accepted = "accepted",
        Escalated = "escalated",
    }
}

/// A stored lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lead {
    /// A UUID (version 7: time-ordered).
    pub id: String,
    /// Who the lead is, as reps and notifications name it.
    pub name: String,
    /// How to reach them by email (may be empty).
    pub email: String,
    /// How to reach them by phone (may be empty).
    pub phone: String,
    /// Their company (may be empty).
    pub company: String,
    /// Where the lead came from.
    pub source: LeadSource,
    /// Free labels, for filters; in the order given, no repeats.
    pub tags: Vec<String>,
    /// Where the lead stands.
    pub status: LeadStatus,
    /// The rep who has it; `None` while it is in the unassigned pool.
    pub owner_id: Option<String>,
    /// When it got its current owner.
    pub assigned_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Who gave it its current owner (a person, or routing).
    pub assigned_by: Option<String>,
    /// How it got its current owner.
    pub assignment_method: Option<AssignmentMethod>,
    /// Bumped with every change of owner or status.
    pub version: i64,
    /// Who created it.
    pub created_by: String,
    /// Since when routing holds it (everyone capped or off shift); `None`
    /// when not held. Any change of owner or status ends the hold.
    pub held_since: Option<chrono::DateTime<chrono::Utc>>,
    /// While a routing SLA runs: when it runs out ([`super::sla`]). Any
    /// change of owner or status ends it.
    pub accept_by: Option<chrono::DateTime<chrono::Utc>>,
    /// When the current owner accepted it (AcceptLead).
    pub accepted_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it was created: with the id, the immutable paging key.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// One entry of a lead's history: what happened, who did it and how.
///
/// Read back from the history it carries its id, its lead and its time. A
/// row a change is still to write has none of those yet: that is a
/// [`crate::domain::change::HistoryRow`], `()` in their place, which the
/// store completes as it writes the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadEvent<Id = i64, LeadId = String, At = chrono::DateTime<chrono::Utc>> {
    /// The entry's place in the history (increasing).
    pub id: Id,
    /// The lead it happened to.
    pub lead_id: LeadId,
    /// What happened.
    pub kind: EventKind,
    /// Who did it (a person, or [`crate::domain::change::ROUTING_ACTOR`]).
    pub actor_id: String,
    /// How the owner changed, when it did.
    pub method: Option<AssignmentMethod>,
    /// The owner before.
    pub from_owner_id: Option<String>,
    /// The owner after.
    pub to_owner_id: Option<String>,
    /// The status before (status changes).
    pub from_status: Option<LeadStatus>,
    /// The status after (creation, status changes).
    pub to_status: Option<LeadStatus>,
    /// The bulk assignment this entry belongs to.
    pub batch_id: Option<String>,
    /// Routing's explanation, when routing was asked.
    pub explanation: Option<String>,
    /// When it was written.
    pub at: At,
}

/// Longest lead name accepted.
pub const MAX_NAME_CHARS: usize = 200;
/// Most tags on one lead.
pub const MAX_TAGS: usize = 20;
/// Longest tag accepted.
pub const MAX_TAG_CHARS: usize = 50;
/// Longest email, phone or company accepted (RFC 5321 caps an address at 254).
pub const MAX_CONTACT_CHARS: usize = 254;
/// Longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 128;

/// A validated CreateLead body, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLead {
    /// Trimmed, required.
    pub name: String,
    /// Trimmed; empty, or a valid address.
    pub email: String,
    /// Trimmed; empty, or digits, spaces and `+ - ( ) .`.
    pub phone: String,
    /// Trimmed; may be empty.
    pub company: String,
    /// Where the lead came from (required).
    pub source: LeadSource,
    /// Trimmed, de-duplicated, in the order given.
    pub tags: Vec<String>,
    /// Empty: no explicit owner.
    pub owner_id: Option<String>,
}

/// The raw body of a CreateLead request, before validation.
#[derive(Debug, Clone, Default)]
pub struct NewLeadInput {
    /// The lead's name as sent.
    pub name: String,
    /// The email as sent.
    pub email: String,
    /// The phone number as sent.
    pub phone: String,
    /// The company as sent.
    pub company: String,
    /// `None`: the wire carried an unknown or unspecified value.
    pub source: Option<LeadSource>,
    /// The raw enum number, to report unknown values precisely.
    pub source_raw: i32,
    /// The tags as sent (trimmed and de-duplicated by validation).
    pub tags: Vec<String>,
    /// The explicit owner as sent; empty: none.
    pub owner_id: String,
}

impl NewLead {
    /// Validates a body. Each failure names the offending field.
    pub fn parse(input: NewLeadInput) -> Result<NewLead, LeadsError> {
        let name = required_text("name", &input.name, MAX_NAME_CHARS, "is required", AT_MOST)?;

        let email = input.email.trim().to_owned();
        if !email.is_empty() {
            parse_email("email", &email)?;
        }
        let phone = bounded_text("phone", &input.phone, MAX_CONTACT_CHARS, AT_MOST)?;
        if !phone.is_empty()
            && !phone
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        {
            return Err(LeadsError::invalid(
                "phone",
                "may hold only digits, spaces and + - ( ) .",
            ));
        }
        let company = bounded_text("company", &input.company, MAX_CONTACT_CHARS, AT_MOST)?;

        let source = match input.source {
            Some(source) => source,
            None if input.source_raw == 0 => {
                return Err(LeadsError::invalid("source", "is required"));
            }
            None => {
                return Err(LeadsError::invalid(
                    "source",
                    format!("unknown value {}", input.source_raw),
                ));
            }
        };

        let tags = parse_tags(&input.tags)?;

        let owner_id = input.owner_id.trim();
        let owner_id = if owner_id.is_empty() {
            None
        } else {
            parse_user_id("owner_id", owner_id)?;
            Some(owner_id.to_owned())
        };

        Ok(NewLead {
            name: name.to_owned(),
            email,
            phone: phone.to_owned(),
            company: company.to_owned(),
            source,
            tags,
            owner_id,
        })
    }

    /// A stable fingerprint of the body, to tell a retry (same body) from a
    /// different request reusing an idempotency key.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for part in [
            self.name.as_str(),
            self.email.as_str(),
            self.phone.as_str(),
            self.company.as_str(),
            self.source.as_str(),
            self.owner_id.as_deref().unwrap_or(""),
        ] {
            hasher.update(part.len().to_le_bytes());
            hasher.update(part.as_bytes());
        }
        for tag in &self.tags {
            hasher.update(tag.len().to_le_bytes());
            hasher.update(tag.as_bytes());
        }
        hex(&hasher.finalize())
    }
}

/// Validates and normalises tags: at most [`MAX_TAGS`], each at most
/// [`MAX_TAG_CHARS`], no empty ones; duplicates are dropped.
pub fn parse_tags(raw: &[String]) -> Result<Vec<String>, LeadsError> {
    if raw.len() > MAX_TAGS {
        return Err(LeadsError::invalid(
            "tags",
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    let mut tags: Vec<String> = Vec::with_capacity(raw.len());
    for tag in raw {
        let tag = required_text(
            "tags",
            tag,
            MAX_TAG_CHARS,
            "a tag may not be empty",
            "each tag must be at most",
        )?;
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
        }
    }
    Ok(tags)
}

/// A pragmatic email syntax check: one `@`, a non-empty local part, a dotted
/// domain of letters, digits and hyphens, no spaces or control characters.
/// Deliverability is the mail server's business, not ours.
pub fn parse_email(field: &'static str, email: &str) -> Result<(), LeadsError> {
    let invalid = || LeadsError::invalid(field, "is not a valid email address");
    check_length(field, email, MAX_CONTACT_CHARS, AT_MOST)?;
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return Err(invalid());
    }
    if local
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"".contains(c))
    {
        return Err(invalid());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels.iter().any(|l| {
            l.is_empty()
                || l.starts_with('-')
                || l.ends_with('-')
                || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
    {
        return Err(invalid());
    }
    Ok(())
}

/// User ids come from the identity provider: printable, no whitespace.
pub fn parse_user_id(field: &'static str, id: &str) -> Result<(), LeadsError> {
    if id.is_empty() {
        return Err(LeadsError::invalid(field, "is required"));
    }
    if id.len() > 128 || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(LeadsError::invalid(
            field,
            "must be at most 128 printable characters without spaces",
        ));
    }
    Ok(())
}

/// Lead ids are UUIDs; anything else cannot name a lead.
pub fn parse_lead_id(field: &'static str, id: &str) -> Result<String, LeadsError> {
    let id = id.trim();
    if id.is_empty() {
        return Err(LeadsError::invalid(field, "is required"));
    }
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| LeadsError::invalid(field, "is not a lead id"))
}

/// Validates an idempotency key (optional: empty means none).
pub fn parse_idempotency_key(key: &str) -> Result<Option<String>, LeadsError> {
    if key.is_empty() {
        return Ok(None);
    }
    if key.len() > MAX_IDEMPOTENCY_KEY_CHARS || key.chars().any(|c| c.is_control()) {
        return Err(LeadsError::invalid(
            "idempotency_key",
            format!("must be at most {MAX_IDEMPOTENCY_KEY_CHARS} printable characters"),
        ));
    }
    Ok(Some(key.to_owned()))
}

/// How a length refusal starts, before the limit.
const AT_MOST: &str = "must be at most";

/// A text field, trimmed: refused when longer than `max` characters
/// (`at_most` says so, before the number) or holding control characters.
fn bounded_text<'a>(
    field: &'static str,
    raw: &'a str,
    max: usize,
    at_most: &str,
) -> Result<&'a str, LeadsError> {
    let text = raw.trim();
    check_length(field, text, max, at_most)?;
    reject_control_chars(field, text)?;
    Ok(text)
}

/// A [`bounded_text`] that may not be empty (`empty` says so).
fn required_text<'a>(
    field: &'static str,
    raw: &'a str,
    max: usize,
    empty: &'static str,
    at_most: &str,
) -> Result<&'a str, LeadsError> {
    if raw.trim().is_empty() {
        return Err(LeadsError::invalid(field, empty));
    }
    bounded_text(field, raw, max, at_most)
}

/// Refuses `value` past `max` characters, saying "`at_most` `max` characters".
fn check_length(
    field: &'static str,
    value: &str,
    max: usize,
    at_most: &str,
) -> Result<(), LeadsError> {
    if value.chars().count() > max {
        return Err(LeadsError::invalid(
            field,
            format!("{at_most} {max} characters"),
        ));
    }
    Ok(())
}

/// CR/LF and other control characters in lead fields end up in email headers
/// and terminals downstream; refuse them at the edge.
fn reject_control_chars(field: &'static str, value: &str) -> Result<(), LeadsError> {
    if value.chars().any(char::is_control) {
        return Err(LeadsError::invalid(
            field,
            "may not contain control characters",
        ));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> NewLeadInput {
        NewLeadInput {
            name: "Jane Doe".into(),
            email: "jane@example.com".into(),
            source: Some(LeadSource::Website),
            source_raw: 3,
            ..Default::default()
        }
    }

    fn field_of(result: Result<NewLead, LeadsError>) -> &'static str {
        match result {
            Err(LeadsError::InvalidArgument { field, .. }) => field,
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn a_well_formed_lead_parses_and_trims() {
        let lead = NewLead::parse(NewLeadInput {
            name: "  Jane Doe ".into(),
            tags: vec!["vip".into(), " vip ".into(), "q4".into()],
            ..input()
        })
        .unwrap();
        assert_eq!(lead.name, "Jane Doe");
        assert_eq!(lead.tags, ["vip", "q4"]);
        assert_eq!(lead.owner_id, None);
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(
            field_of(NewLead::parse(NewLeadInput {
                name: " ".into(),
                ..input()
            })),
            "name"
        );
        assert_eq!(
            field_of(NewLead::parse(NewLeadInput {
                name: "x".repeat(201),
                ..input()
            })),
            "name"
        );
        for bad in [
            "jane",
            "jane@",
            "@x.com",
            "jane@localhost",
            "ja ne@x.com",
            "jane@x..com",
        ] {
            assert_eq!(
                field_of(NewLead::parse(NewLeadInput {
                    email: bad.into(),
                    ..input()
                })),
                "email",
                "{bad}"
            );
        }
        assert_eq!(
            field_of(NewLead::parse(NewLeadInput {
                source: None,
                source_raw: 99,
                ..input()
            })),
            "source"
        );
        assert_eq!(
            field_of(NewLead::parse(NewLeadInput {
                tags: vec!["t".into(); 21],
                ..input()
            })),
            "tags"
        );
        assert_eq!(
            field_of(NewLead::parse(NewLeadInput {
                tags: vec!["x".repeat(51)],
                ..input()
            })),
            "tags"
        );
    }

    #[test]
    fn two_hundred_characters_is_still_a_name() {
        let lead = NewLead::parse(NewLeadInput {
            name: "é".repeat(200),
            ..input()
        });
        assert!(lead.is_ok());
    }

    #[test]
    fn the_fingerprint_tells_bodies_apart() {
        let a = NewLead::parse(input()).unwrap();
        let b = NewLead::parse(NewLeadInput {
            company: "Acme".into(),
            ..input()
        })
        .unwrap();
        assert_eq!(
            a.fingerprint(),
            NewLead::parse(input()).unwrap().fingerprint()
        );
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn closed_statuses_are_not_open() {
        let open: Vec<_> = LeadStatus::ALL.iter().filter(|s| s.is_open()).collect();
        assert_eq!(
            open,
            [
                &LeadStatus::New,
                &LeadStatus::Contacted,
                &LeadStatus::Qualified
            ]
        );
    }

    #[test]
    fn stored_names_round_trip() {
        for s in LeadSource::ALL {
            assert_eq!(LeadSource::parse_stored(s.as_str()), Some(*s));
        }
        for s in EventKind::ALL {
            assert_eq!(EventKind::parse_stored(s.as_str()), Some(*s));
        }
    }
}
