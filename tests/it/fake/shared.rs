//! The machinery both APIs share: isolation, idempotency, rate limits,
//! webhooks, robustness, the hyper transport, the config.

use super::*;

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
    let b0 = fx.credits_remaining(VALID).await;
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
    let b1 = fx.credits_remaining(VALID).await;
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
    assert_eq!(
        fx.api.core().removit_balance(VALID),
        Some(r0 - credits(1.0))
    );
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
    assert_eq!(
        fx.api.core().video_balance(VALID),
        Some(b0 - credits(30.0 * ok as f64))
    );
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

/// A delivered webhook's (job id, event), its signature checked.
fn signed_event(req: &wiremock::Request, secret: &str) -> (String, String) {
    let h = |n: &str| {
        req.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let ts = h("x-webhook-timestamp");
    assert!(ts.parse::<u64>().is_ok());
    let signature = h("x-webhook-signature");
    assert!(webhook::verify(secret, &ts, &req.body, &signature));
    assert!(!webhook::verify("wrong", &ts, &req.body, &signature));
    assert!(h("x-webhook-delivery-id").starts_with("whd_"));
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["event"], h("x-webhook-event").as_str());
    let job = body["data"]["id"].as_str().unwrap().to_string();
    (job, h("x-webhook-event"))
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
    let events: Vec<(String, String)> = requests
        .iter()
        .map(|req| signed_event(req, secret))
        .collect();
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

/// Malformed bodies, wrong content types, odd methods and paths (the body
/// limits are `bad_requests_get_the_envelope_and_never_crash`'s).
fn bad_request_cases() -> Vec<(Method, &'static str, Option<&'static str>, Vec<u8>)> {
    let huge = vec![b'a'; 2 * 1024 * 1024];
    vec![
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
    ]
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
    for (method, path, ct, body) in bad_request_cases() {
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
    assert_eq!(cfg.keys[0].credits, credits(5.0));
    let frac = FakeConfig::from_yaml_str("keys:\n  - {key: k, account: a, credits: 12.25}\n");
    assert_eq!(frac.unwrap().keys[0].credits, credits(12.25));
    assert!(FakeConfig::from_yaml_str("keys:\n  - {key: k, account: a, credits: lots}\n").is_err());
    assert!(FakeConfig::from_yaml_str("bogus_field: 1").is_err());
    // `golive check --fake-config`: what the file leaves out keeps the check
    // profile, nested fields included; errors still point into the file.
    let fast = FakeConfig::check_profile();
    let over = |text: &str| FakeConfig::from_yaml_str_over(text, &fast);
    let c = over("rate_limit: {burst: 5}\nkeys:\n  - {key: k1, account: a, credits: 5}\n").unwrap();
    assert_eq!(c.rate_limit.burst, 5);
    assert_eq!(c.rate_limit.per_second, fast.rate_limit.per_second);
    assert_eq!(c.processing_ms, fast.processing_ms);
    assert_eq!(c.keys.len(), 1);
    assert_eq!(over("").unwrap(), fast);
    assert_eq!(over("processing_ms: 40").unwrap().processing_ms, 40);
    let e = over("processing_ms: 40\nbogus_field: 1\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("bogus_field") && e.contains("line 2"), "{e}");
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
