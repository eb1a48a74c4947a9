//! The one error type of affine-db, with semantic variants that callers and
//! tests match on (never on messages).

use thiserror::Error;

/// Result alias used throughout affine-db.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure an affine-db operation can report, on any backend.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// The caller passed something the contract rejects (bad key part, non-finite
    /// score, value not matching its type, ...). Nothing was written.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which input was rejected (attribute or argument name).
        field: String,
        /// Why it was rejected, with what to do about it.
        reason: String,
    },
    /// The item the operation needs does not exist (or has expired).
    #[error("not found: {0}")]
    NotFound(String),
    /// A conditional write lost: the item was not in the state the operation
    /// requires (for example a task that is no longer `pending`).
    #[error("condition failed: {0}")]
    Conflict(String),
    /// The item would exceed DynamoDB's 400 KB item size limit. Nothing was written.
    #[error("item too large: {what} is {size} bytes, the limit is {limit} bytes")]
    TooLarge {
        /// Which item (table and key) was too large.
        what: String,
        /// Its size in bytes, computed with DynamoDB's item size rules.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The store throttled the request and the retry budget ran out; the
    /// message names what was not written.
    #[error("throttled: {0}")]
    Throttled(String),
    /// The store could not be reached or answered with a server error after
    /// retries.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be decoded (bad frame, missing dictionary, an
    /// attribute of the wrong type).
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// Any other backend failure.
    #[error("backend error: {0}")]
    Backend(String),
}

impl Error {
    /// Builds an [`Error::InvalidInput`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::Corrupt`].
    pub fn corrupt(message: impl Into<String>) -> Self {
        Error::Corrupt(message.into())
    }

    /// Builds an [`Error::Backend`].
    pub fn backend(message: impl std::fmt::Display) -> Self {
        Error::Backend(message.to_string())
    }

    /// The variant's name, stable for tests and JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidInput { .. } => "invalid_input",
            Error::NotFound(_) => "not_found",
            Error::Conflict(_) => "conflict",
            Error::TooLarge { .. } => "too_large",
            Error::Throttled(_) => "throttled",
            Error::Unavailable(_) => "unavailable",
            Error::Corrupt(_) => "corrupt",
            Error::Backend(_) => "backend",
        }
    }

    /// Whether retrying the same request may succeed (throttling, unavailability).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Throttled(_) | Error::Unavailable(_))
    }
}
