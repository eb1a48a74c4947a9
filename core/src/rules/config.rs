//! `system_config` state changes: a set stores the value with its type and
//! counts the version (1 when new, + 1 per set, atomically).

use crate::cond::Cond;
use crate::error::{Error, Result};
use crate::item::Attr;
use crate::keys;
use crate::mutation::{Action, Effect, Rule};
use crate::schema::{Table, PK};
use crate::tables::config::{validate_set, ConfigParam, ParamValue, EXACT_JSON_ATTR};

const T: Table = Table::SystemConfig;

/// The validated `(pk, sk)` of a parameter.
pub fn param_key(param_name: &str) -> Result<(String, String)> {
    keys::validate_part("param_name", param_name)?;
    Ok((keys::CONFIG_PK.to_string(), keys::config_sk(param_name)))
}

/// Setting a parameter at `now_s` (checked first by
/// [`validate_set`](crate::tables::config::validate_set), size included):
/// value, its type, description and who set it; `version` = previous + 1 (1 when new) as an atomic counter, so
/// concurrent sets never repeat a version.
pub fn set_param(
    param_name: &str,
    value: &ParamValue,
    description: &str,
    updated_by: &str,
    now_s: i64,
) -> Result<Rule<ConfigParam>> {
    validate_set(param_name, value, description, updated_by)?;
    let (pk, sk) = param_key(param_name)?;
    Ok(Rule::new(T, pk, sk, |_| {
        Err(Error::backend(format!(
            "{T}: an unconditional update did not apply"
        )))
    })
    .branch(
        Cond::True,
        Effect::Update(vec![
            ("param_name", Action::Set(Attr::s(param_name))),
            ("param_value", Action::Set(value.to_attr())),
            (
                EXACT_JSON_ATTR,
                Action::Set(value.exact_json().map_or(Attr::Null, Attr::S)),
            ),
            (
                "param_type",
                Action::Set(Attr::s(value.param_type().as_str())),
            ),
            ("description", Action::Set(Attr::s(description))),
            ("updated_at", Action::Set(Attr::int(now_s))),
            ("updated_by", Action::Set(Attr::s(updated_by))),
            ("version", Action::Add(1)),
        ]),
        |new| ConfigParam::from_item(super::returned(T.name(), new)?),
    ))
}

/// The items of the config partition (not the dictionaries' partition).
pub fn params() -> Cond {
    Cond::eq_s(PK, keys::CONFIG_PK)
}
