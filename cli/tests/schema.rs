//! `check` and `init` against a drifted live schema, through the binary:
//! `check` reports each difference (text and `--json`, exit 1) and changes
//! nothing, `init` prints each repair or refuses naming the table and the
//! difference, `test` fails on a missing index, and a read through a
//! missing DynamoDB index names it.

mod common;

use std::process::Output;

use aws_sdk_dynamodb::types::{DeleteGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate};
use common::Db;
use serde_json::Value;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sql(db: &Db, statements: &str) {
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    conn.execute_batch(statements).unwrap();
}

fn check_json(out: &Output) -> Value {
    serde_json::from_str(&stdout(out)).expect("check --json prints JSON")
}

#[test]
fn sqlite_check_reports_and_init_repairs_a_dropped_index() {
    let db = Db::new();
    db.ok(&["init"]);
    let out = db.run(&["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("schema matches the declared one"),
        "{}",
        stdout(&out)
    );
    let json = check_json(&db.run(&["check", "--json"]));
    assert_eq!(json["matches"], Value::Bool(true));
    assert_eq!(json["differences"], Value::Array(vec![]));

    sql(&db, "DROP INDEX \"env-timestamp-index\"");
    let out = db.run(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains(
            "drift table sample_results: index env-timestamp-index is missing \
             (`affine-db init` repairs this)"
        ),
        "{}",
        stdout(&out)
    );
    let out = db.run(&["check", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json = check_json(&out);
    assert_eq!(json["matches"], Value::Bool(false));
    assert_eq!(
        json["differences"],
        serde_json::json!([{
            "table": "sample_results",
            "kind": "missing_index",
            "repair": "init",
            "message": "table sample_results: index env-timestamp-index is missing",
        }])
    );
    // `test` inits first (which repairs it), so it passes and says so.
    let out = db.ok(&["init"]);
    assert!(
        out.contains("created index env-timestamp-index on sample_results"),
        "{out}"
    );
    assert!(out.contains("(1 repair to an existing table)"), "{out}");
    assert!(db.run(&["check"]).status.success());
}

#[test]
fn sqlite_init_refuses_an_extra_column_and_changes_nothing() {
    let db = Db::new();
    db.ok(&["init"]);
    sql(
        &db,
        "ALTER TABLE scores ADD COLUMN bogus TEXT; DROP INDEX \"status-created-index\"",
    );
    let before = check_json(&db.run(&["check", "--json"]));
    let kinds: Vec<&str> = before["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["missing_index", "extra_column"]);
    assert_eq!(before["differences"][1]["repair"], "refused");
    let out = db.run(&["init"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: schema drift: table scores: column bogus is not declared"),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(stdout(&out), "");
    assert_eq!(check_json(&db.run(&["check", "--json"])), before);
}

#[test]
fn sqlite_check_reports_file_marks_it_would_refuse_to_open() {
    let db = Db::new();
    db.ok(&["init"]);
    sql(&db, "PRAGMA user_version = 9; PRAGMA application_id = 1");
    let out = db.run(&["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("drift application_id is 0x00000001, declared 0x41464442"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "drift user_version is 9, this build's schema version is {}",
            affine_db::sqlite::SCHEMA_VERSION
        )),
        "{text}"
    );
    let json = check_json(&db.run(&["check", "--json"]));
    assert_eq!(json["differences"][0]["table"], Value::Null);
    assert_eq!(json["differences"][0]["kind"], "application_id");
    assert_eq!(json["differences"][1]["kind"], "user_version");
    // init refuses the file before changing anything.
    let out = db.run(&["init"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(check_json(&db.run(&["check", "--json"])), json);
}

#[test]
fn check_of_a_missing_sqlite_file_creates_nothing() {
    let db = Db::new();
    let out = db.run(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    assert!(!db.path.exists());
}

fn run_dynamodb(url: &str, args: &[&str]) -> Output {
    common::command()
        .arg("--db")
        .arg(url)
        .args(args)
        .output()
        .expect("run affine-db")
}

fn sdk_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "affine-test",
            "affine-test",
            None,
            None,
            "affine-db-tests",
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// The scenario: GSIs deleted by hand; `check` says so, reads name
/// the index, `init` recreates them and says so, `test` then passes.
#[test]
fn dynamodb_deleted_indexes_are_reported_named_and_recreated() {
    let endpoint = common::dynamodb_endpoint();
    let url = common::dynamodb_url(&endpoint);
    let prefix = url
        .split("prefix=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .unwrap()
        .to_string();
    let out = run_dynamodb(&url, &["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(run_dynamodb(&url, &["check"]).status.success());

    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = sdk_client(&endpoint);
    for (table, index) in [
        ("sample_results", "env-timestamp-index"),
        ("scores", "latest-block-index"),
    ] {
        rt.block_on(
            client
                .update_table()
                .table_name(format!("{prefix}_{table}"))
                .global_secondary_index_updates(
                    GlobalSecondaryIndexUpdate::builder()
                        .delete(
                            DeleteGlobalSecondaryIndexAction::builder()
                                .index_name(index)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .send(),
        )
        .unwrap();
    }

    let out = run_dynamodb(&url, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "drift table {prefix}_sample_results: index env-timestamp-index is missing"
        )),
        "{text}"
    );
    assert!(
        text.contains("2 differences from the declared schema"),
        "{text}"
    );
    let json: Value =
        serde_json::from_str(&stdout(&run_dynamodb(&url, &["check", "--json"]))).unwrap();
    assert_eq!(json["differences"].as_array().unwrap().len(), 2);
    assert_eq!(json["differences"][1]["table"], format!("{prefix}_scores"));

    let out = run_dynamodb(&url, &["scores", "latest"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "index latest-block-index of table {prefix}_scores does not exist in DynamoDB; \
             run `affine-db init` to create it"
        )),
        "{}",
        stderr(&out)
    );

    let out = run_dynamodb(&url, &["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "created index env-timestamp-index on {prefix}_sample_results"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "created index latest-block-index on {prefix}_scores"
        )),
        "{text}"
    );
    assert!(text.contains("(2 repairs to existing tables)"), "{text}");
    assert!(run_dynamodb(&url, &["check"]).status.success());
    let out = run_dynamodb(&url, &["test"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("ok   scores: latest scores through latest-block-index"),
        "{}",
        stdout(&out)
    );
    let out = run_dynamodb(&url, &["scores", "latest"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
