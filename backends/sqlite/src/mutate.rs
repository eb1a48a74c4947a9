//! Carries out the core's read-modify-write [`Rule`]s: read the item, let
//! the core decide ([`Rule::run`]), write what it says, all inside one
//! `BEGIN IMMEDIATE` transaction on the writer connection, so every rule is
//! atomic (also against other processes).

use affine_db_core::mutation::{Rule, Write};
use affine_db_core::Result;
use rusqlite::Connection;

use crate::row;
use crate::SqliteBackend;

/// Runs `rule` inside `conn`'s transaction.
pub(crate) fn run<T>(conn: &Connection, rule: &Rule<T>) -> Result<T> {
    let current = row::get_raw(conn, rule.table, &rule.pk, &rule.sk)?;
    let (write, out) = rule.run(current.as_ref())?;
    match write {
        Write::Put(item) => row::put_item(conn, rule.table, &item)?,
        Write::Delete => {
            row::delete_item(conn, rule.table, &rule.pk, &rule.sk)?;
        }
        Write::Nothing => {}
    }
    Ok(out)
}

impl SqliteBackend {
    /// Runs `rule` in its own write transaction.
    pub(crate) async fn execute<T: Send + 'static>(&self, rule: Rule<T>) -> Result<T> {
        self.db.write_tx(move |tx| run(tx, &rule)).await
    }
}
