//! Where R2 result shards are read from: a directory laid out like the
//! bucket, an S3-compatible bucket, or a public HTTP base URL.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// A bucket of result shards, addressed by object key
/// (`affine/index.json`, `affine/results/...`).
#[derive(Debug, Clone)]
pub enum Source {
    /// A local directory whose layout mirrors the bucket.
    Dir(PathBuf),
    /// An S3-compatible bucket (R2, AWS, moto), path-style addressing.
    S3 {
        /// The SDK client (endpoint and credentials from the environment).
        client: aws_sdk_s3::Client,
        /// Bucket name.
        bucket: String,
        /// Key prefix inside the bucket (no leading or trailing `/`), may be empty.
        prefix: String,
    },
    /// A public HTTP(S) base URL; objects are fetched at `{base}/{key}`.
    Http {
        /// The HTTP client.
        client: reqwest::Client,
        /// Base URL without a trailing `/`.
        base: String,
    },
}

impl Source {
    /// Opens a source from its spec: `dir://PATH` or a plain path,
    /// `s3://BUCKET[/prefix]` (endpoint and credentials from the standard AWS
    /// environment: `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`,
    /// `AWS_ACCESS_KEY_ID`, ...; region `us-east-1` when none is configured),
    /// or `http(s)://BASE`.
    pub async fn open(spec: &str) -> Result<Source> {
        if let Some(rest) = spec.strip_prefix("s3://") {
            let (bucket, prefix) = match rest.split_once('/') {
                Some((b, p)) => (b, p.trim_matches('/')),
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
            Ok(Source::s3(
                aws_sdk_s3::Client::from_conf(builder.build()),
                bucket,
                prefix,
            ))
        } else if spec.starts_with("http://") || spec.starts_with("https://") {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .map_err(|e| Error::backend(format!("HTTP client: {e}")))?;
            Ok(Source::Http {
                client,
                base: spec.trim_end_matches('/').to_string(),
            })
        } else {
            let path = spec.strip_prefix("dir://").unwrap_or(spec);
            if path.is_empty() {
                return Err(Error::invalid("source", "empty path"));
            }
            let path = PathBuf::from(path);
            if !path.is_dir() {
                return Err(Error::invalid(
                    "source",
                    format!(
                        "{} is not a directory (expected dir://PATH, s3://BUCKET or http(s)://URL)",
                        path.display()
                    ),
                ));
            }
            Ok(Source::Dir(path))
        }
    }

    /// An S3 source over an existing client.
    pub fn s3(client: aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Source {
        Source::S3 {
            client,
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        }
    }

    /// Where this source reads from, for messages (never with credentials).
    pub fn describe(&self) -> String {
        match self {
            Source::Dir(p) => format!("dir://{}", p.display()),
            Source::S3 { bucket, prefix, .. } if prefix.is_empty() => format!("s3://{bucket}"),
            Source::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
            Source::Http { base, .. } => base.clone(),
        }
    }

    /// The object at `key`; `Ok(None)` when there is none. Transient failures
    /// (timeouts, connection errors, 5xx, 429) are [`Error::Unavailable`],
    /// so callers can retry them.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        if key.split('/').any(|p| p == ".." || p.is_empty()) {
            return Err(Error::invalid(
                "key",
                format!("{key:?} is not a plain object key"),
            ));
        }
        match self {
            Source::Dir(root) => {
                let path = root.join(key);
                match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
                    Ok(Ok(bytes)) => Ok(Some(bytes)),
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
                        Err(Error::Unavailable(format!("reading {key}: {e}")))
                    }
                    Ok(Err(e)) => Err(Error::backend(format!("reading {key}: {e}"))),
                    Err(e) => Err(Error::backend(format!("reading {key}: {e}"))),
                }
            }
            Source::S3 {
                client,
                bucket,
                prefix,
            } => {
                let full = if prefix.is_empty() {
                    key.to_string()
                } else {
                    format!("{prefix}/{key}")
                };
                let out = client.get_object().bucket(bucket).key(&full).send().await;
                match out {
                    Ok(out) => {
                        let body = out.body.collect().await.map_err(|e| {
                            Error::Unavailable(format!("reading s3 object {full}: {e}"))
                        })?;
                        Ok(Some(body.into_bytes().to_vec()))
                    }
                    Err(err) => Err(match s3_error(err, &full) {
                        None => return Ok(None),
                        Some(e) => e,
                    }),
                }
            }
            Source::Http { client, base } => {
                let url = format!("{base}/{key}");
                let resp = client
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| Error::Unavailable(format!("GET {key}: {e}")))?;
                let status = resp.status();
                if status == reqwest::StatusCode::NOT_FOUND {
                    return Ok(None);
                }
                if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                    return Err(Error::Unavailable(format!("GET {key}: HTTP {status}")));
                }
                if !status.is_success() {
                    return Err(Error::backend(format!("GET {key}: HTTP {status}")));
                }
                let bytes = resp
                    .bytes()
                    .await
                    .map_err(|e| Error::Unavailable(format!("GET {key}: {e}")))?;
                Ok(Some(bytes.to_vec()))
            }
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
            return Some(Error::Unavailable(format!(
                "s3 object {key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&err)
            )));
        }
        _ => {}
    }
    let msg = format!(
        "s3 object {key}: {}",
        aws_sdk_s3::error::DisplayErrorContext(&err)
    );
    Some(match status {
        Some(s) if s >= 500 || s == 429 => Error::Unavailable(msg),
        _ => Error::Backend(msg),
    })
}
