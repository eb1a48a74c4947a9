//! `task_queue` on DynamoDB. Claims, failures, completions and requeues are
//! the core's rules ([`affine_db_core::rules::tasks`]), each branch one
//! conditional request, so of concurrent claimers exactly one wins; reads
//! filter with the core's conditions and sort with its orderings.

use affine_db_core::cond::Cond;
use affine_db_core::rules::tasks as rules;
use affine_db_core::schema::{PK, SK, STATUS_CREATED_INDEX};
use affine_db_core::tables::tasks::BY_MINER_NEWEST;
use affine_db_core::{
    keys, ttl, Claim, Error, NewTask, PendingOrder, Result, Table, Task, TaskStatus, TaskStore,
};
use async_trait::async_trait;

use crate::batch::{self, WriteOp};
use crate::convert;
use crate::query::{self, Request};
use crate::DynamoBackend;

const T: Table = Table::TaskQueue;

impl DynamoBackend {
    /// Tasks of a partition that `filter` accepts, in [`BY_MINER_NEWEST`],
    /// at most `limit`.
    async fn partition_tasks(
        &self,
        pk: &str,
        filter: &Cond,
        limit: Option<usize>,
    ) -> Result<Vec<Task>> {
        let name = self.table_name(T);
        let b = self
            .client
            .query()
            .table_name(name)
            .key_condition_expression("pk = :pk AND begins_with(sk, :task)")
            .expression_attribute_values(":pk", convert::s(pk))
            .expression_attribute_values(":task", convert::s(keys::task_sk_prefix()))
            .consistent_read(true)
            // The sort key order is the task id order; BY_MINER_NEWEST is
            // it descending, so the query reads backwards and the limit
            // applies while paging.
            .scan_index_forward(!BY_MINER_NEWEST.fields[0].descending);
        let mut tasks = query::collect(Request::Query(b), name, filter, limit)
            .await?
            .iter()
            .map(Task::from_item)
            .collect::<Result<Vec<_>>>()?;
        BY_MINER_NEWEST.sort(&mut tasks, false);
        Ok(tasks)
    }

    /// Tasks of one status across miners that `filter` accepts, through
    /// the status index.
    async fn tasks_with_status(&self, status: TaskStatus, filter: &Cond) -> Result<Vec<Task>> {
        let name = self.table_name(T);
        let b = self
            .client
            .query()
            .table_name(name)
            .index_name(STATUS_CREATED_INDEX)
            .key_condition_expression("#status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", convert::s(status.as_str()));
        let res = query::collect(Request::Query(b), name, filter, None).await;
        self.via_index(T, STATUS_CREATED_INDEX, res)
            .await?
            .iter()
            .map(Task::from_item)
            .collect()
    }
}

#[async_trait]
impl TaskStore for DynamoBackend {
    async fn create_task(&self, task: NewTask) -> Result<Task> {
        let task = task.into_task(self.now_ms())?;
        self.put(T, &task.to_item()).await?;
        Ok(task)
    }

    async fn get_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
    ) -> Result<Option<Task>> {
        let (pk, sk) = rules::task_key(miner_hotkey, model_revision, task_id)?;
        self.get_live(T, &pk, &sk)
            .await?
            .map(|i| Task::from_item(&i))
            .transpose()
    }

    async fn get_pending_tasks(&self, limit: usize, order: PendingOrder) -> Result<Vec<Task>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Priority comes before age, and the index orders by age only (and
        // by creation second, not task id): read every pending task, then order.
        let filter = rules::with_status(TaskStatus::Pending, self.now_s());
        let mut tasks = self.tasks_with_status(TaskStatus::Pending, &filter).await?;
        order.order().sort(&mut tasks, false);
        tasks.truncate(limit);
        Ok(tasks)
    }

    async fn start_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
    ) -> Result<Task> {
        let rule = rules::claim(miner_hotkey, model_revision, task_id, None, self.now_s())?;
        match self.execute(rule).await? {
            Claim::Started(task) => Ok(task),
            Claim::Stale => Err(Error::backend("an unchecked claim reported a stale task")),
        }
    }

    async fn start_task_checked(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
        current_model_hash: &str,
    ) -> Result<Claim> {
        let rule = rules::claim(
            miner_hotkey,
            model_revision,
            task_id,
            Some(current_model_hash),
            self.now_s(),
        )?;
        self.execute(rule).await
    }

    async fn complete_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
    ) -> Result<bool> {
        let rule = rules::complete(miner_hotkey, model_revision, task_id, self.now_s())?;
        self.execute(rule).await
    }

    async fn fail_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
        error: &str,
    ) -> Result<Task> {
        let rule = rules::fail(miner_hotkey, model_revision, task_id, error, self.now_s())?;
        self.execute(rule).await
    }

    async fn get_tasks_by_miner(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        status: Option<TaskStatus>,
        limit: Option<usize>,
    ) -> Result<Vec<Task>> {
        let pk = rules::partition(miner_hotkey, model_revision)?;
        let filter = rules::of_partition(&pk, status, self.now_s());
        self.partition_tasks(&pk, &filter, limit).await
    }

    async fn delete_miner_tasks(&self, miner_hotkey: &str, model_revision: &str) -> Result<usize> {
        let pk = rules::partition(miner_hotkey, model_revision)?;
        let name = self.table_name(T);
        let b = self
            .client
            .query()
            .table_name(name)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", convert::s(&pk))
            .consistent_read(true);
        let b = query::project_query(b, &[PK, SK, "ttl"]);
        let items = query::collect(Request::Query(b), name, &Cond::True, None).await?;
        let now = self.now_s();
        let live = items
            .iter()
            .filter(|i| ttl::is_live_item(T, i, now))
            .count();
        let ops = items
            .iter()
            .map(|i| {
                convert::item_key(i)
                    .map(|(p, s)| WriteOp::Delete(p, s))
                    .ok_or_else(|| DynamoBackend::corrupt_key(T))
            })
            .collect::<Result<Vec<_>>>()?;
        batch::write(&self.client, name, ops).await?;
        Ok(live)
    }

    async fn requeue_stale_tasks(&self, timeout_s: i64) -> Result<usize> {
        let now = self.now_s();
        let cutoff = rules::requeue_cutoff(now, timeout_s)?;
        let stale = self
            .tasks_with_status(TaskStatus::Running, &rules::stale_running(now, cutoff))
            .await?;
        let mut requeued = 0;
        for task in &stale {
            if self.execute(rules::requeue(task, now, cutoff)).await? {
                requeued += 1;
            }
        }
        Ok(requeued)
    }
}
