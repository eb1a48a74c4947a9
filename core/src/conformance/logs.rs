//! `execution_logs`: writes, recent logs, consecutive errors, summaries, stats.

use super::basics::{at_s, log};
use super::{Harness, T0_MS};
use crate::error::Error;
use crate::register;
use crate::tables::logs::{EnvCounts, ExecutionLog, LogStatus, NewLog};
use crate::ttl::DAY_S;

fn log_ids(logs: &[ExecutionLog]) -> Vec<String> {
    logs.iter().map(|l| l.log_id.clone()).collect()
}

/// Writes one log per status in `statuses` (oldest first), one second apart
/// starting at `T0 + start_s`; returns them oldest first.
pub async fn write_logs(
    h: &Harness,
    hotkey: &str,
    start_s: i64,
    statuses: &[LogStatus],
) -> Vec<ExecutionLog> {
    let mut out = Vec::new();
    for (i, st) in statuses.iter().enumerate() {
        at_s(h, start_s + i as i64);
        out.push(
            h.store
                .logs
                .log_execution(log(hotkey, *st, "sat", 100))
                .await
                .unwrap(),
        );
    }
    out
}

/// A log gets a UUID, `timestamp` = now in seconds and `ttl` 7 days later,
/// and reads back equal.
pub async fn log_execution_stamps_and_reads_back(h: Harness) {
    h.clock.advance_ms(1500);
    let new = NewLog {
        miner_hotkey: "hk".into(),
        uid: 9,
        task_id: "t1".into(),
        status: LogStatus::Failed,
        env: "abd".into(),
        error_type: Some("OOM".into()),
        error_message: Some("out of memory".into()),
        execution_time_ms: 4321,
        timestamp: None,
    };
    let l = h.store.logs.log_execution(new).await.unwrap();
    assert!(uuid::Uuid::parse_str(&l.log_id).is_ok());
    assert_eq!(l.timestamp, T0_MS / 1000 + 1);
    assert_eq!(l.ttl, l.timestamp + 7 * DAY_S);
    assert_eq!((l.uid, l.execution_time_ms), (9, 4321));
    assert_eq!(l.error_type.as_deref(), Some("OOM"));
    let got = h.store.logs.get_recent_logs("hk", 10, None).await.unwrap();
    assert_eq!(got, vec![l]);
    assert!(h
        .store
        .logs
        .get_recent_logs("other", 10, None)
        .await
        .unwrap()
        .is_empty());
}
register!(log_execution_stamps_and_reads_back);

/// A log given a `timestamp` keeps it and expires 7 days after it (not
/// after now); a negative one is rejected before anything is written.
pub async fn log_execution_with_a_timestamp(h: Harness) {
    let now_s = T0_MS / 1000;
    let mut new = log("hk", LogStatus::Success, "sat", 7);
    new.timestamp = Some(now_s - 3 * DAY_S);
    let l = h.store.logs.log_execution(new.clone()).await.unwrap();
    assert_eq!(l.timestamp, now_s - 3 * DAY_S);
    assert_eq!(l.ttl, now_s + 4 * DAY_S);
    assert_eq!(
        h.store.logs.get_recent_logs("hk", 10, None).await.unwrap(),
        vec![l.clone()]
    );
    h.clock.set_ms((l.ttl - 1) * 1000);
    assert_eq!(
        h.store
            .logs
            .get_recent_logs("hk", 10, None)
            .await
            .unwrap()
            .len(),
        1
    );
    h.clock.set_ms(l.ttl * 1000);
    assert!(h
        .store
        .logs
        .get_recent_logs("hk", 10, None)
        .await
        .unwrap()
        .is_empty());
    new.timestamp = Some(-1);
    assert!(matches!(
        h.store.logs.log_execution(new).await,
        Err(Error::InvalidInput { .. })
    ));
}
register!(log_execution_with_a_timestamp);

/// Two logs in the same second are both kept.
pub async fn logs_in_the_same_second_are_distinct(h: Harness) {
    for _ in 0..3 {
        h.store
            .logs
            .log_execution(log("hk", LogStatus::Success, "sat", 1))
            .await
            .unwrap();
    }
    let got = h.store.logs.get_recent_logs("hk", 10, None).await.unwrap();
    assert_eq!(got.len(), 3);
    let mut ids = log_ids(&got);
    ids.dedup();
    assert_eq!(ids.len(), 3);
}
register!(logs_in_the_same_second_are_distinct);

/// `get_recent_logs` is newest first, filters by status before the limit,
/// and returns only that miner's logs.
pub async fn recent_logs_newest_first_status_before_limit(h: Harness) {
    use LogStatus::{Failed as F, Success as S};
    let made = write_logs(&h, "hk", 0, &[F, F, S, S, S, S, S]).await;
    write_logs(&h, "hk2", 100, &[F, F]).await;
    let all = h.store.logs.get_recent_logs("hk", 100, None).await.unwrap();
    let mut newest_first = made.clone();
    newest_first.reverse();
    assert_eq!(all, newest_first);
    let failed = h
        .store
        .logs
        .get_recent_logs("hk", 2, Some(F))
        .await
        .unwrap();
    assert_eq!(
        log_ids(&failed),
        log_ids(&[made[1].clone(), made[0].clone()])
    );
    let one_failed = h
        .store
        .logs
        .get_recent_logs("hk", 1, Some(F))
        .await
        .unwrap();
    assert_eq!(log_ids(&one_failed), vec![made[1].log_id.clone()]);
    let top3 = h.store.logs.get_recent_logs("hk", 3, None).await.unwrap();
    assert_eq!(top3, newest_first[..3].to_vec());
    let ok = h
        .store
        .logs
        .get_recent_logs("hk", 100, Some(S))
        .await
        .unwrap();
    assert_eq!(ok.len(), 5);
    assert!(h
        .store
        .logs
        .get_recent_logs("hk", 0, None)
        .await
        .unwrap()
        .is_empty());
}
register!(recent_logs_newest_first_status_before_limit);

/// `check_consecutive_errors` is true only when the newest `threshold` logs
/// exist and all failed.
pub async fn consecutive_errors_needs_the_newest_threshold_all_failed(h: Harness) {
    use LogStatus::{Failed as F, Success as S};
    assert!(!h
        .store
        .logs
        .check_consecutive_errors("hk", 3)
        .await
        .unwrap());
    write_logs(&h, "hk", 0, &[F, F]).await;
    assert!(
        !h.store
            .logs
            .check_consecutive_errors("hk", 3)
            .await
            .unwrap(),
        "only 2 logs"
    );
    assert!(h
        .store
        .logs
        .check_consecutive_errors("hk", 2)
        .await
        .unwrap());
    write_logs(&h, "hk", 10, &[S, F, F, F]).await;
    assert!(h
        .store
        .logs
        .check_consecutive_errors("hk", 3)
        .await
        .unwrap());
    assert!(!h
        .store
        .logs
        .check_consecutive_errors("hk", 4)
        .await
        .unwrap());
    write_logs(&h, "hk", 20, &[S]).await;
    assert!(!h
        .store
        .logs
        .check_consecutive_errors("hk", 1)
        .await
        .unwrap());
    assert!(!h
        .store
        .logs
        .check_consecutive_errors("other", 1)
        .await
        .unwrap());
}
register!(consecutive_errors_needs_the_newest_threshold_all_failed);

/// `get_error_summary` counts failures in the window by type (`unknown`
/// without one) and lists the newest 10, newest first.
pub async fn error_summary_in_window(h: Harness) {
    // An old failure, outside the window.
    at_s(&h, 0);
    h.store
        .logs
        .log_execution(log("hk", LogStatus::Failed, "sat", 1))
        .await
        .unwrap();
    let mut inside = Vec::new();
    for i in 0..12 {
        at_s(&h, 1000 + i);
        let mut l = log("hk", LogStatus::Failed, "sat", 1);
        if i % 3 == 0 {
            l.error_type = None;
        }
        inside.push(h.store.logs.log_execution(l).await.unwrap());
        h.store
            .logs
            .log_execution(log("hk", LogStatus::Success, "sat", 1))
            .await
            .unwrap();
    }
    h.store
        .logs
        .log_execution(log("hk2", LogStatus::Failed, "sat", 1))
        .await
        .unwrap();
    at_s(&h, 1100);
    let summary = h.store.logs.get_error_summary("hk", 100).await.unwrap();
    assert_eq!(summary.total_errors, 12);
    assert_eq!(summary.error_types.get("unknown"), Some(&4));
    assert_eq!(summary.error_types.get("timeout"), Some(&8));
    assert_eq!(summary.error_types.len(), 2);
    inside.reverse();
    assert_eq!(summary.recent_errors, inside[..10].to_vec());
    let all = h.store.logs.get_error_summary("hk", 1100).await.unwrap();
    assert_eq!(all.total_errors, 13, "window start is inclusive");
    let none = h
        .store
        .logs
        .get_error_summary("nobody", 1100)
        .await
        .unwrap();
    assert_eq!(none.total_errors, 0);
    assert!(none.recent_errors.is_empty() && none.error_types.is_empty());
}
register!(error_summary_in_window);

/// `get_execution_stats` counts logs with `timestamp >= now - window` by
/// status and env and averages the execution time.
pub async fn execution_stats_window_counts_and_mean(h: Harness) {
    let entries = [
        (0, LogStatus::Success, "a", 100),
        (10, LogStatus::Failed, "b", 300),
        (20, LogStatus::Failed, "a", 200),
        (25, LogStatus::Success, "a", 403),
    ];
    for (t, st, env, ms) in entries {
        at_s(&h, t);
        h.store
            .logs
            .log_execution(log("hk", st, env, ms))
            .await
            .unwrap();
    }
    h.store
        .logs
        .log_execution(log("hk2", LogStatus::Success, "a", 9))
        .await
        .unwrap();
    at_s(&h, 30);
    let s = h.store.logs.get_execution_stats("hk", 20).await.unwrap();
    assert_eq!(
        s.counts,
        EnvCounts {
            total: 3,
            success: 1,
            failed: 2
        }
    );
    assert_eq!(
        s.by_env.get("a"),
        Some(&EnvCounts {
            total: 2,
            success: 1,
            failed: 1
        })
    );
    assert_eq!(
        s.by_env.get("b"),
        Some(&EnvCounts {
            total: 1,
            success: 0,
            failed: 1
        })
    );
    assert_eq!(s.by_env.len(), 2);
    assert_eq!(s.avg_execution_time_ms, Some(301.0));
    let s = h.store.logs.get_execution_stats("hk", 19).await.unwrap();
    assert_eq!(
        s.counts,
        EnvCounts {
            total: 2,
            success: 1,
            failed: 1
        }
    );
    assert_eq!(s.avg_execution_time_ms, Some(301.5));
    let s = h.store.logs.get_execution_stats("hk", 30).await.unwrap();
    assert_eq!(s.counts.total, 4);
    assert_eq!(s.avg_execution_time_ms, Some(250.75));
    let s = h
        .store
        .logs
        .get_execution_stats("nobody", 30)
        .await
        .unwrap();
    assert_eq!(s.counts, EnvCounts::default());
    assert_eq!(s.avg_execution_time_ms, None);
    assert!(s.by_env.is_empty());
}
register!(execution_stats_window_counts_and_mean);

/// A log with a bad hotkey is an input error and nothing is written.
pub async fn log_bad_hotkey_rejected(h: Harness) {
    for bad in ["", "x#y", "\n"] {
        let err = h
            .store
            .logs
            .log_execution(log(bad, LogStatus::Success, "sat", 1))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    }
    super::basics::assert_store_empty(&h).await;
}
register!(log_bad_hotkey_rejected);
