//! Migration of the old validator's R2 result shards into a store (DESIGN §7).
//!
//! The bucket holds `affine/index.json` (a JSON array of shard keys, which may
//! repeat keys or name shards that do not exist) and shards
//! `affine/results/{window:09}-{signer}.json`, each a JSON array of result
//! records in one of two layouts (see [`record`]).
//!
//! [`migrate`] reads the index, selects windows ([`MigrateOptions::tail`]),
//! fetches a few shards at a time (bounded memory and concurrency) and
//! processes them in index order (window, then key), converting records into
//! samples whose id is derived from the signature. Writes are batched
//! ([`MigrateOptions::batch_size`] samples per `save_samples` call); miners
//! not yet in `miner_metadata` are created in one `put_items` per batch, with
//! time fields taken from their first sample, so that every run over the same
//! shards writes identical items: re-running changes nothing, and an
//! interrupted run finishes correctly when run again.
//!
//! Malformed records, oversize items, missing and unreadable shards are
//! skipped and counted by reason in the [`MigrationSummary`]; they never abort
//! the run. Transient source errors and transient store errors
//! ([`Error::is_transient`]) are retried with exponential backoff; a store
//! error that persists ends the run with that error.

pub mod record;
pub mod source;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::Value;

use affine_db_core::codec::Codec;
use affine_db_core::error::{Error, Result};
use affine_db_core::schema::Table;
use affine_db_core::store::Store;
use affine_db_core::tables::samples::NewSample;
pub use record::{convert, sample_id, Converted, SkipReason};
pub use source::Source;

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
    /// Samples per `save_samples` call.
    pub batch_size: usize,
    /// Shards fetched and parsed concurrently.
    pub concurrency: usize,
    /// Retries of transient errors.
    pub retry: RetryPolicy,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions {
            tail: None,
            current_block: None,
            max_results: None,
            batch_size: 50,
            concurrency: 4,
            retry: RetryPolicy::default(),
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
    /// retries), `bad_key` (no 9-digit window in the key).
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

enum Shard {
    Records(Vec<Value>),
    Skipped(&'static str),
}

async fn fetch_shard(source: &Source, key: &str, retry: &RetryPolicy) -> Shard {
    match retry.run(|| source.get(key)).await {
        Ok(None) => Shard::Skipped("missing"),
        Err(_) => Shard::Skipped("unreadable"),
        Ok(Some(bytes)) => {
            let parsed =
                tokio::task::spawn_blocking(move || serde_json::from_slice::<Value>(&bytes)).await;
            match parsed {
                Ok(Ok(Value::Array(records))) => Shard::Records(records),
                Ok(Ok(_)) => Shard::Skipped("not_an_array"),
                Ok(Err(e)) if e.is_eof() => Shard::Skipped("truncated"),
                Ok(Err(_)) => Shard::Skipped("invalid_json"),
                Err(_) => Shard::Skipped("unreadable"),
            }
        }
    }
}

struct Writer<'a> {
    store: &'a Store,
    retry: RetryPolicy,
    known_miners: HashSet<String>,
    pending_miners: Vec<(String, affine_db_core::item::Item)>,
    pending: Vec<NewSample>,
    batch_size: usize,
    migrated: u64,
    miners_created: u64,
}

impl Writer<'_> {
    fn add(&mut self, c: Converted) -> Result<()> {
        if !self.known_miners.contains(&c.miner.miner_hotkey) {
            self.known_miners.insert(c.miner.miner_hotkey.clone());
            let item = c.miner.clone().merge(None, c.time_s)?.to_item();
            self.pending_miners.push((c.miner.miner_hotkey, item));
        }
        self.pending.push(c.sample);
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        if !self.pending_miners.is_empty() {
            let items: Vec<_> = self.pending_miners.iter().map(|(_, i)| i.clone()).collect();
            let admin = &self.store.admin;
            self.retry
                .run(|| admin.put_items(Table::MinerMetadata, items.clone()))
                .await?;
            self.miners_created += self.pending_miners.len() as u64;
            self.pending_miners.clear();
        }
        if !self.pending.is_empty() {
            let samples = std::mem::take(&mut self.pending);
            let n = samples.len() as u64;
            let store = &self.store.samples;
            self.retry
                .run(|| store.save_samples(samples.clone()))
                .await?;
            self.migrated += n;
        }
        Ok(())
    }
}

/// Migrates the shards of `source` into `store` (see the module docs).
/// `progress` is called after every shard and every written batch.
pub async fn migrate(
    store: &Store,
    source: &Source,
    opts: &MigrateOptions,
    progress: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<MigrationSummary> {
    let started = Instant::now();
    if opts.batch_size == 0 || opts.concurrency == 0 {
        return Err(Error::invalid(
            "batch_size/concurrency",
            "must be at least 1",
        ));
    }
    if let Some(t) = opts.tail {
        if t <= 0 {
            return Err(Error::invalid(
                "tail",
                format!("{t} is not a positive number of blocks"),
            ));
        }
    }
    let index = opts
        .retry
        .run(|| source.get(INDEX_KEY))
        .await?
        .ok_or_else(|| Error::NotFound(format!("{INDEX_KEY} in {}", source.describe())))?;
    let keys: Vec<Value> = serde_json::from_slice(&index)
        .map_err(|e| Error::corrupt(format!("{INDEX_KEY} is not a JSON array: {e}")))?;

    let mut summary = MigrationSummary {
        source: source.describe(),
        windows: None,
        processed: 0,
        migrated: 0,
        skipped: BTreeMap::new(),
        skipped_records: Vec::new(),
        miners_created: 0,
        shards_selected: 0,
        shards_read: 0,
        shards_skipped: BTreeMap::new(),
        skipped_shards: Vec::new(),
        index_duplicates: 0,
        stopped_at_max_results: false,
        elapsed_s: 0.0,
        rate_per_s: 0.0,
    };
    let skip_shard = |summary: &mut MigrationSummary, key: String, reason: &'static str| {
        *summary.shards_skipped.entry(reason).or_default() += 1;
        if summary.skipped_shards.len() < MAX_LISTED {
            summary.skipped_shards.push(SkippedShard { key, reason });
        }
    };

    let mut seen = HashSet::new();
    let mut shards: Vec<(i64, String)> = Vec::new();
    for k in keys {
        let key = match k {
            Value::String(s) => s,
            other => {
                skip_shard(&mut summary, other.to_string(), "bad_key");
                continue;
            }
        };
        if !seen.insert(key.clone()) {
            summary.index_duplicates += 1;
            continue;
        }
        match shard_window(&key) {
            Some(w) => shards.push((w, key)),
            None => skip_shard(&mut summary, key, "bad_key"),
        }
    }
    let reference = opts
        .current_block
        .or_else(|| shards.iter().map(|(w, _)| *w).max())
        .unwrap_or(0);
    if let Some(tail) = opts.tail {
        shards.retain(|(w, _)| reference - *w < tail && *w <= reference);
    }
    shards.sort();
    summary.shards_selected = shards.len() as u64;
    summary.windows = match (shards.first(), shards.last()) {
        (Some(a), Some(b)) => Some((a.0, b.0)),
        _ => None,
    };

    let known_miners = store
        .miners
        .get_all_miners()
        .await?
        .into_iter()
        .map(|m| m.miner_hotkey)
        .collect();
    let mut writer = Writer {
        store,
        retry: opts.retry,
        known_miners,
        pending_miners: Vec::new(),
        pending: Vec::new(),
        batch_size: opts.batch_size,
        migrated: 0,
        miners_created: 0,
    };
    let codec = Codec::default();
    let mut signatures: HashSet<u128> = HashSet::new();
    let mut prog = Progress {
        shards_total: shards.len() as u64,
        ..Progress::default()
    };
    progress(&prog);

    let retry = opts.retry;
    let mut stream = stream::iter(shards)
        .map(|(window, key)| async move {
            let shard = fetch_shard(source, &key, &retry).await;
            (window, key, shard)
        })
        .buffered(opts.concurrency);

    'shards: while let Some((window, key, shard)) = stream.next().await {
        prog.shards_done += 1;
        let records = match shard {
            Shard::Skipped(reason) => {
                skip_shard(&mut summary, key, reason);
                progress(&prog);
                continue;
            }
            Shard::Records(r) => r,
        };
        summary.shards_read += 1;
        for (i, rec) in records.into_iter().enumerate() {
            if opts.max_results.is_some_and(|m| summary.processed >= m) {
                summary.stopped_at_max_results = true;
                break 'shards;
            }
            summary.processed += 1;
            let outcome = convert(&rec, window).and_then(|c| {
                let id = uuid::Uuid::parse_str(c.sample.sample_id.as_deref().unwrap_or_default())
                    .map_err(|_| SkipReason::Malformed)?
                    .as_u128();
                match c.sample.clone().into_sample(0) {
                    Err(_) => return Err(SkipReason::Malformed),
                    Ok(s) => match s.to_item(&codec) {
                        Err(Error::TooLarge { .. }) => return Err(SkipReason::TooLarge),
                        Err(_) => return Err(SkipReason::Malformed),
                        Ok(_) => {}
                    },
                }
                if !signatures.insert(id) {
                    return Err(SkipReason::Duplicate);
                }
                Ok(c)
            });
            match outcome {
                Ok(c) => {
                    writer.add(c)?;
                    if writer.pending.len() >= writer.batch_size {
                        writer.flush().await?;
                        prog.processed = summary.processed;
                        prog.migrated = writer.migrated;
                        progress(&prog);
                    }
                }
                Err(reason) => {
                    *summary.skipped.entry(reason.as_str()).or_default() += 1;
                    if summary.skipped_records.len() < MAX_LISTED {
                        summary.skipped_records.push(SkippedRecord {
                            shard: key.clone(),
                            index: i,
                            signature: rec
                                .get("signature")
                                .and_then(Value::as_str)
                                .map(str::to_string),
                            reason: reason.as_str(),
                        });
                    }
                }
            }
        }
        prog.processed = summary.processed;
        progress(&prog);
    }
    writer.flush().await?;
    summary.migrated = writer.migrated;
    summary.miners_created = writer.miners_created;
    prog.processed = summary.processed;
    prog.migrated = summary.migrated;
    progress(&prog);
    summary.elapsed_s = started.elapsed().as_secs_f64();
    summary.rate_per_s = if summary.elapsed_s > 0.0 {
        summary.processed as f64 / summary.elapsed_s
    } else {
        0.0
    };
    Ok(summary)
}
