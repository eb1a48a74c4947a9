//! A loopback HTTP proxy between the SDK and moto that injects faults:
//! throttling (HTTP 400 ThrottlingException), server errors (500), and for
//! BatchWriteItem forwards only part of the items and returns the rest as
//! `UnprocessedItems` (moto never does). It records the largest number of
//! write requests any BatchWriteItem carried.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Request;
use serde_json::{json, Value};

use crate::http::{raw_reply, reply, serve, Reply, Upstream};

/// What the proxy saw and did.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests received.
    pub requests: AtomicUsize,
    /// Largest number of write requests in one BatchWriteItem.
    pub max_batch_items: AtomicUsize,
    /// Requests answered with an injected throttle.
    pub throttled: AtomicUsize,
    /// Requests answered with an injected 500.
    pub server_errors: AtomicUsize,
    /// BatchWriteItem requests answered with injected UnprocessedItems.
    pub partial_batches: AtomicUsize,
}

/// A running proxy.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Counters.
    pub stats: Arc<Stats>,
    /// When set, every request is throttled.
    pub throttle_all: Arc<AtomicBool>,
}

struct Shared {
    upstream: Upstream,
    stats: Arc<Stats>,
    throttle_all: Arc<AtomicBool>,
}

fn throttle() -> Reply {
    reply(
        400,
        json!({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "injected throttle"}),
    )
}

impl Shared {
    async fn handle(&self, req: Request<Incoming>) -> Reply {
        let n = self.stats.requests.fetch_add(1, Ordering::SeqCst);
        let path = req
            .uri()
            .path_and_query()
            .map_or("/".to_string(), |p| p.to_string());
        let headers = req.headers().clone();
        let target = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return reply(400, json!({"message": "bad body"})),
        };
        let is_batch_write = target.ends_with(".BatchWriteItem");
        if is_batch_write {
            if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                let count: usize = v["RequestItems"]
                    .as_object()
                    .map(|m| m.values().filter_map(Value::as_array).map(Vec::len).sum())
                    .unwrap_or(0);
                self.stats
                    .max_batch_items
                    .fetch_max(count, Ordering::SeqCst);
            }
        }
        if self.throttle_all.load(Ordering::SeqCst) {
            self.stats.throttled.fetch_add(1, Ordering::SeqCst);
            return throttle();
        }
        // Faults on a fixed pattern that never fails two requests in a row,
        // so the SDK's retries of single writes get through.
        match n % 10 {
            2 | 5 => {
                self.stats.throttled.fetch_add(1, Ordering::SeqCst);
                return throttle();
            }
            8 => {
                self.stats.server_errors.fetch_add(1, Ordering::SeqCst);
                return reply(
                    500,
                    json!({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "injected"}),
                );
            }
            _ => {}
        }
        if is_batch_write {
            if let Some(resp) = self.partial_batch(&path, &headers, &body).await {
                return resp;
            }
        }
        match self.upstream.forward(&path, &headers, body).await {
            Ok((status, bytes)) => raw_reply(status, bytes),
            Err(e) => reply(500, json!({"message": e})),
        }
    }

    /// Forwards the first half of a BatchWriteItem; the rest comes back as
    /// UnprocessedItems. `None` when nothing would be held back (a one-item
    /// batch), so the caller forwards it whole.
    async fn partial_batch(
        &self,
        path: &str,
        headers: &hyper::HeaderMap,
        body: &Bytes,
    ) -> Option<Reply> {
        let mut v: Value = serde_json::from_slice(body).ok()?;
        let items = v["RequestItems"].as_object()?.clone();
        let mut forwarded = serde_json::Map::new();
        let mut unprocessed = serde_json::Map::new();
        for (table, reqs) in items {
            let reqs = reqs.as_array()?.clone();
            // The first half goes through, the rest comes back: every
            // attempt makes progress (a one-item batch goes through whole),
            // so a 25-item chunk needs at most 5 attempts besides the
            // pattern's faults, well inside the retry budget: no test
            // depends on a random draw.
            let keep = reqs.len().div_ceil(2).max(1);
            let (a, b) = reqs.split_at(keep.min(reqs.len()));
            if !a.is_empty() {
                forwarded.insert(table.clone(), Value::Array(a.to_vec()));
            }
            if !b.is_empty() {
                unprocessed.insert(table, Value::Array(b.to_vec()));
            }
        }
        if unprocessed.is_empty() {
            // Nothing held back (one-item batches): forwarded as it is.
            return None;
        }
        self.stats.partial_batches.fetch_add(1, Ordering::SeqCst);
        if !forwarded.is_empty() {
            v["RequestItems"] = Value::Object(forwarded);
            let (status, bytes) = self
                .upstream
                .forward(path, headers, Bytes::from(v.to_string()))
                .await
                .ok()?;
            if status != 200 {
                return Some(raw_reply(status, bytes));
            }
        }
        Some(reply(200, json!({"UnprocessedItems": unprocessed})))
    }
}

/// Starts a proxy in front of `upstream`.
pub async fn start(upstream: &str) -> Proxy {
    let stats = Arc::new(Stats::default());
    let throttle_all = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Shared {
        upstream: Upstream::new(upstream),
        stats: stats.clone(),
        throttle_all: throttle_all.clone(),
    });
    let addr = serve(shared, |s, req| async move { s.handle(req).await })
        .await
        .expect("bind a loopback port");
    Proxy {
        url: format!("http://{addr}"),
        stats,
        throttle_all,
    }
}
