//! Paged Query and Scan: [`Pager`] follows `LastEvaluatedKey` page by
//! page (DynamoDB applies `Limit` before filters and pages at 1 MB, so the
//! driver's query keeps paging until it has what the caller asked for).

use affine_db_core::{Item, Result};
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
