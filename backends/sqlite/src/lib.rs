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
//! TTL: an item whose `ttl` is at or before the clock's now is invisible to
//! every operation (`ttl > now` in SQL); [`affine_db_core::Admin::purge_expired`]
//! deletes such rows.

#![warn(missing_docs)]

use std::path::Path;
use std::sync::Arc;

use affine_db_core::{Backend, Codec, Result, SharedClock, Store};

mod admin;
mod config;
mod db;
mod logs;
mod miners;
#[cfg(test)]
mod query_plans;
mod retention;
mod row;
mod samples;
mod scores;
mod tasks;

pub use db::{BUSY_TIMEOUT, SCHEMA_VERSION};

use db::Db;

/// The SQLite backend: one database file (or a private in-memory database).
#[derive(Debug)]
pub struct SqliteBackend {
    db: Db,
    clock: SharedClock,
    codec: Arc<Codec>,
}

impl SqliteBackend {
    /// Opens (creating if needed) the database file and its tables.
    ///
    /// The file is switched to WAL mode and its schema brought to
    /// [`SCHEMA_VERSION`]; a file written by a newer build is refused with
    /// [`affine_db_core::Error::Backend`].
    pub async fn open(path: impl AsRef<Path>, clock: SharedClock) -> Result<Arc<Self>> {
        let db = Db::open(path.as_ref()).await?;
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

/// Convenience: open and bundle as a Store.
pub async fn open_store(path: impl AsRef<Path>, clock: SharedClock) -> Result<Store> {
    Ok(Store::new(SqliteBackend::open(path, clock).await?))
}
