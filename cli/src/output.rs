//! Writing results to stdout. A closed pipe (`affine-db samples ... | head`)
//! ends output quietly instead of panicking like `println!`.

use std::io::{self, Write};

use affine_db::{Error, Result};
use serde::Serialize;

/// Writes one line to stdout.
pub fn line(text: impl AsRef<str>) -> Result<()> {
    let mut out = io::stdout().lock();
    finish(writeln!(out, "{}", text.as_ref()).and_then(|_| out.flush()))
}

/// Writes `value` as pretty JSON to stdout, followed by a newline.
pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::backend(format!("cannot encode the output as JSON: {e}")))?;
    line(text)
}

fn finish(result: io::Result<()>) -> Result<()> {
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::backend(format!("cannot write to stdout: {e}"))),
    }
}

/// A progress bar on stderr counting `unit`s up to `len`, followed by
/// `tail` (an indicatif template fragment such as `{msg}`), or `None` when
/// stderr is not a terminal (scripts and tests get clean output).
pub fn progress_bar(len: u64, unit: &str, tail: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(len);
        bar.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "{{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {unit}  {tail}"
            ))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    })
}
