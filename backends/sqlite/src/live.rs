//! The live schema of a SQLite file held to the declared one (the DDL of
//! `db`): tables, columns (name, type, primary key), indexes (name and
//! columns), `application_id` and `user_version`, read from
//! `sqlite_master`, `PRAGMA table_info`, `index_list` and `index_info`. The
//! differences are the core's [`Drift`]s; `init` repairs what SQLite can
//! repair in place (a missing table, column or index) and refuses the rest
//! before changing anything.

use affine_db_core::drift::{self, Drift};
use affine_db_core::schema::Table;
use affine_db_core::{Error, Result};
use rusqlite::Connection;

use crate::db::{self, ident, SqlResult, APPLICATION_ID, SCHEMA_VERSION};

/// The file-wide differences: `application_id` and `user_version`.
fn file_drift(conn: &Connection) -> Result<Vec<Drift>> {
    let mut out = Vec::new();
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .db()?;
    if app_id != APPLICATION_ID {
        out.push(Drift::ApplicationId {
            want: APPLICATION_ID,
            got: app_id,
        });
    }
    let version = db::schema_version(conn)?;
    if version != SCHEMA_VERSION {
        out.push(Drift::UserVersion {
            want: SCHEMA_VERSION,
            got: version,
        });
    }
    Ok(out)
}

/// `(name, declared type, primary key position)` of each column of `table`.
fn columns(conn: &Connection, table: Table) -> Result<Vec<(String, String, i64)>> {
    let mut stmt = conn
        .prepare(&format!("PRAGMA table_info({})", ident(table.name())))
        .db()?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get(5)?)))
        .db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

/// The indexes created on `table` (not the primary key's), by name with
/// their columns in order.
fn indexes(conn: &Connection, table: Table) -> Result<Vec<(String, Vec<String>)>> {
    let mut stmt = conn
        .prepare(&format!("PRAGMA index_list({})", ident(table.name())))
        .db()?;
    let names = stmt
        .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(3)?)))
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let mut out = Vec::new();
    for (name, origin) in names {
        if origin != "c" {
            continue;
        }
        let mut info = conn
            .prepare(&format!("PRAGMA index_info({})", ident(&name)))
            .db()?;
        let mut cols = info
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(2)?))
            })
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        cols.sort();
        out.push((
            name,
            cols.into_iter()
                .map(|(_, c)| c.unwrap_or_else(|| "(expression)".into()))
                .collect(),
        ));
    }
    Ok(out)
}

fn table_exists(conn: &Connection, table: Table) -> Result<bool> {
    conn.prepare_cached(
        "SELECT 1 FROM \"sqlite_master\" WHERE \"type\" = 'table' AND \"name\" = ?1",
    )
    .db()?
    .exists([table.name()])
    .db()
}

/// The differences of `table` from its declared DDL, in a fixed order:
/// primary key, columns (declared order, then undeclared ones), indexes.
fn table_drift(conn: &Connection, table: Table) -> Result<Vec<Drift>> {
    let name = || table.name().to_string();
    if !table_exists(conn, table)? {
        return Ok(vec![Drift::MissingTable { table: name() }]);
    }
    let mut out = Vec::new();
    let live = columns(conn, table)?;
    let mut key: Vec<(i64, &str)> = live
        .iter()
        .filter(|(_, _, pk)| *pk > 0)
        .map(|(n, _, pk)| (*pk, n.as_str()))
        .collect();
    key.sort();
    let key: Vec<&str> = key.into_iter().map(|(_, n)| n).collect();
    if key != ["pk", "sk"] {
        out.push(Drift::KeySchema {
            table: name(),
            want: "PRIMARY KEY (pk, sk)".into(),
            got: format!("PRIMARY KEY ({})", key.join(", ")),
        });
    }
    let declared = db::declared_columns(table);
    for (col, ty) in &declared {
        match live.iter().find(|(n, _, _)| n == col) {
            None => out.push(Drift::MissingColumn {
                table: name(),
                column: col.to_string(),
            }),
            Some((_, got, _)) if !got.eq_ignore_ascii_case(ty) => out.push(Drift::ColumnType {
                table: name(),
                column: col.to_string(),
                want: ty.to_string(),
                got: got.clone(),
            }),
            Some(_) => {}
        }
    }
    for (col, _, _) in &live {
        if !declared.iter().any(|(c, _)| c == col) {
            out.push(Drift::ExtraColumn {
                table: name(),
                column: col.clone(),
            });
        }
    }
    let live_indexes = indexes(conn, table)?;
    let declared = db::declared_indexes(table);
    for (index, cols) in &declared {
        match live_indexes.iter().find(|(n, _)| n == index) {
            None => out.push(Drift::MissingIndex {
                table: name(),
                index: index.clone(),
            }),
            Some((_, got)) if got != cols => out.push(Drift::IndexKeys {
                table: name(),
                index: index.clone(),
                want: format!("({})", cols.join(", ")),
                got: format!("({})", got.join(", ")),
            }),
            Some(_) => {}
        }
    }
    for (index, _) in &live_indexes {
        if !declared.iter().any(|(n, _)| n == index) {
            out.push(Drift::ExtraIndex {
                table: name(),
                index: index.clone(),
            });
        }
    }
    Ok(out)
}

/// Every difference of the database on `conn` from the declared schema:
/// file-wide ones first, then each table's. Changes nothing.
pub(crate) fn check(conn: &Connection) -> Result<Vec<Drift>> {
    let mut out = file_drift(conn)?;
    for table in Table::ALL {
        out.extend(table_drift(conn, table)?);
    }
    Ok(out)
}

/// `init` on `conn` (inside the caller's transaction): checks everything
/// first and refuses, changing nothing, when a difference cannot be
/// repaired in place; otherwise creates missing tables, columns and
/// indexes and marks the file. Returns what it repaired.
pub(crate) fn init(conn: &Connection) -> Result<Vec<Drift>> {
    let drifts = check(conn)?;
    if let Some(refused) = drift::refusal(&drifts) {
        return Err(refused);
    }
    for d in &drifts {
        let table = d.table().map(|t| t.parse::<Table>()).transpose()?;
        match (d, table) {
            (Drift::MissingTable { .. }, Some(t)) => {
                conn.execute_batch(&db::create_table_sql(t)).db()?;
                for sql in db::create_index_sql(t) {
                    conn.execute_batch(&sql).db()?;
                }
            }
            (Drift::MissingColumn { column, .. }, Some(t)) => {
                let ty = db::declared_columns(t)
                    .into_iter()
                    .find(|(c, _)| c == column)
                    .map(|(_, ty)| ty)
                    .ok_or_else(|| Error::backend(format!("{d}: not a declared column")))?;
                conn.execute_batch(&format!(
                    "ALTER TABLE {} ADD COLUMN {} {ty}",
                    ident(t.name()),
                    ident(column)
                ))
                .db()?;
            }
            (Drift::MissingIndex { index, .. }, Some(t)) => {
                let cols = db::declared_indexes(t)
                    .into_iter()
                    .find(|(n, _)| n == index)
                    .map(|(_, c)| c)
                    .ok_or_else(|| Error::backend(format!("{d}: not a declared index")))?;
                conn.execute_batch(&db::create_one_index_sql(t, index, &cols))
                    .db()?;
            }
            (Drift::ApplicationId { want, .. }, None) => {
                conn.pragma_update(None, "application_id", want).db()?;
            }
            (Drift::UserVersion { .. }, None) => {
                // A writing open migrates older files before init runs;
                // a file opened read-only is not migrated.
                return Err(Error::backend(format!(
                    "{d}: open the file for writing to migrate it"
                )));
            }
            (other, _) => {
                return Err(Error::backend(format!(
                    "{other}: no in-place repair on SQLite"
                )))
            }
        }
    }
    Ok(drifts)
}

/// The differences of the SQLite file at `path` from the declared schema,
/// read without the identity and version checks of an open (so a foreign
/// `application_id` or a newer `user_version` is reported, not refused)
/// and without changing anything in the file.
pub(crate) fn check_file(path: &std::path::Path) -> Result<Vec<Drift>> {
    let conn = db::open_to_inspect(path)?;
    check(&conn)
}
