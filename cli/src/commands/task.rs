//! `task create|claim|start|complete|fail|delete|requeue`: the task queue
//! from the shell, with the library's semantics. Each prints JSON on
//! stdout; a lost claim (`Conflict`), a missing task (`NotFound`) or a
//! stale one exits 1 with one `error:` line.

use std::process::ExitCode;

use affine_db::rules;
use affine_db::tables::tasks::{validate_task_key, Claim, NewTask};
use affine_db::Error;
use clap::Subcommand;
use serde_json::json;

use super::{CmdResult, Context};
use crate::output;

/// Arguments of `task`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

/// The key of one task.
#[derive(Debug, clap::Args)]
struct TaskKey {
    /// Miner hotkey
    #[arg(long)]
    miner: String,
    /// Model revision
    #[arg(long)]
    revision: String,
    /// The task's id (as `task create` printed it)
    #[arg(long)]
    task_id: String,
}

impl TaskKey {
    fn validate(&self) -> affine_db::Result<()> {
        validate_task_key(&self.miner, &self.revision, &self.task_id)
    }

    fn not_found(&self) -> Error {
        Error::NotFound(format!(
            "task {} of miner {} revision {} (expired, completed or never created; see \
             `affine-db tasks --miner {} --revision {}`)",
            self.task_id, self.miner, self.revision, self.miner, self.revision
        ))
    }
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Create a pending task and print it (with its `task_id`)
    #[command(allow_negative_numbers = true)]
    Create {
        /// Miner hotkey
        #[arg(long)]
        miner: String,
        /// Model revision
        #[arg(long)]
        revision: String,
        /// The model hash the task is for (a validated claim checks it)
        #[arg(long)]
        model_hash: String,
        /// Environment
        #[arg(long)]
        env: String,
        /// Higher runs first
        #[arg(long, default_value_t = 0)]
        priority: i64,
        /// Lifetime in days (default 7)
        #[arg(long)]
        ttl_days: Option<i64>,
        /// The validator creating it
        #[arg(long, default_value = "")]
        validator_hotkey: String,
    },
    /// Claim a pending task after checking the miner's current model (a
    /// stale task is removed and reported); prints the running task
    Claim(TaskKey),
    /// Claim a pending task without the model check; prints the running task
    Start(TaskKey),
    /// Complete (delete) a task
    Complete(TaskKey),
    /// Record a failure: status failed, error_count + 1, last_error; prints the task
    Fail {
        #[command(flatten)]
        key: TaskKey,
        /// What went wrong
        #[arg(long, allow_hyphen_values = true)]
        error: String,
    },
    /// Delete a task, whatever its status
    Delete(TaskKey),
    /// Put tasks running for at least S seconds back to pending; prints how many
    #[command(allow_negative_numbers = true)]
    Requeue {
        /// Seconds a task may run before it counts as stale
        #[arg(long, value_name = "S")]
        timeout_s: i64,
    },
}

/// Runs one task action.
pub async fn run(args: Args, ctx: &Context) -> CmdResult {
    match args.action {
        Action::Create {
            miner,
            revision,
            model_hash,
            env,
            priority,
            ttl_days,
            validator_hotkey,
        } => {
            let new = NewTask {
                miner_hotkey: miner,
                model_revision: revision,
                model_hash,
                env,
                validator_hotkey,
                priority,
                ttl_days,
            };
            // Validate before the store is opened (or a file created).
            new.clone().into_task(0)?;
            let store = ctx.store().await?;
            output::json(&store.tasks.create_task(new).await?)?;
        }
        Action::Claim(key) => {
            key.validate()?;
            let store = ctx.write_store().await?;
            match rules::claim_task(&store, &key.miner, &key.revision, &key.task_id).await? {
                Claim::Started(task) => output::json(&task)?,
                Claim::Stale => {
                    eprintln!(
                        "error: task {} is stale: miner {} now serves another model, so the \
                         task was removed instead of started (create a new task for the \
                         current model)",
                        key.task_id, key.miner
                    );
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Action::Start(key) => {
            key.validate()?;
            let store = ctx.write_store().await?;
            let task = store
                .tasks
                .start_task(&key.miner, &key.revision, &key.task_id)
                .await?;
            output::json(&task)?;
        }
        Action::Complete(key) => {
            key.validate()?;
            let store = ctx.write_store().await?;
            if !store
                .tasks
                .complete_task(&key.miner, &key.revision, &key.task_id)
                .await?
            {
                return Err(key.not_found());
            }
            output::json(&json!({ "task_id": key.task_id, "completed": true }))?;
        }
        Action::Fail { key, error } => {
            key.validate()?;
            let store = ctx.write_store().await?;
            let task = store
                .tasks
                .fail_task(&key.miner, &key.revision, &key.task_id, &error)
                .await?;
            output::json(&task)?;
        }
        Action::Delete(key) => {
            key.validate()?;
            let store = ctx.write_store().await?;
            if !store
                .tasks
                .complete_task(&key.miner, &key.revision, &key.task_id)
                .await?
            {
                return Err(key.not_found());
            }
            output::json(&json!({ "task_id": key.task_id, "deleted": true }))?;
        }
        Action::Requeue { timeout_s } => {
            if timeout_s < 0 {
                return Err(Error::invalid(
                    "--timeout-s",
                    format!("{timeout_s} must be at least 0"),
                ));
            }
            let store = ctx.write_store().await?;
            let n = store.tasks.requeue_stale_tasks(timeout_s).await?;
            output::json(&json!({ "requeued": n }))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
