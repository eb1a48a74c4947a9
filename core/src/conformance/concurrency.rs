//! Concurrency, portable to every backend: atomic claims, counters that
//! lose no update, config versions that never repeat.

use crate::register;
use std::sync::Arc;

use super::basics::miner;
use super::tasks::create_tasks;
use super::Harness;
use crate::error::Error;
use crate::tables::config::ParamValue;
use crate::tables::tasks::PendingOrder;
use crate::tables::tasks::TaskStatus;

/// 8 concurrent claimers race over the same 10 pending tasks: every task is
/// started exactly once, every other claim is `Conflict`.
pub async fn concurrent_claims_start_each_task_once(h: Harness) {
    let made = create_tasks(&h, "hk", "rev", 10).await;
    let ids: Arc<Vec<String>> = Arc::new(made.iter().map(|t| t.task_id.clone()).collect());
    let mut handles = Vec::new();
    for worker in 0..8 {
        let store = h.store.clone();
        let ids = ids.clone();
        handles.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for k in 0..ids.len() {
                let id = &ids[(k + worker) % ids.len()];
                match store.tasks.start_task("hk", "rev", id).await {
                    Ok(t) => {
                        assert_eq!(t.status, TaskStatus::Running);
                        won.push(t.task_id);
                    }
                    Err(Error::Conflict(_)) => {}
                    Err(other) => panic!("claim of {id}: {other:?}"),
                }
            }
            won
        }));
    }
    let mut won = Vec::new();
    for handle in handles {
        won.extend(handle.await.unwrap());
    }
    won.sort();
    let mut want = ids.to_vec();
    want.sort();
    assert_eq!(won, want, "each task started exactly once");
    let running = h
        .store
        .tasks
        .get_tasks_by_miner("hk", "rev", Some(TaskStatus::Running), None)
        .await
        .unwrap();
    assert_eq!(running.len(), 10);
    assert!(h
        .store
        .tasks
        .get_pending_tasks(10, PendingOrder::Priority)
        .await
        .unwrap()
        .is_empty());
}
register!(concurrent_claims_start_each_task_once);

/// 8 workers × 10 concurrent `update_statistics`: the totals are exact.
pub async fn concurrent_statistics_lose_no_update(h: Harness) {
    h.store
        .miners
        .save_metadata(miner("hk", "h"))
        .await
        .unwrap();
    let mut handles = Vec::new();
    for worker in 0..8usize {
        let store = h.store.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..10usize {
                let success = (worker + i) % 4 != 0;
                store
                    .miners
                    .update_statistics("hk", success, true)
                    .await
                    .unwrap();
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    let failures = (0..8usize)
        .flat_map(|w| (0..10usize).map(move |i| (w + i) % 4 == 0))
        .filter(|f| *f)
        .count() as i64;
    let m = h.store.miners.get_metadata("hk").await.unwrap().unwrap();
    assert_eq!(m.total_samples, 80);
    assert_eq!(m.error_count, failures);
    assert_eq!(m.success_count, 80 - failures);
    assert!(m.consecutive_errors <= failures);
}
register!(concurrent_statistics_lose_no_update);

/// 8 workers × 5 concurrent `set_param` on one name: 40 distinct versions
/// 1..=40, and the final version is 40.
pub async fn concurrent_set_param_never_repeats_a_version(h: Harness) {
    let mut handles = Vec::new();
    for worker in 0..8i64 {
        let store = h.store.clone();
        handles.push(tokio::spawn(async move {
            let mut versions = Vec::new();
            for i in 0..5i64 {
                let p = store
                    .config
                    .set_param("shared", ParamValue::Int(worker * 10 + i), "", "worker")
                    .await
                    .unwrap();
                versions.push(p.version);
            }
            versions
        }));
    }
    let mut versions = Vec::new();
    for handle in handles {
        versions.extend(handle.await.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=40).collect::<Vec<i64>>());
    let p = h.store.config.get_param("shared").await.unwrap().unwrap();
    assert_eq!(p.version, 40);
}
register!(concurrent_set_param_never_repeats_a_version);

/// Concurrent snapshots of one block never leave a mix: each writer
/// either succeeds or loses with `Conflict`, and afterwards the block holds
/// exactly the rows of one writer that succeeded.
pub async fn concurrent_snapshots_leave_one_whole_block(h: Harness) {
    use super::basics::score;
    let mut handles = Vec::new();
    for worker in 0..4 {
        let store = h.store.clone();
        handles.push(tokio::spawn(async move {
            let rows = (0..5)
                .map(|i| score(20, &format!("w{worker}-m{i}"), f64::from(i)))
                .collect();
            (worker, store.scores.save_snapshot(20, rows).await)
        }));
    }
    let mut winners = Vec::new();
    for handle in handles {
        match handle.await.unwrap() {
            (worker, Ok(())) => winners.push(format!("w{worker}-")),
            (_, Err(Error::Conflict(_))) => {}
            (worker, Err(other)) => panic!("writer {worker}: {other:?}"),
        }
    }
    assert!(!winners.is_empty(), "at least one writer succeeds");
    let rows = h.store.scores.get_scores_at_block(20).await.unwrap();
    let hotkeys: Vec<&str> = rows.iter().map(|r| r.miner_hotkey.as_str()).collect();
    assert_eq!(rows.len(), 5, "one writer's rows, not a mix: {hotkeys:?}");
    let prefix = &rows[0].miner_hotkey[..3];
    assert!(
        winners.iter().any(|w| w == prefix),
        "{prefix} did not succeed"
    );
    assert!(
        rows.iter().all(|r| r.miner_hotkey.starts_with(prefix)),
        "{hotkeys:?}"
    );
}
register!(concurrent_snapshots_leave_one_whole_block);
