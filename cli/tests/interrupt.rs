//! Ctrl-C during `migrate`, `copy` and `recompress` (issue 12), on a SQLite
//! file and on the DynamoDB emulator: the command prints one line saying
//! how far it got and that a re-run resumes, exits 130, and the same
//! command run again finishes the job.
//!
//! Each run is held mid-way on purpose, so SIGINT always lands while it
//! works: `migrate` reads from a local HTTP source that never answers for
//! its last shard; `copy` and `recompress` wait on a SQLite write lock the
//! test holds, or on a DynamoDB endpoint that never answers (`copy`), or
//! work through one sample per batch (`recompress` on DynamoDB).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use affine_db_testkit::link::{Link, LinkProxy};
use common::{command, dynamodb_endpoint, dynamodb_url, fixture, stderr_lines, Kind, Target};
use serde_json::Value;

fn spawn(url: &str, args: &[&str]) -> Child {
    let mut cmd = command();
    if !url.is_empty() {
        cmd.arg("--db").arg(url);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn affine-db")
}

/// Sends SIGINT (what Ctrl-C sends) to the child and collects its output.
fn interrupt(child: Child) -> Output {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    child.wait_with_output().expect("wait")
}

/// Asserts the interrupted run's exit code and its one stderr line;
/// returns the line.
fn assert_interrupted(out: &Output, what: &str) -> String {
    let lines = stderr_lines(out);
    assert_eq!(out.status.code(), Some(130), "{what}: {lines:?}");
    assert_eq!(lines.len(), 1, "{what}: {lines:?}");
    assert!(lines[0].starts_with("interrupted: "), "{what}: {lines:?}");
    assert!(lines[0].contains("again"), "{what}: {lines:?}");
    lines[0].clone()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `child` has `path` open: it is then inside its work, its
/// Ctrl-C handler installed (the tool installs it before the work starts).
fn wait_until_open(child: &Child, path: &Path) {
    let fds = PathBuf::from(format!("/proc/{}/fd", child.id()));
    let want = std::fs::canonicalize(path).unwrap();
    wait_until("the command to open the database", || {
        std::fs::read_dir(&fds)
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == want))
    });
}

/// Live samples in the store, 0 while it cannot be read yet.
fn samples(t: &Target) -> u64 {
    let out = t.run(&["stats", "--json"]);
    if !out.status.success() {
        return 0;
    }
    serde_json::from_slice::<Value>(&out.stdout).expect("JSON")["sample_results"]
        .as_u64()
        .unwrap_or(0)
}

fn expected_samples() -> u64 {
    let manifest = fixture().with_file_name("r2-bucket.manifest.json");
    let m: Value = serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    m["expected_samples"].as_u64().unwrap()
}

/// Serves the files under `root` over HTTP on loopback; a request for
/// `stall` is never answered.
fn serve(root: PathBuf, stall: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let (root, stall) = (root.clone(), stall.clone());
            std::thread::spawn(move || answer(conn, &root, &stall));
        }
    });
    format!("http://{addr}")
}

fn answer(mut conn: TcpStream, root: &Path, stall: &str) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let path = request
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_string();
    if path == stall {
        // Hold the connection open and never answer.
        std::thread::sleep(Duration::from_secs(3600));
        return;
    }
    let (status, body) = match std::fs::read(root.join(&path)) {
        Ok(b) => ("200 OK", b),
        Err(_) => ("404 Not Found", Vec::new()),
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(&body);
}

/// The newest shard of the fixture's index that exists (migrated last).
fn last_shard() -> String {
    let index: Vec<String> =
        serde_json::from_slice(&std::fs::read(fixture().join("affine/index.json")).unwrap())
            .unwrap();
    let mut present: Vec<String> = index
        .into_iter()
        .filter(|k| fixture().join(k).exists())
        .collect();
    present.sort_by_key(|k| k.rsplit('/').next().unwrap().to_string());
    present.pop().expect("a shard")
}

#[test]
fn ctrl_c_during_migrate_reports_progress_and_a_rerun_resumes() {
    let stall = last_shard();
    let base = serve(fixture(), stall);
    for t in Target::both() {
        let child = spawn(&t.url, &["migrate", "--source", &base]);
        wait_until("samples to be migrated", || samples(&t) > 0);
        let out = interrupt(child);
        let line = assert_interrupted(&out, "migrate");
        assert!(line.contains("samples migrated"), "{line}");
        let partial = samples(&t);
        assert!(
            partial > 0 && partial < expected_samples(),
            "{:?}: {partial}",
            t.kind
        );
        // The same migration from the whole bucket finishes without duplicates.
        let summary: Value = serde_json::from_str(&t.ok(&[
            "migrate",
            "--source",
            fixture().to_str().unwrap(),
            "--json",
        ]))
        .unwrap();
        assert!(summary["processed"].as_u64().unwrap() > 0);
        assert_eq!(samples(&t), expected_samples(), "{:?}", t.kind);
    }
}

/// A process holding a SQLite write lock; released when dropped (also
/// when a test fails).
struct Lock(Child);

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Holds a SQLite write lock on `path` until the returned guard is dropped.
fn hold_write_lock(path: &Path) -> Lock {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); \
             c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(3600)",
            path.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    Lock(child)
}

/// A loopback endpoint that accepts connections and never answers; the
/// flag is set once a client has connected.
fn silent_endpoint() -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let connected = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = connected.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    (format!("http://{addr}"), connected)
}

#[test]
fn ctrl_c_during_copy_reports_progress_and_a_rerun_finishes() {
    let source = Target::sqlite();
    for (i, v) in ["1", "2", "3"].iter().enumerate() {
        source.ok(&["config", "set", &format!("p{i}"), v, "--type", "int"]);
    }
    for kind in [Kind::Sqlite, Kind::Dynamo] {
        // The SQLite destination's directory lives until the end of the case.
        let sqlite_dest = Target::sqlite();
        let mut connected = None;
        let (dest, stalled_url, lock) = match kind {
            Kind::Sqlite => {
                sqlite_dest.ok(&["init"]);
                let lock = hold_write_lock(sqlite_dest.path.as_ref().unwrap());
                (sqlite_dest.url.clone(), sqlite_dest.url.clone(), Some(lock))
            }
            Kind::Dynamo => {
                let real = dynamodb_url(&common::dynamodb_endpoint());
                let prefix = real
                    .split("prefix=")
                    .nth(1)
                    .unwrap()
                    .split('&')
                    .next()
                    .unwrap();
                let (silent, flag) = silent_endpoint();
                connected = Some(flag);
                let stalled =
                    format!("dynamodb://?prefix={prefix}&region=us-east-1&endpoint={silent}");
                (real, stalled, None)
            }
        };
        let child = spawn("", &["copy", "--from", &source.url, "--to", &stalled_url]);
        // Interrupted once it waits on the destination: the SQLite write
        // lock (the tool waits 10 s for it) or the endpoint that never
        // answers.
        match &connected {
            None => wait_until_open(&child, sqlite_dest.path.as_ref().unwrap()),
            Some(flag) => wait_until("a connection to the silent endpoint", || {
                flag.load(std::sync::atomic::Ordering::SeqCst)
            }),
        }
        let out = interrupt(child);
        let line = assert_interrupted(&out, "copy");
        assert!(line.contains("items"), "{line}");
        drop(lock);
        let out = command()
            .args(["copy", "--from", &source.url, "--to", &dest])
            .output()
            .unwrap();
        assert!(out.status.success(), "{kind:?}: {:?}", stderr_lines(&out));
        let copied = Target::at(dest);
        assert_eq!(
            copied.json(&["config", "list"]).as_array().unwrap().len(),
            3
        );
    }
}

fn recompress_summary(t: &Target, args: &[&str]) -> Value {
    let mut all = vec!["recompress", "--json"];
    all.extend(args);
    serde_json::from_str(&t.ok(&all)).unwrap()
}

#[test]
fn ctrl_c_during_recompress_reports_progress_and_a_rerun_resumes() {
    for t in Target::both() {
        t.ok(&[
            "migrate",
            "--source",
            fixture().to_str().unwrap(),
            "--max-results",
            "200",
        ]);
        let total = samples(&t);
        assert!(total > 100, "{total}");
        // A first run stops after two batches (position saved).
        let first = recompress_summary(&t, &["--batch-size", "20", "--max-batches", "2"]);
        assert_eq!(first["scanned"], Value::from(40));
        let mut lock: Option<Lock> = None;
        let mut proxies = Vec::new();
        let child = match t.kind {
            Kind::Sqlite => {
                lock = Some(hold_write_lock(t.path.as_ref().unwrap()));
                let child = spawn(&t.url, &["recompress", "--batch-size", "20"]);
                wait_until_open(&child, t.path.as_ref().unwrap());
                child
            }
            Kind::Dynamo => {
                // The same prefix through a proxy that delays each request
                // by 100 ms: ~160 one-sample batches take ~16 s, and SIGINT
                // is sent once the first batch was written.
                let endpoint = dynamodb_endpoint();
                let slow = Link {
                    up: Duration::from_millis(100),
                    down: Duration::ZERO,
                };
                let proxy = LinkProxy::start(&endpoint, slow).expect("link proxy");
                let url = t.url.replace(
                    &format!("endpoint={endpoint}"),
                    &format!("endpoint={}", proxy.url()),
                );
                proxies.push(proxy);
                assert_ne!(url, t.url);
                let child = spawn(&url, &["recompress", "--batch-size", "1"]);
                let stats = proxies[0].stats().clone();
                wait_until("the first recompressed batch", || {
                    stats.operation("BatchWriteItem") + stats.operation("PutItem") > 0
                });
                child
            }
        };
        let out = interrupt(child);
        drop(proxies);
        let line = assert_interrupted(&out, &format!("recompress on {:?}", t.kind));
        assert!(line.contains("resume"), "{line}");
        drop(lock);
        // Run again: it resumes from the saved position and finishes.
        let rest = recompress_summary(&t, &[]);
        assert_eq!(rest["resumed"], Value::Bool(true), "{rest}");
        assert_eq!(rest["finished"], Value::Bool(true), "{rest}");
        assert_eq!(rest["scanned"].as_u64(), Some(total), "{rest}");
    }
}
