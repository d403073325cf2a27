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
const SECRET: &str = "sk_live_DO_NOT_LEAK_7f3a9c21";

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
    Finding {
        level,
        basis: Some(match level {
            FindingLevel::Fail => golive::report::Basis::Doc,
            FindingLevel::Warn => golive::report::Basis::Conv,
        }),
        step: step.into(),
        message: message.into(),
        expected: None,
        actual: None,
        request_id: None,
        exchange: None,
        pointer: None,
        advice: None,
    }
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
    insta::with_settings!({snapshot_path => "../../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, value);
    });
}

#[test]
fn sample_reports_have_the_expected_verdicts() {
    let go = go_report();
    assert_eq!(go.verdict, Verdict::Go, "{}", go.verdict_reason);
    let nogo = nogo_report();
    assert_eq!(nogo.verdict, Verdict::NoGo);
    assert_eq!(
        nogo.verdict_reason,
        "2 blocker check(s) failed: removit.schema.responses, removit.credits.charge_once"
    );
    assert_eq!(
        (
            nogo.totals.pass,
            nogo.totals.fail,
            nogo.totals.warn,
            nogo.totals.skip,
            nogo.totals.error
        ),
        (5, 2, 1, 1, 1)
    );
}

#[test]
fn snapshots_go() {
    let r = go_report();
    snapshot("report_go.json", &json::to_string(&r).unwrap());
    snapshot("report_go.md", &md::render(&r));
    snapshot("report_go.html", &html::render(&r));
    snapshot("report_go.junit.xml", &junit::render(&r));
}

#[test]
fn snapshots_nogo() {
    let r = nogo_report();
    snapshot("report_nogo.json", &json::to_string(&r).unwrap());
    snapshot("report_nogo.md", &md::render(&r));
    snapshot("report_nogo.html", &html::render(&r));
    snapshot("report_nogo.junit.xml", &junit::render(&r));
    snapshot("report_nogo.har", &har::to_string(&r).unwrap());
}

#[test]
fn snapshot_diff_nogo_against_go_baseline() {
    let d = diff::diff(&go_report(), &nogo_report(), DiffOptions::default());
    snapshot("report_diff.txt", &diff::render_text(&d));
    snapshot("report_diff.md", &diff::render_md(&d));
}

fn schema_validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::draft202012::new(&schema).expect("report.schema.json is a valid 2020-12 schema")
}

fn schema_errors(v: &jsonschema::Validator, instance: &serde_json::Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn report_json_validates_against_the_schema() {
    let v = schema_validator();
    let mut empty = base_report(&[]);
    empty.packs.clear();
    empty.finalize();
    for r in [go_report(), nogo_report(), empty] {
        let s = json::to_string(&r).unwrap();
        let instance: serde_json::Value = serde_json::from_str(&s).unwrap();
        let errors = schema_errors(&v, &instance);
        assert!(errors.is_empty(), "{}: {errors:#?}", r.verdict);
        // And it reads back to what was written.
        let back = json::from_str(&s, "x").unwrap();
        assert_eq!(json::to_string(&back).unwrap(), s);
    }
}

#[test]
fn the_schema_refuses_what_the_model_refuses() {
    let v = schema_validator();
    let good: serde_json::Value =
        serde_json::from_str(&json::to_string(&nogo_report()).unwrap()).unwrap();
    let broken = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut i = good.clone();
        f(&mut i);
        i
    };
    let cases: Vec<(&str, serde_json::Value)> = vec![
        (
            "unknown status",
            broken(&|i| i["checks"][0]["status"] = "passed".into()),
        ),
        (
            "unknown verdict",
            broken(&|i| i["verdict"] = "MAYBE".into()),
        ),
        (
            "unknown family",
            broken(&|i| i["checks"][0]["family"] = "security".into()),
        ),
        (
            "unknown severity",
            broken(&|i| i["checks"][0]["severity"] = "minor".into()),
        ),
        (
            "unknown level",
            broken(&|i| i["checks"][3]["findings"][0]["level"] = "info".into()),
        ),
        (
            "missing id",
            broken(&|i| {
                i["checks"][0].as_object_mut().unwrap().remove("id");
            }),
        ),
        (
            "unknown field",
            broken(&|i| i["checks"][0]["colour"] = "red".into()),
        ),
        (
            "header not a pair",
            broken(&|i| i["checks"][0]["evidence"][0]["request"]["headers"][0] = "X: y".into()),
        ),
    ];
    for (what, instance) in cases {
        assert!(
            !schema_errors(&v, &instance).is_empty(),
            "the schema accepted a report with {what}"
        );
        // The model refuses it too (the schema is not stricter than the model
        // on these).
        if what != "unknown field" {
            assert!(
                serde_json::from_value::<Report>(instance).is_err(),
                "the model accepted {what}"
            );
        }
    }
}

#[test]
fn the_schema_enums_match_the_model() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let names = |def: &str| -> Vec<String> {
        schema["$defs"][def]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let ser = |v: serde_json::Value| v.as_str().unwrap().to_string();
    assert_eq!(
        names("family"),
        Family::ALL
            .iter()
            .map(|f| ser(serde_json::to_value(f).unwrap()))
            .collect::<Vec<_>>()
    );
    let statuses = [
        Status::Pass,
        Status::Fail,
        Status::Warn,
        Status::Skip,
        Status::Error,
    ];
    assert_eq!(
        names("status"),
        statuses
            .iter()
            .map(|s| ser(serde_json::to_value(s).unwrap()))
            .collect::<Vec<_>>()
    );
    let verdicts = [Verdict::Go, Verdict::NoGo, Verdict::Incomplete];
    assert_eq!(
        names("verdict"),
        verdicts
            .iter()
            .map(|s| ser(serde_json::to_value(s).unwrap()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        names("severity"),
        [Severity::Blocker, Severity::Advisory]
            .iter()
            .map(|s| ser(serde_json::to_value(s).unwrap()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        names("level"),
        [FindingLevel::Fail, FindingLevel::Warn]
            .iter()
            .map(|s| ser(serde_json::to_value(s).unwrap()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        schema["properties"]["format_version"]["const"],
        REPORT_FORMAT_VERSION
    );
}

#[test]
fn no_renderer_lets_a_key_through() {
    let r = nogo_report();
    // The planted key is in the model (the engine "forgot" to redact it)…
    assert!(serde_json::to_string(&r).unwrap().contains(SECRET));
    // …and in no rendered output.
    let outputs = [
        ("report.json", json::to_string(&r).unwrap()),
        ("report.md", md::render(&r)),
        ("report.html", html::render(&r)),
        ("junit.xml", junit::render(&r)),
        ("HAR", har::to_string(&r).unwrap()),
    ];
    for (name, out) in &outputs {
        assert!(!out.contains(SECRET), "{name} contains the key");
        assert!(
            !out.contains("DO_NOT_LEAK"),
            "{name} contains part of the key"
        );
    }
    // Curl lines take the key from the reader's shell.
    let md = &outputs[1].1;
    assert!(md.contains(r#"-H "X-API-Key: ${GOLIVE_KEY}""#), "{md}");
    assert!(
        md.contains(r#"-H "Authorization: Bearer ${GOLIVE_KEY}""#),
        "{md}"
    );
    for c in &r.checks {
        for x in &c.evidence {
            let line = curl::curl_line(&x.request);
            assert!(!line.contains(SECRET), "{line}");
        }
    }
    // Markup from the API is escaped everywhere it is shown.
    let html = &outputs[2].1;
    assert!(!html.contains("<img"), "unescaped markup in HTML");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    // Markdown shows API values in code spans, which GitHub never renders as
    // HTML; outside code spans markup is escaped.
    for (i, _) in md.match_indices("<img") {
        assert_eq!(&md[i - 1..i], "`", "markup outside a code span in Markdown");
    }
    assert!(md.contains("`<img src=x onerror=alert(1)>`"));
    assert!(!outputs[3].1.contains("<img"), "unescaped markup in JUnit");
}

#[test]
fn html_is_self_contained() {
    for r in [go_report(), nogo_report()] {
        let s = html::render(&r);
        for external in [
            "<link",
            " src=\"",
            "src='",
            "@import",
            "url(",
            "href=\"http",
            "href=\"//",
        ] {
            assert!(!s.contains(external), "external resource: {external}");
        }
        assert_eq!(s.matches("<script>").count(), 1);
        assert!(s.contains("<svg"), "inline charts");
        assert!(s.contains("<details"), "collapsible evidence");
    }
    let s = html::render(&nogo_report());
    // The banner comes first and says NO-GO with the reason.
    let banner = s.find("<header class=\"banner v-nogo\">").unwrap();
    assert!(banner < s.find("<main>").unwrap());
    assert!(s.contains("2 blocker check(s) failed: removit.schema.responses"));
    // Schema errors with their JSON pointers, failing checks open.
    assert!(s.contains("<dt>at (JSON pointer)</dt><dd><code>/job_id</code></dd>"));
    assert!(s.contains("<details class=\"check s-fail\" id=\"c3\" open>"));
    assert!(s.contains("<b>truncated</b> in the report"));
    assert!(s.contains("body not recorded (not text)"));
}

#[test]
fn markdown_leads_with_the_verdict_and_shows_failures() {
    let s = md::render(&nogo_report());
    assert!(s.starts_with("## ❌ golive: **NO-GO**\n"));
    let table = s.find("| family |").unwrap();
    let failures = s.find("### ❌ Blocking failures (2)").unwrap();
    assert!(table < failures);
    assert!(s.contains("  - expected: `string (uuid)`\n  - actual: `12345 (integer)`\n  - at: `/job_id`\n  - rests on: doc (the vendor's documentation)\n  - request id: `req_01JDSCHEMA1`"));
    assert!(s.contains("```sh\n  curl -sS -i"));
    // The double charge has no exchange index: its last exchange is shown.
    assert!(s.contains("curl -sS -i -H 'User-Agent: golive/0.1.0' -H \"X-API-Key: ${GOLIVE_KEY}\" http://127.0.0.1:41234/api/v1/account"));
    assert!(s.contains("### ⏭️ Skipped (1)\n\n- `removit.idempotency.replay` (advisory): skipped: GOLIVE\\_KEY\\_EMPTY is not set"));
    assert!(s.len() < md::MAX_LEN);
}

#[test]
fn junit_is_accepted_by_junitparser() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, junit::render(&nogo_report())).unwrap();
    const SCRIPT: &str = r#"
import json, sys
from junitparser import JUnitXml, Failure, Error, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
out = {"suites": [], "cases": {}}
for suite in xml:
    out["suites"].append([suite.name, suite.tests, suite.failures, suite.errors, suite.skipped])
    for case in suite:
        out["cases"][case.name] = {
            "suite": suite.name,
            "classname": case.classname,
            "time": case.time,
            "results": [type(r).__name__ for r in case.result],
            "messages": [r.message for r in case.result],
            "texts": [r.text or "" for r in case.result],
        }
print(json.dumps(out))
"#;
    let run = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(&file)
        .output();
    let missing = match &run {
        Err(e) => Some(format!("python3 not runnable: {e}")),
        Ok(o)
            if !o.status.success()
                && String::from_utf8_lossy(&o.stderr).contains("junitparser") =>
        {
            Some(format!(
                "junitparser not importable: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ))
        }
        Ok(_) => None,
    };
    if let Some(why) = missing {
        if std::env::var_os("CI").is_some() {
            panic!("{why} (CI is set: `.ci/run` installs junitparser==3.*)");
        }
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !! SKIPPED junit_is_accepted_by_junitparser: {why}\n\
             !! install it with: python3 -m pip install 'junitparser==3.*'\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
        return;
    }
    let o = run.unwrap();
    assert!(
        o.status.success(),
        "junitparser refused junit.xml: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let suites: Vec<String> = v["suites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[0].as_str().unwrap().to_string())
        .collect();
    // One suite per family that has checks, in the design's order.
    let r = nogo_report();
    let expected: Vec<&str> = Family::ALL
        .iter()
        .filter(|f| r.checks.iter().any(|c| c.family == **f))
        .map(|f| f.as_str())
        .collect();
    assert_eq!(suites, expected);
    assert_eq!(suites[0], "auth");
    // One testcase per check.
    let cases = v["cases"].as_object().unwrap();
    assert_eq!(cases.len(), nogo_report().checks.len());
    let case = |id: &str| &cases[id];
    let schema = case("removit.schema.responses");
    assert_eq!(schema["suite"], "schema");
    assert_eq!(schema["results"], serde_json::json!(["Failure"]));
    assert_eq!(
        schema["messages"][0],
        "2 responses break their schema: upload (/job_id, /status)"
    );
    let text = schema["texts"][0].as_str().unwrap();
    assert!(text.contains("at: /job_id"), "{text}");
    assert!(text.contains("request id: req_01JDSCHEMA1"), "{text}");
    assert!(text.contains("reproduce: curl "), "{text}");
    assert_eq!(
        case("removit.isolation.foreign_job")["results"],
        serde_json::json!(["Error"])
    );
    let skip = case("removit.idempotency.replay");
    assert_eq!(skip["results"], serde_json::json!(["Skipped"]));
    assert!(
        skip["messages"][0]
            .as_str()
            .unwrap()
            .contains("GOLIVE_KEY_EMPTY is not set")
    );
    assert_eq!(
        case("removit.rate_limit.retry_after")["results"],
        serde_json::json!([]),
        "a warning is not a JUnit failure"
    );
    assert_eq!(
        case("removit.auth.missing_key")["results"],
        serde_json::json!([])
    );
    // The suites' counters agree with the cases.
    let schema_suite = v["suites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s[0] == "schema")
        .unwrap();
    assert_eq!(schema_suite, &serde_json::json!(["schema", 1, 1, 0, 0]));
}

#[test]
fn diff_lists_newly_failing_checks_and_latency_regressions() {
    let d = diff::diff(&go_report(), &nogo_report(), DiffOptions::default());
    let failing: Vec<&str> = d.newly_failing.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        failing,
        [
            "removit.isolation.foreign_job",
            "removit.schema.responses",
            "removit.credits.charge_once"
        ]
    );
    assert_eq!(d.newly_failing[1].before, Some(Status::Pass));
    assert_eq!(
        d.newly_failing[2].before, None,
        "a check the baseline lacked"
    );
    let slower: Vec<(&str, &str)> = d
        .latency_regressions
        .iter()
        .map(|l| (l.check.as_str(), l.step.as_str()))
        .collect();
    assert_eq!(
        slower,
        [
            ("removit.lifecycle.happy_path", "poll"),
            ("removit.lifecycle.happy_path", "upload"),
            ("removit.timeouts.sla", "upload"),
        ]
    );
    assert!(d.has_regressions());
    assert!(d.new_findings.len() >= 4);
    // A wide tolerance keeps only the big regressions.
    let wide = diff::diff(
        &go_report(),
        &nogo_report(),
        DiffOptions {
            latency_tolerance: 7.0,
            latency_floor_ms: 50.0,
        },
    );
    assert_eq!(
        wide.latency_regressions.len(),
        2,
        "{:?}",
        wide.latency_regressions
    );
    // The baseline against itself: nothing.
    assert!(diff::diff(&go_report(), &go_report(), DiffOptions::default()).is_empty());
}

#[test]
fn write_all_writes_the_samples_and_they_read_back() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-samples");
    for (name, r) in [("go", go_report()), ("nogo", nogo_report())] {
        let dir = root.join(name);
        let har_path = dir.join("evidence.har");
        let files = write_all(&r, &dir, &Format::ALL, Some(&har_path)).unwrap();
        assert_eq!(files.len(), 5);
        // Re-rendering from the stored report.json gives the same files.
        let back = json::read(&dir.join("report.json")).unwrap();
        for f in Format::ALL {
            assert_eq!(
                f.render(&back).unwrap(),
                std::fs::read_to_string(dir.join(f.file_name())).unwrap(),
                "{f} re-rendered from report.json differs"
            );
        }
        let har: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&har_path).unwrap()).unwrap();
        assert_eq!(har["log"]["version"], "1.2");
        let n: usize = r.checks.iter().map(|c| c.evidence.len()).sum();
        assert_eq!(har["log"]["entries"].as_array().unwrap().len(), n);
    }
}

/// The parts of the HAR 1.2 spec (http://www.softwareishard.com/blog/har-12-spec/)
/// that viewers rely on: required fields and their types.
const HAR_1_2_SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["log"],
  "properties": {
    "log": {
      "type": "object",
      "required": ["version", "creator", "entries"],
      "properties": {
        "version": { "const": "1.2" },
        "creator": { "type": "object", "required": ["name", "version"] },
        "pages": {
          "type": "array",
          "items": {
            "type": "object",
            "required": ["startedDateTime", "id", "title", "pageTimings"],
            "properties": { "startedDateTime": { "$ref": "#/$defs/time" } }
          }
        },
        "entries": { "type": "array", "items": { "$ref": "#/$defs/entry" } }
      }
    }
  },
  "$defs": {
    "time": { "type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$" },
    "nv": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["name", "value"],
        "properties": { "name": { "type": "string" }, "value": { "type": "string" } }
      }
    },
    "entry": {
      "type": "object",
      "required": ["startedDateTime", "time", "request", "response", "cache", "timings"],
      "properties": {
        "pageref": { "type": "string" },
        "startedDateTime": { "$ref": "#/$defs/time" },
        "time": { "type": "number", "minimum": 0 },
        "request": {
          "type": "object",
          "required": ["method", "url", "httpVersion", "cookies", "headers", "queryString", "headersSize", "bodySize"],
          "properties": {
            "headers": { "$ref": "#/$defs/nv" },
            "queryString": { "$ref": "#/$defs/nv" },
            "postData": { "type": "object", "required": ["mimeType", "text"] },
            "headersSize": { "type": "integer" },
            "bodySize": { "type": "integer" }
          }
        },
        "response": {
          "type": "object",
          "required": ["status", "statusText", "httpVersion", "cookies", "headers", "content", "redirectURL", "headersSize", "bodySize"],
          "properties": {
            "status": { "type": "integer" },
            "headers": { "$ref": "#/$defs/nv" },
            "content": {
              "type": "object",
              "required": ["size", "mimeType"],
              "properties": { "size": { "type": "integer" }, "mimeType": { "type": "string" } }
            },
            "headersSize": { "type": "integer" },
            "bodySize": { "type": "integer" }
          }
        },
        "cache": { "type": "object" },
        "timings": {
          "type": "object",
          "required": ["send", "wait", "receive"],
          "properties": {
            "send": { "type": "number", "minimum": -1 },
            "wait": { "type": "number", "minimum": -1 },
            "receive": { "type": "number", "minimum": -1 }
          }
        }
      }
    }
  }
}"##;

#[test]
fn har_follows_the_1_2_spec() {
    let schema: serde_json::Value = serde_json::from_str(HAR_1_2_SCHEMA).unwrap();
    let v = jsonschema::draft202012::new(&schema).unwrap();
    let r = nogo_report();
    let har = har::to_value(&r);
    let errors = schema_errors(&v, &har);
    assert!(errors.is_empty(), "{errors:#?}");
    let entries = har["log"]["entries"].as_array().unwrap();
    // Every page an entry refers to exists.
    let pages: Vec<&str> = har["log"]["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    for e in entries {
        assert!(pages.contains(&e["pageref"].as_str().unwrap()));
    }
    // Entries in run order; the truncated body says so; the transport error
    // is an entry with status 0.
    let times: Vec<&str> = entries
        .iter()
        .map(|e| e["startedDateTime"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    assert!(entries.iter().any(|e| {
        e["response"]["content"]["comment"]
            .as_str()
            .is_some_and(|c| c.contains("truncated"))
    }));
    assert!(entries.iter().any(|e| {
        e["response"]["status"] == 0
            && e["_error"]
                .as_str()
                .is_some_and(|c| c.contains("connection reset"))
    }));
}
