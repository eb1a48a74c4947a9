//! The shared conformance suite, against DynamoDB (moto).

mod common;

affine_db_core::conformance_main!(common::harness);
