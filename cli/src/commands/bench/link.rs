//! `bench --latency-ms MS`: the run goes through a loopback proxy that adds
//! `MS / 2` milliseconds each way in front of the store's DynamoDB endpoint
//! ([`affine_db_testkit::link`]), so a loopback emulator behaves like a
//! DynamoDB one network round trip away.

use affine_db::{Error, Result, StoreUrl};
use affine_db_testkit::link::{Link, LinkProxy};

/// The most `--latency-ms` accepts.
pub(super) const MAX_LATENCY_MS: f64 = 1_000.0;

/// Starts a proxy adding `rtt_ms` of round trip in front of the endpoint of
/// `db_url` and returns it with the URL to open instead. The store must be
/// `dynamodb://` with a plain `http://` loopback endpoint (from the URL, or
/// else `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL`); anything else is
/// [`Error::InvalidInput`].
pub(super) fn start(db_url: &str, rtt_ms: f64) -> Result<(LinkProxy, String)> {
    if !(rtt_ms.is_finite() && (0.0..=MAX_LATENCY_MS).contains(&rtt_ms)) {
        return Err(Error::invalid(
            "--latency-ms",
            format!("{rtt_ms} is outside 0..={MAX_LATENCY_MS}"),
        ));
    }
    let StoreUrl::DynamoDb {
        prefix,
        region,
        endpoint,
        strong_reads,
    } = StoreUrl::parse(db_url)?
    else {
        return Err(Error::invalid(
            "--latency-ms",
            "adds latency in front of a DynamoDB endpoint; --db is not a dynamodb:// URL",
        ));
    };
    let endpoint = endpoint
        .or_else(|| std::env::var("AWS_ENDPOINT_URL_DYNAMODB").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .filter(|e| !e.is_empty())
        .ok_or_else(|| {
            Error::invalid(
                "--latency-ms",
                "needs the DynamoDB endpoint (endpoint= in --db, or AWS_ENDPOINT_URL_DYNAMODB)",
            )
        })?;
    let proxy = LinkProxy::start(&endpoint, Link::round_trip_ms(rtt_ms)).map_err(|e| {
        Error::invalid(
            "--latency-ms",
            format!("cannot proxy {endpoint}: {e} (a plain http:// loopback endpoint is needed)"),
        )
    })?;
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("endpoint", proxy.url());
    if let Some(p) = prefix {
        query.append_pair("prefix", &p);
    }
    if let Some(r) = region {
        query.append_pair("region", &r);
    }
    if strong_reads {
        query.append_pair("reads", "strong");
    }
    let url = format!("dynamodb://?{}", query.finish());
    Ok((proxy, url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_loopback_dynamodb_endpoint_is_proxied() {
        for (url, ms) in [
            ("sqlite::memory:", 4.0),
            ("dynamodb://?endpoint=http://10.1.2.3:8000", 4.0),
            ("dynamodb://?endpoint=https://127.0.0.1:8000", 4.0),
            ("dynamodb://?endpoint=http://127.0.0.1:8000", -1.0),
            ("dynamodb://?endpoint=http://127.0.0.1:8000", f64::NAN),
        ] {
            assert!(
                matches!(start(url, ms), Err(Error::InvalidInput { .. })),
                "{url} {ms}"
            );
        }
        let (proxy, url) = start(
            "dynamodb://?prefix=p1&region=eu-west-1&endpoint=http://127.0.0.1:8000",
            4.0,
        )
        .unwrap();
        assert_eq!(proxy.link().rtt(), std::time::Duration::from_millis(4));
        match StoreUrl::parse(&url).unwrap() {
            StoreUrl::DynamoDb {
                prefix,
                region,
                endpoint,
                ..
            } => {
                assert_eq!(prefix.as_deref(), Some("p1"));
                assert_eq!(region.as_deref(), Some("eu-west-1"));
                assert_eq!(endpoint.as_deref(), Some(proxy.url()));
            }
            other => panic!("{other:?}"),
        }
    }
}
