//! Where R2 result shards are read from: a directory laid out like the
//! bucket, an S3-compatible bucket, a public HTTP base URL, or any
//! [`ObjectSource`] a program provides.

use std::path::PathBuf;
use std::sync::Arc;

use affine_db_core::error::{Error, Result};

#[cfg(feature = "remote-sources")]
pub mod remote;

/// A bucket of result shards, addressed by object key
/// (`affine/index.json`, `affine/results/...`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Source {
    /// A local directory whose layout mirrors the bucket.
    Dir(PathBuf),
    /// An S3-compatible bucket (R2, AWS, moto), path-style addressing
    /// (feature `remote-sources`).
    #[cfg(feature = "remote-sources")]
    S3(remote::S3Source),
    /// A public HTTP(S) base URL; objects are fetched at `{base}/{key}`
    /// (feature `remote-sources`).
    #[cfg(feature = "remote-sources")]
    Http(remote::HttpSource),
    /// Objects served by the program (for example a generated bucket).
    Objects(Arc<dyn ObjectSource>),
}

/// A bucket of objects a program serves itself, for [`Source::Objects`].
pub trait ObjectSource: Send + Sync + std::fmt::Debug {
    /// Where the objects come from, for messages.
    fn describe(&self) -> String;

    /// The object at `key`; `Ok(None)` when there is none. Called on a
    /// blocking thread, so it may read files or compute.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
}

impl Source {
    /// Opens a source from its spec: `dir://PATH` or a plain path,
    /// `s3://BUCKET[/prefix]` (endpoint and credentials from the standard AWS
    /// environment: `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`,
    /// `AWS_ACCESS_KEY_ID`, ...; region `us-east-1` when none is configured),
    /// or `http(s)://BASE`. The remote forms need the `remote-sources` feature.
    pub async fn open(spec: &str) -> Result<Source> {
        if let Some(rest) = spec.strip_prefix("s3://") {
            return open_s3(rest).await;
        }
        if spec.starts_with("http://") || spec.starts_with("https://") {
            return open_http(spec);
        }
        let path = spec.strip_prefix("dir://").unwrap_or(spec);
        if path.is_empty() {
            return Err(Error::invalid("source", "empty path"));
        }
        let path = PathBuf::from(path);
        if !path.is_dir() {
            return Err(Error::invalid(
                "source",
                format!(
                    "{} is not a directory (expected dir://PATH, s3://BUCKET or http(s)://URL)",
                    path.display()
                ),
            ));
        }
        Ok(Source::Dir(path))
    }

    /// Where this source reads from, for messages (never with credentials).
    pub fn describe(&self) -> String {
        match self {
            Source::Dir(p) => format!("dir://{}", p.display()),
            #[cfg(feature = "remote-sources")]
            Source::S3(s3) => s3.describe(),
            #[cfg(feature = "remote-sources")]
            Source::Http(http) => http.describe(),
            Source::Objects(o) => o.describe(),
        }
    }

    /// The object at `key`; `Ok(None)` when there is none. Transient failures
    /// (timeouts, connection errors, 5xx, 429) are [`Error::Unavailable`],
    /// so callers can retry them.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        if key.split('/').any(|p| p == ".." || p.is_empty()) {
            return Err(Error::invalid(
                "key",
                format!("{key:?} is not a plain object key"),
            ));
        }
        match self {
            Source::Dir(root) => read_file(root.join(key), key).await,
            #[cfg(feature = "remote-sources")]
            Source::S3(s3) => s3.get(key).await,
            #[cfg(feature = "remote-sources")]
            Source::Http(http) => http.get(key).await,
            Source::Objects(o) => {
                let (o, key) = (o.clone(), key.to_string());
                tokio::task::spawn_blocking(move || o.get(&key))
                    .await
                    .map_err(|e| Error::backend_from("an object source task failed", e))?
            }
        }
    }
}

async fn read_file(path: PathBuf, key: &str) -> Result<Option<Vec<u8>>> {
    match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
        Ok(Ok(bytes)) => Ok(Some(bytes)),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
            Err(Error::unavailable_from(format!("reading {key}"), e))
        }
        Ok(Err(e)) => Err(Error::backend_from(format!("reading {key}"), e)),
        Err(e) => Err(Error::backend_from(format!("reading {key}"), e)),
    }
}

#[cfg(feature = "remote-sources")]
async fn open_s3(rest: &str) -> Result<Source> {
    remote::S3Source::open(rest).await.map(Source::S3)
}

#[cfg(feature = "remote-sources")]
fn open_http(spec: &str) -> Result<Source> {
    remote::HttpSource::open(spec).map(Source::Http)
}

#[cfg(not(feature = "remote-sources"))]
async fn open_s3(_rest: &str) -> Result<Source> {
    Err(no_remote_sources())
}

#[cfg(not(feature = "remote-sources"))]
fn open_http(_spec: &str) -> Result<Source> {
    Err(no_remote_sources())
}

#[cfg(not(feature = "remote-sources"))]
fn no_remote_sources() -> Error {
    Error::invalid(
        "source",
        "this build of affine-db reads only directory sources; enable the `remote-sources` feature for s3:// and http(s)://",
    )
}
