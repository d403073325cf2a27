//! The built-in fake, over HTTP: every route of both APIs, both life cycles,
//! idempotency, rate limits, credits, isolation, webhooks, robustness, and
//! every fault of the catalogue against the healthy fake. This module holds
//! the fixture ([`Fx`]) and the envelope assertions; the tests are in
//! `removit`, `video`, `shared` (the machinery both APIs share) and `faults`.

mod faults;
mod removit;
mod shared;
mod video;

use std::time::{Duration, Instant};

use golive::fake::{Credits, FakeApi, FakeConfig, FakeOptions, Fault, RateLimitConfig, webhook};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const VALID: &str = "sk_test_valid";
const OTHER: &str = "sk_test_other";
const EMPTY: &str = "sk_test_empty";
const DISABLED: &str = "sk_test_disabled";

/// `x` credits, exactly (to a millionth).
fn credits(x: f64) -> Credits {
    Credits::from_f64(x).expect("a finite amount")
}

/// Fast settings: short processing, a generous rate limit (tests that need
/// a small one set it).
fn config() -> FakeConfig {
    FakeConfig {
        processing_ms: 150,
        slow_factor: 4,
        slow_response_ms: 400,
        flaky_every: 3,
        // Wide enough that "a second request while the first is in flight"
        // holds on a loaded machine.
        create_latency_ms: 200,
        rate_limit: RateLimitConfig {
            per_second: 200.0,
            burst: 400,
        },
        ..FakeConfig::default()
    }
}

struct Fx {
    api: FakeApi,
    http: reqwest::Client,
}

/// A decoded response.
struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
    json: Value,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn is_json(&self) -> bool {
        self.header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
            && serde_json::from_str::<Value>(&self.text).is_ok()
    }
}

impl Fx {
    async fn start(config: FakeConfig, faults: &[Fault]) -> Fx {
        let api = FakeApi::start(FakeOptions {
            config,
            faults: faults.to_vec(),
        })
        .await
        .expect("fake starts");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        Fx { api, http }
    }

    async fn healthy() -> Fx {
        Fx::start(config(), &[]).await
    }

    /// For tests that assert an intermediate state right after creating a
    /// job: 600 ms of processing leaves a wide margin on a loaded machine.
    async fn leisurely() -> Fx {
        let mut cfg = config();
        cfg.processing_ms = 600;
        Fx::start(cfg, &[]).await
    }

    fn req(&self, method: Method, path: &str, key: Option<&str>) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .request(method, format!("{}{}", self.api.url(), path));
        if let Some(k) = key {
            r = r.header("X-Api-Key", k);
        }
        r
    }

    async fn send(&self, r: reqwest::RequestBuilder) -> Resp {
        let resp = r.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            json,
        }
    }

    async fn get(&self, path: &str, key: Option<&str>) -> Resp {
        self.send(self.req(Method::GET, path, key)).await
    }

    async fn post_json(&self, path: &str, key: Option<&str>, body: Value) -> Resp {
        self.send(self.req(Method::POST, path, key).json(&body))
            .await
    }

    async fn upload(&self, key: Option<&str>, body: Value) -> Resp {
        self.post_json("/api/v1/upload", key, body).await
    }

    async fn status(&self, key: &str, id: &str) -> Resp {
        self.get(&format!("/api/v1/status?job_id={id}"), Some(key))
            .await
    }

    async fn create_video(&self, key: &str, body: Value) -> Resp {
        self.post_json("/v1/jobs", Some(key), body).await
    }

    async fn video_job(&self, key: &str, id: &str) -> Resp {
        self.get(&format!("/v1/jobs/{id}"), Some(key)).await
    }

    async fn summary(&self, key: &str) -> Value {
        let r = self.get("/v1/usage/summary", Some(key)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json
    }

    /// The video `credits_remaining` of `key`'s account, in whole credits.
    async fn credits_remaining(&self, key: &str) -> i64 {
        let remaining = self.summary(key).await["credits_remaining"].as_i64();
        remaining.expect("whole credits remaining")
    }

    /// Polls a Removit job until `state` is terminal.
    async fn removit_until_terminal(&self, key: &str, id: &str) -> (Vec<String>, Value) {
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = self.status(key, id).await;
            assert_eq!(r.status, 200, "{}", r.text);
            let status = r.json["status"].as_str().unwrap_or("").to_string();
            if seen.last() != Some(&status) {
                seen.push(status);
            }
            if matches!(r.json["state"].as_str(), Some("done" | "failed")) {
                return (seen, r.json);
            }
            assert!(Instant::now() < deadline, "job {id} never ended: {seen:?}");
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }

    /// Polls a video job until it is terminal (or the deadline passes).
    async fn video_until_terminal(&self, key: &str, id: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let r = self.video_job(key, id).await;
            assert_eq!(r.status, 200, "{}", r.text);
            if matches!(r.json["status"].as_str(), Some("completed" | "failed"))
                || Instant::now() >= deadline
            {
                return r.json;
            }
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }
}

fn assert_request_id(r: &Resp) {
    let id = r.header("x-request-id").expect("X-Request-Id");
    let ulid = id.strip_prefix("req_").expect("req_ prefix");
    assert_eq!(ulid.len(), 26, "{id}");
    assert!(ulid.parse::<ulid::Ulid>().is_ok(), "{id}");
}

fn assert_rate_headers(r: &Resp) {
    for h in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        let v = r.header(h).unwrap_or_else(|| panic!("{h} missing"));
        assert!(v.parse::<u64>().is_ok(), "{h}: {v}");
    }
}

/// An error's status, a JSON body, a request id.
fn assert_json_error(r: &Resp, status: u16) {
    assert_eq!(r.status, status, "{}", r.text);
    assert!(
        r.is_json(),
        "not JSON: {:?} {}",
        r.header("content-type"),
        r.text
    );
    assert_request_id(r);
}

/// A Removit error: the status, JSON, and `error` code.
fn assert_removit_error(r: &Resp, status: u16, code: &str) {
    assert_json_error(r, status);
    assert_eq!(r.json["error"], code, "{}", r.text);
}

/// A RemoveBGVideo error: envelope with code, message, request_id = header.
fn assert_video_error(r: &Resp, status: u16, code: &str) {
    assert_json_error(r, status);
    assert_eq!(r.json["error"]["code"], code, "{}", r.text);
    assert!(r.json["error"]["message"].is_string(), "{}", r.text);
    assert_eq!(
        r.json["error"]["request_id"].as_str(),
        r.header("x-request-id"),
        "{}",
        r.text
    );
}
