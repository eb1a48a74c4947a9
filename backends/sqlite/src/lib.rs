//! # affine-db-sqlite
//!
//! The embedded SQLite backend of affine-db, for offline development and
//! single-machine validators. One [`SqliteBackend`] implements all seven
//! table traits, [`affine_db_core::Admin`] and [`affine_db_core::Backend`].
//!
//! The file is the namespace: the tables carry their bare names and one
//! column per attribute, named as the attribute, so `sqlite3 affine.db`
//! reads like the DynamoDB items (see `row` for the type mapping). The
//! database runs in WAL mode; every call runs on tokio's blocking pool, on
//! one writer connection (read-modify-write operations in one
//! `BEGIN IMMEDIATE` transaction, so they are atomic also against other
//! processes) or on a small pool of read connections.
//!
//! Rules are the core's: state changes are [`affine_db_core::mutation::Rule`]s
//! run inside one transaction (`mutate`), filters and orderings are the
//! core's [`affine_db_core::cond::Cond`]s and [`affine_db_core::order::Order`]s
//! turned into SQL (`sql`), TTL is [`affine_db_core::ttl`]'s rule (an item
//! whose numeric `ttl` is at or before the clock's now is invisible to every
//! operation); [`affine_db_core::Admin::purge_expired`] deletes such rows.

#![warn(missing_docs)]

use std::path::Path;
use std::sync::Arc;

use affine_db_core::{Backend, Codec, Result, SharedClock, Store};

mod admin;
mod db;
mod live;
mod logs;
mod miners;
mod mutate;
#[cfg(test)]
mod query_plans;
mod retention;
mod row;
mod samples;
mod scores;
mod sql;
mod system_config;
mod tasks;

pub use db::{OpenMode, APPLICATION_ID, BUSY_TIMEOUT, SCHEMA_VERSION};

use db::Db;

/// The SQLite backend: one database file (or a private in-memory database).
#[derive(Debug)]
pub struct SqliteBackend {
    db: Db,
    clock: SharedClock,
    codec: Arc<Codec>,
}

impl SqliteBackend {
    /// Opens (creating if needed) the database file and its tables
    /// ([`OpenMode::Create`]).
    ///
    /// The file is switched to WAL mode and its schema brought to
    /// [`SCHEMA_VERSION`]; a file written by a newer build is refused with
    /// [`affine_db_core::Error::Backend`], a file of another application
    /// with [`affine_db_core::Error::InvalidInput`] (and left unchanged).
    pub async fn open(path: impl AsRef<Path>, clock: SharedClock) -> Result<Arc<Self>> {
        Self::open_with_mode(path, clock, OpenMode::Create).await
    }

    /// Opens the database file in `mode` (see [`OpenMode`]): only
    /// [`OpenMode::Create`] creates a missing file, and
    /// [`OpenMode::ReadOnly`] changes nothing in the file.
    pub async fn open_with_mode(
        path: impl AsRef<Path>,
        clock: SharedClock,
        mode: OpenMode,
    ) -> Result<Arc<Self>> {
        let db = Db::open(path.as_ref(), mode).await?;
        Ok(Arc::new(SqliteBackend {
            db,
            clock,
            codec: Arc::new(Codec::default()),
        }))
    }

    /// A private in-memory database (for tests).
    pub async fn open_in_memory(clock: SharedClock) -> Result<Arc<Self>> {
        let db = Db::open_in_memory().await?;
        Ok(Arc::new(SqliteBackend {
            db,
            clock,
            codec: Arc::new(Codec::default()),
        }))
    }

    /// The codec used for conversations (shared; dictionaries may be added at run time).
    pub fn codec(&self) -> &Arc<Codec> {
        &self.codec
    }

    /// The database file, `None` for an in-memory database.
    pub fn path(&self) -> Option<&Path> {
        self.db.path()
    }

    /// How the database was opened.
    pub fn mode(&self) -> OpenMode {
        self.db.mode()
    }

    /// The file's `PRAGMA application_id` ([`APPLICATION_ID`] once this
    /// tool has written it).
    pub async fn application_id(&self) -> Result<i32> {
        use db::SqlResult;
        self.db
            .read(|tx| tx.query_row("PRAGMA application_id", [], |r| r.get(0)).db())
            .await
    }

    /// The schema version stored in the database.
    pub async fn schema_version(&self) -> Result<i64> {
        self.db.read(|tx| db::schema_version(tx)).await
    }

    /// The journal mode SQLite reports (`wal` for a file database).
    pub async fn journal_mode(&self) -> Result<String> {
        use db::SqlResult;
        self.db
            .write(|conn| conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).db())
            .await
    }

    fn now_s(&self) -> i64 {
        self.clock.now_s()
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

impl Backend for SqliteBackend {
    fn clock(&self) -> SharedClock {
        self.clock.clone()
    }

    fn shared_codec(&self) -> Arc<Codec> {
        self.codec.clone()
    }
}

/// The differences of the SQLite file at `path` from the declared schema
/// (tables, columns, indexes, `application_id`, `user_version`), as
/// `affine-db check` reports them. The file is opened read-only and
/// without the checks of an open, so a file of another application or of
/// a newer build is reported, not refused; nothing in it changes. A
/// missing file is [`affine_db_core::Error::NotFound`].
pub async fn check_file(path: impl AsRef<Path>) -> Result<Vec<affine_db_core::drift::Drift>> {
    let path = path.as_ref().to_path_buf();
    tokio::task::spawn_blocking(move || live::check_file(&path))
        .await
        .map_err(|e| affine_db_core::Error::backend_from("sqlite worker thread failed", e))?
}

/// Convenience: open (creating if needed) and bundle as a Store.
pub async fn open_store(path: impl AsRef<Path>, clock: SharedClock) -> Result<Store> {
    Ok(Store::new(SqliteBackend::open(path, clock).await?))
}

/// Opens in `mode` and bundles as a Store.
pub async fn open_store_with_mode(
    path: impl AsRef<Path>,
    clock: SharedClock,
    mode: OpenMode,
) -> Result<Store> {
    Ok(Store::new(
        SqliteBackend::open_with_mode(path, clock, mode).await?,
    ))
}
