//! Where and how to connect: [`DynamoConfig`] from the environment or a
//! `dynamodb://` URL.

use affine_db_core::{Error, Result};

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

    /// From the parts of a `dynamodb://` URL (parsed by `affine_db_core::open`):
    /// each given part overrides the environment ([`DynamoConfig::from_env`]).
    /// A prefix DynamoDB cannot use, an empty part or an endpoint that is
    /// not an http(s) URL is [`Error::InvalidInput`].
    pub fn from_parts(
        prefix: Option<String>,
        region: Option<String>,
        endpoint: Option<String>,
    ) -> Result<Self> {
        let mut config = DynamoConfig::from_env();
        for (name, part) in [
            ("prefix", &prefix),
            ("region", &region),
            ("endpoint", &endpoint),
        ] {
            if part.as_deref() == Some("") {
                return Err(Error::invalid(name, "must not be empty"));
            }
        }
        if let Some(prefix) = prefix {
            config.prefix = prefix;
        }
        config.region = region;
        if let Some(value) = endpoint {
            let ep = url::Url::parse(&value)
                .map_err(|e| Error::invalid("endpoint", format!("{value:?} is not a URL ({e})")))?;
            if !matches!(ep.scheme(), "http" | "https") || ep.host_str().is_none() {
                return Err(Error::invalid(
                    "endpoint",
                    format!("{value:?} is not an http(s) URL with a host"),
                ));
            }
            config.endpoint = Some(value);
        }
        validate_prefix(&config.prefix)?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_override_and_are_checked() {
        let c = DynamoConfig::from_parts(
            Some("p1".into()),
            Some("eu-west-1".into()),
            Some("http://127.0.0.1:8000".into()),
        )
        .unwrap();
        assert_eq!(c.prefix, "p1");
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:8000"));
        let d = DynamoConfig::from_parts(None, None, None).unwrap();
        assert_eq!((d.region, d.endpoint), (None, None));
        for (prefix, endpoint) in [
            (Some(""), None),
            (Some("a b"), None),
            (None, Some("ftp://x")),
            (None, Some("not a url")),
        ] {
            assert!(
                matches!(
                    DynamoConfig::from_parts(
                        prefix.map(Into::into),
                        None,
                        endpoint.map(Into::into)
                    ),
                    Err(Error::InvalidInput { .. })
                ),
                "{prefix:?} {endpoint:?}"
            );
        }
    }

    #[test]
    fn prefixes_are_checked() {
        assert!(validate_prefix("affine_dev").is_ok());
        assert!(validate_prefix("").is_err());
        assert!(validate_prefix("a b").is_err());
    }
}
