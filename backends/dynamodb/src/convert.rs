//! [`affine_db_core::Item`] ↔ the SDK's `HashMap<String, AttributeValue>`, in
//! this one place.

use std::collections::HashMap;

use affine_db_core::{Attr, Error, Item, Result};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

/// The SDK's item type.
pub type AvMap = HashMap<String, AttributeValue>;

/// One attribute to the SDK's value.
pub fn to_av(attr: &Attr) -> AttributeValue {
    match attr {
        Attr::S(s) => AttributeValue::S(s.clone()),
        Attr::N(n) => AttributeValue::N(n.clone()),
        Attr::B(b) => AttributeValue::B(Blob::new(b.clone())),
        Attr::Bool(b) => AttributeValue::Bool(*b),
        Attr::Null => AttributeValue::Null(true),
        Attr::M(m) => AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), to_av(v))).collect()),
        Attr::L(l) => AttributeValue::L(l.iter().map(to_av).collect()),
    }
}

/// The SDK's value to an attribute, numbers in canonical form (what
/// DynamoDB returns anyway; emulators may return the text written). Sets read as lists. DynamoDB keeps no
/// order in maps, so a map reads back with its keys sorted (by their UTF-8
/// bytes): the same order whatever order the service returned.
pub fn from_av(av: &AttributeValue) -> Result<Attr> {
    Ok(match av {
        AttributeValue::S(s) => Attr::S(s.clone()),
        AttributeValue::N(n) => Attr::N(affine_db_core::number::canonical_or_same(n)),
        AttributeValue::B(b) => Attr::B(b.as_ref().to_vec()),
        AttributeValue::Bool(b) => Attr::Bool(*b),
        AttributeValue::Null(_) => Attr::Null,
        AttributeValue::M(m) => {
            let mut entries: Vec<(&String, &AttributeValue)> = m.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            Attr::M(
                entries
                    .into_iter()
                    .map(|(k, v)| Ok((k.clone(), from_av(v)?)))
                    .collect::<Result<_>>()?,
            )
        }
        AttributeValue::L(l) => Attr::L(l.iter().map(from_av).collect::<Result<_>>()?),
        AttributeValue::Ss(v) => Attr::L(v.iter().cloned().map(Attr::S).collect()),
        AttributeValue::Ns(v) => Attr::L(
            v.iter()
                .map(|n| Attr::N(affine_db_core::number::canonical_or_same(n)))
                .collect(),
        ),
        AttributeValue::Bs(v) => Attr::L(v.iter().map(|b| Attr::B(b.as_ref().to_vec())).collect()),
        _ => {
            return Err(Error::corrupt(
                "attribute of a type this build does not know",
            ))
        }
    })
}

/// An item to the SDK's map.
pub fn to_map(item: &Item) -> AvMap {
    item.iter().map(|(k, v)| (k.clone(), to_av(v))).collect()
}

/// The SDK's map to an item.
pub fn from_map(map: &AvMap) -> Result<Item> {
    map.iter()
        .map(|(k, v)| Ok((k.clone(), from_av(v)?)))
        .collect()
}

/// A string value.
pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number value from an integer.
pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The key map `{pk, sk}`.
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> AvMap {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// `(pk, sk)` of an SDK item, if both are strings.
pub fn key_of(map: &AvMap) -> Option<(String, String)> {
    match (map.get("pk"), map.get("sk")) {
        (Some(AttributeValue::S(p)), Some(AttributeValue::S(s))) => Some((p.clone(), s.clone())),
        _ => None,
    }
}

/// `(pk, sk)` of an item, if both are strings.
pub fn item_key(item: &Item) -> Option<(String, String)> {
    match (item.get("pk"), item.get("sk")) {
        (Some(Attr::S(p)), Some(Attr::S(s))) => Some((p.clone(), s.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut item = Item::new();
        item.insert("pk".into(), Attr::s("a"));
        item.insert("n".into(), Attr::N("1.5".into()));
        item.insert("b".into(), Attr::B(vec![1, 2]));
        item.insert("z".into(), Attr::Null);
        item.insert(
            "m".into(),
            Attr::M([("x".to_string(), Attr::L(vec![Attr::Bool(true)]))].into()),
        );
        assert_eq!(from_map(&to_map(&item)).unwrap(), item);
    }

    #[test]
    fn maps_read_back_sorted() {
        let m = Attr::M(
            [
                ("b".to_string(), Attr::int(1)),
                ("a".to_string(), Attr::int(2)),
                ("c".to_string(), Attr::int(3)),
            ]
            .into(),
        );
        let Attr::M(back) = from_av(&to_av(&m)).unwrap() else {
            panic!("not a map");
        };
        let keys: Vec<&str> = back.keys().map(String::as_str).collect();
        assert_eq!(keys, ["a", "b", "c"]);
    }
}
