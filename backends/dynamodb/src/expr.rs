//! The core's conditions ([`Cond`]) and update actions ([`Action`]) as
//! DynamoDB expressions, with placeholder names for every attribute (so
//! reserved words like `status`, `ttl`, `uid` are safe). Nothing is decided
//! here: an expression means on DynamoDB what the core says it means.

use std::collections::HashMap;

use affine_db_core::cond::Cond;
use affine_db_core::mutation::Action;
use affine_db_core::schema::PK;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::convert;

/// Names and values of one request's expressions.
#[derive(Debug, Default, Clone)]
pub struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    /// No names or values yet.
    pub fn new() -> Self {
        Expr::default()
    }

    /// The placeholder of attribute `attr`.
    pub fn name(&mut self, attr: &str) -> String {
        let key = format!(
            "#{}",
            attr.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        self.names.insert(key.clone(), attr.to_string());
        key
    }

    /// A new value placeholder for `v`.
    pub fn value(&mut self, v: AttributeValue) -> String {
        let key = format!(":v{}", self.values.len());
        self.values.insert(key.clone(), v);
        key
    }

    /// `cond` as a condition (or filter) expression; `None` when it always holds.
    pub fn condition(&mut self, cond: &Cond) -> Option<String> {
        match cond {
            Cond::True => None,
            Cond::And(parts) if parts.is_empty() => None,
            c => Some(self.translate(c)),
        }
    }

    fn translate(&mut self, cond: &Cond) -> String {
        match cond {
            Cond::True => {
                let pk = self.name(PK);
                format!("(attribute_exists({pk}) OR attribute_not_exists({pk}))")
            }
            Cond::Exists => format!("attribute_exists({})", self.name(PK)),
            Cond::Eq(attr, v) => {
                let (n, v) = (self.name(attr), self.value(convert::to_av(v)));
                format!("{n} = {v}")
            }
            Cond::Cmp(attr, op, x) => {
                let (n, v) = (self.name(attr), self.value(convert::n(*x)));
                format!("{n} {} {v}", op.symbol())
            }
            Cond::IsNumber(attr) => {
                let (n, t) = (self.name(attr), self.value(convert::s("N")));
                format!("attribute_type({n}, {t})")
            }
            Cond::Null(attr) => {
                let (n, t) = (self.name(attr), self.value(convert::s("NULL")));
                format!("(attribute_not_exists({n}) OR attribute_type({n}, {t}))")
            }
            Cond::And(parts) | Cond::Or(parts) => {
                let (join, empty) = match cond {
                    Cond::And(_) => (" AND ", Cond::True),
                    _ => (" OR ", Cond::Exists.and(Cond::Exists.not())),
                };
                if parts.is_empty() {
                    return self.translate(&empty);
                }
                let parts: Vec<String> = parts.iter().map(|c| self.translate(c)).collect();
                format!("({})", parts.join(join))
            }
            Cond::Not(inner) => format!("(NOT {})", self.translate(inner)),
        }
    }

    /// `actions` as an update expression (`SET …` then `ADD …`).
    pub fn update(&mut self, actions: &[(&'static str, Action)]) -> String {
        let mut sets = Vec::new();
        let mut adds = Vec::new();
        for (attr, action) in actions {
            let n = self.name(attr);
            match action {
                Action::Set(v) => {
                    let v = self.value(convert::to_av(v));
                    sets.push(format!("{n} = {v}"));
                }
                Action::SetIfAbsent(v) => {
                    let v = self.value(convert::to_av(v));
                    sets.push(format!("{n} = if_not_exists({n}, {v})"));
                }
                Action::Add(step) => {
                    let v = self.value(convert::n(*step));
                    adds.push(format!("{n} {v}"));
                }
            }
        }
        let mut expr = String::new();
        if !sets.is_empty() {
            expr.push_str("SET ");
            expr.push_str(&sets.join(", "));
        }
        if !adds.is_empty() {
            expr.push_str(" ADD ");
            expr.push_str(&adds.join(", "));
        }
        expr.trim().to_string()
    }

    /// The names, `None` when there are none (DynamoDB rejects empty maps).
    pub fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    /// The values, `None` when there are none.
    pub fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use affine_db_core::cond::CmpOp;
    use affine_db_core::item::Attr;

    #[test]
    fn conditions_and_updates_use_placeholders() {
        let mut e = Expr::new();
        let c = Cond::Exists
            .and(Cond::eq_s("status", "a"))
            .and(Cond::Cmp("ttl", CmpOp::Gt, 5).not());
        assert_eq!(
            e.condition(&c).unwrap(),
            "(attribute_exists(#pk) AND #status = :v0 AND (NOT #ttl > :v1))"
        );
        assert_eq!(e.condition(&Cond::True), None);
        let u = e.update(&[
            ("status", Action::Set(Attr::s("b"))),
            ("n", Action::Add(1)),
            ("k", Action::SetIfAbsent(Attr::Null)),
        ]);
        assert_eq!(
            u,
            "SET #status = :v2, #k = if_not_exists(#k, :v4) ADD #n :v3"
        );
        assert_eq!(
            e.names().unwrap().get("#ttl").map(String::as_str),
            Some("ttl")
        );
    }
}
