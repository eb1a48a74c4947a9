//! [`Store`]: the seven table traits of one backend, its administration and
//! its clock, bundled for callers that use them all (the CLI, the rules).

use std::sync::Arc;

use crate::admin::Admin;
use crate::clock::SharedClock;
use crate::codec::Codec;
use crate::tables::config::ConfigStore;
use crate::tables::logs::LogStore;
use crate::tables::miners::MinerStore;
use crate::tables::retention::RetentionStore;
use crate::tables::samples::SampleStore;
use crate::tables::scores::ScoreStore;
use crate::tables::tasks::TaskStore;

/// A backend that implements every table trait and [`Admin`].
pub trait Backend:
    SampleStore
    + TaskStore
    + LogStore
    + ScoreStore
    + ConfigStore
    + MinerStore
    + RetentionStore
    + Admin
    + 'static
{
    /// The clock the backend reads "now" from.
    fn clock(&self) -> SharedClock;

    /// The codec the backend encodes and decodes conversations with (shared,
    /// so loading a dictionary into it takes effect on the backend's writes).
    fn shared_codec(&self) -> Arc<Codec>;
}

/// Handles on one store's tables.
#[derive(Clone)]
pub struct Store {
    /// `sample_results`.
    pub samples: Arc<dyn SampleStore>,
    /// `task_queue`.
    pub tasks: Arc<dyn TaskStore>,
    /// `execution_logs`.
    pub logs: Arc<dyn LogStore>,
    /// `scores`.
    pub scores: Arc<dyn ScoreStore>,
    /// `system_config`.
    pub config: Arc<dyn ConfigStore>,
    /// `miner_metadata`.
    pub miners: Arc<dyn MinerStore>,
    /// `data_retention_policy`.
    pub retention: Arc<dyn RetentionStore>,
    /// Table lifecycle and raw access.
    pub admin: Arc<dyn Admin>,
    /// The store's clock.
    pub clock: SharedClock,
    /// The codec the backend writes and reads conversations with.
    pub codec: Arc<Codec>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.admin.describe())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Bundles one backend's handles.
    pub fn new<B: Backend>(backend: Arc<B>) -> Store {
        Store {
            clock: backend.clock(),
            codec: backend.shared_codec(),
            samples: backend.clone(),
            tasks: backend.clone(),
            logs: backend.clone(),
            scores: backend.clone(),
            config: backend.clone(),
            miners: backend.clone(),
            retention: backend.clone(),
            admin: backend,
        }
    }
}
