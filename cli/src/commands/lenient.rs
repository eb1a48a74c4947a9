//! List commands that survive an undecodable row.
//!
//! A list command first runs the library's typed list. When that fails
//! because a stored row cannot be decoded ([`Error::Corrupt`]), it lists
//! again from the raw items of the table ([`affine_db::Admin::scan_page`],
//! the same rows `export` reads), decoding each row on its own: every row
//! that cannot be decoded is reported on stderr by its key and skipped,
//! the rest are filtered, ordered and limited as the typed list would, and
//! printed. The command then exits 1 (0 with `--skip-corrupt`). Single-item
//! reads (`config get`) still fail on such a row.

use std::future::Future;
use std::process::ExitCode;

use affine_db::item::Item;
use affine_db::schema::{Table, PK, SK};
use affine_db::{Error, Result, Store};
use serde::Serialize;

use super::CmdResult;
use crate::output;

/// The `--skip-corrupt` flag of every list command.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct CorruptArgs {
    /// Exit 0 even when rows that cannot be decoded were skipped (they are
    /// still reported on stderr)
    #[arg(long)]
    pub skip_corrupt: bool,
}

/// A row left out of a listing because it could not be decoded.
#[derive(Debug)]
pub struct Skipped {
    table: Table,
    pk: String,
    sk: String,
    /// The attribute whose stored value has the wrong type, when that is
    /// why ([`affine_db::damage::find`]).
    damage: Option<affine_db::damage::Damage>,
    error: Error,
}

impl Skipped {
    fn new(table: Table, item: &Item, error: Error) -> Skipped {
        let (pk, sk) = key_of(item);
        Skipped {
            table,
            pk,
            sk,
            damage: affine_db::damage::find(table, item),
            error,
        }
    }
}

/// What a raw listing found: the decoded rows and the skipped ones.
#[derive(Debug)]
pub struct Listing<T> {
    /// Rows in the order of the typed list.
    pub rows: Vec<T>,
    /// Rows that could not be decoded.
    pub skipped: Vec<Skipped>,
}

/// Prints `typed`'s rows; if it failed on an undecodable row, prints what
/// `fallback` lists from the raw items instead and reports the skipped rows.
pub async fn print_list<T, F, Fut>(
    typed: Result<Vec<T>>,
    corrupt: CorruptArgs,
    fallback: F,
) -> CmdResult
where
    T: Serialize,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Listing<T>>>,
{
    match typed {
        Ok(rows) => {
            output::json(&rows)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(Error::Corrupt(_)) => {
            let listing = fallback().await?;
            output::json(&listing.rows)?;
            Ok(report(&listing.skipped, corrupt.skip_corrupt))
        }
        Err(e) => Err(e),
    }
}

/// One stderr line per skipped row, then the exit code.
fn report(skipped: &[Skipped], skip_corrupt: bool) -> ExitCode {
    for s in skipped {
        match &s.damage {
            Some(d) => eprintln!("skipped: {d}"),
            None => eprintln!(
                "skipped: {} item pk={:?} sk={:?}: cannot be decoded: {}",
                s.table.name(),
                s.pk,
                s.sk,
                s.error.report()
            ),
        }
    }
    if skipped.is_empty() || skip_corrupt {
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "error: {} row(s) could not be decoded and were left out (listed above by key; \
         inspect or rewrite them, or pass --skip-corrupt to exit 0)",
        skipped.len()
    );
    ExitCode::FAILURE
}

/// The `pk`/`sk` of a raw item as text ("" when missing; a damaged key's
/// bytes read lossily).
pub fn key_of(item: &Item) -> (String, String) {
    (
        affine_db::damage::key_text(item, PK),
        affine_db::damage::key_text(item, SK),
    )
}

/// The live raw items of `table` whose `(pk, sk)` `keep` accepts.
pub async fn scan(
    store: &Store,
    table: Table,
    keep: impl Fn(&str, &str) -> bool,
) -> Result<Vec<Item>> {
    let now = store.clock.now_s();
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.admin.scan_page(table, cursor, 1000).await?;
        out.extend(page.items.into_iter().filter(|i| {
            let (pk, sk) = key_of(i);
            keep(&pk, &sk) && affine_db::ttl::is_live_item(table, i, now)
        }));
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// Decodes each item on its own with `decode`; those that fail are skipped.
pub fn decode<T>(
    table: Table,
    items: Vec<Item>,
    decode: impl Fn(&Item) -> Result<T>,
) -> Listing<T> {
    let mut listing = Listing {
        rows: Vec::with_capacity(items.len()),
        skipped: Vec::new(),
    };
    for item in items {
        match decode(&item) {
            Ok(row) => listing.rows.push(row),
            Err(error) => listing.skipped.push(Skipped::new(table, &item, error)),
        }
    }
    listing
}

/// Like [`decode`], for decoders that need the store (sample conversations).
pub async fn decode_async<T, F, Fut>(table: Table, items: Vec<Item>, decode: F) -> Listing<T>
where
    F: Fn(Item) -> Fut,
    Fut: Future<Output = (Item, Result<T>)>,
{
    let mut listing = Listing {
        rows: Vec::with_capacity(items.len()),
        skipped: Vec::new(),
    };
    for item in items {
        match decode(item).await {
            (_, Ok(row)) => listing.rows.push(row),
            (item, Err(error)) => listing.skipped.push(Skipped::new(table, &item, error)),
        }
    }
    listing
}
