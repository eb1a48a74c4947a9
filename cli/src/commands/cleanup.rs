//! `cleanup [--dry-run] [--json]`: the retention rules (DESIGN §4).

use std::process::ExitCode;

use super::{CmdResult, Context};
use crate::output;

/// Arguments of `cleanup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Count what would be deleted, delete nothing
    #[arg(long)]
    dry_run: bool,
    /// Print the report as one JSON object
    #[arg(long)]
    json: bool,
}

/// Runs [`affine_db::rules::cleanup`] and prints its report.
pub async fn run(args: Args, ctx: &Context) -> CmdResult {
    let store = if args.dry_run {
        ctx.read_store().await?
    } else {
        ctx.write_store().await?
    };
    let report = affine_db::rules::cleanup(&store, args.dry_run).await?;
    if args.json {
        output::json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if report.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for e in &report.entries {
        if e.protected {
            output::line(format!(
                "protected  {} rev {}: kept every sample",
                e.miner_hotkey, e.model_revision
            ))?;
        } else {
            output::line(format!(
                "cleaned    {} rev {}: {verb} {} samples older than {} days",
                e.miner_hotkey, e.model_revision, e.deleted, e.retention_days
            ))?;
        }
    }
    let protected = report.entries.iter().filter(|e| e.protected).count();
    output::line(format!(
        "{}{verb} {} samples across {} miner revisions ({protected} protected)",
        if report.dry_run { "dry run: " } else { "" },
        report.deleted,
        report.entries.len(),
    ))?;
    Ok(ExitCode::SUCCESS)
}
