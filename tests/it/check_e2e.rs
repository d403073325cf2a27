//! `golive check` end to end, as a user runs it: the real binary, its exit
//! code, what it prints and every file it writes. No key value may appear in
//! any of it, even at trace level, and a run cut short (unreachable or hung
//! target, a check that errors, Ctrl-C) still ends with a report.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Recognisable key values, one per role: any trace of `LEAKCANARY` in an
/// output is a leak (a whole key or a piece of one).
const CANARY: &str = "LEAKCANARY";
pub(crate) const KEYS: [(&str, &str, i64, bool); 4] = [
    ("valid", "sk_test_LEAKCANARY_valid_93f1c2d7", 1000, false),
    ("other", "sk_test_LEAKCANARY_other_7a2d41e9", 1000, false),
    ("empty", "sk_test_LEAKCANARY_empty_c05e88b3", 0, false),
    (
        "disabled",
        "sk_test_LEAKCANARY_disabled_5b9f07aa",
        1000,
        true,
    ),
];

/// The binary with a clean environment: no live keys, no CI job summary,
/// no colour settings or log filter inherited from the developer's shell.
pub(crate) fn golive() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_golive"));
    for var in [
        "GOLIVE_KEY",
        "GOLIVE_KEY_EMPTY",
        "GOLIVE_KEY_OTHER",
        "GOLIVE_KEY_DISABLED",
        "GITHUB_STEP_SUMMARY",
        "RUST_LOG",
        "NO_COLOR",
    ] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

pub(crate) struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }
}

/// Drains a pipe on its own thread (a trace-level run writes megabytes).
pub(crate) fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Waits for the child at most `limit`; kills it and fails the test past that.
pub(crate) fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for golive") {
            return status;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("golive did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `golive ARGS`, capturing stdout and stderr, bounded by `limit`.
pub(crate) fn run(cmd: &mut Command, limit: Duration) -> Run {
    let t0 = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start golive");
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let status = wait_bounded(&mut child, limit);
    Run {
        status,
        took: t0.elapsed(),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

pub(crate) fn report(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).expect("report.json parses")
}

pub(crate) fn checks(report: &Value) -> &Vec<Value> {
    report["checks"].as_array().expect("checks")
}

pub(crate) fn field<'a>(check: &'a Value, name: &str) -> &'a str {
    check[name].as_str().unwrap_or_default()
}

/// Every file under `dir`, recursively.
pub(crate) fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A port on loopback with nothing listening.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Asserts the files every run writes are there.
pub(crate) fn assert_report_files(dir: &Path) {
    for f in ["report.json", "report.md", "report.html", "junit.xml"] {
        assert!(dir.join(f).is_file(), "{f} was not written");
    }
}

pub(crate) fn fake_config(dir: &Path) -> std::path::PathBuf {
    let mut yaml = String::from("keys:\n");
    for (role, key, credits, disabled) in KEYS {
        yaml.push_str(&format!(
            "  - {{ key: {key}, account: acct_{role}, credits: {credits}, disabled: {disabled}, role: {role} }}\n"
        ));
    }
    let path = dir.join("fake.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// A full check at trace level with recognisable keys; asserts no key (nor
/// any piece carrying the canary) reaches a report, the HAR, stdout or the
/// logs. Returns the report for further assertions.
fn assert_no_leak(faults: &[&str]) -> Value {
    let conf = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let config = fake_config(conf.path());
    let mut cmd = golive();
    cmd.arg("check")
        .arg("--fake-config")
        .arg(&config)
        .arg("--report-dir")
        .arg(out.path())
        .arg("--har")
        .arg(out.path().join("run.har"))
        .env("RUST_LOG", "trace");
    for f in faults {
        cmd.args(["--fault", f]);
    }
    let r = run(&mut cmd, Duration::from_secs(40));
    assert!(
        matches!(r.code(), 0 | 1 | 3),
        "exit {}: {}",
        r.code(),
        r.stderr
    );
    // Trace logs from our own crate and the HTTP stack were really captured.
    assert!(r.stderr.contains("TRACE"), "no trace-level log captured");

    let written = files(out.path());
    assert!(written.len() >= 5, "files written: {written:?}");
    for path in &written {
        let bytes = std::fs::read(path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for (role, key, ..) in KEYS {
            assert!(
                !text.contains(key),
                "the {role} key leaks into {}",
                path.display()
            );
        }
        if let Some(at) = text.find(CANARY) {
            panic!(
                "a piece of a key leaks into {}: …{}…",
                path.display(),
                &text[at.saturating_sub(80)..(at + 80).min(text.len())]
            );
        }
    }
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        if let Some(at) = text.find(CANARY) {
            panic!(
                "a key leaks into {name}: …{}…",
                &text[at.saturating_sub(120)..(at + 80).min(text.len())]
            );
        }
    }
    // Not vacuous: the keys were sent, and the reports name them by variable.
    let rep = report(out.path());
    let json = std::fs::read_to_string(out.path().join("report.json")).unwrap();
    assert!(json.contains("$GOLIVE_KEY"), "no redacted key placeholder");
    assert!(
        checks(&rep)
            .iter()
            .any(|c| field(c, "id") == "removit.auth.valid_key" && field(c, "status") == "pass"),
        "the valid canary key was not accepted by the fake"
    );
    // stderr is not a terminal: no colour codes, in the progress lines or the logs.
    assert!(!r.stderr.contains('\x1b'), "ANSI escapes in piped stderr");
    rep
}

#[test]
fn no_key_leaks_from_a_full_run_at_trace_level() {
    let rep = assert_no_leak(&[]);
    assert_eq!(rep["verdict"], "GO");
}

#[test]
fn no_key_leaks_from_error_paths_at_trace_level() {
    // Refusals with plain-text bodies, a bypass that serves the first valid
    // account to keyless requests, and 403s where 401s were due.
    let rep = assert_no_leak(&["unstructured-errors", "auth-bypass", "wrong-auth-status"]);
    assert_eq!(rep["verdict"], "NO-GO");
}

#[test]
fn unreachable_target_writes_an_incomplete_report() {
    let out = tempfile::tempdir().unwrap();
    let port = closed_port();
    let r = run(
        golive()
            .args(["check", "--pack", "removit", "--target"])
            .arg(format!("http://127.0.0.1:{port}"))
            .arg("--report-dir")
            .arg(out.path()),
        Duration::from_secs(20),
    );
    assert_eq!(r.code(), 3, "{}\n{}", r.stdout, r.stderr);
    assert_report_files(out.path());
    let rep = report(out.path());
    assert_eq!(rep["verdict"], "INCOMPLETE");
    assert!(
        rep["interrupted"]
            .as_str()
            .is_some_and(|i| i.contains("target unreachable")),
        "interrupted: {}",
        rep["interrupted"]
    );
    assert!(!checks(&rep).is_empty());
    for c in checks(&rep) {
        assert_eq!(field(c, "status"), "error", "{c}");
        assert!(
            field(c, "summary").contains("target unreachable"),
            "{}",
            field(c, "summary")
        );
    }
    assert!(r.stdout.contains("INCOMPLETE"), "{}", r.stdout);
}

/// A listener that accepts every connection and never answers.
/// `golive check --pack removit` against a local port with a 1 s HTTP timeout.
fn check_removit_at(port: u16, out: &std::path::Path) -> Command {
    let mut c = golive();
    c.args(["check", "--pack", "removit", "--var", "http_timeout=1s"])
        .arg("--target")
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("--report-dir")
        .arg(out);
    c
}

fn silent_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    port
}

#[test]
fn hung_target_times_out_and_writes_an_incomplete_report() {
    let out = tempfile::tempdir().unwrap();
    let port = silent_server();
    let r = run(
        &mut check_removit_at(port, out.path()),
        Duration::from_secs(20),
    );
    assert_eq!(r.code(), 3, "{}\n{}", r.stdout, r.stderr);
    assert!(r.took < Duration::from_secs(10), "took {:?}", r.took);
    assert_report_files(out.path());
    let rep = report(out.path());
    assert_eq!(rep["verdict"], "INCOMPLETE");
    for c in checks(&rep) {
        assert_eq!(field(c, "status"), "error", "{c}");
        assert!(field(c, "summary").contains("timed out"), "{c}");
    }
}

/// Answers the removit preflight (`GET /api/v1/status`) and then holds every
/// other request without a word: a target that hangs mid-run.
fn hangs_after_preflight() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut s in l.incoming().flatten() {
            let mut line = String::new();
            let _ = BufReader::new(&s).read_line(&mut line);
            if line.starts_with("GET /api/v1/status ") {
                let body = r#"{"status":"ok"}"#;
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            } else {
                held.push(s);
            }
        }
    });
    port
}

#[test]
fn a_request_that_hangs_mid_run_errors_its_check_and_the_run_goes_on() {
    let out = tempfile::tempdir().unwrap();
    let port = hangs_after_preflight();
    let r = run(
        check_removit_at(port, out.path())
            .args(["--only", "auth.missing_key", "--only", "auth.valid_key"])
            .env("GOLIVE_KEY", "fake_key_unused_by_this_test"),
        Duration::from_secs(20),
    );
    assert_eq!(r.code(), 3, "{}\n{}", r.stdout, r.stderr);
    let rep = report(out.path());
    assert_eq!(rep["verdict"], "INCOMPLETE");
    assert!(rep["interrupted"].is_null(), "not cut short: {}", rep);
    let ran = checks(&rep);
    assert_eq!(ran.len(), 2, "{rep}");
    for c in ran {
        assert_eq!(field(c, "status"), "error", "{c}");
        assert!(
            field(c, "summary").contains("no answer within 1.0 s"),
            "{c}"
        );
    }
    // Both checks ran to their error: one line each on stderr, in plain text.
    for id in ["removit.auth.missing_key", "removit.auth.valid_key"] {
        assert!(
            r.stderr
                .lines()
                .any(|l| l.starts_with("ERROR") && l.contains(id)),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn a_target_that_stops_answering_ends_the_pack_quickly() {
    // Every check of the pack would wait out its own timeouts; after three
    // checks in a row end on a transport failure the rest are not sent.
    let out = tempfile::tempdir().unwrap();
    let port = hangs_after_preflight();
    let t0 = std::time::Instant::now();
    let r = run(
        check_removit_at(port, out.path()).env("GOLIVE_KEY", "sk_test_unused_by_this_test"),
        Duration::from_secs(30),
    );
    assert_eq!(r.code(), 3, "{}\n{}", r.stdout, r.stderr);
    let rep = report(out.path());
    assert_eq!(rep["verdict"], "INCOMPLETE");
    let all = checks(&rep);
    let stopped = all
        .iter()
        .filter(|c| field(c, "summary").contains("the target stopped answering"))
        .count();
    assert!(
        all.iter()
            .all(|c| field(c, "status") == "error" || field(c, "status") == "skip"),
        "{rep}"
    );
    let skipped = all.iter().filter(|c| field(c, "status") == "skip").count();
    assert!(stopped >= 1, "{rep}");
    assert_eq!(
        stopped + skipped + 3,
        all.len(),
        "only three checks wait for the timeouts: {rep}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t0.elapsed()
    );
}

#[test]
fn a_check_that_errors_is_reported_with_its_reason() {
    // Stuck jobs: the credits checks poll until their deadline and error.
    let out = tempfile::tempdir().unwrap();
    let r = run(
        golive()
            .args(["check", "--pack", "removebgvideo", "--only", "credits"])
            .args(["--fault", "stuck-jobs", "--var", "poll_deadline=2s"])
            .arg("--report-dir")
            .arg(out.path()),
        Duration::from_secs(20),
    );
    assert_eq!(r.code(), 3, "{}\n{}", r.stdout, r.stderr);
    let rep = report(out.path());
    assert_eq!(rep["verdict"], "INCOMPLETE");
    let by_id = |id: &str| {
        checks(&rep)
            .iter()
            .find(|c| field(c, "id") == id)
            .unwrap_or_else(|| panic!("{id} missing from {rep}"))
            .clone()
    };
    // The first job to miss its deadline errors its check with the evidence…
    let cost = by_id("removebgvideo.credits.cost");
    assert_eq!(field(&cost, "status"), "error", "{cost}");
    assert!(
        field(&cost, "summary").contains("did not reach a terminal state"),
        "{cost}"
    );
    // …and the next check that needs a finished job errors at once, naming it.
    let refund = by_id("removebgvideo.credits.refund");
    assert_eq!(field(&refund, "status"), "error", "{refund}");
    assert!(
        field(&refund, "summary").contains(
            "not polled: a job already missed its 2.0 s deadline in removebgvideo.credits.cost"
        ),
        "{refund}"
    );
    assert!(refund["duration_ms"].as_f64().unwrap() < 1000.0, "{refund}");
    for c in [&cost, &refund] {
        // The evidence up to the error is kept.
        assert!(!c["evidence"].as_array().unwrap().is_empty(), "{c}");
    }
    assert_eq!(
        field(&by_id("removebgvideo.credits.insufficient"), "status"),
        "pass"
    );
    assert!(r.stdout.contains("error[removebgvideo.credits.refund]"));
}

#[cfg(unix)]
#[test]
fn ctrl_c_writes_an_incomplete_report_with_what_ran() {
    let out = tempfile::tempdir().unwrap();
    let mut child = golive()
        .arg("check")
        .arg("--report-dir")
        .arg(out.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = drain(child.stdout.take().unwrap());
    // Read stderr line by line: the first finished check says the run is under way.
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let first = rx
        .recv_timeout(Duration::from_secs(15))
        .expect("a first progress line");
    assert!(
        ["PASS", "FAIL", "WARN", "SKIP", "ERROR"]
            .iter()
            .any(|s| first.starts_with(s)),
        "not a check line: {first}"
    );
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_bounded(&mut child, Duration::from_secs(15));
    let stdout = stdout.join().unwrap();
    let stderr = reader.join().unwrap();
    assert_eq!(status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("interrupted: finishing the report"),
        "{stderr}"
    );

    assert_report_files(out.path());
    let rep = report(out.path());
    assert_eq!(rep["verdict"], "INCOMPLETE");
    assert!(
        rep["interrupted"]
            .as_str()
            .is_some_and(|i| i.contains("interrupted")),
        "{}",
        rep["interrupted"]
    );
    let all = checks(&rep);
    // Every check of both packs is accounted for.
    assert!(all.len() > 30, "{} checks", all.len());
    // What finished before the signal is in the report as it finished.
    let done: Vec<&Value> = all
        .iter()
        .filter(|c| !field(c, "summary").contains("interrupted"))
        .collect();
    assert!(!done.is_empty(), "no check finished before Ctrl-C");
    for c in &done {
        assert_ne!(field(c, "status"), "skip", "{c}");
    }
    let id = first.split_whitespace().nth(1).unwrap();
    assert!(
        done.iter().any(|c| field(c, "id") == id),
        "{id}, printed before the signal, is not in the report as run"
    );
    // The rest did not run (skip) or was cut off while running (error).
    let rest: Vec<&Value> = all
        .iter()
        .filter(|c| field(c, "summary").contains("interrupted"))
        .collect();
    assert!(
        rest.iter().any(|c| field(c, "status") == "skip"),
        "nothing left to skip: the signal came too late"
    );
    for c in rest {
        assert!(matches!(field(c, "status"), "skip" | "error"), "{c}");
    }
}

#[test]
fn quiet_prints_no_progress_and_a_closed_stdout_is_no_crash() {
    let out = tempfile::tempdir().unwrap();
    let mut child = golive()
        .args(["check", "--quiet", "--pack", "removit", "--only", "auth"])
        .arg("--report-dir")
        .arg(out.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // As `golive check | head -0`: the reader is gone before anything is printed.
    drop(child.stdout.take());
    let stderr = drain(child.stderr.take().unwrap());
    let status = wait_bounded(&mut child, Duration::from_secs(20));
    let stderr = stderr.join().unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "--quiet printed: {stderr}");
    assert_report_files(out.path());
    assert_eq!(report(out.path())["verdict"], "GO");
}

/// A pack the built-in fake does not implement (remove.bg) is refused before
/// any work with the default target: exit 2, a message naming the pack and
/// `--target URL`, no report and no traffic. Among other packs it is refused
/// too, and the packs the fake serves (`fake:` in pack.yaml) still run.
#[test]
fn a_pack_the_fake_cannot_serve_is_refused_with_the_default_target() {
    let removebg = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/removebg");
    for packs in [vec!["--pack"], vec!["--pack", "removit", "--pack"]] {
        let out = tempfile::tempdir().unwrap();
        let r = run(
            golive()
                .arg("check")
                .args(&packs)
                .arg(&removebg)
                .arg("--report-dir")
                .arg(out.path()),
            Duration::from_secs(20),
        );
        assert_eq!(r.code(), 2, "{}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("pack `removebg` has no built-in fake")
                && r.stderr.contains("--target URL"),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains("pack `removit`"), "{}", r.stderr);
        assert!(r.took < Duration::from_secs(5), "not at once: {:?}", r.took);
        assert!(files(out.path()).is_empty(), "a refused run wrote a report");
    }
    // The same pack with a live target is accepted (and finds nothing there).
    let out = tempfile::tempdir().unwrap();
    let r = run(
        golive()
            .args(["check", "-q", "--pack"])
            .arg(&removebg)
            .arg("--target")
            .arg(format!("http://127.0.0.1:{}", closed_port()))
            .arg("--report-dir")
            .arg(out.path()),
        Duration::from_secs(30),
    );
    assert_eq!(r.code(), 3, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("no built-in fake"), "{}", r.stderr);
}
