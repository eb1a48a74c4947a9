//! Reading the index and selecting the shards to migrate.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use affine_db_core::error::{Error, Result};

use super::source::{check_key, Object, Refusal, Source};
use super::{shard_window, MigrateOptions, SkippedShard, INDEX_KEY, MAX_LISTED};

/// The shards a run reads, in order, and what the index said besides.
#[derive(Debug, Default)]
pub(super) struct Selection {
    /// `(window, key)` of every selected shard, sorted.
    pub shards: Vec<(i64, String)>,
    /// Index entries naming a key already listed.
    pub index_duplicates: u64,
    /// Index entries skipped (not a string, no window), by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// The first [`MAX_LISTED`] of them.
    pub skipped_list: Vec<SkippedShard>,
}

impl Selection {
    /// Oldest and newest selected window.
    pub fn windows(&self) -> Option<(i64, i64)> {
        match (self.shards.first(), self.shards.last()) {
            (Some(a), Some(b)) => Some((a.0, b.0)),
            _ => None,
        }
    }

    fn skip(&mut self, key: String, reason: &'static str) {
        *self.skipped.entry(reason).or_default() += 1;
        if self.skipped_list.len() < MAX_LISTED {
            self.skipped_list.push(SkippedShard { key, reason });
        }
    }
}

/// Checks the options that need no source.
pub(super) fn validate(opts: &MigrateOptions) -> Result<()> {
    if opts.max_index_bytes == 0 || opts.max_shard_bytes == 0 {
        return Err(Error::invalid(
            "max_index_bytes/max_shard_bytes",
            "must be at least 1",
        ));
    }
    if opts.batch_size == 0 || opts.concurrency == 0 || opts.workers == 0 || opts.in_flight == 0 {
        return Err(Error::invalid(
            "batch_size/concurrency/workers/in_flight",
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
    Ok(())
}

/// Reads the index of `source` and selects the shards `opts` asks for.
pub(super) async fn select(source: &Source, opts: &MigrateOptions) -> Result<Selection> {
    validate(opts)?;
    let index = match opts
        .retry
        .run(|| source.get(INDEX_KEY, opts.max_index_bytes))
        .await?
    {
        Object::Bytes(b) => b,
        Object::Missing => {
            return Err(Error::NotFound(format!(
                "{INDEX_KEY} in {}",
                source.describe()
            )))
        }
        Object::Refused(why, detail) => {
            let hint = match why {
                Refusal::TooLarge => "; raise --max-index-bytes if the index is genuine",
                _ => "",
            };
            return Err(Error::invalid(
                "source",
                format!(
                    "{INDEX_KEY} in {} was not read ({}): {detail}{hint}",
                    source.describe(),
                    why.as_str()
                ),
            ));
        }
    };
    let keys: Vec<Value> = serde_json::from_slice(&index)
        .map_err(|e| Error::corrupt(format!("{INDEX_KEY} is not a JSON array: {e}")))?;

    let mut sel = Selection::default();
    let mut seen = HashSet::new();
    for k in keys {
        let key = match k {
            Value::String(s) => s,
            other => {
                sel.skip(other.to_string(), "bad_key");
                continue;
            }
        };
        if !seen.insert(key.clone()) {
            sel.index_duplicates += 1;
            continue;
        }
        if check_key(&key).is_err() {
            // Never becomes a path or a URL.
            sel.skip(key, Refusal::UnsafeKey.as_str());
            continue;
        }
        match shard_window(&key) {
            Some(w) => sel.shards.push((w, key)),
            None => sel.skip(key, "bad_key"),
        }
    }
    let reference = opts
        .current_block
        .or_else(|| sel.shards.iter().map(|(w, _)| *w).max())
        .unwrap_or(0);
    if let Some(tail) = opts.tail {
        sel.shards
            .retain(|(w, _)| reference - *w < tail && *w <= reference);
    }
    sel.shards.sort();
    Ok(sel)
}
