//! `list`: this namespace's tables, one per line.

use std::process::ExitCode;

use super::{CmdResult, Context};
use crate::output;

/// Arguments of `list`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Prints the tables of this namespace that exist (DynamoDB: full names).
pub async fn run(_args: Args, ctx: &Context) -> CmdResult {
    let store = ctx.read_store().await?;
    for name in store.admin.list_tables().await? {
        output::line(name)?;
    }
    Ok(ExitCode::SUCCESS)
}
