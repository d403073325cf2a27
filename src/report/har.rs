//! The evidence as a HAR 1.2 file (`--har`), which browsers' developer tools
//! and proxies open. One page per check (so the exchanges group by check),
//! one entry per exchange, in run order.
//!
//! What HAR cannot say is kept in comments and `_`-prefixed custom fields
//! (allowed by the spec): the check and step behind each entry, the request id,
//! truncation, size and SHA-256 of bodies, transport errors. Credential header
//! values and key query parameters are masked, as in every rendered format.

use super::ReportError;
use super::model::*;
use super::text;
use serde_json::{Value, json};

/// Builds the HAR document.
pub fn to_value(report: &Report) -> Value {
    let start = chrono::DateTime::parse_from_rfc3339(&report.started_at)
        .map(|d| d.with_timezone(&chrono::Utc))
        .unwrap_or_default();
    let at = |ms: f64| {
        let ms = text::finite(ms);
        let t = start
            .checked_add_signed(chrono::Duration::microseconds((ms * 1000.0) as i64))
            .unwrap_or(start);
        t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let mut pages = Vec::new();
    let mut entries = Vec::new();
    for c in &report.checks {
        let first = c
            .evidence
            .iter()
            .map(|x| x.at_ms)
            .filter(|v| v.is_finite())
            .fold(f64::INFINITY, f64::min);
        if c.evidence.is_empty() {
            continue;
        }
        pages.push(json!({
            "startedDateTime": at(if first.is_finite() { first } else { 0.0 }),
            "id": c.id,
            "title": format!("{} [{}] {}", c.id, c.status.as_str(), c.title),
            "pageTimings": {},
            "comment": c.summary,
        }));
        for x in &c.evidence {
            entries.push((x.at_ms, entry(c, x, at(x.at_ms))));
        }
    }
    // Run order; a stable sort keeps check order for equal times.
    entries.sort_by(|a, b| a.0.total_cmp(&b.0));
    json!({
        "log": {
            "version": "1.2",
            "creator": { "name": "golive", "version": report.golive_version },
            "pages": pages,
            "entries": entries.into_iter().map(|(_, e)| e).collect::<Vec<_>>(),
            "comment": format!("{}: {}", report.verdict, report.verdict_reason),
        }
    })
}

/// The HAR document as pretty JSON.
pub fn to_string(report: &Report) -> Result<String, ReportError> {
    let mut s = serde_json::to_string_pretty(&to_value(report)).map_err(ReportError::Serialize)?;
    s.push('\n');
    Ok(s)
}

fn headers(h: &[(String, String)]) -> Vec<Value> {
    h.iter()
        .map(|(n, v)| json!({ "name": n, "value": text::shown_header_value(n, v) }))
        .collect()
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn body_comment(b: &BodyRecord) -> String {
    let mut s = format!("{} bytes, sha256 {}", b.size, b.sha256);
    if b.truncated {
        s.push_str(", truncated in the report");
    }
    if b.text.is_none() {
        s.push_str(", not text (not recorded)");
    }
    s
}

fn entry(c: &CheckResult, x: &Exchange, started: String) -> Value {
    let url = text::shown_url(&x.request.url);
    let query: Vec<Value> = url::Url::parse(&url)
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| json!({ "name": k, "value": v }))
                .collect()
        })
        .unwrap_or_default();
    let mut request = json!({
        "method": x.request.method,
        "url": url,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": headers(&x.request.headers),
        "queryString": query,
        "headersSize": -1,
        "bodySize": x.request.body.as_ref().map_or(0, |b| b.size as i64),
    });
    if let Some(b) = &x.request.body {
        let mime = b
            .content_type
            .clone()
            .or_else(|| header(&x.request.headers, "content-type").map(str::to_string))
            .unwrap_or_default();
        request["postData"] = json!({
            "mimeType": mime,
            "text": b.text.clone().unwrap_or_default(),
            "comment": body_comment(b),
        });
    }
    let response = match &x.response {
        Some(r) => {
            let mut content = json!({
                "size": r.body.as_ref().map_or(0, |b| b.size),
                "mimeType": r.body.as_ref().and_then(|b| b.content_type.clone())
                    .or_else(|| header(&r.headers, "content-type").map(str::to_string))
                    .unwrap_or_default(),
            });
            if let Some(b) = &r.body {
                if let Some(t) = &b.text {
                    content["text"] = json!(t);
                }
                content["comment"] = json!(body_comment(b));
            }
            json!({
                "status": r.status,
                "statusText": text::reason_phrase(r.status).unwrap_or(""),
                "httpVersion": "HTTP/1.1",
                "cookies": [],
                "headers": headers(&r.headers),
                "content": content,
                "redirectURL": header(&r.headers, "location").unwrap_or(""),
                "headersSize": -1,
                "bodySize": r.body.as_ref().map_or(-1, |b| b.size as i64),
            })
        }
        // HAR's convention for a request that got no answer: status 0.
        None => json!({
            "status": 0,
            "statusText": "",
            "httpVersion": "",
            "cookies": [],
            "headers": [],
            "content": { "size": 0, "mimeType": "" },
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
            "_error": x.error.clone().unwrap_or_else(|| "no response".to_string()),
        }),
    };
    let time = text::finite(x.duration_ms);
    let mut e = json!({
        "pageref": c.id,
        "startedDateTime": started,
        "time": time,
        "request": request,
        "response": response,
        "cache": {},
        "timings": { "send": 0, "wait": time, "receive": 0 },
        "comment": format!("{} · step {}", c.id, x.step),
        "_check": c.id,
        "_step": x.step,
    });
    if let Some(id) = &x.request_id {
        e["_requestId"] = json!(id);
    }
    if let Some(err) = &x.error {
        e["_error"] = json!(err);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::text::tests::{empty_report, odd_report};

    #[test]
    fn empty_report_is_an_empty_log() {
        let v = to_value(&empty_report());
        assert_eq!(v["log"]["version"], "1.2");
        assert_eq!(v["log"]["entries"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn missing_response_and_binary_body() {
        let r = odd_report();
        let v = to_value(&r);
        let e = &v["log"]["entries"][0];
        assert_eq!(e["response"]["status"], 0);
        assert_eq!(e["time"], 0.0);
        assert_eq!(e["startedDateTime"], "2026-01-01T00:00:00.000Z");
        assert_eq!(e["request"]["postData"]["text"], "");
        assert!(
            e["request"]["postData"]["comment"]
                .as_str()
                .unwrap()
                .contains("not text")
        );
        let s = to_string(&r).unwrap();
        assert!(!s.contains("fake_key_LEAK"), "{s}");
        assert_eq!(v["log"]["pages"].as_array().unwrap().len(), 1);
    }
}
