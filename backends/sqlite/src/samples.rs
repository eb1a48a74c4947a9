//! `sample_results` on SQLite.

use affine_db_core::keys;
use affine_db_core::schema::Table;
use affine_db_core::tables::samples::{
    Conversation, MinerSamplesQuery, NewSample, Sample, SampleKey, SampleStore,
};
use affine_db_core::{dictionaries, Result};
use async_trait::async_trait;
use rusqlite::params;

use crate::db::SqlResult;
use crate::row::{self, sql_limit, Cols};
use crate::SqliteBackend;

const T: Table = Table::SampleResults;
const CONVERSATION: &str = "conversation_compressed";

fn cols(conversation: Conversation) -> Cols {
    match conversation {
        Conversation::Include => Cols::all(T),
        Conversation::Skip => Cols::without(T, &[CONVERSATION]),
    }
}

fn validate_owner(miner_hotkey: &str, model_revision: &str) -> Result<()> {
    keys::validate_part("miner_hotkey", miner_hotkey)?;
    keys::validate_part("model_revision", model_revision)
}

#[async_trait]
impl SampleStore for SqliteBackend {
    async fn save_sample(&self, sample: NewSample) -> Result<Sample> {
        let sample = sample.into_sample(self.now_ms())?;
        dictionaries::sync_if_due(&self.codec, self).await;
        let row = row::to_row(T, &sample.to_item(&self.codec)?)?;
        self.db.write_tx(move |tx| row::put_row(tx, T, row)).await?;
        Ok(sample)
    }

    async fn save_samples(&self, samples: Vec<NewSample>) -> Result<Vec<SampleKey>> {
        let now_ms = self.now_ms();
        dictionaries::sync_if_due(&self.codec, self).await;
        let mut keys = Vec::with_capacity(samples.len());
        let mut rows = Vec::with_capacity(samples.len());
        for s in samples {
            let sample = s.into_sample(now_ms)?;
            rows.push(row::to_row(T, &sample.to_item(&self.codec)?)?);
            keys.push(sample.key());
        }
        if rows.is_empty() {
            return Ok(keys);
        }
        self.db
            .write_tx(move |tx| {
                for r in rows {
                    row::put_row(tx, T, r)?;
                }
                Ok(())
            })
            .await?;
        Ok(keys)
    }

    async fn get_sample(
        &self,
        key: &SampleKey,
        conversation: Conversation,
    ) -> Result<Option<Sample>> {
        key.validate()?;
        let (pk, sk) = (key.pk(), key.sk());
        let cols = cols(conversation);
        let items = self
            .db
            .read(move |tx| {
                let sql = cols.select("WHERE \"pk\" = ?1 AND \"sk\" = ?2");
                cols.query(tx, &sql, params![pk, sk])
            })
            .await?;
        Ok(
            dictionaries::decode_samples(&self.codec, self, &items, conversation)
                .await?
                .into_iter()
                .next(),
        )
    }

    async fn get_samples_by_miner(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        query: &MinerSamplesQuery,
    ) -> Result<Vec<Sample>> {
        validate_owner(miner_hotkey, model_revision)?;
        if let Some(env) = &query.env {
            keys::validate_part("env", env)?;
        }
        let pk = keys::miner_revision_pk(miner_hotkey, model_revision);
        let env = query.env.clone();
        let limit = sql_limit(query.limit);
        let dir = if query.newest_first { "DESC" } else { "ASC" };
        let cols = cols(query.conversation);
        let items = self
            .db
            .read(move |tx| {
                let sql = cols.select(&format!(
                    "WHERE \"pk\" = ?1 AND (?2 IS NULL OR \"env\" = ?2) \
                     ORDER BY \"timestamp\" {dir}, \"env\" {dir}, \"sample_id\" {dir} LIMIT ?3"
                ));
                cols.query(tx, &sql, params![pk, env, limit])
            })
            .await?;
        dictionaries::decode_samples(&self.codec, self, &items, query.conversation).await
    }

    async fn get_samples_by_env(
        &self,
        env: &str,
        start_ms: i64,
        end_ms: i64,
        limit: Option<usize>,
        conversation: Conversation,
    ) -> Result<Vec<Sample>> {
        keys::validate_part("env", env)?;
        let env = env.to_string();
        let limit = sql_limit(limit);
        let cols = cols(conversation);
        let items = self
            .db
            .read(move |tx| {
                let sql = cols.select(
                    "WHERE \"env\" = ?1 AND \"timestamp\" >= ?2 AND \"timestamp\" <= ?3 \
                     ORDER BY \"timestamp\", \"miner_hotkey\", \"model_revision\", \"sample_id\" \
                     LIMIT ?4",
                );
                cols.query(tx, &sql, params![env, start_ms, end_ms, limit])
            })
            .await?;
        dictionaries::decode_samples(&self.codec, self, &items, conversation).await
    }

    async fn delete_samples_before(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        before_ms: i64,
    ) -> Result<usize> {
        validate_owner(miner_hotkey, model_revision)?;
        let pk = keys::miner_revision_pk(miner_hotkey, model_revision);
        self.db
            .write_tx(move |tx| {
                tx.execute(
                    "DELETE FROM \"sample_results\" WHERE \"pk\" = ?1 AND \"timestamp\" < ?2",
                    params![pk, before_ms],
                )
                .db()
            })
            .await
    }

    async fn count_samples_before(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        before_ms: i64,
    ) -> Result<usize> {
        validate_owner(miner_hotkey, model_revision)?;
        let pk = keys::miner_revision_pk(miner_hotkey, model_revision);
        let n: i64 = self
            .db
            .read(move |tx| {
                tx.query_row(
                    "SELECT COUNT(*) FROM \"sample_results\" WHERE \"pk\" = ?1 AND \"timestamp\" < ?2",
                    params![pk, before_ms],
                    |r| r.get(0),
                )
                .db()
            })
            .await?;
        Ok(usize::try_from(n).unwrap_or_default())
    }

    async fn list_sample_owners(&self) -> Result<Vec<(String, String)>> {
        let pks: Vec<String> = self
            .db
            .read(|tx| {
                // A skip scan: one index seek per owner, not a pass over
                // every sample (`SELECT DISTINCT` reads the whole index).
                let mut stmt = tx
                    .prepare_cached(
                        "WITH RECURSIVE \"owners\"(\"pk\") AS ( \
                           SELECT MIN(\"pk\") FROM \"sample_results\" \
                           UNION ALL \
                           SELECT (SELECT MIN(\"pk\") FROM \"sample_results\" \
                                   WHERE \"pk\" > \"owners\".\"pk\") \
                           FROM \"owners\" WHERE \"owners\".\"pk\" IS NOT NULL) \
                         SELECT \"pk\" FROM \"owners\" WHERE \"pk\" IS NOT NULL",
                    )
                    .db()?;
                let rows = stmt.query_map([], |r| r.get(0)).db()?;
                rows.collect::<rusqlite::Result<Vec<String>>>().db()
            })
            .await?;
        let mut owners = pks
            .iter()
            .map(|pk| keys::parse_miner_revision_pk(pk))
            .collect::<Result<Vec<_>>>()?;
        owners.sort();
        owners.dedup();
        Ok(owners)
    }
}
