//! `affine-db bench` run as a binary against a temporary SQLite file.

mod common;

use common::{stderr_lines, Db};
use serde_json::Value;

/// The operation kinds a run reports.
const KINDS: [&str; 8] = [
    "create_task",
    "claim_task",
    "save_sample",
    "complete_task",
    "log_execution",
    "read_latest_scores",
    "read_samples",
    "save_scores",
];

fn ms(op: &Value, field: &str) -> f64 {
    op[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is a number in {op}"))
}

#[test]
fn json_run_reports_every_kind_and_leaves_nothing() {
    let db = Db::new();
    assert!(db.run(&["init"]).status.success());
    let before = db.stats();
    assert!(before.values().all(|v| v.as_u64() == Some(0)), "{before:?}");

    let report = db.json(&["bench", "--ops", "200", "--json"]);
    assert_eq!(report["ops"].as_u64(), Some(200));
    assert_eq!(report["concurrency"].as_u64(), Some(4));
    assert!(report["backend"]
        .as_str()
        .is_some_and(|b| b.starts_with("sqlite://")));
    assert!(report["wall_s"].as_f64().is_some_and(|w| w > 0.0));
    assert!(report["throughput_ops_s"].as_f64().is_some_and(|t| t > 0.0));
    assert_eq!(report["cleaned_up"], Value::Bool(true));
    assert_eq!(report["stats_unchanged"], Value::Bool(true));

    let ops = report["operations"].as_object().expect("operations object");
    let mut total = 0;
    for kind in KINDS {
        let op = &ops[kind];
        let count = op["count"].as_u64().unwrap_or(0);
        assert!(count > 0, "{kind}: {op}");
        total += count;
        let (p50, p90, p99, max) = (
            ms(op, "p50_ms"),
            ms(op, "p90_ms"),
            ms(op, "p99_ms"),
            ms(op, "max_ms"),
        );
        assert!(
            0.0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max,
            "{kind}: {op}"
        );
        assert!(ms(op, "ops_s") > 0.0, "{kind}: {op}");
    }
    assert_eq!(ops.len(), KINDS.len(), "{ops:?}");
    assert_eq!(total, 200);

    assert_eq!(db.stats(), before);
}

#[test]
fn one_worker_runs_each_iteration_in_order() {
    let db = Db::new();
    let report = db.json(&["bench", "--ops", "120", "--concurrency", "1", "--json"]);
    let ops = &report["operations"];
    // One worker, iterations in order: every claimed task was created first,
    // every completed one claimed first.
    let count = |k: &str| ops[k]["count"].as_u64().unwrap_or(0);
    assert!(count("create_task") >= count("claim_task"));
    assert!(count("claim_task") >= count("save_sample"));
    assert!(count("save_sample") >= count("complete_task"));
    assert!(count("create_task") - count("log_execution") <= 1);
}

#[test]
fn invalid_arguments_fail_with_one_line() {
    let db = Db::new();
    for args in [
        &["bench", "--ops", "0"][..],
        &["bench", "--concurrency", "0"],
        &["bench", "--miners", "0"],
        &["bench", "--snapshot-every", "0"],
    ] {
        let out = db.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(stderr_lines(&out).len(), 1, "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn keep_leaves_the_data_behind() {
    let db = Db::new();
    let report = db.json(&["bench", "--ops", "60", "--keep", "--json"]);
    assert_eq!(report["cleaned_up"], Value::Bool(false));
    assert_eq!(report["stats_unchanged"], Value::Null);
    let saved = report["operations"]["save_sample"]["count"]
        .as_u64()
        .expect("save_sample count");
    let stats = db.stats();
    assert_eq!(stats["sample_results"].as_u64(), Some(saved));
    assert!(stats["miner_metadata"].as_u64().is_some_and(|n| n > 0));
    assert!(stats["execution_logs"].as_u64().is_some_and(|n| n > 0));
}

#[test]
fn human_output_has_a_row_per_kind() {
    let db = Db::new();
    let out = db.run(&["bench", "--ops", "100"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    for kind in KINDS {
        assert!(
            text.lines().any(|l| l.starts_with(kind)),
            "{kind} missing in {text}"
        );
    }
    assert!(text.lines().any(|l| l.starts_with("total")), "{text}");
    let stats = db.stats();
    assert!(stats.values().all(|v| v.as_u64() == Some(0)), "{stats:?}");
}
