//! The standalone `golive fake`: the same [`FakeCore`] served over hyper
//! (HTTP/1.1, keep-alive) on the caller's multi-thread runtime. Nothing is
//! recorded per request, so memory stays flat under sustained load.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::{FakeCore, FakeError, FakeOptions, FakeRequest, FakeResponse, webhook};

/// Serves the fake on `addr` until the returned future is dropped. `ready`
/// gets the bound address (useful with port 0).
pub async fn serve(
    options: FakeOptions,
    addr: SocketAddr,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), FakeError> {
    options.config.validate()?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| FakeError::Bind { addr, source })?;
    let bound = listener.local_addr()?;
    let limit = options.config.concurrency_limit;
    let core = Arc::new(FakeCore::new(options));
    let slots = limit.map(|n| Arc::new(tokio::sync::Semaphore::new(n)));
    let _webhooks = webhook::DeliveryTask::spawn(core.clone());
    // Connection tasks stop when this sender is dropped with the future.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    let _stop_tx = stop_tx;
    ready(bound);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                // EMFILE and friends: back off a little instead of spinning.
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let core = core.clone();
        let slots = slots.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(core.clone(), slots.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(err) = res {
                        tracing::debug!(%err, "connection ended with an error");
                    }
                }
                _ = stop.changed() => {}
            }
        });
    }
}

async fn handle(
    core: Arc<FakeCore>,
    slots: Option<Arc<tokio::sync::Semaphore>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    // A slot for the whole answer, delay included (`concurrency_limit`).
    let _slot = match &slots {
        Some(s) => s.clone().acquire_owned().await.ok(),
        None => None,
    };
    let (parts, body) = req.into_parts();
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut fake = FakeRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers,
        body: Bytes::new(),
    };
    let resp = match read_body(body, core.max_body_bytes()).await {
        Body::Complete(bytes) => {
            fake.body = bytes;
            core.handle_guarded(fake)
        }
        Body::TooLarge => core.handle_oversized(fake),
    };
    if let Some(delay) = resp.delay {
        tokio::time::sleep(delay).await;
    }
    Ok(to_hyper(resp))
}

fn to_hyper(resp: FakeResponse) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(resp.status);
    for (name, value) in &resp.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(Full::new(resp.body)).unwrap_or_else(|_| {
        let mut fallback = Response::new(Full::new(Bytes::from_static(
            b"{\"error\":{\"code\":\"internal_error\",\"message\":\"bad response\"}}",
        )));
        *fallback.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        fallback
    })
}

enum Body {
    Complete(Bytes),
    TooLarge,
}

/// Reads the body up to `limit` bytes. Past it, the rest is read and
/// discarded (up to 4× the limit) so the client still gets its error
/// response instead of a reset connection; nothing past the limit is kept.
async fn read_body(mut body: Incoming, limit: u64) -> Body {
    let drain_cap = limit.saturating_mul(4);
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut total: u64 = 0;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            // The client went away mid-body: whatever we answer is moot.
            return Body::TooLarge;
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        total = total.saturating_add(data.len() as u64);
        if total > limit {
            chunks.clear();
            if total > drain_cap {
                return Body::TooLarge;
            }
        } else {
            chunks.push(data);
        }
    }
    if total > limit {
        return Body::TooLarge;
    }
    match chunks.len() {
        0 => Body::Complete(Bytes::new()),
        1 => Body::Complete(chunks.pop().unwrap_or_default()),
        _ => {
            let mut all = Vec::with_capacity(total as usize);
            for c in &chunks {
                all.extend_from_slice(c);
            }
            Body::Complete(Bytes::from(all))
        }
    }
}
