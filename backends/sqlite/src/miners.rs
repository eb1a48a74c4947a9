//! `miner_metadata` on SQLite. Every change is a read-modify-write inside
//! one `BEGIN IMMEDIATE` transaction, so counters lose no update.

use affine_db_core::keys;
use affine_db_core::schema::Table;
use affine_db_core::tables::miners::{MinerInfo, MinerMetadata, MinerStore};
use affine_db_core::{Error, Result};
use async_trait::async_trait;
use rusqlite::{params, Connection};

use crate::row::{self, Cols};
use crate::SqliteBackend;

const T: Table = Table::MinerMetadata;

fn get_miner(conn: &Connection, hotkey: &str, now_s: i64) -> Result<Option<MinerMetadata>> {
    row::get_item(conn, T, &keys::miner_pk(hotkey), keys::METADATA_SK, now_s)?
        .map(|i| MinerMetadata::from_item(&i))
        .transpose()
}

fn unpause(m: &mut MinerMetadata) {
    m.is_paused = false;
    m.pause_reason = None;
    m.pause_until = None;
}

impl SqliteBackend {
    /// Applies `f` to the stored miner atomically; `NotFound` without one.
    async fn update_miner<F>(&self, miner_hotkey: &str, f: F) -> Result<MinerMetadata>
    where
        F: FnOnce(&mut MinerMetadata) + Send + 'static,
    {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let hotkey = miner_hotkey.to_string();
        let now = self.now_s();
        self.db
            .write_tx(move |tx| {
                let mut m = get_miner(tx, &hotkey, now)?
                    .ok_or_else(|| Error::NotFound(format!("miner {hotkey}")))?;
                f(&mut m);
                row::put_item(tx, T, &m.to_item())?;
                Ok(m)
            })
            .await
    }
}

#[async_trait]
impl MinerStore for SqliteBackend {
    async fn save_metadata(&self, info: MinerInfo) -> Result<MinerMetadata> {
        info.validate()?;
        let now = self.now_s();
        self.db
            .write_tx(move |tx| {
                let existing = get_miner(tx, &info.miner_hotkey, now)?;
                let m = info.merge(existing.as_ref(), now);
                row::put_item(tx, T, &m.to_item())?;
                Ok(m)
            })
            .await
    }

    async fn get_metadata(&self, miner_hotkey: &str) -> Result<Option<MinerMetadata>> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let hotkey = miner_hotkey.to_string();
        let now = self.now_s();
        self.db.read(move |tx| get_miner(tx, &hotkey, now)).await
    }

    async fn update_statistics(
        &self,
        miner_hotkey: &str,
        success: bool,
        increment_samples: bool,
    ) -> Result<MinerMetadata> {
        let now = self.now_s();
        self.update_miner(miner_hotkey, move |m| {
            if increment_samples {
                m.total_samples += 1;
            }
            if success {
                m.success_count += 1;
                m.consecutive_errors = 0;
            } else {
                m.error_count += 1;
                m.consecutive_errors += 1;
            }
            m.last_sample_time = Some(now);
        })
        .await
    }

    async fn pause_miner(
        &self,
        miner_hotkey: &str,
        reason: &str,
        duration_s: Option<i64>,
    ) -> Result<MinerMetadata> {
        if let Some(d) = duration_s.filter(|d| *d < 0) {
            return Err(Error::invalid("duration_s", format!("{d} is negative")));
        }
        let now = self.now_s();
        let reason = reason.to_string();
        self.update_miner(miner_hotkey, move |m| {
            m.is_paused = true;
            m.pause_reason = Some(reason);
            m.pause_until = duration_s.map(|d| now.saturating_add(d));
        })
        .await
    }

    async fn unpause_miner(&self, miner_hotkey: &str) -> Result<MinerMetadata> {
        self.update_miner(miner_hotkey, unpause).await
    }

    async fn check_pause_expired(&self, miner_hotkey: &str) -> Result<bool> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let hotkey = miner_hotkey.to_string();
        let now = self.now_s();
        self.db
            .write_tx(move |tx| {
                let Some(mut m) = get_miner(tx, &hotkey, now)? else {
                    return Ok(false);
                };
                match m.pause_until {
                    Some(until) if m.is_paused && until <= now => {
                        unpause(&mut m);
                        row::put_item(tx, T, &m.to_item())?;
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            })
            .await
    }

    async fn get_all_miners(&self) -> Result<Vec<MinerMetadata>> {
        self.db
            .read(|tx| {
                let cols = Cols::all(T);
                let sql = cols.select("WHERE \"sk\" = ?1 ORDER BY \"miner_hotkey\", \"pk\"");
                cols.query(tx, &sql, params![keys::METADATA_SK])?
                    .iter()
                    .map(MinerMetadata::from_item)
                    .collect()
            })
            .await
    }
}
