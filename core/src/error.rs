//! The one error type of affine-db, with semantic variants that callers and
//! tests match on (never on messages).

use std::sync::Arc;

use thiserror::Error;

/// Result alias used throughout affine-db.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The underlying error an [`Error`] was made from (an SDK, SQLite or I/O
/// error), shared so [`Error`] stays `Clone`.
pub type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Every failure an affine-db operation can report, on any backend.
///
/// Messages name the store, table or file and, where it helps, what to do.
/// The error that caused a failure is kept as its [`std::error::Error::source`]
/// (see [`Error::report`] for the whole chain on one line).
#[derive(Debug, Error, Clone)]
#[non_exhaustive]
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
    #[error(
        "item too large: {what}{}, the limit is {limit} bytes",
        .size.map(|s| format!(" is {s} bytes")).unwrap_or_default()
    )]
    TooLarge {
        /// Which item (table and key) was too large; when the store refused
        /// it, with the store's own message.
        what: String,
        /// Its size in bytes, computed with DynamoDB's item size rules;
        /// `None` when the size is not known (the store refused the item
        /// by its own count, or an input was cut off at a cap).
        size: Option<usize>,
        /// The limit in bytes.
        limit: usize,
    },
    /// A table the operation needs does not exist in the store.
    #[error("table {table} does not exist in {store}; run `affine-db init` to create the tables")]
    MissingTable {
        /// The table (its full name on DynamoDB).
        table: String,
        /// The store it is missing from.
        store: String,
    },
    /// A secondary index a read needs does not exist on its table (the
    /// live schema drifted from the declared one).
    #[error(
        "index {index} of table {table} does not exist in {store}; run `affine-db init` to \
         create it (`affine-db check` lists every difference)"
    )]
    MissingIndex {
        /// The table (its full name on DynamoDB).
        table: String,
        /// The missing index.
        index: String,
        /// The store it is missing from.
        store: String,
    },
    /// The live schema differs from the declared one in a way `init`
    /// cannot repair in place (a wrong key schema, an index with other keys
    /// or another projection, ...); the message names every table and
    /// difference. Nothing was changed.
    #[error("schema drift: {0}")]
    SchemaDrift(String),
    /// The store throttled the request and the retry budget ran out; the
    /// message names what was not written. Transient.
    #[error("throttled: {message}")]
    Throttled {
        /// What was throttled, and what was not written.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Source>,
    },
    /// The store could not be reached or answered with a server error after
    /// retries. Transient: the same request may succeed later.
    #[error("unavailable: {message}")]
    Unavailable {
        /// What could not be reached.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Source>,
    },
    /// Stored data could not be decoded (bad frame, missing dictionary, an
    /// attribute of the wrong type).
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// Any other backend failure; permanent (retrying the same request will
    /// not help).
    #[error("backend error: {message}")]
    Backend {
        /// What failed, naming the store or file.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Source>,
    },
}

impl PartialEq for Error {
    /// Errors are equal when their variant and fields are; sources are not compared.
    fn eq(&self, other: &Self) -> bool {
        use Error::*;
        match (self, other) {
            (
                InvalidInput { field, reason },
                InvalidInput {
                    field: f2,
                    reason: r2,
                },
            ) => field == f2 && reason == r2,
            (NotFound(a), NotFound(b))
            | (Conflict(a), Conflict(b))
            | (Corrupt(a), Corrupt(b))
            | (SchemaDrift(a), SchemaDrift(b)) => a == b,
            (
                MissingIndex {
                    table,
                    index,
                    store,
                },
                MissingIndex {
                    table: t2,
                    index: i2,
                    store: s2,
                },
            ) => table == t2 && index == i2 && store == s2,
            (
                TooLarge { what, size, limit },
                TooLarge {
                    what: w2,
                    size: s2,
                    limit: l2,
                },
            ) => what == w2 && size == s2 && limit == l2,
            (
                MissingTable { table, store },
                MissingTable {
                    table: t2,
                    store: s2,
                },
            ) => table == t2 && store == s2,
            (Throttled { message: a, .. }, Throttled { message: b, .. })
            | (Unavailable { message: a, .. }, Unavailable { message: b, .. })
            | (Backend { message: a, .. }, Backend { message: b, .. }) => a == b,
            _ => false,
        }
    }
}

fn source_of<E>(err: E) -> Option<Source>
where
    E: std::error::Error + Send + Sync + 'static,
{
    Some(Arc::new(err))
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

    /// Builds an [`Error::Backend`] without an underlying error.
    pub fn backend(message: impl std::fmt::Display) -> Self {
        Error::Backend {
            message: message.to_string(),
            source: None,
        }
    }

    /// Builds an [`Error::Backend`] caused by `source`.
    pub fn backend_from<E>(message: impl std::fmt::Display, source: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Error::Backend {
            message: message.to_string(),
            source: source_of(source),
        }
    }

    /// Builds an [`Error::Unavailable`] without an underlying error.
    pub fn unavailable(message: impl std::fmt::Display) -> Self {
        Error::Unavailable {
            message: message.to_string(),
            source: None,
        }
    }

    /// Builds an [`Error::Unavailable`] caused by `source`.
    pub fn unavailable_from<E>(message: impl std::fmt::Display, source: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Error::Unavailable {
            message: message.to_string(),
            source: source_of(source),
        }
    }

    /// Builds an [`Error::Throttled`] without an underlying error.
    pub fn throttled(message: impl std::fmt::Display) -> Self {
        Error::Throttled {
            message: message.to_string(),
            source: None,
        }
    }

    /// Builds an [`Error::MissingTable`].
    pub fn missing_table(table: impl Into<String>, store: impl Into<String>) -> Self {
        Error::MissingTable {
            table: table.into(),
            store: store.into(),
        }
    }

    /// The same error, same variant, with `note` added to its message.
    pub fn with_note(self, note: impl std::fmt::Display) -> Self {
        match self {
            Error::InvalidInput { field, reason } => Error::InvalidInput {
                field,
                reason: format!("{reason}; {note}"),
            },
            Error::TooLarge { what, size, limit } => Error::TooLarge {
                what: format!("{what} ({note})"),
                size,
                limit,
            },
            Error::MissingTable { table, store } => Error::MissingTable {
                table,
                store: format!("{store} ({note})"),
            },
            Error::Throttled { message, source } => Error::Throttled {
                message: format!("{message}; {note}"),
                source,
            },
            Error::Unavailable { message, source } => Error::Unavailable {
                message: format!("{message}; {note}"),
                source,
            },
            Error::Backend { message, source } => Error::Backend {
                message: format!("{message}; {note}"),
                source,
            },
            Error::MissingIndex {
                table,
                index,
                store,
            } => Error::MissingIndex {
                table,
                index,
                store: format!("{store} ({note})"),
            },
            Error::SchemaDrift(m) => Error::SchemaDrift(format!("{m}; {note}")),
            Error::NotFound(m) => Error::NotFound(format!("{m}; {note}")),
            Error::Conflict(m) => Error::Conflict(format!("{m}; {note}")),
            Error::Corrupt(m) => Error::Corrupt(format!("{m}; {note}")),
        }
    }

    /// The same error naming `store` (a file or URL) where the message does
    /// not already: backend, availability and corruption messages are
    /// prefixed with it, and a [`Error::MissingTable`] without a store gets it.
    pub fn in_store(self, store: &str) -> Self {
        let name = |m: String| {
            if m.starts_with(store) {
                m
            } else {
                format!("{store}: {m}")
            }
        };
        match self {
            Error::Throttled { message, source } => Error::Throttled {
                message: name(message),
                source,
            },
            Error::Unavailable { message, source } => Error::Unavailable {
                message: name(message),
                source,
            },
            Error::Backend { message, source } => Error::Backend {
                message: name(message),
                source,
            },
            Error::Corrupt(m) => Error::Corrupt(name(m)),
            Error::MissingTable { table, store: s } if s.is_empty() => Error::MissingTable {
                table,
                store: store.to_string(),
            },
            Error::MissingIndex {
                table,
                index,
                store: s,
            } if s.is_empty() => Error::MissingIndex {
                table,
                index,
                store: store.to_string(),
            },
            other => other,
        }
    }

    /// The variant's name, stable for tests and JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidInput { .. } => "invalid_input",
            Error::NotFound(_) => "not_found",
            Error::Conflict(_) => "conflict",
            Error::TooLarge { .. } => "too_large",
            Error::MissingTable { .. } => "missing_table",
            Error::MissingIndex { .. } => "missing_index",
            Error::SchemaDrift(_) => "schema_drift",
            Error::Throttled { .. } => "throttled",
            Error::Unavailable { .. } => "unavailable",
            Error::Corrupt(_) => "corrupt",
            Error::Backend { .. } => "backend",
        }
    }

    /// Whether retrying the same request may succeed (throttling,
    /// unavailability). Everything else is permanent.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Throttled { .. } | Error::Unavailable { .. })
    }

    /// The message and every underlying cause, on one line
    /// (`message: cause: cause`), without repeating a cause the message
    /// already ends with.
    pub fn report(&self) -> String {
        let mut out = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            let text = c.to_string();
            if !text.is_empty() && !out.ends_with(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            cause = c.source();
        }
        out.replace(['\n', '\r'], " ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_kept_and_reported_on_one_line() {
        let io = std::io::Error::other("disk on fire\nreally");
        let e = Error::backend_from("sqlite file /tmp/x.db", io);
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(
            e.report(),
            "backend error: sqlite file /tmp/x.db: disk on fire really"
        );
        assert!(!e.is_transient());
        assert!(Error::unavailable("x").is_transient());
        assert!(Error::throttled("x").is_transient());
        assert!(!Error::missing_table("t", "s").is_transient());
    }

    #[test]
    fn missing_table_says_run_init() {
        let e = Error::missing_table("affine_task_queue", "DynamoDB");
        assert_eq!(e.kind(), "missing_table");
        assert!(e.to_string().contains("run `affine-db init`"), "{e}");
    }

    #[test]
    fn in_store_names_the_store_once() {
        let e = Error::backend("disk I/O error").in_store("sqlite:///tmp/a.db");
        assert_eq!(e, Error::backend("sqlite:///tmp/a.db: disk I/O error"));
        assert_eq!(e.clone().in_store("sqlite:///tmp/a.db"), e);
        let t = Error::missing_table("scores", "").in_store("sqlite://a.db");
        assert_eq!(t, Error::missing_table("scores", "sqlite://a.db"));
        let bad = Error::invalid("x", "y");
        assert_eq!(bad.clone().in_store("s"), bad);
    }

    #[test]
    fn equality_ignores_sources() {
        let io = std::io::Error::other("a");
        assert_eq!(Error::unavailable_from("m", io), Error::unavailable("m"));
        assert_ne!(Error::unavailable("m"), Error::backend("m"));
    }

    #[test]
    fn too_large_states_a_size_only_when_it_is_known() {
        let mut item = crate::item::Item::new();
        item.insert("b".into(), crate::item::Attr::B(vec![0; 500_000]));
        let e = crate::item::check_item_size("scores item a/b", &item).unwrap_err();
        assert_eq!(
            e.to_string(),
            "item too large: scores item a/b is 500001 bytes, the limit is 409600 bytes"
        );
        let unknown = Error::TooLarge {
            what: "x".into(),
            size: None,
            limit: 10,
        };
        assert_eq!(
            unknown.to_string(),
            "item too large: x, the limit is 10 bytes"
        );
    }

    #[test]
    fn notes_extend_messages() {
        let e = Error::throttled("slow").with_note("cleanup failed");
        assert_eq!(e, Error::throttled("slow; cleanup failed"));
    }
}
