//! `sample_results` filters: the inclusive time range of reads by env, the
//! cut-off of deletes by time, the sort keys of one env of a miner, and
//! the re-save rule (a given `sample_id`
//! replaces the stored sample with that id).

use crate::cond::{CmpOp, Cond};
use crate::driver::RangeCond;
use crate::error::Result;
use crate::keys;
use crate::schema::{PK, SK};
use crate::tables::samples::{Sample, SampleKey};
use std::collections::HashMap;

/// Samples of `env` with `start_ms <= timestamp <= end_ms` (both ends
/// inclusive).
pub fn in_env_range(env: &str, start_ms: i64, end_ms: i64) -> Cond {
    Cond::eq_s("env", env)
        .and(Cond::Cmp("timestamp", CmpOp::Ge, start_ms))
        .and(Cond::Cmp("timestamp", CmpOp::Le, end_ms))
}

/// Whether an inclusive range can hold anything.
pub fn range_is_empty(start_ms: i64, end_ms: i64) -> bool {
    start_ms > end_ms
}

/// Samples with `timestamp < before_ms` (what a delete before a time removes).
pub fn before(before_ms: i64) -> Cond {
    Cond::Cmp("timestamp", CmpOp::Lt, before_ms)
}

/// The most task ids one `get_samples_by_task_ids` call takes.
pub const MAX_TASK_IDS: usize = 1_000;

/// How many task ids one query's filter names: DynamoDB bounds a filter
/// expression (4 KB), so a longer list is read as several queries.
pub const TASK_IDS_PER_QUERY: usize = 50;

/// The distinct task ids of a lookup by task ids, sorted; more than
/// [`MAX_TASK_IDS`] is [`crate::Error::InvalidInput`].
pub fn task_ids(task_ids: &[String]) -> Result<Vec<&str>> {
    let mut ids: Vec<&str> = task_ids.iter().map(String::as_str).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > MAX_TASK_IDS {
        return Err(crate::Error::invalid(
            "task_ids",
            format!(
                "{} distinct task ids; at most {MAX_TASK_IDS} per call",
                ids.len()
            ),
        ));
    }
    Ok(ids)
}

/// Samples of partition `pk` whose `task_id` is one of `task_ids` (none
/// when the list is empty).
pub fn with_task_ids(pk: &str, task_ids: &[&str]) -> Cond {
    let any = task_ids
        .iter()
        .map(|id| Cond::eq_s("task_id", *id))
        .collect::<Vec<_>>();
    of_owner(pk, None).and(Cond::Or(any))
}

/// How many of the wanted samples a partition must hold for them to be
/// read as one query over the sort keys they span rather than by key: a
/// DynamoDB query is charged for the bytes it reads, rounded up once, a
/// get by key for each item rounded up to 4 KB, so a span of a few
/// samples already costs less than getting them one by one, while each
/// span is a round trip of its own where a batch get fetches 100.
pub const SPAN_READ_MIN: usize = 8;

/// The most samples a stream of samples reads per request: what a
/// stream holds at once (a page, with its conversations when asked for).
pub const STREAM_PAGE: usize = 500;

/// The validated partition of one miner and revision's samples.
pub fn owner(miner_hotkey: &str, model_revision: &str) -> Result<String> {
    keys::validate_part("miner_hotkey", miner_hotkey)?;
    keys::validate_part("model_revision", model_revision)?;
    Ok(keys::miner_revision_pk(miner_hotkey, model_revision))
}

/// Samples of partition `pk`, of `env` when given.
pub fn of_owner(pk: &str, env: Option<&str>) -> Cond {
    let c = Cond::eq_s(PK, pk);
    match env {
        Some(e) => c.and(Cond::eq_s("env", e)),
        None => c,
    }
}

/// The sort keys of partition samples of `env` when given (every sample
/// sort key starts with its env: `ENV#{env}#`), so a read of one env of a
/// miner reads that env's rows only, in key order.
pub fn env_range(env: Option<&str>) -> RangeCond {
    match env {
        Some(e) => RangeCond::BeginsWith(keys::sample_sk_env_prefix(e)),
        None => RangeCond::Any,
    }
}

/// The stored samples a save of `key` supersedes: the re-save rule. A save
/// whose `sample_id` was given replaces every sample of the same partition
/// (miner and revision) with that id, whatever its env and timestamp, so a
/// retry with the same id never leaves a second row (DESIGN §3). The row
/// under `key` itself is not matched: the save overwrites it.
pub fn superseded_by(pk: &str, sample_id: &str, sk: &str) -> Cond {
    Cond::eq_s(PK, pk)
        .and(Cond::eq_s("sample_id", sample_id))
        .and(Cond::eq_s(SK, sk).not())
}

/// A batch of saves after the re-save rule ([`plan_saves`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavePlan {
    /// Indexes into the batch of the samples to write: all but those a later
    /// sample of the same batch with the same partition and given id replaces.
    pub write: Vec<usize>,
    /// For every sample of the batch (input order), the key it ends up under.
    pub keys: Vec<SampleKey>,
    /// The written samples whose id was given, as (pk, sample_id, sk): what
    /// [`superseded_by`] must delete beside the write.
    pub replaces: Vec<(String, String, String)>,
}

/// Applies the re-save rule to a validated batch: `given_id[i]` says whether
/// the caller chose sample `i`'s id (a fresh UUID can match nothing). Of
/// samples with the same partition and given id, the last one wins.
pub fn plan_saves(samples: &[Sample], given_id: &[bool]) -> SavePlan {
    let mut last: HashMap<(String, &str), usize> = HashMap::new();
    for (i, s) in samples.iter().enumerate() {
        if given_id.get(i).copied().unwrap_or(false) {
            last.insert((s.key().pk(), s.sample_id.as_str()), i);
        }
    }
    let mut plan = SavePlan {
        write: Vec::with_capacity(samples.len()),
        keys: Vec::with_capacity(samples.len()),
        replaces: Vec::new(),
    };
    for (i, s) in samples.iter().enumerate() {
        let key = s.key();
        if !given_id.get(i).copied().unwrap_or(false) {
            plan.write.push(i);
            plan.keys.push(key);
            continue;
        }
        let winner = last[&(key.pk(), s.sample_id.as_str())];
        plan.keys.push(samples[winner].key());
        if winner == i {
            plan.replaces
                .push((key.pk(), s.sample_id.clone(), key.sk()));
            plan.write.push(i);
        }
    }
    plan
}
