//! # affine-db
//!
//! The storage layer of Affine validators: evaluation samples with
//! compressed conversations, a task queue, execution logs, score snapshots,
//! dynamic config, miner metadata and retention policies — on an embedded
//! SQLite file or on DynamoDB, with identical behaviour.
//!
//! Open a store by URL and use its tables:
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use affine_db::{ParamValue, Store};
//!
//! let store: Store = affine_db::open("sqlite::memory:").await?;
//! store.config.set_param("max_tasks", ParamValue::Int(10), "", "me").await?;
//! let value = store.config.get_param_value("max_tasks", ParamValue::Int(5)).await?;
//! assert_eq!(value, ParamValue::Int(10));
//! # Ok::<(), affine_db::Error>(())
//! # }).unwrap();
//! ```
//!
//! This crate is the front door: [`open`] for every URL form, the contract
//! re-exported from [`affine_db_core`] (records, key scheme, TTL and
//! retention rules, codec, the error enum and one trait per table), and the
//! operational [`tools`] (migration, export/import, corpus loading, write
//! cost). Backends are cargo features:
//!
//! | feature | what it adds |
//! |---|---|
//! | `sqlite` (default) | `sqlite://PATH` and `sqlite::memory:` ([`sqlite`]) |
//! | `dynamodb` | `dynamodb://...` ([`dynamodb`]); pulls in the AWS SDK |
//! | `remote-sources` | migration from `s3://` and `http(s)://` sources |
//!
//! A program that enables only `sqlite` depends on no AWS, hyper, reqwest or
//! rustls crate.

pub use affine_db_core::*;

pub mod open;
pub mod tools;

pub use open::{open, open_with, Access, OpenOptions, StoreUrl};

/// The SQLite backend (feature `sqlite`).
#[cfg(feature = "sqlite")]
pub use affine_db_sqlite as sqlite;

/// The DynamoDB backend (feature `dynamodb`).
#[cfg(feature = "dynamodb")]
pub use affine_db_dynamodb as dynamodb;

/// The README's code examples, compiled and run as doctests so they stay
/// true to the API (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
