//! The schema is the records' one source of attribute names: a record with
//! every optional field set writes exactly its table's declared attributes
//! (no attribute the schema lacks, none the schema declares and no record
//! writes), so a renamed or added field that misses the schema, or a
//! schema attribute nothing writes, fails here.

use std::collections::BTreeSet;

use serde_json::json;

use super::config::{ConfigParam, ParamType, ParamValue};
use super::logs::ExecutionLog;
use super::miners::MinerMetadata;
use super::retention::RetentionPolicy;
use super::samples::Sample;
use super::scores::Score;
use super::tasks::Task;
use crate::codec::Codec;
use crate::driver::check_put;
use crate::item::Item;
use crate::schema::{Table, PK, SK};

/// The attribute names `items` carry, keys left out.
fn written(items: &[Item]) -> BTreeSet<String> {
    items
        .iter()
        .flat_map(|i| i.keys().cloned())
        .filter(|k| k != PK && k != SK)
        .collect()
}

fn declared(table: Table) -> BTreeSet<String> {
    table
        .def()
        .attrs
        .iter()
        .map(|a| a.name.to_string())
        .collect()
}

fn assert_exact(table: Table, items: Vec<Item>) {
    for item in &items {
        check_put(table, item).unwrap_or_else(|e| panic!("{table}: {e}"));
    }
    assert_eq!(written(&items), declared(table), "{table}");
}

fn full<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("a full record")
}

#[test]
fn every_record_writes_exactly_its_tables_attributes() {
    let sample: Sample = full(json!({
        "sample_id": "s", "miner_hotkey": "hk", "model_revision": "rev",
        "model_hash": "h", "uid": 1, "env": "sat", "subset": "x",
        "dataset_index": 2, "task_id": "t", "score": 0.5, "success": true,
        "latency_ms": 3, "timestamp": 4, "conversation": [{"role": "user"}],
        "validator_hotkey": "v", "block_number": 5, "signature": "sig"
    }));
    let codec = Codec::default();
    assert_exact(
        Table::SampleResults,
        vec![sample.to_item(&codec).expect("encode")],
    );

    let task: Task = full(json!({
        "task_id": "0000000000000001-x", "miner_hotkey": "hk",
        "model_revision": "rev", "model_hash": "h", "env": "sat",
        "status": "running", "priority": 1, "created_at": 2, "started_at": 3,
        "completed_at": 4, "error_count": 1, "last_error": "e",
        "validator_hotkey": "v", "ttl": 9
    }));
    assert_exact(Table::TaskQueue, vec![task.to_item()]);

    let log: ExecutionLog = full(json!({
        "log_id": "l", "miner_hotkey": "hk", "uid": 1, "task_id": "t",
        "status": "failed", "env": "sat", "error_type": "E",
        "error_message": "m", "execution_time_ms": 2, "timestamp": 3, "ttl": 4
    }));
    assert_exact(Table::ExecutionLogs, vec![log.to_item()]);

    let score = Score {
        miner_hotkey: "hk".into(),
        ..Score::default()
    };
    // A score block is its rows and its snapshot header.
    let header = super::scores::snapshot_header(1, super::scores::SNAPSHOT_COMPLETE, 1, 2, 9);
    assert_exact(Table::Scores, vec![score.to_item(9), header]);

    // A dict value also writes its exact JSON text; a scalar does not.
    let param = |value: ParamValue, ty: ParamType| ConfigParam {
        param_name: "p".into(),
        param_value: value,
        param_type: ty,
        description: "d".into(),
        updated_at: 1,
        updated_by: "u".into(),
        version: 1,
    };
    let dict = serde_json::Map::from_iter([("one".to_string(), json!(1.0))]);
    assert_exact(
        Table::SystemConfig,
        vec![
            param(ParamValue::Dict(dict), ParamType::Dict).to_item(),
            param(ParamValue::Int(1), ParamType::Int).to_item(),
        ],
    );

    let miner = MinerMetadata {
        miner_hotkey: "hk".into(),
        chutes_slug: Some("c".into()),
        last_commit_block: Some(2),
        first_commit_block: Some(1),
        last_sample_time: Some(3),
        pause_reason: Some("r".into()),
        pause_until: Some(4),
        ..MinerMetadata::default()
    };
    assert_exact(Table::MinerMetadata, vec![miner.to_item()]);

    let policy = RetentionPolicy {
        protection_reason: Some("r".into()),
        last_cleanup_at: Some(1),
        protected_since: Some(2),
        ..RetentionPolicy::default_for("hk")
    };
    assert_exact(Table::DataRetentionPolicy, vec![policy.to_item()]);
}
