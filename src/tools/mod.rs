//! Operational tools built on the table traits, not part of the contract:
//! importing R2 result shards ([`migrate`]), loading an R2-shaped directory
//! for benches ([`corpus`]), export/import of whole stores ([`snapshot`]),
//! and the DynamoDB write cost of a stored sample ([`write_cost`]).

pub mod corpus;
pub mod migrate;
pub mod snapshot;
pub mod write_cost;
