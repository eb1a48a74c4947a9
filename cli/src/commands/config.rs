//! `config get|set|list|delete`: dynamic parameters (`system_config`).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use affine_db::item::MAX_ITEM_BYTES;
use affine_db::{Error, ParamType, ParamValue};
use clap::Subcommand;

use super::lenient::CorruptArgs;
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
    #[command(allow_negative_numbers = true)]
    Set {
        /// Parameter name
        name: String,
        /// The value, as text of --type (dict and list as JSON; numbers keep
        /// their digits, objects their key order)
        #[arg(
            allow_hyphen_values = true,
            required_unless_present = "value_file",
            conflicts_with = "value_file"
        )]
        value: Option<String>,
        /// Read the value from this file (`-`: standard input), for values
        /// of any size up to the 400 KB item limit
        #[arg(long, value_name = "PATH|-")]
        value_file: Option<PathBuf>,
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
    List {
        #[command(flatten)]
        corrupt: CorruptArgs,
    },
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
            affine_db::keys::validate_part("param_name", &name)?;
            let store = ctx.read_store().await?;
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
            value_file,
            ty,
            description,
            updated_by,
        } => {
            // Parse before opening the store: a bad value writes nothing.
            let ty: ParamType = ty.parse()?;
            let text = match (value, value_file) {
                (Some(v), _) => v,
                (None, Some(path)) => read_value_file(&path)?,
                (None, None) => {
                    return Err(Error::invalid(
                        "value",
                        "give the value as an argument or with --value-file PATH|-",
                    ))
                }
            };
            let value = ParamValue::parse(ty, &text)?;
            affine_db::tables::config::validate_set(&name, &value, &description, &updated_by)?;
            let store = ctx.store().await?;
            let param = store
                .config
                .set_param(&name, value, &description, &updated_by)
                .await?;
            output::json(&param)?;
        }
        Action::List { corrupt } => {
            let store = ctx.read_store().await?;
            return super::read::config_list(&store, corrupt).await;
        }
        Action::Delete { name } => {
            affine_db::keys::validate_part("param_name", &name)?;
            let store = ctx.write_store().await?;
            if !store.config.delete_param(&name).await? {
                return Err(not_found(&name));
            }
            output::line(format!("deleted {name}"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The text of `--value-file` (`-`: stdin). Reading stops past twice the
/// item limit: such a value is too large whatever its type, and the size
/// check reports it.
fn read_value_file(path: &std::path::Path) -> affine_db::Result<String> {
    let cap = 2 * MAX_ITEM_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin().lock().take(cap).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(cap).read_to_end(&mut bytes))
    };
    read.map_err(|e| Error::invalid("--value-file", format!("{}: {e}", path.display())))?;
    if bytes.len() as u64 == cap {
        // Read no further than the cap: the size is more than that.
        return Err(Error::TooLarge {
            what: format!(
                "the value in {} (more than {} bytes)",
                path.display(),
                cap - 1
            ),
            size: None,
            limit: MAX_ITEM_BYTES,
        });
    }
    let mut text = String::from_utf8(bytes).map_err(|_| {
        Error::invalid(
            "--value-file",
            format!("{} is not UTF-8 text", path.display()),
        )
    })?;
    // A file's final newline is not part of the value.
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!(
        "config parameter {name:?} (see `affine-db config list`)"
    ))
}
