//! Carries out the core's read-modify-write [`Rule`]s on DynamoDB: each
//! branch is one conditional UpdateItem or DeleteItem (its condition as the
//! `ConditionExpression`), applied atomically by the server.
//!
//! A branch whose condition fails returns the stored item (`ALL_OLD`, asked
//! for with `ReturnValuesOnConditionCheckFailure`). When the failure carries
//! no item (the item is missing, or the server does not honour the
//! parameter, as dynalite and older DynamoDB-compatible servers do), the
//! stored item is read with a consistent GetItem instead, so the outcome
//! never depends on that parameter: the read sees the item as it is after
//! the failed request, which is a state a serial execution passes through.
//! The next branches are evaluated on it by the core and only sent when they
//! can apply. When no branch applies to the latest item, the rule's
//! `otherwise` decides on that very item, which is what a serial execution
//! at that instant answers. When the item keeps changing under the rule
//! (another writer between two requests), the rule starts over, a bounded
//! number of times.

use affine_db_core::mutation::{Effect, Rule};
use affine_db_core::{Error, Item, Result};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use crate::convert::{self, AvMap};
use crate::errors::map_err;
use crate::expr::Expr;
use crate::DynamoBackend;

/// How often a rule starts over when the item changes between requests.
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

impl DynamoBackend {
    /// Runs `rule` (serialised with this process's other rules on the item).
    pub(crate) async fn execute<T>(&self, rule: Rule<T>) -> Result<T> {
        let _guard = self.lock_item(rule.table, &rule.pk, &rule.sk).await;
        // The stored item as last seen; `None` until a condition has failed.
        let mut seen: Option<Option<Item>> = None;
        for _ in 0..MAX_ROUNDS {
            for branch in &rule.branches {
                if let Some(current) = &seen {
                    if !branch.when.eval(current.as_ref()) {
                        continue;
                    }
                }
                match self.send(&rule, &branch.when, &branch.effect).await? {
                    Sent::Applied(item) => return (branch.then)(item.as_ref()),
                    Sent::Failed(current) => seen = Some(current),
                }
            }
            let current = seen.clone().flatten();
            if rule.branch_for(current.as_ref()).is_none() {
                return (rule.otherwise)(current.as_ref());
            }
        }
        Err(Error::unavailable(format!(
            "{}: {}/{} kept changing during the update; retry",
            self.table_name(rule.table),
            rule.pk,
            rule.sk
        )))
    }

    /// The stored item a failed condition was evaluated on: the one the
    /// failure returned, else (none returned) a consistent read of it.
    async fn failed_on<T>(&self, rule: &Rule<T>, returned: Option<AvMap>) -> Result<Sent> {
        if let Some(item) = item_of(returned)? {
            return Ok(Sent::Failed(Some(item)));
        }
        let name = self.table_name(rule.table);
        let out = self
            .client
            .get_item()
            .table_name(name)
            .set_key(Some(convert::key(&rule.pk, &rule.sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| map_err(e, &format!("{name}: get {}/{}", rule.pk, rule.sk)))?;
        Ok(Sent::Failed(item_of(out.item)?))
    }

    /// Sends one branch as a conditional request.
    async fn send<T>(
        &self,
        rule: &Rule<T>,
        when: &affine_db_core::cond::Cond,
        effect: &Effect,
    ) -> Result<Sent> {
        let name = self.table_name(rule.table);
        let what = || format!("{name}: update {}/{}", rule.pk, rule.sk);
        let mut e = Expr::new();
        let condition = e.condition(when);
        match effect {
            Effect::Update(actions) => {
                let update = e.update(actions);
                let res = self
                    .client
                    .update_item()
                    .table_name(name)
                    .set_key(Some(convert::key(&rule.pk, &rule.sk)))
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
                                self.failed_on(rule, c.item).await
                            }
                            other => Err(Error::backend_from(what(), other)),
                        }
                    }
                    Err(err) => Err(map_err(err, &what())),
                }
            }
            Effect::Delete => {
                let res = self
                    .client
                    .delete_item()
                    .table_name(name)
                    .set_key(Some(convert::key(&rule.pk, &rule.sk)))
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
                                self.failed_on(rule, c.item).await
                            }
                            other => Err(Error::backend_from(what(), other)),
                        }
                    }
                    Err(err) => Err(map_err(err, &what())),
                }
            }
        }
    }
}
