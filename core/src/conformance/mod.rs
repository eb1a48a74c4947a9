//! The shared conformance suite: plain async functions over the table
//! traits that every backend's tests run, through [`conformance_suite!`]
//! (apache object_store style). Each function takes a fresh [`Harness`]
//! whose clock is manual, and asserts behaviour and error variants.
//!
//! A backend's test file is one line:
//!
//! ```text
//! affine_db_core::conformance_suite!(my_backend_harness);
//! ```
//!
//! where `async fn my_backend_harness() -> Harness` opens a fresh, empty
//! store on a [`ManualClock`] standing at [`T0_MS`].

use std::sync::Arc;

use crate::clock::ManualClock;
use crate::store::Store;

mod basics;
mod compat;
mod concurrency;
mod config;
mod dictionaries;
mod logs;
mod miners;
mod paging;
mod retention;
mod rules;
mod samples;
mod scores;
mod tasks;
mod ttl;

pub use basics::*;
pub use compat::*;
pub use concurrency::*;
pub use config::*;
pub use dictionaries::*;
pub use logs::*;
pub use miners::*;
pub use paging::*;
pub use retention::*;
pub use rules::*;
pub use samples::*;
pub use scores::*;
pub use tasks::*;
pub use ttl::*;

/// Where every harness clock starts: 2025-01-01T00:00:00Z, in ms.
pub const T0_MS: i64 = 1_735_689_600_000;

/// A fresh, empty store and the manual clock it reads.
#[derive(Clone)]
pub struct Harness {
    /// The store under test.
    pub store: Store,
    /// Its clock; move it to test TTL and retention.
    pub clock: Arc<ManualClock>,
}

impl Harness {
    /// A manual clock at [`T0_MS`], to build a backend with.
    pub fn new_clock() -> Arc<ManualClock> {
        Arc::new(ManualClock::new(T0_MS))
    }
}

/// Generates one `#[tokio::test]` per conformance function, each with a
/// fresh harness from `$make` (an `async fn() -> Harness`).
#[macro_export]
macro_rules! conformance_suite {
    ($make:path) => {
        $crate::conformance_suite!(@tests $make;
            activated_dictionary_writes_named_frames,
            activating_an_unstored_dictionary_changes_nothing,
            env_dictionary_overrides_the_default,
            frame_of_an_unstored_dictionary_is_corrupt,
            frames_of_dictionaries_stored_elsewhere_read,
            recompress_resumes_after_an_interruption,
            train_then_recompress_rewrites_older_frames,
            train_with_too_few_conversations_stores_nothing,
            bad_key_parts_rejected_in_every_table,
            check_pause_expired_at_the_boundary,
            cleanup_deletes_exactly_the_expired_samples,
            cleanup_dry_run_deletes_nothing,
            cleanup_records_last_cleanup_at,
            complete_task_deletes_once,
            concurrent_claims_start_each_task_once,
            concurrent_set_param_never_repeats_a_version,
            concurrent_snapshots_leave_one_whole_block,
            concurrent_statistics_lose_no_update,
            consecutive_errors_needs_the_newest_threshold_all_failed,
            count_samples_before_deletes_nothing,
            create_and_get_task,
            delete_miner_tasks_counts_and_isolates,
            delete_param_reports_existence,
            delete_samples_before_covers_every_env,
            empty_snapshot_empties_the_block,
            error_summary_in_window,
            execution_stats_window_counts_and_mean,
            expired_newer_block_is_skipped_by_latest,
            expired_tasks_do_not_shadow_live_ones,
            fail_task_records_the_failure,
            get_all_miners_by_hotkey,
            get_missing_sample_is_none,
            get_param_value_uses_the_default,
            get_sample_can_skip_the_conversation,
            invalid_params_rejected,
            json_values_keep_their_digits,
            invalid_policies_rejected,
            key_parts_are_validated_before_writing,
            legacy_float_param_reads_as_float,
            legacy_gzip_conversation_reads_back,
            key_parts_at_the_limit_are_accepted,
            large_compressible_conversation_is_accepted,
            latest_scores_is_the_highest_block,
            list_all_configs_sorted_by_name,
            list_sample_owners_sorted_and_distinct,
            log_bad_hotkey_rejected,
            log_execution_stamps_and_reads_back,
            log_execution_with_a_timestamp,
            log_status_filter_pages_past_non_matching_items,
            log_ttl_boundary_hides_from_every_operation,
            logs_in_the_same_second_are_distinct,
            miner_bad_hotkey_rejected,
            miner_without_counters_counts_from_zero,
            miner_score_history_counts_recent_blocks,
            no_policy_means_unprotected,
            oversize_param_is_too_large_and_not_written,
            oversize_sample_is_too_large_and_not_written,
            param_values_round_trip_every_type,
            pause_with_duration_and_unpause,
            pause_without_duration_never_expires,
            pending_tasks_by_age_ignore_priority,
            pending_tasks_by_priority_then_oldest,
            pending_tasks_exact_limit_across_miners,
            policies_listed_by_hotkey,
            protection_change_takes_effect_at_the_next_cleanup,
            purge_expired_removes_only_expired_items,
            recent_logs_newest_first_status_before_limit,
            requeue_stale_tasks_at_the_timeout_boundary,
            resave_with_the_same_id_keeps_one_row,
            sample_non_finite_score_and_bad_timestamp_rejected,
            sample_queries_page_past_one_megabyte,
            samples_by_env_inclusive_range_and_order,
            samples_by_miner_are_ordered_across_envs,
            samples_by_miner_env_filter_before_limit,
            save_and_get_sample_round_trips,
            save_metadata_creates_a_fresh_record,
            save_metadata_keeps_statistics_pause_and_first_commit,
            save_sample_fills_id_and_timestamp,
            save_sample_replaces_the_same_key,
            save_samples_empty_batch_is_a_no_op,
            save_samples_resaves_by_id,
            save_samples_returns_keys_in_input_order,
            save_samples_with_one_invalid_writes_nothing,
            save_score_round_trips_and_replaces,
            save_snapshot_replaces_the_block_exactly,
            score_invalid_numbers_rejected,
            score_ttl_boundary_hides_from_every_operation,
            scores_at_block_sorted_by_hotkey,
            set_param_increments_versions,
            set_policy_tracks_protected_since,
            set_protected_and_unprotected_keep_retention_days,
            set_protected_with_an_explicit_since,
            snapshot_being_written_is_invisible,
            snapshot_with_bad_rows_changes_nothing,
            start_failed_task_conflicts,
            start_task_checked_starts_or_removes_stale,
            start_task_claims_once,
            stats_count_items_per_table,
            stored_keys_follow_the_key_scheme,
            task_operations_validate_key_parts,
            task_status_filter_pages_past_non_matching_items,
            task_with_absent_or_null_optionals_reads,
            task_ttl_boundary_hides_from_every_operation,
            task_ttl_days_are_honoured_and_validated,
            tasks_by_miner_status_filter_before_limit,
            top_three_of_a_block_become_protected,
            top_three_with_invalid_rows_writes_nothing,
            update_cleanup_timestamp_records_now,
            update_statistics_counts_and_resets,
            unknown_param_type_reads_back_as_stored,
            unstorable_values_rejected_identically,
            update_statistics_without_counting_the_sample,
            validated_claim_checks_the_current_model,
        );
    };
    (@tests $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let h = $make().await;
                $crate::conformance::$name(h).await;
            }
        )*
    };
}
