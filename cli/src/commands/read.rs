//! The read commands: each prints a JSON array of records, with the
//! attribute names of DESIGN §2 (conversations decoded).

use std::process::ExitCode;

use affine_db::{Conversation, LogStatus, MinerSamplesQuery, PendingOrder, TaskStatus};
use clap::Subcommand;

use super::{CmdResult, Context};
use crate::output;

/// Arguments of `samples`.
#[derive(Debug, clap::Args)]
pub struct SamplesArgs {
    /// Miner hotkey
    #[arg(long)]
    miner: String,
    /// Model revision
    #[arg(long)]
    revision: String,
    /// Only this environment
    #[arg(long)]
    env: Option<String>,
    /// At most this many (after the env filter); all when absent
    #[arg(long)]
    limit: Option<usize>,
    /// Newest first (default: oldest first)
    #[arg(long)]
    newest_first: bool,
    /// Leave conversations out (`conversation` is null; cheaper)
    #[arg(long)]
    no_conversation: bool,
}

/// `samples`: one miner and revision's samples, by timestamp.
pub async fn samples(args: SamplesArgs, ctx: &Context) -> CmdResult {
    let store = ctx.store().await?;
    let query = MinerSamplesQuery {
        env: args.env,
        limit: args.limit,
        newest_first: args.newest_first,
        conversation: if args.no_conversation {
            Conversation::Skip
        } else {
            Conversation::Include
        },
    };
    let rows = store
        .samples
        .get_samples_by_miner(&args.miner, &args.revision, &query)
        .await?;
    output::json(&rows)?;
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `tasks`.
#[derive(Debug, clap::Args)]
pub struct TasksArgs {
    /// Miner hotkey
    #[arg(long)]
    miner: String,
    /// Model revision
    #[arg(long)]
    revision: String,
    /// Only tasks in this status: pending, running, completed or failed
    #[arg(long)]
    status: Option<String>,
    /// At most this many (after the status filter); all when absent
    #[arg(long)]
    limit: Option<usize>,
}

/// `tasks`: one miner and revision's live tasks, in creation order.
pub async fn tasks(args: TasksArgs, ctx: &Context) -> CmdResult {
    let status: Option<TaskStatus> = args.status.as_deref().map(str::parse).transpose()?;
    let store = ctx.store().await?;
    let rows = store
        .tasks
        .get_tasks_by_miner(&args.miner, &args.revision, status, args.limit)
        .await?;
    output::json(&rows)?;
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `pending-tasks`.
#[derive(Debug, clap::Args)]
pub struct PendingTasksArgs {
    /// At most this many
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

/// `pending-tasks`: pending tasks across miners, highest priority then oldest first.
pub async fn pending_tasks(args: PendingTasksArgs, ctx: &Context) -> CmdResult {
    let store = ctx.store().await?;
    output::json(
        &store
            .tasks
            .get_pending_tasks(args.limit, PendingOrder::Priority)
            .await?,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Miner hotkey
    #[arg(long)]
    miner: String,
    /// Only logs with this status: success or failed
    #[arg(long)]
    status: Option<String>,
    /// At most this many
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

/// `logs`: a miner's live execution logs, newest first.
pub async fn logs(args: LogsArgs, ctx: &Context) -> CmdResult {
    let status = args.status.as_deref().map(LogStatus::parse).transpose()?;
    let store = ctx.store().await?;
    let rows = store
        .logs
        .get_recent_logs(&args.miner, args.limit, status)
        .await?;
    output::json(&rows)?;
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `scores`.
#[derive(Debug, clap::Args)]
pub struct ScoresArgs {
    #[command(subcommand)]
    which: WhichScores,
}

#[derive(Debug, Subcommand)]
enum WhichScores {
    /// The rows of the newest block with scores (an empty array when none)
    Latest,
    /// The rows of one block
    Block {
        /// Block number
        block: i64,
    },
}

/// `scores latest` / `scores block N`: score rows, by miner hotkey.
pub async fn scores(args: ScoresArgs, ctx: &Context) -> CmdResult {
    let rows = match args.which {
        WhichScores::Latest => {
            let store = ctx.store().await?;
            store
                .scores
                .get_latest_scores()
                .await?
                .map(|latest| latest.scores)
                .unwrap_or_default()
        }
        WhichScores::Block { block } => {
            affine_db::tables::scores::validate_block(block)?;
            let store = ctx.store().await?;
            store.scores.get_scores_at_block(block).await?
        }
    };
    output::json(&rows)?;
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `miners`.
#[derive(Debug, clap::Args)]
pub struct MinersArgs {}

/// `miners`: every miner's metadata, by hotkey.
pub async fn miners(_args: MinersArgs, ctx: &Context) -> CmdResult {
    let store = ctx.store().await?;
    output::json(&store.miners.get_all_miners().await?)?;
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `policies`.
#[derive(Debug, clap::Args)]
pub struct PoliciesArgs {}

/// `policies`: every retention policy, by hotkey.
pub async fn policies(_args: PoliciesArgs, ctx: &Context) -> CmdResult {
    let store = ctx.store().await?;
    output::json(&store.retention.get_all_policies().await?)?;
    Ok(ExitCode::SUCCESS)
}
