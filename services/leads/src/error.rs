//! The leads service's one error type, and its one mapping to `tonic::Status`.
//!
//! Domain code returns [`LeadsError`]; handlers convert with `?`. Internal
//! details (SQL errors) go to the log, never to the caller.

use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum LeadsError {
    /// Bad input; `field` names the request field at fault.
    #[error("{field}: {message}")]
    InvalidArgument {
        field: &'static str,
        message: String,
    },
    /// Absent, or invisible to the caller (the two are not told apart).
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// The action does not fit the current state (e.g. a lost claim race).
    #[error("{0}")]
    FailedPrecondition(String),
    /// An idempotency key reused with a different body.
    #[error("{0}")]
    AlreadyExists(String),
    /// A concurrent change got there first; retrying may succeed.
    #[error("{0}")]
    Aborted(String),
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("internal error: {0}")]
    Internal(String),
}

impl LeadsError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        LeadsError::InvalidArgument {
            field,
            message: message.into(),
        }
    }

    pub fn lead_not_found() -> Self {
        LeadsError::NotFound("lead not found".into())
    }

    /// The gRPC code this error is reported with.
    pub fn code(&self) -> Code {
        match self {
            LeadsError::InvalidArgument { .. } => Code::InvalidArgument,
            LeadsError::NotFound(_) => Code::NotFound,
            LeadsError::PermissionDenied(_) => Code::PermissionDenied,
            LeadsError::FailedPrecondition(_) => Code::FailedPrecondition,
            LeadsError::AlreadyExists(_) => Code::AlreadyExists,
            LeadsError::Aborted(_) => Code::Aborted,
            LeadsError::Database(e) if leadflow_db::is_unavailable(e) => Code::Unavailable,
            LeadsError::Database(_) | LeadsError::Internal(_) => Code::Internal,
        }
    }
}

impl From<LeadsError> for Status {
    fn from(error: LeadsError) -> Self {
        match &error {
            LeadsError::Database(e) if leadflow_db::is_unavailable(e) => {
                tracing::warn!(%error, "database unavailable");
                Status::unavailable("the leads database is unavailable; retry")
            }
            LeadsError::Database(_) | LeadsError::Internal(_) => {
                tracing::error!(%error, "request failed");
                Status::internal("internal error")
            }
            _ => Status::new(error.code(), error.to_string()),
        }
    }
}
