//! `TaskQueueDAO`: sampling tasks with an atomic pending→running claim.

use affine_db::{rules, Claim, NewTask, PendingOrder, TaskStatus};
use pyo3::prelude::*;

use crate::client::{run, store};
use crate::convert::{limit, Json};
use crate::errors::{check, false_when_missing};

/// The task queue.
#[pyclass(module = "affine_db.dao", frozen, subclass)]
pub struct TaskQueueDAO;

#[pymethods]
impl TaskQueueDAO {
    #[new]
    fn new() -> Self {
        TaskQueueDAO
    }

    /// Creates a pending task (id `{created_ms}-{uuid}`, expiring after
    /// `ttl_days`, the core's default when `None`) and returns it.
    #[pyo3(signature = (miner_hotkey, model_revision, model_hash, env, validator_hotkey, priority=0, ttl_days=None))]
    #[allow(clippy::too_many_arguments)]
    fn create_task<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        model_revision: String,
        model_hash: String,
        env: String,
        validator_hotkey: String,
        priority: i64,
        ttl_days: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        let task = NewTask {
            miner_hotkey,
            model_revision,
            model_hash,
            env,
            validator_hotkey,
            priority,
            ttl_days,
        };
        run(py, async move {
            Json::of(&store.tasks.create_task(task).await?)
        })
    }

    /// One live task, or `None`.
    fn get_task<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        model_revision: String,
        task_id: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            match store
                .tasks
                .get_task(&miner_hotkey, &model_revision, &task_id)
                .await?
            {
                Some(t) => Json::of(&t).map(Some),
                None => Ok(None),
            }
        })
    }

    /// Live pending tasks across miners: highest priority first, then oldest
    /// (`priority_order=True`), or oldest first whatever the priority
    /// (`False`); all of them when `limit` is `None`.
    #[pyo3(signature = (limit=None, priority_order=true))]
    fn get_pending_tasks<'py>(
        &self,
        py: Python<'py>,
        limit: Option<i64>,
        priority_order: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        let limit = check(py, self::limit("limit", limit))?.unwrap_or(usize::MAX);
        let order = if priority_order {
            PendingOrder::Priority
        } else {
            PendingOrder::Age
        };
        run(py, async move {
            Json::of(&store.tasks.get_pending_tasks(limit, order).await?)
        })
    }

    /// The atomic claim: pending→running with `started_at` = now. `True` for
    /// the one caller that claimed it; `False` when it is not pending (another
    /// claimer won, it ran or failed) or does not exist. Never raises for a
    /// lost race.
    fn start_task<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        model_revision: String,
        task_id: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            match store
                .tasks
                .start_task(&miner_hotkey, &model_revision, &task_id)
                .await
            {
                Ok(_) => Ok(true),
                Err(e) => false_when_missing(e, true),
            }
        })
    }

    /// An addition: the claim validated against the miner's current model
    /// (the original's "pre-execution validation" in one call). Returns the
    /// running task; `None` when the miner's `model_hash` changed since the
    /// task was made (the stale task is removed). Raises `Conflict` when the
    /// task is not pending and `NotFound` when it does not exist.
    fn claim_task<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        model_revision: String,
        task_id: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            match rules::claim_task(&store, &miner_hotkey, &model_revision, &task_id).await? {
                Claim::Started(t) => Json::of(&t).map(Some),
                Claim::Stale => Ok(None),
            }
        })
    }

    /// Deletes the task (done); whether a live one existed.
    fn complete_task<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        model_revision: String,
        task_id: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            store
                .tasks
                .complete_task(&miner_hotkey, &model_revision, &task_id)
                .await
        })
    }

    /// Marks the task failed (`error_count` + 1, `last_error`,
    /// `completed_at`); `False` when there is no live task.
    fn fail_task<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        model_revision: String,
        task_id: String,
        error_message: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            match store
                .tasks
                .fail_task(&miner_hotkey, &model_revision, &task_id, &error_message)
                .await
            {
                Ok(_) => Ok(true),
                Err(e) => false_when_missing(e, false),
            }
        })
    }

    /// Live tasks of one miner and revision in creation order, the `status`
    /// filter (`pending`, `running`, `completed`, `failed`) before `limit`.
    #[pyo3(signature = (miner_hotkey, model_revision, status=None, limit=None))]
    fn get_tasks_by_miner<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        model_revision: String,
        status: Option<String>,
        limit: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        let status: Option<TaskStatus> = check(py, status.as_deref().map(str::parse).transpose())?;
        let limit = check(py, self::limit("limit", limit))?;
        run(py, async move {
            Json::of(
                &store
                    .tasks
                    .get_tasks_by_miner(&miner_hotkey, &model_revision, status, limit)
                    .await?,
            )
        })
    }

    /// Deletes every task of the miner and revision; how many live ones there were.
    fn delete_miner_tasks<'py>(
        &self,
        py: Python<'py>,
        miner_hotkey: String,
        model_revision: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            store
                .tasks
                .delete_miner_tasks(&miner_hotkey, &model_revision)
                .await
        })
    }

    /// An addition: puts tasks `running` for `timeout_seconds` or longer back
    /// to `pending`; how many.
    fn requeue_stale_tasks<'py>(
        &self,
        py: Python<'py>,
        timeout_seconds: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            store.tasks.requeue_stale_tasks(timeout_seconds).await
        })
    }
}
