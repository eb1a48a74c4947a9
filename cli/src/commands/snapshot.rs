//! `export --out FILE`, `import --in FILE` and `copy --from URL --to URL`:
//! versioned snapshots of every table ([`affine_db::tools::snapshot`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::process::ExitCode;

use affine_db::damage::Damage;
use affine_db::tools::snapshot::{self, SnapshotProgress};
use affine_db::{Access, Error, StoreUrl, Table};

use super::interrupt::{self, Tracker};
use super::{CmdResult, Context};
use crate::output;

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The snapshot file to write (replaced if it exists)
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Leave damaged rows (a value not of its column's type) out of the
    /// snapshot; by default they are written as stored, raw bytes included.
    /// Either way each is reported on stderr
    #[arg(long)]
    skip_corrupt: bool,
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
    /// Leave damaged rows (a value not of its column's type) out of the
    /// copy; by default they are copied as stored, raw bytes included.
    /// Either way each is reported on stderr
    #[arg(long)]
    skip_corrupt: bool,
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

/// The stderr line of a damaged row met by `export` or `copy`.
fn report_damage(d: &Damage, skip: bool) {
    let fate = if skip {
        "left out (--skip-corrupt)"
    } else {
        "kept as stored, raw bytes included"
    };
    eprintln!("damaged: {d}; {fate}");
}

/// Writes a snapshot of the `--db` store to `--out`.
pub async fn export(args: ExportArgs, ctx: &Context) -> CmdResult {
    let store = ctx.read_store().await?;
    let file = File::create(&args.out).map_err(|e| file_error("--out", &args.out, e))?;
    let skip = args.skip_corrupt;
    let opts = snapshot::Options {
        damaged: &|d| report_damage(d, skip),
        skip_damaged: skip,
        ..snapshot::Options::default()
    };
    let counts = snapshot::export_with(store.admin.as_ref(), BufWriter::new(file), &opts).await?;
    print_counts("exported", &counts)?;
    Ok(ExitCode::SUCCESS)
}

/// The one error line of a snapshot file that fails validation, and the
/// exit code: `corrupt snapshot: <file>: <where>: <what>`.
fn corrupt_snapshot(path: &std::path::Path, e: &Error) -> Option<ExitCode> {
    let Error::Corrupt(message) = e else {
        return None;
    };
    let detail = message.strip_prefix("snapshot: ").unwrap_or(message);
    eprintln!(
        "error: corrupt snapshot: {}: {detail} (nothing was written and no store was \
         created; a snapshot is the whole file `affine-db export` wrote: copy it again, or \
         export it again from the source store)",
        path.display()
    );
    Some(ExitCode::FAILURE)
}

/// Writes the items of the snapshot `--in` into the `--db` store. The file
/// is validated whole before the store is opened: one that fails creates
/// and writes nothing. A SQLite file the import created is removed again
/// if writing then fails (the store refused an item), so a failed import
/// leaves no new file behind.
pub async fn import(args: ImportArgs, ctx: &Context) -> CmdResult {
    let file = File::open(&args.input).map_err(|e| file_error("--in", &args.input, e))?;
    let validated = match snapshot::validate(BufReader::new(file)) {
        Ok(v) => v,
        Err(e) => return corrupt_snapshot(&args.input, &e).ok_or(e),
    };
    let new_file = match StoreUrl::parse(ctx.url()) {
        Ok(StoreUrl::SqliteFile { path, .. }) if !path.exists() => Some(path),
        _ => None,
    };
    let result = async {
        let store = ctx.store().await?;
        store.admin.init().await?;
        validated.import_with(store.admin.as_ref(), &|_| {}).await
        // The store closes here, before a new file is removed.
    }
    .await;
    let counts = match result {
        Ok(counts) => counts,
        Err(e) => {
            if let Some(path) = new_file {
                remove_sqlite_file(&path);
            }
            return Err(e);
        }
    };
    print_counts("imported", &counts)?;
    Ok(ExitCode::SUCCESS)
}

/// Removes a SQLite file and its WAL companions (what exists of them).
fn remove_sqlite_file(path: &std::path::Path) {
    let _ = std::fs::remove_file(path);
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(companion));
    }
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
    let skip = args.skip_corrupt;
    let opts = snapshot::Options {
        progress: &progress,
        damaged: &|d| report_damage(d, skip),
        skip_damaged: skip,
    };
    let work = async {
        let from = super::open(&args.from, Access::ReadOnly).await?;
        let to = super::open(&args.to, Access::Create).await?;
        snapshot::copy_with(from.admin.as_ref(), to.admin.as_ref(), &opts).await
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
