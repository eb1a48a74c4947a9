//! The core's filters ([`Cond`]) and orderings ([`Order`]) as SQL: a
//! `WHERE` clause with its parameters and an `ORDER BY` clause. Nothing is
//! decided here; a condition means in SQL what [`Cond::eval`] says.
//!
//! SQL's `NULL` is three-valued where [`Cond`] is two-valued: an attribute
//! that is `NULL` makes `"a" = ?` `NULL`, which a `WHERE` treats as false,
//! as [`Cond::eval`] does; only under `NOT` would it differ, so a negated
//! condition is wrapped in `COALESCE(…, 0)`.

use affine_db_core::cond::Cond;
use affine_db_core::item::Attr;
use affine_db_core::schema::{AttrType, Table, PK, SK};
use affine_db_core::{Error, Result};
use rusqlite::types::Value;

use crate::db::ident;

/// A SQL fragment and the values of its `?` placeholders, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sql {
    /// The text, with anonymous `?` placeholders.
    pub text: String,
    /// Their values.
    pub params: Vec<Value>,
}

fn number_value(n: &str) -> Result<Value> {
    if let Ok(i) = n.trim().parse::<i64>() {
        return Ok(Value::Integer(i));
    }
    n.trim()
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Value::Real)
        .ok_or_else(|| Error::invalid("condition", format!("{n:?} is not a finite number")))
}

/// A value compared with attribute `attr` as its SQL parameter (`S`, `N`
/// or `BOOL`, as the rows store them).
pub(crate) fn value_of(attr: &str, value: &Attr) -> Result<Value> {
    Ok(match value {
        Attr::S(s) => Value::Text(s.clone()),
        Attr::Bool(b) => Value::Integer(i64::from(*b)),
        Attr::N(n) => number_value(n)?,
        other => {
            return Err(Error::backend(format!(
                "sqlite: cannot compare {attr} with a {} value",
                other.type_name()
            )))
        }
    })
}

fn is_numeric_column(table: Table, attr: &str) -> bool {
    table
        .def()
        .attr(attr)
        .is_some_and(|a| matches!(a.ty, AttrType::Int | AttrType::Float))
}

/// `attr` as a quoted column of `table` (a key or a schema attribute).
pub(crate) fn column(table: Table, attr: &str) -> Result<String> {
    if attr == PK || attr == SK || table.def().attr(attr).is_some() {
        Ok(ident(attr))
    } else {
        Err(Error::backend(format!(
            "sqlite: {table} has no column {attr} to filter on"
        )))
    }
}

const IS_NUMBER: &str = "IN ('integer', 'real')";

fn translate(table: Table, cond: &Cond, out: &mut Sql) -> Result<()> {
    match cond {
        // Every row exists.
        Cond::True | Cond::Exists => out.text.push('1'),
        Cond::Eq(attr, value) => {
            let col = column(table, attr)?;
            out.text.push_str(&format!("{col} = ?"));
            out.params.push(value_of(attr, value)?);
        }
        Cond::Cmp(attr, op, n) => {
            let col = column(table, attr)?;
            if is_numeric_column(table, attr) {
                out.text.push_str(&format!("{col} {} ?", op.symbol()));
            } else {
                out.text.push_str(&format!(
                    "(typeof({col}) {IS_NUMBER} AND {col} {} ?)",
                    op.symbol()
                ));
            }
            out.params.push(Value::Integer(*n));
        }
        Cond::IsNumber(attr) => {
            let col = column(table, attr)?;
            out.text.push_str(&format!("typeof({col}) {IS_NUMBER}"));
        }
        Cond::Null(attr) => {
            let col = column(table, attr)?;
            out.text.push_str(&format!("{col} IS NULL"));
        }
        Cond::And(parts) | Cond::Or(parts) => {
            let (join, empty) = match cond {
                Cond::And(_) => (" AND ", "1"),
                _ => (" OR ", "0"),
            };
            if parts.is_empty() {
                out.text.push_str(empty);
                return Ok(());
            }
            out.text.push('(');
            for (i, c) in parts.iter().enumerate() {
                if i > 0 {
                    out.text.push_str(join);
                }
                translate(table, c, out)?;
            }
            out.text.push(')');
        }
        Cond::Not(inner) => {
            out.text.push_str("(NOT COALESCE(");
            translate(table, inner, out)?;
            out.text.push_str(", 0))");
        }
    }
    Ok(())
}

/// `cond` on rows of `table` as a SQL boolean expression.
pub(crate) fn condition(table: Table, cond: &Cond) -> Result<Sql> {
    let mut out = Sql::default();
    translate(table, cond, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use affine_db_core::cond::CmpOp;
    use affine_db_core::item::Item;
    use affine_db_core::ttl;
    use rusqlite::Connection;

    /// Every condition selects in SQL exactly the rows `Cond::eval` accepts.
    #[test]
    fn sql_agrees_with_the_core() {
        let conn = Connection::open_in_memory().unwrap();
        crate::db::create_tables(&conn).unwrap();
        let t = Table::TaskQueue;
        let rows: Vec<Item> = [
            None,
            Some(Attr::int(5)),
            Some(Attr::N("5.5".into())),
            Some(Attr::Null),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, ttl)| {
            let mut item = Item::new();
            item.insert(PK.into(), Attr::s("p"));
            item.insert(SK.into(), Attr::S(format!("s{i}")));
            item.insert("status".into(), Attr::s(if i % 2 == 0 { "a" } else { "b" }));
            if let Some(v) = ttl {
                item.insert("ttl".into(), v);
            }
            item
        })
        .collect();
        for r in &rows {
            crate::row::put_item(&conn, t, r).unwrap();
        }
        let conds = [
            ttl::unexpired(t, 5),
            ttl::expired(t, 5),
            Cond::eq_s("status", "a").not(),
            Cond::Cmp("ttl", CmpOp::Ge, 5).not(),
            Cond::Null("ttl").and(Cond::eq_s("status", "a")),
            Cond::Or(vec![]),
        ];
        for c in conds {
            let sql = condition(t, &c).unwrap();
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT \"sk\" FROM \"task_queue\" WHERE {} ORDER BY \"sk\"",
                    sql.text
                ))
                .unwrap();
            let got: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(sql.params), |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            let want: Vec<String> = rows
                .iter()
                .filter(|r| c.eval(Some(r)))
                .filter_map(|r| match r.get(SK) {
                    Some(Attr::S(s)) => Some(s.clone()),
                    _ => None,
                })
                .collect();
            assert_eq!(got, want, "{c:?}");
        }
    }
}
