//! TTL semantics (DESIGN §4), written once: an item whose `ttl` is at or
//! before now (epoch seconds) is invisible to every operation.

/// Seconds in a day.
pub const DAY_S: i64 = 86_400;
/// Default lifetime of a task: 7 days after creation.
pub const TASK_TTL_DAYS: i64 = 7;
/// Lifetime of an execution log: 7 days.
pub const LOG_TTL_DAYS: i64 = 7;
/// Lifetime of a score row: 30 days.
pub const SCORE_TTL_DAYS: i64 = 30;

/// Whether an item with `ttl` is visible at `now_s`: exactly while `now_s < ttl`.
pub fn is_live(ttl: i64, now_s: i64) -> bool {
    now_s < ttl
}

/// Whether an item that may lack a `ttl` attribute is visible (no ttl: always).
pub fn is_live_opt(ttl: Option<i64>, now_s: i64) -> bool {
    ttl.is_none_or(|t| is_live(t, now_s))
}

/// The `ttl` of an item created at `created_s` that lives `days` days.
pub fn expires_at(created_s: i64, days: i64) -> i64 {
    created_s.saturating_add(days.saturating_mul(DAY_S))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_equal_to_now_is_expired() {
        assert!(is_live(101, 100));
        assert!(!is_live(100, 100));
        assert!(!is_live(99, 100));
        assert!(is_live_opt(None, i64::MAX));
        assert_eq!(expires_at(10, 7), 10 + 7 * 86_400);
    }
}
