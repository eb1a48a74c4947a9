//! `sample_results` on SQLite: the core's filters and orderings
//! ([`affine_db_core::rules::samples`], [`BY_MINER`], [`BY_ENV`]) as SQL.

use affine_db_core::cond::Cond;
use affine_db_core::keys;
use affine_db_core::rules::samples as rules;
use affine_db_core::schema::{Table, PK, SK};
use affine_db_core::tables::samples::{
    Conversation, MinerSamplesQuery, NewSample, Sample, SampleKey, SampleStore, BY_ENV, BY_MINER,
};
use affine_db_core::{dictionaries, Result};
use async_trait::async_trait;

use crate::db::SqlResult;
use crate::row::{self, Cols};
use crate::sql::order_by;
use crate::SqliteBackend;

const T: Table = Table::SampleResults;
const CONVERSATION: &str = "conversation_compressed";

fn cols(conversation: Conversation) -> Cols {
    match conversation {
        Conversation::Include => Cols::all(T),
        Conversation::Skip => Cols::without(T, &[CONVERSATION]),
    }
}

impl SqliteBackend {
    /// Validates every sample, then in one transaction deletes the samples
    /// the re-save rule supersedes and writes the rest. Returns the
    /// validated samples (input order) and the plan carried out.
    async fn save_batch(&self, samples: Vec<NewSample>) -> Result<(Vec<Sample>, rules::SavePlan)> {
        let now_ms = self.now_ms();
        dictionaries::sync_if_due(&self.codec, self).await;
        let given: Vec<bool> = samples.iter().map(|s| s.sample_id.is_some()).collect();
        let samples = samples
            .into_iter()
            .map(|s| s.into_sample(now_ms))
            .collect::<Result<Vec<_>>>()?;
        let plan = rules::plan_saves(&samples, &given);
        let rows = plan
            .write
            .iter()
            .map(|&i| row::to_row(T, &samples[i].to_item(&self.codec)?))
            .collect::<Result<Vec<_>>>()?;
        let replaces = plan.replaces.clone();
        self.db
            .write_tx(move |tx| {
                for (pk, id, sk) in &replaces {
                    row::delete_where(tx, T, &rules::superseded_by(pk, id, sk))?;
                }
                for r in rows {
                    row::put_row(tx, T, r)?;
                }
                Ok(())
            })
            .await?;
        Ok((samples, plan))
    }
}

#[async_trait]
impl SampleStore for SqliteBackend {
    async fn save_sample(&self, sample: NewSample) -> Result<Sample> {
        let (mut saved, _) = self.save_batch(vec![sample]).await?;
        Ok(saved.remove(0))
    }

    async fn save_samples(&self, samples: Vec<NewSample>) -> Result<Vec<SampleKey>> {
        if samples.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.save_batch(samples).await?.1.keys)
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
                let key = Cond::eq_s(PK, pk).and(Cond::eq_s(SK, sk));
                row::select(tx, &cols, &key, None, None)
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
        let pk = rules::owner(miner_hotkey, model_revision)?;
        if let Some(env) = &query.env {
            keys::validate_part("env", env)?;
        }
        let filter = rules::of_owner(&pk, query.env.as_deref());
        let order = order_by(&BY_MINER, query.newest_first);
        let limit = query.limit;
        let cols = cols(query.conversation);
        let items = self
            .db
            .read(move |tx| row::select(tx, &cols, &filter, Some(&order), limit))
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
        let filter = rules::in_env_range(env, start_ms, end_ms);
        let order = order_by(&BY_ENV, false);
        let cols = cols(conversation);
        let items = self
            .db
            .read(move |tx| row::select(tx, &cols, &filter, Some(&order), limit))
            .await?;
        dictionaries::decode_samples(&self.codec, self, &items, conversation).await
    }

    async fn delete_samples_before(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        before_ms: i64,
    ) -> Result<usize> {
        let pk = rules::owner(miner_hotkey, model_revision)?;
        let filter = rules::of_owner(&pk, None).and(rules::before(before_ms));
        self.db
            .write_tx(move |tx| row::delete_where(tx, T, &filter))
            .await
    }

    async fn count_samples_before(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        before_ms: i64,
    ) -> Result<usize> {
        let pk = rules::owner(miner_hotkey, model_revision)?;
        let filter = rules::of_owner(&pk, None).and(rules::before(before_ms));
        self.db.read(move |tx| row::count(tx, T, &filter)).await
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
