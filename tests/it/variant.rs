//! Both packs against `../shared/variant-server/`: an implementation of the
//! contract nobody on the team wrote, which makes a different legal choice
//! at every open point for each `--seed`. Every seed must be GO with no
//! failing check, and a warning may appear only where that seed leaves out
//! a `[conv]` feature, naming it. Needs only `python3`.
//!
//! `GOLIVE_VARIANT_SEED=N cargo test --test it variant_random -- --ignored --nocapture`
//! tries any seed by hand (a random one without the variable).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use golive::engine::{self, RunConfig, Target};
use golive::pack;
use golive::report::{FindingLevel, Report, Status, Verdict};
use serde_json::Value;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/variant-server/variant_server.py")
}

/// The server for one seed, killed on drop.
struct Variant {
    child: Child,
    url: String,
    choices: Value,
}

impl Drop for Variant {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(seed: u64) -> Variant {
    let script = script();
    assert!(
        script.exists(),
        "the variant server is missing: {}",
        script.display()
    );
    let describe = Command::new("python3")
        .arg(&script)
        .args(["--seed", &seed.to_string(), "--describe"])
        .output()
        .expect("python3 runs the variant server");
    assert!(
        describe.status.success(),
        "--describe failed for seed {seed}"
    );
    let choices: Value = serde_json::from_slice(&describe.stdout).expect("--describe is JSON");
    let mut child = Command::new("python3")
        .arg(&script)
        .args(["--port", "0", "--seed", &seed.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 starts the variant server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("the variant server prints its address");
    // "listening on http://127.0.0.1:PORT seed=N"
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no loopback address in {line:?}"))
        .to_string();
    Variant {
        child,
        url,
        choices: choices["choices"].clone(),
    }
}

async fn check(v: &Variant) -> Report {
    let env: BTreeMap<String, String> = [
        ("GOLIVE_KEY", "vs_valid_key_1"),
        ("GOLIVE_KEY_OTHER", "vs_other_key_2"),
        ("GOLIVE_KEY_EMPTY", "vs_empty_key_3"),
        ("GOLIVE_KEY_DISABLED", "vs_disabled_key_4"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    engine::run(RunConfig {
        target: Target::Live(v.url.clone()),
        packs: pack::embedded_names()
            .iter()
            .map(|n| pack::load_embedded(n).expect("embedded pack loads"))
            .collect(),
        vars: BTreeMap::new(),
        env: Arc::new(move |n| env.get(n).cloned()),
        cancel: None,
        progress: None,
        only: vec![],
        check_limit: None,
        patient: false,
        max_duration: None,
    })
    .await
}

/// The `[conv]` features this seed leaves out, each with the words a
/// warning about it must contain.
fn left_out(choices: &Value) -> Vec<(&'static str, &'static str)> {
    // `--describe` prints yes/no choices as booleans.
    let is = |k: &str, v: &str| match &choices[k] {
        Value::Bool(b) => *b == (v == "yes"),
        other => other.as_str() == Some(v),
    };
    let mut out = vec![];
    if is("ratelimit_headers", "none") {
        out.push(("rate-limit headers", "rate-limit headers"));
    }
    if is("list_meta", "absent") {
        out.push(("job list total/limit/offset", "\"total\""));
    }
    if is("usage_daily", "absent") {
        out.push(("usage summary daily", "\"daily\""));
    }
    if is("events_request_id", "no") {
        out.push(("usage events request_id", "\"request_id\""));
    }
    out
}

fn judge(seed: u64, v: &Variant, r: &Report) {
    let bad: Vec<String> = r
        .checks
        .iter()
        .filter(|c| !matches!(c.status, Status::Pass | Status::Warn))
        .map(|c| {
            let f = c.findings.first().map(|f| f.message.as_str());
            format!("{:?} {}: {}", c.status, c.id, f.unwrap_or(&c.summary))
        })
        .collect();
    let how = format!("python3 {} --port 0 --seed {seed}", script().display());
    assert!(
        bad.is_empty(),
        "seed {seed} ({how}): checks that did not pass:\n  {}",
        bad.join("\n  ")
    );
    assert_eq!(r.verdict, Verdict::Go, "seed {seed}: {}", r.verdict_reason);
    // A live target never gets the fake's own inputs (`?duration=` bills a
    // clip's length only on the built-in fake).
    for c in &r.checks {
        for x in &c.evidence {
            let body = x.request.body.as_ref().and_then(|b| b.text.as_deref());
            let sent = format!("{} {}", x.request.url, body.unwrap_or(""));
            assert!(
                !sent.contains("duration="),
                "seed {seed}: {} sent a fake-only input to a live target: {sent}",
                c.id
            );
        }
    }
    let features = left_out(&v.choices);
    for c in &r.checks {
        for f in c.findings.iter().filter(|f| f.level == FindingLevel::Warn) {
            let text = format!("{} {}", f.message, f.expected.as_deref().unwrap_or(""));
            assert!(
                features.iter().any(|(_, word)| text.contains(word)),
                "seed {seed}: {} warns about something this seed does not leave out \
                 (it leaves out: {:?}): {}",
                c.id,
                features.iter().map(|f| f.0).collect::<Vec<_>>(),
                f.message
            );
            assert!(
                f.advice.is_some(),
                "seed {seed}: a warning without advice: {}",
                f.message
            );
        }
    }
}

async fn seed(n: u64) {
    let v = start(n);
    let r = check(&v).await;
    judge(n, &v, &r);
}

// Seeds 0–7 together use every option of every open point (the server's README).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variant_seed_0() {
    seed(0).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variant_seed_1() {
    seed(1).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variant_seed_2() {
    seed(2).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variant_seed_3() {
    seed(3).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variant_seed_4() {
    seed(4).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variant_seed_5() {
    seed(5).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variant_seed_6() {
    seed(6).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variant_seed_7() {
    seed(7).await
}

/// Any seed by hand: `GOLIVE_VARIANT_SEED=N`, or a random one (printed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tries a random seed; run by hand"]
async fn variant_random_seed() {
    let n = std::env::var("GOLIVE_VARIANT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64 % 100_000 + 8)
                .unwrap_or(8)
        });
    println!("variant server seed {n} (GOLIVE_VARIANT_SEED={n} to repeat)");
    seed(n).await
}
