//! `miner_metadata`: every change is the core's rule
//! ([`crate::rules::miners`]), so counters lose no update.

use async_trait::async_trait;

use super::{all_where, Tables};
use crate::cond::Cond;
use crate::error::Result;
use crate::keys;
use crate::rules::miners as rules;
use crate::schema::{Table, SK};
use crate::tables::miners::{MinerInfo, MinerMetadata, MinerStore, BY_HOTKEY};

const T: Table = Table::MinerMetadata;

#[async_trait]
impl MinerStore for Tables {
    async fn save_metadata(&self, info: MinerInfo) -> Result<MinerMetadata> {
        self.run(rules::save(info, self.now_s())?).await
    }

    async fn get_metadata(&self, miner_hotkey: &str) -> Result<Option<MinerMetadata>> {
        let (pk, sk) = rules::miner_key(miner_hotkey)?;
        self.get_live(T, &pk, &sk)
            .await?
            .map(|i| MinerMetadata::from_item(&i))
            .transpose()
    }

    async fn update_statistics(
        &self,
        miner_hotkey: &str,
        success: bool,
        increment_samples: bool,
    ) -> Result<MinerMetadata> {
        let rule = rules::statistics(miner_hotkey, success, increment_samples, self.now_s())?;
        self.run(rule).await
    }

    async fn pause_miner(
        &self,
        miner_hotkey: &str,
        reason: &str,
        duration_s: Option<i64>,
    ) -> Result<MinerMetadata> {
        self.run(rules::pause(
            miner_hotkey,
            reason,
            duration_s,
            self.now_s(),
        )?)
        .await
    }

    async fn unpause_miner(&self, miner_hotkey: &str) -> Result<MinerMetadata> {
        self.run(rules::unpause(miner_hotkey, self.now_s())?).await
    }

    async fn check_pause_expired(&self, miner_hotkey: &str) -> Result<bool> {
        self.run(rules::pause_expired(miner_hotkey, self.now_s())?)
            .await
    }

    async fn get_all_miners(&self) -> Result<Vec<MinerMetadata>> {
        let q = all_where(Cond::eq_s(SK, keys::METADATA_SK)).ordered(&BY_HOTKEY, false);
        self.items(T, q)
            .await?
            .iter()
            .map(MinerMetadata::from_item)
            .collect()
    }
}
