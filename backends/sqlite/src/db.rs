//! Connections, pragmas, the schema and its migrations, and error mapping.
//!
//! One writer connection sits behind a std `Mutex`; reads of a file database
//! use a small pool of extra connections (WAL lets them run beside the
//! writer). An in-memory database is private to its one connection, so
//! reads use the writer. Every call runs on tokio's blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use affine_db_core::schema::{AttrType, Table};
use affine_db_core::{Error, Result};
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// How long a connection waits for a lock held by another connection.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Read connections kept for reuse.
const MAX_IDLE_READERS: usize = 4;

/// Maps rusqlite results onto the core error.
pub(crate) trait SqlResult<T> {
    /// Converts the error: busy/locked are [`Error::Unavailable`] (transient),
    /// everything else [`Error::Backend`].
    fn db(self) -> Result<T>;
}

impl<T> SqlResult<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T> {
        self.map_err(sql_error)
    }
}

/// Maps one rusqlite error onto the core error (the store is named by
/// [`Db`], which wraps every call): busy/locked are transient
/// ([`Error::Unavailable`]), a missing table is [`Error::MissingTable`],
/// everything else is a permanent [`Error::Backend`]. The rusqlite error is
/// kept as the source.
pub(crate) fn sql_error(e: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(_, Some(msg)) = &e {
        if let Some(table) = msg.strip_prefix("no such table: ") {
            return Error::missing_table(table.trim_start_matches("main."), "");
        }
    }
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            Error::unavailable_from("the database is locked by another connection", e)
        }
        _ => Error::backend_from("sqlite", e),
    }
}

/// Quotes an identifier (table, column or index name).
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The SQL column type of an attribute type.
pub(crate) fn column_type(ty: AttrType) -> &'static str {
    match ty {
        AttrType::S | AttrType::M | AttrType::Any => "TEXT",
        AttrType::Int | AttrType::Bool => "INTEGER",
        AttrType::Float => "REAL",
        AttrType::B => "BLOB",
    }
}

/// The connections of one database.
#[derive(Debug)]
pub(crate) struct Db {
    writer: Arc<Mutex<Connection>>,
    /// Idle read connections; `None` for an in-memory database.
    readers: Option<Arc<Mutex<Vec<Connection>>>>,
    path: Option<PathBuf>,
    /// The store as a URL (`sqlite://PATH`, `sqlite::memory:`), named by every error.
    name: String,
}

fn join_error(e: tokio::task::JoinError) -> Error {
    Error::backend_from("sqlite worker thread failed", e)
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    conn.pragma_update(None, "foreign_keys", false).db()?;
    Ok(())
}

impl Db {
    /// Opens (creating if needed) the file at `path`, in WAL mode, and
    /// brings its schema to [`SCHEMA_VERSION`].
    pub(crate) async fn open(path: &Path) -> Result<Db> {
        let path = path.to_path_buf();
        let p = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection> {
            let conn = Connection::open(&p).map_err(|e| {
                Error::backend_from(format!("cannot open sqlite database {}", p.display()), e)
            })?;
            configure(&conn)?;
            let mode: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .db()?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(Error::backend(format!(
                    "sqlite: {} could not switch to WAL mode (journal_mode is {mode})",
                    p.display()
                )));
            }
            conn.pragma_update(None, "synchronous", "NORMAL").db()?;
            Ok(conn)
        })
        .await
        .map_err(join_error)??;
        let db = Db {
            writer: Arc::new(Mutex::new(conn)),
            readers: Some(Arc::new(Mutex::new(Vec::new()))),
            name: format!("sqlite://{}", path.display()),
            path: Some(path),
        };
        db.write(migrate).await?;
        Ok(db)
    }

    /// A private in-memory database on one connection.
    pub(crate) async fn open_in_memory() -> Result<Db> {
        let conn = tokio::task::spawn_blocking(|| -> Result<Connection> {
            let conn = Connection::open_in_memory().db()?;
            configure(&conn)?;
            Ok(conn)
        })
        .await
        .map_err(join_error)??;
        let db = Db {
            writer: Arc::new(Mutex::new(conn)),
            readers: None,
            path: None,
            name: "sqlite::memory:".to_string(),
        };
        db.write(migrate).await?;
        Ok(db)
    }

    /// The file, if any.
    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The store as a URL, as errors name it.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Runs `f` on the writer connection, on the blocking pool.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(join_error)
        .and_then(|r| r)
        .map_err(|e| e.in_store(&self.name))
    }

    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction on the writer:
    /// committed when `f` succeeds, rolled back when it fails.
    pub(crate) async fn write_tx<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T> + Send + 'static,
    {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .db()?;
            let out = f(&tx)?;
            tx.commit().db()?;
            Ok(out)
        })
        .await
    }

    /// Runs `f` inside one read transaction (a consistent snapshot), on a
    /// read connection (the writer for an in-memory database).
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let run = move |conn: &mut Connection| -> Result<T> {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .db()?;
            let out = f(&tx)?;
            tx.commit().db()?;
            Ok(out)
        };
        let (Some(readers), Some(path)) = (self.readers.clone(), self.path.clone()) else {
            return self.write(run).await;
        };
        tokio::task::spawn_blocking(move || {
            let idle = readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut conn = match idle {
                Some(c) => c,
                None => open_reader(&path)?,
            };
            let out = run(&mut conn);
            let mut pool = readers.lock().unwrap_or_else(|e| e.into_inner());
            if pool.len() < MAX_IDLE_READERS && conn.is_autocommit() {
                pool.push(conn);
            }
            out
        })
        .await
        .map_err(join_error)
        .and_then(|r| r)
        .map_err(|e| e.in_store(&self.name))
    }
}

fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| {
        Error::backend_from(format!("cannot open sqlite database {}", path.display()), e)
    })?;
    configure(&conn)?;
    conn.pragma_update(None, "query_only", true).db()?;
    Ok(conn)
}

/// The `CREATE TABLE` statement of `table`: `pk`, `sk`, one column per attribute.
pub(crate) fn create_table_sql(table: Table) -> String {
    let def = table.def();
    let mut cols = vec![
        "\"pk\" TEXT NOT NULL".to_string(),
        "\"sk\" TEXT NOT NULL".to_string(),
    ];
    cols.extend(
        def.attrs
            .iter()
            .map(|a| format!("{} {}", ident(a.name), column_type(a.ty))),
    );
    cols.push("PRIMARY KEY (\"pk\", \"sk\")".into());
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\n  {}\n)",
        ident(table.name()),
        cols.join(",\n  ")
    )
}

/// The `CREATE INDEX` statements of `table`: its DynamoDB indexes (same
/// names), one on the TTL attribute for purges, and one ordering a
/// miner's samples by time.
pub(crate) fn create_index_sql(table: Table) -> Vec<String> {
    let def = table.def();
    let mut out: Vec<String> = def
        .indexes
        .iter()
        .map(|ix| {
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} ({}, {})",
                ident(ix.name),
                ident(table.name()),
                ident(ix.hash),
                ident(ix.range)
            )
        })
        .collect();
    if table == Table::SampleResults {
        // A miner's samples in `miner_order`, for reads by miner and for
        // deletes before a time, without sorting the partition.
        out.push(format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} (\"pk\", \"timestamp\", \"env\", \"sample_id\")",
            ident("sample_results-miner-time-index"),
            ident(table.name())
        ));
    }
    if let Some(ttl) = def.ttl {
        out.push(format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
            ident(&format!("{}-ttl-index", table.name())),
            ident(table.name()),
            ident(ttl)
        ));
    }
    out
}

/// Creates the seven tables and their indexes where missing.
pub(crate) fn create_tables(conn: &Connection) -> Result<()> {
    for table in Table::ALL {
        conn.execute_batch(&create_table_sql(table)).db()?;
        for sql in create_index_sql(table) {
            conn.execute_batch(&sql).db()?;
        }
    }
    Ok(())
}

/// Drops the seven tables (and their indexes).
pub(crate) fn drop_tables(conn: &Connection) -> Result<()> {
    for table in Table::ALL {
        conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", ident(table.name())))
            .db()?;
    }
    Ok(())
}

/// The schema version stored in the file.
pub(crate) fn schema_version(conn: &Connection) -> Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0)).db()
}

/// One migration step: brings a database at `from` to `from + 1`.
fn migrate_step(conn: &Connection, from: i64) -> Result<()> {
    match from {
        // 0 → 1: the seven tables with their indexes.
        0 => create_tables(conn),
        v => Err(Error::backend(format!(
            "sqlite: no migration from schema version {v}"
        ))),
    }
}

/// Brings the schema to [`SCHEMA_VERSION`], one step per version, each in its
/// own transaction; refuses a database written by a newer build. Then makes
/// sure every table exists.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db()?;
        let version = schema_version(&tx)?;
        if version > SCHEMA_VERSION {
            return Err(Error::backend(format!(
                "sqlite: the database has schema version {version}, newer than the version \
                 {SCHEMA_VERSION} this build supports; use a newer affine-db"
            )));
        }
        if version < 0 {
            return Err(Error::corrupt(format!(
                "sqlite: the database has schema version {version}"
            )));
        }
        if version == SCHEMA_VERSION {
            create_tables(&tx)?;
            tx.commit().db()?;
            return Ok(());
        }
        migrate_step(&tx, version)?;
        tx.pragma_update(None, "user_version", version + 1).db()?;
        tx.commit().db()?;
    }
}
