//! `task_queue`: claims, failures, completions and requeues are the core's
//! rules ([`crate::rules::tasks`]) carried out by the driver on one item.

use async_trait::async_trait;

use super::{all_where, index, Tables};
use crate::driver::{Query, Select, Target};
use crate::error::{Error, Result};
use crate::item::{Attr, Item};
use crate::rules::tasks as rules;
use crate::schema::{Table, STATUS_CREATED_INDEX};
use crate::tables::tasks::{
    Claim, NewTask, PendingOrder, Task, TaskStatus, TaskStore, BY_MINER_NEWEST,
};

const T: Table = Table::TaskQueue;

fn tasks(items: Vec<Item>) -> Result<Vec<Task>> {
    items.iter().map(Task::from_item).collect()
}

#[async_trait]
impl TaskStore for Tables {
    async fn create_task(&self, task: NewTask) -> Result<Task> {
        let task = task.into_task(self.now_ms())?;
        self.driver.put(T, task.to_item()).await?;
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
        let status = TaskStatus::Pending;
        let target = Target::Index {
            index: index(T, STATUS_CREATED_INDEX)?,
            hash: Attr::s(status.as_str()),
        };
        let q = Query::new(target, rules::with_status(status, self.now_s()))
            .ordered(order.order(), false)
            .limit(Some(limit));
        tasks(self.items(T, q).await?)
    }

    async fn start_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
    ) -> Result<Task> {
        let rule = rules::claim(miner_hotkey, model_revision, task_id, None, self.now_s())?;
        match self.run(rule).await? {
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
        self.run(rule).await
    }

    async fn complete_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
    ) -> Result<bool> {
        let rule = rules::complete(miner_hotkey, model_revision, task_id, self.now_s())?;
        self.run(rule).await
    }

    async fn fail_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
        error: &str,
    ) -> Result<Task> {
        let rule = rules::fail(miner_hotkey, model_revision, task_id, error, self.now_s())?;
        self.run(rule).await
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
        let q = Query::new(Target::Partition(pk), filter)
            .ordered(&BY_MINER_NEWEST, false)
            .limit(limit);
        tasks(self.items(T, q).await?)
    }

    async fn delete_miner_tasks(&self, miner_hotkey: &str, model_revision: &str) -> Result<usize> {
        let pk = rules::partition(miner_hotkey, model_revision)?;
        let live = Query::new(
            Target::Partition(pk.clone()),
            rules::of_partition(&pk, None, self.now_s()),
        )
        .select(Select::Keys);
        let live = self.items(T, live).await?.len();
        let every = Query::new(Target::Partition(pk.clone()), crate::cond::Cond::True);
        self.driver.delete_where(T, every).await?;
        Ok(live)
    }

    async fn requeue_stale_tasks(&self, timeout_s: i64) -> Result<usize> {
        let now = self.now_s();
        let cutoff = rules::requeue_cutoff(now, timeout_s)?;
        let stale = tasks(
            self.items(T, all_where(rules::stale_running(now, cutoff)))
                .await?,
        )?;
        let mut requeued = 0;
        for task in &stale {
            if self.run(rules::requeue(task, now, cutoff)).await? {
                requeued += 1;
            }
        }
        Ok(requeued)
    }
}
