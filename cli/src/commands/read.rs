//! The read commands: each prints a JSON array of records, with the
//! attribute names of DESIGN §2 (conversations decoded). They open the
//! store read-only, and list around rows that cannot be decoded
//! ([`lenient`]).

use affine_db::keys;
use affine_db::rules;
use affine_db::schema::Table;
use affine_db::tables::samples::miner_order;
use affine_db::tables::scores::{block_visible, latest_of};
use affine_db::tables::tasks::pending_order;
use affine_db::{
    dictionaries, ConfigParam, Conversation, ExecutionLog, LogStatus, MinerMetadata,
    MinerSamplesQuery, PendingOrder, RetentionPolicy, Sample, Score, Store, Task, TaskStatus,
};
use clap::Subcommand;

use super::lenient::{self, CorruptArgs, Listing};
use super::{CmdResult, Context};

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
    #[command(flatten)]
    corrupt: CorruptArgs,
}

/// `samples`: one miner and revision's samples, by timestamp.
pub async fn samples(args: SamplesArgs, ctx: &Context) -> CmdResult {
    keys::validate_part("miner_hotkey", &args.miner)?;
    keys::validate_part("model_revision", &args.revision)?;
    let store = ctx.read_store().await?;
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
    let typed = store
        .samples
        .get_samples_by_miner(&args.miner, &args.revision, &query)
        .await;
    lenient::print_list(typed, args.corrupt, || async {
        let pk = keys::miner_revision_pk(&args.miner, &args.revision);
        let mut listing = decoded_partition(&store, &pk, query.conversation).await?;
        listing
            .rows
            .retain(|s: &Sample| query.env.as_ref().is_none_or(|e| *e == s.env));
        listing.rows.sort_by(miner_order);
        if query.newest_first {
            listing.rows.reverse();
        }
        if let Some(limit) = query.limit {
            listing.rows.truncate(limit);
        }
        Ok(listing)
    })
    .await
}

/// Every sample row of partition `pk`, each decoded on its own so a row
/// that cannot be decoded is listed as skipped (the lenient fallback of
/// the sample reads).
async fn decoded_partition(
    store: &Store,
    pk: &str,
    conversation: Conversation,
) -> affine_db::Result<Listing<Sample>> {
    let items = lenient::scan(store, Table::SampleResults, |p, _| p == pk).await?;
    Ok(
        lenient::decode_async(Table::SampleResults, items, |item| async move {
            let one = dictionaries::decode_samples(
                &store.codec,
                store.admin.as_ref(),
                std::slice::from_ref(&item),
                conversation,
            )
            .await
            .and_then(|mut v| {
                v.pop()
                    .ok_or_else(|| affine_db::Error::corrupt("no sample"))
            });
            (item, one)
        })
        .await,
    )
}

/// Arguments of `samples-by-tasks`.
#[derive(Debug, clap::Args)]
pub struct SamplesByTasksArgs {
    /// Miner hotkey
    #[arg(long)]
    miner: String,
    /// Model revision
    #[arg(long)]
    revision: String,
    /// A task id (repeat for several; at most 1,000 distinct)
    #[arg(long = "task-id", required = true)]
    task_ids: Vec<String>,
    /// Leave conversations out (`conversation` is null; cheaper)
    #[arg(long)]
    no_conversation: bool,
    #[command(flatten)]
    corrupt: CorruptArgs,
}

/// `samples-by-tasks`: one miner and revision's samples of the given
/// tasks, in every env, in sort key order.
pub async fn samples_by_tasks(args: SamplesByTasksArgs, ctx: &Context) -> CmdResult {
    let pk = rules::samples::owner(&args.miner, &args.revision)?;
    let wanted: Vec<String> = rules::samples::task_ids(&args.task_ids)?
        .into_iter()
        .map(str::to_string)
        .collect();
    let conversation = if args.no_conversation {
        Conversation::Skip
    } else {
        Conversation::Include
    };
    let store = ctx.read_store().await?;
    let typed = store
        .samples
        .get_samples_by_task_ids(&args.miner, &args.revision, &wanted, conversation)
        .await;
    lenient::print_list(typed, args.corrupt, || async {
        let mut listing = decoded_partition(&store, &pk, conversation).await?;
        listing
            .rows
            .retain(|s: &Sample| wanted.binary_search(&s.task_id).is_ok());
        listing.rows.sort_by(miner_order);
        Ok(listing)
    })
    .await
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
    #[command(flatten)]
    corrupt: CorruptArgs,
}

/// `tasks`: one miner and revision's live tasks, in creation order.
pub async fn tasks(args: TasksArgs, ctx: &Context) -> CmdResult {
    let status: Option<TaskStatus> = args.status.as_deref().map(str::parse).transpose()?;
    keys::validate_part("miner_hotkey", &args.miner)?;
    keys::validate_part("model_revision", &args.revision)?;
    let store = ctx.read_store().await?;
    let typed = store
        .tasks
        .get_tasks_by_miner(&args.miner, &args.revision, status, args.limit)
        .await;
    lenient::print_list(typed, args.corrupt, || async {
        let pk = keys::miner_revision_pk(&args.miner, &args.revision);
        let items = lenient::scan(&store, Table::TaskQueue, |p, _| p == pk).await?;
        let mut listing = lenient::decode(Table::TaskQueue, items, Task::from_item);
        listing
            .rows
            .retain(|t| status.is_none_or(|s| s == t.status));
        listing.rows.sort_by(|a, b| a.task_id.cmp(&b.task_id));
        if let Some(limit) = args.limit {
            listing.rows.truncate(limit);
        }
        Ok(listing)
    })
    .await
}

/// Arguments of `pending-tasks`.
#[derive(Debug, clap::Args)]
pub struct PendingTasksArgs {
    /// At most this many
    #[arg(long, default_value_t = 100)]
    limit: usize,
    #[command(flatten)]
    corrupt: CorruptArgs,
}

/// `pending-tasks`: pending tasks across miners, highest priority then oldest first.
pub async fn pending_tasks(args: PendingTasksArgs, ctx: &Context) -> CmdResult {
    let store = ctx.read_store().await?;
    let typed = store
        .tasks
        .get_pending_tasks(args.limit, PendingOrder::Priority)
        .await;
    lenient::print_list(typed, args.corrupt, || async {
        let items = lenient::scan(&store, Table::TaskQueue, |_, _| true).await?;
        let mut listing = lenient::decode(Table::TaskQueue, items, Task::from_item);
        listing.rows.retain(|t| t.status == TaskStatus::Pending);
        listing.rows.sort_by(pending_order);
        listing.rows.truncate(args.limit);
        Ok(listing)
    })
    .await
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
    #[command(flatten)]
    corrupt: CorruptArgs,
}

/// `logs`: a miner's live execution logs, newest first.
pub async fn logs(args: LogsArgs, ctx: &Context) -> CmdResult {
    let status = args.status.as_deref().map(LogStatus::parse).transpose()?;
    keys::validate_part("miner_hotkey", &args.miner)?;
    let store = ctx.read_store().await?;
    let typed = store
        .logs
        .get_recent_logs(&args.miner, args.limit, status)
        .await;
    lenient::print_list(typed, args.corrupt, || async {
        let pk = keys::miner_pk(&args.miner);
        let mut items = lenient::scan(&store, Table::ExecutionLogs, |p, _| p == pk).await?;
        // Newest first is the sort key (time, then id) descending.
        items.sort_by_key(|i| std::cmp::Reverse(lenient::key_of(i).1));
        let mut listing = lenient::decode(Table::ExecutionLogs, items, ExecutionLog::from_item);
        listing
            .rows
            .retain(|l| status.is_none_or(|s| s == l.status));
        listing.rows.truncate(args.limit);
        Ok(listing)
    })
    .await
}

/// Arguments of `scores`.
#[derive(Debug, clap::Args)]
pub struct ScoresArgs {
    #[command(subcommand)]
    which: WhichScores,
    #[command(flatten)]
    corrupt: CorruptArgs,
}

#[derive(Debug, Subcommand)]
enum WhichScores {
    /// The rows of the newest block with scores (an empty array when none)
    Latest,
    /// The rows of one block
    #[command(allow_negative_numbers = true)]
    Block {
        /// Block number
        block: i64,
    },
}

/// `scores latest` / `scores block N`: score rows, by miner hotkey.
pub async fn scores(args: ScoresArgs, ctx: &Context) -> CmdResult {
    let block = match args.which {
        WhichScores::Latest => None,
        WhichScores::Block { block } => {
            affine_db::tables::scores::validate_block(block)?;
            Some(block)
        }
    };
    let store = ctx.read_store().await?;
    let typed = match block {
        None => store
            .scores
            .get_latest_scores()
            .await
            .map(|latest| latest.map(|l| l.scores).unwrap_or_default()),
        Some(block) => store.scores.get_scores_at_block(block).await,
    };
    lenient::print_list(typed, args.corrupt, || raw_scores(&store, block)).await
}

/// The score rows of `block` (the newest visible block with rows when
/// `None`) from the raw items, by hotkey.
async fn raw_scores(store: &Store, block: Option<i64>) -> affine_db::Result<Listing<Score>> {
    let items = lenient::scan(store, Table::Scores, |_, _| true).await?;
    let mut blocks: std::collections::BTreeMap<
        i64,
        (Option<affine_db::Item>, Vec<affine_db::Item>),
    > = std::collections::BTreeMap::new();
    for item in items {
        let (pk, sk) = lenient::key_of(&item);
        let Ok(b) = keys::parse_score_pk(&pk) else {
            continue;
        };
        let entry = blocks.entry(b).or_default();
        if sk == keys::SNAPSHOT_SK {
            entry.0 = Some(item);
        } else {
            entry.1.push(item);
        }
    }
    let chosen = match block {
        Some(b) => blocks.remove(&b),
        None => blocks
            .into_iter()
            .rev()
            .find(|(_, (header, rows))| !rows.is_empty() && block_visible(header.as_ref()))
            .map(|(_, v)| v),
    };
    let rows = match chosen {
        Some((header, rows)) if block_visible(header.as_ref()) => rows,
        _ => Vec::new(),
    };
    let mut listing = lenient::decode(Table::Scores, rows, Score::from_item);
    if let Some(first) = listing.rows.first() {
        let b = first.block_number;
        let sorted = latest_of(b, std::mem::take(&mut listing.rows));
        listing.rows = sorted.scores;
    }
    Ok(listing)
}

/// Arguments of `miners`.
#[derive(Debug, clap::Args)]
pub struct MinersArgs {
    #[command(flatten)]
    corrupt: CorruptArgs,
}

/// `miners`: every miner's metadata, by hotkey.
pub async fn miners(args: MinersArgs, ctx: &Context) -> CmdResult {
    let store = ctx.read_store().await?;
    let typed = store.miners.get_all_miners().await;
    lenient::print_list(typed, args.corrupt, || async {
        let items = lenient::scan(&store, Table::MinerMetadata, |pk, sk| {
            sk == keys::METADATA_SK && keys::parse_miner_pk(pk).is_ok()
        })
        .await?;
        let mut listing = lenient::decode(Table::MinerMetadata, items, MinerMetadata::from_item);
        listing
            .rows
            .sort_by(|a, b| a.miner_hotkey.cmp(&b.miner_hotkey));
        Ok(listing)
    })
    .await
}

/// Arguments of `policies`.
#[derive(Debug, clap::Args)]
pub struct PoliciesArgs {
    #[command(flatten)]
    corrupt: CorruptArgs,
}

/// `policies`: every retention policy, by hotkey.
pub async fn policies(args: PoliciesArgs, ctx: &Context) -> CmdResult {
    let store = ctx.read_store().await?;
    let typed = store.retention.get_all_policies().await;
    lenient::print_list(typed, args.corrupt, || async {
        let items = lenient::scan(&store, Table::DataRetentionPolicy, |pk, sk| {
            sk == keys::METADATA_SK && keys::parse_retention_pk(pk).is_ok()
        })
        .await?;
        let mut listing = lenient::decode(
            Table::DataRetentionPolicy,
            items,
            RetentionPolicy::from_item,
        );
        listing
            .rows
            .sort_by(|a, b| a.miner_hotkey.cmp(&b.miner_hotkey));
        Ok(listing)
    })
    .await
}

/// `config list`: every parameter, by name.
pub async fn config_list(store: &Store, corrupt: CorruptArgs) -> CmdResult {
    let typed = store.config.list_all_configs().await;
    lenient::print_list(typed, corrupt, || async {
        let items =
            lenient::scan(store, Table::SystemConfig, |pk, _| pk == keys::CONFIG_PK).await?;
        let mut listing = lenient::decode(Table::SystemConfig, items, ConfigParam::from_item);
        listing.rows.sort_by(|a, b| a.param_name.cmp(&b.param_name));
        Ok(listing)
    })
    .await
}
