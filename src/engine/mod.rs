//! Runs packs against a target and judges every check. A failed check is data
//! in the report, never an `Err`; the run always ends with a report, even when
//! the target is unreachable or the run is interrupted.

mod burst;
mod check;
pub mod collect;
pub mod http;
mod judge;
pub mod pace;
mod poll;
pub mod request;
pub mod retry;
pub mod step_error;
pub mod steps;
pub mod target;
/// The terminal summary now lives with the other renderers; this path stays
/// for callers not yet moved (`progress.rs`, `tests/it/check.rs`).
pub use crate::report::terminal as summary;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

use crate::fake::FakeOptions;
use crate::pack::{Pack, Scenario};
use crate::report::{CheckResult, PackInfo, Report, ScenarioDigest, Status, TargetInfo};
use check::{error_all, over_time, pace_of, skip_all};
pub use http::{Redactor, Secret};
use steps::CheckState;

/// Where the checks go.
#[derive(Debug, Clone)]
pub enum Target {
    /// The built-in fake, started in-process (one instance per pack).
    Fake(FakeOptions),
    /// A live API at this base URL; keys come from the environment.
    Live(String),
}

/// Something that happened during a run, for progress display.
#[derive(Debug, Clone)]
pub enum Progress {
    PackStarted {
        pack: String,
        checks: usize,
    },
    CheckStarted {
        pack: String,
        check: String,
        index: usize,
        of: usize,
    },
    CheckFinished {
        pack: String,
        check: String,
        status: Status,
        summary: String,
    },
}

pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;
/// Looks up an environment variable (the library never reads the environment itself).
pub type EnvFn = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

pub struct RunConfig {
    pub target: Target,
    pub packs: Vec<Pack>,
    /// `--var name=value` overrides of pack inputs.
    pub vars: BTreeMap<String, String>,
    /// Where live keys come from.
    pub env: EnvFn,
    /// Becomes `Some(why)` ("Ctrl-C", "SIGTERM") when the run is to stop.
    pub cancel: Option<watch::Receiver<Option<String>>>,
    /// The whole run's time limit: past it the remaining checks are skipped
    /// and the verdict is INCOMPLETE (`None`: `MAX_DURATION`).
    pub max_duration: Option<Duration>,
    pub progress: Option<ProgressFn>,
    /// Only run checks whose id contains one of these (empty: all).
    pub only: Vec<String>,
    /// Each check's time limit when its scenario sets none (`None`: `CHECK_DEADLINE`).
    pub check_limit: Option<Duration>,
    /// Run every check even once the target counts as slow (`slow_target`).
    pub patient: bool,
}

/// The state one pack's checks share.
pub struct PackRun {
    pub pack: Pack,
    pub client: reqwest::Client,
    pub base: String,
    pub keys: BTreeMap<String, Secret>,
    pub invalid_key: String,
    pub inputs: BTreeMap<String, Value>,
    pub run_start: Instant,
    pub run_id: String,
    pub redactor: Redactor,
    pub request_id: http::RequestIdSource,
    pub http_timeout: Duration,
    /// Set when a request stayed limited (429) through every back-off: the
    /// pack's later 429s are not waited on again.
    pub limited: AtomicBool,
    /// Set when a job of this pack missed its poll deadline: later polls end
    /// at once with this reason instead of each waiting out its own deadline.
    pub stuck_job: Mutex<Option<String>>,
    /// Watches answer times: once the target counts as slow, only the
    /// `timeouts` checks still run.
    pub pace: pace::Pace,
    /// Each check's time limit when its scenario sets none.
    pub check_limit: Duration,
}

/// Consecutive checks ending on a transport failure after which the rest of
/// the pack is not run (each would only wait out the same timeouts).
pub const STOPPED_ANSWERING: usize = 3;

/// Default per-check time limit (`--check-limit`): a job that never ends
/// costs at most this, so a pack gets its verdict within a minute.
pub const CHECK_DEADLINE: Duration = Duration::from_secs(45);

/// Why the built-in fake cannot serve `pack` (its `pack.yaml` names no
/// `fake:` API), if it cannot: such a pack only runs against `--target URL`.
pub fn fake_cannot_serve(pack: &Pack) -> Option<String> {
    pack.file
        .fake
        .is_none()
        .then(|| target::TargetError::NoFake(pack.file.name.clone()).to_string())
}
/// Default limit of a whole run (`--max-duration`).
pub const MAX_DURATION: Duration = Duration::from_secs(300);

/// Runs every pack and returns the report (never fails: problems are findings).
pub async fn run(cfg: RunConfig) -> Report {
    let started_at = chrono::Utc::now();
    let run_start = Instant::now();
    let max_duration = cfg.max_duration.unwrap_or(MAX_DURATION);
    let (target_info, is_fake) = target_info(&cfg.target);
    let packs_info: Vec<PackInfo> = cfg.packs.iter().map(pack_info).collect();
    let limits = limits_policy(&cfg, is_fake, max_duration);
    let (checks, interrupted) = run_packs(Arc::new(cfg), run_start, max_duration).await;
    let finished_at = chrono::Utc::now();
    let mut report = Report {
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished_at: finished_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration_ms: run_start.elapsed().as_secs_f64() * 1000.0,
        interrupted,
        ..Report::new(target_info, packs_info, checks)
    };
    report.finalize();
    report.policy = format!("{} {limits}", report.policy);
    report
}

/// Every pack at once, each against its own target; their checks and, if
/// the run was cut short, why.
async fn run_packs(
    cfg: Arc<RunConfig>,
    run_start: Instant,
    max_duration: Duration,
) -> (Vec<CheckResult>, Option<String>) {
    let run_id = ulid::Ulid::new().to_string();
    let mut handles = Vec::new();
    for pack in cfg.packs.clone() {
        let cfg = cfg.clone();
        let run_id = run_id.clone();
        let run_end = run_start + max_duration;
        handles.push(tokio::spawn(async move {
            run_pack(&cfg, pack, run_start, run_end, run_id).await
        }));
    }
    let mut checks = Vec::new();
    let mut interrupted: Option<String> = None;
    for h in handles {
        match h.await {
            Ok((mut c, why)) => {
                checks.append(&mut c);
                if interrupted.is_none() {
                    interrupted = why;
                }
            }
            Err(e) => interrupted = Some(format!("a pack's run failed: {e}")),
        }
    }
    (checks, interrupted)
}

/// What the report says of the target (never a credential), and whether it is the fake.
fn target_info(target: &Target) -> (TargetInfo, bool) {
    match target {
        Target::Fake(o) => (
            TargetInfo {
                kind: "fake".into(),
                url: "fake (in-process, loopback)".into(),
                faults: o.faults.iter().map(|f| f.to_string()).collect(),
            },
            true,
        ),
        Target::Live(u) => (
            TargetInfo {
                kind: "live".into(),
                url: strip_credentials(u),
                faults: vec![],
            },
            false,
        ),
    }
}

/// A pack as the report names it: version, source and every file's digest.
fn pack_info(p: &Pack) -> PackInfo {
    PackInfo {
        name: p.file.name.clone(),
        version: p.file.version.clone(),
        title: p.file.title.clone(),
        source: p.source.clone(),
        scenarios: std::iter::once(ScenarioDigest {
            file: "pack.yaml".into(),
            sha256: p.pack_sha256.clone(),
        })
        .chain(p.scenarios.iter().map(|s| ScenarioDigest {
            file: s.file.clone(),
            sha256: s.sha256.clone(),
        }))
        .collect(),
    }
}

/// The run's limits, as the report's policy states them.
fn limits_policy(cfg: &RunConfig, is_fake: bool, max_duration: Duration) -> String {
    let timeouts: Vec<String> = cfg
        .packs
        .iter()
        .map(|p| {
            let inputs = target::inputs_with(&p.file, is_fake, &cfg.vars);
            format!(
                "{} {:.1} s",
                p.file.name,
                target::http_timeout(&inputs).as_secs_f64()
            )
        })
        .collect();
    format!(
        "Run limits: every request its pack's http_timeout ({}), every check {:.0} s unless its scenario sets a deadline (--check-limit), the whole run {:.0} s (--max-duration); past the run's limit the remaining checks are skipped and the verdict is INCOMPLETE.{}",
        timeouts.join(", "),
        cfg.check_limit.unwrap_or(CHECK_DEADLINE).as_secs_f64(),
        max_duration.as_secs_f64(),
        if cfg.patient {
            ""
        } else {
            " A target slower than a pack's slow_target on several answers in a row gets its verdict from the timeouts checks alone (--patient runs every check)."
        }
    )
}

/// `https://user:pass@host/x?key=…` → `https://host/x`.
pub fn strip_credentials(u: &str) -> String {
    match url::Url::parse(u) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            url.to_string().trim_end_matches('/').to_string()
        }
        Err(_) => "(unparseable URL)".into(),
    }
}

/// Why the run is to stop, once it is.
fn cancelled(cancel: &Option<watch::Receiver<Option<String>>>) -> Option<String> {
    cancel.as_ref().and_then(|c| c.borrow().clone())
}

/// Resolves with the reason when the run is to stop.
async fn wait_cancel(cancel: &Option<watch::Receiver<Option<String>>>) -> String {
    match cancel {
        Some(c) => {
            let mut c = c.clone();
            loop {
                if let Some(why) = c.borrow().clone() {
                    return why;
                }
                if c.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
        None => std::future::pending().await,
    }
}

/// Runs one pack; returns its checks and, if the run was cut short, why.
async fn run_pack(
    cfg: &RunConfig,
    pack: Pack,
    run_start: Instant,
    run_end: Instant,
    run_id: String,
) -> (Vec<CheckResult>, Option<String>) {
    let progress = |p: Progress| {
        if let Some(f) = &cfg.progress {
            f(&p)
        }
    };
    let selected: Vec<&Scenario> = pack
        .scenarios
        .iter()
        .filter(|s| {
            cfg.only.is_empty()
                || cfg
                    .only
                    .iter()
                    .any(|o| s.check_id(&pack.file).contains(o.as_str()))
        })
        .collect();
    progress(Progress::PackStarted {
        pack: pack.file.name.clone(),
        checks: selected.len(),
    });

    // The target: a fake of our own, or the live URL with keys from the environment.
    let resolved = match target::resolve(&cfg.target, &pack, &cfg.env).await {
        Ok(r) => r,
        Err(e) => {
            let why = e.to_string();
            return (error_all(&pack, &selected, &why), Some(why));
        }
    };
    let client = match target::http_client(64) {
        Ok(c) => c,
        Err(e) => {
            let why = e.to_string();
            return (error_all(&pack, &selected, &why), Some(why));
        }
    };
    let target::Resolved {
        base,
        keys,
        guard: fake,
    } = resolved;
    let mut run = PackRun::new(
        pack.clone(),
        base,
        keys,
        client,
        &cfg.vars,
        fake.is_some(),
        run_id,
    );
    run.run_start = run_start;
    run.pace = pace_of(&pack, &run.inputs, cfg.patient);
    run.check_limit = cfg.check_limit.unwrap_or(CHECK_DEADLINE);

    // Preflight: is anything answering?
    if let Some(pf) = &pack.file.preflight {
        let mut st = CheckState::default();
        let r = tokio::select! {
            r = steps::preflight(&run, pf, &mut st) => Ok(r),
            why = wait_cancel(&cfg.cancel) => Err(format!("interrupted ({why}) before the first check")),
            _ = tokio::time::sleep_until(run_end.into()) => Err(over_time(run_end - run_start)),
        };
        match r {
            Err(why) => {
                return (skip_all(&pack, &selected, &why), Some(why));
            }
            Ok(Err(e)) => {
                let why = format!("target unreachable: {}", e.context);
                let mut out = error_all(&pack, &selected, &why);
                if let Some(first) = out.first_mut() {
                    first.evidence = st.evidence;
                }
                return (out, Some(why));
            }
            Ok(Ok(())) => {
                for ex in &st.evidence {
                    run.pace
                        .observe(Duration::from_secs_f64(ex.duration_ms / 1000.0));
                }
            }
        }
    }

    check::run_checks(cfg, &run, &selected, run_end).await
}
