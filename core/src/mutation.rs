//! Read-modify-write rules as data (DESIGN §10): what a state change
//! requires of the stored item, what it writes, and what the caller gets.
//!
//! A [`Rule`] is a list of guarded [`Branch`]es over one item: the first
//! branch whose [`Cond`] holds on the stored item is carried out; when none
//! does, [`Rule::otherwise`] decides the outcome from the item (an error such
//! as `NotFound` or `Conflict`, or a plain answer). The core builds every
//! rule (task claims, failures, requeues, miner counters and pauses,
//! retention policies, config versions) and evaluates it in memory
//! ([`Rule::run`]); the backends only carry it out:
//!
//! - SQLite reads the item, calls [`Rule::run`] and writes the result, all
//!   inside one `BEGIN IMMEDIATE` transaction;
//! - DynamoDB sends each branch as one conditional UpdateItem or DeleteItem
//!   (the branch's condition as the `ConditionExpression`, the actions as
//!   the `UpdateExpression`) and, when a condition fails, evaluates the next
//!   branches on the item the failure returned; when no branch applies to
//!   the latest item, [`Rule::otherwise`] decides on that item, which is
//!   exactly what a serial execution at that instant would answer.
//!
//! The action semantics are DynamoDB's: [`Action::Add`] counts from 0 when
//! the attribute is absent, [`Action::SetIfAbsent`] keeps a stored value
//! (`if_not_exists`), an update of a missing item creates it with its keys.

use crate::cond::Cond;
use crate::error::{Error, Result};
use crate::item::{Attr, Item};
use crate::schema::{Table, PK, SK};

/// What an update does to one attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `SET attr = value` (`NULL` clears it).
    Set(Attr),
    /// `SET attr = if_not_exists(attr, value)`: keeps a stored value.
    SetIfAbsent(Attr),
    /// `ADD attr n`: an atomic counter, from 0 when absent.
    Add(i64),
}

/// What a branch does to the item.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Applies the actions (creating the item if it is missing).
    Update(Vec<(&'static str, Action)>),
    /// Deletes the item.
    Delete,
}

/// The outcome of a branch (given the item after an update, or the item
/// deleted) or of [`Rule::otherwise`] (given the item as stored, `None`
/// when missing).
pub type Outcome<T> = Box<dyn Fn(Option<&Item>) -> Result<T> + Send + Sync>;

/// One guarded state change.
pub struct Branch<T> {
    /// When it applies.
    pub when: Cond,
    /// What it does.
    pub effect: Effect,
    /// What the caller gets when it applied.
    pub then: Outcome<T>,
}

/// What [`Rule::run`] leaves to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Store this item (replacing the stored one).
    Put(Item),
    /// Delete the item.
    Delete,
    /// Change nothing.
    Nothing,
}

/// A read-modify-write rule on the item at (`pk`, `sk`) of `table`.
pub struct Rule<T> {
    /// The table.
    pub table: Table,
    /// Partition key of the item.
    pub pk: String,
    /// Sort key of the item.
    pub sk: String,
    /// The guarded changes, tried in order.
    pub branches: Vec<Branch<T>>,
    /// The outcome when no branch applies to the stored item.
    pub otherwise: Outcome<T>,
}

impl<T> std::fmt::Debug for Rule<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("table", &self.table)
            .field("pk", &self.pk)
            .field("sk", &self.sk)
            .field(
                "branches",
                &self
                    .branches
                    .iter()
                    .map(|b| (&b.when, &b.effect))
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn add(table: Table, attr: &str, current: Option<&Attr>, n: i64) -> Result<Attr> {
    let bad = || {
        Error::invalid(
            attr,
            format!("{table}: cannot add to {attr}, which is not a number"),
        )
    };
    match current {
        None => Ok(Attr::int(n)),
        Some(Attr::N(v)) => {
            if let Ok(i) = v.trim().parse::<i64>() {
                return i.checked_add(n).map(Attr::int).ok_or_else(bad);
            }
            let f: f64 = v.trim().parse().map_err(|_| bad())?;
            let sum = f + n as f64;
            if sum.is_finite() {
                Ok(Attr::float(sum))
            } else {
                Err(bad())
            }
        }
        Some(_) => Err(bad()),
    }
}

impl<T> Rule<T> {
    /// A rule without branches yet, answering `otherwise` when none applies.
    pub fn new(
        table: Table,
        pk: impl Into<String>,
        sk: impl Into<String>,
        otherwise: impl Fn(Option<&Item>) -> Result<T> + Send + Sync + 'static,
    ) -> Rule<T> {
        Rule {
            table,
            pk: pk.into(),
            sk: sk.into(),
            branches: Vec::new(),
            otherwise: Box::new(otherwise),
        }
    }

    /// Adds a branch (tried after the ones added before).
    pub fn branch(
        mut self,
        when: Cond,
        effect: Effect,
        then: impl Fn(Option<&Item>) -> Result<T> + Send + Sync + 'static,
    ) -> Rule<T> {
        self.branches.push(Branch {
            when,
            effect,
            then: Box::new(then),
        });
        self
    }

    /// The first branch that applies to `current`, if any.
    pub fn branch_for(&self, current: Option<&Item>) -> Option<&Branch<T>> {
        self.branches.iter().find(|b| b.when.eval(current))
    }

    /// The item an update leaves: `current` (or just the keys, when
    /// missing) with `actions` applied.
    pub fn updated(
        &self,
        current: Option<&Item>,
        actions: &[(&'static str, Action)],
    ) -> Result<Item> {
        let mut item = current.cloned().unwrap_or_else(|| {
            Item::from([
                (PK.to_string(), Attr::S(self.pk.clone())),
                (SK.to_string(), Attr::S(self.sk.clone())),
            ])
        });
        for (attr, action) in actions {
            let value = match action {
                Action::Set(v) => v.clone(),
                Action::SetIfAbsent(v) => match item.get(*attr) {
                    Some(stored) => stored.clone(),
                    None => v.clone(),
                },
                Action::Add(n) => add(self.table, attr, item.get(*attr), *n)?,
            };
            item.insert((*attr).to_string(), value);
        }
        Ok(item)
    }

    /// Evaluates the rule on the stored item (`None`: missing): what to
    /// write and what the caller gets. A backend that can lock the item
    /// (SQLite, in a transaction) reads it, runs this and writes the result.
    pub fn run(&self, current: Option<&Item>) -> Result<(Write, T)> {
        let Some(branch) = self.branch_for(current) else {
            return Ok((Write::Nothing, (self.otherwise)(current)?));
        };
        match &branch.effect {
            Effect::Update(actions) => {
                let item = self.updated(current, actions)?;
                let out = (branch.then)(Some(&item))?;
                Ok((Write::Put(item), out))
            }
            Effect::Delete => Ok((Write::Delete, (branch.then)(current)?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cond::CmpOp;

    fn counter(step: i64) -> Rule<i64> {
        Rule::new(Table::MinerMetadata, "MINER#a", "METADATA", |_| Ok(-1)).branch(
            Cond::Exists.and(Cond::Or(vec![
                Cond::Null("n"),
                Cond::Cmp("n", CmpOp::Lt, 3),
            ])),
            Effect::Update(vec![
                ("n", Action::Add(step)),
                ("keep", Action::SetIfAbsent(Attr::s("first"))),
            ]),
            |new| Ok(new.and_then(|i| i.get("n")).map_or(0, |_| 1)),
        )
    }

    #[test]
    fn first_applicable_branch_runs_else_otherwise_decides() {
        let rule = counter(2);
        assert_eq!(rule.run(None).unwrap(), (Write::Nothing, -1));
        let mut item = Item::from([("keep".to_string(), Attr::s("old"))]);
        let (write, out) = rule.run(Some(&item)).unwrap();
        assert_eq!(out, 1);
        let Write::Put(new) = write else {
            panic!("expected a put")
        };
        assert_eq!(new.get("n"), Some(&Attr::int(2)));
        assert_eq!(new.get("keep"), Some(&Attr::s("old")));
        item.insert("n".into(), Attr::int(3));
        assert_eq!(rule.run(Some(&item)).unwrap().0, Write::Nothing);
    }

    #[test]
    fn adding_to_a_non_number_is_rejected() {
        let rule = counter(1);
        let item = Item::from([("n".to_string(), Attr::s("x"))]);
        assert!(rule.updated(Some(&item), &[("n", Action::Add(1))]).is_err());
        let created = rule.updated(None, &[("n", Action::Add(1))]).unwrap();
        assert_eq!(created.get(PK), Some(&Attr::s("MINER#a")));
    }
}
