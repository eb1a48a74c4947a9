//! `execution_logs` on SQLite.

use affine_db_core::keys;
use affine_db_core::schema::Table;
use affine_db_core::tables::logs::{
    execution_stats, summarize_errors, ErrorSummary, ExecutionLog, ExecutionStats, LogStatus,
    LogStore, NewLog,
};
use affine_db_core::Result;
use async_trait::async_trait;
use rusqlite::{params, Connection};

use crate::row::{self, live, sql_limit, Cols};
use crate::SqliteBackend;

const T: Table = Table::ExecutionLogs;

fn query_logs(
    conn: &Connection,
    tail: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<ExecutionLog>> {
    let cols = Cols::all(T);
    cols.query(conn, &cols.select(tail), params)?
        .iter()
        .map(ExecutionLog::from_item)
        .collect()
}

impl SqliteBackend {
    /// Live logs of a miner, newest first, optionally filtered and limited.
    async fn recent_logs(
        &self,
        miner_hotkey: &str,
        status: Option<LogStatus>,
        limit: Option<usize>,
    ) -> Result<Vec<ExecutionLog>> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let pk = keys::miner_pk(miner_hotkey);
        let status = status.map(LogStatus::as_str);
        let limit = sql_limit(limit);
        let now = self.now_s();
        self.db
            .read(move |tx| {
                query_logs(
                    tx,
                    &format!(
                        "WHERE \"pk\" = ?1 AND (?2 IS NULL OR \"status\" = ?2) AND {} \
                         ORDER BY \"sk\" DESC LIMIT ?4",
                        live(T, 3)
                    ),
                    params![pk, status, now, limit],
                )
            })
            .await
    }

    /// Live logs of a miner with `timestamp >= now - window_s`.
    async fn window_logs(&self, miner_hotkey: &str, window_s: i64) -> Result<Vec<ExecutionLog>> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let pk = keys::miner_pk(miner_hotkey);
        let now = self.now_s();
        let since = now.saturating_sub(window_s);
        self.db
            .read(move |tx| {
                query_logs(
                    tx,
                    &format!(
                        "WHERE \"pk\" = ?1 AND \"timestamp\" >= ?2 AND {} ORDER BY \"sk\" DESC",
                        live(T, 3)
                    ),
                    params![pk, since, now],
                )
            })
            .await
    }
}

#[async_trait]
impl LogStore for SqliteBackend {
    async fn log_execution(&self, log: NewLog) -> Result<ExecutionLog> {
        let log = log.into_log(self.now_ms())?;
        let r = row::to_row(T, &log.to_item())?;
        self.db.write_tx(move |tx| row::put_row(tx, T, r)).await?;
        Ok(log)
    }

    async fn get_recent_logs(
        &self,
        miner_hotkey: &str,
        limit: usize,
        status: Option<LogStatus>,
    ) -> Result<Vec<ExecutionLog>> {
        self.recent_logs(miner_hotkey, status, Some(limit)).await
    }

    async fn check_consecutive_errors(&self, miner_hotkey: &str, threshold: usize) -> Result<bool> {
        let logs = self
            .recent_logs(miner_hotkey, None, Some(threshold))
            .await?;
        Ok(logs.len() == threshold && logs.iter().all(|l| l.status == LogStatus::Failed))
    }

    async fn get_error_summary(&self, miner_hotkey: &str, window_s: i64) -> Result<ErrorSummary> {
        Ok(summarize_errors(
            self.window_logs(miner_hotkey, window_s).await?,
        ))
    }

    async fn get_execution_stats(
        &self,
        miner_hotkey: &str,
        window_s: i64,
    ) -> Result<ExecutionStats> {
        Ok(execution_stats(
            &self.window_logs(miner_hotkey, window_s).await?,
        ))
    }
}
