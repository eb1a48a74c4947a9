//! The subcommands, one file per command group.
//!
//! Adding a command takes three steps: a file here with a clap `Args`
//! struct and `pub async fn run(args, ctx: &Context) -> CmdResult`, one
//! variant in [`Command`], and one arm in [`Command::run`]. A command opens
//! the store itself (so commands that need two stores, or none, fit the
//! same shape), with the least access it needs: [`Context::read_store`] for
//! commands that only read (a SQLite file is opened read-only and never
//! created; `check` reads a SQLite file without even the open's checks), [`Context::write_store`] for commands that change existing
//! data, [`Context::store`] for commands that add data (which may create a
//! SQLite file: `init`, `test`, `config set`, `task create`, `migrate`,
//! `import`, `copy --to`).

use std::process::ExitCode;

use affine_db::{Access, OpenOptions, Result, Store};
use clap::Subcommand;

mod bench;
mod check;
mod cleanup;
mod config;
mod dictionaries;
mod init;
mod interrupt;
mod lenient;
mod list;
mod migrate;
mod purge;
mod read;
mod reset;
mod selftest;
mod snapshot;
mod stats;
mod task;

/// What a command returns: the exit code on success (a command that
/// reported its own failure, like a failed `test` check, returns 1), or the
/// error `main` prints as one line.
pub type CmdResult = Result<ExitCode>;

/// What every command gets: the `--db` URL and a way to open it.
#[derive(Debug, Clone)]
pub struct Context {
    db_url: String,
}

impl Context {
    /// A context for the store at `db_url`.
    pub fn new(db_url: String) -> Self {
        Context { db_url }
    }

    /// The `--db` URL.
    pub fn url(&self) -> &str {
        &self.db_url
    }

    /// Opens the `--db` store for a command that adds data: a missing
    /// SQLite file is created (unless the URL says `mode=ro`/`rw`).
    pub async fn store(&self) -> Result<Store> {
        open(&self.db_url, Access::Create).await
    }

    /// Opens the `--db` store for a command that changes existing data: a
    /// missing SQLite file is an error naming it and suggesting `init`.
    pub async fn write_store(&self) -> Result<Store> {
        open(&self.db_url, Access::ReadWrite).await
    }

    /// Opens the `--db` store for a command that only reads: a SQLite file
    /// is opened read-only (read-only files and mounts work) and a missing
    /// one is an error naming it and suggesting `init`.
    pub async fn read_store(&self) -> Result<Store> {
        open(&self.db_url, Access::ReadOnly).await
    }
}

/// Opens `url` with at most `access`.
pub async fn open(url: &str, access: Access) -> Result<Store> {
    affine_db::open_with(url, OpenOptions::default().with_access(access)).await
}

/// The subcommands of `affine-db`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the seven tables (idempotent)
    Init(init::Args),
    /// List this namespace's tables, one per line
    List(list::Args),
    /// Compare the live schema with the declared one; exit 1 on any difference
    Check(check::Args),
    /// Exercise every table with throwaway data, print a line per check, leave nothing behind
    Test(selftest::Args),
    /// Delete and recreate this namespace's tables (asks for `yes`)
    Reset(reset::Args),
    /// The task queue: create, claim, start, complete, fail, delete, requeue
    Task(task::Args),
    /// Apply the retention rules: delete samples older than each miner's retention
    Cleanup(cleanup::Args),
    /// Delete items whose TTL has passed
    PurgeExpired(purge::Args),
    /// Live item count per table
    Stats(stats::Args),
    /// Read and change dynamic parameters (system_config)
    Config(config::Args),
    /// Samples of one miner and revision, as a JSON array
    Samples(read::SamplesArgs),
    /// Samples of one miner and revision for given task ids, as a JSON array
    SamplesByTasks(read::SamplesByTasksArgs),
    /// Tasks of one miner and revision, as a JSON array
    Tasks(read::TasksArgs),
    /// Pending tasks across miners (highest priority, then oldest first), as a JSON array
    PendingTasks(read::PendingTasksArgs),
    /// Recent execution logs of one miner (newest first), as a JSON array
    Logs(read::LogsArgs),
    /// Score rows: `scores latest` or `scores block N`, as a JSON array
    Scores(read::ScoresArgs),
    /// Every miner's metadata, as a JSON array
    Miners(read::MinersArgs),
    /// Every retention policy, as a JSON array
    Policies(read::PoliciesArgs),
    /// Import R2 result shards (`--source dir://PATH | s3://BUCKET | https://BASE`)
    Migrate(migrate::Args),
    /// Write a snapshot of every table to a file
    Export(snapshot::ExportArgs),
    /// Write the items of a snapshot file into the store
    Import(snapshot::ImportArgs),
    /// Copy every item of one store into another (`--from URL --to URL`)
    Copy(snapshot::CopyArgs),
    /// Train a zstd dictionary on the stored conversations and make new writes use it
    TrainDict(dictionaries::TrainArgs),
    /// The stored zstd dictionaries and which ones new writes use, as JSON
    Dictionaries(dictionaries::ListArgs),
    /// Rewrite stored conversations with the current dictionaries (batched, resumable)
    Recompress(dictionaries::RecompressArgs),
    /// Run a validator-shaped mixed workload and print throughput and latency percentiles
    Bench(bench::Args),
}

impl Command {
    /// Runs the command.
    pub async fn run(self, ctx: &Context) -> CmdResult {
        match self {
            Command::Init(a) => init::run(a, ctx).await,
            Command::List(a) => list::run(a, ctx).await,
            Command::Check(a) => check::run(a, ctx).await,
            Command::Test(a) => selftest::run(a, ctx).await,
            Command::Reset(a) => reset::run(a, ctx).await,
            Command::Task(a) => task::run(a, ctx).await,
            Command::Cleanup(a) => cleanup::run(a, ctx).await,
            Command::PurgeExpired(a) => purge::run(a, ctx).await,
            Command::Stats(a) => stats::run(a, ctx).await,
            Command::Config(a) => config::run(a, ctx).await,
            Command::Samples(a) => read::samples(a, ctx).await,
            Command::SamplesByTasks(a) => read::samples_by_tasks(a, ctx).await,
            Command::Tasks(a) => read::tasks(a, ctx).await,
            Command::PendingTasks(a) => read::pending_tasks(a, ctx).await,
            Command::Logs(a) => read::logs(a, ctx).await,
            Command::Scores(a) => read::scores(a, ctx).await,
            Command::Miners(a) => read::miners(a, ctx).await,
            Command::Policies(a) => read::policies(a, ctx).await,
            Command::Migrate(a) => migrate::run(a, ctx).await,
            Command::Export(a) => snapshot::export(a, ctx).await,
            Command::Import(a) => snapshot::import(a, ctx).await,
            Command::Copy(a) => snapshot::copy(a, ctx).await,
            Command::TrainDict(a) => dictionaries::train(a, ctx).await,
            Command::Dictionaries(a) => dictionaries::list(a, ctx).await,
            Command::Recompress(a) => dictionaries::recompress_cmd(a, ctx).await,
            Command::Bench(a) => bench::run(a, ctx).await,
        }
    }
}
