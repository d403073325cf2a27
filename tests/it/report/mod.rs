//! The renderers end to end, on two synthetic reports: a healthy GO run and a
//! faulty NO-GO run (a failing blocker with schema findings and pointers, an
//! advisory warning, a skip, an error without a response, a truncated body, a
//! binary body, markup in API answers and an unredacted key the renderers must
//! not let through). Snapshots live in the top-level `snapshots/`.

use golive::report::diff::{self, DiffOptions};
use golive::report::*;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

/// A key the engine would have redacted; planted unredacted to prove that no
/// renderer lets it through.
const SECRET: &str = "fake_key_DO_NOT_LEAK_7f3a9c21";

const BASE: &str = "http://127.0.0.1:41234";

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn body(ct: &str, text: &str) -> BodyRecord {
    BodyRecord {
        size: text.len(),
        sha256: sha(text.as_bytes()),
        content_type: Some(ct.into()),
        text: Some(text.into()),
        truncated: false,
    }
}

fn json_body(text: &str) -> BodyRecord {
    body("application/json", text)
}

/// A body of `full` cut at `limit` bytes, as the engine records large bodies.
fn truncated_body(full: &str, limit: usize) -> BodyRecord {
    BodyRecord {
        size: full.len(),
        sha256: sha(full.as_bytes()),
        content_type: Some("application/json".into()),
        text: Some(full[..limit].into()),
        truncated: true,
    }
}

fn hdrs(h: &[(&str, &str)]) -> Vec<(String, String)> {
    h.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

struct X {
    step: &'static str,
    at: f64,
    dur: f64,
    method: &'static str,
    path: String,
    key: Option<&'static str>,
    req_body: Option<BodyRecord>,
    status: Option<u16>,
    resp_body: Option<BodyRecord>,
    rid: Option<&'static str>,
}

fn x(step: &'static str, at: f64, dur: f64, method: &'static str, path: &str) -> X {
    X {
        step,
        at,
        dur,
        method,
        path: path.into(),
        key: Some("[redacted]"),
        req_body: None,
        status: Some(200),
        resp_body: None,
        rid: None,
    }
}

impl X {
    fn key(mut self, k: Option<&'static str>) -> Self {
        self.key = k;
        self
    }
    fn send(mut self, b: BodyRecord) -> Self {
        self.req_body = Some(b);
        self
    }
    fn answer(mut self, status: u16, b: BodyRecord) -> Self {
        self.status = Some(status);
        self.resp_body = Some(b);
        self
    }
    fn rid(mut self, r: &'static str) -> Self {
        self.rid = Some(r);
        self
    }
    fn no_response(mut self) -> Self {
        self.status = None;
        self
    }
    fn build(self) -> Exchange {
        let mut req_h = vec![("User-Agent".to_string(), "golive/0.1.0".to_string())];
        if let Some(k) = self.key {
            req_h.push(("X-API-Key".into(), k.into()));
        }
        if let Some(b) = &self.req_body {
            req_h.push((
                "Content-Type".into(),
                b.content_type.clone().unwrap_or_default(),
            ));
        }
        let response = self.status.map(|status| {
            let mut h = hdrs(&[("content-type", "application/json")]);
            if let Some(r) = self.rid {
                h.push(("x-request-id".into(), r.into()));
            }
            h.push(("x-ratelimit-remaining".into(), "17".into()));
            ResponseRecord {
                status,
                headers: h,
                body: self.resp_body,
            }
        });
        Exchange {
            step: self.step.into(),
            at_ms: self.at,
            duration_ms: self.dur,
            request: RequestRecord {
                method: self.method.into(),
                url: format!("{BASE}{}", self.path),
                headers: req_h,
                body: self.req_body,
            },
            error: response
                .is_none()
                .then(|| "connection reset by peer (after 30 s)".to_string()),
            response,
            request_id: self.rid.map(str::to_string),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn check(
    name: &str,
    family: Family,
    severity: Severity,
    status: Status,
    title: &str,
    summary: &str,
    findings: Vec<Finding>,
    evidence: Vec<Exchange>,
) -> CheckResult {
    let duration_ms = evidence
        .iter()
        .map(|x| x.at_ms + x.duration_ms)
        .fold(0.0, f64::max)
        - evidence.first().map_or(0.0, |x| x.at_ms);
    CheckResult {
        id: format!("removit.{}.{name}", family.as_str()),
        pack: "removit".into(),
        family,
        severity,
        status,
        title: title.into(),
        summary: summary.into(),
        duration_ms: (duration_ms * 10.0).round() / 10.0,
        scenario: Some(format!("{}_{name}.yaml", family.as_str())),
        findings,
        evidence,
    }
}

fn finding(level: FindingLevel, step: &str, message: &str) -> Finding {
    let basis = match level {
        FindingLevel::Fail => golive::report::Basis::Doc,
        FindingLevel::Warn => golive::report::Basis::Conv,
    };
    Finding::new(level, Some(basis), step, message)
}

const JOB: &str = "01937a4e-8b1c-7d2e-9f3a-4b5c6d7e8f90";

fn upload_body() -> BodyRecord {
    json_body(r#"{"file_url":"https://samples.golive.dev/cat.png","mode":"clipping"}"#)
}

fn status_body(status: &str, progress: u32) -> BodyRecord {
    json_body(&format!(
        r#"{{"job_id":"{JOB}","status":"{status}","state":"{}","mode":"clipping","progress":{progress}}}"#,
        if status == "done" { "done" } else { "pending" }
    ))
}

fn base_report(faults: &[&str]) -> Report {
    Report {
        format_version: REPORT_FORMAT_VERSION,
        golive_version: "0.1.0".into(),
        verdict: Verdict::Incomplete,
        verdict_reason: String::new(),
        policy: String::new(),
        started_at: "2026-11-21T06:00:00.000Z".into(),
        finished_at: "2026-11-21T06:00:04.210Z".into(),
        duration_ms: 4210.0,
        target: TargetInfo {
            kind: "fake".into(),
            url: BASE.into(),
            faults: faults.iter().map(|f| f.to_string()).collect(),
        },
        packs: vec![PackInfo {
            name: "removit".into(),
            version: "1.0.0".into(),
            title: "Removit image background removal".into(),
            source: "embedded".into(),
            scenarios: [
                "auth_missing_key.yaml",
                "isolation_foreign_job.yaml",
                "schema_responses.yaml",
            ]
            .iter()
            .map(|f| ScenarioDigest {
                file: f.to_string(),
                sha256: sha(f.as_bytes()),
            })
            .collect(),
        }],
        interrupted: None,
        totals: Totals::default(),
        checks: vec![],
        load: None,
        capacity: None,
    }
}

fn lifecycle(slow: f64) -> CheckResult {
    let mut ev = vec![
        x("upload", 400.0, 38.0 * slow, "POST", "/api/v1/upload")
            .send(upload_body())
            .answer(
                200,
                json_body(&format!(
                    r#"{{"job_id":"{JOB}","status":"queued","mode":"clipping"}}"#
                )),
            )
            .rid("req_01JDLIFE0")
            .build(),
    ];
    for (i, (st, p)) in [
        ("queued", 0),
        ("pending_clipping", 40),
        ("pending_compose", 80),
        ("done", 100),
    ]
    .iter()
    .enumerate()
    {
        ev.push(
            x(
                "poll",
                450.0 + 250.0 * i as f64,
                (12.0 + i as f64) * slow,
                "GET",
                &format!("/api/v1/status?job_id={JOB}"),
            )
            .answer(200, status_body(st, *p))
            .build(),
        );
    }
    check(
        "happy_path",
        Family::Lifecycle,
        Severity::Blocker,
        Status::Pass,
        "A job reaches done with a result",
        "job reached `done` in 1.2 s (4 polls, every 250 ms) with final_urls",
        vec![],
        ev,
    )
}

fn common_passes() -> Vec<CheckResult> {
    vec![
        check(
            "missing_key",
            Family::Auth,
            Severity::Blocker,
            Status::Pass,
            "A request without a key is refused",
            "401 unauthorized on every protected route without a key",
            vec![],
            vec![
                x("no_key", 10.0, 4.2, "POST", "/api/v1/upload")
                    .key(None)
                    .send(upload_body())
                    .answer(
                        401,
                        json_body(r#"{"error":"unauthorized","message":"API key missing"}"#),
                    )
                    .rid("req_01JDAUTH0")
                    .build(),
            ],
        ),
        check(
            "header_forms",
            Family::Auth,
            Severity::Blocker,
            Status::Pass,
            "Both documented header forms work",
            "X-API-Key and Authorization: Bearer both accepted",
            vec![],
            vec![
                x(
                    "x_api_key",
                    30.0,
                    6.0,
                    "GET",
                    &format!("/api/v1/status?job_id={JOB}"),
                )
                .answer(200, status_body("done", 100))
                .build(),
                x(
                    "bearer",
                    40.0,
                    5.5,
                    "GET",
                    &format!("/api/v1/status?job_id={JOB}"),
                )
                .answer(200, status_body("done", 100))
                .build(),
            ],
        ),
        lifecycle(1.0),
        check(
            "request_ids",
            Family::Observability,
            Severity::Advisory,
            Status::Pass,
            "Responses carry request ids",
            "X-Request-Id on 12 of 12 responses",
            vec![],
            vec![],
        ),
    ]
}

/// A healthy GO run: every check passes.
fn go_report() -> Report {
    let mut r = base_report(&[]);
    r.checks = common_passes();
    r.checks.insert(
        2,
        check(
            "foreign_job",
            Family::Isolation,
            Severity::Blocker,
            Status::Pass,
            "Another account's job is not found",
            "404 for a job created by another key",
            vec![],
            vec![
                x(
                    "peek",
                    100.0,
                    5.0,
                    "GET",
                    &format!("/api/v1/status?job_id={JOB}"),
                )
                .answer(404, json_body(r#"{"error":"not_found"}"#))
                .build(),
            ],
        ),
    );
    r.checks.push(check(
        "responses",
        Family::Schema,
        Severity::Blocker,
        Status::Pass,
        "Every response matches its schema",
        "9 responses validated against 4 schemas",
        vec![],
        vec![],
    ));
    r.checks.push(check(
        "sla",
        Family::Timeouts,
        Severity::Blocker,
        Status::Pass,
        "Requests answer within their SLA",
        "upload answered in 120 ms (SLA 2 s)",
        vec![],
        vec![
            x("upload", 2000.0, 120.0, "POST", "/api/v1/upload")
                .send(upload_body())
                .answer(
                    200,
                    json_body(&format!(
                        r#"{{"job_id":"{JOB}","status":"queued","mode":"clipping"}}"#
                    )),
                )
                .build(),
        ],
    ));
    r.checks.push(check(
        "retry_after",
        Family::RateLimit,
        Severity::Advisory,
        Status::Pass,
        "A burst gets 429 with a usable Retry-After",
        "burst of 30: 20 accepted, 10 refused with Retry-After: 1",
        vec![],
        vec![],
    ));
    r.finalize();
    r
}

/// A faulty NO-GO run.
fn nogo_report() -> Report {
    let mut r = base_report(&["schema-drift", "slow"]);
    r.started_at = "2026-11-22T06:00:00.000Z".into();
    r.finished_at = "2026-11-22T06:00:09.870Z".into();
    r.duration_ms = 9870.0;
    r.checks = common_passes();
    // The lifecycle check is slower (latency regression, still a pass).
    r.checks[2] = lifecycle(9.0);

    // An error: the check could not finish (no response at all).
    r.checks.insert(
        2,
        check(
            "foreign_job",
            Family::Isolation,
            Severity::Blocker,
            Status::Error,
            "Another account's job is not found",
            "could not finish: the target reset the connection",
            vec![],
            vec![
                x(
                    "peek",
                    100.0,
                    30000.0,
                    "GET",
                    &format!("/api/v1/status?job_id={JOB}&api_key={SECRET}"),
                )
                .key(Some(SECRET))
                .no_response()
                .build(),
            ],
        ),
    );

    // The failing blocker: schema findings with JSON pointers, markup in the
    // answer, a truncated body, and an unredacted key in the request.
    let bad = r#"{"job_id":12345,"status":"queud","mode":"clipping","note":"<img src=x onerror=alert(1)>"}"#;
    let big = format!(
        r#"{{"job_id":"{JOB}","status":"done","state":"done","progress":100,"final_urls":{{"clipping":"https://cdn.removit.eu/r/{}.png"}}}}"#,
        "a".repeat(5000)
    );
    let mut schema_x = vec![
        x("upload", 1200.0, 41.0, "POST", "/api/v1/upload")
            .key(Some(SECRET))
            .send(upload_body())
            .answer(200, json_body(bad))
            .rid("req_01JDSCHEMA1")
            .build(),
        x(
            "status",
            1300.0,
            18.0,
            "GET",
            &format!("/api/v1/status?job_id={JOB}"),
        )
        .answer(200, truncated_body(&big, 240))
        .rid("req_01JDSCHEMA2")
        .build(),
    ];
    schema_x[0]
        .request
        .headers
        .push(("Authorization".into(), format!("Bearer {SECRET}")));
    let schema_findings = vec![
        Finding {
            expected: Some("string (uuid)".into()),
            actual: Some("12345 (integer)".into()),
            request_id: Some("req_01JDSCHEMA1".into()),
            exchange: Some(0),
            pointer: Some("/job_id".into()),
            ..finding(
                FindingLevel::Fail,
                "upload",
                "200 response of POST /api/v1/upload does not match schema upload_ok.json: /job_id is not a string",
            )
        },
        Finding {
            expected: Some(r#"one of "queued", "pending_*", "done", "failed""#.into()),
            actual: Some(r#""queud""#.into()),
            request_id: Some("req_01JDSCHEMA1".into()),
            exchange: Some(0),
            pointer: Some("/status".into()),
            ..finding(
                FindingLevel::Fail,
                "upload",
                "/status is not one of the documented states",
            )
        },
        Finding {
            actual: Some("<img src=x onerror=alert(1)>".into()),
            exchange: Some(0),
            pointer: Some("/note".into()),
            ..finding(
                FindingLevel::Warn,
                "upload",
                "undocumented property `note` (additionalProperties)",
            )
        },
    ];
    r.checks.insert(
        3,
        check(
            "responses",
            Family::Schema,
            Severity::Blocker,
            Status::Fail,
            "Every response matches its schema",
            "2 responses break their schema: upload (/job_id, /status)",
            schema_findings,
            schema_x,
        ),
    );

    // A second failing blocker: a double charge, no exchange index (the
    // renderers fall back to the last exchange for the curl line).
    r.checks.push(check(
        "charge_once",
        Family::Credits,
        Severity::Blocker,
        Status::Fail,
        "A job costs one credit",
        "one upload charged 2 credits",
        vec![Finding {
            expected: Some("balance 999 after one upload".into()),
            actual: Some("balance 998".into()),
            ..finding(
                FindingLevel::Fail,
                "balance_after",
                "the upload was charged twice",
            )
        }],
        vec![
            x("balance_after", 3000.0, 9.0, "GET", "/api/v1/account")
                .answer(200, json_body(r#"{"credits":998}"#))
                .rid("req_01JDCREDIT")
                .build(),
        ],
    ));
    // Latency regression on the SLA check (still within the SLA).
    r.checks.push(check(
        "sla",
        Family::Timeouts,
        Severity::Blocker,
        Status::Pass,
        "Requests answer within their SLA",
        "upload answered in 910 ms (SLA 2 s)",
        vec![],
        vec![
            x("upload", 2000.0, 910.0, "POST", "/api/v1/upload")
                .send(upload_body())
                .answer(
                    200,
                    json_body(&format!(
                        r#"{{"job_id":"{JOB}","status":"queued","mode":"clipping"}}"#
                    )),
                )
                .build(),
        ],
    ));
    // An advisory warning with advice, on a binary (non-UTF-8) response body.
    let mut warn_x = x("burst", 4000.0, 3.0, "GET", "/api/v1/account")
        .answer(
            429,
            BodyRecord {
                size: 57,
                sha256: sha(b"binary"),
                content_type: Some("application/octet-stream".into()),
                text: None,
                truncated: false,
            },
        )
        .build();
    warn_x
        .response
        .as_mut()
        .unwrap()
        .headers
        .push(("Set-Cookie".into(), format!("session={SECRET}")));
    r.checks.push(check(
        "retry_after",
        Family::RateLimit,
        Severity::Advisory,
        Status::Warn,
        "A burst gets 429 with a usable Retry-After",
        "429 without Retry-After [conv]: clients cannot know when to retry",
        vec![Finding {
            expected: Some("Retry-After: <seconds ≥ 1>".into()),
            actual: Some("header absent".into()),
            exchange: Some(0),
            advice: Some(
                "back off exponentially from 1 s on 429 (cap 30 s) instead of relying on Retry-After"
                    .into(),
            ),
            ..finding(FindingLevel::Warn, "burst", "429 has no Retry-After header")
        }],
        vec![warn_x],
    ));
    // A skip with its reason.
    r.checks.push(check(
        "replay",
        Family::Idempotency,
        Severity::Advisory,
        Status::Skip,
        "A replay returns the same job and charges once",
        "skipped: GOLIVE_KEY_EMPTY is not set (needed to prove nothing is charged)",
        vec![],
        vec![],
    ));
    r.finalize();
    r
}

fn snapshot(name: &str, value: &str) {
    insta::with_settings!({snapshot_path => "../../../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, value);
    });
}

mod formats;
