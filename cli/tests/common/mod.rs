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

/// The fixture bucket (DESIGN §8), read in place.
pub fn fixture() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/r2-bucket")
}

/// The DynamoDB emulator: `AFFINE_TEST_DYNAMODB_ENDPOINT` (set by
/// `scripts/test`), else one `scripts/moto.sh start`. Panics when neither
/// works: these tests never skip silently.
pub fn dynamodb_endpoint() -> String {
    if let Ok(url) = std::env::var("AFFINE_TEST_DYNAMODB_ENDPOINT") {
        if !url.is_empty() {
            return url;
        }
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/moto.sh");
    let out = Command::new(script)
        .arg("start")
        .output()
        .unwrap_or_else(|e| {
            panic!("AFFINE_TEST_DYNAMODB_ENDPOINT is unset and {script} could not run: {e}")
        });
    assert!(
        out.status.success(),
        "AFFINE_TEST_DYNAMODB_ENDPOINT is unset and `{script} start` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(url.starts_with("http"), "`{script} start` printed {url:?}");
    url
}

/// A fresh DynamoDB table prefix on the emulator.
pub fn dynamodb_url(endpoint: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let prefix = format!("op{}x{nanos}x{n}", std::process::id());
    format!("dynamodb://?prefix={prefix}&region=us-east-1&endpoint={endpoint}")
}

/// A `Command` for the built binary with the emulator's dummy credentials
/// and no inherited store settings.
pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_affine-db"));
    cmd.env_remove("AFFINE_DB")
        .env_remove("RUST_LOG")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_ACCESS_KEY_ID", "affine-test")
        .env("AWS_SECRET_ACCESS_KEY", "affine-test")
        .env("AWS_REGION", "us-east-1");
    cmd
}

/// Which backend a [`Target`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A SQLite file (not created until a command creates it).
    Sqlite,
    /// A fresh prefix on the DynamoDB emulator (no tables until `init`).
    Dynamo,
}

/// One store a test runs the CLI against, with a scratch directory.
pub struct Target {
    pub kind: Kind,
    pub url: String,
    /// The SQLite file (`None` on DynamoDB).
    pub path: Option<PathBuf>,
    dir: tempfile::TempDir,
}

impl Target {
    pub fn sqlite() -> Target {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("affine.db");
        Target {
            kind: Kind::Sqlite,
            url: format!("sqlite://{}", path.display()),
            path: Some(path),
            dir,
        }
    }

    pub fn dynamo() -> Target {
        Target {
            kind: Kind::Dynamo,
            url: dynamodb_url(&dynamodb_endpoint()),
            path: None,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A target at `url` (any store URL), with a scratch directory.
    pub fn at(url: impl Into<String>) -> Target {
        Target {
            kind: Kind::Sqlite,
            url: url.into(),
            path: None,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A SQLite file and a DynamoDB prefix, both empty.
    pub fn both() -> [Target; 2] {
        [Target::sqlite(), Target::dynamo()]
    }

    /// A SQLite file and a DynamoDB prefix, both with their tables.
    pub fn both_ready() -> [Target; 2] {
        let both = Target::both();
        for t in &both {
            t.ok(&["init"]);
        }
        both
    }

    /// The scratch directory.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = command();
        cmd.arg("--db")
            .arg(&self.url)
            .args(args)
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

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, None)
    }

    /// Runs a command that must succeed and returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{:?} {args:?} failed: {}",
            self.kind,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let text = self.ok(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
    }

    /// Runs a command that must fail with `code` and exactly one stderr
    /// line; returns that line.
    pub fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        let lines = stderr_lines(&out);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{:?} {args:?}: {lines:?}",
            self.kind
        );
        assert_eq!(lines.len(), 1, "{:?} {args:?}: {lines:?}", self.kind);
        assert!(lines[0].starts_with("error: "), "{lines:?}");
        lines[0].clone()
    }

    pub fn count(&self, table: &str) -> u64 {
        self.json(&["stats", "--json"])[table]
            .as_u64()
            .expect("count is a number")
    }

    /// Writes raw items through `import` of a snapshot made in memory: the
    /// same way on both backends, bypassing the typed operations (for rows
    /// another writer left behind).
    pub fn put_raw(&self, items: Vec<(affine_db::Table, affine_db::Item)>) {
        let file = self.dir().join(format!("raw-{}.snap", uuid_like()));
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let mem = affine_db::open("sqlite::memory:")
                .await
                .expect("memory store");
            for (table, item) in items {
                mem.admin
                    .put_items(table, vec![item])
                    .await
                    .expect("raw item");
            }
            let out = std::fs::File::create(&file).expect("snapshot file");
            affine_db::tools::snapshot::export(mem.admin.as_ref(), out)
                .await
                .expect("export");
        });
        self.ok(&["import", "--in", file.to_str().expect("utf-8 path")]);
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
