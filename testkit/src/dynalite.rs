//! A loopback HTTP shim in front of a DynamoDB emulator: the one place where
//! what dynalite lacks is made up for, so the same tests, with the same
//! assertions, run on moto and on dynalite.
//!
//! What the shim answers itself (everything else is forwarded unchanged):
//!
//! - `UpdateTimeToLive` / `DescribeTimeToLive`: dynalite 4 answers
//!   `DescribeTimeToLive` with `DISABLED` always and has no
//!   `UpdateTimeToLive` (`UnknownOperationException`). The shim keeps each
//!   table's TTL setting the way DynamoDB reports it: enabling sets
//!   `ENABLED` with the attribute name, enabling again is the
//!   `ValidationException` "TimeToLive is already enabled", disabling
//!   what is not enabled is "TimeToLive is already disabled", and a table
//!   that does not exist is the upstream's `ResourceNotFoundException`
//!   (checked with a forwarded `DescribeTable`). Deleting a table forgets
//!   its setting. Expired items are not deleted by the shim (DynamoDB
//!   deletes them lazily, up to days later; the code under test filters
//!   them on every read, which is what the tests assert).
//!
//! The shim can also take away what an emulator gives and DynamoDB may
//! not: with [`Options::strip_condition_items`] the `Item` that
//! `ReturnValuesOnConditionCheckFailure=ALL_OLD` puts into a
//! `ConditionalCheckFailedException` is removed (dynalite never returns
//! one), so the code's fallback read is tested on moto too.
//!
//! Which implementation the tests run on is named by
//! `AFFINE_TEST_DYNAMODB_IMPL` (`moto`, the default, or `dynalite`);
//! [`test_endpoint`] puts the shim in front of a dynalite endpoint.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Request;
use serde_json::{json, Value};

use crate::http::{raw_reply, reply, serve, Reply, Upstream};

/// The environment variable naming the DynamoDB implementation under test.
pub const IMPL_ENV: &str = "AFFINE_TEST_DYNAMODB_IMPL";

/// The DynamoDB implementations the tests run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Implementation {
    /// moto's server (`scripts/moto.sh`).
    Moto,
    /// dynalite (`scripts/dynalite.sh`), behind the shim.
    Dynalite,
}

impl Implementation {
    /// The implementation named by `AFFINE_TEST_DYNAMODB_IMPL` (unset or
    /// empty: moto). Panics on any other name, so a typo never silently
    /// runs the tests on the wrong server.
    pub fn from_env() -> Implementation {
        match std::env::var(IMPL_ENV).as_deref() {
            Err(_) | Ok("") | Ok("moto") => Implementation::Moto,
            Ok("dynalite") => Implementation::Dynalite,
            Ok(other) => panic!("{IMPL_ENV}={other:?}: expected `moto` or `dynalite`"),
        }
    }
}

/// What the shim does beyond forwarding.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Answer the TTL API from the shim's own state (dynalite lacks it).
    pub emulate_ttl: bool,
    /// Remove `Item` from `ConditionalCheckFailedException` responses.
    pub strip_condition_items: bool,
}

impl Options {
    /// What dynalite needs: the TTL API answered by the shim.
    pub fn dynalite() -> Options {
        Options {
            emulate_ttl: true,
            strip_condition_items: false,
        }
    }
}

/// What the shim saw and did.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests received.
    pub requests: AtomicUsize,
    /// TTL requests answered by the shim.
    pub ttl_answered: AtomicUsize,
    /// `ConditionalCheckFailedException` responses forwarded.
    pub condition_failures: AtomicUsize,
    /// `ConditionalCheckFailedException` responses whose `Item` was removed.
    pub items_stripped: AtomicUsize,
}

/// A running shim.
pub struct Shim {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Counters.
    pub stats: Arc<Stats>,
}

#[derive(Clone, Debug)]
struct Ttl {
    attribute: String,
    enabled: bool,
}

struct Shared {
    upstream: Upstream,
    options: Options,
    stats: Arc<Stats>,
    ttl: Mutex<HashMap<String, Ttl>>,
}

fn validation(message: &str) -> Reply {
    reply(
        400,
        json!({"__type": "com.amazon.coral.validate#ValidationException", "message": message}),
    )
}

impl Shared {
    /// Forwards a `DescribeTable` of `table`: `None` when it exists, else
    /// the upstream's error response.
    async fn table_error(
        &self,
        path: &str,
        headers: &hyper::HeaderMap,
        table: &str,
    ) -> Option<Reply> {
        let mut headers = headers.clone();
        headers.insert(
            "x-amz-target",
            hyper::header::HeaderValue::from_static("DynamoDB_20120810.DescribeTable"),
        );
        let body = Bytes::from(json!({ "TableName": table }).to_string());
        match self.upstream.forward(path, &headers, body).await {
            Ok((200, _)) => None,
            Ok((status, bytes)) => Some(raw_reply(status, bytes)),
            Err(e) => Some(reply(500, json!({ "message": e }))),
        }
    }

    async fn describe_ttl(&self, path: &str, headers: &hyper::HeaderMap, body: &Value) -> Reply {
        let Some(table) = body["TableName"].as_str() else {
            return validation("TableName is required");
        };
        if let Some(err) = self.table_error(path, headers, table).await {
            return err;
        }
        self.stats.ttl_answered.fetch_add(1, Ordering::SeqCst);
        let state = self.ttl.lock().expect("ttl state").get(table).cloned();
        let description = match state {
            Some(t) if t.enabled => {
                json!({"TimeToLiveStatus": "ENABLED", "AttributeName": t.attribute})
            }
            _ => json!({"TimeToLiveStatus": "DISABLED"}),
        };
        reply(200, json!({ "TimeToLiveDescription": description }))
    }

    async fn update_ttl(&self, path: &str, headers: &hyper::HeaderMap, body: &Value) -> Reply {
        let Some(table) = body["TableName"].as_str() else {
            return validation("TableName is required");
        };
        let spec = &body["TimeToLiveSpecification"];
        let (Some(attribute), Some(enabled)) =
            (spec["AttributeName"].as_str(), spec["Enabled"].as_bool())
        else {
            return validation("TimeToLiveSpecification needs AttributeName and Enabled");
        };
        if let Some(err) = self.table_error(path, headers, table).await {
            return err;
        }
        self.stats.ttl_answered.fetch_add(1, Ordering::SeqCst);
        let mut state = self.ttl.lock().expect("ttl state");
        let on = state.get(table).is_some_and(|t| t.enabled);
        if enabled && on {
            return validation("TimeToLive is already enabled");
        }
        if !enabled && !on {
            return validation("TimeToLive is already disabled");
        }
        state.insert(
            table.to_string(),
            Ttl {
                attribute: attribute.to_string(),
                enabled,
            },
        );
        reply(
            200,
            json!({"TimeToLiveSpecification": {"AttributeName": attribute, "Enabled": enabled}}),
        )
    }

    async fn handle(&self, req: Request<Incoming>) -> Reply {
        self.stats.requests.fetch_add(1, Ordering::SeqCst);
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
        let action = target.rsplit('.').next().unwrap_or("").to_string();
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return reply(400, json!({"message": "bad body"})),
        };
        if self.options.emulate_ttl
            && matches!(action.as_str(), "DescribeTimeToLive" | "UpdateTimeToLive")
        {
            let Ok(v) = serde_json::from_slice::<Value>(&body) else {
                return reply(
                    400,
                    json!({"__type": "com.amazon.coral.service#SerializationException"}),
                );
            };
            return if action == "DescribeTimeToLive" {
                self.describe_ttl(&path, &headers, &v).await
            } else {
                self.update_ttl(&path, &headers, &v).await
            };
        }
        let deleted_table = (action == "DeleteTable")
            .then(|| serde_json::from_slice::<Value>(&body).ok())
            .flatten()
            .and_then(|v| v["TableName"].as_str().map(str::to_string));
        let (status, bytes) = match self.upstream.forward(&path, &headers, body).await {
            Ok(r) => r,
            Err(e) => return reply(500, json!({ "message": e })),
        };
        if status == 200 {
            if let Some(table) = deleted_table {
                self.ttl.lock().expect("ttl state").remove(&table);
            }
        }
        if status == 400 {
            if let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) {
                let conditional = v["__type"]
                    .as_str()
                    .is_some_and(|t| t.ends_with("ConditionalCheckFailedException"));
                if conditional {
                    self.stats.condition_failures.fetch_add(1, Ordering::SeqCst);
                }
                if conditional && self.options.strip_condition_items {
                    if let Some(obj) = v.as_object_mut() {
                        if obj.remove("Item").is_some() {
                            self.stats.items_stripped.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    return reply(status, v);
                }
            }
        }
        raw_reply(status, bytes)
    }
}

/// Starts a shim in front of `upstream` on the current tokio runtime.
pub async fn start(upstream: &str, options: Options) -> Shim {
    let stats = Arc::new(Stats::default());
    let shared = Arc::new(Shared {
        upstream: Upstream::new(upstream),
        options,
        stats: stats.clone(),
        ttl: Mutex::new(HashMap::new()),
    });
    let addr = serve(shared, |s, req| async move { s.handle(req).await })
        .await
        .expect("bind a loopback port");
    Shim {
        url: format!("http://{addr}"),
        stats,
    }
}

/// Starts a shim on a thread of its own (with its own tokio runtime) that
/// lives as long as the process, so it outlasts each test's runtime.
pub fn start_detached(upstream: &str, options: Options) -> Shim {
    let upstream = upstream.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("dynamodb-shim".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("shim runtime");
            rt.block_on(async move {
                let shim = start(&upstream, options).await;
                tx.send(shim).expect("hand the shim over");
                std::future::pending::<()>().await;
            });
        })
        .expect("spawn the shim thread");
    rx.recv().expect("the shim started")
}

/// The endpoint the tests should use for the emulator at `raw` (from
/// `AFFINE_TEST_DYNAMODB_ENDPOINT`): `raw` itself on moto; on dynalite a
/// shim in front of it, started once per process.
pub fn test_endpoint(raw: &str) -> String {
    static SHIMS: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    match Implementation::from_env() {
        Implementation::Moto => raw.to_string(),
        Implementation::Dynalite => {
            let mut shims = SHIMS
                .get_or_init(|| Mutex::new(HashMap::new()))
                .lock()
                .expect("shim registry");
            shims
                .entry(raw.to_string())
                .or_insert_with(|| start_detached(raw, Options::dynalite()).url)
                .clone()
        }
    }
}
