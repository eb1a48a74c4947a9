//! `system_config`: dynamic parameters with versions.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::item::{Attr, Item, ItemReader};
use crate::keys;
use crate::order::{Field, Key, Order};
use crate::schema::{PK, SK};

const TABLE: &str = "system_config";

/// The declared type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// Text.
    Str,
    /// 64-bit integer.
    Int,
    /// Finite float.
    Float,
    /// Boolean.
    Bool,
    /// JSON object.
    Dict,
    /// JSON array.
    List,
}

impl ParamType {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::Str => "str",
            ParamType::Int => "int",
            ParamType::Float => "float",
            ParamType::Bool => "bool",
            ParamType::Dict => "dict",
            ParamType::List => "list",
        }
    }
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ParamType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "str" => ParamType::Str,
            "int" => ParamType::Int,
            "float" => ParamType::Float,
            "bool" => ParamType::Bool,
            "dict" => ParamType::Dict,
            "list" => ParamType::List,
            _ => {
                return Err(Error::invalid(
                    "param_type",
                    format!("{s:?} is not one of str, int, float, bool, dict, list"),
                ))
            }
        })
    }
}

/// A typed parameter value; its variant is its `param_type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// `str`.
    Str(String),
    /// `int`.
    Int(i64),
    /// `float` (finite).
    Float(f64),
    /// `bool`.
    Bool(bool),
    /// `dict`.
    Dict(serde_json::Map<String, Value>),
    /// `list`.
    List(Vec<Value>),
}

impl ParamValue {
    /// The type this value has.
    pub fn param_type(&self) -> ParamType {
        match self {
            ParamValue::Str(_) => ParamType::Str,
            ParamValue::Int(_) => ParamType::Int,
            ParamValue::Float(_) => ParamType::Float,
            ParamValue::Bool(_) => ParamType::Bool,
            ParamValue::Dict(_) => ParamType::Dict,
            ParamValue::List(_) => ParamType::List,
        }
    }

    /// Parses command-line text as a value of `ty` (dict and list as JSON,
    /// bool as true/false/1/0/yes/no). Text that does not match is an input error.
    pub fn parse(ty: ParamType, text: &str) -> Result<ParamValue> {
        let bad = |what: &str| {
            Error::invalid(
                "param_value",
                format!("{text:?} is not {what}; pass a value matching --type {ty}"),
            )
        };
        let v = match ty {
            ParamType::Str => ParamValue::Str(text.to_string()),
            ParamType::Int => ParamValue::Int(text.trim().parse().map_err(|_| bad("an integer"))?),
            ParamType::Float => ParamValue::Float(
                text.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| bad("a finite number"))?,
            ),
            ParamType::Bool => ParamValue::Bool(match text.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => return Err(bad("a boolean (true/false)")),
            }),
            ParamType::Dict => match serde_json::from_str(text) {
                Ok(Value::Object(m)) => ParamValue::Dict(m),
                _ => return Err(bad("a JSON object")),
            },
            ParamType::List => match serde_json::from_str(text) {
                Ok(Value::Array(a)) => ParamValue::List(a),
                _ => return Err(bad("a JSON array")),
            },
        };
        v.validate()?;
        Ok(v)
    }

    /// Rejects non-finite floats.
    pub fn validate(&self) -> Result<()> {
        match self {
            ParamValue::Float(f) if !f.is_finite() => Err(Error::invalid(
                "param_value",
                format!("{f} is not a finite number"),
            )),
            _ => Ok(()),
        }
    }

    /// The value as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            ParamValue::Str(s) => Value::String(s.clone()),
            ParamValue::Int(i) => Value::from(*i),
            ParamValue::Float(f) => Value::from(*f),
            ParamValue::Bool(b) => Value::Bool(*b),
            ParamValue::Dict(m) => Value::Object(m.clone()),
            ParamValue::List(l) => Value::Array(l.clone()),
        }
    }

    /// The stored attribute (S, N, BOOL, M or L).
    pub fn to_attr(&self) -> Attr {
        match self {
            ParamValue::Str(s) => Attr::s(s),
            ParamValue::Int(i) => Attr::int(*i),
            ParamValue::Float(f) => Attr::float(*f),
            ParamValue::Bool(b) => Attr::Bool(*b),
            ParamValue::Dict(_) | ParamValue::List(_) => Attr::from_json(&self.to_json()),
        }
    }

    /// Reads a stored attribute as `ty`; a mismatch is corrupt data.
    pub fn from_attr(ty: ParamType, attr: &Attr) -> Result<ParamValue> {
        let mismatch = || {
            Error::corrupt(format!(
                "{TABLE}: param_value is {} but param_type is {ty}",
                attr.type_name()
            ))
        };
        Ok(match (ty, attr) {
            (ParamType::Str, Attr::S(s)) => ParamValue::Str(s.clone()),
            (ParamType::Int, Attr::N(_)) => match attr.to_json()? {
                Value::Number(n) if n.is_i64() => ParamValue::Int(n.as_i64().unwrap_or_default()),
                Value::Number(n) => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 => ParamValue::Int(f as i64),
                    _ => return Err(mismatch()),
                },
                _ => return Err(mismatch()),
            },
            (ParamType::Float, Attr::N(n)) => ParamValue::Float(
                n.parse()
                    .ok()
                    .filter(|f: &f64| f.is_finite())
                    .ok_or_else(mismatch)?,
            ),
            (ParamType::Bool, Attr::Bool(b)) => ParamValue::Bool(*b),
            (ParamType::Dict, Attr::M(_)) => match attr.to_json()? {
                Value::Object(m) => ParamValue::Dict(m),
                _ => return Err(mismatch()),
            },
            (ParamType::List, Attr::L(_)) => match attr.to_json()? {
                Value::Array(a) => ParamValue::List(a),
                _ => return Err(mismatch()),
            },
            _ => return Err(mismatch()),
        })
    }
}

/// A stored parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigParam {
    /// Name (key part).
    pub param_name: String,
    /// Value.
    pub param_value: ParamValue,
    /// Declared type (matches the value).
    pub param_type: ParamType,
    /// What it is for.
    pub description: String,
    /// Last change, epoch seconds.
    pub updated_at: i64,
    /// Who changed it last.
    pub updated_by: String,
    /// 1 when created, +1 per set.
    pub version: i64,
}

impl ConfigParam {
    /// The stored item.
    pub fn to_item(&self) -> Item {
        let mut item = Item::new();
        item.insert(PK.into(), Attr::s(keys::CONFIG_PK));
        item.insert(SK.into(), Attr::S(keys::config_sk(&self.param_name)));
        item.insert("param_name".into(), Attr::s(&self.param_name));
        item.insert("param_value".into(), self.param_value.to_attr());
        item.insert("param_type".into(), Attr::s(self.param_type.as_str()));
        item.insert("description".into(), Attr::s(&self.description));
        item.insert("updated_at".into(), Attr::int(self.updated_at));
        item.insert("updated_by".into(), Attr::s(&self.updated_by));
        item.insert("version".into(), Attr::int(self.version));
        item
    }

    /// Reads a stored item.
    pub fn from_item(item: &Item) -> Result<ConfigParam> {
        let r = ItemReader::new(TABLE, item);
        let param_type: ParamType = r
            .s("param_type")?
            .parse()
            .map_err(|_| Error::corrupt(format!("{TABLE}: unknown param_type")))?;
        let value = r
            .get("param_value")
            .ok_or_else(|| Error::corrupt(format!("{TABLE}: param_value is missing")))?;
        Ok(ConfigParam {
            param_name: r.s("param_name")?,
            param_value: ParamValue::from_attr(param_type, value)?,
            param_type,
            description: r.opt_s("description")?.unwrap_or_default(),
            updated_at: r.opt_i64("updated_at")?.unwrap_or_default(),
            updated_by: r.opt_s("updated_by")?.unwrap_or_default(),
            version: r.opt_i64("version")?.unwrap_or_default(),
        })
    }
}

/// The order of [`ConfigStore::list_all_configs`]: by name.
pub static BY_NAME: Order<ConfigParam> = Order {
    fields: &[Field {
        attr: "param_name",
        descending: false,
        get: |p| Key::str(&p.param_name),
    }],
};

/// Dynamic configuration.
#[async_trait]
pub trait ConfigStore: Send + Sync {
    /// Sets a parameter: version is the previous + 1 (1 when new), atomically,
    /// so concurrent sets never repeat a version. Returns what was stored.
    async fn set_param(
        &self,
        param_name: &str,
        value: ParamValue,
        description: &str,
        updated_by: &str,
    ) -> Result<ConfigParam>;

    /// One parameter.
    async fn get_param(&self, param_name: &str) -> Result<Option<ConfigParam>>;

    /// A parameter's value, or `default` when it is not set.
    async fn get_param_value(&self, param_name: &str, default: ParamValue) -> Result<ParamValue> {
        Ok(self
            .get_param(param_name)
            .await?
            .map_or(default, |p| p.param_value))
    }

    /// Every parameter's value by name.
    async fn get_all_params(&self) -> Result<BTreeMap<String, ParamValue>> {
        Ok(self
            .list_all_configs()
            .await?
            .into_iter()
            .map(|p| (p.param_name, p.param_value))
            .collect())
    }

    /// Deletes a parameter; whether it existed.
    async fn delete_param(&self, param_name: &str) -> Result<bool>;

    /// Every parameter, by name.
    async fn list_all_configs(&self) -> Result<Vec<ConfigParam>>;
}

/// Checks a parameter name and value before a set; nothing is written on error.
pub fn validate_param(param_name: &str, value: &ParamValue) -> Result<()> {
    keys::validate_part("param_name", param_name)?;
    value.validate()
}
