//! The live schema of a SQLite file held to the declared DDL: each kind of
//! drift is made with rusqlite directly, `check` (the backend's and
//! [`check_file`]) reports it, `init` repairs it (a missing table, column
//! or index) or refuses it and changes nothing, and the file marks
//! (`application_id`, `user_version`) are reported without being refused.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use affine_db_core::conformance::Harness;
use affine_db_core::drift::{Drift, Repair};
use affine_db_core::handles::Tables;
use affine_db_core::schema::STATUS_CREATED_INDEX;
use affine_db_core::{Admin, Error, PendingOrder, TaskStore};
use affine_db_sqlite::{
    check_file, open_tables, open_tables_in_memory, OpenMode, APPLICATION_ID, SCHEMA_VERSION,
};

struct File {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// A file with the seven tables as this build creates them.
async fn file() -> File {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("affine.db");
    drop(
        open_tables(&path, Harness::new_clock(), OpenMode::Create)
            .await
            .unwrap(),
    );
    File { _dir: dir, path }
}

fn sql(path: &Path, statements: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(statements).unwrap();
}

async fn open(path: &Path) -> Arc<Tables> {
    open_tables(path, Harness::new_clock(), OpenMode::ReadWrite)
        .await
        .unwrap()
}

async fn init_reporting(b: &Tables) -> (Result<Vec<Drift>, Error>, Vec<String>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let out = b
        .init_with(&move |l: &str| sink.lock().unwrap().push(l.to_string()))
        .await;
    let lines = lines.lock().unwrap().clone();
    (out, lines)
}

#[tokio::test]
async fn a_new_file_matches() {
    let f = file().await;
    assert_eq!(check_file(&f.path).await.unwrap(), vec![]);
    assert_eq!(open(&f.path).await.check().await.unwrap(), vec![]);
    let memory = open_tables_in_memory(Harness::new_clock()).await.unwrap();
    assert_eq!(memory.check().await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_dropped_index_is_reported_and_created_by_init() {
    let f = file().await;
    sql(&f.path, &format!("DROP INDEX \"{STATUS_CREATED_INDEX}\""));
    let want = vec![Drift::MissingIndex {
        table: "task_queue".into(),
        index: STATUS_CREATED_INDEX.into(),
    }];
    assert_eq!(check_file(&f.path).await.unwrap(), want);
    let b = open(&f.path).await;
    // A writing open does not repair it behind init's back.
    assert_eq!(b.check().await.unwrap(), want);
    // SQLite answers without the index (by scanning): the read works.
    b.get_pending_tasks(5, PendingOrder::Priority)
        .await
        .unwrap();
    let (out, lines) = init_reporting(&b).await;
    assert_eq!(out.unwrap(), want);
    assert_eq!(
        lines,
        vec![format!(
            "created index {STATUS_CREATED_INDEX} on task_queue"
        )]
    );
    assert_eq!(b.check().await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_dropped_column_is_added_back_by_init() {
    let f = file().await;
    sql(&f.path, "ALTER TABLE task_queue DROP COLUMN last_error");
    let want = vec![Drift::MissingColumn {
        table: "task_queue".into(),
        column: "last_error".into(),
    }];
    assert_eq!(check_file(&f.path).await.unwrap(), want);
    let b = open(&f.path).await;
    let (out, lines) = init_reporting(&b).await;
    assert_eq!(out.unwrap(), want);
    assert_eq!(
        lines,
        vec!["added column last_error to task_queue".to_string()]
    );
    assert_eq!(b.check().await.unwrap(), vec![]);
}

#[tokio::test]
async fn an_extra_column_is_refused_and_nothing_changes() {
    let f = file().await;
    sql(
        &f.path,
        &format!(
            "ALTER TABLE scores ADD COLUMN bogus TEXT; DROP INDEX \"{STATUS_CREATED_INDEX}\"; \
             DROP TABLE system_config"
        ),
    );
    let drifts = check_file(&f.path).await.unwrap();
    assert_eq!(
        drifts.iter().map(|d| d.kind()).collect::<Vec<_>>(),
        vec!["missing_index", "extra_column", "missing_table"],
        "{drifts:?}"
    );
    assert_eq!(drifts[1].repair(), Repair::Refused);
    assert_eq!(
        drifts[1].to_string(),
        "table scores: column bogus is not declared"
    );
    let b = open(&f.path).await;
    let (out, lines) = init_reporting(&b).await;
    let err = out.unwrap_err();
    assert!(matches!(err, Error::SchemaDrift(_)), "{err:?}");
    assert!(err.to_string().contains("column bogus"), "{err}");
    assert!(lines.is_empty(), "{lines:?}");
    // The index and the table were not created either.
    assert_eq!(b.check().await.unwrap(), drifts);
}

#[tokio::test]
async fn another_primary_key_or_column_type_is_refused() {
    let f = file().await;
    sql(
        &f.path,
        "DROP TABLE data_retention_policy;
         CREATE TABLE data_retention_policy (pk TEXT PRIMARY KEY, sk TEXT, miner_hotkey TEXT,
           is_protected INTEGER, protection_reason TEXT, retention_days TEXT,
           last_cleanup_at INTEGER, protected_since INTEGER);",
    );
    let drifts = check_file(&f.path).await.unwrap();
    assert_eq!(
        drifts,
        vec![
            Drift::KeySchema {
                table: "data_retention_policy".into(),
                want: "PRIMARY KEY (pk, sk)".into(),
                got: "PRIMARY KEY (pk)".into(),
            },
            Drift::ColumnType {
                table: "data_retention_policy".into(),
                column: "retention_days".into(),
                want: "INTEGER".into(),
                got: "TEXT".into(),
            },
        ]
    );
    let b = open(&f.path).await;
    let err = b.init().await.unwrap_err();
    assert!(matches!(err, Error::SchemaDrift(_)), "{err:?}");
    assert!(err.to_string().contains("PRIMARY KEY (pk)"), "{err}");
}

#[tokio::test]
async fn a_wrong_user_version_is_reported() {
    let f = file().await;
    sql(&f.path, "PRAGMA user_version = 7");
    let newer = vec![Drift::UserVersion {
        want: SCHEMA_VERSION,
        got: 7,
    }];
    assert_eq!(check_file(&f.path).await.unwrap(), newer);
    assert_eq!(newer[0].repair(), Repair::Refused);
    // A writing open refuses a newer build's file, changing nothing.
    let err = open_tables(&f.path, Harness::new_clock(), OpenMode::ReadWrite)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err:?}");
    assert_eq!(check_file(&f.path).await.unwrap(), newer);

    sql(&f.path, "PRAGMA user_version = 0");
    let older = vec![Drift::UserVersion {
        want: SCHEMA_VERSION,
        got: 0,
    }];
    assert_eq!(check_file(&f.path).await.unwrap(), older);
    assert_eq!(older[0].repair(), Repair::InPlace);
    // A writing open migrates it.
    let b = open(&f.path).await;
    b.init().await.unwrap();
    assert_eq!(check_file(&f.path).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_wrong_application_id_is_reported_not_refused_by_check() {
    let f = file().await;
    sql(&f.path, "PRAGMA application_id = 305419896");
    let foreign = vec![Drift::ApplicationId {
        want: APPLICATION_ID,
        got: 0x1234_5678,
    }];
    assert_eq!(check_file(&f.path).await.unwrap(), foreign);
    assert_eq!(foreign[0].repair(), Repair::Refused);
    let err = open_tables(&f.path, Harness::new_clock(), OpenMode::ReadWrite)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");

    sql(&f.path, "PRAGMA application_id = 0");
    let unmarked = check_file(&f.path).await.unwrap();
    assert_eq!(unmarked[0].repair(), Repair::InPlace);
    // A writing open marks an earlier build's file.
    drop(open(&f.path).await);
    assert_eq!(check_file(&f.path).await.unwrap(), vec![]);
}

#[tokio::test]
async fn check_file_changes_nothing_and_names_a_missing_file() {
    let f = file().await;
    sql(
        &f.path,
        "DROP TABLE scores; PRAGMA wal_checkpoint(TRUNCATE);",
    );
    let before = std::fs::read(&f.path).unwrap();
    let drifts = check_file(&f.path).await.unwrap();
    assert_eq!(
        drifts,
        vec![Drift::MissingTable {
            table: "scores".into()
        }]
    );
    assert_eq!(std::fs::read(&f.path).unwrap(), before);
    let err = check_file(f.path.with_file_name("nope.db"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}
