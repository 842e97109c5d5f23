//! The routing service's one error type, and its one mapping to `tonic::Status`.

use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    /// Bad input; `field` names the request field at fault.
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("{0}")]
    PermissionDenied(String),
    /// A settings update based on a version that is no longer current.
    #[error("{0}")]
    Aborted(String),
    /// The routing state store (Redis) cannot be reached in time.
    #[error("routing state unavailable: {0}")]
    StateUnavailable(String),
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("internal error: {0}")]
    Internal(String),
}

impl RoutingError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        RoutingError::InvalidArgument {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl From<RoutingError> for Status {
    fn from(error: RoutingError) -> Self {
        match &error {
            RoutingError::InvalidArgument { .. } => Status::invalid_argument(error.to_string()),
            RoutingError::PermissionDenied(_) => Status::permission_denied(error.to_string()),
            RoutingError::Aborted(_) => Status::aborted(error.to_string()),
            RoutingError::StateUnavailable(_) => {
                tracing::warn!(%error, "routing state unavailable");
                Status::unavailable("routing state is unavailable; retry")
            }
            RoutingError::Database(e) if leadflow_db::is_unavailable(e) => {
                tracing::warn!(%error, "database unavailable");
                Status::unavailable("the routing database is unavailable; retry")
            }
            RoutingError::Database(_) | RoutingError::Internal(_) => {
                tracing::error!(%error, "request failed");
                Status::new(Code::Internal, "internal error")
            }
        }
    }
}
