//! `golive capacity`: the highest arrival rate at which every SLO holds and
//! at least 99 % of arrivals are sent. Each step is an open-model run at one
//! rate (a warm-up, then a measured window, against the same target); the
//! rate doubles until a step breaks, then bisects between the last step that
//! held and the first that broke until they are within the precision. A step
//! broken only by 429s is the rate limiter's ceiling, reported as such.
//! Bounded by a step count and a request budget.

use std::sync::Arc;

use tokio::sync::watch;

use super::open::{self, OpenOptions};
use super::plan::{Plan, Segment, Stage};
use super::stats::{Hist, RunStats};
use super::{LoadConfig, LoadError, Serving, Stop, serve_target, shared_for};
use crate::pack::LoadSpec;
use crate::pack::slo::{Slo, SloMetric};
use crate::report::{
    CapacitySection, CapacityStep, CheckResult, Family, Finding, FindingLevel, PackInfo, Report,
    Severity, Status,
};

/// Arrivals that must be sent for a step to hold.
pub const SENT_SHARE: f64 = 0.99;
/// The most steps a search runs.
pub const MAX_STEPS: usize = 24;

#[derive(Debug, Clone)]
pub struct CapacityOptions {
    pub start_rate: f64,
    pub max_rate: f64,
    /// Whole seconds (the timeline's buckets are a second wide).
    pub warmup_s: u64,
    pub window_s: u64,
    /// Stop when the next step would take the total past this.
    pub max_requests: u64,
    /// Stop narrowing when (broke − held) ÷ held is at most this.
    pub precision: f64,
}

/// What a search found, with the target it ran against.
#[derive(Debug, Clone)]
pub struct CapacityResults {
    pub section: CapacitySection,
    pub target: crate::report::TargetInfo,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: f64,
    pub interrupted: bool,
}

/// The window's numbers for one step.
fn judge_window(
    rate: f64,
    s: &RunStats,
    o: &CapacityOptions,
    slos: &[Slo],
) -> (CapacityStep, bool) {
    let from = (o.warmup_s * 1000 / s.bucket_ms) as usize;
    let mut hist = Hist::coarse();
    let (mut sent, mut errors, mut limited, mut dropped) = (0, 0, 0, 0);
    for b in s.timeline.iter().skip(from) {
        let _ = hist.add(&b.latency);
        sent += b.sent;
        errors += b.errors;
        limited += b.rate_limited;
        dropped += b.dropped;
    }
    let share = |n: u64, of: u64| if of > 0 { n as f64 / of as f64 } else { 0.0 };
    let arrivals = sent + dropped;
    let sent_share = share(sent, arrivals);
    let window = o.window_s.max(1) as f64;
    let mut broken = vec![];
    let mut only_429 = true;
    for slo in slos.iter().filter(|x| x.call.is_none()) {
        let v = match slo.metric {
            SloMetric::Latency(q) if q >= 1.0 => hist.max_ms(),
            SloMetric::Latency(q) => hist.ms_at(q),
            SloMetric::Errors => Some(share(errors, sent)),
            SloMetric::RateLimited => Some(share(limited, sent)),
            SloMetric::Dropped => Some(share(dropped, arrivals)),
        };
        if let Some(v) = v.filter(|v| !slo.holds(*v)) {
            broken.push(format!("{slo} ({})", slo.show(v)));
            only_429 &= slo.metric == SloMetric::RateLimited;
        }
    }
    if sent_share < SENT_SHARE {
        broken.push(format!("sent {:.1} % of arrivals", sent_share * 100.0));
        only_429 = false;
    }
    let step = CapacityStep {
        rate,
        achieved_rate: sent as f64 / window,
        sent_share,
        p50_ms: hist.ms_at(0.5),
        p95_ms: hist.ms_at(0.95),
        p99_ms: hist.ms_at(0.99),
        error_rate: share(errors, sent),
        rate_limited_rate: share(limited, sent),
        held: broken.is_empty() && sent > 0,
        broken,
    };
    let limiter = !step.held && only_429;
    (step, limiter)
}

/// The next rate to try, or `None` when the search is done.
fn next_rate(held: Option<f64>, broke: Option<f64>, last: f64, o: &CapacityOptions) -> Option<f64> {
    match (held, broke) {
        (Some(h), Some(b)) if (b - h) / h <= o.precision => None,
        (Some(h), Some(b)) => Some((h + b) / 2.0),
        (Some(_), None) if last >= o.max_rate => None,
        (Some(_), None) => Some((last * 2.0).min(o.max_rate)),
        (None, Some(b)) if b / 2.0 < 0.1 => None,
        (None, Some(b)) => Some(b / 2.0),
        (None, None) => Some(o.start_rate),
    }
}

/// What every step of a search runs against, and by which rules.
struct Search<'a> {
    cfg: &'a LoadConfig,
    o: &'a CapacityOptions,
    spec: &'a LoadSpec,
    target: &'a Serving,
    slos: &'a [Slo],
    cancel: watch::Receiver<bool>,
}

/// What a search has found so far.
struct Found {
    held: Option<f64>,
    broke: Option<f64>,
    limited_by: Option<String>,
    ceiling: Option<f64>,
    steps: Vec<CapacityStep>,
    requests: u64,
    stopped: String,
    interrupted: bool,
}

/// Runs the search against one target (started once, shared by every step).
pub async fn run(cfg: LoadConfig, o: CapacityOptions) -> Result<CapacityResults, LoadError> {
    let spec = super::load_spec(&cfg)?;
    let slos: Vec<Slo> = cfg.slos.iter().map(|(s, _)| s.clone()).collect();
    check_options(&slos, &o)?;
    let target = serve_target(&cfg).await?;
    let cancel = cfg
        .cancel
        .clone()
        .unwrap_or_else(|| watch::channel(false).1);
    let started_at = chrono::Utc::now();
    let t0 = std::time::Instant::now();
    let search = Search {
        cfg: &cfg,
        o: &o,
        spec: &spec,
        target: &target,
        slos: &slos,
        cancel,
    };
    let found = search.run_steps().await?;
    let interrupted = found.interrupted;
    let section = found.section(cfg.pack.file.name.clone(), &o, &slos);
    Ok(CapacityResults {
        section,
        target: target.info.clone(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration_ms: t0.elapsed().as_secs_f64() * 1000.0,
        interrupted,
    })
}

/// Refuses a search without an SLO over every request, or with a window or
/// rates it cannot run.
fn check_options(slos: &[Slo], o: &CapacityOptions) -> Result<(), LoadError> {
    if slos.iter().all(|s| s.call.is_some()) {
        return Err(LoadError::Invalid(
            "capacity needs at least one SLO over every request (e.g. --slo 'p95<800ms')".into(),
        ));
    }
    if o.window_s == 0 || o.start_rate <= 0.0 || o.max_rate < o.start_rate {
        return Err(LoadError::Invalid(
            "capacity needs a window ≥ 1 s and 0 < start rate ≤ max rate".into(),
        ));
    }
    Ok(())
}

impl Search<'_> {
    /// Runs step after step, each at the next rate, until the search is
    /// done, out of steps or budget, or interrupted.
    async fn run_steps(&self) -> Result<Found, LoadError> {
        let o = self.o;
        let mut f = Found::new();
        let mut rate = o.start_rate;
        for n in 0..=MAX_STEPS {
            if n == MAX_STEPS {
                f.stopped = format!("stopped after {MAX_STEPS} steps");
                break;
            }
            let secs = o.warmup_s + o.window_s;
            let cost = (rate * secs as f64).ceil() as u64;
            if f.requests + cost > o.max_requests {
                f.stopped = format!(
                    "stopped at the request budget ({} of {} sent; the next step needed {cost})",
                    f.requests, o.max_requests
                );
                break;
            }
            let (stats, stop) = self.step(rate, secs).await?;
            f.requests += stats.overall.sent;
            if stop == Stop::Interrupted {
                f.interrupted = true;
                f.stopped = Stop::Interrupted.describe();
                break;
            }
            let (step, limiter) = judge_window(rate, &stats, o, self.slos);
            f.record(rate, step, limiter);
            match next_rate(f.held, f.broke, rate, o) {
                Some(r) => rate = r,
                None => {
                    f.done(o);
                    break;
                }
            }
        }
        Ok(f)
    }

    /// One open-model run at `rate` for `secs` seconds.
    async fn step(&self, rate: f64, secs: u64) -> Result<(RunStats, Stop), LoadError> {
        let stage = Stage {
            duration_ms: secs * 1000,
            rate,
        };
        let plan = Plan::new(vec![stage], None, Segment::default())?;
        let shared = shared_for(self.cfg, self.target, self.spec)?;
        let opts = OpenOptions {
            max_in_flight: self.cfg.max_in_flight,
            max_credits: None,
            start: tokio::time::Instant::now(),
        };
        Ok(open::run(
            Arc::clone(&shared),
            &plan,
            &opts,
            self.cancel.clone(),
            None,
            None,
        )
        .await)
    }
}

impl Found {
    /// Nothing found yet.
    fn new() -> Self {
        Found {
            held: None,
            broke: None,
            limited_by: None,
            ceiling: None,
            steps: vec![],
            requests: 0,
            stopped: "narrowed to the precision".to_string(),
            interrupted: false,
        }
    }

    /// Adds a judged step: it raises the highest rate that held or lowers
    /// the lowest that broke (with what broke it).
    fn record(&mut self, rate: f64, step: CapacityStep, limiter: bool) {
        if step.held {
            self.held = Some(self.held.map_or(rate, |h| h.max(rate)));
        } else if self.broke.is_none_or(|b| rate < b) {
            self.broke = Some(rate);
            self.limited_by = Some(
                if limiter {
                    "rate_limiter"
                } else if step.sent_share < SENT_SHARE {
                    "sending"
                } else {
                    "slo"
                }
                .to_string(),
            );
            self.ceiling = limiter.then_some(step.achieved_rate * (1.0 - step.rate_limited_rate));
        }
        self.steps.push(step);
    }

    /// Says why the search ended when there is no next rate to try.
    fn done(&mut self, o: &CapacityOptions) {
        if self.broke.is_none() {
            self.stopped = format!("every step held up to --max-rate {}", o.max_rate);
        } else if self.held.is_none() {
            self.stopped = "not even the lowest rate held".into();
        }
    }

    /// The capacity section of the report.
    fn section(self, pack: String, o: &CapacityOptions, slos: &[Slo]) -> CapacitySection {
        CapacitySection {
            pack,
            knee_rate: self.held,
            broke_at: self.broke,
            limited_by: self.limited_by,
            limiter_ceiling: self.ceiling,
            precision: self.held.zip(self.broke).map(|(h, b)| (b - h) / h),
            warmup_ms: o.warmup_s * 1000,
            window_ms: o.window_s * 1000,
            requests: self.requests,
            max_requests: o.max_requests,
            slos: slos.iter().map(|s| s.text.clone()).collect(),
            stopped: self.stopped,
            steps: self.steps,
        }
    }
}

/// The readiness report of a capacity search: one check (`load.capacity`),
/// passing when a knee was found within the precision.
pub fn report(r: &CapacityResults, pack: Option<PackInfo>) -> Report {
    let c = &r.section;
    let (status, summary) = match (c.knee_rate, c.broke_at) {
        (Some(k), Some(b)) if c.limited_by.as_deref() == Some("rate_limiter") => (
            Status::Pass,
            format!(
                "every SLO held up to {k:.1}/s; at {b:.1}/s only the 429 SLOs broke: the rate limiter's ceiling is about {:.1}/s accepted, not the API's capacity",
                c.limiter_ceiling.unwrap_or(0.0)
            ),
        ),
        (Some(k), Some(b)) => (
            Status::Pass,
            format!(
                "capacity {k:.1}/s: every SLO held there and broke at {b:.1}/s ({})",
                c.limited_by.as_deref().unwrap_or("slo")
            ),
        ),
        (Some(k), None) => (
            Status::Skip,
            format!(
                "every SLO held up to {k:.1}/s; no step broke ({})",
                c.stopped
            ),
        ),
        (None, Some(b)) => (Status::Fail, format!("not even {b:.1}/s held its SLOs")),
        (None, None) => (Status::Skip, format!("no step finished ({})", c.stopped)),
    };
    let findings = if status == Status::Fail {
        vec![Finding {
            expected: Some(c.slos.join(", ")),
            actual: c.steps.first().map(|s| s.broken.join(", ")),
            ..Finding::new(FindingLevel::Fail, None, "capacity", summary.clone())
        }]
    } else {
        vec![]
    };
    let check = CheckResult {
        id: format!("{}.load.capacity", c.pack),
        pack: c.pack.clone(),
        family: Family::Load,
        severity: Severity::Blocker,
        status,
        title: "Capacity within the SLOs".into(),
        summary,
        duration_ms: r.duration_ms,
        scenario: None,
        findings,
        evidence: vec![],
    };
    let mut report = Report {
        started_at: r.started_at.clone(),
        finished_at: r.finished_at.clone(),
        duration_ms: r.duration_ms,
        interrupted: r.interrupted.then(|| c.stopped.clone()),
        capacity: Some(c.clone()),
        ..Report::new(r.target.clone(), pack.into_iter().collect(), vec![check])
    };
    report.finalize();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_doubles_then_bisects_to_the_precision() {
        let o = CapacityOptions {
            start_rate: 10.0,
            max_rate: 1000.0,
            warmup_s: 1,
            window_s: 1,
            max_requests: 1_000_000,
            precision: 0.05,
        };
        let knee = 137.0;
        let (mut held, mut broke, mut rate, mut n) = (None, None, 10.0, 0);
        while n < MAX_STEPS {
            n += 1;
            if rate <= knee {
                held = Some(held.map_or(rate, |h: f64| h.max(rate)));
            } else if broke.is_none_or(|b| rate < b) {
                broke = Some(rate);
            }
            match next_rate(held, broke, rate, &o) {
                Some(r) => rate = r,
                None => break,
            }
        }
        let (h, b) = (held.unwrap(), broke.unwrap());
        assert!(h <= knee && b > knee && (b - h) / h <= 0.05, "{h} {b}");
        assert!(n < 12, "{n} steps");
    }
}
