//! Migration of the old validator's R2 result shards into a store (DESIGN §7).
//!
//! The bucket holds `affine/index.json` (a JSON array of shard keys, which may
//! repeat keys or name shards that do not exist) and shards
//! `affine/results/{window:09}-{signer}.json`, each a JSON array of result
//! records in one of two layouts (see [`record`]).
//!
//! [`migrate`] reads the index, selects windows ([`MigrateOptions::tail`])
//! and runs a pipeline over the shards in index order (window, then key):
//!
//! 1. **fetch**: [`MigrateOptions::concurrency`] shards are read at once;
//! 2. **prepare**: [`MigrateOptions::workers`] shards at once, each on a
//!    blocking thread, are parsed, their records converted into samples
//!    (ids derived from the signatures) and the stored items built and
//!    compressed with the store's codec, so every core works;
//! 3. **commit**: one task takes the prepared shards in order, drops
//!    repeated signatures, stops at [`MigrateOptions::max_results`], and
//!    writes batches of [`MigrateOptions::batch_size`] samples with up to
//!    [`MigrateOptions::in_flight`] batches in flight (on SQLite they queue
//!    on the one writer connection; on DynamoDB each batch is one or a few
//!    BatchWriteItem requests, so the link stays busy).
//!
//! Memory is bounded by the stages' widths, not by the bucket: a 1M-record
//! source costs the same buffers as a 1k one, plus 16 bytes per distinct
//! signature. Miners not yet in `miner_metadata` are created with the batch
//! that holds their first sample, with time fields taken from that sample, so
//! that every run over the same shards writes identical items: re-running
//! changes nothing, and an interrupted run finishes correctly when run again.
//! Samples are written as the items `save_samples` would build (the same
//! `to_item` with the store's codec, dictionaries synchronised first).
//!
//! Malformed records, oversize items, missing and unreadable shards, and
//! shards the source refuses to read (a key that is not a plain key, a
//! path outside a `dir://` source, a redirect, an object over
//! [`MigrateOptions::max_shard_bytes`]: see [`source`]) are skipped and
//! counted by reason in the [`MigrationSummary`]; they never abort the run. Transient source errors and transient store errors
//! ([`Error::is_transient`](affine_db_core::error::Error::is_transient)) are retried with exponential backoff (a batch
//! the backend could not finish is written again whole: puts are
//! idempotent); a store error that persists ends the run with that error,
//! after the batches already in flight have finished.
//!
//! [`parse_floor`] reads and parses the same shards with nothing converted
//! or stored: the floor a migration's rate is measured against.

mod floor;
pub mod record;
mod run;
mod select;
mod shard;
pub mod source;
mod write;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use affine_db_core::error::Result;
use affine_db_core::store::Store;
pub use floor::{parse_floor, FloorSummary};
pub use record::{convert, sample_id, Converted, SkipReason};
pub use run::migrate;
pub use source::{check_key, Object, ObjectSource, Refusal, Source};

/// The key of the shard index in the bucket.
pub const INDEX_KEY: &str = "affine/index.json";

/// How many skipped records and shards a summary lists individually (all
/// are counted).
pub const MAX_LISTED: usize = 1000;

/// Retry policy for transient source and store errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (at least 1).
    pub attempts: u32,
    /// Delay before the first retry; doubled after every retry, with jitter.
    pub base_delay: Duration,
    /// The longest delay between attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Runs `op` until it succeeds, fails with a non-transient error, or the
    /// attempts are spent.
    pub async fn run<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut delay = self.base_delay;
        let mut attempt = 1;
        loop {
            match op().await {
                Err(e) if e.is_transient() && attempt < self.attempts.max(1) => {
                    let jitter = rand::random::<f64>() * 0.5 + 0.75;
                    tokio::time::sleep(delay.mul_f64(jitter)).await;
                    delay = (delay * 2).min(self.max_delay);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// What to migrate and how.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrateOptions {
    /// Only windows within this many blocks of the reference block:
    /// `reference - window < tail`. `None` migrates every window.
    pub tail: Option<i64>,
    /// The reference block of `tail`; the newest window in the index when `None`.
    pub current_block: Option<i64>,
    /// Stop after this many records have been *processed* (read from
    /// shards, whether migrated or skipped). Everything processed before the
    /// stop is written.
    pub max_results: Option<u64>,
    /// Samples per batched write.
    pub batch_size: usize,
    /// Shards fetched concurrently.
    pub concurrency: usize,
    /// Shards parsed, converted and compressed at once, each on its own
    /// blocking thread.
    pub workers: usize,
    /// Batched writes in flight at once.
    pub in_flight: usize,
    /// Retries of transient errors.
    pub retry: RetryPolicy,
    /// The most bytes read of the index; a larger one ends the run with an
    /// error ([`source::DEFAULT_MAX_INDEX_BYTES`] by default).
    pub max_index_bytes: u64,
    /// The most bytes read of one shard; a larger one is skipped as
    /// `too_large` ([`source::DEFAULT_MAX_SHARD_BYTES`] by default).
    pub max_shard_bytes: u64,
}

/// The default [`MigrateOptions::workers`]: one per core, at least two
/// (so a shard is prepared while another is handed to the writer).
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(2)
        .max(2)
}

/// The default [`MigrateOptions::in_flight`].
pub const DEFAULT_IN_FLIGHT: usize = 4;

impl MigrateOptions {
    /// The defaults for `store`: at most as many batches in flight as the
    /// store says are worth it ([`affine_db_core::Capabilities::writes_in_flight`]),
    /// and at most [`DEFAULT_IN_FLIGHT`]. SQLite says one (its one writer
    /// connection commits batches one at a time, so more would only queue,
    /// each holding a thread and its memory: measured on 40,000 records,
    /// 43 MB peak RSS and 6.2 s of CPU instead of 66 MB and 7.8 s, at the
    /// same rate).
    pub fn for_store(store: &Store) -> MigrateOptions {
        let in_flight = store
            .admin
            .capabilities()
            .writes_in_flight
            .clamp(1, DEFAULT_IN_FLIGHT);
        MigrateOptions {
            in_flight,
            ..MigrateOptions::default()
        }
    }
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions {
            tail: None,
            current_block: None,
            max_results: None,
            batch_size: 50,
            concurrency: 4,
            workers: default_workers(),
            in_flight: DEFAULT_IN_FLIGHT,
            retry: RetryPolicy::default(),
            max_index_bytes: source::DEFAULT_MAX_INDEX_BYTES,
            max_shard_bytes: source::DEFAULT_MAX_SHARD_BYTES,
        }
    }
}

/// A record that was not migrated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedRecord {
    /// The shard key.
    pub shard: String,
    /// Position of the record in the shard.
    pub index: usize,
    /// Its signature, when it has one.
    pub signature: Option<String>,
    /// Why ([`SkipReason::as_str`]).
    pub reason: &'static str,
}

/// A shard that was not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedShard {
    /// The shard key.
    pub key: String,
    /// Why: `missing` (listed but absent), `truncated` (JSON ends early),
    /// `invalid_json`, `not_an_array`, `unreadable` (read failed after
    /// retries), `bad_key` (no 9-digit window in the key), or what the
    /// source refused ([`source::Refusal`]): `unsafe_key` (not a plain
    /// object key, never followed), `outside_source` (a `dir://` path that
    /// resolves outside the directory), `not_a_file` (a `dir://` FIFO,
    /// device or directory), `redirected` (an HTTP redirect, never
    /// followed), `too_large` (over [`MigrateOptions::max_shard_bytes`]).
    pub reason: &'static str,
}

/// The outcome of a migration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MigrationSummary {
    /// Where the shards came from.
    pub source: String,
    /// Oldest and newest selected window.
    pub windows: Option<(i64, i64)>,
    /// Records read from shards (migrated + skipped).
    pub processed: u64,
    /// Samples written.
    pub migrated: u64,
    /// Skipped records by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// The first [`MAX_LISTED`] skipped records.
    pub skipped_records: Vec<SkippedRecord>,
    /// Miner metadata records created.
    pub miners_created: u64,
    /// Distinct shard keys selected.
    pub shards_selected: u64,
    /// Shards read and processed.
    pub shards_read: u64,
    /// Skipped shards by reason.
    pub shards_skipped: BTreeMap<&'static str, u64>,
    /// The first [`MAX_LISTED`] skipped shards.
    pub skipped_shards: Vec<SkippedShard>,
    /// Index entries naming a key already listed (read once).
    pub index_duplicates: u64,
    /// Whether the run stopped at `max_results`.
    pub stopped_at_max_results: bool,
    /// Wall time in seconds.
    pub elapsed_s: f64,
    /// Processed records per second.
    pub rate_per_s: f64,
}

impl MigrationSummary {
    /// Records skipped, all reasons.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

impl std::fmt::Display for MigrationSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "source:          {}", self.source)?;
        if let Some((a, b)) = self.windows {
            writeln!(f, "windows:         {a}..={b}")?;
        }
        writeln!(f, "processed:       {}", self.processed)?;
        writeln!(f, "migrated:        {}", self.migrated)?;
        writeln!(f, "skipped:         {}", self.skipped_total())?;
        for (r, n) in &self.skipped {
            writeln!(f, "  {r}: {n}")?;
        }
        writeln!(f, "miners created:  {}", self.miners_created)?;
        writeln!(
            f,
            "shards:          {} selected, {} read, {} skipped, {} duplicate index entries",
            self.shards_selected,
            self.shards_read,
            self.shards_skipped.values().sum::<u64>(),
            self.index_duplicates
        )?;
        for s in &self.skipped_shards {
            writeln!(f, "  {} ({})", s.key, s.reason)?;
        }
        if self.stopped_at_max_results {
            writeln!(f, "stopped at --max-results")?;
        }
        write!(
            f,
            "elapsed:         {:.2}s ({:.0} records/s)",
            self.elapsed_s, self.rate_per_s
        )
    }
}

/// Progress reported while migrating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Shards selected.
    pub shards_total: u64,
    /// Shards done (read or skipped).
    pub shards_done: u64,
    /// Records processed.
    pub processed: u64,
    /// Samples written.
    pub migrated: u64,
}

/// The window of a shard key: the 9-digit number the file name starts with.
pub fn shard_window(key: &str) -> Option<i64> {
    let name = key.rsplit('/').next()?;
    let digits = name.get(..9)?;
    if digits.bytes().all(|b| b.is_ascii_digit()) && name.as_bytes().get(9) == Some(&b'-') {
        digits.parse().ok()
    } else {
        None
    }
}
