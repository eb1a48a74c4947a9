//! Training a zstd dictionary from the conversations already stored
//! (`affine-db train-dict`): a uniform sample of the stored conversations
//! (optionally of one environment), trained with
//! [`crate::codec::train_dictionary`], stored, and optionally made the one
//! new writes use.

use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::codec::{train_dictionary, Codec, DEFAULT_DICTIONARY_SIZE};
use crate::dictionaries::{self, DictionaryInfo, Targets};
use crate::error::{Error, Result};
use crate::item::Attr;
use crate::keys;
use crate::schema::{Table, CONVERSATION_ATTR};
use crate::store::Store;

/// What to train on and what to do with the result.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Only conversations of this environment (and activate for it only).
    pub env: Option<String>,
    /// The largest dictionary to make, in bytes.
    pub max_size: usize,
    /// At most this many conversations, sampled uniformly from the table.
    pub max_samples: usize,
    /// Make the new dictionary the one new writes use.
    pub activate: bool,
    /// Who is training (recorded with the dictionary).
    pub by: String,
    /// Seed of the uniform sample, so a run can be repeated.
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            env: None,
            max_size: DEFAULT_DICTIONARY_SIZE,
            max_samples: 20_000,
            activate: true,
            by: "affine-db".into(),
            seed: 0,
        }
    }
}

/// What a training run did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// The stored dictionary.
    pub dictionary: DictionaryInfo,
    /// Whether it was new (an identical dictionary may already be stored).
    pub newly_stored: bool,
    /// Conversations looked at (of the environment, when one was given).
    pub conversations_seen: u64,
    /// Stored conversations that could not be decoded and were left out.
    pub unreadable: u64,
    /// The training conversations' size as stored now, in bytes.
    pub stored_bytes: u64,
    /// The same conversations compressed with the new dictionary, in bytes.
    pub with_dictionary_bytes: u64,
    /// The targets after this run.
    pub targets: Targets,
}

/// Progress while sampling: conversations seen so far.
pub type TrainProgress<'a> = &'a (dyn Fn(u64) + Send + Sync);

/// Samples stored conversations, trains a dictionary on them, stores it and
/// (with `activate`) makes it the target of `env` or the default. Fails
/// with an input error, storing nothing, when there is too little to train
/// on.
pub async fn train_from_store(
    store: &Store,
    opts: &TrainOptions,
    progress: TrainProgress<'_>,
) -> Result<TrainReport> {
    if let Some(env) = &opts.env {
        keys::validate_part("env", env)?;
    }
    if opts.max_samples == 0 {
        return Err(Error::invalid("max_samples", "must be at least 1"));
    }
    let admin = &*store.admin;
    let codec = &*store.codec;
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
    // Reservoir of (stored frame size, raw conversation).
    let mut reservoir: Vec<(usize, Vec<u8>)> = Vec::new();
    let (mut seen, mut unreadable) = (0u64, 0u64);
    let mut cursor = None;
    loop {
        let page = admin.scan_page(Table::SampleResults, cursor, 500).await?;
        dictionaries::ensure_readable(codec, admin, &page.items).await?;
        for item in &page.items {
            if let Some(env) = &opts.env {
                if !matches!(item.get("env"), Some(Attr::S(e)) if e == env) {
                    continue;
                }
            }
            let Some(Attr::B(frame)) = item.get(CONVERSATION_ATTR) else {
                continue;
            };
            seen += 1;
            let slot = if reservoir.len() < opts.max_samples {
                Some(reservoir.len())
            } else {
                let j = rng.gen_range(0..seen);
                (j < opts.max_samples as u64).then_some(j as usize)
            };
            let Some(slot) = slot else { continue };
            match codec.decode_bytes(frame) {
                Ok(raw) if slot == reservoir.len() => reservoir.push((frame.len(), raw)),
                Ok(raw) => reservoir[slot] = (frame.len(), raw),
                Err(_) => unreadable += 1,
            }
        }
        progress(seen);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let samples: Vec<&[u8]> = reservoir.iter().map(|(_, raw)| raw.as_slice()).collect();
    let dict = train_dictionary(&samples, opts.max_size, codec.level())?;
    let trial = Codec::new(codec.level());
    trial.use_dictionary(&dict);
    let mut with_dictionary_bytes = 0u64;
    for raw in &samples {
        with_dictionary_bytes += trial.encode_bytes(raw)?.len() as u64;
    }
    let info = DictionaryInfo {
        id: dict.id,
        size: dict.bytes.len() as u64,
        env: opts.env.clone(),
        samples: samples.len() as u64,
        sample_bytes: samples.iter().map(|s| s.len() as u64).sum(),
        created_at: store.clock.now_s(),
        created_by: opts.by.clone(),
    };
    let newly_stored = dictionaries::store(admin, &dict, &info).await?;
    let targets = if opts.activate {
        let t = dictionaries::activate(
            admin,
            dict.id,
            opts.env.as_deref(),
            &opts.by,
            store.clock.now_s(),
        )
        .await?;
        dictionaries::sync(codec, admin).await?;
        t
    } else {
        dictionaries::targets(admin).await?
    };
    Ok(TrainReport {
        dictionary: info,
        newly_stored,
        conversations_seen: seen,
        unreadable,
        stored_bytes: reservoir.iter().map(|(n, _)| *n as u64).sum(),
        with_dictionary_bytes,
        targets,
    })
}
