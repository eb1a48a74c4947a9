//! The item model both backends translate to: DynamoDB's attribute types,
//! DynamoDB's item size rules, the limits of what both backends can store
//! ([`check_item`]), and typed readers used by every record.
//!
//! JSON values (config `dict`/`list` values, score maps) keep their
//! objects' key order ([`AttrMap`]); numbers are in DynamoDB's canonical
//! text ([`crate::number`]). SQLite stores that order; DynamoDB stores maps
//! unordered, so a map read back from DynamoDB has its keys sorted (by
//! their UTF-8 bytes). Equality of [`Attr::M`] ignores key order.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// DynamoDB's item size limit in bytes (400 KB).
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The most significant digits a number may have (DynamoDB's precision).
pub const MAX_NUMBER_DIGITS: usize = crate::number::MAX_DIGITS;

/// The largest decimal exponent of a number's leading digit (DynamoDB
/// stores magnitudes below 1E+126).
pub const MAX_NUMBER_EXPONENT: i64 = crate::number::MAX_EXPONENT;

/// The smallest decimal exponent of a non-zero number's leading digit
/// (DynamoDB stores magnitudes from 1E-130).
pub const MIN_NUMBER_EXPONENT: i64 = crate::number::MIN_EXPONENT;

/// The deepest nesting of maps and lists inside one attribute (DynamoDB's limit).
pub const MAX_NESTING_DEPTH: usize = 32;

/// The map of an [`Attr::M`]: attribute name to value, in written order.
pub type AttrMap = IndexMap<String, Attr>;

/// One attribute value, with DynamoDB's types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Attr {
    /// String.
    S(String),
    /// Number, kept in DynamoDB's decimal text form.
    N(String),
    /// Binary.
    B(Vec<u8>),
    /// Boolean.
    Bool(bool),
    /// Explicit null.
    Null,
    /// Map of attribute name to value, in written order (equality ignores
    /// the order).
    M(AttrMap),
    /// List of values.
    L(Vec<Attr>),
}

/// An item: attribute name to value, including the `pk` and `sk` keys.
pub type Item = BTreeMap<String, Attr>;

/// Formats a finite f64 as DynamoDB number text that reads back exactly:
/// its shortest round-trip digits in DynamoDB's canonical form
/// ([`crate::number::canonical`]); a magnitude DynamoDB cannot store keeps
/// its exponent form, for the check before writing to reject.
pub fn format_f64(v: f64) -> String {
    let a = v.abs();
    let shortest = if a == 0.0 || (1e-7..1e21).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    };
    crate::number::canonical_or_same(&shortest)
}

impl Attr {
    /// A string attribute.
    pub fn s(v: impl Into<String>) -> Attr {
        Attr::S(v.into())
    }

    /// A number attribute from an integer.
    pub fn int(v: i64) -> Attr {
        Attr::N(v.to_string())
    }

    /// A number attribute from a finite float.
    pub fn float(v: f64) -> Attr {
        Attr::N(format_f64(v))
    }

    /// `S` for `Some`, `NULL` for `None`.
    pub fn opt_s(v: Option<&str>) -> Attr {
        v.map_or(Attr::Null, Attr::s)
    }

    /// `N` for `Some`, `NULL` for `None`.
    pub fn opt_int(v: Option<i64>) -> Attr {
        v.map_or(Attr::Null, Attr::int)
    }

    /// The DynamoDB type name (`S`, `N`, ...), for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Attr::S(_) => "S",
            Attr::N(_) => "N",
            Attr::B(_) => "B",
            Attr::Bool(_) => "BOOL",
            Attr::Null => "NULL",
            Attr::M(_) => "M",
            Attr::L(_) => "L",
        }
    }

    /// Size in bytes by DynamoDB's rules (value only, without the name).
    pub fn size(&self) -> usize {
        match self {
            Attr::S(s) => s.len(),
            Attr::N(n) => number_size(n),
            Attr::B(b) => b.len(),
            Attr::Bool(_) | Attr::Null => 1,
            Attr::M(m) => 3 + m.iter().map(|(k, v)| k.len() + v.size() + 1).sum::<usize>(),
            Attr::L(l) => 3 + l.iter().map(|v| v.size() + 1).sum::<usize>(),
        }
    }

    /// Converts a JSON value (maps and lists of config values, score maps).
    /// Numbers take DynamoDB's canonical form ([`crate::number::canonical`]:
    /// `1.0` is `1`), objects keep their key order.
    pub fn from_json(v: &Value) -> Attr {
        match v {
            Value::Null => Attr::Null,
            Value::Bool(b) => Attr::Bool(*b),
            Value::Number(n) => Attr::N(crate::number::canonical_or_same(&n.to_string())),
            Value::String(s) => Attr::S(s.clone()),
            Value::Array(a) => Attr::L(a.iter().map(Attr::from_json).collect()),
            Value::Object(o) => Attr::M(
                o.iter()
                    .map(|(k, v)| (k.clone(), Attr::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Converts back to JSON (numbers with their stored digits, maps in
    /// their stored order); binary values are rejected as corrupt.
    pub fn to_json(&self) -> Result<Value> {
        Ok(match self {
            Attr::Null => Value::Null,
            Attr::Bool(b) => Value::Bool(*b),
            Attr::S(s) => Value::String(s.clone()),
            Attr::N(n) => number_to_json(n)?,
            Attr::B(_) => return Err(Error::corrupt("binary value inside a JSON attribute")),
            Attr::L(l) => Value::Array(l.iter().map(Attr::to_json).collect::<Result<_>>()?),
            Attr::M(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), v.to_json()?)))
                    .collect::<Result<_>>()?,
            ),
        })
    }
}

/// A stored number as a JSON number with the same digits. Text that is not
/// JSON number syntax (`.5`, `+1`, `5.` from other writers) is read through
/// f64.
fn number_to_json(n: &str) -> Result<Value> {
    if let Ok(exact) = n.trim().parse::<serde_json::Number>() {
        return Ok(Value::Number(exact));
    }
    let f: f64 = n
        .parse()
        .map_err(|_| Error::corrupt(format!("number {n:?} is not numeric")))?;
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| Error::corrupt(format!("number {n:?} is not finite")))
}

fn number_size(n: &str) -> usize {
    let digits: String = n
        .split(['e', 'E'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

/// The size of an item by DynamoDB's rules: attribute names plus values.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

/// Checks number text against what both backends store: decimal syntax,
/// at most [`MAX_NUMBER_DIGITS`] significant digits, and a magnitude
/// DynamoDB accepts (zero, or a leading digit at 10^[`MIN_NUMBER_EXPONENT`]
/// to 10^[`MAX_NUMBER_EXPONENT`]). Never rounds: anything else is
/// [`Error::InvalidInput`] naming `field`.
pub fn check_number(field: &str, text: &str) -> Result<()> {
    crate::number::check(field, text)
}

impl Attr {
    /// Checks that both backends can store this value exactly: numbers by
    /// [`check_number`], map keys non-empty, nesting at most
    /// [`MAX_NESTING_DEPTH`] levels. `field` names the attribute in errors.
    pub fn check_storable(&self, field: &str) -> Result<()> {
        self.check_at(field, 0)
    }

    fn check_at(&self, field: &str, depth: usize) -> Result<()> {
        match self {
            Attr::N(n) => check_number(field, n),
            Attr::M(_) | Attr::L(_) if depth >= MAX_NESTING_DEPTH => Err(Error::invalid(
                field,
                format!("nested more than {MAX_NESTING_DEPTH} levels deep"),
            )),
            Attr::M(m) => {
                for (k, v) in m {
                    if k.is_empty() {
                        return Err(Error::invalid(field, "an object key is empty"));
                    }
                    v.check_at(field, depth + 1)?;
                }
                Ok(())
            }
            Attr::L(l) => l.iter().try_for_each(|v| v.check_at(field, depth + 1)),
            Attr::S(_) | Attr::B(_) | Attr::Bool(_) | Attr::Null => Ok(()),
        }
    }
}

/// Checks a whole item before it is written, the same way for every table
/// on every backend: each value storable ([`Attr::check_storable`],
/// [`Error::InvalidInput`]) and the item within [`MAX_ITEM_BYTES`]
/// ([`Error::TooLarge`]). `what` names the item (table and key).
pub fn check_item(what: &str, item: &Item) -> Result<()> {
    for (name, attr) in item {
        attr.check_storable(name)
            .map_err(|e| e.with_note(format!("in {what}")))?;
    }
    check_item_size(what, item)
}

/// Rejects an item over [`MAX_ITEM_BYTES`] with [`Error::TooLarge`]; `what` names it.
pub fn check_item_size(what: &str, item: &Item) -> Result<()> {
    let size = item_size(item);
    if size > MAX_ITEM_BYTES {
        return Err(Error::TooLarge {
            what: what.to_string(),
            size: Some(size),
            limit: MAX_ITEM_BYTES,
        });
    }
    Ok(())
}

/// Typed, error-reporting access to an item's attributes. A required
/// attribute that is missing or of the wrong type is [`Error::Corrupt`];
/// optional ones accept both an absent attribute and `NULL`.
#[derive(Debug, Clone, Copy)]
pub struct ItemReader<'a> {
    item: &'a Item,
    table: &'static str,
}

impl<'a> ItemReader<'a> {
    /// A reader over `item` of `table` (named in errors).
    pub fn new(table: &'static str, item: &'a Item) -> Self {
        ItemReader { item, table }
    }

    fn err(&self, name: &str, want: &str) -> Error {
        let got = self.item.get(name).map_or("nothing", |a| a.type_name());
        Error::corrupt(format!(
            "{}: attribute {name} should be {want}, found {got}",
            self.table
        ))
    }

    fn present(&self, name: &str) -> Option<&'a Attr> {
        match self.item.get(name) {
            None | Some(Attr::Null) => None,
            Some(a) => Some(a),
        }
    }

    /// Raw access.
    pub fn get(&self, name: &str) -> Option<&'a Attr> {
        self.present(name)
    }

    /// A required string.
    pub fn s(&self, name: &str) -> Result<String> {
        self.opt_s(name)?.ok_or_else(|| self.err(name, "S"))
    }

    /// An optional string.
    pub fn opt_s(&self, name: &str) -> Result<Option<String>> {
        match self.present(name) {
            None => Ok(None),
            Some(Attr::S(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.err(name, "S")),
        }
    }

    /// A required integer (a number with a fractional part is corrupt).
    pub fn i64(&self, name: &str) -> Result<i64> {
        self.opt_i64(name)?.ok_or_else(|| self.err(name, "N"))
    }

    /// An optional integer. Numbers like `5.0` read as 5.
    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>> {
        match self.present(name) {
            None => Ok(None),
            Some(Attr::N(n)) => {
                if let Ok(i) = n.parse::<i64>() {
                    return Ok(Some(i));
                }
                match n.parse::<f64>() {
                    Ok(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(Some(f as i64)),
                    _ => Err(self.err(name, "an integer N")),
                }
            }
            Some(_) => Err(self.err(name, "N")),
        }
    }

    /// A required float; integers without a decimal point read as floats.
    pub fn f64(&self, name: &str) -> Result<f64> {
        match self.present(name) {
            Some(Attr::N(n)) => n
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| self.err(name, "a finite N")),
            _ => Err(self.err(name, "N")),
        }
    }

    /// A required boolean.
    pub fn bool(&self, name: &str) -> Result<bool> {
        match self.present(name) {
            Some(Attr::Bool(b)) => Ok(*b),
            _ => Err(self.err(name, "BOOL")),
        }
    }

    /// An optional boolean.
    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>> {
        match self.present(name) {
            None => Ok(None),
            Some(Attr::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.err(name, "BOOL")),
        }
    }

    /// A required binary.
    pub fn b(&self, name: &str) -> Result<&'a [u8]> {
        match self.present(name) {
            Some(Attr::B(b)) => Ok(b),
            _ => Err(self.err(name, "B")),
        }
    }

    /// A map of name to float (absent or NULL reads as empty).
    pub fn f64_map(&self, name: &str) -> Result<BTreeMap<String, f64>> {
        match self.present(name) {
            None => Ok(BTreeMap::new()),
            Some(Attr::M(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Attr::N(n) => n
                        .parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite())
                        .map(|f| (k.clone(), f))
                        .ok_or_else(|| self.err(name, "a map of finite numbers")),
                    _ => Err(self.err(name, "a map of numbers")),
                })
                .collect(),
            Some(_) => Err(self.err(name, "M")),
        }
    }
}

/// Builds the `M` attribute of a name→float map.
pub fn f64_map_attr(map: &BTreeMap<String, f64>) -> Attr {
    Attr::M(
        map.iter()
            .map(|(k, v)| (k.clone(), Attr::float(*v)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_back_as_floats() {
        let mut item = Item::new();
        item.insert("score".into(), Attr::N("1".into()));
        item.insert("x".into(), Attr::float(0.1));
        item.insert("big".into(), Attr::float(1e300));
        let r = ItemReader::new("t", &item);
        assert_eq!(r.f64("score").unwrap(), 1.0);
        assert_eq!(r.f64("x").unwrap(), 0.1);
        assert_eq!(r.f64("big").unwrap(), 1e300);
        assert_eq!(r.i64("score").unwrap(), 1);
    }

    #[test]
    fn null_and_absent_are_both_none() {
        let mut item = Item::new();
        item.insert("a".into(), Attr::Null);
        let r = ItemReader::new("t", &item);
        assert_eq!(r.opt_s("a").unwrap(), None);
        assert_eq!(r.opt_s("b").unwrap(), None);
        assert!(matches!(r.s("a"), Err(Error::Corrupt(_))));
        item.insert("c".into(), Attr::int(3));
        assert!(ItemReader::new("t", &item).opt_s("c").is_err());
    }

    #[test]
    fn sizes_follow_dynamodb_rules() {
        let mut item = Item::new();
        item.insert("pk".into(), Attr::s("abc"));
        item.insert("n".into(), Attr::int(12345));
        item.insert("b".into(), Attr::Bool(true));
        // pk:2+3, n:1+(3+1), b:1+1
        assert_eq!(item_size(&item), 5 + 5 + 2);
        item.insert("blob".into(), Attr::B(vec![0; MAX_ITEM_BYTES]));
        assert!(matches!(
            check_item_size("x", &item),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn json_round_trip() {
        let v: Value = serde_json::json!({"a": [1, 2.5, "x", null, true], "b": {}});
        assert_eq!(Attr::from_json(&v).to_json().unwrap(), v);
    }

    #[test]
    fn json_keeps_key_order_and_takes_canonical_numbers() {
        let text = r#"{"z":18446744073709551617,"a":[1.50,-0.000000000000000000001,1e+100,-0],"m":{"y":1.0,"b":2}}"#;
        let v: Value = serde_json::from_str(text).unwrap();
        let back = Attr::from_json(&v).to_json().unwrap();
        let want = format!(
            r#"{{"z":18446744073709551617,"a":[1.5,-0.000000000000000000001,1{},0],"m":{{"y":1,"b":2}}}}"#,
            "0".repeat(100)
        );
        assert_eq!(serde_json::to_string(&back).unwrap(), want);
    }

    #[test]
    fn floats_are_written_in_canonical_form() {
        assert_eq!(Attr::float(1.0), Attr::N("1".into()));
        assert_eq!(Attr::float(-0.0), Attr::N("0".into()));
        assert_eq!(Attr::float(1.5e-8), Attr::N("0.000000015".into()));
        assert_eq!(Attr::float(2e22), Attr::N(format!("2{}", "0".repeat(22))));
        // Out of DynamoDB's range: kept for the check to reject.
        assert_eq!(Attr::float(1e300), Attr::N("1e300".into()));
    }

    #[test]
    fn numbers_are_checked_against_dynamodb_limits() {
        for ok in [
            "0",
            "-0",
            "0.000",
            "12345678901234567890123456789012345678",
            "1.2345678901234567890123456789012345678e-20",
            "1e125",
            "9.9999999999999999999999999999999999999E+125",
            "1E-130",
            "-1e-130",
            "100000000000000000000000000000000000000000000",
        ] {
            check_number("n", ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "123456789012345678901234567890123456789",
            "1.00000000000000000000000000000000000001",
            "1e126",
            "1e-131",
            "5e-324",
            "1e400",
            "",
            "-",
            "1.2.3",
            "abc",
            "1e",
            "NaN",
        ] {
            assert!(
                matches!(check_number("n", bad), Err(Error::InvalidInput { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn empty_keys_and_deep_nesting_are_not_storable() {
        let v: Value = serde_json::json!({"": 1});
        assert!(Attr::from_json(&v).check_storable("param_value").is_err());
        let v: Value = serde_json::json!([{"a": {"": true}}]);
        assert!(Attr::from_json(&v).check_storable("param_value").is_err());
        let mut deep = Value::from(1);
        for _ in 0..MAX_NESTING_DEPTH {
            deep = Value::Array(vec![deep]);
        }
        Attr::from_json(&deep).check_storable("x").unwrap();
        let deeper = Value::Array(vec![deep]);
        assert!(Attr::from_json(&deeper).check_storable("x").is_err());
        let mut item = Item::new();
        item.insert("v".into(), Attr::N("1e999".into()));
        assert!(matches!(
            check_item("t a/b", &item),
            Err(Error::InvalidInput { .. })
        ));
    }

    #[test]
    fn map_equality_ignores_order() {
        let a = Attr::M(
            [
                ("a".to_string(), Attr::int(1)),
                ("b".to_string(), Attr::int(2)),
            ]
            .into(),
        );
        let b = Attr::M(
            [
                ("b".to_string(), Attr::int(2)),
                ("a".to_string(), Attr::int(1)),
            ]
            .into(),
        );
        assert_eq!(a, b);
    }
}
