//! The HTTP plumbing the testkit's DynamoDB proxies share
//! ([`crate::faults`], [`crate::dynalite`], [`crate::meter`]): JSON replies,
//! forwarding a request to the upstream emulator, and serving every
//! connection of a loopback port with a handler.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

/// A proxy's answer.
pub(crate) type Reply = Response<Full<Bytes>>;

/// The content type of DynamoDB's JSON protocol.
const JSON: &str = "application/x-amz-json-1.0";

/// `body` as it is, with `status`.
pub(crate) fn raw_reply(status: u16, body: Bytes) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", JSON)
        .body(Full::new(body))
        .expect("static response parts")
}

/// `body` as JSON, with `status`.
pub(crate) fn reply(status: u16, body: Value) -> Reply {
    raw_reply(status, Bytes::from(body.to_string()))
}

/// The emulator a proxy forwards to.
pub(crate) struct Upstream {
    url: String,
    http: reqwest::Client,
}

impl Upstream {
    /// The emulator at `url` (`http://HOST:PORT`).
    pub(crate) fn new(url: &str) -> Upstream {
        Upstream {
            url: url.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// Sends the request (`path`, `headers` but the host and length, and
    /// `body`) on; its status and body, or why it could not be sent.
    pub(crate) async fn forward(
        &self,
        path: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<(u16, Bytes), String> {
        let mut req = self.http.post(format!("{}{}", self.url, path));
        for (k, v) in headers {
            if k != "host" && k != "content-length" {
                req = req.header(k.as_str(), v.as_bytes());
            }
        }
        let res = req.body(body).send().await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let bytes = res.bytes().await.map_err(|e| e.to_string())?;
        Ok((status, bytes))
    }
}

/// Binds a loopback port and answers every request on it with
/// `handle(shared, request)`, on the current tokio runtime, until the
/// runtime ends; the port's address.
pub(crate) async fn serve<S, H, F>(shared: Arc<S>, handle: H) -> std::io::Result<SocketAddr>
where
    S: Send + Sync + 'static,
    H: Fn(Arc<S>, Request<Incoming>) -> F + Copy + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(handle(shared, req).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}
