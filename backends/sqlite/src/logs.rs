//! `execution_logs` on SQLite: the core's filters and orderings
//! ([`affine_db_core::rules::logs`]) as SQL.

use affine_db_core::cond::Cond;
use affine_db_core::keys;
use affine_db_core::rules::logs as rules;
use affine_db_core::schema::Table;
use affine_db_core::tables::logs::{
    execution_stats, summarize_errors, ErrorSummary, ExecutionLog, ExecutionStats, LogStatus,
    LogStore, NewLog, NEWEST_FIRST,
};
use affine_db_core::Result;
use async_trait::async_trait;

use crate::row::{self, Cols};
use crate::sql::order_by;
use crate::SqliteBackend;

const T: Table = Table::ExecutionLogs;

impl SqliteBackend {
    /// A miner's logs that `filter` accepts, newest first, at most `limit`.
    async fn logs(&self, filter: Cond, limit: Option<usize>) -> Result<Vec<ExecutionLog>> {
        self.db
            .read(move |tx| {
                let order = order_by(&NEWEST_FIRST, false);
                row::select(tx, &Cols::all(T), &filter, Some(&order), limit)?
                    .iter()
                    .map(ExecutionLog::from_item)
                    .collect()
            })
            .await
    }

    /// Live logs of a miner, newest first, optionally filtered and limited.
    async fn recent_logs(
        &self,
        miner_hotkey: &str,
        status: Option<LogStatus>,
        limit: Option<usize>,
    ) -> Result<Vec<ExecutionLog>> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let filter = rules::of_miner(miner_hotkey, status, self.now_s());
        self.logs(filter, limit).await
    }

    /// Live logs of a miner in the window of `window_s` seconds ending now.
    async fn window_logs(&self, miner_hotkey: &str, window_s: i64) -> Result<Vec<ExecutionLog>> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let now = self.now_s();
        let filter = rules::of_miner(miner_hotkey, None, now)
            .and(rules::since(rules::window_start(now, window_s)));
        self.logs(filter, None).await
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
        Ok(rules::consecutive_errors(&logs, threshold))
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
