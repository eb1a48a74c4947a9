//! Versioned snapshots of a whole store: [`export`] writes every raw item of
//! the seven tables, [`import`] writes them back into any backend, so a
//! snapshot moves data between SQLite and DynamoDB exactly.
//!
//! Format (version 1): the 8-byte magic `AFDBSNAP`, a little-endian `u32`
//! format version, then one zstd stream holding bincode-encoded
//! [`Entry`] values: `Batch`es of at most [`PAGE`] items of one table (the
//! raw items of `admin.scan_page`, expired ones included), and one final
//! `End` with the item count of each table. A snapshot without its `End`
//! entry is truncated and rejected as corrupt.
//!
//! The header is checked before anything is written: a wrong magic or an
//! unknown version is [`Error::Corrupt`] and writes nothing. Corruption
//! found later in the stream is also [`Error::Corrupt`]; the batches before
//! it have been written (importing a good snapshot again overwrites them).
//!
//! [`import`] (and so [`copy`]) keeps up to [`IMPORT_IN_FLIGHT`] batches in
//! flight while it decodes the next one, so a store one network round trip
//! away is kept busy; each batch's items have distinct keys (one table's
//! scan), so their order does not matter. Before returning, success or
//! error, every batch in flight has finished.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};

use affine_db_core::admin::Admin;
use affine_db_core::error::{Error, Result};
use affine_db_core::item::Item;
use affine_db_core::schema::Table;

/// The magic bytes every snapshot starts with.
pub const MAGIC: &[u8; 8] = b"AFDBSNAP";
/// The format version written by [`export`] and the only one [`import`] reads.
pub const VERSION: u32 = 1;
/// Items per scanned page and per written batch.
pub const PAGE: usize = 1000;
/// Batches [`import`] writes at once.
pub const IMPORT_IN_FLIGHT: usize = 4;

/// One record of the compressed stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Entry {
    /// Raw items of one table.
    Batch {
        /// The bare table name.
        table: String,
        /// The items.
        items: Vec<Item>,
    },
    /// The end of the snapshot: item count per table name.
    End {
        /// How many items each table had.
        counts: BTreeMap<String, u64>,
    },
}

fn io(e: std::io::Error) -> Error {
    Error::backend(format!("snapshot I/O: {e}"))
}

/// How far an [`export_with`], [`import_with`] or [`copy_with`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotProgress {
    /// `false` while reading the source store, `true` while writing items.
    pub writing: bool,
    /// The table being read or written.
    pub table: Table,
    /// Items read (or written) so far in this phase, all tables together.
    pub items: u64,
}

/// Writes a snapshot of every table of `admin` to `writer`; returns the
/// item count per table.
pub async fn export<W: Write>(admin: &dyn Admin, writer: W) -> Result<BTreeMap<Table, u64>> {
    export_with(admin, writer, &|_| {}).await
}

/// [`export`], reporting after every page.
pub async fn export_with<W: Write>(
    admin: &dyn Admin,
    mut writer: W,
    progress: &(dyn Fn(&SnapshotProgress) + Send + Sync),
) -> Result<BTreeMap<Table, u64>> {
    writer.write_all(MAGIC).map_err(io)?;
    writer.write_all(&VERSION.to_le_bytes()).map_err(io)?;
    let mut enc = zstd::stream::write::Encoder::new(writer, 3).map_err(io)?;
    let mut counts = BTreeMap::new();
    let mut total = 0u64;
    for table in Table::ALL {
        let mut cursor = None;
        let mut n = 0u64;
        loop {
            let page = admin.scan_page(table, cursor, PAGE).await?;
            n += page.items.len() as u64;
            total += page.items.len() as u64;
            progress(&SnapshotProgress {
                writing: false,
                table,
                items: total,
            });
            if !page.items.is_empty() {
                let entry = Entry::Batch {
                    table: table.name().to_string(),
                    items: page.items,
                };
                bincode::serialize_into(&mut enc, &entry)
                    .map_err(|e| Error::backend(format!("snapshot encoding: {e}")))?;
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        counts.insert(table, n);
    }
    let end = Entry::End {
        counts: counts
            .iter()
            .map(|(t, n)| (t.name().to_string(), *n))
            .collect(),
    };
    bincode::serialize_into(&mut enc, &end)
        .map_err(|e| Error::backend(format!("snapshot encoding: {e}")))?;
    enc.finish().map_err(io)?.flush().map_err(io)?;
    Ok(counts)
}

/// Checks the header of a snapshot.
fn read_header<R: Read>(reader: &mut R) -> Result<()> {
    let mut header = [0u8; 12];
    reader
        .read_exact(&mut header)
        .map_err(|_| Error::corrupt("snapshot: shorter than its header"))?;
    if &header[..8] != MAGIC {
        return Err(Error::corrupt(
            "snapshot: not an affine-db snapshot (bad magic)",
        ));
    }
    let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if version != VERSION {
        return Err(Error::corrupt(format!(
            "snapshot: format version {version} is not supported (this build reads {VERSION})"
        )));
    }
    Ok(())
}

/// Reads a snapshot from `reader` and writes its items into `admin`'s
/// tables (replacing items with the same keys); returns the item count per
/// table. The tables must exist (`init`).
pub async fn import<R: Read>(admin: &dyn Admin, reader: R) -> Result<BTreeMap<Table, u64>> {
    import_with(admin, reader, &|_| {}).await
}

/// [`import`], reporting after every written batch.
pub async fn import_with<R: Read>(
    admin: &dyn Admin,
    mut reader: R,
    progress: &(dyn Fn(&SnapshotProgress) + Send + Sync),
) -> Result<BTreeMap<Table, u64>> {
    read_header(&mut reader)?;
    let mut dec = zstd::stream::read::Decoder::new(reader)
        .map_err(|e| Error::corrupt(format!("snapshot: {e}")))?;
    let mut counts: BTreeMap<Table, u64> = Table::ALL.into_iter().map(|t| (t, 0)).collect();
    let mut writes = FuturesUnordered::new();
    // Progress counts written items, reported as each batch lands.
    let mut written = 0u64;
    let mut report = |done: Result<(Table, u64)>| -> Result<()> {
        let (table, n) = done?;
        written += n;
        progress(&SnapshotProgress {
            writing: true,
            table,
            items: written,
        });
        Ok(())
    };
    let outcome = 'entries: loop {
        let entry = match next_entry(&mut dec) {
            Ok(e) => e,
            Err(e) => break Err(e),
        };
        match entry {
            Entry::Batch { table, items } => {
                let t = match check_batch(&table, &items) {
                    Ok(t) => t,
                    Err(e) => break Err(e),
                };
                *counts.entry(t).or_default() += items.len() as u64;
                while writes.len() >= IMPORT_IN_FLIGHT {
                    if let Some(done) = writes.next().await {
                        if let Err(e) = report(done) {
                            break 'entries Err(e);
                        }
                    }
                }
                let n = items.len() as u64;
                writes.push(async move { admin.put_items(t, items).await.map(|()| (t, n)) });
            }
            Entry::End { counts: expected } => break check_counts(&counts, &expected),
        }
    };
    // Every batch in flight finishes before the import returns.
    let mut failed = None;
    while let Some(done) = writes.next().await {
        if let Err(e) = report(done) {
            failed.get_or_insert(e);
        }
    }
    outcome?;
    match failed {
        Some(e) => Err(e),
        None => Ok(counts),
    }
}

fn next_entry<R: Read>(dec: &mut R) -> Result<Entry> {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .with_limit(1 << 31)
        .deserialize_from(dec)
        .map_err(|e| Error::corrupt(format!("snapshot: undecodable entry ({e})")))
}

/// The table of a batch whose items all have keys.
fn check_batch(table: &str, items: &[Item]) -> Result<Table> {
    let t: Table = table
        .parse()
        .map_err(|_| Error::corrupt(format!("snapshot: unknown table {table:?}")))?;
    if items.iter().any(|i| {
        !i.contains_key(affine_db_core::schema::PK) || !i.contains_key(affine_db_core::schema::SK)
    }) {
        return Err(Error::corrupt(format!(
            "snapshot: an item of {table} has no key"
        )));
    }
    Ok(t)
}

/// Compares the counts read with the `End` entry's.
fn check_counts(counts: &BTreeMap<Table, u64>, expected: &BTreeMap<String, u64>) -> Result<()> {
    for (name, n) in expected {
        let t: Table = name
            .parse()
            .map_err(|_| Error::corrupt(format!("snapshot: unknown table {name:?}")))?;
        if counts.get(&t) != Some(n) {
            return Err(Error::corrupt(format!(
                "snapshot: {name} should have {n} items, found {}",
                counts.get(&t).copied().unwrap_or(0)
            )));
        }
    }
    Ok(())
}

use bincode::Options as _;

/// Copies every item of `from` into `to` through a snapshot in a temporary
/// file, creating `to`'s tables (`init`) once `from` has been read; returns
/// the item count per table.
pub async fn copy(from: &dyn Admin, to: &dyn Admin) -> Result<BTreeMap<Table, u64>> {
    copy_with(from, to, &|_| {}).await
}

/// [`copy`], reporting while reading `from` and while writing `to`.
/// Copying again after an interruption writes every item again (items
/// replace themselves), so a re-run completes the copy.
pub async fn copy_with(
    from: &dyn Admin,
    to: &dyn Admin,
    progress: &(dyn Fn(&SnapshotProgress) + Send + Sync),
) -> Result<BTreeMap<Table, u64>> {
    let mut file = tempfile_in_temp_dir()?;
    export_with(from, std::io::BufWriter::new(&mut file), progress).await?;
    to.init().await?;
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
    import_with(to, std::io::BufReader::new(file), progress).await
}

fn tempfile_in_temp_dir() -> Result<std::fs::File> {
    let dir = std::env::temp_dir();
    let name = format!(
        "affine-db-copy-{}-{}.snap",
        std::process::id(),
        uuid::Uuid::new_v4()
    );
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io)?;
    // Unlinked at once: the open handle keeps the data until it is closed.
    let _ = std::fs::remove_file(&path);
    Ok(file)
}
