//! [`Driver::execute`](affine_db_core::driver::Driver::execute) on
//! DynamoDB: a [`Mutation`]'s branches as conditional UpdateItem or
//! DeleteItem calls.
//!
//! Branch `i` is sent with the condition "branch `i`'s condition holds and
//! none of the earlier branches' does", so whatever the item is when the
//! server applies the request, the branch applied is the first that holds
//! on it, as [`Mutation::apply`] says. The first request tries branch 0.
//! When a condition fails, the stored item is the one the failure returned
//! (`ReturnValuesOnConditionCheckFailure=ALL_OLD`) or, when it returned none
//! (a missing item, or a server that ignores the parameter, as dynalite
//! does), a consistent GetItem of it; the outcome never depends on that
//! parameter. The first branch that holds on that item is sent next; when
//! none does, no branch applies, and [`Applied`] carries that item. An item
//! that keeps changing between requests makes the mutation start over, a
//! bounded number of times, then [`Error::Unavailable`].

use affine_db_core::cond::Cond;
use affine_db_core::driver::{check_put, Applied, Mutation};
use affine_db_core::mutation::{Action, Effect};
use affine_db_core::schema::{PK, SK};
use affine_db_core::{Attr, Error, Item, Result};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::DynamoDriver;
use crate::convert::{self, AvMap};
use crate::errors::map_err;
use crate::expr::Expr;

/// How many conditional requests one mutation sends at most.
const MAX_ROUNDS: usize = 16;

/// What one conditional request did.
enum Sent {
    /// It applied; the item it returned (new after an update, old after a delete).
    Applied(Option<Item>),
    /// Its condition failed on this stored item (`None`: missing).
    Failed(Option<Item>),
}

fn item_of(map: Option<AvMap>) -> Result<Option<Item>> {
    match map {
        Some(m) if !m.is_empty() => convert::from_map(&m).map(Some),
        _ => Ok(None),
    }
}

/// The condition branch `i` is sent with: its own, and none of the
/// earlier branches'.
fn guard(m: &Mutation, i: usize) -> Cond {
    m.branches[..i]
        .iter()
        .fold(m.branches[i].0.clone(), |c, (earlier, _)| {
            c.and(earlier.clone().not())
        })
}

/// Refuses an update that would write what [`check_put`] refuses (an
/// attribute the table does not have, or of the wrong type), before it is
/// sent, as every driver does.
fn check_update(m: &Mutation, actions: &[(&'static str, Action)]) -> Result<()> {
    let mut item = Item::from([
        (PK.to_string(), Attr::S(m.pk.clone())),
        (SK.to_string(), Attr::S(m.sk.clone())),
    ]);
    for (attr, action) in actions {
        let value = match action {
            Action::Set(v) | Action::SetIfAbsent(v) => v.clone(),
            Action::Add(n) => Attr::int(*n),
        };
        item.insert((*attr).to_string(), value);
    }
    check_put(m.table, &item)
}

/// Carries out `m` (serialised with this process's other mutations of the item).
pub(super) async fn run(d: &DynamoDriver, m: Mutation) -> Result<Applied> {
    let _guard = d.lock_item(m.table, &m.pk, &m.sk).await;
    // The stored item as last seen; `None` until a condition has failed.
    let mut seen: Option<Option<Item>> = None;
    for _ in 0..MAX_ROUNDS {
        let i = match &seen {
            None if m.branches.is_empty() => {
                let current = read(d, &m).await?;
                return Ok(Applied {
                    branch: None,
                    item: current,
                });
            }
            None => 0,
            Some(current) => {
                match m
                    .branches
                    .iter()
                    .position(|(c, _)| c.eval(current.as_ref()))
                {
                    Some(i) => i,
                    None => {
                        return Ok(Applied {
                            branch: None,
                            item: current.clone(),
                        })
                    }
                }
            }
        };
        match send(d, &m, &guard(&m, i), &m.branches[i].1).await? {
            Sent::Applied(item) => {
                return Ok(Applied {
                    branch: Some(i),
                    item,
                })
            }
            Sent::Failed(current) => seen = Some(current),
        }
    }
    Err(Error::unavailable(format!(
        "{}: {}/{} kept changing during the update; retry",
        d.table_name(m.table),
        m.pk,
        m.sk
    )))
}

/// The stored item, read consistently.
async fn read(d: &DynamoDriver, m: &Mutation) -> Result<Option<Item>> {
    let name = d.table_name(m.table);
    let out = d
        .client
        .get_item()
        .table_name(name)
        .set_key(Some(convert::key(&m.pk, &m.sk)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| map_err(e, &format!("{name}: get {}/{}", m.pk, m.sk)))?;
    item_of(out.item)
}

/// The stored item a failed condition was evaluated on: the one the
/// failure returned, else (none returned) a consistent read of it.
async fn failed_on(d: &DynamoDriver, m: &Mutation, returned: Option<AvMap>) -> Result<Sent> {
    if let Some(item) = item_of(returned)? {
        return Ok(Sent::Failed(Some(item)));
    }
    Ok(Sent::Failed(read(d, m).await?))
}

/// Sends one branch as a conditional request.
async fn send(d: &DynamoDriver, m: &Mutation, when: &Cond, effect: &Effect) -> Result<Sent> {
    let name = d.table_name(m.table);
    let what = || format!("{name}: update {}/{}", m.pk, m.sk);
    let mut e = Expr::new();
    let condition = e.condition(when);
    match effect {
        Effect::Update(actions) => {
            check_update(m, actions)?;
            let update = e.update(actions);
            let res = d
                .client
                .update_item()
                .table_name(name)
                .set_key(Some(convert::key(&m.pk, &m.sk)))
                .update_expression(update)
                .set_condition_expression(condition)
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values())
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            match res {
                Ok(out) => Ok(Sent::Applied(item_of(out.attributes)?)),
                Err(SdkError::ServiceError(se))
                    if matches!(
                        se.err(),
                        UpdateItemError::ConditionalCheckFailedException(_)
                    ) =>
                {
                    match se.into_err() {
                        UpdateItemError::ConditionalCheckFailedException(c) => {
                            failed_on(d, m, c.item).await
                        }
                        other => Err(Error::backend_from(what(), other)),
                    }
                }
                Err(err) => Err(map_err(err, &what())),
            }
        }
        Effect::Delete => {
            let res = d
                .client
                .delete_item()
                .table_name(name)
                .set_key(Some(convert::key(&m.pk, &m.sk)))
                .set_condition_expression(condition)
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values())
                .return_values(ReturnValue::AllOld)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            match res {
                Ok(out) => Ok(Sent::Applied(item_of(out.attributes)?)),
                Err(SdkError::ServiceError(se))
                    if matches!(
                        se.err(),
                        DeleteItemError::ConditionalCheckFailedException(_)
                    ) =>
                {
                    match se.into_err() {
                        DeleteItemError::ConditionalCheckFailedException(c) => {
                            failed_on(d, m, c.item).await
                        }
                        other => Err(Error::backend_from(what(), other)),
                    }
                }
                Err(err) => Err(map_err(err, &what())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use affine_db_core::Table;

    #[test]
    fn later_branches_exclude_the_earlier_ones() {
        let m = Mutation {
            table: Table::TaskQueue,
            pk: "P".into(),
            sk: "T".into(),
            branches: vec![
                (Cond::Exists.not(), Effect::Delete),
                (Cond::eq_s("status", "a"), Effect::Delete),
                (Cond::True, Effect::Delete),
            ],
        };
        assert_eq!(guard(&m, 0), Cond::Exists.not());
        assert_eq!(
            guard(&m, 2),
            Cond::And(vec![
                Cond::Exists.not().not(),
                Cond::eq_s("status", "a").not()
            ])
        );
        let item = Item::from([("status".to_string(), Attr::s("a"))]);
        assert!(guard(&m, 1).eval(Some(&item)));
        assert!(!guard(&m, 2).eval(Some(&item)));
        assert!(matches!(
            check_update(&m, &[("nope", Action::Set(Attr::int(1)))]),
            Err(Error::InvalidInput { .. })
        ));
    }
}
