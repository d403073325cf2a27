//! The `burst` step: N requests at a given concurrency, judged together
//! (`some_status`, `each`) and one by one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;

use super::PackRun;
use super::http::{self, Outcome, Prepared, Received};
use super::judge::judge;
use super::request::{Lookup, prepare};
use super::step_error::StepError;
use super::step_error::StepErrorKind::*;
use super::steps::{CheckState, capture_one, last_error, not_json_reason};
use crate::pack::expr;
use crate::pack::{
    BurstCapture, BurstSpec, Capture, Expect, Fold, Level, NumSpec, PlanStep, status_item_matches,
};
use crate::report::Finding;

pub(super) async fn run_burst(
    run: &PackRun,
    plan: &PlanStep,
    burst: &BurstSpec,
    st: &mut CheckState,
    expect: &Expect,
) -> Result<(), StepError> {
    let label = plan.label.as_str();
    let count = resolve_num(run, st, &burst.count)
        .map_err(|e| StepError::new(Render, label, format!("burst.count: {e}")))?;
    let concurrency = match &burst.concurrency {
        Some(c) => resolve_num(run, st, c)
            .map_err(|e| StepError::new(Render, label, format!("burst.concurrency: {e}")))?,
        None => count,
    };
    let mut prepared = Vec::with_capacity(count);
    for i in 0..count {
        let extra = [("i", serde_json::json!(i))];
        prepared
            .push(prepare(run, &burst.request, st, &extra).map_err(StepError::at(Render, label))?);
    }
    let responses = send_all(run, label, st, prepared, concurrency).await;
    let failed = count - responses.len();
    if responses.is_empty() {
        // Nothing was answered: nothing about the burst can be claimed.
        return Err(StepError::new(
            NoAnswer,
            label,
            format!(
                "none of the {count} burst requests got an answer: {}",
                last_error(st)
            ),
        ));
    }
    if failed > 0 {
        let why = last_error(st);
        let f = st.finding(
            Level::Fail,
            None,
            label,
            format!("{failed} of {count} burst requests got no answer"),
        );
        f.actual = Some(why);
    }
    judge_burst(run, (label, count), st, expect, &responses);
    capture_over(plan, st, &responses)
}

/// Sends every request, `concurrency` at a time, and records each exchange
/// in order; returns the answered ones with their evidence index.
async fn send_all(
    run: &PackRun,
    label: &str,
    st: &mut CheckState,
    prepared: Vec<Prepared>,
    concurrency: usize,
) -> Vec<(usize, Received)> {
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (i, p) in prepared.into_iter().enumerate() {
        let sem = sem.clone();
        let client = run.client.clone();
        let redactor = run.redactor.clone();
        let rid = run.request_id.clone();
        let start = run.run_start;
        let lbl = format!("{label} #{}", i + 1);
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let (ex, out) = http::send(&client, &p, &lbl, start, &redactor, &rid).await;
            (i, p.endpoint, ex, out)
        });
    }
    let mut results = Vec::new();
    while let Some(j) = set.join_next().await {
        if let Ok(r) = j {
            results.push(r);
        }
    }
    results.sort_by_key(|r| r.0);
    let mut responses = vec![];
    for (_, endpoint, ex, out) in results {
        match out {
            Outcome::Response(r) => {
                let idx = st.record(ex, endpoint, Some(r.clone()));
                responses.push((idx, r));
            }
            Outcome::Failed(_) => {
                st.record(ex, endpoint, None);
            }
        }
    }
    responses
}

/// The burst's expectations: `status` of every answer (one finding),
/// `some_status` of at least one, and `each` status's own `expect`.
fn judge_burst(
    run: &PackRun,
    (label, count): (&str, usize),
    st: &mut CheckState,
    expect: &Expect,
    responses: &[(usize, Received)],
) {
    let basis = Some(expect.basis.unwrap_or(st.basis));
    if let Some(s) = &expect.status {
        if let Some((idx, r)) = responses.iter().find(|(_, r)| !s.matches(r.status)) {
            let f = st.finding(
                expect.level,
                basis,
                label,
                format!(
                    "a burst request got status {} (expected {})",
                    r.status,
                    s.describe()
                ),
            );
            f.exchange = Some(*idx);
            f.request_id = r.request_id.clone();
        }
    }
    if let Some(s) = &expect.some_status {
        if !responses.iter().any(|(_, r)| s.matches(r.status)) {
            let f = st.finding(
                expect.level,
                basis,
                label,
                format!(
                    "no response of the burst of {count} had status {}",
                    s.describe()
                ),
            );
            f.expected = Some(format!("at least one {}", s.describe()));
            f.actual = Some(status_counts(responses));
            f.advice = expect.advice.clone();
        }
    }
    for (pattern, sub) in &expect.each {
        // Judge each matching response; keep one finding per distinct message.
        let before = st.findings.len();
        for (idx, r) in responses {
            if status_item_matches(pattern, r.status).unwrap_or(false) {
                judge(run, sub, label, st, *idx, r);
            }
        }
        dedupe_since(st, before);
    }
}

/// The step's captures, each folded over the answers whose status matches.
/// A value that cannot be read (a body that is not JSON) must not count as
/// absent, and nothing to count is not "no duplicates": both end the check.
fn capture_over(
    plan: &PlanStep,
    st: &mut CheckState,
    responses: &[(usize, Received)],
) -> Result<(), StepError> {
    let label = plan.label.as_str();
    for (name, c) in &plan.captures {
        let Capture::Burst(c) = c else { continue };
        let (fold, status, source) = match c {
            BurstCapture::Count(p) => {
                let n = responses
                    .iter()
                    .filter(|(_, r)| p.matches(r.status))
                    .count();
                st.vars.insert(name.clone(), serde_json::json!(n));
                continue;
            }
            BurstCapture::Fold {
                fold,
                status,
                source,
            } => (*fold, *status, source),
        };
        let matching = || responses.iter().filter(|(_, r)| status.matches(r.status));
        if source.needs_json() {
            if let Some((_, r)) = matching().find(|(_, r)| r.json.is_none()) {
                return Err(StepError::new(
                    Unreadable,
                    label,
                    format!("`{name}` could not be captured: {}", not_json_reason(r)),
                ));
            }
        }
        let vals: Vec<Value> = matching().map(|(_, r)| capture_one(source, r)).collect();
        let v = match fold {
            Fold::First => vals.first().cloned().unwrap_or(Value::Null),
            Fold::Max => vals
                .iter()
                .filter_map(expr::as_number)
                .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
                .map(|x| serde_json::json!(x))
                .unwrap_or(Value::Null),
            Fold::Distinct => {
                if !vals.is_empty() && vals.iter().all(Value::is_null) {
                    return Err(StepError::new(
                        Unreadable,
                        label,
                        format!(
                            "`{name}` could not be counted: none of the {} matching responses carries {}",
                            vals.len(),
                            source.describe()
                        ),
                    ));
                }
                let set: BTreeSet<String> = vals
                    .iter()
                    .filter(|v| !v.is_null())
                    .map(|v| v.to_string())
                    .collect();
                serde_json::json!(set.len())
            }
            Fold::All => Value::Array(vals),
        };
        st.vars.insert(name.clone(), v);
    }
    Ok(())
}

fn resolve_num(run: &PackRun, st: &CheckState, n: &NumSpec) -> Result<usize, String> {
    let v = match n {
        NumSpec::Num(n) => *n,
        NumSpec::Template(t) => {
            let text = t.render(&Lookup {
                run,
                st,
                extra: &[],
            })?;
            text.trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a whole number"))?
        }
    };
    if v == 0 || v > crate::pack::MAX_BURST {
        return Err(format!(
            "{v} is not between 1 and {}",
            crate::pack::MAX_BURST
        ));
    }
    Ok(v)
}

fn status_counts(responses: &[(usize, Received)]) -> String {
    let mut m: BTreeMap<u16, usize> = BTreeMap::new();
    for (_, r) in responses {
        *m.entry(r.status).or_default() += 1;
    }
    if m.is_empty() {
        return "no responses".into();
    }
    m.iter()
        .map(|(s, n)| format!("{n}× {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Folds findings added since `from` that share a message into one, noting how many.
fn dedupe_since(st: &mut CheckState, from: usize) {
    let tail: Vec<Finding> = st.findings.drain(from..).collect();
    let mut seen: Vec<(Finding, usize)> = vec![];
    for f in tail {
        if let Some(e) = seen
            .iter_mut()
            .find(|(g, _)| g.message == f.message && g.level == f.level)
        {
            e.1 += 1;
        } else {
            seen.push((f, 1));
        }
    }
    for (mut f, n) in seen {
        if n > 1 {
            f.message = format!("{} ({n} responses)", f.message);
        }
        st.findings.push(f);
    }
}
