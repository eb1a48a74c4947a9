//! # affine-db-sqlite
//!
//! The embedded SQLite storage of affine-db, for offline development and
//! single-machine validators: [`SqliteDriver`], the core's storage
//! [`affine_db_core::driver::Driver`] on one database file. The seven
//! tables' API (validation, defaults, the codec, the rules, TTL, derived
//! reads) is the core's ([`affine_db_core::handles::Tables`]); this crate
//! only stores items. [`open_store`] bundles the two as a [`Store`].
//!
//! The file is the namespace: the tables carry their bare names and one
//! column per attribute, named as the attribute, so `sqlite3 affine.db`
//! reads like the DynamoDB items (see `row` for the type mapping). The
//! database runs in WAL mode; every call runs on tokio's blocking pool, on
//! one writer connection (every batch and every mutation in one
//! `BEGIN IMMEDIATE` transaction, so they are atomic also against other
//! processes) or on a small pool of read connections. Filters are the
//! core's [`affine_db_core::cond::Cond`]s turned into SQL (`sql`, `query`).

#![warn(missing_docs)]

use std::path::Path;
use std::sync::Arc;

use affine_db_core::handles::Tables;
use affine_db_core::{Result, SharedClock, Store};

mod db;
mod driver;
mod live;
mod query;
#[cfg(test)]
mod query_plans;
mod row;
mod scan;
mod sql;

pub use db::{OpenMode, APPLICATION_ID, BUSY_TIMEOUT, SCHEMA_VERSION};
pub use driver::SqliteDriver;

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

/// The core-owned table handles over the database file at `path`, opened
/// in `mode` (every table trait and [`affine_db_core::Admin`] on one value).
pub async fn open_tables(
    path: impl AsRef<Path>,
    clock: SharedClock,
    mode: OpenMode,
) -> Result<Arc<Tables>> {
    let driver = SqliteDriver::open(path, mode).await?;
    Ok(Arc::new(Tables::new(driver, clock)))
}

/// The core-owned table handles over a private in-memory database.
pub async fn open_tables_in_memory(clock: SharedClock) -> Result<Arc<Tables>> {
    Ok(Arc::new(Tables::new(
        SqliteDriver::open_in_memory().await?,
        clock,
    )))
}

/// Opens (creating if needed) the file and bundles its handles as a Store.
pub async fn open_store(path: impl AsRef<Path>, clock: SharedClock) -> Result<Store> {
    open_store_with_mode(path, clock, OpenMode::Create).await
}

/// Opens in `mode` and bundles the handles as a Store.
pub async fn open_store_with_mode(
    path: impl AsRef<Path>,
    clock: SharedClock,
    mode: OpenMode,
) -> Result<Store> {
    Ok(Store::new(open_tables(path, clock, mode).await?))
}

/// A private in-memory database as a Store (for tests).
pub async fn open_store_in_memory(clock: SharedClock) -> Result<Store> {
    Ok(Store::new(open_tables_in_memory(clock).await?))
}
