//! What the CLI integration tests share: a temporary SQLite store and a way
//! to run the built `affine-db` binary against it.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// A temporary directory holding one SQLite store.
pub struct Db {
    _dir: tempfile::TempDir,
    /// The database file.
    pub path: PathBuf,
}

impl Db {
    pub fn new() -> Db {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("affine.db");
        Db { _dir: dir, path }
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    /// Runs `affine-db --db <this> args...` with `stdin`.
    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        run_raw(&self.url(), args, stdin)
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, None)
    }

    /// Runs a command that must succeed and returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    pub fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).expect("stdout is JSON")
    }

    pub fn stats(&self) -> serde_json::Map<String, Value> {
        match self.json(&["stats", "--json"]) {
            Value::Object(m) => m,
            other => panic!("stats --json is not an object: {other}"),
        }
    }

    pub fn count(&self, table: &str) -> u64 {
        self.stats()[table].as_u64().expect("count is a number")
    }
}

pub fn run_raw(url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_affine-db"));
    cmd.arg("--db")
        .arg(url)
        .args(args)
        .env_remove("AFFINE_DB")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn affine-db");
    let mut pipe = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(pipe);
    child.wait_with_output().expect("wait affine-db")
}

/// The non-blank lines a run printed on stderr.
pub fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}
