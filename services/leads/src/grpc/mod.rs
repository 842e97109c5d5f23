//! The gRPC face of the leads service. Each handler authenticates the
//! caller, parses the request into domain types (`convert`), calls a use
//! case (`crate::usecase`) or a store read, and converts the result; the
//! rules live in `domain/`.

/// Wire ↔ domain conversions (also used by `leadflow`'s demo seeding).
pub mod convert;
mod lead;
mod operations;
mod team;

use leadflow_auth::Caller;
use tonic::Request;

pub use crate::usecase::Wiring;
pub use lead::LeadApi;
pub use operations::OperationsApi;
pub use team::TeamApi;

use crate::domain::member::Member;
use crate::error::LeadsError;
use crate::store::Store;

/// The verified caller, refused if they are a deactivated team member: a
/// valid token does not outlive a deactivation in the directory.
async fn active_caller<T>(store: &Store, request: &Request<T>) -> Result<Caller, tonic::Status> {
    let caller = Caller::from_request(request)?;
    ensure_active(store, &caller).await?;
    Ok(caller)
}

/// Refuses `caller` if they are a deactivated team member (one directory read).
pub(crate) async fn ensure_active(store: &Store, caller: &Caller) -> Result<(), LeadsError> {
    if caller.role.is_person() {
        let member = store.member(&caller.org_id, &caller.user_id).await?;
        refuse_deactivated(caller, member.as_ref())?;
    }
    Ok(())
}

/// Refuses a person whose directory entry (if any) is deactivated; `team`
/// may be the whole team or just the caller's entry.
pub(crate) fn refuse_deactivated<'a>(
    caller: &Caller,
    team: impl IntoIterator<Item = &'a Member>,
) -> Result<(), LeadsError> {
    let deactivated = caller.role.is_person()
        && team
            .into_iter()
            .any(|m| m.user_id == caller.user_id && !m.active);
    if deactivated {
        return Err(LeadsError::PermissionDenied(
            "your team membership is deactivated".into(),
        ));
    }
    Ok(())
}
