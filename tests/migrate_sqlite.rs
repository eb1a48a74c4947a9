//! Migration of the fixture bucket (`../shared/data/r2-bucket`) through the
//! directory source into SQLite: counts, skip reasons, idempotence,
//! interrupted runs (a `--max-results` cut and a killed process) and the
//! `tail`/`max_results` selection.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use affine_db::admin::scan_all;
use affine_db::tools::migrate::{migrate, MigrateOptions, MigrationSummary, Progress, Source};
use affine_db::{Item, Store, Table};
use serde_json::Value;

const BUCKET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/r2-bucket");
const MANIFEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/r2-bucket.manifest.json"
);
/// Set in the child process of the kill test: the database to migrate into.
const CHILD_DB_ENV: &str = "AFFINE_MIGRATE_TEST_CHILD_DB";

// What the fixture on disk holds (checked against the data with a separate
// Python reading): 44 readable shards with 1765 records; 3 without a miner,
// 4 with a non-numeric score, 3 with a null score, 1 oversize conversation,
// 5 repeated signatures; the truncated shard and the missing shard are
// skipped whole, and 3 index keys are listed twice. 1749 distinct samples.
const STORED: u64 = 1749;
const PROCESSED: u64 = 1765;

fn manifest() -> Value {
    serde_json::from_str(&std::fs::read_to_string(MANIFEST).expect("fixture manifest")).unwrap()
}

async fn open(path: &Path) -> Store {
    affine_db::sqlite::open_store(path, affine_db::clock::system_clock())
        .await
        .expect("open sqlite")
}

async fn source() -> Source {
    Source::open(&format!("dir://{BUCKET}"))
        .await
        .expect("fixture bucket")
}

fn opts() -> MigrateOptions {
    MigrateOptions::default()
}

async fn run(store: &Store, opts: &MigrateOptions) -> MigrationSummary {
    migrate(store, &source().await, opts, &|_: &Progress| {})
        .await
        .expect("migration")
}

async fn dump(store: &Store) -> BTreeMap<Table, Vec<Item>> {
    let mut out = BTreeMap::new();
    for t in Table::ALL {
        let mut items = scan_all(store.admin.as_ref(), t).await.unwrap();
        items.sort_by(|a, b| {
            format!("{:?}", (a.get("pk"), a.get("sk")))
                .cmp(&format!("{:?}", (b.get("pk"), b.get("sk"))))
        });
        out.insert(t, items);
    }
    out
}

fn count(store_dump: &BTreeMap<Table, Vec<Item>>, t: Table) -> u64 {
    store_dump[&t].len() as u64
}

#[tokio::test]
async fn full_fixture_migrates_counts_and_skips_by_reason() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("a.db")).await;
    let s = run(&store, &opts()).await;
    let m = manifest();

    assert_eq!(s.processed, PROCESSED);
    assert_eq!(s.migrated, STORED);
    assert_eq!(s.processed, s.migrated + s.skipped_total());
    let stats = store.admin.stats().await.unwrap();
    assert_eq!(stats[&Table::SampleResults], STORED);
    assert_eq!(stats[&Table::MinerMetadata], m["miners"].as_u64().unwrap());
    assert_eq!(s.miners_created, m["miners"].as_u64().unwrap());

    // The defect counts the manifest gives and the data on disk agree on.
    assert_eq!(s.skipped.get("bad_score").copied(), m["bad_score"].as_u64());
    assert_eq!(
        s.skipped.get("null_score").copied(),
        m["null_score"].as_u64()
    );
    assert_eq!(
        s.skipped.get("duplicate").copied(),
        m["duplicates"].as_u64()
    );
    assert_eq!(s.skipped.get("oversize").copied(), m["oversize"].as_u64());
    assert_eq!(
        s.shards_skipped.get("truncated").copied(),
        m["truncated_shards"].as_u64()
    );
    assert_eq!(
        s.shards_skipped.get("missing").copied(),
        m["missing_shards"].as_u64()
    );
    // The manifest counts one more record without a miner than the readable
    // shards hold (it lies in the truncated part); on disk there are 3.
    assert_eq!(s.skipped.get("missing_miner").copied(), Some(3));
    assert_eq!(s.skipped.len(), 5, "{:?}", s.skipped);
    assert_eq!(s.index_duplicates, 3);
    assert_eq!(s.shards_read, 44);
    assert_eq!(s.shards_selected, 46);
    assert_eq!(s.skipped_shards.len(), 2);
    assert!(!s.stopped_at_max_results);

    // Every stored sample carries its shard's window and a signature-derived id.
    let d = dump(&store).await;
    let mut legacy = 0;
    for item in &d[&Table::SampleResults] {
        let sample =
            affine_db::Sample::from_item(item, Some(&affine_db::Codec::default())).unwrap();
        assert_eq!(
            sample.sample_id,
            affine_db::tools::migrate::sample_id(&sample.signature)
        );
        assert_eq!(sample.block_number % 20, 0);
        assert!((6_800_000..=6_802_760).contains(&sample.block_number));
        assert!(sample.score.is_finite());
        let conv = sample.conversation.unwrap();
        if conv
            .as_array()
            .is_some_and(|a| a.len() == 2 && a[0]["role"] == "user" && a[1]["role"] == "assistant")
            && sample.task_id.len() == 32
        {
            legacy += 1;
        }
    }
    // The six legacy records of the readable shards (the manifest's seventh
    // is not on disk) migrate with prompt + response as the conversation.
    assert_eq!(legacy, 6);
}

#[tokio::test]
async fn rerun_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("a.db")).await;
    run(&store, &opts()).await;
    let before = dump(&store).await;
    let again = run(&store, &opts()).await;
    assert_eq!(again.migrated, STORED);
    assert_eq!(again.miners_created, 0);
    assert_eq!(dump(&store).await, before);
}

#[tokio::test]
async fn max_results_cut_then_full_run_equals_clean_run() {
    let dir = tempfile::tempdir().unwrap();
    let clean = open(&dir.path().join("clean.db")).await;
    run(&clean, &opts()).await;

    let cut = open(&dir.path().join("cut.db")).await;
    let partial = run(
        &cut,
        &MigrateOptions {
            max_results: Some(300),
            ..opts()
        },
    )
    .await;
    assert_eq!(partial.processed, 300);
    assert!(partial.stopped_at_max_results);
    assert_eq!(
        partial.processed,
        partial.migrated + partial.skipped_total()
    );
    assert_eq!(
        count(&dump(&cut).await, Table::SampleResults),
        partial.migrated
    );
    run(&cut, &opts()).await;
    assert_eq!(dump(&cut).await, dump(&clean).await);
}

#[tokio::test]
async fn tail_selects_windows_near_the_reference_block() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("a.db")).await;
    // Default reference: the newest window in the index (6802780, whose
    // shard is missing); 100 blocks back reaches only 6802760.
    let s = run(
        &store,
        &MigrateOptions {
            tail: Some(100),
            ..opts()
        },
    )
    .await;
    assert_eq!(s.windows, Some((6_802_760, 6_802_780)));
    assert_eq!(s.shards_selected, 2);
    assert_eq!(s.shards_read, 1);
    assert_eq!(s.shards_skipped.get("missing"), Some(&1));
    assert_eq!(s.processed, 40);

    let store2 = open(&dir.path().join("b.db")).await;
    let s = run(
        &store2,
        &MigrateOptions {
            tail: Some(61),
            current_block: Some(6_800_100),
            ..opts()
        },
    )
    .await;
    assert_eq!(s.windows, Some((6_800_040, 6_800_100)));
    assert_eq!(s.shards_read, 2);
    for item in scan_all(store2.admin.as_ref(), Table::SampleResults)
        .await
        .unwrap()
    {
        let b = affine_db::Sample::from_item(&item, None)
            .unwrap()
            .block_number;
        assert!(b == 6_800_040 || b == 6_800_100, "{b}");
    }
    assert_eq!(
        s.migrated,
        store2.admin.stats().await.unwrap()[&Table::SampleResults]
    );

    let err = migrate(
        &store2,
        &source().await,
        &MigrateOptions {
            tail: Some(0),
            ..opts()
        },
        &|_: &Progress| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(err, affine_db::Error::InvalidInput { .. }));
}

#[tokio::test]
async fn missing_index_is_not_found_and_bad_source_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("a.db")).await;
    let empty = Source::open(dir.path().to_str().unwrap()).await.unwrap();
    let err = migrate(&store, &empty, &opts(), &|_: &Progress| {})
        .await
        .unwrap_err();
    assert!(matches!(err, affine_db::Error::NotFound(_)));
    let err = Source::open(&format!("dir://{}/nope", dir.path().display()))
        .await
        .unwrap_err();
    assert!(matches!(err, affine_db::Error::InvalidInput { .. }));
}

/// In the kill test's child process (`CHILD_DB_ENV` set), migrates into
/// that database, printing a line per progress report, and stops at the
/// first report with samples migrated until it is killed.
/// Run on its own, it checks that progress is reported and adds up.
#[tokio::test]
async fn progress_reports_and_kill_child_entry() {
    let child = std::env::var(CHILD_DB_ENV).is_ok();
    let (path, _dir) = match std::env::var(CHILD_DB_ENV) {
        Ok(p) => (PathBuf::from(p), None),
        Err(_) => {
            let dir = tempfile::tempdir().unwrap();
            (dir.path().join("p.db"), Some(dir))
        }
    };
    let store = open(&path).await;
    let last = std::sync::Mutex::new(Progress::default());
    let o = MigrateOptions {
        batch_size: 10,
        concurrency: 1,
        ..opts()
    };
    let s = migrate(&store, &source().await, &o, &|p: &Progress| {
        println!("PROGRESS {} {} {}", p.shards_done, p.processed, p.migrated);
        *last.lock().unwrap() = *p;
        if child && p.migrated > 0 {
            // Hold the run here until the parent kills it: it is then
            // killed mid-run however fast the machine is.
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
    })
    .await
    .unwrap();
    let last = *last.lock().unwrap();
    assert_eq!(last.migrated, s.migrated);
    assert_eq!(last.processed, s.processed);
    assert_eq!(last.shards_done, last.shards_total);
}

#[tokio::test]
async fn killed_run_resumes_to_the_clean_state() {
    let dir = tempfile::tempdir().unwrap();
    let killed_db = dir.path().join("killed.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "progress_reports_and_kill_child_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB_ENV, &killed_db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut killed_at = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.first() == Some(&"PROGRESS") && parts[3].parse::<u64>().unwrap() > 0 {
            child.kill().unwrap();
            killed_at = Some(parts[3].parse::<u64>().unwrap());
            break;
        }
    }
    let status = child.wait().unwrap();
    let migrated = killed_at.expect("the child reported progress before finishing");
    assert!(!status.success(), "the child was killed mid-run");
    assert!(migrated < STORED);

    let killed = open(&killed_db).await;
    let partial = killed.admin.stats().await.unwrap()[&Table::SampleResults];
    assert!(partial < STORED, "killed before the end: {partial}");
    run(&killed, &opts()).await;

    let clean = open(&dir.path().join("clean.db")).await;
    run(&clean, &opts()).await;
    assert_eq!(dump(&killed).await, dump(&clean).await);
}

#[tokio::test]
async fn sqlite_defaults_keep_one_batch_in_flight_and_store_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("a.db")).await;
    let o = MigrateOptions::for_store(&store);
    assert_eq!(o.in_flight, 1);
    assert_eq!(
        MigrateOptions {
            in_flight: MigrateOptions::default().in_flight,
            ..o.clone()
        },
        MigrateOptions::default()
    );
    let s = run(&store, &o).await;
    assert_eq!(s.migrated, STORED);
    let wide = open(&dir.path().join("b.db")).await;
    run(
        &wide,
        &MigrateOptions {
            in_flight: 8,
            workers: 4,
            ..opts()
        },
    )
    .await;
    assert_eq!(dump(&store).await, dump(&wide).await);
}
