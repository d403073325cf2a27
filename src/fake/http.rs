//! The core's request and response types, the reply a handler builds before
//! the common headers are added, and small request helpers every API uses.

use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

/// A request as the core sees it (header names lower-case).
#[derive(Clone, Debug, Default)]
pub struct FakeRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl FakeRequest {
    /// First value of a header, name matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// First value of a query parameter (percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The `x-api-key` header, trimmed, when not empty.
    pub(crate) fn api_key_header(&self) -> Option<&str> {
        self.header("x-api-key")
            .map(str::trim)
            .filter(|k| !k.is_empty())
    }
}

/// A response for the transport to send after `delay`.
#[derive(Clone, Debug, Default)]
pub struct FakeResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub delay: Option<Duration>,
}

impl FakeResponse {
    /// First value of a header, name matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }
}

/// First value of header `name` (matched case-insensitively) in `headers`.
fn header_in<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A reply before the common headers are added.
pub(crate) struct Reply {
    pub status: u16,
    pub body: Bytes,
    pub content_type: Option<&'static str>,
    pub extra: Vec<(&'static str, String)>,
    pub delay_ms: u64,
}

impl Reply {
    pub(crate) fn json<T: Serialize>(status: u16, value: &T) -> Reply {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Reply::raw(status, Bytes::from(body), Some("application/json"))
    }

    pub(crate) fn raw(status: u16, body: Bytes, content_type: Option<&'static str>) -> Reply {
        Reply {
            status,
            body,
            content_type,
            extra: Vec::new(),
            delay_ms: 0,
        }
    }
}

/// Content type without parameters, lower-case.
pub(crate) fn mime(req: &FakeRequest) -> String {
    req.header("content-type")
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

pub(crate) fn is_json_mime(m: &str) -> bool {
    m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
}

/// The part of a URL that carries fate markers: its path
/// (not host or query); an unparsable value is used as is.
pub(crate) fn url_path(raw: &str) -> String {
    url::Url::parse(raw)
        .map(|u| u.path().to_string())
        .unwrap_or_else(|_| raw.to_string())
}

pub(crate) fn is_http_url(raw: &str) -> bool {
    url::Url::parse(raw)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .unwrap_or(false)
}

pub(crate) fn rfc3339(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn new_ulid() -> String {
    ulid::Ulid::new().to_string()
}
