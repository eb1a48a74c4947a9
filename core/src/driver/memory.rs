//! [`InMemory`]: a [`Driver`] that keeps every table in memory, for users'
//! unit tests (like `object_store`'s `InMemory`) and as the reference the
//! other drivers are compared with. `memory://` opens one.
//!
//! Each table is a `BTreeMap` ordered by `(pk, sk)`; a partition query is a
//! range of it, an index query a pass over the table that keeps the items
//! carrying the index's hash value (and its range attribute), projected as
//! the schema says. One mutex guards the whole store, so every call (a
//! batch, a mutation) is atomic and the store is linearizable.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::{
    check_put, parse_cursor, Applied, Capabilities, Consistency, Cursor, Driver, Mutation, Page,
    Query, Select, Target,
};
use crate::admin::{check_scan_limit, parse_scan_cursor, scan_cursor, ScanPage};
use crate::drift::{self, Drift};
use crate::error::{Error, Result};
use crate::item::Item;
use crate::mutation::Write;
use crate::schema::Table;

type Rows = BTreeMap<(String, String), Item>;

/// The most items one write batch carries (the core splits larger ones).
const MAX_BATCH_WRITE: usize = 1000;
/// The most keys one read batch carries.
const MAX_BATCH_GET: usize = 1000;
/// Write calls the core may keep in flight: the store serialises them, so
/// more only queue.
const WRITES_IN_FLIGHT: usize = 4;

/// An in-memory store of the seven tables (see the module docs).
#[derive(Debug)]
pub struct InMemory {
    name: String,
    /// `None` for a table that does not exist (after [`Driver::drop_tables`]).
    tables: Mutex<BTreeMap<Table, Rows>>,
}

impl Default for InMemory {
    fn default() -> Self {
        InMemory::new()
    }
}

impl InMemory {
    /// A store with its seven tables created and empty.
    pub fn new() -> InMemory {
        InMemory::named("memory://")
    }

    /// A store described as `name` (for example its `memory://` URL).
    pub fn named(name: impl Into<String>) -> InMemory {
        InMemory {
            name: name.into(),
            tables: Mutex::new(Table::ALL.into_iter().map(|t| (t, Rows::new())).collect()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Table, Rows>> {
        // A panic while holding the lock leaves whole items only (every
        // write is one insert or remove), so a poisoned lock is still sound.
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn missing(&self, table: Table) -> Error {
        Error::missing_table(table.name(), self.name.clone())
    }
}

/// Checks every item ([`check_put`]) before any is written.
fn check_all(table: Table, items: &[Item]) -> Result<()> {
    items.iter().try_for_each(|item| check_put(table, item))
}

/// Writes whole items into `rows`, replacing those with the same keys.
fn insert_all(rows: &mut Rows, items: Vec<Item>) {
    for item in items {
        if let Some(key) = super::key_of(&item) {
            rows.insert(key, item);
        }
    }
}

fn rows_of<'a>(
    tables: &'a mut BTreeMap<Table, Rows>,
    table: Table,
    store: &InMemory,
) -> Result<&'a mut Rows> {
    tables.get_mut(&table).ok_or_else(|| store.missing(table))
}

/// The cursor resuming after `item` in `query`'s order: the item's order
/// attributes and keys.
#[async_trait]
impl Driver for InMemory {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            name: "memory",
            max_batch_write: MAX_BATCH_WRITE,
            max_batch_get: MAX_BATCH_GET,
            writes_in_flight: WRITES_IN_FLIGHT,
            atomic_batch: true,
            server_side_ttl: false,
        }
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    async fn create_tables(&self, _progress: crate::admin::Progress<'_>) -> Result<()> {
        let mut tables = self.lock();
        for t in Table::ALL {
            tables.entry(t).or_default();
        }
        Ok(())
    }

    async fn drop_tables(&self) -> Result<()> {
        self.lock().clear();
        Ok(())
    }

    async fn list_tables(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self.lock().keys().map(|t| t.name().to_string()).collect();
        names.sort();
        Ok(names)
    }

    async fn check_tables(&self) -> Result<Vec<Drift>> {
        // The memory store's tables are made from the declaration, so a
        // table is either as declared or missing.
        let tables = self.lock();
        Ok(Table::ALL
            .into_iter()
            .flat_map(|t| {
                let live = tables
                    .contains_key(&t)
                    .then(|| drift::declared(t, t.name()));
                drift::compare(t, t.name(), live.as_ref())
            })
            .collect())
    }

    async fn get_batch(
        &self,
        table: Table,
        keys: Vec<(String, String)>,
        select: Select,
        _consistency: Consistency,
    ) -> Result<Vec<Item>> {
        let mut tables = self.lock();
        let rows = rows_of(&mut tables, table, self)?;
        Ok(keys
            .into_iter()
            .filter_map(|k| rows.get(&k).cloned())
            .map(|i| select.project(i))
            .collect())
    }

    async fn put_batch(&self, table: Table, items: Vec<Item>) -> Result<()> {
        check_all(table, &items)?;
        let mut tables = self.lock();
        let rows = rows_of(&mut tables, table, self)?;
        insert_all(rows, items);
        Ok(())
    }

    async fn replace_batch(
        &self,
        table: Table,
        deletes: Vec<(String, String)>,
        puts: Vec<Item>,
    ) -> Result<()> {
        check_all(table, &puts)?;
        let mut tables = self.lock();
        let rows = rows_of(&mut tables, table, self)?;
        for key in &deletes {
            rows.remove(key);
        }
        insert_all(rows, puts);
        Ok(())
    }

    async fn put_then_delete_where(
        &self,
        table: Table,
        puts: Vec<Item>,
        deletes: Vec<Query>,
    ) -> Result<()> {
        check_all(table, &puts)?;
        let mut tables = self.lock();
        let rows = rows_of(&mut tables, table, self)?;
        insert_all(rows, puts);
        rows.retain(|_, item| !deletes.iter().any(|q| q.accepts(item)));
        Ok(())
    }

    async fn delete_batch(&self, table: Table, keys: Vec<(String, String)>) -> Result<usize> {
        let mut tables = self.lock();
        let rows = rows_of(&mut tables, table, self)?;
        Ok(keys.iter().filter(|k| rows.remove(*k).is_some()).count())
    }

    async fn query(&self, table: Table, query: &Query) -> Result<Page> {
        let after = query.cursor.as_deref().map(parse_cursor).transpose()?;
        let mut items: Vec<Item> = {
            let mut tables = self.lock();
            let rows = rows_of(&mut tables, table, self)?;
            let keep = |i: &&Item| {
                query.accepts(i) && after.as_ref().is_none_or(|a| query.compare(i, a).is_gt())
            };
            match query.target() {
                Target::Partition(pk) => rows
                    .range((pk.clone(), String::new())..)
                    .take_while(|((p, _), _)| p == pk)
                    .map(|(_, i)| i)
                    .filter(keep)
                    .cloned()
                    .collect(),
                Target::Index { .. } | Target::Table => {
                    rows.values().filter(keep).cloned().collect()
                }
            }
        };
        items.sort_by(|a, b| query.compare(a, b));
        let cursor = query.truncate_to_limit(&mut items)?;
        let items = items.into_iter().map(|i| query.project(table, i)).collect();
        Ok(Page { items, cursor })
    }

    async fn scan_page(
        &self,
        table: Table,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<ScanPage> {
        check_scan_limit(limit)?;
        let after = cursor.as_deref().map(parse_scan_cursor).transpose()?;
        let mut tables = self.lock();
        let rows = rows_of(&mut tables, table, self)?;
        let mut iter: Box<dyn Iterator<Item = (&(String, String), &Item)>> = match after {
            None => Box::new(rows.iter()),
            Some(k) => Box::new(
                rows.range(k.clone()..)
                    .skip_while(move |(key, _)| **key == k),
            ),
        };
        let items: Vec<Item> = iter.by_ref().take(limit).map(|(_, i)| i.clone()).collect();
        let more = iter.next().is_some();
        let cursor = match items.last().and_then(super::key_of) {
            Some((pk, sk)) if more => Some(scan_cursor(&pk, &sk)),
            _ => None,
        };
        Ok(ScanPage { items, cursor })
    }

    async fn execute(&self, mutation: Mutation) -> Result<Applied> {
        let mut tables = self.lock();
        let rows = rows_of(&mut tables, mutation.table, self)?;
        let key = (mutation.pk.clone(), mutation.sk.clone());
        let (write, applied) = mutation.apply(rows.get(&key))?;
        match write {
            Write::Put(item) => {
                check_put(mutation.table, &item)?;
                rows.insert(key, item);
            }
            Write::Delete => {
                rows.remove(&key);
            }
            Write::Nothing => {}
        }
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cond::{CmpOp, Cond};
    use crate::driver::{RangeCond, Sort};
    use crate::item::Attr;
    use crate::mutation::{Action, Effect};
    use crate::schema::{PK, SK};

    fn item(pk: &str, sk: &str, status: &str, created: i64) -> Item {
        Item::from([
            (PK.to_string(), Attr::s(pk)),
            (SK.to_string(), Attr::s(sk)),
            ("status".to_string(), Attr::s(status)),
            ("created_at".to_string(), Attr::int(created)),
        ])
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn queries_filter_before_the_limit_and_resume_after_the_cursor() {
        block_on(async {
            let m = InMemory::new();
            let t = Table::TaskQueue;
            let items = (0..6)
                .map(|i| {
                    item(
                        "P",
                        &format!("T{i}"),
                        if i % 2 == 0 { "a" } else { "b" },
                        10 - i,
                    )
                })
                .chain([item("Q", "T9", "a", 0)])
                .collect();
            m.put_batch(t, items).await.unwrap();
            let q = Query {
                order: vec![Sort {
                    attr: "created_at",
                    descending: false,
                }],
                ..Query::new(Target::Partition("P".into()), Cond::eq_s("status", "a"))
            }
            .limit(Some(2));
            let page = m.query(t, &q).await.unwrap();
            let sks: Vec<_> = page.items.iter().map(|i| i[SK].clone()).collect();
            assert_eq!(sks, [Attr::s("T4"), Attr::s("T2")]);
            let next = Query {
                cursor: page.cursor.clone(),
                ..q.clone()
            };
            let rest = m.query(t, &next).await.unwrap();
            assert_eq!(rest.items.len(), 1);
            assert_eq!(rest.items[0][SK], Attr::s("T0"));
            assert_eq!(rest.cursor, None);
            let ranged = Query::new(Target::Partition("P".into()), Cond::True)
                .range(RangeCond::Between(Attr::s("T1"), Attr::s("T3")));
            assert_eq!(m.query_all(t, ranged).await.unwrap().len(), 3);
            let old = Query::new(Target::Table, Cond::Cmp("created_at", CmpOp::Lt, 6));
            assert_eq!(m.delete_where(t, old).await.unwrap(), 2);
        });
    }

    #[test]
    fn mutations_apply_the_first_branch_that_holds() {
        block_on(async {
            let m = InMemory::new();
            let t = Table::TaskQueue;
            let add = |n| Mutation {
                table: t,
                pk: "P".into(),
                sk: "T".into(),
                branches: vec![
                    (
                        Cond::Exists.not(),
                        Effect::Update(vec![("priority", Action::Set(Attr::int(n)))]),
                    ),
                    (
                        Cond::Exists,
                        Effect::Update(vec![("priority", Action::Add(n))]),
                    ),
                ],
            };
            assert_eq!(m.execute(add(2)).await.unwrap().branch, Some(0));
            let second = m.execute(add(3)).await.unwrap();
            assert_eq!(second.branch, Some(1));
            assert_eq!(second.item.unwrap()["priority"], Attr::int(5));
            let bad = Mutation {
                branches: vec![(
                    Cond::Exists,
                    Effect::Update(vec![("nope", Action::Set(Attr::int(1)))]),
                )],
                ..add(0)
            };
            assert!(matches!(
                m.execute(bad).await,
                Err(Error::InvalidInput { .. })
            ));
        });
    }

    #[test]
    fn dropped_tables_are_missing_until_created() {
        block_on(async {
            let m = InMemory::new();
            assert_eq!(m.check_tables().await.unwrap(), vec![]);
            m.drop_tables().await.unwrap();
            let drifts = m.check_tables().await.unwrap();
            assert_eq!(drifts.len(), Table::ALL.len());
            assert!(drifts
                .iter()
                .all(|d| matches!(d, Drift::MissingTable { .. })));
            assert!(matches!(
                m.put(Table::Scores, Item::new()).await,
                Err(Error::InvalidInput { .. })
            ));
            m.create_tables(&|_| {}).await.unwrap();
            assert_eq!(m.list_tables().await.unwrap().len(), 7);
        });
    }
}
