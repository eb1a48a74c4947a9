//! The shared conformance suite against DynamoDB (moto, or dynalite): the
//! core-owned table handles over the storage driver (`DynamoDriver`) on a
//! fresh random prefix, tables created.

mod common;

affine_db_core::conformance_main!("" => common::harness);
