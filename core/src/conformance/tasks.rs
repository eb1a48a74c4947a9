//! `task_queue`: create, claims, completion, failure, listings, requeue.

use super::basics::{assert_store_empty, at_s, task};
use super::{Harness, T0_MS};
use crate::clock::Clock;
use crate::error::Error;
use crate::register;
use crate::tables::tasks::PendingOrder;
use crate::tables::tasks::{pending_order, Claim, NewTask, Task, TaskStatus};
use crate::ttl::DAY_S;

fn task_ids(tasks: &[Task]) -> Vec<String> {
    tasks.iter().map(|t| t.task_id.clone()).collect()
}

/// Creates `n` tasks of one miner, 1 ms apart so `task_id` order is creation order.
pub async fn create_tasks(h: &Harness, hotkey: &str, revision: &str, n: usize) -> Vec<Task> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        h.clock.advance_ms(1);
        out.push(
            h.store
                .tasks
                .create_task(task(hotkey, revision, "h", 0))
                .await
                .unwrap(),
        );
    }
    out
}

/// A created task is pending, stamped with now, lives 7 days, has an id
/// `{created_ms:016}-{uuid}`, and reads back equal.
pub async fn create_and_get_task(h: Harness) {
    let t = h
        .store
        .tasks
        .create_task(task("hk", "rev", "mh", 4))
        .await
        .unwrap();
    let now_s = T0_MS / 1000;
    assert_eq!(t.status, TaskStatus::Pending);
    assert_eq!(t.created_at, now_s);
    assert_eq!(t.ttl, now_s + 7 * DAY_S);
    assert_eq!(t.priority, 4);
    assert_eq!(t.error_count, 0);
    assert_eq!(
        (t.started_at, t.completed_at, t.last_error.as_deref()),
        (None, None, None)
    );
    assert_eq!(t.model_hash, "mh");
    assert_eq!(t.env, "sat");
    assert_eq!(t.validator_hotkey, "validator");
    let (ms, uuid) = t.task_id.split_once('-').unwrap();
    assert_eq!(ms, format!("{T0_MS:016}"));
    assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{}", t.task_id);
    let got = h
        .store
        .tasks
        .get_task("hk", "rev", &t.task_id)
        .await
        .unwrap();
    assert_eq!(got, Some(t.clone()));
    assert_eq!(
        h.store
            .tasks
            .get_task("hk", "rev2", &t.task_id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        h.store.tasks.get_task("hk", "rev", "nope").await.unwrap(),
        None
    );
}
register!(create_and_get_task);

/// `ttl_days` sets the lifetime; zero or negative days are input errors.
pub async fn task_ttl_days_are_honoured_and_validated(h: Harness) {
    let t = h
        .store
        .tasks
        .create_task(NewTask {
            ttl_days: Some(2),
            ..task("hk", "rev", "h", 0)
        })
        .await
        .unwrap();
    assert_eq!(t.ttl, t.created_at + 2 * DAY_S);
    for bad in [0, -3] {
        let err = h
            .store
            .tasks
            .create_task(NewTask {
                ttl_days: Some(bad),
                ..task("hk", "rev", "h", 0)
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{bad}: {err:?}");
    }
    let all = h
        .store
        .tasks
        .get_tasks_by_miner("hk", "rev", None, None)
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
}
register!(task_ttl_days_are_honoured_and_validated);

/// `get_pending_tasks` in [`PendingOrder::Age`] returns pending tasks
/// oldest first whatever their priority, exactly `limit`.
pub async fn pending_tasks_by_age_ignore_priority(h: Harness) {
    let s = &h.store.tasks;
    let a = s.create_task(task("m1", "r", "h", 1)).await.unwrap();
    at_s(&h, 1);
    let b = s.create_task(task("m2", "r", "h", 9)).await.unwrap();
    at_s(&h, 2);
    let c = s.create_task(task("m3", "r", "h", -4)).await.unwrap();
    let all = s.get_pending_tasks(10, PendingOrder::Age).await.unwrap();
    assert_eq!(task_ids(&all), task_ids(&[a.clone(), b.clone(), c.clone()]));
    let first2 = s.get_pending_tasks(2, PendingOrder::Age).await.unwrap();
    assert_eq!(task_ids(&first2), task_ids(&[a, b.clone()]));
    let by_priority = s
        .get_pending_tasks(1, PendingOrder::Priority)
        .await
        .unwrap();
    assert_eq!(task_ids(&by_priority), task_ids(&[b]));
}
register!(pending_tasks_by_age_ignore_priority);

/// `get_pending_tasks` returns pending tasks across miners, highest
/// priority first, then oldest; running ones are left out; exactly `limit`.
pub async fn pending_tasks_by_priority_then_oldest(h: Harness) {
    let s = &h.store.tasks;
    let a = s.create_task(task("m1", "r", "h", 1)).await.unwrap();
    let b = s.create_task(task("m2", "r", "h", 5)).await.unwrap();
    at_s(&h, 1);
    let c = s.create_task(task("m3", "r", "h", 5)).await.unwrap();
    let d = s.create_task(task("m1", "r2", "h", 0)).await.unwrap();
    at_s(&h, 2);
    let e = s.create_task(task("m1", "r", "h", 5)).await.unwrap();
    let f = s.create_task(task("m2", "r", "h", -2)).await.unwrap();
    let all = s
        .get_pending_tasks(100, PendingOrder::Priority)
        .await
        .unwrap();
    assert_eq!(
        task_ids(&all),
        task_ids(&[
            b.clone(),
            c.clone(),
            e.clone(),
            a.clone(),
            d.clone(),
            f.clone()
        ])
    );
    let mut sorted = all.clone();
    sorted.sort_by(pending_order);
    assert_eq!(sorted, all);
    s.start_task("m3", "r", &c.task_id).await.unwrap();
    let top2 = s
        .get_pending_tasks(2, PendingOrder::Priority)
        .await
        .unwrap();
    assert_eq!(task_ids(&top2), task_ids(&[b, e]));
    assert!(s
        .get_pending_tasks(0, PendingOrder::Priority)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        s.get_pending_tasks(5, PendingOrder::Priority)
            .await
            .unwrap()
            .len(),
        5
    );
}
register!(pending_tasks_by_priority_then_oldest);

/// With more pending tasks than `limit`, exactly `limit` come back, across
/// miners and in order; with fewer, all of them.
pub async fn pending_tasks_exact_limit_across_miners(h: Harness) {
    for i in 0..36 {
        h.clock.advance_ms(1);
        let hk = format!("m{}", i % 4);
        h.store
            .tasks
            .create_task(task(&hk, "rev", "h", (i % 3) as i64))
            .await
            .unwrap();
    }
    let got = h
        .store
        .tasks
        .get_pending_tasks(25, PendingOrder::Priority)
        .await
        .unwrap();
    assert_eq!(got.len(), 25);
    let all = h
        .store
        .tasks
        .get_pending_tasks(1000, PendingOrder::Priority)
        .await
        .unwrap();
    assert_eq!(all.len(), 36);
    assert_eq!(&all[..25], &got[..]);
    assert!(all[..12].iter().all(|t| t.priority == 2));
    let mut sorted = all.clone();
    sorted.sort_by(pending_order);
    assert_eq!(sorted, all);
}
register!(pending_tasks_exact_limit_across_miners);

/// `start_task` claims pending→running with `started_at` = now; a second
/// claim is `Conflict`, a missing task `NotFound`.
pub async fn start_task_claims_once(h: Harness) {
    let t = h
        .store
        .tasks
        .create_task(task("hk", "rev", "h", 0))
        .await
        .unwrap();
    at_s(&h, 30);
    let started = h
        .store
        .tasks
        .start_task("hk", "rev", &t.task_id)
        .await
        .unwrap();
    assert_eq!(started.status, TaskStatus::Running);
    assert_eq!(started.started_at, Some(h.clock.now_s()));
    assert_eq!(started.task_id, t.task_id);
    assert_eq!(started.created_at, t.created_at);
    let got = h
        .store
        .tasks
        .get_task("hk", "rev", &t.task_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, started);
    let err = h
        .store
        .tasks
        .start_task("hk", "rev", &t.task_id)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    let err = h
        .store
        .tasks
        .start_task("hk", "rev", "0000000000000000-none")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    let err = h
        .store
        .tasks
        .start_task("other", "rev", &t.task_id)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert!(h
        .store
        .tasks
        .get_pending_tasks(10, PendingOrder::Priority)
        .await
        .unwrap()
        .is_empty());
}
register!(start_task_claims_once);

/// A failed task is not pending: claiming it is `Conflict`.
pub async fn start_failed_task_conflicts(h: Harness) {
    let t = h
        .store
        .tasks
        .create_task(task("hk", "rev", "h", 0))
        .await
        .unwrap();
    h.store
        .tasks
        .start_task("hk", "rev", &t.task_id)
        .await
        .unwrap();
    h.store
        .tasks
        .fail_task("hk", "rev", &t.task_id, "boom")
        .await
        .unwrap();
    let err = h
        .store
        .tasks
        .start_task("hk", "rev", &t.task_id)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
}
register!(start_failed_task_conflicts);

/// `start_task_checked` starts a task whose hash matches and deletes one
/// whose hash differs, returning `Stale`.
pub async fn start_task_checked_starts_or_removes_stale(h: Harness) {
    let good = h
        .store
        .tasks
        .create_task(task("hk", "rev", "h1", 0))
        .await
        .unwrap();
    let stale = h
        .store
        .tasks
        .create_task(task("hk", "rev", "h0", 0))
        .await
        .unwrap();
    match h
        .store
        .tasks
        .start_task_checked("hk", "rev", &good.task_id, "h1")
        .await
        .unwrap()
    {
        Claim::Started(t) => {
            assert_eq!(t.task_id, good.task_id);
            assert_eq!(t.status, TaskStatus::Running);
            assert_eq!(t.started_at, Some(h.clock.now_s()));
        }
        Claim::Stale => panic!("matching hash must start"),
    }
    let claim = h
        .store
        .tasks
        .start_task_checked("hk", "rev", &stale.task_id, "h1")
        .await
        .unwrap();
    assert_eq!(claim, Claim::Stale);
    assert_eq!(
        h.store
            .tasks
            .get_task("hk", "rev", &stale.task_id)
            .await
            .unwrap(),
        None
    );
    let err = h
        .store
        .tasks
        .start_task_checked("hk", "rev", &good.task_id, "h1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    let err = h
        .store
        .tasks
        .start_task_checked("hk", "rev", &stale.task_id, "h1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}
register!(start_task_checked_starts_or_removes_stale);

/// `complete_task` deletes the task: true the first time, false after.
pub async fn complete_task_deletes_once(h: Harness) {
    let t = h
        .store
        .tasks
        .create_task(task("hk", "rev", "h", 0))
        .await
        .unwrap();
    let other = h
        .store
        .tasks
        .create_task(task("hk", "rev", "h", 0))
        .await
        .unwrap();
    h.store
        .tasks
        .start_task("hk", "rev", &t.task_id)
        .await
        .unwrap();
    assert!(h
        .store
        .tasks
        .complete_task("hk", "rev", &t.task_id)
        .await
        .unwrap());
    assert!(!h
        .store
        .tasks
        .complete_task("hk", "rev", &t.task_id)
        .await
        .unwrap());
    assert_eq!(
        h.store
            .tasks
            .get_task("hk", "rev", &t.task_id)
            .await
            .unwrap(),
        None
    );
    assert!(h
        .store
        .tasks
        .get_task("hk", "rev", &other.task_id)
        .await
        .unwrap()
        .is_some());
    let err = h
        .store
        .tasks
        .start_task("hk", "rev", &t.task_id)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}
register!(complete_task_deletes_once);

/// `fail_task` sets status failed, `error_count` + 1, `last_error` and
/// `completed_at` = now; a missing task is `NotFound`.
pub async fn fail_task_records_the_failure(h: Harness) {
    let t = h
        .store
        .tasks
        .create_task(task("hk", "rev", "h", 0))
        .await
        .unwrap();
    h.store
        .tasks
        .start_task("hk", "rev", &t.task_id)
        .await
        .unwrap();
    at_s(&h, 12);
    let failed = h
        .store
        .tasks
        .fail_task("hk", "rev", &t.task_id, "model timed out")
        .await
        .unwrap();
    assert_eq!(failed.status, TaskStatus::Failed);
    assert_eq!(failed.error_count, 1);
    assert_eq!(failed.last_error.as_deref(), Some("model timed out"));
    assert_eq!(failed.completed_at, Some(h.clock.now_s()));
    assert_eq!(
        h.store
            .tasks
            .get_task("hk", "rev", &t.task_id)
            .await
            .unwrap(),
        Some(failed)
    );
    at_s(&h, 20);
    let again = h
        .store
        .tasks
        .fail_task("hk", "rev", &t.task_id, "second")
        .await
        .unwrap();
    assert_eq!(again.error_count, 2);
    assert_eq!(again.last_error.as_deref(), Some("second"));
    assert_eq!(again.completed_at, Some(h.clock.now_s()));
    let err = h
        .store
        .tasks
        .fail_task("hk", "rev", "missing", "x")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(
        h.store
            .tasks
            .get_tasks_by_miner("hk", "rev", None, None)
            .await
            .unwrap()
            .len(),
        1
    );
}
register!(fail_task_records_the_failure);

fn newest_first(tasks: &[Task]) -> Vec<String> {
    let mut ids = task_ids(tasks);
    ids.reverse();
    ids
}

/// `get_tasks_by_miner` orders newest first (as the original) and applies
/// the status filter before the limit (5 pending then 5 running: pending,
/// limit 3 → the 3 newest pending).
pub async fn tasks_by_miner_status_filter_before_limit(h: Harness) {
    let made = create_tasks(&h, "hk", "rev", 10).await;
    create_tasks(&h, "hk", "rev2", 3).await;
    for t in &made[5..] {
        h.store
            .tasks
            .start_task("hk", "rev", &t.task_id)
            .await
            .unwrap();
    }
    let running = h
        .store
        .tasks
        .get_tasks_by_miner("hk", "rev", Some(TaskStatus::Running), None)
        .await
        .unwrap();
    assert_eq!(task_ids(&running), newest_first(&made[5..]));
    assert!(running.iter().all(|t| t.status == TaskStatus::Running));
    let pending = h
        .store
        .tasks
        .get_tasks_by_miner("hk", "rev", Some(TaskStatus::Pending), None)
        .await
        .unwrap();
    assert_eq!(task_ids(&pending), newest_first(&made[..5]));
    let pending3 = h
        .store
        .tasks
        .get_tasks_by_miner("hk", "rev", Some(TaskStatus::Pending), Some(3))
        .await
        .unwrap();
    assert_eq!(task_ids(&pending3), newest_first(&made[2..5]));
    let first3 = h
        .store
        .tasks
        .get_tasks_by_miner("hk", "rev", None, Some(3))
        .await
        .unwrap();
    assert_eq!(task_ids(&first3), newest_first(&made[7..]));
    let all = h
        .store
        .tasks
        .get_tasks_by_miner("hk", "rev", None, None)
        .await
        .unwrap();
    assert_eq!(task_ids(&all), newest_first(&made));
    let latest = h
        .store
        .tasks
        .get_tasks_by_miner("hk", "rev", None, Some(1))
        .await
        .unwrap();
    assert_eq!(task_ids(&latest), newest_first(&made[9..]));
    let failed = h
        .store
        .tasks
        .get_tasks_by_miner("hk", "rev", Some(TaskStatus::Failed), Some(3))
        .await
        .unwrap();
    assert!(failed.is_empty());
}
register!(tasks_by_miner_status_filter_before_limit);

/// `delete_miner_tasks` deletes every task of that miner and revision and
/// says how many; other revisions and miners keep theirs.
pub async fn delete_miner_tasks_counts_and_isolates(h: Harness) {
    let made = create_tasks(&h, "hk", "rev", 4).await;
    h.store
        .tasks
        .start_task("hk", "rev", &made[0].task_id)
        .await
        .unwrap();
    create_tasks(&h, "hk", "rev2", 2).await;
    create_tasks(&h, "hk2", "rev", 1).await;
    assert_eq!(
        h.store.tasks.delete_miner_tasks("hk", "rev").await.unwrap(),
        4
    );
    assert_eq!(
        h.store.tasks.delete_miner_tasks("hk", "rev").await.unwrap(),
        0
    );
    assert!(h
        .store
        .tasks
        .get_tasks_by_miner("hk", "rev", None, None)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        h.store
            .tasks
            .get_tasks_by_miner("hk", "rev2", None, None)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        h.store
            .tasks
            .get_tasks_by_miner("hk2", "rev", None, None)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        h.store
            .tasks
            .get_pending_tasks(100, PendingOrder::Priority)
            .await
            .unwrap()
            .len(),
        3
    );
}
register!(delete_miner_tasks_counts_and_isolates);

/// `requeue_stale_tasks` puts back tasks running since at or before
/// `now - timeout` (clearing `started_at`), not younger ones or pending ones.
pub async fn requeue_stale_tasks_at_the_timeout_boundary(h: Harness) {
    let made = create_tasks(&h, "hk", "rev", 3).await;
    at_s(&h, 100);
    h.store
        .tasks
        .start_task("hk", "rev", &made[0].task_id)
        .await
        .unwrap();
    at_s(&h, 130);
    h.store
        .tasks
        .start_task("hk", "rev", &made[1].task_id)
        .await
        .unwrap();
    at_s(&h, 159);
    assert_eq!(h.store.tasks.requeue_stale_tasks(60).await.unwrap(), 0);
    at_s(&h, 160);
    assert_eq!(h.store.tasks.requeue_stale_tasks(60).await.unwrap(), 1);
    let t0 = h
        .store
        .tasks
        .get_task("hk", "rev", &made[0].task_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t0.status, TaskStatus::Pending);
    assert_eq!(t0.started_at, None);
    let t1 = h
        .store
        .tasks
        .get_task("hk", "rev", &made[1].task_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t1.status, TaskStatus::Running);
    assert_eq!(h.store.tasks.requeue_stale_tasks(60).await.unwrap(), 0);
    at_s(&h, 190);
    assert_eq!(h.store.tasks.requeue_stale_tasks(60).await.unwrap(), 1);
    assert_eq!(
        h.store
            .tasks
            .get_pending_tasks(10, PendingOrder::Priority)
            .await
            .unwrap()
            .len(),
        3
    );
    // A requeued task can be claimed again.
    h.store
        .tasks
        .start_task("hk", "rev", &made[0].task_id)
        .await
        .unwrap();
}
register!(requeue_stale_tasks_at_the_timeout_boundary);

/// Bad task ids and bad key parts in task operations are input errors, and
/// nothing is written.
pub async fn task_operations_validate_key_parts(h: Harness) {
    let s = &h.store.tasks;
    for bad in ["", "a#b", "ctl\u{7}"] {
        let errs = [
            s.start_task("hk", "rev", bad).await.unwrap_err(),
            s.start_task(bad, "rev", "id").await.unwrap_err(),
            s.start_task_checked("hk", bad, "id", "h")
                .await
                .unwrap_err(),
            s.fail_task("hk", "rev", bad, "e").await.unwrap_err(),
            s.create_task(task(bad, "rev", "h", 0)).await.unwrap_err(),
        ];
        for err in errs {
            assert!(
                matches!(err, Error::InvalidInput { .. }),
                "{bad:?}: {err:?}"
            );
        }
    }
    assert_store_empty(&h).await;
}
register!(task_operations_validate_key_parts);
