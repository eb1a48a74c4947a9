//! `check [--json]`: compare the live schema with the declared one and
//! report every difference, changing nothing; exit 1 when there is any.
//!
//! DynamoDB: each table's key schema, key attribute types, GSIs (keys and
//! projection) and TTL (DescribeTable, DescribeTimeToLive). SQLite: each
//! table's columns, primary key and indexes, and the file's
//! `application_id` and `user_version` — read without the refusals of an
//! open, so a file of another application or a newer build is reported.

use std::process::ExitCode;

use affine_db::drift::{Drift, Repair};
use affine_db::StoreUrl;
use serde_json::json;

use super::{CmdResult, Context};
use crate::output;

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object: `store`, `matches` and `differences` (each
    /// with `table`, `kind`, `repair` and `message`)
    #[arg(long)]
    json: bool,
}

/// What `init` does about `d`, as the output says it.
fn repair_word(d: &Drift) -> &'static str {
    match d.repair() {
        Repair::InPlace => "init",
        Repair::Refused => "refused",
    }
}

/// Reports the differences; exit 1 when there are any.
pub async fn run(args: Args, ctx: &Context) -> CmdResult {
    let (store, drifts) = match StoreUrl::parse(ctx.url())? {
        StoreUrl::SqliteFile { path, .. } => (
            format!("sqlite://{}", path.display()),
            affine_db::sqlite::check_file(&path).await?,
        ),
        _ => {
            let store = ctx.read_store().await?;
            (store.admin.describe(), store.admin.check().await?)
        }
    };
    if args.json {
        let differences: Vec<serde_json::Value> = drifts
            .iter()
            .map(|d| {
                json!({
                    "table": d.table(),
                    "kind": d.kind(),
                    "repair": repair_word(d),
                    "message": d.to_string(),
                })
            })
            .collect();
        output::json(&json!({
            "store": store,
            "matches": drifts.is_empty(),
            "differences": differences,
        }))?;
    } else {
        output::line(format!("store: {store}"))?;
        for d in &drifts {
            let what = match d.repair() {
                Repair::InPlace => "`affine-db init` repairs this",
                Repair::Refused => "`affine-db init` cannot repair this in place",
            };
            output::line(format!("drift {d} ({what})"))?;
        }
        if drifts.is_empty() {
            output::line("schema matches the declared one")?;
        } else {
            output::line(format!(
                "{} difference{} from the declared schema",
                drifts.len(),
                if drifts.len() == 1 { "" } else { "s" }
            ))?;
        }
    }
    Ok(if drifts.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
