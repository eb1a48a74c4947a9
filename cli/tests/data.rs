//! Data as written, and reading what other writers left (issue 12), from
//! the shell on a SQLite file and on the DynamoDB emulator: exact number
//! digits and key order, values one backend could not store rejected on
//! both, the item size limit, values from files and stdin, negative
//! numbers, invisible characters in names, unknown parameter types, and
//! list commands that skip an undecodable row.

mod common;

use std::collections::HashMap;

use affine_db::codec::Codec;
use affine_db::item::Attr;
use affine_db::schema::Table;
use affine_db::{ConfigParam, MinerInfo, NewSample, ParamType, ParamValue};
use common::{fixture, stderr_lines, Target};
use serde_json::{json, Value};

/// The keys of a JSON object, in order.
fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

#[test]
fn dict_and_list_values_keep_their_digits_and_key_order() {
    let dict = r#"{"zeta":12345678901234567890123456789012345678,"alpha":[1.50,-0.000001,18446744073709551617],"mid":{"b":1.0,"a":true}}"#;
    let list = r#"[3.0,99999999999999999999,{"y":-7,"x":2.5E-10}]"#;
    for t in Target::both_ready() {
        t.ok(&["config", "set", "d", dict, "--type", "dict"]);
        t.ok(&["config", "set", "l", list, "--type", "list"]);
        let d = t.json(&["config", "get", "d"])["param_value"].clone();
        let text = |v: &Value| serde_json::to_string(v).unwrap();
        assert_eq!(text(&d["zeta"]), "12345678901234567890123456789012345678");
        assert_eq!(text(&d["alpha"]), "[1.50,-0.000001,18446744073709551617]");
        assert!(d["mid"]["b"].is_f64(), "{:?}: 1.0 stays a float", t.kind);
        let l = t.json(&["config", "get", "l"])["param_value"].clone();
        assert_eq!(text(&l[0]), "3.0");
        assert_eq!(text(&l[1]), "99999999999999999999");
        assert_eq!(text(&l[2]["x"]), "2.5e-10");
        // Both backends keep the written order (DynamoDB through the exact
        // JSON text stored beside the value).
        assert_eq!(keys(&d), ["zeta", "alpha", "mid"], "{:?}", t.kind);
        assert_eq!(keys(&d["mid"]), ["b", "a"], "{:?}", t.kind);
        assert_eq!(keys(&l[2]), ["y", "x"], "{:?}", t.kind);
        assert_eq!(text(&d), dict, "{:?}", t.kind);
    }
}

#[test]
fn values_one_backend_cannot_store_are_rejected_on_both() {
    let mut deep = "1".to_string();
    for _ in 0..33 {
        deep = format!("[{deep}]");
    }
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty_key", r#"{"": 1}"#.into(), "dict"),
        ("nested_empty_key", r#"{"a": [{"": 1}]}"#.into(), "dict"),
        (
            "digits",
            "[123456789012345678901234567890123456789]".into(),
            "list",
        ),
        ("overflow", "[1e126]".into(), "list"),
        ("underflow", "[1e-131]".into(), "list"),
        ("deep", deep, "list"),
        ("huge_float", "1e300".into(), "float"),
    ];
    for t in Target::both_ready() {
        for (name, value, ty) in &cases {
            t.fails(2, &["config", "set", name, value, "--type", ty]);
        }
        assert_eq!(t.json(&["config", "list"]), json!([]), "{:?}", t.kind);
        assert_eq!(t.count("system_config"), 0);
    }
}

#[test]
fn values_from_files_and_stdin_up_to_the_item_limit() {
    for t in Target::both_ready() {
        // 300 KB from a file, and from stdin.
        let big = "v".repeat(300 * 1024);
        let file = t.dir().join("value.txt");
        std::fs::write(&file, format!("{big}\n")).unwrap();
        t.ok(&[
            "config",
            "set",
            "big",
            "--value-file",
            file.to_str().unwrap(),
            "--type",
            "str",
        ]);
        let got = t.json(&["config", "get", "big"]);
        assert_eq!(got["param_value"].as_str().map(str::len), Some(big.len()));
        let out = t.run_with_stdin(
            &["config", "set", "w", "--value-file", "-", "--type", "dict"],
            Some(r#"{"b": 2, "a": [1]}"#),
        );
        assert!(out.status.success(), "{:?}", stderr_lines(&out));
        assert_eq!(
            t.json(&["config", "get", "w"])["param_value"],
            json!({"b": 2, "a": [1]})
        );

        // 520 KB: too large on every backend, nothing written.
        let huge = "x".repeat(520 * 1024);
        std::fs::write(&file, &huge).unwrap();
        let line = t.fails(
            2,
            &[
                "config",
                "set",
                "huge",
                "--value-file",
                file.to_str().unwrap(),
                "--type",
                "str",
            ],
        );
        assert!(line.contains("too large"), "{line}");
        t.fails(1, &["config", "get", "huge"]);
        // Also when a long description pushes a value over.
        let description = "y".repeat(100 * 1024);
        std::fs::write(&file, "z".repeat(320 * 1024)).unwrap();
        t.fails(
            2,
            &[
                "config",
                "set",
                "half",
                "--value-file",
                file.to_str().unwrap(),
                "--type",
                "str",
                "--description",
                &description,
            ],
        );
        assert_eq!(t.count("system_config"), 2, "{:?}", t.kind);
        // Value and --value-file together, or neither: usage errors.
        let out = t.run(&[
            "config",
            "set",
            "x",
            "1",
            "--value-file",
            "-",
            "--type",
            "int",
        ]);
        assert_eq!(out.status.code(), Some(2));
        let out = t.run(&["config", "set", "x", "--type", "int"]);
        assert_eq!(out.status.code(), Some(2));
    }
}

#[test]
fn negative_numbers_are_plain_arguments() {
    for t in Target::both_ready() {
        assert_eq!(
            t.json(&["config", "set", "n", "-5", "--type", "int"])["param_value"],
            json!(-5)
        );
        assert_eq!(
            t.json(&["config", "set", "f", "-0.25", "--type", "float"])["param_value"],
            json!(-0.25)
        );
        assert_eq!(
            t.json(&["config", "set", "s", "-x", "--type", "str"])["param_value"],
            json!("-x")
        );
        let task = t.json(&[
            "task",
            "create",
            "--miner",
            "hk",
            "--revision",
            "r",
            "--model-hash",
            "h",
            "--env",
            "SAT",
            "--priority",
            "-3",
        ]);
        assert_eq!(task["priority"], json!(-3));
        // A negative block is a value the command rejects, in one line.
        t.fails(2, &["scores", "block", "-1"]);
    }
}

#[test]
fn names_with_invisible_format_characters_are_rejected() {
    for t in Target::both_ready() {
        for name in ["evil\u{202E}gnp", "zero\u{200B}width", "\u{FEFF}bom"] {
            t.fails(2, &["config", "set", name, "1", "--type", "int"]);
            t.fails(
                2,
                &[
                    "task",
                    "create",
                    "--miner",
                    name,
                    "--revision",
                    "r",
                    "--model-hash",
                    "h",
                    "--env",
                    "SAT",
                ],
            );
        }
        assert_eq!(t.count("system_config"), 0);
        assert_eq!(t.count("task_queue"), 0);
    }
}

fn config_item(name: &str, ty: &str, value: Attr) -> affine_db::Item {
    let mut item = ConfigParam {
        param_name: name.into(),
        param_value: ParamValue::Int(0),
        param_type: ParamType::Int,
        description: "left by another writer".into(),
        updated_at: 1,
        updated_by: "python".into(),
        version: 3,
    }
    .to_item();
    item.insert("param_type".into(), Attr::s(ty));
    item.insert("param_value".into(), value);
    item
}

#[test]
fn a_param_type_outside_the_six_reads_back_as_stored() {
    for t in Target::both_ready() {
        t.ok(&["config", "set", "known", "1", "--type", "int"]);
        t.put_raw(vec![(
            Table::SystemConfig,
            config_item("legacy", "decimal", Attr::N("0.750".into())),
        )]);
        let got = t.json(&["config", "get", "legacy"]);
        assert_eq!(got["param_type"], json!("decimal"), "{:?}", t.kind);
        // As DynamoDB stores it: canonical, the trailing zero dropped (on
        // SQLite too; core::number).
        assert_eq!(serde_json::to_string(&got["param_value"]).unwrap(), "0.75");
        assert_eq!(got["version"], json!(3));
        let list = t.json(&["config", "list"]);
        let names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["param_name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["known", "legacy"]);
    }
}

fn sample(id: &str, timestamp: i64) -> NewSample {
    NewSample {
        sample_id: Some(id.into()),
        timestamp: Some(timestamp),
        miner_hotkey: "hk".into(),
        model_revision: "rev".into(),
        env: "SAT".into(),
        score: 0.5,
        success: true,
        conversation: json!([{"role": "user", "content": id}]),
        signature: format!("sig-{id}"),
        ..Default::default()
    }
}

#[test]
fn list_commands_print_every_row_but_the_undecodable_one() {
    for t in Target::both_ready() {
        // Config: three good parameters and one whose value is not its type.
        for (n, v) in [("a", "1"), ("c", "3"), ("d", "4")] {
            t.ok(&["config", "set", n, v, "--type", "int"]);
        }
        // Samples: three good ones and one whose frame is garbage.
        let codec = Codec::default();
        let mut raw: Vec<(Table, affine_db::Item)> = ["s1", "s2", "s4"]
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let s = sample(id, 1_000 + i as i64).into_sample(0).unwrap();
                (Table::SampleResults, s.to_item(&codec).unwrap())
            })
            .collect();
        let bad_sample = sample("s3", 5_000).into_sample(0).unwrap();
        let mut bad_item = bad_sample.to_item(&codec).unwrap();
        bad_item.insert(
            "conversation_compressed".into(),
            Attr::B(vec![0x1f, 0x8b, 0xde, 0xad, 0xbe, 0xef]),
        );
        raw.push((Table::SampleResults, bad_item));
        raw.push((
            Table::SystemConfig,
            config_item("b", "int", Attr::s("not a number")),
        ));
        // Miners: two good, one without its hotkey attribute.
        for hk in ["m1", "m3"] {
            let m = MinerInfo {
                miner_hotkey: hk.into(),
                current_revision: "rev".into(),
                ..Default::default()
            }
            .merge(None, 1)
            .expect("valid miner");
            raw.push((Table::MinerMetadata, m.to_item()));
        }
        let mut bad_miner = MinerInfo {
            miner_hotkey: "m2".into(),
            ..Default::default()
        }
        .merge(None, 1)
        .expect("valid miner")
        .to_item();
        bad_miner.remove("miner_hotkey");
        raw.push((Table::MinerMetadata, bad_miner));
        t.put_raw(raw);

        let cases: [(&[&str], &str, Vec<&str>, &str); 3] = [
            (
                &["config", "list"],
                "param_name",
                vec!["a", "c", "d"],
                "PARAM#b",
            ),
            (
                &["samples", "--miner", "hk", "--revision", "rev"],
                "sample_id",
                vec!["s1", "s2", "s4"],
                "#ID#s3",
            ),
            (&["miners"], "miner_hotkey", vec!["m1", "m3"], "MINER#m2"),
        ];
        for (args, field, want, bad_key) in cases {
            let out = t.run(args);
            let lines = stderr_lines(&out);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{:?} {args:?}: {lines:?}",
                t.kind
            );
            let rows: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
            let got: Vec<&str> = rows
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r[field].as_str().unwrap())
                .collect();
            assert_eq!(got, want, "{:?} {args:?}", t.kind);
            let skipped: Vec<&String> = lines
                .iter()
                .filter(|l| l.starts_with("skipped: "))
                .collect();
            assert_eq!(skipped.len(), 1, "{lines:?}");
            assert!(skipped[0].contains(bad_key), "{lines:?}");
            assert!(lines.last().unwrap().starts_with("error: "), "{lines:?}");

            let mut lenient = args.to_vec();
            lenient.push("--skip-corrupt");
            let out = t.run(&lenient);
            assert_eq!(out.status.code(), Some(0), "{lenient:?}");
            let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(rows.as_array().unwrap().len(), want.len());
            assert_eq!(stderr_lines(&out).len(), 1, "only the skipped line");
        }
        // A single-item read still fails on the row, in one line.
        t.fails(1, &["config", "get", "b"]);
        // A limit applies to the rows that decode.
        let out = t.run(&[
            "samples",
            "--miner",
            "hk",
            "--revision",
            "rev",
            "--newest-first",
            "--limit",
            "2",
        ]);
        let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
        let ids: Vec<&str> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["sample_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["s4", "s2"]);
    }
}

/// Each modern record's conversation in the fixture, by signature, as
/// written (object keys in file order).
fn source_conversations() -> HashMap<String, Value> {
    let dir = fixture().join("affine/results");
    let mut out = HashMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read(entry.unwrap().path()).unwrap();
        let Ok(Value::Array(records)) = serde_json::from_slice::<Value>(&text) else {
            continue; // the truncated shard
        };
        for r in records {
            if let (Some(sig), Some(conv)) = (
                r["signature"].as_str(),
                r.get("extra").and_then(|e| e.get("conversation")),
            ) {
                out.insert(sig.to_string(), conv.clone());
            }
        }
    }
    out
}

#[test]
fn migrated_conversations_keep_each_message_key_order() {
    let source = source_conversations();
    for t in Target::both() {
        t.ok(&[
            "migrate",
            "--source",
            fixture().to_str().unwrap(),
            "--max-results",
            "300",
        ]);
        let mut checked = 0;
        let mut reordered_by_sorting = 0;
        for m in t.json(&["miners"]).as_array().unwrap() {
            let hk = m["miner_hotkey"].as_str().unwrap();
            let rev = m["current_revision"].as_str().unwrap();
            for s in t
                .json(&["samples", "--miner", hk, "--revision", rev])
                .as_array()
                .unwrap()
            {
                let Some(want) = source.get(s["signature"].as_str().unwrap()) else {
                    continue; // legacy records: their conversation is built
                };
                let got = &s["conversation"];
                assert_eq!(got, want);
                for (g, w) in got.as_array().unwrap().iter().zip(want.as_array().unwrap()) {
                    assert_eq!(keys(g), keys(w), "{:?} {}", t.kind, s["sample_id"]);
                    let mut sorted = keys(w);
                    sorted.sort();
                    if sorted != keys(w) {
                        reordered_by_sorting += 1;
                    }
                }
                checked += 1;
            }
        }
        assert!(
            checked > 100,
            "{:?}: only {checked} samples checked",
            t.kind
        );
        assert!(
            reordered_by_sorting > 0,
            "the fixture has messages whose keys are not sorted"
        );
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Runs a list command that must print the rows named `want` (by `field`),
/// report one skipped row whose key contains `bad_key`, and exit 1.
fn lists_around(t: &Target, args: &[&str], field: &str, want: &[&str], bad_key: &str) {
    let out = t.run(args);
    let lines = stderr_lines(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{:?} {args:?}: {lines:?}",
        t.kind
    );
    let rows: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let got: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[field].as_str().unwrap())
        .collect();
    assert_eq!(got, want, "{:?} {args:?}", t.kind);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("skipped: ") && lines[0].contains(bad_key),
        "{lines:?}"
    );
}

#[test]
fn every_list_command_skips_an_undecodable_row() {
    use affine_db::{LogStatus, NewLog, NewTask, RetentionPolicy, Score};
    let now = now_ms();
    for t in Target::both_ready() {
        let mut raw = Vec::new();
        // Tasks: two good, one without its env.
        let mut ids = Vec::new();
        for (i, priority) in [1, 3, 2].into_iter().enumerate() {
            let task = NewTask {
                miner_hotkey: "hk".into(),
                model_revision: "rev".into(),
                model_hash: "h".into(),
                env: "SAT".into(),
                priority,
                ..Default::default()
            }
            .into_task(now + i as i64)
            .unwrap();
            let mut item = task.to_item();
            if i == 1 {
                item.remove("env");
            }
            ids.push(task.task_id);
            raw.push((Table::TaskQueue, item));
        }
        // Logs: two good, one without its status.
        for (i, id) in ["l1", "l2", "l3"].iter().enumerate() {
            let log = NewLog {
                miner_hotkey: "hk".into(),
                uid: 1,
                task_id: id.to_string(),
                status: LogStatus::Success,
                env: "SAT".into(),
                error_type: None,
                error_message: None,
                execution_time_ms: 5,
                timestamp: Some(now / 1000 - 10 + i as i64),
            }
            .into_log(now)
            .unwrap();
            let mut item = log.to_item();
            if i == 1 {
                item.remove("status");
            }
            raw.push((Table::ExecutionLogs, item));
        }
        // Policies: two good, one without its hotkey attribute.
        for hk in ["p1", "p2", "p3"] {
            let mut item = RetentionPolicy::default_for(hk).to_item();
            if hk == "p2" {
                item.remove("miner_hotkey");
            }
            raw.push((Table::DataRetentionPolicy, item));
        }
        // Scores at block 7: two good rows, one without its hotkey attribute.
        for hk in ["s1", "s2", "s3"] {
            let score = Score {
                block_number: 7,
                miner_hotkey: hk.into(),
                calculated_at: now / 1000,
                overall_score: 0.5,
                ..Default::default()
            };
            let mut item = score.to_item(now / 1000 + 86_400);
            if hk == "s2" {
                item.remove("miner_hotkey");
            }
            raw.push((Table::Scores, item));
        }
        t.put_raw(raw);

        let tasks = ["tasks", "--miner", "hk", "--revision", "rev"];
        lists_around(&t, &tasks, "task_id", &[&ids[0], &ids[2]], &ids[1]);
        // Highest priority first, among the rows that decode.
        lists_around(
            &t,
            &["pending-tasks"],
            "task_id",
            &[&ids[2], &ids[0]],
            &ids[1],
        );
        lists_around(
            &t,
            &["logs", "--miner", "hk"],
            "task_id",
            &["l3", "l1"],
            "MINER#hk",
        );
        lists_around(
            &t,
            &["policies"],
            "miner_hotkey",
            &["p1", "p3"],
            "RETENTION#p2",
        );
        for which in [&["scores", "latest"][..], &["scores", "block", "7"]] {
            lists_around(&t, which, "miner_hotkey", &["s1", "s3"], "MINER#s2");
        }
    }
}
