//! Runs packs against a target and judges every check. A failed check is data
//! in the report, never an `Err`; the run always ends with a report, even when
//! the target is unreachable or the run is interrupted.

mod burst;
pub mod collect;
pub mod http;
mod judge;
pub mod pace;
mod poll;
pub mod request;
pub mod retry;
pub mod steps;
/// The terminal summary now lives with the other renderers; this path stays
/// for callers not yet moved (`progress.rs`, `tests/it/check.rs`).
pub use crate::report::terminal as summary;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

use crate::fake::{FakeApi, FakeOptions};
use crate::pack::{self, AuthSpec, Pack, Scenario, Step, template};
use crate::report::{
    CheckResult, Finding, FindingLevel, PackInfo, Report, ScenarioDigest, Status, TargetInfo,
    Totals, Verdict,
};
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
    pack.file.fake.is_none().then(|| {
        format!(
            "pack `{}` has no built-in fake (its pack.yaml sets no `fake:`): it needs --target URL, the base URL of the live API",
            pack.file.name
        )
    })
}
/// Default limit of a whole run (`--max-duration`).
pub const MAX_DURATION: Duration = Duration::from_secs(300);

/// Runs every pack and returns the report (never fails: problems are findings).
pub async fn run(cfg: RunConfig) -> Report {
    let started_at = chrono::Utc::now();
    let run_start = Instant::now();
    let max_duration = cfg.max_duration.unwrap_or(MAX_DURATION);
    let run_id = ulid::Ulid::new().to_string();
    let (target_info, is_fake) = match &cfg.target {
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
    };
    let packs_info: Vec<PackInfo> = cfg
        .packs
        .iter()
        .map(|p| PackInfo {
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
        })
        .collect();

    let cfg = Arc::new(cfg);
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
    let finished_at = chrono::Utc::now();
    let mut report = Report {
        format_version: crate::report::REPORT_FORMAT_VERSION,
        golive_version: env!("CARGO_PKG_VERSION").to_string(),
        verdict: Verdict::Incomplete,
        verdict_reason: String::new(),
        policy: String::new(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished_at: finished_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration_ms: run_start.elapsed().as_secs_f64() * 1000.0,
        target: target_info,
        packs: packs_info,
        interrupted,
        totals: Totals::default(),
        checks,
        load: None,
        capacity: None,
    };
    report.finalize();
    let timeouts: Vec<String> = cfg
        .packs
        .iter()
        .map(|p| {
            let inputs = pack::inputs_with(&p.file, is_fake, &cfg.vars);
            format!(
                "{} {:.1} s",
                p.file.name,
                http_timeout(&inputs).as_secs_f64()
            )
        })
        .collect();
    report.policy = format!(
        "{} Run limits: every request its pack's http_timeout ({}), every check {:.0} s unless its scenario sets a deadline (--check-limit), the whole run {:.0} s (--max-duration); past the run's limit the remaining checks are skipped and the verdict is INCOMPLETE.{}",
        report.policy,
        timeouts.join(", "),
        cfg.check_limit.unwrap_or(CHECK_DEADLINE).as_secs_f64(),
        max_duration.as_secs_f64(),
        if cfg.patient {
            ""
        } else {
            " A target slower than a pack's slow_target on several answers in a row gets its verdict from the timeouts checks alone (--patient runs every check)."
        }
    );
    report
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

fn result_for(pack: &Pack, sc: &Scenario, status: Status, summary: String) -> CheckResult {
    CheckResult {
        id: format!("{}.{}", pack.file.name, sc.spec.id),
        pack: pack.file.name.clone(),
        family: sc.spec.family,
        severity: sc.severity(&pack.file),
        status,
        title: sc.spec.title.clone(),
        summary,
        duration_ms: 0.0,
        scenario: Some(sc.file.clone()),
        findings: vec![],
        evidence: vec![],
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
                    .any(|o| format!("{}.{}", pack.file.name, s.spec.id).contains(o.as_str()))
        })
        .collect();
    progress(Progress::PackStarted {
        pack: pack.file.name.clone(),
        checks: selected.len(),
    });

    // The target: a fake of our own, or the live URL with keys from the environment.
    // A pack the fake does not implement is not sent to a fake of another API.
    if matches!(cfg.target, Target::Fake(_))
        && let Some(why) = fake_cannot_serve(&pack)
    {
        return (error_all(&pack, &selected, &why), Some(why));
    }
    let mut _fake: Option<FakeApi> = None;
    let mut keys: BTreeMap<String, Secret> = BTreeMap::new();
    let base = match &cfg.target {
        Target::Fake(opts) => match FakeApi::start(opts.clone()).await {
            Ok(api) => {
                for (role, env_name) in &pack.file.keys {
                    if let Some(k) = opts.config.key(role) {
                        keys.insert(role.clone(), Secret::new(k, env_name.clone()));
                    }
                }
                let url = api.url();
                _fake = Some(api);
                url
            }
            Err(e) => {
                let why = format!("the built-in fake did not start: {e}");
                return (error_all(&pack, &selected, &why), Some(why));
            }
        },
        Target::Live(u) => {
            for (role, env_name) in &pack.file.keys {
                if let Some(k) = (cfg.env)(env_name).filter(|k| !k.trim().is_empty()) {
                    keys.insert(role.clone(), Secret::new(k.trim(), env_name.clone()));
                }
            }
            u.trim_end_matches('/').to_string()
        }
    };
    let served_by_fake = matches!(cfg.target, Target::Fake(_)) && pack.file.fake.is_some();
    let inputs = pack::inputs_with(&pack.file, served_by_fake, &cfg.vars);
    let inputs_for_pace = inputs.clone();
    let http_timeout = http_timeout(&inputs);
    let client = match reqwest::Client::builder()
        .user_agent(concat!("golive/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            let why = format!("the HTTP client could not be built: {e}");
            return (error_all(&pack, &selected, &why), Some(why));
        }
    };
    let redactor = Redactor::new(keys.values().cloned().collect());
    let run = PackRun {
        request_id: http::RequestIdSource {
            header: pack.file.request_id.header.clone(),
            pointer: pack.file.request_id.error_pointer.clone(),
        },
        pack: pack.clone(),
        client,
        base,
        keys,
        invalid_key: format!("sk_golive_invalid_{}", &run_id.to_ascii_lowercase()[..12]),
        inputs,
        run_start,
        run_id,
        redactor,
        http_timeout,
        limited: AtomicBool::new(false),
        stuck_job: Mutex::new(None),
        pace: pace_of(&pack, &inputs_for_pace, cfg.patient),
        check_limit: cfg.check_limit.unwrap_or(CHECK_DEADLINE),
    };

    // Preflight: is anything answering?
    if let Some(pf) = &pack.file.preflight {
        let mut st = CheckState::default();
        let step = Step {
            name: Some("preflight".into()),
            when: None,
            request: Some(pf.clone()),
            for_each: None,
            poll: None,
            burst: None,
            repeat: None,
            wait: None,
            assert: None,
            expect: None,
            capture: Default::default(),
            raw: true,
        };
        let fake_sc = Scenario {
            file: "pack.yaml".into(),
            sha256: String::new(),
            spec: crate::pack::ScenarioFile {
                id: "preflight".into(),
                family: crate::report::Family::Timeouts,
                title: "preflight".into(),
                severity: crate::report::Severity::Blocker,
                basis: None,
                description: None,
                collect_schema_findings: false,
                collect_request_ids: None,
                deadline: None,
                steps: vec![step],
            },
        };
        let r = tokio::select! {
            r = steps::run_steps(&run, &fake_sc, &mut st) => Ok(r),
            why = wait_cancel(&cfg.cancel) => Err(format!("interrupted ({why}) before the first check")),
            _ = tokio::time::sleep_until(run_end.into()) => Err(over_time(run_end - run_start)),
        };
        match r {
            Err(why) => {
                return (skip_all(&pack, &selected, &why), Some(why));
            }
            Ok(Err(e)) => {
                let why = format!(
                    "target unreachable: {}",
                    e.trim_start_matches("step 1 `preflight`: ")
                );
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

    // Pack-wide checks (schema, request ids) run last, over everything else.
    let mut order: Vec<&Scenario> = selected
        .iter()
        .copied()
        .filter(|s| !is_collector(s))
        .collect();
    order.extend(selected.iter().copied().filter(|s| is_collector(s)));
    let n = order.len();
    let mut results: Vec<CheckResult> = Vec::new();
    let mut pool: Vec<collect::Seen> = Vec::new();
    let mut interrupted = None;
    // Checks in a row that ended on a transport failure: after
    // STOPPED_ANSWERING of them the target is taken to have stopped answering,
    // and the rest are not sent into the same timeouts one by one.
    let mut dead_in_a_row = 0usize;
    let mut dead_reason = String::new();
    for (i, sc) in order.iter().enumerate() {
        let id = format!("{}.{}", pack.file.name, sc.spec.id);
        if dead_in_a_row >= STOPPED_ANSWERING {
            results.push(result_for(
                &pack,
                sc,
                Status::Error,
                format!("not run: the target stopped answering ({dead_reason})"),
            ));
            continue;
        }
        if interrupted.is_none() {
            interrupted = cancelled(&cfg.cancel)
                .map(|why| format!("interrupted ({why})"))
                .or_else(|| (Instant::now() >= run_end).then(|| over_time(run_end - run_start)));
        }
        if let Some(why) = interrupted.clone() {
            results.push(result_for(
                &pack,
                sc,
                Status::Skip,
                format!("not run: {why}"),
            ));
            continue;
        }
        if let Some(why) = run.pace.slow().filter(|_| !judges_speed(sc)) {
            results.push(result_for(
                &pack,
                sc,
                Status::Skip,
                format!("not run: {why}"),
            ));
            continue;
        }
        progress(Progress::CheckStarted {
            pack: pack.file.name.clone(),
            check: id.clone(),
            index: i + 1,
            of: n,
        });
        let mut res = if let Some(why) = missing_requirements(&run, sc) {
            result_for(&pack, sc, Status::Skip, why)
        } else {
            let (res, cut_short) = run_check(cfg, &run, sc, &id, &mut pool, run_end).await;
            interrupted = interrupted.or(cut_short);
            res
        };
        if res.status == Status::Skip && res.summary.is_empty() {
            res.summary = "skipped".into();
        }
        let transport_failure = res.status == Status::Error
            && res.evidence.last().is_some_and(|e| e.response.is_none());
        if transport_failure {
            dead_in_a_row += 1;
            dead_reason = res.summary.clone();
        } else {
            dead_in_a_row = 0;
        }
        progress(Progress::CheckFinished {
            pack: pack.file.name.clone(),
            check: id,
            status: res.status,
            summary: res.summary.clone(),
        });
        results.push(res);
    }
    // Report in file order, not run order.
    results.sort_by_key(|r| {
        pack.scenarios
            .iter()
            .position(|s| Some(&s.file) == r.scenario.as_ref())
            .unwrap_or(usize::MAX)
    });
    (results, interrupted)
}

/// Runs one check under its deadline, the run's limit and the signal watch;
/// returns its result and, when the run was cut short during it, why.
async fn run_check(
    cfg: &RunConfig,
    run: &PackRun,
    sc: &Scenario,
    id: &str,
    pool: &mut Vec<collect::Seen>,
    run_end: Instant,
) -> (CheckResult, Option<String>) {
    let t0 = Instant::now();
    let mut st = CheckState::for_check(id);
    let deadline = sc
        .spec
        .deadline
        .as_deref()
        .and_then(|d| template::render(d, &|n: &str| run.inputs.get(n).cloned()).ok())
        .and_then(|d| template::parse_duration(&d).ok())
        .unwrap_or(run.check_limit);
    let check_end = (Instant::now() + deadline).min(run_end);
    st.deadline = Some(check_end);
    let outcome = tokio::select! {
        r = steps::run_steps(run, sc, &mut st) => r.map_err(Ok),
        _ = tokio::time::sleep_until(check_end.into()) => Err(if check_end < run_end {
            Ok(format!("the check did not finish within its {:.0} s deadline", deadline.as_secs_f64()))
        } else {
            Err(over_time(run_end - run.run_start))
        }),
        why = wait_cancel(&cfg.cancel) => Err(Err(format!("interrupted ({why})"))),
        why = run.pace.wait_slow(), if !judges_speed(sc) => Err(Ok(format!("not finished: {why}"))),
    };
    let mut res = result_for(&run.pack, sc, Status::Pass, String::new());
    let mut cut_short = None;
    let error = match outcome {
        Ok(()) => None,
        Err(Ok(e)) => Some(run.redactor.redact(&e)),
        Err(Err(why)) => {
            let e = format!("{why} while this check ran");
            cut_short = Some(why);
            Some(e)
        }
    };
    if is_collector(sc) {
        collect::judge_pool(run, sc, pool, &mut st);
    }
    pool.extend(collect::seen(&sc.spec.id, &st));
    res.duration_ms = t0.elapsed().as_secs_f64() * 1000.0;
    res.findings = std::mem::take(&mut st.findings);
    res.evidence = std::mem::take(&mut st.evidence);
    settle(&mut res, error);
    (res, cut_short)
}

/// A pack's per-request timeout (`http_timeout`, 10 s when unset or unreadable).
fn http_timeout(inputs: &BTreeMap<String, Value>) -> Duration {
    inputs
        .get("http_timeout")
        .map(template::display)
        .and_then(|s| template::parse_duration(&s).ok())
        .unwrap_or(Duration::from_secs(10))
}

/// Why the rest of a run that reached its `--max-duration` was not run.
fn over_time(limit: Duration) -> String {
    format!(
        "the run reached its time limit of {:.0} s (--max-duration)",
        limit.as_secs_f64()
    )
}

/// The checks that still run against a slow target: they judge its speed.
fn judges_speed(sc: &Scenario) -> bool {
    sc.spec.family == crate::report::Family::Timeouts
}

/// The pack's `slow_target` watch (off with `--patient`, or when unreadable).
fn pace_of(pack: &Pack, inputs: &BTreeMap<String, Value>, patient: bool) -> pace::Pace {
    let threshold = pack
        .file
        .slow_target
        .as_ref()
        .filter(|_| !patient)
        .and_then(|s| {
            let text = template::render(&s.slower_than, &|n: &str| inputs.get(n).cloned()).ok()?;
            template::parse_duration(&text).ok()
        });
    let answers = pack.file.slow_target.as_ref().map_or(3, |s| s.answers);
    pace::Pace::new(threshold, answers)
}

fn is_collector(sc: &Scenario) -> bool {
    sc.spec.collect_schema_findings || sc.spec.collect_request_ids.is_some()
}

/// Sets status and summary from the findings (and an error, if any).
fn settle(res: &mut CheckResult, error: Option<String>) {
    let fails: Vec<&Finding> = res
        .findings
        .iter()
        .filter(|f| f.level == FindingLevel::Fail)
        .collect();
    let warns: Vec<&Finding> = res
        .findings
        .iter()
        .filter(|f| f.level == FindingLevel::Warn)
        .collect();
    let first = |v: &[&Finding]| {
        let f = v[0];
        let more = if v.len() > 1 {
            format!(" (+{} more)", v.len() - 1)
        } else {
            String::new()
        };
        format!("{}: {}{more}", f.step, f.message)
    };
    (res.status, res.summary) = if !fails.is_empty() {
        // A failure stands; why the check stopped early is said too.
        match error {
            Some(e) => (
                Status::Fail,
                format!("{}; the check ended: {e}", first(&fails)),
            ),
            None => (Status::Fail, first(&fails)),
        }
    } else if let Some(e) = error {
        (Status::Error, e)
    } else if !warns.is_empty() {
        (Status::Warn, first(&warns))
    } else {
        (Status::Pass, res.title.clone())
    };
}

fn error_all(pack: &Pack, scs: &[&Scenario], why: &str) -> Vec<CheckResult> {
    scs.iter()
        .map(|s| result_for(pack, s, Status::Error, why.to_string()))
        .collect()
}

fn skip_all(pack: &Pack, scs: &[&Scenario], why: &str) -> Vec<CheckResult> {
    scs.iter()
        .map(|s| result_for(pack, s, Status::Skip, format!("not run: {why}")))
        .collect()
}

/// Why a check cannot run here (a key role or an input it needs is missing).
fn missing_requirements(run: &PackRun, sc: &Scenario) -> Option<String> {
    let mut roles = std::collections::BTreeSet::new();
    let mut names = Vec::new();
    let add_req = |r: &pack::RequestSpec,
                   roles: &mut std::collections::BTreeSet<String>,
                   names: &mut Vec<String>| {
        match &r.auth {
            None => {
                roles.insert("valid".to_string());
            }
            Some(AuthSpec::Role(x)) => {
                roles.insert(x.clone());
            }
            Some(AuthSpec::Full(f)) => {
                roles.insert(f.key.clone());
            }
        }
        if let Some(j) = &r.json {
            template::names_in_value(j, names);
        }
        for v in r
            .params
            .values()
            .chain(r.query.values())
            .chain(r.headers.values())
        {
            names.extend(template::names(v));
        }
        if let Some(p) = &r.path {
            names.extend(template::names(p));
        }
        if let Some(mp) = &r.multipart {
            for v in mp.fields.values() {
                names.extend(template::names(v));
            }
        }
    };
    for s in &sc.spec.steps {
        for r in [
            s.request.as_ref(),
            s.poll.as_ref().map(|p| &p.request),
            s.burst.as_ref().map(|b| &b.request),
        ]
        .into_iter()
        .flatten()
        {
            add_req(r, &mut roles, &mut names);
        }
    }
    for role in roles {
        if matches!(role.as_str(), "none" | "invalid") {
            continue;
        }
        if !run.keys.contains_key(&role) {
            let env = run.pack.file.keys.get(&role).cloned().unwrap_or_default();
            return Some(format!("needs the `{role}` key: set {env}"));
        }
    }
    for n in names {
        if let Some(v) = run.inputs.get(&n) {
            if v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty()) {
                return Some(format!("needs the input `{n}`: pass --var {n}=…"));
            }
        }
    }
    None
}
