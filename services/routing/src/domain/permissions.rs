//! Who may call which RoutingService rpc (the table in API.md).
//!
//! People with owner, admin or manager roles change and inspect routing;
//! anyone in the organisation may read the settings; only leadflow's own
//! `service` identity asks for decisions and reports ownership changes.

use leadflow_auth::{Caller, Role};

use crate::error::RoutingError;

/// One of the checks below: what a handler names to authorise its caller.
pub type Permission = fn(&Caller) -> Result<(), RoutingError>;

/// GetRoutingSettings: anyone in the organisation.
pub fn may_read_settings(_caller: &Caller) -> Result<(), RoutingError> {
    Ok(())
}

/// UpdateRoutingSettings, ListRoutingAudit, SimulateRouting, GetWorkload.
pub fn may_manage_routing(caller: &Caller) -> Result<(), RoutingError> {
    if caller.role.is_lead_manager() {
        Ok(())
    } else {
        Err(RoutingError::PermissionDenied(
            "only an owner, admin or manager may change or inspect routing".into(),
        ))
    }
}

/// RouteLead, ApplyOwnershipChanges, ReconcileWorkload: leadflow itself.
pub fn may_call_internal(caller: &Caller) -> Result<(), RoutingError> {
    if caller.role == Role::Service {
        Ok(())
    } else {
        Err(RoutingError::PermissionDenied(
            "only leadflow's own services may call this".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    //! Every role against every check.

    use super::*;

    #[test]
    fn only_managers_and_up_manage_and_only_the_service_routes() {
        for role in Role::ALL {
            let caller = Caller::new("u", "o", role);
            assert_eq!(
                may_manage_routing(&caller).is_ok(),
                matches!(role, Role::Owner | Role::Admin | Role::Manager)
            );
            assert_eq!(may_call_internal(&caller).is_ok(), role == Role::Service);
            assert!(may_read_settings(&caller).is_ok());
        }
    }
}
