//! TTL semantics (DESIGN §4), written once: an item whose `ttl` is at or
//! before now (epoch seconds) is invisible to every operation.
//!
//! The one rule for every form a `ttl` attribute can take: a number expires
//! once now reaches it (compared by value, so `1700000000.5` lives through
//! second `1700000000`); a missing, `NULL` or non-numeric `ttl` never expires
//! (DynamoDB's TTL process ignores such items too). [`unexpired`] states the
//! rule as a [`Cond`] that backends translate; [`is_live`] and
//! [`is_live_item`] evaluate it.

use crate::cond::{CmpOp, Cond};
use crate::item::Item;
use crate::schema::Table;

/// Seconds in a day.
pub const DAY_S: i64 = 86_400;
/// Default lifetime of a task: 7 days after creation.
pub const TASK_TTL_DAYS: i64 = 7;
/// Lifetime of an execution log: 7 days.
pub const LOG_TTL_DAYS: i64 = 7;
/// Lifetime of a score row: 30 days.
pub const SCORE_TTL_DAYS: i64 = 30;

/// Whether an item with a numeric `ttl` is visible at `now_s`: exactly
/// while `now_s < ttl`.
pub fn is_live(ttl: i64, now_s: i64) -> bool {
    now_s < ttl
}

/// The condition "not expired at `now_s`" on items of `table`: its `ttl`
/// is not a number, or is after now. Always true for tables without TTL.
pub fn unexpired(table: Table, now_s: i64) -> Cond {
    match table.def().ttl {
        None => Cond::True,
        Some(ttl) => Cond::Or(vec![
            Cond::IsNumber(ttl).not(),
            Cond::Cmp(ttl, CmpOp::Gt, now_s),
        ]),
    }
}

/// The condition "expired at `now_s`" (what a purge deletes): the negation
/// of [`unexpired`] (a numeric `ttl` at or before now), never true for
/// tables without TTL.
pub fn expired(table: Table, now_s: i64) -> Cond {
    match table.def().ttl {
        None => Cond::Or(Vec::new()),
        Some(ttl) => Cond::IsNumber(ttl).and(Cond::Cmp(ttl, CmpOp::Le, now_s)),
    }
}

/// The condition "the item exists and is live at `now_s`".
pub fn live(table: Table, now_s: i64) -> Cond {
    Cond::Exists.and(unexpired(table, now_s))
}

/// Whether a stored item of `table` is visible at `now_s` ([`unexpired`]).
pub fn is_live_item(table: Table, item: &Item, now_s: i64) -> bool {
    unexpired(table, now_s).eval(Some(item))
}

/// The `ttl` of an item created at `created_s` that lives `days` days.
pub fn expires_at(created_s: i64, days: i64) -> i64 {
    created_s.saturating_add(days.saturating_mul(DAY_S))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::Attr;

    #[test]
    fn ttl_equal_to_now_is_expired() {
        assert!(is_live(101, 100));
        assert!(!is_live(100, 100));
        assert!(!is_live(99, 100));
        assert_eq!(expires_at(10, 7), 10 + 7 * 86_400);
    }

    #[test]
    fn one_rule_for_missing_malformed_and_fractional_ttls() {
        let t = Table::TaskQueue;
        let mut item = Item::new();
        assert!(is_live_item(t, &item, i64::MAX), "no ttl: live");
        item.insert("ttl".into(), Attr::Null);
        assert!(is_live_item(t, &item, i64::MAX), "NULL ttl: live");
        item.insert("ttl".into(), Attr::s("soon"));
        assert!(is_live_item(t, &item, i64::MAX), "text ttl: live");
        item.insert("ttl".into(), Attr::int(100));
        assert!(is_live_item(t, &item, 99));
        assert!(!is_live_item(t, &item, 100));
        item.insert("ttl".into(), Attr::N("100.5".into()));
        assert!(is_live_item(t, &item, 100));
        assert!(!is_live_item(t, &item, 101));
        assert!(expired(t, 101).eval(Some(&item)));
        for now in [99, 100, 101] {
            for ttl in [
                None,
                Some(Attr::Null),
                Some(Attr::s("x")),
                Some(Attr::int(100)),
            ] {
                let mut i = Item::new();
                if let Some(v) = ttl {
                    i.insert("ttl".into(), v);
                }
                assert_ne!(
                    expired(t, now).eval(Some(&i)),
                    unexpired(t, now).eval(Some(&i))
                );
            }
        }
        assert!(!expired(Table::SystemConfig, 101).eval(Some(&item)));
        assert!(!live(t, 0).eval(None));
    }
}
