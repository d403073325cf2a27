//! The check layer: one pack's checks run in order against a resolved
//! target, each under its time limit, the run's limit and the signal watch,
//! then judged into a `CheckResult` (pass, fail, warn, skip or error).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::steps::{self, CheckState};
use super::{
    PackRun, Progress, RunConfig, STOPPED_ANSWERING, cancelled, collect, pace, wait_cancel,
};
use crate::pack::{Pack, Scenario, template};
use crate::report::{CheckResult, Finding, FindingLevel, Status};

pub(super) fn result_for(
    pack: &Pack,
    sc: &Scenario,
    status: Status,
    summary: String,
) -> CheckResult {
    CheckResult {
        id: sc.check_id(&pack.file),
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

/// Runs one check under its deadline, the run's limit and the signal watch;
/// returns its result and, when the run was cut short during it, why.
pub(super) async fn run_check(
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
        .as_ref()
        .and_then(|d| d.render(&|n: &str| run.inputs.get(n).cloned()).ok())
        .and_then(|d| template::parse_duration(&d).ok())
        .unwrap_or(run.check_limit);
    let check_end = (Instant::now() + deadline).min(run_end);
    st.deadline = Some(check_end);
    let outcome = tokio::select! {
        r = steps::run_steps(run, sc, &mut st) => r.map_err(|e| Ok(e.to_string())),
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
/// Why the rest of a run that reached its `--max-duration` was not run.
pub(super) fn over_time(limit: Duration) -> String {
    format!(
        "the run reached its time limit of {:.0} s (--max-duration)",
        limit.as_secs_f64()
    )
}

/// The checks that still run against a slow target: they judge its speed.
pub(super) fn judges_speed(sc: &Scenario) -> bool {
    sc.spec.family == crate::report::Family::Timeouts
}

/// The pack's `slow_target` watch (off with `--patient`, or when unreadable).
pub(super) fn pace_of(pack: &Pack, inputs: &BTreeMap<String, Value>, patient: bool) -> pace::Pace {
    let threshold = pack
        .file
        .slow_target
        .as_ref()
        .filter(|_| !patient)
        .and_then(|s| {
            let text = s
                .slower_than
                .render(&|n: &str| inputs.get(n).cloned())
                .ok()?;
            template::parse_duration(&text).ok()
        });
    let answers = pack.file.slow_target.as_ref().map_or(3, |s| s.answers);
    pace::Pace::new(threshold, answers)
}

pub(super) fn is_collector(sc: &Scenario) -> bool {
    sc.spec.collect_schema_findings || sc.spec.collect_request_ids.is_some()
}

/// Sets status and summary from the findings (and an error, if any).
pub(super) fn settle(res: &mut CheckResult, error: Option<String>) {
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

pub(super) fn error_all(pack: &Pack, scs: &[&Scenario], why: &str) -> Vec<CheckResult> {
    scs.iter()
        .map(|s| result_for(pack, s, Status::Error, why.to_string()))
        .collect()
}

pub(super) fn skip_all(pack: &Pack, scs: &[&Scenario], why: &str) -> Vec<CheckResult> {
    scs.iter()
        .map(|s| result_for(pack, s, Status::Skip, format!("not run: {why}")))
        .collect()
}

/// Why a check cannot run here (a key role or an input it needs is missing).
pub(super) fn missing_requirements(run: &PackRun, sc: &Scenario) -> Option<String> {
    if let Some(role) = sc.needs.roles.iter().find(|r| !run.keys.contains_key(*r)) {
        let env = run.pack.file.keys.get(role).cloned().unwrap_or_default();
        return Some(format!("needs the `{role}` key: set {env}"));
    }
    for n in &sc.needs.names {
        if let Some(v) = run.inputs.get(n) {
            if v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty()) {
                return Some(format!("needs the input `{n}`: pass --var {n}=…"));
            }
        }
    }
    None
}

/// Why a check is not run at all, if it is not: the target stopped
/// answering (error), the run was interrupted or is over time (skip), or
/// the target is too slow and the check does not judge speed (skip).
fn not_run(
    run: &PackRun,
    sc: &Scenario,
    dead: Option<&str>,
    interrupted: Option<&str>,
) -> Option<(Status, String)> {
    if let Some(why) = dead {
        return Some((
            Status::Error,
            format!("not run: the target stopped answering ({why})"),
        ));
    }
    if let Some(why) = interrupted {
        return Some((Status::Skip, format!("not run: {why}")));
    }
    let slow = run.pace.slow().filter(|_| !judges_speed(sc))?;
    Some((Status::Skip, format!("not run: {slow}")))
}

/// Runs `selected` checks of the pack in order (the pack-wide collectors
/// last) and returns their results in file order and, if the run was cut
/// short, why.
pub(super) async fn run_checks(
    cfg: &RunConfig,
    run: &PackRun,
    selected: &[&Scenario],
    run_end: Instant,
) -> (Vec<CheckResult>, Option<String>) {
    let pack = &run.pack;
    let run_start = run.run_start;
    let progress = |p: Progress| {
        if let Some(f) = &cfg.progress {
            f(&p)
        }
    };
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
        let id = sc.check_id(&pack.file);
        if interrupted.is_none() && dead_in_a_row < STOPPED_ANSWERING {
            interrupted = cancelled(&cfg.cancel)
                .map(|why| format!("interrupted ({why})"))
                .or_else(|| (Instant::now() >= run_end).then(|| over_time(run_end - run_start)));
        }
        let dead = (dead_in_a_row >= STOPPED_ANSWERING).then_some(dead_reason.as_str());
        if let Some((status, why)) = not_run(run, sc, dead, interrupted.as_deref()) {
            results.push(result_for(pack, sc, status, why));
            continue;
        }
        progress(Progress::CheckStarted {
            pack: pack.file.name.clone(),
            check: id.clone(),
            index: i + 1,
            of: n,
        });
        let mut res = if let Some(why) = missing_requirements(run, sc) {
            result_for(pack, sc, Status::Skip, why)
        } else {
            let (res, cut_short) = run_check(cfg, run, sc, &id, &mut pool, run_end).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Family, Severity};

    fn result(findings: Vec<Finding>) -> CheckResult {
        CheckResult {
            id: "p.c".into(),
            pack: "p".into(),
            family: Family::Auth,
            severity: Severity::Blocker,
            status: Status::Pass,
            title: "the title".into(),
            summary: String::new(),
            duration_ms: 0.0,
            scenario: None,
            findings,
            evidence: vec![],
        }
    }

    fn finding(level: FindingLevel, message: &str) -> Finding {
        Finding::new(level, None, "step 1 `s`", message)
    }

    fn settled(findings: Vec<Finding>, error: Option<&str>) -> (Status, String) {
        let mut r = result(findings);
        settle(&mut r, error.map(str::to_string));
        (r.status, r.summary)
    }

    #[test]
    fn nothing_found_passes_with_the_title() {
        assert_eq!(settled(vec![], None), (Status::Pass, "the title".into()));
    }

    #[test]
    fn a_failure_outranks_an_error_and_says_both() {
        let f = vec![
            finding(FindingLevel::Warn, "w"),
            finding(FindingLevel::Fail, "first"),
            finding(FindingLevel::Fail, "second"),
        ];
        assert_eq!(
            settled(f.clone(), None),
            (Status::Fail, "step 1 `s`: first (+1 more)".into())
        );
        assert_eq!(
            settled(f, Some("no answer")),
            (
                Status::Fail,
                "step 1 `s`: first (+1 more); the check ended: no answer".into()
            )
        );
    }

    #[test]
    fn an_error_outranks_a_warning_and_a_warning_a_pass() {
        let w = vec![finding(FindingLevel::Warn, "no Retry-After")];
        assert_eq!(
            settled(w.clone(), Some("cut short")),
            (Status::Error, "cut short".into())
        );
        assert_eq!(
            settled(w, None),
            (Status::Warn, "step 1 `s`: no Retry-After".into())
        );
    }
}
