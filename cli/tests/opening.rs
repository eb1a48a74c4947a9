//! Opening a store from the shell (issue 12): read commands never create
//! anything and work on read-only files and mounts, a SQLite file of
//! another application is refused by every command before anything
//! changes, and URL parameters are strict. Each case runs on a SQLite file
//! and on the DynamoDB emulator where the backend has the case.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{command, stderr_lines, Kind, Target};
use serde_json::json;

/// Every read command, with arguments that are valid.
const READS: &[&[&str]] = &[
    &["list"],
    &["stats", "--json"],
    &["config", "list"],
    &["config", "get", "x"],
    &["samples", "--miner", "hk", "--revision", "r"],
    &["tasks", "--miner", "hk", "--revision", "r"],
    &["pending-tasks"],
    &["logs", "--miner", "hk"],
    &["scores", "latest"],
    &["scores", "block", "5"],
    &["miners"],
    &["policies"],
    &["dictionaries"],
    &["cleanup", "--dry-run"],
];

/// Commands that change existing data but add none.
const CHANGES: &[&[&str]] = &[
    &["config", "delete", "x"],
    &["cleanup"],
    &["purge-expired"],
    &["reset", "--yes"],
    &[
        "task",
        "complete",
        "--miner",
        "hk",
        "--revision",
        "r",
        "--task-id",
        "t",
    ],
    &["task", "requeue", "--timeout-s", "60"],
];

#[test]
fn read_and_change_commands_on_a_missing_store_fail_and_create_nothing() {
    for t in Target::both() {
        for args in READS.iter().chain(CHANGES) {
            // On DynamoDB, listing an empty namespace is fine, and reset
            // creates the tables it recreates.
            if t.kind == Kind::Dynamo && matches!(args[0], "list" | "reset") {
                continue;
            }
            let out = t.run(args);
            let lines = stderr_lines(&out);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{:?} {args:?}: {lines:?}",
                t.kind
            );
            let line = lines.last().expect("an error line");
            assert!(line.starts_with("error: "), "{lines:?}");
            assert!(line.contains("init"), "{:?} {args:?}: {line}", t.kind);
            if let Some(path) = &t.path {
                assert!(line.contains(&path.display().to_string()), "{line}");
                assert!(!path.exists(), "{args:?} created {}", path.display());
            }
        }
        // The DynamoDB namespace has no tables either.
        if t.kind == Kind::Dynamo {
            let out = t.run(&["list"]);
            assert_eq!(out.status.code(), Some(0));
            assert!(
                out.stdout.is_empty(),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        // Commands that add data create the store.
        t.ok(&["init"]);
        assert_eq!(t.json(&["config", "list"]), json!([]));
    }
}

#[test]
fn writing_commands_create_a_missing_sqlite_file() {
    for args in [
        &["config", "set", "n", "1", "--type", "int"][..],
        &[
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
        ],
        &["init"],
    ] {
        let t = Target::sqlite();
        t.ok(args);
        assert!(t.path.as_ref().unwrap().exists(), "{args:?}");
    }
}

fn mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Runs the binary as a user without root's permission override (nobody,
/// through `setpriv`, when the tests run as root), so file modes apply.
fn run_unprivileged(url: &str, args: &[&str]) -> std::process::Output {
    let euid = std::process::Command::new("id")
        .arg("-u")
        .output()
        .expect("id -u");
    let root = String::from_utf8_lossy(&euid.stdout).trim() == "0";
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_affine-db"),
        ]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_affine-db"))
    };
    let template = command();
    for (k, v) in template.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.arg("--db")
        .arg(url)
        .args(args)
        .output()
        .expect("run affine-db (setpriv is needed when the tests run as root)")
}

#[test]
fn read_commands_work_on_a_read_only_file_and_a_read_only_directory() {
    let t = Target::sqlite();
    t.ok(&["config", "set", "n", "7", "--type", "int"]);
    let path = t.path.clone().unwrap();
    let dir = path.parent().unwrap().to_path_buf();
    let before = std::fs::read(&path).unwrap();
    mode(&dir, 0o777);
    mode(&path, 0o444);
    let url = t.url.clone();

    let out = run_unprivileged(&url, &["config", "get", "n"]);
    assert!(out.status.success(), "{:?}", stderr_lines(&out));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["param_value"], json!(7));
    for args in READS {
        if args[0] == "config" && args.get(1) == Some(&"get") {
            continue;
        }
        let out = run_unprivileged(&url, args);
        assert!(out.status.success(), "{args:?}: {:?}", stderr_lines(&out));
    }
    // A write fails with one line and changes nothing.
    let out = run_unprivileged(&url, &["config", "set", "n", "8", "--type", "int"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", stderr_lines(&out));
    assert_eq!(stderr_lines(&out).len(), 1);

    // A read-only directory (like a read-only mount): no -shm can be made.
    for side in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{side}", path.display()));
    }
    mode(&dir, 0o555);
    let out = run_unprivileged(&url, &["stats", "--json"]);
    assert!(out.status.success(), "{:?}", stderr_lines(&out));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["system_config"], json!(1));
    let out = run_unprivileged(&url, &["config", "list"]);
    assert!(out.status.success(), "{:?}", stderr_lines(&out));
    mode(&dir, 0o755);
    assert_eq!(std::fs::read(&path).unwrap(), before, "the file changed");
}

#[test]
fn mode_ro_opens_read_only_and_strict_parameters() {
    let t = Target::sqlite();
    t.ok(&["config", "set", "n", "7", "--type", "int"]);
    let path = t.path.clone().unwrap();
    let ro = Target::at(format!("{}?mode=ro", t.url));
    assert_eq!(ro.json(&["config", "get", "n"])["param_value"], json!(7));
    let before = std::fs::read(&path).unwrap();
    ro.fails(1, &["config", "set", "n", "8", "--type", "int"]);
    ro.fails(1, &["config", "delete", "n"]);
    assert_eq!(t.json(&["config", "get", "n"])["version"], json!(1));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // Not a file literally named `affine.db?mode=ro`.
    let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains('?')), "{names:?}");
    // mode=ro on a missing file: an error, nothing created.
    let missing = path.with_file_name("missing.db");
    let m = Target::at(format!("sqlite://{}?mode=ro", missing.display()));
    m.fails(1, &["config", "list"]);
    m.fails(1, &["config", "set", "n", "1", "--type", "int"]);
    assert!(!missing.exists());

    // Repeated, unknown or empty parameters are input errors on both backends.
    let dynamo = Target::dynamo();
    for url in [
        format!("{}?mode=ro&mode=ro", t.url),
        format!("{}?mode=readonly", t.url),
        format!("{}?prefix=a", t.url),
        format!("{}&prefix=a&prefix=b", dynamo.url),
        format!("{}&mode=ro", dynamo.url),
        format!("{}&bogus=1", dynamo.url),
    ] {
        let bad = Target::at(url.clone());
        bad.fails(2, &["list"]);
    }
}

#[test]
fn a_foreign_sqlite_file_is_refused_by_every_command() {
    let t = Target::sqlite();
    let path = t.path.clone().unwrap();
    make_foreign(&path);
    let before = std::fs::read(&path).unwrap();
    let writes: &[&[&str]] = &[
        &["init"],
        &["test"],
        &["config", "set", "n", "1", "--type", "int"],
        &[
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
        ],
        &["import", "--in", "/nonexistent.snap"],
        &["migrate", "--source", "/work/nowhere"],
    ];
    for args in READS.iter().chain(CHANGES).chain(writes) {
        let out = t.run(args);
        let lines = stderr_lines(&out);
        assert!(
            !out.status.success(),
            "{args:?} succeeded on a foreign file"
        );
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "{args:?} changed the file"
        );
    }
    // Refused as invalid input, naming the file.
    let line = t.fails(2, &["stats"]);
    assert!(line.contains(&path.display().to_string()), "{line}");
    assert!(line.contains("not an affine-db database"), "{line}");
    // A copy into it is refused too.
    let src = Target::sqlite();
    src.ok(&["init"]);
    let out = command()
        .args(["copy", "--from", &src.url, "--to", &t.url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{:?}", stderr_lines(&out));
    assert_eq!(std::fs::read(&path).unwrap(), before);

    // A text file is not a database either.
    let text = t.dir().join("notes.txt");
    std::fs::write(&text, "hello\n").unwrap();
    let other = Target::at(format!("sqlite://{}", text.display()));
    other.fails(2, &["init"]);
    assert_eq!(std::fs::read(&text).unwrap(), b"hello\n");
}

/// A SQLite file another application made: a `scores` table of its own.
fn make_foreign(path: &Path) {
    // Made with the sqlite3 Python module (no extra Rust dev-dependency).
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); \
             c.execute('create table scores(id integer primary key, value text)'); \
             c.execute(\"insert into scores values (1, 'theirs')\"); c.commit()",
            path.to_str().unwrap(),
        ])
        .output()
        .expect("python3");
    assert!(out.status.success(), "{:?}", out);
}

#[test]
fn an_empty_file_and_an_older_affine_db_file_open() {
    // An empty file (e.g. `touch`): reads say run init; init makes it ours.
    let t = Target::sqlite();
    let path = t.path.clone().unwrap();
    std::fs::write(&path, b"").unwrap();
    let line = t.fails(1, &["config", "list"]);
    assert!(line.contains("init"), "{line}");
    t.ok(&["init"]);
    assert_eq!(t.json(&["config", "list"]), json!([]));

    // A file an earlier build wrote (our tables, no application_id) still opens.
    t.ok(&["config", "set", "n", "3", "--type", "int"]);
    let clear = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); \
             c.execute('pragma application_id = 0'); c.commit(); \
             print(c.execute('pragma application_id').fetchone()[0])",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&clear.stdout).trim(), "0");
    assert_eq!(t.json(&["config", "get", "n"])["param_value"], json!(3));
    t.ok(&["config", "set", "n", "4", "--type", "int"]);
    assert_eq!(t.json(&["config", "get", "n"])["version"], json!(2));
}
