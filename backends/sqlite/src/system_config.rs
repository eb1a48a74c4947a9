//! `system_config` on SQLite. `set_param` is the core's rule
//! ([`affine_db_core::rules::config::set_param`]) run inside one
//! `BEGIN IMMEDIATE` transaction, so concurrent sets never repeat a version.

use affine_db_core::rules::config as rules;
use affine_db_core::schema::Table;
use affine_db_core::tables::config::{ConfigParam, ConfigStore, ParamValue, BY_NAME};
use affine_db_core::Result;
use async_trait::async_trait;

use crate::row::{self, Cols};
use crate::sql::order_by;
use crate::SqliteBackend;

const T: Table = Table::SystemConfig;

#[async_trait]
impl ConfigStore for SqliteBackend {
    async fn set_param(
        &self,
        param_name: &str,
        value: ParamValue,
        description: &str,
        updated_by: &str,
    ) -> Result<ConfigParam> {
        let rule = rules::set_param(param_name, &value, description, updated_by, self.now_s())?;
        self.execute(rule).await
    }

    async fn get_param(&self, param_name: &str) -> Result<Option<ConfigParam>> {
        let (pk, sk) = rules::param_key(param_name)?;
        let now = self.now_s();
        self.db
            .read(move |tx| {
                row::get_item(tx, T, &pk, &sk, now)?
                    .map(|i| ConfigParam::from_item(&i))
                    .transpose()
            })
            .await
    }

    async fn delete_param(&self, param_name: &str) -> Result<bool> {
        let (pk, sk) = rules::param_key(param_name)?;
        self.db
            .write_tx(move |tx| row::delete_item(tx, T, &pk, &sk))
            .await
    }

    async fn list_all_configs(&self) -> Result<Vec<ConfigParam>> {
        self.db
            .read(|tx| {
                let order = order_by(&BY_NAME, false);
                row::select(tx, &Cols::all(T), &rules::params(), Some(&order), None)?
                    .iter()
                    .map(ConfigParam::from_item)
                    .collect()
            })
            .await
    }
}
