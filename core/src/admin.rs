//! Store administration: table lifecycle, counts, TTL purge and raw item
//! access used by `export`/`import`.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::drift::Drift;
use crate::error::{Error, Result};
use crate::item::Item;
use crate::schema::Table;

/// Where [`Admin::init_with`] reports each repair and its progress, one
/// line at a time.
pub type Progress<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// What a backend can do, read by the shared tests instead of deleting
/// assertions (opendal style).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Backend name (`sqlite`, `dynamodb`).
    pub name: &'static str,
    /// The most write requests one batch carries.
    pub max_batch_write: usize,
    /// How many write batches are worth keeping in flight at once (1 for a
    /// single-writer store, where more would only queue).
    pub writes_in_flight: usize,
    /// Whether the server deletes expired items on its own (eventually).
    pub server_side_ttl: bool,
}

/// One page of a raw scan.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScanPage {
    /// The items of this page.
    pub items: Vec<Item>,
    /// Where the next page starts; `None` when this was the last page.
    pub cursor: Option<String>,
}

/// Checks the page size of [`Admin::scan_page`] (at least 1).
pub fn check_scan_limit(limit: usize) -> Result<()> {
    if limit == 0 {
        return Err(Error::invalid("limit", "must be at least 1"));
    }
    Ok(())
}

/// The cursor of [`Admin::scan_page`] that resumes after the item at
/// (`pk`, `sk`).
pub fn scan_cursor(pk: &str, sk: &str) -> String {
    serde_json::json!([pk, sk]).to_string()
}

/// The `(pk, sk)` a cursor made by [`scan_cursor`] resumes after; anything
/// else is an input error.
pub fn parse_scan_cursor(cursor: &str) -> Result<(String, String)> {
    serde_json::from_str::<(String, String)>(cursor).map_err(|_| {
        Error::invalid(
            "cursor",
            "not a cursor returned by scan_page; start without one",
        )
    })
}

/// Lifecycle and raw access of a store's seven tables.
#[async_trait]
pub trait Admin: Send + Sync {
    /// What this backend can do.
    fn capabilities(&self) -> Capabilities;

    /// A one-line description of where the data lives (never with credentials).
    fn describe(&self) -> String;

    /// Creates the seven tables if missing (idempotent), with indexes and
    /// TTL, and holds existing tables to the declared schema: see
    /// [`Admin::init_with`]. Reports nothing.
    async fn init(&self) -> Result<()> {
        self.init_with(&|_: &str| {}).await.map(|_| ())
    }

    /// [`Admin::init`], reporting: compares every table with its
    /// declaration first ([`Admin::check`]); when a difference cannot be
    /// repaired in place ([`crate::drift::Repair::Refused`]) fails with
    /// [`Error::SchemaDrift`] naming each one and changes nothing;
    /// otherwise repairs every difference (creating missing tables and
    /// indexes, enabling TTL, ...), calling `progress` with a line for each
    /// repair and while it waits, and returns what it repaired.
    async fn init_with(&self, progress: Progress<'_>) -> Result<Vec<Drift>>;

    /// The differences of the live schema from the declared one, in table
    /// order; changes nothing. Empty when the schema matches.
    async fn check(&self) -> Result<Vec<Drift>>;

    /// The tables of this namespace that exist, by name (for DynamoDB, the
    /// full `{prefix}_{name}`).
    async fn list_tables(&self) -> Result<Vec<String>>;

    /// Deletes and recreates this namespace's tables (and nothing else).
    async fn reset(&self) -> Result<()>;

    /// Live items per table (expired items are not counted).
    async fn stats(&self) -> Result<BTreeMap<Table, u64>>;

    /// Deletes items whose TTL has passed; how many.
    async fn purge_expired(&self) -> Result<u64>;

    /// One page of the raw items of `table` (expired ones included), at most
    /// `limit`, continuing after `cursor` (from the previous page).
    async fn scan_page(
        &self,
        table: Table,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<ScanPage>;

    /// The raw items of `table` at these `(pk, sk)` keys (expired ones
    /// included), in no particular order; keys without an item are left out.
    async fn get_items(&self, table: Table, keys: Vec<(String, String)>) -> Result<Vec<Item>>;

    /// Writes raw items into `table` as they are (batched), replacing items
    /// with the same keys.
    async fn put_items(&self, table: Table, items: Vec<Item>) -> Result<()>;

    /// Deletes raw items of `table` by `(pk, sk)` (batched); how many existed.
    async fn delete_items(&self, table: Table, keys: Vec<(String, String)>) -> Result<usize>;
}

/// Every raw item of `table`, page by page.
pub async fn scan_all(admin: &dyn Admin, table: Table) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let page = admin.scan_page(table, cursor, 1000).await?;
        items.extend(page.items);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(items),
        }
    }
}
