//! The hostile-server suite: `golive check` (the binary) against a server of
//! the tests' own that misbehaves at the HTTP level in one way per case. For
//! each case golive ends within its deadlines, reports a finding on the right
//! check, keeps memory bounded and writes every report; over the whole suite
//! nothing panics. All cases run at once (one suite run, shared by the named
//! tests), each against its own server on 127.0.0.1:0.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::check_e2e::{checks, drain, field, golive};

/// Each case finishes well within this (the cases' own deadlines are 1–3 s).
const CASE_LIMIT: Duration = Duration::from_secs(60);
/// Peak RSS any case may reach (the body cap is 1 MiB, evidence 16 KiB).
const RSS_LIMIT_KB: u64 = 300 * 1024;
/// Fake key values: a trace of `HOSTILEKEY` anywhere is a leak.
pub(crate) const HOSTILE_KEYS: [(&str, &str); 4] = [
    ("GOLIVE_KEY", "fake_key_HOSTILEKEY_valid_51c0"),
    ("GOLIVE_KEY_EMPTY", "fake_key_HOSTILEKEY_empty_9e2a"),
    ("GOLIVE_KEY_OTHER", "fake_key_HOSTILEKEY_other_77d4"),
    ("GOLIVE_KEY_DISABLED", "fake_key_HOSTILEKEY_disabled_03bb"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Case {
    ResetMidResponse,
    HeadersThenSilence,
    TricklingBody,
    EndlessChunkedBody,
    LyingContentLength,
    InvalidJson,
    DeepJson,
    InvalidUtf8,
    JsonAsHtml,
    RedirectLoop,
    RedirectOffHost,
    OkWhereErrorDue,
    RetryAfterYear,
    RetryAfterPastDate,
    RetryAfterGarbage,
    RateLimitResetPast,
    HugeHeaders,
    Always429,
    /// Not in the suite: the keys-in-transit test's server.
    Transit,
}

impl Case {
    const SUITE: [Case; 18] = [
        Case::ResetMidResponse,
        Case::HeadersThenSilence,
        Case::TricklingBody,
        Case::EndlessChunkedBody,
        Case::LyingContentLength,
        Case::InvalidJson,
        Case::DeepJson,
        Case::InvalidUtf8,
        Case::JsonAsHtml,
        Case::RedirectLoop,
        Case::RedirectOffHost,
        Case::OkWhereErrorDue,
        Case::RetryAfterYear,
        Case::RetryAfterPastDate,
        Case::RetryAfterGarbage,
        Case::RateLimitResetPast,
        Case::HugeHeaders,
        Case::Always429,
    ];
}

/// What one server received: every request head, in order.
pub(crate) type Heads = Arc<Mutex<Vec<String>>>;

/// The runtime every test server of this module runs on.
fn server_rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test server runtime")
    })
}

/// Starts a server for `case` on 127.0.0.1:0; returns its port and what it receives.
/// `other` is a second origin that redirects and result URLs point at.
pub(crate) fn serve(case: Case, other: u16) -> (u16, Heads) {
    let heads: Heads = Arc::default();
    let seen = heads.clone();
    let listener = server_rt()
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind loopback");
    let port = listener.local_addr().unwrap().port();
    server_rt().spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let _ = handle(s, case, port, other, seen).await;
            });
        }
    });
    (port, heads)
}

/// Reads one request head (and discards its body); `None` when the peer is gone.
async fn read_request(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = s.read(&mut byte).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&byte[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut left = (length.min(1 << 20)).saturating_sub(buf.len() - head_end);
    while left > 0 {
        let n = s.read(&mut byte).await.ok()?;
        if n == 0 {
            break;
        }
        left = left.saturating_sub(n);
    }
    Some(head)
}

/// A whole response; the connection closes after it.
fn response(status: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nconnection: close\r\n").into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

fn json_ct() -> (&'static str, String) {
    ("content-type", "application/json".to_string())
}

fn limited(retry_after: &str, reset: Option<i64>) -> Vec<u8> {
    let mut h = vec![json_ct(), ("retry-after", retry_after.to_string())];
    if let Some(r) = reset {
        h.push(("x-ratelimit-reset", r.to_string()));
    }
    response(
        "429 Too Many Requests",
        &h,
        br#"{"error":"rate_limited","message":"slow down"}"#,
    )
}

const JOB: &[u8] =
    br#"{"job_id":"job-1","status":"queued","state":"queued","mode":"background","progress":0}"#;

async fn handle(
    mut s: TcpStream,
    case: Case,
    me: u16,
    other: u16,
    seen: Heads,
) -> std::io::Result<()> {
    let Some(head) = read_request(&mut s).await else {
        return Ok(());
    };
    seen.lock().unwrap().push(head.clone());
    if head.starts_with("GET /api/v1/status ") || head.starts_with("GET /health ") {
        // The preflight gets a healthy answer, so that the checks meet the case.
        let ok = response("200 OK", &[json_ct()], br#"{"status":"ok"}"#);
        return s.write_all(&ok).await;
    }
    let hour = Duration::from_secs(3600);
    match case {
        Case::ResetMidResponse => {
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{\"job_id\":")
                .await?;
            s.flush().await?;
            s.set_zero_linger()?;
            drop(s); // RST, not FIN
        }
        Case::HeadersThenSilence => {
            s.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n",
            )
            .await?;
            tokio::time::sleep(hour).await;
        }
        Case::TricklingBody => {
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n")
                .await?;
            loop {
                s.write_all(b" ").await?;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        Case::EndlessChunkedBody => {
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
                .await?;
            let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
            chunk.extend(std::iter::repeat_n(b'[', 64 * 1024));
            chunk.extend_from_slice(b"\r\n");
            loop {
                s.write_all(&chunk).await?;
            }
        }
        Case::LyingContentLength => {
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1073741824\r\n\r\n{\"job_id\":\"job-1\"}")
                .await?;
            s.shutdown().await?;
        }
        Case::InvalidJson => {
            let r = response("200 OK", &[json_ct()], br#"{"job_id": "job-1", "status": "#);
            s.write_all(&r).await?;
        }
        Case::DeepJson => {
            let mut body = vec![b'['; 100_000];
            body.extend(std::iter::repeat_n(b']', 100_000));
            s.write_all(&response("200 OK", &[json_ct()], &body))
                .await?;
        }
        Case::InvalidUtf8 => {
            let mut r = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: application/json\r\nx-note: \xff\xfe\xfd\r\n".to_vec();
            let body = b"{\"job_id\": \"\xff\xfe\", \"status\": \"queued\"}";
            r.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
            r.extend_from_slice(body);
            s.write_all(&r).await?;
        }
        Case::JsonAsHtml => {
            let ct = ("content-type", "text/html; charset=utf-8".to_string());
            s.write_all(&response("200 OK", &[ct], JOB)).await?;
        }
        Case::RedirectLoop => {
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            let to = ("location", format!("http://127.0.0.1:{me}{path}"));
            s.write_all(&response("302 Found", &[to], b"")).await?;
        }
        Case::RedirectOffHost => {
            let to = ("location", format!("http://127.0.0.1:{other}/stolen"));
            s.write_all(&response("307 Temporary Redirect", &[to], b""))
                .await?;
        }
        Case::OkWhereErrorDue => {
            s.write_all(&response("200 OK", &[json_ct()], b"{}"))
                .await?;
        }
        Case::RetryAfterYear => s.write_all(&limited("31536000", None)).await?,
        Case::RetryAfterPastDate => {
            s.write_all(&limited("Wed, 21 Oct 2015 07:28:00 GMT", None))
                .await?
        }
        Case::RetryAfterGarbage => s.write_all(&limited("soon, probably", None)).await?,
        Case::RateLimitResetPast => s.write_all(&limited("1", Some(1_000_000_000))).await?,
        Case::HugeHeaders => {
            let names: Vec<String> = (0..50).map(|i| format!("x-pad-{i}")).collect();
            let mut h = vec![json_ct()];
            h.extend(names.iter().map(|n| (n.as_str(), "a".repeat(2000))));
            s.write_all(&response("200 OK", &h, b"{}")).await?;
        }
        Case::Always429 => s.write_all(&limited("1", None)).await?,
        Case::Transit => {
            if head.starts_with("POST ") {
                let body = format!(
                    r#"{{"job_id":"job-1","status":"done","state":"done","mode":"background","final_url":"http://127.0.0.1:{other}/out.png","final_urls":{{"clipping":"http://127.0.0.1:{other}/out.png"}}}}"#
                );
                s.write_all(&response("200 OK", &[json_ct()], body.as_bytes()))
                    .await?;
            } else {
                let to = ("location", format!("http://127.0.0.1:{other}/elsewhere"));
                s.write_all(&response("307 Temporary Redirect", &[to], b""))
                    .await?;
            }
        }
    }
    Ok(())
}

/// A second origin that records what it receives and answers `200 {}`.
pub(crate) fn recorder() -> (u16, Heads) {
    serve(Case::OkWhereErrorDue, 0)
}

/// What one golive run did.
pub(crate) struct Outcome {
    pub code: i32,
    pub took: Duration,
    /// Peak resident set (VmHWM), sampled while it ran; `None` off Linux.
    pub peak_rss_kb: Option<u64>,
    pub stdout: String,
    pub stderr: String,
    pub report: Option<Value>,
    /// Every report file was written.
    pub all_files: bool,
    pub report_json_bytes: u64,
    /// Every file golive wrote, as text (for leak scans).
    pub written: Vec<(String, String)>,
    /// What the second origin received.
    pub other: Vec<String>,
    /// What the target received.
    pub target: Vec<String>,
}

impl Outcome {
    /// The check `removit.<id>` from the report.
    pub fn check(&self, id: &str) -> &Value {
        let full = format!("removit.{id}");
        let rep = self
            .report
            .as_ref()
            .expect("report.json written and parsed");
        checks(rep)
            .iter()
            .find(|c| field(c, "id") == full)
            .unwrap_or_else(|| panic!("{full} not in the report"))
    }

    /// Every finding message and the summary of a check, as one text.
    pub fn said(&self, id: &str) -> String {
        let c = self.check(id);
        let mut out = format!("[{}] {}\n", field(c, "status"), field(c, "summary"));
        for f in c["findings"].as_array().into_iter().flatten() {
            out.push_str(f["message"].as_str().unwrap_or_default());
            out.push('\n');
        }
        out
    }

    pub fn verdict(&self) -> &str {
        self.report
            .as_ref()
            .and_then(|r| r["verdict"].as_str())
            .unwrap_or("")
    }
}

/// Peak RSS of a running process in KiB (Linux `/proc`).
fn peak_rss(pid: u32) -> Option<u64> {
    // Only golive's own memory: while a child is still being set up (before
    // its exec), /proc shows the test process's, which runs the whole suite.
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    if exe != Path::new(env!("CARGO_BIN_EXE_golive")) {
        return None;
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `golive check --pack removit` against `port` with short deadlines.
pub(crate) fn check_against(port: u16, extra: &[&str], trace: bool) -> Outcome {
    check_pack(port, "removit", extra, trace)
}

/// Runs `golive check --pack PACK` against `port` with short deadlines.
fn check_pack(port: u16, pack: &str, extra: &[&str], trace: bool) -> Outcome {
    let out = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = ["check", "--pack", pack, "--target"]
        .map(String::from)
        .to_vec();
    args.push(format!("http://127.0.0.1:{port}"));
    for a in [
        "--var",
        "http_timeout=1s",
        "--var",
        "poll_deadline=2s",
        "--var",
        "burst_size=5",
        "--max-duration",
        "50s",
    ]
    .iter()
    .chain(extra)
    {
        args.push(a.to_string());
    }
    args.push("--har".into());
    args.push(out.path().join("run.har").display().to_string());
    const FILES: [&str; 5] = [
        "report.json",
        "report.md",
        "report.html",
        "junit.xml",
        "run.har",
    ];
    run_golive(&args, out.path(), &FILES, trace)
}

/// Runs golive with `args` (and `--report-dir DIR`), watching its time and
/// peak memory; `files` are the ones every run must leave in `dir`.
pub(super) fn run_golive(args: &[String], dir: &Path, files: &[&str], trace: bool) -> Outcome {
    // `GOLIVE_TIME_V=1`: run under `/usr/bin/time -v` and take its peak RSS.
    let time_v = std::env::var_os("GOLIVE_TIME_V").is_some();
    let mut cmd = golive();
    if time_v {
        let inner = cmd;
        cmd = std::process::Command::new("/usr/bin/time");
        cmd.arg("-v").arg(inner.get_program()).stdin(Stdio::null());
        for var in ["GITHUB_STEP_SUMMARY", "RUST_LOG", "NO_COLOR"] {
            cmd.env_remove(var);
        }
    }
    cmd.args(args)
        .arg("--report-dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (var, key) in HOSTILE_KEYS {
        cmd.env(var, key);
    }
    if trace {
        cmd.env("RUST_LOG", "trace");
    }
    let t0 = Instant::now();
    let mut child = cmd.spawn().expect("start golive");
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let mut peak = None;
    let status = loop {
        peak = peak_rss(child.id()).max(peak);
        if let Some(st) = child.try_wait().expect("wait for golive") {
            break st;
        }
        if t0.elapsed() > CASE_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("golive did not finish within {CASE_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let took = t0.elapsed();
    let code = status.code().unwrap_or(-1);
    let mut o = outcome_of(dir, files, code, took, peak, stdout, stderr);
    if time_v {
        o.peak_rss_kb = o
            .stderr
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("Maximum resident set size (kbytes): ")
            })
            .and_then(|k| k.trim().parse().ok());
    }
    o
}

fn outcome_of(
    dir: &Path,
    files: &[&str],
    code: i32,
    took: Duration,
    peak_rss_kb: Option<u64>,
    stdout: std::thread::JoinHandle<String>,
    stderr: std::thread::JoinHandle<String>,
) -> Outcome {
    let all_files = files.iter().all(|f| dir.join(f).is_file());
    let json = std::fs::read_to_string(dir.join("report.json")).ok();
    let written = crate::check_e2e::files(dir)
        .into_iter()
        .map(|p| {
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            (p.display().to_string(), text)
        })
        .collect();
    Outcome {
        code,
        took,
        peak_rss_kb,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        report_json_bytes: json.as_ref().map_or(0, |j| j.len() as u64),
        report: json.and_then(|j| serde_json::from_str(&j).ok()),
        all_files,
        written,
        other: vec![],
        target: vec![],
    }
}

/// The packs every case runs through.
const PACKS: [&str; 2] = ["removit", "removebgvideo"];

/// The whole suite, run once, every case through every pack at once.
fn suite() -> &'static BTreeMap<(Case, &'static str), Outcome> {
    static SUITE: OnceLock<BTreeMap<(Case, &'static str), Outcome>> = OnceLock::new();
    SUITE.get_or_init(|| {
        let results = std::thread::scope(|scope| {
            let runs: Vec<_> = Case::SUITE
                .iter()
                .flat_map(|&case| PACKS.map(|pack| (case, pack)))
                .map(|(case, pack)| {
                    scope.spawn(move || {
                        let (other, other_heads) = recorder();
                        let (port, heads) = serve(case, other);
                        let mut o = check_pack(port, pack, &[], false);
                        o.other = other_heads.lock().unwrap().clone();
                        o.target = heads.lock().unwrap().clone();
                        ((case, pack), o)
                    })
                })
                .collect();
            runs.into_iter()
                .map(|h| h.join().expect("case ran"))
                .collect::<BTreeMap<_, _>>()
        });
        // The figures for the record (`cargo test hostile -- --nocapture`).
        for ((case, pack), o) in &results {
            println!(
                "{case:?} ({pack}): exit {} in {:.1} s, peak RSS {} KiB, verdict {}",
                o.code,
                o.took.as_secs_f64(),
                o.peak_rss_kb.map_or("?".into(), |k| k.to_string()),
                o.verdict()
            );
            if let Some(rep) = &o.report {
                let passed: Vec<&str> = checks(rep)
                    .iter()
                    .filter(|c| field(c, "status") == "pass")
                    .map(|c| field(c, "id"))
                    .collect();
                println!("  passed: {passed:?}");
            }
        }
        results
    })
}

/// The guarantees every case keeps: a verdict (never GO) and every report,
/// within the deadline, in bounded memory.
fn outcome(case: Case) -> &'static Outcome {
    assert_bounded(case, "removit")
}

fn assert_bounded(case: Case, pack: &'static str) -> &'static Outcome {
    let o = &suite()[&(case, pack)];
    let ctx = format!(
        "{case:?} ({pack}): exit {}\n{}\n{}",
        o.code, o.stdout, o.stderr
    );
    assert!(matches!(o.code, 1 | 3), "{ctx}");
    assert!(o.all_files, "not every report was written: {ctx}");
    assert!(o.report.is_some(), "report.json does not parse: {ctx}");
    assert_ne!(o.verdict(), "GO", "{ctx}");
    assert!(o.took < Duration::from_secs(45), "took {:?}: {ctx}", o.took);
    if let Some(kb) = o.peak_rss_kb {
        assert!(kb < RSS_LIMIT_KB, "peak RSS {kb} KiB: {ctx}");
    }
    o
}

fn assert_said(o: &Outcome, id: &str, status: &str, words: &[&str]) {
    let said = o.said(id);
    assert_eq!(field(o.check(id), "status"), status, "{said}");
    for w in words {
        assert!(said.contains(w), "`{w}` not in what {id} said:\n{said}");
    }
}

mod cases;
mod load;
