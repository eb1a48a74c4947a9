//! `system_config` on DynamoDB. `set_param` is the core's rule
//! ([`affine_db_core::rules::config::set_param`]): one UpdateItem whose
//! `ADD version 1` is computed by the server, so concurrent sets never
//! repeat a version.

use affine_db_core::cond::Cond;
use affine_db_core::rules::config as rules;
use affine_db_core::tables::config::BY_NAME;
use affine_db_core::{keys, ConfigParam, ConfigStore, ParamValue, Result, Table};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use crate::convert;
use crate::errors::map_err;
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
        let rule = rules::set_param(param_name, &value, description, updated_by, self.now_s())?;
        self.execute(rule).await
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
        let name = self.table_name(T);
        let out = self
            .client
            .delete_item()
            .table_name(name)
            .set_key(Some(convert::key(&pk, &sk)))
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
            .expression_attribute_values(":param", convert::s(keys::config_sk_prefix()))
            .consistent_read(true);
        let mut params = query::collect(Request::Query(b), name, &Cond::True, None)
            .await?
            .iter()
            .map(ConfigParam::from_item)
            .collect::<Result<Vec<_>>>()?;
        BY_NAME.sort(&mut params, false);
        Ok(params)
    }
}
