//! Paged Query and Scan: follows `LastEvaluatedKey`, keeps the items the
//! core's filter accepts (its TTL rule included, evaluated by the core on
//! each item) and stops at exactly `limit` matches. DynamoDB applies `Limit`
//! before filters and pages at 1 MB, so a request's page size never decides
//! how many callers get.

use affine_db_core::cond::Cond;
use affine_db_core::{Error, Item, Result};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder;

use crate::convert::{self, AvMap};
use crate::errors::map_err;

/// A Query or a Scan to page through.
#[derive(Debug, Clone)]
pub enum Request {
    /// A Query.
    Query(QueryFluentBuilder),
    /// A Scan.
    Scan(ScanFluentBuilder),
}

/// Pages of one request.
#[derive(Debug)]
pub struct Pager {
    request: Request,
    what: String,
    start: Option<AvMap>,
    done: bool,
}

impl Pager {
    /// Pages of `request`; `what` names it in errors.
    pub fn new(request: Request, what: impl Into<String>) -> Self {
        Pager {
            request,
            what: what.into(),
            start: None,
            done: false,
        }
    }

    /// Pages of `request` starting after the key `start` (`None`: from the start).
    pub fn resuming(request: Request, what: impl Into<String>, start: Option<AvMap>) -> Self {
        Pager {
            start,
            ..Pager::new(request, what)
        }
    }

    /// Whether the last page has been read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next page of raw items, `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Item>>> {
        if self.done {
            return Ok(None);
        }
        let (items, last) = match &self.request {
            Request::Query(b) => {
                let out = b
                    .clone()
                    .set_exclusive_start_key(self.start.take())
                    .send()
                    .await
                    .map_err(|e| map_err(e, &self.what))?;
                (out.items.unwrap_or_default(), out.last_evaluated_key)
            }
            Request::Scan(b) => {
                let out = b
                    .clone()
                    .set_exclusive_start_key(self.start.take())
                    .send()
                    .await
                    .map_err(|e| map_err(e, &self.what))?;
                (out.items.unwrap_or_default(), out.last_evaluated_key)
            }
        };
        self.done = last.as_ref().is_none_or(|k| k.is_empty());
        self.start = last;
        items
            .iter()
            .map(convert::from_map)
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
}

/// Every item of `request` that `filter` accepts, in the store's order, at
/// most `limit`.
pub async fn collect(
    request: Request,
    what: &str,
    filter: &Cond,
    limit: Option<usize>,
) -> Result<Vec<Item>> {
    let mut out = Vec::new();
    if limit == Some(0) {
        return Ok(out);
    }
    let mut pager = Pager::new(request, what);
    while let Some(page) = pager.next_page().await? {
        for item in page {
            if !filter.eval(Some(&item)) {
                continue;
            }
            out.push(item);
            if limit.is_some_and(|l| out.len() >= l) {
                return Ok(out);
            }
        }
    }
    Ok(out)
}

/// A projection expression over `attrs` with placeholder names `#p{i}`,
/// and the names to add to the request.
pub fn projection(attrs: &[&str]) -> (String, Vec<(String, String)>) {
    let names: Vec<(String, String)> = attrs
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("#p{i}"), (*a).to_string()))
        .collect();
    let expr = names
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    (expr, names)
}

/// Applies a projection to a Query.
pub fn project_query(mut b: QueryFluentBuilder, attrs: &[&str]) -> QueryFluentBuilder {
    let (expr, names) = projection(attrs);
    b = b.projection_expression(expr);
    for (k, v) in names {
        b = b.expression_attribute_names(k, v);
    }
    b
}

/// Applies a projection to a Scan.
pub fn project_scan(mut b: ScanFluentBuilder, attrs: &[&str]) -> ScanFluentBuilder {
    let (expr, names) = projection(attrs);
    b = b.projection_expression(expr);
    for (k, v) in names {
        b = b.expression_attribute_names(k, v);
    }
    b
}

/// A string attribute of an item that must have one.
pub fn str_attr<'a>(item: &'a Item, name: &str) -> Result<&'a str> {
    match item.get(name) {
        Some(affine_db_core::Attr::S(s)) => Ok(s),
        _ => Err(Error::corrupt(format!("item without a string {name}"))),
    }
}
