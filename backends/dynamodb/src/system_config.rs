//! `system_config` on DynamoDB. `set_param` is one UpdateItem whose
//! `version = if_not_exists(version, 0) + 1` is computed by the server, so
//! concurrent sets never repeat a version.

use affine_db_core::tables::config::validate_set;
use affine_db_core::{keys, ConfigParam, ConfigStore, ParamValue, Result, Table};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use crate::convert;
use crate::errors::map_err;
use crate::expr::Update;
use crate::query::{self, Request};
use crate::DynamoBackend;

const T: Table = Table::SystemConfig;

#[async_trait]
impl ConfigStore for DynamoBackend {
    async fn set_param(
        &self,
        param_name: &str,
        value: ParamValue,
        description: &str,
        updated_by: &str,
    ) -> Result<ConfigParam> {
        validate_set(param_name, &value, description, updated_by)?;
        let name = self.table_name(T);
        let sk = keys::config_sk(param_name);
        let _guard = self.lock_item(T, keys::CONFIG_PK, &sk).await;
        let mut u = Update::new();
        u.set("param_name", convert::s(param_name))
            .set("param_value", convert::to_av(&value.to_attr()))
            .set("param_type", convert::s(value.param_type().as_str()))
            .set("description", convert::s(description))
            .set("updated_at", convert::n(self.now_s()))
            .set("updated_by", convert::s(updated_by))
            .increment("version", 1);
        let b = self
            .client
            .update_item()
            .table_name(name)
            .set_key(Some(convert::key(keys::CONFIG_PK, &sk)))
            .return_values(ReturnValue::AllNew);
        let out = u
            .apply(b)
            .send()
            .await
            .map_err(|e| map_err(e, &format!("{name}: set {sk}")))?;
        ConfigParam::from_item(&convert::from_map(&out.attributes.unwrap_or_default())?)
    }

    async fn get_param(&self, param_name: &str) -> Result<Option<ConfigParam>> {
        keys::validate_part("param_name", param_name)?;
        self.get_live(T, keys::CONFIG_PK, &keys::config_sk(param_name))
            .await?
            .map(|i| ConfigParam::from_item(&i))
            .transpose()
    }

    async fn delete_param(&self, param_name: &str) -> Result<bool> {
        keys::validate_part("param_name", param_name)?;
        let name = self.table_name(T);
        let sk = keys::config_sk(param_name);
        let out = self
            .client
            .delete_item()
            .table_name(name)
            .set_key(Some(convert::key(keys::CONFIG_PK, &sk)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| map_err(e, &format!("{name}: delete {sk}")))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn list_all_configs(&self) -> Result<Vec<ConfigParam>> {
        let name = self.table_name(T);
        let b = self
            .client
            .query()
            .table_name(name)
            .key_condition_expression("pk = :pk AND begins_with(sk, :param)")
            .expression_attribute_values(":pk", convert::s(keys::CONFIG_PK))
            .expression_attribute_values(":param", convert::s("PARAM#"))
            .consistent_read(true);
        let mut params = query::collect(Request::Query(b), name, None, None, |_| Ok(true))
            .await?
            .iter()
            .map(ConfigParam::from_item)
            .collect::<Result<Vec<_>>>()?;
        params.sort_by(|a, b| a.param_name.cmp(&b.param_name));
        Ok(params)
    }
}
