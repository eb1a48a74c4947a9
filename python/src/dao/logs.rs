//! `ExecutionLogsDAO`: execution history, kept 7 days.

use affine_db::{LogStatus, NewLog};
use pyo3::prelude::*;
use serde_json::json;

use crate::client::{run, store};
use crate::convert::{limit, Json};
use crate::errors::check;

/// Execution logs.
#[pyclass(module = "affine_db.dao", frozen, subclass)]
pub struct ExecutionLogsDAO;

#[pymethods]
impl ExecutionLogsDAO {
    #[new]
    fn new() -> Self {
        ExecutionLogsDAO
    }

    /// Writes one log (`status` is `success` or `failed`; `timestamp` in
    /// seconds, now when `None`; it expires 7 days later) and returns it.
    #[pyo3(signature = (
        miner_hotkey, uid, task_id, status, env, error_type=None, error_message=None,
        execution_time_ms=0, timestamp=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn log_execution<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        uid: i64,
        task_id: String,
        status: String,
        env: String,
        error_type: Option<String>,
        error_message: Option<String>,
        execution_time_ms: i64,
        timestamp: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        let log = NewLog {
            miner_hotkey,
            uid,
            task_id,
            status: check(py, LogStatus::parse(&status))?,
            env,
            error_type,
            error_message,
            execution_time_ms,
            timestamp,
        };
        run(py, async move {
            Json::of(&store.logs.log_execution(log).await?)
        })
    }

    /// A miner's live logs, newest first, the `status` filter before `limit`.
    #[pyo3(signature = (miner_hotkey, limit=1000, status=None))]
    fn get_recent_logs<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        limit: i64,
        status: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        let limit = check(py, self::limit("limit", Some(limit)))?.unwrap_or_default();
        let status = check(py, status.as_deref().map(LogStatus::parse).transpose())?;
        run(py, async move {
            Json::of(
                &store
                    .logs
                    .get_recent_logs(&miner_hotkey, limit, status)
                    .await?,
            )
        })
    }

    /// Whether the miner's newest `threshold` live logs exist and all failed.
    #[pyo3(signature = (miner_hotkey, threshold=10))]
    fn check_consecutive_errors<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        threshold: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        let threshold = check(py, self::limit("threshold", Some(threshold)))?.unwrap_or_default();
        run(py, async move {
            store
                .logs
                .check_consecutive_errors(&miner_hotkey, threshold)
                .await
        })
    }

    /// The miner's newest failed logs, newest first, at most `limit`, each
    /// with the original's five keys: `timestamp`, `env`, `error_type`,
    /// `error_message`, `task_id`.
    #[pyo3(signature = (miner_hotkey, limit=10))]
    fn get_error_summary<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        limit: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        let limit = check(py, self::limit("limit", Some(limit)))?.unwrap_or_default();
        run(py, async move {
            let logs = store
                .logs
                .get_recent_logs(&miner_hotkey, limit, Some(LogStatus::Failed))
                .await?;
            let summary: Vec<serde_json::Value> = logs
                .iter()
                .map(|l| {
                    json!({
                        "timestamp": l.timestamp,
                        "env": l.env,
                        "error_type": l.error_type,
                        "error_message": l.error_message,
                        "task_id": l.task_id,
                    })
                })
                .collect();
            Ok(Json(serde_json::Value::Array(summary)))
        })
    }

    /// Statistics of the miner's logs of the last `time_window_seconds`, the
    /// original's keys and types: `total_executions`, `success_count`,
    /// `failure_count`, `avg_execution_time_ms` (an int, the mean rounded
    /// down; 0 without logs); and additions: `failed_count` (= `failure_count`),
    /// `success_rate` (0.0 without logs),
    /// `by_env` (env → `{total, success, failed}`) and `time_window_seconds`.
    #[pyo3(signature = (miner_hotkey, time_window_seconds=3600))]
    fn get_execution_stats<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        time_window_seconds: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            let stats = store
                .logs
                .get_execution_stats(&miner_hotkey, time_window_seconds)
                .await?;
            let total = stats.counts.total;
            let rate = if total == 0 {
                0.0
            } else {
                stats.counts.success as f64 / total as f64
            };
            Ok(Json(json!({
                "total_executions": total,
                "success_count": stats.counts.success,
                "failure_count": stats.counts.failed,
                "failed_count": stats.counts.failed,
                "success_rate": rate,
                "avg_execution_time_ms": stats.avg_execution_time_ms.map_or(0, |m| m.floor() as i64),
                "by_env": Json::of(&stats.by_env)?.0,
                "time_window_seconds": time_window_seconds,
            })))
        })
    }
}
