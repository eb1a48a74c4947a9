//! `execution_logs`: a miner's logs are one partition, newest first; the
//! consecutive-errors rule, error summaries and statistics windows are the
//! core's ([`crate::rules::logs`], [`crate::tables::logs`]).

use async_trait::async_trait;

use super::Tables;
use crate::cond::Cond;
use crate::driver::{Query, Target};
use crate::error::Result;
use crate::keys;
use crate::rules::logs as rules;
use crate::schema::Table;
use crate::tables::logs::{
    execution_stats, summarize_errors, ErrorSummary, ExecutionLog, ExecutionStats, LogStatus,
    LogStore, NewLog, NEWEST_FIRST,
};

const T: Table = Table::ExecutionLogs;

impl Tables {
    /// A miner's logs that `filter` accepts, newest first, at most `limit`.
    async fn logs(
        &self,
        miner_hotkey: &str,
        filter: Cond,
        limit: Option<usize>,
    ) -> Result<Vec<ExecutionLog>> {
        let q = Query::new(Target::Partition(keys::miner_pk(miner_hotkey)), filter)
            .ordered(&NEWEST_FIRST, false)
            .limit(limit);
        self.read_items(T, q)
            .await?
            .iter()
            .map(ExecutionLog::from_item)
            .collect()
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
        self.logs(miner_hotkey, filter, limit).await
    }

    /// Live logs of a miner in the window of `window_s` seconds ending now.
    async fn window_logs(&self, miner_hotkey: &str, window_s: i64) -> Result<Vec<ExecutionLog>> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let now = self.now_s();
        let filter = rules::of_miner(miner_hotkey, None, now)
            .and(rules::since(rules::window_start(now, window_s)));
        self.logs(miner_hotkey, filter, None).await
    }
}

#[async_trait]
impl LogStore for Tables {
    async fn log_execution(&self, log: NewLog) -> Result<ExecutionLog> {
        let log = log.into_log(self.now_ms())?;
        self.driver.put(T, log.to_item()).await?;
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
