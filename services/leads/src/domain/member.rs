//! Team members as the directory keeps them, and what a valid upsert is.

use leadflow_auth::Role;

use super::lead::{parse_email, parse_user_id};
use crate::error::LeadsError;

/// Longest display name accepted.
pub const MAX_DISPLAY_NAME_CHARS: usize = 200;

/// A member of an organisation's team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Their user id: leads name it as owner, tokens name it as the caller.
    pub user_id: String,
    /// How the UI and notifications name them.
    pub display_name: String,
    /// Where the notifier emails them; may be empty.
    pub email: String,
    /// What they may do, and whether they may own leads at all.
    pub role: Role,
    /// False once deactivated: they may not own leads and every service refuses them.
    pub active: bool,
    /// False while away: routing skips them ([`Member::can_take_routed_leads`]).
    pub available: bool,
    /// When they were first upserted.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When they last changed (their latest audit row's time).
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// When they work, in their own time zone; `None`: any time, no time off.
    pub schedule: Option<leadflow_schedule::Schedule>,
}

impl Member {
    /// May own a lead right now: active, and a sales-capable role.
    pub fn can_own_leads(&self) -> bool {
        self.active && self.role.is_sales_capable()
    }

    /// Routing may give them a lead now: may own leads, and not away.
    pub fn can_take_routed_leads(&self) -> bool {
        self.can_own_leads() && self.available
    }
}

/// A validated UpsertMember body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberUpsert {
    /// The member to create or update: trimmed, a valid user id.
    pub user_id: String,
    /// How they will be shown: trimmed, required, printable, bounded in length.
    pub display_name: String,
    /// Where the notifier emails them: trimmed; empty, or a valid address.
    pub email: String,
    /// Their new role; always a person's role (machine identities are refused).
    pub role: Role,
    /// `None`: true for a new member, unchanged for an existing one.
    pub active: Option<bool>,
}

/// Words ListLeads' `filter.owner` gives a meaning of its own, so no member
/// may carry them as a user id.
pub const RESERVED_USER_IDS: [&str; 2] = ["held", "unassigned"];

impl MemberUpsert {
    /// Validates the body; `role` is `None` when the wire value was unknown
    /// or unspecified (`role_raw` says which).
    pub fn parse(
        user_id: &str,
        display_name: &str,
        email: &str,
        role: Option<Role>,
        role_raw: i32,
        active: Option<bool>,
    ) -> Result<MemberUpsert, LeadsError> {
        let user_id = user_id.trim();
        parse_user_id("user_id", user_id)?;
        if RESERVED_USER_IDS.contains(&user_id) {
            return Err(LeadsError::invalid(
                "user_id",
                format!("`{user_id}` is reserved (ListLeads' owner filter uses it)"),
            ));
        }
        let display_name = display_name.trim();
        if display_name.is_empty() {
            return Err(LeadsError::invalid("display_name", "is required"));
        }
        if display_name.chars().count() > MAX_DISPLAY_NAME_CHARS
            || display_name.chars().any(char::is_control)
        {
            return Err(LeadsError::invalid(
                "display_name",
                format!("must be at most {MAX_DISPLAY_NAME_CHARS} printable characters"),
            ));
        }
        let email = email.trim();
        if !email.is_empty() {
            parse_email("email", email)?;
        }
        let role = match role {
            Some(role) if role.is_person() => role,
            _ if role_raw == 0 => return Err(LeadsError::invalid("role", "is required")),
            _ => {
                return Err(LeadsError::invalid(
                    "role",
                    format!("unknown value {role_raw}"),
                ));
            }
        };
        Ok(MemberUpsert {
            user_id: user_id.to_owned(),
            display_name: display_name.to_owned(),
            email: email.to_owned(),
            role,
            active,
        })
    }
}

/// The rule that keeps every organisation manageable: its last active owner
/// may not be demoted or deactivated. `other_active_owners` counts active
/// owners besides the member being changed.
pub fn check_last_owner(
    existing: &Member,
    new_role: Role,
    new_active: bool,
    other_active_owners: u64,
) -> Result<(), LeadsError> {
    let loses_owner =
        existing.role == Role::Owner && existing.active && (new_role != Role::Owner || !new_active);
    if loses_owner && other_active_owners == 0 {
        return Err(LeadsError::FailedPrecondition(
            "the last active owner cannot be demoted or deactivated; make someone else an owner first"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Member {
        let now = chrono::Utc::now();
        Member {
            user_id: "o".into(),
            display_name: "O".into(),
            email: String::new(),
            role: Role::Owner,
            active: true,
            available: true,
            created_at: now,
            updated_at: now,
            schedule: None,
        }
    }

    #[test]
    fn the_last_active_owner_stays_an_active_owner() {
        assert!(check_last_owner(&owner(), Role::Admin, true, 0).is_err());
        assert!(check_last_owner(&owner(), Role::Owner, false, 0).is_err());
        assert!(check_last_owner(&owner(), Role::Owner, true, 0).is_ok());
        assert!(check_last_owner(&owner(), Role::Sales, true, 1).is_ok());
    }

    #[test]
    fn machine_roles_cannot_be_members() {
        let err = MemberUpsert::parse("u", "U", "", Some(Role::Service), 99, None);
        assert!(matches!(
            err,
            Err(LeadsError::InvalidArgument { field: "role", .. })
        ));
        let err = MemberUpsert::parse("u", "U", "", None, 0, None);
        assert!(matches!(
            err,
            Err(LeadsError::InvalidArgument { field: "role", .. })
        ));
    }
}
