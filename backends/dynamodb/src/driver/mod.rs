//! [`DynamoDriver`]: DynamoDB as a storage [`Driver`] under the core-owned
//! table handles ([`affine_db_core::handles`]). It holds no rule and no key
//! or attribute literal: it turns the core's items, queries and mutations
//! into DynamoDB requests with the crate's shared pieces (batches with
//! retries, expressions, error mapping, table lifecycle).
//!
//! - Batches: BatchWriteItem of at most [`MAX_BATCH_WRITE`] items, up to
//!   [`DynamoDriver::batch_concurrency`] requests in flight, unprocessed
//!   items retried, a spent budget an [`Error::Throttled`] naming the keys
//!   not written; BatchGetItem of at most [`MAX_BATCH_GET`] keys.
//! - Queries ([`query`]): Query on the partition or the index, Scan of the
//!   table, the filter as a FilterExpression (and checked again with
//!   [`affine_db_core::cond::Cond::eval`]), paged until the limit counted
//!   after filtering.
//! - Mutations ([`execute`]): each branch one conditional UpdateItem or
//!   DeleteItem.

use affine_db_core::admin::{check_scan_limit, parse_scan_cursor, scan_cursor, Progress, ScanPage};
use affine_db_core::drift::Drift;
use affine_db_core::driver::{
    check_put, Applied, Capabilities, Consistency, Cursor, Driver, Mutation, Page, Query, Select,
};
use affine_db_core::schema::{PK, SK};
use affine_db_core::{Error, Item, Result, Table};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;

use crate::batch::{
    self, WriteOp, DEFAULT_BATCH_CONCURRENCY, MAX_BATCH_CONCURRENCY, MAX_BATCH_GET, MAX_BATCH_WRITE,
};
use crate::connection::DynamoConfig;
use crate::convert;
use crate::errors::map_err;
use crate::{client, lifecycle};

mod execute;
mod query;

/// Stripes of the in-process item locks.
const LOCK_STRIPES: usize = 64;

/// DynamoDB as a [`Driver`]: seven tables `{prefix}_{name}`.
#[derive(Debug)]
pub struct DynamoDriver {
    client: Client,
    config: DynamoConfig,
    names: [String; 7],
    locks: Vec<tokio::sync::Mutex<()>>,
    batch_concurrency: usize,
}

impl DynamoDriver {
    /// Builds the client (aws-config's standard chain plus the overrides of
    /// `config`). Tables are not touched; [`Driver::create_tables`] (or the
    /// handles' `init`) creates them.
    pub async fn connect(config: DynamoConfig) -> Result<DynamoDriver> {
        let client = client::build_client(&config).await;
        Ok(DynamoDriver::with_client(client, config))
    }

    /// A driver over an existing SDK client.
    pub fn with_client(client: Client, config: DynamoConfig) -> DynamoDriver {
        let names = Table::ALL.map(|t| t.prefixed(&config.prefix));
        DynamoDriver {
            client,
            config,
            names,
            locks: (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            batch_concurrency: DEFAULT_BATCH_CONCURRENCY,
        }
    }

    /// The same driver keeping up to `requests` BatchWriteItem calls of one
    /// [`Driver::put_batch`] in flight: at least 1, at most
    /// [`MAX_BATCH_CONCURRENCY`]; anything else is [`Error::InvalidInput`].
    pub fn with_batch_concurrency(mut self, requests: usize) -> Result<DynamoDriver> {
        if !(1..=MAX_BATCH_CONCURRENCY).contains(&requests) {
            return Err(Error::invalid(
                "batch_concurrency",
                format!("{requests} is outside 1..={MAX_BATCH_CONCURRENCY}"),
            ));
        }
        self.batch_concurrency = requests;
        Ok(self)
    }

    /// BatchWriteItem requests one [`Driver::put_batch`] keeps in flight
    /// (default [`DEFAULT_BATCH_CONCURRENCY`]).
    pub fn batch_concurrency(&self) -> usize {
        self.batch_concurrency
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The configuration this driver was built with.
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

    /// Serialises this process's mutations of one item. DynamoDB applies
    /// each conditional request atomically on its own; this queues one
    /// process's concurrent mutations of an item client-side, which also
    /// holds on emulators that do not serialise writes to an item (moto
    /// can lose a concurrent `ADD`).
    async fn lock_item(&self, table: Table, pk: &str, sk: &str) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (table, pk, sk).hash(&mut h);
        let i = usize::try_from(h.finish() % LOCK_STRIPES as u64).unwrap_or_default();
        self.locks[i].lock().await
    }
}

/// The attributes a BatchGetItem projects for `select`, `None` for all.
fn batch_projection(select: Select) -> Option<&'static [&'static str]> {
    match select {
        Select::Keys => Some(&[PK, SK]),
        Select::All | Select::Without(_) => None,
    }
}

#[async_trait]
impl Driver for DynamoDriver {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            name: "dynamodb",
            max_batch_write: MAX_BATCH_WRITE,
            max_batch_get: MAX_BATCH_GET,
            writes_in_flight: self.batch_concurrency,
            atomic_batch: false,
            server_side_ttl: true,
        }
    }

    fn describe(&self) -> String {
        let mut s = format!("dynamodb://?prefix={}", self.config.prefix);
        if let Some(r) = &self.config.region {
            s.push_str(&format!("&region={r}"));
        }
        if let Some(e) = &self.config.endpoint {
            s.push_str(&format!("&endpoint={e}"));
        }
        s
    }

    async fn create_tables(&self, progress: Progress<'_>) -> Result<()> {
        lifecycle::init(&self.client, &self.config.prefix, progress).await?;
        Ok(())
    }

    async fn drop_tables(&self) -> Result<()> {
        lifecycle::drop_all(&self.client, &self.config.prefix).await
    }

    async fn list_tables(&self) -> Result<Vec<String>> {
        lifecycle::list(&self.client, &self.config.prefix).await
    }

    async fn check_tables(&self) -> Result<Vec<Drift>> {
        lifecycle::check(&self.client, &self.config.prefix).await
    }

    async fn get_batch(
        &self,
        table: Table,
        keys: Vec<(String, String)>,
        select: Select,
        consistency: Consistency,
    ) -> Result<Vec<Item>> {
        let name = self.table_name(table);
        let strong = consistency == Consistency::Strong;
        batch::get(&self.client, name, &keys, batch_projection(select), strong)
            .await?
            .iter()
            .map(|m| convert::from_map(m).map(|i| select.project(i)))
            .collect()
    }

    async fn put_batch(&self, table: Table, items: Vec<Item>) -> Result<()> {
        for item in &items {
            check_put(table, item)?;
        }
        let name = self.table_name(table);
        let ops = items.into_iter().map(WriteOp::Put).collect();
        batch::write_with(&self.client, name, ops, self.batch_concurrency).await
    }

    async fn delete_batch(&self, table: Table, keys: Vec<(String, String)>) -> Result<usize> {
        if keys.is_empty() {
            return Ok(0);
        }
        let name = self.table_name(table);
        let existing = batch::get(&self.client, name, &keys, Some(&[PK, SK]), true).await?;
        let ops = keys
            .into_iter()
            .map(|(pk, sk)| WriteOp::Delete(pk, sk))
            .collect();
        batch::write_with(&self.client, name, ops, self.batch_concurrency).await?;
        Ok(existing.len())
    }

    async fn query(&self, table: Table, query: &Query) -> Result<Page> {
        query::run(self, table, query).await
    }

    async fn scan_page(
        &self,
        table: Table,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<ScanPage> {
        check_scan_limit(limit)?;
        let start = cursor
            .as_deref()
            .map(parse_scan_cursor)
            .transpose()?
            .map(|(pk, sk)| convert::key(pk, sk));
        let name = self.table_name(table);
        let res = self
            .client
            .scan()
            .table_name(name)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| map_err(e, &format!("{name}: scan")))?;
        let items = res
            .items()
            .iter()
            .map(convert::from_map)
            .collect::<Result<Vec<_>>>()?;
        let cursor = match &res.last_evaluated_key {
            Some(k) if !k.is_empty() => {
                let (pk, sk) = convert::key_of(k)
                    .ok_or_else(|| Error::corrupt(format!("{name}: scan key without pk/sk")))?;
                Some(scan_cursor(&pk, &sk))
            }
            _ => None,
        };
        Ok(ScanPage { items, cursor })
    }

    async fn execute(&self, mutation: Mutation) -> Result<Applied> {
        execute::run(self, mutation).await
    }
}
