//! `system_config`: dynamic parameters with versions.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::item::{check_item_size, Attr, Item, ItemReader};
use crate::keys;
use crate::order::{Field, Key, Order};
use crate::schema::{PK, SK};

/// The table, as errors name it (the schema's name).
const TABLE: &str = crate::schema::Table::SystemConfig.name();

/// The declared type of a parameter: one of the six this build writes, or
/// (read only) another name the original Python layer accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
    /// A type name outside the six, as stored by another writer (the
    /// original accepted any string). Read back with its stored value
    /// ([`ParamValue::Other`]); never written by this build.
    Other(String),
}

impl ParamType {
    /// The six types this build writes.
    pub const KNOWN: [ParamType; 6] = [
        ParamType::Str,
        ParamType::Int,
        ParamType::Float,
        ParamType::Bool,
        ParamType::Dict,
        ParamType::List,
    ];

    /// The stored text.
    pub fn as_str(&self) -> &str {
        match self {
            ParamType::Str => "str",
            ParamType::Int => "int",
            ParamType::Float => "float",
            ParamType::Bool => "bool",
            ParamType::Dict => "dict",
            ParamType::List => "list",
            ParamType::Other(name) => name,
        }
    }

    /// The type a stored `param_type` names: one of the six, else
    /// [`ParamType::Other`]. (User input goes through [`FromStr`], which
    /// accepts only the six.)
    pub fn from_stored(s: &str) -> ParamType {
        s.parse()
            .unwrap_or_else(|_| ParamType::Other(s.to_string()))
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

impl Serialize for ParamType {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ParamType {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(ParamType::from_stored(&s))
    }
}

/// A typed parameter value; its variant is its `param_type`.
///
/// Serialized as the bare JSON value (`10`, `"x"`, `{...}`); deserialized
/// from one by its JSON type (an integer is `Int`, any other number
/// `Float`). JSON values keep their key order and number digits.
#[derive(Debug, Clone, PartialEq)]
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
    /// A value stored with a `param_type` outside the six (see
    /// [`ParamType::Other`]), as stored. Read only: setting one is an input
    /// error.
    Other {
        /// The stored type name.
        param_type: String,
        /// The stored value, as JSON.
        value: Value,
    },
}

impl Serialize for ParamValue {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        match self {
            ParamValue::Str(s) => serializer.serialize_str(s),
            ParamValue::Int(i) => serializer.serialize_i64(*i),
            ParamValue::Float(f) => serializer.serialize_f64(*f),
            ParamValue::Bool(b) => serializer.serialize_bool(*b),
            ParamValue::Dict(m) => m.serialize(serializer),
            ParamValue::List(l) => l.serialize(serializer),
            ParamValue::Other { value, .. } => value.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ParamValue {
    /// Through [`Value`] (not `#[serde(untagged)]`, whose buffering loses
    /// exact numbers under serde_json's `arbitrary_precision`).
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        match Value::deserialize(deserializer)? {
            Value::String(s) => Ok(ParamValue::Str(s)),
            Value::Bool(b) => Ok(ParamValue::Bool(b)),
            Value::Number(n) => match n.as_i64() {
                Some(i) if !is_float_text(&n) => Ok(ParamValue::Int(i)),
                _ => n
                    .as_f64()
                    .filter(|f| f.is_finite())
                    .map(ParamValue::Float)
                    .ok_or_else(|| D::Error::custom(format!("{n} is not a finite number"))),
            },
            Value::Object(m) => Ok(ParamValue::Dict(m)),
            Value::Array(a) => Ok(ParamValue::List(a)),
            Value::Null => Err(D::Error::custom("a parameter value cannot be null")),
        }
    }
}

/// Whether a JSON number is written as a float (`1.0`, `1e3`).
fn is_float_text(n: &serde_json::Number) -> bool {
    n.to_string().contains(['.', 'e', 'E'])
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
            ParamValue::Other { param_type, .. } => ParamType::Other(param_type.clone()),
        }
    }

    /// Parses command-line text as a value of `ty` (dict and list as JSON,
    /// keeping key order and number digits; bool as true/false/1/0/yes/no).
    /// Text that does not match, or a value one backend could not store
    /// exactly, is an input error.
    pub fn parse(ty: ParamType, text: &str) -> Result<ParamValue> {
        let bad = |what: &str| {
            let shown: String = text.chars().take(80).collect();
            let more = if shown.len() < text.len() { "..." } else { "" };
            Error::invalid(
                "param_value",
                format!("{shown:?}{more} is not {what}; pass a value matching --type {ty}"),
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
            ParamType::Other(name) => {
                return Err(Error::invalid(
                    "param_type",
                    format!("{name:?} is not one of str, int, float, bool, dict, list"),
                ))
            }
        };
        v.validate()?;
        Ok(v)
    }

    /// Checks the value can be written: floats finite, and what both
    /// backends store exactly ([`Attr::check_storable`]: numbers within 38
    /// significant digits and DynamoDB's range, no empty object keys, at
    /// most 32 levels of nesting). [`ParamValue::Other`] is read only.
    pub fn validate(&self) -> Result<()> {
        match self {
            ParamValue::Float(f) if !f.is_finite() => Err(Error::invalid(
                "param_value",
                format!("{f} is not a finite number"),
            )),
            ParamValue::Other { param_type, .. } => Err(Error::invalid(
                "param_type",
                format!(
                    "{param_type:?} is not one of str, int, float, bool, dict, list; \
                     values of other types are read only"
                ),
            )),
            _ => self.to_attr().check_storable("param_value"),
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
            ParamValue::Other { value, .. } => value.clone(),
        }
    }

    /// The exact JSON text of a `dict` or `list` value when it says more
    /// than its stored attribute reads back as (numbers in canonical form,
    /// maps with sorted keys), else `None` (see [`EXACT_JSON_ATTR`]).
    pub fn exact_json(&self) -> Option<String> {
        if !matches!(self, ParamValue::Dict(_) | ParamValue::List(_)) {
            return None;
        }
        let exact = serde_json::to_string(&self.to_json()).ok()?;
        let stored = sorted(self.to_attr().to_json().ok()?);
        (serde_json::to_string(&stored).ok()? != exact).then_some(exact)
    }

    /// The stored attribute (S, N, BOOL, M or L).
    pub fn to_attr(&self) -> Attr {
        match self {
            ParamValue::Str(s) => Attr::s(s),
            ParamValue::Int(i) => Attr::int(*i),
            ParamValue::Float(f) => Attr::float(*f),
            ParamValue::Bool(b) => Attr::Bool(*b),
            ParamValue::Dict(_) | ParamValue::List(_) | ParamValue::Other { .. } => {
                Attr::from_json(&self.to_json())
            }
        }
    }

    /// Reads a stored attribute as `ty`; a mismatch is corrupt data. A type
    /// outside the six reads as [`ParamValue::Other`] with the value as
    /// stored.
    pub fn from_attr(ty: &ParamType, attr: &Attr) -> Result<ParamValue> {
        let mismatch = || {
            Error::corrupt(format!(
                "{TABLE}: param_value is {} but param_type is {ty}",
                attr.type_name()
            ))
        };
        Ok(match (ty, attr) {
            (ParamType::Str, Attr::S(s)) => ParamValue::Str(s.clone()),
            (ParamType::Int, Attr::N(n)) => match n.trim().parse::<i64>() {
                Ok(i) => ParamValue::Int(i),
                Err(_) => match n.trim().parse::<f64>() {
                    Ok(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => ParamValue::Int(f as i64),
                    _ => return Err(mismatch()),
                },
            },
            (ParamType::Float, Attr::N(n)) => ParamValue::Float(
                n.trim()
                    .parse()
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
            (ParamType::Other(name), _) => ParamValue::Other {
                param_type: name.clone(),
                value: attr.to_json()?,
            },
            _ => return Err(mismatch()),
        })
    }
}

/// The attribute beside a `dict` or `list` `param_value` holding the value
/// as exact JSON text (number digits as written, `1.0` included, and key
/// order), written only when that text says more than the stored
/// `param_value` reads back as (canonical numbers, keys sorted). The
/// original's readers ignore it; it is used only while it still agrees with
/// `param_value` (another writer may have changed the value since).
pub const EXACT_JSON_ATTR: &str = "param_value_json";

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
        if let Some(exact) = self.param_value.exact_json() {
            item.insert(EXACT_JSON_ATTR.into(), Attr::S(exact));
        }
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
        let param_type = ParamType::from_stored(&r.s("param_type")?);
        let value = r
            .get("param_value")
            .ok_or_else(|| Error::corrupt(format!("{TABLE}: param_value is missing")))?;
        let mut param_value = ParamValue::from_attr(&param_type, value)?;
        if let Some(exact) =
            exact_value(&param_type, value, r.opt_s(EXACT_JSON_ATTR).ok().flatten())
        {
            param_value = exact;
        }
        Ok(ConfigParam {
            param_name: r.s("param_name")?,
            param_value,
            param_type,
            description: r.opt_s("description")?.unwrap_or_default(),
            updated_at: r.opt_i64("updated_at")?.unwrap_or_default(),
            updated_by: r.opt_s("updated_by")?.unwrap_or_default(),
            version: r.opt_i64("version")?.unwrap_or_default(),
        })
    }
}

/// The value in the exact JSON text stored beside `param_value`, when there
/// is one, it parses as the declared type, and it still agrees with
/// `param_value` (same value once numbers are canonical, key order aside).
fn exact_value(ty: &ParamType, stored: &Attr, exact: Option<String>) -> Option<ParamValue> {
    let v: Value = serde_json::from_str(&exact?).ok()?;
    if Attr::from_json(&v) != *stored {
        return None;
    }
    match (ty, v) {
        (ParamType::Dict, Value::Object(m)) => Some(ParamValue::Dict(m)),
        (ParamType::List, Value::Array(a)) => Some(ParamValue::List(a)),
        _ => None,
    }
}

/// A JSON value with every object's keys sorted (by their UTF-8 bytes), as
/// a map reads back from DynamoDB.
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
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

/// Everything [`ConfigStore::set_param`] checks before writing, on every
/// backend: [`validate_param`], then the size of the item it would store
/// ([`Error::TooLarge`] over DynamoDB's 400 KB, whatever the backend).
pub fn validate_set(
    param_name: &str,
    value: &ParamValue,
    description: &str,
    updated_by: &str,
) -> Result<()> {
    validate_param(param_name, value)?;
    let probe = ConfigParam {
        param_name: param_name.to_string(),
        param_type: value.param_type(),
        param_value: value.clone(),
        description: description.to_string(),
        updated_at: i64::MAX,
        updated_by: updated_by.to_string(),
        version: i64::MAX,
    };
    check_item_size(&format!("{TABLE} parameter {param_name}"), &probe.to_item())
}
