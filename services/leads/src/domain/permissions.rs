//! Who may do what: the permission table of API.md, one function per decision.
//!
//! Role checks use the role in the caller's token (it comes from the identity
//! provider). Whether someone may *own* a lead uses the team directory. The
//! `service` role is leadflow talking to itself and is refused everywhere in
//! the leads API; `integration` may create leads and sync members, nothing else.
//!
//! Two status codes carry meaning here: PERMISSION_DENIED for an action the
//! caller may not take, NOT_FOUND for a lead the caller may not see (so its
//! existence does not leak).

use leadflow_auth::{Caller, Role};

use crate::error::LeadsError;

/// Which leads a caller can see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeadScope {
    /// Owners, admins, managers and accounting see every lead of the org.
    All,
    /// Sales see unassigned leads and their own.
    UnassignedOrOwnedBy(String),
}

impl LeadScope {
    /// Whether a lead with this owner is visible.
    pub fn sees(&self, owner_id: Option<&str>) -> bool {
        match self {
            LeadScope::All => true,
            LeadScope::UnassignedOrOwnedBy(me) => owner_id.is_none_or(|owner| owner == me),
        }
    }
}

fn denied(what: &str) -> LeadsError {
    LeadsError::PermissionDenied(format!("your role may not {what}"))
}

/// GetLead, ListLeads, GetLeadHistory: the leads this caller can see.
pub fn lead_scope(caller: &Caller) -> Result<LeadScope, LeadsError> {
    match caller.role {
        Role::Owner | Role::Admin | Role::Manager | Role::Accounting => Ok(LeadScope::All),
        Role::Sales => Ok(LeadScope::UnassignedOrOwnedBy(caller.user_id.clone())),
        Role::Integration | Role::Service => Err(denied("read leads")),
    }
}

/// CreateLead: anyone but accounting; integrations too.
pub fn may_create_lead(caller: &Caller) -> Result<(), LeadsError> {
    match caller.role {
        Role::Owner | Role::Admin | Role::Manager | Role::Sales | Role::Integration => Ok(()),
        Role::Accounting | Role::Service => Err(denied("create leads")),
    }
}

/// CreateLead with an explicit owner: sales may name only themselves.
pub fn may_name_owner(caller: &Caller, owner_id: &str) -> Result<(), LeadsError> {
    if caller.role == Role::Sales && owner_id != caller.user_id {
        return Err(LeadsError::PermissionDenied(
            "sales may create leads owned only by themselves".into(),
        ));
    }
    Ok(())
}

/// BatchCreateLeads: owner, admin, manager and integrations.
pub fn may_batch_create(caller: &Caller) -> Result<(), LeadsError> {
    match caller.role {
        Role::Owner | Role::Admin | Role::Manager | Role::Integration => Ok(()),
        _ => Err(denied("import leads in batches")),
    }
}

/// UpdateLeadStatus: the lead's owner, or an owner, admin or manager. Called
/// only for a lead the caller can see.
pub fn may_update_status(caller: &Caller, lead_owner: Option<&str>) -> Result<(), LeadsError> {
    if caller.role.is_lead_manager() {
        return Ok(());
    }
    if caller.role == Role::Sales && lead_owner == Some(caller.user_id.as_str()) {
        return Ok(());
    }
    Err(LeadsError::PermissionDenied(
        "only the lead's owner, or an owner, admin or manager, may change its status".into(),
    ))
}

/// AcceptLead: the lead's owner only, whatever their role (a manager who
/// owns a lead accepts it like a rep; they cannot accept for someone else).
/// Called only for a lead the caller can see.
pub fn may_accept(caller: &Caller, lead_owner: Option<&str>) -> Result<(), LeadsError> {
    let person = !matches!(caller.role, Role::Integration | Role::Service);
    if person && lead_owner == Some(caller.user_id.as_str()) {
        return Ok(());
    }
    Err(LeadsError::PermissionDenied(
        "only the lead's owner may accept it".into(),
    ))
}

/// ClaimLead: sales-capable roles only. Accounting never owns a lead.
pub fn may_claim(caller: &Caller) -> Result<(), LeadsError> {
    if caller.role.is_sales_capable() {
        Ok(())
    } else {
        Err(denied("claim leads"))
    }
}

/// UnassignLead: sales only their own leads; owner, admin, manager any. Called
/// only for a lead the caller can see.
pub fn may_unassign(caller: &Caller, lead_owner: Option<&str>) -> Result<(), LeadsError> {
    match caller.role {
        Role::Owner | Role::Admin | Role::Manager => Ok(()),
        Role::Sales if lead_owner.is_none_or(|owner| owner == caller.user_id) => Ok(()),
        Role::Sales => Err(LeadsError::PermissionDenied(
            "sales may unassign only their own leads".into(),
        )),
        _ => Err(denied("unassign leads")),
    }
}

/// AssignLeads (assign, reassign, bulk): owner, admin, manager.
pub fn may_assign(caller: &Caller) -> Result<(), LeadsError> {
    if caller.role.is_lead_manager() {
        Ok(())
    } else {
        Err(LeadsError::PermissionDenied(
            "only an owner, admin or manager may assign or reassign leads".into(),
        ))
    }
}

/// ListMembers: anyone in the organisation, people and integrations.
pub fn may_list_members(caller: &Caller) -> Result<(), LeadsError> {
    match caller.role {
        Role::Service => Err(denied("list members")),
        _ => Ok(()),
    }
}

/// UpsertMember. Owner, admin and integrations (directory sync) manage the
/// team, but only an owner grants the owner or admin role, or changes the role
/// or active flag of someone who holds one (so an admin cannot demote or
/// deactivate an owner).
pub fn may_upsert_member(
    caller: &Caller,
    existing_role: Option<Role>,
    new_role: Role,
    changes_role_or_active: bool,
) -> Result<(), LeadsError> {
    if !matches!(caller.role, Role::Owner | Role::Admin | Role::Integration) {
        return Err(denied("manage team members"));
    }
    let privileged = |r: Role| matches!(r, Role::Owner | Role::Admin);
    let grants = privileged(new_role) && existing_role != Some(new_role);
    let touches_privileged = existing_role.is_some_and(privileged) && changes_role_or_active;
    if (grants || touches_privileged) && caller.role != Role::Owner {
        return Err(LeadsError::PermissionDenied(
            "only an owner may grant, change or revoke the owner or admin role".into(),
        ));
    }
    Ok(())
}

/// SetAvailability: the member themself, or an owner, admin or manager.
pub fn may_set_availability(caller: &Caller, target_user_id: &str) -> Result<(), LeadsError> {
    may_change_own_routing_facts(caller, target_user_id, "set availability")
}

/// SetSchedule: as SetAvailability.
pub fn may_set_schedule(caller: &Caller, target_user_id: &str) -> Result<(), LeadsError> {
    may_change_own_routing_facts(caller, target_user_id, "set a schedule")
}

/// What a rep may change about themself and lead managers about anyone:
/// the facts routing reads (availability, schedule).
fn may_change_own_routing_facts(
    caller: &Caller,
    target_user_id: &str,
    what: &str,
) -> Result<(), LeadsError> {
    if caller.role.is_lead_manager()
        || (caller.role.is_person() && caller.user_id == target_user_id)
    {
        Ok(())
    } else {
        Err(LeadsError::PermissionDenied(format!(
            "only the member themself, or an owner, admin or manager, may {what}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role) -> Caller {
        Caller::new("me", "org", role)
    }

    #[test]
    fn sales_see_unassigned_leads_and_their_own_only() {
        let scope = lead_scope(&caller(Role::Sales)).unwrap();
        assert!(scope.sees(None));
        assert!(scope.sees(Some("me")));
        assert!(!scope.sees(Some("someone-else")));
        assert_eq!(
            lead_scope(&caller(Role::Accounting)).unwrap(),
            LeadScope::All
        );
        assert!(lead_scope(&caller(Role::Integration)).is_err());
    }

    #[test]
    fn accounting_never_creates_claims_or_assigns() {
        let c = caller(Role::Accounting);
        assert!(may_create_lead(&c).is_err());
        assert!(may_claim(&c).is_err());
        assert!(may_assign(&c).is_err());
        assert!(may_unassign(&c, None).is_err());
    }

    #[test]
    fn sales_unassign_only_their_own() {
        let c = caller(Role::Sales);
        assert!(may_unassign(&c, Some("me")).is_ok());
        assert!(may_unassign(&c, Some("other")).is_err());
        assert!(may_unassign(&caller(Role::Manager), Some("other")).is_ok());
    }

    #[test]
    fn only_an_owner_grants_owner_or_admin() {
        assert!(may_upsert_member(&caller(Role::Admin), None, Role::Admin, true).is_err());
        assert!(may_upsert_member(&caller(Role::Integration), None, Role::Owner, true).is_err());
        assert!(may_upsert_member(&caller(Role::Owner), None, Role::Admin, true).is_ok());
        assert!(may_upsert_member(&caller(Role::Admin), None, Role::Sales, true).is_ok());
        // An admin may not demote an owner, but may fix an owner's display name.
        assert!(
            may_upsert_member(&caller(Role::Admin), Some(Role::Owner), Role::Sales, true).is_err()
        );
        assert!(
            may_upsert_member(&caller(Role::Admin), Some(Role::Owner), Role::Owner, false).is_ok()
        );
        assert!(may_upsert_member(&caller(Role::Manager), None, Role::Sales, true).is_err());
    }

    #[test]
    fn sales_name_only_themselves_as_owner() {
        assert!(may_name_owner(&caller(Role::Sales), "me").is_ok());
        assert!(may_name_owner(&caller(Role::Sales), "other").is_err());
        assert!(may_name_owner(&caller(Role::Manager), "other").is_ok());
    }
}
