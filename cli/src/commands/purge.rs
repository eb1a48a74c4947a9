//! `purge-expired`: delete items whose TTL has passed.

use std::process::ExitCode;

use super::{CmdResult, Context};
use crate::output;

/// Arguments of `purge-expired`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Deletes expired items and says how many. (They are already invisible to
/// every read; this reclaims the space.)
pub async fn run(_args: Args, ctx: &Context) -> CmdResult {
    let store = ctx.write_store().await?;
    let purged = store.admin.purge_expired().await?;
    output::line(format!("purged {purged} expired items"))?;
    Ok(ExitCode::SUCCESS)
}
