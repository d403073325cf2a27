//! `golive load` against the fake on loopback: the open model holds its
//! rate, an injected delay and a stall show in its latency, SLO breaches set
//! the exit code, segments merge into exactly one run's counts, and a run
//! stops at once on cancel or at its credit budget. Short runs only.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use golive::fake::{FakeConfig, FakeOptions, StallConfig};
use golive::load::{self, LoadConfig, LoadTarget, Model, Plan, RawResults, Segment, SloSource};
use golive::pack::slo::Slo;
use golive::report::{Status, Verdict};

fn config(pack: &str, stages: &[&str], fake: FakeConfig, segment: Segment) -> LoadConfig {
    let stages = stages
        .iter()
        .map(|s| load::plan::parse_stage(s).unwrap())
        .collect();
    let pack = golive::pack::load(pack).unwrap();
    let slos = pack.file.load.as_ref().unwrap().slo.iter();
    LoadConfig {
        slos: slos
            .map(|s| (Slo::parse(s).unwrap(), SloSource::Pack))
            .collect(),
        pack,
        target: LoadTarget::Fake(FakeOptions {
            config: fake,
            faults: vec![],
        }),
        vars: BTreeMap::new(),
        env: Arc::new(|_: &str| None),
        model: Model::Open,
        plan: Plan::new(stages, None, segment).unwrap(),
        max_in_flight: 500,
        schema_sample: 0.1,
        max_credits: None,
        abort_on_fail: false,
        start_at: None,
        cancel: None,
        progress: None,
    }
}

fn fake_with(f: impl FnOnce(&mut FakeConfig)) -> FakeConfig {
    let mut c = load::fake_config_for_load();
    f(&mut c);
    c
}

async fn run(cfg: LoadConfig) -> RawResults {
    load::run(cfg).await.expect("the run starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_model_holds_its_rate_with_no_drops() {
    let t0 = Instant::now();
    let raw = run(config(
        "removit",
        &["2s:200/s"],
        fake_with(|_| {}),
        Segment::default(),
    ))
    .await;
    let wall = t0.elapsed();
    let s = &raw.stats;
    assert_eq!((s.arrivals, s.dropped, s.unfinished), (400, 0, 0));
    assert_eq!(s.overall.sent, 400);
    assert_eq!(s.overall.ok, 400, "{:?}", s.overall.statuses);
    let held = s.held_rate().unwrap();
    assert!(
        (held - 200.0).abs() / 200.0 < 0.03,
        "held {held}/s, not 200/s ± 3 %"
    );
    assert!(wall < Duration::from_millis(2600), "{wall:?}");
    let report = load::report::build(&raw, None);
    assert_eq!(report.verdict, Verdict::Go, "{}", report.verdict_reason);
    let l = report.load.unwrap();
    assert_eq!(l.calls.iter().map(|c| c.sent).sum::<u64>(), 400);
    assert!(
        l.overall.schema_checked >= 30,
        "{}",
        l.overall.schema_checked
    );
    assert_eq!(l.overall.schema_violations + l.overall.undocumented, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_delay_shows_in_the_percentiles() {
    let fake = fake_with(|c| c.response_delay_ms = 150);
    let raw = run(config(
        "removebgvideo",
        &["1s:40/s"],
        fake,
        Segment::default(),
    ))
    .await;
    let l = load::report::build(&raw, None).load.unwrap();
    // The usage route agrees with the pack's costs: 1 credit a created job.
    let creates = l.calls.iter().find(|c| c.name == "create").unwrap();
    assert_eq!(l.credits, creates.sent as f64);
    assert_eq!(l.credits_measured, Some(l.credits), "{:?}", l.notes);
    let (p50, p99) = (
        l.overall.latency.p50.unwrap(),
        l.overall.latency.p99.unwrap(),
    );
    assert!((150.0..200.0).contains(&p50), "p50 {p50} ms");
    assert!((150.0..260.0).contains(&p99), "p99 {p99} ms");
    assert_eq!(l.dropped, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_second_stall_shows_in_open_model_latency() {
    let fake = fake_with(|c| {
        c.stall = Some(StallConfig {
            after_ms: 300,
            for_ms: 2000,
        })
    });
    let raw = run(config("removit", &["3s:20/s"], fake, Segment::default())).await;
    let l = load::report::build(&raw, None).load.unwrap();
    let max = l.overall.latency.max.unwrap();
    assert!(max >= 1800.0, "the stall is in the worst latency: {max} ms");
    // Arrivals kept coming during the stall: about 40 of 60 were waiting in
    // it, so the stall is in the percentiles, not only in the maximum.
    let p50 = l.overall.latency.p50.unwrap();
    assert!(p50 >= 300.0, "p50 {p50} ms hides the stall");
    assert_eq!(l.overall.sent, 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_closed_model_hides_the_same_stall_and_says_so() {
    let fake = fake_with(|c| {
        c.response_delay_ms = 5;
        c.stall = Some(StallConfig {
            after_ms: 300,
            for_ms: 2000,
        })
    });
    let mut cfg = config("removit", &["3s:1/s"], fake, Segment::default());
    cfg.model = Model::Closed {
        users: 4,
        max_requests: None,
    };
    let raw = run(cfg).await;
    let report = load::report::build(&raw, None);
    let l = report.load.unwrap();
    assert_eq!(l.model, "closed");
    assert!(l.plan.starts_with("4 users"), "{}", l.plan);
    let (p50, max) = (
        l.overall.latency.p50.unwrap(),
        l.overall.latency.max.unwrap(),
    );
    // The users waited inside the stall with one request each: a handful of
    // slow samples, so the median looks healthy though the server stood still.
    assert!(max >= 1500.0, "max {max} ms");
    assert!(p50 < 100.0, "p50 {p50} ms");
    assert!(
        l.notes.iter().any(|n| n.contains("hidden")),
        "{:?}",
        l.notes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_merge_to_exactly_one_runs_counts() {
    let fake = || fake_with(|c| c.response_delay_ms = 40);
    let whole = run(config(
        "removebgvideo",
        &["1s:90/s"],
        fake(),
        Segment::default(),
    ))
    .await;
    let mut files = vec![];
    for i in 0..3 {
        let seg = Segment { index: i, of: 3 };
        let raw = run(config("removebgvideo", &["1s:90/s"], fake(), seg)).await;
        assert_eq!(raw.stats.overall.sent, 30);
        files.push((format!("seg{i}.json"), serde_json::to_string(&raw).unwrap()));
    }
    let merged = load::merge(&files).unwrap();
    assert_eq!(merged.segments, 3);
    let (m, w) = (&merged.stats, &whole.stats);
    assert_eq!(m.overall.sent, w.overall.sent);
    assert_eq!(m.arrivals, w.arrivals);
    assert_eq!(m.overall.latency.count(), w.overall.latency.count());
    assert_eq!(
        m.timeline.iter().map(|b| b.sent).collect::<Vec<_>>(),
        w.timeline.iter().map(|b| b.sent).collect::<Vec<_>>()
    );
    // Percentiles come from the merged histogram: a fixed 40 ms delay reads
    // the same in both, within the histogram's precision and the machine's noise.
    let (mp, wp) = (
        m.overall.latency.ms_at(0.5).unwrap(),
        w.overall.latency.ms_at(0.5).unwrap(),
    );
    assert!((mp - wp).abs() < 10.0, "merged p50 {mp} vs one run {wp}");
    let report = load::report::build(&merged, None);
    assert!(report.load.unwrap().plan.contains("3 segments merged"));
    // A segment given twice is refused.
    let twice = [files[0].clone(), files[0].clone()];
    assert!(load::merge(&twice).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_within_a_second_and_still_reports() {
    let fake = fake_with(|c| c.response_delay_ms = 3000);
    let mut cfg = config("removit", &["20s:20/s"], fake, Segment::default());
    let (tx, rx) = tokio::sync::watch::channel(false);
    cfg.cancel = Some(rx);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = tx.send(true);
    });
    let t0 = Instant::now();
    let raw = run(cfg).await;
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    assert!(raw.interrupted);
    assert!(
        raw.stats.unfinished > 0,
        "the requests in flight are counted as unfinished"
    );
    let report = load::report::build(&raw, None);
    assert_eq!(report.verdict, Verdict::Incomplete);
    assert!(report.interrupted.unwrap().contains("interrupted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_credits_stops_before_the_budget_is_spent() {
    let mut cfg = config(
        "removit",
        &["2s:50/s"],
        fake_with(|_| {}),
        Segment::default(),
    );
    cfg.max_credits = Some(5.0);
    let raw = run(cfg).await;
    assert!(raw.stats.credits <= 5.0, "{}", raw.stats.credits);
    assert!(raw.stopped.contains("--max-credits 5"), "{}", raw.stopped);
    let report = load::report::build(&raw, None);
    assert_eq!(report.verdict, Verdict::Incomplete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_on_fail_stops_once_a_breach_is_certain() {
    let fake = fake_with(|c| c.response_delay_ms = 30);
    let mut cfg = config("removit", &["10s:50/s"], fake, Segment::default());
    cfg.slos = vec![(Slo::parse("p50<5ms").unwrap(), SloSource::Cli)];
    cfg.abort_on_fail = true;
    let t0 = Instant::now();
    let raw = run(cfg).await;
    assert!(t0.elapsed() < Duration::from_secs(9), "{:?}", t0.elapsed());
    assert!(raw.stopped.contains("p50<5ms"), "{}", raw.stopped);
    let report = load::report::build(&raw, None);
    assert_eq!(report.verdict, Verdict::NoGo);
}

fn golive() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_golive"));
    cmd.env_remove("GITHUB_STEP_SUMMARY").env("NO_COLOR", "1");
    cmd
}

#[test]
fn an_slo_breach_exits_1_naming_the_slo_and_by_how_much() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake.yaml");
    std::fs::write(
        &fake,
        "response_delay_ms: 60\nrate_limit: { per_second: 100000, burst: 100000 }\n",
    )
    .unwrap();
    let out = golive()
        .args([
            "load",
            "--rate",
            "20/s",
            "--duration",
            "1s",
            "--slo",
            "p50<20ms",
        ])
        .arg("--fake-config")
        .arg(&fake)
        .arg("--report-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("SLO p50<20ms"), "{stdout}");
    assert!(stdout.contains("over the 20 ms limit"), "{stdout}");
    let report = golive::report::json::read(&dir.path().join("report.json")).unwrap();
    let c = report
        .checks
        .iter()
        .find(|c| c.id == "removit.load.p50")
        .unwrap();
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.findings[0].expected.as_deref(), Some("< 20 ms"));
    assert!(dir.path().join("load-results.json").exists());
    let schema_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let v = jsonschema::draft202012::new(&schema).unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    let errors: Vec<String> = v
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report.json breaks report.schema.json: {errors:#?}"
    );
    assert!(
        doc["load"]["timeline"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
    for f in ["report.json", "load-results.json"] {
        let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert!(!text.contains("sk_test_valid"), "{f} leaks the key");
    }
    for f in ["report.md", "report.html", "junit.xml"] {
        let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert!(
            text.contains("p50&lt;20ms") || text.contains("p50<20ms"),
            "{f}"
        );
        assert!(!text.contains("sk_test_valid"), "{f} leaks the key");
    }
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert_eq!(
        html.matches("<svg class=\"chart\"").count(),
        3,
        "rate, latency, errors over time"
    );
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains("<testsuite name=\"load\""));
    assert!(junit.contains("removit.load.p50"), "a testcase per SLO");
}

#[test]
fn a_non_loopback_target_needs_confirmation() {
    assert!(load::check_target("http://127.0.0.1:9/", None).is_ok());
    assert!(load::check_target("http://localhost:9/", None).is_ok());
    assert!(load::check_target("http://[::1]:9/", None).is_ok());
    let e = load::check_target("https://api.example.com", None).unwrap_err();
    assert!(
        e.to_string().contains("--confirm-target api.example.com"),
        "{e}"
    );
    assert!(load::check_target("https://api.example.com", Some("API.example.com")).is_ok());
    assert!(load::check_target("https://api.example.com", Some("other.example.com")).is_err());
    let out = golive()
        .args([
            "load",
            "--target",
            "https://api.example.com",
            "--duration",
            "1s",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_broken_load_section_is_refused_by_validate() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/removit");
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    let pack = dir.path().join("pack.yaml");
    let text = std::fs::read_to_string(&pack).unwrap();
    for (old, new, why) in [
        (
            "\"429<5%\"]",
            "\"429<5%\", \"nosuch:p99<1s\"]",
            "not a call of load.mix",
        ),
        (
            "endpoint: status, params: { job_id: \"{{job}}\" }",
            "endpoint: status, params: { job_id: \"{{jbo}}\" }",
            "`{{jbo}}` is neither",
        ),
        (
            "      weight: 4\n",
            "      weight: 0\n",
            "weight must be at least 1",
        ),
    ] {
        assert!(text.contains(old), "{old}");
        std::fs::write(&pack, text.replacen(old, new, 1)).unwrap();
        let out = golive().arg("validate").arg(dir.path()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{old}: {err}");
        assert!(err.contains(why), "{why}: {err}");
    }
}

#[test]
fn segments_started_together_merge_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let start = (chrono::Utc::now() + chrono::Duration::milliseconds(1500))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let children: Vec<_> = (0..2)
        .map(|i| {
            golive()
                .args(["load", "--rate", "40/s", "--duration", "1s", "-q"])
                .args(["--segment", &format!("{i}/2"), "--start-at", &start])
                .arg("--report-dir")
                .arg(dir.path().join(format!("s{i}")))
                .args(["--format", "json"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let out = golive()
        .arg("merge")
        .arg(dir.path().join("s0/load-results.json"))
        .arg(dir.path().join("s1/load-results.json"))
        .arg("--report-dir")
        .arg(dir.path().join("merged"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("2 segments merged"), "{stdout}");
    let report = golive::report::json::read(&dir.path().join("merged/report.json")).unwrap();
    let l = report.load.unwrap();
    assert_eq!((l.overall.sent, l.planned, l.segments), (40, 40, 2));
    // Started on one clock, the two halves hold the whole rate together.
    let held = l.held_rate.unwrap();
    assert!((held - 40.0).abs() < 4.0, "held {held}/s");
}

fn report_schema() -> jsonschema::Validator {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::draft202012::new(&schema).unwrap()
}

fn capacity_options(start: f64, precision: f64) -> load::capacity::CapacityOptions {
    load::capacity::CapacityOptions {
        start_rate: start,
        max_rate: 2000.0,
        warmup_s: 1,
        window_s: 1,
        max_requests: 20_000,
        precision,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_finds_the_knee_of_a_fake_with_a_known_capacity() {
    // 4 requests at a time, 20 ms each: 200 requests a second.
    let fake = fake_with(|c| {
        c.concurrency_limit = Some(4);
        c.response_delay_ms = 20;
    });
    let mut cfg = config("removit", &["1s:1/s"], fake, Segment::default());
    cfg.slos = vec![(Slo::parse("p95<100ms").unwrap(), SloSource::Cli)];
    let res = load::capacity::run(cfg, capacity_options(150.0, 0.05))
        .await
        .unwrap();
    let c = &res.section;
    let knee = c.knee_rate.expect("a rate held");
    assert!(
        (180.0..=220.0).contains(&knee),
        "knee {knee}/s, not 200/s ± 10 %: {c:#?}"
    );
    assert!(c.precision.unwrap() <= 0.05);
    assert_eq!(c.limited_by.as_deref(), Some("slo"));
    let report = load::capacity::report(&res, None);
    assert_eq!(report.verdict, Verdict::Go, "{}", report.verdict_reason);
    let doc = serde_json::to_value(&report).unwrap();
    let errors: Vec<String> = report_schema()
        .iter_errors(&doc)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let html = golive::report::html::render(&report);
    assert!(html.contains("Latency against rate"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_reports_a_rate_limiter_as_its_ceiling_not_as_capacity() {
    // The contract's default limiter: 10 requests a second per key.
    let mut fake = fake_with(|_| {});
    fake.rate_limit = golive::fake::RateLimitConfig {
        per_second: 10.0,
        burst: 10,
    };
    let mut cfg = config("removit", &["1s:1/s"], fake, Segment::default());
    cfg.slos = vec![
        (Slo::parse("p95<500ms").unwrap(), SloSource::Cli),
        (Slo::parse("429<5%").unwrap(), SloSource::Cli),
    ];
    let res = load::capacity::run(cfg, capacity_options(5.0, 0.3))
        .await
        .unwrap();
    let c = &res.section;
    assert_eq!(c.limited_by.as_deref(), Some("rate_limiter"), "{c:#?}");
    let ceiling = c.limiter_ceiling.unwrap();
    assert!(
        (7.0..=13.0).contains(&ceiling),
        "ceiling {ceiling}/s: {c:#?}"
    );
    let summary = &load::capacity::report(&res, None).checks[0].summary;
    assert!(summary.contains("rate limiter's ceiling"), "{summary}");
}

#[test]
fn capacity_stops_at_its_request_budget() {
    let out = golive()
        .args(["capacity", "--slo", "p95<800ms", "--start-rate", "50/s"])
        .args([
            "--warmup",
            "1s",
            "--window",
            "1s",
            "--max-requests",
            "250",
            "--format",
            "json",
        ])
        .arg("--report-dir")
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("request budget"), "{stdout}");
    // 50/s held (100 requests); the 100/s step (200 more) would pass the budget: no knee yet.
    assert_eq!(out.status.code(), Some(3), "{stdout}");
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_binary_within_a_second_and_the_report_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = golive()
        .args([
            "load",
            "--rate",
            "20/s",
            "--duration",
            "60s",
            "-q",
            "--format",
            "json",
        ])
        .arg("--report-dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let t0 = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(status.code(), Some(3));
    let report = golive::report::json::read(&dir.path().join("report.json")).unwrap();
    assert_eq!(report.verdict, Verdict::Incomplete);
    assert!(report.load.unwrap().overall.sent >= 10);
}
