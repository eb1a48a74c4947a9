//! The scorer's refresh (issue 20): every miner revision's samples without
//! conversations, as a validator's scorer reads them every few minutes
//! (256 miners x about 3,000 samples in the original's later versions). A
//! bench binary without criterion: each mode seeds a store, then reads it
//! all back each way, each way in its own process (so each peak RSS is its
//! own), interleaved for `--rounds`, and prints one JSON object with rows/s,
//! peak RSS and (on DynamoDB) read units, with ratios to the baseline
//! measured in the same run.
//!
//! ```text
//! cargo bench --bench scoring -- sqlite [--miners 256] [--samples 3000] [--rounds 3]
//! cargo bench --bench scoring -- env-memory [--miners 256] [--samples 3000]
//! cargo bench --bench scoring -- dynamodb --endpoint URL [--miners 32] [--samples 1000]
//! cargo test --bench scoring      # smoke test: both modes on small sizes
//! ```
//!
//! Ways: `affine` (`get_samples_by_miner` without conversations for every
//! miner revision), `affine-stream` (`stream_samples_by_miner`), and the
//! baseline: on SQLite `rusqlite` selecting the same columns of the same
//! file one partition at a time in sort key order; on DynamoDB a raw SDK
//! query loop over each partition, every attribute (the original layer's
//! read). `env-memory` compares the peak RSS of reading every env's samples
//! with conversations as lists (`get_samples_by_env`) and as streams.
//! DynamoDB reads go through `affine_db_testkit::meter`, which bills
//! them as DynamoDB would.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use affine_db::{
    Conversation, MinerSamplesQuery, NewSample, Sample, SampleStore, SampleStream, Store,
};
use affine_db_testkit::bench::{emulator_credentials, mode_and_args, Args};
use affine_db_testkit::rss::peak_rss_bytes;
use futures::StreamExt;
use serde_json::{json, Value};

const ENVS: [&str; 4] = ["SAT", "ABD", "DED", "ELR"];

fn miner(m: usize) -> (String, String) {
    (format!("score-hk-{m:04}"), format!("score-rev-{m:04}"))
}

/// 3,000 hex digits of a fixed pseudo-random sequence: an answer whose
/// conversation compresses to about 1.5 KB, as a real one of a few turns.
fn answer(seed: usize) -> String {
    let mut x = seed as u64 ^ 0x9e37_79b9_7f4a_7c15;
    (0..3_000)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            char::from_digit(((x >> 33) % 16) as u32, 16).unwrap_or('0')
        })
        .collect()
}

fn sample(m: usize, i: usize) -> NewSample {
    let (hk, rev) = miner(m);
    NewSample {
        sample_id: Some(format!("s-{m}-{i}")),
        timestamp: Some(1_700_000_000_000 + i as i64 * 1_000),
        miner_hotkey: hk,
        model_revision: rev,
        model_hash: format!("hash-{m}"),
        uid: m as i64,
        env: ENVS[i % ENVS.len()].into(),
        subset: "bench".into(),
        dataset_index: i as i64,
        task_id: format!("task-{m}-{i}"),
        score: (i % 100) as f64 / 100.0,
        success: !i.is_multiple_of(10),
        latency_ms: 200 + (i % 5_000) as i64,
        conversation: json!([
            {"role": "user", "content": format!("question {i}")},
            {"role": "assistant", "content": answer(m * 1_000_003 + i)},
        ]),
        validator_hotkey: "bench-validator".into(),
        block_number: 1_000_000 + i as i64,
        signature: format!("{:064x}", m * 1_000_003 + i),
    }
}

async fn seed(store: &Store, miners: usize, samples: usize) -> f64 {
    store.admin.init().await.expect("init");
    let start = Instant::now();
    for m in 0..miners {
        let batch: Vec<NewSample> = (0..samples).map(|i| sample(m, i)).collect();
        for chunk in batch.chunks(500) {
            store
                .samples
                .save_samples(chunk.to_vec())
                .await
                .expect("seed");
        }
    }
    start.elapsed().as_secs_f64()
}

/// Rows read and the sum of their `dataset_index` (the ways must agree).
type Tally = (u64, i64);

/// Adds the rows of `stream` to `tally`, one at a time (a page held).
async fn tally_stream(mut stream: SampleStream, tally: &mut Tally) {
    while let Some(row) = stream.next().await {
        tally.0 += 1;
        tally.1 += row.expect("stream").dataset_index;
    }
}

/// Adds the rows of `list` to `tally`.
fn tally_list(list: &[Sample], tally: &mut Tally) {
    tally.0 += list.len() as u64;
    tally.1 += list.iter().map(|s| s.dataset_index).sum::<i64>();
}

async fn read_affine(samples: Arc<dyn SampleStore>, miners: usize, stream: bool) -> Tally {
    let mut tally = (0, 0);
    for m in 0..miners {
        let (hk, rev) = miner(m);
        let q = MinerSamplesQuery {
            newest_first: true,
            conversation: Conversation::Skip,
            ..MinerSamplesQuery::default()
        };
        if stream {
            let rows = samples.clone().stream_samples_by_miner(hk, rev, q);
            tally_stream(rows, &mut tally).await;
        } else {
            let found = samples.get_samples_by_miner(&hk, &rev, &q).await;
            tally_list(&found.expect("read"), &mut tally);
        }
    }
    tally
}

/// Every sample of every env, with conversations, through
/// `get_samples_by_env` (the whole list held) or its stream (a page held).
async fn read_env(samples: Arc<dyn SampleStore>, stream: bool) -> Tally {
    let mut tally = (0, 0);
    let (start, end, c) = (0, i64::MAX / 2, Conversation::Include);
    for env in ENVS {
        if stream {
            let rows = samples
                .clone()
                .stream_samples_by_env(env.into(), start, end, None, c);
            tally_stream(rows, &mut tally).await;
        } else {
            let found = samples.get_samples_by_env(env, start, end, None, c).await;
            tally_list(&found.expect("read"), &mut tally);
        }
    }
    tally
}

/// Plain `rusqlite`: the same columns, one partition at a time, newest
/// first, each row into a JSON object keyed by column.
fn read_rusqlite(path: &str, miners: usize) -> Tally {
    let con = rusqlite::Connection::open(path).expect("open");
    let cols: Vec<String> = con
        .prepare("SELECT name FROM pragma_table_info('sample_results')")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .expect("columns")
        .into_iter()
        .filter(|c| !["pk", "sk", "conversation_compressed"].contains(&c.as_str()))
        .collect();
    let list: Vec<String> = cols.iter().map(|c| format!("\"{c}\"")).collect();
    let sql = format!(
        "SELECT {} FROM sample_results WHERE pk = ?1 ORDER BY sk DESC",
        list.join(", ")
    );
    let mut stmt = con.prepare(&sql).expect("prepare");
    let (mut rows, mut sum) = (0u64, 0i64);
    for m in 0..miners {
        let (hk, rev) = miner(m);
        let found: Vec<serde_json::Map<String, Value>> = stmt
            .query_map([format!("MINER#{hk}#REV#{rev}")], |r| {
                let mut row = serde_json::Map::new();
                for (i, c) in cols.iter().enumerate() {
                    let v = match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => Value::Null,
                        rusqlite::types::ValueRef::Integer(n) => json!(n),
                        rusqlite::types::ValueRef::Real(f) => json!(f),
                        rusqlite::types::ValueRef::Text(t) => {
                            Value::String(String::from_utf8_lossy(t).into_owned())
                        }
                        rusqlite::types::ValueRef::Blob(b) => json!(b.len()),
                    };
                    row.insert(c.clone(), v);
                }
                Ok(row)
            })
            .and_then(|rows| rows.collect())
            .expect("select");
        rows += found.len() as u64;
        sum += found
            .iter()
            .filter_map(|r| r.get("dataset_index").and_then(Value::as_i64))
            .sum::<i64>();
    }
    (rows, sum)
}

/// The raw SDK loop: each partition newest first, every attribute.
async fn read_sdk(endpoint: &str, prefix: &str, miners: usize) -> Tally {
    let config = affine_db::dynamodb::DynamoConfig {
        prefix: prefix.into(),
        region: Some("us-east-1".into()),
        endpoint: Some(endpoint.into()),
    };
    let client = affine_db::dynamodb::DynamoDriver::connect(config)
        .await
        .expect("connect")
        .client()
        .clone();
    let table = affine_db::Table::SampleResults.prefixed(prefix);
    let (mut rows, mut sum) = (0u64, 0i64);
    for m in 0..miners {
        let (hk, rev) = miner(m);
        let mut start = None;
        loop {
            let out = client
                .query()
                .table_name(&table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(
                    ":pk",
                    aws_sdk_dynamodb::types::AttributeValue::S(format!("MINER#{hk}#REV#{rev}")),
                )
                .scan_index_forward(false)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("query");
            for item in out.items() {
                rows += 1;
                if let Some(aws_sdk_dynamodb::types::AttributeValue::N(n)) =
                    item.get("dataset_index")
                {
                    sum += n.parse::<i64>().unwrap_or(0);
                }
            }
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
    }
    (rows, sum)
}

/// One way, in this process: what it read, how fast, its peak RSS and
/// (on DynamoDB) the read units metered.
async fn way(args: &Args) -> Value {
    let way = args.get("way").expect("--way");
    let url = args.get("url").expect("--url");
    let miners = args.num("miners", 1);
    let meter = match args.get("endpoint") {
        Some(ep) => Some(affine_db_testkit::meter::start(ep).await.expect("meter")),
        None => None,
    };
    let start;
    let (rows, sum) = match (way, &meter) {
        ("rusqlite", _) => {
            start = Instant::now();
            read_rusqlite(url.trim_start_matches("sqlite://"), miners)
        }
        ("sdk", Some(m)) => {
            start = Instant::now();
            read_sdk(&m.url, args.get("prefix").expect("--prefix"), miners).await
        }
        ("env-list" | "env-stream", None) => {
            let store = affine_db::open(url).await.expect("open");
            start = Instant::now();
            read_env(store.samples.clone(), way == "env-stream").await
        }
        (affine, meter) => {
            let url = match meter {
                Some(m) => format!(
                    "dynamodb://?endpoint={}&prefix={}&region=us-east-1",
                    m.url,
                    args.get("prefix").expect("--prefix")
                ),
                None => url.to_string(),
            };
            let store = affine_db::open(&url).await.expect("open");
            start = Instant::now();
            read_affine(store.samples.clone(), miners, affine == "affine-stream").await
        }
    };
    let wall = start.elapsed().as_secs_f64();
    let mut out = json!({
        "way": way,
        "rows": rows,
        "checksum": sum,
        "wall_s": wall,
        "rows_s": rows as f64 / wall,
        "peak_rss_mb": peak_rss_bytes().unwrap_or(0) as f64 / 1_048_576.0,
    });
    if let Some(m) = meter {
        out["read_units"] = json!(m.reads.units());
        out["items_read"] = json!(m.reads.items());
    }
    out
}

/// Seeds the store, then runs every way `rounds` times, interleaved, each
/// in its own process; the medians side by side with the baseline's.
async fn compare(mode: &str, args: &Args, url: &str, extra: &[String]) -> Value {
    let dynamo = mode == "dynamodb";
    let miners = args.num("miners", if dynamo { 32 } else { 256 });
    let samples = args.num("samples", if dynamo { 1_000 } else { 3_000 });
    let rounds = args.num("rounds", 3);
    let seed_url = match (mode, args.get("endpoint"), args.get("prefix")) {
        ("dynamodb", Some(ep), Some(p)) => {
            format!("dynamodb://?endpoint={ep}&prefix={p}&region=us-east-1")
        }
        _ => url.to_string(),
    };
    let store = affine_db::open(&seed_url).await.expect("open");
    eprintln!("seeding {miners} x {samples} samples ...");
    let seed_s = seed(&store, miners, samples).await;
    eprintln!("seeded in {seed_s:.1} s");
    let (baseline, ways) = match mode {
        "sqlite" => ("rusqlite", vec!["affine", "affine-stream", "rusqlite"]),
        // Memory of reads by env with conversations: the list is the baseline.
        "env-memory" => ("env-list", vec!["env-stream", "env-list"]),
        _ => ("sdk", vec!["affine", "affine-stream", "sdk"]),
    };
    let exe = std::env::current_exe().expect("current exe");
    let mut runs: Vec<(String, Value)> = Vec::new();
    for round in 0..rounds {
        for &w in &ways {
            let mut cmd = Command::new(&exe);
            cmd.args([
                "way",
                "--way",
                w,
                "--url",
                url,
                "--miners",
                &miners.to_string(),
            ]);
            cmd.args(extra);
            let out = cmd.output().expect("run a way");
            assert!(
                out.status.success(),
                "{w}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: Value = serde_json::from_slice(&out.stdout).expect("way json");
            eprintln!("round {} {v}", round + 1);
            runs.push((w.to_string(), v));
        }
    }
    let checks: std::collections::BTreeSet<(u64, i64)> = runs
        .iter()
        .map(|(_, v)| {
            (
                v["rows"].as_u64().unwrap_or(0),
                v["checksum"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(checks.len(), 1, "the ways read different rows: {checks:?}");
    let median = |w: &str, key: &str| -> f64 {
        let mut xs: Vec<f64> = runs
            .iter()
            .filter(|(n, _)| n == w)
            .filter_map(|(_, v)| v[key].as_f64())
            .collect();
        xs.sort_by(f64::total_cmp);
        xs.get(xs.len() / 2).copied().unwrap_or(0.0)
    };
    let mut out = json!({
        "mode": mode,
        "miners": miners,
        "samples_per_miner": samples,
        "rows": runs[0].1["rows"],
        "seed_s": seed_s,
        "ways": {},
    });
    for &w in &ways {
        let mut entry = json!({
            "rows_s": median(w, "rows_s"),
            "peak_rss_mb": median(w, "peak_rss_mb"),
        });
        if mode == "dynamodb" {
            entry["read_units"] = json!(median(w, "read_units"));
            entry["items_read"] = json!(median(w, "items_read"));
        }
        if w != baseline {
            entry["rows_s_vs_baseline"] = json!(median(w, "rows_s") / median(baseline, "rows_s"));
            entry["peak_rss_vs_baseline"] =
                json!(median(w, "peak_rss_mb") / median(baseline, "peak_rss_mb"));
            if mode == "dynamodb" {
                entry["read_units_vs_baseline"] =
                    json!(median(w, "read_units") / median(baseline, "read_units"));
            }
        }
        out["ways"][w] = entry;
    }
    out
}

async fn sqlite_mode(mode: &str, args: &Args, dir: &Path) -> Value {
    let url = format!("sqlite://{}", dir.join("scoring.db").display());
    compare(mode, args, &url, &[]).await
}

async fn dynamodb_mode(args: &Args) -> Value {
    let ep = args.get("endpoint").expect("--endpoint URL");
    let prefix = format!("scoring{}", uuid::Uuid::new_v4().simple());
    let mut all = args.0.clone();
    all.extend(["--prefix".into(), prefix.clone()]);
    let args = Args(all);
    let extra = vec![
        "--endpoint".to_string(),
        ep.to_string(),
        "--prefix".to_string(),
        prefix.clone(),
    ];
    let out = compare("dynamodb", &args, "dynamodb://", &extra).await;
    let store = affine_db::open(&format!(
        "dynamodb://?endpoint={ep}&prefix={prefix}&region=us-east-1"
    ))
    .await
    .expect("open");
    store.admin.reset().await.expect("reset");
    out
}

/// `cargo test --bench scoring`: both modes on small sizes, every way
/// reading the same rows (the comparison asserts it).
async fn smoke() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = |extra: &[&str]| {
        let mut v: Vec<String> = ["--miners", "3", "--samples", "120", "--rounds", "1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        Args(v)
    };
    let s = sqlite_mode("sqlite", &small(&[]), dir.path()).await;
    assert_eq!(s["rows"], 360, "{s}");
    assert!(s["ways"]["affine"]["rows_s"].as_f64().unwrap() > 0.0, "{s}");
    let dir = tempfile::tempdir().expect("tempdir");
    let e = sqlite_mode("env-memory", &small(&[]), dir.path()).await;
    assert_eq!(e["rows"], 360, "{e}");
    match std::env::var("AFFINE_TEST_DYNAMODB_ENDPOINT") {
        Ok(ep) if !ep.is_empty() => {
            let d = dynamodb_mode(&small(&["--endpoint", &ep])).await;
            assert_eq!(d["rows"], 360, "{d}");
            // Without conversations, from the lean index: fewer units than
            // the whole rows the raw loop reads.
            let lean = d["ways"]["affine"]["read_units_vs_baseline"]
                .as_f64()
                .unwrap();
            assert!(lean < 1.0, "{d}");
        }
        _ if std::env::var("AFFINE_REQUIRE_DYNAMODB").as_deref() == Ok("1") => {
            panic!("AFFINE_REQUIRE_DYNAMODB=1 but AFFINE_TEST_DYNAMODB_ENDPOINT is unset")
        }
        _ => {
            eprintln!("scoring: the DynamoDB mode skipped (AFFINE_TEST_DYNAMODB_ENDPOINT is unset)")
        }
    }
    println!("scoring smoke test: ok");
}

fn main() {
    emulator_credentials();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let Some((mode, args)) = mode_and_args() else {
        rt.block_on(smoke());
        return;
    };
    let out = rt.block_on(async {
        match mode.as_str() {
            "way" => way(&args).await,
            "sqlite" | "env-memory" => {
                let dir = tempfile::tempdir().expect("tempdir");
                sqlite_mode(&mode, &args, dir.path()).await
            }
            "dynamodb" => dynamodb_mode(&args).await,
            other => panic!("unknown mode {other:?}: sqlite, env-memory, dynamodb"),
        }
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
}
