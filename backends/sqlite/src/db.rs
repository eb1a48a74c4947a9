//! Connections, pragmas, the schema and its migrations, the file's
//! identity, and error mapping.
//!
//! One writer connection sits behind a std `Mutex`; reads of a file database
//! use a small pool of extra connections (WAL lets them run beside the
//! writer). An in-memory database is private to its one connection, so
//! reads use the writer. Every call runs on tokio's blocking pool.
//!
//! Opening ([`OpenMode`]): only [`OpenMode::Create`] creates a missing
//! file; [`OpenMode::ReadOnly`] opens the file read-only and changes
//! nothing in it (a read-only file, or a read-only mount through SQLite's
//! `immutable` open). Before anything is written, the file's identity is
//! checked: files this tool creates carry [`APPLICATION_ID`]; a file with
//! another application id, or (without one) with tables or other objects
//! that are not this tool's, is refused with [`Error::InvalidInput`] and
//! left as it is. An empty file is fine.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use affine_db_core::schema::{AttrType, Table};
use affine_db_core::tables::config::EXACT_JSON_ATTR;
use affine_db_core::{Error, Result};
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 3;

/// How long a connection waits for a lock held by another connection.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Read connections kept for reuse.
const MAX_IDLE_READERS: usize = 4;

/// The `PRAGMA application_id` of affine-db files (`AFDB` in ASCII), set
/// on every file this tool creates or migrates.
pub const APPLICATION_ID: i32 = 0x4146_4442;

/// How [`Db::open`] opens a database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpenMode {
    /// Read and write; a missing file is created, with its tables.
    #[default]
    Create,
    /// Read and write an existing file; a missing file is
    /// [`Error::NotFound`]. (A new or older file is brought to
    /// [`SCHEMA_VERSION`] with its tables; what is missing from a file at
    /// the current version is created by `init`.)
    ReadWrite,
    /// Read only: nothing in the file changes, and read-only files and
    /// mounts work. A missing file is [`Error::NotFound`]; a missing table
    /// is [`Error::MissingTable`].
    ReadOnly,
}

impl OpenMode {
    /// Whether the mode writes.
    pub fn writes(self) -> bool {
        self != OpenMode::ReadOnly
    }
}

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
        Some(ErrorCode::ReadOnly) => Error::backend_from(
            "the database is read-only (opened with mode=ro or for a read command, or the \
             file or its directory is not writable); use a writable file to change it",
            e,
        ),
        Some(ErrorCode::NotADatabase) => foreign("it is not a SQLite database"),
        Some(ErrorCode::DiskFull) => {
            Error::backend_from("the disk is full; free space and retry", e)
        }
        _ => Error::backend_from("sqlite", e),
    }
}

/// A path this process may not look at: permission denied, naming it.
fn inaccessible(path: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        Error::backend_from(
            format!(
                "permission denied: cannot access sqlite database {} (check the permissions \
                 of the file and of the directories above it)",
                path.display()
            ),
            e,
        )
    } else {
        Error::backend_from(
            format!("cannot access sqlite database {}", path.display()),
            e,
        )
    }
}

/// Why SQLite could not open `path` (for reading, or for writing when
/// `writes`): SQLite says only "unable to open database file", so a
/// permission problem is found by trying the file (or, for a new file, its
/// directory) the same way, and named with the path.
fn open_failure(path: &Path, writes: bool, e: rusqlite::Error) -> Error {
    match denied_why(path, writes) {
        Some(what) => Error::backend_from(
            format!("permission denied: {what}; check its permissions (or use another path)"),
            e,
        ),
        None => Error::backend_from(format!("cannot open sqlite database {}", path.display()), e),
    }
}

/// What permission is missing to open `path`, if one is.
fn denied_why(path: &Path, writes: bool) -> Option<String> {
    let denied = Some;
    let exists = std::fs::metadata(path).is_ok();
    if exists {
        let probe = std::fs::OpenOptions::new()
            .read(true)
            .write(writes)
            .open(path);
        if matches!(&probe, Err(io) if io.kind() == std::io::ErrorKind::PermissionDenied) {
            let how = if writes { "read and write" } else { "read" };
            return denied(format!(
                "cannot open sqlite database {} to {how} it",
                path.display()
            ));
        }
    } else if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        // Create and remove a file beside it: does the directory let us?
        let probe = dir.join(format!(".affine-db-probe-{}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
        {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
            }
            Err(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
                return denied(format!(
                    "cannot create sqlite database {}: the directory {} is not writable",
                    path.display(),
                    dir.display()
                ))
            }
            Err(_) => {}
        }
    }
    None
}

/// The refusal of a file that is not this tool's.
fn foreign(why: impl std::fmt::Display) -> Error {
    Error::invalid(
        "database",
        format!(
            "not an affine-db database: {why}; nothing was changed. Point --db at an \
             affine-db file, or at a new path to create one"
        ),
    )
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
    /// How the file was opened.
    mode: OpenMode,
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
    /// Opens the file at `path` in `mode`. Every mode first checks the
    /// file's identity (see the module docs) and refuses a foreign file
    /// before anything changes. The writing modes then switch the file to
    /// WAL and bring its schema to [`SCHEMA_VERSION`]; read-only checks the
    /// schema version only.
    pub(crate) async fn open(path: &Path, mode: OpenMode) -> Result<Db> {
        let path = path.to_path_buf();
        let name = format!("sqlite://{}", path.display());
        let p = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection> {
            if p.is_dir() {
                return Err(Error::backend(format!(
                    "{} is a directory, not a database file; point the store at a file \
                     inside it (e.g. {})",
                    p.display(),
                    p.join("affine.db").display()
                )));
            }
            let exists = match std::fs::metadata(&p) {
                Ok(_) => true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => return Err(inaccessible(&p, e)),
            };
            if mode != OpenMode::Create && !exists {
                return Err(Error::NotFound(format!(
                    "sqlite database {} does not exist; run `affine-db --db sqlite://{} init` \
                     to create it, or check the path",
                    p.display(),
                    p.display()
                )));
            }
            let conn = match mode {
                OpenMode::ReadOnly => open_read_only(&p)?,
                OpenMode::Create | OpenMode::ReadWrite => {
                    let conn = Connection::open(&p).map_err(|e| open_failure(&p, true, e))?;
                    configure(&conn)?;
                    conn
                }
            };
            check_identity(&conn)?;
            if mode == OpenMode::ReadOnly {
                check_version(&conn)?;
                return Ok(conn);
            }
            let journal: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .db()?;
            if !journal.eq_ignore_ascii_case("wal") {
                return Err(Error::backend(format!(
                    "sqlite: {} could not switch to WAL mode (journal_mode is {journal})",
                    p.display()
                )));
            }
            conn.pragma_update(None, "synchronous", "NORMAL").db()?;
            Ok(conn)
        })
        .await
        .map_err(join_error)?
        .map_err(|e| match e {
            // The refusal of a foreign file names the file first.
            Error::InvalidInput { field, reason } if field == "database" => {
                Error::invalid(field, format!("{name} is {reason}"))
            }
            e => e.in_store(&name),
        })?;
        let db = Db {
            writer: Arc::new(Mutex::new(conn)),
            // Read-only: one connection (which may be an `immutable` open
            // of a read-only mount) serves every read.
            readers: mode.writes().then(|| Arc::new(Mutex::new(Vec::new()))),
            name,
            path: Some(path),
            mode,
        };
        if mode.writes() {
            db.write(migrate).await?;
        }
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
            mode: OpenMode::Create,
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

    /// How the database was opened.
    pub(crate) fn mode(&self) -> OpenMode {
        self.mode
    }

    /// Runs `f` on the writer connection, on the blocking pool (a write
    /// may wait for another process's lock: it never holds up a worker).
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
        read_in_place(move || {
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
        .map_err(|e| e.in_store(&self.name))
    }
}

/// Runs the SQLite read `f` (on a read connection of a WAL file, which
/// never waits for a writer) without stalling other tasks: on a
/// multi-threaded runtime in place ([`tokio::task::block_in_place`]: the
/// worker hands its other tasks on and runs `f` itself, which saves the
/// hand-over to a pool thread and back that most reads, tens of
/// microseconds long, would spend waiting), elsewhere on the blocking pool.
/// A read in place then spends a unit of the task's cooperative budget, so
/// a loop of reads still yields now and then and whatever runs beside it in
/// the same task (a Ctrl-C handler in a `select!`) gets its turn.
async fn read_in_place<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread) {
        let out = tokio::task::block_in_place(f);
        tokio::task::consume_budget().await;
        return out;
    }
    tokio::task::spawn_blocking(f)
        .await
        .map_err(join_error)
        .and_then(|r| r)
}

/// Opens `path` read-only. A WAL file needs its `-shm` index, which a
/// read-only directory cannot hold: when the plain read-only open cannot
/// read, the file is opened `immutable` (no locks, no `-shm`), which is
/// right for a read-only mount, where nobody can be writing.
fn open_read_only(path: &Path) -> Result<Connection> {
    let cannot = |e| open_failure(path, false, e);
    let plain = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(cannot)?;
    configure(&plain)?;
    match plain.query_row("SELECT COUNT(*) FROM \"sqlite_master\"", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => return Ok(plain),
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) => {
            return Err(sql_error(e))
        }
        Err(_) => {}
    }
    drop(plain);
    let conn = Connection::open_with_flags(
        immutable_uri(path),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(cannot)?;
    configure(&conn)?;
    Ok(conn)
}

/// Opens the file at `path` read-only to inspect its schema, without the
/// identity and version checks of [`Db::open`]; a missing file is
/// [`Error::NotFound`].
pub(crate) fn open_to_inspect(path: &Path) -> Result<Connection> {
    let name = format!("sqlite://{}", path.display());
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(Error::backend(format!(
                "{} is a directory, not a database file",
                path.display()
            )))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotFound(format!(
                "sqlite database {} does not exist; run `affine-db --db {name} init` to \
                 create it, or check the path",
                path.display()
            )))
        }
        Err(e) => return Err(inaccessible(path, e)),
    }
    open_read_only(path).map_err(|e| e.in_store(&name))
}

/// `file:PATH?immutable=1`, with the characters URIs reserve escaped.
fn immutable_uri(path: &Path) -> String {
    let mut out = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' => out.push_str(&format!("%{:02X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push_str("?immutable=1");
    out
}

/// Checks that the file is this tool's or empty (see the module docs);
/// changes nothing.
pub(crate) fn check_identity(conn: &Connection) -> Result<()> {
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .db()?;
    if app_id == APPLICATION_ID {
        return Ok(());
    }
    if app_id != 0 {
        return Err(foreign(format!(
            "its application_id is {app_id:#010x}, not affine-db's {APPLICATION_ID:#010x}"
        )));
    }
    // No application id: an empty file, one an earlier affine-db wrote
    // (only our tables, with our columns, and their indexes), or another
    // application's.
    let mut stmt = conn
        .prepare("SELECT \"type\", \"name\", \"tbl_name\" FROM \"sqlite_master\" WHERE \"name\" NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
        .db()?;
    let objects = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<(String, String, String)>>>()
        .db()?;
    let mut strangers = Vec::new();
    for (kind, name, table) in &objects {
        let ours = Table::ALL.iter().find(|t| t.name() == table);
        match (kind.as_str(), ours) {
            ("table", Some(t)) => {
                if !columns_are_ours(conn, *t)? {
                    strangers.push(format!("table {name} (its columns are not affine-db's)"));
                }
            }
            ("index", Some(_)) => {}
            _ => strangers.push(format!("{kind} {name}")),
        }
    }
    if strangers.is_empty() {
        return Ok(());
    }
    strangers.sort();
    Err(foreign(format!("it holds {}", strangers.join(", "))))
}

/// Whether `table` in the file has only columns affine-db gives it,
/// including `pk` and `sk`.
fn columns_are_ours(conn: &Connection, table: Table) -> Result<bool> {
    let mut stmt = conn
        .prepare(&format!("PRAGMA table_info({})", ident(table.name())))
        .db()?;
    let cols = stmt
        .query_map([], |r| r.get::<_, String>(1))
        .db()?
        .collect::<rusqlite::Result<Vec<String>>>()
        .db()?;
    let def = table.def();
    let known = |c: &str| c == "pk" || c == "sk" || def.attr(c).is_some();
    Ok(cols.iter().any(|c| c == "pk")
        && cols.iter().any(|c| c == "sk")
        && cols.iter().all(|c| known(c)))
}

/// Refuses a file written by a newer build (or with a broken version).
fn check_version(conn: &Connection) -> Result<()> {
    let version = schema_version(conn)?;
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
    Ok(())
}

fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| open_failure(path, true, e))?;
    configure(&conn)?;
    conn.pragma_update(None, "query_only", true).db()?;
    Ok(conn)
}

/// The declared columns of `table` with their SQL types: `pk`, `sk`, then
/// one per attribute.
pub(crate) fn declared_columns(table: Table) -> Vec<(&'static str, &'static str)> {
    let mut cols = vec![("pk", "TEXT"), ("sk", "TEXT")];
    cols.extend(
        table
            .def()
            .attrs
            .iter()
            .map(|a| (a.name, column_type(a.ty))),
    );
    cols
}

/// The `CREATE TABLE` statement of `table`: `pk`, `sk`, one column per attribute.
pub(crate) fn create_table_sql(table: Table) -> String {
    let mut cols: Vec<String> = declared_columns(table)
        .into_iter()
        .map(|(name, ty)| {
            let not_null = if name == "pk" || name == "sk" {
                " NOT NULL"
            } else {
                ""
            };
            format!("{} {ty}{not_null}", ident(name))
        })
        .collect();
    cols.push("PRIMARY KEY (\"pk\", \"sk\")".into());
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\n  {}\n)",
        ident(table.name()),
        cols.join(",\n  ")
    )
}

/// The declared indexes of `table`, by name with their columns: its
/// DynamoDB indexes (same names) but those keyed like the table, which the
/// primary key serves (a read of one selects only the columns the index
/// projects, so a lean read never touches the conversations), one ordering a miner's samples by time,
/// one finding a sample by id within its partition (the re-save rule: a
/// given `sample_id` replaces the stored sample with that id), and one on
/// the TTL attribute for purges.
pub(crate) fn declared_indexes(table: Table) -> Vec<(String, Vec<&'static str>)> {
    let def = table.def();
    let mut out: Vec<(String, Vec<&'static str>)> = def
        .indexes
        .iter()
        .filter(|ix| !ix.keyed_like_table())
        .map(|ix| (ix.name.to_string(), vec![ix.hash, ix.range]))
        .collect();
    if table == Table::SampleResults {
        // A miner's samples in `miner_order`, for reads by miner and for
        // deletes before a time, without sorting the partition.
        out.push((
            "sample_results-miner-time-index".to_string(),
            vec!["pk", "timestamp", "env", "sample_id"],
        ));
        out.push((
            "sample_results-id-index".to_string(),
            vec!["pk", "sample_id"],
        ));
    }
    if let Some(ttl) = def.ttl {
        out.push((format!("{}-ttl-index", table.name()), vec![ttl]));
    }
    out
}

/// The `CREATE INDEX` statement of the declared index `name` of `table`.
pub(crate) fn create_one_index_sql(table: Table, name: &str, columns: &[&str]) -> String {
    format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
        ident(name),
        ident(table.name()),
        columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The `CREATE INDEX` statements of `table` ([`declared_indexes`]).
pub(crate) fn create_index_sql(table: Table) -> Vec<String> {
    declared_indexes(table)
        .iter()
        .map(|(name, cols)| create_one_index_sql(table, name, cols))
        .collect()
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

/// Adds the schema's column `name` to `table` unless it is there already.
fn add_column_if_missing(conn: &Connection, table: Table, name: &str) -> Result<()> {
    let present: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
            [table.name(), name],
            |r| r.get(0),
        )
        .db()?;
    if present {
        return Ok(());
    }
    let def = table
        .def()
        .attrs
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| Error::backend(format!("sqlite: {table} has no attribute {name}")))?;
    conn.execute_batch(&format!(
        "ALTER TABLE {} ADD COLUMN {} {}",
        ident(table.name()),
        ident(def.name),
        column_type(def.ty)
    ))
    .db()
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
        // 1 → 2: system_config gets the exact JSON text of dict and list
        // values (`param_value_json`); a file created at 0 already has it.
        1 => add_column_if_missing(conn, Table::SystemConfig, EXACT_JSON_ATTR),
        // 2 → 3: samples found by id within their partition (re-saves);
        // `create_tables` makes the index, and any table a damaged file lacks.
        2 => create_tables(conn),
        v => Err(Error::backend(format!(
            "sqlite: no migration from schema version {v}"
        ))),
    }
}

/// Brings the schema to [`SCHEMA_VERSION`], one step per version, each in its
/// own transaction; refuses a database written by a newer build. Then marks
/// the file with [`APPLICATION_ID`]. Tables, columns and indexes missing
/// from a file at the current version are left to `init` (which reports
/// each repair).
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db()?;
        check_version(&tx)?;
        let version = schema_version(&tx)?;
        if version == SCHEMA_VERSION {
            // A file at this version is not repaired here: `init` checks
            // it against the declaration and repairs or refuses (see
            // `live`).
            tx.pragma_update(None, "application_id", APPLICATION_ID)
                .db()?;
            tx.commit().db()?;
            return Ok(());
        }
        migrate_step(&tx, version)?;
        tx.pragma_update(None, "user_version", version + 1).db()?;
        tx.commit().db()?;
    }
}
