//! `train-dict`, `dictionaries` and `recompress` against a temporary SQLite
//! file seeded from the fixture bucket.

mod common;

use std::path::{Path, PathBuf};

use common::Db;
use serde_json::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/r2-bucket")
}

fn seeded() -> Db {
    let db = Db::new();
    let src = fixture();
    db.ok(&[
        "migrate",
        "--source",
        src.to_str().unwrap(),
        "--max-results",
        "300",
        "--json",
    ]);
    db
}

/// Every sample of every miner, conversations decoded, in a stable order.
fn all_samples(db: &Db) -> Vec<Value> {
    let miners = db.json(&["miners"]);
    let mut out = Vec::new();
    for m in miners.as_array().unwrap() {
        let hk = m["miner_hotkey"].as_str().unwrap();
        let rev = m["current_revision"].as_str().unwrap();
        let samples = db.json(&["samples", "--miner", hk, "--revision", rev]);
        out.extend(samples.as_array().unwrap().iter().cloned());
    }
    out
}

#[test]
fn train_dict_then_recompress_shrinks_and_reads_back() {
    let db = seeded();
    let before = all_samples(&db);
    assert!(before.len() > 100, "{}", before.len());

    let report = db.json(&["train-dict", "--size", "16384", "--json"]);
    let id = report["dictionary"]["id"].as_u64().unwrap();
    assert_eq!(report["targets"]["default"].as_u64(), Some(id));
    assert!(report["newly_stored"].as_bool().unwrap());
    assert!(
        report["with_dictionary_bytes"].as_u64() < report["stored_bytes"].as_u64(),
        "{report}"
    );
    let listed = db.json(&["dictionaries"]);
    assert_eq!(listed["dictionaries"][0]["id"].as_u64(), Some(id));
    assert_eq!(listed["targets"]["default"].as_u64(), Some(id));

    let sum = db.json(&["recompress", "--batch-size", "64", "--json"]);
    assert_eq!(sum["finished"], Value::Bool(true));
    assert!(sum["rewritten"].as_u64().unwrap() > 0, "{sum}");
    assert!(sum["bytes_after"].as_u64() < sum["bytes_before"].as_u64());
    assert_eq!(all_samples(&db), before);

    let again = db.json(&["recompress", "--json"]);
    assert_eq!(again["rewritten"].as_u64(), Some(0));
    // Config commands never see dictionaries.
    assert_eq!(db.json(&["config", "list"]), serde_json::json!([]));
}

#[test]
fn train_dict_on_an_empty_store_fails_with_one_line_and_stores_nothing() {
    let db = Db::new();
    db.ok(&["init"]);
    let out = db.run(&["train-dict"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let listed = db.json(&["dictionaries"]);
    assert_eq!(listed["dictionaries"], serde_json::json!([]));
    assert_eq!(listed["targets"]["default"], Value::Null);
}

#[test]
fn recompress_rejects_bad_arguments() {
    let db = Db::new();
    for args in [
        &["recompress", "--batch-size", "0"][..],
        &["recompress", "--env", "bad#env"],
        &["train-dict", "--size", "10"],
    ] {
        let out = db.run(args);
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}
