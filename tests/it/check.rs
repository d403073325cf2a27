//! `golive check` end to end, in-process: the healthy fake is GO, every fault
//! of the catalogue is caught by the family that should catch it (and by no
//! unrelated one), and the verdicts hold against a differently-built server.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use golive::engine::{self, RunConfig, Target};
use golive::fake::{Credits, FakeConfig, FakeCore, FakeOptions, FakeRequest, Fault, KeyConfig};
use golive::pack::{self, Pack};
use golive::report::{Family, Report, Status, Verdict};

fn packs() -> Vec<Pack> {
    pack::embedded_names()
        .iter()
        .map(|n| pack::load_embedded(n).expect("embedded pack loads"))
        .collect()
}

fn config(target: Target, vars: &[(&str, &str)]) -> RunConfig {
    RunConfig {
        target,
        packs: packs(),
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        env: Arc::new(|_| None),
        cancel: None,
        max_duration: None,
        progress: None,
        only: vec![],
        check_limit: None,
        patient: false,
    }
}

async fn check_fake(faults: Vec<Fault>, cfg: FakeConfig, vars: &[(&str, &str)]) -> Report {
    engine::run(config(
        Target::Fake(FakeOptions {
            config: cfg,
            faults,
        }),
        vars,
    ))
    .await
}

/// GO, and every single check passed.
fn assert_all_pass(r: &Report) {
    assert_eq!(
        r.verdict,
        Verdict::Go,
        "{}\n{}",
        r.verdict_reason,
        describe(r)
    );
    assert!(
        r.checks.iter().all(|c| c.status == Status::Pass),
        "every check passes:\n{}",
        describe(r)
    );
}

fn describe(r: &Report) -> String {
    r.checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| format!("  {:?} {} — {}", c.status, c.id, c.summary))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_fake_is_go_with_every_check_passing() {
    let t0 = Instant::now();
    // The profile `golive check` starts its fake with.
    let r = check_fake(vec![], FakeConfig::check_profile(), &[]).await;
    assert_all_pass(&r);
    // Both packs, every family of the design, in each pack.
    for p in ["removit", "removebgvideo"] {
        let families: BTreeSet<Family> = r
            .checks
            .iter()
            .filter(|c| c.pack == p)
            .map(|c| c.family)
            .collect();
        assert_eq!(
            families.len(),
            Family::CHECKS.len(),
            "{p} covers all nine families: {families:?}"
        );
    }
    assert!(
        t0.elapsed() < Duration::from_secs(60),
        "took {:?}",
        t0.elapsed()
    );
}

/// What a fault must do to the verdict, and which families may notice it.
struct Row {
    fault: &'static str,
    /// Families in which some check must fail (or warn, for `warn_only`).
    catches: &'static [Family],
    /// A fault that only removes a `[conv]` feature: a warning, verdict GO.
    warn_only: bool,
    /// Other families that may legitimately fail or error too.
    also: &'static [Family],
}

const MATRIX: &[Row] = {
    use Family::*;
    &[
        Row {
            fault: "auth-bypass",
            catches: &[Auth],
            warn_only: false,
            also: &[],
        },
        Row {
            fault: "wrong-auth-status",
            catches: &[Auth],
            warn_only: false,
            also: &[Schema],
        },
        Row {
            fault: "no-rate-limit",
            catches: &[RateLimit],
            warn_only: false,
            also: &[],
        },
        Row {
            fault: "no-retry-after",
            catches: &[RateLimit],
            warn_only: false,
            also: &[],
        },
        // Waiting out the advertised Retry-After does not recover.
        Row {
            fault: "short-retry-after",
            catches: &[RateLimit],
            warn_only: false,
            also: &[],
        },
        // Present but wrong: a replay that says so but is a new job is a failure.
        Row {
            fault: "replay-new-job",
            catches: &[Idempotency],
            warn_only: false,
            also: &[],
        },
        // The same id on every response is present but useless: a failure even
        // where request ids are only a convention.
        Row {
            fault: "repeated-request-id",
            catches: &[Observability],
            warn_only: false,
            also: &[],
        },
        Row {
            fault: "bearer-refused",
            catches: &[Auth],
            warn_only: false,
            also: &[],
        },
        // An undocumented 401 from /health is also a schema finding.
        Row {
            fault: "public-routes-locked",
            catches: &[Auth],
            warn_only: false,
            also: &[Schema],
        },
        Row {
            fault: "query-key-accepted",
            catches: &[Auth],
            warn_only: false,
            also: &[],
        },
        Row {
            fault: "isolation-leak",
            catches: &[Isolation],
            warn_only: false,
            also: &[],
        },
        Row {
            fault: "wrong-price",
            catches: &[Credits],
            warn_only: false,
            // The replay check also computes one job's documented cost.
            also: &[Idempotency],
        },
        Row {
            fault: "limited-side-effects",
            catches: &[RateLimit],
            warn_only: false,
            also: &[],
        },
        Row {
            fault: "idempotency-no-conflict",
            catches: &[Idempotency],
            warn_only: false,
            also: &[],
        },
        Row {
            fault: "idempotency-race",
            catches: &[Idempotency],
            warn_only: false,
            also: &[],
        },
        Row {
            fault: "restart-allowed",
            catches: &[Lifecycle],
            warn_only: false,
            also: &[],
        },
        Row {
            fault: "idempotency-ignored",
            catches: &[Idempotency],
            warn_only: true,
            also: &[],
        },
        Row {
            fault: "double-charge",
            catches: &[Idempotency],
            warn_only: false,
            also: &[Credits],
        },
        // Negative balances and unrefunded failed jobs also break the usage/job schemas.
        Row {
            fault: "no-402",
            catches: &[Credits],
            warn_only: false,
            also: &[Schema],
        },
        Row {
            fault: "no-refund",
            catches: &[Credits],
            warn_only: false,
            also: &[Schema],
        },
        // Credits checks that wait for a job to finish cannot conclude: error, not fail.
        Row {
            fault: "stuck-jobs",
            catches: &[Lifecycle],
            warn_only: false,
            // The replay check waits for its job to end to see it charged once.
            also: &[Credits, Timeouts, Idempotency],
        },
        // A missing job_id is also a job id that is not echoed.
        Row {
            fault: "schema-drift",
            catches: &[Schema],
            warn_only: false,
            also: &[Observability],
        },
        // Every family that asserts a documented error body sees an HTML one.
        Row {
            fault: "unstructured-errors",
            catches: &[Schema],
            warn_only: false,
            also: &[
                Auth,
                Isolation,
                Credits,
                RateLimit,
                Idempotency,
                Lifecycle,
                Observability,
            ],
        },
        // RemoveBGVideo's error envelope requires request_id, so its schema breaks too.
        Row {
            fault: "no-request-id",
            catches: &[Observability],
            warn_only: false,
            also: &[Schema],
        },
        Row {
            fault: "slow",
            catches: &[Timeouts],
            warn_only: false,
            also: &[],
        },
        // A bare 503 is undocumented, not JSON, and carries no request id.
        // It may also land on a `raw` step that retries nothing (the request
        // after a burst's Retry-After): which request is every 7th depends on
        // how many 429s were retried before, i.e. on the fake's rate limit.
        Row {
            fault: "flaky",
            catches: &[Schema],
            warn_only: false,
            also: &[Observability, RateLimit],
        },
        Row {
            fault: "admin-exposed",
            catches: &[Auth],
            warn_only: false,
            also: &[Schema],
        },
    ]
};

/// A library caller that hands the fake a pack it does not implement gets
/// that pack's checks errored with the reason (no run against a fake of
/// another API); the packs the fake serves run as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pack_without_a_builtin_fake_is_not_run_against_the_fake() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/removebg");
    let removebg = pack::load(dir).expect("example pack loads");
    assert!(engine::fake_cannot_serve(&removebg).is_some());
    assert!(
        packs()
            .iter()
            .all(|p| engine::fake_cannot_serve(p).is_none())
    );
    let mut cfg = config(Target::Fake(FakeOptions::default()), &[]);
    cfg.packs = vec![removebg];
    let r = engine::run(cfg).await;
    assert_eq!(r.verdict, Verdict::Incomplete, "{}", r.verdict_reason);
    assert!(!r.checks.is_empty());
    for c in &r.checks {
        assert_eq!(c.status, Status::Error, "{}", c.id);
        assert!(c.summary.contains("needs --target URL"), "{}", c.summary);
        assert!(c.evidence.is_empty(), "{}: traffic was sent", c.id);
    }
}

/// Runs every fault of the catalogue at once (each with its own fakes) and
/// checks each against its row. A fault without a row fails the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix_every_fault_is_caught_by_its_family_and_no_other() {
    let rows: BTreeMap<&str, &Row> = MATRIX.iter().map(|r| (r.fault, r)).collect();
    let missing: Vec<&str> = Fault::ALL
        .iter()
        .map(|f| f.name())
        .filter(|n| !rows.contains_key(n))
        .collect();
    assert!(
        missing.is_empty(),
        "faults without a row in the matrix: {missing:?}"
    );

    let mut tasks = Vec::new();
    for fault in Fault::ALL.iter().copied() {
        tasks.push(tokio::spawn(async move {
            let mut cfg = FakeConfig::check_profile();
            let mut vars: Vec<(&str, &str)> = vec![];
            let mut patient = false;
            if fault.name() == "slow" {
                // Same shape as the default (a delay past the SLA), scaled down so the
                // run stays short: 350 ms responses against a 250 ms SLA. Every
                // check runs (`--patient`): the row is about which families a slow
                // target fails, not about cutting the run short (tests/it/bounded.rs).
                cfg.slow_response_ms = 350;
                vars.push(("sla", "250ms"));
                patient = true;
            }
            let target = Target::Fake(FakeOptions {
                config: cfg,
                faults: vec![fault],
            });
            let run = RunConfig {
                patient,
                ..config(target, &vars)
            };
            (fault, engine::run(run).await)
        }));
    }
    let mut problems = Vec::new();
    // Every check of every pack must be seen failing under some fault.
    let mut failed_somewhere: BTreeSet<String> = BTreeSet::new();
    let mut all_checks: BTreeSet<String> = BTreeSet::new();
    // Checks not polled because a job of their pack had already missed its
    // deadline: each is run again on its own under the same fault.
    let mut alone = Vec::new();
    for t in tasks {
        let (fault, report) = t.await.expect("run completes");
        for c in &report.checks {
            if c.status == Status::Error
                && c.summary.contains("not polled: a job already missed its")
            {
                let id = c.id.clone();
                alone.push(tokio::spawn(async move {
                    let mut cfg = config(
                        Target::Fake(FakeOptions {
                            config: FakeConfig::default(),
                            faults: vec![fault],
                        }),
                        &[],
                    );
                    cfg.only = vec![id.clone()];
                    (id, engine::run(cfg).await)
                }));
            }
        }
        all_checks.extend(report.checks.iter().map(|c| c.id.clone()));
        failed_somewhere.extend(
            report
                .checks
                .iter()
                .filter(|c| c.status == Status::Fail)
                .map(|c| c.id.clone()),
        );
        let row = rows[fault.name()];
        let failing: BTreeSet<Family> = report
            .checks
            .iter()
            .filter(|c| matches!(c.status, Status::Fail | Status::Error))
            .map(|c| c.family)
            .collect();
        let warning: BTreeSet<Family> = report
            .checks
            .iter()
            .filter(|c| c.status == Status::Warn)
            .map(|c| c.family)
            .collect();
        let caught = if row.warn_only { &warning } else { &failing };
        for fam in row.catches {
            if !caught.contains(fam) {
                problems.push(format!(
                    "{}: no {} in {fam}\n{}",
                    fault.name(),
                    if row.warn_only { "warning" } else { "failure" },
                    describe(&report)
                ));
            }
        }
        let expected = if row.warn_only {
            Verdict::Go
        } else {
            Verdict::NoGo
        };
        if report.verdict != expected {
            problems.push(format!(
                "{}: verdict {} (expected {expected}): {}",
                fault.name(),
                report.verdict,
                report.verdict_reason
            ));
        }
        for fam in &failing {
            if !row.catches.contains(fam) && !row.also.contains(fam) {
                problems.push(format!(
                    "{}: unrelated family {fam} failed\n{}",
                    fault.name(),
                    describe(&report)
                ));
            }
        }
    }
    for t in alone {
        let (id, report) = t.await.expect("run completes");
        failed_somewhere.extend(
            report
                .checks
                .iter()
                .filter(|c| c.id == id && c.status == Status::Fail)
                .map(|c| c.id.clone()),
        );
    }
    let never: Vec<&String> = all_checks.difference(&failed_somewhere).collect();
    if !never.is_empty() {
        problems.push(format!(
            "checks no fault makes fail (each check must be able to fail): {never:?}"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// A second server for the same contract, built from the fake's core but
/// looking different on the wire: other key values, extra fields in every JSON
/// object, reversed field order, jitter, a tighter rate limit and slower jobs.
/// The checks must give the same GO.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_hold_against_a_differently_built_server() {
    let keys = [
        ("valid", "vk-7f3a-live-looking-valid", 1000, false),
        ("other", "vk-19c2-second-account", 1000, false),
        ("empty", "vk-0000-no-credits", 0, false),
        ("disabled", "vk-dead-disabled", 1000, true),
    ];
    let mut cfg = FakeConfig {
        keys: keys
            .iter()
            .map(|(role, key, credits, disabled)| KeyConfig {
                key: key.to_string(),
                account: format!("acct-{role}"),
                credits: Credits::whole(*credits),
                disabled: *disabled,
                role: Some(role.to_string()),
            })
            .collect(),
        processing_ms: 1500,
        ..FakeConfig::default()
    };
    cfg.rate_limit.per_second = 5.0;
    cfg.rate_limit.burst = 15;
    let core = Arc::new(FakeCore::new(FakeOptions {
        config: cfg,
        faults: vec![],
    }));
    let server = wiremock::MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(Variant(core))
        .mount(&server)
        .await;
    let env: BTreeMap<String, String> = [
        ("GOLIVE_KEY", keys[0].1),
        ("GOLIVE_KEY_OTHER", keys[1].1),
        ("GOLIVE_KEY_EMPTY", keys[2].1),
        ("GOLIVE_KEY_DISABLED", keys[3].1),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut rc = config(Target::Live(server.uri()), &[("poll_deadline", "15s")]);
    rc.env = Arc::new(move |n| env.get(n).cloned());
    let r = engine::run(rc).await;
    assert_all_pass(&r);
    assert_eq!(r.target.kind, "live");
}

struct Variant(Arc<FakeCore>);

/// Reverses field order everywhere and adds an undocumented field to every
/// record (the body, its `error`, and the items of `jobs`/`events`/`daily`);
/// maps such as `rates` or `final_urls` keep their documented keys.
fn dress(v: &mut serde_json::Value, record: bool) {
    match v {
        serde_json::Value::Object(m) => {
            let mut entries: Vec<(String, serde_json::Value)> =
                std::mem::take(m).into_iter().collect();
            entries.reverse();
            if record {
                m.insert(
                    "x_vendor_trace".into(),
                    serde_json::json!({"note": "an undocumented extra"}),
                );
            }
            for (k, mut x) in entries {
                match (k.as_str(), &mut x) {
                    ("error", serde_json::Value::Object(_)) => dress(&mut x, true),
                    ("jobs" | "events" | "daily", serde_json::Value::Array(items)) => {
                        items.iter_mut().for_each(|i| dress(i, true))
                    }
                    _ => dress(&mut x, false),
                }
                m.insert(k, x);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| dress(x, false)),
        _ => {}
    }
}

impl wiremock::Respond for Variant {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        let req = FakeRequest {
            method: request.method.as_str().to_string(),
            path: request.url.path().to_string(),
            query: request.url.query().map(str::to_string),
            headers: request
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_ascii_lowercase(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: bytes::Bytes::from(request.body.clone()),
        };
        let resp = self.0.handle(req);
        let body = match serde_json::from_slice::<serde_json::Value>(&resp.body) {
            Ok(mut v) => {
                dress(&mut v, true);
                serde_json::to_vec(&v).unwrap_or_default()
            }
            Err(_) => resp.body.to_vec(),
        };
        let mut t = wiremock::ResponseTemplate::new(resp.status);
        let mut ct = "application/json".to_string();
        // Headers in another order, names in another case.
        for (k, v) in resp.headers.iter().rev() {
            if k.eq_ignore_ascii_case("content-type") {
                ct = v.clone();
            } else if k.eq_ignore_ascii_case("idempotent-replayed")
                || k.eq_ignore_ascii_case("retry-after")
            {
                t = t.append_header(k.to_ascii_uppercase().as_str(), v.as_str());
            } else {
                t = t.append_header(k.as_str(), v.as_str());
            }
        }
        let jitter =
            Duration::from_millis((body.len() % 23) as u64) + resp.delay.unwrap_or_default();
        t.set_body_raw(body, &ct).set_delay(jitter)
    }
}

/// The terminal summary and report.json of a healthy and a faulty run, pinned
/// (timings, ids, digests and evidence redacted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_of_summary_and_report_json() {
    use golive::engine::summary::{Style, render};
    let healthy = check_fake(vec![], FakeConfig::check_profile(), &[]);
    let faulty = check_fake(
        vec![Fault::WrongAuthStatus],
        FakeConfig::check_profile(),
        &[],
    );
    let (healthy, faulty) = tokio::join!(healthy, faulty);
    for (name, report) in [("healthy", &healthy), ("wrong_auth_status", &faulty)] {
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("../../snapshots");
        settings.set_prepend_module_to_snapshot(false);
        settings.add_filter(r"req_[0-9A-HJKMNP-TV-Z]{26}", "[request-id]");
        settings.add_filter(r"job_[0-9A-HJKMNP-TV-Z]{26}", "[job-id]");
        settings.add_filter(
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[uuid]",
        );
        settings.add_filter(r"in \d+\.\d s\)", "in [duration])");
        settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]");
        settings.bind(|| {
            insta::assert_snapshot!(
                format!("check_{name}_summary"),
                render(report, Style { color: false })
            );
            insta::assert_json_snapshot!(format!("check_{name}_report"), report, {
                ".started_at" => "[time]",
                ".finished_at" => "[time]",
                ".duration_ms" => "[ms]",
                ".packs[].scenarios[].sha256" => "[sha256]",
                ".checks[].duration_ms" => "[ms]",
                // How many exchanges depends on timing (a 429 retried, a poll
                // more or less), so only their presence is pinned.
                ".checks[].evidence" => "[exchanges]",
                ".checks[].findings[].request_id" => "[request-id]",
                ".checks[].findings[].exchange" => "[index]",
            });
        });
    }
}
