//! How a load request goes out: over a bare hyper client for plain-HTTP
//! targets (the cheapest path per request: no per-request URL parsing or
//! middleware), over reqwest (rustls) for HTTPS. Both give the same
//! `Answer`; a body is read up to `LOAD_BODY_LIMIT`, the rest dropped.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::mix::{Answer, LOAD_BODY_LIMIT};
use crate::engine::http::Prepared;

/// A request that got no answer.
#[derive(Debug, Clone, Copy)]
pub struct SendError {
    pub timeout: bool,
}

pub enum Sender {
    Plain(Box<Client<HttpConnector, Full<Bytes>>>),
    Tls(reqwest::Client),
}

const USER_AGENT: &str = concat!("golive/", env!("CARGO_PKG_VERSION"));

impl Sender {
    /// Plain hyper for `http://` bases, else the given reqwest client.
    pub fn for_base(base: &str, tls: reqwest::Client, max_idle: usize) -> Sender {
        if base.starts_with("http://") {
            let mut conn = HttpConnector::new();
            conn.set_nodelay(true);
            Sender::Plain(Box::new(
                Client::builder(TokioExecutor::new())
                    .pool_max_idle_per_host(max_idle)
                    .build(conn),
            ))
        } else {
            Sender::Tls(tls)
        }
    }

    pub async fn send(&self, p: &Prepared) -> Result<Answer, SendError> {
        match self {
            Sender::Tls(c) => super::mix::send(c, p).await.map_err(|e| SendError {
                timeout: e.is_timeout(),
            }),
            Sender::Plain(c) => {
                let fail = SendError { timeout: false };
                let mut b = hyper::Request::builder()
                    .method(p.method.as_str())
                    .uri(&p.url)
                    .header("user-agent", USER_AGENT);
                for (k, v) in &p.headers {
                    b = b.header(k.as_str(), v.as_str());
                }
                let req = b
                    .body(Full::new(p.body.clone().unwrap_or_default()))
                    .map_err(|_| fail)?;
                let work = async {
                    let resp = c.request(req).await.map_err(|_| fail)?;
                    let (parts, mut body) = resp.into_parts();
                    let mut buf = bytes::BytesMut::new();
                    while let Some(frame) = body.frame().await {
                        let frame = frame.map_err(|_| fail)?;
                        if let Ok(chunk) = frame.into_data() {
                            let room = LOAD_BODY_LIMIT.saturating_sub(buf.len());
                            buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
                            if buf.len() >= LOAD_BODY_LIMIT {
                                break;
                            }
                        }
                    }
                    Ok(Answer {
                        status: parts.status.as_u16(),
                        headers: parts.headers,
                        body: buf.freeze(),
                    })
                };
                tokio::time::timeout(p.timeout, work)
                    .await
                    .unwrap_or(Err(SendError { timeout: true }))
            }
        }
    }
}
