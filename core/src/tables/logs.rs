//! `execution_logs`: execution history, kept 7 days.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::item::{Attr, Item, ItemReader};
use crate::keys;
use crate::order::{Field, Key, Order};
use crate::schema::{PK, SK};
use crate::ttl;

/// The table, as errors name it (the schema's name).
const TABLE: &str = crate::schema::Table::ExecutionLogs.name();

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStatus {
    /// It worked.
    Success,
    /// It failed.
    Failed,
}

impl LogStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            LogStatus::Success => "success",
            LogStatus::Failed => "failed",
        }
    }

    /// Parses the stored text.
    pub fn parse(s: &str) -> Result<LogStatus> {
        match s {
            "success" => Ok(LogStatus::Success),
            "failed" => Ok(LogStatus::Failed),
            _ => Err(Error::invalid(
                "status",
                format!("{s:?} is not success or failed"),
            )),
        }
    }
}

/// An execution to log; `log_id` is assigned on write, `timestamp` too
/// unless given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewLog {
    /// Miner hotkey (key part).
    pub miner_hotkey: String,
    /// Miner uid.
    pub uid: i64,
    /// The task executed.
    pub task_id: String,
    /// `success` or `failed`.
    pub status: LogStatus,
    /// Environment.
    pub env: String,
    /// Error class, for failures.
    pub error_type: Option<String>,
    /// Error message, for failures.
    pub error_message: Option<String>,
    /// How long it took.
    pub execution_time_ms: i64,
    /// When it ran, epoch seconds; now when `None`. The log expires 7 days
    /// after this.
    pub timestamp: Option<i64>,
}

/// A stored execution log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionLog {
    /// Log id (UUID).
    pub log_id: String,
    /// Miner hotkey.
    pub miner_hotkey: String,
    /// Miner uid.
    pub uid: i64,
    /// Task id.
    pub task_id: String,
    /// Status.
    pub status: LogStatus,
    /// Environment.
    pub env: String,
    /// Error class.
    pub error_type: Option<String>,
    /// Error message.
    pub error_message: Option<String>,
    /// Duration in milliseconds.
    pub execution_time_ms: i64,
    /// Epoch seconds.
    pub timestamp: i64,
    /// Expiry, epoch seconds (7 days after `timestamp`).
    pub ttl: i64,
}

impl NewLog {
    /// Validates and builds the log to store at `now_ms`.
    pub fn into_log(self, now_ms: i64) -> Result<ExecutionLog> {
        keys::validate_part("miner_hotkey", &self.miner_hotkey)?;
        let status = self.status;
        let timestamp = self.timestamp.unwrap_or(now_ms.div_euclid(1000));
        keys::validate_timestamp("timestamp", timestamp)?;
        Ok(ExecutionLog {
            log_id: uuid::Uuid::new_v4().to_string(),
            miner_hotkey: self.miner_hotkey,
            uid: self.uid,
            task_id: self.task_id,
            status,
            env: self.env,
            error_type: self.error_type,
            error_message: self.error_message,
            execution_time_ms: self.execution_time_ms,
            timestamp,
            ttl: ttl::expires_at(timestamp, ttl::LOG_TTL_DAYS),
        })
    }
}

impl ExecutionLog {
    /// Partition key.
    pub fn pk(&self) -> String {
        keys::miner_pk(&self.miner_hotkey)
    }

    /// Sort key.
    pub fn sk(&self) -> String {
        keys::log_sk(self.timestamp, &self.log_id)
    }

    /// The stored item.
    pub fn to_item(&self) -> Item {
        let mut item = Item::new();
        item.insert(PK.into(), Attr::S(self.pk()));
        item.insert(SK.into(), Attr::S(self.sk()));
        item.insert("log_id".into(), Attr::s(&self.log_id));
        item.insert("miner_hotkey".into(), Attr::s(&self.miner_hotkey));
        item.insert("uid".into(), Attr::int(self.uid));
        item.insert("task_id".into(), Attr::s(&self.task_id));
        item.insert("status".into(), Attr::s(self.status.as_str()));
        item.insert("env".into(), Attr::s(&self.env));
        item.insert("error_type".into(), Attr::opt_s(self.error_type.as_deref()));
        item.insert(
            "error_message".into(),
            Attr::opt_s(self.error_message.as_deref()),
        );
        item.insert(
            "execution_time_ms".into(),
            Attr::int(self.execution_time_ms),
        );
        item.insert("timestamp".into(), Attr::int(self.timestamp));
        item.insert("ttl".into(), Attr::int(self.ttl));
        item
    }

    /// Reads a stored item.
    pub fn from_item(item: &Item) -> Result<ExecutionLog> {
        let r = ItemReader::new(TABLE, item);
        Ok(ExecutionLog {
            log_id: r.s("log_id")?,
            miner_hotkey: r.s("miner_hotkey")?,
            uid: r.opt_i64("uid")?.unwrap_or_default(),
            task_id: r.opt_s("task_id")?.unwrap_or_default(),
            status: LogStatus::parse(&r.s("status")?)
                .map_err(|_| Error::corrupt(format!("{TABLE}: unknown status")))?,
            env: r.opt_s("env")?.unwrap_or_default(),
            error_type: r.opt_s("error_type")?,
            error_message: r.opt_s("error_message")?,
            execution_time_ms: r.opt_i64("execution_time_ms")?.unwrap_or_default(),
            timestamp: r.i64("timestamp")?,
            ttl: r.i64("ttl")?,
        })
    }
}

/// The order of a miner's logs: newest first by sort key (time, then id).
pub static NEWEST_FIRST: Order<ExecutionLog> = Order {
    fields: &[Field {
        attr: SK,
        descending: true,
        get: |l| Key::Str(l.sk().into()),
    }],
};

/// Failures of one miner in a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ErrorSummary {
    /// Failed executions in the window.
    pub total_errors: usize,
    /// Failures by `error_type` (`unknown` when absent).
    pub error_types: BTreeMap<String, usize>,
    /// The newest failures, at most 10, newest first.
    pub recent_errors: Vec<ExecutionLog>,
}

/// Counts of one env.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EnvCounts {
    /// All executions.
    pub total: usize,
    /// Successes.
    pub success: usize,
    /// Failures.
    pub failed: usize,
}

/// Execution statistics of one miner in a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ExecutionStats {
    /// Counts over all envs.
    pub counts: EnvCounts,
    /// Counts by env.
    pub by_env: BTreeMap<String, EnvCounts>,
    /// Mean `execution_time_ms`, `None` without logs.
    pub avg_execution_time_ms: Option<f64>,
}

/// Builds the error summary of `logs` (any order) — shared by backends.
pub fn summarize_errors(mut logs: Vec<ExecutionLog>) -> ErrorSummary {
    logs.retain(|l| l.status == LogStatus::Failed);
    NEWEST_FIRST.sort(&mut logs, false);
    let mut error_types = BTreeMap::new();
    for l in &logs {
        *error_types
            .entry(l.error_type.clone().unwrap_or_else(|| "unknown".into()))
            .or_insert(0) += 1;
    }
    ErrorSummary {
        total_errors: logs.len(),
        error_types,
        recent_errors: logs.into_iter().take(10).collect(),
    }
}

/// Builds execution statistics of `logs` — shared by backends.
pub fn execution_stats(logs: &[ExecutionLog]) -> ExecutionStats {
    let mut stats = ExecutionStats::default();
    let mut total_ms: i128 = 0;
    for l in logs {
        let env = stats.by_env.entry(l.env.clone()).or_default();
        for c in [&mut stats.counts, env] {
            c.total += 1;
            match l.status {
                LogStatus::Success => c.success += 1,
                LogStatus::Failed => c.failed += 1,
            }
        }
        total_ms += i128::from(l.execution_time_ms);
    }
    if !logs.is_empty() {
        stats.avg_execution_time_ms = Some(total_ms as f64 / logs.len() as f64);
    }
    stats
}

/// Execution history.
#[async_trait]
pub trait LogStore: Send + Sync {
    /// Writes one log and returns it.
    async fn log_execution(&self, log: NewLog) -> Result<ExecutionLog>;

    /// Live logs of a miner, newest first (by sort key), status filter
    /// applied before the limit.
    async fn get_recent_logs(
        &self,
        miner_hotkey: &str,
        limit: usize,
        status: Option<LogStatus>,
    ) -> Result<Vec<ExecutionLog>>;

    /// Whether the newest `threshold` live logs exist and all failed.
    async fn check_consecutive_errors(&self, miner_hotkey: &str, threshold: usize) -> Result<bool>;

    /// Failures with `timestamp >= now - window_s` (see [`summarize_errors`]).
    async fn get_error_summary(&self, miner_hotkey: &str, window_s: i64) -> Result<ErrorSummary>;

    /// Statistics of logs with `timestamp >= now - window_s` (see [`execution_stats`]).
    async fn get_execution_stats(
        &self,
        miner_hotkey: &str,
        window_s: i64,
    ) -> Result<ExecutionStats>;
}
