//! Write batching: what saving samples one by one costs against saving them
//! in one batch, on SQLite and on DynamoDB (moto), in samples per second.
//!
//! Groups:
//!
//! * `sqlite_save_samples`: the same [`SQLITE_SAMPLES`] corpus samples saved
//!   to a fresh WAL database file (opened with `affine_db::sqlite::open_tables`) per
//!   iteration, three ways:
//!   - `single`: one `save_sample` call per sample (one transaction each);
//!   - `batched`: one `save_samples` call (one transaction);
//!   - `floor`: the same conversations compressed with the same
//!     `affine_db::Codec` plus a bare `rusqlite` `INSERT OR REPLACE` of the
//!     same column values through one prepared statement in one transaction,
//!     on the same schema, journal mode and `synchronous` setting. This is the
//!     least a batched save can cost; the target is `batched >= 0.5 x floor`.
//! * `dynamodb_writes` against the emulator at `AFFINE_TEST_DYNAMODB_ENDPOINT`
//!   (start one with `scripts/moto.sh start`), on two links side by side:
//!   `loopback` (the emulator directly) and `rtt4ms` (the same emulator
//!   behind `affine_db_testkit::link::LinkProxy`, 2 ms added each way, as a
//!   client one network round trip from DynamoDB sees it). On each link:
//!   - `single_puts`: sequential `save_sample` calls (one PutItem each);
//!   - `batched`: one `save_samples` call (25-item BatchWriteItem requests,
//!     the backend's default number in flight);
//!   - `ceiling`: the emulator's own ceiling through the same link: the same
//!     samples' items built and compressed beforehand (untimed), written
//!     with one `put_items` at 32 requests in flight, far more than the
//!     emulator works on at once.
//!
//!   Every iteration writes new sample ids into one table set on a fresh
//!   prefix, deleted at the end. Targets on `rtt4ms`: `batched >= 15 x
//!   single_puts` and `batched >= 0.8 x ceiling` (on `loopback` the first
//!   is 5x). Without an endpoint the group is skipped with a note on stderr,
//!   unless `AFFINE_REQUIRE_DYNAMODB=1`, which makes it fail.
//!
//! After the groups one line per ratio with the medians and ratios of this
//! run goes to stdout (from this run's own per-sample timings, the same
//! samples criterion analyses), and the same as JSON to
//! `<criterion dir>/batching-summary.json`.
//!
//! Samples come from the fixture corpus (`../shared/data/r2-bucket`) or the
//! directory named by `AFFINE_BENCH_CORPUS`.
//!
//! Run:
//!
//! ```text
//! AFFINE_TEST_DYNAMODB_ENDPOINT=$(scripts/moto.sh start) cargo bench --bench batching
//! scripts/moto.sh stop
//! cargo test --bench batching     # test mode: every bench once, small counts
//! ```

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use affine_db::clock::system_clock;
use affine_db::codec::{train_dictionary, DEFAULT_DICTIONARY_SIZE, DEFAULT_LEVEL};
use affine_db::dictionaries::{self, DictionaryInfo};
use affine_db::dynamodb::{DynamoConfig, DynamoDriver, DEFAULT_BATCH_CONCURRENCY};
use affine_db::handles::Tables;
use affine_db::schema::{PK, SK};
use affine_db::sqlite::{open_tables, OpenMode};
use affine_db::tools::corpus::{conversation_bytes, corpus_dir, load_samples};
use affine_db::{Admin, Codec, NewSample, Sample, SampleStore, Table};
use affine_db_testkit::link::{Link, LinkProxy};
use criterion::{Criterion, SamplingMode, Throughput};
use rusqlite::types::ToSql;
use tokio::runtime::Runtime;

/// Samples per SQLite iteration (bench mode).
const SQLITE_SAMPLES: usize = 256;
/// Samples per `single_puts` iteration on DynamoDB (bench mode).
const DYNAMO_SINGLE: usize = 50;
/// Samples per `batched_25_concurrent` iteration on DynamoDB (bench mode).
const DYNAMO_BATCHED: usize = 500;
/// Criterion samples per SQLite benchmark.
const SQLITE_SAMPLE_SIZE: usize = 20;
/// Criterion samples per DynamoDB benchmark.
const DYNAMO_SAMPLE_SIZE: usize = 10;
/// Paired rounds (batched against floor) after the SQLite group.
const PAIRED_ROUNDS_SQLITE: usize = 16;
/// Paired rounds (batched against single) after the DynamoDB group.
const PAIRED_ROUNDS_DYNAMO: usize = 6;

const SQLITE_GROUP: &str = "sqlite_save_samples";
const DYNAMO_GROUP: &str = "dynamodb_writes";
const ENDPOINT_ENV: &str = "AFFINE_TEST_DYNAMODB_ENDPOINT";
const REQUIRE_ENV: &str = "AFFINE_REQUIRE_DYNAMODB";

/// Per benchmark (`group/function`): items per iteration and every
/// `(iterations, elapsed)` pair criterion asked for, in order.
#[derive(Default)]
struct Timings(Mutex<BTreeMap<String, Series>>);

/// The timings of one benchmark.
struct Series {
    /// Items written per iteration.
    items: usize,
    /// `(iterations, elapsed)` of each call, in order.
    calls: Vec<(u64, Duration)>,
}

impl Timings {
    fn record(&self, id: &str, items: usize, iters: u64, elapsed: Duration) {
        let mut map = self.0.lock().unwrap();
        let series = map.entry(id.to_string()).or_insert(Series {
            items,
            calls: Vec::new(),
        });
        series.calls.push((iters, elapsed));
    }

    /// Items per second at the median time per iteration of the last
    /// `sample_size` calls (the measurement; earlier calls are warm-up).
    fn rate(&self, id: &str, sample_size: usize) -> Option<f64> {
        let map = self.0.lock().unwrap();
        let Series { items, calls } = map.get(id)?;
        let start = calls.len().saturating_sub(sample_size);
        let mut per_iter: Vec<f64> = calls[start..]
            .iter()
            .map(|(n, d)| d.as_secs_f64() / *n as f64)
            .collect();
        per_iter.sort_by(f64::total_cmp);
        let median = median(&per_iter)?;
        (median > 0.0).then(|| *items as f64 / median)
    }

    /// `Some(())` when benchmark `id` ran (criterion filters may skip it).
    fn ran(&self, id: &str) -> Option<()> {
        self.0.lock().unwrap().contains_key(id).then_some(())
    }
}

/// A ratio of two ways' rates measured in paired rounds.
#[derive(Debug, Clone, Copy)]
struct Paired {
    /// Median over the rounds of `rate(a) / rate(b)`.
    ratio: f64,
    /// How many rounds.
    rounds: usize,
}

impl Paired {
    /// The ratio when `a` writes `factor` times as many items per iteration as `b`.
    fn scaled(self, factor: f64) -> Paired {
        Paired {
            ratio: self.ratio * factor,
            ..self
        }
    }
}

/// Times one iteration of `a` and of `b` per round, back to back and in
/// alternating order, so load changes on a shared machine hit both alike;
/// `rate(a) / rate(b)` (for equal item counts) is the median of the
/// per-round `time(b) / time(a)`.
fn paired(
    rounds: usize,
    mut a: impl FnMut() -> Duration,
    mut b: impl FnMut() -> Duration,
) -> Paired {
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|r| {
            let (ta, tb) = if r % 2 == 0 {
                let ta = a();
                (ta, b())
            } else {
                let tb = b();
                (a(), tb)
            };
            tb.as_secs_f64() / ta.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    Paired {
        ratio: median(&ratios).unwrap_or(f64::NAN),
        rounds,
    }
}

/// The median of sorted values.
fn median(sorted: &[f64]) -> Option<f64> {
    let len = sorted.len();
    (len > 0).then(|| (sorted[(len - 1) / 2] + sorted[len / 2]) / 2.0)
}

/// Whether criterion runs in test mode (every bench once): no `--bench` flag.
fn test_mode() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

/// `n` samples spread evenly over the corpus.
fn pick(samples: &[NewSample], n: usize) -> Vec<NewSample> {
    assert!(
        samples.len() >= n,
        "the corpus holds {} samples, the bench needs {n}",
        samples.len()
    );
    let step = samples.len() / n;
    samples.iter().step_by(step).take(n).cloned().collect()
}

/// `samples` with fresh sample ids, so a write never overwrites a row.
fn fresh_ids(samples: &[NewSample]) -> Vec<NewSample> {
    samples
        .iter()
        .map(|s| NewSample {
            sample_id: Some(uuid::Uuid::new_v4().to_string()),
            ..s.clone()
        })
        .collect()
}

// ---------------------------------------------------------------- SQLite

/// A fresh database file in its own temporary directory, schema created.
async fn fresh_sqlite() -> (tempfile::TempDir, Arc<Tables>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = open_tables(
        dir.path().join("bench.db"),
        system_clock(),
        OpenMode::Create,
    )
    .await
    .expect("open sqlite");
    (dir, backend)
}

/// [`fresh_sqlite`], warmed up like a long-running backend: an empty
/// `save_samples` writes nothing but does the once-a-minute work of a
/// backend's first save (loading the dictionary targets, which opens a read
/// connection), so the timed saves measure the steady state.
async fn warm_sqlite() -> (tempfile::TempDir, Arc<Tables>) {
    let (dir, backend) = fresh_sqlite().await;
    let keys = backend.save_samples(Vec::new()).await.expect("warm up");
    assert!(keys.is_empty());
    (dir, backend)
}

/// One row as the backend stores it: the sample, its keys and its frame.
struct Row<'a> {
    sample: &'a Sample,
    pk: String,
    sk: String,
    conversation: Vec<u8>,
}

impl Row<'_> {
    /// The value of column `name`.
    fn column(&self, name: &str) -> &dyn ToSql {
        let s = self.sample;
        match name {
            PK => &self.pk,
            SK => &self.sk,
            "sample_id" => &s.sample_id,
            "miner_hotkey" => &s.miner_hotkey,
            "model_revision" => &s.model_revision,
            "model_hash" => &s.model_hash,
            "uid" => &s.uid,
            "env" => &s.env,
            "subset" => &s.subset,
            "dataset_index" => &s.dataset_index,
            "task_id" => &s.task_id,
            "score" => &s.score,
            "success" => &s.success,
            "latency_ms" => &s.latency_ms,
            "timestamp" => &s.timestamp,
            "conversation_compressed" => &self.conversation,
            "validator_hotkey" => &s.validator_hotkey,
            "block_number" => &s.block_number,
            "signature" => &s.signature,
            other => {
                panic!("the floor does not know sample_results column {other}; update the bench")
            }
        }
    }
}

/// The floor: compress with `codec`, then one prepared `INSERT OR REPLACE`
/// per row in one `BEGIN IMMEDIATE` transaction on a bare connection.
fn floor_insert(conn: &mut rusqlite::Connection, codec: &Codec, samples: &[Sample]) {
    let def = Table::SampleResults.def();
    let names: Vec<&str> = [PK, SK]
        .into_iter()
        .chain(def.attrs.iter().map(|a| a.name))
        .collect();
    let sql = format!(
        "INSERT OR REPLACE INTO \"{}\" ({}) VALUES ({})",
        Table::SampleResults.name(),
        names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", "),
        (1..=names.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .expect("begin");
    {
        let mut stmt = tx.prepare(&sql).expect("prepare");
        for s in samples {
            let key = s.key();
            let row = Row {
                sample: s,
                pk: key.pk(),
                sk: key.sk(),
                conversation: codec
                    .encode(s.conversation.as_ref().expect("a conversation"))
                    .expect("encode"),
            };
            let values: Vec<&dyn ToSql> = names.iter().map(|n| row.column(n)).collect();
            stmt.execute(values.as_slice()).expect("insert");
        }
    }
    tx.commit().expect("commit");
}

/// A bare connection to a fresh database made by the backend (same schema,
/// WAL), with the backend's per-connection settings.
fn floor_connection(rt: &Runtime) -> (tempfile::TempDir, rusqlite::Connection) {
    let (dir, backend) = rt.block_on(fresh_sqlite());
    let path = dir.path().join("bench.db");
    drop(backend);
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.busy_timeout(affine_db::sqlite::BUSY_TIMEOUT)
        .expect("busy");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal mode");
    assert!(mode.eq_ignore_ascii_case("wal"), "journal mode {mode}");
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("synchronous");
    conn.pragma_update(None, "foreign_keys", false)
        .expect("foreign keys");
    (dir, conn)
}

/// One `single` iteration: a warm fresh database, one `save_sample` per sample.
fn sqlite_single_once(rt: &Runtime, samples: &[NewSample]) -> Duration {
    let (dir, backend) = rt.block_on(warm_sqlite());
    let batch = samples.to_vec();
    let elapsed = rt.block_on(async {
        let t = Instant::now();
        for s in batch {
            backend.save_sample(s).await.expect("save_sample");
        }
        t.elapsed()
    });
    drop((backend, dir));
    elapsed
}

/// One `batched` iteration: a warm fresh database, one `save_samples` call.
fn sqlite_batched_once(rt: &Runtime, samples: &[NewSample]) -> Duration {
    let (dir, backend) = rt.block_on(warm_sqlite());
    let batch = samples.to_vec();
    let elapsed = rt.block_on(async {
        let t = Instant::now();
        let keys = backend.save_samples(batch).await.expect("save_samples");
        let elapsed = t.elapsed();
        assert_eq!(keys.len(), samples.len());
        elapsed
    });
    drop((backend, dir));
    elapsed
}

/// One `floor` iteration: a fresh database, compress + bare insert.
fn sqlite_floor_once(rt: &Runtime, codec: &Codec, samples: &[NewSample]) -> Duration {
    let (dir, mut conn) = floor_connection(rt);
    let now = system_clock().now_ms();
    let rows: Vec<Sample> = samples
        .iter()
        .map(|s| s.clone().into_sample(now).expect("valid sample"))
        .collect();
    let t = Instant::now();
    floor_insert(&mut conn, codec, &rows);
    let elapsed = t.elapsed();
    let count: i64 = conn
        .query_row("SELECT COUNT(*) FROM \"sample_results\"", [], |r| r.get(0))
        .expect("count");
    assert_eq!(usize::try_from(count).ok(), Some(samples.len()));
    drop((conn, dir));
    elapsed
}

/// Samples per SQLite iteration in this mode.
fn sqlite_count() -> usize {
    if test_mode() {
        32
    } else {
        SQLITE_SAMPLES
    }
}

fn sqlite_group(c: &mut Criterion, rt: &Runtime, samples: &[NewSample], timings: &Timings) {
    let n = samples.len();
    let codec = Codec::default();
    let mut group = c.benchmark_group(SQLITE_GROUP);
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(SQLITE_SAMPLE_SIZE)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(n as u64));
    let ways: [(&str, &dyn Fn() -> Duration); 3] = [
        ("single", &|| sqlite_single_once(rt, samples)),
        ("batched", &|| sqlite_batched_once(rt, samples)),
        ("floor", &|| sqlite_floor_once(rt, &codec, samples)),
    ];
    for (name, once) in ways {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let total = (0..iters).map(|_| once()).sum();
                timings.record(&format!("{SQLITE_GROUP}/{name}"), n, iters, total);
                total
            })
        });
    }
    group.finish();
}

/// `batched / floor` in items per second from paired rounds (each round
/// times one iteration of both back to back, in alternating order, so load
/// changes on a shared machine hit both alike): the median of the per-round
/// ratios. `None` when the group did not run (filtered out).
fn sqlite_paired(rt: &Runtime, samples: &[NewSample], timings: &Timings) -> Option<Paired> {
    timings.ran(&format!("{SQLITE_GROUP}/batched"))?;
    timings.ran(&format!("{SQLITE_GROUP}/floor"))?;
    let codec = Codec::default();
    let rounds = if test_mode() { 1 } else { PAIRED_ROUNDS_SQLITE };
    Some(paired(
        rounds,
        || sqlite_batched_once(rt, samples),
        || sqlite_floor_once(rt, &codec, samples),
    ))
}

// -------------------------------------------------------------- DynamoDB

/// The emulator endpoint, or `None` (after saying why on stderr) when the
/// group is skipped. Panics when it is required and missing.
fn dynamo_endpoint() -> Option<String> {
    match std::env::var(ENDPOINT_ENV) {
        Ok(ep) if !ep.is_empty() => Some(ep),
        _ if std::env::var(REQUIRE_ENV).as_deref() == Ok("1") => panic!(
            "{DYNAMO_GROUP}: {ENDPOINT_ENV} is unset but {REQUIRE_ENV}=1; start the emulator \
             with `scripts/moto.sh start` and export its URL as {ENDPOINT_ENV}"
        ),
        _ => {
            eprintln!(
                "{DYNAMO_GROUP}: skipped: {ENDPOINT_ENV} is unset (start one with `scripts/moto.sh start`)"
            );
            None
        }
    }
}

fn set_default_env(key: &str, value: &str) {
    if std::env::var_os(key).is_none() {
        // Dummy credentials for the loopback emulator only.
        std::env::set_var(key, value);
    }
}

/// Table handles on table prefix `prefix` at `url` (the emulator or a link
/// proxy in front of it) keeping `in_flight` batch requests in flight,
/// warmed up: its dictionaries loaded.
async fn connect(url: &str, prefix: &str, in_flight: usize) -> Arc<Tables> {
    set_default_env("AWS_ACCESS_KEY_ID", "affine-test");
    set_default_env("AWS_SECRET_ACCESS_KEY", "affine-test");
    set_default_env("AWS_REGION", "us-east-1");
    std::env::remove_var("AWS_PROFILE");
    let config = DynamoConfig {
        prefix: prefix.to_string(),
        region: Some("us-east-1".into()),
        endpoint: Some(url.to_string()),
    };
    let driver = DynamoDriver::connect(config)
        .await
        .expect("connect to the DynamoDB emulator")
        .with_batch_concurrency(in_flight)
        .expect("a valid concurrency");
    let backend = affine_db::dynamodb::tables(driver, system_clock());
    // Warm up like a long-running backend: an empty save writes nothing but
    // does the once-a-minute work of a first save (dictionary targets).
    let keys = backend.save_samples(Vec::new()).await.expect("warm up");
    assert!(keys.is_empty());
    backend
}

/// Creates the tables on a fresh prefix at `endpoint` and stores our
/// default stored form: a dictionary trained on `corpus`, stored and
/// activated as `affine-db train-dict` would. Returns the prefix.
async fn dynamo_tables(endpoint: &str, corpus: &[NewSample]) -> (String, Arc<Tables>) {
    let prefix = format!("bench{}", uuid::Uuid::new_v4().simple());
    set_default_env("AWS_ACCESS_KEY_ID", "affine-test");
    set_default_env("AWS_SECRET_ACCESS_KEY", "affine-test");
    set_default_env("AWS_REGION", "us-east-1");
    std::env::remove_var("AWS_PROFILE");
    let config = DynamoConfig {
        prefix: prefix.clone(),
        region: Some("us-east-1".into()),
        endpoint: Some(endpoint.to_string()),
    };
    let backend = affine_db::dynamodb::open_tables(config, system_clock())
        .await
        .expect("connect to the DynamoDB emulator");
    backend.init().await.expect("create the bench tables");
    let dict = train_dictionary(
        &conversation_bytes(corpus),
        DEFAULT_DICTIONARY_SIZE,
        DEFAULT_LEVEL,
    )
    .expect("train a dictionary on the corpus");
    let info = DictionaryInfo {
        id: dict.id,
        size: dict.bytes.len() as u64,
        env: None,
        samples: corpus.len() as u64,
        sample_bytes: 0,
        created_at: 0,
        created_by: "bench".into(),
    };
    dictionaries::store(&*backend, &dict, &info)
        .await
        .expect("store the dictionary");
    dictionaries::activate(&*backend, dict.id, None, "bench", 0)
        .await
        .expect("activate the dictionary");
    (prefix, backend)
}

/// Deletes the bench's tables (best effort: a leftover table on a
/// throwaway emulator is harmless).
async fn drop_dynamo_tables(backend: &Tables) {
    if let Err(e) = backend.driver().drop_tables().await {
        eprintln!("{DYNAMO_GROUP}: could not delete the tables: {e}");
    }
}

/// The links the DynamoDB group runs on: the emulator on raw loopback, and
/// the same emulator behind a [`LinkProxy`] adding 2 ms each way.
const LINKS: [(&str, Option<f64>); 2] = [("loopback", None), ("rtt4ms", Some(4.0))];

/// One link's backends: `writer` with the default batch concurrency (the
/// `single_puts` and `batched` ways), `ceiling` with [`CEILING_CONCURRENCY`].
struct LinkSetup {
    name: &'static str,
    writer: Arc<Tables>,
    ceiling: Arc<Tables>,
    /// Keeps the proxy running.
    _proxy: Option<LinkProxy>,
}

/// Batch requests the `ceiling` way keeps in flight: far more than the
/// emulator can work on at once, so it is the emulator (behind the same
/// link) that decides the rate.
const CEILING_CONCURRENCY: usize = 32;

/// One `single_puts` iteration: sequential `save_sample` calls of fresh ids.
fn dynamo_single_once(rt: &Runtime, backend: &Tables, samples: &[NewSample]) -> Duration {
    let batch = fresh_ids(samples);
    rt.block_on(async {
        let t = Instant::now();
        for s in batch {
            backend.save_sample(s).await.expect("save_sample");
        }
        t.elapsed()
    })
}

/// One `batched` iteration: one `save_samples` of fresh ids.
fn dynamo_batched_once(rt: &Runtime, backend: &Tables, samples: &[NewSample]) -> Duration {
    let batch = fresh_ids(samples);
    rt.block_on(async {
        let t = Instant::now();
        let keys = backend.save_samples(batch).await.expect("save_samples");
        let elapsed = t.elapsed();
        assert_eq!(keys.len(), samples.len());
        elapsed
    })
}

/// One `ceiling` iteration: the same samples with fresh ids, their items
/// built and compressed beforehand (untimed), written with one `put_items`
/// at [`CEILING_CONCURRENCY`] requests in flight.
fn dynamo_ceiling_once(
    rt: &Runtime,
    backend: &Tables,
    codec: &Codec,
    samples: &[NewSample],
) -> Duration {
    let now = system_clock().now_ms();
    let items: Vec<_> = fresh_ids(samples)
        .into_iter()
        .map(|s| {
            s.into_sample(now)
                .and_then(|s| s.to_item(codec))
                .expect("a valid sample")
        })
        .collect();
    rt.block_on(async {
        let t = Instant::now();
        backend
            .put_items(Table::SampleResults, items)
            .await
            .expect("put_items");
        t.elapsed()
    })
}

/// The DynamoDB sample sets `(single, batched)` in this mode: the single set
/// is an even spread of the batched one, so both ways write alike samples.
fn dynamo_sets(corpus: &[NewSample]) -> (Vec<NewSample>, Vec<NewSample>) {
    let (n_single, n_batched) = if test_mode() {
        (5, 50)
    } else {
        (DYNAMO_SINGLE, DYNAMO_BATCHED)
    };
    let batched = pick(corpus, n_batched);
    (pick(&batched, n_single), batched)
}

/// The paired ratios of one link: `batched / single_puts` and
/// `batched / ceiling` in items per second.
#[derive(Debug, Clone, Copy)]
struct LinkRatios {
    over_single: Paired,
    over_ceiling: Paired,
}

/// Runs the DynamoDB group on every link of [`LINKS`] and the paired rounds
/// of each; the tables are dropped afterwards.
fn dynamo_group(
    c: &mut Criterion,
    rt: &Runtime,
    endpoint: &str,
    corpus: &[NewSample],
    timings: &Timings,
) -> BTreeMap<&'static str, LinkRatios> {
    let (single, batched) = dynamo_sets(corpus);
    // Created on first use, so a filter that skips this group touches nothing.
    let setup: OnceCell<(Arc<Tables>, Vec<LinkSetup>)> = OnceCell::new();
    let setup_ref = || {
        setup.get_or_init(|| {
            rt.block_on(async {
                let (prefix, admin) = dynamo_tables(endpoint, corpus).await;
                let mut links = Vec::new();
                for (name, rtt) in LINKS {
                    let proxy = rtt.map(|ms| {
                        LinkProxy::start(endpoint, Link::round_trip_ms(ms)).expect("link proxy")
                    });
                    let url = proxy.as_ref().map_or(endpoint, |p| p.url()).to_string();
                    let writer = connect(&url, &prefix, DEFAULT_BATCH_CONCURRENCY).await;
                    let ceiling = connect(&url, &prefix, CEILING_CONCURRENCY).await;
                    links.push(LinkSetup {
                        name,
                        writer,
                        ceiling,
                        _proxy: proxy,
                    });
                }
                (admin, links)
            })
        })
    };

    let mut group = c.benchmark_group(DYNAMO_GROUP);
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(DYNAMO_SAMPLE_SIZE)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (i, (link, _)) in LINKS.iter().enumerate() {
        let link_of = |i: usize| &setup_ref().1[i];
        let ways: [(&str, &[NewSample]); 3] = [
            ("single_puts", &single),
            ("batched", &batched),
            ("ceiling", &batched),
        ];
        for (way, samples) in ways {
            let n = samples.len();
            let id = format!("{link}/{way}");
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(&id, |b| {
                let l = link_of(i);
                b.iter_custom(|iters| {
                    let total = (0..iters)
                        .map(|_| match way {
                            "single_puts" => dynamo_single_once(rt, &l.writer, samples),
                            "batched" => dynamo_batched_once(rt, &l.writer, samples),
                            _ => dynamo_ceiling_once(
                                rt,
                                &l.ceiling,
                                &affine_db::Backend::shared_codec(&*l.writer),
                                samples,
                            ),
                        })
                        .sum();
                    timings.record(&format!("{DYNAMO_GROUP}/{id}"), n, iters, total);
                    total
                })
            });
        }
    }
    group.finish();

    let mut out = BTreeMap::new();
    let Some((admin, links)) = setup.get() else {
        return out;
    };
    let rounds = if test_mode() { 1 } else { PAIRED_ROUNDS_DYNAMO };
    for l in links {
        let ran = |way: &str| timings.ran(&format!("{DYNAMO_GROUP}/{}/{way}", l.name));
        if ran("single_puts").is_none() || ran("batched").is_none() || ran("ceiling").is_none() {
            continue;
        }
        let over_single = paired(
            rounds,
            || dynamo_batched_once(rt, &l.writer, &batched),
            || dynamo_single_once(rt, &l.writer, &single),
        )
        .scaled(batched.len() as f64 / single.len() as f64);
        let over_ceiling = paired(
            rounds,
            || dynamo_batched_once(rt, &l.writer, &batched),
            || {
                dynamo_ceiling_once(
                    rt,
                    &l.ceiling,
                    &affine_db::Backend::shared_codec(&*l.writer),
                    &batched,
                )
            },
        );
        out.insert(
            l.name,
            LinkRatios {
                over_single,
                over_ceiling,
            },
        );
    }
    rt.block_on(drop_dynamo_tables(admin));
    out
}

// --------------------------------------------------------------- summary

fn fmt_rate(rate: Option<f64>) -> String {
    rate.map_or("n/a".into(), |r| format!("{r:.0}/s"))
}

/// One summary line: the criterion median rates of `ways`, their ratio
/// `a / b`, the paired ratio, and the verdict against `target` (on the
/// paired ratio when there is one).
fn summary_line(
    group: &str,
    timings: &Timings,
    sample_size: usize,
    ways: &[&str],
    (a, b): (&str, &str),
    paired: Option<Paired>,
    target: f64,
) -> String {
    let rate = |name: &str| timings.rate(&format!("{group}/{name}"), sample_size);
    let rates: Vec<String> = ways
        .iter()
        .map(|w| format!("{w}={}", fmt_rate(rate(w))))
        .collect();
    let median_ratio = rate(a).zip(rate(b)).map(|(x, y)| x / y);
    let judged = paired.map(|p| p.ratio).or(median_ratio);
    let verdict = match judged {
        Some(r) if r >= target => "ok",
        Some(_) => "BELOW TARGET",
        None => "not measured",
    };
    let fmt = |r: Option<f64>| r.map_or("n/a".into(), |r| format!("{r:.2}"));
    format!(
        "{group}: {} (medians); {a}/{b} = {} from medians, {} paired over {} round(s) \
         (target >= {target}: {verdict})",
        rates.join(" "),
        fmt(median_ratio),
        fmt(paired.map(|p| p.ratio)),
        paired.map_or(0, |p| p.rounds),
    )
}

/// Where criterion writes (`CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`,
/// else `target/criterion`).
fn criterion_dir() -> std::path::PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => std::path::PathBuf::from(dir).join("criterion"),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/criterion"),
    }
}

/// The targets on each link: `batched / single_puts` and `batched / ceiling`.
fn link_targets(link: &str) -> (f64, f64) {
    match link {
        "rtt4ms" => (15.0, 0.8),
        _ => (5.0, 0.8),
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = corpus_dir(Path::new(env!("CARGO_MANIFEST_DIR")));
    let corpus = load_samples(&dir).expect("load the bench corpus");
    // Before any group runs, so a required but missing emulator fails fast.
    let endpoint = dynamo_endpoint();
    let timings = Timings::default();
    let mut c = Criterion::default().configure_from_args();

    let sqlite_samples = pick(&corpus, sqlite_count());
    sqlite_group(&mut c, &rt, &sqlite_samples, &timings);
    let sqlite_ratio = sqlite_paired(&rt, &sqlite_samples, &timings);
    let dynamo_ratios = endpoint
        .as_deref()
        .map(|ep| dynamo_group(&mut c, &rt, ep, &corpus, &timings))
        .unwrap_or_default();
    c.final_summary();

    println!(
        "{}",
        summary_line(
            SQLITE_GROUP,
            &timings,
            SQLITE_SAMPLE_SIZE,
            &["single", "batched", "floor"],
            ("batched", "floor"),
            sqlite_ratio,
            0.5,
        )
    );
    let rate = |id: String| timings.rate(&id, DYNAMO_SAMPLE_SIZE);
    let mut links_json = serde_json::Map::new();
    for (link, rtt) in LINKS {
        let ways = [
            format!("{link}/single_puts"),
            format!("{link}/batched"),
            format!("{link}/ceiling"),
        ];
        let way_refs: Vec<&str> = ways.iter().map(String::as_str).collect();
        let ratios = dynamo_ratios.get(link).copied();
        let (t_single, t_ceiling) = link_targets(link);
        if endpoint.is_some() {
            println!(
                "{}",
                summary_line(
                    DYNAMO_GROUP,
                    &timings,
                    DYNAMO_SAMPLE_SIZE,
                    &way_refs,
                    (&ways[1], &ways[0]),
                    ratios.map(|r| r.over_single),
                    t_single,
                )
            );
            println!(
                "{}",
                summary_line(
                    DYNAMO_GROUP,
                    &timings,
                    DYNAMO_SAMPLE_SIZE,
                    &way_refs[1..],
                    (&ways[1], &ways[2]),
                    ratios.map(|r| r.over_ceiling),
                    t_ceiling,
                )
            );
        }
        links_json.insert(
            link.to_string(),
            serde_json::json!({
                "added_rtt_ms": rtt.unwrap_or(0.0),
                "single_puts_per_s": rate(format!("{DYNAMO_GROUP}/{link}/single_puts")),
                "batched_per_s": rate(format!("{DYNAMO_GROUP}/{link}/batched")),
                "ceiling_per_s": rate(format!("{DYNAMO_GROUP}/{link}/ceiling")),
                "batched_over_single_paired": ratios.map(|r| r.over_single.ratio),
                "batched_over_ceiling_paired": ratios.map(|r| r.over_ceiling.ratio),
                "paired_rounds": ratios.map(|r| r.over_single.rounds),
                "target_over_single": t_single,
                "target_over_ceiling": t_ceiling,
            }),
        );
    }
    let summary = serde_json::json!({
        "test_mode": test_mode(),
        "sqlite": {
            "single_per_s": timings.rate(&format!("{SQLITE_GROUP}/single"), SQLITE_SAMPLE_SIZE),
            "batched_per_s": timings.rate(&format!("{SQLITE_GROUP}/batched"), SQLITE_SAMPLE_SIZE),
            "floor_per_s": timings.rate(&format!("{SQLITE_GROUP}/floor"), SQLITE_SAMPLE_SIZE),
            "batched_over_floor_paired": sqlite_ratio.map(|r| r.ratio),
        },
        "dynamodb": endpoint.as_ref().map(|_| serde_json::Value::Object(links_json)),
    });
    let dir = criterion_dir();
    let path = dir.join("batching-summary.json");
    let text = serde_json::to_string_pretty(&summary).expect("JSON serializes");
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, text + "\n")) {
        Ok(()) => println!("summary written to {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}
