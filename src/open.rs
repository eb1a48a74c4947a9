//! Opening a [`Store`] from a URL, like object_store's `parse_url`: one
//! parser for every URL form the CLI, the Python package and programs take.
//!
//! Accepted forms:
//! - `sqlite://PATH` — a SQLite file (created if missing unless
//!   [`OpenOptions::access`] says otherwise); `sqlite:///abs/path` for an
//!   absolute path. Optional query parameter `mode`: `ro` (read only:
//!   nothing in the file changes; read-only files and mounts work), `rw`
//!   (read and write an existing file) or `rwc` (the default: create if
//!   missing), as in SQLite's own URIs. Needs the `sqlite` feature.
//! - `sqlite::memory:` (or `sqlite://:memory:`) — a private in-memory
//!   database that lives as long as the store.
//! - `memory://` — the core's in-memory driver
//!   ([`affine_db_core::driver::InMemory`]) under the core-owned table
//!   handles: an empty store that lives as long as the handle, for unit
//!   tests. It takes no path and no query parameters.
//! - `dynamodb://` with optional query parameters `prefix`, `region` and
//!   `endpoint`, each overriding the environment (`DYNAMODB_TABLE_PREFIX`,
//!   `AWS_REGION`, `AWS_ENDPOINT_URL_DYNAMODB`/`AWS_ENDPOINT_URL`), and
//!   `reads`: `eventual` (the default: the reads
//!   [`affine_db_core::rules::consistency`] allows are eventually
//!   consistent, at half the read units) or `strong` (every read strongly
//!   consistent). Needs the `dynamodb` feature.
//!
//! Query parameters are parsed strictly: an unknown, empty or repeated
//! parameter is [`Error::InvalidInput`], never silently ignored.

use std::path::PathBuf;

use affine_db_core::clock::{system_clock, SharedClock};
use affine_db_core::{Error, Result, Store};

/// The URL forms [`open`] accepts, for error messages.
pub const ACCEPTED: &str =
    "use sqlite://PATH[?mode=ro|rw|rwc], sqlite::memory:, memory:// or dynamodb://?prefix=P&region=R&endpoint=URL&reads=eventual|strong";

/// The store used when none is configured.
pub const DEFAULT_URL: &str = "sqlite://affine.db";

/// The environment variable naming the store when no URL is given.
pub const URL_ENV: &str = "AFFINE_DB";

/// How a store may be opened, from least to most: read only, read and
/// write what exists, or also create what is missing (a SQLite file and
/// its tables). The access a store is opened with is the least of the
/// URL's (`?mode=`) and [`OpenOptions::access`]. DynamoDB tables are never
/// created by opening, whatever the access (run `init`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Access {
    /// Read only (`mode=ro`): nothing in the store changes; a missing
    /// SQLite file is [`Error::NotFound`].
    ReadOnly,
    /// Read and write an existing store (`mode=rw`); a missing SQLite file
    /// is [`Error::NotFound`].
    ReadWrite,
    /// Read and write, creating a missing SQLite file (`mode=rwc`).
    #[default]
    Create,
}

impl Access {
    /// The `mode` query parameter value naming this access.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::ReadOnly => "ro",
            Access::ReadWrite => "rw",
            Access::Create => "rwc",
        }
    }

    fn parse(url: &str, value: &str) -> Result<Access> {
        match value {
            "ro" => Ok(Access::ReadOnly),
            "rw" => Ok(Access::ReadWrite),
            "rwc" => Ok(Access::Create),
            other => Err(Error::invalid(
                "mode",
                format!(
                    "{other:?} in {:?} is not a mode; use ro (read only), rw (existing file) \
                     or rwc (create if missing)",
                    redact(url)
                ),
            )),
        }
    }
}

/// Where a store URL points, parsed without opening anything.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreUrl {
    /// A SQLite file at this path.
    SqliteFile {
        /// The file, as given (relative paths are relative to the working directory).
        path: PathBuf,
        /// The `mode` query parameter, if given.
        mode: Option<Access>,
    },
    /// A private in-memory SQLite database.
    SqliteMemory,
    /// A private store of the core's in-memory driver (`memory://`).
    Memory,
    /// DynamoDB; `None` leaves a setting to the environment.
    DynamoDb {
        /// Table prefix (`DYNAMODB_TABLE_PREFIX`, default `affine`, when `None`).
        prefix: Option<String>,
        /// Region (the AWS SDK's chain when `None`).
        region: Option<String>,
        /// Endpoint, e.g. a local emulator (the AWS SDK's chain when `None`).
        endpoint: Option<String>,
        /// Every read strongly consistent (`reads=strong`).
        strong_reads: bool,
    },
}

/// The query parameters of `query`, each known and given once and non-empty.
fn query_params(url: &str, query: Option<&str>, known: &[&str]) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    let Some(query) = query else {
        return Ok(out);
    };
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let (key, value) = (key.into_owned(), value.into_owned());
        if !known.contains(&key.as_str()) {
            return Err(Error::invalid(
                "url",
                format!(
                    "unknown query parameter {key:?} in {:?}; known: {}",
                    redact(url),
                    known.join(", ")
                ),
            ));
        }
        if out.iter().any(|(k, _)| *k == key) {
            return Err(Error::invalid(
                "url",
                format!(
                    "query parameter {key:?} is given twice in {:?}",
                    redact(url)
                ),
            ));
        }
        if value.is_empty() {
            return Err(Error::invalid(key, "must not be empty"));
        }
        out.push((key, value));
    }
    Ok(out)
}

impl StoreUrl {
    /// Parses a store URL (see the module docs for the forms).
    pub fn parse(url: &str) -> Result<StoreUrl> {
        if url == "sqlite::memory:" || url == "sqlite://:memory:" {
            return Ok(StoreUrl::SqliteMemory);
        }
        if url == "memory://" {
            return Ok(StoreUrl::Memory);
        }
        if let Some(rest) = url.strip_prefix("sqlite://") {
            let (path, query) = match rest.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (rest, None),
            };
            let mut mode = None;
            for (_, value) in query_params(url, query, &["mode"])? {
                mode = Some(Access::parse(url, &value)?);
            }
            if path.is_empty() {
                return Err(Error::invalid(
                    "url",
                    format!("{url:?} names no file; {ACCEPTED}"),
                ));
            }
            return Ok(StoreUrl::SqliteFile {
                path: path.into(),
                mode,
            });
        }
        if let Some(rest) = url.strip_prefix("dynamodb://") {
            let (authority, query) = match rest.split_once('?') {
                Some((a, q)) => (a, Some(q)),
                None => (rest, None),
            };
            if !matches!(authority, "" | "/") || query.is_some_and(|q| q.contains('#')) {
                return Err(Error::invalid(
                    "url",
                    format!(
                        "{:?}: a dynamodb URL has no host, path or fragment; pass options as \
                         query parameters (prefix, region, endpoint)",
                        redact(url)
                    ),
                ));
            }
            let mut prefix = None;
            let mut region = None;
            let mut endpoint = None;
            let mut strong_reads = false;
            let known = ["prefix", "region", "endpoint", "reads"];
            for (key, value) in query_params(url, query, &known)? {
                match key.as_str() {
                    "prefix" => prefix = Some(value),
                    "region" => region = Some(value),
                    "reads" => {
                        strong_reads = match value.as_str() {
                            "strong" => true,
                            "eventual" => false,
                            other => {
                                return Err(Error::invalid(
                                    "url",
                                    format!("reads={other:?}: use reads=eventual or reads=strong"),
                                ))
                            }
                        }
                    }
                    _ => endpoint = Some(value),
                }
            }
            return Ok(StoreUrl::DynamoDb {
                prefix,
                region,
                endpoint,
                strong_reads,
            });
        }
        Err(Error::invalid(
            "url",
            format!("{:?} is not a store URL; {ACCEPTED}", redact(url)),
        ))
    }

    /// Whether this URL names a SQLite store (file or memory).
    pub fn is_sqlite(&self) -> bool {
        matches!(self, StoreUrl::SqliteFile { .. } | StoreUrl::SqliteMemory)
    }
}

/// How [`open_with`] opens a store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OpenOptions {
    /// The clock the store reads "now" from (the system clock by default;
    /// tests inject a [`affine_db_core::ManualClock`]).
    pub clock: SharedClock,
    /// The most the caller needs ([`Access::Create`] by default); the URL's
    /// `mode` may lower it.
    pub access: Access,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            clock: system_clock(),
            access: Access::Create,
        }
    }
}

impl OpenOptions {
    /// Uses `clock` for "now".
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Opens with `access` (at most; the URL's `mode` may lower it).
    pub fn with_access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// Opens read only: nothing in the store changes (a SQLite file is
    /// opened read-only, so read-only files and mounts work).
    pub fn read_only(self) -> Self {
        self.with_access(Access::ReadOnly)
    }
}

/// The store URL to use when the caller gives none: `AFFINE_DB`, else
/// [`DEFAULT_URL`].
pub fn url_from_env() -> String {
    std::env::var(URL_ENV)
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_string())
}

/// The environment variables the original layer opened DynamoDB with.
pub const ORIGINAL_DYNAMODB_ENV: [&str; 2] = ["DYNAMODB_TABLE_PREFIX", "AWS_ENDPOINT_URL_DYNAMODB"];

/// The store URL for code moved over from the original layer (the Python
/// package's `init_client()` without a URL): `AFFINE_DB` when set; else
/// `dynamodb://` (which reads those variables) when one of
/// [`ORIGINAL_DYNAMODB_ENV`] is set, since the original's code would have
/// used DynamoDB; else [`DEFAULT_URL`]. Never silently a local file when the
/// original's settings point at DynamoDB.
pub fn url_from_env_or_original() -> String {
    if std::env::var(URL_ENV).is_ok_and(|u| !u.is_empty()) {
        return url_from_env();
    }
    let original = ORIGINAL_DYNAMODB_ENV
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|x| !x.is_empty()));
    if original {
        "dynamodb://".to_string()
    } else {
        DEFAULT_URL.to_string()
    }
}

/// Opens the store `url` names, on the system clock. A SQLite file is
/// created (with its tables) if missing, unless the URL says `mode=ro` or
/// `mode=rw`; DynamoDB tables are not touched (run
/// [`affine_db_core::Admin::init`] to create them). A SQLite file of another
/// application is refused ([`Error::InvalidInput`]) and left unchanged.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = affine_db::open("sqlite::memory:").await?;
/// assert_eq!(store.admin.capabilities().name, "sqlite");
/// # Ok::<(), affine_db::Error>(())
/// # }).unwrap();
/// ```
pub async fn open(url: &str) -> Result<Store> {
    open_with(url, OpenOptions::default()).await
}

/// Opens the store `url` names with `options`.
pub async fn open_with(url: &str, options: OpenOptions) -> Result<Store> {
    open_parsed(StoreUrl::parse(url)?, options).await
}

/// Opens an already parsed URL.
pub async fn open_parsed(url: StoreUrl, options: OpenOptions) -> Result<Store> {
    match url {
        StoreUrl::SqliteFile { path, mode } => {
            let access = mode.map_or(options.access, |m| m.min(options.access));
            open_sqlite_file(path, access, options).await
        }
        StoreUrl::SqliteMemory => open_sqlite_memory(options).await,
        StoreUrl::Memory => Ok(Store::from_driver(
            std::sync::Arc::new(affine_db_core::driver::InMemory::named("memory://")),
            options.clock,
        )),
        StoreUrl::DynamoDb {
            prefix,
            region,
            endpoint,
            strong_reads,
        } => {
            let parts = DynamoParts {
                prefix,
                region,
                endpoint,
                strong_reads,
            };
            open_dynamodb(parts, options).await
        }
    }
}

#[cfg(any(not(feature = "sqlite"), not(feature = "dynamodb")))]
fn missing_feature(feature: &str) -> Error {
    Error::invalid(
        "url",
        format!("this build of affine-db has no {feature} backend; enable the `{feature}` feature"),
    )
}

#[cfg(feature = "sqlite")]
async fn open_sqlite_file(path: PathBuf, access: Access, options: OpenOptions) -> Result<Store> {
    use affine_db_sqlite::OpenMode;
    let mode = match access {
        Access::ReadOnly => OpenMode::ReadOnly,
        Access::ReadWrite => OpenMode::ReadWrite,
        Access::Create => OpenMode::Create,
    };
    affine_db_sqlite::open_store_with_mode(path, options.clock, mode).await
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite_file(_path: PathBuf, _access: Access, _options: OpenOptions) -> Result<Store> {
    Err(missing_feature("sqlite"))
}

#[cfg(feature = "sqlite")]
async fn open_sqlite_memory(options: OpenOptions) -> Result<Store> {
    Ok(Store::new(
        affine_db_sqlite::open_tables_in_memory(options.clock).await?,
    ))
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite_memory(_options: OpenOptions) -> Result<Store> {
    Err(missing_feature("sqlite"))
}

/// The settings of a `dynamodb://` URL.
#[cfg_attr(not(feature = "dynamodb"), allow(dead_code))]
struct DynamoParts {
    prefix: Option<String>,
    region: Option<String>,
    endpoint: Option<String>,
    strong_reads: bool,
}

#[cfg(feature = "dynamodb")]
async fn open_dynamodb(parts: DynamoParts, options: OpenOptions) -> Result<Store> {
    let config =
        affine_db_dynamodb::DynamoConfig::from_parts(parts.prefix, parts.region, parts.endpoint)?;
    let driver = affine_db_dynamodb::DynamoDriver::connect(config).await?;
    let tables = affine_db_core::handles::Tables::new(std::sync::Arc::new(driver), options.clock)
        .with_strong_reads(parts.strong_reads);
    Ok(Store::new(std::sync::Arc::new(tables)))
}

#[cfg(not(feature = "dynamodb"))]
async fn open_dynamodb(_parts: DynamoParts, _options: OpenOptions) -> Result<Store> {
    Err(missing_feature("dynamodb"))
}

/// The URL without anything that could be a credential (`user:pass@`), for
/// error messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(p: &str) -> StoreUrl {
        StoreUrl::SqliteFile {
            path: p.into(),
            mode: None,
        }
    }

    #[test]
    fn parses_the_accepted_forms() {
        assert_eq!(
            StoreUrl::parse("sqlite://affine.db").unwrap(),
            file("affine.db")
        );
        assert_eq!(
            StoreUrl::parse("sqlite:///tmp/a.db").unwrap(),
            file("/tmp/a.db")
        );
        assert_eq!(
            StoreUrl::parse("sqlite::memory:").unwrap(),
            StoreUrl::SqliteMemory
        );
        assert_eq!(
            StoreUrl::parse("sqlite://x.db?mode=ro").unwrap(),
            StoreUrl::SqliteFile {
                path: "x.db".into(),
                mode: Some(Access::ReadOnly)
            }
        );
        assert_eq!(
            StoreUrl::parse("sqlite:///a/b.db?mode=rw").unwrap(),
            StoreUrl::SqliteFile {
                path: "/a/b.db".into(),
                mode: Some(Access::ReadWrite)
            }
        );
        assert_eq!(
            StoreUrl::parse("sqlite://:memory:").unwrap(),
            StoreUrl::SqliteMemory
        );
        assert_eq!(StoreUrl::parse("memory://").unwrap(), StoreUrl::Memory);
        assert_eq!(
            StoreUrl::parse(
                "dynamodb://?prefix=p1&region=eu-west-1&endpoint=http://127.0.0.1:8000"
            )
            .unwrap(),
            StoreUrl::DynamoDb {
                prefix: Some("p1".into()),
                region: Some("eu-west-1".into()),
                endpoint: Some("http://127.0.0.1:8000".into()),
                strong_reads: false,
            }
        );
        assert!(matches!(
            StoreUrl::parse("dynamodb://?reads=strong").unwrap(),
            StoreUrl::DynamoDb {
                strong_reads: true,
                ..
            }
        ));
        assert_eq!(
            StoreUrl::parse("dynamodb://").unwrap(),
            StoreUrl::DynamoDb {
                prefix: None,
                region: None,
                endpoint: None,
                strong_reads: false,
            }
        );
    }

    #[test]
    fn rejects_bad_urls_as_invalid_input() {
        for url in [
            "bogus://x",
            "sqlite://",
            "affine.db",
            "postgres://u:p@h/db",
            "sqlite://x.db?bogus=1",
            "sqlite://x.db?mode=",
            "sqlite://x.db?mode=rx",
            "sqlite://x.db?mode=ro&mode=ro",
            "sqlite://x.db?mode=ro&prefix=a",
            "dynamodb://host/path",
            "dynamodb://?bogus=1",
            "dynamodb://?reads=sometimes",
            "dynamodb://?prefix=",
            "dynamodb://?prefix=a&prefix=b",
            "dynamodb://?region=a&region=a",
            "dynamodb://?prefix=p#frag",
            "memory://x",
            "memory://?a=1",
            "not a url",
        ] {
            assert!(
                matches!(StoreUrl::parse(url), Err(Error::InvalidInput { .. })),
                "{url}"
            );
        }
    }

    #[tokio::test]
    async fn memory_urls_open_private_stores_through_the_core_handles() {
        use affine_db_core::ParamValue;
        let a = open("memory://").await.unwrap();
        let b = open("memory://").await.unwrap();
        assert_eq!(a.admin.capabilities().name, "memory");
        assert_eq!(a.admin.describe(), "memory://");
        a.config
            .set_param("k", ParamValue::Int(7), "d", "t")
            .await
            .unwrap();
        let got = a.config.get_param("k").await.unwrap().unwrap();
        assert_eq!(got.param_value, ParamValue::Int(7));
        assert_eq!(b.config.get_param("k").await.unwrap(), None);
    }

    #[test]
    fn redacts_userinfo() {
        assert_eq!(
            redact("postgres://u:secret@host/db"),
            "postgres://***@host/db"
        );
        assert_eq!(redact("bogus://x"), "bogus://x");
    }
}
