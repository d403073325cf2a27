//! A broken target costs bounded time, signals end a run with its report,
//! and keys travel only to the target's origin: the binary, end to end.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::check_e2e::{
    assert_report_files, checks, drain, field, golive, report, run, wait_bounded,
};
use crate::hostile::{Case, HOSTILE_KEYS, check_against, recorder, serve};

/// `golive fake` on a free loopback port, killed when dropped.
struct FakeProc {
    child: Child,
    url: String,
}

impl Drop for FakeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fake_proc(args: &[&str], config: Option<&str>) -> (FakeProc, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = golive();
    cmd.args(["fake", "--port", "0"]).args(args);
    if let Some(yaml) = config {
        let path = dir.path().join("fake.yaml");
        std::fs::write(&path, yaml).unwrap();
        cmd.arg("--config").arg(path);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    lines.read_line(&mut first).unwrap();
    // It goes on printing (its keys): keep reading, or it dies of a broken pipe.
    drain(lines);
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in `{first}`"))
        .to_string();
    (FakeProc { child, url }, dir)
}

/// `golive check` of both packs against a live URL with the fake's keys.
fn check_live(url: &str, out: &std::path::Path) -> Command {
    let mut c = golive();
    c.args(["check", "--target", url])
        .arg("--report-dir")
        .arg(out);
    for (var, key) in [
        ("GOLIVE_KEY", "sk_test_valid"),
        ("GOLIVE_KEY_EMPTY", "sk_test_empty"),
        ("GOLIVE_KEY_OTHER", "sk_test_other"),
        ("GOLIVE_KEY_DISABLED", "sk_test_disabled"),
    ] {
        c.env(var, key);
    }
    c
}

#[test]
fn jobs_that_never_finish_cost_one_poll_deadline_per_pack() {
    let (fake, _dir) = fake_proc(&["--fault", "stuck-jobs"], None);
    let out = tempfile::tempdir().unwrap();
    let deadline = 4.0;
    let r = run(
        check_live(&fake.url, out.path()).args(["--var", "poll_deadline=4s"]),
        Duration::from_secs(60),
    );
    assert_eq!(r.code(), 1, "{}\n{}", r.stdout, r.stderr);
    let rep = report(out.path());
    for pack in ["removit", "removebgvideo"] {
        let of_pack: Vec<&Value> = checks(&rep)
            .iter()
            .filter(|c| field(c, "pack") == pack)
            .collect();
        // One check waited out the deadline and carries the evidence…
        let waited: Vec<&&Value> = of_pack
            .iter()
            .filter(|c| field(c, "summary").contains("did not reach a terminal state"))
            .collect();
        assert_eq!(waited.len(), 1, "{pack}: {waited:?}");
        assert!(!waited[0]["evidence"].as_array().unwrap().is_empty());
        // …and every later check that needs a finished job ended at once, as error.
        let first = field(waited[0], "id");
        let quick: Vec<&&Value> = of_pack
            .iter()
            .filter(|c| field(c, "id") != first && field(c, "summary").contains("not polled"))
            .collect();
        assert!(!quick.is_empty(), "{pack}: nothing was cut short");
        for c in quick {
            assert_eq!(field(c, "status"), "error", "{c}");
            assert!(field(c, "summary").contains(first), "{c}");
            assert!(
                c["duration_ms"].as_f64().unwrap() < deadline * 1000.0,
                "{c}"
            );
        }
    }
    // Packs run side by side: about one deadline in all, far from one per check.
    assert!(r.took < Duration::from_secs(30), "took {:?}", r.took);
}

#[test]
fn jobs_that_never_finish_get_a_verdict_within_a_minute_by_default() {
    // No --var, no limit flags: the SDKs' 600 s poll deadline, golive's defaults.
    let (fake, _dir) = fake_proc(&["--fault", "stuck-jobs"], None);
    let out = tempfile::tempdir().unwrap();
    let r = run(
        &mut check_live(&fake.url, out.path()),
        Duration::from_secs(90),
    );
    assert!(r.took < Duration::from_secs(60), "took {:?}", r.took);
    // The check's limit cut the poll before the job's own deadline: not shown
    // either way, so INCOMPLETE, never a NO-GO the contract does not back.
    assert_eq!(r.code(), 3, "{}\n{}", r.stdout, r.stderr);
    let rep = report(out.path());
    let waited: Vec<&Value> = checks(&rep)
        .iter()
        .filter(|c| field(c, "summary").contains("did not reach a terminal state"))
        .collect();
    assert_eq!(waited.len(), 2, "one per pack: {waited:?}");
    for c in waited {
        assert_eq!(field(c, "status"), "error", "{c}");
        assert!(field(c, "summary").contains("--check-limit"), "{c}");
    }
    assert!(field(&rep, "policy").contains("every check 45 s"));
}

#[test]
fn a_target_whose_every_answer_takes_3_s_gets_its_verdict_within_a_minute() {
    let (fake, _dir) = fake_proc(&["--fault", "slow"], Some("slow_response_ms: 3000\n"));
    let out = tempfile::tempdir().unwrap();
    let r = run(
        &mut check_live(&fake.url, out.path()),
        Duration::from_secs(90),
    );
    assert!(r.took < Duration::from_secs(60), "took {:?}", r.took);
    assert_eq!(r.code(), 1, "{}\n{}", r.stdout, r.stderr);
    assert_report_files(out.path());
    let rep = report(out.path());
    assert_eq!(rep["verdict"], "NO-GO");
    let all = checks(&rep);
    for pack in ["removit", "removebgvideo"] {
        // The speed check ran and carries the evidence…
        let sla = all
            .iter()
            .find(|c| field(c, "id") == format!("{pack}.timeouts.sla"))
            .unwrap();
        assert_eq!(field(sla, "status"), "fail", "{sla}");
        assert!(
            field(sla, "summary").contains("over the 2000 ms SLA"),
            "{sla}"
        );
        // …and every other check says why it did not run (or finish).
        for c in all
            .iter()
            .filter(|c| field(c, "pack") == pack && field(c, "family") != "timeouts")
        {
            assert!(matches!(field(c, "status"), "skip" | "error"), "{c}");
            assert!(
                field(c, "summary").contains("requests in a row slower than 2.00 s"),
                "{c}"
            );
        }
    }
}

#[test]
fn patient_runs_every_check_against_a_slow_target_until_max_duration() {
    let (fake, _dir) = fake_proc(&["--fault", "slow"], Some("slow_response_ms: 3000\n"));
    let out = tempfile::tempdir().unwrap();
    let r = run(
        check_live(&fake.url, out.path()).args(["--patient", "--max-duration", "15s"]),
        Duration::from_secs(60),
    );
    assert_eq!(r.code(), 3, "{}\n{}", r.stdout, r.stderr);
    assert!(r.took < Duration::from_secs(25), "took {:?}", r.took);
    assert_report_files(out.path());
    let rep = report(out.path());
    assert_eq!(rep["verdict"], "INCOMPLETE");
    let limit = "the run reached its time limit of 15 s (--max-duration)";
    assert!(
        rep["interrupted"]
            .as_str()
            .is_some_and(|i| i.contains(limit)),
        "{}",
        rep["interrupted"]
    );
    assert!(field(&rep, "policy").contains("the whole run 15 s"));
    let all = checks(&rep);
    assert!(all.iter().any(|c| field(c, "status") == "skip"));
    for c in all {
        assert!(!field(c, "summary").contains("in a row slower"), "{c}");
        if field(c, "summary").contains(limit) {
            assert!(matches!(field(c, "status"), "skip" | "error"), "{c}");
        }
    }
    // What ran before the limit is in the report as it ran.
    assert!(all.iter().any(|c| !field(c, "summary").contains(limit)));
}

/// Starts a full check against the fake; returns it once a first check has finished.
fn started_check(
    dir: &std::path::Path,
) -> (
    Child,
    std::thread::JoinHandle<String>,
    mpsc::Receiver<String>,
) {
    let mut child = golive()
        .arg("check")
        .arg("--report-dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = drain(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
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
    (child, stdout, rx)
}

fn signal(child: &Child, sig: &str) {
    let kill = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
}

#[cfg(unix)]
#[test]
fn sigterm_writes_an_incomplete_report_with_what_ran() {
    let out = tempfile::tempdir().unwrap();
    let (mut child, stdout, rx) = started_check(out.path());
    let sent = Instant::now();
    signal(&child, "-TERM");
    let status = wait_bounded(&mut child, Duration::from_secs(15));
    let stopped = sent.elapsed();
    let stdout = stdout.join().unwrap();
    let stderr: Vec<String> = rx.try_iter().collect();
    assert_eq!(status.code(), Some(3), "{stdout}\n{stderr:?}");
    assert!(
        stopped < Duration::from_secs(2),
        "stopped after {stopped:?}"
    );
    assert!(
        stderr
            .iter()
            .any(|l| l.contains("interrupted: finishing the report (SIGTERM")),
        "{stderr:?}"
    );
    assert_report_files(out.path());
    let rep = report(out.path());
    assert_eq!(rep["verdict"], "INCOMPLETE");
    assert!(
        rep["interrupted"]
            .as_str()
            .is_some_and(|i| i.contains("interrupted (SIGTERM)")),
        "{}",
        rep["interrupted"]
    );
    let all = checks(&rep);
    assert!(all.len() > 30, "{} checks", all.len());
    let ran = all
        .iter()
        .filter(|c| !field(c, "summary").contains("SIGTERM"));
    assert!(ran.count() > 0, "no check finished before SIGTERM");
    assert!(
        all.iter()
            .any(|c| field(c, "status") == "skip" && field(c, "summary").contains("SIGTERM")),
        "nothing left to skip: the signal came too late"
    );
}

#[cfg(unix)]
#[test]
fn a_second_signal_exits_at_once() {
    // The report's first file is a FIFO nobody reads: after the first signal
    // the run ends and golive blocks writing it, as a slow disk would.
    let out = tempfile::tempdir().unwrap();
    let fifo = out.path().join("report.json.tmp");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let (mut child, stdout, _rx) = started_check(out.path());
    signal(&child, "-TERM");
    // The summary is printed before the reports are written.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "did not block on the FIFO"
    );
    let sent = Instant::now();
    signal(&child, "-INT");
    let status = wait_bounded(&mut child, Duration::from_secs(5));
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(status.code(), Some(130), "{}", stdout.join().unwrap());
}

#[test]
fn keys_travel_only_to_the_target_origin() {
    // The target answers uploads with result URLs on a second origin and
    // redirects everything else there; that origin records what it gets.
    let (other, other_heads) = recorder();
    let (port, heads) = serve(Case::Transit, other);
    let o = check_against(port, &[], true);
    assert!(matches!(o.code, 1 | 3), "{}\n{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("TRACE"), "no trace-level log captured");
    // Not vacuous: the key was sent, to the target.
    let (_, valid) = HOSTILE_KEYS[0];
    let to_target = heads.lock().unwrap().clone();
    assert!(
        to_target.iter().any(|h| h
            .to_ascii_lowercase()
            .contains(&format!("x-api-key: {}", valid.to_ascii_lowercase()))),
        "the target never got the key"
    );
    for h in other_heads.lock().unwrap().iter() {
        let lower = h.to_ascii_lowercase();
        for header in ["x-api-key", "authorization"] {
            assert!(!lower.contains(header), "{header} sent off-origin: {h}");
        }
        assert!(!h.contains("HOSTILEKEY"), "a key sent off-origin: {h}");
    }
    assert!(
        o.written.len() >= 5,
        "{:?}",
        o.written.iter().map(|w| &w.0).collect::<Vec<_>>()
    );
    for (path, text) in &o.written {
        assert!(!text.contains("HOSTILEKEY"), "a key in {path}");
    }
    for (name, text) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        if let Some(at) = text.find("HOSTILEKEY") {
            panic!(
                "a key in {name}: …{}…",
                &text[at.saturating_sub(120)..(at + 40).min(text.len())]
            );
        }
    }
}

#[test]
fn a_poll_deadline_beyond_the_check_limit_ends_with_the_check_not_at_its_cut_off() {
    // The SDKs' 600 s poll deadline against a 3 s check limit: the poll stops
    // in time to report its evidence, and the next check is not polled.
    let (fake, _dir) = fake_proc(&["--fault", "stuck-jobs"], None);
    let pack = tempfile::tempdir().unwrap();
    let src = format!("{}/scenarios/removit", env!("CARGO_MANIFEST_DIR"));
    let pack_yaml = std::fs::read_to_string(format!("{src}/pack.yaml")).unwrap();
    let cut = pack_yaml.find("\nseverities:").unwrap();
    std::fs::write(pack.path().join("pack.yaml"), &pack_yaml[..cut + 1]).unwrap();
    for f in ["lifecycle-completes.yaml", "lifecycle-failure.yaml"] {
        let text = std::fs::read_to_string(format!("{src}/{f}")).unwrap();
        let text = text.replacen("\nsteps:", "\ndeadline: 3s\nsteps:", 1);
        std::fs::write(pack.path().join(f), text).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let r = run(
        check_live(&fake.url, out.path())
            .arg("--pack")
            .arg(pack.path())
            .args(["--var", "poll_deadline=600s"]),
        Duration::from_secs(30),
    );
    // Cut by the check's limit, not the job's deadline: not shown either way.
    assert_eq!(r.code(), 3, "{}\n{}", r.stdout, r.stderr);
    assert!(r.took < Duration::from_secs(10), "took {:?}", r.took);
    let rep = report(out.path());
    let by = |id: &str| {
        checks(&rep)
            .iter()
            .find(|c| field(c, "id") == id)
            .unwrap()
            .clone()
    };
    let first = by("removit.lifecycle.completes");
    assert_eq!(field(&first, "status"), "error", "{first}");
    assert!(
        field(&first, "summary")
            .contains("within 2.5 s (the check's time limit; the poll deadline is 600 s)"),
        "{first}"
    );
    let next = by("removit.lifecycle.failure");
    assert_eq!(field(&next, "status"), "error", "{next}");
    assert!(field(&next, "summary").contains("not polled"), "{next}");
}
