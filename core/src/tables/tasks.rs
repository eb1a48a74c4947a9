//! `task_queue`: sampling tasks with an atomic pending→running claim.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::item::{Attr, Item, ItemReader};
use crate::keys;
use crate::order::{Field, Key, Order};
use crate::schema::{PK, SK};
use crate::ttl;

/// The table, as errors name it (the schema's name).
const TABLE: &str = crate::schema::Table::TaskQueue.name();

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// Waiting to be claimed.
    Pending,
    /// Claimed by a worker.
    Running,
    /// Done (completed tasks are normally deleted).
    Completed,
    /// Failed; see `last_error`.
    Failed,
}

impl TaskStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Running => "running",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "pending" => TaskStatus::Pending,
            "running" => TaskStatus::Running,
            "completed" => TaskStatus::Completed,
            "failed" => TaskStatus::Failed,
            _ => {
                return Err(Error::invalid(
                    "status",
                    format!("{s:?} is not a task status"),
                ))
            }
        })
    }
}

/// A task to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NewTask {
    /// Miner hotkey (key part).
    pub miner_hotkey: String,
    /// Model revision (key part).
    pub model_revision: String,
    /// Model hash the task was made for.
    pub model_hash: String,
    /// Environment (key part rules apply).
    pub env: String,
    /// Validator hotkey.
    pub validator_hotkey: String,
    /// Higher runs first.
    pub priority: i64,
    /// Lifetime in days; 7 when `None`.
    pub ttl_days: Option<i64>,
}

/// A stored task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// `{created_ms:016}-{uuid}`.
    pub task_id: String,
    /// Miner hotkey.
    pub miner_hotkey: String,
    /// Model revision.
    pub model_revision: String,
    /// Model hash.
    pub model_hash: String,
    /// Environment.
    pub env: String,
    /// Status.
    pub status: TaskStatus,
    /// Priority, higher first.
    pub priority: i64,
    /// Creation time, epoch seconds.
    pub created_at: i64,
    /// When it was claimed.
    pub started_at: Option<i64>,
    /// When it completed or failed.
    pub completed_at: Option<i64>,
    /// How often it failed.
    pub error_count: i64,
    /// The last failure message.
    pub last_error: Option<String>,
    /// Validator hotkey.
    pub validator_hotkey: String,
    /// Expiry, epoch seconds.
    pub ttl: i64,
}

/// Outcome of a claim validated against the miner's current model hash.
// `Started` carries the task by value on purpose: claims are rare and the
// public API stays simple to match on.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The task was pending and matched: it is now running.
    Started(Task),
    /// The miner's model changed since the task was made: the task was removed.
    Stale,
}

impl NewTask {
    /// Validates and builds the task to store at `now_ms`.
    pub fn into_task(self, now_ms: i64) -> Result<Task> {
        keys::validate_part("miner_hotkey", &self.miner_hotkey)?;
        keys::validate_part("model_revision", &self.model_revision)?;
        keys::validate_part("env", &self.env)?;
        let days = self.ttl_days.unwrap_or(ttl::TASK_TTL_DAYS);
        if days <= 0 {
            return Err(Error::invalid(
                "ttl_days",
                format!("{days} must be at least 1"),
            ));
        }
        keys::validate_timestamp("created_at", now_ms)?;
        let created_at = now_ms.div_euclid(1000);
        Ok(Task {
            task_id: keys::new_task_id(now_ms),
            miner_hotkey: self.miner_hotkey,
            model_revision: self.model_revision,
            model_hash: self.model_hash,
            env: self.env,
            status: TaskStatus::Pending,
            priority: self.priority,
            created_at,
            started_at: None,
            completed_at: None,
            error_count: 0,
            last_error: None,
            validator_hotkey: self.validator_hotkey,
            ttl: ttl::expires_at(created_at, days),
        })
    }
}

/// Checks the parts of a task key.
pub fn validate_task_key(miner_hotkey: &str, model_revision: &str, task_id: &str) -> Result<()> {
    keys::validate_part("miner_hotkey", miner_hotkey)?;
    keys::validate_part("model_revision", model_revision)?;
    keys::validate_part("task_id", task_id)
}

impl Task {
    /// Partition key.
    pub fn pk(&self) -> String {
        keys::miner_revision_pk(&self.miner_hotkey, &self.model_revision)
    }

    /// Sort key.
    pub fn sk(&self) -> String {
        keys::task_sk(&self.task_id)
    }

    /// Whether the task is visible at `now_s`.
    pub fn is_live(&self, now_s: i64) -> bool {
        ttl::is_live(self.ttl, now_s)
    }

    /// The stored item.
    pub fn to_item(&self) -> Item {
        let mut item = Item::new();
        item.insert(PK.into(), Attr::S(self.pk()));
        item.insert(SK.into(), Attr::S(self.sk()));
        item.insert("task_id".into(), Attr::s(&self.task_id));
        item.insert("miner_hotkey".into(), Attr::s(&self.miner_hotkey));
        item.insert("model_revision".into(), Attr::s(&self.model_revision));
        item.insert("model_hash".into(), Attr::s(&self.model_hash));
        item.insert("env".into(), Attr::s(&self.env));
        item.insert("status".into(), Attr::s(self.status.as_str()));
        item.insert("priority".into(), Attr::int(self.priority));
        item.insert("created_at".into(), Attr::int(self.created_at));
        item.insert("started_at".into(), Attr::opt_int(self.started_at));
        item.insert("completed_at".into(), Attr::opt_int(self.completed_at));
        item.insert("error_count".into(), Attr::int(self.error_count));
        item.insert("last_error".into(), Attr::opt_s(self.last_error.as_deref()));
        item.insert("validator_hotkey".into(), Attr::s(&self.validator_hotkey));
        item.insert("ttl".into(), Attr::int(self.ttl));
        item
    }

    /// Reads a stored item.
    pub fn from_item(item: &Item) -> Result<Task> {
        let r = ItemReader::new(TABLE, item);
        Ok(Task {
            task_id: r.s("task_id")?,
            miner_hotkey: r.s("miner_hotkey")?,
            model_revision: r.s("model_revision")?,
            model_hash: r.opt_s("model_hash")?.unwrap_or_default(),
            env: r.s("env")?,
            status: r
                .s("status")?
                .parse()
                .map_err(|_| Error::corrupt(format!("{TABLE}: unknown status")))?,
            priority: r.opt_i64("priority")?.unwrap_or_default(),
            created_at: r.i64("created_at")?,
            started_at: r.opt_i64("started_at")?,
            completed_at: r.opt_i64("completed_at")?,
            error_count: r.opt_i64("error_count")?.unwrap_or_default(),
            last_error: r.opt_s("last_error")?,
            validator_hotkey: r.opt_s("validator_hotkey")?.unwrap_or_default(),
            ttl: r.i64("ttl")?,
        })
    }
}

/// The order [`TaskStore::get_pending_tasks`] returns tasks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PendingOrder {
    /// Highest priority first, then oldest ([`pending_order`]).
    #[default]
    Priority,
    /// Oldest first, whatever the priority ([`age_order`]).
    Age,
}

impl PendingOrder {
    /// This order as data (SQLite's `ORDER BY`, everyone else's comparator).
    pub fn order(self) -> &'static Order<Task> {
        match self {
            PendingOrder::Priority => &BY_PRIORITY,
            PendingOrder::Age => &BY_AGE,
        }
    }

    /// Compares two tasks in this order.
    pub fn compare(self, a: &Task, b: &Task) -> std::cmp::Ordering {
        self.order().compare(a, b)
    }
}

const PRIORITY_DESC: Field<Task> = Field {
    attr: "priority",
    descending: true,
    get: |t| Key::Int(t.priority),
};
const CREATED_AT: Field<Task> = Field {
    attr: "created_at",
    descending: false,
    get: |t| Key::Int(t.created_at),
};
const TASK_ID: Field<Task> = Field {
    attr: "task_id",
    descending: false,
    get: |t| Key::str(&t.task_id),
};
const MINER_HOTKEY: Field<Task> = Field {
    attr: "miner_hotkey",
    descending: false,
    get: |t| Key::str(&t.miner_hotkey),
};
const MODEL_REVISION: Field<Task> = Field {
    attr: "model_revision",
    descending: false,
    get: |t| Key::str(&t.model_revision),
};

/// [`PendingOrder::Priority`]: highest priority first, then oldest
/// (`created_at`, then `task_id`), then miner and revision.
pub static BY_PRIORITY: Order<Task> = Order {
    fields: &[
        PRIORITY_DESC,
        CREATED_AT,
        TASK_ID,
        MINER_HOTKEY,
        MODEL_REVISION,
    ],
};

/// [`PendingOrder::Age`]: oldest first (`created_at`, then `task_id`),
/// then miner and revision.
pub static BY_AGE: Order<Task> = Order {
    fields: &[CREATED_AT, TASK_ID, MINER_HOTKEY, MODEL_REVISION],
};

const TASK_ID_DESC: Field<Task> = Field {
    attr: "task_id",
    descending: true,
    get: |t| Key::str(&t.task_id),
};

/// By `task_id` (creation order), oldest first.
pub static BY_TASK_ID: Order<Task> = Order { fields: &[TASK_ID] };

/// The order of [`TaskStore::get_tasks_by_miner`]: newest first (`task_id`
/// descending), as the original's partition query read backwards, so
/// `limit=1` is the latest task.
pub static BY_MINER_NEWEST: Order<Task> = Order {
    fields: &[TASK_ID_DESC],
};

/// [`PendingOrder::Priority`] as a comparator.
pub fn pending_order(a: &Task, b: &Task) -> std::cmp::Ordering {
    BY_PRIORITY.compare(a, b)
}

/// [`PendingOrder::Age`] as a comparator.
pub fn age_order(a: &Task, b: &Task) -> std::cmp::Ordering {
    BY_AGE.compare(a, b)
}

/// The task queue.
#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Creates a pending task and returns it.
    async fn create_task(&self, task: NewTask) -> Result<Task>;

    /// One live task.
    async fn get_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
    ) -> Result<Option<Task>>;

    /// Live pending tasks across miners in `order`; exactly
    /// `min(limit, pending)` of them.
    async fn get_pending_tasks(&self, limit: usize, order: PendingOrder) -> Result<Vec<Task>>;

    /// Atomically claims a pending task (pending→running, `started_at` = now).
    /// Of concurrent claimers exactly one wins; the others get
    /// [`Error::Conflict`]. A missing or expired task is [`Error::NotFound`].
    async fn start_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
    ) -> Result<Task>;

    /// Like [`TaskStore::start_task`], but only while the task's `model_hash`
    /// equals `current_model_hash`; a task whose hash differs is deleted and
    /// [`Claim::Stale`] returned.
    async fn start_task_checked(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
        current_model_hash: &str,
    ) -> Result<Claim>;

    /// Deletes the task; whether a live one existed.
    async fn complete_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
    ) -> Result<bool>;

    /// Marks a live task failed: `error_count` + 1, `last_error`,
    /// `completed_at` = now. [`Error::NotFound`] when there is none.
    async fn fail_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
        error: &str,
    ) -> Result<Task>;

    /// Live tasks of one miner and revision, newest first
    /// ([`BY_MINER_NEWEST`]), status filter applied before the limit.
    async fn get_tasks_by_miner(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        status: Option<TaskStatus>,
        limit: Option<usize>,
    ) -> Result<Vec<Task>>;

    /// Deletes every task of the miner and revision; how many live ones there were.
    async fn delete_miner_tasks(&self, miner_hotkey: &str, model_revision: &str) -> Result<usize>;

    /// Puts tasks that have been `running` since at or before
    /// `now - timeout_s` back to `pending` (clearing `started_at`); how many.
    async fn requeue_stale_tasks(&self, timeout_s: i64) -> Result<usize>;
}
