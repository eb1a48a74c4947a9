//! [`Driver::query`](affine_db_core::driver::Driver::query) on DynamoDB.
//!
//! A [`Target::Partition`] is a Query on `pk` (the [`RangeCond`] on `sk` in
//! the KeyConditionExpression), a [`Target::Index`] a Query on the index
//! (hash attribute equal to the value, the range on the index's range
//! attribute), a [`Target::Table`] a Scan. The filter goes as the
//! FilterExpression and every item read is checked again with the core's
//! [`Query::accepts`], so the result is exactly what [`Cond::eval`] says.
//! DynamoDB applies `Limit` before filters: a read in key order sends the
//! query's limit as `Limit` when nothing is filtered on the server (so it
//! reads what it returns), pages of at least 100 items otherwise, and reads
//! pages until the query has `limit` matches or the data ends.
//!
//! When the query's order is the partition's key order (by `sk`, either
//! way; also on an index keyed like the table), the pages are read in that
//! order and reading stops at the limit; the cursor names the last item
//! returned and the next page starts right after it (`ExclusiveStartKey`). When an index query's order starts with
//! the index's range attribute, the pages are read in that direction and
//! reading stops once the query has `limit` matches and the last item read
//! lies strictly beyond the `limit`-th one's range value (DynamoDB orders
//! equal range values arbitrarily, so ties are read whole); the matches are
//! then sorted with [`Query::compare`]. Any other order (a scan, or
//! non-key attributes) reads every match, sorts with [`Query::compare`]
//! (ties by `pk`, then `sk`) and returns the first `limit` after the cursor.
//!
//! A query that selects fewer than all attributes reads only those and what
//! checking, ordering and resuming need (a ProjectionExpression), so a list
//! without the conversation never transfers it.

use std::collections::HashSet;

use affine_db_core::cond::Cond;
use affine_db_core::driver::{
    compare_attrs, invalid_cursor, parse_cursor, Consistency, Cursor, Page, Query, RangeCond,
    Select, Target,
};
use affine_db_core::schema::{Projection, PK, SK};
use affine_db_core::{Error, Item, Result, Table};

use super::DynamoDriver;
use crate::convert;
use crate::errors;
use crate::expr::Expr;
use crate::lifecycle;
use crate::pager::{Pager, Request};

/// The direction (`true`: ascending) in which a partition query's order is
/// its key order (also of an index keyed like the table), `None` when it
/// is not.
fn key_order(query: &Query) -> Option<bool> {
    match query.target() {
        Target::Partition(_) => {}
        Target::Index { index, .. } if index.keyed_like_table() => {}
        _ => return None,
    }
    // Within one partition `pk` is constant and `sk` unique: what follows
    // the first `sk` never decides.
    match query.order.iter().find(|s| s.attr != PK) {
        None => Some(true),
        Some(s) if s.attr == SK => Some(!s.descending),
        Some(_) => None,
    }
}

/// The index range attribute and direction (`true`: ascending) in which
/// an index query's order starts, `None` when it does not start with it.
fn index_order(query: &Query) -> Option<(&'static str, bool)> {
    match (query.target(), query.order.first()) {
        (Target::Index { index, .. }, Some(s)) if s.attr == index.range => {
            Some((index.range, !s.descending))
        }
        _ => None,
    }
}

/// The key condition `attr` satisfies `range`, added to `e`.
fn range_condition(e: &mut Expr, attr: &str, range: &RangeCond) -> Option<String> {
    if matches!(range, RangeCond::Any) {
        return None;
    }
    let n = e.name(attr);
    match range {
        RangeCond::Any => None,
        RangeCond::Eq(v) => {
            let v = e.value(convert::to_av(v));
            Some(format!("{n} = {v}"))
        }
        RangeCond::Between(lo, hi) => {
            let lo = e.value(convert::to_av(lo));
            let hi = e.value(convert::to_av(hi));
            Some(format!("{n} BETWEEN {lo} AND {hi}"))
        }
        RangeCond::BeginsWith(prefix) => {
            let p = e.value(convert::s(prefix.clone()));
            Some(format!("begins_with({n}, {p})"))
        }
    }
}

/// `hash = value [AND range]`, added to `e`.
fn key_condition(
    e: &mut Expr,
    hash: &str,
    value: &affine_db_core::Attr,
    range: Option<(&str, &RangeCond)>,
) -> String {
    let (h, v) = (e.name(hash), e.value(convert::to_av(value)));
    let mut expr = format!("{h} = {v}");
    if let Some(r) = range.and_then(|(attr, range)| range_condition(e, attr, range)) {
        expr.push_str(" AND ");
        expr.push_str(&r);
    }
    expr
}

/// Adds the attributes `cond` reads to `out`.
fn cond_attrs(cond: &Cond, out: &mut Vec<&'static str>) {
    match cond {
        Cond::True => {}
        Cond::Exists => out.push(PK),
        Cond::Eq(a, _) | Cond::Cmp(a, ..) | Cond::IsNumber(a) | Cond::Null(a) => out.push(a),
        Cond::And(parts) | Cond::Or(parts) => parts.iter().for_each(|c| cond_attrs(c, out)),
        Cond::Not(c) => cond_attrs(c, out),
    }
}

/// The part of `query`'s filter sent as the FilterExpression: a Query's
/// filter may not name the keys of the table or index it reads (DynamoDB
/// refuses it), so the conjuncts that do are left out; every item read is
/// checked against the whole filter anyway.
fn server_filter(query: &Query) -> Cond {
    let keys: Vec<&str> = match query.target() {
        Target::Table => return query.filter.clone(),
        Target::Partition(_) => vec![PK, SK],
        Target::Index { index, .. } => vec![PK, SK, index.hash, index.range],
    };
    let parts = match &query.filter {
        Cond::And(parts) => parts.clone(),
        c => vec![c.clone()],
    };
    parts
        .into_iter()
        .filter(|c| {
            let mut attrs = Vec::new();
            cond_attrs(c, &mut attrs);
            !attrs.iter().any(|a| keys.contains(a))
        })
        .fold(Cond::True, Cond::and)
}

/// The attributes to read for `query` when it selects fewer than all (the
/// selected ones and what the driver needs to check, order and resume:
/// keys, sort key, filter and order attributes), `None` to read all. An
/// index query names only what the index projects.
fn read_attrs(table: Table, query: &Query) -> Option<Vec<&'static str>> {
    let def = table.def();
    let mut attrs = vec![PK, SK];
    match query.select {
        Select::All => return None,
        Select::Keys => {}
        Select::Without(skip) => attrs.extend(
            def.attrs
                .iter()
                .map(|a| a.name)
                .filter(|n| !skip.contains(n)),
        ),
    }
    attrs.extend(query.order.iter().map(|s| s.attr));
    cond_attrs(&query.filter, &mut attrs);
    if let Target::Index { index, .. } = query.target() {
        attrs.extend([index.hash, index.range]);
        if !matches!(index.projection, Projection::All) {
            let projected = def.projected(index);
            attrs
                .retain(|a| [PK, SK, index.hash, index.range].contains(a) || projected.contains(a));
        }
    }
    let mut seen = HashSet::new();
    attrs.retain(|a| seen.insert(*a));
    Some(attrs)
}

/// The ProjectionExpression of `attrs`, its names added to `e`.
fn projection(e: &mut Expr, attrs: Option<Vec<&'static str>>) -> Option<String> {
    attrs.map(|attrs| {
        attrs
            .into_iter()
            .map(|a| e.name(a))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The most items one page of a filtered key-order read asks for: a
/// filter is applied after `Limit`, so a page of exactly the caller's limit
/// could hold few matches and take many round trips.
const FILTERED_PAGE: usize = 100;

/// The `Limit` of each page of a key-order read of `query`: its limit when
/// nothing is filtered on the server (every item read is returned, so the
/// read costs what it returns), at least [`FILTERED_PAGE`] otherwise;
/// `None` (pages of 1 MB) without a limit.
fn page_limit(query: &Query) -> Option<i32> {
    let limit = query.limit?;
    let page = if server_filter(query) == Cond::True {
        limit
    } else {
        limit.max(FILTERED_PAGE)
    };
    Some(i32::try_from(page).unwrap_or(i32::MAX))
}

/// The request reading `query`'s target, its filter as the
/// FilterExpression, in key or index order (`ascending`) where there is one, only
/// the attributes [`read_attrs`] names, pages of `page` items (`None`: 1 MB).
fn request(
    d: &DynamoDriver,
    table: Table,
    query: &Query,
    ascending: bool,
    page: Option<i32>,
) -> Request {
    let name = d.table_name(table);
    let mut e = Expr::new();
    let projected = projection(&mut e, read_attrs(table, query));
    match query.target() {
        Target::Partition(pk) => {
            let keys = key_condition(
                &mut e,
                PK,
                &affine_db_core::Attr::S(pk.clone()),
                Some((SK, &query.range)),
            );
            let filter = e.condition(&server_filter(query));
            Request::Query(
                d.client
                    .query()
                    .table_name(name)
                    .key_condition_expression(keys)
                    .set_filter_expression(filter)
                    .set_projection_expression(projected)
                    .set_expression_attribute_names(e.names())
                    .set_expression_attribute_values(e.values())
                    .consistent_read(query.consistency == Consistency::Strong)
                    .scan_index_forward(ascending)
                    .set_limit(page),
            )
        }
        Target::Index { index, hash } => {
            let keys = key_condition(&mut e, index.hash, hash, Some((index.range, &query.range)));
            let filter = e.condition(&server_filter(query));
            Request::Query(
                d.client
                    .query()
                    .table_name(name)
                    .index_name(index.name)
                    .key_condition_expression(keys)
                    .set_filter_expression(filter)
                    .set_projection_expression(projected)
                    .set_expression_attribute_names(e.names())
                    .set_expression_attribute_values(e.values())
                    .scan_index_forward(ascending)
                    .set_limit(page),
            )
        }
        Target::Table => {
            // The range on `sk` of a scan is checked on each item read.
            let filter = e.condition(&server_filter(query));
            Request::Scan(
                d.client
                    .scan()
                    .table_name(name)
                    .set_filter_expression(filter)
                    .set_projection_expression(projected)
                    .set_expression_attribute_names(e.names())
                    .set_expression_attribute_values(e.values())
                    .consistent_read(query.consistency == Consistency::Strong),
            )
        }
    }
}

/// One page of `query` on `table`.
pub(super) async fn run(d: &DynamoDriver, table: Table, query: &Query) -> Result<Page> {
    let after = query.cursor.as_deref().map(parse_cursor).transpose()?;
    // An empty range matches nothing (DynamoDB refuses a BETWEEN whose
    // bounds are reversed rather than answering no items).
    let empty = matches!(&query.range, RangeCond::Between(lo, hi) if compare_attrs(Some(lo), Some(hi)).is_gt());
    if query.limit == Some(0) || empty {
        return Ok(Page::default());
    }
    let res = match key_order(query) {
        Some(ascending) => in_key_order(d, table, query, ascending, after).await,
        None => sorted(d, table, query, after, index_order(query)).await,
    };
    let (items, cursor) = match query.target() {
        Target::Index { index, .. } => via_index(d, table, index.name, res).await?,
        _ => res?,
    };
    let items = items.into_iter().map(|i| query.project(table, i)).collect();
    Ok(Page { items, cursor })
}

/// A partition read in key order, stopping at the limit.
async fn in_key_order(
    d: &DynamoDriver,
    table: Table,
    query: &Query,
    ascending: bool,
    after: Option<Item>,
) -> Result<(Vec<Item>, Option<Cursor>)> {
    let name = d.table_name(table);
    let start = match &after {
        None => None,
        Some(at) => match convert::item_key(at) {
            Some((pk, sk)) => Some(convert::key(pk, sk)),
            None => return Err(invalid_cursor()),
        },
    };
    let mut pager = Pager::resuming(
        request(d, table, query, ascending, page_limit(query)),
        format!("{name}: query"),
        start,
    );
    let mut out = Vec::new();
    while let Some(page) = pager.next_page().await? {
        let mut rest = page.into_iter();
        for item in rest.by_ref() {
            if !query.accepts(&item) {
                continue;
            }
            out.push(item);
            if query.limit.is_some_and(|l| out.len() >= l) {
                break;
            }
        }
        if query.limit.is_some_and(|l| out.len() >= l) {
            let more = rest.next().is_some() || !pager.is_done();
            let cursor = match out.last() {
                Some(last) if more => Some(query.cursor_after(last)?),
                _ => None,
            };
            return Ok((out, cursor));
        }
    }
    Ok((out, None))
}

/// How many entries a resumed index-order read reads besides its limit
/// for the ones at its start that the cursor skips (the last item
/// returned, and its ties), so one request usually serves the page.
const RESUMED_TIES: usize = 16;

/// The `Limit` of each page of an index-order read of `query`: one more
/// than its limit (the item past the last returned tells whether ties
/// remain unread), [`RESUMED_TIES`] more when resuming, at least
/// [`FILTERED_PAGE`] so a block of equal range values takes few round
/// trips; `None` (pages of 1 MB) without a limit.
fn index_page_limit(query: &Query) -> Option<i32> {
    // A read resuming at the range value of the last item it returned
    // reads again the entries of that value the cursor skips: a few more.
    let resumed = if query.cursor.is_some() {
        RESUMED_TIES
    } else {
        0
    };
    let page = query.limit?.saturating_add(1 + resumed).max(FILTERED_PAGE);
    Some(i32::try_from(page).unwrap_or(i32::MAX))
}

/// The matches sorted in the query's order; the first `limit` after the
/// cursor. With `index_order` (the index range attribute the order starts
/// with, and its direction) the index is read in that direction and
/// reading stops once nothing unread can be among the first `limit`;
/// otherwise every match is read.
async fn sorted(
    d: &DynamoDriver,
    table: Table,
    query: &Query,
    after: Option<Item>,
    index_order: Option<(&'static str, bool)>,
) -> Result<(Vec<Item>, Option<Cursor>)> {
    let name = d.table_name(table);
    let what = match query.target() {
        Target::Table => format!("{name}: scan"),
        _ => format!("{name}: query"),
    };
    let (ascending, page) = match index_order {
        Some((_, ascending)) => (ascending, index_page_limit(query)),
        None => (true, None),
    };
    let mut pager = Pager::new(request(d, table, query, ascending, page), what);
    let mut items = Vec::new();
    while let Some(page) = pager.next_page().await? {
        let last_read = index_order.and_then(|(attr, _)| page.last()?.get(attr).cloned());
        items.extend(page.into_iter().filter(|i| {
            query.accepts(i) && after.as_ref().is_none_or(|a| query.compare(i, a).is_gt())
        }));
        let (Some(limit), Some(last_read), Some((attr, ascending))) =
            (query.limit, last_read, index_order)
        else {
            continue;
        };
        if items.len() < limit {
            continue;
        }
        items.sort_by(|a, b| query.compare(a, b));
        // Every unread item's range value is at or beyond `last_read`.
        let beyond = compare_attrs(Some(&last_read), items[limit - 1].get(attr));
        if (ascending && beyond.is_gt()) || (!ascending && beyond.is_lt()) {
            let more = items.len() > limit || !pager.is_done();
            items.truncate(limit);
            let cursor = match items.last() {
                Some(last) if more => Some(query.cursor_after(last)?),
                _ => None,
            };
            return Ok((items, cursor));
        }
    }
    items.sort_by(|a, b| query.compare(a, b));
    let cursor = query.truncate_to_limit(&mut items)?;
    Ok((items, cursor))
}

/// The outcome of a read through `index` of `table`: a failure because
/// the table exists without the index (DynamoDB answers
/// `ValidationException`, moto `ResourceNotFoundException`; a
/// DescribeTable tells which it was) is [`Error::MissingIndex`]; anything
/// else is returned as it is.
async fn via_index<V>(d: &DynamoDriver, table: Table, index: &str, res: Result<V>) -> Result<V> {
    let err = match res {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    if !matches!(err, Error::MissingTable { .. } | Error::InvalidInput { .. }) {
        return Err(err);
    }
    let name = d.table_name(table);
    match lifecycle::describe_live(&d.client, name).await {
        Ok(Some(live)) if !live.indexes.iter().any(|i| i.name == index) => {
            Err(Error::MissingIndex {
                table: name.to_string(),
                index: index.to_string(),
                store: errors::STORE.to_string(),
            })
        }
        _ => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::DynamoConfig;

    /// A query's consistency is its request's `ConsistentRead`: a
    /// partition query and a scan send it as asked, an index query never
    /// (DynamoDB refuses strong reads of a global secondary index).
    #[tokio::test]
    async fn requests_carry_the_query_consistency() {
        let config = DynamoConfig {
            prefix: "t".into(),
            region: Some("us-east-1".into()),
            endpoint: Some("http://127.0.0.1:9".into()),
        };
        let d = DynamoDriver::connect(config).await.unwrap();
        let consistent = |query: Query| match request(&d, Table::SampleResults, &query, true, None)
        {
            Request::Query(q) => *q.get_consistent_read(),
            Request::Scan(s) => *s.get_consistent_read(),
        };
        for (consistency, sent) in [
            (Consistency::Strong, Some(true)),
            (Consistency::Eventual, Some(false)),
        ] {
            let partition = Query::new(Target::Partition("P".into()), Cond::True);
            assert_eq!(consistent(partition.consistency(consistency)), sent);
            let scan = Query::new(Target::Table, Cond::True);
            assert_eq!(consistent(scan.consistency(consistency)), sent);
            let index = &Table::SampleResults.def().indexes[0];
            let by_index = Query::new(
                Target::Index {
                    index,
                    hash: affine_db_core::Attr::s("sat"),
                },
                Cond::True,
            );
            assert_eq!(consistent(by_index.consistency(consistency)), None);
        }
    }
}
