//! `affine-db`: the command-line tool of affine-db (DESIGN §6), as a
//! library: [`run_from_args`] is the whole tool, called by the binary's
//! `main` and by the Python package's `affine-db` console script and
//! `python -m affine_db.cli` (linked into its extension, so one build).
//!
//! Selects a store with `--db URL` (or `AFFINE_DB`), runs one command and
//! exits. Exit codes: 0 on success, 1 on a failure (a store error, a failed
//! `test` check, an aborted `reset`, a lost task claim, rows a list had to
//! skip), 2 on invalid input (a bad argument, URL or value, a value over
//! the 400 KB item limit, a database file that is not affine-db's; also
//! clap's own usage errors), 130 after Ctrl-C during `migrate`, `copy` or
//! `recompress`. Errors print exactly one line, `error: <what>`, on stderr.

mod commands;
mod output;

use std::ffi::OsString;
use std::process::ExitCode;

use affine_db::Error;
use clap::Parser;

use crate::commands::{Command, Context};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "affine-db",
    version,
    about = "Manage and inspect an affine-db store (SQLite or DynamoDB)"
)]
struct Cli {
    /// The store: `sqlite://PATH`, `sqlite::memory:` or
    /// `dynamodb://?prefix=P&region=R&endpoint=URL`.
    #[arg(
        long,
        env = "AFFINE_DB",
        default_value = "sqlite://affine.db",
        hide_env_values = true,
        global = true
    )]
    db: String,

    #[command(subcommand)]
    command: Command,
}

/// Runs the tool on `args` (the program name first, as `std::env::args_os`)
/// and returns its exit code: usage errors print clap's message (exit 2;
/// `--help` and `--version` exit 0), everything else as described in the
/// crate documentation. Nothing exits the process.
pub fn run_from_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout, errors to stderr, as `parse`.
            let _ = e.print();
            return e.exit_code();
        }
    };
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let ctx = Context::new(cli.db);
    let code = match runtime.block_on(cli.command.run(&ctx)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", describe_error(&err));
            exit_code(&err)
        }
    };
    code_number(code)
}

/// The number of an [`ExitCode`] built from a `u8` (every code this tool
/// returns), 1 for any other.
fn code_number(code: ExitCode) -> i32 {
    (0..=u8::MAX)
        .find(|&n| ExitCode::from(n) == code)
        .map_or(1, i32::from)
}

/// The log filter without `RUST_LOG`: warnings, except the AWS SDK's
/// (credential-chain probing and retries warn on their way to an error the
/// tool already reports as its one `error:` line).
const DEFAULT_LOG: &str = "warn,aws_config=error,aws_smithy_runtime=error,aws_smithy_runtime_api=error,aws_sdk_dynamodb=error";

/// Logs to stderr, filter from `RUST_LOG` (default [`DEFAULT_LOG`]).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A second run in one process (the Python package) keeps the first
        // run's subscriber.
        .try_init()
        .ok();
}

/// The one error line: the error, plus what to do where that helps.
fn describe_error(err: &Error) -> String {
    let hint = match err {
        Error::Unavailable { .. } => {
            Some("check that the store in --db / AFFINE_DB is reachable, then retry")
        }
        Error::Throttled { .. } => Some("retry later or raise the table's capacity"),
        Error::Conflict(_) => Some("the item changed concurrently; re-read it and retry"),
        // A snapshot file (`copy`'s own, or one a library call read).
        Error::Corrupt(m) if m.starts_with("snapshot: ") => Some(
            "a snapshot is the whole file `affine-db export` wrote; export it again from \
             the source store",
        ),
        Error::Corrupt(_) => Some(
            "a stored row cannot be decoded; list commands skip such rows with \
             --skip-corrupt, and `affine-db export` saves every row as stored",
        ),
        Error::TooLarge { .. } => Some("nothing was written; store a smaller value"),
        _ => None,
    };
    // The whole cause chain, on one line whatever the messages carry.
    let report = err.report();
    match hint {
        Some(h) => format!("{report} ({h})"),
        None => report,
    }
}

/// 2 for invalid input (including a value over the item limit), 1 for
/// everything else.
fn exit_code(err: &Error) -> ExitCode {
    match err {
        Error::InvalidInput { .. } | Error::TooLarge { .. } => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    }
}
