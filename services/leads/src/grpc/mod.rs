//! The gRPC face of the leads service. Each handler authorises the caller,
//! parses the request into domain types, calls the store, and converts the
//! result; the rules live in `domain/`.

/// Wire ↔ domain conversions (also used by `leadflow`'s demo seeding).
pub mod convert;
mod lead;
mod operations;
mod team;

use leadflow_auth::Caller;
use tonic::Request;

pub use lead::{LeadApi, Wiring};
pub use operations::OperationsApi;
pub use team::TeamApi;

use crate::error::LeadsError;
use crate::store::Store;

/// The verified caller, refused if they are a deactivated team member: a
/// valid token does not outlive a deactivation in the directory.
async fn active_caller<T>(store: &Store, request: &Request<T>) -> Result<Caller, tonic::Status> {
    let caller = Caller::from_request(request)?;
    if caller.role.is_person()
        && let Some(member) = store.member(&caller.org_id, &caller.user_id).await?
        && !member.active
    {
        return Err(
            LeadsError::PermissionDenied("your team membership is deactivated".into()).into(),
        );
    }
    Ok(caller)
}
