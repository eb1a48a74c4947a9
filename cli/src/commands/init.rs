//! `init`: create the seven tables (idempotent).

use std::process::ExitCode;

use affine_db::Table;

use super::{CmdResult, Context};
use crate::output;

/// Arguments of `init`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Creates the tables (DynamoDB: with indexes and TTL, waiting until active).
pub async fn run(_args: Args, ctx: &Context) -> CmdResult {
    let store = ctx.store().await?;
    store.admin.init().await?;
    output::line(format!(
        "initialized {} tables on {}",
        Table::ALL.len(),
        store.admin.describe()
    ))?;
    Ok(ExitCode::SUCCESS)
}
