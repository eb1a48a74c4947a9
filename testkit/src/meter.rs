//! A loopback HTTP proxy in front of the DynamoDB emulator that meters
//! reads as DynamoDB charges them, since an emulator charges nothing:
//! for each Query, Scan, GetItem and BatchGetItem it records the items
//! read (a query's `ScannedCount`: what it read before filtering) and the
//! read units DynamoDB would bill for them.
//!
//! DynamoDB bills a query or scan by the total size of the items (or
//! index entries) it reads, rounded up to 4 KB once per request, and a
//! get by each item's size rounded up to 4 KB; an eventually consistent
//! read costs half. Sizes follow DynamoDB's item size rules ([`item_size`]).
//! A read of a table that names a `ProjectionExpression` is still billed
//! for the whole items, which the response does not carry: such reads are
//! counted in [`Reads::projected_table_reads`] and their units are those
//! of what came back, a lower bound. Nothing is changed on the way.

use std::sync::{Arc, Mutex};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Request;
use serde_json::{json, Map, Value};

use crate::http::{raw_reply, reply, serve, Reply, Upstream};

/// One metered read request.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    /// The operation (`Query`, `Scan`, `GetItem`, `BatchGetItem`).
    pub operation: String,
    /// The index a Query or Scan read, if any.
    pub index: Option<String>,
    /// Whether it was strongly consistent.
    pub consistent: bool,
    /// Items (or index entries) read.
    pub items: u64,
    /// Read units DynamoDB would bill.
    pub units: f64,
    /// Whether it read a table with a `ProjectionExpression` (units then
    /// count only what came back).
    pub projected_table_read: bool,
}

/// Every read the proxy has seen, in order.
#[derive(Debug, Default)]
pub struct Reads {
    seen: Mutex<Vec<Read>>,
}

impl Reads {
    /// The reads so far.
    pub fn all(&self) -> Vec<Read> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Forgets the reads so far.
    pub fn reset(&self) {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Items read so far.
    pub fn items(&self) -> u64 {
        self.all().iter().map(|r| r.items).sum()
    }

    /// Read units so far.
    pub fn units(&self) -> f64 {
        self.all().iter().map(|r| r.units).sum()
    }

    /// Reads of a table with a `ProjectionExpression` so far.
    pub fn projected_table_reads(&self) -> usize {
        self.all().iter().filter(|r| r.projected_table_read).count()
    }

    fn push(&self, read: Read) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(read);
    }
}

/// A running meter.
#[derive(Debug)]
pub struct Meter {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// What it measured.
    pub reads: Arc<Reads>,
}

/// The size DynamoDB counts for a number given as text: its significant
/// digits, two to a byte, plus one.
fn number_size(text: &str) -> u64 {
    let digits: String = text
        .chars()
        .take_while(|c| *c != 'e' && *c != 'E')
        .filter(char::is_ascii_digit)
        .collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len() as u64;
    significant.max(1).div_ceil(2) + 1
}

/// The size of one attribute value in DynamoDB's JSON form.
fn value_size(v: &Value) -> u64 {
    let Some(obj) = v.as_object() else { return 0 };
    let Some((ty, inner)) = obj.iter().next() else {
        return 0;
    };
    match (ty.as_str(), inner) {
        ("S", Value::String(s)) => s.len() as u64,
        ("N", Value::String(n)) => number_size(n),
        ("B", Value::String(b64)) => {
            let pad = b64.bytes().rev().take_while(|b| *b == b'=').count() as u64;
            (b64.len() as u64 / 4) * 3 - pad
        }
        ("BOOL" | "NULL", _) => 1,
        ("SS", Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|s| s.len() as u64)
            .sum(),
        ("NS", Value::Array(a)) => a.iter().filter_map(Value::as_str).map(number_size).sum(),
        ("L", Value::Array(a)) => 3 + a.iter().map(|e| value_size(e) + 1).sum::<u64>(),
        ("M", Value::Object(m)) => {
            3 + m
                .iter()
                .map(|(k, e)| k.len() as u64 + value_size(e) + 1)
                .sum::<u64>()
        }
        _ => 0,
    }
}

/// An item's size as DynamoDB counts it: each attribute's name and value.
pub fn item_size(item: &Map<String, Value>) -> u64 {
    item.iter()
        .map(|(name, v)| name.len() as u64 + value_size(v))
        .sum()
}

const UNIT: u64 = 4096;

fn units(bytes_rounded: u64, consistent: bool) -> f64 {
    let u = bytes_rounded.div_ceil(UNIT).max(1) as f64;
    if consistent {
        u
    } else {
        u / 2.0
    }
}

fn items_of(v: &Value) -> Vec<&Map<String, Value>> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default()
}

/// The read a request and its (successful) response make, if it is one.
fn meter(operation: &str, request: &Value, response: &Value) -> Option<Read> {
    let consistent = request["ConsistentRead"].as_bool().unwrap_or(false);
    let projected = request.get("ProjectionExpression").is_some();
    let index = request["IndexName"].as_str().map(str::to_string);
    let (items, units) = match operation {
        "Query" | "Scan" => {
            let read = items_of(&response["Items"]);
            let bytes: u64 = read.iter().map(|i| item_size(i)).sum();
            let scanned = response["ScannedCount"]
                .as_u64()
                .unwrap_or(read.len() as u64);
            (scanned, units(bytes, consistent))
        }
        "GetItem" => {
            let bytes = response["Item"].as_object().map_or(0, item_size);
            (u64::from(bytes > 0), units(bytes, consistent))
        }
        "BatchGetItem" => {
            let mut items = 0;
            let mut total = 0.0;
            let tables = response["Responses"].as_object()?;
            for (table, found) in tables {
                let consistent = request["RequestItems"][table]["ConsistentRead"]
                    .as_bool()
                    .unwrap_or(false);
                for item in items_of(found) {
                    items += 1;
                    total += units(item_size(item), consistent);
                }
            }
            let projected = request["RequestItems"]
                .as_object()
                .is_some_and(|m| m.values().any(|t| t.get("ProjectionExpression").is_some()));
            return Some(Read {
                operation: operation.into(),
                index: None,
                consistent,
                items,
                units: total,
                projected_table_read: projected,
            });
        }
        _ => return None,
    };
    Some(Read {
        operation: operation.into(),
        projected_table_read: projected && index.is_none(),
        index,
        consistent,
        items,
        units,
    })
}

struct Shared {
    upstream: Upstream,
    reads: Arc<Reads>,
}

impl Shared {
    async fn handle(&self, req: Request<Incoming>) -> Reply {
        let path = req
            .uri()
            .path_and_query()
            .map_or("/".to_string(), |p| p.to_string());
        let headers = req.headers().clone();
        let operation = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("")
            .to_string();
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return reply(400, json!({"message": "bad body"})),
        };
        let (status, bytes) = match self.upstream.forward(&path, &headers, body.clone()).await {
            Ok(answer) => answer,
            Err(e) => return reply(500, json!({ "message": e })),
        };
        if status == 200 {
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let response: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if let Some(read) = meter(&operation, &request, &response) {
                self.reads.push(read);
            }
        }
        raw_reply(status, bytes)
    }
}

/// Starts a meter in front of `upstream` (a loopback emulator).
pub async fn start(upstream: &str) -> std::io::Result<Meter> {
    let reads = Arc::new(Reads::default());
    let shared = Arc::new(Shared {
        upstream: Upstream::new(upstream),
        reads: reads.clone(),
    });
    let addr = serve(shared, |s, req| async move { s.handle(req).await }).await?;
    Ok(Meter {
        url: format!("http://{addr}"),
        reads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes follow DynamoDB's rules: names and values, numbers by
    /// significant digits, binary by decoded bytes, containers with their
    /// overhead; units round once per query and per item of a batch get.
    #[test]
    fn reads_are_billed_as_dynamodb_bills_them() {
        let item = json!({
            "pk": {"S": "abc"},
            "n": {"N": "12300"},
            "b": {"B": "AAEC"},
            "m": {"M": {"x": {"BOOL": true}}}
        });
        let item = item.as_object().unwrap().clone();
        // pk 2+3, n 1+3 (3 significant digits), b 1+3, m 1+(3+1+1+1).
        assert_eq!(item_size(&item), 5 + 4 + 4 + 7);
        let big = json!({"pk": {"S": "x".repeat(3000)}});
        let query = json!({"Items": [big.clone(), big.clone()], "ScannedCount": 5});
        let r = meter("Query", &json!({"TableName": "t"}), &query).unwrap();
        assert_eq!((r.items, r.units), (5, 1.0));
        let r = meter("Query", &json!({"ConsistentRead": true}), &query).unwrap();
        assert_eq!(r.units, 2.0);
        let batch = json!({"Responses": {"t": [big.clone(), big]}});
        let r = meter("BatchGetItem", &json!({"RequestItems": {"t": {}}}), &batch).unwrap();
        assert_eq!((r.items, r.units), (2, 1.0));
        let r = meter(
            "Query",
            &json!({"ProjectionExpression": "#a"}),
            &json!({"Items": [], "ScannedCount": 0}),
        )
        .unwrap();
        assert!(r.projected_table_read);
        assert!(meter("PutItem", &json!({}), &json!({})).is_none());
    }
}
