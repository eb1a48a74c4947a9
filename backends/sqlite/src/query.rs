//! A driver [`Query`] as SQL: the target (one partition, one hash value of
//! a secondary index, the whole table), the sort-key range and the core's
//! filter as one `WHERE` clause ([`sql::condition`] for the filter), the
//! order with its `pk`, `sk` ties as `ORDER BY`, the limit, and the columns
//! the query selects (an index query reads only what the index projects,
//! so a read without conversations never touches their blobs).
//!
//! The table's indexes are the schema's (`db::declared_indexes`), so a
//! partition or index query is an index search, not a pass over the table.

use affine_db_core::cond::Cond;
use affine_db_core::driver::{Query, RangeCond, Target};
use affine_db_core::schema::{Projection, Table, PK, SK};
use affine_db_core::{Attr, Item, Result};
use rusqlite::types::Value;

use crate::db::ident;
use crate::row::Cols;
use crate::sql::{self, Sql};

/// `query`'s target, range and filter on `table` as a SQL condition.
pub(crate) fn condition(table: Table, query: &Query) -> Result<Sql> {
    let (target, sort_key) = match query.target() {
        Target::Partition(pk) => (Cond::eq_s(PK, pk.clone()), SK),
        Target::Index { index, hash } => (
            Cond::Eq(index.hash, hash.clone()).and(Cond::Null(index.range).not()),
            index.range,
        ),
        Target::Table => (Cond::True, SK),
    };
    let mut out = sql::condition(table, &target.and(query.filter.clone()))?;
    let col = sql::column(table, sort_key)?;
    let mut range = |text: String, params: Vec<Value>| {
        out.text = format!("({} AND {text})", out.text);
        out.params.extend(params);
    };
    match &query.range {
        RangeCond::Any => {}
        RangeCond::Eq(v) => range(format!("{col} = ?"), vec![sql::value_of(sort_key, v)?]),
        RangeCond::Between(lo, hi) => range(
            format!("{col} BETWEEN ? AND ?"),
            vec![sql::value_of(sort_key, lo)?, sql::value_of(sort_key, hi)?],
        ),
        RangeCond::BeginsWith(prefix) => range(
            format!("(typeof({col}) = 'text' AND substr({col}, 1, length(?)) = ?)"),
            vec![Value::Text(prefix.clone()), Value::Text(prefix.clone())],
        ),
    }
    Ok(out)
}

/// `query`'s `ORDER BY`: its sort attributes, then `pk` (left out for a
/// partition, where it is one value) and `sk`, ascending.
pub(crate) fn order_by(query: &Query) -> String {
    let mut fields: Vec<String> = query
        .order
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                ident(s.attr),
                if s.descending { "DESC" } else { "ASC" }
            )
        })
        .collect();
    if !matches!(query.target(), Target::Partition(_)) {
        fields.push(format!("{} ASC", ident(PK)));
    }
    fields.push(format!("{} ASC", ident(SK)));
    format!("ORDER BY {}", fields.join(", "))
}

/// The columns `query` reads: what its index projects, then what it
/// selects, and its order attributes when `for_cursor` (a page's last row
/// names where the next starts; the driver projects them away after).
pub(crate) fn columns(table: Table, query: &Query, for_cursor: bool) -> Cols {
    let def = table.def();
    let projected = match query.target() {
        Target::Index { index, .. } if !matches!(index.projection, Projection::All) => {
            let mut keep = def.projected(index);
            keep.extend([index.hash, index.range]);
            Some(keep)
        }
        _ => None,
    };
    let select = query.select;
    Cols::picked(table, |name| {
        projected.as_ref().is_none_or(|p| p.contains(&name))
            && (select.keeps(name) || (for_cursor && query.order.iter().any(|s| s.attr == name)))
    })
}

/// Rows strictly after `at` (a cursor's order attributes and keys) in
/// `query`'s order, ties by `pk` then `sk`: the first differing attribute
/// decides, a missing one (NULL) sorting first as [`compare_attrs`] says.
///
/// [`compare_attrs`]: affine_db_core::driver::compare_attrs
fn after(table: Table, query: &Query, at: &Item) -> Result<Sql> {
    let mut fields: Vec<(&str, bool)> = Vec::new();
    for (attr, desc) in query
        .order
        .iter()
        .map(|s| (s.attr, s.descending))
        .chain([(PK, false), (SK, false)])
    {
        if !fields.iter().any(|(a, _)| *a == attr) {
            fields.push((attr, desc));
        }
    }
    let value = |attr: &str| -> Result<Option<Value>> {
        match at.get(attr) {
            None | Some(Attr::Null) => Ok(None),
            Some(v) => sql::value_of(attr, v).map(Some),
        }
    };
    let mut alternatives = Vec::new();
    let mut params = Vec::new();
    for (i, (attr, desc)) in fields.iter().enumerate() {
        let mut parts = Vec::new();
        for (before, _) in &fields[..i] {
            let col = sql::column(table, before)?;
            match value(before)? {
                None => parts.push(format!("{col} IS NULL")),
                Some(v) => {
                    parts.push(format!("{col} = ?"));
                    params.push(v);
                }
            }
        }
        let col = sql::column(table, attr)?;
        match (value(attr)?, desc) {
            (None, false) => parts.push(format!("{col} IS NOT NULL")),
            // Nothing sorts after a NULL largest first.
            (None, true) => parts.push("0".to_string()),
            (Some(v), false) => {
                parts.push(format!("{col} > ?"));
                params.push(v);
            }
            (Some(v), true) => {
                parts.push(format!("({col} < ? OR {col} IS NULL)"));
                params.push(v);
            }
        }
        alternatives.push(format!("({})", parts.join(" AND ")));
    }
    Ok(Sql {
        text: format!("({})", alternatives.join(" OR ")),
        params,
    })
}

/// The whole `SELECT` of `query` on `table` with its parameters, up to its
/// limit.
pub(crate) fn select(table: Table, query: &Query) -> Result<(Cols, Sql)> {
    page(table, query, None, query.limit, false)
}

/// The `SELECT` of one page of `query`: the rows after `at` (the query's
/// cursor, parsed), at most `rows` of them, with the order columns when
/// `for_cursor`.
pub(crate) fn page(
    table: Table,
    query: &Query,
    at: Option<&Item>,
    rows: Option<usize>,
    for_cursor: bool,
) -> Result<(Cols, Sql)> {
    let cols = columns(table, query, for_cursor);
    let mut w = condition(table, query)?;
    if let Some(at) = at {
        let a = after(table, query, at)?;
        w.text = format!("({} AND {})", w.text, a.text);
        w.params.extend(a.params);
    }
    let mut tail = format!("WHERE {} {}", w.text, order_by(query));
    if let Some(rows) = rows {
        tail.push_str(" LIMIT ?");
        w.params
            .push(Value::Integer(i64::try_from(rows).unwrap_or(i64::MAX)));
    }
    let text = cols.select(&tail);
    Ok((
        cols,
        Sql {
            text,
            params: w.params,
        },
    ))
}
