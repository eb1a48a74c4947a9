//! `migrate --source SRC [--tail BLOCKS] [--max-results N] [--current-block B]
//! [--batch-size N] [--concurrency N] [--workers N] [--in-flight N] [--json]`:
//! imports the old validator's R2 result shards (DESIGN §7) with
//! [`affine_db::tools::migrate::migrate`]. `--max-index-bytes` and
//! `--max-shard-bytes` cap every read.

use std::process::ExitCode;

use affine_db::tools::migrate::{self, MigrateOptions, Progress, Source};

use super::interrupt::{self, Tracker};
use super::{CmdResult, Context};
use crate::output;

/// Arguments of `migrate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the shards are: `dir://PATH` or a path, `s3://BUCKET[/prefix]`
    /// (endpoint and credentials from the AWS environment), or `http(s)://BASE`
    #[arg(long)]
    source: String,
    /// Only windows within this many blocks of the current block
    #[arg(long, value_name = "BLOCKS")]
    tail: Option<i64>,
    /// The block `--tail` counts back from (default: the newest window in the index)
    #[arg(long, value_name = "B")]
    current_block: Option<i64>,
    /// Stop after N records have been processed (migrated or skipped); what
    /// was processed is written, and running again without it finishes the job
    #[arg(long, value_name = "N")]
    max_results: Option<u64>,
    /// Samples per batched write
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1000))]
    batch_size: u64,
    /// Shards fetched in parallel
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    concurrency: u64,
    /// Shards parsed, converted and compressed in parallel (default: one per core, at least 2)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=256))]
    workers: Option<u64>,
    /// Batched writes in flight at once (default: 1 on SQLite, whose one
    /// writer commits them in turn; 4 on DynamoDB)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=64))]
    in_flight: Option<u64>,
    /// The most bytes read of `affine/index.json` (default 64 MiB); a larger
    /// index ends the run with an error
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    max_index_bytes: Option<u64>,
    /// The most bytes read of one shard (default 512 MiB); a larger one is
    /// skipped and counted as `too_large`
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    max_shard_bytes: Option<u64>,
    /// Print the summary as one JSON object
    #[arg(long)]
    json: bool,
}

/// Runs the migration and prints its summary on stdout. Ctrl-C at any
/// point (also while opening the source or the store) says how far it got
/// and exits 130.
pub async fn run(args: Args, ctx: &Context) -> CmdResult {
    let bar = output::progress_bar(0, "shards", "{msg}");
    let tracker = Tracker::new("before the first shard was done, nothing migrated");
    let report = |p: &Progress| {
        tracker.set(format!(
            "{} of {} shards done, {} records processed, {} samples migrated",
            p.shards_done, p.shards_total, p.processed, p.migrated
        ));
        if let Some(bar) = &bar {
            bar.set_length(p.shards_total);
            bar.set_position(p.shards_done);
            bar.set_message(format!(
                "{} processed, {} migrated",
                p.processed, p.migrated
            ));
        }
    };
    let work = async {
        let source = Source::open(&args.source).await?;
        let store = ctx.store().await?;
        store.admin.init().await?;
        let defaults = MigrateOptions::for_store(&store);
        let opts = MigrateOptions {
            tail: args.tail,
            current_block: args.current_block,
            max_results: args.max_results,
            batch_size: args.batch_size as usize,
            concurrency: args.concurrency as usize,
            workers: args
                .workers
                .map_or_else(migrate::default_workers, |w| w as usize),
            in_flight: args.in_flight.map_or(defaults.in_flight, |n| n as usize),
            max_index_bytes: args.max_index_bytes.unwrap_or(defaults.max_index_bytes),
            max_shard_bytes: args.max_shard_bytes.unwrap_or(defaults.max_shard_bytes),
            ..defaults
        };
        migrate::migrate(&store, &source, &opts, &report).await
    };
    let result = interrupt::run(
        work,
        &tracker,
        "what was migrated is stored; run the same command again to resume (nothing is \
         duplicated)",
        bar.as_ref(),
    )
    .await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let summary = result?;
    if args.json {
        let text = serde_json::to_string(&summary)
            .map_err(|e| affine_db::Error::backend(format!("cannot encode the summary: {e}")))?;
        output::line(text)?;
    } else {
        output::line(summary.to_string())?;
    }
    Ok(ExitCode::SUCCESS)
}
