//! One schema definition per table (DESIGN §2). Both backends create their
//! tables from these: key attributes `pk`/`sk`, attribute names and types,
//! secondary indexes with their projections, and the TTL attribute.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The seven tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Evaluated samples with compressed conversations.
    SampleResults,
    /// Sampling tasks.
    TaskQueue,
    /// Execution history.
    ExecutionLogs,
    /// Score snapshots by block.
    Scores,
    /// Dynamic parameters.
    SystemConfig,
    /// Miner state and statistics.
    MinerMetadata,
    /// What cleanup may delete.
    DataRetentionPolicy,
}

impl Table {
    /// All seven, in DESIGN order.
    pub const ALL: [Table; 7] = [
        Table::SampleResults,
        Table::TaskQueue,
        Table::ExecutionLogs,
        Table::Scores,
        Table::SystemConfig,
        Table::MinerMetadata,
        Table::DataRetentionPolicy,
    ];

    /// The bare table name (SQLite table, DynamoDB suffix).
    pub const fn name(self) -> &'static str {
        match self {
            Table::SampleResults => "sample_results",
            Table::TaskQueue => "task_queue",
            Table::ExecutionLogs => "execution_logs",
            Table::Scores => "scores",
            Table::SystemConfig => "system_config",
            Table::MinerMetadata => "miner_metadata",
            Table::DataRetentionPolicy => "data_retention_policy",
        }
    }

    /// This table's schema.
    pub fn def(self) -> &'static TableDef {
        match self {
            Table::SampleResults => &SAMPLE_RESULTS,
            Table::TaskQueue => &TASK_QUEUE,
            Table::ExecutionLogs => &EXECUTION_LOGS,
            Table::Scores => &SCORES,
            Table::SystemConfig => &SYSTEM_CONFIG,
            Table::MinerMetadata => &MINER_METADATA,
            Table::DataRetentionPolicy => &DATA_RETENTION_POLICY,
        }
    }

    /// The DynamoDB table name `{prefix}_{name}`.
    pub fn prefixed(self, prefix: &str) -> String {
        format!("{prefix}_{}", self.name())
    }

    /// The table whose prefixed name is exactly `full` for `prefix`, if any.
    /// `affine_dev_sample_results` is not a table of prefix `affine`.
    pub fn from_prefixed(prefix: &str, full: &str) -> Option<Table> {
        let rest = full.strip_prefix(prefix)?.strip_prefix('_')?;
        rest.parse().ok()
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Table {
    type Err = Error;

    fn from_str(s: &str) -> Result<Table> {
        Table::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| Error::invalid("table", format!("{s:?} is not one of the seven tables")))
    }
}

/// The DynamoDB type of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// String.
    S,
    /// Number that is always an integer.
    Int,
    /// Number that may have a fraction.
    Float,
    /// Binary.
    B,
    /// Boolean.
    Bool,
    /// Map.
    M,
    /// Any of S, N, BOOL, M, L (config values).
    Any,
}

/// One attribute of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrDef {
    /// Attribute name, as the original Python layer wrote it.
    pub name: &'static str,
    /// Its type.
    pub ty: AttrType,
}

/// Which attributes a secondary index carries besides the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// Every attribute.
    All,
    /// Only the keys.
    KeysOnly,
    /// The keys and every attribute except the listed ones.
    AllExcept(&'static [&'static str]),
}

/// A global secondary index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDef {
    /// Index name.
    pub name: &'static str,
    /// Hash key attribute.
    pub hash: &'static str,
    /// Range key attribute.
    pub range: &'static str,
    /// What the index carries.
    pub projection: Projection,
}

impl IndexDef {
    /// Whether the index is keyed like its table (`pk`, then `sk`): it holds
    /// the table's rows in the table's order, with another projection.
    pub fn keyed_like_table(&self) -> bool {
        self.hash == PK && self.range == SK
    }
}

/// A table's schema. Every table is keyed by string `pk` and string `sk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDef {
    /// The table.
    pub table: Table,
    /// Non-key attributes.
    pub attrs: &'static [AttrDef],
    /// Global secondary indexes.
    pub indexes: &'static [IndexDef],
    /// The TTL attribute (epoch seconds), if the table has one.
    pub ttl: Option<&'static str>,
}

impl TableDef {
    /// The definition of `name`.
    pub fn attr(&self, name: &str) -> Option<&'static AttrDef> {
        self.attrs.iter().find(|a| a.name == name)
    }

    /// The non-key attributes an index projects.
    pub fn projected(&self, index: &IndexDef) -> Vec<&'static str> {
        match index.projection {
            Projection::All => self.attrs.iter().map(|a| a.name).collect(),
            Projection::KeysOnly => vec![index.hash, index.range],
            Projection::AllExcept(skip) => self
                .attrs
                .iter()
                .map(|a| a.name)
                .filter(|n| !skip.contains(n))
                .collect(),
        }
    }
}

/// The DynamoDB scalar type of a key attribute (table or index key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyType {
    /// String (`S`).
    S,
    /// Number (`N`).
    N,
    /// Binary (`B`).
    B,
}

impl KeyType {
    /// The DynamoDB type name (`S`, `N`, `B`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::S => "S",
            KeyType::N => "N",
            KeyType::B => "B",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an index carries besides its keys, as DynamoDB states it: every
/// attribute, only the keys, or the keys and the listed non-key attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexProjection {
    /// `ALL`.
    All,
    /// `KEYS_ONLY`.
    KeysOnly,
    /// `INCLUDE` these non-key attributes (sorted).
    Include(Vec<String>),
}

impl fmt::Display for IndexProjection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexProjection::All => f.write_str("ALL"),
            IndexProjection::KeysOnly => f.write_str("KEYS_ONLY"),
            IndexProjection::Include(attrs) => write!(f, "INCLUDE({})", attrs.join(", ")),
        }
    }
}

impl TableDef {
    /// The type of key attribute `name` (`pk`, `sk` or an index key).
    pub fn key_type(&self, name: &str) -> Result<KeyType> {
        if name == PK || name == SK {
            return Ok(KeyType::S);
        }
        match self.attr(name).map(|a| a.ty) {
            Some(AttrType::S) => Ok(KeyType::S),
            Some(AttrType::Int | AttrType::Float) => Ok(KeyType::N),
            Some(AttrType::B) => Ok(KeyType::B),
            other => Err(Error::backend(format!(
                "{}: index key {name} has type {other:?}, which cannot be a key",
                self.table
            ))),
        }
    }

    /// The declared projection of `index` as DynamoDB states it: an
    /// [`Projection::AllExcept`] is the `INCLUDE` list of every other
    /// non-key attribute.
    pub fn index_projection(&self, index: &IndexDef) -> IndexProjection {
        match index.projection {
            Projection::All => IndexProjection::All,
            Projection::KeysOnly => IndexProjection::KeysOnly,
            Projection::AllExcept(_) => {
                let mut attrs: Vec<String> = self
                    .projected(index)
                    .into_iter()
                    .filter(|a| *a != index.hash && *a != index.range && *a != PK && *a != SK)
                    .map(str::to_string)
                    .collect();
                attrs.sort();
                IndexProjection::Include(attrs)
            }
        }
    }

    /// The index named `name`, if declared.
    pub fn index(&self, name: &str) -> Option<&'static IndexDef> {
        self.indexes.iter().find(|i| i.name == name)
    }
}

/// Name of the table's partition key attribute.
pub const PK: &str = "pk";
/// Name of the table's sort key attribute.
pub const SK: &str = "sk";

const fn a(name: &'static str, ty: AttrType) -> AttrDef {
    AttrDef { name, ty }
}

use AttrType::*;

/// Index of samples by env and time.
pub const ENV_TIMESTAMP_INDEX: &str = "env-timestamp-index";

/// The sample attribute holding the compressed conversation (left out of
/// the env index and of reads without conversations).
pub const CONVERSATION_ATTR: &str = "conversation_compressed";
/// A miner revision's samples by sort key, without their conversations:
/// what a read by miner without conversations reads, for the price of the
/// lean rows instead of the whole ones (DynamoDB charges a query by the
/// size of what it reads, whatever it returns).
pub const LEAN_SAMPLES_INDEX: &str = "lean-samples-index";

/// Index of tasks by status and creation.
pub const STATUS_CREATED_INDEX: &str = "status-created-index";
/// Index of score rows by block.
pub const LATEST_BLOCK_INDEX: &str = "latest-block-index";

static SAMPLE_RESULTS: TableDef = TableDef {
    table: Table::SampleResults,
    attrs: &[
        a("sample_id", S),
        a("miner_hotkey", S),
        a("model_revision", S),
        a("model_hash", S),
        a("uid", Int),
        a("env", S),
        a("subset", S),
        a("dataset_index", Int),
        a("task_id", S),
        a("score", Float),
        a("success", Bool),
        a("latency_ms", Int),
        a("timestamp", Int),
        a(CONVERSATION_ATTR, B),
        a("validator_hotkey", S),
        a("block_number", Int),
        a("signature", S),
    ],
    indexes: &[
        IndexDef {
            name: ENV_TIMESTAMP_INDEX,
            hash: "env",
            range: "timestamp",
            // Conversations are fetched by key when asked for, never stored twice.
            projection: Projection::AllExcept(&[CONVERSATION_ATTR]),
        },
        IndexDef {
            name: LEAN_SAMPLES_INDEX,
            hash: PK,
            range: SK,
            projection: Projection::AllExcept(&[CONVERSATION_ATTR]),
        },
    ],
    ttl: None,
};

static TASK_QUEUE: TableDef = TableDef {
    table: Table::TaskQueue,
    attrs: &[
        a("task_id", S),
        a("miner_hotkey", S),
        a("model_revision", S),
        a("model_hash", S),
        a("env", S),
        a("status", S),
        a("priority", Int),
        a("created_at", Int),
        a("started_at", Int),
        a("completed_at", Int),
        a("error_count", Int),
        a("last_error", S),
        a("validator_hotkey", S),
        a("ttl", Int),
    ],
    indexes: &[IndexDef {
        name: STATUS_CREATED_INDEX,
        hash: "status",
        range: "created_at",
        projection: Projection::All,
    }],
    ttl: Some("ttl"),
};

static EXECUTION_LOGS: TableDef = TableDef {
    table: Table::ExecutionLogs,
    attrs: &[
        a("log_id", S),
        a("miner_hotkey", S),
        a("uid", Int),
        a("task_id", S),
        a("status", S),
        a("env", S),
        a("error_type", S),
        a("error_message", S),
        a("execution_time_ms", Int),
        a("timestamp", Int),
        a("ttl", Int),
    ],
    indexes: &[],
    ttl: Some("ttl"),
};

static SCORES: TableDef = TableDef {
    table: Table::Scores,
    attrs: &[
        a("block_number", Int),
        a("miner_hotkey", S),
        a("uid", Int),
        a("model_revision", S),
        a("calculated_at", Int),
        a("overall_score", Float),
        a("confidence_interval_lower", Float),
        a("confidence_interval_upper", Float),
        a("average_score", Float),
        a("scores_by_layer", M),
        a("scores_by_env", M),
        a("total_samples", Int),
        a("is_eligible", Bool),
        a("meets_criteria", Bool),
        a("latest_marker", S),
        a("snapshot_status", S),
        a("miner_count", Int),
        a("ttl", Int),
    ],
    indexes: &[IndexDef {
        name: LATEST_BLOCK_INDEX,
        hash: "latest_marker",
        range: "block_number",
        projection: Projection::KeysOnly,
    }],
    ttl: Some("ttl"),
};

static SYSTEM_CONFIG: TableDef = TableDef {
    table: Table::SystemConfig,
    attrs: &[
        a("param_name", S),
        a("param_value", Any),
        a(crate::tables::config::EXACT_JSON_ATTR, S),
        a("param_type", S),
        a("description", S),
        a("updated_at", Int),
        a("updated_by", S),
        a("version", Int),
    ],
    indexes: &[],
    ttl: None,
};

static MINER_METADATA: TableDef = TableDef {
    table: Table::MinerMetadata,
    attrs: &[
        a("miner_hotkey", S),
        a("uid", Int),
        a("current_revision", S),
        a("model_hash", S),
        a("model_name", S),
        a("chutes_slug", S),
        a("chutes_status", S),
        a("chutes_last_checked", Int),
        a("last_commit_block", Int),
        a("first_commit_block", Int),
        a("updated_at", Int),
        a("total_samples", Int),
        a("success_count", Int),
        a("error_count", Int),
        a("last_sample_time", Int),
        a("is_paused", Bool),
        a("pause_reason", S),
        a("pause_until", Int),
        a("consecutive_errors", Int),
    ],
    indexes: &[],
    ttl: None,
};

static DATA_RETENTION_POLICY: TableDef = TableDef {
    table: Table::DataRetentionPolicy,
    attrs: &[
        a("miner_hotkey", S),
        a("is_protected", Bool),
        a("protection_reason", S),
        a("retention_days", Int),
        a("last_cleanup_at", Int),
        a("protected_since", Int),
    ],
    indexes: &[],
    ttl: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_exactly() {
        assert_eq!(
            Table::from_prefixed("affine", "affine_sample_results"),
            Some(Table::SampleResults)
        );
        assert_eq!(
            Table::from_prefixed("affine", "affine_dev_sample_results"),
            None
        );
        assert_eq!(
            Table::from_prefixed("affine_dev", "affine_sample_results"),
            None
        );
        assert_eq!(Table::from_prefixed("affine", "affinex_scores"), None);
    }

    #[test]
    fn sample_index_does_not_duplicate_conversations() {
        let def = Table::SampleResults.def();
        let projected = def.projected(&def.indexes[0]);
        assert!(!projected.contains(&CONVERSATION_ATTR));
        assert!(projected.contains(&"score"));
    }
}
