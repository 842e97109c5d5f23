//! The notifier's one error type, and its one mapping to `tonic::Status`
//! (through the shared table of [`leadflow_server::error`], so the notifier
//! answers with the same codes as every other leadflow service).

use leadflow_server::error::{ErrorCode, InvalidField, ServiceError};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error("{field}: {message}")]
    InvalidArgument {
        /// The request field at fault, as the API names it.
        field: String,
        /// What is wrong with it, for the caller to read.
        message: String,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The deployment lacks what the call needs (Web Push not configured).
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("internal error: {0}")]
    Internal(String),
    /// Retrying (elsewhere) can help: the notifier is stopping.
    #[error("{0}")]
    Unavailable(String),
}

impl NotifierError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        NotifierError::InvalidArgument {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl From<InvalidField> for NotifierError {
    fn from(invalid: InvalidField) -> Self {
        NotifierError::InvalidArgument {
            field: invalid.field.to_owned(),
            message: invalid.message,
        }
    }
}

impl ServiceError for NotifierError {
    fn code(&self) -> ErrorCode {
        match self {
            NotifierError::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            NotifierError::NotFound(_) => ErrorCode::NotFound,
            NotifierError::PermissionDenied(_) => ErrorCode::PermissionDenied,
            NotifierError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            NotifierError::FailedPrecondition(_) => ErrorCode::FailedPrecondition,
            NotifierError::Unavailable(_) => ErrorCode::Unavailable,
            NotifierError::Database(e) if leadflow_db::is_unavailable(e) => ErrorCode::Unavailable,
            NotifierError::Database(_) | NotifierError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The database's details stay in the log; a stopping notifier says so.
    fn public_message(&self) -> String {
        match self {
            NotifierError::Database(_) if self.code() == ErrorCode::Unavailable => {
                "the notifier database is unavailable; retry".to_owned()
            }
            NotifierError::Database(_) | NotifierError::Internal(_) => "internal error".to_owned(),
            _ => self.to_string(),
        }
    }
}

impl From<NotifierError> for Status {
    fn from(error: NotifierError) -> Self {
        leadflow_server::error::to_status(&error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_see_the_field_a_stopping_notifier_and_no_internals() {
        let invalid = Status::from(NotifierError::invalid("ids", "at most 1000"));
        assert_eq!(invalid.code(), tonic::Code::InvalidArgument);
        assert_eq!(invalid.message(), "ids: at most 1000");
        let stopping = Status::from(NotifierError::Unavailable(
            "the notifier is shutting down".into(),
        ));
        assert_eq!(stopping.code(), tonic::Code::Unavailable);
        assert_eq!(stopping.message(), "the notifier is shutting down");
        let bug = Status::from(NotifierError::Internal("stored kind x".into()));
        assert_eq!(bug.code(), tonic::Code::Internal);
        assert_eq!(bug.message(), "internal error");
        let down = Status::from(NotifierError::Database(sea_orm::DbErr::Conn(
            sea_orm::RuntimeErr::Internal("connection refused to 10.0.0.3".into()),
        )));
        assert_eq!(down.code(), tonic::Code::Unavailable);
        assert_eq!(
            down.message(),
            "the notifier database is unavailable; retry"
        );
        let from_page = NotifierError::from(InvalidField::new("page_token", "is not a token"));
        assert_eq!(from_page.to_string(), "page_token: is not a token");
    }
}
