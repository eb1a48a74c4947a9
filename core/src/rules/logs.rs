//! `execution_logs` filters and the consecutive-errors rule.

use crate::cond::{CmpOp, Cond};
use crate::keys;
use crate::schema::{Table, PK};
use crate::tables::logs::{ExecutionLog, LogStatus};
use crate::ttl;

const T: Table = Table::ExecutionLogs;

/// Live logs of `miner_hotkey` at `now_s`, of `status` when given.
pub fn of_miner(miner_hotkey: &str, status: Option<LogStatus>, now_s: i64) -> Cond {
    let c = Cond::eq_s(PK, keys::miner_pk(miner_hotkey)).and(ttl::unexpired(T, now_s));
    match status {
        Some(s) => c.and(Cond::eq_s("status", s.as_str())),
        None => c,
    }
}

/// The first second of a window of `window_s` seconds ending now.
pub fn window_start(now_s: i64, window_s: i64) -> i64 {
    now_s.saturating_sub(window_s)
}

/// Logs with `timestamp >= since`.
pub fn since(since_s: i64) -> Cond {
    Cond::Cmp("timestamp", CmpOp::Ge, since_s)
}

/// The consecutive-errors rule: given a miner's newest logs, newest first
/// (at least `threshold` of them when that many exist), whether the newest
/// `threshold` exist and all failed.
pub fn consecutive_errors(newest_first: &[ExecutionLog], threshold: usize) -> bool {
    newest_first.len() >= threshold
        && newest_first
            .iter()
            .take(threshold)
            .all(|l| l.status == LogStatus::Failed)
}
