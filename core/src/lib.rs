//! # affine-db
//!
//! The storage layer of Affine validators: evaluation samples with
//! compressed conversations, a task queue, execution logs, score snapshots,
//! dynamic config, miner metadata and retention policies.
//!
//! This core crate holds everything both backends share, written once:
//! typed records and their items ([`tables`]), the key scheme ([`keys`]),
//! TTL semantics ([`ttl`]), the codec ([`codec`]), the error enum
//! ([`Error`]), the injectable [`clock`], one async trait per table, and
//! every rule ([`rules`]: state changes as [`mutation::Rule`]s, filters as
//! [`cond::Cond`]s, orderings as [`order::Order`]s, and the cross-table
//! rules: retention cleanup, top-3 protection, validated task claims). The
//! backends (`affine-db-sqlite`, `affine-db-dynamodb`) translate these to
//! storage; they do not decide.
//!
//! With the `conformance` feature, [`conformance`] holds the shared test
//! suite every backend runs.

#![warn(missing_docs)]

pub mod admin;
pub mod clock;
pub mod codec;
pub mod cond;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod damage;
pub mod dictionaries;
pub mod drift;
pub mod driver;
pub mod error;
pub mod handles;
pub mod item;
pub mod keys;
pub mod maintenance;
pub mod mutation;
pub mod number;
pub mod order;
pub mod rules;
pub mod schema;
pub mod store;
pub mod tables;
pub mod ttl;

pub use admin::{Admin, Capabilities, Progress, ScanPage};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use codec::Codec;
pub use error::{Error, Result};
pub use item::{Attr, Item};
pub use schema::Table;
pub use store::{Backend, Store};
pub use tables::config::{ConfigParam, ConfigStore, ParamType, ParamValue};
pub use tables::logs::{ExecutionLog, ExecutionStats, LogStatus, LogStore, NewLog};
pub use tables::miners::{ChutesStatus, MinerInfo, MinerMetadata, MinerStore};
pub use tables::retention::{RetentionPolicy, RetentionStore};
pub use tables::samples::{
    Conversation, MinerSamplesQuery, NewSample, Sample, SampleKey, SampleStore, SampleStream,
};
pub use tables::scores::{LatestScores, Score, ScoreStore};
pub use tables::tasks::{Claim, NewTask, PendingOrder, Task, TaskStatus, TaskStore};
