//! RemoveBGVideo over HTTP: public routes, uploads, jobs, exact costs, usage, errors.

use super::*;

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

/// The contract's price is `duration_minutes × rate`, not rounded: fractional
/// costs reach the balance, the job, the summary (daily too) and the events
/// exactly, and a fractional balance in the config is honoured.
#[tokio::test]
async fn video_costs_are_exact_fractions_everywhere() {
    let mut cfg = config();
    cfg.keys[2].credits = credits(0.5);
    let fx = Fx::start(cfg, &[]).await;
    let cases = [
        // (seconds, model, credits): 1 s on original is 1/60 min × 60 = 1.
        ("1", "original", 1.0),
        ("91.75", "original", 91.75),
        ("1", "light", 0.75),
        ("7", "human", 5.25),
        ("0.5", "pro", 1.5),
    ];
    let mut total = 0.0;
    for (seconds, model, cost) in cases {
        let before = fx.api.core().video_balance(VALID).unwrap();
        let url = format!("https://example.com/v.mp4?duration={seconds}");
        let r = fx
            .create_video(VALID, json!({"video_url": url, "model": model}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let id = r.json["id"].as_str().unwrap();
        assert_eq!(
            fx.api.core().video_balance(VALID),
            Some(before - credits(cost)),
            "{seconds} s on {model}"
        );
        assert_eq!(
            fx.video_job(VALID, id).await.json["credits"].as_f64(),
            Some(cost)
        );
        let ev = fx.get("/v1/usage/events?limit=1", Some(VALID)).await.json;
        assert_eq!(
            ev["events"][0]["credits"].as_f64(),
            Some(cost),
            "{seconds} s on {model}"
        );
        total += cost;
    }
    let s = fx.summary(VALID).await;
    // 100.25 credits in all: every figure exact, the invariant holds.
    assert_eq!(total, 100.25);
    assert_eq!(s["credits_used"].as_f64(), Some(total));
    assert_eq!(s["credits_remaining"].as_f64(), Some(1000.0 - total));
    let today = &s["daily"].as_array().unwrap().last().unwrap()["credits_used"];
    assert_eq!(today.as_f64(), Some(total));
    // Whole amounts stay JSON integers: the 1-credit job's event.
    let ev = fx.get("/v1/usage/events?limit=5", Some(VALID)).await.json;
    assert!(ev["events"][4]["credits"].is_u64(), "{}", ev["events"][4]);
    // A 0.5-credit balance cannot pay 0.75, and the 402 says both amounts.
    let short = json!({"video_url": "https://example.com/v.mp4?duration=1", "model": "light"});
    let r = fx.create_video(EMPTY, short).await;
    assert_video_error(&r, 402, "insufficient_credits");
    let msg = r.json["error"]["message"].as_str().unwrap();
    assert!(msg.contains("0.75") && msg.contains("0.5"), "{msg}");
    assert_eq!(
        fx.summary(EMPTY).await["credits_remaining"].as_f64(),
        Some(0.5)
    );
}

#[tokio::test]
async fn video_job_fails_refunds_and_can_restart() {
    let fx = Fx::healthy().await;
    let b0 = fx.credits_remaining(VALID).await;
    let r = fx
        .create_video(
            VALID,
            json!({"video_url": "https://example.com/fail.mp4", "model": "light"}),
        )
        .await;
    let id = r.json["id"].as_str().unwrap().to_string();
    // 30 s default × 45 / 60 = 22.5 credits exactly, not rounded up.
    assert_eq!(
        fx.summary(VALID).await["credits_remaining"].as_f64(),
        Some(b0 as f64 - 22.5)
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
    let b0 = fx.credits_remaining(VALID).await;
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
}

#[tokio::test]
async fn video_auth_and_input_errors() {
    let fx = Fx::healthy().await;
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
