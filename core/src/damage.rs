//! Damaged raw items: an attribute whose stored value does not have the
//! type the table declares for it (text that is not UTF-8 or not the JSON
//! its column holds, a number where text belongs, ...), found the same way
//! on every backend from the raw item ([`find`]).
//!
//! Backends never fail a raw read ([`crate::Admin::scan_page`]) on such a
//! value: they return it as it is stored (on SQLite, text that cannot be
//! decoded comes back as [`Attr::B`], its raw bytes), so a damaged store can
//! always be exported, and the typed readers report it as
//! [`crate::Error::Corrupt`]. List commands, `export` and `copy` name each
//! damaged item with [`Damage`]: table, key, attribute and why.

use std::fmt;

use crate::item::{Attr, Item};
use crate::schema::{AttrType, Table, PK, SK};

/// One damaged item: where it is and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The table.
    pub table: Table,
    /// Its `pk` ([`key_text`]).
    pub pk: String,
    /// Its `sk` ([`key_text`]).
    pub sk: String,
    /// The first attribute (in name order) whose value is damaged.
    pub attribute: String,
    /// What is wrong with it.
    pub why: String,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} item pk={:?} sk={:?}: attribute {}: {}",
            self.table.name(),
            self.pk,
            self.sk,
            self.attribute,
            self.why
        )
    }
}

/// A key attribute as text for messages: the string itself, or, for a
/// damaged key, its bytes read lossily (`""` when absent).
pub fn key_text(item: &Item, key: &str) -> String {
    match item.get(key) {
        Some(Attr::S(s)) => s.clone(),
        Some(Attr::B(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(Attr::N(n)) => n.clone(),
        _ => String::new(),
    }
}

/// The first damaged attribute of a raw `item` of `table`: `pk`/`sk` that
/// are not strings, or an attribute the table declares whose value has
/// another type (`NULL` is every attribute's "absent"; attributes the
/// table does not declare are not checked). `None` when every value has
/// its declared type.
pub fn find(table: Table, item: &Item) -> Option<Damage> {
    let damaged = |attribute: &str, why: String| Damage {
        table,
        pk: key_text(item, PK),
        sk: key_text(item, SK),
        attribute: attribute.to_string(),
        why,
    };
    for key in [PK, SK] {
        match item.get(key) {
            Some(Attr::S(_)) => {}
            Some(other) => return Some(damaged(key, describe(other, "text (S)"))),
            None => return Some(damaged(key, "is missing".to_string())),
        }
    }
    let def = table.def();
    for (name, attr) in item {
        let Some(d) = def.attr(name) else { continue };
        let fits = matches!(
            (d.ty, attr),
            (_, Attr::Null)
                | (AttrType::S, Attr::S(_))
                | (AttrType::Float, Attr::N(_))
                | (AttrType::B, Attr::B(_))
                | (AttrType::Bool, Attr::Bool(_))
                | (AttrType::M, Attr::M(_))
                | (
                    AttrType::Any,
                    Attr::S(_) | Attr::N(_) | Attr::Bool(_) | Attr::M(_) | Attr::L(_)
                )
        ) || matches!((d.ty, attr), (AttrType::Int, Attr::N(n)) if is_integer(n));
        if !fits {
            return Some(damaged(name, describe(attr, expected(d.ty))));
        }
    }
    None
}

fn is_integer(n: &str) -> bool {
    n.trim().parse::<i64>().is_ok()
        || n.trim()
            .parse::<f64>()
            .is_ok_and(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
}

fn expected(ty: AttrType) -> &'static str {
    match ty {
        AttrType::S => "text (S)",
        AttrType::Int => "an integer (N)",
        AttrType::Float => "a number (N)",
        AttrType::B => "binary (B)",
        AttrType::Bool => "a boolean (BOOL)",
        AttrType::M => "a map (M, a JSON object)",
        AttrType::Any => "a JSON value",
    }
}

/// `is <what the value is>, not <want>`.
fn describe(attr: &Attr, want: &str) -> String {
    let what = match attr {
        Attr::B(b) => match std::str::from_utf8(b) {
            Err(_) => format!("{} raw bytes that are not UTF-8 text", b.len()),
            Ok(text) => {
                let shown: String = text.chars().take(40).collect();
                let more = if shown.len() < text.len() { "..." } else { "" };
                format!("{} raw bytes ({shown:?}{more})", b.len())
            }
        },
        Attr::N(n) => format!("the number {n}"),
        Attr::S(s) => format!("a string of {} bytes", s.len()),
        other => format!("a {} value", other.type_name()),
    };
    format!("is {what}, not {want}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;

    fn config(value: Attr) -> Item {
        let mut item = Item::new();
        item.insert(PK.into(), Attr::s(keys::CONFIG_PK));
        item.insert(SK.into(), Attr::S(keys::config_sk("x")));
        item.insert("param_name".into(), Attr::s("x"));
        item.insert("param_value".into(), value);
        item
    }

    #[test]
    fn values_of_their_declared_type_are_not_damage() {
        for v in [
            Attr::s("a"),
            Attr::int(1),
            Attr::Bool(true),
            Attr::L(vec![]),
            Attr::Null,
        ] {
            assert_eq!(find(Table::SystemConfig, &config(v)), None);
        }
        let mut item = config(Attr::int(1));
        item.insert("not_declared".into(), Attr::B(vec![1]));
        item.insert("version".into(), Attr::N("2.0".into()));
        assert_eq!(find(Table::SystemConfig, &item), None);
    }

    #[test]
    fn raw_bytes_and_wrong_types_are_named_by_attribute() {
        let d = find(Table::SystemConfig, &config(Attr::B(vec![0xff, 0xfe]))).unwrap();
        assert_eq!(d.attribute, "param_value");
        assert_eq!(d.sk, keys::config_sk("x"));
        assert!(d.why.contains("not UTF-8"), "{d}");
        let d = find(Table::SystemConfig, &config(Attr::B(b"{oops".to_vec()))).unwrap();
        assert!(d.why.contains("\"{oops\""), "{d}");
        let mut item = config(Attr::int(1));
        item.insert("version".into(), Attr::N("1.5".into()));
        let d = find(Table::SystemConfig, &item).unwrap();
        assert_eq!(d.attribute, "version");
        assert!(d.why.contains("not an integer"), "{d}");
        item.insert(PK.into(), Attr::B(b"CON\xffFIG".to_vec()));
        let d = find(Table::SystemConfig, &item).unwrap();
        assert_eq!(
            (d.attribute.as_str(), d.pk.as_str()),
            ("pk", "CON\u{fffd}FIG")
        );
    }
}
