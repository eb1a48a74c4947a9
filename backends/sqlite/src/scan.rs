//! Raw scans of a SQLite table in key order ([`affine_db_core::Driver::scan_page`]),
//! for export, copy and damage reports: the cursor is the stored key of the
//! page's last row, exactly as SQLite holds it, so a damaged key (text that
//! is not UTF-8, a blob, a number) never ends or repeats a scan.

use affine_db_core::admin::{check_scan_limit, parse_scan_cursor, scan_cursor};
use affine_db_core::schema::Table;
use affine_db_core::{Error, Result, ScanPage};
use rusqlite::params;

use crate::db::{Db, SqlResult};
use crate::row::{Cols, RawKey};

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

/// One page of the raw rows of `table` after `cursor`, at most `limit`.
pub(crate) async fn page(
    db: &Db,
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
    let (items, last, more) = db
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
