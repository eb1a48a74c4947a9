//! Builds the SDK client: aws-config's standard chain, our region/endpoint
//! overrides and the SDK's own retry policy. Credentials are never logged.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::Client;

use crate::connection::DynamoConfig;

/// Attempts per request made by the SDK itself (first try included).
pub const SDK_MAX_ATTEMPTS: u32 = 4;

/// Loads the shared AWS config and builds a DynamoDB client.
pub async fn build_client(config: &DynamoConfig) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &config.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &config.endpoint {
        loader = loader.endpoint_url(endpoint.clone());
    }
    let shared = loader.load().await;
    let retry = RetryConfig::standard()
        .with_max_attempts(SDK_MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(20))
        .with_max_backoff(Duration::from_secs(1));
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(30))
        .build();
    let conf = aws_sdk_dynamodb::config::Builder::from(&shared)
        .retry_config(retry)
        .timeout_config(timeouts)
        .build();
    Client::from_conf(conf)
}
