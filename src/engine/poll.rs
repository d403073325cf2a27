//! The `poll` step: one job polled until a terminal state, with an interval
//! that backs off, a deadline, and progress that must not go backwards.

use std::time::{Duration, Instant};

use super::PackRun;
use super::http::Received;
use super::judge::{judge, short_body};
use super::request::{Lookup, prepare};
use super::retry::send_with_retry;
use super::step_error::StepError;
use super::step_error::StepErrorKind::*;
use super::steps::{
    CheckState, MAX_POLLS, MIN_POLL_INTERVAL, capture, last_error, not_json_reason,
};
use crate::pack::template::{self, Template, parse_duration};
use crate::pack::{Expect, JobsConfig, Level, OnDeadline, PlanStep, PollSpec, Step};

/// A poll's intervals and deadlines, rendered once.
struct Timing {
    interval: Duration,
    max_interval: Duration,
    backoff: f64,
    /// The job's own deadline (the step's, else the pack's).
    job_deadline: Duration,
    /// When this poll stops: the job's deadline, or earlier, in time for the
    /// check to report before its own limit.
    deadline: Duration,
}

impl Timing {
    fn of(
        run: &PackRun,
        st: &CheckState,
        poll: &PollSpec,
        jobs: &JobsConfig,
    ) -> Result<Timing, String> {
        let look = Lookup {
            run,
            st,
            extra: &[],
        };
        let dur = |s: &Option<Template>, d: &Template| -> Result<Duration, String> {
            parse_duration(&s.as_ref().unwrap_or(d).render(&look)?)
        };
        let job_deadline = dur(&poll.deadline, &jobs.poll.deadline)?;
        Ok(Timing {
            interval: dur(&poll.interval, &jobs.poll.interval)?.max(MIN_POLL_INTERVAL),
            max_interval: dur(&poll.max_interval, &jobs.poll.max_interval)?,
            backoff: poll.backoff.unwrap_or(jobs.poll.backoff),
            job_deadline,
            deadline: job_deadline.min(st.remaining().saturating_sub(Duration::from_millis(500))),
        })
    }

    /// The check's own limit cut the poll before the job's deadline.
    fn cut(&self) -> bool {
        self.deadline < self.job_deadline
    }
}

/// What one poll has seen so far.
#[derive(Default)]
struct Seen {
    polls: usize,
    last_progress: Option<f64>,
    states: Vec<String>,
}

pub(super) async fn run_poll(
    run: &PackRun,
    step: &Step,
    plan: &PlanStep,
    poll: &PollSpec,
    st: &mut CheckState,
    expect: &Expect,
) -> Result<(), StepError> {
    let label = plan.label.as_str();
    let jobs = run
        .pack
        .file
        .jobs
        .as_ref()
        .ok_or_else(|| StepError::new(Pack, label, "the pack has no jobs section"))?;
    let mut timing = Timing::of(run, st, poll, jobs).map_err(StepError::at(Render, label))?;
    // A job of this pack already missed its deadline: this one is not waited
    // on again (that check carries the evidence).
    if let Some(why) = run.stuck_job.lock().map(|g| g.clone()).unwrap_or(None) {
        return Err(StepError::new(Blocked, label, format!("not polled: {why}")));
    }
    let p = prepare(run, &poll.request, st, &[]).map_err(StepError::at(Render, label))?;
    if let Some(n) = &step.name {
        st.sent.insert(n.clone(), p.clone());
    }
    let start = Instant::now();
    let mut seen = Seen::default();
    loop {
        seen.polls += 1;
        let Some((idx, r)) =
            send_with_retry(run, &p, label, st, step.raw, &Expect::default()).await
        else {
            return Err(StepError::new(
                NoAnswer,
                label,
                format!("polling failed: {}", last_error(st)),
            ));
        };
        if r.json.is_none() && (200..300).contains(&r.status) {
            return Err(StepError::new(
                Unreadable,
                label,
                format!("the job's state could not be read: {}", not_json_reason(&r)),
            ));
        }
        let state = r
            .json
            .as_ref()
            .and_then(|j| j.pointer(&jobs.status))
            .map(template::display);
        if let Some(s) = &state {
            if seen.states.last() != Some(s) {
                seen.states.push(s.clone());
            }
        }
        // The contract describes progress up to success; a failed job's
        // progress is open (kept or zeroed), so it is not judged.
        let failed = state.as_ref().is_some_and(|s| jobs.failure.contains(s));
        if poll.monotonic && !failed {
            check_progress(jobs, label, st, idx, &r, &mut seen.last_progress);
        }
        let terminal = state.as_ref().is_some_and(|s| jobs.terminal.contains(s));
        let answered = (200..300).contains(&r.status);
        if terminal || !answered {
            if !answered && !terminal {
                let f = st.finding(
                    Level::Fail,
                    Some(st.basis),
                    label,
                    format!("polling got status {} instead of the job", r.status),
                );
                f.exchange = Some(idx);
                f.request_id = r.request_id.clone();
                f.actual = Some(short_body(&r));
            }
            st.vars.insert(
                format!("{}__polls", step.name.clone().unwrap_or_default()),
                serde_json::json!(seen.polls),
            );
            judge(run, expect, label, st, idx, &r);
            return capture(plan, st, &r);
        }
        if start.elapsed() + timing.interval > timing.deadline || seen.polls >= MAX_POLLS {
            let last = state.unwrap_or_else(|| "(no state in the response)".into());
            return missed_deadline(run, plan, poll, jobs, st, (idx, &r), &timing, &seen, last);
        }
        tokio::time::sleep(timing.interval).await;
        timing.interval = Duration::from_secs_f64(
            (timing.interval.as_secs_f64() * timing.backoff).min(timing.max_interval.as_secs_f64()),
        );
    }
}

/// Progress must not go backwards (a finding on the response that did).
fn check_progress(
    jobs: &JobsConfig,
    label: &str,
    st: &mut CheckState,
    idx: usize,
    r: &Received,
    last: &mut Option<f64>,
) {
    let Some(pp) = &jobs.progress else { return };
    let prog = r
        .json
        .as_ref()
        .and_then(|j| j.pointer(pp))
        .and_then(|v| v.as_f64());
    if let (Some(prev), Some(now)) = (*last, prog) {
        if now < prev {
            let f = st.finding(
                Level::Fail,
                Some(st.basis),
                label,
                format!("progress went backwards: {prev} → {now}"),
            );
            f.exchange = Some(idx);
            f.request_id = r.request_id.clone();
        }
    }
    if prog.is_some() {
        *last = prog;
    }
}

/// The job did not reach a terminal state in time: a finding, an error or a
/// pass as the step's `on_deadline` says; the pack's later polls then end at
/// once. Cut by the check's own limit before the job's deadline, the claim
/// was not shown either way: an error, never a failure.
#[allow(clippy::too_many_arguments)]
fn missed_deadline(
    run: &PackRun,
    plan: &PlanStep,
    poll: &PollSpec,
    jobs: &JobsConfig,
    st: &mut CheckState,
    (idx, r): (usize, &Received),
    timing: &Timing,
    seen: &Seen,
    last: String,
) -> Result<(), StepError> {
    let label = plan.label.as_str();
    let limit = if timing.cut() {
        format!(
            "{:.1} s (the check's time limit; the poll deadline is {:.0} s)",
            timing.deadline.as_secs_f64(),
            timing.job_deadline.as_secs_f64()
        )
    } else {
        format!("{:.1} s", timing.deadline.as_secs_f64())
    };
    let msg = format!(
        "the job did not reach a terminal state ({}) within {limit}: still `{last}` after {} polls (states seen: {})",
        jobs.terminal.join(", "),
        seen.polls,
        if seen.states.is_empty() {
            "none".to_string()
        } else {
            seen.states.join(" → ")
        }
    );
    let on_deadline = poll.on_deadline.unwrap_or(OnDeadline::Fail);
    if on_deadline != OnDeadline::Pass {
        if let Ok(mut g) = run.stuck_job.lock() {
            g.get_or_insert_with(|| {
                format!(
                    "a job already missed its {:.1} s deadline in {} (whose evidence shows it)",
                    timing.deadline.as_secs_f64(),
                    st.check
                )
            });
        }
    }
    capture(plan, st, r)?;
    let why = |msg: String| {
        let context = if timing.cut() {
            format!(
                "{msg}; the job's own deadline was not reached, so this is not shown either way (--check-limit raises the limit)"
            )
        } else {
            msg
        };
        StepError::new(JobDeadline, label, context)
    };
    match on_deadline {
        OnDeadline::Pass => Ok(()),
        OnDeadline::Error => Err(why(msg)),
        OnDeadline::Fail if timing.cut() => Err(why(msg)),
        OnDeadline::Fail => {
            let f = st.finding(Level::Fail, Some(st.basis), label, msg);
            f.exchange = Some(idx);
            f.request_id = r.request_id.clone();
            f.expected = Some(format!(
                "one of {} within {:.1} s",
                jobs.terminal.join(", "),
                timing.deadline.as_secs_f64()
            ));
            f.actual = Some(last);
            Ok(())
        }
    }
}
