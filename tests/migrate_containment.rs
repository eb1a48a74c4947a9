//! Migration sources read only what the operator named (issue 16): each
//! containment rule on a `dir://` and an `http://` source, with the
//! counted skip reason and proof that nothing outside was read.
//!
//! - dir: a shard, a directory and the index symlinked outside the root,
//!   a shard linked to `/dev/zero`, a FIFO, keys with `..`, `%2e%2e`, `\`,
//!   a leading `/` and an absolute URL, a shard over the cap;
//! - http (a local server on plain threads): the same hostile keys,
//!   redirects to another host and to another path on the same host, and
//!   a body that never ends, with the server's request log checked.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use affine_db::tools::migrate::{
    migrate, MigrateOptions, MigrationSummary, Progress, RetryPolicy, Source,
};
use affine_db::{Error, Store};
use serde_json::Value;

const FIXTURE_SHARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/r2-bucket/affine/results/006800120-5UEf4A1dKEyzqrHWSCTenCKiPVZnGqUHpnZC4CPd4FwRXc3Q.json"
);

/// The records of one fixture shard, as a shard's bytes, with every
/// signature prefixed by `tag` (so records read from different places are
/// different samples).
fn shard(tag: &str) -> Vec<u8> {
    let text = std::fs::read(FIXTURE_SHARD).expect("fixture shard");
    let Value::Array(mut records) = serde_json::from_slice(&text).unwrap() else {
        panic!("the fixture shard is an array")
    };
    for r in &mut records {
        if let Some(Value::String(sig)) = r.get_mut("signature") {
            *sig = format!("{tag}{sig}");
        }
    }
    serde_json::to_vec(&records).unwrap()
}

fn opts() -> MigrateOptions {
    MigrateOptions {
        max_shard_bytes: 4 << 20,
        retry: RetryPolicy {
            attempts: 1,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        },
        ..MigrateOptions::default()
    }
}

async fn run(
    source: &Source,
    opts: &MigrateOptions,
) -> (Store, affine_db::Result<MigrationSummary>) {
    let store = affine_db::open("sqlite::memory:").await.unwrap();
    let out = migrate(&store, source, opts, &|_: &Progress| {}).await;
    (store, out)
}

/// How many samples the good shard alone migrates.
async fn good_alone() -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let key = "affine/results/000000020-good.json";
    write(dir.path(), key, &shard("good-"));
    write(
        dir.path(),
        "affine/index.json",
        &serde_json::to_vec(&[key]).unwrap(),
    );
    let src = Source::open(dir.path().to_str().unwrap()).await.unwrap();
    let (_, out) = run(&src, &opts()).await;
    let n = out.unwrap().migrated;
    assert!(n > 10, "{n}");
    n
}

fn write(root: &Path, key: &str, bytes: &[u8]) {
    let path = root.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn symlink(target: &Path, root: &Path, key: &str) {
    let path = root.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, path).unwrap();
}

/// Every shard reason expected, by name.
fn reasons(pairs: &[(&'static str, u64)]) -> BTreeMap<&'static str, u64> {
    pairs.iter().copied().collect()
}

#[tokio::test]
async fn dir_sources_read_nothing_outside_the_directory() {
    let want_good = good_alone().await;
    let outside = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    let root = bucket.path();
    // Outside the root: records that would migrate if read.
    write(outside.path(), "000000040-out.json", &shard("outside-"));
    write(outside.path(), "000000060-x.json", &shard("outside-dir-"));
    write(
        outside.path(),
        "etc/000000090-x.json",
        &shard("outside-dotdot-"),
    );

    write(root, "affine/results/000000020-good.json", &shard("good-"));
    symlink(
        &outside.path().join("000000040-out.json"),
        root,
        "affine/results/000000040-link.json",
    );
    symlink(outside.path(), root, "affine/linked");
    symlink(
        Path::new("/dev/zero"),
        root,
        "affine/results/000000080-zero.json",
    );
    let fifo = root.join("affine/results/000000100-fifo.json");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    write(
        root,
        "affine/results/000000120-big.json",
        &vec![b' '; (4 << 20) + 1],
    );
    // A symlink that stays inside the root is followed.
    symlink(
        &root.join("affine/results/000000020-good.json"),
        root,
        "affine/results/000000140-alias.json",
    );
    let keys = [
        "affine/results/000000020-good.json",
        "affine/results/000000040-link.json",
        "affine/linked/000000060-x.json",
        "affine/results/000000080-zero.json",
        "affine/results/000000100-fifo.json",
        "affine/results/000000120-big.json",
        "affine/results/000000140-alias.json",
        // Hostile keys, never turned into paths.
        "affine/results/../../../outside/etc/000000090-x.json",
        "affine/results/%2e%2e/%2e%2e/000000160-x.json",
        "affine\\..\\..\\000000180-x.json",
        "/etc/000000200-x.json",
        "file:///etc/000000220-x.json",
    ];
    write(
        root,
        "affine/index.json",
        &serde_json::to_vec(&keys).unwrap(),
    );
    let src = Source::open(&format!("dir://{}", root.display()))
        .await
        .unwrap();
    let (_, out) = run(&src, &opts()).await;
    let summary = out.unwrap();
    assert_eq!(
        summary.shards_skipped,
        reasons(&[
            ("outside_source", 3),
            ("not_a_file", 1),
            ("too_large", 1),
            ("unsafe_key", 5),
        ]),
        "{:?}",
        summary.skipped_shards
    );
    // The good shard, and its alias inside the root (the same records:
    // duplicates), and nothing from outside.
    assert_eq!(summary.shards_read, 2);
    assert_eq!(summary.migrated, want_good);

    // An index that is a link out of the root ends the run: nothing to migrate.
    let other = tempfile::tempdir().unwrap();
    write(
        outside.path(),
        "index.json",
        &serde_json::to_vec(&keys[..1]).unwrap(),
    );
    symlink(
        &outside.path().join("index.json"),
        other.path(),
        "affine/index.json",
    );
    let src = Source::open(other.path().to_str().unwrap()).await.unwrap();
    let (_, out) = run(&src, &opts()).await;
    let err = out.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert!(err.to_string().contains("outside_source"), "{err}");
    // An index linked to a device is refused the same way, unread.
    let zero = tempfile::tempdir().unwrap();
    symlink(Path::new("/dev/zero"), zero.path(), "affine/index.json");
    let src = Source::open(zero.path().to_str().unwrap()).await.unwrap();
    let (_, out) = run(&src, &opts()).await;
    assert!(matches!(out, Err(Error::InvalidInput { .. })), "{out:?}");
}

/// What a route of the test server answers.
enum Reply {
    Body(Vec<u8>),
    Redirect(String),
    /// A chunked body that never ends.
    Endless,
    NotFound,
}

/// A one-thread-per-connection HTTP/1.1 server on 127.0.0.1 that logs
/// every request path.
struct Server {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    /// Set when a client hung up on the endless body.
    hung_up: Arc<AtomicBool>,
}

impl Server {
    fn start(route: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let hung_up = Arc::new(AtomicBool::new(false));
        let route = Arc::new(route);
        let (l, h) = (log.clone(), hung_up.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (l, h, route) = (l.clone(), h.clone(), route.clone());
                std::thread::spawn(move || serve(conn, &l, &h, &*route));
            }
        });
        Server { addr, log, hung_up }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        let mut v = self.log.lock().unwrap().clone();
        v.sort();
        v
    }
}

fn serve(
    mut conn: TcpStream,
    log: &Mutex<Vec<String>>,
    hung_up: &AtomicBool,
    route: &(dyn Fn(&str) -> Reply + Send + Sync),
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head);
    let path = text.split_whitespace().nth(1).unwrap_or("").to_string();
    log.lock().unwrap().push(path.clone());
    let _ = match route(&path) {
        Reply::Body(b) => {
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                b.len()
            );
            conn.write_all(&b)
        }
        Reply::Redirect(to) => write!(
            conn,
            "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        Reply::NotFound => write!(
            conn,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        Reply::Endless => {
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            );
            let chunk = "{\"signature\":\"x\"},".repeat(4096);
            let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
            let _ = write!(conn, "1\r\n[\r\n");
            loop {
                if conn.write_all(framed.as_bytes()).is_err() {
                    hung_up.store(true, Ordering::SeqCst);
                    break;
                }
            }
            Ok(())
        }
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sources_follow_no_redirect_and_no_hostile_key_and_cap_every_body() {
    let want_good = good_alone().await;
    // Another host (another origin): must never be asked for anything.
    let other = Server::start(|_| Reply::Body(shard("other-host-")));
    let other_url = other.url("/bucket/affine/results/000000020-good.json");
    let keys = vec![
        "affine/results/000000020-good.json".to_string(),
        "affine/results/000000040-to-other-host.json".to_string(),
        "affine/results/000000060-to-other-path.json".to_string(),
        "affine/results/000000080-endless.json".to_string(),
        "affine/results/%2e%2e/%2e%2e/outside/000000100-x.json".to_string(),
        "affine/results/..\\..\\outside\\000000120-x.json".to_string(),
        "affine/../../outside/000000140-x.json".to_string(),
        format!("{}/000000160-x.json", other.url("/outside")),
        "/outside/000000180-x.json".to_string(),
    ];
    let index = serde_json::to_vec(&keys).unwrap();
    let server = Server::start(move |path| match path {
        "/bucket/affine/index.json" => Reply::Body(index.clone()),
        "/bucket/affine/results/000000020-good.json" => Reply::Body(shard("good-")),
        "/bucket/affine/results/000000040-to-other-host.json" => Reply::Redirect(other_url.clone()),
        "/bucket/affine/results/000000060-to-other-path.json" => {
            Reply::Redirect("/outside/000000060-x.json".to_string())
        }
        "/bucket/affine/results/000000080-endless.json" => Reply::Endless,
        "/outside/000000060-x.json" => Reply::Body(shard("other-path-")),
        _ => Reply::NotFound,
    });
    let src = Source::open(&server.url("/bucket")).await.unwrap();
    let (_, out) = run(&src, &opts()).await;
    let summary = out.unwrap();
    assert_eq!(
        summary.shards_skipped,
        reasons(&[("redirected", 2), ("too_large", 1), ("unsafe_key", 5)]),
        "{:?}",
        summary.skipped_shards
    );
    assert_eq!(summary.migrated, want_good);
    assert_eq!(
        server.requests(),
        [
            "/bucket/affine/index.json",
            "/bucket/affine/results/000000020-good.json",
            "/bucket/affine/results/000000040-to-other-host.json",
            "/bucket/affine/results/000000060-to-other-path.json",
            "/bucket/affine/results/000000080-endless.json",
        ],
        "only the index and the plain keys were asked for"
    );
    assert!(other.requests().is_empty(), "{:?}", other.requests());
    // The endless body was dropped (the client hung up), not read to the end.
    for _ in 0..500 {
        if server.hung_up.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        server.hung_up.load(Ordering::SeqCst),
        "the client never hung up"
    );

    // An index that never ends is refused at its cap, with what to do.
    let endless = Server::start(|_| Reply::Endless);
    let src = Source::open(&endless.url("/bucket")).await.unwrap();
    let (_, out) = run(
        &src,
        &MigrateOptions {
            max_index_bytes: 1 << 20,
            ..opts()
        },
    )
    .await;
    let err = out.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert!(err.to_string().contains("--max-index-bytes"), "{err}");
}
