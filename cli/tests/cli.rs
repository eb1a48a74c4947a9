//! Runs the built `affine-db` binary against a temporary SQLite file.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{dynamodb_endpoint, run_raw, stderr_lines, Db};

use affine_db::clock::system_clock;
use affine_db::{NewSample, ParamValue};
use serde_json::{json, Value};

const TABLES: [&str; 7] = [
    "sample_results",
    "task_queue",
    "execution_logs",
    "scores",
    "system_config",
    "miner_metadata",
    "data_retention_policy",
];

/// Writes one sample straight through the library.
fn seed_sample(path: &Path) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = affine_db::sqlite::open_store(path, system_clock())
            .await
            .expect("open");
        store
            .samples
            .save_sample(NewSample {
                miner_hotkey: "hk1".into(),
                model_revision: "rev1".into(),
                env: "SAT".into(),
                score: 0.5,
                success: true,
                conversation: json!([{"role": "user", "content": "hello"}]),
                ..Default::default()
            })
            .await
            .expect("save sample");
        store
            .config
            .set_param("seeded", ParamValue::Int(1), "", "test")
            .await
            .expect("set param");
    });
}

#[test]
fn test_command_checks_every_table_and_leaves_nothing() {
    let db = Db::new();
    let out = db.ok(&["test"]);
    for table in TABLES {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("ok   {table}:"))),
            "no ok line for {table} in:\n{out}"
        );
    }
    assert!(!out.contains("FAIL"), "{out}");
    let stats = db.stats();
    assert_eq!(stats.len(), 7);
    for table in TABLES {
        assert_eq!(stats[table], json!(0), "{table} keeps test data");
    }
}

#[test]
fn list_prints_the_seven_tables() {
    let db = Db::new();
    db.ok(&["init"]);
    let mut listed: Vec<String> = db.ok(&["list"]).lines().map(str::to_string).collect();
    listed.sort();
    let mut expected: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);
}

#[test]
fn stats_json_is_one_object_with_the_seven_tables() {
    let db = Db::new();
    seed_sample(&db.path);
    let stats = db.stats();
    let mut names: Vec<&str> = stats.keys().map(String::as_str).collect();
    names.sort();
    let mut expected = TABLES.to_vec();
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(stats["sample_results"], json!(1));
    assert_eq!(stats["system_config"], json!(1));
}

#[test]
fn reset_deletes_only_after_yes() {
    let db = Db::new();
    seed_sample(&db.path);

    for answer in ["no\n", "", "yes please\n", "YES\n"] {
        let out = db.run_with_stdin(&["reset"], Some(answer));
        assert_eq!(out.status.code(), Some(1), "answer {answer:?}");
        assert_eq!(
            db.count("sample_results"),
            1,
            "answer {answer:?} deleted data"
        );
        assert_eq!(db.count("system_config"), 1);
    }

    let out = db.run_with_stdin(&["reset"], Some("yes\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.stats().values().all(|v| *v == json!(0)));
    assert_eq!(db.ok(&["list"]).lines().count(), 7, "tables recreated");

    seed_sample(&db.path);
    let out = db.run_with_stdin(&["reset", "--yes"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.stats().values().all(|v| *v == json!(0)));
}

#[test]
fn config_rejects_bad_names_and_values_with_one_line() {
    let db = Db::new();
    db.ok(&["init"]);
    let cases: [&[&str]; 5] = [
        &["config", "set", "bad#name", "1", "--type", "int"],
        &["config", "set", "n", "notanumber", "--type", "int"],
        &["config", "set", "n", "1.5", "--type", "int"],
        &["config", "set", "n", "[1]", "--type", "dict"],
        &["config", "set", "n", "1", "--type", "decimal"],
    ];
    for args in cases {
        let out = db.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let lines = stderr_lines(&out);
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert!(lines[0].starts_with("error: "), "{lines:?}");
        assert!(out.stdout.is_empty());
    }
    assert_eq!(db.json(&["config", "list"]), json!([]));
}

#[test]
fn config_round_trip() {
    let db = Db::new();
    let set = db.json(&[
        "config",
        "set",
        "weights",
        r#"{"a": 1, "b": [true]}"#,
        "--type",
        "dict",
        "--description",
        "env weights",
        "--updated-by",
        "ops",
    ]);
    assert_eq!(set["version"], json!(1));
    db.ok(&["config", "set", "ratio", "0.25", "--type", "float"]);
    let again = db.json(&["config", "set", "ratio", "1.0", "--type", "float"]);
    assert_eq!(again["version"], json!(2));

    let weights = db.json(&["config", "get", "weights"]);
    assert_eq!(weights["param_name"], json!("weights"));
    assert_eq!(weights["param_type"], json!("dict"));
    assert_eq!(weights["param_value"], json!({"a": 1, "b": [true]}));
    assert_eq!(weights["description"], json!("env weights"));
    assert_eq!(weights["updated_by"], json!("ops"));

    let ratio = db.json(&["config", "get", "ratio"]);
    assert_eq!(ratio["param_type"], json!("float"));
    assert!(
        ratio["param_value"].is_f64(),
        "a float reads back as a float"
    );
    assert_eq!(ratio["param_value"].as_f64(), Some(1.0));

    let list = db.json(&["config", "list"]);
    let names: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p["param_name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["ratio", "weights"]);

    db.ok(&["config", "delete", "ratio"]);
    let missing = db.run(&["config", "get", "ratio"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(stderr_lines(&missing).len(), 1);
    let again = db.run(&["config", "delete", "ratio"]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        db.json(&["config", "list"]).as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn read_commands_print_json_arrays() {
    let db = Db::new();
    seed_sample(&db.path);
    let samples = db.json(&["samples", "--miner", "hk1", "--revision", "rev1"]);
    let rows = samples.as_array().expect("array");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["miner_hotkey"], json!("hk1"));
    assert_eq!(rows[0]["env"], json!("SAT"));
    assert_eq!(
        rows[0]["conversation"],
        json!([{"role": "user", "content": "hello"}])
    );

    let skipped = db.json(&[
        "samples",
        "--miner",
        "hk1",
        "--revision",
        "rev1",
        "--no-conversation",
    ]);
    assert_eq!(skipped[0]["conversation"], Value::Null);
    let other_env = db.json(&[
        "samples",
        "--miner",
        "hk1",
        "--revision",
        "rev1",
        "--env",
        "MBPP",
    ]);
    assert_eq!(other_env, json!([]));

    let task = rows[0]["task_id"].as_str().expect("task id").to_string();
    let by_task = |ids: &[&str]| {
        let mut args = vec!["samples-by-tasks", "--miner", "hk1", "--revision", "rev1"];
        for id in ids {
            args.extend(["--task-id", id]);
        }
        db.json(&args)
    };
    assert_eq!(by_task(&[&task, "other"]), samples);
    assert_eq!(by_task(&["other"]), json!([]));
    let missing = db.run(&["samples-by-tasks", "--miner", "hk1", "--revision", "rev1"]);
    assert_eq!(missing.status.code(), Some(2), "a task id is required");

    for args in [
        &["tasks", "--miner", "hk1", "--revision", "rev1"][..],
        &["pending-tasks"],
        &["logs", "--miner", "hk1"],
        &["scores", "latest"],
        &["scores", "block", "5"],
        &["miners"],
        &["policies"],
    ] {
        assert_eq!(db.json(args), json!([]), "{args:?}");
    }
}

#[test]
fn bad_store_url_fails_with_one_line() {
    // The DynamoDB URL points at a closed loopback port: it fails whether
    // or not the DynamoDB backend is built in.
    for url in [
        "bogus://x",
        "sqlite://",
        "dynamodb://?prefix=t&region=us-east-1&endpoint=http://127.0.0.1:9",
    ] {
        let out = run_raw(url, &["list"], None);
        assert!(!out.status.success(), "{url}");
        let lines = stderr_lines(&out);
        assert_eq!(lines.len(), 1, "{url}: {lines:?}");
        assert!(lines[0].starts_with("error: "), "{lines:?}");
    }
    let out = run_raw("bogus://x", &["list"], None);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn invalid_read_arguments_are_input_errors() {
    let db = Db::new();
    db.ok(&["init"]);
    for args in [
        &["samples", "--miner", "a#b", "--revision", "r"][..],
        &[
            "tasks",
            "--miner",
            "a",
            "--revision",
            "r",
            "--status",
            "sleeping",
        ],
        &["logs", "--miner", "a", "--status", "maybe"],
        &[
            "samples-by-tasks",
            "--miner",
            "a#b",
            "--revision",
            "r",
            "--task-id",
            "t",
        ],
    ] {
        let out = db.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(stderr_lines(&out).len(), 1, "{args:?}");
    }
    let mut too_many = vec!["samples-by-tasks", "--miner", "a", "--revision", "r"];
    let ids: Vec<String> = (0..=1000).map(|i| format!("t{i}")).collect();
    for id in &ids {
        too_many.extend(["--task-id", id]);
    }
    let out = db.run(&too_many);
    assert_eq!(out.status.code(), Some(2));
    let lines = stderr_lines(&out);
    assert!(
        lines.len() == 1 && lines[0].contains("task_ids"),
        "{lines:?}"
    );
}

/// Runs the binary against the emulator with dummy credentials only.
fn run_dynamo(url: &str, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_affine-db"))
        .arg("--db")
        .arg(url)
        .args(args)
        .env_remove("AFFINE_DB")
        .env_remove("RUST_LOG")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_ACCESS_KEY_ID", "affine-test")
        .env("AWS_SECRET_ACCESS_KEY", "affine-test")
        .stdin(Stdio::null())
        .output()
        .expect("run affine-db");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn dynamodb_test_command_and_prefix_isolation() {
    let endpoint = dynamodb_endpoint();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let prefix = format!("cli{}x{nanos}", std::process::id());
    let url = |p: &str| format!("dynamodb://?prefix={p}&region=us-east-1&endpoint={endpoint}");

    let out = String::from_utf8(run_dynamo(&url(&prefix), &["test"]).stdout).expect("utf-8");
    for table in TABLES {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("ok   {table}:"))),
            "no ok line for {table} in:\n{out}"
        );
    }
    let stats: Value =
        serde_json::from_slice(&run_dynamo(&url(&prefix), &["stats", "--json"]).stdout)
            .expect("JSON");
    for table in TABLES {
        assert_eq!(stats[table], json!(0), "{table} keeps test data");
    }

    // A longer prefix that starts with this one is another namespace.
    run_dynamo(&url(&format!("{prefix}_dev")), &["init"]);
    let listed = String::from_utf8(run_dynamo(&url(&prefix), &["list"]).stdout).expect("utf-8");
    let mut listed: Vec<&str> = listed.lines().collect();
    listed.sort();
    let mut expected: Vec<String> = TABLES.iter().map(|t| format!("{prefix}_{t}")).collect();
    expected.sort();
    assert_eq!(listed, expected);
}
