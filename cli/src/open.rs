//! Opening a [`Store`] from a `--db` URL.
//!
//! Accepted forms:
//! - `sqlite://PATH` — a SQLite file (created if missing); `sqlite:///abs/path`
//!   for an absolute path. `sqlite::memory:` (or `sqlite://:memory:`) is a
//!   private in-memory database that lives for one command.
//! - `dynamodb://` with optional query parameters `prefix`, `region`,
//!   `endpoint` (see `affine_db_dynamodb::DynamoConfig::from_url`).

use affine_db::clock::system_clock;
use affine_db::{Error, Result, Store};
use affine_db_sqlite::SqliteBackend;

/// The URL forms `--db` accepts, for error messages.
pub const ACCEPTED: &str =
    "use sqlite://PATH, sqlite::memory: or dynamodb://?prefix=P&region=R&endpoint=URL";

/// Where a `--db` URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A SQLite file at this path.
    SqliteFile(String),
    /// A private in-memory SQLite database.
    SqliteMemory,
    /// DynamoDB; the whole URL (parsed by the DynamoDB backend).
    Dynamo(String),
}

/// Parses a `--db` URL without opening anything.
pub fn parse(url: &str) -> Result<Target> {
    if url == "sqlite::memory:" || url == "sqlite://:memory:" {
        return Ok(Target::SqliteMemory);
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(Error::invalid(
                "--db",
                format!("{url:?} names no file; {ACCEPTED}"),
            ));
        }
        return Ok(Target::SqliteFile(path.to_string()));
    }
    if url.starts_with("dynamodb://") {
        return Ok(Target::Dynamo(url.to_string()));
    }
    Err(Error::invalid(
        "--db",
        format!("{:?} is not a store URL; {ACCEPTED}", redact(url)),
    ))
}

/// Opens the store `url` names, on the system clock.
pub async fn open_store(url: &str) -> Result<Store> {
    let clock = system_clock();
    match parse(url)? {
        Target::SqliteFile(path) => affine_db_sqlite::open_store(path, clock).await,
        Target::SqliteMemory => Ok(Store::new(SqliteBackend::open_in_memory(clock).await?)),
        Target::Dynamo(url) => {
            let config = affine_db_dynamodb::DynamoConfig::from_url(&url)?;
            affine_db_dynamodb::open_store(config, clock).await
        }
    }
}

/// The URL without anything that could be a credential (`user:pass@`), for
/// error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_accepted_forms() {
        assert_eq!(
            parse("sqlite://affine.db").unwrap(),
            Target::SqliteFile("affine.db".into())
        );
        assert_eq!(
            parse("sqlite:///tmp/a.db").unwrap(),
            Target::SqliteFile("/tmp/a.db".into())
        );
        assert_eq!(parse("sqlite::memory:").unwrap(), Target::SqliteMemory);
        assert_eq!(parse("sqlite://:memory:").unwrap(), Target::SqliteMemory);
        assert_eq!(
            parse("dynamodb://?prefix=dev").unwrap(),
            Target::Dynamo("dynamodb://?prefix=dev".into())
        );
    }

    #[test]
    fn rejects_other_schemes_as_invalid_input() {
        for url in ["bogus://x", "sqlite://", "affine.db", "postgres://u:p@h/db"] {
            assert!(
                matches!(parse(url), Err(Error::InvalidInput { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn redacts_userinfo() {
        assert_eq!(
            redact("postgres://u:secret@host/db"),
            "postgres://***@host/db"
        );
        assert_eq!(redact("bogus://x"), "bogus://x");
    }
}
