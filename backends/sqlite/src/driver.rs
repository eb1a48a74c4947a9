//! [`SqliteDriver`]: the core's storage [`Driver`] on one SQLite database.
//!
//! Items are rows (`row` maps them), queries are one `SELECT` each
//! (`query`), mutations read the row, let the core decide
//! ([`Mutation::apply`]) and write what it says inside one `BEGIN
//! IMMEDIATE` transaction, so every mutation is atomic, also against other
//! processes. Every batch is one transaction (all or nothing). Counting,
//! listing partitions and deleting by query are single statements (the
//! driver's cheaper forms of [`Driver::count`], [`Driver::partitions`] and
//! [`Driver::delete_where`]).

use std::path::Path;
use std::sync::Arc;

use affine_db_core::drift::Drift;
use affine_db_core::driver::{
    check_put, invalid_cursor, parse_cursor, Applied, Capabilities, Consistency, Cursor, Driver,
    Mutation, Page, Query, Select,
};
use affine_db_core::mutation::Write;
use affine_db_core::schema::Table;
use affine_db_core::{Item, Result, ScanPage};
use async_trait::async_trait;
use rusqlite::params;

use crate::db::{self, ident, Db, OpenMode, SqlResult};
use crate::row::{self, Cols};
use crate::sql::Sql;
use crate::{query, scan};

/// Rows one write batch carries (one transaction per batch).
const MAX_BATCH_WRITE: usize = 500;
/// Keys one read batch carries (one read transaction).
const MAX_BATCH_GET: usize = 500;

/// The storage driver of one SQLite database file (or a private in-memory
/// database); see the module docs.
#[derive(Debug)]
pub struct SqliteDriver {
    db: Db,
}

impl SqliteDriver {
    /// Opens the database file in `mode` (see [`OpenMode`]): only
    /// [`OpenMode::Create`] creates a missing file, and
    /// [`OpenMode::ReadOnly`] changes nothing in the file.
    ///
    /// A writing open switches the file to WAL and brings its schema to
    /// [`crate::SCHEMA_VERSION`]; a file written by a newer build is
    /// refused with [`Error::Backend`], a file of another application with
    /// [`Error::InvalidInput`] (and left unchanged).
    pub async fn open(path: impl AsRef<Path>, mode: OpenMode) -> Result<Arc<SqliteDriver>> {
        let db = Db::open(path.as_ref(), mode).await?;
        Ok(Arc::new(SqliteDriver { db }))
    }

    /// A private in-memory database on one connection (for tests).
    pub async fn open_in_memory() -> Result<Arc<SqliteDriver>> {
        let db = Db::open_in_memory().await?;
        Ok(Arc::new(SqliteDriver { db }))
    }

    /// The database file, `None` for an in-memory database.
    pub fn path(&self) -> Option<&Path> {
        self.db.path()
    }

    /// How the database was opened.
    pub fn mode(&self) -> OpenMode {
        self.db.mode()
    }

    /// The file's `PRAGMA application_id` ([`crate::APPLICATION_ID`] once
    /// this tool has written it).
    pub async fn application_id(&self) -> Result<i32> {
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
        self.db
            .write(|conn| conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).db())
            .await
    }

    /// The connections (for the crate's query-plan tests).
    #[cfg(test)]
    pub(crate) fn db(&self) -> &Db {
        &self.db
    }
}

/// A count or delete covers every match of its query: a cursor (which
/// resumes a page of [`Driver::query`]) is refused.
fn refuse_cursor(query: &Query) -> Result<()> {
    match query.cursor {
        Some(_) => Err(invalid_cursor()),
        None => Ok(()),
    }
}

#[async_trait]
impl Driver for SqliteDriver {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            name: "sqlite",
            max_batch_write: MAX_BATCH_WRITE,
            max_batch_get: MAX_BATCH_GET,
            // One writer connection: more writes in flight only queue.
            writes_in_flight: 1,
            atomic_batch: true,
            server_side_ttl: false,
        }
    }

    fn describe(&self) -> String {
        self.db.name().to_string()
    }

    async fn create_tables(&self, _progress: affine_db_core::admin::Progress<'_>) -> Result<()> {
        // The repairs run in one transaction: a refusal or a failure rolls
        // every one of them back.
        self.db.write_tx(|tx| crate::live::init(tx)).await?;
        Ok(())
    }

    async fn drop_tables(&self) -> Result<()> {
        self.db.write_tx(|tx| db::drop_tables(tx)).await
    }

    async fn list_tables(&self) -> Result<Vec<String>> {
        let names: Vec<String> = self
            .db
            .read(|tx| {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT \"name\" FROM \"sqlite_master\" \
                         WHERE \"type\" = 'table' ORDER BY \"name\"",
                    )
                    .db()?;
                let rows = stmt.query_map([], |r| r.get(0)).db()?;
                rows.collect::<rusqlite::Result<Vec<String>>>().db()
            })
            .await?;
        Ok(names
            .into_iter()
            .filter(|n| Table::ALL.iter().any(|t| t.name() == n))
            .collect())
    }

    async fn check_tables(&self) -> Result<Vec<Drift>> {
        self.db.read(|tx| crate::live::check(tx)).await
    }

    async fn get_batch(
        &self,
        table: Table,
        keys: Vec<(String, String)>,
        select: Select,
        _consistency: Consistency,
    ) -> Result<Vec<Item>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.db
            .read(move |tx| {
                let cols = Cols::picked(table, |name| select.keeps(name));
                let sql = cols.select("WHERE \"pk\" = ?1 AND \"sk\" = ?2");
                let mut out = Vec::with_capacity(keys.len());
                for (pk, sk) in &keys {
                    out.extend(cols.query(tx, &sql, params![pk, sk])?);
                }
                Ok(out)
            })
            .await
    }

    async fn put_batch(&self, table: Table, items: Vec<Item>) -> Result<()> {
        let rows = checked_rows(table, &items)?;
        if rows.is_empty() {
            return Ok(());
        }
        self.db
            .write_tx(move |tx| {
                for r in rows {
                    row::put_row(tx, table, r)?;
                }
                Ok(())
            })
            .await
    }

    async fn replace_batch(
        &self,
        table: Table,
        deletes: Vec<(String, String)>,
        puts: Vec<Item>,
    ) -> Result<()> {
        let rows = checked_rows(table, &puts)?;
        self.db
            .write_tx(move |tx| {
                for (pk, sk) in &deletes {
                    row::delete_item(tx, table, pk, sk)?;
                }
                for r in rows {
                    row::put_row(tx, table, r)?;
                }
                Ok(())
            })
            .await
    }

    async fn delete_batch(&self, table: Table, keys: Vec<(String, String)>) -> Result<usize> {
        if keys.is_empty() {
            return Ok(0);
        }
        self.db
            .write_tx(move |tx| {
                let mut n = 0;
                for (pk, sk) in &keys {
                    n += usize::from(row::delete_item(tx, table, pk, sk)?);
                }
                Ok(n)
            })
            .await
    }

    async fn query(&self, table: Table, query: &Query) -> Result<Page> {
        let at = query.cursor.as_deref().map(parse_cursor).transpose()?;
        // One row past the limit tells whether another page follows.
        let rows = query.limit.map(|l| l.saturating_add(1));
        let (cols, sql) = query::page(table, query, at.as_ref(), rows, true)?;
        let mut items = self
            .db
            .read(move |tx| cols.query(tx, &sql.text, rusqlite::params_from_iter(sql.params)))
            .await?;
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
        scan::page(&self.db, table, cursor, limit).await
    }

    async fn execute(&self, mutation: Mutation) -> Result<Applied> {
        self.db
            .write_tx(move |tx| {
                let table = mutation.table;
                let current = row::get_raw(tx, table, &mutation.pk, &mutation.sk)?;
                let (write, applied) = mutation.apply(current.as_ref())?;
                match write {
                    Write::Put(item) => {
                        check_put(table, &item)?;
                        row::put_item(tx, table, &item)?;
                    }
                    Write::Delete => {
                        row::delete_item(tx, table, &mutation.pk, &mutation.sk)?;
                    }
                    Write::Nothing => {}
                }
                Ok(applied)
            })
            .await
    }

    async fn count(&self, table: Table, query: Query) -> Result<usize> {
        refuse_cursor(&query)?;
        let mut w = query::condition(table, &query)?;
        let from = match query.limit {
            None => format!("{} WHERE {}", ident(table.name()), w.text),
            Some(limit) => {
                w.params.push(rusqlite::types::Value::Integer(
                    limit.try_into().unwrap_or(i64::MAX),
                ));
                format!(
                    "(SELECT 1 FROM {} WHERE {} LIMIT ?)",
                    ident(table.name()),
                    w.text
                )
            }
        };
        let n: i64 = self
            .db
            .read(move |tx| {
                tx.prepare_cached(&format!("SELECT COUNT(*) FROM {from}"))
                    .db()?
                    .query_row(rusqlite::params_from_iter(w.params), |r| r.get(0))
                    .db()
            })
            .await?;
        Ok(usize::try_from(n).unwrap_or_default())
    }

    async fn partitions(&self, table: Table) -> Result<Vec<String>> {
        let t = ident(table.name());
        // A skip scan: one primary-key seek per partition, not a pass over
        // every row (`SELECT DISTINCT` reads the whole key).
        let sql = format!(
            "WITH RECURSIVE \"parts\"(\"pk\") AS ( \
               SELECT MIN(\"pk\") FROM {t} \
               UNION ALL \
               SELECT (SELECT MIN(\"pk\") FROM {t} WHERE \"pk\" > \"parts\".\"pk\") \
               FROM \"parts\" WHERE \"parts\".\"pk\" IS NOT NULL) \
             SELECT \"pk\" FROM \"parts\" WHERE \"pk\" IS NOT NULL"
        );
        self.db
            .read(move |tx| {
                let mut stmt = tx.prepare_cached(&sql).db()?;
                let rows = stmt.query_map([], |r| r.get(0)).db()?;
                rows.collect::<rusqlite::Result<Vec<String>>>().db()
            })
            .await
    }

    async fn put_then_delete_where(
        &self,
        table: Table,
        puts: Vec<Item>,
        deletes: Vec<Query>,
    ) -> Result<()> {
        let rows = checked_rows(table, &puts)?;
        let deletes = deletes
            .iter()
            .map(|q| delete_sql(table, q))
            .collect::<Result<Vec<_>>>()?;
        self.db
            .write_tx(move |tx| {
                for r in rows {
                    row::put_row(tx, table, r)?;
                }
                for sql in deletes {
                    tx.prepare_cached(&sql.text)
                        .db()?
                        .execute(rusqlite::params_from_iter(sql.params))
                        .db()?;
                }
                Ok(())
            })
            .await
    }

    async fn delete_where(&self, table: Table, query: Query) -> Result<usize> {
        let sql = delete_sql(table, &query)?;
        self.db
            .write_tx(move |tx| {
                tx.prepare_cached(&sql.text)
                    .db()?
                    .execute(rusqlite::params_from_iter(sql.params))
                    .db()
            })
            .await
    }
}

/// The `DELETE` of every item `query` matches (up to its limit); a query
/// with a cursor is refused.
fn delete_sql(table: Table, query: &Query) -> Result<Sql> {
    refuse_cursor(query)?;
    let t = ident(table.name());
    Ok(match query.limit {
        None => {
            let w = query::condition(table, query)?;
            Sql {
                text: format!("DELETE FROM {t} WHERE {}", w.text),
                params: w.params,
            }
        }
        Some(_) => {
            let keys = query.clone().select(Select::Keys);
            let (_, s) = query::select(table, &keys)?;
            Sql {
                text: format!("DELETE FROM {t} WHERE (\"pk\", \"sk\") IN ({})", s.text),
                params: s.params,
            }
        }
    })
}

/// The rows of `items`, each checked by [`check_put`] first: nothing is
/// converted past the first item refused.
fn checked_rows(table: Table, items: &[Item]) -> Result<Vec<Vec<rusqlite::types::Value>>> {
    items
        .iter()
        .map(|i| {
            check_put(table, i)?;
            row::to_row(table, i)
        })
        .collect()
}
