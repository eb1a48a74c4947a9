//! `stats [--json]`: live item count per table.

use std::process::ExitCode;

use super::{CmdResult, Context};
use crate::output;

/// Arguments of `stats`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object, table name → live item count
    #[arg(long)]
    json: bool,
}

/// Prints the live (unexpired) item count of each table.
pub async fn run(args: Args, ctx: &Context) -> CmdResult {
    let store = ctx.read_store().await?;
    let stats = store.admin.stats().await?;
    if args.json {
        let object: serde_json::Map<String, serde_json::Value> = stats
            .iter()
            .map(|(table, count)| (table.name().to_string(), (*count).into()))
            .collect();
        output::json(&object)?;
    } else {
        let width = stats.keys().map(|t| t.name().len()).max().unwrap_or(0);
        for (table, count) in &stats {
            output::line(format!("{:<width$}  {count}", table.name()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
