//! `execution_logs` on DynamoDB: queries of one miner's partition, newest
//! first by sort key, expired logs filtered out.

use affine_db_core::tables::logs::{execution_stats, summarize_errors, ErrorSummary};
use affine_db_core::{
    keys, Attr, ExecutionLog, ExecutionStats, LogStatus, LogStore, NewLog, Result, Table,
};
use async_trait::async_trait;

use crate::convert;
use crate::query::{self, Request};
use crate::DynamoBackend;

const T: Table = Table::ExecutionLogs;

impl DynamoBackend {
    async fn recent_logs(
        &self,
        hotkey: &str,
        status: Option<LogStatus>,
        limit: Option<usize>,
    ) -> Result<Vec<ExecutionLog>> {
        keys::validate_part("miner_hotkey", hotkey)?;
        let name = self.table_name(T);
        let b = self
            .client
            .query()
            .table_name(name)
            .key_condition_expression("pk = :pk AND begins_with(sk, :time)")
            .expression_attribute_values(":pk", convert::s(keys::miner_pk(hotkey)))
            .expression_attribute_values(":time", convert::s("TIME#"))
            .scan_index_forward(false)
            .consistent_read(true);
        query::collect(Request::Query(b), name, Some(self.now_s()), limit, |i| {
            Ok(match status {
                None => true,
                Some(s) => matches!(i.get("status"), Some(Attr::S(v)) if v == s.as_str()),
            })
        })
        .await?
        .iter()
        .map(ExecutionLog::from_item)
        .collect()
    }

    /// Live logs with `timestamp >= now - window_s`, newest first.
    async fn window_logs(&self, hotkey: &str, window_s: i64) -> Result<Vec<ExecutionLog>> {
        keys::validate_part("miner_hotkey", hotkey)?;
        let since = self.now_s().saturating_sub(window_s);
        let name = self.table_name(T);
        let from = keys::log_sk(since.clamp(0, keys::MAX_KEY_TIMESTAMP), "");
        let b = self
            .client
            .query()
            .table_name(name)
            .key_condition_expression("pk = :pk AND sk >= :from")
            .expression_attribute_values(":pk", convert::s(keys::miner_pk(hotkey)))
            .expression_attribute_values(":from", convert::s(from))
            .scan_index_forward(false)
            .consistent_read(true);
        let logs = query::collect(Request::Query(b), name, Some(self.now_s()), None, |_| {
            Ok(true)
        })
        .await?
        .iter()
        .map(ExecutionLog::from_item)
        .collect::<Result<Vec<_>>>()?;
        Ok(logs.into_iter().filter(|l| l.timestamp >= since).collect())
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
