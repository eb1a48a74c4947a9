//! `task_queue` on SQLite. Claims, failures, completions and requeues are
//! the core's rules ([`affine_db_core::rules::tasks`]) run inside one
//! `BEGIN IMMEDIATE` transaction on the writer connection, so they are
//! atomic (also against other processes).

use affine_db_core::cond::Cond;
use affine_db_core::rules::tasks as rules;
use affine_db_core::schema::Table;
use affine_db_core::schema::PK;
use affine_db_core::tables::tasks::{
    Claim, NewTask, PendingOrder, Task, TaskStatus, TaskStore, BY_MINER_NEWEST,
};
use affine_db_core::{Error, Item, Result};
use async_trait::async_trait;

use crate::row::{self, Cols};
use crate::sql::order_by;
use crate::{mutate, SqliteBackend};

const T: Table = Table::TaskQueue;

fn tasks(items: Vec<Item>) -> Result<Vec<Task>> {
    items.iter().map(Task::from_item).collect()
}

#[async_trait]
impl TaskStore for SqliteBackend {
    async fn create_task(&self, task: NewTask) -> Result<Task> {
        let task = task.into_task(self.now_ms())?;
        let r = row::to_row(T, &task.to_item())?;
        self.db.write_tx(move |tx| row::put_row(tx, T, r)).await?;
        Ok(task)
    }

    async fn get_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
    ) -> Result<Option<Task>> {
        let (pk, sk) = rules::task_key(miner_hotkey, model_revision, task_id)?;
        let now = self.now_s();
        self.db
            .read(move |tx| {
                row::get_item(tx, T, &pk, &sk, now)?
                    .map(|i| Task::from_item(&i))
                    .transpose()
            })
            .await
    }

    async fn get_pending_tasks(&self, limit: usize, order: PendingOrder) -> Result<Vec<Task>> {
        let filter = rules::with_status(TaskStatus::Pending, self.now_s());
        let order = order_by(order.order(), false);
        self.db
            .read(move |tx| {
                tasks(row::select(
                    tx,
                    &Cols::all(T),
                    &filter,
                    Some(&order),
                    Some(limit),
                )?)
            })
            .await
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
        let order = order_by(&BY_MINER_NEWEST, false);
        self.db
            .read(move |tx| {
                tasks(row::select(
                    tx,
                    &Cols::all(T),
                    &filter,
                    Some(&order),
                    limit,
                )?)
            })
            .await
    }

    async fn delete_miner_tasks(&self, miner_hotkey: &str, model_revision: &str) -> Result<usize> {
        let pk = rules::partition(miner_hotkey, model_revision)?;
        let now = self.now_s();
        self.db
            .write_tx(move |tx| {
                let live = row::count(tx, T, &rules::of_partition(&pk, None, now))?;
                row::delete_where(tx, T, &Cond::eq_s(PK, &pk))?;
                Ok(live)
            })
            .await
    }

    async fn requeue_stale_tasks(&self, timeout_s: i64) -> Result<usize> {
        let now = self.now_s();
        let cutoff = rules::requeue_cutoff(now, timeout_s)?;
        self.db
            .write_tx(move |tx| {
                let stale = tasks(row::select(
                    tx,
                    &Cols::all(T),
                    &rules::stale_running(now, cutoff),
                    None,
                    None,
                )?)?;
                let mut requeued = 0;
                for task in &stale {
                    if mutate::run(tx, &rules::requeue(task, now, cutoff))? {
                        requeued += 1;
                    }
                }
                Ok(requeued)
            })
            .await
    }
}
