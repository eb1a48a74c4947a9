//! Rewriting stored conversations with the current dictionaries
//! (`affine-db recompress`), so data stored before a dictionary was trained
//! shrinks too.
//!
//! The table is scanned page by page; a conversation is rewritten when its
//! frame does not name the dictionary its environment targets and the new
//! frame is smaller (legacy gzip frames included). Every new frame is
//! decoded and compared with the original before anything is written, and
//! each page is written as one batch. After each batch the scan position is
//! saved in `system_config` (`pk = DICTIONARY`, `sk = RECOMPRESS`), so an
//! interrupted run resumes where it stopped; a finished run removes it.
//! Re-running after a finished run rewrites nothing.
//!
//! A sample is replaced whole with what was read, so a sample re-saved
//! between the read and the write of its page would lose that save; samples
//! are written once, so in practice that is a sample saved twice with the
//! same content.

use serde::Serialize;
use serde_json::json;

use crate::admin::Admin;
use crate::codec::{frame_dictionary_id, ZSTD_MAGIC};
use crate::dictionaries::{self, PartitionItem, DICTIONARY_PK};
use crate::error::{Error, Result};
use crate::item::Attr;
use crate::keys;
use crate::schema::{Table, CONVERSATION_ATTR};
use crate::store::Store;

/// The sort key of the saved scan position.
pub const STATE_SK: &str = crate::keys::RECOMPRESS_SK;

/// What to rewrite.
#[derive(Debug, Clone)]
pub struct RecompressOptions {
    /// Only samples of this environment.
    pub env: Option<String>,
    /// Samples read and written per batch.
    pub batch_size: usize,
    /// Count what would change without writing anything.
    pub dry_run: bool,
    /// Ignore a saved position and start from the beginning.
    pub restart: bool,
    /// Stop after this many batches (the position is saved; run again to
    /// continue).
    pub max_batches: Option<u64>,
}

impl Default for RecompressOptions {
    fn default() -> Self {
        RecompressOptions {
            env: None,
            batch_size: 100,
            dry_run: false,
            restart: false,
            max_batches: None,
        }
    }
}

/// What a run did (cumulative over resumed runs when it resumed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecompressSummary {
    /// Whether it continued an interrupted run.
    pub resumed: bool,
    /// Samples looked at.
    pub scanned: u64,
    /// Samples rewritten (or, in a dry run, that would be).
    pub rewritten: u64,
    /// Samples already in the current form.
    pub current: u64,
    /// Samples whose new frame would not be smaller, left as they are.
    pub kept: u64,
    /// Samples whose conversation could not be decoded, left as they are.
    pub unreadable: u64,
    /// Conversation bytes of the rewritten samples before.
    pub bytes_before: u64,
    /// Conversation bytes of the rewritten samples after.
    pub bytes_after: u64,
    /// Whether the whole table was scanned (false when `max_batches` stopped it).
    pub finished: bool,
}

async fn load_state(
    admin: &dyn Admin,
    env: &Option<String>,
) -> Result<Option<(String, RecompressSummary)>> {
    let Some(v) = dictionaries::partition_value(admin, STATE_SK).await? else {
        return Ok(None);
    };
    let same_env = v.get("env").and_then(|e| e.as_str()) == env.as_deref();
    let Some(cursor) = v.get("cursor").and_then(|c| c.as_str()) else {
        return Ok(None);
    };
    if !same_env {
        return Ok(None);
    }
    let n = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or_default();
    Ok(Some((
        cursor.to_string(),
        RecompressSummary {
            resumed: true,
            scanned: n("scanned"),
            rewritten: n("rewritten"),
            current: n("current"),
            kept: n("kept"),
            unreadable: n("unreadable"),
            bytes_before: n("bytes_before"),
            bytes_after: n("bytes_after"),
            finished: false,
        },
    )))
}

async fn save_state(
    admin: &dyn Admin,
    env: &Option<String>,
    cursor: &str,
    s: &RecompressSummary,
    now_s: i64,
) -> Result<()> {
    let item = PartitionItem {
        sk: STATE_SK.into(),
        name: "recompress_position".into(),
        param_type: "dict",
        value: json!({
            "cursor": cursor, "env": env, "scanned": s.scanned, "rewritten": s.rewritten,
            "current": s.current, "kept": s.kept, "unreadable": s.unreadable,
            "bytes_before": s.bytes_before, "bytes_after": s.bytes_after,
        }),
        description: "where an interrupted `affine-db recompress` resumes".into(),
        updated_at: now_s,
        updated_by: None,
    }
    .into_item();
    admin.put_items(Table::SystemConfig, vec![item]).await
}

/// Rewrites stored conversations with the current dictionaries; `progress`
/// gets the running totals after every batch.
pub async fn recompress(
    store: &Store,
    opts: &RecompressOptions,
    progress: &(dyn Fn(&RecompressSummary) + Send + Sync),
) -> Result<RecompressSummary> {
    if let Some(env) = &opts.env {
        keys::validate_part("env", env)?;
    }
    if opts.batch_size == 0 || opts.batch_size > 1000 {
        return Err(Error::invalid("batch_size", "must be between 1 and 1000"));
    }
    let admin = &*store.admin;
    let codec = &*store.codec;
    dictionaries::sync(codec, admin).await?;
    let saved = if opts.restart {
        None
    } else {
        load_state(admin, &opts.env).await?
    };
    let (mut cursor, mut sum) = match saved {
        Some((c, s)) => (Some(c), s),
        None => (None, RecompressSummary::default()),
    };
    let mut batches = 0u64;
    loop {
        if opts.max_batches.is_some_and(|m| batches >= m) {
            return Ok(sum);
        }
        let page = admin
            .scan_page(Table::SampleResults, cursor.clone(), opts.batch_size)
            .await?;
        dictionaries::ensure_readable(codec, admin, &page.items).await?;
        let mut rewrites = Vec::new();
        for item in page.items {
            let env = match item.get("env") {
                Some(Attr::S(e)) => e.clone(),
                _ => {
                    sum.scanned += 1;
                    sum.unreadable += 1;
                    continue;
                }
            };
            if opts.env.as_ref().is_some_and(|want| *want != env) {
                continue;
            }
            sum.scanned += 1;
            let Some(Attr::B(frame)) = item.get(CONVERSATION_ATTR) else {
                sum.current += 1;
                continue;
            };
            let target = codec.dictionary_for(&env);
            if frame.starts_with(&ZSTD_MAGIC) && frame_dictionary_id(frame) == target {
                sum.current += 1;
                continue;
            }
            let Ok(raw) = codec.decode_bytes(frame) else {
                sum.unreadable += 1;
                continue;
            };
            let new = codec.encode_bytes_for(&env, &raw)?;
            if new.len() >= frame.len() {
                sum.kept += 1;
                continue;
            }
            if codec.decode_bytes(&new)? != raw {
                return Err(Error::corrupt(
                    "a recompressed conversation did not decode to the original; nothing of this batch was written",
                ));
            }
            sum.rewritten += 1;
            sum.bytes_before += frame.len() as u64;
            sum.bytes_after += new.len() as u64;
            let mut item = item;
            item.insert(CONVERSATION_ATTR.into(), Attr::B(new));
            rewrites.push(item);
        }
        if !opts.dry_run && !rewrites.is_empty() {
            admin.put_items(Table::SampleResults, rewrites).await?;
        }
        batches += 1;
        cursor = page.cursor;
        match &cursor {
            Some(c) => {
                if !opts.dry_run {
                    save_state(admin, &opts.env, c, &sum, store.clock.now_s()).await?;
                }
                progress(&sum);
            }
            None => {
                if !opts.dry_run {
                    admin
                        .delete_items(
                            Table::SystemConfig,
                            vec![(DICTIONARY_PK.into(), STATE_SK.into())],
                        )
                        .await?;
                }
                sum.finished = true;
                progress(&sum);
                return Ok(sum);
            }
        }
    }
}
