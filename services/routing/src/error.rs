//! The routing service's one error type, and its one mapping to
//! `tonic::Status`: through the shared table of `leadflow_server::error`, so
//! routing's codes and what callers may retry match every other service.

use leadflow_server::error::{ErrorCode, InvalidField, ServiceError, to_status};
use tonic::Status;

/// Everything a routing call can fail with, in routing's own words.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    /// Bad input; `field` names the request field at fault.
    #[error("{field}: {message}")]
    InvalidArgument {
        /// The request field, as the API names it (`settings.strategy`).
        field: String,
        /// What is wrong with it, for the caller to read.
        message: String,
    },
    /// The caller's role (or deactivated membership) may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// A settings update based on a version that is no longer current.
    #[error("{0}")]
    Aborted(String),
    /// The routing state store (Redis) cannot be reached in time.
    #[error("routing state unavailable: {0}")]
    StateUnavailable(String),
    /// The routing database failed (unavailable, or a bug).
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// A bug or corrupt stored data; details go to the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl RoutingError {
    /// Bad input in the request field `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        RoutingError::InvalidArgument {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl ServiceError for RoutingError {
    fn code(&self) -> ErrorCode {
        match self {
            RoutingError::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            RoutingError::PermissionDenied(_) => ErrorCode::PermissionDenied,
            RoutingError::Aborted(_) => ErrorCode::Aborted,
            RoutingError::StateUnavailable(_) => ErrorCode::Unavailable,
            RoutingError::Database(e) if leadflow_db::is_unavailable(e) => ErrorCode::Unavailable,
            RoutingError::Database(_) | RoutingError::Internal(_) => ErrorCode::Internal,
        }
    }

    fn public_message(&self) -> String {
        match (self, self.code()) {
            (RoutingError::StateUnavailable(_), _) => "routing state is unavailable; retry".into(),
            (RoutingError::Database(_), ErrorCode::Unavailable) => {
                "the routing database is unavailable; retry".into()
            }
            (_, ErrorCode::Internal) => "internal error".into(),
            _ => self.to_string(),
        }
    }
}

impl From<InvalidField> for RoutingError {
    fn from(invalid: InvalidField) -> Self {
        RoutingError::InvalidArgument {
            field: invalid.field.to_string(),
            message: invalid.message,
        }
    }
}

impl From<RoutingError> for Status {
    fn from(error: RoutingError) -> Self {
        to_status(&error)
    }
}

#[cfg(test)]
mod tests {
    //! The codes and messages callers saw before the shared table.

    use super::*;
    use tonic::Code;

    #[test]
    fn every_error_keeps_its_code_and_public_message() {
        let cases = [
            (
                RoutingError::invalid("page_size", "too big"),
                Code::InvalidArgument,
                "page_size: too big",
            ),
            (
                RoutingError::PermissionDenied("no".into()),
                Code::PermissionDenied,
                "no",
            ),
            (
                RoutingError::Aborted("stale".into()),
                Code::Aborted,
                "stale",
            ),
            (
                RoutingError::StateUnavailable("10.0.0.3 refused".into()),
                Code::Unavailable,
                "routing state is unavailable; retry",
            ),
            (
                RoutingError::Database(sea_orm::DbErr::Conn(sea_orm::RuntimeErr::Internal(
                    "down".into(),
                ))),
                Code::Unavailable,
                "the routing database is unavailable; retry",
            ),
            (
                RoutingError::Database(sea_orm::DbErr::Custom("bad sql".into())),
                Code::Internal,
                "internal error",
            ),
            (
                RoutingError::Internal("stored settings: eof".into()),
                Code::Internal,
                "internal error",
            ),
        ];
        for (error, code, message) in cases {
            let status = Status::from(error);
            assert_eq!((status.code(), status.message()), (code, message));
        }
    }

    #[test]
    fn an_invalid_field_is_invalid_argument_naming_it() {
        let error = RoutingError::from(InvalidField::new("page_token", "altered"));
        assert_eq!(error.to_string(), "page_token: altered");
        assert_eq!(error.code(), ErrorCode::InvalidArgument);
    }
}
