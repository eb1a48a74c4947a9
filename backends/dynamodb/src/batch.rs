//! Batched writes and reads: BatchWriteItem in chunks of at most
//! [`MAX_BATCH_WRITE`], BatchGetItem with at most [`MAX_BATCH_GET`] keys,
//! up to a bounded number of requests in flight at once (the backend's
//! [`crate::DynamoDriver::batch_concurrency`], default
//! [`DEFAULT_BATCH_CONCURRENCY`]), so a link with a round trip of several
//! milliseconds stays busy. Every `UnprocessedItems` / `UnprocessedKeys`
//! entry (and every throttled or failed attempt) is retried with backoff and
//! jitter, by the chunk it came from and only those entries, until done or
//! the budget is spent, then [`Error::Throttled`] names what was not
//! written. A batch never names a key twice (the last operation on a key
//! wins), so chunks in flight together cannot reorder writes of one key.

use std::collections::{HashMap, HashSet};

use affine_db_core::driver::list_keys;
use affine_db_core::{Error, Item, Result};
use aws_sdk_dynamodb::types::{DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use futures::stream::{self, StreamExt};

use crate::convert::{self, AvMap};
use crate::errors::map_err;
use crate::retry::Backoff;

/// DynamoDB's limit of write requests per BatchWriteItem.
pub const MAX_BATCH_WRITE: usize = 25;
/// DynamoDB's limit of keys per BatchGetItem.
pub const MAX_BATCH_GET: usize = 100;
/// Batch requests in flight at once unless configured otherwise.
pub const DEFAULT_BATCH_CONCURRENCY: usize = 8;
/// The most batch requests in flight a backend may be configured for.
pub const MAX_BATCH_CONCURRENCY: usize = 64;

/// One write of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// Put (replace) an item.
    Put(Item),
    /// Delete by `(pk, sk)`.
    Delete(String, String),
}

impl WriteOp {
    fn key(&self) -> Option<(String, String)> {
        match self {
            WriteOp::Put(item) => convert::item_key(item),
            WriteOp::Delete(pk, sk) => Some((pk.clone(), sk.clone())),
        }
    }

    /// The SDK request; a put is first checked by the core's
    /// [`affine_db_core::item::check_item`], so nothing of a batch is sent
    /// when one item could not be stored (on either backend).
    fn request(&self) -> Result<WriteRequest> {
        if let WriteOp::Put(item) = self {
            let what = match convert::item_key(item) {
                Some((pk, sk)) => format!("item {pk}/{sk}"),
                None => "item".to_string(),
            };
            affine_db_core::item::check_item(&what, item)?;
        }
        let built = match self {
            WriteOp::Put(item) => WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(convert::to_map(item)))
                        .build()
                        .map_err(Error::backend)?,
                )
                .build(),
            WriteOp::Delete(pk, sk) => WriteRequest::builder()
                .delete_request(
                    DeleteRequest::builder()
                        .set_key(Some(convert::key(pk.clone(), sk.clone())))
                        .build()
                        .map_err(Error::backend)?,
                )
                .build(),
        };
        Ok(built)
    }
}

fn request_key(r: &WriteRequest) -> String {
    let map = r
        .put_request()
        .map(|p| p.item())
        .or_else(|| r.delete_request().map(|d| d.key()));
    match map.and_then(convert::key_of) {
        Some((pk, sk)) => format!("{pk}/{sk}"),
        None => "(unknown key)".to_string(),
    }
}

/// Writes `ops` to `table` in batches, `concurrency` requests in flight.
/// Later operations on the same key win (a batch may not name a key twice).
/// Returns once every operation is written; [`Error::Throttled`] naming the
/// unwritten keys when the retry budget runs out.
pub async fn write_with(
    client: &Client,
    table: &str,
    ops: Vec<WriteOp>,
    concurrency: usize,
) -> Result<()> {
    // Keep the last operation per key, in input order of that last occurrence.
    let mut seen = HashSet::new();
    let mut unique = Vec::with_capacity(ops.len());
    for op in ops.into_iter().rev() {
        let fresh = op.key().is_none_or(|k| seen.insert(k));
        if fresh {
            unique.push(op);
        }
    }
    unique.reverse();
    let requests = unique
        .iter()
        .map(WriteOp::request)
        .collect::<Result<Vec<_>>>()?;
    let chunks: Vec<Vec<WriteRequest>> = requests
        .chunks(MAX_BATCH_WRITE)
        .map(<[_]>::to_vec)
        .collect();
    let results: Vec<std::result::Result<(), (Error, Vec<String>)>> = stream::iter(chunks)
        .map(|chunk| write_chunk(client, table, chunk))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut unwritten = Vec::new();
    let mut hard = None;
    for r in results {
        if let Err((e, keys)) = r {
            unwritten.extend(keys);
            if !e.is_transient() && hard.is_none() {
                hard = Some(e);
            }
        }
    }
    if let Some(e) = hard {
        return Err(e);
    }
    if unwritten.is_empty() {
        return Ok(());
    }
    Err(Error::throttled(format!(
        "{table}: {} item(s) not written after retries: {}",
        unwritten.len(),
        list_keys(&unwritten)
    )))
}

async fn write_chunk(
    client: &Client,
    table: &str,
    mut pending: Vec<WriteRequest>,
) -> std::result::Result<(), (Error, Vec<String>)> {
    let mut backoff = Backoff::default();
    loop {
        let res = client
            .batch_write_item()
            .request_items(table, pending.clone())
            .send()
            .await;
        let last_err = match res {
            Ok(out) => {
                let rest = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(table))
                    .unwrap_or_default();
                if rest.is_empty() {
                    return Ok(());
                }
                pending = rest;
                Error::throttled(format!("{table}: unprocessed items"))
            }
            Err(e) => {
                let e = map_err(e, &format!("{table}: batch write"));
                if !e.is_transient() {
                    return Err((e, pending.iter().map(request_key).collect()));
                }
                e
            }
        };
        if !backoff.wait().await {
            return Err((last_err, pending.iter().map(request_key).collect()));
        }
    }
}

/// Reads items of `table` by `(pk, sk)` (missing ones are left out),
/// optionally only the attributes in `projection`, strongly consistent
/// when `consistent`. Order is not kept.
pub async fn get(
    client: &Client,
    table: &str,
    keys: &[(String, String)],
    projection: Option<&[&str]>,
    consistent: bool,
) -> Result<Vec<AvMap>> {
    let mut seen = HashSet::new();
    let unique: Vec<AvMap> = keys
        .iter()
        .filter(|k| seen.insert((*k).clone()))
        .map(|(pk, sk)| convert::key(pk.clone(), sk.clone()))
        .collect();
    let chunks: Vec<Vec<AvMap>> = unique.chunks(MAX_BATCH_GET).map(<[_]>::to_vec).collect();
    let results: Vec<Result<Vec<AvMap>>> = stream::iter(chunks)
        .map(|chunk| get_chunk(client, table, chunk, projection, consistent))
        .buffer_unordered(DEFAULT_BATCH_CONCURRENCY)
        .collect()
        .await;
    let mut out = Vec::new();
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

async fn get_chunk(
    client: &Client,
    table: &str,
    mut pending: Vec<AvMap>,
    projection: Option<&[&str]>,
    consistent: bool,
) -> Result<Vec<AvMap>> {
    let mut backoff = Backoff::default();
    let mut out = Vec::new();
    loop {
        let mut ka = KeysAndAttributes::builder()
            .set_keys(Some(pending.clone()))
            .consistent_read(consistent);
        if let Some(attrs) = projection {
            let names: HashMap<String, String> = attrs
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("#p{i}"), (*a).to_string()))
                .collect();
            let expr = (0..attrs.len())
                .map(|i| format!("#p{i}"))
                .collect::<Vec<_>>()
                .join(", ");
            ka = ka
                .projection_expression(expr)
                .set_expression_attribute_names(Some(names));
        }
        let ka = ka.build().map_err(Error::backend)?;
        let res = client
            .batch_get_item()
            .request_items(table, ka)
            .send()
            .await;
        let last_err = match res {
            Ok(mut o) => {
                if let Some(items) = o.responses.as_mut().and_then(|r| r.remove(table)) {
                    out.extend(items);
                }
                let rest = o
                    .unprocessed_keys
                    .and_then(|mut m| m.remove(table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if rest.is_empty() {
                    return Ok(out);
                }
                pending = rest;
                Error::throttled(format!(
                    "{table}: {} key(s) not read after retries",
                    pending.len()
                ))
            }
            Err(e) => {
                let e = map_err(e, &format!("{table}: batch get"));
                if !e.is_transient() {
                    return Err(e);
                }
                e
            }
        };
        if !backoff.wait().await {
            return Err(last_err);
        }
    }
}
