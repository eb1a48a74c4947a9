//! Performance at scale (issue 13): generated buckets, migration against
//! its parse floor, and growth curves of the stores. A bench binary without
//! criterion: each mode prints one JSON object on stdout, and
//! `scripts/bench-scale` runs the modes (each in its own process, so peak
//! RSS is per measurement) and puts the numbers side by side.
//!
//! ```text
//! cargo bench --bench scale -- bucket --records 40000 --out DIR [--seed S]
//! cargo bench --bench scale -- floor --source DIR
//! cargo bench --bench scale -- migrate (--source DIR | --generate N [--seed S]) --db URL
//!                                      [--latency-ms MS] [--batch-size B] [--in-flight K] [--workers W]
//! cargo bench --bench scale -- growth --sizes 10000,100000,1000000 --dir DIR [--reads R]
//! cargo bench --bench scale -- dynamo-growth --sizes 10000,100000 --endpoint URL [--reads R]
//! cargo test --bench scale      # smoke test: every mode on small sizes
//! ```
//!
//! Data comes from the fixture's records (`../shared/data/r2-bucket`, or
//! `AFFINE_BENCH_CORPUS`), resampled by `affine_db_testkit::bucket` with a
//! fixed seed: the same arguments give the same data. Nothing is read from
//! the network; DynamoDB modes talk to the emulator on loopback only.
//!
//! Growth (`growth`, `dynamo-growth`): one store grows through the sizes.
//! Sample `i` belongs to one of [`MINERS`] miners and one of the fixture's
//! environments, with a conversation from the fixture; one sample in ten is
//! older than the default 90-day retention, the rest spread over 80 days
//! before the bench's fixed clock. At each size `n` the store is measured:
//!
//! - save throughput: the last [`SAVE_MEASURED`] samples before `n` are
//!   saved with `save_samples` in batches of [`SAVE_BATCH`] as a validator
//!   saves them, stamped at the clock's now (newest last); the rest are
//!   loaded in bulk at random times over the 80 days, untimed, and on SQLite
//!   flushed to disk before the timed saves start;
//! - reads, each `--reads` times (after a warm-up), p50 and p99:
//!   `get_samples_by_miner` (a random miner's newest 50, with and without
//!   conversations) and `get_samples_by_env` (a random env's first 100 of
//!   the last 30 days, with conversations);
//! - `stats` (median of 5), file bytes per sample (after a checkpoint);
//! - `cleanup` (SQLite only): the retention rule deletes the old tenth,
//!   timed per deleted sample; the deleted samples are then put back, so
//!   the next size starts from exactly `n`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use affine_db::clock::{ManualClock, SharedClock};
use affine_db::dynamodb::DynamoConfig;
use affine_db::rules;
use affine_db::tools::corpus::corpus_dir;
use affine_db::tools::migrate::{self, convert, MigrateOptions, ObjectSource, Progress, Source};
use affine_db::{Admin, Conversation, Item, MinerSamplesQuery, NewSample, Result, Store, Table};
use affine_db_testkit::bench::{emulator_credentials, mode_and_args, Args};
use affine_db_testkit::bucket::{Bucket, BucketSpec, Templates};
use affine_db_testkit::link::{Link, LinkProxy};
use affine_db_testkit::rss::peak_rss_bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// Miners of the growth stores.
const MINERS: usize = 128;
/// Samples saved with `save_samples` (timed) at the end of each growth step.
const SAVE_MEASURED: u64 = 5_000;
/// Samples per timed `save_samples` call.
const SAVE_BATCH: usize = 100;
/// Samples per untimed bulk load call.
const LOAD_CHUNK: usize = 2_000;
/// The bench clock: 2026-03-01T00:00:00Z.
const NOW_MS: i64 = 1_772_323_200_000;
const DAY_MS: i64 = 86_400_000;

fn templates() -> Arc<Templates> {
    let dir = corpus_dir(Path::new(env!("CARGO_MANIFEST_DIR")));
    Arc::new(Templates::load(&dir).expect("load the fixture's records as templates"))
}

fn print(v: &Value) {
    println!("{}", serde_json::to_string(v).expect("JSON"));
}

// --------------------------------------------------------------- bucket

/// Writes a generated bucket to `--out` unless the same one is there.
fn bucket_mode(args: &Args) -> Value {
    let spec = BucketSpec {
        records: args.num("records", 40_000),
        seed: args.num("seed", 0),
        ..BucketSpec::default()
    };
    let out = PathBuf::from(args.need("out"));
    let marker = out.join("bucket-spec.json");
    let want = format!("{spec:?}");
    let t = Instant::now();
    let written = if std::fs::read_to_string(&marker).ok().as_deref() == Some(want.as_str()) {
        None
    } else {
        let _ = std::fs::remove_dir_all(&out);
        let bucket = Bucket::new(spec.clone(), templates());
        let w = bucket.write_to(&out, 2).expect("write the bucket");
        std::fs::write(&marker, &want).expect("write the marker");
        Some(w)
    };
    let bytes = shard_bytes(&out);
    json!({
        "mode": "bucket", "dir": out, "records": spec.records, "seed": spec.seed,
        "shard_bytes": bytes, "generated": written.is_some(),
        "elapsed_s": t.elapsed().as_secs_f64(),
    })
}

fn shard_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("affine/results"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

// -------------------------------------------------------------- migrate

/// A generated bucket served without touching the disk.
#[derive(Debug)]
struct Generated(Bucket);

impl ObjectSource for Generated {
    fn describe(&self) -> String {
        let s = self.0.spec();
        format!("generated://{}-records-seed-{}", s.records, s.seed)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get(key))
    }
}

async fn source_of(args: &Args) -> (Source, u64) {
    match (args.get("source"), args.get("generate")) {
        (Some(dir), None) => (
            Source::open(dir).await.expect("open the source"),
            shard_bytes(Path::new(dir)),
        ),
        (None, Some(n)) => {
            let spec = BucketSpec {
                records: n.parse().expect("--generate N"),
                seed: args.num("seed", 0),
                ..BucketSpec::default()
            };
            let bucket = Bucket::new(spec, templates());
            (Source::Objects(Arc::new(Generated(bucket))), 0)
        }
        _ => panic!("give exactly one of --source DIR and --generate N"),
    }
}

fn migrate_options(args: &Args, store: Option<&Store>) -> MigrateOptions {
    let d = store.map_or_else(MigrateOptions::default, MigrateOptions::for_store);
    MigrateOptions {
        batch_size: args.num("batch-size", d.batch_size),
        concurrency: args.num("concurrency", d.concurrency),
        workers: args.num("workers", d.workers),
        in_flight: args.num("in-flight", d.in_flight),
        ..d
    }
}

async fn floor_mode(args: &Args) -> Value {
    let (source, _) = source_of(args).await;
    let floor = migrate::parse_floor(&source, &migrate_options(args, None))
        .await
        .expect("parse floor");
    json!({"mode": "floor", "floor": floor, "peak_rss_bytes": peak_rss_bytes()})
}

async fn migrate_mode(args: &Args) -> Value {
    let (source, bytes) = source_of(args).await;
    let db = args.need("db");
    let proxy = args.get("latency-ms").map(|ms| {
        let ep =
            dynamo_endpoint_of(db).expect("--latency-ms needs a dynamodb:// URL with an endpoint");
        LinkProxy::start(
            &ep,
            Link::round_trip_ms(ms.parse().expect("--latency-ms MS")),
        )
        .expect("start the link proxy")
    });
    let url = match &proxy {
        Some(p) => with_endpoint(db, p.url()),
        None => db.to_string(),
    };
    let store = affine_db::open(&url).await.expect("open the store");
    store.admin.init().await.expect("init");
    let rss_before = peak_rss_bytes();
    let before = proxy
        .as_ref()
        .map(|p| p.stats().operation("BatchWriteItem"));
    let all_before = proxy
        .as_ref()
        .map(|p| p.stats().requests.load(std::sync::atomic::Ordering::SeqCst));
    let summary = migrate::migrate(
        &store,
        &source,
        &migrate_options(args, Some(&store)),
        &|_: &Progress| {},
    )
    .await
    .expect("migrate");
    let batch_writes = proxy
        .as_ref()
        .zip(before)
        .map(|(p, b)| p.stats().operation("BatchWriteItem") - b);
    let requests = proxy
        .as_ref()
        .zip(all_before)
        .map(|(p, b)| p.stats().requests.load(std::sync::atomic::Ordering::SeqCst) - b);
    let per_1000 = |r: Option<u64>| r.map(|r| r as f64 * 1000.0 / summary.migrated.max(1) as f64);
    let db_bytes = match affine_db::StoreUrl::parse(db) {
        Ok(affine_db::StoreUrl::SqliteFile { path, .. }) => file_bytes(&path),
        _ => None,
    };
    json!({
        "mode": "migrate", "source_shard_bytes": bytes, "summary": summary,
        "peak_rss_bytes": peak_rss_bytes(), "peak_rss_before_migrate_bytes": rss_before,
        "added_rtt_ms": proxy.as_ref().map(|p| p.link().rtt().as_secs_f64() * 1000.0),
        "requests": requests, "requests_per_1000_migrated": per_1000(requests),
        "batch_write_requests": batch_writes,
        "batch_write_requests_per_1000_migrated": per_1000(batch_writes),
        "db_file_bytes": db_bytes,
    })
}

/// The endpoint of a `dynamodb://` URL.
fn dynamo_endpoint_of(url: &str) -> Option<String> {
    match affine_db::StoreUrl::parse(url).ok()? {
        affine_db::StoreUrl::DynamoDb { endpoint, .. } => endpoint,
        _ => None,
    }
}

/// `url` (a `dynamodb://` URL) with its endpoint replaced.
fn with_endpoint(url: &str, endpoint: &str) -> String {
    let Ok(affine_db::StoreUrl::DynamoDb { prefix, region, .. }) = affine_db::StoreUrl::parse(url)
    else {
        panic!("{url} is not a dynamodb:// URL");
    };
    let mut q = vec![format!("endpoint={endpoint}")];
    q.extend(prefix.map(|p| format!("prefix={p}")));
    q.extend(region.map(|r| format!("region={r}")));
    format!("dynamodb://?{}", q.join("&"))
}

/// Bytes of a SQLite file and its WAL.
fn file_bytes(path: &Path) -> Option<u64> {
    let main = std::fs::metadata(path).ok()?.len();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    Some(main + std::fs::metadata(PathBuf::from(wal)).map_or(0, |m| m.len()))
}

// --------------------------------------------------------------- growth

/// The generator of growth samples: sample `i` is a pure function of `i`.
struct SampleGen {
    /// Converted fixture records (conversation, env, ...), one per template.
    bases: Vec<NewSample>,
    miners: Vec<(String, String)>,
}

impl SampleGen {
    fn new() -> SampleGen {
        let bucket = Bucket::new(
            BucketSpec {
                records: 4_000,
                miners: MINERS,
                ..BucketSpec::default()
            },
            templates(),
        );
        let mut bases = Vec::new();
        for j in 0..bucket.shard_count() {
            for r in bucket.shard_records(j) {
                if let Ok(c) = convert(&r, 7_000_000) {
                    bases.push(c.sample);
                }
            }
        }
        let miners = bucket
            .miners()
            .iter()
            .map(|m| (m.hotkey.clone(), m.revision.clone()))
            .collect();
        SampleGen { bases, miners }
    }

    fn envs(&self) -> Vec<String> {
        let mut e: Vec<String> = self.bases.iter().map(|s| s.env.clone()).collect();
        e.sort();
        e.dedup();
        e
    }

    /// Whether sample `i` is older than the retention.
    fn is_old(i: u64) -> bool {
        i % 10 == 9
    }

    /// Sample `i` as a validator saves it: stamped just before the clock's
    /// now, newer than every bulk-loaded sample, in order of `i` (1 ms
    /// apart, `until` the newest), so saves append to each miner's and
    /// env's newest end, as they do in production.
    fn new_sample(&self, i: u64, until: u64) -> NewSample {
        NewSample {
            timestamp: Some(NOW_MS - (until - i) as i64),
            ..self.sample(i)
        }
    }

    fn sample(&self, i: u64) -> NewSample {
        let mut rng = StdRng::seed_from_u64(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5CA1E);
        let base = &self.bases[rng.gen_range(0..self.bases.len())];
        let (hotkey, revision) = &self.miners[rng.gen_range(0..self.miners.len())];
        let age = if Self::is_old(i) {
            100 * DAY_MS + rng.gen_range(0..60 * DAY_MS)
        } else {
            rng.gen_range(0..80 * DAY_MS)
        };
        NewSample {
            sample_id: Some(format!("g{i:012}")),
            timestamp: Some(NOW_MS - age),
            miner_hotkey: hotkey.clone(),
            model_revision: revision.clone(),
            uid: 0,
            score: rng.gen(),
            signature: format!("sig-{i}"),
            ..base.clone()
        }
    }
}

/// Builds the items of samples `ids` (on blocking threads, the store's
/// codec) and writes them with `put_items`, untimed.
async fn bulk_load(store: &Store, gen: &Arc<SampleGen>, ids: Vec<u64>) {
    for chunk in ids.chunks(LOAD_CHUNK) {
        let halves: Vec<Vec<u64>> = chunk
            .chunks(chunk.len().div_ceil(2).max(1))
            .map(<[u64]>::to_vec)
            .collect();
        let mut handles = Vec::new();
        for half in halves {
            let (gen, codec) = (gen.clone(), store.codec.clone());
            handles.push(tokio::task::spawn_blocking(move || {
                half.into_iter()
                    .map(|i| {
                        gen.sample(i)
                            .into_sample(NOW_MS)
                            .and_then(|s| s.to_item(&codec))
                            .expect("a valid sample")
                    })
                    .collect::<Vec<Item>>()
            }));
        }
        let mut items = Vec::with_capacity(chunk.len());
        for h in handles {
            items.extend(h.await.expect("item builder"));
        }
        store
            .admin
            .put_items(Table::SampleResults, items)
            .await
            .expect("bulk load");
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn latency_json(mut ms: Vec<f64>) -> Value {
    ms.sort_by(f64::total_cmp);
    json!({"count": ms.len(), "p50_ms": percentile(&ms, 50.0), "p99_ms": percentile(&ms, 99.0),
           "max_ms": ms.last().copied()})
}

/// Times `reads` calls of each read (after `reads / 10` warm-up calls).
async fn measure_reads(store: &Store, gen: &SampleGen, reads: usize, seed: u64) -> Value {
    let envs = gen.envs();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut by_miner_conv = Vec::new();
    let mut by_miner_skip = Vec::new();
    let mut by_env = Vec::new();
    let mut returned = [0usize; 3];
    let warm = reads / 10;
    for round in 0..warm + reads {
        let (hk, rev) = &gen.miners[rng.gen_range(0..gen.miners.len())];
        let env = &envs[rng.gen_range(0..envs.len())];
        let q = |conversation| MinerSamplesQuery {
            env: None,
            limit: Some(50),
            newest_first: true,
            conversation,
        };
        let t = Instant::now();
        let a = store
            .samples
            .get_samples_by_miner(hk, rev, &q(Conversation::Include))
            .await
            .expect("get_samples_by_miner");
        let t_a = t.elapsed();
        let t = Instant::now();
        let b = store
            .samples
            .get_samples_by_miner(hk, rev, &q(Conversation::Skip))
            .await
            .expect("get_samples_by_miner");
        let t_b = t.elapsed();
        let t = Instant::now();
        let c = store
            .samples
            .get_samples_by_env(
                env,
                NOW_MS - 30 * DAY_MS,
                NOW_MS,
                Some(100),
                Conversation::Include,
            )
            .await
            .expect("get_samples_by_env");
        let t_c = t.elapsed();
        if round >= warm {
            by_miner_conv.push(t_a.as_secs_f64() * 1e3);
            by_miner_skip.push(t_b.as_secs_f64() * 1e3);
            by_env.push(t_c.as_secs_f64() * 1e3);
            returned[0] += a.len();
            returned[1] += b.len();
            returned[2] += c.len();
        }
    }
    json!({
        "get_samples_by_miner_with_conversations": latency_json(by_miner_conv),
        "get_samples_by_miner_without_conversations": latency_json(by_miner_skip),
        "get_samples_by_env": latency_json(by_env),
        "mean_rows": {
            "by_miner_with": returned[0] as f64 / reads as f64,
            "by_miner_without": returned[1] as f64 / reads as f64,
            "by_env": returned[2] as f64 / reads as f64,
        },
    })
}

/// Saves samples `from..to` with `save_samples` in batches of [`SAVE_BATCH`].
async fn timed_saves(store: &Store, gen: &SampleGen, from: u64, to: u64) -> Value {
    let ids: Vec<u64> = (from..to).collect();
    let mut per_batch = Vec::new();
    let t_all = Instant::now();
    for chunk in ids.chunks(SAVE_BATCH) {
        let batch: Vec<NewSample> = chunk.iter().map(|&i| gen.new_sample(i, to)).collect();
        let t = Instant::now();
        store
            .samples
            .save_samples(batch)
            .await
            .expect("save_samples");
        per_batch.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let total = t_all.elapsed().as_secs_f64();
    let saved = ids.len() as f64;
    let mut sorted = per_batch.clone();
    sorted.sort_by(f64::total_cmp);
    let median_batch_ms = percentile(&sorted, 50.0);
    json!({
        "samples": ids.len(), "batch": SAVE_BATCH,
        "samples_per_s": saved / total.max(1e-9),
        "samples_per_s_at_median_batch": SAVE_BATCH as f64 / (median_batch_ms / 1e3),
        "batch_ms": latency_json(per_batch),
    })
}

async fn stats_ms(store: &Store) -> (f64, u64) {
    let mut times = Vec::new();
    let mut count = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let s = store.admin.stats().await.expect("stats");
        times.push(t.elapsed().as_secs_f64() * 1e3);
        count = s[&Table::SampleResults];
    }
    times.sort_by(f64::total_cmp);
    (percentile(&times, 50.0), count)
}

/// Grows `store` through `sizes`, measuring at each (see the module docs).
async fn grow(
    store: &Store,
    sizes: &[u64],
    reads: usize,
    sqlite_file: Option<&Path>,
) -> Vec<Value> {
    let gen = Arc::new(SampleGen::new());
    let mut have = 0u64;
    let mut out = Vec::new();
    // The ranges saved as new samples (never old, whatever their index).
    let mut fresh: Vec<std::ops::Range<u64>> = Vec::new();
    for &n in sizes {
        let measured = SAVE_MEASURED.min(n / 2);
        let load_to = n - measured;
        let t = Instant::now();
        if load_to > have {
            bulk_load(store, &gen, (have..load_to).collect()).await;
        }
        let load_s = t.elapsed().as_secs_f64();
        if let Some(p) = sqlite_file {
            // The bulk load's writes reach the disk before the timed saves,
            // so these measure the store at this size, not the kernel
            // writing back gigabytes of the load behind them.
            settle(p);
        }
        let saves = timed_saves(store, &gen, load_to.max(have), n).await;
        fresh.push(load_to.max(have)..n);
        have = n;
        let reads_json = measure_reads(store, &gen, reads, n).await;
        let (stats_ms, count) = stats_ms(store).await;
        let file = sqlite_file.and_then(|p| {
            checkpoint(p);
            file_bytes(p)
        });
        let cleanup = if sqlite_file.is_some() {
            let t = Instant::now();
            let report = rules::cleanup(store, false).await.expect("cleanup");
            let secs = t.elapsed().as_secs_f64();
            let deleted = report.deleted as u64;
            let old: Vec<u64> = (0..n)
                .filter(|&i| SampleGen::is_old(i) && !fresh.iter().any(|r| r.contains(&i)))
                .collect();
            assert_eq!(
                deleted,
                old.len() as u64,
                "cleanup deletes exactly the old tenth"
            );
            bulk_load(store, &gen, old).await;
            json!({"deleted": deleted, "owners": report.entries.len(), "seconds": secs,
                   "us_per_deleted": secs * 1e6 / deleted.max(1) as f64})
        } else {
            Value::Null
        };
        out.push(json!({
            "size": n, "stored": count, "bulk_load_s": load_s, "saves": saves,
            "reads": reads_json, "stats_ms": stats_ms,
            "file_bytes": file, "file_bytes_per_sample": file.map(|b| b as f64 / n as f64),
            "cleanup": cleanup,
        }));
        eprintln!("{}", out.last().expect("pushed"));
    }
    out
}

/// Checkpoints the WAL into the main file and flushes the file to disk.
fn settle(path: &Path) {
    checkpoint(path);
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .expect("sync the database file");
}

/// Checkpoints the WAL of a SQLite file into the main file.
fn checkpoint(path: &Path) {
    let conn = rusqlite::Connection::open(path).expect("open for checkpoint");
    conn.busy_timeout(Duration::from_secs(30))
        .expect("busy timeout");
    let _: (i64, i64, i64) = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .expect("checkpoint");
}

fn clock() -> SharedClock {
    Arc::new(ManualClock::new(NOW_MS))
}

async fn growth_mode(args: &Args) -> Value {
    let dir = PathBuf::from(args.need("dir"));
    std::fs::create_dir_all(&dir).expect("growth dir");
    let path = dir.join("growth.db");
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    let store = affine_db::sqlite::open_store(&path, clock())
        .await
        .expect("open sqlite");
    let sizes = args.sizes(&[10_000, 100_000, 1_000_000]);
    let steps = grow(&store, &sizes, args.num("reads", 200), Some(&path)).await;
    drop(store);
    if args.get("keep").is_none() {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
    json!({"mode": "growth", "backend": "sqlite", "steps": steps})
}

async fn dynamo_growth_mode(args: &Args) -> Value {
    let endpoint = args.need("endpoint").to_string();
    let config = DynamoConfig {
        prefix: format!("growth{}", uuid::Uuid::new_v4().simple()),
        region: Some("us-east-1".into()),
        endpoint: Some(endpoint),
    };
    let backend = affine_db::dynamodb::open_tables(config, clock())
        .await
        .expect("connect to the emulator");
    backend.init().await.expect("create tables");
    let store = Store::new(backend.clone());
    let sizes = args.sizes(&[10_000, 100_000]);
    let steps = grow(&store, &sizes, args.num("reads", 50), None).await;
    if let Err(e) = drop_tables(&backend).await {
        eprintln!("could not drop the growth tables: {e}");
    }
    json!({"mode": "dynamo-growth", "backend": "dynamodb (moto)", "steps": steps})
}

async fn drop_tables(backend: &affine_db::handles::Tables) -> Result<()> {
    backend.driver().drop_tables().await
}

// ----------------------------------------------------------------- main

/// `cargo test --bench scale`: every mode on small sizes, checking what
/// each reports adds up.
async fn smoke() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bucket_dir = dir.path().join("bucket");
    let b = bucket_mode(&Args(vec![
        "--records".into(),
        "400".into(),
        "--out".into(),
        bucket_dir.display().to_string(),
    ]));
    assert!(b["shard_bytes"].as_u64().unwrap() > 400 * 1000, "{b}");
    let src = bucket_dir.display().to_string();
    let floor = floor_mode(&Args(vec!["--source".into(), src.clone()])).await;
    assert_eq!(floor["floor"]["records"], 400, "{floor}");
    let db = format!("sqlite://{}", dir.path().join("m.db").display());
    let m = migrate_mode(&Args(vec!["--source".into(), src, "--db".into(), db])).await;
    let s = &m["summary"];
    assert_eq!(s["processed"], 400, "{m}");
    let migrated = s["migrated"].as_u64().unwrap();
    assert!(migrated > 350 && migrated < 400, "{m}");
    let g = migrate_mode(&Args(vec![
        "--generate".into(),
        "400".into(),
        "--db".into(),
        "sqlite::memory:".into(),
    ]))
    .await;
    assert_eq!(
        g["summary"]["migrated"], s["migrated"],
        "a generated source is the same bucket"
    );
    let growth = growth_mode(&Args(vec![
        "--sizes".into(),
        "300,600".into(),
        "--reads".into(),
        "5".into(),
        "--dir".into(),
        dir.path().join("growth").display().to_string(),
    ]))
    .await;
    let steps = growth["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[1]["stored"], 600, "{growth}");
    // Old: every tenth sample, except those saved as new (the last 150
    // of the first step, the last 300 of the second): 15 of 0..150.
    assert_eq!(steps[1]["cleanup"]["deleted"], 15, "{growth}");
    match std::env::var("AFFINE_TEST_DYNAMODB_ENDPOINT") {
        Ok(ep) if !ep.is_empty() => {
            let d = dynamo_growth_mode(&Args(vec![
                "--sizes".into(),
                "200".into(),
                "--reads".into(),
                "3".into(),
                "--endpoint".into(),
                ep.clone(),
            ]))
            .await;
            assert_eq!(d["steps"][0]["stored"], 200, "{d}");
            let url = format!(
                "dynamodb://?endpoint={ep}&prefix=scale{}",
                uuid::Uuid::new_v4().simple()
            );
            let m = migrate_mode(&Args(vec![
                "--generate".into(),
                "200".into(),
                "--db".into(),
                url.clone(),
                "--latency-ms".into(),
                "4".into(),
            ]))
            .await;
            // A run this small is dominated by its fixed requests (tables,
            // miners, dictionaries); the <= 60 per 1,000 bound is checked on
            // the fixture by tests/migrate_dynamodb.rs.
            assert!(m["batch_write_requests"].as_u64().unwrap() > 0, "{m}");
            assert!(m["summary"]["migrated"].as_u64().unwrap() > 150, "{m}");
            let store = affine_db::open(&url).await.expect("open");
            store.admin.reset().await.expect("reset");
        }
        _ if std::env::var("AFFINE_REQUIRE_DYNAMODB").as_deref() == Ok("1") => {
            panic!("AFFINE_REQUIRE_DYNAMODB=1 but AFFINE_TEST_DYNAMODB_ENDPOINT is unset")
        }
        _ => eprintln!("scale: DynamoDB modes skipped (AFFINE_TEST_DYNAMODB_ENDPOINT is unset)"),
    }
    println!("scale smoke test: ok");
}

fn main() {
    emulator_credentials();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let Some((mode, args)) = mode_and_args() else {
        // `cargo test --bench scale` (no mode): the smoke test.
        rt.block_on(smoke());
        return;
    };
    let out = rt.block_on(async {
        match mode.as_str() {
            "bucket" => bucket_mode(&args),
            "floor" => floor_mode(&args).await,
            "migrate" => migrate_mode(&args).await,
            "growth" => growth_mode(&args).await,
            "dynamo-growth" => dynamo_growth_mode(&args).await,
            other => {
                panic!("unknown mode {other:?}: bucket, floor, migrate, growth, dynamo-growth")
            }
        }
    });
    print(&out);
}
