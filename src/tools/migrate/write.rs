//! The commit stage: batches of prepared items, several in flight.

use std::collections::{HashSet, VecDeque};

use tokio::task::JoinHandle;

use affine_db_core::error::{Error, Result};
use affine_db_core::item::Item;
use affine_db_core::schema::Table;
use affine_db_core::store::Store;
use affine_db_core::tables::miners::MinerInfo;

use super::RetryPolicy;

/// What one finished batch wrote: `(samples, miners)`.
type Wrote = (u64, u64);

/// Collects prepared items into batches and writes them, keeping at most
/// `in_flight` batches in flight; counts what was written.
pub(super) struct Writer {
    store: Store,
    retry: RetryPolicy,
    batch_size: usize,
    in_flight: usize,
    known_miners: HashSet<String>,
    miners: Vec<Item>,
    samples: Vec<Item>,
    running: VecDeque<JoinHandle<Result<Wrote>>>,
    /// Samples written by finished batches.
    pub migrated: u64,
    /// Miner records written by finished batches.
    pub miners_created: u64,
}

impl Writer {
    /// A writer into `store`; `known_miners` already have metadata.
    pub fn new(
        store: Store,
        retry: RetryPolicy,
        batch_size: usize,
        in_flight: usize,
        known_miners: HashSet<String>,
    ) -> Writer {
        Writer {
            store,
            retry,
            batch_size,
            in_flight,
            known_miners,
            miners: Vec::new(),
            samples: Vec::new(),
            running: VecDeque::new(),
            migrated: 0,
            miners_created: 0,
        }
    }

    /// Adds one sample item; its miner's metadata goes into the same batch
    /// when the miner is new (time fields from this, its first sample).
    pub fn add(&mut self, item: Item, miner: MinerInfo, time_s: i64) -> Result<()> {
        if !self.known_miners.contains(&miner.miner_hotkey) {
            let hotkey = miner.miner_hotkey.clone();
            self.miners.push(miner.merge(None, time_s)?.to_item());
            self.known_miners.insert(hotkey);
        }
        self.samples.push(item);
        Ok(())
    }

    /// Whether the current batch is full.
    pub fn full(&self) -> bool {
        self.samples.len() >= self.batch_size
    }

    /// Sends the current batch (if any) on its way, first waiting for the
    /// oldest batch in flight when `in_flight` are. An error of a finished
    /// batch is returned after every other batch in flight has finished.
    pub async fn submit(&mut self) -> Result<()> {
        if self.samples.is_empty() && self.miners.is_empty() {
            return Ok(());
        }
        while self.running.len() >= self.in_flight {
            self.wait_oldest().await?;
        }
        let samples = std::mem::take(&mut self.samples);
        let miners = std::mem::take(&mut self.miners);
        let store = self.store.clone();
        let retry = self.retry;
        self.running.push_back(tokio::spawn(async move {
            let admin = &store.admin;
            if !miners.is_empty() {
                retry
                    .run(|| admin.put_items(Table::MinerMetadata, miners.clone()))
                    .await?;
            }
            if !samples.is_empty() {
                retry
                    .run(|| admin.put_items(Table::SampleResults, samples.clone()))
                    .await?;
            }
            Ok((samples.len() as u64, miners.len() as u64))
        }));
        Ok(())
    }

    /// Waits for every batch in flight to finish (without sending the
    /// current one); the first error, if any.
    pub async fn drain(&mut self) -> Result<()> {
        let mut first = None;
        while !self.running.is_empty() {
            if let Err(e) = self.wait_oldest_once().await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Sends the last batch and waits for everything.
    pub async fn finish(&mut self) -> Result<()> {
        let sent = self.submit().await;
        let drained = self.drain().await;
        sent.and(drained)
    }

    /// Waits for the oldest batch; on its error, drains the rest first.
    async fn wait_oldest(&mut self) -> Result<()> {
        if let Err(e) = self.wait_oldest_once().await {
            let _ = self.drain().await;
            return Err(e);
        }
        Ok(())
    }

    async fn wait_oldest_once(&mut self) -> Result<()> {
        let Some(handle) = self.running.pop_front() else {
            return Ok(());
        };
        let (samples, miners) = handle
            .await
            .map_err(|e| Error::backend_from("a migration write task failed", e))??;
        self.migrated += samples;
        self.miners_created += miners;
        Ok(())
    }
}
