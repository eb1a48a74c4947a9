//! `miner_metadata` on SQLite. Every change is the core's rule
//! ([`affine_db_core::rules::miners`]) run inside one `BEGIN IMMEDIATE`
//! transaction, so counters lose no update.

use affine_db_core::cond::Cond;
use affine_db_core::keys;
use affine_db_core::rules::miners as rules;
use affine_db_core::schema::{Table, SK};
use affine_db_core::tables::miners::{MinerInfo, MinerMetadata, MinerStore, BY_HOTKEY};
use affine_db_core::Result;
use async_trait::async_trait;

use crate::row::{self, Cols};
use crate::sql::order_by;
use crate::SqliteBackend;

const T: Table = Table::MinerMetadata;

#[async_trait]
impl MinerStore for SqliteBackend {
    async fn save_metadata(&self, info: MinerInfo) -> Result<MinerMetadata> {
        self.execute(rules::save(info, self.now_s())?).await
    }

    async fn get_metadata(&self, miner_hotkey: &str) -> Result<Option<MinerMetadata>> {
        let (pk, sk) = rules::miner_key(miner_hotkey)?;
        let now = self.now_s();
        self.db
            .read(move |tx| {
                row::get_item(tx, T, &pk, &sk, now)?
                    .map(|i| MinerMetadata::from_item(&i))
                    .transpose()
            })
            .await
    }

    async fn update_statistics(
        &self,
        miner_hotkey: &str,
        success: bool,
        increment_samples: bool,
    ) -> Result<MinerMetadata> {
        let rule = rules::statistics(miner_hotkey, success, increment_samples, self.now_s())?;
        self.execute(rule).await
    }

    async fn pause_miner(
        &self,
        miner_hotkey: &str,
        reason: &str,
        duration_s: Option<i64>,
    ) -> Result<MinerMetadata> {
        let rule = rules::pause(miner_hotkey, reason, duration_s, self.now_s())?;
        self.execute(rule).await
    }

    async fn unpause_miner(&self, miner_hotkey: &str) -> Result<MinerMetadata> {
        self.execute(rules::unpause(miner_hotkey, self.now_s())?)
            .await
    }

    async fn check_pause_expired(&self, miner_hotkey: &str) -> Result<bool> {
        self.execute(rules::pause_expired(miner_hotkey, self.now_s())?)
            .await
    }

    async fn get_all_miners(&self) -> Result<Vec<MinerMetadata>> {
        self.db
            .read(|tx| {
                let order = order_by(&BY_HOTKEY, false);
                let records = Cond::eq_s(SK, keys::METADATA_SK);
                row::select(tx, &Cols::all(T), &records, Some(&order), None)?
                    .iter()
                    .map(MinerMetadata::from_item)
                    .collect()
            })
            .await
    }
}
