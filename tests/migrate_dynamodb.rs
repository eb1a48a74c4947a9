//! Migration and snapshots against DynamoDB (moto on loopback): the S3
//! source into DynamoDB stores what the directory source stores into
//! SQLite, the migration's request count per 1,000 results, and `copy`
//! DynamoDB → SQLite → DynamoDB leaving every item identical.
//!
//! The endpoint comes from `AFFINE_TEST_DYNAMODB_ENDPOINT` (set by
//! `scripts/test`; moto serves S3 on the same endpoint). Without it the
//! tests fail when `AFFINE_REQUIRE_DYNAMODB=1`, and otherwise start moto
//! with `scripts/moto.sh start`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use affine_db::admin::scan_all;
use affine_db::dynamodb::{open_store, DynamoConfig};
use affine_db::tools::migrate::{migrate, MigrateOptions, MigrationSummary, Progress, Source};
use affine_db::tools::snapshot;
use affine_db::{Item, ParamValue, Store, Table};
use affine_db_testkit::link::{Link, LinkProxy};

const BUCKET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/r2-bucket");

fn endpoint() -> String {
    static EP: OnceLock<String> = OnceLock::new();
    EP.get_or_init(|| {
        if let Ok(ep) = std::env::var("AFFINE_TEST_DYNAMODB_ENDPOINT") {
            if !ep.is_empty() {
                return ep;
            }
        }
        assert!(
            std::env::var("AFFINE_REQUIRE_DYNAMODB").as_deref() != Ok("1"),
            "AFFINE_REQUIRE_DYNAMODB=1 but AFFINE_TEST_DYNAMODB_ENDPOINT is not set: run scripts/test"
        );
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/moto.sh");
        let out = Command::new(&script).arg("start").output().expect("scripts/moto.sh start");
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(out.status.success() && url.starts_with("http"), "moto did not start: {}", String::from_utf8_lossy(&out.stderr));
        url
    })
    .clone()
}

fn creds() -> aws_sdk_s3::config::Credentials {
    // Dummy credentials for the loopback emulator.
    aws_sdk_s3::config::Credentials::new("affine-test", "affine-test", None, None, "tests")
}

async fn dynamo(endpoint: &str) -> Store {
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        std::env::set_var("AWS_ACCESS_KEY_ID", "affine-test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "affine-test");
    }
    let store = open_store(
        DynamoConfig {
            prefix: format!("mig{}", uuid::Uuid::new_v4().simple()),
            region: Some("us-east-1".into()),
            endpoint: Some(endpoint.to_string()),
        },
        affine_db::clock::system_clock(),
    )
    .await
    .expect("open dynamodb store");
    store.admin.init().await.expect("init");
    store
}

async fn sqlite(path: &Path) -> Store {
    affine_db::sqlite::open_store(path, affine_db::clock::system_clock())
        .await
        .unwrap()
}

async fn dump(store: &Store) -> BTreeMap<Table, Vec<Item>> {
    let mut out = BTreeMap::new();
    for t in Table::ALL {
        let mut items = scan_all(store.admin.as_ref(), t).await.unwrap();
        items.sort_by_key(|i| format!("{:?}", (i.get("pk"), i.get("sk"))));
        out.insert(t, items);
    }
    out
}

/// Asserts two dumps are equal, naming the first difference briefly. An
/// attribute holding `NULL` equals an absent one (DESIGN §2: "accept
/// both"); SQLite stores both as a NULL column.
fn assert_same(a: &BTreeMap<Table, Vec<Item>>, b: &BTreeMap<Table, Vec<Item>>) {
    let strip = |items: &Vec<Item>| -> Vec<Item> {
        items
            .iter()
            .map(|i| {
                i.iter()
                    .filter(|(_, v)| **v != affine_db::Attr::Null)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .collect()
    };
    let a: BTreeMap<Table, Vec<Item>> = a.iter().map(|(t, v)| (*t, strip(v))).collect();
    let b: BTreeMap<Table, Vec<Item>> = b.iter().map(|(t, v)| (*t, strip(v))).collect();
    for t in Table::ALL {
        assert_eq!(a[&t].len(), b[&t].len(), "{t}: item counts differ");
        for (x, y) in a[&t].iter().zip(&b[&t]) {
            for k in x.keys().chain(y.keys()) {
                let (vx, vy) = (x.get(k), y.get(k));
                if vx != vy {
                    let short = |v: Option<&affine_db::Attr>| {
                        format!("{v:?}").chars().take(120).collect::<String>()
                    };
                    panic!(
                        "{t} {:?}: attribute {k} differs: {} vs {}",
                        x.get("pk"),
                        short(vx),
                        short(vy)
                    );
                }
            }
        }
    }
}

/// sample key → score, from raw items.
async fn keys_and_scores(store: &Store) -> BTreeMap<(String, String), String> {
    scan_all(store.admin.as_ref(), Table::SampleResults)
        .await
        .unwrap()
        .into_iter()
        .map(|i| {
            let s = |k: &str| match i.get(k) {
                Some(affine_db::Attr::S(v)) | Some(affine_db::Attr::N(v)) => v.clone(),
                other => panic!("{k}: {other:?}"),
            };
            ((s("pk"), s("sk")), s("score"))
        })
        .collect()
}

async fn run(store: &Store, source: &Source, opts: &MigrateOptions) -> MigrationSummary {
    migrate(store, source, opts, &|_: &Progress| {})
        .await
        .expect("migration")
}

/// Uploads the fixture bucket into a fresh bucket of moto's S3.
async fn s3_fixture(endpoint: &str) -> Source {
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(creds())
        .force_path_style(true)
        .build();
    let client = aws_sdk_s3::Client::from_conf(conf);
    let bucket = format!("r2-{}", uuid::Uuid::new_v4().simple());
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let root = PathBuf::from(BUCKET);
    let mut files = vec![root.join("affine/index.json")];
    for e in std::fs::read_dir(root.join("affine/results")).unwrap() {
        files.push(e.unwrap().path());
    }
    for f in files {
        let key = f
            .strip_prefix(&root)
            .unwrap()
            .to_str()
            .unwrap()
            .replace('\\', "/");
        let body = std::fs::read(&f).unwrap();
        client
            .put_object()
            .bucket(&bucket)
            .key(format!("old/{key}"))
            .body(body.into())
            .send()
            .await
            .expect("upload");
    }
    Source::S3(affine_db::tools::migrate::source::remote::S3Source::new(
        client, &bucket, "old",
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_source_into_dynamodb_matches_dir_source_into_sqlite() {
    let ep = endpoint();
    let s3 = s3_fixture(&ep).await;
    let dynamo = dynamo(&ep).await;
    let from_s3 = run(&dynamo, &s3, &MigrateOptions::default()).await;

    let dir = tempfile::tempdir().unwrap();
    let lite = sqlite(&dir.path().join("a.db")).await;
    let from_dir = run(
        &lite,
        &Source::open(BUCKET).await.unwrap(),
        &MigrateOptions::default(),
    )
    .await;

    assert_eq!(from_s3.migrated, from_dir.migrated);
    assert_eq!(from_s3.skipped, from_dir.skipped);
    assert_eq!(from_s3.shards_skipped, from_dir.shards_skipped);
    assert_eq!(from_s3.miners_created, 24);
    let (a, b) = (keys_and_scores(&dynamo).await, keys_and_scores(&lite).await);
    assert_eq!(a.len() as u64, from_dir.migrated);
    assert_eq!(a, b);
    // The miners are the same records on both backends.
    let d = dump(&dynamo).await;
    let mut l = dump(&lite).await;
    for t in Table::ALL {
        if t != Table::MinerMetadata {
            l.insert(t, d[&t].clone());
        }
    }
    assert_same(&d, &l);
    // And a rerun from S3 changes nothing.
    run(&dynamo, &s3, &MigrateOptions::default()).await;
    assert_same(&dump(&dynamo).await, &d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_makes_at_most_60_requests_per_1000_results() {
    // Through a 4 ms round-trip link, so batches in flight overlap as they
    // would against DynamoDB; the proxy counts every request.
    let proxy = LinkProxy::start(&endpoint(), Link::round_trip_ms(4.0)).unwrap();
    let store = dynamo(proxy.url()).await;
    let before = proxy.stats().requests.load(Ordering::SeqCst);
    let batch_before = proxy.stats().operation("BatchWriteItem");
    let s = run(
        &store,
        &Source::open(BUCKET).await.unwrap(),
        &MigrateOptions::default(),
    )
    .await;
    let requests = proxy.stats().requests.load(Ordering::SeqCst) - before;
    let batch_writes = proxy.stats().operation("BatchWriteItem") - batch_before;
    assert_eq!(s.migrated, 1749);
    let per_1000 = requests as f64 * 1000.0 / s.migrated as f64;
    println!(
        "{requests} DynamoDB requests ({batch_writes} BatchWriteItem) for {} samples: {per_1000:.1} per 1,000",
        s.migrated
    );
    // Every BatchWriteItem is full but the last of each batch: 1749 samples
    // in batches of 50 are 35 batches of 2 requests, plus the 24 miners.
    assert!(batch_writes >= 1749 / 25, "{batch_writes}");
    assert!(
        per_1000 <= 60.0,
        "{requests} requests for {} results ({per_1000:.1} per 1,000)",
        s.migrated
    );
    // Nothing was written twice or lost on the way: every sample is there once.
    assert_eq!(
        store.admin.stats().await.unwrap()[&Table::SampleResults],
        1749
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_dynamodb_to_sqlite_to_dynamodb_keeps_every_item() {
    let ep = endpoint();
    let first = dynamo(&ep).await;
    let opts = MigrateOptions {
        max_results: Some(300),
        ..MigrateOptions::default()
    };
    run(&first, &Source::open(BUCKET).await.unwrap(), &opts).await;
    first
        .config
        .set_param(
            "weights",
            ParamValue::Dict(
                serde_json::json!({"a": 1.5, "b": [1, "x", true]})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            "d",
            "me",
        )
        .await
        .unwrap();
    first
        .config
        .set_param("ratio", ParamValue::Float(1.0), "", "me")
        .await
        .unwrap();
    first
        .retention
        .set_protected("5Miner", "top3", None)
        .await
        .unwrap();
    first
        .scores
        .save_score(affine_db::Score {
            block_number: 6_800_000,
            miner_hotkey: "5Miner".into(),
            uid: 3,
            model_revision: "r".into(),
            overall_score: 0.25,
            scores_by_env: [("affine:sat".to_string(), 0.5)].into_iter().collect(),
            ..affine_db::Score::default()
        })
        .await
        .unwrap();
    first
        .tasks
        .create_task(affine_db::NewTask {
            miner_hotkey: "5Miner".into(),
            model_revision: "r".into(),
            model_hash: "h".into(),
            env: "affine:sat".into(),
            validator_hotkey: "v".into(),
            priority: 1,
            ttl_days: None,
        })
        .await
        .unwrap();
    first
        .logs
        .log_execution(affine_db::NewLog {
            miner_hotkey: "5Miner".into(),
            uid: 3,
            task_id: "t".into(),
            status: affine_db::LogStatus::Success,
            env: "affine:sat".into(),
            error_type: None,
            error_message: None,
            execution_time_ms: 5,
            timestamp: None,
        })
        .await
        .unwrap();
    let expected = dump(&first).await;
    for t in Table::ALL {
        assert!(!expected[&t].is_empty(), "{t} has items");
    }

    let dir = tempfile::tempdir().unwrap();
    let middle = sqlite(&dir.path().join("mid.db")).await;
    snapshot::copy(first.admin.as_ref(), middle.admin.as_ref())
        .await
        .unwrap();
    assert_same(&dump(&middle).await, &expected);
    let last = dynamo(&ep).await;
    let counts = snapshot::copy(middle.admin.as_ref(), last.admin.as_ref())
        .await
        .unwrap();
    assert_same(&dump(&last).await, &expected);
    for (t, items) in &expected {
        assert_eq!(counts[t], items.len() as u64);
    }
    // Between two DynamoDB stores the copy is exact, NULLs included.
    let direct = dynamo(&ep).await;
    snapshot::copy(first.admin.as_ref(), direct.admin.as_ref())
        .await
        .unwrap();
    assert!(
        dump(&direct).await == expected,
        "DynamoDB to DynamoDB copy is exact"
    );
}
