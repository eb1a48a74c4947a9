//! `MinerMetadataDAO`: miner state, pause state and statistics.

use affine_db::{ChutesStatus, MinerInfo};
use pyo3::prelude::*;

use crate::client::{run, store};
use crate::convert::Json;
use crate::errors::{check, false_when_missing};

/// Miner metadata.
#[pyclass(module = "affine_db.dao", frozen, subclass)]
pub struct MinerMetadataDAO;

#[pymethods]
impl MinerMetadataDAO {
    #[new]
    fn new() -> Self {
        MinerMetadataDAO
    }

    /// Saves a miner's metadata (`chutes_status` is `hot`, `cold` or
    /// `unknown`), keeping its statistics and pause state and the earliest
    /// `first_commit_block` ever given; returns the stored record.
    #[pyo3(signature = (
        miner_hotkey, uid, current_revision, model_hash, model_name, chutes_slug=None,
        chutes_status="unknown", last_commit_block=None, first_commit_block=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn save_metadata<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        uid: i64,
        current_revision: String,
        model_hash: String,
        model_name: String,
        chutes_slug: Option<String>,
        chutes_status: &str,
        last_commit_block: Option<i64>,
        first_commit_block: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        let chutes_status: ChutesStatus = check(py, chutes_status.parse())?;
        let info = MinerInfo {
            miner_hotkey,
            uid,
            current_revision,
            model_hash,
            model_name,
            chutes_slug,
            chutes_status,
            chutes_last_checked: None,
            last_commit_block,
            first_commit_block,
        };
        check(py, info.validate())?;
        run(py, async move {
            Json::of(&store.miners.save_metadata(info).await?)
        })
    }

    /// One miner's record, or `None`.
    fn get_metadata<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            store
                .miners
                .get_metadata(&miner_hotkey)
                .await?
                .map(|m| Json::of(&m))
                .transpose()
        })
    }

    /// Counts one sample atomically (no concurrent update is lost):
    /// `success_count` or `error_count` + 1, `total_samples` + 1 unless
    /// `increment_samples=False`, `consecutive_errors` reset on success;
    /// `False` for an unknown miner.
    #[pyo3(signature = (miner_hotkey, success, increment_samples=true))]
    fn update_statistics<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        success: bool,
        increment_samples: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            match store
                .miners
                .update_statistics(&miner_hotkey, success, increment_samples)
                .await
            {
                Ok(_) => Ok(true),
                Err(e) => false_when_missing(e, false),
            }
        })
    }

    /// Pauses a miner for `duration_seconds` (until unpaused when `None`);
    /// `False` for an unknown miner.
    #[pyo3(signature = (miner_hotkey, reason, duration_seconds=None))]
    fn pause_miner<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        reason: String,
        duration_seconds: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            match store
                .miners
                .pause_miner(&miner_hotkey, &reason, duration_seconds)
                .await
            {
                Ok(_) => Ok(true),
                Err(e) => false_when_missing(e, false),
            }
        })
    }

    /// Clears a miner's pause; `False` for an unknown miner.
    fn unpause_miner<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            match store.miners.unpause_miner(&miner_hotkey).await {
                Ok(_) => Ok(true),
                Err(e) => false_when_missing(e, false),
            }
        })
    }

    /// Unpauses the miner if its `pause_until` has passed; whether it did.
    fn check_pause_expired<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            match store.miners.check_pause_expired(&miner_hotkey).await {
                Ok(b) => Ok(b),
                Err(e) => false_when_missing(e, false),
            }
        })
    }

    /// Every miner's record, by hotkey.
    fn get_all_miners<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            Json::of(&store.miners.get_all_miners().await?)
        })
    }
}
