//! Ctrl-C during long work (`migrate`, `copy`, `recompress`): the command
//! stops, says on stderr how far it got and that running it again resumes,
//! and exits 130 (the shell's code for SIGINT).
//!
//! What has been written stays written: every batch is its own write, the
//! work is idempotent (migrated samples are keyed by their signature,
//! copied items replace themselves, recompress saves its position after
//! each batch), so the same command run again picks up where this one
//! stopped.

use std::future::Future;
use std::sync::Mutex;

use affine_db::Result;

/// The exit code after Ctrl-C.
pub const INTERRUPTED: u8 = 130;

/// The latest progress of a running command, as the line to print if it
/// is interrupted.
#[derive(Debug, Default)]
pub struct Tracker {
    line: Mutex<String>,
}

impl Tracker {
    /// A tracker saying `initial` until the first update.
    pub fn new(initial: impl Into<String>) -> Tracker {
        Tracker {
            line: Mutex::new(initial.into()),
        }
    }

    /// Records how far the work got.
    pub fn set(&self, line: String) {
        *self.line.lock().unwrap_or_else(|e| e.into_inner()) = line;
    }

    fn get(&self) -> String {
        self.line.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Runs `work` until it ends or Ctrl-C arrives. On Ctrl-C, prints
/// `interrupted: <progress>; <resume>` on stderr and ends the process with
/// exit code 130 at once, without waiting for a request or a SQLite call in
/// flight (the store commits or rolls back what it was doing: SQLite
/// transactions are atomic, each DynamoDB write is). `bar`, if any, is
/// cleared first so the line stands alone.
pub async fn run<T>(
    work: impl Future<Output = Result<T>>,
    tracker: &Tracker,
    resume: &str,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<T> {
    // The handler is installed before the work starts (a `ctrl_c()` future
    // would install it only when first polled), so a SIGINT that arrives
    // once the work has begun is always this handler's.
    let ctrl_c = ctrl_c();
    tokio::select! {
        out = work => out,
        signal = ctrl_c => {
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            match signal {
                Ok(()) => eprintln!("interrupted: {}; {resume}", tracker.get()),
                Err(e) => eprintln!("error: cannot wait for Ctrl-C ({e}); {}", tracker.get()),
            }
            std::process::exit(i32::from(INTERRUPTED))
        }
    }
}

/// A future that completes at the next Ctrl-C, its handler installed now.
fn ctrl_c() -> impl Future<Output = std::io::Result<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let installed = signal(SignalKind::interrupt());
        async move {
            installed?.recv().await;
            Ok(())
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
    }
}
