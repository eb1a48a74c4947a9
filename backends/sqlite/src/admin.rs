//! [`Admin`] on SQLite: table lifecycle, live counts, the TTL purge and raw
//! item access for export and import.

use std::collections::BTreeMap;

use affine_db_core::admin::{check_scan_limit, parse_scan_cursor, scan_cursor};
use affine_db_core::drift::Drift;
use affine_db_core::schema::Table;
use affine_db_core::{ttl, Admin, Capabilities, Error, Item, Progress, Result, ScanPage};
use async_trait::async_trait;
use rusqlite::params;

use crate::db::{self, SqlResult};
use crate::row::{self, Cols, RawKey};
use crate::SqliteBackend;

/// Rows written per raw batch statement group (one transaction per call).
const MAX_BATCH_WRITE: usize = 500;

/// The start of a cursor resuming after a row whose key is not UTF-8 text
/// (a damaged row): the exact stored values, so the scan goes on after it.
const RAW_CURSOR: &str = "sqlite-raw:";

/// The cursor resuming after the row whose stored key is `key`.
fn cursor_of(key: &[RawKey; 2]) -> String {
    if let (Some(pk), Some(sk)) = (key[0].as_str(), key[1].as_str()) {
        return scan_cursor(pk, sk);
    }
    let part = |k: &RawKey| match k {
        RawKey::Text(t) => format!("t{}", hex(t)),
        RawKey::Blob(b) => format!("b{}", hex(b)),
        RawKey::Integer(i) => format!("i{i}"),
        RawKey::Real(f) => format!("r{}", f.to_bits()),
        RawKey::Null => "n".to_string(),
    };
    format!("{RAW_CURSOR}{}:{}", part(&key[0]), part(&key[1]))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The stored key a cursor of [`cursor_of`] resumes after.
fn parse_cursor(cursor: &str) -> Result<[RawKey; 2]> {
    let Some(raw) = cursor.strip_prefix(RAW_CURSOR) else {
        let (pk, sk) = parse_scan_cursor(cursor)?;
        return Ok([RawKey::Text(pk.into_bytes()), RawKey::Text(sk.into_bytes())]);
    };
    let bad = || {
        Error::invalid(
            "cursor",
            "not a cursor returned by scan_page; start without one",
        )
    };
    let unhex = |h: &str| -> Option<Vec<u8>> {
        if !h.len().is_multiple_of(2) {
            return None;
        }
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
            .collect()
    };
    let part = |p: &str| -> Option<RawKey> {
        let (class, rest) = (p.get(..1)?, p.get(1..)?);
        Some(match class {
            "t" => RawKey::Text(unhex(rest)?),
            "b" => RawKey::Blob(unhex(rest)?),
            "i" => RawKey::Integer(rest.parse().ok()?),
            "r" => RawKey::Real(f64::from_bits(rest.parse().ok()?)),
            "n" if rest.is_empty() => RawKey::Null,
            _ => return None,
        })
    };
    let (pk, sk) = raw.split_once(':').ok_or_else(bad)?;
    Ok([part(pk).ok_or_else(bad)?, part(sk).ok_or_else(bad)?])
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

    async fn init_with(&self, progress: Progress<'_>) -> Result<Vec<Drift>> {
        // The repairs run in one transaction; they are reported once it
        // has committed (a refusal or failure rolls everything back).
        let drifts = self.db.write_tx(|tx| crate::live::init(tx)).await?;
        for d in &drifts {
            if let Some(line) = d.repaired() {
                progress(&line);
            }
        }
        Ok(drifts)
    }

    async fn check(&self) -> Result<Vec<Drift>> {
        self.db.read(|tx| crate::live::check(tx)).await
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
        let after = cursor.as_deref().map(parse_cursor).transpose()?;
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX);
        // The page, and the stored key of its last row (whatever its
        // storage class, so a damaged key never ends or repeats the scan);
        // then one row more tells whether another page follows.
        let (items, last, more) = self
            .db
            .read(move |tx| {
                let cols = Cols::all(table);
                let next = "WHERE (\"pk\", \"sk\") > (?1, ?2) ORDER BY \"pk\", \"sk\"";
                let (items, last) = match &after {
                    None => cols.query_with_last_key(
                        tx,
                        &cols.select("ORDER BY \"pk\", \"sk\" LIMIT ?1"),
                        params![fetch],
                    )?,
                    Some([pk, sk]) => cols.query_with_last_key(
                        tx,
                        &cols.select(&format!("{next} LIMIT ?3")),
                        params![pk, sk, fetch],
                    )?,
                };
                let more = match &last {
                    Some([pk, sk]) if items.len() == limit => tx
                        .prepare_cached(&format!(
                            "SELECT 1 FROM {} {next} LIMIT 1",
                            crate::db::ident(table.name())
                        ))
                        .db()?
                        .exists(params![pk, sk])
                        .db()?,
                    _ => false,
                };
                Ok((items, last, more))
            })
            .await?;
        let cursor = match last {
            Some(key) if more => Some(cursor_of(&key)),
            _ => None,
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
