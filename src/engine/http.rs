//! Preparing, sending and recording requests: every exchange passes through
//! the redactor before it is kept.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::report::{BodyRecord, Exchange, RequestRecord, ResponseRecord};

/// The most of a response body golive reads (the rest is dropped unread, and
/// the step gets a finding that states this cap). The APIs under test answer
/// in kilobytes; a body past this is a hostile or broken server.
pub const MAX_BODY: usize = 1024 * 1024;

/// The most of one header value the report keeps (a server can send 100 KB
/// headers on every response; the evidence must not grow with them).
pub const HEADER_LIMIT: usize = 1024;

/// The most of a body kept beyond the step that received it (for the
/// pack-wide checks); the parsed JSON is kept only up to this size too.
pub const KEEP_LIMIT: usize = 64 * 1024;

/// How much of a body the report keeps (its size and SHA-256 are always kept).
pub const BODY_LIMIT: usize = 16 * 1024;

/// A key value and the environment variable it stands for in reports.
#[derive(Clone)]
pub struct Secret {
    value: String,
    label: String,
}

impl Secret {
    pub fn new(value: impl Into<String>, label: impl Into<String>) -> Secret {
        Secret {
            value: value.into(),
            label: label.into(),
        }
    }
    pub fn expose(&self) -> &str {
        &self.value
    }
    /// `$GOLIVE_KEY`-style placeholder used wherever the value would appear.
    pub fn placeholder(&self) -> String {
        format!("${}", self.label)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({})", self.placeholder())
    }
}

/// Replaces every known secret value with its placeholder.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<Secret>,
}

impl Redactor {
    pub fn new(mut secrets: Vec<Secret>) -> Redactor {
        secrets.retain(|s| !s.value.is_empty());
        // Longest first, so a key that contains another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.value.len()));
        Redactor { secrets }
    }
    pub fn redact(&self, s: &str) -> String {
        let mut out = s.to_string();
        for sec in &self.secrets {
            if out.contains(&sec.value) {
                out = out.replace(&sec.value, &sec.placeholder());
            }
        }
        out
    }
    /// True when `s` holds any secret (used for headers that are dropped whole).
    pub fn holds_secret(&self, s: &str) -> bool {
        self.secrets.iter().any(|sec| s.contains(&sec.value))
    }
}

/// A request ready to send (and to send again, byte for byte, by `repeat`).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub method: reqwest::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Bytes>,
    pub timeout: Duration,
    /// The pack endpoint it targets, for schema lookup.
    pub endpoint: Option<String>,
}

/// A received response, kept whole for matchers and captures.
#[derive(Debug, Clone)]
pub struct Received {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub json: Option<Value>,
    pub duration: Duration,
    pub request_id: Option<String>,
    /// The body was longer than `MAX_BODY` and was cut there.
    pub capped: bool,
    /// The body's size as received (before any slimming for the pool).
    pub body_size: usize,
}

impl Received {
    /// A copy that keeps at most `KEEP_LIMIT` of the body (and its JSON only
    /// when the body fits): what the pack-wide checks keep of every response.
    pub fn slim(&self) -> Received {
        let mut r = self.clone();
        if r.body.len() > KEEP_LIMIT {
            r.body = r.body.slice(..KEEP_LIMIT);
            r.json = None;
        }
        r
    }
    /// First header value by name, any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }
}

/// The outcome of one attempt.
pub enum Outcome {
    Response(Received),
    Failed(TransportError),
}

/// Why a request got no answer, by cause; `message` is redacted and says it
/// in words (with the underlying cause).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    pub kind: TransportKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// No answer within the request's timeout.
    Timeout,
    /// No connection (refused, unreachable, DNS).
    Connect,
    /// The answer started but its body could not be read (a reset, a lie
    /// about its length).
    Body,
    /// The request could not be sent.
    Request,
    Other,
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub fn body_record(bytes: &[u8], content_type: Option<&str>, redactor: &Redactor) -> BodyRecord {
    let text = std::str::from_utf8(bytes).ok().map(|t| {
        let cut = if t.len() > BODY_LIMIT {
            let mut end = BODY_LIMIT;
            while !t.is_char_boundary(end) {
                end -= 1;
            }
            &t[..end]
        } else {
            t
        };
        redactor.redact(cut)
    });
    BodyRecord {
        size: bytes.len(),
        sha256: hex::encode(Sha256::digest(bytes)),
        content_type: content_type.map(str::to_string),
        text,
        truncated: bytes.len() > BODY_LIMIT,
    }
}

/// Sends one request (no retries) and records it.
pub async fn send(
    client: &reqwest::Client,
    p: &Prepared,
    step: &str,
    run_start: Instant,
    redactor: &Redactor,
    request_id: &RequestIdSource,
) -> (Exchange, Outcome) {
    let started = Instant::now();
    let at_ms = started.duration_since(run_start).as_secs_f64() * 1000.0;
    let request = request_record(p, redactor);
    let result = transmit(client, p).await;
    let duration = started.elapsed();
    let mut ex = Exchange {
        step: step.to_string(),
        at_ms,
        duration_ms: duration.as_secs_f64() * 1000.0,
        request,
        response: None,
        error: None,
        request_id: None,
    };
    match result {
        Ok((status, headers, body, capped)) => {
            let json = if capped {
                None
            } else {
                serde_json::from_slice::<Value>(&body).ok()
            };
            let mut received = Received {
                status,
                headers,
                body_size: body.len(),
                body,
                json,
                duration,
                request_id: None,
                capped,
            };
            received.request_id = request_id.find(&received);
            ex.response = Some(response_record(&received, redactor));
            ex.request_id = received.request_id.as_ref().map(|r| redactor.redact(r));
            (ex, Outcome::Response(received))
        }
        Err(e) => {
            let err = transport_error(&e, p.timeout, redactor);
            ex.error = Some(err.message.clone());
            (ex, Outcome::Failed(err))
        }
    }
}

/// The wire: sends the request and reads its answer, the body up to
/// `MAX_BODY` (a server that streams without end must not exhaust memory;
/// the request's timeout bounds the time). `true` when the body was cut.
async fn transmit(
    client: &reqwest::Client,
    p: &Prepared,
) -> Result<(u16, Vec<(String, String)>, Bytes, bool), reqwest::Error> {
    let mut resp = request(client, p).send().await?;
    let status = resp.status().as_u16();
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).to_string(),
            )
        })
        .collect();
    let (body, capped) = read_capped(&mut resp, MAX_BODY).await?;
    Ok((status, headers, body, capped))
}

/// A prepared request as reqwest sends it (method, URL, timeout, headers, body).
pub(crate) fn request(client: &reqwest::Client, p: &Prepared) -> reqwest::RequestBuilder {
    let mut rb = client.request(p.method.clone(), &p.url).timeout(p.timeout);
    for (k, v) in &p.headers {
        rb = rb.header(k, v);
    }
    if let Some(b) = &p.body {
        rb = rb.body(b.clone());
    }
    rb
}

/// Reads a body up to `cap` bytes (a server that streams without end must
/// not exhaust memory); `true` when it was cut there.
pub(crate) async fn read_capped(
    resp: &mut reqwest::Response,
    cap: usize,
) -> Result<(Bytes, bool), reqwest::Error> {
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = cap.saturating_sub(buf.len());
        if chunk.len() > room {
            buf.extend_from_slice(&chunk[..room]);
            return Ok((buf.freeze(), true));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok((buf.freeze(), false))
}

/// The request as evidence: every value redacted.
fn request_record(p: &Prepared, redactor: &Redactor) -> RequestRecord {
    let req_ct = p
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_str());
    RequestRecord {
        method: p.method.to_string(),
        url: redactor.redact(&p.url),
        headers: p
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), redactor.redact(v)))
            .collect(),
        body: p.body.as_ref().map(|b| body_record(b, req_ct, redactor)),
    }
}

/// The answer as evidence: headers redacted and cut, the body recorded.
fn response_record(received: &Received, redactor: &Redactor) -> ResponseRecord {
    ResponseRecord {
        status: received.status,
        headers: received
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), cut_header(&redactor.redact(v))))
            .collect(),
        body: Some(body_record(
            &received.body,
            received.content_type(),
            redactor,
        )),
    }
}

/// A header value as the report keeps it: at most `HEADER_LIMIT` bytes.
/// The first `max` characters of `s`, with `…` when it was longer.
pub(crate) fn clip_chars(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// A body (or any text) for a message: trimmed, clipped to `max`
/// characters, and `(empty body)` when there is nothing.
pub(crate) fn snippet(s: &str, max: usize) -> String {
    match s.trim() {
        "" => "(empty body)".into(),
        t => clip_chars(t, max),
    }
}

fn cut_header(v: &str) -> String {
    if v.len() <= HEADER_LIMIT {
        return v.to_string();
    }
    let mut end = HEADER_LIMIT;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &v[..end], v.len())
}

/// A transport error in words (without the URL's query, which may hold a key).
fn transport_error(e: &reqwest::Error, timeout: Duration, redactor: &Redactor) -> TransportError {
    let (kind, words) = if e.is_timeout() {
        (
            TransportKind::Timeout,
            format!(
                "no answer within {:.1} s (timed out)",
                timeout.as_secs_f64()
            ),
        )
    } else if e.is_connect() {
        (TransportKind::Connect, "could not connect".to_string())
    } else if e.is_body() || e.is_decode() {
        (
            TransportKind::Body,
            "the response body could not be read".to_string(),
        )
    } else if e.is_request() {
        (
            TransportKind::Request,
            "the request could not be sent".to_string(),
        )
    } else {
        (TransportKind::Other, "transport error".to_string())
    };
    let mut detail = String::new();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        detail = s.to_string();
        src = s.source();
    }
    let message = if detail.is_empty() {
        words
    } else {
        format!("{words}: {detail}")
    };
    TransportError {
        kind,
        message: redactor.redact(&message),
    }
}

/// Where a response's request id is: a header, else a pointer into the body.
#[derive(Debug, Clone)]
pub struct RequestIdSource {
    pub header: String,
    pub pointer: Option<String>,
}

impl RequestIdSource {
    pub fn find(&self, r: &Received) -> Option<String> {
        if let Some(h) = r.header(&self.header) {
            if !h.trim().is_empty() {
                return Some(h.trim().to_string());
            }
        }
        let p = self.pointer.as_ref()?;
        r.json
            .as_ref()?
            .pointer(p)
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

/// Builds a multipart/form-data body by hand, so it can be recorded and repeated.
pub fn multipart_body(
    boundary: &str,
    fields: &[(String, String)],
    files: &[(String, String, String, Vec<u8>)],
) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n",
                quote(name)
            )
            .as_bytes(),
        );
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, filename, ct, data) in files {
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {ct}\r\n\r\n",
                quote(name),
                quote(filename)
            )
            .as_bytes(),
        );
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

fn quote(s: &str) -> String {
    s.replace(['"', '\r', '\n'], "_")
}

/// Generated file content: the type's magic bytes, then zeros.
pub fn generated_file(content_type: &str, size: usize) -> Vec<u8> {
    let magic: &[u8] = match content_type {
        "image/png" => b"\x89PNG\r\n\x1a\n",
        "image/jpeg" => b"\xff\xd8\xff\xe0",
        "image/gif" => b"GIF89a",
        "image/webp" => b"RIFF\0\0\0\0WEBP",
        "video/mp4" => b"\0\0\0\x18ftypmp42",
        "video/webm" => b"\x1a\x45\xdf\xa3",
        _ => b"",
    };
    let mut v = magic.to_vec();
    v.truncate(size);
    v.resize(size, 0);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_replaces_every_occurrence_longest_first() {
        let r = Redactor::new(vec![
            Secret::new("sk_abc", "GOLIVE_KEY"),
            Secret::new("sk_abcdef", "GOLIVE_KEY_OTHER"),
        ]);
        assert_eq!(
            r.redact("x sk_abcdef y sk_abc"),
            "x $GOLIVE_KEY_OTHER y $GOLIVE_KEY"
        );
        assert!(r.holds_secret("Bearer sk_abc"));
        assert!(!format!("{:?}", Secret::new("sk_abc", "GOLIVE_KEY")).contains("sk_abc"));
    }

    #[test]
    fn body_records_truncate_on_char_boundaries() {
        let big = "é".repeat(BODY_LIMIT);
        let rec = body_record(big.as_bytes(), None, &Redactor::default());
        assert!(rec.truncated);
        assert_eq!(rec.size, big.len());
        assert!(rec.text.unwrap().len() <= BODY_LIMIT);
        let bin = body_record(&[0xff, 0xfe], None, &Redactor::default());
        assert!(bin.text.is_none());
    }
}
