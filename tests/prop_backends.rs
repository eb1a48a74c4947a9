//! Cross-backend, model-based property tests (DESIGN §2–§4): random
//! operation sequences over the seven tables, with clock moves that land
//! exactly on TTLs and retention cut-offs, run through the reference model
//! (`tests/model`), SQLite and DynamoDB (the emulator); every outcome is
//! compared with the model's after every step, and the cross-table
//! invariants (protection, top-3, claims, purge) are checked in each world.
//!
//! `PROPTEST_CASES` raises the number of cases of every property.

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
