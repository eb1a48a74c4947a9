//! Limits after filters with more items than a store page: every limited
//! operation returns exactly `min(limit, matches)`, in order.

use super::basics::{incompressible_conversation, sample_with_id};
use super::logs::write_logs;
use super::tasks::create_tasks;
use super::Harness;
use crate::register;
use crate::tables::logs::LogStatus;
use crate::tables::samples::{miner_order, Conversation, MinerSamplesQuery, NewSample};
use crate::tables::tasks::PendingOrder;
use crate::tables::tasks::TaskStatus;

/// 150 tasks of which only the first 10 are running: a status filter with
/// limit 5 returns exactly the newest 5 running ones (after paging past the
/// 140 newer pending ones); pending listings page through all 140.
pub async fn task_status_filter_pages_past_non_matching_items(h: Harness) {
    let made = create_tasks(&h, "hk", "rev", 150).await;
    for t in &made[..10] {
        h.store
            .tasks
            .start_task("hk", "rev", &t.task_id)
            .await
            .unwrap();
    }
    let running = h
        .store
        .tasks
        .get_tasks_by_miner("hk", "rev", Some(TaskStatus::Running), Some(5))
        .await
        .unwrap();
    let ids: Vec<&str> = running.iter().map(|t| t.task_id.as_str()).collect();
    let want: Vec<&str> = made[5..10]
        .iter()
        .rev()
        .map(|t| t.task_id.as_str())
        .collect();
    assert_eq!(ids, want);
    let pending = h
        .store
        .tasks
        .get_pending_tasks(200, PendingOrder::Priority)
        .await
        .unwrap();
    assert_eq!(pending.len(), 140);
    assert_eq!(
        pending[0].task_id, made[10].task_id,
        "same priority: oldest first"
    );
    assert_eq!(pending[139].task_id, made[149].task_id);
    assert_eq!(
        h.store
            .tasks
            .get_pending_tasks(139, PendingOrder::Priority)
            .await
            .unwrap()
            .len(),
        139
    );
    let all = h
        .store
        .tasks
        .get_tasks_by_miner("hk", "rev", None, None)
        .await
        .unwrap();
    assert_eq!(all.len(), 150);
    assert_eq!(
        h.store.tasks.delete_miner_tasks("hk", "rev").await.unwrap(),
        150
    );
}
register!(task_status_filter_pages_past_non_matching_items);

/// 180 samples of ~7 KB compressed each (over one 1 MB page): limited
/// queries return exactly `limit` in order, counts and deletes see all.
pub async fn sample_queries_page_past_one_megabyte(h: Harness) {
    let batch: Vec<NewSample> = (0..180)
        .map(|i| {
            let env = if i % 18 == 0 { "rare" } else { "bulk" };
            let mut s = sample_with_id("hk", "rev", env, 1_000 + i as i64, &format!("id{i:03}"));
            s.conversation = incompressible_conversation(12_000);
            s
        })
        .collect();
    h.store.samples.save_samples(batch).await.unwrap();
    let q = |env: Option<&str>, limit, newest_first, conversation| MinerSamplesQuery {
        env: env.map(str::to_string),
        limit,
        newest_first,
        conversation,
    };
    let newest = h
        .store
        .samples
        .get_samples_by_miner(
            "hk",
            "rev",
            &q(None, Some(170), true, Conversation::Include),
        )
        .await
        .unwrap();
    assert_eq!(newest.len(), 170);
    // Sort key order: env ("bulk" < "rare"), then time; reversed.
    assert_eq!(newest[0].sample_id, "id162");
    assert_eq!(newest[169].sample_id, "id011");
    assert!(newest.windows(2).all(|w| miner_order(&w[0], &w[1]).is_gt()));
    assert!(newest.iter().all(|s| s.conversation.is_some()));
    let rare = h
        .store
        .samples
        .get_samples_by_miner(
            "hk",
            "rev",
            &q(Some("rare"), Some(4), false, Conversation::Skip),
        )
        .await
        .unwrap();
    let ids: Vec<&str> = rare.iter().map(|s| s.sample_id.as_str()).collect();
    assert_eq!(ids, ["id000", "id018", "id036", "id054"]);
    let by_env = h
        .store
        .samples
        .get_samples_by_env(
            "bulk",
            0,
            i64::from(u32::MAX),
            Some(175),
            Conversation::Include,
        )
        .await
        .unwrap();
    assert_eq!(
        by_env.len(),
        170,
        "fewer matches than the limit: all of them"
    );
    assert!(by_env.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
    let by_env = h
        .store
        .samples
        .get_samples_by_env(
            "bulk",
            0,
            i64::from(u32::MAX),
            Some(150),
            Conversation::Skip,
        )
        .await
        .unwrap();
    assert_eq!(by_env.len(), 150);
    assert_eq!(
        h.store
            .samples
            .count_samples_before("hk", "rev", 1_170)
            .await
            .unwrap(),
        170
    );
    assert_eq!(
        h.store
            .samples
            .delete_samples_before("hk", "rev", 1_170)
            .await
            .unwrap(),
        170
    );
    let left = h
        .store
        .samples
        .get_samples_by_miner("hk", "rev", &q(None, None, false, Conversation::Skip))
        .await
        .unwrap();
    assert_eq!(left.len(), 10);
}
register!(sample_queries_page_past_one_megabyte);

/// 5 old failures under 55 newer successes: the status filter reaches past
/// them to return exactly `limit` failures, newest first.
pub async fn log_status_filter_pages_past_non_matching_items(h: Harness) {
    let mut statuses = vec![LogStatus::Failed; 5];
    statuses.extend(vec![LogStatus::Success; 55]);
    let made = write_logs(&h, "hk", 0, &statuses).await;
    let failed = h
        .store
        .logs
        .get_recent_logs("hk", 3, Some(LogStatus::Failed))
        .await
        .unwrap();
    let ids: Vec<&str> = failed.iter().map(|l| l.log_id.as_str()).collect();
    let want: Vec<&str> = made[2..5].iter().rev().map(|l| l.log_id.as_str()).collect();
    assert_eq!(ids, want);
    assert_eq!(
        h.store
            .logs
            .get_recent_logs("hk", 100, None)
            .await
            .unwrap()
            .len(),
        60
    );
    assert_eq!(
        h.store
            .logs
            .get_recent_logs("hk", 59, None)
            .await
            .unwrap()
            .len(),
        59
    );
    assert!(!h
        .store
        .logs
        .check_consecutive_errors("hk", 1)
        .await
        .unwrap());
    let summary = h.store.logs.get_error_summary("hk", 3600).await.unwrap();
    assert_eq!(summary.total_errors, 5);
    let stats = h.store.logs.get_execution_stats("hk", 3600).await.unwrap();
    assert_eq!((stats.counts.success, stats.counts.failed), (55, 5));
}
register!(log_status_filter_pages_past_non_matching_items);
