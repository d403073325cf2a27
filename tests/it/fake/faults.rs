//! Every fault of the catalogue against a healthy twin, and the fault list in `golive fake --help`.

use super::*;

/// Does the fake keep the promise `fault` breaks? Every fault must have an
/// arm (the match is exhaustive), and `every_fault_breaks_its_promise`
/// iterates `Fault::ALL`; each probe is a function of its own below.
async fn promise_kept(fault: Fault, fx: &Fx) -> bool {
    match fault {
        Fault::AuthBypass => kept_auth_bypass(fx).await,
        Fault::WrongAuthStatus => kept_wrong_auth_status(fx).await,
        Fault::NoRateLimit | Fault::NoRetryAfter => kept_rate_limited(fault, fx).await,
        Fault::ShortRetryAfter => kept_short_retry_after(fx).await,
        Fault::IdempotencyIgnored | Fault::DoubleCharge | Fault::ReplayNewJob => {
            kept_replay(fx).await
        }
        Fault::No402 => kept_no402(fx).await,
        Fault::NoRefund => kept_no_refund(fx).await,
        Fault::StuckJobs => kept_stuck_jobs(fx).await,
        Fault::SchemaDrift => kept_schema_drift(fx).await,
        Fault::UnstructuredErrors => kept_unstructured_errors(fx).await,
        Fault::NoRequestId => kept_no_request_id(fx).await,
        Fault::Slow => kept_slow(fx).await,
        Fault::Flaky => kept_flaky(fx).await,
        Fault::AdminExposed => kept_admin_exposed(fx).await,
        Fault::RepeatedRequestId => kept_repeated_request_id(fx).await,
        Fault::BearerRefused => kept_bearer_refused(fx).await,
        Fault::PublicRoutesLocked => kept_public_routes_locked(fx).await,
        Fault::QueryKeyAccepted => kept_query_key_accepted(fx).await,
        Fault::IsolationLeak => kept_isolation_leak(fx).await,
        Fault::WrongPrice => kept_wrong_price(fx).await,
        Fault::LimitedSideEffects => kept_limited_side_effects(fx).await,
        Fault::IdempotencyNoConflict => kept_idempotency_no_conflict(fx).await,
        Fault::IdempotencyRace => kept_idempotency_race(fx).await,
        Fault::RestartAllowed => kept_restart_allowed(fx).await,
    }
}

async fn kept_auth_bypass(fx: &Fx) -> bool {
    let video = json!({"video_url": "https://example.com/a.mp4"});
    let a = fx
        .upload(None, json!({"file_url": "https://e.com/a.png"}))
        .await;
    let b = fx.post_json("/v1/jobs", None, video).await;
    a.status == 401 && b.status == 401
}

async fn kept_wrong_auth_status(fx: &Fx) -> bool {
    let a = fx.get("/v1/jobs", Some("sk_wrong")).await;
    let b = fx
        .upload(Some(DISABLED), json!({"file_url": "https://e.com/a.png"}))
        .await;
    a.status == 401 && b.status == 401
}

async fn kept_rate_limited(fault: Fault, fx: &Fx) -> bool {
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

async fn kept_short_retry_after(fx: &Fx) -> bool {
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

async fn kept_replay(fx: &Fx) -> bool {
    let video = json!({"video_url": "https://example.com/a.mp4"});
    let b0 = fx.api.core().video_balance(VALID).unwrap_or_default();
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
    let b1 = fx.api.core().video_balance(VALID).unwrap_or_default();
    first.json["id"] == second.json["id"]
        && second.header("idempotent-replayed") == Some("true")
        && b0 - b1 == credits(30.0)
}

async fn kept_no402(fx: &Fx) -> bool {
    let video = json!({"video_url": "https://example.com/a.mp4"});
    let r = fx.post_json("/v1/jobs", Some(EMPTY), video).await;
    let u = fx
        .upload(Some(EMPTY), json!({"file_url": "https://e.com/a.png"}))
        .await;
    r.status == 402 && u.status == 402 && fx.api.core().video_balance(EMPTY) == Some(Credits::ZERO)
}

async fn kept_no_refund(fx: &Fx) -> bool {
    let b0 = fx.api.core().video_balance(VALID).unwrap_or_default();
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

async fn kept_stuck_jobs(fx: &Fx) -> bool {
    let video = json!({"video_url": "https://example.com/a.mp4"});
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

async fn kept_schema_drift(fx: &Fx) -> bool {
    let video = json!({"video_url": "https://example.com/a.mp4"});
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

async fn kept_unstructured_errors(fx: &Fx) -> bool {
    let a = fx.get("/v1/jobs/job_x", None).await;
    let b = fx.get("/api/v1/status", Some(VALID)).await;
    let c = fx.get("/nope", None).await;
    a.is_json() && b.is_json() && c.is_json()
}

async fn kept_no_request_id(fx: &Fx) -> bool {
    let ok = fx.get("/health", None).await;
    let err = fx.get("/v1/jobs/job_x", Some(VALID)).await;
    ok.header("x-request-id").is_some()
        && err.header("x-request-id").is_some()
        && err.json["error"]["request_id"].is_string()
}

async fn kept_slow(fx: &Fx) -> bool {
    // The fault's delay is a sleep, so a slow answer can never come sooner
    // than it; a healthy one under a busy CI machine still comes far sooner.
    let t = Instant::now();
    let r = fx.get("/health", None).await;
    r.status == 200 && t.elapsed() < Duration::from_millis(PROBE_SLOW_MS)
}

/// The `slow` fault's delay in the probes.
const PROBE_SLOW_MS: u64 = 1500;

async fn kept_flaky(fx: &Fx) -> bool {
    let mut all_good = true;
    for _ in 0..7 {
        let r = fx.get("/health", None).await;
        all_good &= r.status == 200 && r.is_json();
    }
    all_good
}

async fn kept_admin_exposed(fx: &Fx) -> bool {
    let r = fx.get("/v1/admin/keys", Some(VALID)).await;
    r.status == 404
}

async fn kept_repeated_request_id(fx: &Fx) -> bool {
    let a = fx.get("/v1/jobs", Some(VALID)).await;
    let b = fx.get("/v1/jobs", Some(VALID)).await;
    a.header("x-request-id").is_some() && a.header("x-request-id") != b.header("x-request-id")
}

async fn kept_bearer_refused(fx: &Fx) -> bool {
    let r = fx
        .send(
            fx.req(Method::POST, "/api/v1/upload", None)
                .header("Authorization", format!("Bearer {VALID}"))
                .json(&json!({"file_url": "https://e.com/a.png"})),
        )
        .await;
    r.status == 200
}

async fn kept_public_routes_locked(fx: &Fx) -> bool {
    fx.get("/health", None).await.status == 200 && fx.get("/api/pricing", None).await.status == 200
}

async fn kept_query_key_accepted(fx: &Fx) -> bool {
    let path = format!("/v1/jobs?api_key={VALID}");
    fx.get(&path, None).await.status == 401
}

async fn kept_isolation_leak(fx: &Fx) -> bool {
    let video = json!({"video_url": "https://example.com/a.mp4"});
    let r = fx.create_video(VALID, video).await;
    let id = r.json["id"].as_str().unwrap_or("").to_string();
    let u = fx
        .upload(Some(VALID), json!({"file_url": "https://e.com/a.png"}))
        .await;
    let uid = u.json["job_id"].as_str().unwrap_or("").to_string();
    fx.video_job(OTHER, &id).await.status == 404 && fx.status(OTHER, &uid).await.status == 404
}

async fn kept_wrong_price(fx: &Fx) -> bool {
    let b0 = fx.api.core().video_balance(VALID).unwrap_or_default();
    let body = json!({"video_url": "https://e.com/a.mp4?duration=30", "model": "original"});
    fx.create_video(VALID, body).await;
    let b1 = fx.api.core().video_balance(VALID).unwrap_or_default();
    b0 - b1 == credits(30.0)
}

async fn kept_limited_side_effects(fx: &Fx) -> bool {
    let b0 = fx.api.core().video_balance(VALID).unwrap_or_default();
    let body = json!({"video_url": "https://e.com/s.mp4?duration=1", "model": "light"});
    let mut ok = 0u32;
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
    let b1 = fx.api.core().video_balance(VALID).unwrap_or_default();
    // 1 s on light: 0.75 credits a job, exactly.
    limited > 0 && b0 - b1 == credits(0.75 * f64::from(ok))
}

async fn kept_idempotency_no_conflict(fx: &Fx) -> bool {
    let video = json!({"video_url": "https://example.com/a.mp4"});
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

async fn kept_idempotency_race(fx: &Fx) -> bool {
    let video = json!({"video_url": "https://example.com/a.mp4"});
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

async fn kept_restart_allowed(fx: &Fx) -> bool {
    let video = json!({"video_url": "https://example.com/a.mp4"});
    let r = fx.create_video(VALID, video).await;
    let id = r.json["id"].as_str().unwrap_or("");
    let path = format!("/v1/jobs/{id}/start");
    fx.post_json(&path, Some(VALID), json!({})).await.status == 409
}

/// The config for fault probes: a small bucket so 429 comes quickly.
fn probe_config() -> FakeConfig {
    let mut cfg = config();
    cfg.slow_response_ms = PROBE_SLOW_MS;
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
    assert_eq!(
        fx.api.core().video_balance(VALID),
        Some(credits(1000.0 - 4.0 * 30.0))
    );
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
