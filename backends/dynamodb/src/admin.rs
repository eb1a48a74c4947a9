//! [`Admin`] on DynamoDB: table lifecycle, counts, TTL purge and raw items.

use std::collections::BTreeMap;

use affine_db_core::admin::{check_scan_limit, parse_scan_cursor, scan_cursor};
use affine_db_core::drift::Drift;
use affine_db_core::item::check_item;
use affine_db_core::schema::{PK, SK};
use affine_db_core::{ttl, Admin, Capabilities, Error, Item, Progress, Result, ScanPage, Table};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::Select;

use crate::batch::{self, WriteOp, MAX_BATCH_WRITE};
use crate::convert;
use crate::errors::map_err;
use crate::expr::Expr;
use crate::query::{self, Request};
use crate::{tables, DynamoBackend};

fn cursor_of(key: &convert::AvMap) -> Result<String> {
    let (pk, sk) =
        convert::key_of(key).ok_or_else(|| Error::corrupt("scan cursor without pk/sk"))?;
    Ok(scan_cursor(&pk, &sk))
}

fn parse_cursor(cursor: &str) -> Result<convert::AvMap> {
    let (pk, sk) = parse_scan_cursor(cursor)?;
    Ok(convert::key(pk, sk))
}

#[async_trait]
impl Admin for DynamoBackend {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            name: "dynamodb",
            max_batch_write: MAX_BATCH_WRITE,
            writes_in_flight: self.batch_concurrency(),
            server_side_ttl: true,
        }
    }

    fn describe(&self) -> String {
        let mut s = format!("dynamodb://?prefix={}", self.config.prefix);
        if let Some(r) = &self.config.region {
            s.push_str(&format!("&region={r}"));
        }
        if let Some(e) = &self.config.endpoint {
            s.push_str(&format!("&endpoint={e}"));
        }
        s
    }

    async fn init_with(&self, progress: Progress<'_>) -> Result<Vec<Drift>> {
        tables::init(&self.client, &self.config.prefix, progress).await
    }

    async fn check(&self) -> Result<Vec<Drift>> {
        tables::check(&self.client, &self.config.prefix).await
    }

    async fn list_tables(&self) -> Result<Vec<String>> {
        tables::list(&self.client, &self.config.prefix).await
    }

    async fn reset(&self) -> Result<()> {
        tables::reset(&self.client, &self.config.prefix).await
    }

    async fn stats(&self) -> Result<BTreeMap<Table, u64>> {
        let now = self.now_s();
        let mut out = BTreeMap::new();
        for table in Table::ALL {
            let name = self.table_name(table);
            let mut e = Expr::new();
            let filter = e.condition(&ttl::unexpired(table, now));
            let b = self
                .client
                .scan()
                .table_name(name)
                .select(Select::Count)
                .set_filter_expression(filter)
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values());
            let mut count = 0u64;
            let mut start = None;
            loop {
                let res = b
                    .clone()
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| map_err(e, &format!("{name}: count")))?;
                count += u64::try_from(res.count).unwrap_or_default();
                match res.last_evaluated_key {
                    Some(k) if !k.is_empty() => start = Some(k),
                    _ => break,
                }
            }
            out.insert(table, count);
        }
        Ok(out)
    }

    async fn purge_expired(&self) -> Result<u64> {
        let now = self.now_s();
        let mut purged = 0u64;
        for table in Table::ALL {
            let Some(ttl_attr) = table.def().ttl else {
                continue;
            };
            let name = self.table_name(table);
            let expired = ttl::expired(table, now);
            let mut e = Expr::new();
            let b = self
                .client
                .scan()
                .table_name(name)
                .set_filter_expression(e.condition(&expired))
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values());
            // The filter's names go with the projection's (`#p…`).
            let b = query::project_scan(b, &[PK, SK, ttl_attr]);
            let items = query::collect(Request::Scan(b), name, &expired, None).await?;
            let ops = items
                .iter()
                .map(|i| {
                    convert::item_key(i)
                        .map(|(pk, sk)| WriteOp::Delete(pk, sk))
                        .ok_or_else(|| DynamoBackend::corrupt_key(table))
                })
                .collect::<Result<Vec<_>>>()?;
            purged += ops.len() as u64;
            batch::write(&self.client, name, ops).await?;
        }
        Ok(purged)
    }

    async fn scan_page(
        &self,
        table: Table,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<ScanPage> {
        check_scan_limit(limit)?;
        let start = cursor.as_deref().map(parse_cursor).transpose()?;
        let name = self.table_name(table);
        let res = self
            .client
            .scan()
            .table_name(name)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| map_err(e, &format!("{name}: scan")))?;
        let items = res
            .items()
            .iter()
            .map(convert::from_map)
            .collect::<Result<Vec<_>>>()?;
        let cursor = match &res.last_evaluated_key {
            Some(k) if !k.is_empty() => Some(cursor_of(k)?),
            _ => None,
        };
        Ok(ScanPage { items, cursor })
    }

    async fn get_items(&self, table: Table, keys: Vec<(String, String)>) -> Result<Vec<Item>> {
        let name = self.table_name(table);
        batch::get(&self.client, name, &keys, None)
            .await?
            .iter()
            .map(convert::from_map)
            .collect()
    }

    async fn put_items(&self, table: Table, items: Vec<Item>) -> Result<()> {
        let name = self.table_name(table);
        for item in &items {
            let (pk, sk) = convert::item_key(item)
                .ok_or_else(|| Error::invalid("item", "every item needs string pk and sk"))?;
            check_item(&format!("{name} {pk}/{sk}"), item)?;
        }
        batch::write_with(
            &self.client,
            name,
            items.into_iter().map(WriteOp::Put).collect(),
            self.batch_concurrency(),
        )
        .await
    }

    async fn delete_items(&self, table: Table, keys: Vec<(String, String)>) -> Result<usize> {
        let name = self.table_name(table);
        let existing = batch::get(&self.client, name, &keys, Some(&["pk", "sk"])).await?;
        let ops = keys
            .into_iter()
            .map(|(pk, sk)| WriteOp::Delete(pk, sk))
            .collect();
        batch::write(&self.client, name, ops).await?;
        Ok(existing.len())
    }
}
