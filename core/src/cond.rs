//! Conditions on one stored item, written once as data (DESIGN §10).
//!
//! A [`Cond`] is what a rule requires of an item: that it exists, is live,
//! has a status, a timestamp before a cut-off... The core evaluates it on an
//! item ([`Cond::eval`], used by SQLite inside its transaction and by every
//! in-memory filter); each backend translates the same value into its own
//! language (a SQL `WHERE` clause, a DynamoDB `ConditionExpression`), so the
//! rule itself is never written twice.
//!
//! Semantics (those of DynamoDB's condition expressions, which SQLite's
//! translation reproduces):
//! - a missing item has no attributes: only [`Cond::Exists`] tells it apart;
//! - [`Cond::Eq`] and [`Cond::Cmp`] are false when the attribute is missing,
//!   `NULL` or of another type; numbers compare by value (`1` = `1.0`);
//! - [`Cond::Null`] holds for an absent attribute and for an explicit `NULL`
//!   (SQLite reads both as SQL `NULL`).

use crate::item::{Attr, Item};

/// How [`Cond::Cmp`] compares an attribute with a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `attr < n`.
    Lt,
    /// `attr <= n`.
    Le,
    /// `attr > n`.
    Gt,
    /// `attr >= n`.
    Ge,
}

impl CmpOp {
    /// The operator as SQL and DynamoDB write it.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}

/// A condition on one item (see the module docs for its semantics).
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// Always holds.
    True,
    /// The item exists.
    Exists,
    /// The attribute equals the value (`S`, `N` or `BOOL`).
    Eq(&'static str, Attr),
    /// The attribute is a number and compares with `n` as `op` says.
    Cmp(&'static str, CmpOp, i64),
    /// The attribute is a number.
    IsNumber(&'static str),
    /// The attribute is absent or `NULL`.
    Null(&'static str),
    /// Every one holds (`True` when empty).
    And(Vec<Cond>),
    /// At least one holds (false when empty).
    Or(Vec<Cond>),
    /// It does not hold.
    Not(Box<Cond>),
}

fn number(attr: Option<&Attr>) -> Option<f64> {
    match attr {
        Some(Attr::N(n)) => n.trim().parse::<f64>().ok().filter(|f| !f.is_nan()),
        _ => None,
    }
}

impl Cond {
    /// `attr = value` for a string value.
    pub fn eq_s(attr: &'static str, value: impl Into<String>) -> Cond {
        Cond::Eq(attr, Attr::S(value.into()))
    }

    /// `attr = value` for a boolean value.
    pub fn eq_bool(attr: &'static str, value: bool) -> Cond {
        Cond::Eq(attr, Attr::Bool(value))
    }

    /// The negation of `self`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Cond {
        Cond::Not(Box::new(self))
    }

    /// `self AND other`, flattening nested conjunctions.
    pub fn and(self, other: Cond) -> Cond {
        let mut parts = match self {
            Cond::True => Vec::new(),
            Cond::And(v) => v,
            c => vec![c],
        };
        match other {
            Cond::True => {}
            Cond::And(v) => parts.extend(v),
            c => parts.push(c),
        }
        match parts.len() {
            0 => Cond::True,
            1 => parts.remove(0),
            _ => Cond::And(parts),
        }
    }

    /// Whether the condition holds for `item` (`None`: no such item).
    pub fn eval(&self, item: Option<&Item>) -> bool {
        let get = |a: &str| item.and_then(|i| i.get(a));
        match self {
            Cond::True => true,
            Cond::Exists => item.is_some(),
            Cond::Eq(a, want) => match (get(a), want) {
                (Some(Attr::N(_)), Attr::N(_)) => {
                    matches!((number(get(a)), number(Some(want))), (Some(x), Some(y)) if x == y)
                }
                (Some(got @ (Attr::S(_) | Attr::Bool(_))), _) => got == want,
                _ => false,
            },
            Cond::Cmp(a, op, n) => number(get(a)).is_some_and(|v| op.holds(v, *n as f64)),
            Cond::IsNumber(a) => number(get(a)).is_some(),
            Cond::Null(a) => matches!(get(a), None | Some(Attr::Null)),
            Cond::And(v) => v.iter().all(|c| c.eval(item)),
            Cond::Or(v) => v.iter().any(|c| c.eval(item)),
            Cond::Not(c) => !c.eval(item),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, Attr)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn comparisons_follow_dynamodb() {
        let i = item(&[
            ("n", Attr::N("5".into())),
            ("f", Attr::N("5.5".into())),
            ("s", Attr::s("x")),
            ("z", Attr::Null),
        ]);
        let i = Some(&i);
        assert!(Cond::Cmp("n", CmpOp::Le, 5).eval(i));
        assert!(!Cond::Cmp("n", CmpOp::Lt, 5).eval(i));
        assert!(Cond::Cmp("f", CmpOp::Gt, 5).eval(i));
        assert!(
            !Cond::Cmp("s", CmpOp::Gt, 0).eval(i),
            "text is not a number"
        );
        assert!(!Cond::Cmp("missing", CmpOp::Lt, 9).eval(i));
        assert!(Cond::Eq("n", Attr::N("5.0".into())).eval(i));
        assert!(Cond::eq_s("s", "x").eval(i));
        assert!(!Cond::eq_s("missing", "x").eval(i));
        assert!(Cond::eq_s("missing", "x").not().eval(i));
        assert!(Cond::Null("z").eval(i) && Cond::Null("missing").eval(i));
        assert!(!Cond::Null("s").eval(i));
        assert!(Cond::IsNumber("f").eval(i) && !Cond::IsNumber("z").eval(i));
    }

    #[test]
    fn a_missing_item_only_fails_existence() {
        assert!(!Cond::Exists.eval(None));
        assert!(Cond::Null("a").eval(None));
        assert!(!Cond::eq_bool("a", true).eval(None));
        assert!(Cond::True.and(Cond::True).eval(None));
        assert_eq!(Cond::True.and(Cond::Exists), Cond::Exists);
        assert!(!Cond::Or(vec![]).eval(None));
    }
}
