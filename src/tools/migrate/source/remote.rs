//! Remote shard sources (feature `remote-sources`): an S3-compatible bucket
//! through the AWS S3 SDK, and a public HTTP base URL through reqwest.

use std::time::Duration;

use affine_db_core::error::{Error, Result};

use super::{too_large, Capped, Object, Refusal};

/// An S3-compatible bucket (R2, AWS, moto), path-style addressing.
#[derive(Debug, Clone)]
pub struct S3Source {
    /// The SDK client (endpoint and credentials from the environment).
    pub client: aws_sdk_s3::Client,
    /// Bucket name.
    pub bucket: String,
    /// Key prefix inside the bucket (no leading or trailing `/`), may be empty.
    pub prefix: String,
}

impl S3Source {
    /// Opens `BUCKET[/prefix]` (the part after `s3://`) with the standard
    /// AWS environment; region `us-east-1` when none is configured.
    pub async fn open(rest: &str) -> Result<S3Source> {
        let (bucket, prefix) = match rest.split_once('/') {
            Some((b, p)) => (b, p),
            None => (rest, ""),
        };
        if bucket.is_empty() {
            return Err(Error::invalid(
                "source",
                "s3:// needs a bucket name: s3://BUCKET[/prefix]",
            ));
        }
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        let configured = [
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_PROFILE",
            "AWS_CONFIG_FILE",
        ]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
        if !configured {
            // R2 and moto ignore the region; skip the instance-metadata lookup.
            loader = loader.region(aws_sdk_s3::config::Region::new("us-east-1"));
        }
        let conf = loader.load().await;
        let mut builder = aws_sdk_s3::config::Builder::from(&conf).force_path_style(true);
        if conf.region().is_none() {
            builder = builder.region(aws_sdk_s3::config::Region::new("us-east-1"));
        }
        Ok(S3Source::new(
            aws_sdk_s3::Client::from_conf(builder.build()),
            bucket,
            prefix,
        ))
    }

    /// A source over an existing client.
    pub fn new(client: aws_sdk_s3::Client, bucket: &str, prefix: &str) -> S3Source {
        S3Source {
            client,
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        }
    }

    /// `s3://bucket[/prefix]`.
    pub fn describe(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    /// The object at `key`, at most `limit` bytes: refused from its
    /// declared length when that is over, else streamed and dropped once
    /// past it.
    pub async fn get(&self, key: &str, limit: u64) -> Result<Object> {
        let full = if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        };
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await;
        match out {
            Ok(mut out) => {
                if let Some(len) = out.content_length().and_then(|l| u64::try_from(l).ok()) {
                    if len > limit {
                        return Ok(too_large(Some(len), limit));
                    }
                }
                let mut body = Capped::new(limit);
                while let Some(chunk) = out.body.next().await {
                    let chunk = chunk.map_err(|e| {
                        Error::unavailable_from(format!("reading s3 object {full}"), e)
                    })?;
                    if !body.push(&chunk)? {
                        break;
                    }
                }
                body.finish()
            }
            Err(err) => match s3_error(err, &full) {
                None => Ok(Object::Missing),
                Some(e) => Err(e),
            },
        }
    }
}

/// Maps an S3 error; `None` means "no such key".
fn s3_error(
    err: aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::get_object::GetObjectError>,
    key: &str,
) -> Option<Error> {
    use aws_sdk_s3::error::SdkError;
    let status = err.raw_response().map(|r| r.status().as_u16());
    match &err {
        SdkError::ServiceError(se) if se.err().is_no_such_key() => return None,
        _ if status == Some(404) => return None,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            return Some(Error::unavailable_from(format!("s3 object {key}"), err));
        }
        _ => {}
    }
    let msg = format!("s3 object {key}");
    Some(match status {
        Some(s) if s >= 500 || s == 429 => Error::unavailable_from(msg, err),
        _ => Error::backend_from(msg, err),
    })
}

/// A public HTTP(S) base URL; objects are fetched at `{base}/{key}`.
/// Redirects are never followed, and every URL built is checked to be the
/// base's origin with the base's path before the key.
#[derive(Debug, Clone)]
pub struct HttpSource {
    /// The HTTP client (redirects off).
    pub client: reqwest::Client,
    /// Base URL without a trailing `/`.
    pub base: String,
}

impl HttpSource {
    /// A source at `base` (`http(s)://...`).
    pub fn open(base: &str) -> Result<HttpSource> {
        let parsed = reqwest::Url::parse(base)
            .map_err(|e| Error::invalid("source", format!("{base}: not a URL ({e})")))?;
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(Error::invalid(
                "source",
                format!("{base}: a base URL has no query or fragment"),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::backend_from("HTTP client", e))?;
        Ok(HttpSource {
            client,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// The base URL.
    pub fn describe(&self) -> String {
        self.base.clone()
    }

    /// `{base}/{key}`, if it parses to the base's origin and path plus the
    /// key (a checked key always does).
    fn url(&self, key: &str) -> std::result::Result<reqwest::Url, String> {
        let url = reqwest::Url::parse(&format!("{}/{key}", self.base))
            .map_err(|e| format!("{key:?} does not make a URL ({e})"))?;
        let base = reqwest::Url::parse(&format!("{}/", self.base))
            .map_err(|e| format!("the base URL does not parse ({e})"))?;
        if url.origin() != base.origin() || !url.path().starts_with(base.path()) {
            return Err(format!(
                "{key:?} makes the URL {url}, outside the base {}",
                self.base
            ));
        }
        Ok(url)
    }

    /// The object at `key`, at most `limit` bytes; [`Object::Missing`] on
    /// 404, [`Refusal::Redirected`] on a redirect.
    pub async fn get(&self, key: &str, limit: u64) -> Result<Object> {
        let url = match self.url(key) {
            Ok(u) => u,
            Err(why) => return Ok(Object::Refused(Refusal::UnsafeKey, why)),
        };
        let mut resp = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| Error::unavailable_from(format!("GET {key}"), e))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(Object::Missing);
        }
        if status.is_redirection() {
            let to = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned())
                .unwrap_or_default();
            return Ok(Object::Refused(
                Refusal::Redirected,
                format!("HTTP {status} to {to:?} (redirects are not followed)"),
            ));
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(Error::unavailable(format!("GET {key}: HTTP {status}")));
        }
        if !status.is_success() {
            return Err(Error::backend(format!("GET {key}: HTTP {status}")));
        }
        if let Some(len) = resp.content_length() {
            if len > limit {
                return Ok(too_large(Some(len), limit));
            }
        }
        let mut body = Capped::new(limit);
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| Error::unavailable_from(format!("GET {key}"), e))?
        {
            if !body.push(&chunk)? {
                break;
            }
        }
        body.finish()
    }
}
