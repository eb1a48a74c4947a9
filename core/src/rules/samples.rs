//! `sample_results` filters: the inclusive time range of reads by env and
//! the cut-off of deletes by time.

use crate::cond::{CmpOp, Cond};
use crate::error::Result;
use crate::keys;
use crate::schema::PK;

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
