//! Unit tests of the core on a hand-driven clock: life cycles are computed
//! from time, settled from a heap, and no input makes the core panic.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde_json::{Value, json};

use super::{Clock, Credits, FakeConfig, FakeCore, FakeOptions, FakeRequest, Fault};

#[derive(Default)]
struct ManualClock(AtomicU64);

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn core(faults: &[Fault]) -> (FakeCore, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock(AtomicU64::new(1_800_000_000_000)));
    let options = FakeOptions {
        config: FakeConfig {
            processing_ms: 300,
            ..FakeConfig::default()
        },
        faults: faults.to_vec(),
    };
    (FakeCore::with_clock(options, clock.clone()), clock)
}

fn req(method: &str, path: &str, key: Option<&str>, body: Value) -> FakeRequest {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (path.to_string(), None),
    };
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if let Some(k) = key {
        // Mixed case on purpose: names are matched case-insensitively.
        headers.push(("X-API-KEY".to_string(), k.to_string()));
    }
    FakeRequest {
        method: method.to_string(),
        path,
        query,
        headers,
        body: if body.is_null() {
            Bytes::new()
        } else {
            Bytes::from(body.to_string())
        },
    }
}

fn body(resp: &super::FakeResponse) -> Value {
    serde_json::from_slice(&resp.body).unwrap_or(Value::Null)
}

#[test]
fn removit_life_cycle_follows_the_clock() {
    let (core, clock) = core(&[]);
    let r = core.handle(req(
        "POST",
        "/api/v1/upload",
        Some("sk_test_valid"),
        json!({"file_url": "https://e.com/a.png"}),
    ));
    assert_eq!(r.status, 200);
    let id = body(&r)["job_id"].as_str().unwrap().to_string();
    let status = |core: &FakeCore| {
        body(&core.handle(req(
            "GET",
            &format!("/api/v1/status?job_id={id}"),
            Some("sk_test_valid"),
            Value::Null,
        )))
    };
    let mut seen = Vec::new();
    for t in [0, 99, 100, 150, 199, 200, 250, 299, 300, 10_000] {
        clock.0.store(1_800_000_000_000 + t, Ordering::SeqCst);
        let s = status(&core);
        seen.push((
            s["status"].as_str().unwrap().to_string(),
            s["progress"].as_u64().unwrap(),
        ));
    }
    let statuses: Vec<&str> = seen.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "queued",
            "queued",
            "pending_clipping",
            "pending_clipping",
            "pending_clipping",
            "pending_compose",
            "pending_compose",
            "pending_compose",
            "done",
            "done"
        ]
    );
    let progress: Vec<u64> = seen.iter().map(|(_, p)| *p).collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(progress[0], 0);
    assert_eq!(*progress.last().unwrap(), 100);
}

#[test]
fn video_refund_settles_at_the_deadline_without_polling() {
    let (core, clock) = core(&[]);
    let r = core.handle(req(
        "POST",
        "/v1/jobs",
        Some("sk_test_valid"),
        json!({"video_url": "https://e.com/fail.mp4?duration=60"}),
    ));
    assert_eq!(r.status, 200);
    assert_eq!(
        core.video_balance("sk_test_valid"),
        Some(Credits::whole(940))
    );
    clock.0.fetch_add(1_000, Ordering::SeqCst);
    // Any request (here another key's) settles due transitions.
    let _ = core.handle(req("GET", "/v1/jobs", Some("sk_test_other"), Value::Null));
    assert_eq!(
        core.video_balance("sk_test_valid"),
        Some(Credits::whole(1000))
    );
}

#[test]
fn webhooks_are_queued_signed_and_recorded() {
    let (core, clock) = core(&[]);
    let r = core.handle(req(
        "POST",
        "/v1/jobs",
        Some("sk_test_valid"),
        json!({"video_url": "https://e.com/a.mp4", "webhook_url": "http://127.0.0.1:9/h"}),
    ));
    let id = body(&r)["id"].as_str().unwrap().to_string();
    let started = core.take_due_webhooks();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].event, "job.started");
    assert!(core.take_due_webhooks().is_empty());
    clock.0.fetch_add(300, Ordering::SeqCst);
    let done = core.take_due_webhooks();
    assert_eq!(done.len(), 1);
    let d = &done[0];
    assert_eq!(d.event, "job.completed");
    assert!(super::webhook::verify(
        &core.config().webhook_secret,
        &d.timestamp.to_string(),
        &d.body,
        &d.signature
    ));
    core.record_webhook_result(&id, &d.delivery_id, Some(200));
    let j = body(&core.handle(req(
        "GET",
        &format!("/v1/jobs/{id}"),
        Some("sk_test_valid"),
        Value::Null,
    )));
    assert_eq!(j["webhook_events"][1]["status_code"], 200);
    assert_eq!(j["webhook_events"][0]["status_code"], Value::Null);
}

#[test]
fn stuck_jobs_fault_keeps_everything_pending() {
    let (core, clock) = core(&[Fault::StuckJobs]);
    let r = core.handle(req(
        "POST",
        "/v1/jobs",
        Some("sk_test_valid"),
        json!({"video_url": "https://e.com/a.mp4"}),
    ));
    let id = body(&r)["id"].as_str().unwrap().to_string();
    clock.0.fetch_add(3_600_000, Ordering::SeqCst);
    let j = body(&core.handle(req(
        "GET",
        &format!("/v1/jobs/{id}"),
        Some("sk_test_valid"),
        Value::Null,
    )));
    assert_eq!(j["status"], "processing");
}

/// A tiny deterministic generator (no extra dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() as usize) % items.len()]
    }
}

/// What the sweep draws requests from.
const PATHS: &[&str] = &[
    "/api/v1/upload",
    "/api/v1/status",
    "/v1/uploads",
    "/v1/jobs",
    "/v1/jobs/job_x",
    "/v1/jobs/job_x/start",
    "/v1/usage/summary",
    "/v1/usage/events",
    "/v1/admin/x",
    "/health",
    "/api/pricing",
    "/",
    "//",
    "/v1/jobs//start",
];
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "get", ""];
const TYPES: &[&str] = &[
    "application/json",
    "multipart/form-data; boundary=b",
    "multipart/form-data; boundary=",
    "multipart/form-data",
    "text/plain",
    "",
    "application/json; charset=utf-8",
    "application/problem+json",
];
const BODIES: &[&[u8]] = &[
    b"",
    b"{}",
    b"{",
    b"null",
    b"[1]",
    b"{\"file_url\":\"https://e.com/a.png\",\"mode\":\"params\",\"params\":\"{\\\"x\\\":1}\"}",
    b"{\"video_url\":\"https://e.com/a.mp4?duration=1e308\"}",
    b"{\"video_url\":\"https://e.com/a.mp4?duration=-5\",\"bg_color\":[1,1]}",
    b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\nxx\r\n--b--",
    b"--b\r\nContent-Disposition: form-data\r\n\r\nxx\r\n--b--",
    b"--b\r\n\r\n\r\n--b",
    b"\xff\xfe\x00\x01",
];
const QUERIES: &[Option<&str>] = &[
    None,
    Some("job_id="),
    Some("job_id=%ZZ"),
    Some("limit=-1&offset=99999999999999999999&status=x"),
    Some("days=90"),
    Some("&&=&"),
];

/// One request drawn from the tables above.
fn random_request(rng: &mut Lcg) -> FakeRequest {
    let mut headers = vec![("content-type".to_string(), rng.pick(TYPES).to_string())];
    match rng.next() % 4 {
        0 => headers.push(("x-api-key".into(), "sk_test_valid".into())),
        1 => headers.push(("authorization".into(), "Bearer sk_test_empty".into())),
        2 => headers.push(("X-Api-Key".into(), "\u{0}bad".into())),
        _ => {}
    }
    if rng.next() % 3 == 0 {
        headers.push(("idempotency-key".into(), format!("k{}", rng.next() % 5)));
    }
    FakeRequest {
        method: rng.pick(METHODS).to_string(),
        path: rng.pick(PATHS).to_string(),
        query: QUERIES[(rng.next() as usize) % QUERIES.len()].map(str::to_string),
        headers,
        body: Bytes::from_static(BODIES[(rng.next() as usize) % BODIES.len()]),
    }
}

#[test]
fn no_input_panics_the_core() {
    for faults in [vec![], Fault::ALL.to_vec()] {
        let (core, clock) = core(&faults);
        let mut rng = Lcg(42);
        for i in 0..3_000 {
            clock.0.fetch_add(rng.next() % 50, Ordering::SeqCst);
            let resp = core.handle(random_request(&mut rng));
            assert!((200..600).contains(&resp.status), "request {i}");
            let _ = core.take_due_webhooks();
        }
    }
}

/// The profile `golive check` starts its fake with: a burst is still limited
/// with a whole-second `Retry-After`, but waiting that second refills the
/// bucket completely (the contract's default refills half of it), and a job
/// ends in 250 ms. `golive fake` keeps the documented defaults.
#[test]
fn check_profile_recovers_within_retry_after_and_runs_jobs_fast() {
    let burst = |core: &FakeCore| -> (usize, Option<String>) {
        let mut ok = 0;
        let mut retry_after = None;
        for _ in 0..30 {
            let r = core.handle(req("GET", "/v1/jobs", Some("sk_test_valid"), Value::Null));
            match r.status {
                200 => ok += 1,
                429 => retry_after = r.header("retry-after").map(str::to_string),
                s => panic!("status {s}"),
            }
        }
        (ok, retry_after)
    };
    let start = |config: FakeConfig| {
        let clock = Arc::new(ManualClock(AtomicU64::new(1_800_000_000_000)));
        let options = FakeOptions {
            config,
            faults: vec![],
        };
        (FakeCore::with_clock(options, clock.clone()), clock)
    };
    let (fast, clock) = start(FakeConfig::check_profile());
    assert_eq!(burst(&fast), (20, Some("1".to_string())));
    clock.0.fetch_add(1_000, Ordering::SeqCst);
    assert_eq!(burst(&fast).0, 20, "full again after Retry-After");
    let (slow, clock) = start(FakeConfig::default());
    assert_eq!(burst(&slow), (20, Some("1".to_string())));
    clock.0.fetch_add(1_000, Ordering::SeqCst);
    assert_eq!(burst(&slow).0, 10, "the default refills 10 per second");

    let (fast, clock) = start(FakeConfig::check_profile());
    let r = fast.handle(req(
        "POST",
        "/v1/jobs",
        Some("sk_test_valid"),
        json!({"video_url": "https://e.com/a.mp4"}),
    ));
    let id = body(&r)["id"].as_str().unwrap_or_default().to_string();
    clock.0.fetch_add(249, Ordering::SeqCst);
    let own = |core: &FakeCore| {
        body(&core.handle(req(
            "GET",
            &format!("/v1/jobs/{id}"),
            Some("sk_test_valid"),
            Value::Null,
        )))
    };
    assert_eq!(own(&fast)["status"], "processing");
    clock.0.fetch_add(1, Ordering::SeqCst);
    assert_eq!(own(&fast)["status"], "completed");
    assert_eq!(FakeConfig::default().processing_ms, 1000);
}
