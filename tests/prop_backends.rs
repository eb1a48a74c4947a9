//! Cross-backend, model-based property tests (DESIGN §2–§4): random
//! operation sequences over the seven tables, with clock moves that land
//! exactly on TTLs and retention cut-offs, run through the reference model
//! (`tests/model`), SQLite, the core-owned handles over the in-memory
//! driver and DynamoDB (the emulator); every outcome is
//! compared whole with the model's after every step, and the cross-table
//! invariants (protection, top-3, claims, purge) are checked in each world.
//! The model writes the rules again, independently of the core's, so a
//! wrong rule in the core shows as much as a wrong backend.
//!
//! Strategies put values exactly on every boundary the contract names
//! (`tests/model/strategies.rs`): range ends, cut-offs, TTLs, pause ends,
//! log windows, limits and thresholds at the match count.
//!
//! `PROPTEST_CASES` raises the number of cases of every property;
//! `PROPTEST_MAX_SHRINK_ITERS` bounds shrinking. Failing cases are kept in
//! `tests/prop_backends_<group>.proptest-regressions` and replayed first.
//!
//! # Mutations these properties catch
//!
//! Each is a patch in `tests/mutations/`; `scripts/check-mutations` applies
//! each one, runs the property named after it at its default case count,
//! expects it to fail, and reverts it.
//!
//! | patch | mutation | caught by |
//! |---|---|---|
//! | 01 | DynamoDB driver: an `ADD` is sent as `SET` (counters stop counting) | `miner_counters_and_pauses` |
//! | 02 | SQLite driver: a `RangeCond::Between` query excludes its upper end | `retention_cleanup_rules` |
//! | 03 | DynamoDB driver: a comparison is sent one above its bound | `ttl_visibility_and_purge` |
//! | 04 | SQLite driver: `delete_where` drops the filter (deletes its whole target) | `retention_cleanup_rules` |
//! | 05 | DynamoDB driver: a number reads back without its fraction | `top_three_protection` |
//! | 06 | core: `fail_task` does not count the failure (`error_count`) | `task_queue_claims_and_order` |
//! | 07 | DynamoDB driver: a descending partition read is sent ascending | `ttl_visibility_and_purge` |
//! | 08 | core: requeue cut-off exclusive (`started_at < now - timeout`) | `task_queue_claims_and_order` |
//! | 09 | core: log window start exclusive (`timestamp > now - window`) | `ttl_visibility_and_purge` |
//! | 10 | core: a pause expires only after `pause_until`, not at it | `miner_counters_and_pauses` |
//! | 11 | DynamoDB driver: a failed condition ends the mutation (no later branch tried) | `task_queue_claims_and_order` |
//! | 12 | SQLite driver: `count` drops the filter (`stats` counts expired items) | `ttl_visibility_and_purge` |
//! | 13 | core: `protected_since` restarts on every protection | `retention_cleanup_rules` |
//! | 14 | DynamoDB driver: an index or scan read is returned unsorted | `task_queue_claims_and_order` |
//! | 15 | core: top-3 ties broken by hotkey descending | `top_three_protection` |
//! | 16 | DynamoDB driver: a projection leaves out the filter's attributes | `ttl_visibility_and_purge` |
//! | 17 | core handles: a get treats an item as expired one second before its `ttl` | `ttl_visibility_and_purge` |
//! | 18 | core handles: `get_tasks_by_miner` applies the limit before the status filter | `task_queue_claims_and_order` |
//! | 19 | driver: a `RangeCond::Between` query excludes its upper end | `retention_cleanup_rules` |
//! | 20 | memory driver: query results in reverse of the requested order | `task_queue_claims_and_order` |

mod model;

use model::harness::{config, run, runtime};
use model::strategies::{sequence, Group};
use proptest::test_runner::TestRunner;

/// Runs `group`'s sequences of `min..max` ops, `default_cases` cases unless
/// `PROPTEST_CASES` says otherwise; panics with the minimal failing sequence.
fn check(group: Group, default_cases: u32, min: usize, max: usize) {
    let rt = runtime();
    let mut runner = TestRunner::new(config(group, default_cases));
    let result = runner.run(&sequence(group, min, max), |ops| {
        rt.block_on(run(&ops, true))
    });
    if let Err(e) = result {
        panic!("{group:?} property failed: {e}");
    }
}

/// Every invalid key part (empty, `#`, control character, > 256 bytes) and
/// NaN number is rejected with `InvalidInput` before anything is written,
/// identically on both backends; valid writes around them are unaffected.
#[test]
fn key_scheme_invalid_parts_write_nothing() {
    check(Group::Keys, 16, 5, 25);
}

/// TTL: tasks, logs and score rows are visible exactly while now < ttl to
/// gets, queries, index queries, claims and updates; `purge_expired` never
/// removes a live item.
#[test]
fn ttl_visibility_and_purge() {
    check(Group::Ttl, 24, 5, 30);
}

/// Retention: protected miners never lose a sample to cleanup; unprotected
/// ones keep exactly the samples younger than their retention, across
/// policy changes, snapshots, cleanups and cut-off clock moves.
#[test]
fn retention_cleanup_rules() {
    check(Group::Retention, 24, 5, 30);
}

/// Historical top-3: after a block snapshot, its three best miners (ties by
/// hotkey) are protected; snapshots replace the block's rows.
#[test]
fn top_three_protection() {
    check(Group::Top3, 16, 5, 25);
}

/// Tasks: pending order, claims (pending→running once, `NotFound` vs
/// `Conflict`), stale claims, failures, requeues, limits after filters.
#[test]
fn task_queue_claims_and_order() {
    check(Group::Tasks, 24, 5, 30);
}

/// Config: versions count sets (1 when new, +1 per set, restarting after a
/// delete), values read back with their type.
#[test]
fn config_versions() {
    check(Group::Config, 16, 5, 25);
}

/// Miners: counters, consecutive errors, pauses and their expiry.
#[test]
fn miner_counters_and_pauses() {
    check(Group::Miners, 16, 5, 25);
}

/// Everything at once.
#[test]
fn all_tables_mixed() {
    check(Group::All, 24, 10, 40);
}
