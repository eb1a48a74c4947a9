//! `reset [--yes]`: delete and recreate this namespace's tables.
//!
//! Without `--yes`, asks on stderr and reads one line from stdin; only
//! exactly `yes` proceeds. Anything else (including end of input) prints
//! `aborted, nothing deleted` on stderr and exits with code 1.

use std::process::ExitCode;

use affine_db::{Error, Table};

use super::{CmdResult, Context};
use crate::output;

/// Arguments of `reset`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Do not ask (for scripts)
    #[arg(long)]
    yes: bool,
}

/// Asks, then deletes and recreates the tables.
pub async fn run(args: Args, ctx: &Context) -> CmdResult {
    let store = ctx.write_store().await?;
    let what = store.admin.describe();
    if !args.yes {
        eprint!(
            "Type 'yes' to delete and recreate the {} tables of {what}: ",
            Table::ALL.len()
        );
        let answer = tokio::task::spawn_blocking(read_answer)
            .await
            .map_err(|e| Error::backend(format!("reading the answer failed: {e}")))??;
        if answer != "yes" {
            eprintln!("aborted, nothing deleted");
            return Ok(ExitCode::FAILURE);
        }
    }
    store.admin.reset().await?;
    output::line(format!("reset {} tables of {what}", Table::ALL.len()))?;
    Ok(ExitCode::SUCCESS)
}

/// One line from stdin without its line ending; empty at end of input.
fn read_answer() -> affine_db::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Error::backend(format!("cannot read the answer from stdin: {e}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
