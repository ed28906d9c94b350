//! The one error type of ticketgate, and the one place it becomes a GraphQL error.
//!
//! Every error a client can see carries a stable `extensions.code`, an `ErrorCode`
//! (`code.rs`: the one list of them, and the one way to build a coded error); internal
//! details (SQL, pool state, I/O) are logged here and never sent.

use async_graphql::ErrorExtensions;

mod code;

pub use code::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Bad input, naming the argument or field at fault.
    #[error("{field}: {message}")]
    BadUserInput { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    /// More data than the request's budget allows.
    #[error("{0}")]
    TooLarge(String),
    /// Over a rate limit (of a kind that is not the HTTP request rate: presence
    /// heartbeats).
    #[error("{0}")]
    RateLimited(String),
    /// A resume position whose events are no longer kept.
    #[error("{0}")]
    PositionExpired(String),
    #[error("the database is unavailable, try again shortly")]
    DbUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::BadUserInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        AppError::Internal(err.into())
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            AppError::Forbidden(_) => ErrorCode::Forbidden,
            AppError::NotFound(_) => ErrorCode::NotFound,
            AppError::BadUserInput { .. } => ErrorCode::BadUserInput,
            AppError::Conflict(_) => ErrorCode::Conflict,
            AppError::DbUnavailable(_) => ErrorCode::DbUnavailable,
            AppError::Internal(_) => ErrorCode::Internal,
            AppError::PositionExpired(_) => ErrorCode::PositionExpired,
            AppError::TooLarge(_) => ErrorCode::ResponseTooLarge,
            AppError::RateLimited(_) => ErrorCode::RateLimited,
        }
    }

    /// Logs what the client must not see; called once, where the error leaves the server.
    fn log(&self) {
        match self {
            AppError::DbUnavailable(source) => {
                tracing::warn!(error = %source, "database unavailable")
            }
            AppError::Internal(source) => tracing::error!(error = %source, "internal error"),
            _ => {}
        }
    }
}

impl AppError {
    /// The error as a whole request's one GraphQL error (no position): its code and
    /// extensions, as resolvers report it.
    pub fn to_server_error(&self) -> async_graphql::ServerError {
        let coded = self.extend();
        let mut error = async_graphql::ServerError::new(coded.message, None);
        error.extensions = coded.extensions;
        error
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        self.log();
        let mut error = self.code().error(self.to_string());
        if let (AppError::BadUserInput { field, .. }, Some(extensions)) =
            (self, error.extensions.as_mut())
        {
            extensions.set("field", field.as_str());
        }
        error
    }
}

/// Converts a domain result into the GraphQL result a resolver returns, keeping the code.
pub trait IntoGql<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> IntoGql<T> for AppResult<T> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|err| err.extend())
    }
}

/// DataLoader errors are shared between the resolvers that waited on the same batch.
impl<T> IntoGql<T> for Result<T, std::sync::Arc<AppError>> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|err| err.extend())
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            Error::NotFound => AppError::NotFound("record"),
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
            | Error::DatabaseError(DatabaseErrorKind::UnableToSendCommand, _) => {
                AppError::DbUnavailable(Box::new(err))
            }
            Error::DatabaseError(DatabaseErrorKind::Unknown, ref info)
                if info.message().contains("statement timeout") =>
            {
                AppError::DbUnavailable(Box::new(err))
            }
            // Text PostgreSQL cannot store (a NUL in `text`, `\u0000` in `jsonb`). Inputs
            // are checked for it field by field, naming the field; this is the net for
            // one a check missed, so the client still learns it is its input (and the
            // transaction, rolled back, wrote nothing).
            Error::DatabaseError(_, ref info) if unstorable_text(info.message()) => {
                tracing::warn!(error = %info.message(), "unstorable input reached the database");
                AppError::bad_input("input", "must not contain NUL characters")
            }
            other => AppError::Internal(Box::new(other)),
        }
    }
}

fn unstorable_text(message: &str) -> bool {
    message.starts_with("invalid byte sequence for encoding")
        || message.starts_with("unsupported Unicode escape sequence")
}

impl From<r2d2::Error> for AppError {
    fn from(err: r2d2::Error) -> Self {
        AppError::DbUnavailable(Box::new(err))
    }
}

impl From<diesel::ConnectionError> for AppError {
    fn from(err: diesel::ConnectionError) -> Self {
        AppError::DbUnavailable(Box::new(err))
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(err: tokio::task::JoinError) -> Self {
        AppError::Internal(Box::new(err))
    }
}
