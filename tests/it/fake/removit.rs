//! Removit over HTTP: both auth forms, life cycles, delivery modes, multipart, errors.

use super::*;

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
    assert_eq!(
        fx.api.core().removit_balance(VALID),
        before.map(|b| b - credits(2.0))
    );

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
    assert_eq!(
        fx.api.core().removit_balance(VALID),
        Some(before - credits(1.0))
    );
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
    assert_eq!(fx.api.core().removit_balance(EMPTY), Some(Credits::ZERO));
}
