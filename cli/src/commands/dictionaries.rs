//! zstd dictionaries (DESIGN §5): `train-dict` trains one from the stored
//! conversations and makes it the one new writes use, `dictionaries` lists
//! what is stored and targeted, and `recompress` rewrites older frames with
//! the current dictionaries.

use std::io::IsTerminal;
use std::process::ExitCode;

use affine_db::codec::DEFAULT_DICTIONARY_SIZE;
use affine_db::dictionaries;
use affine_db::maintenance::recompress::{recompress, RecompressOptions, RecompressSummary};
use affine_db::maintenance::train_dict::{train_from_store, TrainOptions};
use affine_db::Error;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::interrupt::{self, Tracker};
use super::{CmdResult, Context};
use crate::output;

/// Arguments of `train-dict`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Train on this environment's conversations only, and use the
    /// dictionary for that environment only
    #[arg(long)]
    env: Option<String>,
    /// The largest dictionary to make, in bytes
    #[arg(long, default_value_t = DEFAULT_DICTIONARY_SIZE as u64,
          value_parser = clap::value_parser!(u64).range(4096..=(1 << 20)))]
    size: u64,
    /// Train on at most this many conversations, sampled uniformly
    #[arg(long, default_value_t = 20_000,
          value_parser = clap::value_parser!(u64).range(16..=1_000_000))]
    max_samples: u64,
    /// Store the dictionary without making new writes use it
    #[arg(long)]
    no_activate: bool,
    /// Print the report as one JSON object
    #[arg(long)]
    json: bool,
}

/// Arguments of `dictionaries`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {}

/// Arguments of `recompress`.
#[derive(Debug, clap::Args)]
pub struct RecompressArgs {
    /// Only samples of this environment
    #[arg(long)]
    env: Option<String>,
    /// Samples read and written per batch
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1000))]
    batch_size: u64,
    /// Count what would change, write nothing
    #[arg(long)]
    dry_run: bool,
    /// Start from the beginning even if an interrupted run saved its position
    #[arg(long)]
    restart: bool,
    /// Stop after N batches (the position is saved; run again to continue)
    #[arg(long, value_name = "N")]
    max_batches: Option<u64>,
    /// Print the summary as one JSON object
    #[arg(long)]
    json: bool,
}

fn spinner(template: &str) -> Option<ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    })
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn json_line(value: &impl serde::Serialize) -> affine_db::Result<()> {
    let text = serde_json::to_string(value)
        .map_err(|e| Error::backend(format!("cannot encode the report: {e}")))?;
    output::line(text)
}

/// Trains, stores and (unless `--no-activate`) activates a dictionary.
pub async fn train(args: TrainArgs, ctx: &Context) -> CmdResult {
    let store = ctx.write_store().await?;
    let opts = TrainOptions {
        env: args.env.clone(),
        max_size: args.size as usize,
        max_samples: args.max_samples as usize,
        activate: !args.no_activate,
        by: "affine-db train-dict".into(),
        ..TrainOptions::default()
    };
    let bar = spinner("{spinner} {elapsed_precise} sampling conversations: {msg}");
    let progress = |seen: u64| {
        if let Some(bar) = &bar {
            bar.set_message(format!("{seen} seen"));
            bar.tick();
        }
    };
    let result = train_from_store(&store, &opts, &progress).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = result?;
    if args.json {
        json_line(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let d = &report.dictionary;
    let scope = d
        .env
        .as_deref()
        .map_or("every environment".to_string(), |e| format!("env {e}"));
    output::line(format!(
        "trained dictionary {} ({} bytes) for {scope} on {} of {} conversations ({}){}",
        d.id,
        d.size,
        d.samples,
        report.conversations_seen,
        mib(d.sample_bytes),
        if report.newly_stored {
            ""
        } else {
            "; an identical dictionary was already stored"
        },
    ))?;
    if report.unreadable > 0 {
        output::line(format!(
            "left out {} conversations that could not be decoded",
            report.unreadable
        ))?;
    }
    output::line(format!(
        "those conversations: {} as stored, {} with this dictionary ({:.2}x smaller)",
        report.stored_bytes,
        report.with_dictionary_bytes,
        report.stored_bytes as f64 / report.with_dictionary_bytes.max(1) as f64,
    ))?;
    if opts.activate {
        output::line(format!(
            "new writes for {scope} now use dictionary {}; run `affine-db recompress` to shrink what is stored",
            d.id
        ))?;
    } else {
        output::line("stored, not activated (--no-activate)")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Lists the stored dictionaries and which ones new writes use.
pub async fn list(_args: ListArgs, ctx: &Context) -> CmdResult {
    let store = ctx.read_store().await?;
    let infos = dictionaries::list(&*store.admin).await?;
    let targets = dictionaries::targets(&*store.admin).await?;
    output::json(&json!({ "dictionaries": infos, "targets": targets }))?;
    Ok(ExitCode::SUCCESS)
}

fn describe(s: &RecompressSummary, dry_run: bool) -> String {
    let verb = if dry_run { "would rewrite" } else { "rewrote" };
    let saved = s.bytes_before.saturating_sub(s.bytes_after);
    format!(
        "{}scanned {} samples: {verb} {} ({} -> {} bytes, {} saved), {} already current, \
         {} kept (not smaller), {} unreadable{}",
        if s.resumed { "resumed; " } else { "" },
        s.scanned,
        s.rewritten,
        s.bytes_before,
        s.bytes_after,
        saved,
        s.current,
        s.kept,
        s.unreadable,
        if s.finished {
            ""
        } else {
            "; stopped early, run again to continue"
        },
    )
}

/// Rewrites stored conversations with the current dictionaries.
pub async fn recompress_cmd(args: RecompressArgs, ctx: &Context) -> CmdResult {
    let opts = RecompressOptions {
        env: args.env,
        batch_size: args.batch_size as usize,
        dry_run: args.dry_run,
        restart: args.restart,
        max_batches: args.max_batches,
    };
    let bar = output::progress_bar(0, "samples", "{msg}");
    let tracker = Tracker::new("before the first batch was done");
    let total = std::sync::atomic::AtomicU64::new(0);
    let progress = |s: &RecompressSummary| {
        tracker.set(format!(
            "{} of about {} samples scanned, {} rewritten",
            s.scanned,
            total.load(std::sync::atomic::Ordering::Relaxed),
            s.rewritten
        ));
        if let Some(bar) = &bar {
            bar.set_position(s.scanned);
            bar.set_message(format!("{} rewritten", s.rewritten));
        }
    };
    let resume = if opts.dry_run {
        "nothing was written (dry run)"
    } else {
        "the position after the last finished batch is saved; run the same command again to resume"
    };
    let work = async {
        let store = if opts.dry_run {
            ctx.read_store().await?
        } else {
            ctx.write_store().await?
        };
        let n = store
            .admin
            .stats()
            .await?
            .get(&affine_db::Table::SampleResults)
            .copied()
            .unwrap_or_default();
        total.store(n, std::sync::atomic::Ordering::Relaxed);
        if let Some(bar) = &bar {
            bar.set_length(n);
        }
        recompress(&store, &opts, &progress).await
    };
    let result = interrupt::run(work, &tracker, resume, bar.as_ref()).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let summary = result?;
    if args.json {
        json_line(&summary)?;
    } else {
        output::line(describe(&summary, opts.dry_run))?;
    }
    Ok(ExitCode::SUCCESS)
}
