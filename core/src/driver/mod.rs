//! The storage driver: the dozen primitives a store must provide, below the
//! core-owned table handles ([`crate::handles`]).
//!
//! The split follows apache `object_store` and opendal: a small trait a
//! storage implements ([`Driver`]: twelve required methods, nine provided
//! ones on top) and a user-facing layer, written once in the core, that
//! does everything that is not storage (validation, defaults, the codec and
//! its dictionaries, the rules, derived reads, size checks).
//!
//! # The driver contract
//!
//! - **Items, not records.** A driver stores [`Item`]s of the seven
//!   [`Table`]s, keyed by string `pk` and `sk` ([`PK`], [`SK`]). It knows
//!   table, attribute, index and projection names only through the schema
//!   ([`Table::def`]); it holds no key or attribute literal and no rule.
//! - **Writes are checked.** [`Driver::put_batch`] refuses, with
//!   [`Error::InvalidInput`] or [`Error::TooLarge`] and before writing
//!   anything of the batch, an item that [`check_put`] rejects (what both
//!   SQLite and DynamoDB refuse).
//! - **Conditions are the core's.** A [`Query`]'s filter and a
//!   [`Mutation`]'s branch conditions mean exactly what [`Cond::eval`] says
//!   (a driver may translate them, as SQLite does to SQL, or evaluate them).
//! - **Queries.** [`Driver::query`] returns the items of one partition, of
//!   one secondary index hash value, or of the whole table, whose sort key
//!   (the `sk`, or the index's range attribute) satisfies the [`RangeCond`]
//!   and the filter, in [`Query::order`] (ties by `pk`, then `sk`), with the
//!   [`Select`]ed attributes, at most [`Query::limit`] of them *after*
//!   filtering. A page may be shorter than the limit only when it is the
//!   last; its [`Page::cursor`] resumes after its last item. The filter of
//!   an index query names only attributes the index projects (and the
//!   table keys), so a store can evaluate it on the index alone; the
//!   handles keep to that.
//! - **TTL is not the driver's.** Queries return expired items too; the
//!   handles add [`crate::ttl::unexpired`] to every filter, so the TTL rule
//!   exists once.
//! - **Mutations are atomic per item.** [`Driver::execute`] carries out a
//!   [`Mutation`] (a type-erased [`Rule`]) on one item as if alone: the
//!   first branch whose condition holds on the stored item is applied, and
//!   [`Applied`] says which, with the item it left (or deleted). A driver
//!   that can lock the item reads it and calls [`Mutation::apply`]; one with
//!   conditional writes (DynamoDB) sends each branch conditionally and
//!   retries the next on the item a failure returns.
//! - **Capabilities are stated, not guessed.** [`Capabilities`] says the
//!   batch sizes, the writes the core may keep in flight and what the
//!   driver does atomically; the core and the shared tests read them.

use std::cmp::Ordering;
use std::fmt::Debug;

use async_trait::async_trait;

use crate::admin::ScanPage;
use crate::cond::Cond;
use crate::error::{Error, Result};
use crate::item::{check_item, Attr, Item};
use crate::mutation::{Effect, Rule, Write};
use crate::order::Order;
use crate::schema::{AttrType, IndexDef, Projection, Table, PK, SK};

pub mod memory;

pub use memory::InMemory;

/// What a driver can do, read by the core (batch sizes, concurrency) and by
/// the shared tests (what may be asserted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Driver name (`memory`, `sqlite`, `dynamodb`).
    pub name: &'static str,
    /// The most items one write request of the store carries: one
    /// [`Driver::delete_batch`] call carries at most this many, one
    /// [`Driver::put_batch`] call at most
    /// [`Capabilities::put_batch_items`] (the core splits larger batches).
    pub max_batch_write: usize,
    /// The most keys one [`Driver::get_batch`] call should carry.
    pub max_batch_get: usize,
    /// How many write requests of [`Capabilities::max_batch_write`] items
    /// the store keeps in flight at once: one [`Driver::put_batch`] call
    /// sends its items as that many concurrent requests (1 for a
    /// single-writer store).
    pub writes_in_flight: usize,
    /// Whether one [`Driver::put_batch`] call is all-or-nothing (readers
    /// never see part of it).
    pub atomic_batch: bool,
    /// Whether the store deletes expired items on its own (eventually).
    pub server_side_ttl: bool,
}

impl Capabilities {
    /// The most items the core hands one [`Driver::put_batch`] call:
    /// `max_batch_write` × `writes_in_flight` (at least 1).
    pub fn put_batch_items(&self) -> usize {
        self.max_batch_write
            .max(1)
            .saturating_mul(self.writes_in_flight.max(1))
    }

    /// The [`crate::admin::Capabilities`] the handles report.
    pub fn admin(&self) -> crate::admin::Capabilities {
        crate::admin::Capabilities {
            name: self.name,
            max_batch_write: self.max_batch_write,
            writes_in_flight: self.writes_in_flight,
            server_side_ttl: self.server_side_ttl,
        }
    }
}

/// Which items a [`Query`] reads.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Target {
    /// The items of one partition (`pk` equal to this), by `sk`.
    Partition(String),
    /// The items of a secondary index whose hash attribute equals the
    /// value, by the index's range attribute, projected as the index says.
    Index {
        /// The index (from the table's schema).
        index: &'static IndexDef,
        /// The hash attribute's value.
        hash: Attr,
    },
    /// Every item of the table.
    #[default]
    Table,
}

/// A condition on the sort key of a [`Target`] (the `sk`, or the index's
/// range attribute): numbers compare by value, strings by bytes.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum RangeCond {
    /// Any sort key.
    #[default]
    Any,
    /// Exactly this value.
    Eq(Attr),
    /// From `lo` to `hi`, both inclusive.
    Between(Attr, Attr),
    /// A string sort key starting with this prefix.
    BeginsWith(String),
}

impl RangeCond {
    /// Whether the sort key `value` (`None`: missing) satisfies the range.
    pub fn holds(&self, value: Option<&Attr>) -> bool {
        match self {
            RangeCond::Any => true,
            RangeCond::Eq(want) => {
                value.is_some_and(|v| compare_attrs(Some(v), Some(want)).is_eq())
            }
            RangeCond::Between(lo, hi) => value.is_some_and(|v| {
                compare_attrs(Some(v), Some(lo)).is_ge() && compare_attrs(Some(v), Some(hi)).is_le()
            }),
            RangeCond::BeginsWith(prefix) => {
                matches!(value, Some(Attr::S(s)) if s.starts_with(prefix.as_str()))
            }
        }
    }
}

/// One attribute a query sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    /// The attribute.
    pub attr: &'static str,
    /// Largest first.
    pub descending: bool,
}

/// How fresh a read must be ([`crate::rules::consistency`] says which
/// reads may be eventual).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Consistency {
    /// Every write acknowledged before the read is seen.
    #[default]
    Strong,
    /// A write of the last moment may be missed (half the read units on
    /// DynamoDB); a store that is always strongly consistent reads strongly.
    Eventual,
}

/// Which attributes a read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Select {
    /// Every attribute (an index query: every projected one).
    #[default]
    All,
    /// Every attribute except these (for example the conversation).
    Without(&'static [&'static str]),
    /// Only `pk` and `sk`.
    Keys,
}

impl Select {
    /// Whether a read with this selection returns attribute `name` (the
    /// keys `pk` and `sk` always).
    pub fn keeps(&self, name: &str) -> bool {
        if name == PK || name == SK {
            return true;
        }
        match self {
            Select::All => true,
            Select::Without(skip) => !skip.contains(&name),
            Select::Keys => false,
        }
    }

    /// `item` with only the selected attributes.
    pub fn project(&self, mut item: Item) -> Item {
        if *self != Select::All {
            item.retain(|k, _| self.keeps(k));
        }
        item
    }
}

/// Where the next page of a query or scan starts (opaque to the core).
pub type Cursor = String;

/// A read of many items of one table (see the module docs for its meaning).
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Which items.
    pub target: Target,
    /// The sort-key condition.
    pub range: RangeCond,
    /// The filter every returned item satisfies ([`Cond::eval`]).
    pub filter: Cond,
    /// The order, most significant first (ties by `pk`, then `sk`).
    pub order: Vec<Sort>,
    /// The most items to return (after filtering), `None` for all.
    pub limit: Option<usize>,
    /// Which attributes.
    pub select: Select,
    /// Resume after the last item of the page this cursor came with.
    pub cursor: Option<Cursor>,
    /// How fresh the read must be (an index query is always eventual on a
    /// store whose secondary indexes are, like DynamoDB's).
    pub consistency: Consistency,
}

impl Default for Query {
    /// Every item of the table, unfiltered, in key order.
    fn default() -> Query {
        Query {
            target: Target::Table,
            range: RangeCond::Any,
            filter: Cond::True,
            order: Vec::new(),
            limit: None,
            select: Select::All,
            cursor: None,
            consistency: Consistency::Strong,
        }
    }
}

impl Query {
    /// Every item of `target` that `filter` accepts.
    pub fn new(target: Target, filter: Cond) -> Query {
        Query {
            target,
            filter,
            ..Query::default()
        }
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Sorted in `order` (reversed when `reverse`).
    pub fn ordered<T>(mut self, order: &Order<T>, reverse: bool) -> Query {
        self.order = order
            .fields
            .iter()
            .map(|f| Sort {
                attr: f.attr,
                descending: f.descending != reverse,
            })
            .collect();
        self
    }

    /// At most `limit` items.
    pub fn limit(mut self, limit: Option<usize>) -> Query {
        self.limit = limit;
        self
    }

    /// Only these attributes.
    pub fn select(mut self, select: Select) -> Query {
        self.select = select;
        self
    }

    /// Read with this consistency.
    pub fn consistency(mut self, consistency: Consistency) -> Query {
        self.consistency = consistency;
        self
    }

    /// With this sort-key condition.
    pub fn range(mut self, range: RangeCond) -> Query {
        self.range = range;
        self
    }

    /// The sort key of `item` for this query's target.
    pub fn sort_key<'a>(&self, item: &'a Item) -> Option<&'a Attr> {
        match self.target() {
            Target::Index { index, .. } => item.get(index.range),
            _ => item.get(SK),
        }
    }

    /// Whether `item` (of `table`) belongs to the target, satisfies the
    /// range and the filter.
    pub fn accepts(&self, item: &Item) -> bool {
        let in_target = match self.target() {
            Target::Partition(pk) => matches!(item.get(PK), Some(Attr::S(p)) if p == pk),
            Target::Index { index, hash } => {
                item.get(index.hash)
                    .is_some_and(|v| compare_attrs(Some(v), Some(hash)).is_eq())
                    && item.contains_key(index.range)
            }
            Target::Table => true,
        };
        in_target && self.range.holds(self.sort_key(item)) && self.filter.eval(Some(item))
    }

    /// Compares two items in this query's order, ties by `pk` then `sk`.
    pub fn compare(&self, a: &Item, b: &Item) -> Ordering {
        for s in &self.order {
            let c = compare_attrs(a.get(s.attr), b.get(s.attr));
            let c = if s.descending { c.reverse() } else { c };
            if c.is_ne() {
                return c;
            }
        }
        compare_attrs(a.get(PK), b.get(PK)).then_with(|| compare_attrs(a.get(SK), b.get(SK)))
    }

    /// The attributes `item` carries in the result: the index projection
    /// for an index query, then [`Query::select`].
    pub fn project(&self, table: Table, mut item: Item) -> Item {
        if let Target::Index { index, .. } = self.target() {
            let def = table.def();
            let keep = def.projected(index);
            let keep_all = matches!(index.projection, Projection::All);
            if !keep_all {
                item.retain(|k, _| {
                    k == PK
                        || k == SK
                        || k == index.hash
                        || k == index.range
                        || keep.contains(&k.as_str())
                });
            }
        }
        self.select.project(item)
    }
}

impl Query {
    /// The cursor resuming after `item` in this query's order: the item's
    /// order attributes and keys (what every driver's cursor is).
    pub fn cursor_after(&self, item: &Item) -> Result<Cursor> {
        let mut at = Item::new();
        for name in self.order.iter().map(|s| s.attr).chain([PK, SK]) {
            if let Some(v) = item.get(name) {
                at.insert(name.to_string(), v.clone());
            }
        }
        serde_json::to_string(&at).map_err(|e| Error::backend(format!("cursor: {e}")))
    }

    /// Keeps the first [`Query::limit`] of `items` (already in this query's
    /// order); the cursor after the last one kept when some were left out,
    /// so the next page starts there.
    pub fn truncate_to_limit(&self, items: &mut Vec<Item>) -> Result<Option<Cursor>> {
        match self.limit {
            Some(limit) if items.len() > limit => {
                items.truncate(limit);
                items.last().map(|last| self.cursor_after(last)).transpose()
            }
            _ => Ok(None),
        }
    }
}

/// The input error of a cursor no query of this kind returned.
pub fn invalid_cursor() -> Error {
    Error::invalid(
        "cursor",
        "not a cursor returned by this query; start without one",
    )
}

/// The item (order attributes and keys) a cursor of
/// [`Query::cursor_after`] names; anything else is [`invalid_cursor`].
pub fn parse_cursor(cursor: &str) -> Result<Item> {
    serde_json::from_str(cursor).map_err(|_| invalid_cursor())
}

/// One page of a [`Query`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    /// The items, in the query's order.
    pub items: Vec<Item>,
    /// Where the next page starts; `None` when this was the last.
    pub cursor: Option<Cursor>,
}

/// Compares two attribute values as sort keys: absent first, then numbers
/// by value, strings by bytes, then any other type by its type name.
pub fn compare_attrs(a: Option<&Attr>, b: Option<&Attr>) -> Ordering {
    fn rank(a: Option<&Attr>) -> u8 {
        match a {
            None | Some(Attr::Null) => 0,
            Some(Attr::N(_)) => 1,
            Some(Attr::S(_)) => 2,
            Some(Attr::B(_)) => 3,
            Some(Attr::Bool(_)) => 4,
            Some(_) => 5,
        }
    }
    match (a, b) {
        (Some(Attr::N(x)), Some(Attr::N(y))) => {
            match (x.trim().parse::<i64>(), y.trim().parse::<i64>()) {
                (Ok(x), Ok(y)) => x.cmp(&y),
                _ => {
                    let x: f64 = x.trim().parse().unwrap_or(f64::NAN);
                    let y: f64 = y.trim().parse().unwrap_or(f64::NAN);
                    x.total_cmp(&y)
                }
            }
        }
        (Some(Attr::S(x)), Some(Attr::S(y))) => x.as_bytes().cmp(y.as_bytes()),
        (Some(Attr::B(x)), Some(Attr::B(y))) => x.cmp(y),
        (Some(Attr::Bool(x)), Some(Attr::Bool(y))) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// A read-modify-write on one item: a [`Rule`] without its outcomes, which
/// the core keeps (see [`execute`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    /// The table.
    pub table: Table,
    /// Partition key of the item.
    pub pk: String,
    /// Sort key of the item.
    pub sk: String,
    /// The guarded changes, tried in order.
    pub branches: Vec<(Cond, Effect)>,
}

/// What a [`Mutation`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The branch that applied, `None` when none did.
    pub branch: Option<usize>,
    /// After an update, the item as written; after a delete, the item
    /// deleted; when no branch applied, the item as stored (`None`: missing).
    pub item: Option<Item>,
}

impl Mutation {
    /// The mutation of `rule`.
    pub fn of<T>(rule: &Rule<T>) -> Mutation {
        Mutation {
            table: rule.table,
            pk: rule.pk.clone(),
            sk: rule.sk.clone(),
            branches: rule
                .branches
                .iter()
                .map(|b| (b.when.clone(), b.effect.clone()))
                .collect(),
        }
    }

    /// Evaluates the mutation on the stored item (`None`: missing): what to
    /// write and what happened. A driver that can lock the item reads it,
    /// calls this and writes the result, all under the lock.
    pub fn apply(&self, current: Option<&Item>) -> Result<(Write, Applied)> {
        let Some(i) = self.branches.iter().position(|(c, _)| c.eval(current)) else {
            let applied = Applied {
                branch: None,
                item: current.cloned(),
            };
            return Ok((Write::Nothing, applied));
        };
        let rule: Rule<()> = Rule::new(self.table, self.pk.clone(), self.sk.clone(), |_| Ok(()));
        match &self.branches[i].1 {
            Effect::Update(actions) => {
                let item = rule.updated(current, actions)?;
                let applied = Applied {
                    branch: Some(i),
                    item: Some(item.clone()),
                };
                Ok((Write::Put(item), applied))
            }
            Effect::Delete => Ok((
                Write::Delete,
                Applied {
                    branch: Some(i),
                    item: current.cloned(),
                },
            )),
        }
    }
}

/// Carries out `rule` on `driver` and decides its outcome in the core.
pub async fn execute<T>(driver: &dyn Driver, rule: Rule<T>) -> Result<T> {
    let applied = driver.execute(Mutation::of(&rule)).await?;
    match applied.branch {
        Some(i) => match rule.branches.get(i) {
            Some(b) => (b.then)(applied.item.as_ref()),
            None => Err(Error::backend(format!(
                "{}: the driver applied branch {i} of a rule with {}",
                rule.table,
                rule.branches.len()
            ))),
        },
        None => (rule.otherwise)(applied.item.as_ref()),
    }
}

/// Whether an attribute of type `ty` may hold `attr` (the stores' shared
/// mapping: `NULL` anywhere, raw bytes anywhere as a damaged value).
fn fits(ty: AttrType, attr: &Attr) -> bool {
    matches!(
        (ty, attr),
        (_, Attr::Null)
            | (_, Attr::B(_))
            | (AttrType::S, Attr::S(_))
            | (AttrType::Int | AttrType::Float | AttrType::B, Attr::N(_))
            | (AttrType::Bool, Attr::Bool(_))
            | (AttrType::M, Attr::M(_))
            | (
                AttrType::Any,
                Attr::S(_) | Attr::N(_) | Attr::Bool(_) | Attr::M(_) | Attr::L(_)
            )
    )
}

/// Checks an item before a driver writes it into `table`, as every store
/// does: [`check_item`] (storable values, at most 400 KB), non-empty string
/// keys, and only the table's attributes, each of its type.
pub fn check_put(table: Table, item: &Item) -> Result<()> {
    let def = table.def();
    let what = match (item.get(PK), item.get(SK)) {
        (Some(Attr::S(pk)), Some(Attr::S(sk))) => format!("{table} item {pk}/{sk}"),
        _ => format!("{table} item"),
    };
    check_item(&what, item)?;
    for key in [PK, SK] {
        match item.get(key) {
            Some(Attr::S(s)) if !s.is_empty() => {}
            _ => {
                return Err(Error::invalid(
                    key,
                    format!("{table}: every item needs a non-empty string {key}"),
                ))
            }
        }
    }
    for (name, attr) in item {
        if name == PK || name == SK {
            continue;
        }
        let Some(a) = def.attr(name) else {
            return Err(Error::invalid(
                name.as_str(),
                format!("{table} has no attribute {name}"),
            ));
        };
        if !fits(a.ty, attr) {
            return Err(Error::invalid(
                name.as_str(),
                format!(
                    "{table}: attribute {name} is {} but the schema says {:?}",
                    attr.type_name(),
                    a.ty
                ),
            ));
        }
    }
    Ok(())
}

/// The `(pk, sk)` of an item, if both are strings.
pub fn key_of(item: &Item) -> Option<(String, String)> {
    match (item.get(PK), item.get(SK)) {
        (Some(Attr::S(pk)), Some(Attr::S(sk))) => Some((pk.clone(), sk.clone())),
        _ => None,
    }
}

/// How many keys an error message lists before summarising the rest.
const LIST_KEYS: usize = 20;

/// `keys` (as `pk/sk`) for an error message naming what was not written:
/// the first 20, then "and N more".
pub fn list_keys(keys: &[String]) -> String {
    let mut s = keys
        .iter()
        .take(LIST_KEYS)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if keys.len() > LIST_KEYS {
        s.push_str(&format!(" and {} more", keys.len() - LIST_KEYS));
    }
    s
}

/// A storage driver (see the module docs for the contract). Twelve
/// required methods; [`Driver::get`], [`Driver::put`] and
/// [`Driver::delete`] are provided on top of the batch calls,
/// [`Driver::query_all`], [`Driver::count`], [`Driver::partitions`] and
/// [`Driver::delete_where`] on top of [`Driver::query`], and
/// [`Driver::replace_batch`] and [`Driver::put_then_delete_where`] on top
/// of both (a store may override them with something cheaper that means
/// the same; an atomic store overrides the last two).
#[async_trait]
pub trait Driver: Send + Sync + Debug + 'static {
    /// What this driver can do.
    fn capabilities(&self) -> Capabilities;

    /// A one-line description of where the data lives (never with credentials).
    fn describe(&self) -> String;

    /// Creates the seven tables, their indexes and TTL if missing
    /// (idempotent), repairing what an older layout lacks. Long waits (an
    /// index DynamoDB backfills) report to `progress`; the core reports
    /// each repair itself.
    async fn create_tables(&self, progress: crate::admin::Progress<'_>) -> Result<()>;

    /// Deletes this namespace's tables and their items (and nothing else).
    async fn drop_tables(&self) -> Result<()>;

    /// The tables of this namespace that exist, by their store name.
    async fn list_tables(&self) -> Result<Vec<String>>;

    /// The differences of the live tables from the declared ones, in table
    /// order, as [`crate::drift::compare`] states them from the driver's
    /// description of each table; changes nothing. Empty when every table
    /// matches. [`Driver::create_tables`] repairs what can be repaired in
    /// place ([`crate::drift::Repair::InPlace`]).
    async fn check_tables(&self) -> Result<Vec<crate::drift::Drift>>;

    /// The items of `table` at these `(pk, sk)` keys (expired ones
    /// included), with the selected attributes, read with `consistency`,
    /// in no particular order; keys without an item are left out.
    async fn get_batch(
        &self,
        table: Table,
        keys: Vec<(String, String)>,
        select: Select,
        consistency: Consistency,
    ) -> Result<Vec<Item>>;

    /// Writes whole items (replacing items with the same keys), each checked
    /// by [`check_put`] before anything is written.
    async fn put_batch(&self, table: Table, items: Vec<Item>) -> Result<()>;

    /// Deletes the items at these keys; how many existed.
    async fn delete_batch(&self, table: Table, keys: Vec<(String, String)>) -> Result<usize>;

    /// One page of `query` on `table`.
    async fn query(&self, table: Table, query: &Query) -> Result<Page>;

    /// One page of the raw items of `table` in key order (expired ones
    /// included), at most `limit`, continuing after `cursor`.
    async fn scan_page(
        &self,
        table: Table,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<ScanPage>;

    /// Carries out `mutation` atomically on its item.
    async fn execute(&self, mutation: Mutation) -> Result<Applied>;

    /// The item at (`pk`, `sk`), expired or not.
    async fn get(
        &self,
        table: Table,
        pk: &str,
        sk: &str,
        select: Select,
        consistency: Consistency,
    ) -> Result<Option<Item>> {
        let keys = vec![(pk.to_string(), sk.to_string())];
        Ok(self
            .get_batch(table, keys, select, consistency)
            .await?
            .into_iter()
            .next())
    }

    /// Writes one whole item.
    async fn put(&self, table: Table, item: Item) -> Result<()> {
        self.put_batch(table, vec![item]).await
    }

    /// Deletes the items at `deletes`, then writes `puts` (each checked by
    /// [`check_put`] first): on a store whose batches are atomic
    /// ([`Capabilities::atomic_batch`]) as one all-or-nothing write that no
    /// reader sees part of. At most [`Capabilities::max_batch_write`]
    /// deletes and [`Capabilities::put_batch_items`] puts. The default is
    /// [`Driver::delete_batch`] then [`Driver::put_batch`]; an atomic store
    /// overrides it.
    async fn replace_batch(
        &self,
        table: Table,
        deletes: Vec<(String, String)>,
        puts: Vec<Item>,
    ) -> Result<()> {
        if !deletes.is_empty() {
            self.delete_batch(table, deletes).await?;
        }
        self.put_batch(table, puts).await
    }

    /// Writes `puts` (each checked by [`check_put`] first), then deletes
    /// every item each of `deletes` matches (their limits and cursors
    /// unset): on a store whose batches are atomic
    /// ([`Capabilities::atomic_batch`]) as one all-or-nothing write. At most
    /// [`Capabilities::put_batch_items`] puts. The default is
    /// [`Driver::put_batch`], then [`Driver::delete_where`] for each query,
    /// so a failure between them leaves the new items beside the old ones,
    /// never neither; an atomic store overrides it.
    async fn put_then_delete_where(
        &self,
        table: Table,
        puts: Vec<Item>,
        deletes: Vec<Query>,
    ) -> Result<()> {
        self.put_batch(table, puts).await?;
        for query in deletes {
            self.delete_where(table, query).await?;
        }
        Ok(())
    }

    /// Deletes the item at (`pk`, `sk`); whether there was one.
    async fn delete(&self, table: Table, pk: &str, sk: &str) -> Result<bool> {
        let keys = vec![(pk.to_string(), sk.to_string())];
        Ok(self.delete_batch(table, keys).await? > 0)
    }

    /// Every page of `query`, up to its limit.
    async fn query_all(&self, table: Table, query: Query) -> Result<Vec<Item>> {
        let mut query = query;
        let mut out = Vec::new();
        loop {
            let page = self.query(table, &query).await?;
            out.extend(page.items);
            let full = query.limit.is_some_and(|l| out.len() >= l);
            match page.cursor {
                Some(c) if !full => query.cursor = Some(c),
                _ => break,
            }
        }
        if let Some(l) = query.limit {
            out.truncate(l);
        }
        Ok(out)
    }

    /// How many items `query` returns (up to its limit). A store that can
    /// count without reading the items (SQLite's `COUNT(*)`) overrides it.
    async fn count(&self, table: Table, query: Query) -> Result<usize> {
        Ok(self
            .query_all(table, query.select(Select::Keys))
            .await?
            .len())
    }

    /// The distinct partition keys (`pk`) of `table`, ascending. A store
    /// that can skip from one partition to the next (SQLite's skip scan
    /// over its primary key) overrides the pass over every key.
    async fn partitions(&self, table: Table) -> Result<Vec<String>> {
        let q = Query::new(Target::Table, Cond::True).select(Select::Keys);
        let mut pks: Vec<String> = self
            .query_all(table, q)
            .await?
            .iter()
            .filter_map(key_of)
            .map(|(pk, _)| pk)
            .collect();
        pks.sort();
        pks.dedup();
        Ok(pks)
    }

    /// Deletes every item of `query` (by key, in batches); how many.
    async fn delete_where(&self, table: Table, query: Query) -> Result<usize> {
        let items = self.query_all(table, query.select(Select::Keys)).await?;
        let keys: Vec<(String, String)> = items.iter().filter_map(key_of).collect();
        let mut deleted = 0;
        let batch = self.capabilities().max_batch_write.max(1);
        for chunk in keys.chunks(batch) {
            deleted += self.delete_batch(table, chunk.to_vec()).await?;
        }
        Ok(deleted)
    }
}
