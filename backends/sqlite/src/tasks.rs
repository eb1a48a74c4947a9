//! `task_queue` on SQLite. Every state change is a read-modify-write inside
//! one `BEGIN IMMEDIATE` transaction on the writer connection, so claims,
//! failures and requeues are atomic (also against other processes).

use affine_db_core::keys;
use affine_db_core::schema::Table;
use affine_db_core::tables::tasks::{
    validate_task_key, Claim, NewTask, PendingOrder, Task, TaskStatus, TaskStore,
};
use affine_db_core::{Error, Result};
use async_trait::async_trait;
use rusqlite::{params, Connection};

use crate::row::{self, live, sql_limit, Cols};
use crate::SqliteBackend;

const T: Table = Table::TaskQueue;

fn task_keys(miner_hotkey: &str, model_revision: &str, task_id: &str) -> Result<(String, String)> {
    validate_task_key(miner_hotkey, model_revision, task_id)?;
    Ok((
        keys::miner_revision_pk(miner_hotkey, model_revision),
        keys::task_sk(task_id),
    ))
}

fn get_task(conn: &Connection, pk: &str, sk: &str, now_s: i64) -> Result<Option<Task>> {
    row::get_item(conn, T, pk, sk, now_s)?
        .map(|i| Task::from_item(&i))
        .transpose()
}

fn not_found(sk: &str) -> Error {
    Error::NotFound(format!(
        "task {} (missing or expired)",
        sk.trim_start_matches("TASK#")
    ))
}

/// Claims the live task at (pk, sk) inside `conn`'s transaction.
fn claim(conn: &Connection, pk: &str, sk: &str, now_s: i64) -> Result<Task> {
    let mut task = get_task(conn, pk, sk, now_s)?.ok_or_else(|| not_found(sk))?;
    if task.status != TaskStatus::Pending {
        return Err(Error::Conflict(format!(
            "task {} is {}, not pending",
            task.task_id, task.status
        )));
    }
    task.status = TaskStatus::Running;
    task.started_at = Some(now_s);
    row::put_item(conn, T, &task.to_item())?;
    Ok(task)
}

fn query_tasks(conn: &Connection, tail: &str, params: impl rusqlite::Params) -> Result<Vec<Task>> {
    let cols = Cols::all(T);
    cols.query(conn, &cols.select(tail), params)?
        .iter()
        .map(Task::from_item)
        .collect()
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
        let (pk, sk) = task_keys(miner_hotkey, model_revision, task_id)?;
        let now = self.now_s();
        self.db.read(move |tx| get_task(tx, &pk, &sk, now)).await
    }

    async fn get_pending_tasks(&self, limit: usize, order: PendingOrder) -> Result<Vec<Task>> {
        let now = self.now_s();
        let limit = sql_limit(Some(limit));
        let priority = match order {
            PendingOrder::Priority => "\"priority\" DESC, ",
            PendingOrder::Age => "",
        };
        self.db
            .read(move |tx| {
                query_tasks(
                    tx,
                    &format!(
                        "WHERE \"status\" = 'pending' AND {} \
                         ORDER BY {priority}\"created_at\", \"task_id\", \
                         \"miner_hotkey\", \"model_revision\" LIMIT ?2",
                        live(T, 1)
                    ),
                    params![now, limit],
                )
            })
            .await
    }

    async fn start_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
    ) -> Result<Task> {
        let (pk, sk) = task_keys(miner_hotkey, model_revision, task_id)?;
        let now = self.now_s();
        self.db.write_tx(move |tx| claim(tx, &pk, &sk, now)).await
    }

    async fn start_task_checked(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
        current_model_hash: &str,
    ) -> Result<Claim> {
        let (pk, sk) = task_keys(miner_hotkey, model_revision, task_id)?;
        let now = self.now_s();
        let hash = current_model_hash.to_string();
        self.db
            .write_tx(move |tx| {
                let task = get_task(tx, &pk, &sk, now)?.ok_or_else(|| not_found(&sk))?;
                if task.model_hash != hash {
                    row::delete_item(tx, T, &pk, &sk)?;
                    return Ok(Claim::Stale);
                }
                claim(tx, &pk, &sk, now).map(Claim::Started)
            })
            .await
    }

    async fn complete_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
    ) -> Result<bool> {
        let (pk, sk) = task_keys(miner_hotkey, model_revision, task_id)?;
        let now = self.now_s();
        self.db
            .write_tx(move |tx| {
                let existed = row::get_item(tx, T, &pk, &sk, now)?.is_some();
                row::delete_item(tx, T, &pk, &sk)?;
                Ok(existed)
            })
            .await
    }

    async fn fail_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
        error: &str,
    ) -> Result<Task> {
        let (pk, sk) = task_keys(miner_hotkey, model_revision, task_id)?;
        let now = self.now_s();
        let error = error.to_string();
        self.db
            .write_tx(move |tx| {
                let mut task = get_task(tx, &pk, &sk, now)?.ok_or_else(|| not_found(&sk))?;
                task.status = TaskStatus::Failed;
                task.error_count += 1;
                task.last_error = Some(error);
                task.completed_at = Some(now);
                row::put_item(tx, T, &task.to_item())?;
                Ok(task)
            })
            .await
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
        let status = status.map(TaskStatus::as_str);
        let limit = sql_limit(limit);
        let now = self.now_s();
        self.db
            .read(move |tx| {
                query_tasks(
                    tx,
                    &format!(
                        "WHERE \"pk\" = ?1 AND (?2 IS NULL OR \"status\" = ?2) AND {} \
                         ORDER BY \"task_id\", \"sk\" LIMIT ?4",
                        live(T, 3)
                    ),
                    params![pk, status, now, limit],
                )
            })
            .await
    }

    async fn delete_miner_tasks(&self, miner_hotkey: &str, model_revision: &str) -> Result<usize> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        keys::validate_part("model_revision", model_revision)?;
        let pk = keys::miner_revision_pk(miner_hotkey, model_revision);
        let now = self.now_s();
        self.db
            .write_tx(move |tx| {
                let live_count: i64 = tx
                    .query_row(
                        &format!(
                            "SELECT COUNT(*) FROM \"task_queue\" WHERE \"pk\" = ?1 AND {}",
                            live(T, 2)
                        ),
                        params![pk, now],
                        |r| r.get(0),
                    )
                    .map_err(crate::db::sql_error)?;
                tx.execute("DELETE FROM \"task_queue\" WHERE \"pk\" = ?1", params![pk])
                    .map_err(crate::db::sql_error)?;
                Ok(usize::try_from(live_count).unwrap_or_default())
            })
            .await
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
        self.db
            .write_tx(move |tx| {
                let stale = query_tasks(
                    tx,
                    &format!(
                        "WHERE \"status\" = 'running' AND \"started_at\" <= ?2 AND {}",
                        live(T, 1)
                    ),
                    params![now, cutoff],
                )?;
                for mut task in stale.iter().cloned() {
                    task.status = TaskStatus::Pending;
                    task.started_at = None;
                    row::put_item(tx, T, &task.to_item())?;
                }
                Ok(stale.len())
            })
            .await
    }
}
