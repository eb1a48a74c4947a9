//! # affine-db-testkit
//!
//! Support code shared by affine-db's tests, benches and the `affine-db
//! bench` command, so none of it is copied between them:
//!
//! - [`link`]: a loopback TCP proxy that delays every byte by a fixed time
//!   in each direction (a network link of a given round trip, default 2 ms
//!   each way) and counts the DynamoDB requests that pass through it.
//! - [`bench`]: the mode, arguments and emulator credentials of the bench
//!   binaries without criterion.
//! - [`bucket`]: a deterministic generator of R2-shaped buckets (index and
//!   result shards like `../shared/data/r2-bucket`) of any size, resampling
//!   and mutating the fixture's records, written to a directory or served
//!   shard by shard without touching the disk.
//! - [`faults`] (feature `faults`): an HTTP proxy in front of the DynamoDB
//!   emulator that injects throttling, server errors and partial batches.
//! - [`dynalite`] (feature `faults`): the shim in front of dynalite that
//!   answers what it lacks (the TTL API), and the choice of implementation
//!   the tests run on (`AFFINE_TEST_DYNAMODB_IMPL`).
//! - [`meter`] (feature `faults`): an HTTP proxy in front of the DynamoDB
//!   emulator that records the items each read reads and the read units
//!   DynamoDB would bill for them.
//! - [`rss`]: the peak resident set size of this process.

pub mod bench;
pub mod bucket;
#[cfg(feature = "faults")]
pub mod dynalite;
#[cfg(feature = "faults")]
pub mod faults;
#[cfg(feature = "faults")]
mod http;
pub mod link;
#[cfg(feature = "faults")]
pub mod meter;
pub mod rss;
