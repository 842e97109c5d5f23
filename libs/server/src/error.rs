//! One error vocabulary for every leadflow service, mapped both ways.
//!
//! Each service keeps its own error enum (its variants say what went wrong in
//! its own words), but all of them answer [`ServiceError::code`] with one
//! [`ErrorCode`], and this table alone turns a code into a `tonic::Code` and a
//! `tonic::Status` back into a code. The outbox dispatcher asks the same table
//! whether a peer's refusal is worth retrying, so "what a caller may retry"
//! and "what leadflow retries" cannot drift apart.

use tonic::{Code, Status};

/// What kind of failure an error is, in leadflow's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The request itself is wrong; the message names the field.
    InvalidArgument,
    /// Absent, or in another organisation (the two are never told apart).
    NotFound,
    /// The caller's role may not do this.
    PermissionDenied,
    /// No valid credentials at all.
    Unauthenticated,
    /// The action does not fit the current state (a lost claim race).
    FailedPrecondition,
    /// The thing exists already (an idempotency key with another body).
    AlreadyExists,
    /// A concurrent change got there first; retrying the whole call may work.
    Aborted,
    /// A dependency (database, Redis, a peer) did not answer; retry.
    Unavailable,
    /// The call took longer than its deadline.
    DeadlineExceeded,
    /// A limit of the server was reached for now.
    ResourceExhausted,
    /// The peer does not serve this call (an older version).
    Unimplemented,
    /// A bug or an unexpected failure; details go to the log only.
    Internal,
}

/// `(leadflow code, gRPC code)`: the one table both directions read.
const TABLE: [(ErrorCode, Code); 12] = [
    (ErrorCode::InvalidArgument, Code::InvalidArgument),
    (ErrorCode::NotFound, Code::NotFound),
    (ErrorCode::PermissionDenied, Code::PermissionDenied),
    (ErrorCode::Unauthenticated, Code::Unauthenticated),
    (ErrorCode::FailedPrecondition, Code::FailedPrecondition),
    (ErrorCode::AlreadyExists, Code::AlreadyExists),
    (ErrorCode::Aborted, Code::Aborted),
    (ErrorCode::Unavailable, Code::Unavailable),
    (ErrorCode::DeadlineExceeded, Code::DeadlineExceeded),
    (ErrorCode::ResourceExhausted, Code::ResourceExhausted),
    (ErrorCode::Unimplemented, Code::Unimplemented),
    (ErrorCode::Internal, Code::Internal),
];

impl ErrorCode {
    /// The gRPC code a caller sees.
    pub fn to_grpc(self) -> Code {
        TABLE
            .iter()
            .find(|(code, _)| *code == self)
            .map_or(Code::Internal, |(_, grpc)| *grpc)
    }

    /// What a peer's status means to leadflow. Codes leadflow never sends
    /// (Cancelled, Unknown, DataLoss, OutOfRange) read as their nearest kind.
    pub fn from_grpc(code: Code) -> ErrorCode {
        match code {
            Code::OutOfRange => ErrorCode::InvalidArgument,
            Code::Cancelled => ErrorCode::Unavailable,
            _ => TABLE
                .iter()
                .find(|(_, grpc)| *grpc == code)
                .map_or(ErrorCode::Internal, |(code, _)| *code),
        }
    }

    /// Whether sending the same thing again can succeed. The request itself,
    /// the caller's credentials or a peer without the call are not fixed by
    /// waiting; everything else (outages, races, deadlines, bugs that a
    /// deploy fixes) may be.
    pub fn is_retryable(self) -> bool {
        !matches!(
            self,
            ErrorCode::InvalidArgument
                | ErrorCode::NotFound
                | ErrorCode::PermissionDenied
                | ErrorCode::Unauthenticated
                | ErrorCode::FailedPrecondition
                | ErrorCode::AlreadyExists
                | ErrorCode::Unimplemented
        )
    }
}

/// A service's error enum, as the chassis sees it.
pub trait ServiceError: std::error::Error {
    /// Which kind of failure this is.
    fn code(&self) -> ErrorCode;

    /// What the caller is told for Unavailable and Internal (the details stay
    /// in the log); the other kinds show their own message.
    fn public_message(&self) -> String {
        match self.code() {
            ErrorCode::Unavailable => "a dependency is unavailable; retry".to_owned(),
            ErrorCode::Internal => "internal error".to_owned(),
            _ => self.to_string(),
        }
    }
}

/// The one way a service error becomes a `tonic::Status`: the code from the
/// table, the message from [`ServiceError::public_message`], and a log line
/// for the kinds whose details the caller does not see.
pub fn to_status(error: &impl ServiceError) -> Status {
    let code = error.code();
    match code {
        ErrorCode::Unavailable => tracing::warn!(%error, "dependency unavailable"),
        ErrorCode::Internal => tracing::error!(%error, "request failed"),
        _ => {}
    }
    Status::new(code.to_grpc(), error.public_message())
}

/// Bad input, naming the request field at fault. Validators shared between
/// services (pages, text) return it; each service's error converts from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidField {
    /// The request field, as the API names it (`page_size`, `page_token`).
    pub field: &'static str,
    /// What is wrong with it, for the caller to read.
    pub message: String,
}

impl InvalidField {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        InvalidField {
            field,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_to_grpc_and_back_to_itself() {
        for (code, grpc) in TABLE {
            assert_eq!(code.to_grpc(), grpc);
            assert_eq!(ErrorCode::from_grpc(grpc), code);
        }
    }

    #[test]
    fn only_refusals_of_the_request_itself_are_permanent() {
        let permanent: Vec<ErrorCode> = TABLE
            .iter()
            .map(|(code, _)| *code)
            .filter(|code| !code.is_retryable())
            .collect();
        assert_eq!(
            permanent,
            [
                ErrorCode::InvalidArgument,
                ErrorCode::NotFound,
                ErrorCode::PermissionDenied,
                ErrorCode::Unauthenticated,
                ErrorCode::FailedPrecondition,
                ErrorCode::AlreadyExists,
                ErrorCode::Unimplemented,
            ]
        );
        assert!(!ErrorCode::from_grpc(Code::OutOfRange).is_retryable());
        assert!(ErrorCode::from_grpc(Code::Unknown).is_retryable());
        assert!(ErrorCode::from_grpc(Code::Cancelled).is_retryable());
    }

    #[derive(Debug, thiserror::Error)]
    enum Sample {
        #[error("lead.email: not an address")]
        Bad,
        #[error("database error: connection refused to 10.0.0.3 with password hunter2")]
        Db,
    }

    impl ServiceError for Sample {
        fn code(&self) -> ErrorCode {
            match self {
                Sample::Bad => ErrorCode::InvalidArgument,
                Sample::Db => ErrorCode::Internal,
            }
        }
    }

    #[test]
    fn internal_details_never_reach_the_caller() {
        let bad = to_status(&Sample::Bad);
        assert_eq!(bad.code(), Code::InvalidArgument);
        assert_eq!(bad.message(), "lead.email: not an address");
        let db = to_status(&Sample::Db);
        assert_eq!(db.code(), Code::Internal);
        assert_eq!(db.message(), "internal error");
    }
}
