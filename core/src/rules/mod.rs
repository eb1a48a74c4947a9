//! Every decision of DESIGN §3–§4, written once (DESIGN §10).
//!
//! - Cross-table rules, written against the traits: retention cleanup,
//!   historical top-3 protection, the task claim validated against the
//!   miner's current model ([`cleanup`], [`save_block_scores`],
//!   [`claim_task`]).
//! - Per-table state changes as [`Rule`](crate::mutation::Rule)s the
//!   backends carry out ([`tasks`], [`miners`], [`retention`], [`config`]):
//!   transitions and their outcomes (`NotFound`, `Conflict`, `Stale`),
//!   merges, counters, defaults.
//! - Per-table filters as [`Cond`](crate::cond::Cond)s the backends
//!   translate ([`tasks`], [`logs`], [`samples`], [`scores`]), next to the
//!   orderings in [`tables`](crate::tables) and the TTL rule in
//!   [`ttl`](crate::ttl).
//!
//! - Which reads may be eventually consistent ([`consistency`]).
//!
//! A backend turns these into SQL or DynamoDB requests; it never decides.

mod cross_table;

pub mod config;
pub mod consistency;
pub mod logs;
pub mod miners;
pub mod retention;
pub mod samples;
pub mod scores;
pub mod tasks;

pub use cross_table::*;

use crate::error::{Error, Result};
use crate::item::Item;

/// The item a branch's effect returned, which a rule's update always has.
fn returned<'a>(table: &str, item: Option<&'a Item>) -> Result<&'a Item> {
    item.ok_or_else(|| Error::backend(format!("{table}: an update returned no item")))
}
