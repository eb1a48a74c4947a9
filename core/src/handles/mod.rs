//! Core-owned table handles: the one implementation of the seven table
//! traits and [`Admin`] over any [`Driver`] ([`Tables`]).
//!
//! Everything that is not storage happens here, once, with the core's
//! existing pieces: key-part validation (the records' `validate` and the
//! rules' key builders), defaults (`into_sample`, `into_task`, ...), the
//! codec and its dictionaries ([`crate::dictionaries`]), the rules
//! ([`crate::rules`], carried out with [`driver::execute`]), the TTL rule
//! ([`crate::ttl`], added to every read), derived reads (the newest visible
//! score block, statistics windows, error summaries) and the size checks
//! ([`crate::driver::check_put`]). A driver only stores items.
//!
//! [`Store::from_driver`] bundles the handles as a [`Store`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::admin::{Admin, Capabilities, Progress, ScanPage};
use crate::clock::SharedClock;
use crate::codec::Codec;
use crate::drift::{self, Drift};
use crate::driver::{self, Consistency, Driver, Query, Select, Target};
use crate::error::{Error, Result};
use crate::item::Item;
use crate::mutation::Rule;
use crate::schema::{IndexDef, Table};
use crate::store::{Backend, Store};
use crate::ttl;

mod config;
mod logs;
mod miners;
mod retention;
mod samples;
mod scores;
mod tasks;

/// The seven tables and their administration over one driver.
#[derive(Debug)]
pub struct Tables {
    driver: Arc<dyn Driver>,
    clock: SharedClock,
    codec: Arc<Codec>,
    /// In-process locks on items written in several steps (a score block's
    /// snapshot), so two writers in this process never interleave.
    locks: Mutex<HashMap<(Table, String), ItemLock>>,
    /// Every read strongly consistent, whatever
    /// [`crate::rules::consistency`] allows.
    strong_reads: bool,
}

/// The in-process lock of one item.
type ItemLock = Arc<tokio::sync::Mutex<()>>;

impl Tables {
    /// Handles over `driver`, reading "now" from `clock`, with a default codec.
    pub fn new(driver: Arc<dyn Driver>, clock: SharedClock) -> Tables {
        Tables {
            driver,
            clock,
            codec: Arc::new(Codec::default()),
            locks: Mutex::new(HashMap::new()),
            strong_reads: false,
        }
    }

    /// With every read strongly consistent (`true`), or with the reads
    /// [`crate::rules::consistency`] allows eventually consistent (`false`,
    /// the default).
    pub fn with_strong_reads(mut self, strong: bool) -> Tables {
        self.strong_reads = strong;
        self
    }

    /// The consistency of the public reads of `table`.
    fn reads(&self, table: Table) -> Consistency {
        if self.strong_reads {
            Consistency::Strong
        } else {
            crate::rules::consistency::reads(table)
        }
    }

    /// Holds the in-process lock of `key` in `table` until the guard drops.
    async fn lock_item(&self, table: Table, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            // Locks nobody holds or waits for go, so the map stays small.
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            locks.entry((table, key.to_string())).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// The driver underneath.
    pub fn driver(&self) -> &Arc<dyn Driver> {
        &self.driver
    }

    fn now_s(&self) -> i64 {
        self.clock.now_s()
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Carries out one of the core's rules.
    async fn run<T>(&self, rule: Rule<T>) -> Result<T> {
        driver::execute(self.driver.as_ref(), rule).await
    }

    /// The live item of `table` at (`pk`, `sk`), read as the table's
    /// public reads are ([`Tables::reads`]).
    async fn get_live(&self, table: Table, pk: &str, sk: &str) -> Result<Option<Item>> {
        let now = self.now_s();
        Ok(self
            .driver
            .get(table, pk, sk, Select::All, self.reads(table))
            .await?
            .filter(|i| ttl::is_live_item(table, i, now)))
    }

    /// Every item of `query` on `table`, read with the query's consistency
    /// (strong unless set): for the reads a write or rule is made of.
    async fn items(&self, table: Table, query: Query) -> Result<Vec<Item>> {
        self.driver.query_all(table, query).await
    }

    /// Every item of `query` on `table`, read as the table's public reads
    /// are ([`Tables::reads`]).
    async fn read_items(&self, table: Table, query: Query) -> Result<Vec<Item>> {
        let query = query.consistency(self.reads(table));
        self.driver.query_all(table, query).await
    }

    /// Writes `items` in [`Driver::put_batch`] calls of at most
    /// [`driver::Capabilities::put_batch_items`] items, one call after another. When
    /// a call fails, the error also names the items of the calls not made.
    async fn put_all(&self, table: Table, items: Vec<Item>) -> Result<()> {
        let size = self.driver.capabilities().put_batch_items();
        let mut items = items;
        items.iter_mut().for_each(crate::number::canonicalize_item);
        while !items.is_empty() {
            let rest = items.split_off(size.min(items.len()));
            if let Err(e) = self.driver.put_batch(table, items).await {
                return Err(not_sent(e, &rest));
            }
            items = rest;
        }
        Ok(())
    }
}

/// `err` with a note naming the `unsent` items, if any.
fn not_sent(err: Error, unsent: &[Item]) -> Error {
    if unsent.is_empty() {
        return err;
    }
    let keys: Vec<String> = unsent
        .iter()
        .filter_map(driver::key_of)
        .map(|(pk, sk)| format!("{pk}/{sk}"))
        .collect();
    err.with_note(format!(
        "{} further item(s) not sent: {}",
        unsent.len(),
        driver::list_keys(&keys)
    ))
}

/// The schema's index `name` of `table`.
fn index(table: Table, name: &str) -> Result<&'static IndexDef> {
    table
        .def()
        .indexes
        .iter()
        .find(|i| i.name == name)
        .ok_or_else(|| Error::backend(format!("{table} has no index {name}")))
}

/// Every item of `table` that `filter` accepts.
fn all_where(filter: crate::cond::Cond) -> Query {
    Query::new(Target::Table, filter)
}

impl Backend for Tables {
    fn clock(&self) -> SharedClock {
        self.clock.clone()
    }

    fn shared_codec(&self) -> Arc<Codec> {
        self.codec.clone()
    }
}

#[async_trait]
impl Admin for Tables {
    fn capabilities(&self) -> Capabilities {
        self.driver.capabilities().admin()
    }

    fn describe(&self) -> String {
        self.driver.describe()
    }

    async fn init_with(&self, progress: Progress<'_>) -> Result<Vec<Drift>> {
        let drifts = self.driver.check_tables().await?;
        if let Some(refused) = drift::refusal(&drifts) {
            return Err(refused);
        }
        self.driver.create_tables(progress).await?;
        for line in drifts.iter().filter_map(Drift::repaired) {
            progress(&line);
        }
        Ok(drifts)
    }

    async fn check(&self) -> Result<Vec<Drift>> {
        self.driver.check_tables().await
    }

    async fn list_tables(&self) -> Result<Vec<String>> {
        self.driver.list_tables().await
    }

    async fn reset(&self) -> Result<()> {
        self.driver.drop_tables().await?;
        self.driver.create_tables(&|_| {}).await
    }

    async fn stats(&self) -> Result<BTreeMap<Table, u64>> {
        let now = self.now_s();
        let mut out = BTreeMap::new();
        for table in Table::ALL {
            let q = all_where(ttl::unexpired(table, now));
            out.insert(table, self.driver.count(table, q).await? as u64);
        }
        Ok(out)
    }

    async fn purge_expired(&self) -> Result<u64> {
        let now = self.now_s();
        let mut purged = 0u64;
        for table in Table::ALL {
            let q = all_where(ttl::expired(table, now));
            purged += self.driver.delete_where(table, q).await? as u64;
        }
        Ok(purged)
    }

    async fn scan_page(
        &self,
        table: Table,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<ScanPage> {
        self.driver.scan_page(table, cursor, limit).await
    }

    async fn get_items(&self, table: Table, keys: Vec<(String, String)>) -> Result<Vec<Item>> {
        let size = self.driver.capabilities().max_batch_get.max(1);
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(size) {
            out.extend(
                self.driver
                    .get_batch(table, chunk.to_vec(), Select::All, Consistency::Strong)
                    .await?,
            );
        }
        Ok(out)
    }

    async fn put_items(&self, table: Table, items: Vec<Item>) -> Result<()> {
        for item in &items {
            driver::check_put(table, item)?;
        }
        self.put_all(table, items).await
    }

    async fn delete_items(&self, table: Table, keys: Vec<(String, String)>) -> Result<usize> {
        let size = self.driver.capabilities().max_batch_write.max(1);
        let mut n = 0;
        for chunk in keys.chunks(size) {
            n += self.driver.delete_batch(table, chunk.to_vec()).await?;
        }
        Ok(n)
    }
}

impl Store {
    /// The store of the core-owned handles over `driver`, on `clock`.
    pub fn from_driver(driver: Arc<dyn Driver>, clock: SharedClock) -> Store {
        Store::new(Arc::new(Tables::new(driver, clock)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::clock::ManualClock;
    use crate::driver::{Applied, Capabilities as DriverCaps, Cursor, InMemory, Mutation, Page};
    use crate::item::Attr;
    use crate::schema::{PK, SK};

    /// The in-memory driver with a batch size of 3 and 2 writes in flight,
    /// recording the largest read or delete batch and the largest put batch
    /// it was given.
    #[derive(Debug, Default)]
    struct SmallBatches {
        inner: InMemory,
        largest: AtomicUsize,
        largest_put: AtomicUsize,
        /// `put_batch` calls made, and from which call on they fail (0: never).
        puts: AtomicUsize,
        fail_puts_from: AtomicUsize,
        /// The table and consistency of every query and key read.
        reads: Mutex<Vec<(Table, Consistency)>>,
    }

    impl SmallBatches {
        fn saw(&self, n: usize) {
            self.largest.fetch_max(n, Ordering::SeqCst);
        }

        fn read(&self, table: Table, consistency: Consistency) {
            self.reads.lock().unwrap().push((table, consistency));
        }

        /// The reads recorded since the last call.
        fn take_reads(&self) -> Vec<(Table, Consistency)> {
            std::mem::take(&mut *self.reads.lock().unwrap())
        }
    }

    #[async_trait]
    impl Driver for SmallBatches {
        fn capabilities(&self) -> DriverCaps {
            DriverCaps {
                max_batch_write: 3,
                max_batch_get: 3,
                writes_in_flight: 2,
                ..self.inner.capabilities()
            }
        }
        fn describe(&self) -> String {
            self.inner.describe()
        }
        async fn create_tables(&self, progress: Progress<'_>) -> Result<()> {
            self.inner.create_tables(progress).await
        }
        async fn drop_tables(&self) -> Result<()> {
            self.inner.drop_tables().await
        }
        async fn list_tables(&self) -> Result<Vec<String>> {
            self.inner.list_tables().await
        }
        async fn check_tables(&self) -> Result<Vec<crate::drift::Drift>> {
            self.inner.check_tables().await
        }
        async fn get_batch(
            &self,
            table: Table,
            keys: Vec<(String, String)>,
            select: Select,
            consistency: Consistency,
        ) -> Result<Vec<Item>> {
            self.saw(keys.len());
            self.read(table, consistency);
            self.inner.get_batch(table, keys, select, consistency).await
        }
        async fn put_batch(&self, table: Table, items: Vec<Item>) -> Result<()> {
            self.largest_put.fetch_max(items.len(), Ordering::SeqCst);
            let call = self.puts.fetch_add(1, Ordering::SeqCst) + 1;
            let fail_from = self.fail_puts_from.load(Ordering::SeqCst);
            if fail_from > 0 && call >= fail_from {
                return Err(Error::throttled("put refused by the test driver"));
            }
            self.inner.put_batch(table, items).await
        }
        async fn delete_batch(&self, table: Table, keys: Vec<(String, String)>) -> Result<usize> {
            self.saw(keys.len());
            self.inner.delete_batch(table, keys).await
        }
        async fn query(&self, table: Table, query: &Query) -> Result<Page> {
            self.read(table, query.consistency);
            self.inner.query(table, query).await
        }
        async fn scan_page(
            &self,
            table: Table,
            cursor: Option<Cursor>,
            limit: usize,
        ) -> Result<ScanPage> {
            self.inner.scan_page(table, cursor, limit).await
        }
        async fn execute(&self, mutation: Mutation) -> Result<Applied> {
            self.inner.execute(mutation).await
        }
    }

    fn task_item(i: usize, ttl: i64) -> Item {
        Item::from([
            (PK.to_string(), Attr::s("MINER#a#REV#r")),
            (SK.to_string(), Attr::S(format!("TASK#{i:02}"))),
            ("ttl".to_string(), Attr::int(ttl)),
        ])
    }

    /// The handles split every batch to the driver's stated sizes: reads,
    /// deletes and the purge carry at most `max_batch_write` keys, puts
    /// `max_batch_write` × `writes_in_flight` items (the driver sends those
    /// as concurrent requests).
    #[test]
    fn batches_follow_the_driver_capabilities() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let driver = Arc::new(SmallBatches::default());
            let clock = Arc::new(ManualClock::new(10_000_000));
            let tables = Tables::new(driver.clone(), clock);
            let now_s = 10_000;
            let items: Vec<Item> = (0..10).map(|i| task_item(i, now_s + 5)).collect();
            let keys: Vec<(String, String)> = items.iter().filter_map(driver::key_of).collect();
            tables.put_items(Table::TaskQueue, items).await.unwrap();
            assert_eq!(
                tables
                    .get_items(Table::TaskQueue, keys.clone())
                    .await
                    .unwrap()
                    .len(),
                10
            );
            assert_eq!(tables.stats().await.unwrap()[&Table::TaskQueue], 10);
            assert_eq!(
                tables
                    .delete_items(Table::TaskQueue, keys[..4].to_vec())
                    .await
                    .unwrap(),
                4
            );
            let expired: Vec<Item> = (20..27).map(|i| task_item(i, now_s)).collect();
            tables.put_items(Table::TaskQueue, expired).await.unwrap();
            assert_eq!(tables.purge_expired().await.unwrap(), 7);
            assert_eq!(driver.largest.load(Ordering::SeqCst), 3);
            assert_eq!(driver.largest_put.load(Ordering::SeqCst), 6);
            assert_eq!(tables.capabilities().max_batch_write, 3);
        });
    }

    /// A failed `put_batch` call's error names the items of the calls the
    /// handles therefore did not make, and only those were not written.
    #[test]
    fn a_failed_put_names_the_items_not_sent() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let driver = Arc::new(SmallBatches::default());
            driver.fail_puts_from.store(2, Ordering::SeqCst);
            let tables = Tables::new(driver.clone(), Arc::new(ManualClock::new(10_000_000)));
            let items: Vec<Item> = (0..14).map(|i| task_item(i, 20_000)).collect();
            let err = tables.put_items(Table::TaskQueue, items).await.unwrap_err();
            assert!(matches!(err, Error::Throttled { .. }), "{err:?}");
            let text = err.to_string();
            // Calls of 6, 6 and 2 items: the first is written, the second
            // refused (a driver names its own), the third never made.
            assert!(
                text.contains(
                    "2 further item(s) not sent: MINER#a#REV#r/TASK#12, MINER#a#REV#r/TASK#13"
                ),
                "{text}"
            );
            assert_eq!(driver.puts.load(Ordering::SeqCst), 2);
            assert_eq!(tables.stats().await.unwrap()[&Table::TaskQueue], 6);
        });
    }
    /// A snapshot that fits one batch of an atomic store is one write (the
    /// rows and the `complete` header); a larger one is staged: the
    /// `writing` header, the rows in batches, the `complete` header.
    #[test]
    fn a_snapshot_is_one_write_when_it_fits_one_batch() {
        use crate::tables::scores::{Score, ScoreStore};
        let score = |block: i64, hotkey: &str, overall: f64| Score {
            block_number: block,
            miner_hotkey: hotkey.into(),
            uid: 1,
            model_revision: "rev".into(),
            calculated_at: 10_000,
            overall_score: overall,
            confidence_interval_lower: 0.0,
            confidence_interval_upper: 1.0,
            average_score: overall,
            scores_by_layer: Default::default(),
            scores_by_env: Default::default(),
            total_samples: 1,
            is_eligible: true,
            meets_criteria: true,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let driver = Arc::new(SmallBatches::default());
            let tables = Tables::new(driver.clone(), Arc::new(ManualClock::new(10_000_000)));
            let rows =
                |n: usize| -> Vec<_> { (0..n).map(|m| score(7, &format!("m{m}"), 0.5)).collect() };
            tables.save_snapshot(7, rows(5)).await.unwrap();
            assert_eq!(driver.puts.load(Ordering::SeqCst), 1);
            assert_eq!(driver.largest_put.load(Ordering::SeqCst), 6);
            assert_eq!(tables.get_scores_at_block(7).await.unwrap().len(), 5);
            driver.puts.store(0, Ordering::SeqCst);
            tables.save_snapshot(7, rows(8)).await.unwrap();
            // The header, rows in calls of 6 and 2, the complete header.
            assert_eq!(driver.puts.load(Ordering::SeqCst), 4);
            assert_eq!(tables.get_scores_at_block(7).await.unwrap(), rows(8));
        });
    }
    /// Reads of samples, logs and scores are eventual; the reads a write
    /// is made of (the rows a snapshot replaces) and the task queue's are
    /// strong; a store with strong reads forced reads everything strongly.
    #[test]
    fn reads_are_as_consistent_as_the_rule_says() {
        use crate::tables::samples::{MinerSamplesQuery, SampleStore};
        use crate::tables::scores::ScoreStore;
        use crate::tables::tasks::TaskStore;
        use Consistency::{Eventual, Strong};
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            for strong in [false, true] {
                let driver = Arc::new(SmallBatches::default());
                let clock = Arc::new(ManualClock::new(10_000_000));
                let tables = Tables::new(driver.clone(), clock).with_strong_reads(strong);
                let all = |c| if strong { Strong } else { c };
                tables
                    .get_samples_by_miner("hk", "rev", &MinerSamplesQuery::default())
                    .await
                    .unwrap();
                assert_eq!(driver.take_reads(), [(Table::SampleResults, all(Eventual))]);
                tables.get_latest_scores().await.unwrap();
                assert_eq!(driver.take_reads(), [(Table::Scores, all(Eventual))]);
                tables.save_snapshot(3, Vec::new()).await.unwrap();
                assert_eq!(driver.take_reads(), [(Table::Scores, Strong)]);
                tables
                    .get_pending_tasks(10, crate::tables::tasks::PendingOrder::default())
                    .await
                    .unwrap();
                assert!(driver
                    .take_reads()
                    .iter()
                    .all(|r| *r == (Table::TaskQueue, Strong)));
            }
        });
    }
}
