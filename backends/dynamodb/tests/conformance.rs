//! The shared conformance suite, against DynamoDB (moto).

mod common;

affine_db::conformance_suite!(common::harness);
