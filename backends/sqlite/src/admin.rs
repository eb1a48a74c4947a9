//! [`Admin`] on SQLite: table lifecycle, live counts, the TTL purge and raw
//! item access for export and import.

use std::collections::BTreeMap;

use affine_db_core::admin::{check_scan_limit, parse_scan_cursor, scan_cursor};
use affine_db_core::schema::Table;
use affine_db_core::{ttl, Admin, Capabilities, Error, Item, Result, ScanPage};
use async_trait::async_trait;
use rusqlite::params;

use crate::db::{self, SqlResult};
use crate::row::{self, Cols};
use crate::SqliteBackend;

/// Rows written per raw batch statement group (one transaction per call).
const MAX_BATCH_WRITE: usize = 500;

fn cursor_of(item: &Item) -> Result<String> {
    let key = |k: &str| match item.get(k) {
        Some(affine_db_core::Attr::S(s)) => Ok(s.clone()),
        _ => Err(Error::corrupt(format!("row without a string {k}"))),
    };
    Ok(scan_cursor(&key("pk")?, &key("sk")?))
}

#[async_trait]
impl Admin for SqliteBackend {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            name: "sqlite",
            max_batch_write: MAX_BATCH_WRITE,
            server_side_ttl: false,
        }
    }

    fn describe(&self) -> String {
        self.db.name().to_string()
    }

    async fn init(&self) -> Result<()> {
        self.db.write_tx(|tx| db::create_tables(tx)).await
    }

    async fn list_tables(&self) -> Result<Vec<String>> {
        let names: Vec<String> = self
            .db
            .read(|tx| {
                let mut stmt = tx
                    .prepare_cached("SELECT \"name\" FROM \"sqlite_master\" WHERE \"type\" = 'table' ORDER BY \"name\"")
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

    async fn reset(&self) -> Result<()> {
        self.db
            .write_tx(|tx| {
                db::drop_tables(tx)?;
                db::create_tables(tx)
            })
            .await
    }

    async fn stats(&self) -> Result<BTreeMap<Table, u64>> {
        let now = self.now_s();
        self.db
            .read(move |tx| {
                let mut out = BTreeMap::new();
                for table in Table::ALL {
                    let n = row::count(tx, table, &ttl::unexpired(table, now))?;
                    out.insert(table, n as u64);
                }
                Ok(out)
            })
            .await
    }

    async fn purge_expired(&self) -> Result<u64> {
        let now = self.now_s();
        self.db
            .write_tx(move |tx| {
                let mut purged = 0u64;
                for table in Table::ALL {
                    purged += row::delete_where(tx, table, &ttl::expired(table, now))? as u64;
                }
                Ok(purged)
            })
            .await
    }

    async fn scan_page(
        &self,
        table: Table,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<ScanPage> {
        check_scan_limit(limit)?;
        let after = cursor.as_deref().map(parse_scan_cursor).transpose()?;
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
        let mut items = self
            .db
            .read(move |tx| {
                let cols = Cols::all(table);
                match after {
                    None => cols.query(
                        tx,
                        &cols.select("ORDER BY \"pk\", \"sk\" LIMIT ?1"),
                        params![fetch],
                    ),
                    Some((pk, sk)) => cols.query(
                        tx,
                        &cols.select(
                            "WHERE (\"pk\", \"sk\") > (?1, ?2) ORDER BY \"pk\", \"sk\" LIMIT ?3",
                        ),
                        params![pk, sk, fetch],
                    ),
                }
            })
            .await?;
        let cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(cursor_of).transpose()?
        } else {
            None
        };
        Ok(ScanPage { items, cursor })
    }

    async fn get_items(&self, table: Table, keys: Vec<(String, String)>) -> Result<Vec<Item>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.db
            .read(move |tx| {
                let cols = Cols::all(table);
                let sql = cols.select("WHERE \"pk\" = ?1 AND \"sk\" = ?2");
                let mut out = Vec::with_capacity(keys.len());
                for (pk, sk) in &keys {
                    out.extend(cols.query(tx, &sql, params![pk, sk])?);
                }
                Ok(out)
            })
            .await
    }

    async fn put_items(&self, table: Table, items: Vec<Item>) -> Result<()> {
        let rows = items
            .iter()
            .map(|i| row::to_row(table, i))
            .collect::<Result<Vec<_>>>()?;
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

    async fn delete_items(&self, table: Table, keys: Vec<(String, String)>) -> Result<usize> {
        if keys.is_empty() {
            return Ok(0);
        }
        self.db
            .write_tx(move |tx| {
                let mut n = 0;
                for (pk, sk) in &keys {
                    if row::delete_item(tx, table, pk, sk)? {
                        n += 1;
                    }
                }
                Ok(n)
            })
            .await
    }
}
