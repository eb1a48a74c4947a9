//! Where zstd dictionaries live (DESIGN §5): in `system_config`, in their own
//! partition (`pk = DICTIONARY`), so `config list` never sees them and no
//! config command can delete them. Nothing in affine-db deletes a dictionary:
//! a frame that names one must keep reading for as long as it is stored.
//!
//! - `sk = ZSTD#{id:010}`: one dictionary. `param_value` is a map with its id,
//!   size, the environment it was trained for, what it was trained on, and
//!   the bytes (zstd-compressed, base64) so even a 512 KiB dictionary fits
//!   one DynamoDB item.
//! - `sk = TARGETS`: which dictionary new frames use: a default and one per
//!   environment.
//!
//! Backends call [`sync_if_due`] before they encode and [`ensure_readable`]
//! before they decode; both are written once, here, on top of [`Admin`]'s raw
//! item access.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use serde::Serialize;
use serde_json::{json, Value};

use crate::admin::Admin;
use crate::codec::{frame_dictionary_id, Codec, Dictionary};
use crate::error::{Error, Result};
use crate::item::{Attr, Item, ItemReader};
use crate::keys;
use crate::schema::Table;
use crate::schema::{CONVERSATION_ATTR, PK, SK};
use crate::tables::samples::{Conversation, Sample};

pub use crate::keys::{dictionary_sk, DICTIONARY_PK, DICTIONARY_TARGETS_SK as TARGETS_SK};
/// The `param_type` of a dictionary item.
pub const DICTIONARY_TYPE: &str = "zstd_dictionary";
/// How long a codec writes with the targets it last read before it reads
/// them again, so dictionaries trained by another process are picked up.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(60);

const TABLE: Table = Table::SystemConfig;

/// What is known about a stored dictionary (everything but its bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DictionaryInfo {
    /// The id frames name it by.
    pub id: u32,
    /// Its size in bytes.
    pub size: u64,
    /// The environment it was trained on, or `None` for all environments.
    pub env: Option<String>,
    /// How many conversations it was trained on.
    pub samples: u64,
    /// How many bytes of conversation JSON it was trained on.
    pub sample_bytes: u64,
    /// When it was stored (seconds since the epoch).
    pub created_at: i64,
    /// Who stored it.
    pub created_by: String,
}

/// Which dictionaries new frames use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Targets {
    /// The dictionary of every environment without its own.
    pub default: Option<u32>,
    /// Per-environment dictionaries.
    pub envs: BTreeMap<String, u32>,
}

impl Targets {
    /// The dictionary new frames of `env` use.
    pub fn for_env(&self, env: &str) -> Option<u32> {
        self.envs.get(env).copied().or(self.default)
    }

    /// Every dictionary id a target names.
    pub fn ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .default
            .into_iter()
            .chain(self.envs.values().copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// An item of the `DICTIONARY` partition, in `system_config`'s attribute
/// layout (so `sqlite3` and the DynamoDB console read it like a parameter).
pub(crate) struct PartitionItem<'a> {
    /// Its sort key.
    pub sk: String,
    /// Its `param_name`.
    pub name: String,
    /// Its `param_type`.
    pub param_type: &'a str,
    /// Its `param_value`, as JSON.
    pub value: Value,
    /// Its `description`.
    pub description: String,
    /// Its `updated_at` (seconds).
    pub updated_at: i64,
    /// Its `updated_by`, if recorded.
    pub updated_by: Option<&'a str>,
}

impl PartitionItem<'_> {
    /// The raw item.
    pub fn into_item(self) -> Item {
        let mut item = Item::new();
        item.insert(PK.into(), Attr::s(DICTIONARY_PK));
        item.insert(SK.into(), Attr::S(self.sk));
        item.insert("param_name".into(), Attr::S(self.name));
        item.insert("param_type".into(), Attr::s(self.param_type));
        item.insert("param_value".into(), Attr::from_json(&self.value));
        item.insert("description".into(), Attr::S(self.description));
        item.insert("updated_at".into(), Attr::int(self.updated_at));
        if let Some(by) = self.updated_by {
            item.insert("updated_by".into(), Attr::s(by));
        }
        item
    }
}

/// The `param_value` (as JSON) of the `DICTIONARY` partition item at `sk`,
/// if the item exists and has one.
pub(crate) async fn partition_value(admin: &dyn Admin, sk: &str) -> Result<Option<Value>> {
    let items = admin
        .get_items(TABLE, vec![(DICTIONARY_PK.into(), sk.into())])
        .await?;
    items
        .first()
        .and_then(|i| i.get("param_value"))
        .map(Attr::to_json)
        .transpose()
}

fn dictionary_item(dict: &Dictionary, info: &DictionaryInfo) -> Result<Item> {
    let packed = zstd::bulk::compress(&dict.bytes, 19)
        .map_err(|e| Error::backend(format!("zstd compress dictionary: {e}")))?;
    let value = json!({
        "id": dict.id,
        "size": dict.bytes.len(),
        "env": info.env,
        "samples": info.samples,
        "sample_bytes": info.sample_bytes,
        "encoding": "zstd+base64",
        "bytes": b64().encode(packed),
    });
    let mut item = PartitionItem {
        sk: dictionary_sk(dict.id),
        name: format!("zstd_dictionary_{}", dict.id),
        param_type: DICTIONARY_TYPE,
        value,
        description: match &info.env {
            Some(env) => format!("zstd dictionary for {env}"),
            None => "zstd dictionary".into(),
        },
        updated_at: info.created_at,
        updated_by: Some(&info.created_by),
    }
    .into_item();
    item.insert("version".into(), Attr::int(1));
    Ok(item)
}

fn corrupt(id: &str, what: &str) -> Error {
    Error::corrupt(format!("stored zstd dictionary {id}: {what}"))
}

fn parse_dictionary(item: &Item) -> Result<(Dictionary, DictionaryInfo)> {
    let r = ItemReader::new("system_config", item);
    let name = r.s("param_name")?;
    let value = match item.get("param_value") {
        Some(a) => a.to_json()?,
        None => return Err(corrupt(&name, "no param_value")),
    };
    let num = |k: &str| value.get(k).and_then(Value::as_u64);
    let id = num("id")
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| corrupt(&name, "no id"))?;
    if value.get("encoding").and_then(Value::as_str) != Some("zstd+base64") {
        return Err(corrupt(&name, "unknown encoding"));
    }
    let packed = value
        .get("bytes")
        .and_then(Value::as_str)
        .and_then(|s| b64().decode(s).ok())
        .ok_or_else(|| corrupt(&name, "bytes are not base64"))?;
    let bytes = zstd::stream::decode_all(packed.as_slice())
        .map_err(|e| corrupt(&name, &format!("bytes do not decompress: {e}")))?;
    let dict = Dictionary::from_bytes(bytes).map_err(|_| corrupt(&name, "not a dictionary"))?;
    if dict.id != id {
        return Err(corrupt(&name, "id does not match its bytes"));
    }
    let info = DictionaryInfo {
        id,
        size: dict.bytes.len() as u64,
        env: value.get("env").and_then(Value::as_str).map(str::to_string),
        samples: num("samples").unwrap_or_default(),
        sample_bytes: num("sample_bytes").unwrap_or_default(),
        created_at: r.opt_i64("updated_at")?.unwrap_or_default(),
        created_by: r.opt_s("updated_by")?.unwrap_or_default(),
    };
    Ok((dict, info))
}

/// Stores `dict` (idempotent: storing the same dictionary again changes
/// nothing and returns `false`). A different dictionary under the same id
/// is a conflict, and the stored one is kept.
pub async fn store(admin: &dyn Admin, dict: &Dictionary, info: &DictionaryInfo) -> Result<bool> {
    if let Some(env) = &info.env {
        keys::validate_part("env", env)?;
    }
    if let Some((stored, _)) = load(admin, dict.id).await? {
        if stored.bytes == dict.bytes {
            return Ok(false);
        }
        return Err(Error::Conflict(format!(
            "a different zstd dictionary with id {} is already stored",
            dict.id
        )));
    }
    admin
        .put_items(TABLE, vec![dictionary_item(dict, info)?])
        .await?;
    Ok(true)
}

/// The stored dictionary `id`, if any.
pub async fn load(admin: &dyn Admin, id: u32) -> Result<Option<(Dictionary, DictionaryInfo)>> {
    let items = admin
        .get_items(TABLE, vec![(DICTIONARY_PK.into(), dictionary_sk(id))])
        .await?;
    items.first().map(parse_dictionary).transpose()
}

/// Every stored dictionary, by id.
pub async fn list(admin: &dyn Admin) -> Result<Vec<DictionaryInfo>> {
    let mut out = Vec::new();
    for item in crate::admin::scan_all(admin, TABLE).await? {
        let dictionary = matches!(item.get(PK), Some(Attr::S(pk)) if pk == DICTIONARY_PK)
            && matches!(item.get("param_type"), Some(Attr::S(t)) if t == DICTIONARY_TYPE);
        if dictionary {
            out.push(parse_dictionary(&item)?.1);
        }
    }
    out.sort_by_key(|i| i.id);
    Ok(out)
}

/// The stored targets (none set: no dictionary is used).
pub async fn targets(admin: &dyn Admin) -> Result<Targets> {
    let Some(value) = partition_value(admin, TARGETS_SK).await? else {
        return Ok(Targets::default());
    };
    let id = |v: &Value| {
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| Error::corrupt("zstd dictionary targets: an id is not a number"))
    };
    let default = match value.get("default") {
        None | Some(Value::Null) => None,
        Some(v) => Some(id(v)?),
    };
    let mut envs = BTreeMap::new();
    if let Some(Value::Object(m)) = value.get("envs") {
        for (env, v) in m {
            envs.insert(env.clone(), id(v)?);
        }
    }
    Ok(Targets { default, envs })
}

/// Makes stored dictionary `id` the one new frames use: for `env` only, or
/// for every environment without its own when `env` is `None`. An id that
/// is not stored is not-found and changes nothing. Returns the new targets.
pub async fn activate(
    admin: &dyn Admin,
    id: u32,
    env: Option<&str>,
    by: &str,
    now_s: i64,
) -> Result<Targets> {
    if let Some(env) = env {
        keys::validate_part("env", env)?;
    }
    if load(admin, id).await?.is_none() {
        return Err(Error::NotFound(format!(
            "zstd dictionary {id} is not stored"
        )));
    }
    let mut t = targets(admin).await?;
    match env {
        Some(env) => {
            t.envs.insert(env.to_string(), id);
        }
        None => t.default = Some(id),
    }
    let item = PartitionItem {
        sk: TARGETS_SK.into(),
        name: "zstd_dictionary_targets".into(),
        param_type: "dict",
        value: json!({ "default": t.default, "envs": t.envs }),
        description: "zstd dictionaries new conversations are written with".into(),
        updated_at: now_s,
        updated_by: Some(by),
    }
    .into_item();
    admin.put_items(TABLE, vec![item]).await?;
    Ok(t)
}

/// Loads the targets and their dictionaries into `codec`, so new frames use
/// them. Returns the targets.
pub async fn sync(codec: &Codec, admin: &dyn Admin) -> Result<Targets> {
    let t = targets(admin).await?;
    for id in t.ids() {
        if !codec.has_dictionary(id) {
            let (dict, _) = load(admin, id).await?.ok_or_else(|| {
                Error::corrupt(format!(
                    "zstd dictionary {id} is a target but is not stored"
                ))
            })?;
            codec.add_dictionary(&dict);
        }
    }
    codec.set_targets(t.default, &t.envs)?;
    codec.mark_synced();
    Ok(t)
}

/// [`sync`] when the codec last synchronised more than [`SYNC_INTERVAL`] ago.
///
/// A failed sync never fails the write it precedes: frames name their
/// dictionary, so writing with the dictionaries already loaded (or none) is
/// always correct, only less compact. The failure is logged and the next
/// attempt is one interval later, so a throttled store is not asked again on
/// every write.
pub async fn sync_if_due(codec: &Codec, admin: &dyn Admin) {
    if codec.sync_due(SYNC_INTERVAL) {
        if let Err(e) = sync(codec, admin).await {
            codec.mark_synced();
            tracing::warn!(
                error = %e,
                "could not read the zstd dictionary targets; writing with the dictionaries already loaded"
            );
        }
    }
}

/// Loads every stored dictionary the conversations of these sample items
/// name and `codec` lacks. A dictionary that is not stored is left missing:
/// decoding that frame then fails as corrupt data.
pub async fn ensure_readable(codec: &Codec, admin: &dyn Admin, items: &[Item]) -> Result<()> {
    let mut missing: Vec<u32> = items
        .iter()
        .filter_map(|i| match i.get(CONVERSATION_ATTR) {
            Some(Attr::B(frame)) => frame_dictionary_id(frame),
            _ => None,
        })
        .filter(|id| !codec.has_dictionary(*id))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    for id in missing {
        if let Some((dict, _)) = load(admin, id).await? {
            codec.add_dictionary(&dict);
        }
    }
    Ok(())
}

/// Stored sample items as samples. With [`Conversation::Include`] the
/// dictionaries the frames name are loaded first ([`ensure_readable`]) and
/// the conversations decoded; with [`Conversation::Skip`] they are left out.
/// What both backends' sample reads end with.
pub async fn decode_samples(
    codec: &Codec,
    admin: &dyn Admin,
    items: &[Item],
    conversation: Conversation,
) -> Result<Vec<Sample>> {
    let codec = match conversation {
        Conversation::Include => {
            ensure_readable(codec, admin, items).await?;
            Some(codec)
        }
        Conversation::Skip => None,
    };
    items.iter().map(|i| Sample::from_item(i, codec)).collect()
}
