//! Builders shared by the suite, the key scheme, and input validation
//! across every table.

use crate::register;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use rand::RngCore;
use serde_json::{json, Value};

use super::{Harness, T0_MS};
use crate::admin::scan_all;
use crate::clock::Clock;
use crate::codec::ZSTD_MAGIC;
use crate::error::Error;
use crate::item::{Attr, Item};
use crate::keys;
use crate::schema::{Table, PK, SK};
use crate::tables::config::ParamValue;
use crate::tables::logs::{LogStatus, NewLog};
use crate::tables::miners::{ChutesStatus, MinerInfo};
use crate::tables::samples::{Conversation, NewSample, Sample, SampleKey};
use crate::tables::scores::Score;
use crate::tables::tasks::NewTask;

/// A sample that passes validation, for tests to vary.
pub fn sample(hotkey: &str, revision: &str, env: &str, timestamp: i64) -> NewSample {
    NewSample {
        sample_id: None,
        timestamp: Some(timestamp),
        miner_hotkey: hotkey.into(),
        model_revision: revision.into(),
        model_hash: "hash".into(),
        uid: 1,
        env: env.into(),
        subset: "subset".into(),
        dataset_index: 0,
        task_id: "task".into(),
        score: 0.5,
        success: true,
        latency_ms: 10,
        conversation: serde_json::json!([{"role": "user", "content": "hi"}]),
        validator_hotkey: "validator".into(),
        block_number: 100,
        signature: "sig".into(),
    }
}

/// [`sample`] with a given sample id.
pub fn sample_with_id(
    hotkey: &str,
    revision: &str,
    env: &str,
    timestamp: i64,
    sample_id: &str,
) -> NewSample {
    NewSample {
        sample_id: Some(sample_id.into()),
        ..sample(hotkey, revision, env, timestamp)
    }
}

/// A pending task of `hotkey`/`revision` made for model hash `hash`.
pub fn task(hotkey: &str, revision: &str, hash: &str, priority: i64) -> NewTask {
    NewTask {
        miner_hotkey: hotkey.into(),
        model_revision: revision.into(),
        model_hash: hash.into(),
        env: "sat".into(),
        validator_hotkey: "validator".into(),
        priority,
        ttl_days: None,
    }
}

/// An execution log of `hotkey`; failures carry `error_type`.
pub fn log(hotkey: &str, status: LogStatus, env: &str, execution_time_ms: i64) -> NewLog {
    let failed = status == LogStatus::Failed;
    NewLog {
        miner_hotkey: hotkey.into(),
        uid: 7,
        task_id: "task".into(),
        status,
        env: env.into(),
        error_type: failed.then(|| "timeout".to_string()),
        error_message: failed.then(|| "took too long".to_string()),
        execution_time_ms,
        timestamp: None,
    }
}

/// A valid score row of `hotkey` at `block` with `overall_score` = `overall`.
pub fn score(block: i64, hotkey: &str, overall: f64) -> Score {
    Score {
        block_number: block,
        miner_hotkey: hotkey.into(),
        uid: 3,
        model_revision: "rev".into(),
        calculated_at: T0_MS / 1000,
        overall_score: overall,
        confidence_interval_lower: overall - 0.25,
        confidence_interval_upper: overall + 0.25,
        average_score: overall / 2.0,
        scores_by_layer: BTreeMap::from([("L1".to_string(), overall), ("L2".to_string(), 0.125)]),
        scores_by_env: BTreeMap::from([("sat".to_string(), 0.75), ("abd".to_string(), overall)]),
        total_samples: 42,
        is_eligible: true,
        meets_criteria: false,
    }
}

/// Miner metadata to save for `hotkey` with model hash `hash`.
pub fn miner(hotkey: &str, hash: &str) -> MinerInfo {
    MinerInfo {
        miner_hotkey: hotkey.into(),
        uid: 5,
        current_revision: "rev".into(),
        model_hash: hash.into(),
        model_name: "org/model".into(),
        chutes_slug: Some("slug".into()),
        chutes_status: ChutesStatus::Hot,
        chutes_last_checked: None,
        last_commit_block: Some(200),
        first_commit_block: Some(100),
    }
}

/// A conversation whose JSON is about `bytes` hex characters of random
/// data: it does not compress below half its size.
pub fn incompressible_conversation(bytes: usize) -> Value {
    let mut raw = vec![0u8; bytes / 2];
    rand::thread_rng().fill_bytes(&mut raw);
    let mut hex = String::with_capacity(bytes);
    for b in raw {
        let _ = write!(hex, "{b:02x}");
    }
    json!([{"role": "assistant", "content": hex}])
}

/// Moves the harness clock to `T0 + secs` seconds.
pub fn at_s(h: &Harness, secs: i64) {
    h.clock.set_ms(T0_MS + secs * 1000);
}

/// Every raw item of `table`, expired ones included.
pub async fn raw_items(h: &Harness, table: Table) -> Vec<Item> {
    scan_all(&*h.store.admin, table).await.unwrap()
}

/// The `(pk, sk)` of every raw item of `table`, sorted.
pub async fn raw_keys(h: &Harness, table: Table) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = raw_items(h, table)
        .await
        .iter()
        .map(|item| match (item.get(PK), item.get(SK)) {
            (Some(Attr::S(pk)), Some(Attr::S(sk))) => (pk.clone(), sk.clone()),
            other => panic!("{table:?}: item without string keys: {other:?}"),
        })
        .collect();
    keys.sort();
    keys
}

/// Asserts that no table holds any item, expired or not.
pub async fn assert_store_empty(h: &Harness) {
    for table in Table::ALL {
        let keys = raw_keys(h, table).await;
        assert!(keys.is_empty(), "{table:?} holds {keys:?}");
    }
}

fn is_invalid(err: &Error) -> bool {
    matches!(err, Error::InvalidInput { .. })
}

/// The invalid key parts every write must reject.
pub fn bad_key_parts() -> Vec<String> {
    vec![
        String::new(),
        "a#b".into(),
        "new\nline".into(),
        "tab\there".into(),
        "nul\0".into(),
        "x".repeat(257),
        "é".repeat(129),
    ]
}

/// Every invalid key part is rejected with `InvalidInput` and nothing is written.
pub async fn key_parts_are_validated_before_writing(h: Harness) {
    for bad in ["", "a#b", "new\nline", &"x".repeat(257)] {
        let err = h
            .store
            .samples
            .save_sample(sample(bad, "rev", "env", 1))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { .. }),
            "{bad:?}: {err:?}"
        );
    }
    assert!(h
        .store
        .samples
        .list_sample_owners()
        .await
        .unwrap()
        .is_empty());
}
register!(key_parts_are_validated_before_writing);

/// Bad key parts are rejected by the writes of all seven tables, in every
/// key position, and no table holds anything afterwards.
pub async fn bad_key_parts_rejected_in_every_table(h: Harness) {
    let s = &h.store;
    for bad in bad_key_parts() {
        let b = bad.as_str();
        let mut errs = vec![
            s.samples
                .save_sample(sample(b, "rev", "env", 1))
                .await
                .unwrap_err(),
            s.samples
                .save_sample(sample("hk", b, "env", 1))
                .await
                .unwrap_err(),
            s.samples
                .save_sample(sample("hk", "rev", b, 1))
                .await
                .unwrap_err(),
            s.samples
                .save_sample(sample_with_id("hk", "rev", "env", 1, b))
                .await
                .unwrap_err(),
            s.samples
                .save_samples(vec![
                    sample("hk", "rev", "env", 1),
                    sample(b, "rev", "env", 2),
                ])
                .await
                .unwrap_err(),
            s.tasks
                .create_task(task(b, "rev", "h", 0))
                .await
                .unwrap_err(),
            s.tasks
                .create_task(task("hk", b, "h", 0))
                .await
                .unwrap_err(),
            s.tasks
                .create_task(NewTask {
                    env: bad.clone(),
                    ..task("hk", "rev", "h", 0)
                })
                .await
                .unwrap_err(),
            s.logs
                .log_execution(log(b, LogStatus::Success, "env", 1))
                .await
                .unwrap_err(),
            s.scores.save_score(score(1, b, 0.5)).await.unwrap_err(),
            s.scores
                .save_snapshot(1, vec![score(1, "hk", 0.5), score(1, b, 0.5)])
                .await
                .unwrap_err(),
            s.config
                .set_param(b, ParamValue::Int(1), "d", "me")
                .await
                .unwrap_err(),
            s.miners.save_metadata(miner(b, "h")).await.unwrap_err(),
            s.retention.set_policy(b, true, None, 30).await.unwrap_err(),
            s.retention.set_protected(b, "why", None).await.unwrap_err(),
            s.retention.update_cleanup_timestamp(b).await.unwrap_err(),
        ];
        errs.push(s.tasks.start_task("hk", "rev", b).await.unwrap_err());
        errs.push(s.tasks.fail_task("hk", "rev", b, "boom").await.unwrap_err());
        for (i, err) in errs.iter().enumerate() {
            assert!(is_invalid(err), "write #{i} with {bad:?}: {err:?}");
        }
    }
    assert_store_empty(&h).await;
}
register!(bad_key_parts_rejected_in_every_table);

/// Key parts at the limits are accepted: exactly 256 bytes (also of
/// multi-byte UTF-8) and non-ASCII text, and they read back unchanged.
pub async fn key_parts_at_the_limit_are_accepted(h: Harness) {
    let long = "x".repeat(256);
    let multibyte = "é".repeat(128);
    for part in [
        long.as_str(),
        multibyte.as_str(),
        "ünïcödé-ключ-鍵",
        "with space.and:colon",
    ] {
        let saved = h
            .store
            .samples
            .save_sample(sample(part, part, part, 5))
            .await
            .unwrap();
        let got = h
            .store
            .samples
            .get_sample(&saved.key(), Conversation::Skip)
            .await
            .unwrap()
            .expect("saved sample");
        assert_eq!(got.miner_hotkey, part);
        assert_eq!(got.env, part);
        h.store
            .config
            .set_param(part, ParamValue::Bool(true), "", "me")
            .await
            .unwrap();
        assert!(h.store.config.get_param(part).await.unwrap().is_some());
    }
}
register!(key_parts_at_the_limit_are_accepted);

/// Every table stores exactly the key strings of the `keys` module, with
/// 16-digit zero-padded timestamps, and the attributes of DESIGN §2.
pub async fn stored_keys_follow_the_key_scheme(h: Harness) {
    let s = &h.store;
    let saved = s
        .samples
        .save_sample(sample_with_id("hk1", "rev1", "sat", 1234, "sid"))
        .await
        .unwrap();
    assert_eq!(
        raw_keys(&h, Table::SampleResults).await,
        vec![(
            "MINER#hk1#REV#rev1".to_string(),
            "ENV#sat#TIME#0000000000001234#ID#sid".to_string()
        )]
    );
    assert_eq!(saved.key().sk(), keys::sample_sk("sat", 1234, "sid"));
    let items = raw_items(&h, Table::SampleResults).await;
    match items[0].get("conversation_compressed") {
        Some(Attr::B(frame)) => assert_eq!(&frame[..4], &ZSTD_MAGIC, "zstd frame"),
        other => panic!("conversation_compressed is {other:?}"),
    }
    assert_eq!(items[0].get("timestamp"), Some(&Attr::N("1234".into())));
    assert_eq!(items[0].get("env"), Some(&Attr::S("sat".into())));

    let t = s
        .tasks
        .create_task(task("hk1", "rev1", "h", 3))
        .await
        .unwrap();
    assert!(
        t.task_id.starts_with(&format!("{T0_MS:016}-")),
        "{}",
        t.task_id
    );
    assert_eq!(
        raw_keys(&h, Table::TaskQueue).await,
        vec![(
            keys::miner_revision_pk("hk1", "rev1"),
            format!("TASK#{}", t.task_id)
        )]
    );
    let items = raw_items(&h, Table::TaskQueue).await;
    assert_eq!(items[0].get("status"), Some(&Attr::S("pending".into())));
    assert_eq!(items[0].get("ttl"), Some(&Attr::N(t.ttl.to_string())));

    let l = s
        .logs
        .log_execution(log("hk1", LogStatus::Failed, "sat", 5))
        .await
        .unwrap();
    let now_s = h.clock.now_s();
    assert_eq!(
        raw_keys(&h, Table::ExecutionLogs).await,
        vec![(
            "MINER#hk1".to_string(),
            format!("TIME#{now_s:016}#ID#{}", l.log_id)
        )]
    );

    s.scores.save_score(score(77, "hk1", 0.5)).await.unwrap();
    let score_keys: Vec<_> = raw_keys(&h, Table::Scores)
        .await
        .into_iter()
        .filter(|(_, sk)| sk != keys::SNAPSHOT_SK)
        .collect();
    assert_eq!(
        score_keys,
        vec![("SCORE#77".to_string(), "MINER#hk1".to_string())]
    );
    let row = raw_items(&h, Table::Scores)
        .await
        .into_iter()
        .find(|i| i.get(SK) == Some(&Attr::S("MINER#hk1".into())))
        .unwrap();
    assert_eq!(
        row.get("latest_marker"),
        Some(&Attr::S(keys::LATEST_MARKER.into()))
    );

    s.config
        .set_param("p1", ParamValue::Int(4), "d", "me")
        .await
        .unwrap();
    assert_eq!(
        raw_keys(&h, Table::SystemConfig).await,
        vec![("CONFIG".to_string(), "PARAM#p1".to_string())]
    );

    s.miners.save_metadata(miner("hk1", "h")).await.unwrap();
    assert_eq!(
        raw_keys(&h, Table::MinerMetadata).await,
        vec![("MINER#hk1".to_string(), "METADATA".to_string())]
    );

    s.retention
        .set_policy("hk1", false, None, 30)
        .await
        .unwrap();
    assert_eq!(
        raw_keys(&h, Table::DataRetentionPolicy).await,
        vec![("RETENTION#hk1".to_string(), "METADATA".to_string())]
    );
}
register!(stored_keys_follow_the_key_scheme);

/// `stats` counts live items per table, for all seven tables.
pub async fn stats_count_items_per_table(h: Harness) {
    let s = &h.store;
    s.samples
        .save_samples((0..3).map(|i| sample("hk", "rev", "sat", i)).collect())
        .await
        .unwrap();
    s.tasks
        .create_task(task("hk", "rev", "h", 0))
        .await
        .unwrap();
    s.tasks
        .create_task(task("hk", "rev", "h", 0))
        .await
        .unwrap();
    s.logs
        .log_execution(log("hk", LogStatus::Success, "sat", 1))
        .await
        .unwrap();
    s.config
        .set_param("p", ParamValue::Int(1), "", "me")
        .await
        .unwrap();
    s.miners.save_metadata(miner("hk", "h")).await.unwrap();
    s.retention.set_policy("hk", true, None, 9).await.unwrap();
    s.scores.save_score(score(1, "hk", 0.5)).await.unwrap();
    let stats = s.admin.stats().await.unwrap();
    assert_eq!(stats.get(&Table::SampleResults), Some(&3));
    assert_eq!(stats.get(&Table::TaskQueue), Some(&2));
    assert_eq!(stats.get(&Table::ExecutionLogs), Some(&1));
    assert_eq!(stats.get(&Table::SystemConfig), Some(&1));
    assert_eq!(stats.get(&Table::MinerMetadata), Some(&1));
    assert_eq!(stats.get(&Table::DataRetentionPolicy), Some(&1));
    assert!(stats.get(&Table::Scores).copied().unwrap_or(0) >= 1);
}
register!(stats_count_items_per_table);

/// Writes raw items into `table` as another writer would have (the original
/// Python layer, another process).
pub async fn put_raw(h: &Harness, table: Table, items: Vec<Item>) {
    h.store.admin.put_items(table, items).await.unwrap();
}

/// The sample at `key` with its conversation decoded; it must exist.
pub async fn read_sample(h: &Harness, key: &SampleKey) -> Sample {
    h.store
        .samples
        .get_sample(key, Conversation::Include)
        .await
        .unwrap()
        .expect("the sample exists")
}
