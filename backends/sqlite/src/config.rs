//! `system_config` on SQLite. `set_param` reads the previous version and
//! writes the next inside one `BEGIN IMMEDIATE` transaction, so concurrent
//! sets never repeat a version.

use affine_db_core::keys;
use affine_db_core::schema::Table;
use affine_db_core::tables::config::{validate_set, ConfigParam, ConfigStore, ParamValue};
use affine_db_core::Result;
use async_trait::async_trait;
use rusqlite::params;

use crate::row::{self, Cols};
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
        validate_set(param_name, &value, description, updated_by)?;
        let mut param = ConfigParam {
            param_name: param_name.to_string(),
            param_type: value.param_type(),
            param_value: value,
            description: description.to_string(),
            updated_at: self.now_s(),
            updated_by: updated_by.to_string(),
            version: 1,
        };
        let now = self.now_s();
        self.db
            .write_tx(move |tx| {
                let sk = keys::config_sk(&param.param_name);
                if let Some(old) = row::get_item(tx, T, keys::CONFIG_PK, &sk, now)? {
                    let old = affine_db_core::item::ItemReader::new("system_config", &old);
                    param.version = old.opt_i64("version")?.unwrap_or_default() + 1;
                }
                row::put_item(tx, T, &param.to_item())?;
                Ok(param)
            })
            .await
    }

    async fn get_param(&self, param_name: &str) -> Result<Option<ConfigParam>> {
        keys::validate_part("param_name", param_name)?;
        let sk = keys::config_sk(param_name);
        let now = self.now_s();
        self.db
            .read(move |tx| {
                row::get_item(tx, T, keys::CONFIG_PK, &sk, now)?
                    .map(|i| ConfigParam::from_item(&i))
                    .transpose()
            })
            .await
    }

    async fn delete_param(&self, param_name: &str) -> Result<bool> {
        keys::validate_part("param_name", param_name)?;
        let sk = keys::config_sk(param_name);
        self.db
            .write_tx(move |tx| row::delete_item(tx, T, keys::CONFIG_PK, &sk))
            .await
    }

    async fn list_all_configs(&self) -> Result<Vec<ConfigParam>> {
        self.db
            .read(|tx| {
                let cols = Cols::all(T);
                let sql = cols.select("WHERE \"pk\" = ?1 ORDER BY \"param_name\", \"sk\"");
                cols.query(tx, &sql, params![keys::CONFIG_PK])?
                    .iter()
                    .map(ConfigParam::from_item)
                    .collect()
            })
            .await
    }
}
