//! Load runs (`golive load`): a pack's weighted mix of calls sent on an
//! absolute arrival schedule (the open model, [`open`]) or by N looping
//! users (the closed model, [`closed`], on Goose), with the check engine's
//! own request rendering, keys and redaction. Results are mergeable
//! histograms ([`stats`]); the SLO gates decide the verdict ([`report`]).
//!
//! Data flows one way: plan + pack → target → scheduler → stats → report.

pub mod capacity;
pub mod closed;
pub mod mix;
pub mod open;
pub mod plan;
pub mod report;
pub mod send;
pub mod stats;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::engine::{EnvFn, PackRun, Secret, target};
use crate::fake::{FakeConfig, FakeOptions};
use crate::pack::slo::{Slo, SloMetric};
use crate::pack::{self, Pack};
pub use plan::{Plan, Segment, Stage};
use stats::RunStats;

/// What can make a load run impossible (a run that starts always ends
/// with a report; these come before any traffic).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Invalid(String),
    #[error(
        "{host} is not a loopback address: a load run against it needs --confirm-target {host}"
    )]
    Unconfirmed { host: String },
    #[error("pack `{0}` has no `load:` section (a mix of calls to send)")]
    NoMix(String),
    #[error("the built-in fake did not start: {0}")]
    Fake(String),
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
    #[error("cannot merge: {0}")]
    Merge(String),
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

/// Where the load goes.
#[derive(Debug, Clone)]
pub enum LoadTarget {
    /// The built-in fake over hyper on a free loopback port.
    Fake(FakeOptions),
    /// A live API; `confirm` must name its host unless it is loopback.
    Live {
        url: String,
        confirm: Option<String>,
    },
}

/// Why a run stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    Completed,
    Interrupted,
    Breach(String),
    Budget(String),
}

impl Stop {
    pub fn describe(&self) -> String {
        match self {
            Stop::Completed => "completed".into(),
            Stop::Interrupted => "interrupted (Ctrl-C or SIGTERM)".into(),
            Stop::Breach(w) => format!("--abort-on-fail: {w}"),
            Stop::Budget(w) => w.clone(),
        }
    }
}

/// Where an SLO came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SloSource {
    Pack,
    Cli,
}

/// A progress snapshot, twice a second.
#[derive(Debug, Clone)]
pub struct LoadProgress {
    pub elapsed: Duration,
    pub done: u64,
    pub in_flight: u64,
    pub planned: u64,
}

pub type ProgressFn = Arc<dyn Fn(&LoadProgress) + Send + Sync>;

/// Which model drives the load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    /// `--rate`/`--stage`: arrivals on a schedule.
    Open,
    /// `--users N`: N users, each sending its next request when the last
    /// answered, for the plan's duration and at most `max_requests`.
    Closed {
        users: usize,
        max_requests: Option<u64>,
    },
}

pub struct LoadConfig {
    pub pack: Pack,
    pub target: LoadTarget,
    pub vars: BTreeMap<String, String>,
    pub env: EnvFn,
    pub model: Model,
    pub plan: Plan,
    pub slos: Vec<(Slo, SloSource)>,
    pub max_in_flight: usize,
    /// Share of responses validated against their schema (0…1).
    pub schema_sample: f64,
    pub max_credits: Option<f64>,
    pub abort_on_fail: bool,
    /// When arrival 0 is due (`--start-at`, shared by every segment).
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
    pub cancel: Option<watch::Receiver<bool>>,
    pub progress: Option<ProgressFn>,
}

/// The fake's config for load runs: the contract's defaults with a rate
/// limit and balance no run reaches (`--fake-config` gives other ones).
pub fn fake_config_for_load() -> FakeConfig {
    let mut c = FakeConfig::default();
    c.rate_limit.per_second = 1_000_000.0;
    c.rate_limit.burst = 1_000_000;
    for k in &mut c.keys {
        if k.role.as_deref() == Some("valid") {
            k.credits = crate::fake::credits::Credits::from_f64(1e9).unwrap_or_default();
        }
    }
    c
}

/// Refuses a non-loopback target unless `--confirm-target` names its host.
pub fn check_target(url: &str, confirm: Option<&str>) -> Result<(), LoadError> {
    let u = url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| {
            LoadError::Invalid(format!(
                "--target must be an http(s) URL, not `{}`",
                crate::engine::strip_credentials(url)
            ))
        })?;
    let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
    let loopback = match u.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if loopback || confirm.is_some_and(|c| c.trim().eq_ignore_ascii_case(&host)) {
        Ok(())
    } else {
        Err(LoadError::Unconfirmed { host })
    }
}

/// Stops a run once an SLO breach is certain: even if every arrival still to
/// come met it, the run as planned could no longer hold it.
#[derive(Debug, Clone)]
pub struct Abort {
    pub slos: Vec<Slo>,
    pub planned: u64,
}

impl Abort {
    pub fn certain_breach(&self, s: &RunStats) -> Option<String> {
        // Cheap counters every sample; histogram scans every 64th.
        let n = self.planned.max(1) as f64;
        for slo in self.slos.iter().filter(|x| x.call.is_none()) {
            let bad = match slo.metric {
                SloMetric::Errors => s.overall.errors as f64,
                SloMetric::RateLimited => s.overall.rate_limited as f64,
                SloMetric::Dropped => s.dropped as f64,
                SloMetric::Latency(q) => {
                    if s.overall.sent % 64 != 0 {
                        continue;
                    }
                    let above = s.overall.latency.count_above_ms(slo.limit) as f64;
                    if above > (1.0 - q) * n {
                        return Some(format!(
                            "`{slo}` cannot hold: {above} of at most {n} requests are already over the limit"
                        ));
                    }
                    continue;
                }
            };
            if !slo.holds(bad / n) {
                return Some(format!(
                    "`{slo}` cannot hold: {bad} of at most {n} requests already count against it"
                ));
            }
        }
        None
    }
}

/// The raw results of a run (or one segment): what `golive merge` reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawResults {
    pub golive_load_raw: u32,
    pub golive_version: String,
    pub pack: String,
    pub model: String,
    pub target: crate::report::TargetInfo,
    pub plan: Plan,
    pub max_in_flight: u64,
    pub schema_sample: f64,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: f64,
    pub stopped: String,
    pub interrupted: bool,
    pub slos: Vec<(String, SloSource)>,
    pub endpoints: Vec<Option<String>>,
    pub notes: Vec<String>,
    /// Credits used during the run by the pack's usage route (`load.usage`),
    /// when it has one (other clients of the account count too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits_measured: Option<f64>,
    /// Closed model: how many users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<usize>,
    /// Segment files merged into these results (1 for one process).
    #[serde(default = "one")]
    pub segments: u32,
    pub stats: RunStats,
}

fn one() -> u32 {
    1
}

pub const RAW_FORMAT: u32 = 1;

/// A running target: the fake's server task (stopped on drop) or nothing.
struct Serving {
    base: String,
    keys: BTreeMap<String, Secret>,
    task: Option<tokio::task::JoinHandle<()>>,
    info: crate::report::TargetInfo,
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

async fn serve_target(cfg: &LoadConfig) -> Result<Serving, LoadError> {
    match &cfg.target {
        LoadTarget::Fake(opts) => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let o = opts.clone();
            let addr = SocketAddr::from(([127, 0, 0, 1], 0));
            let task = tokio::spawn(async move {
                let mut tx = Some(tx);
                let res = crate::fake::server::serve(o, addr, |a| {
                    if let Some(t) = tx.take() {
                        let _ = t.send(Ok(a));
                    }
                })
                .await;
                if let (Err(e), Some(t)) = (res, tx.take()) {
                    let _ = t.send(Err(e.to_string()));
                }
            });
            let bound = match tokio::time::timeout(Duration::from_secs(5), rx).await {
                Ok(Ok(Ok(a))) => a,
                Ok(Ok(Err(e))) => return Err(LoadError::Fake(e)),
                _ => return Err(LoadError::Fake("it did not answer within 5 s".into())),
            };
            let keys = target::fake_keys(&cfg.pack, &opts.config);
            Ok(Serving {
                base: format!("http://{bound}"),
                keys,
                task: Some(task),
                info: crate::report::TargetInfo {
                    kind: "fake".into(),
                    url: "fake (in-process over hyper, loopback)".into(),
                    faults: opts.faults.iter().map(|f| f.to_string()).collect(),
                },
            })
        }
        LoadTarget::Live { url, confirm } => {
            check_target(url, confirm.as_deref())?;
            let keys = target::live_keys(&cfg.pack, &cfg.env);
            for role in roles_needed(cfg) {
                if !keys.contains_key(&role) {
                    let env = cfg.pack.file.keys.get(&role).cloned().unwrap_or_default();
                    return Err(LoadError::Invalid(format!(
                        "the load mix sends the `{role}` key: set {env}"
                    )));
                }
            }
            Ok(Serving {
                base: url.trim_end_matches('/').to_string(),
                keys,
                task: None,
                info: crate::report::TargetInfo {
                    kind: "live".into(),
                    url: crate::engine::strip_credentials(url),
                    faults: vec![],
                },
            })
        }
    }
}

/// The key roles the mix's calls send (not `none` or `invalid`).
fn roles_needed(cfg: &LoadConfig) -> std::collections::BTreeSet<String> {
    let calls = cfg.pack.file.load.iter().flat_map(|l| &l.mix);
    calls
        .map(|c| c.request.key_role())
        .filter(|r| !matches!(*r, "none" | "invalid"))
        .map(str::to_string)
        .collect()
}

/// The engine's per-pack state, built for load (a larger connection pool).
fn pack_run(cfg: &LoadConfig, t: &Serving) -> Result<PackRun, LoadError> {
    let fake = matches!(cfg.target, LoadTarget::Fake(_));
    let client =
        target::http_client(cfg.max_in_flight).map_err(|e| LoadError::Client(e.to_string()))?;
    Ok(PackRun::new(
        cfg.pack.clone(),
        t.base.clone(),
        t.keys.clone(),
        client,
        &cfg.vars,
        fake,
        ulid::Ulid::new().to_string(),
    ))
}

/// Turns a wall-clock start into the runtime's clock (now if absent).
fn start_instant(
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<tokio::time::Instant, LoadError> {
    let now = tokio::time::Instant::now();
    let Some(at) = at else { return Ok(now) };
    let delta = at.signed_duration_since(chrono::Utc::now());
    if delta < -chrono::Duration::seconds(5) {
        return Err(LoadError::Invalid(format!(
            "--start-at {} is more than 5 s in the past",
            at.to_rfc3339()
        )));
    }
    if delta > chrono::Duration::hours(24) {
        return Err(LoadError::Invalid(
            "--start-at is more than a day away".into(),
        ));
    }
    Ok(match delta.to_std() {
        Ok(d) => now + d,
        Err(_) => now
            .checked_sub((-delta).to_std().unwrap_or_default())
            .unwrap_or(now),
    })
}

/// The pack's mix, and the invocation's own bounds checked.
fn load_spec(cfg: &LoadConfig) -> Result<pack::LoadSpec, LoadError> {
    if cfg.max_in_flight == 0 || cfg.max_in_flight > 100_000 {
        return Err(LoadError::Invalid(
            "--max-in-flight must be between 1 and 100000".into(),
        ));
    }
    cfg.pack
        .file
        .load
        .clone()
        .ok_or_else(|| LoadError::NoMix(cfg.pack.file.name.clone()))
}

/// The account's credits used so far, from the pack's usage route.
async fn credits_used(shared: &open::Shared, u: &pack::UsageProbe) -> Option<f64> {
    let state = crate::engine::steps::CheckState::default();
    let p = crate::engine::request::prepare(&shared.run, &u.request, &state, &[]).ok()?;
    let a = shared.sender.send(&p).await.ok()?;
    if !(200..300).contains(&a.status) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&a.body).ok()?;
    v.pointer(&u.credits_used)?.as_f64()
}

/// What one run's scheduler and request tasks share (fresh for every run).
fn shared_for(
    cfg: &LoadConfig,
    target: &Serving,
    spec: &pack::LoadSpec,
) -> Result<Arc<open::Shared>, LoadError> {
    let run = pack_run(cfg, target)?;
    let mix = mix::Mix::new(spec, &run).map_err(LoadError::Invalid)?;
    let (halt, _) = watch::channel(false);
    let sender = send::Sender::for_base(&run.base, run.client.clone(), cfg.max_in_flight);
    Ok(Arc::new(open::Shared {
        sender,
        run,
        mix,
        schema_every: if cfg.schema_sample <= 0.0 {
            0
        } else {
            (1.0 / cfg.schema_sample.min(1.0)).round().max(1.0) as u64
        },
        stopping: AtomicBool::new(false),
        in_flight: AtomicU64::new(0),
        halt,
    }))
}

/// Runs a load plan and returns the raw results (turn them into a report
/// with [`report::build`]). Errors only before any traffic.
pub async fn run(cfg: LoadConfig) -> Result<RawResults, LoadError> {
    let spec = load_spec(&cfg)?;
    start_instant(cfg.start_at)?;
    let target = serve_target(&cfg).await?;
    let shared = shared_for(&cfg, &target, &spec)?;
    let used_before = match &spec.usage {
        Some(u) => credits_used(&shared, u).await,
        None => None,
    };
    let start = start_instant(cfg.start_at)?;
    let endpoints = spec
        .mix
        .iter()
        .map(|c| c.request.endpoint.as_deref().map(str::to_string))
        .collect();
    let started_at = chrono::Utc::now();
    let t0 = std::time::Instant::now();
    let cancel = cfg
        .cancel
        .clone()
        .unwrap_or_else(|| watch::channel(false).1);
    let abort = cfg.abort_on_fail.then(|| Abort {
        slos: cfg.slos.iter().map(|(s, _)| s.clone()).collect(),
        planned: cfg.plan.own(),
    });
    let (stats, stop, model, notes) = match cfg.model {
        Model::Open => {
            let opts = open::OpenOptions {
                max_in_flight: cfg.max_in_flight,
                max_credits: cfg.max_credits,
                start,
            };
            let (s, stop) = open::run(
                shared.clone(),
                &cfg.plan,
                &opts,
                cancel,
                abort,
                cfg.progress.clone(),
            )
            .await;
            (s, stop, "open", vec![
                "latency runs from each arrival's intended send time: a slow or stalled server shows in full (no coordinated omission)".to_string(),
            ])
        }
        Model::Closed {
            users,
            max_requests,
        } => {
            let cap = max_requests.unwrap_or(plan::MAX_ARRIVALS);
            let (s, stop) = closed::run(shared.clone(), &cfg.plan, users, cap, cancel).await?;
            (s, stop, "closed", vec![
                "closed model: each user sends its next request only when the last answered, so latency runs from the actual send and a stalled server is hidden in these percentiles (it shows as a lower rate instead)".to_string(),
            ])
        }
    };
    let credits_measured = match (&spec.usage, used_before) {
        (Some(u), Some(b)) => credits_used(&shared, u).await.map(|a| a - b),
        _ => None,
    };
    let finished_at = chrono::Utc::now();
    Ok(RawResults {
        credits_measured,
        golive_load_raw: RAW_FORMAT,
        golive_version: env!("CARGO_PKG_VERSION").to_string(),
        pack: cfg.pack.file.name.clone(),
        model: model.into(),
        target: target.info.clone(),
        plan: cfg.plan.clone(),
        max_in_flight: cfg.max_in_flight as u64,
        schema_sample: cfg.schema_sample,
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished_at: finished_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration_ms: t0.elapsed().as_secs_f64() * 1000.0,
        interrupted: matches!(stop, Stop::Interrupted),
        stopped: stop.describe(),
        slos: cfg
            .slos
            .iter()
            .map(|(s, src)| (s.text.clone(), *src))
            .collect(),
        endpoints,
        notes,
        users: match cfg.model {
            Model::Closed { users, .. } => Some(users),
            Model::Open => None,
        },
        segments: 1,
        stats,
    })
}

/// Reads raw results files and merges them into one (same pack and plan,
/// different segments); percentiles then come from the merged histograms.
pub fn merge(files: &[(String, String)]) -> Result<RawResults, LoadError> {
    let mut out: Option<RawResults> = None;
    let mut seen = std::collections::BTreeSet::new();
    for (path, text) in files {
        let r: RawResults = serde_json::from_str(text).map_err(|e| LoadError::File {
            path: path.clone(),
            message: format!("not golive load results: {e}"),
        })?;
        if r.golive_load_raw != RAW_FORMAT {
            return Err(LoadError::File {
                path: path.clone(),
                message: format!(
                    "results format {} (this golive reads {RAW_FORMAT})",
                    r.golive_load_raw
                ),
            });
        }
        if !seen.insert(r.plan.segment.index) {
            return Err(LoadError::Merge(format!(
                "{path}: segment {} is given twice",
                r.plan.segment.index
            )));
        }
        match &mut out {
            None => out = Some(r),
            Some(acc) => {
                let mut a = acc.plan.clone();
                let mut b = r.plan.clone();
                a.segment = Segment::default();
                b.segment = Segment::default();
                if a != b || acc.pack != r.pack || acc.plan.segment.of != r.plan.segment.of {
                    return Err(LoadError::Merge(format!(
                        "{path} is from another plan or pack"
                    )));
                }
                acc.stats.merge(&r.stats)?;
                // Each segment saw the others' spending too.
                acc.credits_measured = None;
                acc.duration_ms = acc.duration_ms.max(r.duration_ms);
                acc.started_at = acc.started_at.clone().min(r.started_at.clone());
                acc.finished_at = acc.finished_at.clone().max(r.finished_at.clone());
                acc.interrupted |= r.interrupted;
                if r.stopped != "completed" {
                    acc.stopped = format!("{path}: {}", r.stopped);
                }
            }
        }
    }
    let mut out = out.ok_or_else(|| LoadError::Merge("no file to merge".into()))?;
    out.segments = seen.len() as u32;
    Ok(out)
}
