//! Snapshot export/import between SQLite stores: every item of every table
//! round-trips exactly; bad headers and corrupt streams are rejected.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;

use affine_db::admin::scan_all;
use affine_db::tools::migrate::{migrate, MigrateOptions, Progress, Source};
use affine_db::tools::snapshot::{self, MAGIC, VERSION};
use affine_db::{Error, Item, LogStatus, NewLog, NewTask, ParamValue, Score, Store, Table};

const BUCKET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/r2-bucket");

async fn open(path: &Path) -> Store {
    affine_db::sqlite::open_store(path, affine_db::clock::system_clock())
        .await
        .expect("open sqlite")
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

/// A store with items in all seven tables.
async fn filled(path: &Path) -> Store {
    let store = open(path).await;
    let source = Source::open(BUCKET).await.unwrap();
    let opts = MigrateOptions {
        max_results: Some(400),
        ..MigrateOptions::default()
    };
    migrate(&store, &source, &opts, &|_: &Progress| {})
        .await
        .unwrap();
    store
        .tasks
        .create_task(NewTask {
            miner_hotkey: "5Miner".into(),
            model_revision: "rev".into(),
            model_hash: "h".into(),
            env: "affine:sat".into(),
            validator_hotkey: "5Val".into(),
            priority: 3,
            ttl_days: None,
        })
        .await
        .unwrap();
    store
        .logs
        .log_execution(NewLog {
            miner_hotkey: "5Miner".into(),
            uid: 1,
            task_id: "t".into(),
            status: LogStatus::Failed,
            env: "affine:sat".into(),
            error_type: Some("timeout".into()),
            error_message: None,
            execution_time_ms: 12,
            timestamp: None,
        })
        .await
        .unwrap();
    store
        .scores
        .save_score(Score {
            block_number: 6_800_000,
            miner_hotkey: "5Miner".into(),
            uid: 1,
            model_revision: "rev".into(),
            overall_score: 0.75,
            scores_by_env: [("affine:sat".to_string(), 0.5)].into_iter().collect(),
            total_samples: 4,
            is_eligible: true,
            ..Score::default()
        })
        .await
        .unwrap();
    store
        .config
        .set_param(
            "dict_param",
            ParamValue::Dict(
                serde_json::json!({"a": [1, 2.5, "x"]})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            "d",
            "me",
        )
        .await
        .unwrap();
    store
        .config
        .set_param("f", ParamValue::Float(1.0), "", "me")
        .await
        .unwrap();
    store
        .retention
        .set_protected("5Miner", "top3", None)
        .await
        .unwrap();
    let d = dump(&store).await;
    for t in Table::ALL {
        assert!(!d[&t].is_empty(), "{t} has items");
    }
    store
}

#[tokio::test]
async fn snapshot_round_trips_every_item_of_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let from = filled(&dir.path().join("from.db")).await;
    let mut buf = Vec::new();
    let exported = snapshot::export(from.admin.as_ref(), &mut buf)
        .await
        .unwrap();
    assert_eq!(&buf[..8], MAGIC);

    let to = open(&dir.path().join("to.db")).await;
    let imported = snapshot::import(to.admin.as_ref(), Cursor::new(&buf))
        .await
        .unwrap();
    assert_eq!(exported, imported);
    let expected = dump(&from).await;
    assert_eq!(dump(&to).await, expected);
    for (t, items) in &expected {
        assert_eq!(exported[t], items.len() as u64);
    }

    // Importing again over the same data changes nothing.
    snapshot::import(to.admin.as_ref(), Cursor::new(&buf))
        .await
        .unwrap();
    assert_eq!(dump(&to).await, expected);

    // copy() goes through a temporary file to the same result.
    let copied = open(&dir.path().join("copy.db")).await;
    snapshot::copy(from.admin.as_ref(), copied.admin.as_ref())
        .await
        .unwrap();
    assert_eq!(dump(&copied).await, expected);
}

#[tokio::test]
async fn bad_header_and_corrupt_stream_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let from = filled(&dir.path().join("from.db")).await;
    let mut buf = Vec::new();
    snapshot::export(from.admin.as_ref(), &mut buf)
        .await
        .unwrap();
    let to = open(&dir.path().join("to.db")).await;
    let empty = dump(&to).await;

    let mut bad_magic = buf.clone();
    bad_magic[0] ^= 0xff;
    let mut bad_version = buf.clone();
    bad_version[8..12].copy_from_slice(&(VERSION + 1).to_le_bytes());
    for input in [bad_magic, bad_version, buf[..5].to_vec(), Vec::new()] {
        let err = snapshot::import(to.admin.as_ref(), Cursor::new(&input))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Corrupt(_)), "{err:?}");
        assert_eq!(dump(&to).await, empty, "a bad header writes nothing");
    }

    // Cut short, the file's first batches are whole: validation reads to
    // the end first, so none of them is written.
    let truncated = &buf[..buf.len() - 10];
    let err = snapshot::import(to.admin.as_ref(), Cursor::new(truncated))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err:?}");
    assert_eq!(dump(&to).await, empty, "a truncated file writes nothing");

    let mut garbage = buf[..12].to_vec();
    garbage.extend_from_slice(b"definitely not zstd");
    let err = snapshot::import(to.admin.as_ref(), Cursor::new(&garbage))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err:?}");
}
