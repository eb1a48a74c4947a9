//! `task_queue` on DynamoDB. The claim is one conditional UpdateItem
//! (`status = pending AND ttl > now`), so of concurrent claimers exactly one
//! wins; on a failed condition the old item (ALL_OLD) tells a missing or
//! expired task (NotFound) from one already claimed (Conflict).

use affine_db_core::schema::{PK, SK, STATUS_CREATED_INDEX};
use affine_db_core::tables::tasks::validate_task_key;
use affine_db_core::{
    keys, Claim, Error, Item, NewTask, PendingOrder, Result, Table, Task, TaskStatus, TaskStore,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use crate::batch::{self, WriteOp};
use crate::convert;
use crate::errors::{is_conditional, map_err};
use crate::query::{self, Request};
use crate::DynamoBackend;

const T: Table = Table::TaskQueue;

fn task_keys(hotkey: &str, revision: &str, task_id: &str) -> Result<(String, String)> {
    validate_task_key(hotkey, revision, task_id)?;
    Ok((
        keys::miner_revision_pk(hotkey, revision),
        keys::task_sk(task_id),
    ))
}

fn not_found(sk: &str) -> Error {
    Error::NotFound(format!("task {sk}"))
}

/// What a failed claim condition found.
enum Failed {
    /// No live task.
    Missing,
    /// A live task (not pending, or of another model hash).
    Live(Box<Task>),
}

impl DynamoBackend {
    /// The claim: pending→running, `started_at` = now, under an extra condition.
    async fn claim(
        &self,
        pk: &str,
        sk: &str,
        hash: Option<&str>,
    ) -> Result<std::result::Result<Task, Failed>> {
        let now = self.now_s();
        let name = self.table_name(T);
        let mut cond = "#status = :pending AND #ttl > :now".to_string();
        let mut b = self
            .client
            .update_item()
            .table_name(name)
            .set_key(Some(convert::key(pk, sk)))
            .update_expression("SET #status = :running, started_at = :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":pending", convert::s(TaskStatus::Pending.as_str()))
            .expression_attribute_values(":running", convert::s(TaskStatus::Running.as_str()))
            .expression_attribute_values(":now", convert::n(now))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(h) = hash {
            cond.push_str(" AND model_hash = :hash");
            b = b.expression_attribute_values(":hash", convert::s(h));
        }
        match b.condition_expression(cond).send().await {
            Ok(out) => {
                let item = convert::from_map(&out.attributes.unwrap_or_default())?;
                Ok(Ok(Task::from_item(&item)?))
            }
            Err(SdkError::ServiceError(se))
                if matches!(
                    se.err(),
                    UpdateItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                let old = match se.into_err() {
                    UpdateItemError::ConditionalCheckFailedException(c) => c.item,
                    _ => None,
                };
                let old = old.map(|m| convert::from_map(&m)).transpose()?;
                match old.filter(|i| convert::is_live(i, now)) {
                    None => Ok(Err(Failed::Missing)),
                    Some(item) => Ok(Err(Failed::Live(Box::new(Task::from_item(&item)?)))),
                }
            }
            Err(e) => Err(map_err(e, &format!("{name}: claim {pk}/{sk}"))),
        }
    }

    /// Live tasks of a partition in task id order (unfiltered by status).
    async fn partition_tasks(
        &self,
        pk: &str,
        limit: Option<usize>,
        status: Option<TaskStatus>,
    ) -> Result<Vec<Item>> {
        let name = self.table_name(T);
        let b = self
            .client
            .query()
            .table_name(name)
            .key_condition_expression("pk = :pk AND begins_with(sk, :task)")
            .expression_attribute_values(":pk", convert::s(pk))
            .expression_attribute_values(":task", convert::s("TASK#"))
            .consistent_read(true);
        query::collect(Request::Query(b), name, Some(self.now_s()), limit, |i| {
            Ok(match status {
                None => true,
                Some(s) => {
                    matches!(i.get("status"), Some(affine_db_core::Attr::S(v)) if v == s.as_str())
                }
            })
        })
        .await
    }

    /// Live tasks of one status across miners, through the status index.
    async fn tasks_with_status(&self, status: TaskStatus) -> Result<Vec<Task>> {
        let name = self.table_name(T);
        let b = self
            .client
            .query()
            .table_name(name)
            .index_name(STATUS_CREATED_INDEX)
            .key_condition_expression("#status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", convert::s(status.as_str()));
        query::collect(Request::Query(b), name, Some(self.now_s()), None, |_| {
            Ok(true)
        })
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
        let (pk, sk) = task_keys(miner_hotkey, model_revision, task_id)?;
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
        let mut tasks = self.tasks_with_status(TaskStatus::Pending).await?;
        tasks.sort_by(|a, b| order.compare(a, b));
        tasks.truncate(limit);
        Ok(tasks)
    }

    async fn start_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
    ) -> Result<Task> {
        let (pk, sk) = task_keys(miner_hotkey, model_revision, task_id)?;
        let _guard = self.lock_item(T, &pk, &sk).await;
        match self.claim(&pk, &sk, None).await? {
            Ok(task) => Ok(task),
            Err(Failed::Missing) => Err(not_found(&sk)),
            Err(Failed::Live(t)) => Err(Error::Conflict(format!(
                "task {sk} is {}, not pending",
                t.status
            ))),
        }
    }

    async fn start_task_checked(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
        current_model_hash: &str,
    ) -> Result<Claim> {
        let (pk, sk) = task_keys(miner_hotkey, model_revision, task_id)?;
        let _guard = self.lock_item(T, &pk, &sk).await;
        match self.claim(&pk, &sk, Some(current_model_hash)).await? {
            Ok(task) => Ok(Claim::Started(task)),
            Err(Failed::Missing) => Err(not_found(&sk)),
            Err(Failed::Live(t)) if t.model_hash != current_model_hash => {
                // Stale: remove it, unless it changed meanwhile.
                let name = self.table_name(T);
                let res = self
                    .client
                    .delete_item()
                    .table_name(name)
                    .set_key(Some(convert::key(&pk, &sk)))
                    .condition_expression("attribute_exists(pk) AND model_hash <> :hash")
                    .expression_attribute_values(":hash", convert::s(current_model_hash))
                    .send()
                    .await;
                match res {
                    Ok(_) => Ok(Claim::Stale),
                    Err(e) if is_conditional(&e) => Err(Error::Conflict(format!(
                        "task {sk} changed during the claim"
                    ))),
                    Err(e) => Err(map_err(e, &format!("{name}: delete stale {pk}/{sk}"))),
                }
            }
            Err(Failed::Live(t)) => Err(Error::Conflict(format!(
                "task {sk} is {}, not pending",
                t.status
            ))),
        }
    }

    async fn complete_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
    ) -> Result<bool> {
        let (pk, sk) = task_keys(miner_hotkey, model_revision, task_id)?;
        let name = self.table_name(T);
        let out = self
            .client
            .delete_item()
            .table_name(name)
            .set_key(Some(convert::key(&pk, &sk)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| map_err(e, &format!("{name}: delete {pk}/{sk}")))?;
        match out.attributes {
            Some(old) if !old.is_empty() => {
                Ok(convert::is_live(&convert::from_map(&old)?, self.now_s()))
            }
            _ => Ok(false),
        }
    }

    async fn fail_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
        error: &str,
    ) -> Result<Task> {
        let (pk, sk) = task_keys(miner_hotkey, model_revision, task_id)?;
        let _guard = self.lock_item(T, &pk, &sk).await;
        let name = self.table_name(T);
        let res = self
            .client
            .update_item()
            .table_name(name)
            .set_key(Some(convert::key(&pk, &sk)))
            .update_expression("SET #status = :failed, last_error = :err, completed_at = :now ADD error_count :one")
            .condition_expression("attribute_exists(pk) AND #ttl > :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":failed", convert::s(TaskStatus::Failed.as_str()))
            .expression_attribute_values(":err", convert::s(error))
            .expression_attribute_values(":now", convert::n(self.now_s()))
            .expression_attribute_values(":one", convert::n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match res {
            Ok(out) => Task::from_item(&convert::from_map(&out.attributes.unwrap_or_default())?),
            Err(e) if is_conditional(&e) => Err(not_found(&sk)),
            Err(e) => Err(map_err(e, &format!("{name}: fail {pk}/{sk}"))),
        }
    }

    async fn get_tasks_by_miner(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        status: Option<TaskStatus>,
        limit: Option<usize>,
    ) -> Result<Vec<Task>> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        keys::validate_part("model_revision", model_revision)?;
        let pk = keys::miner_revision_pk(miner_hotkey, model_revision);
        self.partition_tasks(&pk, limit, status)
            .await?
            .iter()
            .map(Task::from_item)
            .collect()
    }

    async fn delete_miner_tasks(&self, miner_hotkey: &str, model_revision: &str) -> Result<usize> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        keys::validate_part("model_revision", model_revision)?;
        let pk = keys::miner_revision_pk(miner_hotkey, model_revision);
        let name = self.table_name(T);
        let b = self
            .client
            .query()
            .table_name(name)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", convert::s(&pk))
            .consistent_read(true);
        let b = query::project_query(b, &[PK, SK, "ttl"]);
        let items = query::collect(Request::Query(b), name, None, None, |_| Ok(true)).await?;
        let now = self.now_s();
        let live = items.iter().filter(|i| convert::is_live(i, now)).count();
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
        if timeout_s < 0 {
            return Err(Error::invalid(
                "timeout_s",
                format!("{timeout_s} is negative"),
            ));
        }
        let now = self.now_s();
        let cutoff = now.saturating_sub(timeout_s);
        let name = self.table_name(T);
        let mut requeued = 0;
        for task in self.tasks_with_status(TaskStatus::Running).await? {
            if task.started_at.is_none_or(|s| s > cutoff) {
                continue;
            }
            let _guard = self.lock_item(T, &task.pk(), &task.sk()).await;
            let res = self
                .client
                .update_item()
                .table_name(name)
                .set_key(Some(convert::key(task.pk(), task.sk())))
                .update_expression("SET #status = :pending, started_at = :null")
                .condition_expression(
                    "#status = :running AND started_at <= :cutoff AND #ttl > :now",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":pending", convert::s(TaskStatus::Pending.as_str()))
                .expression_attribute_values(":running", convert::s(TaskStatus::Running.as_str()))
                .expression_attribute_values(":null", AttributeValue::Null(true))
                .expression_attribute_values(":cutoff", convert::n(cutoff))
                .expression_attribute_values(":now", convert::n(now))
                .send()
                .await;
            match res {
                Ok(_) => requeued += 1,
                Err(e) if is_conditional(&e) => {}
                Err(e) => return Err(map_err(e, &format!("{name}: requeue {}", task.sk()))),
            }
        }
        Ok(requeued)
    }
}
