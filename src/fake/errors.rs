//! The fake's error answers, typed: an [`ApiError`] is what went wrong (a
//! status, a code, a message, details); each API fake writes it in its own
//! envelope ([`super::api::ApiFake::envelope`]). [`CommonError`] lists the
//! errors the shared machinery raises (routing, auth, rate limit,
//! idempotency, body size, panics), which each API maps to its own codes.

use bytes::Bytes;
use serde_json::Value;

use super::http::Reply;

/// One error answer, before it is written in an API's envelope.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub code: &'static str,
    /// May be empty when `details` says it all (Removit's validation errors).
    pub message: String,
    /// Field → messages (Removit's 422 `details`).
    pub details: Option<Box<Value>>,
    /// Extra headers (e.g. `retry-after` on a 503).
    pub extra: Vec<(&'static str, String)>,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            extra: Vec::new(),
        }
    }

    /// An error whose `details` carry the messages.
    pub(crate) fn with_details(status: u16, code: &'static str, details: Value) -> ApiError {
        ApiError {
            details: Some(Box::new(details)),
            ..ApiError::new(status, code, String::new())
        }
    }

    /// The text of the `unstructured-errors` body: the message, else the code.
    fn text(&self) -> &str {
        if self.message.is_empty() {
            self.code
        } else {
            &self.message
        }
    }
}

/// Errors the shared machinery raises, whatever the API.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum CommonError {
    /// No route for this method and path.
    NotFound {
        method: String,
        path: String,
    },
    /// No key (`invalid: false`), or an unknown or disabled one.
    Unauthorized {
        invalid: bool,
    },
    RateLimited,
    /// The body is over the configured limit.
    TooLarge,
    /// An `Idempotency-Key` that is empty or longer than 255 characters.
    IdempotencyKeyInvalid,
    /// A same-key request is still in flight.
    IdempotencyInProgress,
    /// The key was used with another request.
    IdempotencyKeyReused,
    /// The core panicked.
    Internal,
}

impl CommonError {
    /// The message, the same in every API.
    pub(crate) fn message(&self) -> String {
        match self {
            CommonError::NotFound { method, path } => format!("No route for {method} {path}"),
            CommonError::Unauthorized { invalid: true } => "API key invalid".into(),
            CommonError::Unauthorized { invalid: false } => "API key missing".into(),
            CommonError::RateLimited => "Too many requests".into(),
            CommonError::TooLarge => "File too large".into(),
            CommonError::IdempotencyKeyInvalid => {
                "Idempotency-Key must be 1 to 255 characters".into()
            }
            CommonError::IdempotencyInProgress => {
                "A request with this Idempotency-Key is still in progress".into()
            }
            CommonError::IdempotencyKeyReused => {
                "Idempotency-Key already used with a different request body".into()
            }
            CommonError::Internal => "Internal error".into(),
        }
    }
}

fn reason(status: u16) -> &'static str {
    hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

/// The `unstructured-errors` body: HTML for 404/5xx, plain text otherwise.
pub(crate) fn unstructured(error: &ApiError) -> Reply {
    let (status, message) = (error.status, error.text());
    let (body, ct) = if status == 404 || status >= 500 {
        let escaped = message
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        (
            format!(
                "<!DOCTYPE html><html><head><title>{status} {r}</title></head><body><h1>{status} {r}</h1><p>{escaped}</p></body></html>",
                r = reason(status)
            ),
            "text/html; charset=utf-8",
        )
    } else {
        (
            format!("{status} {}: {message}", reason(status)),
            "text/plain; charset=utf-8",
        )
    };
    Reply::raw(status, Bytes::from(body), Some(ct))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unstructured_bodies_are_html_for_404_and_5xx_text_otherwise() {
        let html = unstructured(&ApiError::new(404, "not_found", "a <b> & c"));
        assert_eq!(html.content_type, Some("text/html; charset=utf-8"));
        let text = String::from_utf8_lossy(&html.body).into_owned();
        assert!(text.contains("404 Not Found") && text.contains("a &lt;b&gt; &amp; c"));
        let plain = unstructured(&ApiError::with_details(422, "validation", Value::Null));
        assert_eq!(&plain.body[..], b"422 Unprocessable Entity: validation");
    }
}
