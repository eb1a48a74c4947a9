//! `init`: create the seven tables (idempotent) and hold existing ones to
//! the declared schema.

use std::process::ExitCode;

use affine_db::Table;

use super::{CmdResult, Context};
use crate::output;

/// Arguments of `init`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Creates missing tables (DynamoDB: with indexes and TTL, waiting until
/// active) and repairs what can be repaired in place in existing ones
/// (a missing index, disabled TTL, a missing SQLite column), printing each
/// repair; refuses, changing nothing, when a difference cannot be repaired
/// in place (see `check`).
pub async fn run(_args: Args, ctx: &Context) -> CmdResult {
    let store = ctx.store().await?;
    let repaired = store
        .admin
        .init_with(&|line: &str| {
            // A closed stdout must not stop the repair half way.
            let _ = output::line(line);
        })
        .await?;
    let existing = repaired
        .iter()
        .filter(|d| d.kind() != "missing_table")
        .count();
    output::line(format!(
        "initialized {} tables on {}{}",
        Table::ALL.len(),
        store.admin.describe(),
        match existing {
            0 => String::new(),
            1 => " (1 repair to an existing table)".to_string(),
            n => format!(" ({n} repairs to existing tables)"),
        }
    ))?;
    Ok(ExitCode::SUCCESS)
}
