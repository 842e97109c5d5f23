//! The notifier's one error type, and its one mapping to `tonic::Status`.

use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    AlreadyExists(String),
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

impl From<NotifierError> for Status {
    fn from(error: NotifierError) -> Self {
        match &error {
            NotifierError::InvalidArgument { .. } => Status::invalid_argument(error.to_string()),
            NotifierError::NotFound(_) => Status::not_found(error.to_string()),
            NotifierError::PermissionDenied(_) => Status::permission_denied(error.to_string()),
            NotifierError::AlreadyExists(_) => Status::already_exists(error.to_string()),
            NotifierError::Unavailable(_) => Status::unavailable(error.to_string()),
            NotifierError::Database(e) if leadflow_db::is_unavailable(e) => {
                tracing::warn!(%error, "database unavailable");
                Status::unavailable("the notifier database is unavailable; retry")
            }
            NotifierError::Database(_) | NotifierError::Internal(_) => {
                tracing::error!(%error, "request failed");
                Status::internal("internal error")
            }
        }
    }
}
