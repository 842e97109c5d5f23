//! The leads service's one error type, and its one mapping to `tonic::Status`.
//!
//! Domain code returns [`LeadsError`]; handlers convert with `?`. Internal
//! details (SQL errors) go to the log, never to the caller.

use leadflow_server::error::{ErrorCode, InvalidField, ServiceError};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum LeadsError {
    /// Bad input; `field` names the request field at fault.
    #[error("{field}: {message}")]
    InvalidArgument {
        /// The request field, as the API names it.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Absent, or invisible to the caller (the two are not told apart).
    #[error("{0}")]
    NotFound(String),
    /// The caller's role may not do this.
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
    /// The database failed (unreachable: UNAVAILABLE; otherwise INTERNAL).
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// A bug or corrupt data; details go to the log only.
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
    pub fn code(&self) -> tonic::Code {
        ServiceError::code(self).to_grpc()
    }
}

impl ServiceError for LeadsError {
    fn code(&self) -> ErrorCode {
        match self {
            LeadsError::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            LeadsError::NotFound(_) => ErrorCode::NotFound,
            LeadsError::PermissionDenied(_) => ErrorCode::PermissionDenied,
            LeadsError::FailedPrecondition(_) => ErrorCode::FailedPrecondition,
            LeadsError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            LeadsError::Aborted(_) => ErrorCode::Aborted,
            LeadsError::Database(e) if leadflow_db::is_unavailable(e) => ErrorCode::Unavailable,
            LeadsError::Database(_) | LeadsError::Internal(_) => ErrorCode::Internal,
        }
    }

    fn public_message(&self) -> String {
        match ServiceError::code(self) {
            ErrorCode::Unavailable => "the leads database is unavailable; retry".into(),
            ErrorCode::Internal => "internal error".into(),
            _ => self.to_string(),
        }
    }
}

impl From<InvalidField> for LeadsError {
    fn from(invalid: InvalidField) -> Self {
        LeadsError::InvalidArgument {
            field: invalid.field,
            message: invalid.message,
        }
    }
}

impl From<LeadsError> for Status {
    fn from(error: LeadsError) -> Self {
        leadflow_server::error::to_status(&error)
    }
}
