//! Behaviour specific to the SQLite backend: WAL, the schema version and
//! its migrations, persistence, the TTL purge, raw access, and the
//! concurrency proofs (claims, counters, versions) on a real file in WAL mode.

use std::collections::BTreeMap;
use std::sync::Arc;

use affine_db_core::conformance::Harness;
use affine_db_core::handles::Tables;
use affine_db_core::schema::Table;
use affine_db_core::{
    Admin, Attr, Clock, ConfigStore, Error, LogStatus, LogStore, ManualClock, MinerInfo,
    MinerStore, NewLog, NewSample, NewTask, ParamValue, PendingOrder, SampleStore, Score,
    ScoreStore, TaskStore,
};
use affine_db_sqlite::{
    open_store, open_tables, open_tables_in_memory, OpenMode, SqliteDriver, APPLICATION_ID,
    SCHEMA_VERSION,
};

fn sample(hotkey: &str, timestamp: i64) -> NewSample {
    NewSample {
        sample_id: None,
        timestamp: Some(timestamp),
        miner_hotkey: hotkey.into(),
        model_revision: "rev".into(),
        model_hash: "hash".into(),
        uid: 7,
        env: "SAT".into(),
        subset: "s".into(),
        dataset_index: 3,
        task_id: "t".into(),
        score: 0.25,
        success: true,
        latency_ms: 12,
        conversation: serde_json::json!([{"role": "user", "content": "hello"}]),
        validator_hotkey: "v".into(),
        block_number: 9,
        signature: "sig".into(),
    }
}

fn task(hotkey: &str, ttl_days: Option<i64>) -> NewTask {
    NewTask {
        miner_hotkey: hotkey.into(),
        model_revision: "rev".into(),
        model_hash: "hash".into(),
        env: "SAT".into(),
        validator_hotkey: "v".into(),
        priority: 0,
        ttl_days,
    }
}

struct FileDb {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    clock: Arc<ManualClock>,
}

fn file_db() -> FileDb {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("affine.db");
    FileDb {
        _dir: dir,
        path,
        clock: Harness::new_clock(),
    }
}

#[tokio::test]
async fn file_database_is_wal_with_the_current_schema_version() {
    let f = file_db();
    let db_driver = SqliteDriver::open(&f.path, OpenMode::Create).await.unwrap();
    let db = Arc::new(Tables::new(db_driver.clone(), f.clock.clone()));
    assert_eq!(
        db_driver.journal_mode().await.unwrap().to_ascii_lowercase(),
        "wal"
    );
    assert_eq!(db_driver.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 3);
    assert_eq!(db.describe(), format!("sqlite://{}", f.path.display()));
    let caps = db.capabilities();
    assert_eq!(caps.name, "sqlite");
    assert!(!caps.server_side_ttl);
    assert!(caps.max_batch_write >= 25);
}

#[tokio::test]
async fn a_newer_schema_version_is_refused() {
    let f = file_db();
    drop(
        open_tables(&f.path, f.clock.clone(), OpenMode::Create)
            .await
            .unwrap(),
    );
    {
        let conn = rusqlite::Connection::open(&f.path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let err = open_tables(&f.path, f.clock.clone(), OpenMode::Create)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err:?}");
    // The file was left alone.
    let conn = rusqlite::Connection::open(&f.path).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION + 1);
}

/// A file at schema version 1 (before `system_config.param_value_json`)
/// gains the column on open, keeps its rows, and then keeps the exact text
/// of dict values.
#[tokio::test]
async fn a_version_one_file_gains_the_exact_json_column() {
    use affine_db_core::tables::config::EXACT_JSON_ATTR;
    use affine_db_core::ParamValue;

    let f = file_db();
    drop(
        open_tables(&f.path, f.clock.clone(), OpenMode::Create)
            .await
            .unwrap(),
    );
    let has_column = |conn: &rusqlite::Connection| -> bool {
        conn.query_row(
            "SELECT count(*) > 0 FROM pragma_table_info('system_config') WHERE name = ?1",
            [EXACT_JSON_ATTR],
            |r| r.get(0),
        )
        .unwrap()
    };
    {
        // Back to what version 1 wrote.
        let conn = rusqlite::Connection::open(&f.path).unwrap();
        conn.execute_batch(&format!(
            "ALTER TABLE system_config DROP COLUMN \"{EXACT_JSON_ATTR}\"; PRAGMA user_version = 1;"
        ))
        .unwrap();
        conn.execute(
            "INSERT INTO system_config (pk, sk, param_name, param_value, param_type) \
             VALUES ('CONFIG', 'PARAM#old', 'old', '{\"b\":1.0,\"a\":2}', 'dict')",
            [],
        )
        .unwrap();
        assert!(!has_column(&conn));
    }
    let db_driver = SqliteDriver::open(&f.path, OpenMode::Create).await.unwrap();
    let db = Arc::new(Tables::new(db_driver.clone(), f.clock.clone()));
    assert_eq!(db_driver.schema_version().await.unwrap(), SCHEMA_VERSION);
    {
        let conn = rusqlite::Connection::open(&f.path).unwrap();
        assert!(has_column(&conn));
    }
    let store = affine_db_core::Store::new(db.clone());
    // The old row reads, its numbers canonical as DynamoDB would give them.
    let old = store.config.get_param("old").await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_string(&old.param_value).unwrap(),
        r#"{"b":1,"a":2}"#
    );
    let exact: serde_json::Value = serde_json::from_str(r#"{"b":1.0,"a":2}"#).unwrap();
    let serde_json::Value::Object(m) = exact else {
        unreachable!()
    };
    store
        .config
        .set_param("new", ParamValue::Dict(m), "", "me")
        .await
        .unwrap();
    let new = store.config.get_param("new").await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_string(&new.param_value).unwrap(),
        r#"{"b":1.0,"a":2}"#
    );
}

#[tokio::test]
async fn an_empty_file_is_migrated_from_version_zero() {
    let f = file_db();
    std::fs::write(&f.path, b"").unwrap();
    let db_driver = SqliteDriver::open(&f.path, OpenMode::Create).await.unwrap();
    let db = Arc::new(Tables::new(db_driver.clone(), f.clock.clone()));
    assert_eq!(db_driver.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(db_driver.application_id().await.unwrap(), APPLICATION_ID);
    let mut want: Vec<String> = Table::ALL.iter().map(|t| t.name().to_string()).collect();
    want.sort();
    assert_eq!(db.list_tables().await.unwrap(), want);
}

/// A file with tables that are not this tool's, or another application's
/// id, is refused in every mode, and left byte for byte as it was.
#[tokio::test]
async fn a_foreign_file_is_refused_and_left_alone() {
    let f = file_db();
    {
        let conn = rusqlite::Connection::open(&f.path).unwrap();
        conn.execute_batch("CREATE TABLE unrelated (x INTEGER); INSERT INTO unrelated VALUES (1)")
            .unwrap();
    }
    let foreign_app = f.path.with_file_name("app.db");
    {
        let conn = rusqlite::Connection::open(&foreign_app).unwrap();
        conn.pragma_update(None, "application_id", 0x1234).unwrap();
    }
    // Our table name with someone else's columns.
    let lookalike = f.path.with_file_name("lookalike.db");
    {
        let conn = rusqlite::Connection::open(&lookalike).unwrap();
        conn.execute_batch("CREATE TABLE scores (id INTEGER PRIMARY KEY, value TEXT)")
            .unwrap();
    }
    for path in [&f.path, &foreign_app, &lookalike] {
        let before = std::fs::read(path).unwrap();
        for mode in [OpenMode::Create, OpenMode::ReadWrite, OpenMode::ReadOnly] {
            let err = open_tables(path, f.clock.clone(), mode).await.unwrap_err();
            assert!(
                matches!(err, Error::InvalidInput { .. }),
                "{mode:?}: {err:?}"
            );
        }
        assert_eq!(std::fs::read(path).unwrap(), before, "{}", path.display());
    }
}

/// Only `Create` makes a missing file; `ReadOnly` changes nothing, not even
/// a missing table, and cannot write.
#[tokio::test]
async fn open_modes() {
    let f = file_db();
    for mode in [OpenMode::ReadWrite, OpenMode::ReadOnly] {
        let err = open_tables(&f.path, f.clock.clone(), mode)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{mode:?}: {err:?}");
        assert!(!f.path.exists());
    }
    let store = open_store(&f.path, f.clock.clone()).await.unwrap();
    store
        .config
        .set_param("p", ParamValue::Int(1), "", "me")
        .await
        .unwrap();
    drop(store);
    let before = std::fs::read(&f.path).unwrap();
    let ro_driver = SqliteDriver::open(&f.path, OpenMode::ReadOnly)
        .await
        .unwrap();
    let ro = Arc::new(Tables::new(ro_driver.clone(), f.clock.clone()));
    assert_eq!(ro_driver.mode(), OpenMode::ReadOnly);
    assert_eq!(
        ro.get_param("p").await.unwrap().map(|p| p.param_value),
        Some(ParamValue::Int(1))
    );
    let err = ro
        .set_param("p", ParamValue::Int(2), "", "me")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err:?}");
    drop(ro);
    assert_eq!(std::fs::read(&f.path).unwrap(), before);

    // A missing table in read-only mode says to run init, and is not created.
    {
        let conn = rusqlite::Connection::open(&f.path).unwrap();
        conn.execute_batch("DROP TABLE system_config").unwrap();
    }
    let ro = open_tables(&f.path, f.clock.clone(), OpenMode::ReadOnly)
        .await
        .unwrap();
    let err = ro.list_all_configs().await.unwrap_err();
    assert!(matches!(err, Error::MissingTable { .. }), "{err:?}");
    drop(ro);
    // A writing open changes nothing in it either; `init` creates it.
    let rw = open_tables(&f.path, f.clock.clone(), OpenMode::ReadWrite)
        .await
        .unwrap();
    let err = rw.list_all_configs().await.unwrap_err();
    assert!(matches!(err, Error::MissingTable { .. }), "{err:?}");
    rw.init().await.unwrap();
    assert_eq!(rw.list_all_configs().await.unwrap(), vec![]);
}

/// A file an earlier build wrote (our tables, no application id) opens
/// and is marked as ours by the next writing open.
#[tokio::test]
async fn an_older_affine_db_file_opens_and_is_marked() {
    let f = file_db();
    drop(
        open_tables(&f.path, f.clock.clone(), OpenMode::Create)
            .await
            .unwrap(),
    );
    {
        let conn = rusqlite::Connection::open(&f.path).unwrap();
        conn.pragma_update(None, "application_id", 0).unwrap();
    }
    let ro = SqliteDriver::open(&f.path, OpenMode::ReadOnly)
        .await
        .unwrap();
    assert_eq!(
        ro.application_id().await.unwrap(),
        0,
        "read-only changes nothing"
    );
    drop(ro);
    let rw = SqliteDriver::open(&f.path, OpenMode::ReadWrite)
        .await
        .unwrap();
    assert_eq!(rw.application_id().await.unwrap(), APPLICATION_ID);
}

#[tokio::test]
async fn columns_are_named_like_the_attributes() {
    let f = file_db();
    let db = open_tables(&f.path, f.clock.clone(), OpenMode::Create)
        .await
        .unwrap();
    db.save_sample(sample("hk", 1_000)).await.unwrap();
    drop(db);
    let conn = rusqlite::Connection::open(&f.path).unwrap();
    for table in Table::ALL {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT name FROM pragma_table_info('{}')",
                table.name()
            ))
            .unwrap();
        let cols: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut want = vec!["pk".to_string(), "sk".to_string()];
        want.extend(table.def().attrs.iter().map(|a| a.name.to_string()));
        assert_eq!(cols, want, "{table}");
    }
    let (env, score, success): (String, f64, i64) = conn
        .query_row("SELECT env, score, success FROM sample_results", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!((env.as_str(), score, success), ("SAT", 0.25, 1));
    let indexes: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for ix in [
        "env-timestamp-index",
        "status-created-index",
        "latest-block-index",
        "task_queue-ttl-index",
        "sample_results-miner-time-index",
        "sample_results-id-index",
    ] {
        assert!(
            indexes.iter().any(|i| i == ix),
            "{ix} missing from {indexes:?}"
        );
    }
}

#[tokio::test]
async fn a_reopened_file_keeps_its_data() {
    let f = file_db();
    let key = {
        let store = open_store(&f.path, f.clock.clone()).await.unwrap();
        store
            .config
            .set_param("alpha", ParamValue::Float(2.0), "d", "me")
            .await
            .unwrap();
        store
            .samples
            .save_sample(sample("hk", 5_000))
            .await
            .unwrap()
            .key()
    };
    let store = open_store(&f.path, f.clock.clone()).await.unwrap();
    let got = store
        .samples
        .get_sample(&key, affine_db_core::Conversation::Include)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got.conversation,
        Some(serde_json::json!([{"role": "user", "content": "hello"}]))
    );
    let p = store.config.get_param("alpha").await.unwrap().unwrap();
    assert_eq!(p.param_value, ParamValue::Float(2.0));
    assert_eq!(p.version, 1);
}

#[tokio::test]
async fn purge_expired_removes_exactly_the_expired_rows() {
    let clock = Harness::new_clock();
    let db = open_tables_in_memory(clock.clone()).await.unwrap();
    let short = db.create_task(task("a", Some(1))).await.unwrap();
    let long = db.create_task(task("b", Some(3))).await.unwrap();
    db.log_execution(NewLog {
        miner_hotkey: "a".into(),
        uid: 1,
        task_id: short.task_id.clone(),
        status: LogStatus::Success,
        env: "SAT".into(),
        error_type: None,
        error_message: None,
        execution_time_ms: 5,
        timestamp: None,
    })
    .await
    .unwrap();
    db.save_sample(sample("a", 1)).await.unwrap();
    assert_eq!(db.purge_expired().await.unwrap(), 0);

    // Exactly at the short task's ttl it is expired (ttl <= now).
    clock.set_ms(short.ttl * 1000);
    assert_eq!(db.stats().await.unwrap()[&Table::TaskQueue], 1);
    assert!(db
        .get_task("a", "rev", &short.task_id)
        .await
        .unwrap()
        .is_none());
    assert_eq!(db.purge_expired().await.unwrap(), 1);
    let raw = affine_db_core::admin::scan_all(db.as_ref(), Table::TaskQueue)
        .await
        .unwrap();
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].get("task_id"), Some(&Attr::s(&long.task_id)));

    // Seven days after the log: the log goes, the 3-day task went earlier.
    clock.advance_s(7 * 86_400);
    assert_eq!(db.purge_expired().await.unwrap(), 2);
    let stats = db.stats().await.unwrap();
    assert_eq!(stats[&Table::TaskQueue], 0);
    assert_eq!(stats[&Table::ExecutionLogs], 0);
    assert_eq!(stats[&Table::SampleResults], 1, "samples have no TTL");
    assert_eq!(db.purge_expired().await.unwrap(), 0);
}

#[tokio::test]
async fn scan_pages_cover_every_item_once_and_put_items_round_trips() {
    let clock = Harness::new_clock();
    let src = open_tables_in_memory(clock.clone()).await.unwrap();
    for i in 0..7 {
        src.save_sample(sample(&format!("hk{i}"), 1_000 + i))
            .await
            .unwrap();
    }
    let mut items = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = src
            .scan_page(Table::SampleResults, cursor, 3)
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        pages += 1;
        items.extend(page.items);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(items.len(), 7);
    let dst = open_tables_in_memory(clock).await.unwrap();
    dst.put_items(Table::SampleResults, items.clone())
        .await
        .unwrap();
    assert_eq!(
        affine_db_core::admin::scan_all(dst.as_ref(), Table::SampleResults)
            .await
            .unwrap(),
        items
    );
    let keys: Vec<(String, String)> = items
        .iter()
        .take(2)
        .map(|i| match (&i["pk"], &i["sk"]) {
            (Attr::S(p), Attr::S(s)) => (p.clone(), s.clone()),
            _ => unreachable!("keys are strings"),
        })
        .collect();
    assert_eq!(
        dst.delete_items(Table::SampleResults, keys.clone())
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        dst.delete_items(Table::SampleResults, keys).await.unwrap(),
        0
    );
    assert_eq!(dst.stats().await.unwrap()[&Table::SampleResults], 5);

    let mut bad = items[0].clone();
    bad.insert("no_such_attribute".into(), Attr::int(1));
    assert!(matches!(
        dst.put_items(Table::SampleResults, vec![items[1].clone(), bad])
            .await,
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(
        dst.stats().await.unwrap()[&Table::SampleResults],
        5,
        "nothing of a bad batch is written"
    );
    assert!(matches!(
        dst.scan_page(Table::SampleResults, Some("garbage".into()), 3)
            .await,
        Err(Error::InvalidInput { .. })
    ));
}

#[tokio::test]
async fn reset_empties_the_seven_tables_and_init_is_idempotent() {
    let clock = Harness::new_clock();
    let db = open_tables_in_memory(clock).await.unwrap();
    db.save_sample(sample("a", 1)).await.unwrap();
    db.init().await.unwrap();
    db.init().await.unwrap();
    assert_eq!(db.stats().await.unwrap()[&Table::SampleResults], 1);
    db.reset().await.unwrap();
    assert_eq!(db.list_tables().await.unwrap().len(), 7);
    assert!(db.stats().await.unwrap().values().all(|n| *n == 0));
}

#[tokio::test]
async fn an_oversize_sample_in_a_batch_writes_nothing() {
    let clock = Harness::new_clock();
    let db = open_tables_in_memory(clock).await.unwrap();
    // ~900 KB of incompressible text: over 400 KB even after zstd.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: String = (0..900_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'!' + (x % 90) as u8)
        })
        .collect();
    let mut big = sample("b", 2);
    big.conversation = serde_json::json!([{"role": "user", "content": noise}]);
    let err = db
        .save_samples(vec![sample("a", 1), big])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    assert!(db.list_sample_owners().await.unwrap().is_empty());
}

#[tokio::test]
async fn snapshot_headers_are_stored_like_on_dynamodb() {
    let clock = Harness::new_clock();
    let db = open_tables_in_memory(clock.clone()).await.unwrap();
    let score = |hk: &str| Score {
        block_number: 10,
        miner_hotkey: hk.into(),
        overall_score: 0.5,
        calculated_at: 42,
        scores_by_env: BTreeMap::from([("SAT".to_string(), 0.5)]),
        ..Default::default()
    };
    db.save_snapshot(10, vec![score("a"), score("b")])
        .await
        .unwrap();
    db.save_snapshot(10, vec![score("b")]).await.unwrap();
    let raw = affine_db_core::admin::scan_all(db.as_ref(), Table::Scores)
        .await
        .unwrap();
    assert_eq!(raw.len(), 2, "header and the one remaining row");
    let header = raw.iter().find(|i| i["sk"] == Attr::s("SNAPSHOT")).unwrap();
    assert_eq!(header["snapshot_status"], Attr::s("complete"));
    let want_ttl = clock.now_s() + 30 * 86_400;
    assert_eq!(header["ttl"], Attr::int(want_ttl));
    let rows = db.get_scores_at_block(10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].scores_by_env, score("b").scores_by_env);

    // A header left `writing` (e.g. imported mid-write) hides the block.
    let mut writing = header.clone();
    writing.insert("snapshot_status".into(), Attr::s("writing"));
    db.put_items(Table::Scores, vec![writing]).await.unwrap();
    assert!(db.get_scores_at_block(10).await.unwrap().is_empty());
    assert!(db.get_latest_scores().await.unwrap().is_none());
}

// ---- concurrency proofs, on a real file in WAL mode ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_start_each_task_exactly_once() {
    let f = file_db();
    let db = open_tables(&f.path, f.clock.clone(), OpenMode::Create)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(db.create_task(task("hk", None)).await.unwrap().task_id);
    }
    let ids = Arc::new(ids);
    let mut workers = Vec::new();
    for w in 0..8 {
        let db = db.clone();
        let ids = ids.clone();
        workers.push(tokio::spawn(async move {
            let mut wins = Vec::new();
            let mut conflicts = 0;
            // Each worker walks the tasks from a different start.
            for i in 0..ids.len() {
                let id = &ids[(i + w * 3) % ids.len()];
                match db.start_task("hk", "rev", id).await {
                    Ok(t) => wins.push(t.task_id),
                    Err(Error::Conflict(_)) => conflicts += 1,
                    Err(e) => panic!("unexpected error {e:?}"),
                }
            }
            (wins, conflicts)
        }));
    }
    let mut wins_per_task: BTreeMap<String, usize> = BTreeMap::new();
    let mut conflicts = 0;
    for w in workers {
        let (wins, c) = w.await.unwrap();
        conflicts += c;
        for id in wins {
            *wins_per_task.entry(id).or_default() += 1;
        }
    }
    assert_eq!(wins_per_task.len(), 20);
    assert!(wins_per_task.values().all(|n| *n == 1), "{wins_per_task:?}");
    assert_eq!(conflicts, 8 * 20 - 20);
    assert!(db
        .get_pending_tasks(100, PendingOrder::Priority)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_statistics_lose_no_update() {
    let f = file_db();
    let db = open_tables(&f.path, f.clock.clone(), OpenMode::Create)
        .await
        .unwrap();
    db.save_metadata(MinerInfo {
        miner_hotkey: "hk".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut workers = Vec::new();
    for w in 0..8 {
        let db = db.clone();
        workers.push(tokio::spawn(async move {
            for i in 0..50 {
                // Workers 0..4 always succeed; 4..8 fail every fifth time.
                let success = w < 4 || i % 5 != 0;
                db.update_statistics("hk", success, true).await.unwrap();
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let m = db.get_metadata("hk").await.unwrap().unwrap();
    assert_eq!(m.total_samples, 400);
    assert_eq!(m.error_count, 4 * 10);
    assert_eq!(m.success_count, 400 - 40);
    assert!(matches!(
        db.update_statistics("nobody", true, true).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_set_param_never_repeats_a_version() {
    let f = file_db();
    let db = open_tables(&f.path, f.clock.clone(), OpenMode::Create)
        .await
        .unwrap();
    let mut workers = Vec::new();
    for w in 0..8 {
        let db = db.clone();
        workers.push(tokio::spawn(async move {
            let mut versions = Vec::new();
            for i in 0..20 {
                let p = db
                    .set_param("knob", ParamValue::Int(w * 100 + i), "", "test")
                    .await
                    .unwrap();
                versions.push(p.version);
            }
            versions
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=160).collect::<Vec<i64>>(),
        "every version exactly once"
    );
    assert_eq!(db.get_param("knob").await.unwrap().unwrap().version, 160);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_run_beside_a_writer() {
    let f = file_db();
    let db_driver = SqliteDriver::open(&f.path, OpenMode::Create).await.unwrap();
    let db = Arc::new(Tables::new(db_driver.clone(), f.clock.clone()));
    let writer = {
        let db = db.clone();
        tokio::spawn(async move {
            for i in 0..100 {
                db.save_sample(sample("hk", 1_000 + i)).await.unwrap();
            }
        })
    };
    let mut last = 0;
    while !writer.is_finished() {
        let n = db
            .count_samples_before("hk", "rev", i64::MAX / 2)
            .await
            .unwrap();
        assert!(n >= last, "counts never go back");
        last = n;
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    assert_eq!(
        db.count_samples_before("hk", "rev", i64::MAX / 2)
            .await
            .unwrap(),
        100
    );
}

/// Rows another writer damaged (text that is not UTF-8 or not JSON, a blob
/// or a number where text belongs, in a key too) read as they are stored:
/// a raw scan pages past every one of them exactly once, damaged keys
/// included, and a raw write puts the raw bytes back unchanged.
#[tokio::test]
async fn damaged_rows_scan_whole_and_round_trip_raw() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.db");
    let clock = Harness::new_clock();
    let db_driver = SqliteDriver::open(&path, OpenMode::Create).await.unwrap();
    let db = Arc::new(Tables::new(db_driver.clone(), clock.clone()));
    for name in ["a", "b", "c", "d", "e", "f"] {
        db.set_param(name, ParamValue::Int(1), "", "t")
            .await
            .unwrap();
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "UPDATE system_config SET param_value = '{not json' WHERE param_name = 'a';
         UPDATE system_config SET description = CAST(X'ff00fe' AS TEXT) WHERE param_name = 'b';
         UPDATE system_config SET pk = CAST(X'434f4e46ff' AS TEXT) WHERE param_name = 'c';
         UPDATE system_config SET sk = X'0102' WHERE param_name = 'd';
         UPDATE system_config SET updated_by = X'00' WHERE param_name = 'e';",
    )
    .unwrap();
    drop(conn);
    // The typed list fails on the damage; a raw scan, one row a page, does not.
    assert!(matches!(
        db.list_all_configs().await,
        Err(Error::Corrupt(_))
    ));
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = db.scan_page(Table::SystemConfig, cursor, 1).await.unwrap();
        seen.extend(page.items);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6, "{seen:?}");
    let by_name = |n: &str| {
        seen.iter()
            .find(|i| i.get("param_name") == Some(&Attr::s(n)))
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("a")["param_value"], Attr::B(b"{not json".to_vec()));
    assert_eq!(by_name("b")["description"], Attr::B(vec![0xff, 0, 0xfe]));
    assert_eq!(by_name("c")["pk"], Attr::B(b"CONF\xff".to_vec()));
    assert_eq!(by_name("d")["sk"], Attr::B(vec![1, 2]));
    assert_eq!(by_name("e")["updated_by"], Attr::B(vec![0]));
    for n in ["a", "b", "e"] {
        let d = affine_db_core::damage::find(Table::SystemConfig, &by_name(n)).unwrap();
        assert!(["param_value", "description", "updated_by"].contains(&d.attribute.as_str()));
    }
    // Raw bytes write back as they were read.
    let copy = open_tables_in_memory(clock).await.unwrap();
    let writable: Vec<_> = ["a", "b", "e", "f"].iter().map(|n| by_name(n)).collect();
    copy.put_items(Table::SystemConfig, writable.clone())
        .await
        .unwrap();
    let mut back = affine_db_core::admin::scan_all(copy.as_ref(), Table::SystemConfig)
        .await
        .unwrap();
    back.sort_by_key(|i| format!("{:?}", i.get("param_name")));
    assert_eq!(back, writable);
}

/// A version-1 file (before the re-save index) is migrated to the current
/// version on open: `sample_results-id-index` is created, rows are kept.
#[tokio::test]
async fn a_version_one_file_gains_the_sample_id_index() {
    let f = file_db();
    let key = {
        let store = open_store(&f.path, f.clock.clone()).await.unwrap();
        let saved = store
            .samples
            .save_sample(affine_db_core::NewSample {
                sample_id: Some("id".into()),
                timestamp: Some(10),
                miner_hotkey: "hk".into(),
                model_revision: "rev".into(),
                env: "sat".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        saved.key()
    };
    {
        let conn = rusqlite::Connection::open(&f.path).unwrap();
        conn.execute_batch("DROP INDEX \"sample_results-id-index\"; PRAGMA user_version = 1;")
            .unwrap();
    }
    let db_driver = SqliteDriver::open(&f.path, OpenMode::Create).await.unwrap();
    let db = Arc::new(Tables::new(db_driver.clone(), f.clock.clone()));
    assert_eq!(db_driver.schema_version().await.unwrap(), SCHEMA_VERSION);
    drop(db);
    let conn = rusqlite::Connection::open(&f.path).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'sample_results-id-index'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(conn);
    let store = open_store(&f.path, f.clock.clone()).await.unwrap();
    let got = store
        .samples
        .get_sample(&key, affine_db_core::Conversation::Skip)
        .await
        .unwrap();
    assert!(got.is_some());
}
