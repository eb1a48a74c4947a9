//! dynamodb
