//! Table lifecycle from the core schema ([`Table::def`]): key schema
//! `pk` HASH / `sk` RANGE, GSIs with their projections, PAY_PER_REQUEST,
//! TTL; listing and reset restricted to this prefix's seven tables.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use affine_db_core::schema::{AttrType, Projection, TableDef, PK, SK};
use affine_db_core::{Error, Result, Table};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    Projection as DynProjection, ProjectionType, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use crate::errors::map_err;

/// How long to wait for a table to become ACTIVE (or to disappear).
const WAIT: Duration = Duration::from_secs(300);

fn scalar(def: &TableDef, name: &str) -> Result<ScalarAttributeType> {
    if name == PK || name == SK {
        return Ok(ScalarAttributeType::S);
    }
    match def.attr(name).map(|a| a.ty) {
        Some(AttrType::S) => Ok(ScalarAttributeType::S),
        Some(AttrType::Int | AttrType::Float) => Ok(ScalarAttributeType::N),
        Some(AttrType::B) => Ok(ScalarAttributeType::B),
        other => Err(Error::backend(format!(
            "{}: index key {name} has type {other:?}, which cannot be a key",
            def.table
        ))),
    }
}

fn key_element(name: &str, kind: KeyType) -> Result<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(Error::backend)
}

fn attr_def(name: &str, ty: ScalarAttributeType) -> Result<AttributeDefinition> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ty)
        .build()
        .map_err(Error::backend)
}

fn projection(def: &TableDef, index: &affine_db_core::schema::IndexDef) -> DynProjection {
    match index.projection {
        Projection::All => DynProjection::builder()
            .projection_type(ProjectionType::All)
            .build(),
        Projection::KeysOnly => DynProjection::builder()
            .projection_type(ProjectionType::KeysOnly)
            .build(),
        Projection::AllExcept(_) => {
            let attrs: Vec<String> = def
                .projected(index)
                .into_iter()
                .filter(|a| *a != index.hash && *a != index.range && *a != PK && *a != SK)
                .map(str::to_string)
                .collect();
            DynProjection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(attrs))
                .build()
        }
    }
}

/// Creates `table` under `prefix` if missing, waits until ACTIVE and enables TTL.
pub async fn create(client: &Client, prefix: &str, table: Table) -> Result<()> {
    let name = table.prefixed(prefix);
    let def = table.def();
    if describe_status(client, &name).await?.is_none() {
        let mut attrs: BTreeSet<(String, String)> = BTreeSet::new();
        let mut defs = vec![
            attr_def(PK, ScalarAttributeType::S)?,
            attr_def(SK, ScalarAttributeType::S)?,
        ];
        attrs.insert((PK.into(), "S".into()));
        attrs.insert((SK.into(), "S".into()));
        let mut gsis = Vec::new();
        for index in def.indexes {
            for key in [index.hash, index.range] {
                let ty = scalar(def, key)?;
                if attrs.insert((key.to_string(), ty.as_str().to_string())) {
                    defs.push(attr_def(key, ty)?);
                }
            }
            gsis.push(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .key_schema(key_element(index.hash, KeyType::Hash)?)
                    .key_schema(key_element(index.range, KeyType::Range)?)
                    .projection(projection(def, index))
                    .build()
                    .map_err(Error::backend)?,
            );
        }
        let res = client
            .create_table()
            .table_name(&name)
            .key_schema(key_element(PK, KeyType::Hash)?)
            .key_schema(key_element(SK, KeyType::Range)?)
            .set_attribute_definitions(Some(defs))
            .set_global_secondary_indexes(if gsis.is_empty() { None } else { Some(gsis) })
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        if let Err(e) = res {
            // Another process may have created it meanwhile.
            let in_use = e
                .as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception());
            if !in_use {
                return Err(map_err(e, &format!("{name}: create table")));
            }
        }
    }
    wait_active(client, &name).await?;
    if let Some(ttl_attr) = def.ttl {
        enable_ttl(client, &name, ttl_attr).await?;
    }
    Ok(())
}

async fn enable_ttl(client: &Client, name: &str, attr: &str) -> Result<()> {
    let current = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| map_err(e, &format!("{name}: describe TTL")))?;
    if let Some(d) = current.time_to_live_description() {
        let on = matches!(
            d.time_to_live_status(),
            Some(aws_sdk_dynamodb::types::TimeToLiveStatus::Enabled)
                | Some(aws_sdk_dynamodb::types::TimeToLiveStatus::Enabling)
        );
        if on && d.attribute_name() == Some(attr) {
            return Ok(());
        }
    }
    let spec = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(attr)
        .build()
        .map_err(Error::backend)?;
    match client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(spec)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let msg = aws_sdk_dynamodb::error::ProvideErrorMetadata::message(&e)
                .unwrap_or("")
                .to_ascii_lowercase();
            if msg.contains("already enabled") {
                Ok(())
            } else {
                Err(map_err(e, &format!("{name}: enable TTL")))
            }
        }
    }
}

/// The table's status, `None` when it does not exist.
pub async fn describe_status(client: &Client, name: &str) -> Result<Option<TableStatus>> {
    match client.describe_table().table_name(name).send().await {
        Ok(out) => Ok(Some(
            out.table()
                .and_then(|t| t.table_status().cloned())
                .unwrap_or(TableStatus::Active),
        )),
        Err(e) => match map_err(e, &format!("{name}: describe table")) {
            Error::MissingTable { .. } => Ok(None),
            other => Err(other),
        },
    }
}

async fn wait_active(client: &Client, name: &str) -> Result<()> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        match describe_status(client, name).await? {
            Some(TableStatus::Active) => return Ok(()),
            None if start.elapsed() > WAIT => {
                return Err(Error::unavailable(format!("table {name} did not appear")))
            }
            _ if start.elapsed() > WAIT => {
                return Err(Error::unavailable(format!(
                    "table {name} did not become ACTIVE"
                )))
            }
            _ => {}
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

async fn wait_gone(client: &Client, name: &str) -> Result<()> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(50);
    while describe_status(client, name).await?.is_some() {
        if start.elapsed() > WAIT {
            return Err(Error::unavailable(format!(
                "table {name} was not deleted in time"
            )));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
    Ok(())
}

/// The tables of `prefix` that exist, by full name (ListTables, paged).
pub async fn list(client: &Client, prefix: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let res = client
            .list_tables()
            .set_exclusive_start_table_name(start.take())
            .send()
            .await
            .map_err(|e| map_err(e, "list tables"))?;
        for name in res.table_names() {
            if Table::from_prefixed(prefix, name).is_some() {
                out.push(name.clone());
            }
        }
        match res.last_evaluated_table_name {
            Some(n) => start = Some(n),
            None => break,
        }
    }
    out.sort();
    Ok(out)
}

/// Deletes this prefix's seven tables (only those), waits until they are
/// gone, then recreates them.
pub async fn reset(client: &Client, prefix: &str) -> Result<()> {
    for table in Table::ALL {
        let name = table.prefixed(prefix);
        if let Err(e) = client.delete_table().table_name(&name).send().await {
            match map_err(e, &format!("{name}: delete table")) {
                Error::MissingTable { .. } => {}
                other => return Err(other),
            }
        }
    }
    for table in Table::ALL {
        wait_gone(client, &table.prefixed(prefix)).await?;
    }
    for table in Table::ALL {
        create(client, prefix, table).await?;
    }
    Ok(())
}
