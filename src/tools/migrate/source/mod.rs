//! Where R2 result shards are read from: a directory laid out like the
//! bucket, an S3-compatible bucket, a public HTTP base URL, or any
//! [`ObjectSource`] a program provides.
//!
//! A source reads only what the operator named:
//!
//! - **Keys are checked as keys** ([`check_key`]) before they become a
//!   path or a URL: no `.` or `..` segment, no empty segment (so no leading
//!   `/`), no `\`, no `%` (so no percent-encoded separator or dot), no
//!   `?`, `#`, `:` or control character (so no absolute URL, query or
//!   fragment). An index naming such a key is not followed
//!   ([`Refusal::UnsafeKey`]).
//! - **`dir://`** resolves each key's path (symlinks included) and reads
//!   it only when it stays inside the directory ([`Refusal::OutsideSource`])
//!   and is a regular file ([`Refusal::NotAFile`]: a FIFO, a device or a
//!   directory is never opened).
//! - **`http(s)://`** never follows a redirect ([`Refusal::Redirected`]),
//!   and checks that the URL it builds is the base URL's origin and path
//!   plus the key.
//! - **Every read is capped** ([`Refusal::TooLarge`]): an object over the
//!   cap is refused from its declared size when the source gives one, else
//!   read as a stream and dropped once past the cap. Up to
//!   [`IN_MEMORY_BYTES`] are held in memory; past that the bytes go to an
//!   unlinked temporary file until the object ends (then they are read
//!   back, at most the cap) or passes the cap (then the file is dropped),
//!   so an object that never ends costs a bounded amount of memory and is
//!   a counted skip, never an allocation failure.

use std::fs::File;
use std::io::Read;
#[cfg(any(feature = "remote-sources", test))]
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use affine_db_core::error::{Error, Result};

#[cfg(feature = "remote-sources")]
pub mod remote;

/// The default cap of the index (`affine/index.json`): 64 MiB, about a
/// million shard keys.
pub const DEFAULT_MAX_INDEX_BYTES: u64 = 64 << 20;
/// The default cap of one shard: 512 MiB (the fixture's largest is 1 MB).
pub const DEFAULT_MAX_SHARD_BYTES: u64 = 512 << 20;
/// How much of an object being read is held in memory before the rest goes
/// to a temporary file.
pub const IN_MEMORY_BYTES: usize = 8 << 20;
/// The longest key a source accepts.
pub const MAX_KEY_BYTES: usize = 1024;

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

/// Why an object was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Refusal {
    /// The key is not a plain object key ([`check_key`]).
    UnsafeKey,
    /// A `dir://` key whose path resolves (through a symlink) outside the
    /// directory.
    OutsideSource,
    /// A `dir://` key naming something other than a regular file.
    NotAFile,
    /// An HTTP answer redirecting elsewhere (never followed).
    Redirected,
    /// Over the read cap.
    TooLarge,
}

impl Refusal {
    /// The stable name used in summaries (`unsafe_key`, `outside_source`,
    /// `not_a_file`, `redirected`, `too_large`).
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::UnsafeKey => "unsafe_key",
            Refusal::OutsideSource => "outside_source",
            Refusal::NotAFile => "not_a_file",
            Refusal::Redirected => "redirected",
            Refusal::TooLarge => "too_large",
        }
    }
}

/// What reading one object gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    /// The object's bytes (at most the cap).
    Bytes(Vec<u8>),
    /// There is no object at the key.
    Missing,
    /// Not read, why, and what was found (for messages).
    Refused(Refusal, String),
}

/// Checks that `key` is a plain object key (see the module docs); the
/// error says what is wrong with it.
pub fn check_key(key: &str) -> std::result::Result<(), String> {
    let bad = |why: &str| Err(format!("{key:?} {why}"));
    if key.is_empty() {
        return bad("is empty");
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "a key of {} bytes is longer than {MAX_KEY_BYTES}",
            key.len()
        ));
    }
    if key.contains('\\') {
        return bad("contains a backslash");
    }
    if key.contains('%') {
        return bad("contains % (a percent-encoded character)");
    }
    if key.contains(':') {
        return bad("contains : (an absolute URL or a drive)");
    }
    if key.contains(['?', '#']) {
        return bad("contains ? or # (a URL query or fragment)");
    }
    if key.chars().any(char::is_control) {
        return bad("contains a control character");
    }
    if key.starts_with('/') {
        return bad("starts with /");
    }
    for segment in key.split('/') {
        match segment {
            "" => return bad("has an empty segment (//, or / at the end)"),
            "." | ".." => return bad("has a . or .. segment"),
            _ => {}
        }
    }
    Ok(())
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

    /// The object at `key`, read only if the key is a plain key and the
    /// object stays inside the source and within `limit` bytes (see the
    /// module docs). Transient failures (timeouts, connection errors, 5xx,
    /// 429) are [`Error::Unavailable`], so callers can retry them.
    pub async fn get(&self, key: &str, limit: u64) -> Result<Object> {
        if let Err(why) = check_key(key) {
            return Ok(Object::Refused(Refusal::UnsafeKey, why));
        }
        match self {
            Source::Dir(root) => {
                let (root, key) = (root.clone(), key.to_string());
                tokio::task::spawn_blocking(move || read_file(&root, &key, limit))
                    .await
                    .map_err(|e| Error::backend_from("a directory read task failed", e))?
            }
            #[cfg(feature = "remote-sources")]
            Source::S3(s3) => s3.get(key, limit).await,
            #[cfg(feature = "remote-sources")]
            Source::Http(http) => http.get(key, limit).await,
            Source::Objects(o) => {
                let (o, key) = (o.clone(), key.to_string());
                let got = tokio::task::spawn_blocking(move || o.get(&key))
                    .await
                    .map_err(|e| Error::backend_from("an object source task failed", e))??;
                Ok(match got {
                    None => Object::Missing,
                    Some(b) if b.len() as u64 > limit => too_large(Some(b.len() as u64), limit),
                    Some(b) => Object::Bytes(b),
                })
            }
        }
    }
}

/// The refusal of an object over `limit` (`size` when it is known).
pub(crate) fn too_large(size: Option<u64>, limit: u64) -> Object {
    let what = match size {
        Some(s) => format!("{s} bytes"),
        None => "longer".to_string(),
    };
    Object::Refused(
        Refusal::TooLarge,
        format!("{what}, over the {limit}-byte cap"),
    )
}

/// Collects an object read in chunks: in memory up to [`IN_MEMORY_BYTES`],
/// then in an unlinked temporary file, never past the cap.
#[cfg(any(feature = "remote-sources", test))]
pub(crate) struct Capped {
    limit: u64,
    total: u64,
    mem: Vec<u8>,
    file: Option<File>,
}

#[cfg(any(feature = "remote-sources", test))]
impl Capped {
    /// An empty collector for an object of at most `limit` bytes.
    pub(crate) fn new(limit: u64) -> Capped {
        Capped {
            limit,
            total: 0,
            mem: Vec::new(),
            file: None,
        }
    }

    /// Adds a chunk; `false` once the object is over the cap (the caller
    /// stops reading).
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<bool> {
        self.total += chunk.len() as u64;
        if self.total > self.limit {
            self.mem = Vec::new();
            self.file = None;
            return Ok(false);
        }
        if self.file.is_none() && self.mem.len() + chunk.len() <= IN_MEMORY_BYTES {
            self.mem.extend_from_slice(chunk);
            return Ok(true);
        }
        let spill = |e| Error::backend_from("writing an object to a temporary file", e);
        if self.file.is_none() {
            let mut f = crate::tools::unlinked_temp_file("affine-db-object").map_err(spill)?;
            f.write_all(&self.mem).map_err(spill)?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        if let Some(f) = &mut self.file {
            f.write_all(chunk).map_err(spill)?;
        }
        Ok(true)
    }

    /// The whole object (at most the cap).
    pub(crate) fn finish(self) -> Result<Object> {
        if self.total > self.limit {
            return Ok(too_large(None, self.limit));
        }
        match self.file {
            None => Ok(Object::Bytes(self.mem)),
            Some(mut f) => {
                let back =
                    |e| Error::backend_from("reading an object back from its temporary file", e);
                f.seek(SeekFrom::Start(0)).map_err(back)?;
                let mut out = Vec::with_capacity(usize::try_from(self.total).unwrap_or(0));
                f.take(self.limit).read_to_end(&mut out).map_err(back)?;
                Ok(Object::Bytes(out))
            }
        }
    }
}

/// Reads `key` under `root` (see the module docs).
fn read_file(root: &Path, key: &str, limit: u64) -> Result<Object> {
    let failed = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::Interrupted {
            Error::unavailable_from(format!("reading {key}"), e)
        } else {
            Error::backend_from(format!("reading {key}"), e)
        }
    };
    let root = std::fs::canonicalize(root).map_err(failed)?;
    let path = match std::fs::canonicalize(root.join(key)) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Object::Missing),
        Err(e) => return Err(failed(e)),
    };
    if !path.starts_with(&root) {
        return Ok(Object::Refused(
            Refusal::OutsideSource,
            format!("resolves to {}, outside {}", path.display(), root.display()),
        ));
    }
    let meta = std::fs::metadata(&path).map_err(failed)?;
    if !meta.is_file() {
        return Ok(Object::Refused(
            Refusal::NotAFile,
            format!("{} is not a regular file", path.display()),
        ));
    }
    if meta.len() > limit {
        return Ok(too_large(Some(meta.len()), limit));
    }
    let file = File::open(&path).map_err(failed)?;
    // What was opened, not only what the path named a moment ago.
    if !file.metadata().map_err(failed)?.is_file() {
        return Ok(Object::Refused(
            Refusal::NotAFile,
            format!("{} is not a regular file", path.display()),
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(failed)?;
    if bytes.len() as u64 > limit {
        return Ok(too_large(None, limit));
    }
    Ok(Object::Bytes(bytes))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_as_keys() {
        check_key("affine/results/000000020-abc.json").unwrap();
        check_key("affine/index.json").unwrap();
        for bad in [
            "",
            "/etc/passwd",
            "affine/../../etc/passwd",
            "affine/./x",
            "affine//x",
            "affine/x/",
            "affine/%2e%2e/x",
            "affine/%2F/x",
            "affine\\..\\x",
            "http://evil.example/x",
            "//evil.example/x",
            "c:/x",
            "affine/x?y",
            "affine/x#y",
            "affine/x\ny",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
        assert!(check_key(&"a".repeat(MAX_KEY_BYTES + 1)).is_err());
    }

    #[test]
    fn capped_spills_to_a_file_and_stops_past_the_cap() {
        let chunk = vec![7u8; 1 << 20];
        let mut c = Capped::new((IN_MEMORY_BYTES as u64) * 2);
        for _ in 0..(IN_MEMORY_BYTES >> 20) + 3 {
            assert!(c.push(&chunk).unwrap());
        }
        assert!(c.file.is_some() && c.mem.is_empty());
        let Object::Bytes(b) = c.finish().unwrap() else {
            panic!("not bytes")
        };
        assert_eq!(b.len(), IN_MEMORY_BYTES + (3 << 20));
        let mut c = Capped::new(10);
        assert!(c.push(b"0123456789").unwrap());
        assert!(!c.push(b"x").unwrap());
        assert!(matches!(
            c.finish().unwrap(),
            Object::Refused(Refusal::TooLarge, _)
        ));
    }
}
