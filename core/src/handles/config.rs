//! `system_config`: `set_param` is the core's rule
//! ([`crate::rules::config::set_param`]), so concurrent sets never repeat a
//! version on a driver that executes mutations atomically.

use async_trait::async_trait;

use super::{all_where, Tables};
use crate::error::Result;
use crate::rules::config as rules;
use crate::schema::Table;
use crate::tables::config::{ConfigParam, ConfigStore, ParamValue, BY_NAME};

const T: Table = Table::SystemConfig;

#[async_trait]
impl ConfigStore for Tables {
    async fn set_param(
        &self,
        param_name: &str,
        value: ParamValue,
        description: &str,
        updated_by: &str,
    ) -> Result<ConfigParam> {
        let rule = rules::set_param(param_name, &value, description, updated_by, self.now_s())?;
        self.run(rule).await
    }

    async fn get_param(&self, param_name: &str) -> Result<Option<ConfigParam>> {
        let (pk, sk) = rules::param_key(param_name)?;
        self.get_live(T, &pk, &sk)
            .await?
            .map(|i| ConfigParam::from_item(&i))
            .transpose()
    }

    async fn delete_param(&self, param_name: &str) -> Result<bool> {
        let (pk, sk) = rules::param_key(param_name)?;
        self.driver.delete(T, &pk, &sk).await
    }

    async fn list_all_configs(&self) -> Result<Vec<ConfigParam>> {
        let q = all_where(rules::params()).ordered(&BY_NAME, false);
        self.items(T, q)
            .await?
            .iter()
            .map(ConfigParam::from_item)
            .collect()
    }
}
