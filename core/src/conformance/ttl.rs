//! TTL at the exact boundary (visible while now < ttl, gone when ttl ==
//! now, for every operation and `stats`), and `purge_expired`.

use super::basics::{log, miner, raw_keys, sample, score, task};
use super::Harness;
use crate::clock::Clock;
use crate::error::Error;
use crate::register;
use crate::schema::Table;
use crate::tables::config::ParamValue;
use crate::tables::logs::LogStatus;
use crate::tables::tasks::PendingOrder;
use crate::tables::tasks::{NewTask, TaskStatus};
use crate::ttl::{DAY_S, LOG_TTL_DAYS};

async fn stat(h: &Harness, table: Table) -> u64 {
    h.store
        .admin
        .stats()
        .await
        .unwrap()
        .get(&table)
        .copied()
        .unwrap_or(0)
}

/// A task is visible to every operation one second before its `ttl` and to
/// none at `ttl`: gets, index queries, claims (`NotFound`), failure
/// (`NotFound`), completion, listings, deletes, requeue and `stats`.
pub async fn task_ttl_boundary_hides_from_every_operation(h: Harness) {
    let s = &h.store.tasks;
    let t = s
        .create_task(NewTask {
            ttl_days: Some(1),
            ..task("hk", "rev", "h", 0)
        })
        .await
        .unwrap();
    let r = s
        .create_task(NewTask {
            ttl_days: Some(1),
            ..task("hk", "rev", "h", 0)
        })
        .await
        .unwrap();
    s.start_task("hk", "rev", &r.task_id).await.unwrap();
    let f = s
        .create_task(NewTask {
            ttl_days: Some(1),
            ..task("hk", "rev", "h", 0)
        })
        .await
        .unwrap();
    assert_eq!(t.ttl, t.created_at + DAY_S);
    h.clock.set_ms(t.ttl * 1000 - 1);
    assert!(s.get_task("hk", "rev", &t.task_id).await.unwrap().is_some());
    assert_eq!(
        s.get_pending_tasks(10, PendingOrder::Priority)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        s.get_tasks_by_miner("hk", "rev", None, None)
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(stat(&h, Table::TaskQueue).await, 3);
    assert_eq!(
        s.fail_task("hk", "rev", &f.task_id, "x")
            .await
            .unwrap()
            .error_count,
        1
    );

    h.clock.set_ms(t.ttl * 1000);
    assert_eq!(s.get_task("hk", "rev", &t.task_id).await.unwrap(), None);
    assert!(s
        .get_pending_tasks(10, PendingOrder::Priority)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .get_tasks_by_miner("hk", "rev", None, None)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .get_tasks_by_miner("hk", "rev", Some(TaskStatus::Running), Some(5))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(stat(&h, Table::TaskQueue).await, 0);
    let err = s.start_task("hk", "rev", &t.task_id).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    let err = s
        .start_task_checked("hk", "rev", &t.task_id, "h")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    let err = s.fail_task("hk", "rev", &f.task_id, "x").await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(s.requeue_stale_tasks(0).await.unwrap(), 0);
    assert!(!s.complete_task("hk", "rev", &t.task_id).await.unwrap());
    assert_eq!(s.delete_miner_tasks("hk", "rev").await.unwrap(), 0);
    // The raw items may linger until purged, but stay invisible.
    assert_eq!(s.get_task("hk", "rev", &r.task_id).await.unwrap(), None);
}
register!(task_ttl_boundary_hides_from_every_operation);

/// A running task expiring is not requeued, and a fresh task next to an
/// expired one is still served.
pub async fn expired_tasks_do_not_shadow_live_ones(h: Harness) {
    let s = &h.store.tasks;
    let old = s
        .create_task(NewTask {
            ttl_days: Some(1),
            ..task("hk", "rev", "h", 100)
        })
        .await
        .unwrap();
    h.clock.set_ms(old.ttl * 1000);
    let fresh = s.create_task(task("hk", "rev", "h", 0)).await.unwrap();
    let pending = s
        .get_pending_tasks(1, PendingOrder::Priority)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].task_id, fresh.task_id);
    let mine = s
        .get_tasks_by_miner("hk", "rev", None, Some(1))
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].task_id, fresh.task_id);
    assert_eq!(s.delete_miner_tasks("hk", "rev").await.unwrap(), 1);
}
register!(expired_tasks_do_not_shadow_live_ones);

/// A log is visible to every read one second before its `ttl` and to none
/// at `ttl`, including counters and `stats`.
pub async fn log_ttl_boundary_hides_from_every_operation(h: Harness) {
    let l = h
        .store
        .logs
        .log_execution(log("hk", LogStatus::Failed, "sat", 10))
        .await
        .unwrap();
    assert_eq!(l.ttl, l.timestamp + LOG_TTL_DAYS * DAY_S);
    let window = 30 * DAY_S;
    h.clock.set_ms(l.ttl * 1000 - 1);
    assert_eq!(
        h.store
            .logs
            .get_recent_logs("hk", 5, None)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(h
        .store
        .logs
        .check_consecutive_errors("hk", 1)
        .await
        .unwrap());
    assert_eq!(
        h.store
            .logs
            .get_error_summary("hk", window)
            .await
            .unwrap()
            .total_errors,
        1
    );
    assert_eq!(
        h.store
            .logs
            .get_execution_stats("hk", window)
            .await
            .unwrap()
            .counts
            .total,
        1
    );
    assert_eq!(stat(&h, Table::ExecutionLogs).await, 1);
    h.clock.set_ms(l.ttl * 1000);
    assert!(h
        .store
        .logs
        .get_recent_logs("hk", 5, None)
        .await
        .unwrap()
        .is_empty());
    assert!(h
        .store
        .logs
        .get_recent_logs("hk", 5, Some(LogStatus::Failed))
        .await
        .unwrap()
        .is_empty());
    assert!(!h
        .store
        .logs
        .check_consecutive_errors("hk", 1)
        .await
        .unwrap());
    assert_eq!(
        h.store
            .logs
            .get_error_summary("hk", window)
            .await
            .unwrap()
            .total_errors,
        0
    );
    let stats = h
        .store
        .logs
        .get_execution_stats("hk", window)
        .await
        .unwrap();
    assert_eq!((stats.counts.total, stats.avg_execution_time_ms), (0, None));
    assert_eq!(stat(&h, Table::ExecutionLogs).await, 0);
}
register!(log_ttl_boundary_hides_from_every_operation);

/// Score rows live 30 days: visible to every read one second before, to
/// none at the `ttl`; an older live block becomes the latest again.
pub async fn score_ttl_boundary_hides_from_every_operation(h: Harness) {
    h.store
        .scores
        .save_score(score(1, "hk", 0.5))
        .await
        .unwrap();
    let ttl = h.clock.now_s() + 30 * DAY_S;
    h.clock.advance_s(10);
    h.store
        .scores
        .save_score(score(2, "hk", 0.5))
        .await
        .unwrap();
    h.clock.set_ms(ttl * 1000 - 1);
    assert_eq!(
        h.store.scores.get_scores_at_block(1).await.unwrap().len(),
        1
    );
    assert_eq!(
        h.store
            .scores
            .get_latest_scores()
            .await
            .unwrap()
            .unwrap()
            .block_number,
        2
    );
    assert!(h
        .store
        .scores
        .get_miner_score_at_block(1, "hk")
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        h.store
            .scores
            .get_miner_score_history("hk", 5)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(stat(&h, Table::Scores).await >= 2);
    h.clock.set_ms(ttl * 1000);
    assert!(h
        .store
        .scores
        .get_scores_at_block(1)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        h.store
            .scores
            .get_miner_score_at_block(1, "hk")
            .await
            .unwrap(),
        None
    );
    let hist = h
        .store
        .scores
        .get_miner_score_history("hk", 5)
        .await
        .unwrap();
    assert_eq!(hist.iter().map(|s| s.block_number).collect::<Vec<_>>(), [2]);
    assert_eq!(
        h.store
            .scores
            .get_latest_scores()
            .await
            .unwrap()
            .unwrap()
            .block_number,
        2
    );
    h.clock.set_ms((ttl + 10) * 1000);
    assert_eq!(h.store.scores.get_latest_scores().await.unwrap(), None);
    assert!(h
        .store
        .scores
        .get_miner_score_history("hk", 5)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(stat(&h, Table::Scores).await, 0);
}
register!(score_ttl_boundary_hides_from_every_operation);

/// A newer block whose rows expired does not hide an older live one from
/// `get_latest_scores` (rows written with an older clock expire sooner).
pub async fn expired_newer_block_is_skipped_by_latest(h: Harness) {
    h.store
        .scores
        .save_score(score(50, "hk", 0.5))
        .await
        .unwrap();
    h.clock.advance_s(DAY_S);
    h.store
        .scores
        .save_score(score(40, "hk", 0.5))
        .await
        .unwrap();
    h.clock.advance_s(29 * DAY_S);
    let latest = h.store.scores.get_latest_scores().await.unwrap().unwrap();
    assert_eq!(latest.block_number, 40);
}
register!(expired_newer_block_is_skipped_by_latest);

/// `purge_expired` deletes expired items (counting them) and never a live
/// one; items without TTL are never purged.
pub async fn purge_expired_removes_only_expired_items(h: Harness) {
    let s = &h.store;
    let short = s
        .tasks
        .create_task(NewTask {
            ttl_days: Some(1),
            ..task("hk", "rev", "h", 0)
        })
        .await
        .unwrap();
    let long = s
        .tasks
        .create_task(task("hk", "rev", "h", 0))
        .await
        .unwrap();
    s.logs
        .log_execution(log("hk", LogStatus::Success, "sat", 1))
        .await
        .unwrap();
    s.samples
        .save_sample(sample("hk", "rev", "sat", 1))
        .await
        .unwrap();
    s.config
        .set_param("p", ParamValue::Int(1), "", "me")
        .await
        .unwrap();
    s.miners.save_metadata(miner("hk", "h")).await.unwrap();
    s.retention.set_policy("hk", false, None, 1).await.unwrap();
    s.scores.save_score(score(1, "hk", 0.5)).await.unwrap();

    h.clock.set_ms(short.ttl * 1000 - 1);
    assert_eq!(s.admin.purge_expired().await.unwrap(), 0);
    h.clock.set_ms(short.ttl * 1000);
    assert_eq!(s.admin.purge_expired().await.unwrap(), 1);
    let tasks = raw_keys(&h, Table::TaskQueue).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].1, format!("TASK#{}", long.task_id));
    assert_eq!(s.admin.purge_expired().await.unwrap(), 0);

    h.clock.set_ms(long.ttl * 1000);
    assert_eq!(s.admin.purge_expired().await.unwrap(), 2, "task and log");
    assert!(raw_keys(&h, Table::TaskQueue).await.is_empty());
    assert!(raw_keys(&h, Table::ExecutionLogs).await.is_empty());
    assert!(!raw_keys(&h, Table::Scores).await.is_empty());

    h.clock.advance_s(30 * DAY_S);
    assert!(s.admin.purge_expired().await.unwrap() >= 1);
    assert!(raw_keys(&h, Table::Scores).await.is_empty());
    for table in [
        Table::SampleResults,
        Table::SystemConfig,
        Table::MinerMetadata,
        Table::DataRetentionPolicy,
    ] {
        assert_eq!(raw_keys(&h, table).await.len(), 1, "{table:?}");
    }
    assert_eq!(s.admin.purge_expired().await.unwrap(), 0);
}
register!(purge_expired_removes_only_expired_items);
