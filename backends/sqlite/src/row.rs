//! The one mapping between items and rows, driven by the core schema:
//! S→TEXT, Int→INTEGER, Float→REAL, Bool→INTEGER 0/1, B→BLOB, M→JSON text,
//! Any (config `param_value`)→JSON text of the value; NULL or absent→SQL
//! NULL, left out of the item on read. Table code converts records with the
//! core's `to_item`/`from_item` and talks to SQLite only through here.

use affine_db_core::cond::Cond;
use affine_db_core::item::{check_item, format_f64, Attr, Item};
use affine_db_core::schema::{AttrDef, AttrType, Table, PK, SK};
use affine_db_core::{ttl, Error, Result};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Params, Row};

use crate::db::{ident, SqlResult};
use crate::sql;

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
        let attrs: Vec<&'static AttrDef> = table
            .def()
            .attrs
            .iter()
            .filter(|a| !skip.contains(&a.name))
            .collect();
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

    /// Reads one row selected with these columns into an item.
    pub(crate) fn item(&self, row: &Row<'_>) -> Result<Item> {
        let mut item = Item::new();
        for (i, key) in [PK, SK].into_iter().enumerate() {
            match row.get_ref(i).db()? {
                ValueRef::Text(t) => {
                    item.insert(key.into(), Attr::S(text(self.table, key, t)?));
                }
                other => return Err(corrupt(self.table, key, "TEXT", other)),
            }
        }
        for (i, def) in self.attrs.iter().enumerate() {
            let v = row.get_ref(i + 2).db()?;
            if let Some(attr) = from_sql(self.table, def, v)? {
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
}

fn text(table: Table, name: &str, bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Error::corrupt(format!("{table}: column {name} is not UTF-8")))
}

fn corrupt(table: Table, name: &str, want: &str, got: ValueRef<'_>) -> Error {
    Error::corrupt(format!(
        "{table}: column {name} should be {want}, found {:?}",
        got.data_type()
    ))
}

fn json_attr(table: Table, name: &str, bytes: &[u8]) -> Result<Attr> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::corrupt(format!("{table}: column {name} is not JSON: {e}")))?;
    Ok(Attr::from_json(&v))
}

/// One column value as an attribute; `None` for SQL NULL.
fn from_sql(table: Table, def: &AttrDef, v: ValueRef<'_>) -> Result<Option<Attr>> {
    let name = def.name;
    if let ValueRef::Null = v {
        return Ok(None);
    }
    let attr = match (def.ty, v) {
        (AttrType::S, ValueRef::Text(t)) => Attr::S(text(table, name, t)?),
        (AttrType::Int | AttrType::Float, ValueRef::Integer(i)) => Attr::int(i),
        (AttrType::Int | AttrType::Float, ValueRef::Real(f)) if f.is_finite() => {
            Attr::N(format_f64(f))
        }
        (AttrType::Bool, ValueRef::Integer(i)) => Attr::Bool(i != 0),
        (AttrType::B, ValueRef::Blob(b)) => Attr::B(b.to_vec()),
        (AttrType::M, ValueRef::Text(t)) => match json_attr(table, name, t)? {
            m @ Attr::M(_) => m,
            other => {
                return Err(Error::corrupt(format!(
                    "{table}: column {name} should hold a JSON object, found {}",
                    other.type_name()
                )))
            }
        },
        (AttrType::Any, ValueRef::Text(t)) => json_attr(table, name, t)?,
        (ty, other) => return Err(corrupt(table, name, crate::db::column_type(ty), other)),
    };
    Ok(Some(attr))
}

fn mismatch(table: Table, name: &str, ty: AttrType, attr: &Attr) -> Error {
    Error::invalid(
        name,
        format!(
            "{table}: attribute {name} is {} but the column holds {ty:?}",
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
        (AttrType::B, Attr::B(b)) => Value::Blob(b.clone()),
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

/// The live item at (`pk`, `sk`), if any (the core's TTL rule).
pub(crate) fn get_item(
    conn: &Connection,
    table: Table,
    pk: &str,
    sk: &str,
    now_s: i64,
) -> Result<Option<Item>> {
    Ok(get_raw(conn, table, pk, sk)?.filter(|i| ttl::is_live_item(table, i, now_s)))
}

/// The rows of `cols`' table that `cond` accepts, in `order` (an
/// `ORDER BY` clause from [`crate::sql::order_by`]), at most `limit`.
pub(crate) fn select(
    conn: &Connection,
    cols: &Cols,
    cond: &Cond,
    order: Option<&str>,
    limit: Option<usize>,
) -> Result<Vec<Item>> {
    let mut w = sql::condition(cols.table, cond)?;
    let mut tail = format!("WHERE {}", w.text);
    if let Some(o) = order {
        tail.push(' ');
        tail.push_str(o);
    }
    if let Some(l) = limit {
        tail.push_str(" LIMIT ?");
        w.params
            .push(Value::Integer(i64::try_from(l).unwrap_or(i64::MAX)));
    }
    cols.query(
        conn,
        &cols.select(&tail),
        rusqlite::params_from_iter(w.params),
    )
}

/// How many rows of `table` `cond` accepts.
pub(crate) fn count(conn: &Connection, table: Table, cond: &Cond) -> Result<usize> {
    let w = sql::condition(table, cond)?;
    let n: i64 = conn
        .prepare_cached(&format!(
            "SELECT COUNT(*) FROM {} WHERE {}",
            ident(table.name()),
            w.text
        ))
        .db()?
        .query_row(rusqlite::params_from_iter(w.params), |r| r.get(0))
        .db()?;
    Ok(usize::try_from(n).unwrap_or_default())
}

/// Deletes the rows of `table` that `cond` accepts; how many.
pub(crate) fn delete_where(conn: &Connection, table: Table, cond: &Cond) -> Result<usize> {
    let w = sql::condition(table, cond)?;
    conn.prepare_cached(&format!(
        "DELETE FROM {} WHERE {}",
        ident(table.name()),
        w.text
    ))
    .db()?
    .execute(rusqlite::params_from_iter(w.params))
    .db()
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
        for value in [
            Attr::s("12"),
            Attr::int(12),
            Attr::float(1.5),
            Attr::Bool(true),
            Attr::L(vec![Attr::int(1), Attr::s("x")]),
            Attr::M(affine_db_core::item::AttrMap::new()),
            Attr::M(
                [
                    ("z".to_string(), Attr::N("1.50".into())),
                    (
                        "a".to_string(),
                        Attr::N("123456789012345678901234567890".into()),
                    ),
                ]
                .into(),
            ),
        ] {
            let mut item = Item::new();
            item.insert("pk".into(), Attr::s(keys::CONFIG_PK));
            item.insert("sk".into(), Attr::S(keys::config_sk("x")));
            item.insert("param_value".into(), value.clone());
            let back = roundtrip(Table::SystemConfig, &item);
            assert_eq!(back.get("param_value"), Some(&value));
            // Maps keep their key order, numbers their digits.
            let (Some(Attr::M(a)), Attr::M(b)) = (back.get("param_value"), &value) else {
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
