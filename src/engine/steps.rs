//! Running one scenario's steps: templating, sending, expectations, captures.
//! A broken expectation becomes a `Finding`; only problems that stop the
//! check from establishing anything are `Err(String)` (status `error`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::PackRun;
use super::burst::run_burst;
use super::http::{self, Prepared, Received};
use super::judge::{header_any, judge, short_body};
use super::poll::run_poll;
use super::request::{Lookup, prepare};
use super::retry::send_with_retry;
use super::step_error::StepError;
use super::step_error::StepErrorKind::*;
use crate::pack::expr;
use crate::pack::expr::Expr;
use crate::pack::template::Template;
use crate::pack::template::parse_duration;
use crate::pack::{
    Action, Assertion, Capture, Expect, ForEach, Level, PlanStep, RequestSpec, Scenario, Source,
    StatusSpec, Step,
};
use crate::report::{Basis, Exchange, Finding, FindingLevel};

/// Longest a `wait` step (or an automatic back-off) may sleep.
pub const WAIT_CAP: Duration = Duration::from_secs(30);
/// The most polls of one job (with the shortest interval below, a poll
/// deadline cannot turn into an unbounded request loop).
pub const MAX_POLLS: usize = 1000;
pub(super) const MIN_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Everything one check accumulates.
#[derive(Default)]
pub struct CheckState {
    pub vars: BTreeMap<String, Value>,
    pub findings: Vec<Finding>,
    pub evidence: Vec<Exchange>,
    /// Parallel to `evidence`: the pack endpoint each exchange targeted.
    pub endpoints: Vec<Option<String>>,
    /// Parallel to `evidence`: the whole response, for the pack-wide checks.
    pub received: Vec<Option<Arc<Received>>>,
    pub(super) sent: HashMap<String, Prepared>,
    pub(super) uuid: String,
    /// The check's basis, for expectations that name none.
    pub(super) basis: Basis,
    /// When the check is cut off (its own limit or the run's, whichever is first).
    pub deadline: Option<Instant>,
    /// The check's id, for reasons that later checks of the pack quote.
    pub check: String,
}

impl CheckState {
    pub fn for_check(id: &str) -> CheckState {
        CheckState {
            check: id.to_string(),
            ..CheckState::default()
        }
    }

    pub(super) fn record(
        &mut self,
        ex: Exchange,
        endpoint: Option<String>,
        rec: Option<Received>,
    ) -> usize {
        self.evidence.push(ex);
        self.endpoints.push(endpoint);
        // Kept past the step (polls, the pack-wide checks): a bounded copy.
        self.received.push(rec.map(|r| {
            Arc::new(if r.body.len() > http::KEEP_LIMIT {
                r.slim()
            } else {
                r
            })
        }));
        self.evidence.len() - 1
    }

    /// Time left before the check is cut off (unbounded without a deadline).
    pub(super) fn remaining(&self) -> Duration {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::MAX)
    }

    /// A finding about one response, once per check (429s repeat).
    pub(super) fn finding_once(&mut self, step: &str, message: String, idx: usize, r: &Received) {
        if self.findings.iter().any(|f| f.message == message) {
            return;
        }
        let f = self.finding(Level::Fail, Some(Basis::Conv), step, message);
        f.exchange = Some(idx);
        f.request_id = r.request_id.clone();
    }

    /// A finding; `basis` is what the broken expectation rests on, `None`
    /// when the harness itself could not do something.
    pub(super) fn finding(
        &mut self,
        level: Level,
        basis: Option<Basis>,
        step: &str,
        message: String,
    ) -> &mut Finding {
        let level = match level {
            Level::Fail => FindingLevel::Fail,
            Level::Warn => FindingLevel::Warn,
        };
        self.findings
            .push(Finding::new(level, basis, step, message));
        self.findings.last_mut().expect("just pushed")
    }
}

pub async fn run_steps(run: &PackRun, sc: &Scenario, st: &mut CheckState) -> Result<(), StepError> {
    // One uuid per check run: steps that must share a key (a replay, a
    // conflict) use `{{uuid}}`; distinct values add a prefix or `{{i}}`.
    st.uuid = uuid::Uuid::now_v7().to_string();
    st.basis = sc.spec.basis.unwrap_or(Basis::Doc);
    for (step, plan) in sc.spec.steps.iter().zip(&sc.plan) {
        if let Some(e) = &plan.when {
            let look = Lookup {
                run,
                st,
                extra: &[],
            };
            let v = e
                .eval(&look)
                .map_err(|e| StepError::new(Expression, &plan.label, format!("when: {e}")))?;
            if !expr::truthy(&v) {
                continue;
            }
        }
        run_step(run, step, plan, st).await?;
    }
    Ok(())
}

async fn run_step(
    run: &PackRun,
    step: &Step,
    plan: &PlanStep,
    st: &mut CheckState,
) -> Result<(), StepError> {
    let label = plan.label.as_str();
    let expect = step.expect.clone().unwrap_or_default();
    match step.action().map_err(|e| StepError::new(Pack, label, e))? {
        Action::Request {
            spec,
            for_each: Some(set),
        } => run_for_each(run, step, spec, set, label, st, &expect).await,
        Action::Request {
            spec,
            for_each: None,
        } => {
            let p = prepare(run, spec, st, &[]).map_err(StepError::at(Render, label))?;
            if let Some(n) = &step.name {
                st.sent.insert(n.clone(), p.clone());
            }
            send_judge_capture(run, step, plan, &p, st, &expect).await
        }
        Action::Repeat(name) => {
            let p = st.sent.get(name).cloned().ok_or_else(|| {
                StepError::new(Pack, label, format!("step `{name}` did not send a request"))
            })?;
            send_judge_capture(run, step, plan, &p, st, &expect).await
        }
        Action::Wait(w) => run_wait(run, w, label, st).await,
        Action::Assert(asserts) => {
            run_asserts(run, asserts, &plan.asserts, label, st)?;
            Ok(())
        }
        Action::Poll(poll) => run_poll(run, step, plan, poll, st, &expect).await,
        Action::Burst(burst) => run_burst(run, plan, burst, st, &expect).await,
    }
}

/// One request per endpoint of the set, each judged on its own. A route
/// that never answered was not checked: the check errors rather than
/// passing on the routes that did.
async fn run_for_each(
    run: &PackRun,
    step: &Step,
    spec: &RequestSpec,
    set: ForEach,
    label: &str,
    st: &mut CheckState,
    expect: &Expect,
) -> Result<(), StepError> {
    let ids: Vec<String> = run
        .pack
        .file
        .endpoints
        .iter()
        .filter(|(_, e)| set.includes(e.auth))
        .map(|(id, _)| id.clone())
        .collect();
    for id in ids {
        let extra = [("endpoint", Value::String(id.clone()))];
        let p = prepare(run, spec, st, &extra).map_err(StepError::at(Render, label))?;
        let sub = format!("{label} [{id}]");
        let Some((idx, r)) = send_with_retry(run, &p, &sub, st, step.raw, expect).await else {
            return Err(StepError::new(NoAnswer, &sub, last_error(st)));
        };
        judge(run, expect, &sub, st, idx, &r);
    }
    Ok(())
}

/// Sends a rendered request (with the engine's retries), judges the answer
/// and captures the step's values from it.
async fn send_judge_capture(
    run: &PackRun,
    step: &Step,
    plan: &PlanStep,
    p: &Prepared,
    st: &mut CheckState,
    expect: &Expect,
) -> Result<(), StepError> {
    let label = plan.label.as_str();
    let Some((idx, r)) = send_with_retry(run, p, label, st, step.raw, expect).await else {
        return Err(StepError::new(NoAnswer, label, last_error(st)));
    };
    judge(run, expect, label, st, idx, &r);
    capture(plan, st, &r)
}

/// A `wait`: capped at `WAIT_CAP` (longer is a finding, not waited on) and
/// never past the check's own time limit.
async fn run_wait(
    run: &PackRun,
    w: &Template,
    label: &str,
    st: &mut CheckState,
) -> Result<(), StepError> {
    let look = Lookup {
        run,
        st,
        extra: &[],
    };
    let text = w.render(&look).map_err(StepError::at(Render, label))?;
    let d =
        parse_duration(&text).map_err(|e| StepError::new(Render, label, format!("wait: {e}")))?;
    if d > WAIT_CAP {
        st.finding(
            Level::Fail,
            Some(st.basis),
            label,
            format!(
                "asked to wait {:.0} s, longer than golive's cap of {} s: not waited on",
                d.as_secs_f64(),
                WAIT_CAP.as_secs()
            ),
        )
        .advice =
            Some("a Retry-After this long makes the API unusable for interactive clients".into());
        return Ok(());
    }
    if d >= st.remaining() {
        return Err(StepError::new(
            OutOfTime,
            label,
            format!(
                "a wait of {:.1} s would outlast the check's time limit",
                d.as_secs_f64()
            ),
        ));
    }
    tokio::time::sleep(d).await;
    Ok(())
}

/// `assert`: each expression that is false (or cannot be evaluated) is a
/// finding, with the values of the names it used.
fn run_asserts(
    run: &PackRun,
    asserts: &[Assertion],
    parsed: &[Expr],
    label: &str,
    st: &mut CheckState,
) -> Result<(), StepError> {
    for (a, e) in asserts.iter().zip(parsed) {
        let look = Lookup {
            run,
            st,
            extra: &[],
        };
        let msg = a
            .message
            .render(&look)
            .unwrap_or_else(|_| a.message.to_string());
        let basis = Some(a.basis.unwrap_or(st.basis));
        match e.eval(&look) {
            Err(err) => {
                let f = st.finding(
                    a.level,
                    basis,
                    label,
                    format!("{msg} (could not evaluate: {err})"),
                );
                f.expected = Some(a.expr.clone());
            }
            Ok(v) if !expr::truthy(&v) => {
                let mut names = vec![];
                e.vars(&mut names);
                names.dedup();
                let actual = names
                    .iter()
                    .map(|n| format!("{n} = {}", look.get_display(n)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let f = st.finding(a.level, basis, label, msg);
                f.expected = Some(a.expr.clone());
                f.actual = Some(actual);
                f.advice = a.advice.clone();
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

pub(super) fn last_error(st: &CheckState) -> String {
    st.evidence
        .last()
        .and_then(|e| e.error.clone())
        .unwrap_or_else(|| "no response".into())
}

pub(super) fn capture_one(src: &Source, r: &Received) -> Value {
    match src {
        Source::Status => serde_json::json!(r.status),
        Source::RequestId => r
            .request_id
            .clone()
            .map(Value::String)
            .unwrap_or(Value::Null),
        Source::DurationMs => serde_json::json!(r.duration.as_secs_f64() * 1000.0),
        Source::Body => r.json.clone().unwrap_or(Value::Null),
        Source::BodyPointer(p) => r
            .json
            .as_ref()
            .and_then(|j| j.pointer(p))
            .cloned()
            .unwrap_or(Value::Null),
        Source::Header(h) => header_any(r, h)
            .map(|v| Value::String(v.to_string()))
            .unwrap_or(Value::Null),
    }
}

/// The pack's preflight: one request, sent as a `raw` step (a 5xx is an
/// answer), that shows the target answers before any check starts.
pub async fn preflight(
    run: &PackRun,
    spec: &RequestSpec,
    st: &mut CheckState,
) -> Result<(), StepError> {
    let label = "preflight";
    let p = prepare(run, spec, st, &[]).map_err(StepError::at(Render, label))?;
    match send_with_retry(run, &p, label, st, true, &Expect::default()).await {
        Some(_) => Ok(()),
        None => Err(StepError::new(NoAnswer, label, last_error(st))),
    }
}

/// Captures the step's values. A value taken from a body that is not JSON
/// cannot be captured: the check ends here, since later steps depend on it.
pub(super) fn capture(plan: &PlanStep, st: &mut CheckState, r: &Received) -> Result<(), StepError> {
    for (name, c) in &plan.captures {
        let Capture::One(src) = c else { continue };
        if src.needs_json() && r.json.is_none() {
            return Err(StepError::new(
                Unreadable,
                &plan.label,
                format!("`{name}` could not be captured: {}", not_json_reason(r)),
            ));
        }
        st.vars.insert(name.clone(), capture_one(src, r));
    }
    Ok(())
}

/// Why a response has no JSON body, in words.
pub(super) fn not_json_reason(r: &Received) -> String {
    if r.capped {
        format!(
            "the {} body was cut at golive's {} KiB cap, so it could not be parsed",
            r.status,
            http::MAX_BODY / 1024
        )
    } else if r.body.is_empty() {
        format!("the {} response has an empty body, not JSON", r.status)
    } else {
        format!("the {} body is not JSON: {}", r.status, short_body(r))
    }
}

/// `StatusSpec` helper for callers outside this module.
pub fn status_ok(spec: &Option<StatusSpec>, status: u16) -> bool {
    spec.as_ref().is_none_or(|s| s.matches(status))
}
