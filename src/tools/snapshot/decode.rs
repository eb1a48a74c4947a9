//! The bounded reader of snapshot files (format version 1): every byte
//! sequence either decodes into items that a store can hold or fails with
//! [`Error::Corrupt`] saying where and what, and nothing in the file can
//! make the reader allocate or recurse more than a fixed bound.
//!
//! The compressed stream holds what bincode 1 writes for a sequence of
//! [`super::Entry`] values with fixed-width little-endian integers: a `u32`
//! variant index before each enum value, a `u64` length before each string,
//! byte string, list and map, a byte (0 or 1) for a boolean. This reader
//! decodes exactly that layout by hand instead of through serde, because
//! bincode allocates a buffer as long as any length prefix says before
//! reading it (a 44-byte file claiming a 2 GB string), and decodes nested
//! values by recursion as deep as the file goes (a list nested 50,000 deep
//! overflows the stack). Here:
//!
//! - **Nesting** is refused past [`MAX_NESTING_DEPTH`] levels inside an
//!   attribute (DynamoDB's own limit), checked before descending, so the
//!   recursion is at most that deep whatever the file says.
//! - **Lengths** are checked against what the rest of the item may hold
//!   before anything is allocated: an item is at most [`MAX_ITEM_BYTES`] by
//!   DynamoDB's size rules and at most [`MAX_ITEM_ENCODED`] encoded bytes,
//!   so no string, list or map may claim more; buffers then grow only as
//!   bytes actually arrive, never to the claimed length up front.
//! - **Counts** are checked against the format: a batch holds at most
//!   [`super::PAGE`] items, the end entry at most the seven tables.
//! - **The zstd window** is limited to 2^[`WINDOW_LOG_MAX`] bytes (export
//!   writes 2 MiB windows), so a frame cannot make the decompressor
//!   allocate the 128 MiB zstd allows by default.
//!
//! So decoding holds at most one item (under 16 MiB in memory even for the
//! worst shape an item within those limits can have) plus fixed buffers;
//! the fuzz test (`tests/snapshot_fuzz.rs`) measures it.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufReader, Read};

use affine_db_core::error::{Error, Result};
use affine_db_core::item::{check_item, Attr, AttrMap, Item, MAX_ITEM_BYTES, MAX_NESTING_DEPTH};
use affine_db_core::schema::{Table, PK, SK};

use super::{MAGIC, PAGE, VERSION};

/// The most encoded bytes one item may take in a snapshot. An item within
/// [`MAX_ITEM_BYTES`] encodes to at most about 5 times its size (a map of
/// one-letter names to nulls: 13 encoded bytes for 3 of size), so 8 times
/// leaves room and still bounds the text of numbers (whose size by
/// DynamoDB's rules does not grow with leading or trailing zeros).
pub const MAX_ITEM_ENCODED: u64 = 8 * MAX_ITEM_BYTES as u64;

/// The longest table name the reader accepts (the seven are shorter).
const MAX_TABLE_NAME: u64 = 64;

/// The largest zstd window (log2 bytes) the reader decompresses with.
pub const WINDOW_LOG_MAX: u32 = 23;

/// What [`Reader::read_next`] read.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// One item of a table, checked: string `pk` and `sk`, and storable by
    /// both backends ([`check_item`]).
    Item(Table, Item),
    /// The end entry: the item counts matched, and nothing follows.
    End(BTreeMap<Table, u64>),
}

/// Counts the decompressed bytes read, for positions in messages.
struct Counting<R> {
    inner: R,
    pos: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Where the reader is, for messages.
#[derive(Debug, Clone, Default)]
struct Place {
    /// The entry being read (1-based; 0 before the first).
    entry: u64,
    /// The table of the batch being read.
    table: Option<Table>,
    /// The item of that batch (1-based; 0 between items).
    item: u64,
    /// The top-level attribute being read.
    attribute: Option<String>,
    /// The decompressed byte where the failing value starts.
    at: u64,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.entry == 0 {
            return write!(f, "decompressed byte {}", self.at);
        }
        write!(f, "entry {}", self.entry)?;
        if let Some(t) = self.table {
            write!(f, " (a batch of {t})")?;
        }
        if self.item > 0 {
            write!(f, ", item {}", self.item)?;
        }
        if let Some(a) = &self.attribute {
            write!(f, ", attribute {a:?}")?;
        }
        write!(f, ", decompressed byte {}", self.at)
    }
}

/// What one item may still take while it is decoded.
struct Budget {
    /// Size by DynamoDB's rules.
    size: usize,
    /// Encoded bytes.
    bytes: u64,
}

/// A batch being read.
struct Batch {
    table: Table,
    left: u64,
}

/// Reads a snapshot entry by entry and item by item, holding one item at
/// a time (see the module docs for the bounds).
pub struct Reader<R: Read> {
    input: Counting<zstd::stream::read::Decoder<'static, BufReader<R>>>,
    place: Place,
    batch: Option<Batch>,
    counts: BTreeMap<Table, u64>,
    done: bool,
}

/// `snapshot: <where>: <what>`.
fn corrupt(place: impl fmt::Display, what: impl fmt::Display) -> Error {
    Error::corrupt(format!("snapshot: {place}: {what}"))
}

/// Reads and checks the 12-byte header: magic and format version.
pub fn read_header<R: Read>(reader: &mut R) -> Result<()> {
    let mut header = [0u8; 12];
    let mut got = 0;
    while got < header.len() {
        match reader.read(&mut header[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(corrupt("header", format!("cannot be read: {e}"))),
        }
    }
    if got < header.len() {
        return Err(corrupt(
            "header",
            format!("the file has {got} bytes, fewer than the 12 of a snapshot header"),
        ));
    }
    if &header[..8] != MAGIC {
        return Err(corrupt(
            "header",
            "not an affine-db snapshot (its first 8 bytes are not AFDBSNAP)",
        ));
    }
    let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if version != VERSION {
        return Err(corrupt(
            "header",
            format!("format version {version} is not supported (this build reads {VERSION})"),
        ));
    }
    Ok(())
}

impl<R: Read> Reader<R> {
    /// Checks the header of `reader` and starts decompressing what follows.
    pub fn new(mut reader: R) -> Result<Reader<R>> {
        read_header(&mut reader)?;
        let mut dec = zstd::stream::read::Decoder::new(reader)
            .map_err(|e| corrupt("decompressed byte 0", format!("zstd: {e}")))?;
        dec.window_log_max(WINDOW_LOG_MAX)
            .map_err(|e| corrupt("decompressed byte 0", format!("zstd: {e}")))?;
        Ok(Reader {
            input: Counting { inner: dec, pos: 0 },
            place: Place::default(),
            batch: None,
            counts: Table::ALL.into_iter().map(|t| (t, 0)).collect(),
            done: false,
        })
    }

    fn fail(&self, what: impl fmt::Display) -> Error {
        corrupt(&self.place, what)
    }

    fn io_fail(&self, e: &io::Error) -> Error {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            self.fail("the data ends here (the snapshot is truncated)")
        } else {
            self.fail(format!("the zstd stream cannot be decompressed ({e})"))
        }
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.place.at = self.input.pos;
        self.input.read_exact(buf).map_err(|e| self.io_fail(&e))
    }

    fn u8(&mut self) -> Result<u8> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    fn u32(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        self.exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// `len` bytes, after checking `len` against `max`; the buffer grows
    /// as bytes arrive, never to `len` up front.
    fn bytes(&mut self, len: u64, max: u64, what: &str) -> Result<Vec<u8>> {
        if len > max {
            return Err(self.fail(format!(
                "{what} of {len} bytes is longer than the {max} bytes the rest of the item may hold"
            )));
        }
        let start = self.input.pos;
        let mut buf = Vec::new();
        let got = (&mut self.input)
            .take(len)
            .read_to_end(&mut buf)
            .map_err(|e| self.io_fail(&e))?;
        if (got as u64) < len {
            self.place.at = start;
            return Err(self.fail(format!(
                "{what} of {len} bytes: the data ends after {got} (the snapshot is truncated)"
            )));
        }
        Ok(buf)
    }

    fn string(&mut self, len: u64, max: u64, what: &str) -> Result<String> {
        let at = self.input.pos;
        let bytes = self.bytes(len, max, what)?;
        String::from_utf8(bytes).map_err(|_| {
            self.place.at = at;
            self.fail(format!("{what} is not UTF-8 text"))
        })
    }

    /// Reads the next item or the end. After [`Next::End`], every call
    /// fails.
    pub fn read_next(&mut self) -> Result<Next> {
        if self.done {
            return Err(self.fail("read past the end entry"));
        }
        loop {
            if let Some(batch) = &mut self.batch {
                if batch.left > 0 {
                    batch.left -= 1;
                    let table = batch.table;
                    self.place.item += 1;
                    let item = self.item(table)?;
                    *self.counts.entry(table).or_default() += 1;
                    return Ok(Next::Item(table, item));
                }
                self.batch = None;
            }
            self.place = Place {
                entry: self.place.entry + 1,
                ..Place::default()
            };
            match self.u32()? {
                0 => self.batch_header()?,
                1 => {
                    let counts = self.end()?;
                    self.done = true;
                    return Ok(Next::End(counts));
                }
                tag => {
                    return Err(self.fail(format!(
                        "unknown entry type {tag} (a batch is 0, the end 1)"
                    )))
                }
            }
        }
    }

    fn table_name(&mut self) -> Result<Table> {
        let len = self.u64()?;
        let name = self.string(len, MAX_TABLE_NAME, "the table name")?;
        name.parse()
            .map_err(|_| self.fail(format!("{name:?} is not one of the seven tables")))
    }

    fn batch_header(&mut self) -> Result<()> {
        let table = self.table_name()?;
        self.place.table = Some(table);
        let n = self.u64()?;
        if n > PAGE as u64 {
            return Err(self.fail(format!(
                "a batch of {n} items; export writes at most {PAGE} per batch"
            )));
        }
        self.batch = Some(Batch { table, left: n });
        Ok(())
    }

    fn end(&mut self) -> Result<BTreeMap<Table, u64>> {
        let n = self.u64()?;
        if n > Table::ALL.len() as u64 {
            return Err(self.fail(format!(
                "the end entry counts {n} tables; there are {}",
                Table::ALL.len()
            )));
        }
        let mut expected = BTreeMap::new();
        for _ in 0..n {
            let t = self.table_name()?;
            let count = self.u64()?;
            if expected.insert(t, count).is_some() {
                return Err(self.fail(format!("the end entry counts {t} twice")));
            }
        }
        for t in Table::ALL {
            let want = expected.get(&t).copied().unwrap_or(0);
            let got = self.counts.get(&t).copied().unwrap_or(0);
            if want != got {
                return Err(self.fail(format!(
                    "the end entry says {t} has {want} items; the batches hold {got}"
                )));
            }
        }
        let mut probe = [0u8; 1];
        self.place.at = self.input.pos;
        match self.input.read(&mut probe) {
            Ok(0) => Ok(expected),
            Ok(_) => Err(self.fail("data follows the end entry")),
            Err(e) => Err(self.io_fail(&e)),
        }
    }

    fn item(&mut self, table: Table) -> Result<Item> {
        self.place.attribute = None;
        let mut budget = Budget {
            size: MAX_ITEM_BYTES,
            bytes: MAX_ITEM_ENCODED,
        };
        let n = self.u64()?;
        // Each attribute takes at least 12 encoded bytes (name length and
        // value type) and 1 byte of size.
        if n > (budget.bytes / 12).min(budget.size as u64) {
            return Err(self.fail(format!(
                "an item of {n} attributes; no item within the {MAX_ITEM_BYTES}-byte limit has that many"
            )));
        }
        let mut item = Item::new();
        for _ in 0..n {
            let len = self.u64()?;
            budget.bytes = budget.bytes.saturating_sub(8);
            let name = self.string(
                len,
                (budget.size as u64).min(budget.bytes),
                "an attribute name",
            )?;
            charge(&mut budget, name.len(), len).map_err(|what| self.fail(what))?;
            self.place.attribute = Some(name.clone());
            let attr = self.attr(&mut budget, 0)?;
            if item.insert(name.clone(), attr).is_some() {
                return Err(self.fail(format!("attribute {name:?} appears twice in the item")));
            }
        }
        self.place.attribute = None;
        for key in [PK, SK] {
            match item.get(key) {
                Some(Attr::S(_)) => {}
                Some(Attr::B(_)) => {
                    return Err(self.fail(format!(
                        "the item's {key} is raw bytes (a damaged row exported as it was \
                         stored), which no store can hold as a key; export with \
                         --skip-corrupt to leave such rows out"
                    )))
                }
                Some(other) => {
                    return Err(self.fail(format!(
                        "the item's {key} is {}, not a string",
                        other.type_name()
                    )))
                }
                None => return Err(self.fail(format!("the item has no {key}"))),
            }
        }
        let what = match (item.get(PK), item.get(SK)) {
            (Some(Attr::S(pk)), Some(Attr::S(sk))) => format!("{table} item {pk}/{sk}"),
            _ => format!("{table} item"),
        };
        check_item(&what, &item).map_err(|e| {
            self.fail(format!(
                "an item no store can hold ({}): it was not written by `affine-db export`",
                e.report()
            ))
        })?;
        Ok(item)
    }

    /// One value at `depth` (0 for a top-level attribute). Recurses into
    /// maps and lists only below [`MAX_NESTING_DEPTH`], so never deeper.
    fn attr(&mut self, budget: &mut Budget, depth: usize) -> Result<Attr> {
        let tag = self.u32()?;
        budget.bytes = budget.bytes.saturating_sub(4);
        let attr = match tag {
            0 | 1 => {
                let len = self.u64()?;
                budget.bytes = budget.bytes.saturating_sub(8);
                if tag == 0 {
                    let s = self.string(len, (budget.size as u64).min(budget.bytes), "a string")?;
                    charge(budget, s.len(), len).map_err(|w| self.fail(w))?;
                    Attr::S(s)
                } else {
                    let n = self.string(len, budget.bytes, "a number")?;
                    let attr = Attr::N(n);
                    charge(budget, attr.size(), len).map_err(|w| self.fail(w))?;
                    attr
                }
            }
            2 => {
                let len = self.u64()?;
                budget.bytes = budget.bytes.saturating_sub(8);
                let b = self.bytes(
                    len,
                    (budget.size as u64).min(budget.bytes),
                    "a binary value",
                )?;
                charge(budget, b.len(), len).map_err(|w| self.fail(w))?;
                Attr::B(b)
            }
            3 => {
                let b = match self.u8()? {
                    0 => false,
                    1 => true,
                    other => {
                        return Err(self.fail(format!("a boolean byte of {other}, not 0 or 1")))
                    }
                };
                charge(budget, 1, 1).map_err(|w| self.fail(w))?;
                Attr::Bool(b)
            }
            4 => {
                charge(budget, 1, 0).map_err(|w| self.fail(w))?;
                Attr::Null
            }
            5 | 6 => {
                if depth + 1 > MAX_NESTING_DEPTH {
                    return Err(self.fail(format!(
                        "values nested more than {MAX_NESTING_DEPTH} levels deep (DynamoDB's limit)"
                    )));
                }
                let n = self.u64()?;
                budget.bytes = budget.bytes.saturating_sub(8);
                charge(budget, 3, 0).map_err(|w| self.fail(w))?;
                // Every element takes at least 2 bytes of size (a value
                // and its overhead) and 4 encoded bytes (its type).
                let most = (budget.size as u64 / 2).min(budget.bytes / 4);
                if n > most {
                    return Err(self.fail(format!(
                        "a {} of {n} elements is more than the rest of the item may hold ({most})",
                        if tag == 5 { "map" } else { "list" }
                    )));
                }
                let room = usize::try_from(n).unwrap_or(0).min(256);
                if tag == 5 {
                    let mut m = AttrMap::with_capacity(room);
                    for _ in 0..n {
                        let len = self.u64()?;
                        budget.bytes = budget.bytes.saturating_sub(8);
                        let k =
                            self.string(len, (budget.size as u64).min(budget.bytes), "a map key")?;
                        charge(budget, k.len() + 1, len).map_err(|w| self.fail(w))?;
                        let v = self.attr(budget, depth + 1)?;
                        if m.insert(k.clone(), v).is_some() {
                            return Err(self.fail(format!("map key {k:?} appears twice")));
                        }
                    }
                    Attr::M(m)
                } else {
                    let mut l = Vec::with_capacity(room);
                    for _ in 0..n {
                        charge(budget, 1, 0).map_err(|w| self.fail(w))?;
                        l.push(self.attr(budget, depth + 1)?);
                    }
                    Attr::L(l)
                }
            }
            other => {
                return Err(self.fail(format!(
                    "unknown attribute type {other} (S, N, B, BOOL, NULL, M and L are 0 to 6)"
                )))
            }
        };
        Ok(attr)
    }
}

/// Takes `size` (DynamoDB's rules) and `bytes` (encoded) from the item's
/// budget, or says why the item cannot hold them.
fn charge(budget: &mut Budget, size: usize, bytes: u64) -> std::result::Result<(), String> {
    if size > budget.size {
        return Err(format!(
            "the item grows past DynamoDB's {MAX_ITEM_BYTES}-byte item limit"
        ));
    }
    if bytes > budget.bytes {
        return Err(format!(
            "the item's encoding grows past {MAX_ITEM_ENCODED} bytes, more than any item \
             within the {MAX_ITEM_BYTES}-byte limit takes"
        ));
    }
    budget.size -= size;
    budget.bytes -= bytes;
    Ok(())
}
