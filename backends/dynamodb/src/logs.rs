//! `execution_logs` on DynamoDB: queries of one miner's partition, newest
//! first by sort key ([`NEWEST_FIRST`]), kept by the core's filters
//! ([`affine_db_core::rules::logs`], TTL included).

use affine_db_core::cond::Cond;
use affine_db_core::rules::logs as rules;
use affine_db_core::tables::logs::{execution_stats, summarize_errors, ErrorSummary, NEWEST_FIRST};
use affine_db_core::{
    keys, ExecutionLog, ExecutionStats, LogStatus, LogStore, NewLog, Result, Table,
};
use async_trait::async_trait;

use crate::convert;
use crate::query::{self, Request};
use crate::DynamoBackend;

const T: Table = Table::ExecutionLogs;

impl DynamoBackend {
    /// A miner's logs whose sort key matches `sk_condition` (on `:from`)
    /// and that `filter` accepts, newest first, at most `limit`.
    async fn logs(
        &self,
        hotkey: &str,
        sk_condition: &str,
        from: String,
        filter: &Cond,
        limit: Option<usize>,
    ) -> Result<Vec<ExecutionLog>> {
        let name = self.table_name(T);
        // The sort key order is NEWEST_FIRST reversed, so the limit
        // applies while paging backwards.
        let b = self
            .client
            .query()
            .table_name(name)
            .key_condition_expression(format!("pk = :pk AND {sk_condition}"))
            .expression_attribute_values(":pk", convert::s(keys::miner_pk(hotkey)))
            .expression_attribute_values(":from", convert::s(from))
            .scan_index_forward(false)
            .consistent_read(true);
        let mut logs = query::collect(Request::Query(b), name, filter, limit)
            .await?
            .iter()
            .map(ExecutionLog::from_item)
            .collect::<Result<Vec<_>>>()?;
        NEWEST_FIRST.sort(&mut logs, false);
        Ok(logs)
    }

    async fn recent_logs(
        &self,
        hotkey: &str,
        status: Option<LogStatus>,
        limit: Option<usize>,
    ) -> Result<Vec<ExecutionLog>> {
        keys::validate_part("miner_hotkey", hotkey)?;
        let filter = rules::of_miner(hotkey, status, self.now_s());
        let prefix = keys::log_sk_prefix();
        self.logs(hotkey, "begins_with(sk, :from)", prefix, &filter, limit)
            .await
    }

    /// Live logs in the window of `window_s` seconds ending now, newest first.
    async fn window_logs(&self, hotkey: &str, window_s: i64) -> Result<Vec<ExecutionLog>> {
        keys::validate_part("miner_hotkey", hotkey)?;
        let now = self.now_s();
        let since = rules::window_start(now, window_s);
        let filter = rules::of_miner(hotkey, None, now).and(rules::since(since));
        let from = keys::log_sk_time_bound(since);
        self.logs(hotkey, "sk >= :from", from, &filter, None).await
    }
}

#[async_trait]
impl LogStore for DynamoBackend {
    async fn log_execution(&self, log: NewLog) -> Result<ExecutionLog> {
        let log = log.into_log(self.now_ms())?;
        self.put(T, &log.to_item()).await?;
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
