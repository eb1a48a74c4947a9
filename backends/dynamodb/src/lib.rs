//! # affine-db-dynamodb
//!
//! The DynamoDB storage of affine-db, for production validators:
//! [`DynamoDriver`], the core's storage [`affine_db_core::driver::Driver`]
//! on seven tables `{prefix}_{name}`. The seven tables' API (validation,
//! defaults, the codec, the rules, TTL, derived reads) is the core's
//! ([`affine_db_core::handles::Tables`]); this crate only turns the core's
//! items, queries and mutations into DynamoDB requests. [`open_store`]
//! bundles the two as a [`Store`].
//!
//! - Tables are created from the core schema (GSIs, projections,
//!   PAY_PER_REQUEST, TTL) and repaired in place (`lifecycle`).
//! - State changes are the core's [`affine_db_core::mutation::Rule`]s, each
//!   branch one conditional UpdateItem or DeleteItem (`driver/execute.rs`);
//!   filters are the core's [`affine_db_core::cond::Cond`]s as condition and
//!   filter expressions (`expr`).
//! - Batches carry at most 25 writes / 100 reads; up to
//!   [`DynamoDriver::batch_concurrency`] of them are in flight at once;
//!   unprocessed items are retried with backoff and jitter, and a spent
//!   budget is an [`affine_db_core::Error::Throttled`] naming the keys not
//!   written (`batch`).
//! - Settings come from the environment or a `dynamodb://` URL
//!   ([`DynamoConfig`], `connection`).

#![warn(missing_docs)]

use std::sync::Arc;

use affine_db_core::handles::Tables;
use affine_db_core::{Result, SharedClock, Store};

mod batch;
mod client;
mod connection;
mod convert;
mod driver;
mod errors;
mod expr;
mod lifecycle;
mod pager;
mod retry;

pub use batch::{DEFAULT_BATCH_CONCURRENCY, MAX_BATCH_CONCURRENCY, MAX_BATCH_GET, MAX_BATCH_WRITE};
pub use connection::{DynamoConfig, DEFAULT_PREFIX};
pub use driver::DynamoDriver;

/// The core-owned table handles over `driver` (every table trait and
/// [`affine_db_core::Admin`] on one value). Tables are not touched; call
/// [`affine_db_core::Admin::init`] to create them.
pub fn tables(driver: DynamoDriver, clock: SharedClock) -> Arc<Tables> {
    Arc::new(Tables::new(Arc::new(driver), clock))
}

/// Connects (aws-config's standard chain plus the overrides of `config`)
/// and returns the table handles. Tables are not touched.
pub async fn open_tables(config: DynamoConfig, clock: SharedClock) -> Result<Arc<Tables>> {
    Ok(tables(DynamoDriver::connect(config).await?, clock))
}

/// Connects and bundles the table handles as a [`Store`].
pub async fn open_store(config: DynamoConfig, clock: SharedClock) -> Result<Store> {
    Ok(Store::new(open_tables(config, clock).await?))
}
