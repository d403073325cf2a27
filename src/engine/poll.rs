//! The `poll` step: one job polled until a terminal state, with an interval
//! that backs off, a deadline, and progress that must not go backwards.

use std::time::{Duration, Instant};

use super::PackRun;
use super::judge::{judge, short_body};
use super::request::{Lookup, prepare};
use super::retry::send_with_retry;
use super::steps::{
    CheckState, MAX_POLLS, MIN_POLL_INTERVAL, capture, last_error, not_json_reason,
};
use crate::pack::template::{self, parse_duration};
use crate::pack::{Expect, Level, OnDeadline, Step};

pub(super) async fn run_poll(
    run: &PackRun,
    step: &Step,
    poll: &crate::pack::PollSpec,
    label: &str,
    st: &mut CheckState,
    expect: &Expect,
) -> Result<(), String> {
    let jobs = run
        .pack
        .file
        .jobs
        .as_ref()
        .ok_or("the pack has no jobs section")?;
    let look_d = |st: &CheckState, s: &Option<String>, d: &str| -> Result<Duration, String> {
        let look = Lookup {
            run,
            st,
            extra: &[],
        };
        let text = template::render(s.as_deref().unwrap_or(d), &look)?;
        parse_duration(&text)
    };
    let mut interval =
        look_d(st, &poll.interval, &jobs.poll.interval).map_err(|e| format!("{label}: {e}"))?;
    let max_interval = look_d(st, &poll.max_interval, &jobs.poll.max_interval)
        .map_err(|e| format!("{label}: {e}"))?;
    let deadline =
        look_d(st, &poll.deadline, &jobs.poll.deadline).map_err(|e| format!("{label}: {e}"))?;
    let backoff = poll.backoff.unwrap_or(jobs.poll.backoff);
    interval = interval.max(MIN_POLL_INTERVAL);
    // A job of this pack already missed its deadline: this one is not waited
    // on again (that check carries the evidence).
    if let Some(why) = run.stuck_job.lock().map(|g| g.clone()).unwrap_or(None) {
        return Err(format!("{label}: not polled: {why}"));
    }
    // The poll ends in time for the check to report it, not at the check's cut-off.
    let poll_deadline = deadline;
    let deadline = deadline.min(st.remaining().saturating_sub(Duration::from_millis(500)));
    let p = prepare(run, &poll.request, st, &[]).map_err(|e| format!("{label}: {e}"))?;
    if let Some(n) = &step.name {
        st.sent.insert(n.clone(), p.clone());
    }
    let start = Instant::now();
    let mut polls = 0usize;
    let mut last_progress: Option<f64> = None;
    let mut states: Vec<String> = vec![];
    loop {
        polls += 1;
        let Some((idx, r)) = send_with_retry(run, &p, label, st, step, &Expect::default()).await
        else {
            return Err(format!("{label}: polling failed: {}", last_error(st)));
        };
        if r.json.is_none() && (200..300).contains(&r.status) {
            return Err(format!(
                "{label}: the job's state could not be read: {}",
                not_json_reason(&r)
            ));
        }
        let state = r
            .json
            .as_ref()
            .and_then(|j| j.pointer(&jobs.status))
            .map(template::display);
        if let Some(s) = &state {
            if states.last() != Some(s) {
                states.push(s.clone());
            }
        }
        // The contract describes progress up to success; a failed job's
        // progress is open (kept or zeroed), so it is not judged.
        let failed = state.as_ref().is_some_and(|s| jobs.failure.contains(s));
        if poll.monotonic && !failed {
            if let Some(pp) = &jobs.progress {
                let prog = r
                    .json
                    .as_ref()
                    .and_then(|j| j.pointer(pp))
                    .and_then(|v| v.as_f64());
                if let (Some(prev), Some(now)) = (last_progress, prog) {
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
                    last_progress = prog;
                }
            }
        }
        let terminal = state.as_ref().is_some_and(|s| jobs.terminal.contains(s));
        if terminal || !(200..300).contains(&r.status) {
            if !(200..300).contains(&r.status) && !terminal {
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
                serde_json::json!(polls),
            );
            judge(run, expect, label, st, idx, &r);
            capture(step, label, st, &r)?;
            return Ok(());
        }
        let elapsed = start.elapsed();
        if elapsed + interval > deadline || polls >= MAX_POLLS {
            let last = state
                .clone()
                .unwrap_or_else(|| "(no state in the response)".into());
            let limit = if deadline < poll_deadline {
                format!(
                    "{:.1} s (the check's time limit; the poll deadline is {:.0} s)",
                    deadline.as_secs_f64(),
                    poll_deadline.as_secs_f64()
                )
            } else {
                format!("{:.1} s", deadline.as_secs_f64())
            };
            let msg = format!(
                "the job did not reach a terminal state ({}) within {limit}: still `{last}` after {polls} polls (states seen: {})",
                jobs.terminal.join(", "),
                if states.is_empty() {
                    "none".to_string()
                } else {
                    states.join(" → ")
                }
            );
            let on_deadline = poll.on_deadline.unwrap_or(OnDeadline::Fail);
            if on_deadline != OnDeadline::Pass {
                if let Ok(mut g) = run.stuck_job.lock() {
                    g.get_or_insert_with(|| {
                        format!(
                            "a job already missed its {:.1} s deadline in {} (whose evidence shows it)",
                            deadline.as_secs_f64(),
                            st.check
                        )
                    });
                }
            }
            capture(step, label, st, &r)?;
            // Cut by the check's own limit, not the job's deadline: the claim
            // (terminal within the deadline) was not shown either way.
            let cut = deadline < poll_deadline;
            let why = if cut {
                format!(
                    "{label}: {msg}; the job's own deadline was not reached, so this is not shown either way (--check-limit raises the limit)"
                )
            } else {
                format!("{label}: {msg}")
            };
            match on_deadline {
                OnDeadline::Pass => return Ok(()),
                OnDeadline::Error => return Err(why),
                OnDeadline::Fail if cut => return Err(why),
                OnDeadline::Fail => {
                    let f = st.finding(Level::Fail, Some(st.basis), label, msg);
                    f.exchange = Some(idx);
                    f.request_id = r.request_id.clone();
                    f.expected = Some(format!(
                        "one of {} within {:.1} s",
                        jobs.terminal.join(", "),
                        deadline.as_secs_f64()
                    ));
                    f.actual = Some(last);
                    return Ok(());
                }
            }
        }
        tokio::time::sleep(interval).await;
        interval = Duration::from_secs_f64(
            (interval.as_secs_f64() * backoff).min(max_interval.as_secs_f64()),
        );
    }
}
