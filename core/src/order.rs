//! Orderings of list operations as data (DESIGN §4: "ordering is stated for
//! every list operation and is the same on both backends").
//!
//! An [`Order`] lists the attributes records sort by, each ascending or
//! descending, with how to read it from the typed record. The core and
//! DynamoDB sort with [`Order::compare`]; SQLite turns the same list into
//! its `ORDER BY` clause. Text sorts by bytes (Rust's `str` order and
//! SQLite's default `BINARY` collation), numbers by value.

use std::borrow::Cow;
use std::cmp::Ordering;

/// A sort value read from a record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key<'a> {
    /// An integer attribute.
    Int(i64),
    /// A text attribute.
    Str(Cow<'a, str>),
}

impl<'a> Key<'a> {
    /// A borrowed text key.
    pub fn str(s: &'a str) -> Key<'a> {
        Key::Str(Cow::Borrowed(s))
    }
}

/// One attribute of an [`Order`].
pub struct Field<T: 'static> {
    /// The stored attribute name (the SQL column).
    pub attr: &'static str,
    /// Largest first.
    pub descending: bool,
    /// Reads the attribute from the record.
    pub get: for<'a> fn(&'a T) -> Key<'a>,
}

impl<T> std::fmt::Debug for Field<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}",
            self.attr,
            if self.descending { "desc" } else { "asc" }
        )
    }
}

/// The order of one list operation: by the first field, ties by the next...
pub struct Order<T: 'static> {
    /// The fields, most significant first.
    pub fields: &'static [Field<T>],
}

impl<T> std::fmt::Debug for Order<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.fields).finish()
    }
}

impl<T> Order<T> {
    /// Compares two records in this order.
    pub fn compare(&self, a: &T, b: &T) -> Ordering {
        for f in self.fields {
            let c = (f.get)(a).cmp(&(f.get)(b));
            let c = if f.descending { c.reverse() } else { c };
            if c != Ordering::Equal {
                return c;
            }
        }
        Ordering::Equal
    }

    /// Sorts `v` in this order, or in the reverse one.
    pub fn sort(&self, v: &mut [T], reverse: bool) {
        if reverse {
            v.sort_by(|a, b| self.compare(b, a));
        } else {
            v.sort_by(|a, b| self.compare(a, b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static BY_N_DESC_THEN_S: Order<(i64, String)> = Order {
        fields: &[
            Field {
                attr: "n",
                descending: true,
                get: |r| Key::Int(r.0),
            },
            Field {
                attr: "s",
                descending: false,
                get: |r| Key::str(&r.1),
            },
        ],
    };

    #[test]
    fn fields_break_ties_in_turn() {
        let mut v = vec![(1, "b".to_string()), (2, "z".into()), (1, "a".into())];
        BY_N_DESC_THEN_S.sort(&mut v, false);
        assert_eq!(v, [(2, "z".into()), (1, "a".into()), (1, "b".into())]);
        BY_N_DESC_THEN_S.sort(&mut v, true);
        assert_eq!(v[0], (1, "b".to_string()));
    }
}
