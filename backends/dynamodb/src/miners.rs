//! `miner_metadata` on DynamoDB. Every change is the core's rule
//! ([`affine_db_core::rules::miners`]), each branch one conditional
//! UpdateItem: metadata saves keep statistics and pause state with
//! `if_not_exists` and the earliest `first_commit_block` with a condition;
//! counters use `ADD`.

use affine_db_core::cond::Cond;
use affine_db_core::rules::miners as rules;
use affine_db_core::schema::SK;
use affine_db_core::tables::miners::{MinerInfo, MinerMetadata, MinerStore, BY_HOTKEY};
use affine_db_core::{keys, Result, Table};
use async_trait::async_trait;

use crate::query::{self, Request};
use crate::DynamoBackend;

const T: Table = Table::MinerMetadata;

#[async_trait]
impl MinerStore for DynamoBackend {
    async fn save_metadata(&self, info: MinerInfo) -> Result<MinerMetadata> {
        self.execute(rules::save(info, self.now_s())?).await
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
        let name = self.table_name(T);
        let b = self.client.scan().table_name(name).consistent_read(true);
        let records = Cond::eq_s(SK, keys::METADATA_SK);
        let mut miners = query::collect(Request::Scan(b), name, &records, None)
            .await?
            .iter()
            .map(MinerMetadata::from_item)
            .collect::<Result<Vec<_>>>()?;
        BY_HOTKEY.sort(&mut miners, false);
        Ok(miners)
    }
}
