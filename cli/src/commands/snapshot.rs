//! `export --out FILE`, `import --in FILE` and `copy --from URL --to URL`:
//! versioned snapshots of every table ([`affine_db::tools::snapshot`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::process::ExitCode;

use affine_db::tools::snapshot::{self, SnapshotProgress};
use affine_db::{Access, Error, Table};

use super::interrupt::{self, Tracker};
use super::{CmdResult, Context};
use crate::output;

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The snapshot file to write (replaced if it exists)
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Arguments of `import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The snapshot file to read
    #[arg(long = "in", value_name = "FILE")]
    input: PathBuf,
}

/// Arguments of `copy`.
#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// The store to copy from (a `--db` URL)
    #[arg(long, value_name = "URL")]
    from: String,
    /// The store to copy into (a `--db` URL); its tables are created if missing
    #[arg(long, value_name = "URL")]
    to: String,
}

fn print_counts(verb: &str, counts: &BTreeMap<Table, u64>) -> affine_db::Result<()> {
    let total: u64 = counts.values().sum();
    output::line(format!("{verb} {total} items"))?;
    for (t, n) in counts {
        output::line(format!("  {}: {n}", t.name()))?;
    }
    Ok(())
}

fn file_error(what: &str, path: &std::path::Path, e: std::io::Error) -> Error {
    Error::invalid(what, format!("{}: {e}", path.display()))
}

/// Writes a snapshot of the `--db` store to `--out`.
pub async fn export(args: ExportArgs, ctx: &Context) -> CmdResult {
    let store = ctx.read_store().await?;
    let file = File::create(&args.out).map_err(|e| file_error("--out", &args.out, e))?;
    let counts = snapshot::export(store.admin.as_ref(), BufWriter::new(file)).await?;
    print_counts("exported", &counts)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the items of the snapshot `--in` into the `--db` store.
pub async fn import(args: ImportArgs, ctx: &Context) -> CmdResult {
    let file = File::open(&args.input).map_err(|e| file_error("--in", &args.input, e))?;
    let store = ctx.store().await?;
    store.admin.init().await?;
    let counts = snapshot::import(store.admin.as_ref(), BufReader::new(file)).await?;
    print_counts("imported", &counts)?;
    Ok(ExitCode::SUCCESS)
}

/// Copies every item of `--from` (opened read-only) into `--to` (its
/// tables created once `--from` has been read), through a temporary
/// snapshot file.
pub async fn copy(args: CopyArgs, _ctx: &Context) -> CmdResult {
    let tracker = Tracker::new("before any item was read");
    let progress = |p: &SnapshotProgress| {
        tracker.set(if p.writing {
            format!("{} items written to --to (at {})", p.items, p.table.name())
        } else {
            format!(
                "{} items read from --from (at {}), none written yet",
                p.items,
                p.table.name()
            )
        });
    };
    let work = async {
        let from = super::open(&args.from, Access::ReadOnly).await?;
        let to = super::open(&args.to, Access::Create).await?;
        snapshot::copy_with(from.admin.as_ref(), to.admin.as_ref(), &progress).await
    };
    let counts = interrupt::run(
        work,
        &tracker,
        "run the same command again to finish the copy (items already copied are \
         written again, unchanged)",
        None,
    )
    .await?;
    print_counts("copied", &counts)?;
    Ok(ExitCode::SUCCESS)
}
