//! Table lifecycle from the core schema ([`Table::def`]): key schema
//! `pk` HASH / `sk` RANGE, GSIs with their projections, PAY_PER_REQUEST,
//! TTL; listing and reset restricted to this prefix's seven tables.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use affine_db_core::drift::{self, Drift, LiveIndex, LiveKeys, LiveTable, LiveTtl};
use affine_db_core::schema::{IndexDef, IndexProjection, KeyType, TableDef, PK, SK};
use affine_db_core::{Error, Progress, Result, Table};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType as DynKeyType,
    Projection as DynProjection, ProjectionType, ProvisionedThroughput, ScalarAttributeType,
    TableDescription, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_dynamodb::Client;

use crate::errors::map_err;

/// How long to wait for a table to become ACTIVE (or to disappear).
const WAIT: Duration = Duration::from_secs(300);

fn scalar(def: &TableDef, name: &str) -> Result<ScalarAttributeType> {
    Ok(match def.key_type(name)? {
        KeyType::S => ScalarAttributeType::S,
        KeyType::N => ScalarAttributeType::N,
        KeyType::B => ScalarAttributeType::B,
    })
}

fn key_element(name: &str, kind: DynKeyType) -> Result<KeySchemaElement> {
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

fn projection(def: &TableDef, index: &IndexDef) -> DynProjection {
    match def.index_projection(index) {
        IndexProjection::All => DynProjection::builder()
            .projection_type(ProjectionType::All)
            .build(),
        IndexProjection::KeysOnly => DynProjection::builder()
            .projection_type(ProjectionType::KeysOnly)
            .build(),
        IndexProjection::Include(attrs) => DynProjection::builder()
            .projection_type(ProjectionType::Include)
            .set_non_key_attributes(Some(attrs))
            .build(),
    }
}

fn gsi(def: &TableDef, index: &IndexDef) -> Result<GlobalSecondaryIndex> {
    GlobalSecondaryIndex::builder()
        .index_name(index.name)
        .key_schema(key_element(index.hash, DynKeyType::Hash)?)
        .key_schema(key_element(index.range, DynKeyType::Range)?)
        .projection(projection(def, index))
        .build()
        .map_err(Error::backend)
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
            gsis.push(gsi(def, index)?);
        }
        let res = client
            .create_table()
            .table_name(&name)
            .key_schema(key_element(PK, DynKeyType::Hash)?)
            .key_schema(key_element(SK, DynKeyType::Range)?)
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

/// Deletes this prefix's seven tables (only those) and waits until they
/// are gone; a table that is already missing is fine.
pub async fn drop_all(client: &Client, prefix: &str) -> Result<()> {
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
    Ok(())
}

/// How long `init` waits for a new index to be built and become ACTIVE
/// (DynamoDB backfills it from the table's items first).
const INDEX_WAIT: Duration = Duration::from_secs(3600);

/// How often, at most, a wait for an index reports that it is still waiting.
const PROGRESS_EVERY: Duration = Duration::from_secs(15);

fn live_keys(elements: &[KeySchemaElement]) -> LiveKeys {
    let find = |kind: DynKeyType| {
        elements
            .iter()
            .find(|e| *e.key_type() == kind)
            .map(|e| e.attribute_name().to_string())
    };
    LiveKeys {
        hash: find(DynKeyType::Hash),
        range: find(DynKeyType::Range),
    }
}

fn live_projection(p: Option<&DynProjection>) -> IndexProjection {
    match p.and_then(|p| p.projection_type()) {
        Some(ProjectionType::KeysOnly) => IndexProjection::KeysOnly,
        Some(ProjectionType::Include) => IndexProjection::Include(
            p.map(|p| p.non_key_attributes().to_vec())
                .unwrap_or_default(),
        ),
        // DynamoDB's default projection is ALL.
        _ => IndexProjection::All,
    }
}

/// The table `name` as DescribeTable states it, `None` when it does not exist.
async fn describe_table(client: &Client, name: &str) -> Result<Option<TableDescription>> {
    match client.describe_table().table_name(name).send().await {
        Ok(out) => Ok(out.table),
        Err(e) => match map_err(e, &format!("{name}: describe table")) {
            Error::MissingTable { .. } => Ok(None),
            other => Err(other),
        },
    }
}

/// The live table `name` in the core's terms (DescribeTable and
/// DescribeTimeToLive), `None` when it does not exist.
pub async fn describe_live(client: &Client, name: &str) -> Result<Option<LiveTable>> {
    let Some(t) = describe_table(client, name).await? else {
        return Ok(None);
    };
    let ttl = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| map_err(e, &format!("{name}: describe TTL")))?;
    let ttl = match ttl.time_to_live_description() {
        Some(d) => LiveTtl {
            attribute: d.attribute_name().map(str::to_string),
            enabled: matches!(
                d.time_to_live_status(),
                Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
            ),
        },
        None => LiveTtl {
            attribute: None,
            enabled: false,
        },
    };
    Ok(Some(LiveTable {
        name: name.to_string(),
        keys: live_keys(t.key_schema()),
        attribute_types: t
            .attribute_definitions()
            .iter()
            .map(|a| {
                (
                    a.attribute_name().to_string(),
                    a.attribute_type().as_str().to_string(),
                )
            })
            .collect(),
        indexes: t
            .global_secondary_indexes()
            .iter()
            .map(|g| LiveIndex {
                name: g.index_name().unwrap_or_default().to_string(),
                keys: live_keys(g.key_schema()),
                projection: live_projection(g.projection()),
            })
            .chain(t.local_secondary_indexes().iter().map(|l| LiveIndex {
                name: l.index_name().unwrap_or_default().to_string(),
                keys: live_keys(l.key_schema()),
                projection: live_projection(l.projection()),
            }))
            .collect(),
        ttl,
    }))
}

/// The differences of `prefix`'s seven tables from their declarations.
pub async fn check(client: &Client, prefix: &str) -> Result<Vec<Drift>> {
    let mut out = Vec::new();
    for table in Table::ALL {
        let name = table.prefixed(prefix);
        let live = describe_live(client, &name).await?;
        out.extend(drift::compare(table, &name, live.as_ref()));
    }
    Ok(out)
}

/// `init`: checks every table first; refuses (changing nothing) when a
/// difference cannot be repaired in place; otherwise creates missing
/// tables, creates missing indexes (UpdateTable, then waits until ACTIVE,
/// reporting the wait) and enables TTL. The core reports each repair.
pub async fn init(client: &Client, prefix: &str, progress: Progress<'_>) -> Result<Vec<Drift>> {
    let drifts = check(client, prefix).await?;
    if let Some(refused) = drift::refusal(&drifts) {
        return Err(refused);
    }
    for d in &drifts {
        let table = Table::ALL
            .into_iter()
            .find(|t| Some(t.prefixed(prefix).as_str()) == d.table())
            .ok_or_else(|| Error::backend(format!("{d}: not a table of prefix {prefix}")))?;
        let name = table.prefixed(prefix);
        match d {
            Drift::MissingTable { .. } => create(client, prefix, table).await?,
            Drift::MissingIndex { index, .. } => {
                let def = table.def();
                let index = def
                    .index(index)
                    .ok_or_else(|| Error::backend(format!("{d}: not a declared index")))?;
                create_index(client, &name, def, index, progress).await?;
            }
            Drift::TtlDisabled { attribute, .. } => enable_ttl(client, &name, attribute).await?,
            other => {
                return Err(Error::backend(format!(
                    "{other}: no in-place repair on DynamoDB"
                )))
            }
        }
    }
    Ok(drifts)
}

/// Adds the declared `index` to the existing table `name` (UpdateTable)
/// and waits until DynamoDB has built it.
async fn create_index(
    client: &Client,
    name: &str,
    def: &TableDef,
    index: &IndexDef,
    progress: Progress<'_>,
) -> Result<()> {
    let live = describe_table(client, name)
        .await?
        .ok_or_else(|| Error::missing_table(name, crate::errors::STORE))?;
    let mut defs = Vec::new();
    for key in [index.hash, index.range] {
        defs.push(attr_def(key, scalar(def, key)?)?);
    }
    let mut action = CreateGlobalSecondaryIndexAction::builder()
        .index_name(index.name)
        .key_schema(key_element(index.hash, DynKeyType::Hash)?)
        .key_schema(key_element(index.range, DynKeyType::Range)?)
        .projection(projection(def, index));
    let provisioned = live
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .is_some_and(|m| *m == BillingMode::Provisioned)
        || (live.billing_mode_summary().is_none()
            && live
                .provisioned_throughput()
                .and_then(|p| p.read_capacity_units())
                .is_some_and(|r| r > 0));
    if provisioned {
        // An index of a provisioned table needs its own capacity: the table's.
        let p = live.provisioned_throughput();
        action = action.provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(p.and_then(|p| p.read_capacity_units()).unwrap_or(1))
                .write_capacity_units(p.and_then(|p| p.write_capacity_units()).unwrap_or(1))
                .build()
                .map_err(Error::backend)?,
        );
    }
    let update = GlobalSecondaryIndexUpdate::builder()
        .create(action.build().map_err(Error::backend)?)
        .build();
    progress(&format!("creating index {} on {name}", index.name));
    client
        .update_table()
        .table_name(name)
        .set_attribute_definitions(Some(defs))
        .global_secondary_index_updates(update)
        .send()
        .await
        .map_err(|e| map_err(e, &format!("{name}: create index {}", index.name)))?;
    wait_index_active(client, name, index.name, progress).await
}

/// Polls DescribeTable until index `index` of `name` is ACTIVE (bounded by
/// [`INDEX_WAIT`]), reporting its status when it changes and at most every
/// [`PROGRESS_EVERY`] while it waits.
async fn wait_index_active(
    client: &Client,
    name: &str,
    index: &str,
    progress: Progress<'_>,
) -> Result<()> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(50);
    let mut last_report: Option<(String, Instant)> = None;
    loop {
        let t = describe_table(client, name)
            .await?
            .ok_or_else(|| Error::missing_table(name, crate::errors::STORE))?;
        let status = t
            .global_secondary_indexes()
            .iter()
            .find(|g| g.index_name() == Some(index))
            .map(|g| (g.index_status().cloned(), g.backfilling().unwrap_or(false)));
        let table_active = t.table_status().is_none_or(|s| *s == TableStatus::Active);
        match status {
            // moto states no status: an index that is there is built.
            Some((None | Some(IndexStatus::Active), false)) if table_active => return Ok(()),
            None if start.elapsed() > Duration::from_secs(30) => {
                return Err(Error::unavailable(format!(
                    "{name}: index {index} did not appear after UpdateTable"
                )))
            }
            _ if start.elapsed() > INDEX_WAIT => {
                return Err(Error::unavailable(format!(
                    "{name}: index {index} did not become ACTIVE within {} s",
                    INDEX_WAIT.as_secs()
                )))
            }
            _ => {}
        }
        let now = match status {
            Some((Some(s), backfilling)) => {
                format!(
                    "{}{}",
                    s.as_str(),
                    if backfilling { ", backfilling" } else { "" }
                )
            }
            Some((None, _)) => "pending".to_string(),
            None => "not listed yet".to_string(),
        };
        let due = match &last_report {
            Some((said, at)) => *said != now || at.elapsed() >= PROGRESS_EVERY,
            None => true,
        };
        if due {
            progress(&format!(
                "waiting for index {index} on {name}: {now} ({} s)",
                start.elapsed().as_secs()
            ));
            last_report = Some((now, Instant::now()));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
