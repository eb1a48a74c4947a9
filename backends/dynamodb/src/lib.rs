//! # affine-db-dynamodb
//!
//! The DynamoDB backend of affine-db, for production validators. One
//! [`DynamoBackend`] implements all seven table traits,
//! [`affine_db_core::Admin`] and [`affine_db_core::Backend`], with the semantics the
//! shared conformance suite checks on every backend:
//!
//! - Tables are `{prefix}_{name}` and are created from the core schema
//!   (GSIs, projections, PAY_PER_REQUEST, TTL) by [`affine_db_core::Admin::init`].
//! - Rules are the core's: state changes are
//!   [`affine_db_core::mutation::Rule`]s sent as conditional UpdateItem or
//!   DeleteItem calls (`mutate`), filters are the core's
//!   [`affine_db_core::cond::Cond`]s (condition expressions, or evaluated on
//!   each item read), orderings the core's [`affine_db_core::order::Order`]s.
//! - TTL: DynamoDB deletes expired items only eventually, so every read and
//!   every conditional write applies [`affine_db_core::ttl`]'s rule with the
//!   backend's clock.
//! - Atomic operations (task claims, counters, config versions, earliest
//!   commit block, protected_since) are single conditional requests.
//! - Batches carry at most 25 writes / 100 reads; up to
//!   [`DynamoBackend::batch_concurrency`] of them are in flight at once
//!   (`save_samples`, `put_items`); unprocessed items are retried with
//!   backoff and jitter, and a spent budget is an
//!   [`affine_db_core::Error::Throttled`] naming the keys not written.
//! - Every list operation pages until it has exactly `min(limit, matches)`.

#![warn(missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use affine_db_core::{ttl, Backend, Codec, Error, Item, Result, SharedClock, Store, Table};
use aws_sdk_dynamodb::Client;

mod admin;
mod batch;
mod client;
mod config;
mod convert;
mod driver;
mod errors;
mod expr;
mod logs;
mod miners;
mod mutate;
mod query;
mod retention;
mod retry;
mod samples;
mod scores;
mod system_config;
mod tables;
mod tasks;

pub use batch::{DEFAULT_BATCH_CONCURRENCY, MAX_BATCH_CONCURRENCY, MAX_BATCH_GET, MAX_BATCH_WRITE};
pub use config::{DynamoConfig, DEFAULT_PREFIX};
pub use driver::DynamoDriver;

/// The DynamoDB backend: seven tables under one prefix.
#[derive(Debug)]
pub struct DynamoBackend {
    client: Client,
    config: DynamoConfig,
    names: [String; 7],
    clock: SharedClock,
    codec: Arc<Codec>,
    locks: Vec<tokio::sync::Mutex<()>>,
    batch_concurrency: AtomicUsize,
}

/// Stripes of the in-process item locks.
const LOCK_STRIPES: usize = 64;

impl DynamoBackend {
    /// Builds the client (aws-config's standard chain plus the overrides of
    /// `config`). Tables are not touched; call [`affine_db_core::Admin::init`]
    /// to create them.
    pub async fn connect(config: DynamoConfig, clock: SharedClock) -> Result<Arc<Self>> {
        let client = client::build_client(&config).await;
        let names = Table::ALL.map(|t| t.prefixed(&config.prefix));
        Ok(Arc::new(DynamoBackend {
            client,
            config,
            names,
            clock,
            codec: Arc::new(Codec::default()),
            locks: (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            batch_concurrency: AtomicUsize::new(DEFAULT_BATCH_CONCURRENCY),
        }))
    }

    /// BatchWriteItem requests one `save_samples` or `put_items` call keeps
    /// in flight (default [`DEFAULT_BATCH_CONCURRENCY`]).
    pub fn batch_concurrency(&self) -> usize {
        self.batch_concurrency.load(Ordering::Relaxed)
    }

    /// Sets [`DynamoBackend::batch_concurrency`]: at least 1, at most
    /// [`MAX_BATCH_CONCURRENCY`]; anything else is
    /// [`Error::InvalidInput`] and changes nothing.
    pub fn set_batch_concurrency(&self, requests: usize) -> Result<()> {
        if !(1..=MAX_BATCH_CONCURRENCY).contains(&requests) {
            return Err(Error::invalid(
                "batch_concurrency",
                format!("{requests} is outside 1..={MAX_BATCH_CONCURRENCY}"),
            ));
        }
        self.batch_concurrency.store(requests, Ordering::Relaxed);
        Ok(())
    }

    /// The codec used for conversations (shared; dictionaries may be added at run time).
    pub fn codec(&self) -> &Arc<Codec> {
        &self.codec
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The configuration this backend was built with.
    pub fn config(&self) -> &DynamoConfig {
        &self.config
    }

    /// The full DynamoDB name of `table`.
    pub fn table_name(&self, table: Table) -> &str {
        let i = Table::ALL
            .iter()
            .position(|t| *t == table)
            .unwrap_or_default();
        &self.names[i]
    }

    /// Serialises this process's read-modify-write operations on one item.
    ///
    /// On DynamoDB each such operation is a single conditional UpdateItem,
    /// which the server applies atomically, so this lock is not what makes
    /// them atomic across processes. It makes one process's concurrent
    /// updates of an item queue up client-side, which also holds on
    /// emulators that do not serialise writes to an item (moto applies
    /// concurrent UpdateItem calls without a lock and can lose an `ADD`).
    async fn lock_item(&self, table: Table, pk: &str, sk: &str) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (table, pk, sk).hash(&mut h);
        let i = usize::try_from(h.finish() % LOCK_STRIPES as u64).unwrap_or_default();
        self.locks[i].lock().await
    }

    fn now_s(&self) -> i64 {
        self.clock.now_s()
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// One item by key with a consistent read, `None` when absent or expired.
    async fn get_live(&self, table: Table, pk: &str, sk: &str) -> Result<Option<Item>> {
        let name = self.table_name(table);
        let out = self
            .client
            .get_item()
            .table_name(name)
            .set_key(Some(convert::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| errors::map_err(e, &format!("{name}: get {pk}/{sk}")))?;
        match out.item {
            None => Ok(None),
            Some(map) => {
                let item = convert::from_map(&map)?;
                Ok(ttl::is_live_item(table, &item, self.now_s()).then_some(item))
            }
        }
    }

    /// Puts one item as is, after the core's
    /// [`affine_db_core::item::check_item`] (the checks SQLite makes too).
    async fn put(&self, table: Table, item: &Item) -> Result<()> {
        let name = self.table_name(table);
        let what = || match convert::item_key(item) {
            Some((pk, sk)) => format!("{name}: put {pk}/{sk}"),
            None => format!("{name}: put"),
        };
        affine_db_core::item::check_item(&what(), item)?;
        self.client
            .put_item()
            .table_name(name)
            .set_item(Some(convert::to_map(item)))
            .send()
            .await
            .map_err(|e| errors::map_err(e, &what()))?;
        Ok(())
    }

    /// The outcome of a read through `index` of `table`: a failure because
    /// the table exists without the index (DynamoDB answers
    /// `ValidationException: The table does not have the specified index:
    /// NAME`, moto `ResourceNotFoundException: Invalid index: NAME for
    /// table: T`; a DescribeTable tells which it was) is
    /// [`Error::MissingIndex`], which names the index and says that `init`
    /// creates it; anything else is returned as it is.
    async fn via_index<V>(&self, table: Table, index: &str, res: Result<V>) -> Result<V> {
        let err = match res {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if !matches!(err, Error::MissingTable { .. } | Error::InvalidInput { .. }) {
            return Err(err);
        }
        let name = self.table_name(table);
        match tables::describe_live(&self.client, name).await {
            Ok(Some(live)) if !live.indexes.iter().any(|i| i.name == index) => {
                Err(Error::MissingIndex {
                    table: name.to_string(),
                    index: index.to_string(),
                    store: errors::STORE.to_string(),
                })
            }
            _ => Err(err),
        }
    }

    fn corrupt_key(table: Table) -> Error {
        Error::corrupt(format!("{table}: item without string pk/sk"))
    }
}

impl Backend for DynamoBackend {
    fn clock(&self) -> SharedClock {
        self.clock.clone()
    }

    fn shared_codec(&self) -> Arc<Codec> {
        self.codec.clone()
    }
}

/// Connects and bundles the backend as a [`Store`].
pub async fn open_store(config: DynamoConfig, clock: SharedClock) -> Result<Store> {
    Ok(Store::new(DynamoBackend::connect(config, clock).await?))
}
