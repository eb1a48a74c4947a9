//! Error lines from the shell (issue 12): one line that names the store or
//! file and says what to do, with permanent and transient failures told
//! apart, on a SQLite file and on DynamoDB (the emulator, or a loopback
//! server answering like a broken one).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};

use common::{dynamodb_endpoint, Kind, Target};

/// A loopback server answering every request with `status` and `body`.
fn answering(status: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || reply(conn, status, body));
        }
    });
    format!("http://{addr}")
}

fn reply(mut conn: TcpStream, status: &str, body: &str) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
    }
    let mut request = vec![0; len];
    let _ = reader.read_exact(&mut request);
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn dynamo_at(endpoint: &str) -> Target {
    Target::at(format!(
        "dynamodb://?prefix=errs&region=us-east-1&endpoint={endpoint}"
    ))
}

#[test]
fn broken_dynamodb_answers_say_what_came_back() {
    // An error with no code and no message: permanent, and says the status.
    let line = dynamo_at(&answering("400 Bad Request", "")).fails(1, &["config", "list"]);
    assert!(line.contains("HTTP 400"), "{line}");
    assert!(line.contains("errs_system_config"), "{line}");
    assert!(!line.contains("retry"), "{line}");
    // A server error: transient, retry.
    let line = dynamo_at(&answering("500 Internal Server Error", "")).fails(1, &["miners"]);
    assert!(line.contains("HTTP 500"), "{line}");
    assert!(line.contains("retry"), "{line}");
    // A body that is not a DynamoDB answer: says so, with the parser's detail.
    let line = dynamo_at(&answering("200 OK", "this is not json")).fails(1, &["miners"]);
    assert!(line.contains("DynamoDB"), "{line}");
    let detail = line.split("DynamoDB").nth(1).unwrap_or("");
    assert!(
        detail.trim_matches(|c: char| !c.is_alphanumeric()).len() > 3,
        "{line}"
    );
    // Nothing listening: transient.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        format!("http://{addr}")
    };
    let line = dynamo_at(&closed).fails(1, &["stats"]);
    assert!(line.contains("retry"), "{line}");
}

/// Deletes one table on the emulator with a bare DeleteTable request (moto
/// does not check signatures).
fn delete_table(endpoint: &str, table: &str) {
    let addr = endpoint.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).expect("connect to the emulator");
    let body = format!("{{\"TableName\": \"{table}\"}}");
    write!(
        conn,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.0\r\n\
         X-Amz-Target: DynamoDB_20120810.DeleteTable\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=affine-test/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn a_half_reset_namespace_says_run_init() {
    for t in Target::both_ready() {
        t.ok(&["config", "set", "n", "1", "--type", "int"]);
        match t.kind {
            Kind::Sqlite => {
                let out = Command::new("python3")
                    .args([
                        "-c",
                        "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); \
                         c.execute('drop table system_config'); c.commit()",
                        t.path.as_ref().unwrap().to_str().unwrap(),
                    ])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{out:?}");
            }
            Kind::Dynamo => {
                let prefix = t
                    .url
                    .split("prefix=")
                    .nth(1)
                    .unwrap()
                    .split('&')
                    .next()
                    .unwrap();
                delete_table(&dynamodb_endpoint(), &format!("{prefix}_system_config"));
            }
        }
        let line = t.fails(1, &["config", "list"]);
        assert!(line.contains("system_config"), "{line}");
        assert!(line.contains("affine-db init"), "{line}");
        match t.kind {
            Kind::Sqlite => assert!(line.contains(t.path.as_ref().unwrap().to_str().unwrap())),
            Kind::Dynamo => assert!(line.contains("DynamoDB"), "{line}"),
        }
        // Other tables still read; init heals.
        assert!(t.json(&["miners"]).as_array().unwrap().is_empty());
        t.ok(&["init"]);
        assert_eq!(t.json(&["config", "list"]), serde_json::json!([]));
    }
}

#[test]
fn sqlite_file_problems_name_the_file_and_say_what_to_do() {
    let t = Target::sqlite();
    // A directory given as the database: permanent, names it, no "retry".
    let dir = t.dir().join("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let d = Target::at(format!("sqlite://{}", dir.display()));
    for args in [&["config", "list"][..], &["init"]] {
        let line = d.fails(1, args);
        assert!(line.contains(dir.to_str().unwrap()), "{line}");
        assert!(line.contains("is a directory"), "{line}");
        assert!(!line.contains("retry"), "{line}");
    }
    // A locked database: transient, names the file, says retry.
    t.ok(&["init"]);
    let path = t.path.clone().unwrap();
    let mut lock: Child = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); \
             c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(60)",
            path.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(lock.stdout.as_mut().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let out = t.run(&["config", "set", "n", "1", "--type", "int"]);
    let _ = lock.kill();
    let _ = lock.wait();
    let lines = common::stderr_lines(&out);
    assert_eq!(out.status.code(), Some(1), "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(path.to_str().unwrap()), "{lines:?}");
    assert!(lines[0].contains("retry"), "{lines:?}");
    // Reads go on while another process writes (WAL).
    t.ok(&["config", "list"]);
}
