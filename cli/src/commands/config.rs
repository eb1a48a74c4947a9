//! `config get|set|list|delete`: dynamic parameters (`system_config`).

use std::process::ExitCode;

use affine_db::{Error, ParamType, ParamValue};
use clap::Subcommand;

use super::{CmdResult, Context};
use crate::output;

/// Arguments of `config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Print one parameter as a JSON object
    Get {
        /// Parameter name
        name: String,
    },
    /// Set a parameter (its version goes up by one)
    Set {
        /// Parameter name
        name: String,
        /// The value, as text of --type (dict and list as JSON)
        value: String,
        /// Value type: int, float, str, bool, dict or list
        #[arg(long = "type", value_name = "TYPE")]
        ty: String,
        /// What the parameter is for
        #[arg(long, default_value = "")]
        description: String,
        /// Who changed it
        #[arg(long, default_value = "affine-db-cli")]
        updated_by: String,
    },
    /// Print every parameter as a JSON array
    List,
    /// Delete a parameter
    Delete {
        /// Parameter name
        name: String,
    },
}

/// Runs one config action.
pub async fn run(args: Args, ctx: &Context) -> CmdResult {
    match args.action {
        Action::Get { name } => {
            let store = ctx.store().await?;
            let param = store
                .config
                .get_param(&name)
                .await?
                .ok_or_else(|| not_found(&name))?;
            output::json(&param)?;
        }
        Action::Set {
            name,
            value,
            ty,
            description,
            updated_by,
        } => {
            // Parse before opening the store: a bad value writes nothing.
            let ty: ParamType = ty.parse()?;
            let value = ParamValue::parse(ty, &value)?;
            affine_db::tables::config::validate_param(&name, &value)?;
            let store = ctx.store().await?;
            let param = store
                .config
                .set_param(&name, value, &description, &updated_by)
                .await?;
            output::json(&param)?;
        }
        Action::List => {
            let store = ctx.store().await?;
            output::json(&store.config.list_all_configs().await?)?;
        }
        Action::Delete { name } => {
            let store = ctx.store().await?;
            if !store.config.delete_param(&name).await? {
                return Err(not_found(&name));
            }
            output::line(format!("deleted {name}"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!(
        "config parameter {name:?} (see `affine-db config list`)"
    ))
}
