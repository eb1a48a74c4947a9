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
//! **Reading is bounded** ([`decode`]): whatever the bytes of a file, the
//! reader returns items or an [`Error::Corrupt`] of the form `snapshot:
//! <where>: <what>` (entry, table, item, attribute and decompressed byte),
//! never recursing deeper than DynamoDB's 32 nesting levels and never
//! allocating more than one item's worth at a time.
//!
//! **Import validates first** ([`validate`]): the whole file is read and
//! checked — header, every entry, every item (string keys, storable by
//! both backends), the end entry's counts, nothing after it — before the
//! first item is written. A file that fails validation writes nothing.
//! Only then is it read again and written, in batches of at most [`PAGE`]
//! items or [`WRITE_BATCH_BYTES`], with up to [`IMPORT_IN_FLIGHT`] batches
//! in flight while the next one is decoded; each batch's items have
//! distinct keys, so their order does not matter. A store may still refuse
//! an item the file holds correctly (SQLite has no column for an attribute
//! only DynamoDB items carry); the batches before it are then written,
//! and importing again after fixing the cause completes the import. Before
//! returning, success or error, every batch in flight has finished.
//!
//! **Damaged items** (an attribute whose stored value does not have its
//! declared type, [`affine_db_core::damage`]) are exported as they are
//! stored, raw bytes included, and reported through
//! [`Options::damaged`]; [`Options::skip_damaged`] leaves them out.

pub mod decode;

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};

use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};

use affine_db_core::admin::Admin;
use affine_db_core::damage::{self, Damage};
use affine_db_core::error::{Error, Result};
use affine_db_core::item::{item_size, Item};
use affine_db_core::schema::Table;

pub use decode::{Next, Reader};

/// The magic bytes every snapshot starts with.
pub const MAGIC: &[u8; 8] = b"AFDBSNAP";
/// The format version written by [`export`] and the only one [`import`] reads.
pub const VERSION: u32 = 1;
/// Items per scanned page and the most per batch, written or read.
pub const PAGE: usize = 1000;
/// Batches [`import`] writes at once.
pub const IMPORT_IN_FLIGHT: usize = 4;
/// The most item bytes (DynamoDB's size rules) one written batch of
/// [`import`] holds, so the batches in flight stay small whatever the
/// items' sizes.
pub const WRITE_BATCH_BYTES: usize = 4 << 20;

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

/// What [`export_with`] and [`copy_with`] report, and whether they keep
/// damaged items.
#[derive(Clone, Copy)]
pub struct Options<'a> {
    /// Called after every page read and every batch written.
    pub progress: &'a (dyn Fn(&SnapshotProgress) + Send + Sync),
    /// Called for every damaged item read ([`damage::find`]), kept or not.
    pub damaged: &'a (dyn Fn(&Damage) + Send + Sync),
    /// Leave damaged items out of the snapshot (or the copy) instead of
    /// writing them as they are stored.
    pub skip_damaged: bool,
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("skip_damaged", &self.skip_damaged)
            .finish_non_exhaustive()
    }
}

impl Default for Options<'_> {
    /// No reports; damaged items kept.
    fn default() -> Self {
        Options {
            progress: &|_| {},
            damaged: &|_| {},
            skip_damaged: false,
        }
    }
}

/// Writes a snapshot of every table of `admin` to `writer`; returns the
/// item count per table.
pub async fn export<W: Write>(admin: &dyn Admin, writer: W) -> Result<BTreeMap<Table, u64>> {
    export_with(admin, writer, &Options::default()).await
}

/// [`export`] with [`Options`]: reports after every page and for every
/// damaged item; returns the item count per table written.
pub async fn export_with<W: Write>(
    admin: &dyn Admin,
    mut writer: W,
    opts: &Options<'_>,
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
            total += page.items.len() as u64;
            (opts.progress)(&SnapshotProgress {
                writing: false,
                table,
                items: total,
            });
            let mut items = page.items;
            items.retain(|item| match damage::find(table, item) {
                None => true,
                Some(d) => {
                    (opts.damaged)(&d);
                    !opts.skip_damaged
                }
            });
            n += items.len() as u64;
            if !items.is_empty() {
                let entry = Entry::Batch {
                    table: table.name().to_string(),
                    items,
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

/// A snapshot that read and checked whole ([`validate`]), ready to be
/// written into a store.
#[derive(Debug)]
pub struct Validated<R> {
    reader: R,
    counts: BTreeMap<Table, u64>,
}

impl<R: Read + Seek> Validated<R> {
    /// The item count per table the snapshot holds.
    pub fn counts(&self) -> &BTreeMap<Table, u64> {
        &self.counts
    }

    /// Writes the items into `admin`'s tables (replacing items with the
    /// same keys), reporting as each batch lands; returns the item count
    /// per table. The tables must exist (`init`).
    pub async fn import_with(
        mut self,
        admin: &dyn Admin,
        progress: &(dyn Fn(&SnapshotProgress) + Send + Sync),
    ) -> Result<BTreeMap<Table, u64>> {
        self.reader.seek(SeekFrom::Start(0)).map_err(io)?;
        write_all(admin, Reader::new(self.reader)?, progress).await
    }
}

/// Reads the whole snapshot from `reader` and checks it (see the module
/// docs), changing nothing; leaves `reader` at its start again.
pub fn validate<R: Read + Seek>(mut reader: R) -> Result<Validated<R>> {
    let counts = {
        let mut items = Reader::new(&mut reader)?;
        loop {
            match items.read_next()? {
                Next::Item(..) => {}
                Next::End(counts) => break counts,
            }
        }
    };
    reader.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(Validated { reader, counts })
}

/// Reads a snapshot from `reader` and writes its items into `admin`'s
/// tables (replacing items with the same keys); returns the item count per
/// table. The tables must exist (`init`). The file is validated whole
/// first; one that fails writes nothing.
pub async fn import<R: Read + Seek>(admin: &dyn Admin, reader: R) -> Result<BTreeMap<Table, u64>> {
    import_with(admin, reader, &|_| {}).await
}

/// [`import`], reporting after every written batch.
pub async fn import_with<R: Read + Seek>(
    admin: &dyn Admin,
    reader: R,
    progress: &(dyn Fn(&SnapshotProgress) + Send + Sync),
) -> Result<BTreeMap<Table, u64>> {
    validate(reader)?.import_with(admin, progress).await
}

/// The write pass of an import: batches of one table, at most [`PAGE`]
/// items or [`WRITE_BATCH_BYTES`], [`IMPORT_IN_FLIGHT`] in flight.
async fn write_all<R: Read>(
    admin: &dyn Admin,
    mut items: Reader<R>,
    progress: &(dyn Fn(&SnapshotProgress) + Send + Sync),
) -> Result<BTreeMap<Table, u64>> {
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
    let mut batch: Option<(Table, Vec<Item>, usize)> = None;
    let outcome: Result<()> = 'items: loop {
        let next = match items.read_next() {
            Ok(n) => n,
            Err(e) => break Err(e),
        };
        // The batch to send now: when the table changes, at the end, or
        // when it is full.
        let (ready, end) = match next {
            Next::Item(table, item) => {
                *counts.entry(table).or_default() += 1;
                let size = item_size(&item);
                let ready = match &mut batch {
                    Some((t, b, bytes)) if *t == table && b.len() < PAGE => {
                        b.push(item);
                        *bytes += size;
                        if b.len() >= PAGE || *bytes >= WRITE_BATCH_BYTES {
                            batch.take()
                        } else {
                            None
                        }
                    }
                    _ => batch.replace((table, vec![item], size)),
                };
                (ready, false)
            }
            Next::End(_) => (batch.take(), true),
        };
        if let Some((t, b, _)) = ready {
            while writes.len() >= IMPORT_IN_FLIGHT {
                if let Some(done) = writes.next().await {
                    if let Err(e) = report(done) {
                        break 'items Err(e);
                    }
                }
            }
            let n = b.len() as u64;
            writes.push(async move { admin.put_items(t, b).await.map(|()| (t, n)) });
        }
        if end {
            break Ok(());
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

/// Copies every item of `from` into `to` through a snapshot in a temporary
/// file, creating `to`'s tables (`init`) once `from` has been read; returns
/// the item count per table.
pub async fn copy(from: &dyn Admin, to: &dyn Admin) -> Result<BTreeMap<Table, u64>> {
    copy_with(from, to, &Options::default()).await
}

/// [`copy`] with [`Options`], reporting while reading `from` and while
/// writing `to`. Copying again after an interruption writes every item
/// again (items replace themselves), so a re-run completes the copy.
pub async fn copy_with(
    from: &dyn Admin,
    to: &dyn Admin,
    opts: &Options<'_>,
) -> Result<BTreeMap<Table, u64>> {
    let mut file = crate::tools::unlinked_temp_file("affine-db-copy").map_err(io)?;
    export_with(from, std::io::BufWriter::new(&mut file), opts).await?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let validated = validate(std::io::BufReader::new(file))?;
    to.init().await?;
    validated.import_with(to, opts.progress).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use affine_db_core::item::{Attr, AttrMap};
    use std::io::Cursor;

    fn item(pk: &str, sk: &str) -> Item {
        let mut i = Item::new();
        i.insert("pk".into(), Attr::s(pk));
        i.insert("sk".into(), Attr::s(sk));
        i
    }

    /// The stream of `entries` with header, as export writes it.
    fn file(entries: &[Entry]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&VERSION.to_le_bytes());
        let mut enc = zstd::stream::write::Encoder::new(&mut out, 3).unwrap();
        for e in entries {
            bincode::serialize_into(&mut enc, e).unwrap();
        }
        enc.finish().unwrap();
        out
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Next>> {
        let mut r = Reader::new(bytes)?;
        let mut out = Vec::new();
        loop {
            let n = r.read_next()?;
            let end = matches!(n, Next::End(_));
            out.push(n);
            if end {
                return Ok(out);
            }
        }
    }

    fn end(counts: &[(&str, u64)]) -> Entry {
        Entry::End {
            counts: counts.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
        }
    }

    #[test]
    fn reads_what_bincode_writes() {
        let mut a = item("p", "s");
        let mut m = AttrMap::new();
        m.insert("z".into(), Attr::L(vec![Attr::Null, Attr::Bool(true)]));
        m.insert("a".into(), Attr::B(vec![0, 255]));
        a.insert("m".into(), Attr::M(m));
        a.insert("n".into(), Attr::N("-1.5e3".into()));
        let b = item("p", "t");
        let bytes = file(&[
            Entry::Batch {
                table: "scores".into(),
                items: vec![a.clone(), b.clone()],
            },
            end(&[("scores", 2)]),
        ]);
        let got = read_all(&bytes).unwrap();
        assert_eq!(
            got,
            vec![
                Next::Item(Table::Scores, a),
                Next::Item(Table::Scores, b),
                Next::End([(Table::Scores, 2)].into()),
            ]
        );
        // Map order survives.
        let Next::Item(_, first) = &got[0] else {
            unreachable!()
        };
        let Some(Attr::M(m)) = first.get("m") else {
            unreachable!()
        };
        assert_eq!(m.keys().collect::<Vec<_>>(), ["z", "a"]);
    }

    fn corrupt_message(bytes: &[u8]) -> String {
        match read_all(bytes) {
            Err(Error::Corrupt(m)) => m,
            other => panic!("not corrupt: {other:?}"),
        }
    }

    #[test]
    fn counts_keys_and_trailing_data_are_checked() {
        let batch = Entry::Batch {
            table: "scores".into(),
            items: vec![item("p", "s")],
        };
        let m = corrupt_message(&file(&[batch.clone(), end(&[("scores", 2)])]));
        assert!(m.contains("scores has 2 items; the batches hold 1"), "{m}");
        let m = corrupt_message(&file(&[batch.clone(), end(&[])]));
        assert!(m.contains("has 0 items"), "{m}");
        let m = corrupt_message(&file(std::slice::from_ref(&batch)));
        assert!(m.contains("truncated"), "{m}");
        let m = corrupt_message(&file(&[batch.clone(), end(&[("scores", 1)]), end(&[])]));
        assert!(m.contains("data follows the end entry"), "{m}");
        let mut keyless = item("p", "s");
        keyless.remove("sk");
        let m = corrupt_message(&file(&[
            Entry::Batch {
                table: "scores".into(),
                items: vec![keyless],
            },
            end(&[("scores", 1)]),
        ]));
        assert!(m.contains("entry 1 (a batch of scores), item 1"), "{m}");
        assert!(m.contains("no sk"), "{m}");
        let m = corrupt_message(&file(&[Entry::Batch {
            table: "nope".into(),
            items: vec![],
        }]));
        assert!(m.contains("\"nope\" is not one of the seven tables"), "{m}");
    }

    /// The two crafted files of issue 16, by hand: a list nested 50,000
    /// deep, and a string claiming just under 2^31 bytes.
    fn raw_stream(body: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend(zstd::encode_all(body, 3).unwrap());
        out
    }

    fn batch_prefix(attrs: u64) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(0u32.to_le_bytes()); // Batch
        b.extend(6u64.to_le_bytes());
        b.extend(b"scores");
        b.extend(1u64.to_le_bytes()); // one item
        b.extend(attrs.to_le_bytes());
        b.extend(1u64.to_le_bytes());
        b.extend(b"x");
        b
    }

    #[test]
    fn deep_nesting_is_refused_at_the_limit() {
        let mut body = batch_prefix(1);
        for _ in 0..50_000 {
            body.extend(6u32.to_le_bytes()); // L
            body.extend(1u64.to_le_bytes()); // of one element
        }
        body.extend(4u32.to_le_bytes());
        let m = corrupt_message(&raw_stream(&body));
        assert!(m.contains("nested more than 32 levels"), "{m}");
        assert!(m.contains("attribute \"x\""), "{m}");
    }

    #[test]
    fn a_huge_length_is_refused_before_allocating() {
        let mut body = batch_prefix(1);
        body.extend(0u32.to_le_bytes()); // S
        body.extend(((1u64 << 31) - 1).to_le_bytes());
        let bytes = raw_stream(&body);
        let m = corrupt_message(&bytes);
        assert!(m.contains("2147483647 bytes is longer than"), "{m}");
        // A batch or a map claiming billions of elements, the same way.
        let mut body = batch_prefix(1);
        body.extend(5u32.to_le_bytes());
        body.extend(u64::MAX.to_le_bytes());
        let m = corrupt_message(&raw_stream(&body));
        assert!(m.contains("more than the rest of the item may hold"), "{m}");
    }

    #[test]
    fn headers_are_checked() {
        for (bytes, want) in [
            (b"AFDB".to_vec(), "fewer than the 12"),
            (b"NOTASNAP\x01\0\0\0".to_vec(), "not an affine-db snapshot"),
            (b"AFDBSNAP\x02\0\0\0".to_vec(), "format version 2"),
        ] {
            let m = corrupt_message(&bytes);
            assert!(m.starts_with("snapshot: header: "), "{m}");
            assert!(m.contains(want), "{m}");
        }
    }

    #[test]
    fn validation_leaves_the_reader_at_its_start() {
        let bytes = file(&[end(&[])]);
        let v = validate(Cursor::new(bytes)).unwrap();
        assert!(v.counts().is_empty());
        assert_eq!(v.reader.position(), 0);
    }
}
