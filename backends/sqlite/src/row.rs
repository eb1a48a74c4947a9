//! The one mapping between items and rows, driven by the core schema:
//! S→TEXT, Int→INTEGER, Float→REAL, Bool→INTEGER 0/1, B→BLOB, M→JSON text,
//! Any (config `param_value`)→JSON text of the value; NULL or absent→SQL
//! NULL, left out of the item on read. The driver talks to SQLite only
//! through here.
//!
//! Reads never fail on a stored value: one that does not fit its column
//! (text that is not UTF-8 or not JSON, a value of another storage class,
//! written by another tool or damaged) is read as it is stored, raw bytes
//! as `B`, and raw bytes write back as a blob, so such a row exports and
//! copies whole and the typed readers report it by key.

use affine_db_core::item::{check_item, format_f64, Attr, Item};
use affine_db_core::schema::{AttrDef, AttrType, Table, PK, SK};
use affine_db_core::{Error, Result};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Params, Row};

use crate::db::{ident, SqlResult};

/// The columns a statement selects or returns: `pk`, `sk`, then attributes.
#[derive(Debug, Clone)]
pub(crate) struct Cols {
    pub(crate) table: Table,
    attrs: Vec<&'static AttrDef>,
    list: String,
}

impl Cols {
    /// Every column of `table`.
    pub(crate) fn all(table: Table) -> Cols {
        Cols::without(table, &[])
    }

    /// Every column of `table` except `skip`.
    pub(crate) fn without(table: Table, skip: &[&str]) -> Cols {
        Cols::picked(table, |name| !skip.contains(&name))
    }

    /// `pk`, `sk` and the attributes of `table` that `keep` accepts.
    pub(crate) fn picked(table: Table, keep: impl Fn(&str) -> bool) -> Cols {
        let attrs: Vec<&'static AttrDef> =
            table.def().attrs.iter().filter(|a| keep(a.name)).collect();
        let mut names = vec![ident(PK), ident(SK)];
        names.extend(attrs.iter().map(|a| ident(a.name)));
        Cols {
            table,
            attrs,
            list: names.join(", "),
        }
    }

    /// The comma-separated, quoted column list.
    pub(crate) fn list(&self) -> &str {
        &self.list
    }

    /// `SELECT <columns> FROM <table> <tail>`.
    pub(crate) fn select(&self, tail: &str) -> String {
        format!(
            "SELECT {} FROM {} {tail}",
            self.list,
            ident(self.table.name())
        )
    }

    /// Reads one row selected with these columns into an item. A value that
    /// does not fit its column's declared type is read as it is stored
    /// ([`from_sql`]), never as an error: the typed readers and
    /// [`affine_db_core::damage::find`] report it.
    pub(crate) fn item(&self, row: &Row<'_>) -> Result<Item> {
        let mut item = Item::new();
        for (i, key) in [PK, SK].into_iter().enumerate() {
            let v = row.get_ref(i).db()?;
            item.insert(key.into(), key_attr(v));
        }
        for (i, def) in self.attrs.iter().enumerate() {
            let v = row.get_ref(i + 2).db()?;
            if let Some(attr) = from_sql(def, v) {
                item.insert(def.name.into(), attr);
            }
        }
        Ok(item)
    }

    /// Runs `sql` (selecting or returning these columns) and reads every row.
    pub(crate) fn query(
        &self,
        conn: &Connection,
        sql: &str,
        params: impl Params,
    ) -> Result<Vec<Item>> {
        let mut stmt = conn.prepare_cached(sql).db()?;
        let mut rows = stmt.query(params).db()?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().db()? {
            out.push(self.item(row)?);
        }
        Ok(out)
    }

    /// [`Cols::query`], with the stored `pk` and `sk` of the last row
    /// exactly as SQLite holds them (for a scan cursor).
    pub(crate) fn query_with_last_key(
        &self,
        conn: &Connection,
        sql: &str,
        params: impl Params,
    ) -> Result<(Vec<Item>, Option<[RawKey; 2]>)> {
        let mut stmt = conn.prepare_cached(sql).db()?;
        let mut rows = stmt.query(params).db()?;
        let mut out = Vec::new();
        let mut last = None;
        while let Some(row) = rows.next().db()? {
            out.push(self.item(row)?);
            last = Some([
                RawKey::of(row.get_ref(0).db()?),
                RawKey::of(row.get_ref(1).db()?),
            ]);
        }
        Ok((out, last))
    }
}

/// A key column's value exactly as stored (a damaged key may be text that
/// is not UTF-8, a blob or a number).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawKey {
    /// TEXT, as bytes.
    Text(Vec<u8>),
    /// BLOB.
    Blob(Vec<u8>),
    /// INTEGER.
    Integer(i64),
    /// REAL.
    Real(f64),
    /// NULL (the columns are `NOT NULL`; kept for completeness).
    Null,
}

impl RawKey {
    fn of(v: ValueRef<'_>) -> RawKey {
        match v {
            ValueRef::Text(t) => RawKey::Text(t.to_vec()),
            ValueRef::Blob(b) => RawKey::Blob(b.to_vec()),
            ValueRef::Integer(i) => RawKey::Integer(i),
            ValueRef::Real(f) => RawKey::Real(f),
            ValueRef::Null => RawKey::Null,
        }
    }

    /// The key as a string, if it is UTF-8 text.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            RawKey::Text(t) => std::str::from_utf8(t).ok(),
            _ => None,
        }
    }

    /// The value to bind to compare with the stored key.
    pub(crate) fn to_sql(&self) -> rusqlite::types::ToSqlOutput<'_> {
        use rusqlite::types::ToSqlOutput;
        ToSqlOutput::Borrowed(match self {
            RawKey::Text(t) => ValueRef::Text(t),
            RawKey::Blob(b) => ValueRef::Blob(b),
            RawKey::Integer(i) => ValueRef::Integer(*i),
            RawKey::Real(f) => ValueRef::Real(*f),
            RawKey::Null => ValueRef::Null,
        })
    }
}

impl rusqlite::ToSql for RawKey {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(RawKey::to_sql(self))
    }
}

/// A key column as an attribute: a string, or (damaged) its raw bytes or number.
fn key_attr(v: ValueRef<'_>) -> Attr {
    match v {
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Attr::S(s.to_string()),
            Err(_) => Attr::B(t.to_vec()),
        },
        ValueRef::Blob(b) => Attr::B(b.to_vec()),
        ValueRef::Integer(i) => Attr::int(i),
        ValueRef::Real(f) => Attr::B(f.to_string().into_bytes()),
        ValueRef::Null => Attr::Null,
    }
}

/// JSON text as an attribute; `None` when it is not JSON.
fn json_attr(bytes: &[u8]) -> Option<Attr> {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .map(|v| Attr::from_json(&v))
}

/// One column value as an attribute; `None` for SQL NULL. A value that
/// does not fit the column's declared type is returned as it is stored:
/// text that is not UTF-8 (or not the JSON a JSON column holds) and blobs
/// as [`Attr::B`], their raw bytes; numbers as [`Attr::N`]. So a damaged
/// row still reads, exports and copies whole.
fn from_sql(def: &AttrDef, v: ValueRef<'_>) -> Option<Attr> {
    Some(match (def.ty, v) {
        (_, ValueRef::Null) => return None,
        (AttrType::S, ValueRef::Text(t)) => match std::str::from_utf8(t) {
            Ok(s) => Attr::S(s.to_string()),
            Err(_) => Attr::B(t.to_vec()),
        },
        (AttrType::Bool, ValueRef::Integer(i)) => Attr::Bool(i != 0),
        (AttrType::M, ValueRef::Text(t)) => match json_attr(t) {
            Some(m @ Attr::M(_)) => m,
            _ => Attr::B(t.to_vec()),
        },
        (AttrType::Any, ValueRef::Text(t)) => json_attr(t).unwrap_or_else(|| Attr::B(t.to_vec())),
        (_, ValueRef::Integer(i)) => Attr::int(i),
        (_, ValueRef::Real(f)) if f.is_finite() => Attr::N(format_f64(f)),
        (_, ValueRef::Real(f)) => Attr::B(f.to_string().into_bytes()),
        (_, ValueRef::Text(b) | ValueRef::Blob(b)) => Attr::B(b.to_vec()),
    })
}

fn mismatch(table: Table, name: &str, ty: AttrType, attr: &Attr) -> Error {
    Error::invalid(
        name,
        format!(
            "{table}: attribute {name} is {} but the column holds {ty:?}, so SQLite cannot \
             store it exactly (a damaged item: `export --skip-corrupt` and `copy \
             --skip-corrupt` leave such items out)",
            attr.type_name()
        ),
    )
}

/// One attribute as the column value of `def`.
fn to_sql(table: Table, def: &AttrDef, attr: &Attr) -> Result<Value> {
    let name = def.name;
    if let Attr::Null = attr {
        return Ok(Value::Null);
    }
    Ok(match (def.ty, attr) {
        (AttrType::S, Attr::S(s)) => Value::Text(s.clone()),
        (AttrType::Int | AttrType::Float, Attr::N(n)) => {
            if let (AttrType::Int, Ok(i)) = (def.ty, n.trim().parse::<i64>()) {
                Value::Integer(i)
            } else {
                match n.trim().parse::<f64>() {
                    Ok(f) if f.is_finite() => Value::Real(f),
                    _ => {
                        return Err(Error::invalid(
                            name,
                            format!("{table}: {n:?} is not a finite number"),
                        ))
                    }
                }
            }
        }
        (AttrType::Bool, Attr::Bool(b)) => Value::Integer(i64::from(*b)),
        // Raw bytes in any column: a damaged value (see `from_sql`), kept
        // as stored, so a damaged item copies and reads back unchanged.
        (_, Attr::B(b)) => Value::Blob(b.clone()),
        (AttrType::M, m @ Attr::M(_))
        | (
            AttrType::Any,
            m @ (Attr::S(_) | Attr::N(_) | Attr::Bool(_) | Attr::M(_) | Attr::L(_)),
        ) => {
            let json = m
                .to_json()
                .map_err(|e| Error::invalid(name, format!("{table}: {e}")))?;
            Value::Text(json.to_string())
        }
        // A number in a blob column (damaged) stays a number.
        (AttrType::B, Attr::N(n)) => match n.trim().parse::<i64>() {
            Ok(i) => Value::Integer(i),
            Err(_) => match n.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => Value::Real(f),
                _ => return Err(mismatch(table, name, def.ty, attr)),
            },
        },
        (ty, other) => return Err(mismatch(table, name, ty, other)),
    })
}

/// An item converted to the values of every column of `table` (in
/// [`Cols::all`] order), checked: keys are strings, every attribute is one
/// the table has, with its type, and the item passes the core's
/// [`check_item`] (values DynamoDB could store too, at most 400 KB), so
/// SQLite refuses exactly what DynamoDB would.
pub(crate) fn to_row(table: Table, item: &Item) -> Result<Vec<Value>> {
    let def = table.def();
    let what = match (item.get(PK), item.get(SK)) {
        (Some(Attr::S(pk)), Some(Attr::S(sk))) => format!("{table} item {pk}/{sk}"),
        _ => format!("{table} item"),
    };
    check_item(&what, item)?;
    let mut out = Vec::with_capacity(def.attrs.len() + 2);
    for key in [PK, SK] {
        match item.get(key) {
            Some(Attr::S(s)) if !s.is_empty() => out.push(Value::Text(s.clone())),
            _ => {
                return Err(Error::invalid(
                    key,
                    format!("{table}: every item needs a non-empty string {key}"),
                ))
            }
        }
    }
    if let Some(unknown) = item
        .keys()
        .find(|k| k.as_str() != PK && k.as_str() != SK && def.attr(k).is_none())
    {
        return Err(Error::invalid(
            unknown.as_str(),
            format!("{table} has no attribute {unknown}"),
        ));
    }
    for a in def.attrs {
        out.push(match item.get(a.name) {
            None => Value::Null,
            Some(attr) => to_sql(table, a, attr)?,
        });
    }
    Ok(out)
}

/// The upsert statement of `table` (a whole-item replace, like `PutItem`).
fn put_sql(table: Table) -> String {
    let cols = Cols::all(table);
    let n = table.def().attrs.len() + 2;
    let marks: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT OR REPLACE INTO {} ({}) VALUES ({})",
        ident(table.name()),
        cols.list(),
        marks.join(", ")
    )
}

/// Writes a row made by [`to_row`].
pub(crate) fn put_row(conn: &Connection, table: Table, row: Vec<Value>) -> Result<()> {
    let mut stmt = conn.prepare_cached(&put_sql(table)).db()?;
    stmt.execute(rusqlite::params_from_iter(row)).db()?;
    Ok(())
}

/// Checks and writes one item, replacing any item with its keys.
pub(crate) fn put_item(conn: &Connection, table: Table, item: &Item) -> Result<()> {
    let row = to_row(table, item)?;
    put_row(conn, table, row)
}

/// The item at (`pk`, `sk`), live or not.
pub(crate) fn get_raw(conn: &Connection, table: Table, pk: &str, sk: &str) -> Result<Option<Item>> {
    let cols = Cols::all(table);
    let sql = cols.select("WHERE \"pk\" = ?1 AND \"sk\" = ?2");
    Ok(cols
        .query(conn, &sql, rusqlite::params![pk, sk])?
        .into_iter()
        .next())
}

/// Deletes the item at (`pk`, `sk`), live or not; whether there was one.
pub(crate) fn delete_item(conn: &Connection, table: Table, pk: &str, sk: &str) -> Result<bool> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "DELETE FROM {} WHERE \"pk\" = ?1 AND \"sk\" = ?2",
            ident(table.name())
        ))
        .db()?;
    Ok(stmt.execute(rusqlite::params![pk, sk]).db()? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use affine_db_core::keys;

    fn roundtrip(table: Table, item: &Item) -> Item {
        let conn = Connection::open_in_memory().unwrap();
        crate::db::create_tables(&conn).unwrap();
        put_item(&conn, table, item).unwrap();
        let cols = Cols::all(table);
        cols.query(&conn, &cols.select(""), []).unwrap().remove(0)
    }

    #[test]
    fn every_type_round_trips() {
        let mut item = Item::new();
        item.insert("pk".into(), Attr::S(keys::score_pk(5)));
        item.insert("sk".into(), Attr::S(keys::score_sk("a")));
        item.insert("block_number".into(), Attr::int(5));
        item.insert("overall_score".into(), Attr::float(0.1));
        item.insert("average_score".into(), Attr::float(1.0));
        item.insert("is_eligible".into(), Attr::Bool(true));
        item.insert("meets_criteria".into(), Attr::Bool(false));
        let mut m = affine_db_core::item::AttrMap::new();
        m.insert("L1".to_string(), Attr::float(0.25));
        item.insert("scores_by_env".into(), Attr::M(m));
        item.insert("model_revision".into(), Attr::Null);
        let back = roundtrip(Table::Scores, &item);
        let mut want = item.clone();
        want.remove("model_revision");
        assert_eq!(back, want);
    }

    #[test]
    fn config_values_keep_their_type() {
        let map = |z: &str| {
            Attr::M(
                [
                    ("z".to_string(), Attr::N(z.into())),
                    (
                        "a".to_string(),
                        Attr::N("123456789012345678901234567890".into()),
                    ),
                ]
                .into(),
            )
        };
        for (value, want) in [
            (Attr::s("12"), Attr::s("12")),
            (Attr::int(12), Attr::int(12)),
            (Attr::float(1.5), Attr::float(1.5)),
            (Attr::Bool(true), Attr::Bool(true)),
            (
                Attr::L(vec![Attr::int(1), Attr::s("x")]),
                Attr::L(vec![Attr::int(1), Attr::s("x")]),
            ),
            (
                Attr::M(affine_db_core::item::AttrMap::new()),
                Attr::M(affine_db_core::item::AttrMap::new()),
            ),
            // Numbers read back in DynamoDB's canonical text (core::number).
            (map("1.50"), map("1.5")),
        ] {
            let mut item = Item::new();
            item.insert("pk".into(), Attr::s(keys::CONFIG_PK));
            item.insert("sk".into(), Attr::S(keys::config_sk("x")));
            item.insert("param_value".into(), value.clone());
            let back = roundtrip(Table::SystemConfig, &item);
            assert_eq!(back.get("param_value"), Some(&want));
            // Maps keep their key order.
            let (Some(Attr::M(a)), Attr::M(b)) = (back.get("param_value"), &want) else {
                continue;
            };
            assert!(a.iter().eq(b.iter()), "{a:?} != {b:?}");
        }
    }

    #[test]
    fn wrong_types_and_unknown_attributes_are_rejected() {
        let mut item = Item::new();
        item.insert("pk".into(), Attr::s(keys::CONFIG_PK));
        item.insert("sk".into(), Attr::S(keys::config_sk("x")));
        item.insert("version".into(), Attr::s("one"));
        assert!(matches!(
            to_row(Table::SystemConfig, &item),
            Err(Error::InvalidInput { .. })
        ));
        item.remove("version");
        item.insert("nope".into(), Attr::int(1));
        assert!(matches!(
            to_row(Table::SystemConfig, &item),
            Err(Error::InvalidInput { .. })
        ));
        item.remove("nope");
        item.remove("sk");
        assert!(matches!(
            to_row(Table::SystemConfig, &item),
            Err(Error::InvalidInput { .. })
        ));
    }
}
