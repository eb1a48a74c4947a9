//! Where and how to connect: [`DynamoConfig`] from the environment or a
//! `dynamodb://` URL.

use affine_db::{Error, Result};

/// Default table prefix when `DYNAMODB_TABLE_PREFIX` is unset.
pub const DEFAULT_PREFIX: &str = "affine";

/// Where and how to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoConfig {
    /// Table name prefix: tables are `{prefix}_{name}`.
    pub prefix: String,
    /// Region override; `None` leaves it to aws-config's standard chain.
    pub region: Option<String>,
    /// Endpoint override (for example a local emulator); `None` leaves it to
    /// aws-config (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
}

fn env_prefix() -> String {
    std::env::var("DYNAMODB_TABLE_PREFIX")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PREFIX.to_string())
}

fn validate_prefix(prefix: &str) -> Result<()> {
    // DynamoDB table names: 3-255 chars of [a-zA-Z0-9_.-]; the longest suffix is 22 bytes.
    let ok = !prefix.is_empty()
        && prefix.len() <= 200
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "prefix",
            format!("{prefix:?} is not a valid table prefix; use letters, digits, '_', '-' or '.'"),
        ))
    }
}

impl DynamoConfig {
    /// From the environment: `DYNAMODB_TABLE_PREFIX` (default `affine`);
    /// region and endpoint left to aws-config's standard chain
    /// (`AWS_REGION`, `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL`).
    pub fn from_env() -> Self {
        DynamoConfig {
            prefix: env_prefix(),
            region: None,
            endpoint: None,
        }
    }

    /// From a `dynamodb://` URL with optional query parameters `prefix`,
    /// `region` and `endpoint` overriding the environment. Anything else is
    /// [`Error::InvalidInput`].
    pub fn from_url(url: &str) -> Result<Self> {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::invalid(
                "url",
                format!("{url:?} is not a URL ({e}); use dynamodb://?prefix=NAME"),
            )
        })?;
        if parsed.scheme() != "dynamodb" {
            return Err(Error::invalid(
                "url",
                format!(
                    "scheme {:?} is not dynamodb; use dynamodb://",
                    parsed.scheme()
                ),
            ));
        }
        if parsed.host_str().is_some_and(|h| !h.is_empty())
            || !matches!(parsed.path(), "" | "/")
            || !parsed.username().is_empty()
            || parsed.password().is_some()
            || parsed.fragment().is_some()
        {
            return Err(Error::invalid(
                "url",
                "a dynamodb URL has no host, path, user or fragment; pass options as query parameters (prefix, region, endpoint)",
            ));
        }
        let mut config = DynamoConfig::from_env();
        for (key, value) in parsed.query_pairs() {
            let value = value.into_owned();
            if value.is_empty() {
                return Err(Error::invalid(key.as_ref(), "must not be empty"));
            }
            match key.as_ref() {
                "prefix" => config.prefix = value,
                "region" => config.region = Some(value),
                "endpoint" => {
                    let ep = url::Url::parse(&value).map_err(|e| {
                        Error::invalid("endpoint", format!("{value:?} is not a URL ({e})"))
                    })?;
                    if !matches!(ep.scheme(), "http" | "https") {
                        return Err(Error::invalid(
                            "endpoint",
                            format!("{value:?} is not http(s)"),
                        ));
                    }
                    config.endpoint = Some(value);
                }
                other => {
                    return Err(Error::invalid(
                        "url",
                        format!(
                            "unknown query parameter {other:?}; known: prefix, region, endpoint"
                        ),
                    ))
                }
            }
        }
        validate_prefix(&config.prefix)?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_checked() {
        assert!(validate_prefix("affine_dev").is_ok());
        assert!(validate_prefix("").is_err());
        assert!(validate_prefix("a b").is_err());
    }
}
