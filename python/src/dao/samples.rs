//! `SampleResultsDAO`: evaluated samples with compressed conversations.

use std::sync::Arc;

use affine_db::rules::samples::STREAM_PAGE;
use affine_db::{Conversation, MinerSamplesQuery, NewSample, Result, Sample, SampleStream};
use futures::stream::{BoxStream, StreamExt};
use pyo3::prelude::*;

use crate::client::{run, store};
use crate::convert::{limit, to_json, Json, Samples};
use crate::errors::check;

fn conversation(include: bool) -> Conversation {
    if include {
        Conversation::Include
    } else {
        Conversation::Skip
    }
}

/// The read of `get_samples_by_miner` and its stream: the limit checked
/// (as input, before anything is read).
fn miner_query(
    py: Python<'_>,
    env: Option<String>,
    limit: Option<i64>,
    reverse: bool,
    include_conversation: bool,
) -> PyResult<MinerSamplesQuery> {
    Ok(MinerSamplesQuery {
        env,
        limit: check(py, self::limit("limit", limit))?,
        newest_first: reverse,
        conversation: conversation(include_conversation),
    })
}

/// The pages of a stream of samples, for `async for` (`dao.py`'s
/// `iter_samples_by_*`): each `next_page()` resolves to the next page as a
/// list of dicts (at most a page of samples held at once), `None` after
/// the last; an error raises its exception and ends the stream.
#[pyclass(module = "affine_db._native", frozen)]
pub struct SamplePages {
    pages: Arc<tokio::sync::Mutex<BoxStream<'static, Vec<Result<Sample>>>>>,
}

impl SamplePages {
    fn of(stream: SampleStream) -> SamplePages {
        SamplePages {
            pages: Arc::new(tokio::sync::Mutex::new(
                stream.ready_chunks(STREAM_PAGE).boxed(),
            )),
        }
    }
}

#[pymethods]
impl SamplePages {
    /// The next page of samples (a list of dicts), `None` after the last.
    fn next_page<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let pages = self.pages.clone();
        run(py, async move {
            let mut pages = pages.lock().await;
            match pages.next().await {
                None => Ok(None),
                Some(page) => {
                    let samples = page.into_iter().collect::<Result<Vec<Sample>>>()?;
                    Ok(Some(Samples(samples)))
                }
            }
        })
    }
}

/// Samples: `save_sample`, `get_samples_by_miner`,
/// `get_samples_by_task_ids`, `get_samples_by_env`, `delete_samples_before`. Reads return `conversation` decoded (never
/// `conversation_compressed`).
#[pyclass(module = "affine_db.dao", frozen, subclass)]
pub struct SampleResultsDAO;

#[pymethods]
impl SampleResultsDAO {
    #[new]
    fn new() -> Self {
        SampleResultsDAO
    }

    /// Saves one sample (a sample with the same key is replaced) and returns
    /// it as stored. `timestamp` is milliseconds (now when `None`);
    /// `sample_id` (an addition) defaults to a fresh UUID — give one to make
    /// re-saving idempotent.
    #[pyo3(signature = (
        miner_hotkey, model_revision, model_hash, uid, env, subset, dataset_index,
        task_id, score, success, latency_ms, conversation, validator_hotkey,
        block_number, signature, timestamp=None, sample_id=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn save_sample<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        model_revision: String,
        model_hash: String,
        uid: i64,
        env: String,
        subset: String,
        dataset_index: i64,
        task_id: String,
        score: f64,
        success: bool,
        latency_ms: i64,
        conversation: &Bound<'py, PyAny>,
        validator_hotkey: String,
        block_number: i64,
        signature: String,
        timestamp: Option<i64>,
        sample_id: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        let conversation = check(py, to_json(conversation, "conversation"))?;
        let sample = NewSample {
            sample_id,
            timestamp,
            miner_hotkey,
            model_revision,
            model_hash,
            uid,
            env,
            subset,
            dataset_index,
            task_id,
            score,
            success,
            latency_ms,
            conversation,
            validator_hotkey,
            block_number,
            signature,
        };
        run(py, async move {
            Json::of(&store.samples.save_sample(sample).await?)
        })
    }

    /// The samples of one miner and revision, newest first when `reverse`
    /// (by timestamp, then env, then sample id), the `env` filter applied
    /// before `limit`. `include_conversation=False` (an addition) leaves
    /// `conversation` as `None` and is cheaper.
    #[pyo3(signature = (miner_hotkey, model_revision, env=None, limit=None, reverse=true, include_conversation=true))]
    #[allow(clippy::too_many_arguments)]
    fn get_samples_by_miner<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        model_revision: String,
        env: Option<String>,
        limit: Option<i64>,
        reverse: bool,
        include_conversation: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        let query = miner_query(py, env, limit, reverse, include_conversation)?;
        run(py, async move {
            Ok(Samples(
                store
                    .samples
                    .get_samples_by_miner(&miner_hotkey, &model_revision, &query)
                    .await?,
            ))
        })
    }

    /// Samples of one miner and revision whose `task_id` is one of
    /// `task_ids` (duplicates ignored, at most 1,000 distinct), in every
    /// env, in sort key order (env, then time). An empty list reads nothing.
    #[pyo3(signature = (miner_hotkey, model_revision, task_ids, include_conversation=true))]
    fn get_samples_by_task_ids<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        model_revision: String,
        task_ids: Vec<String>,
        include_conversation: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            Ok(Samples(
                store
                    .samples
                    .get_samples_by_task_ids(
                        &miner_hotkey,
                        &model_revision,
                        &task_ids,
                        conversation(include_conversation),
                    )
                    .await?,
            ))
        })
    }

    /// Samples of `env` with `start_timestamp <= timestamp <= end_timestamp`
    /// (milliseconds), across miners, oldest first (then miner, revision,
    /// sample id), at most `limit`.
    #[pyo3(signature = (env, start_timestamp, end_timestamp, limit=None, include_conversation=true))]
    fn get_samples_by_env<'py>(
        &self,
        py: Python<'py>,
        env: String,
        start_timestamp: i64,
        end_timestamp: i64,
        limit: Option<i64>,
        include_conversation: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        let limit = check(py, self::limit("limit", limit))?;
        run(py, async move {
            Ok(Samples(
                store
                    .samples
                    .get_samples_by_env(
                        &env,
                        start_timestamp,
                        end_timestamp,
                        limit,
                        conversation(include_conversation),
                    )
                    .await?,
            ))
        })
    }

    /// `get_samples_by_miner` as pages of a stream (see [`SamplePages`]):
    /// the same samples in the same order, read a page at a time.
    #[pyo3(name = "_stream_samples_by_miner", signature = (miner_hotkey, model_revision, env=None, limit=None, reverse=true, include_conversation=true))]
    #[allow(clippy::too_many_arguments)]
    fn stream_samples_by_miner(
        &self,
        py: Python<'_>,
        miner_hotkey: String,
        model_revision: String,
        env: Option<String>,
        limit: Option<i64>,
        reverse: bool,
        include_conversation: bool,
    ) -> PyResult<SamplePages> {
        let store = store()?;
        let query = miner_query(py, env, limit, reverse, include_conversation)?;
        Ok(SamplePages::of(
            store
                .samples
                .clone()
                .stream_samples_by_miner(miner_hotkey, model_revision, query),
        ))
    }

    /// `get_samples_by_env` as pages of a stream (see [`SamplePages`]).
    #[pyo3(name = "_stream_samples_by_env", signature = (env, start_timestamp, end_timestamp, limit=None, include_conversation=true))]
    fn stream_samples_by_env(
        &self,
        py: Python<'_>,
        env: String,
        start_timestamp: i64,
        end_timestamp: i64,
        limit: Option<i64>,
        include_conversation: bool,
    ) -> PyResult<SamplePages> {
        let store = store()?;
        let limit = check(py, self::limit("limit", limit))?;
        Ok(SamplePages::of(
            store.samples.clone().stream_samples_by_env(
                env,
                start_timestamp,
                end_timestamp,
                limit,
                conversation(include_conversation),
            ),
        ))
    }

    /// Deletes every sample of the miner and revision, in every env, older
    /// than `cutoff_timestamp` (milliseconds); returns how many were deleted.
    fn delete_samples_before<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        model_revision: String,
        cutoff_timestamp: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            store
                .samples
                .delete_samples_before(&miner_hotkey, &model_revision, cutoff_timestamp)
                .await
        })
    }
}
