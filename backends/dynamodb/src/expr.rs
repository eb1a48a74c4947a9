//! A small builder of UpdateItem expressions with placeholder names for
//! every attribute (so reserved words like `status`, `ttl`, `uid` are safe).

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;

/// Clauses, names and values of one UpdateItem.
#[derive(Debug, Default, Clone)]
pub struct Update {
    sets: Vec<String>,
    adds: Vec<String>,
    conditions: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Update {
    /// An empty update.
    pub fn new() -> Self {
        Update::default()
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

    /// `SET attr = v`.
    pub fn set(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attr), self.value(v));
        self.sets.push(format!("{n} = {v}"));
        self
    }

    /// `SET attr = if_not_exists(attr, v)`: keeps a stored value.
    pub fn keep_or(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attr), self.value(v));
        self.sets.push(format!("{n} = if_not_exists({n}, {v})"));
        self
    }

    /// `SET attr = if_not_exists(attr, 0) + step`.
    pub fn increment(&mut self, attr: &str, step: i64) -> &mut Self {
        let n = self.name(attr);
        let zero = self.value(AttributeValue::N("0".into()));
        let step = self.value(AttributeValue::N(step.to_string()));
        self.sets
            .push(format!("{n} = if_not_exists({n}, {zero}) + {step}"));
        self
    }

    /// `ADD attr step` (atomic counter).
    pub fn add(&mut self, attr: &str, step: i64) -> &mut Self {
        let (n, v) = (
            self.name(attr),
            self.value(AttributeValue::N(step.to_string())),
        );
        self.adds.push(format!("{n} {v}"));
        self
    }

    /// Adds a condition clause (joined with AND); write placeholders from
    /// [`Update::name`] / [`Update::value`] into it.
    pub fn condition(&mut self, clause: String) -> &mut Self {
        self.conditions.push(format!("({clause})"));
        self
    }

    /// The item must exist and be live at `now_s` (`attribute_exists(pk)`,
    /// and `ttl > now` when `ttl` is given).
    pub fn require_live(&mut self, ttl: Option<&str>, now_s: i64) -> &mut Self {
        self.conditions.push("attribute_exists(pk)".into());
        if let Some(t) = ttl {
            let (n, v) = (
                self.name(t),
                self.value(AttributeValue::N(now_s.to_string())),
            );
            self.conditions.push(format!("{n} > {v}"));
        }
        self
    }

    /// Puts the expressions into an UpdateItem request.
    pub fn apply(self, mut b: UpdateItemFluentBuilder) -> UpdateItemFluentBuilder {
        let mut expr = String::new();
        if !self.sets.is_empty() {
            expr.push_str("SET ");
            expr.push_str(&self.sets.join(", "));
        }
        if !self.adds.is_empty() {
            expr.push_str(" ADD ");
            expr.push_str(&self.adds.join(", "));
        }
        b = b.update_expression(expr.trim());
        if !self.conditions.is_empty() {
            b = b.condition_expression(self.conditions.join(" AND "));
        }
        if !self.names.is_empty() {
            b = b.set_expression_attribute_names(Some(self.names));
        }
        if !self.values.is_empty() {
            b = b.set_expression_attribute_values(Some(self.values));
        }
        b
    }
}
