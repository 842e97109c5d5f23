//! Leads as the business sees them: where they come from, where they stand,
//! how they got their owner, and what a valid new lead looks like.
//!
//! Everything here is plain Rust: the gRPC layer converts to and from these
//! types, the store persists them by their stable names ([`LeadSource::as_str`]
//! and friends), and the rules can be unit tested without a server.

use crate::error::LeadsError;

/// Declares a closed set of names stored in the database as text.
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Reads the stored spelling back.
            pub fn parse_stored(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

stored_enum! {
    /// Where a lead came from; routing rules match on it.
    LeadSource {
        Team = "team",
        AiAssistant = "ai_assistant",
        Website = "website",
        Facebook = "facebook",
        Google = "google",
        CsvImport = "csv_import",
        Other = "other",
    }
}

impl LeadSource {
    /// How a person reads it, e.g. in "New lead: Jane Doe (Website)".
    pub fn label(self) -> &'static str {
        match self {
            LeadSource::Team => "Team",
            LeadSource::AiAssistant => "AI assistant",
            LeadSource::Website => "Website",
            LeadSource::Facebook => "Facebook",
            LeadSource::Google => "Google",
            LeadSource::CsvImport => "CSV import",
            LeadSource::Other => "Other",
        }
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
    }
}

/// A stored lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lead {
    pub id: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub company: String,
    pub source: LeadSource,
    pub tags: Vec<String>,
    pub status: LeadStatus,
    pub owner_id: Option<String>,
    pub assigned_at: Option<chrono::DateTime<chrono::Utc>>,
    pub assigned_by: Option<String>,
    pub assignment_method: Option<AssignmentMethod>,
    /// Bumped with every change of owner or status.
    pub version: i64,
    pub created_by: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// One entry of a lead's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadEvent {
    pub id: i64,
    pub lead_id: String,
    pub kind: EventKind,
    pub actor_id: String,
    pub method: Option<AssignmentMethod>,
    pub from_owner_id: Option<String>,
    pub to_owner_id: Option<String>,
    pub from_status: Option<LeadStatus>,
    pub to_status: Option<LeadStatus>,
    pub batch_id: Option<String>,
    pub explanation: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
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
    pub name: String,
    pub email: String,
    pub phone: String,
    pub company: String,
    pub source: LeadSource,
    /// Trimmed, de-duplicated, in the order given.
    pub tags: Vec<String>,
    /// Empty: no explicit owner.
    pub owner_id: Option<String>,
}

/// The raw body of a CreateLead request, before validation.
#[derive(Debug, Clone, Default)]
pub struct NewLeadInput {
    pub name: String,
    pub email: String,
    pub phone: String,
    pub company: String,
    /// `None`: the wire carried an unknown or unspecified value.
    pub source: Option<LeadSource>,
    /// The raw enum number, to report unknown values precisely.
    pub source_raw: i32,
    pub tags: Vec<String>,
    pub owner_id: String,
}

impl NewLead {
    /// Validates a body. Each failure names the offending field.
    pub fn parse(input: NewLeadInput) -> Result<NewLead, LeadsError> {
        let name = input.name.trim().to_owned();
        if name.is_empty() {
            return Err(LeadsError::invalid("name", "is required"));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(LeadsError::invalid(
                "name",
                format!("must be at most {MAX_NAME_CHARS} characters"),
            ));
        }
        reject_control_chars("name", &name)?;

        let email = input.email.trim().to_owned();
        if !email.is_empty() {
            parse_email("email", &email)?;
        }
        let phone = input.phone.trim().to_owned();
        check_length("phone", &phone, MAX_CONTACT_CHARS)?;
        reject_control_chars("phone", &phone)?;
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
        let company = input.company.trim().to_owned();
        check_length("company", &company, MAX_CONTACT_CHARS)?;
        reject_control_chars("company", &company)?;

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
            name,
            email,
            phone,
            company,
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
        let tag = tag.trim();
        if tag.is_empty() {
            return Err(LeadsError::invalid("tags", "a tag may not be empty"));
        }
        if tag.chars().count() > MAX_TAG_CHARS {
            return Err(LeadsError::invalid(
                "tags",
                format!("each tag must be at most {MAX_TAG_CHARS} characters"),
            ));
        }
        reject_control_chars("tags", tag)?;
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
    check_length(field, email, MAX_CONTACT_CHARS)?;
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

fn check_length(field: &'static str, value: &str, max: usize) -> Result<(), LeadsError> {
    if value.chars().count() > max {
        return Err(LeadsError::invalid(
            field,
            format!("must be at most {max} characters"),
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
