//! `DataRetentionDAO`: what cleanup may delete.

use affine_db::rules;
use affine_db::tables::retention::DEFAULT_RETENTION_DAYS;
use pyo3::prelude::*;

use crate::client::{run, store};
use crate::convert::Json;

/// Retention policies.
#[pyclass(module = "affine_db.dao", frozen, subclass)]
pub struct DataRetentionDAO;

#[pymethods]
impl DataRetentionDAO {
    #[new]
    fn new() -> Self {
        DataRetentionDAO
    }

    /// Sets a miner's policy (`retention_days` the core's default when
    /// `None`; `protected_since` is kept while it stays
    /// protected, set when it becomes protected, cleared when not); returns it.
    #[pyo3(signature = (miner_hotkey, is_protected, protection_reason=None, retention_days=None))]
    fn set_policy<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        is_protected: bool,
        protection_reason: Option<String>,
        retention_days: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        // `None`: the core's default.
        let retention_days = retention_days.unwrap_or(DEFAULT_RETENTION_DAYS);
        run(py, async move {
            Json::of(
                &store
                    .retention
                    .set_policy(
                        &miner_hotkey,
                        is_protected,
                        protection_reason,
                        retention_days,
                    )
                    .await?,
            )
        })
    }

    /// One miner's policy, or `None`.
    fn get_policy<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            store
                .retention
                .get_policy(&miner_hotkey)
                .await?
                .map(|p| Json::of(&p))
                .transpose()
        })
    }

    /// Whether the miner is protected (`False` without a policy).
    fn is_protected<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            store.retention.is_protected(&miner_hotkey).await
        })
    }

    /// Protects a miner (keeping its retention days, 90 without a policy);
    /// `protected_since` (seconds) defaults to the current one when already
    /// protected, else now. Returns the policy.
    #[pyo3(signature = (miner_hotkey, reason, protected_since=None))]
    fn set_protected<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        reason: String,
        protected_since: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            Json::of(
                &store
                    .retention
                    .set_protected(&miner_hotkey, &reason, protected_since)
                    .await?,
            )
        })
    }

    /// Unprotects a miner, keeping its retention days; returns the policy.
    fn set_unprotected<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            Json::of(&store.retention.set_unprotected(&miner_hotkey).await?)
        })
    }

    /// Records `last_cleanup_at` = now (creating a default policy if none).
    fn update_cleanup_timestamp<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            store
                .retention
                .update_cleanup_timestamp(&miner_hotkey)
                .await
                .map(|_| true)
        })
    }

    /// Every policy, by hotkey.
    fn get_all_policies<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            Json::of(&store.retention.get_all_policies().await?)
        })
    }

    /// The hotkeys of protected miners, sorted.
    fn get_protected_miners<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            Ok(store
                .retention
                .get_protected_miners()
                .await?
                .into_iter()
                .map(|p| p.miner_hotkey)
                .collect::<Vec<String>>())
        })
    }

    /// An addition: the retention cleanup (the `affine-db cleanup` command):
    /// deletes the samples of unprotected miners older than their
    /// `retention_days` and records `last_cleanup_at`; with `dry_run=True`
    /// only counts. Returns `{"dry_run", "entries": [{miner_hotkey,
    /// model_revision, protected, retention_days, deleted}], "deleted"}`.
    #[pyo3(signature = (dry_run=false))]
    fn cleanup<'py>(&self, py: Python<'py>, dry_run: bool) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            Json::of(&rules::cleanup(&store, dry_run).await?)
        })
    }
}
