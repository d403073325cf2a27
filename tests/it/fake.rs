//! The built-in fake, over HTTP: every route of both APIs, both life cycles,
//! idempotency, rate limits, credits, isolation, webhooks, robustness, and
//! every fault of the catalogue against the healthy fake.

use std::time::{Duration, Instant};

use golive::fake::{FakeApi, FakeConfig, FakeOptions, Fault, RateLimitConfig, webhook};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const VALID: &str = "sk_test_valid";
const OTHER: &str = "sk_test_other";
const EMPTY: &str = "sk_test_empty";
const DISABLED: &str = "sk_test_disabled";

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

/// A Removit error: the status, JSON, and `error` code.
fn assert_removit_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert!(
        r.is_json(),
        "not JSON: {:?} {}",
        r.header("content-type"),
        r.text
    );
    assert_eq!(r.json["error"], code, "{}", r.text);
    assert_request_id(r);
}

/// A RemoveBGVideo error: envelope with code, message, request_id = header.
fn assert_video_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert!(
        r.is_json(),
        "not JSON: {:?} {}",
        r.header("content-type"),
        r.text
    );
    assert_eq!(r.json["error"]["code"], code, "{}", r.text);
    assert!(r.json["error"]["message"].is_string(), "{}", r.text);
    assert_eq!(
        r.json["error"]["request_id"].as_str(),
        r.header("x-request-id"),
        "{}",
        r.text
    );
    assert_request_id(r);
}

// ---------------------------------------------------------------- Removit

#[tokio::test]
async fn removit_upload_both_auth_forms_and_life_cycle_to_done() {
    let fx = Fx::leisurely().await;
    let before = fx.api.core().removit_balance(VALID);
    // X-API-Key (any case) and Authorization: Bearer.
    let a = fx
        .send(
            fx.http
                .post(format!("{}/api/v1/upload", fx.api.url()))
                .header("x-api-key", VALID)
                .json(&json!({"file_url": "https://example.com/cat.jpg", "mode": "background"})),
        )
        .await;
    let b = fx
        .send(
            fx.http
                .post(format!("{}/api/v1/upload", fx.api.url()))
                .header("Authorization", format!("Bearer {VALID}"))
                .json(&json!({"file_url": "https://example.com/dog.jpg"})),
        )
        .await;
    for r in [&a, &b] {
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["status"], "queued");
        assert!(
            r.json["job_id"]
                .as_str()
                .unwrap()
                .parse::<uuid::Uuid>()
                .is_ok()
        );
        assert_request_id(r);
        assert_rate_headers(r);
    }
    assert_eq!(a.json["mode"], "background");
    assert_eq!(b.json["mode"], "clipping");
    assert_eq!(fx.api.core().removit_balance(VALID), before.map(|b| b - 2));

    let id = a.json["job_id"].as_str().unwrap();
    let first = fx.status(VALID, id).await;
    assert_eq!(first.json["status"], "queued");
    assert_eq!(first.json["state"], "pending");
    assert_eq!(first.json["progress"], 0);
    assert_eq!(first.json["job_id"], id);
    assert_eq!(first.json["delivery_mode"], "url");
    assert_eq!(first.json["output_format"], "png");
    assert!(first.json["final_urls"].is_null());
    assert!(
        chrono::DateTime::parse_from_rfc3339(first.json["created_at"].as_str().unwrap()).is_ok()
    );
    let (seen, done) = fx.removit_until_terminal(VALID, id).await;
    assert_eq!(seen.first().map(String::as_str), Some("queued"));
    assert!(seen.iter().any(|s| s.starts_with("pending_")), "{seen:?}");
    assert_eq!(done["status"], "done");
    assert_eq!(done["state"], "done");
    assert_eq!(done["progress"], 100);
    let urls = done["final_urls"].as_object().expect("final_urls object");
    assert!(
        urls.contains_key("background") && urls.contains_key("compose"),
        "{done}"
    );
    assert!(done.get("warnings").is_none());
}

#[tokio::test]
async fn removit_delivery_modes_params_and_failure_refund() {
    let fx = Fx::healthy().await;
    let r = fx
        .upload(
            Some(VALID),
            json!({"file_url": "https://example.com/a.png", "delivery_mode": "final_url",
                   "output_format": "webp"}),
        )
        .await;
    let id = r.json["job_id"].as_str().unwrap().to_string();
    let pending = fx.status(VALID, &id).await;
    assert!(pending.json["final_url"].is_null());
    assert!(pending.json.get("final_urls").is_none());
    let (_, done) = fx.removit_until_terminal(VALID, &id).await;
    assert!(
        done["final_url"].as_str().unwrap().ends_with(".webp"),
        "{done}"
    );

    // mode=params: warnings and ignored_variations always present.
    let r = fx
        .upload(
            Some(VALID),
            json!({"file_url": "https://example.com/b.png", "mode": "params",
                   "params": {"compose": 3, "shadowTop": {}, "sparkles": {}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["mode"], "params");
    let id = r.json["job_id"].as_str().unwrap().to_string();
    let s = fx.status(VALID, &id).await;
    assert_eq!(s.json["ignored_variations"], json!(["sparkles"]));
    assert!(s.json["warnings"]["compose"].is_array(), "{}", s.text);
    let (_, done) = fx.removit_until_terminal(VALID, &id).await;
    let urls = done["final_urls"].as_object().unwrap();
    assert!(urls.contains_key("compose") && urls.contains_key("shadowTop"));
    // params as a string works too.
    let r = fx
        .upload(
            Some(VALID),
            json!({"file_url": "https://example.com/c.png", "mode": "params", "params": "clipping"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // fail marker: failed + processing_failed, credit refunded.
    let before = fx.api.core().removit_balance(VALID).unwrap();
    let r = fx
        .upload(
            Some(VALID),
            json!({"file_url": "https://example.com/fail/x.png"}),
        )
        .await;
    assert_eq!(fx.api.core().removit_balance(VALID), Some(before - 1));
    let id = r.json["job_id"].as_str().unwrap().to_string();
    let (_, failed) = fx.removit_until_terminal(VALID, &id).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["error"], "processing_failed");
    assert_eq!(fx.api.core().removit_balance(VALID), Some(before));
}

#[tokio::test]
async fn removit_multipart_upload() {
    let fx = Fx::healthy().await;
    let url = format!("{}/api/v1/upload", fx.api.url());
    let png = |name: &str, mime: &str| {
        Part::bytes(b"\x89PNG\r\n\x1a\nfake".to_vec())
            .file_name(name.to_string())
            .mime_str(mime)
            .unwrap()
    };
    let ok = fx
        .send(
            fx.http.post(&url).header("X-API-Key", VALID).multipart(
                Form::new()
                    .text("mode", "clipping")
                    .text("output_format", "jpg")
                    .part("file", png("cat.png", "image/png")),
            ),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.json["status"], "queued");
    let s = fx.status(VALID, ok.json["job_id"].as_str().unwrap()).await;
    assert_eq!(s.json["output_format"], "jpg");

    let bad_type = fx
        .send(
            fx.http
                .post(&url)
                .header("X-API-Key", VALID)
                .multipart(Form::new().part("file", png("notes.txt", "text/plain"))),
        )
        .await;
    assert_removit_error(&bad_type, 422, "validation");
    assert!(bad_type.json["details"]["file"].is_array());

    let both = fx
        .send(
            fx.http.post(&url).header("X-API-Key", VALID).multipart(
                Form::new()
                    .text("file_url", "https://example.com/a.png")
                    .part("file", png("a.png", "image/png")),
            ),
        )
        .await;
    assert_removit_error(&both, 422, "validation");
    assert!(both.json["details"]["file_url"].is_array());

    // A failing file name fails the job, as a failing URL does.
    let failing = fx
        .send(
            fx.http
                .post(&url)
                .header("X-API-Key", VALID)
                .multipart(Form::new().part("file", png("fail.png", "image/png"))),
        )
        .await;
    let (_, end) = fx
        .removit_until_terminal(VALID, failing.json["job_id"].as_str().unwrap())
        .await;
    assert_eq!(end["status"], "failed");
}

#[tokio::test]
async fn removit_documented_errors() {
    let fx = Fx::healthy().await;
    let body = json!({"file_url": "https://example.com/a.png"});
    let missing = fx.upload(None, body.clone()).await;
    assert_removit_error(&missing, 401, "unauthorized");
    assert_eq!(missing.json["message"], "API key missing");
    assert!(missing.header("x-ratelimit-limit").is_none());
    for key in ["sk_nope", DISABLED] {
        let invalid = fx.upload(Some(key), body.clone()).await;
        assert_removit_error(&invalid, 401, "unauthorized");
        assert_eq!(invalid.json["message"], "API key invalid");
    }
    let bearer_wrong = fx
        .send(
            fx.http
                .get(format!("{}/api/v1/status?job_id=x", fx.api.url()))
                .header("Authorization", "Basic c2tfdGVzdF92YWxpZA=="),
        )
        .await;
    assert_removit_error(&bearer_wrong, 401, "unauthorized");
    // A key in the query string is not accepted.
    let in_query = fx
        .get(&format!("/api/v1/status?job_id=x&api_key={VALID}"), None)
        .await;
    assert_removit_error(&in_query, 401, "unauthorized");
    assert_eq!(in_query.json["message"], "API key missing");

    let empty = fx.upload(Some(EMPTY), body.clone()).await;
    assert_removit_error(&empty, 402, "insufficient_credits");
    assert_rate_headers(&empty);

    let unknown = fx
        .status(VALID, "01900000-0000-7000-8000-000000000000")
        .await;
    assert_removit_error(&unknown, 404, "not_found");
    let no_id = fx.get("/api/v1/status", Some(VALID)).await;
    assert_removit_error(&no_id, 422, "validation");
    assert!(no_id.json["details"]["job_id"].is_array());

    let invalid = fx
        .upload(
            Some(VALID),
            json!({"file_url": "ftp://example.com/a.png", "mode": "nope",
                   "delivery_mode": 3, "output_format": "bmp"}),
        )
        .await;
    assert_removit_error(&invalid, 422, "validation");
    for field in ["file_url", "mode", "delivery_mode", "output_format"] {
        let msgs = invalid.json["details"][field].as_array();
        assert!(
            msgs.is_some_and(|m| !m.is_empty() && m[0].is_string()),
            "{field}: {}",
            invalid.text
        );
    }
    let neither = fx.upload(Some(VALID), json!({"mode": "clipping"})).await;
    assert_removit_error(&neither, 422, "validation");
    let params_missing = fx
        .upload(
            Some(VALID),
            json!({"file_url": "https://e.com/a.png", "mode": "params"}),
        )
        .await;
    assert!(params_missing.json["details"]["params"].is_array());

    // Validation failures and 402 charge nothing.
    let before = fx.api.core().removit_balance(VALID);
    let _ = fx.upload(Some(VALID), json!({"mode": "x"})).await;
    assert_eq!(fx.api.core().removit_balance(VALID), before);
    assert_eq!(fx.api.core().removit_balance(EMPTY), Some(0));
}

// ---------------------------------------------------------- RemoveBGVideo

#[tokio::test]
async fn video_public_routes_and_admin() {
    let fx = Fx::healthy().await;
    let h = fx.get("/health", None).await;
    assert_eq!((h.status, h.json.clone()), (200, json!({"status": "ok"})));
    assert_request_id(&h);
    let p = fx.get("/api/pricing", None).await;
    assert_eq!(p.json["unit"], "credits_per_minute");
    assert_eq!(
        p.json["rates"],
        json!({"original": 60, "light": 45, "pro": 180, "human": 45})
    );
    for path in [
        "/v1/admin",
        "/v1/admin/keys",
        "/v1/admin/accounts/acct_valid",
    ] {
        let r = fx.get(path, Some(VALID)).await;
        assert_video_error(&r, 404, "not_found");
    }
    let r = fx
        .send(fx.req(Method::DELETE, "/v1/admin/keys/1", Some(VALID)))
        .await;
    assert_video_error(&r, 404, "not_found");
}

#[tokio::test]
async fn video_uploads() {
    let mut cfg = config();
    cfg.max_upload_bytes = 64 * 1024;
    let fx = Fx::start(cfg, &[]).await;
    let up = |name: &str, mime: &str, size: usize| {
        Form::new().part(
            "file",
            Part::bytes(vec![7u8; size])
                .file_name(name.to_string())
                .mime_str(mime)
                .unwrap(),
        )
    };
    let ok = fx
        .send(
            fx.req(Method::POST, "/v1/uploads", Some(VALID))
                .multipart(up("clip one.mp4", "video/mp4", 1000)),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.json["success"], true);
    assert!(ok.json["video_id"].as_str().unwrap().starts_with("vid_"));
    assert_eq!(ok.json["size"], 1000);
    assert_eq!(ok.json["filename"], "clip_one.mp4");
    let video_url = ok.json["video_url"].as_str().unwrap().to_string();
    assert!(url::Url::parse(&video_url).is_ok());
    // The uploaded URL can start a job.
    let job = fx
        .create_video(VALID, json!({"video_url": video_url}))
        .await;
    assert_eq!(job.status, 200, "{}", job.text);

    for mime in ["video/quicktime", "video/webm", "video/x-msvideo"] {
        let r = fx
            .send(
                fx.req(Method::POST, "/v1/uploads", Some(VALID))
                    .multipart(up("v", mime, 10)),
            )
            .await;
        assert_eq!(r.status, 200, "{mime}: {}", r.text);
    }
    let wrong = fx
        .send(
            fx.req(Method::POST, "/v1/uploads", Some(VALID))
                .multipart(up("a.png", "image/png", 10)),
        )
        .await;
    assert_video_error(&wrong, 400, "invalid_request");
    assert_eq!(wrong.json["error"]["message"], "Invalid file type");
    let big = fx
        .send(
            fx.req(Method::POST, "/v1/uploads", Some(VALID))
                .multipart(up("big.mp4", "video/mp4", 100 * 1024)),
        )
        .await;
    assert_video_error(&big, 400, "invalid_request");
    assert_eq!(big.json["error"]["message"], "File too large");
    let no_file = fx
        .send(
            fx.req(Method::POST, "/v1/uploads", Some(VALID))
                .multipart(Form::new().text("x", "y")),
        )
        .await;
    assert_video_error(&no_file, 400, "invalid_request");
    let json_body = fx.post_json("/v1/uploads", Some(VALID), json!({})).await;
    assert_video_error(&json_body, 400, "invalid_request");
    let no_key = fx
        .send(
            fx.req(Method::POST, "/v1/uploads", None)
                .multipart(up("a.mp4", "video/mp4", 10)),
        )
        .await;
    assert_video_error(&no_key, 401, "missing_api_key");
}

#[tokio::test]
async fn video_job_completes_and_credits_match_usage() {
    let fx = Fx::leisurely().await;
    let s0 = fx.summary(VALID).await;
    let b0 = s0["credits_remaining"].as_i64().unwrap();
    let r = fx
        .create_video(
            VALID,
            json!({"video_url": "https://example.com/v.mp4?duration=90", "model": "pro",
                   "output_format": "mp4", "bg_type": "custom", "bg_color": [0.1, 0.2, 1],
                   "text_prompt": "person", "metadata": {"order": 42}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["success"], true);
    assert_eq!(r.json["status"], "processing");
    assert!(r.json["message"].is_string());
    let id = r.json["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("job_") && id.len() == 30, "{id}");
    assert_rate_headers(&r);

    let running = fx.video_job(VALID, &id).await;
    let j = &running.json;
    assert_eq!(j["id"], id.as_str());
    assert_eq!(j["status"], "processing");
    assert!(j["progress"].is_u64());
    assert!(j["output_url"].is_null() && j["error"].is_null());
    assert_eq!(j["billing_status"], "pending");
    assert_eq!(j["duration_seconds"], 90.0);
    assert_eq!(j["model"], "pro");
    assert_eq!(j["output_format"], "mp4");
    assert!(j["webhook_url"].is_null());
    assert_eq!(j["webhook_events"], json!([]));
    assert!(chrono::DateTime::parse_from_rfc3339(j["created_at"].as_str().unwrap()).is_ok());
    // 90 s × 180 / 60 = 270 credits, taken at start.
    let s1 = fx.summary(VALID).await;
    assert_eq!(s1["credits_remaining"].as_i64().unwrap(), b0 - 270);

    let done = fx
        .video_until_terminal(VALID, &id, Duration::from_secs(5))
        .await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["progress"], 100);
    assert_eq!(done["billing_status"], "charged");
    assert!(url::Url::parse(done["output_url"].as_str().unwrap()).is_ok());

    let s2 = fx.summary(VALID).await;
    let used = s2["credits_used"].as_i64().unwrap() - s0["credits_used"].as_i64().unwrap();
    let spent = b0 - s2["credits_remaining"].as_i64().unwrap();
    assert_eq!(used, 270);
    assert_eq!(used, spent);
    assert_eq!(
        s2["total_jobs"].as_u64(),
        Some(s0["total_jobs"].as_u64().unwrap() + 1)
    );
    assert_eq!(s2["completed_jobs"], 1);
    assert_eq!(s2["failed_jobs"], 0);
    assert_eq!(s2["days"], 7);
    let daily = s2["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 7);
    let today = daily.last().unwrap();
    assert_eq!(today["jobs"], 1);
    assert_eq!(today["completed_jobs"], 1);
    assert_eq!(today["credits_used"], 270);
    assert!(chrono::NaiveDate::parse_from_str(today["date"].as_str().unwrap(), "%Y-%m-%d").is_ok());
    let s30 = fx.get("/v1/usage/summary?days=30", Some(VALID)).await;
    assert_eq!(s30.json["daily"].as_array().unwrap().len(), 30);
    for bad in ["0", "91", "x"] {
        let r = fx
            .get(&format!("/v1/usage/summary?days={bad}"), Some(VALID))
            .await;
        assert_video_error(&r, 400, "invalid_request");
    }

    let ev = fx.get("/v1/usage/events?limit=5", Some(VALID)).await;
    assert_eq!(ev.status, 200);
    let events = ev.json["events"].as_array().unwrap();
    let e = &events[0];
    for k in ["id", "request_id", "endpoint", "method", "created_at"] {
        assert!(e[k].is_string(), "{k}: {e}");
    }
    assert_eq!(e["job_id"], id.as_str());
    assert_eq!(e["status_code"], 200);
    assert_eq!(e["credits"], 270);
    assert_eq!(e["request_id"].as_str(), r.header("x-request-id"));
    for bad in ["0", "101"] {
        let r = fx
            .get(&format!("/v1/usage/events?limit={bad}"), Some(VALID))
            .await;
        assert_video_error(&r, 400, "invalid_request");
    }
}

#[tokio::test]
async fn video_job_fails_refunds_and_can_restart() {
    let fx = Fx::healthy().await;
    let b0 = fx.summary(VALID).await["credits_remaining"]
        .as_i64()
        .unwrap();
    let r = fx
        .create_video(
            VALID,
            json!({"video_url": "https://example.com/fail.mp4", "model": "light"}),
        )
        .await;
    let id = r.json["id"].as_str().unwrap().to_string();
    // 30 s default × 45 / 60 = 22.5 → 23.
    assert_eq!(
        fx.summary(VALID).await["credits_remaining"].as_i64(),
        Some(b0 - 23)
    );
    let failed = fx
        .video_until_terminal(VALID, &id, Duration::from_secs(5))
        .await;
    assert_eq!(failed["status"], "failed");
    assert!(failed["error"].is_string());
    assert!(failed["output_url"].is_null());
    assert_eq!(failed["billing_status"], "refunded");
    let s = fx.summary(VALID).await;
    assert_eq!(s["credits_remaining"].as_i64(), Some(b0));
    assert_eq!(s["credits_used"], 0);
    assert_eq!(s["failed_jobs"], 1);
    // A failed job may be started again.
    let again = fx
        .post_json(&format!("/v1/jobs/{id}/start"), Some(VALID), json!({}))
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json["status"], "processing");
    assert_eq!(again.json["message"], "Job started");
    let conflict = fx
        .post_json(&format!("/v1/jobs/{id}/start"), Some(VALID), json!({}))
        .await;
    assert_video_error(&conflict, 409, "invalid_state");
}

#[tokio::test]
async fn video_created_start_conflicts_list_and_errors() {
    let fx = Fx::leisurely().await;
    let b0 = fx.summary(VALID).await["credits_remaining"]
        .as_i64()
        .unwrap();
    let r = fx
        .create_video(
            VALID,
            json!({"video_url": "https://example.com/a.mp4", "auto_start": false}),
        )
        .await;
    assert_eq!(r.json["status"], "created");
    let id = r.json["id"].as_str().unwrap().to_string();
    let created = fx.video_job(VALID, &id).await;
    assert_eq!(created.json["status"], "created");
    assert_eq!(created.json["progress"], 0);
    assert!(created.json["billing_status"].is_null());
    assert_eq!(
        fx.summary(VALID).await["credits_remaining"].as_i64(),
        Some(b0)
    );

    let start = format!("/v1/jobs/{id}/start");
    let ok = fx.post_json(&start, Some(VALID), json!({})).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.json["id"], id.as_str());
    assert_eq!(
        fx.summary(VALID).await["credits_remaining"].as_i64(),
        Some(b0 - 30)
    );
    let ev = fx.get("/v1/usage/events?limit=2", Some(VALID)).await.json;
    assert_eq!(ev["events"][0]["endpoint"], "/v1/jobs/{id}/start");
    assert_eq!(ev["events"][0]["credits"], 30);
    assert_eq!(ev["events"][1]["endpoint"], "/v1/jobs");
    assert_eq!(ev["events"][1]["credits"], 0);
    let busy = fx.post_json(&start, Some(VALID), json!({})).await;
    assert_video_error(&busy, 409, "invalid_state");
    fx.video_until_terminal(VALID, &id, Duration::from_secs(5))
        .await;
    let done = fx.post_json(&start, Some(VALID), json!({})).await;
    assert_video_error(&done, 409, "invalid_state");
    let nope = fx
        .post_json("/v1/jobs/job_nonexistent/start", Some(VALID), json!({}))
        .await;
    assert_video_error(&nope, 404, "not_found");

    // A second job, then the list: newest first, limit/offset/status.
    let r2 = fx
        .create_video(VALID, json!({"video_url": "https://example.com/stuck.mp4"}))
        .await;
    let id2 = r2.json["id"].as_str().unwrap().to_string();
    let all = fx.get("/v1/jobs", Some(VALID)).await;
    assert_eq!(all.json["total"], 2);
    assert_eq!(all.json["limit"], 20);
    assert_eq!(all.json["offset"], 0);
    assert_eq!(all.json["jobs"][0]["id"], id2.as_str());
    assert_eq!(all.json["jobs"][1]["id"], id.as_str());
    let page = fx.get("/v1/jobs?limit=1&offset=1", Some(VALID)).await;
    assert_eq!(page.json["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(page.json["jobs"][0]["id"], id.as_str());
    let completed = fx.get("/v1/jobs?status=completed", Some(VALID)).await;
    assert_eq!(completed.json["total"], 1);
    for bad in [
        "limit=0",
        "limit=101",
        "offset=-1",
        "status=weird",
        "limit=abc",
    ] {
        let r = fx.get(&format!("/v1/jobs?{bad}"), Some(VALID)).await;
        assert_video_error(&r, 400, "invalid_request");
    }

    // Auth and input errors.
    let no_key = fx.get("/v1/jobs/job_nonexistent", None).await;
    assert_video_error(&no_key, 401, "missing_api_key");
    for key in ["sk_nope", DISABLED] {
        let r = fx.get("/v1/jobs", Some(key)).await;
        assert_video_error(&r, 401, "invalid_api_key");
    }
    let bearer = fx
        .send(
            fx.http
                .get(format!("{}/v1/jobs", fx.api.url()))
                .header("Authorization", format!("Bearer {VALID}")),
        )
        .await;
    assert_video_error(&bearer, 401, "missing_api_key");
    let missing = fx.get("/v1/jobs/job_nonexistent", Some(VALID)).await;
    assert_video_error(&missing, 404, "not_found");
    for body in [
        json!({}),
        json!({"video_url": "not a url"}),
        json!({"video_url": "https://e.com/a.mp4", "model": "ultra"}),
        json!({"video_url": "https://e.com/a.mp4", "output_format": "avi"}),
        json!({"video_url": "https://e.com/a.mp4", "bg_type": "custom"}),
        json!({"video_url": "https://e.com/a.mp4", "bg_color": [2, 0, 0]}),
        json!({"video_url": "https://e.com/a.mp4", "auto_start": "yes"}),
        json!({"video_url": "https://e.com/a.mp4", "webhook_url": 5}),
        json!([1, 2]),
    ] {
        let r = fx.create_video(VALID, body.clone()).await;
        assert_video_error(&r, 400, "invalid_request");
    }
    let empty = fx
        .create_video(EMPTY, json!({"video_url": "https://e.com/a.mp4"}))
        .await;
    assert_video_error(&empty, 402, "insufficient_credits");
    let list = fx.get("/v1/jobs", Some(EMPTY)).await;
    assert_eq!(list.json["total"], 0, "402 created nothing");
    // A created job from the empty account can't start either.
    let c = fx
        .create_video(
            EMPTY,
            json!({"video_url": "https://e.com/a.mp4", "auto_start": false}),
        )
        .await;
    let r = fx
        .post_json(
            &format!("/v1/jobs/{}/start", c.json["id"].as_str().unwrap()),
            Some(EMPTY),
            json!({}),
        )
        .await;
    assert_video_error(&r, 402, "insufficient_credits");
}

#[tokio::test]
async fn stuck_and_slow_inputs() {
    let fx = Fx::healthy().await; // processing 150 ms, slow ×4
    let stuck = fx
        .create_video(VALID, json!({"video_url": "https://example.com/stuck.mp4"}))
        .await;
    let slow = fx
        .create_video(VALID, json!({"video_url": "https://example.com/slow.mp4"}))
        .await;
    let removit_stuck = fx
        .upload(
            Some(VALID),
            json!({"file_url": "https://example.com/stuck.png"}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s = fx
        .video_job(VALID, stuck.json["id"].as_str().unwrap())
        .await;
    assert_eq!(s.json["status"], "processing");
    let s = fx.video_job(VALID, slow.json["id"].as_str().unwrap()).await;
    assert_eq!(s.json["status"], "processing", "slow is 4× longer");
    let r = fx
        .status(VALID, removit_stuck.json["job_id"].as_str().unwrap())
        .await;
    assert_eq!(r.json["state"], "pending");
    let done = fx
        .video_until_terminal(
            VALID,
            slow.json["id"].as_str().unwrap(),
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(done["status"], "completed");
    let s = fx
        .video_job(VALID, stuck.json["id"].as_str().unwrap())
        .await;
    assert_eq!(s.json["status"], "processing");
    assert_eq!(s.json["billing_status"], "pending");
}

// ------------------------------------------------------- shared machinery

#[tokio::test]
async fn isolation_between_accounts() {
    let fx = Fx::healthy().await;
    let v = fx
        .create_video(VALID, json!({"video_url": "https://example.com/a.mp4"}))
        .await;
    let vid = v.json["id"].as_str().unwrap();
    let foreign = fx.video_job(OTHER, vid).await;
    assert_video_error(&foreign, 404, "not_found");
    let start = fx
        .post_json(&format!("/v1/jobs/{vid}/start"), Some(OTHER), json!({}))
        .await;
    assert_video_error(&start, 404, "not_found");
    let list = fx.get("/v1/jobs", Some(OTHER)).await;
    assert_eq!(list.json["total"], 0);
    assert_eq!(fx.summary(OTHER).await["total_jobs"], 0);
    let r = fx
        .upload(Some(VALID), json!({"file_url": "https://e.com/a.png"}))
        .await;
    let rid = r.json["job_id"].as_str().unwrap();
    assert_removit_error(&fx.status(OTHER, rid).await, 404, "not_found");
    assert_eq!(fx.status(VALID, rid).await.status, 200);
}

#[tokio::test]
async fn idempotency_replay_conflict_and_reuse() {
    let fx = Fx::healthy().await;
    let body = json!({"video_url": "https://example.com/idem.mp4"});
    let send = |key: &str, body: &Value| {
        fx.send(
            fx.req(Method::POST, "/v1/jobs", Some(VALID))
                .header("Idempotency-Key", key)
                .json(body),
        )
    };
    let b0 = fx.summary(VALID).await["credits_remaining"]
        .as_i64()
        .unwrap();
    // Two at once: the second sees the first in flight.
    let (first, second) = tokio::join!(send("k1", &body), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        send("k1", &body).await
    });
    assert_eq!(first.status, 200, "{}", first.text);
    assert!(first.header("idempotent-replayed").is_none());
    assert_video_error(&second, 409, "request_in_progress");
    // After: replayed byte for byte.
    let replay = send("k1", &body).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.text, first.text);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_ne!(replay.header("x-request-id"), first.header("x-request-id"));
    assert_rate_headers(&replay);
    // Another body with the same key: 422.
    let other = send("k1", &json!({"video_url": "https://example.com/other.mp4"})).await;
    assert_video_error(&other, 422, "idempotency_key_reused");
    let jobs = fx.get("/v1/jobs", Some(VALID)).await;
    assert_eq!(jobs.json["total"], 1);
    assert_eq!(
        fx.summary(VALID).await["credits_remaining"].as_i64(),
        Some(b0 - 30)
    );
    // Keys are scoped per API key.
    let other_key = fx
        .send(
            fx.req(Method::POST, "/v1/jobs", Some(OTHER))
                .header("Idempotency-Key", "k1")
                .json(&body),
        )
        .await;
    assert_eq!(other_key.status, 200);
    assert_ne!(other_key.json["id"], first.json["id"]);
    // Nothing stored for a validation failure.
    let bad = send("k2", &json!({"video_url": 1})).await;
    assert_video_error(&bad, 400, "invalid_request");
    let good = send("k2", &body).await;
    assert_eq!(good.status, 200);
    assert!(good.header("idempotent-replayed").is_none());
    // Without the header a retry really creates a second job and charge.
    let b1 = fx.summary(VALID).await["credits_remaining"]
        .as_i64()
        .unwrap();
    let x = fx.create_video(VALID, body.clone()).await;
    let y = fx.create_video(VALID, body.clone()).await;
    assert_ne!(x.json["id"], y.json["id"]);
    assert_eq!(
        fx.summary(VALID).await["credits_remaining"].as_i64(),
        Some(b1 - 60)
    );

    // Removit: same semantics in its own envelope.
    let up = |key: &str, url: &str| {
        fx.send(
            fx.http
                .post(format!("{}/api/v1/upload", fx.api.url()))
                .header("X-API-Key", VALID)
                .header("Idempotency-Key", key)
                .json(&json!({"file_url": url})),
        )
    };
    let r0 = fx.api.core().removit_balance(VALID).unwrap();
    let (a, b) = tokio::join!(up("r1", "https://e.com/a.png"), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        up("r1", "https://e.com/a.png").await
    });
    assert_eq!(a.status, 200);
    assert_removit_error(&b, 409, "request_in_progress");
    let again = up("r1", "https://e.com/a.png").await;
    assert_eq!(again.text, a.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let reuse = up("r1", "https://e.com/b.png").await;
    assert_removit_error(&reuse, 422, "validation");
    assert!(reuse.json["details"]["idempotency_key"].is_array());
    assert_eq!(fx.api.core().removit_balance(VALID), Some(r0 - 1));
}

#[tokio::test]
async fn rate_limit_burst_429_then_recovery() {
    let mut cfg = config();
    cfg.rate_limit = RateLimitConfig {
        per_second: 2.0,
        burst: 5,
    };
    let fx = Fx::start(cfg, &[]).await;
    let b0 = fx.api.core().video_balance(VALID).unwrap();
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..8 {
        let r = fx
            .create_video(VALID, json!({"video_url": "https://example.com/a.mp4"}))
            .await;
        assert_rate_headers(&r);
        statuses.push(r.status);
        if r.status == 429 {
            limited = Some(r);
        }
    }
    // 5 from the burst (one more may have refilled on a slow machine).
    let ok = statuses.iter().filter(|s| **s == 200).count() as i64;
    assert!((5..=6).contains(&ok), "{statuses:?}");
    let limited = limited.expect("a 429");
    assert_video_error(&limited, 429, "rate_limited");
    assert_eq!(limited.header("x-ratelimit-limit"), Some("5"));
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1);
    // Limited requests created and charged nothing (30 credits a job).
    assert_eq!(fx.api.core().video_balance(VALID), Some(b0 - 30 * ok));
    assert_eq!(fx.get("/v1/jobs", Some(OTHER)).await.json["total"], 0);
    // Removit is limited in its own envelope; other keys have their own bucket.
    let r = fx.get("/api/v1/status?job_id=x", Some(VALID)).await;
    assert_removit_error(&r, 429, "rate_limited");
    assert_eq!(r.json["message"], "Too many requests");
    assert_eq!(fx.get("/v1/jobs", Some(OTHER)).await.status, 200);
    // Unauthenticated requests are not limited.
    assert_eq!(fx.get("/v1/jobs", None).await.status, 401);
    // Waiting Retry-After recovers.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let again = fx.get("/v1/jobs", Some(VALID)).await;
    assert_eq!(again.status, 200, "{}", again.text);
}

#[tokio::test]
async fn webhooks_are_signed_and_recorded() {
    let receiver = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let fx = Fx::healthy().await;
    let hook = format!("{}/hook", receiver.uri());
    let r = fx
        .create_video(
            VALID,
            json!({"video_url": "https://e.com/a.mp4", "webhook_url": hook}),
        )
        .await;
    let id = r.json["id"].as_str().unwrap().to_string();
    let f = fx
        .create_video(
            VALID,
            json!({"video_url": "https://e.com/fail.mp4", "webhook_url": hook}),
        )
        .await;
    let fid = f.json["id"].as_str().unwrap().to_string();
    // A non-loopback URL is accepted but never contacted.
    let away = fx
        .create_video(
            VALID,
            json!({"video_url": "https://e.com/a.mp4", "webhook_url": "https://example.com/hook"}),
        )
        .await;
    let away_id = away.json["id"].as_str().unwrap().to_string();

    let deadline = Instant::now() + Duration::from_secs(5);
    let requests = loop {
        let reqs = receiver.received_requests().await.unwrap_or_default();
        if reqs.len() >= 4 {
            break reqs;
        }
        assert!(Instant::now() < deadline, "got {} webhooks", reqs.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let secret = &fx.api.core().config().webhook_secret;
    let mut events = Vec::new();
    for req in &requests {
        let h = |n: &str| {
            req.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let ts = h("x-webhook-timestamp");
        assert!(ts.parse::<u64>().is_ok());
        assert!(webhook::verify(
            secret,
            &ts,
            &req.body,
            &h("x-webhook-signature")
        ));
        assert!(!webhook::verify(
            "wrong",
            &ts,
            &req.body,
            &h("x-webhook-signature")
        ));
        assert!(h("x-webhook-delivery-id").starts_with("whd_"));
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["event"], h("x-webhook-event").as_str());
        events.push((
            body["data"]["id"].as_str().unwrap().to_string(),
            h("x-webhook-event"),
        ));
    }
    for (job, event) in [
        (&id, "job.started"),
        (&id, "job.completed"),
        (&fid, "job.started"),
        (&fid, "job.failed"),
    ] {
        assert!(
            events.contains(&(job.clone(), event.to_string())),
            "{events:?}"
        );
    }
    assert!(!events.iter().any(|(j, _)| *j == away_id));
    // Each delivery is recorded on the job with the receiver's status.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let j = fx.video_job(VALID, &id).await.json;
        let evs = j["webhook_events"].as_array().unwrap().clone();
        if evs.len() == 2 && evs.iter().all(|e| e["status_code"] == 204) {
            assert_eq!(evs[0]["event"], "job.started");
            assert!(evs[0]["delivery_id"].is_string() && evs[0]["at"].is_string());
            break;
        }
        assert!(Instant::now() < deadline, "{evs:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let j = fx
        .video_until_terminal(VALID, &away_id, Duration::from_secs(3))
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let j2 = fx.video_job(VALID, &away_id).await.json;
    assert_eq!(j["status"], "completed");
    let evs = j2["webhook_events"].as_array().unwrap();
    assert!(!evs.is_empty());
    assert!(evs.iter().all(|e| e["status_code"].is_null()), "{evs:?}");
}

#[tokio::test]
async fn bad_requests_get_the_envelope_and_never_crash() {
    let mut cfg = config();
    cfg.max_upload_bytes = 32 * 1024;
    cfg.max_json_bytes = 16 * 1024;
    let fx = Fx::start(cfg, &[]).await;
    let url = fx.api.url();
    let raw = |method: Method, path: &str, ct: Option<&str>, body: Vec<u8>| {
        let mut r = fx
            .http
            .request(method, format!("{url}{path}"))
            .header("X-API-Key", VALID)
            .body(body);
        if let Some(ct) = ct {
            r = r.header("Content-Type", ct);
        }
        fx.send(r)
    };
    let huge = vec![b'a'; 2 * 1024 * 1024];
    let cases: Vec<(Method, &str, Option<&str>, Vec<u8>)> = vec![
        (
            Method::POST,
            "/api/v1/upload",
            Some("application/json"),
            b"{not json".to_vec(),
        ),
        (
            Method::POST,
            "/api/v1/upload",
            Some("application/json"),
            b"[1,2]".to_vec(),
        ),
        (
            Method::POST,
            "/api/v1/upload",
            Some("text/plain"),
            b"hello".to_vec(),
        ),
        (Method::POST, "/api/v1/upload", None, b"".to_vec()),
        (
            Method::POST,
            "/api/v1/upload",
            Some("multipart/form-data"),
            b"x".to_vec(),
        ),
        (
            Method::POST,
            "/api/v1/upload",
            Some("multipart/form-data; boundary=zz"),
            b"--zz\r\ngarbage".to_vec(),
        ),
        (
            Method::POST,
            "/api/v1/upload",
            Some("application/json"),
            huge.clone(),
        ),
        (
            Method::POST,
            "/api/v1/upload",
            Some("application/json"),
            vec![0xff, 0xfe, 0x00],
        ),
        (
            Method::POST,
            "/v1/jobs",
            Some("application/json"),
            b"{\"video_url\":".to_vec(),
        ),
        (
            Method::POST,
            "/v1/jobs",
            Some("application/xml"),
            b"<a/>".to_vec(),
        ),
        (
            Method::POST,
            "/v1/jobs",
            Some("application/json"),
            huge.clone(),
        ),
        (
            Method::POST,
            "/v1/jobs",
            Some("application/json"),
            b"null".to_vec(),
        ),
        (
            Method::POST,
            "/v1/uploads",
            Some("multipart/form-data; boundary=q"),
            huge.clone(),
        ),
        (
            Method::POST,
            "/v1/uploads",
            Some("application/octet-stream"),
            huge,
        ),
        (Method::GET, "/v1/jobs?limit=%FF%FE", None, Vec::new()),
        (Method::GET, "/v1/jobs/%00%01", None, Vec::new()),
        (
            Method::GET,
            "/api/v1/status?job_id=%F0%9F%92%A9",
            None,
            Vec::new(),
        ),
        (Method::PUT, "/v1/jobs", None, Vec::new()),
        (Method::PATCH, "/api/v1/upload", None, Vec::new()),
        (Method::GET, "/nope", None, Vec::new()),
        (Method::GET, "/", None, Vec::new()),
        (Method::GET, "/api/v1/nope/..%2F..%2Fetc", None, Vec::new()),
        (Method::OPTIONS, "/v1/jobs/x/start", None, Vec::new()),
    ];
    for (method, path, ct, body) in cases {
        let label = format!("{method} {path} {ct:?}");
        let r = raw(method, path, ct, body).await;
        assert!(
            r.status >= 400 && r.status < 500,
            "{label}: {} {}",
            r.status,
            r.text
        );
        assert!(r.is_json(), "{label}: {}", r.text);
        assert_request_id(&r);
        if path.starts_with("/api/v1/") {
            assert!(r.json["error"].is_string(), "{label}: {}", r.text);
        } else {
            assert!(r.json["error"]["code"].is_string(), "{label}: {}", r.text);
        }
    }
    // Unknown routes: 404 in the API's own envelope, even without a key.
    let r = fx.get("/api/v1/unknown", None).await;
    assert_removit_error(&r, 404, "not_found");
    let r = fx.get("/v2/whatever", None).await;
    assert_video_error(&r, 404, "not_found");
    // The fake still serves.
    assert_eq!(fx.get("/health", None).await.status, 200);
}

#[tokio::test]
async fn hyper_server_serves_the_same_core() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut cfg = config();
    cfg.max_upload_bytes = 64 * 1024;
    cfg.max_json_bytes = 64 * 1024;
    let server = tokio::spawn(golive::fake::server::serve(
        FakeOptions {
            config: cfg,
            faults: vec![],
        },
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        move |addr| {
            let _ = tx.send(addr);
        },
    ));
    let addr = rx.await.expect("bound");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://{addr}");
    let r = http
        .post(format!("{base}/v1/jobs"))
        .header("X-Api-Key", VALID)
        .json(&json!({"video_url": "https://e.com/a.mp4"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("x-request-id"));
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let j: Value = http
        .get(format!("{base}/v1/jobs/{id}"))
        .header("x-api-key", VALID)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(j["id"], id.as_str());
    // A body past the transport's limit is answered, not reset.
    let big = http
        .post(format!("{base}/v1/uploads"))
        .header("X-Api-Key", VALID)
        .header("Content-Type", "multipart/form-data; boundary=q")
        .body(vec![b'x'; 3 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::BAD_REQUEST);
    let big: Value = big.json().await.unwrap();
    assert_eq!(big["error"]["message"], "File too large");
    let nf = http.get(format!("{base}/v1/nope")).send().await.unwrap();
    assert_eq!(nf.status(), StatusCode::NOT_FOUND);
    assert!(nf.json::<Value>().await.unwrap()["error"]["code"] == "not_found");
    server.abort();
}

// ----------------------------------------------------------------- faults

/// Does the fake keep the promise `fault` breaks? Every fault must have an
/// arm (the match is exhaustive), and `every_fault_breaks_its_promise`
/// iterates `Fault::ALL`.
async fn promise_kept(fault: Fault, fx: &Fx) -> bool {
    let video = json!({"video_url": "https://example.com/a.mp4"});
    match fault {
        Fault::AuthBypass => {
            let a = fx
                .upload(None, json!({"file_url": "https://e.com/a.png"}))
                .await;
            let b = fx.post_json("/v1/jobs", None, video).await;
            a.status == 401 && b.status == 401
        }
        Fault::WrongAuthStatus => {
            let a = fx.get("/v1/jobs", Some("sk_wrong")).await;
            let b = fx
                .upload(Some(DISABLED), json!({"file_url": "https://e.com/a.png"}))
                .await;
            a.status == 401 && b.status == 401
        }
        Fault::NoRateLimit | Fault::NoRetryAfter => {
            let mut limited = None;
            for _ in 0..80 {
                let r = fx.get("/v1/jobs", Some(VALID)).await;
                if r.status == 429 {
                    limited = Some(r);
                    break;
                }
            }
            match (fault, limited) {
                (_, None) => false,
                (Fault::NoRetryAfter, Some(r)) => r
                    .header("retry-after")
                    .and_then(|v| v.parse::<u64>().ok())
                    .is_some_and(|s| s >= 1),
                (_, Some(_)) => true,
            }
        }
        Fault::ShortRetryAfter => {
            let mut wait = None;
            for _ in 0..80 {
                let r = fx.get("/v1/jobs", Some(VALID)).await;
                if r.status == 429 {
                    wait = r.header("retry-after").and_then(|v| v.parse::<u64>().ok());
                    break;
                }
            }
            let Some(secs) = wait else { return false };
            // A client that waits exactly what it was told must get through.
            tokio::time::sleep(Duration::from_secs(secs) + Duration::from_millis(50)).await;
            fx.get("/v1/jobs", Some(VALID)).await.status == 200
        }
        Fault::IdempotencyIgnored | Fault::DoubleCharge | Fault::ReplayNewJob => {
            let b0 = fx.api.core().video_balance(VALID).unwrap_or(0);
            let send = || {
                fx.send(
                    fx.req(Method::POST, "/v1/jobs", Some(VALID))
                        .header("Idempotency-Key", "probe")
                        .json(&video),
                )
            };
            // The first answer comes after the in-flight window closed.
            let first = send().await;
            let second = send().await;
            let b1 = fx.api.core().video_balance(VALID).unwrap_or(0);
            first.json["id"] == second.json["id"]
                && second.header("idempotent-replayed") == Some("true")
                && b0 - b1 == 30
        }
        Fault::No402 => {
            let r = fx.post_json("/v1/jobs", Some(EMPTY), video).await;
            let u = fx
                .upload(Some(EMPTY), json!({"file_url": "https://e.com/a.png"}))
                .await;
            r.status == 402 && u.status == 402 && fx.api.core().video_balance(EMPTY) == Some(0)
        }
        Fault::NoRefund => {
            let b0 = fx.api.core().video_balance(VALID).unwrap_or(0);
            let r = fx
                .create_video(VALID, json!({"video_url": "https://e.com/fail.mp4"}))
                .await;
            let j = fx
                .video_until_terminal(
                    VALID,
                    r.json["id"].as_str().unwrap_or(""),
                    Duration::from_secs(3),
                )
                .await;
            j["status"] == "failed"
                && j["billing_status"] == "refunded"
                && fx.api.core().video_balance(VALID) == Some(b0)
        }
        Fault::StuckJobs => {
            let r = fx.create_video(VALID, video).await;
            let u = fx
                .upload(Some(VALID), json!({"file_url": "https://e.com/a.png"}))
                .await;
            // Well past the 150 ms of processing.
            tokio::time::sleep(Duration::from_millis(400)).await;
            let j = fx
                .video_job(VALID, r.json["id"].as_str().unwrap_or(""))
                .await
                .json;
            let s = fx
                .status(VALID, u.json["job_id"].as_str().unwrap_or(""))
                .await;
            j["status"] == "completed" && s.json["state"] == "done"
        }
        Fault::SchemaDrift => {
            let r = fx.create_video(VALID, video).await;
            let id = r.json["id"].as_str().unwrap_or("");
            let j = fx.video_job(VALID, id).await.json;
            let u = fx
                .upload(Some(VALID), json!({"file_url": "https://e.com/a.png"}))
                .await;
            let jid = u.json["job_id"].as_str().unwrap_or("");
            let s = fx.status(VALID, jid).await.json;
            j["id"] == id && j["progress"].is_u64() && s["job_id"] == jid && s["progress"].is_u64()
        }
        Fault::UnstructuredErrors => {
            let a = fx.get("/v1/jobs/job_x", None).await;
            let b = fx.get("/api/v1/status", Some(VALID)).await;
            let c = fx.get("/nope", None).await;
            a.is_json() && b.is_json() && c.is_json()
        }
        Fault::NoRequestId => {
            let ok = fx.get("/health", None).await;
            let err = fx.get("/v1/jobs/job_x", Some(VALID)).await;
            ok.header("x-request-id").is_some()
                && err.header("x-request-id").is_some()
                && err.json["error"]["request_id"].is_string()
        }
        Fault::Slow => {
            let t = Instant::now();
            let r = fx.get("/health", None).await;
            r.status == 200 && t.elapsed() < Duration::from_millis(300)
        }
        Fault::Flaky => {
            let mut all_good = true;
            for _ in 0..7 {
                let r = fx.get("/health", None).await;
                all_good &= r.status == 200 && r.is_json();
            }
            all_good
        }
        Fault::AdminExposed => {
            let r = fx.get("/v1/admin/keys", Some(VALID)).await;
            r.status == 404
        }
        Fault::RepeatedRequestId => {
            let a = fx.get("/v1/jobs", Some(VALID)).await;
            let b = fx.get("/v1/jobs", Some(VALID)).await;
            a.header("x-request-id").is_some()
                && a.header("x-request-id") != b.header("x-request-id")
        }
        Fault::BearerRefused => {
            let r = fx
                .send(
                    fx.req(Method::POST, "/api/v1/upload", None)
                        .header("Authorization", format!("Bearer {VALID}"))
                        .json(&json!({"file_url": "https://e.com/a.png"})),
                )
                .await;
            r.status == 200
        }
        Fault::PublicRoutesLocked => {
            fx.get("/health", None).await.status == 200
                && fx.get("/api/pricing", None).await.status == 200
        }
        Fault::QueryKeyAccepted => {
            let path = format!("/v1/jobs?api_key={VALID}");
            fx.get(&path, None).await.status == 401
        }
        Fault::IsolationLeak => {
            let r = fx.create_video(VALID, video).await;
            let id = r.json["id"].as_str().unwrap_or("").to_string();
            let u = fx
                .upload(Some(VALID), json!({"file_url": "https://e.com/a.png"}))
                .await;
            let uid = u.json["job_id"].as_str().unwrap_or("").to_string();
            fx.video_job(OTHER, &id).await.status == 404
                && fx.status(OTHER, &uid).await.status == 404
        }
        Fault::WrongPrice => {
            let b0 = fx.api.core().video_balance(VALID).unwrap_or(0);
            let body = json!({"video_url": "https://e.com/a.mp4?duration=30", "model": "original"});
            fx.create_video(VALID, body).await;
            let b1 = fx.api.core().video_balance(VALID).unwrap_or(0);
            b0 - b1 == 30
        }
        Fault::LimitedSideEffects => {
            let b0 = fx.api.core().video_balance(VALID).unwrap_or(0);
            let body = json!({"video_url": "https://e.com/s.mp4?duration=1", "model": "light"});
            let mut ok = 0;
            let mut limited = 0;
            for _ in 0..60 {
                match fx
                    .post_json("/v1/jobs", Some(VALID), body.clone())
                    .await
                    .status
                {
                    200 => ok += 1,
                    429 => limited += 1,
                    _ => {}
                }
            }
            let b1 = fx.api.core().video_balance(VALID).unwrap_or(0);
            limited > 0 && b0 - b1 == ok
        }
        Fault::IdempotencyNoConflict => {
            let send = |body: Value| {
                fx.send(
                    fx.req(Method::POST, "/v1/jobs", Some(VALID))
                        .header("Idempotency-Key", "conflict-probe")
                        .json(&body),
                )
            };
            send(video.clone()).await;
            let other = json!({"video_url": "https://example.com/b.mp4"});
            send(other).await.status == 422
        }
        Fault::IdempotencyRace => {
            let send = || {
                fx.send(
                    fx.req(Method::POST, "/v1/jobs", Some(VALID))
                        .header("Idempotency-Key", "race-probe")
                        .json(&video),
                )
            };
            let (a, b) = tokio::join!(send(), send());
            let ids: std::collections::BTreeSet<String> = [a, b]
                .iter()
                .filter(|r| r.status == 200)
                .filter_map(|r| r.json["id"].as_str().map(str::to_string))
                .collect();
            ids.len() == 1
        }
        Fault::RestartAllowed => {
            let r = fx.create_video(VALID, video).await;
            let id = r.json["id"].as_str().unwrap_or("");
            let path = format!("/v1/jobs/{id}/start");
            fx.post_json(&path, Some(VALID), json!({})).await.status == 409
        }
    }
}

/// The config for fault probes: a small bucket so 429 comes quickly.
fn probe_config() -> FakeConfig {
    let mut cfg = config();
    cfg.rate_limit = RateLimitConfig {
        per_second: 20.0,
        burst: 30,
    };
    cfg
}

#[tokio::test]
async fn every_fault_breaks_its_promise() {
    let mut problems = Vec::new();
    // Start every twin first: building an HTTP client loads the system's CA
    // roots synchronously (reqwest 0.13's platform verifier), which would
    // stall this one-thread runtime under the timed probes.
    let mut twins = Vec::new();
    for &fault in Fault::ALL.iter() {
        let healthy = Fx::start(probe_config(), &[]).await;
        let faulty = Fx::start(probe_config(), &[fault]).await;
        twins.push((fault, healthy, faulty));
    }
    let probes = twins.iter().map(|(fault, healthy, faulty)| async move {
        let (kept_healthy, kept_faulty) =
            tokio::join!(promise_kept(*fault, healthy), promise_kept(*fault, faulty));
        (*fault, kept_healthy, kept_faulty)
    });
    for (fault, kept_healthy, kept_faulty) in futures_join_all(probes).await {
        if !kept_healthy {
            problems.push(format!("{fault}: the healthy fake breaks the promise"));
        }
        if kept_faulty {
            problems.push(format!("{fault}: the faulty fake keeps the promise"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// `join_all` without the futures crate: spawn-free, polls all together.
async fn futures_join_all<F: std::future::Future>(
    futs: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futs {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

#[tokio::test]
async fn fault_details() {
    // unstructured-errors: HTML for 404/5xx, text otherwise.
    let fx = Fx::start(config(), &[Fault::UnstructuredErrors]).await;
    let nf = fx.get("/nope", None).await;
    assert_eq!(nf.status, 404);
    assert!(nf.header("content-type").unwrap().starts_with("text/html"));
    let un = fx.get("/v1/jobs", None).await;
    assert!(un.header("content-type").unwrap().starts_with("text/plain"));
    // flaky: every 3rd request is a bare 503 with no side effect.
    let fx = Fx::start(config(), &[Fault::Flaky]).await;
    let mut seen = Vec::new();
    for _ in 0..6 {
        let r = fx
            .create_video(VALID, json!({"video_url": "https://e.com/a.mp4"}))
            .await;
        if r.status == 503 {
            assert!(r.text.is_empty());
        }
        seen.push(r.status);
    }
    assert_eq!(seen, vec![200, 200, 503, 200, 200, 503]);
    assert_eq!(fx.api.core().video_balance(VALID), Some(1000 - 4 * 30));
    // no-402: the balance goes negative.
    let fx = Fx::start(config(), &[Fault::No402]).await;
    let r = fx
        .create_video(EMPTY, json!({"video_url": "https://e.com/a.mp4"}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(fx.summary(EMPTY).await["credits_remaining"], -30);
    // admin-exposed: data, but still behind a key.
    let fx = Fx::start(config(), &[Fault::AdminExposed]).await;
    let r = fx.get("/v1/admin/keys", Some(VALID)).await;
    assert_eq!(r.status, 200);
    assert!(r.json["accounts"].is_array());
    assert_eq!(fx.get("/v1/admin/keys", None).await.status, 401);
    // schema-drift: the string progress.
    let fx = Fx::start(config(), &[Fault::SchemaDrift]).await;
    let r = fx
        .create_video(VALID, json!({"video_url": "https://e.com/a.mp4"}))
        .await;
    let j = fx
        .video_job(VALID, r.json["id"].as_str().unwrap())
        .await
        .json;
    assert!(j["progress"].as_str().unwrap().ends_with('%'));
    assert!(j.get("id").is_none());
}

#[test]
fn config_from_yaml_and_roles() {
    let cfg = FakeConfig::from_yaml_str(
        "processing_ms: 200\nrate_limit: {per_second: 1000000, burst: 1000000}\nkeys:\n  - {key: k1, account: a, credits: 5, role: valid}\n",
    )
    .unwrap();
    assert_eq!(cfg.processing_ms, 200);
    assert_eq!(cfg.key("valid"), Some("k1"));
    assert_eq!(cfg.key("other"), None);
    assert_eq!(cfg.flaky_every, 7);
    assert!(FakeConfig::from_yaml_str("bogus_field: 1").is_err());
    let d = FakeConfig::default();
    assert_eq!(d.key("valid"), Some(VALID));
    assert_eq!(d.key("other"), Some(OTHER));
    assert_eq!(d.key("empty"), Some(EMPTY));
    assert_eq!(d.key("disabled"), Some(DISABLED));
    assert_eq!(
        d.rate_limit,
        RateLimitConfig {
            per_second: 10.0,
            burst: 20
        }
    );
    assert_eq!(d.max_upload_bytes, 500 * 1024 * 1024);
}

#[test]
fn cli_help_lists_every_fault() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_golive"))
        .args(["fake", "--help"])
        .output()
        .expect("golive runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for fault in Fault::ALL {
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(fault.name()))
            .unwrap_or_else(|| panic!("{fault} missing from --help:\n{help}"));
        assert!(line.contains(fault.describe()), "{line}");
    }
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_golive"))
        .args(["fake", "--fault", "no-such-fault"])
        .output()
        .expect("golive runs");
    assert!(!bad.status.success());
}
