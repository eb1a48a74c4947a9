//! `ScoresDAO`: score snapshots by block, kept 30 days.

use affine_db::tables::scores::validate_block;
use affine_db::{rules, Error, Result, Score};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::json;

use crate::client::{run, store};
use crate::convert::{float_map, limit, Json};
use crate::errors::check;

/// Score snapshots.
#[pyclass(module = "affine_db.dao", frozen, subclass)]
pub struct ScoresDAO;

/// The first `limit` rows (rows are by miner hotkey).
fn first(mut rows: Vec<Score>, limit: Option<usize>) -> Vec<Score> {
    if let Some(n) = limit {
        rows.truncate(n);
    }
    rows
}

/// One required entry of a score dict given to `save_block_scores`.
fn entry<'py, T: for<'a> FromPyObject<'a, 'py>>(row: &Bound<'py, PyDict>, key: &str) -> Result<T> {
    let value = row
        .get_item(key)
        .ok()
        .flatten()
        .ok_or_else(|| Error::invalid(key, "is missing from a score row"))?;
    value.extract::<T>().map_err(|e| {
        let e: PyErr = e.into();
        Error::invalid(key, format!("has the wrong type: {e}"))
    })
}

/// A score row of `block_number` from a dict with `save_score`'s keyword names.
fn score_from_dict(row: &Bound<'_, PyAny>, block_number: i64, now_s: i64) -> Result<Score> {
    let row = row
        .cast::<PyDict>()
        .map_err(|_| Error::invalid("scores", "each row must be a dict"))?;
    let map = |key: &str| -> Result<_> {
        let v = row
            .get_item(key)
            .ok()
            .flatten()
            .ok_or_else(|| Error::invalid(key, "is missing from a score row"))?;
        float_map(&v, key)
    };
    Ok(Score {
        block_number,
        miner_hotkey: entry(row, "miner_hotkey")?,
        uid: entry(row, "uid")?,
        model_revision: entry(row, "model_revision")?,
        calculated_at: now_s,
        overall_score: entry(row, "overall_score")?,
        confidence_interval_lower: entry(row, "confidence_interval_lower")?,
        confidence_interval_upper: entry(row, "confidence_interval_upper")?,
        average_score: entry(row, "average_score")?,
        scores_by_layer: map("scores_by_layer")?,
        scores_by_env: map("scores_by_env")?,
        total_samples: entry(row, "total_samples")?,
        is_eligible: entry(row, "is_eligible")?,
        meets_criteria: entry(row, "meets_criteria")?,
    })
}

#[pymethods]
impl ScoresDAO {
    #[new]
    fn new() -> Self {
        ScoresDAO
    }

    /// Writes one miner's row at a block (replacing its earlier row there),
    /// `calculated_at` = now, and returns it. Every number must be finite.
    #[pyo3(signature = (
        block_number, miner_hotkey, uid, model_revision, overall_score,
        confidence_interval_lower, confidence_interval_upper, average_score,
        scores_by_layer, scores_by_env, total_samples, is_eligible, meets_criteria
    ))]
    #[allow(clippy::too_many_arguments)]
    fn save_score<'py>(
        &self,
        py: Python<'py>,
        block_number: i64,
        miner_hotkey: String,
        uid: i64,
        model_revision: String,
        overall_score: f64,
        confidence_interval_lower: f64,
        confidence_interval_upper: f64,
        average_score: f64,
        scores_by_layer: &Bound<'py, PyAny>,
        scores_by_env: &Bound<'py, PyAny>,
        total_samples: i64,
        is_eligible: bool,
        meets_criteria: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        let score = Score {
            block_number,
            miner_hotkey,
            uid,
            model_revision,
            calculated_at: store.clock.now_s(),
            overall_score,
            confidence_interval_lower,
            confidence_interval_upper,
            average_score,
            scores_by_layer: check(py, float_map(scores_by_layer, "scores_by_layer"))?,
            scores_by_env: check(py, float_map(scores_by_env, "scores_by_env"))?,
            total_samples,
            is_eligible,
            meets_criteria,
        };
        check(py, score.validate())?;
        run(py, async move {
            let out = Json::of(&score)?;
            store.scores.save_score(score).await?;
            Ok(out)
        })
    }

    /// An addition: writes a whole block at once — readers see the block's
    /// previous content or all of `scores`, never part — then protects the
    /// block's three highest `overall_score` miners (historical top-3).
    /// `scores` is a list of dicts with `save_score`'s keyword names (without
    /// `block_number`). Returns the protected hotkeys, best first.
    fn save_block_scores<'py>(
        &self,
        py: Python<'py>,
        block_number: i64,
        scores: &Bound<'py, PyList>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        let now_s = store.clock.now_s();
        let rows = check(
            py,
            scores
                .iter()
                .map(|row| score_from_dict(&row, block_number, now_s))
                .collect::<Result<Vec<_>>>(),
        )?;
        run(py, async move {
            rules::save_block_scores(&store, block_number, rows).await
        })
    }

    /// The rows of a block by miner hotkey, the first `limit` of them.
    #[pyo3(signature = (block_number, limit=None))]
    fn get_scores_at_block<'py>(
        &self,
        py: Python<'py>,
        block_number: i64,
        limit: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        check(py, validate_block(block_number))?;
        let limit = check(py, self::limit("limit", limit))?;
        run(py, async move {
            Json::of(&first(
                store.scores.get_scores_at_block(block_number).await?,
                limit,
            ))
        })
    }

    /// The newest block with scores: `{"block_number", "calculated_at",
    /// "scores"}` with its rows by miner hotkey (the first `limit`);
    /// `{"block_number": None, "calculated_at": None, "scores": []}` when
    /// there are none.
    #[pyo3(signature = (limit=None))]
    fn get_latest_scores<'py>(
        &self,
        py: Python<'py>,
        limit: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        let limit = check(py, self::limit("limit", limit))?;
        run(py, async move {
            Ok(Json(match store.scores.get_latest_scores().await? {
                Some(latest) => json!({
                    "block_number": latest.block_number,
                    "calculated_at": latest.calculated_at,
                    "scores": Json::of(&first(latest.scores, limit))?.0,
                }),
                None => json!({"block_number": null, "calculated_at": null, "scores": []}),
            }))
        })
    }

    /// One miner's row at a block, or `None`.
    fn get_miner_score_at_block<'py>(
        &self,
        py: Python<'py>,
        block_number: i64,
        miner_hotkey: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        check(py, validate_block(block_number))?;
        run(py, async move {
            match store
                .scores
                .get_miner_score_at_block(block_number, &miner_hotkey)
                .await?
            {
                Some(s) => Json::of(&s).map(Some),
                None => Ok(None),
            }
        })
    }

    /// The miner's rows among the `num_blocks` most recent blocks that have
    /// scores, newest block first.
    #[pyo3(signature = (miner_hotkey, num_blocks=10))]
    fn get_miner_score_history<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        num_blocks: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        let blocks = check(py, self::limit("num_blocks", Some(num_blocks)))?.unwrap_or_default();
        run(py, async move {
            Json::of(
                &store
                    .scores
                    .get_miner_score_history(&miner_hotkey, blocks)
                    .await?,
            )
        })
    }
}
