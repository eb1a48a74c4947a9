//! Damaged and hostile input from the shell (issue 16): rows whose stored
//! text cannot be decoded on both backends (lists, `export`, `copy`),
//! crafted snapshot files (`import` refuses them in one line and creates
//! nothing), and a SQLite file this user may not open.

mod common;

use std::process::Command;

use affine_db::codec::Codec;
use affine_db::item::Attr;
use affine_db::schema::Table;
use affine_db::{ConfigParam, NewSample, ParamType, ParamValue};
use common::{stderr_lines, Kind, Target};
use serde_json::{json, Value};

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

fn config_item(name: &str) -> affine_db::Item {
    ConfigParam {
        param_name: name.into(),
        param_value: ParamValue::Int(7),
        param_type: ParamType::Int,
        description: String::new(),
        updated_at: 1,
        updated_by: "x".into(),
        version: 1,
    }
    .to_item()
}

/// Runs `sql` on a SQLite file with Python's sqlite3 (another writer).
fn sqlite_exec(path: &std::path::Path, sql: &str) {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()",
            path.to_str().unwrap(),
            sql,
        ])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Three good samples and three good parameters, then damage: sample s2's
/// `model_hash` is text that is not UTF-8, parameter `b`'s `param_value`
/// is text that is not JSON. On SQLite the rows are damaged in place by
/// another writer; on DynamoDB the damaged items are written raw, the
/// undecodable bytes as a binary value (DynamoDB strings are always UTF-8).
fn damaged_store(t: &Target) {
    t.ok(&["init"]);
    let codec = Codec::default();
    let mut raw = Vec::new();
    for (i, id) in ["s1", "s2", "s3"].iter().enumerate() {
        let s = sample(id, 1_000 + i as i64).into_sample(0).unwrap();
        raw.push((Table::SampleResults, s.to_item(&codec).unwrap()));
    }
    for n in ["a", "b", "c"] {
        raw.push((Table::SystemConfig, config_item(n)));
    }
    if t.kind == Kind::Dynamo {
        for (table, item) in &mut raw {
            let id = item.get("sample_id").or(item.get("param_name")).cloned();
            match (*table, id) {
                (Table::SampleResults, Some(Attr::S(id))) if id == "s2" => {
                    item.insert("model_hash".into(), Attr::B(vec![0xff, 0xfe, b'h']));
                }
                (Table::SystemConfig, Some(Attr::S(n))) if n == "b" => {
                    item.insert("param_value".into(), Attr::B(b"{not json".to_vec()));
                }
                _ => {}
            }
        }
    }
    t.put_raw(raw);
    if t.kind == Kind::Sqlite {
        sqlite_exec(
            t.path.as_ref().unwrap(),
            "UPDATE sample_results SET model_hash = CAST(X'fffe68' AS TEXT) WHERE sample_id = 's2';
             UPDATE system_config SET param_value = '{not json' WHERE param_name = 'b';",
        );
    }
}

/// A list command, the field naming its rows, the rows it prints, the
/// skipped row's key and its damaged column.
type ListCase<'a> = (&'a [&'a str], &'a str, [&'a str; 2], &'a str, &'a str);

fn names(rows: &Value, field: &str) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r[field].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn undecodable_text_is_skipped_by_lists_and_kept_by_export_and_copy() {
    for t in Target::both() {
        damaged_store(&t);
        let lists: [ListCase; 2] = [
            (
                &["config", "list"],
                "param_name",
                ["a", "c"],
                "PARAM#b",
                "param_value",
            ),
            (
                &["samples", "--miner", "hk", "--revision", "rev"],
                "sample_id",
                ["s1", "s3"],
                "#ID#s2",
                "model_hash",
            ),
        ];
        for (args, field, want, key, column) in lists {
            let out = t.run(args);
            let lines = stderr_lines(&out);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{:?} {args:?}: {lines:?}",
                t.kind
            );
            let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(names(&rows, field), want, "{:?} {args:?}", t.kind);
            let skipped: Vec<&String> = lines
                .iter()
                .filter(|l| l.starts_with("skipped: "))
                .collect();
            assert_eq!(skipped.len(), 1, "{lines:?}");
            // By table, key and column, with why.
            let line = skipped[0];
            assert!(line.contains(key), "{line}");
            assert!(line.contains(&format!("attribute {column}: is ")), "{line}");
            let mut lenient = args.to_vec();
            lenient.push("--skip-corrupt");
            let out = t.run(&lenient);
            assert_eq!(out.status.code(), Some(0), "{lenient:?}");
        }
        // A single read of the damaged parameter fails in one line; the others read.
        t.fails(1, &["config", "get", "b"]);
        assert_eq!(t.json(&["config", "get", "a"])["param_value"], json!(7));

        // Export writes every row, the damaged ones as stored, and says so.
        let snap = t.dir().join("all.snap");
        let out = t.run(&["export", "--out", snap.to_str().unwrap()]);
        let lines = stderr_lines(&out);
        assert_eq!(out.status.code(), Some(0), "{:?}: {lines:?}", t.kind);
        let damaged: Vec<&String> = lines
            .iter()
            .filter(|l| l.starts_with("damaged: "))
            .collect();
        assert_eq!(damaged.len(), 2, "{lines:?}");
        assert!(damaged
            .iter()
            .any(|l| l.contains("PARAM#b") && l.contains("param_value")));
        assert!(damaged
            .iter()
            .any(|l| l.contains("#ID#s2") && l.contains("model_hash")));
        assert!(damaged
            .iter()
            .all(|l| l.ends_with("kept as stored, raw bytes included")));
        // ... and it imports whole, the damage with it.
        let restored = Target::sqlite();
        restored.ok(&["import", "--in", snap.to_str().unwrap()]);
        assert_eq!(restored.count("sample_results"), 3);
        assert_eq!(restored.count("system_config"), 3);
        let out = restored.run(&["config", "list"]);
        assert_eq!(out.status.code(), Some(1), "the damage came along");

        // --skip-corrupt leaves the damaged rows out of the snapshot.
        let clean = t.dir().join("clean.snap");
        let out = t.run(&["export", "--out", clean.to_str().unwrap(), "--skip-corrupt"]);
        assert_eq!(out.status.code(), Some(0));
        let lines = stderr_lines(&out);
        assert!(
            lines.iter().filter(|l| l.contains("left out")).count() == 2,
            "{lines:?}"
        );
        let restored = Target::sqlite();
        restored.ok(&["import", "--in", clean.to_str().unwrap()]);
        assert_eq!(restored.count("sample_results"), 2);
        restored.ok(&["config", "list"]);

        // Copy keeps every row the same way, or leaves the damaged ones out.
        for (flag, samples, configs) in [(None, 3, 3), (Some("--skip-corrupt"), 2, 2)] {
            let to = Target::sqlite();
            let mut args = vec!["copy", "--from", t.url.as_str(), "--to", to.url.as_str()];
            args.extend(flag);
            let out = common::command().args(&args).output().unwrap();
            let lines = stderr_lines(&out);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{:?} {flag:?}: {lines:?}",
                t.kind
            );
            assert_eq!(
                lines.iter().filter(|l| l.starts_with("damaged: ")).count(),
                2
            );
            assert_eq!(to.count("sample_results"), samples);
            assert_eq!(to.count("system_config"), configs);
        }
    }
}

/// A key column that is not UTF-8 text does not stop a scan: export goes
/// on past it and reports it (such a row cannot be imported anywhere, so
/// import refuses the snapshot, naming it, before writing anything).
#[test]
fn a_damaged_key_is_exported_and_refused_by_import_before_anything_is_written() {
    let t = Target::sqlite();
    damaged_store(&t);
    sqlite_exec(
        t.path.as_ref().unwrap(),
        "UPDATE system_config SET pk = CAST(X'434f4e46ff' AS TEXT) WHERE param_name = 'a';",
    );
    let snap = t.dir().join("keys.snap");
    let out = t.run(&["export", "--out", snap.to_str().unwrap()]);
    let lines = stderr_lines(&out);
    assert_eq!(out.status.code(), Some(0), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("damaged: ") && l.contains("attribute pk:")),
        "{lines:?}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(stdout.contains("system_config: 3"), "{stdout}");
    let to = Target::sqlite();
    let out = to.run(&["import", "--in", snap.to_str().unwrap()]);
    let lines = stderr_lines(&out);
    assert_eq!(out.status.code(), Some(1), "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("error: corrupt snapshot: "),
        "{lines:?}"
    );
    assert!(lines[0].contains("--skip-corrupt"), "{lines:?}");
    assert!(!to.path.as_ref().unwrap().exists(), "no file was created");
}

fn crafted(body: &[u8]) -> Vec<u8> {
    let mut out = b"AFDBSNAP".to_vec();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend(zstd::encode_all(body, 3).unwrap());
    out
}

fn one_attribute_item() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(0u32.to_le_bytes());
    b.extend(6u64.to_le_bytes());
    b.extend(b"scores");
    b.extend(1u64.to_le_bytes());
    b.extend(1u64.to_le_bytes());
    b.extend(1u64.to_le_bytes());
    b.extend(b"x");
    b
}

#[test]
fn crafted_snapshots_fail_in_one_line_and_create_nothing() {
    let mut deep = one_attribute_item();
    for _ in 0..50_000 {
        deep.extend(6u32.to_le_bytes());
        deep.extend(1u64.to_le_bytes());
    }
    let mut long = one_attribute_item();
    long.extend(0u32.to_le_bytes());
    long.extend(((1u64 << 31) - 1).to_le_bytes());
    let cases = [
        (crafted(&deep), "nested more than 32 levels"),
        (crafted(&long), "2147483647 bytes is longer than"),
        (b"AFDBSNAP\x01\0\0\0garbage".to_vec(), "zstd"),
        (
            b"PK\x03\x04 a zip file".to_vec(),
            "not an affine-db snapshot",
        ),
    ];
    for (bytes, want) in cases {
        for t in Target::both() {
            let file = t.dir().join("crafted.snap");
            std::fs::write(&file, &bytes).unwrap();
            let out = t.run(&["import", "--in", file.to_str().unwrap()]);
            let lines = stderr_lines(&out);
            assert_eq!(out.status.code(), Some(1), "{lines:?}");
            assert_eq!(lines.len(), 1, "{lines:?}");
            let prefix = format!("error: corrupt snapshot: {}: ", file.display());
            assert!(lines[0].starts_with(&prefix), "{lines:?}");
            assert!(lines[0].contains(want), "{want}: {lines:?}");
            assert!(!lines[0].contains("inspect the item"), "{lines:?}");
            match t.kind {
                Kind::Sqlite => assert!(!t.path.as_ref().unwrap().exists(), "a file was left"),
                Kind::Dynamo => assert_eq!(t.ok(&["list"]).trim(), "", "tables were created"),
            }
        }
    }
}

#[test]
fn a_file_this_user_may_not_open_says_permission_denied_and_names_it() {
    let t = Target::sqlite();
    t.ok(&["init"]);
    let path = t.path.clone().unwrap();
    let dir = path.parent().unwrap().to_path_buf();
    let as_root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    // Root may open anything: run the tool as `nobody` then; as anyone
    // else, take the permissions away from the file itself.
    let run = |args: &[&str]| {
        let mut cmd = if as_root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(env!("CARGO_BIN_EXE_affine-db"));
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_affine-db"))
        };
        cmd.arg("--db").arg(&t.url).args(args).output().unwrap()
    };
    use std::os::unix::fs::PermissionsExt;
    let chmod = |p: &std::path::Path, mode| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    chmod(&dir, 0o755);
    chmod(&path, 0o600);
    if !as_root {
        chmod(&path, 0o000);
    }
    for args in [
        &["stats"][..],
        &["config", "set", "x", "1", "--type", "int"],
    ] {
        let out = run(args);
        let lines = stderr_lines(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {lines:?}");
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("permission denied"), "{lines:?}");
        assert!(lines[0].contains(path.to_str().unwrap()), "{lines:?}");
    }
    chmod(&path, 0o600);
}
