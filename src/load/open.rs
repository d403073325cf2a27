//! The open model: arrivals on an absolute schedule (as oha's
//! `work_with_qps` and Vegeta do), each one a request drawn from the mix,
//! none waiting for an earlier response. A bounded number may be in flight;
//! an arrival that finds no free slot is counted as dropped, never delayed.
//! Latency runs from each arrival's intended send time, so a server that
//! stalls shows its stall in full (no coordinated omission).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

use super::mix::{self, Mix};
use super::plan::Plan;
use super::stats::{Class, RunStats, Sample};
use super::{Abort, LoadProgress, Stop};
use crate::engine::PackRun;

/// What the scheduler shares with its request tasks.
pub struct Shared {
    pub run: PackRun,
    pub sender: super::send::Sender,
    pub mix: Mix,
    /// Validate every n-th response against its schema (0: never).
    pub schema_every: u64,
    pub stopping: AtomicBool,
    pub in_flight: AtomicU64,
    /// Flips to true when the run stops: in-flight requests give up at once.
    pub halt: watch::Sender<bool>,
}

pub struct OpenOptions {
    pub max_in_flight: usize,
    pub max_credits: Option<f64>,
    /// When the schedule starts (`--start-at`, else now).
    pub start: Instant,
}

enum Event {
    Sample(Sample),
    Drop(u64),
    /// Everything sent before this counts; nothing after it does.
    End,
}

/// Runs the plan; returns what was measured and why it stopped.
pub async fn run(
    shared: Arc<Shared>,
    plan: &Plan,
    opts: &OpenOptions,
    mut cancel: watch::Receiver<bool>,
    abort: Option<Abort>,
    progress: Option<super::ProgressFn>,
) -> (RunStats, Stop) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let names = shared.mix.names();
    let duration_ms = plan.duration().as_millis() as u64;
    let (breach_tx, mut breach_rx) = watch::channel::<Option<String>>(None);
    let done = Arc::new(AtomicU64::new(0));
    let done_agg = done.clone();
    let aggregator = tokio::spawn(async move {
        let mut stats = RunStats::new(names, duration_ms);
        while let Some(ev) = rx.recv().await {
            match ev {
                Event::Sample(s) => {
                    stats.record(&s);
                    done_agg.fetch_add(1, Ordering::Relaxed);
                    if let Some(a) = &abort {
                        if breach_tx.borrow().is_none() {
                            if let Some(why) = a.certain_breach(&stats) {
                                let _ = breach_tx.send(Some(why));
                            }
                        }
                    }
                }
                Event::Drop(due) => stats.record_drop(due),
                Event::End => break,
            }
        }
        stats
    });
    let slots = Arc::new(Semaphore::new(opts.max_in_flight));
    let mut arrivals = 0u64;
    let mut credits = 0.0f64;
    let mut substituted = 0u64;
    let mut stop = Stop::Completed;
    let ticker = progress.map(|f| {
        let shared = shared.clone();
        let done = done.clone();
        let planned = plan.own();
        let start = opts.start;
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(500));
            loop {
                every.tick().await;
                f(&LoadProgress {
                    elapsed: Instant::now().saturating_duration_since(start),
                    done: done.load(Ordering::Relaxed),
                    in_flight: shared.in_flight.load(Ordering::Relaxed),
                    planned,
                });
            }
        })
    });
    for (j, offset) in plan.arrivals() {
        let due = opts.start + offset;
        if Instant::now() < due {
            tokio::select! {
                biased;
                _ = wait_true(&mut cancel) => { stop = Stop::Interrupted; break; }
                r = breach_rx.changed() => {
                    if r.is_ok() {
                        if let Some(why) = breach_rx.borrow().clone() { stop = Stop::Breach(why); break; }
                    }
                }
                _ = tokio::time::sleep_until(due) => {}
            }
            if Instant::now() < due {
                // A breach notice that was not one woke us early: wait the rest.
                tokio::time::sleep_until(due).await;
            }
        } else {
            // Behind the schedule: no timer (it would wait for the next tick);
            // look at the stop signals without waiting, and let the request
            // tasks run now and then.
            if *cancel.borrow() {
                stop = Stop::Interrupted;
                break;
            }
            if let Some(why) = breach_rx.borrow().clone() {
                stop = Stop::Breach(why);
                break;
            }
            if arrivals % 64 == 0 {
                tokio::task::yield_now().await;
            }
        }
        let due_us = offset.as_micros() as u64;
        // A slot first: an arrival that finds none is dropped before it
        // costs a pick from the mix (at saturation most arrivals are drops).
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            arrivals += 1;
            let _ = tx.send(Event::Drop(due_us));
            continue;
        };
        let (call, values, sub) = shared.mix.pick(j);
        let cost = shared.mix.calls[call].cost;
        if let Some(max) = opts.max_credits {
            if credits + cost > max + 1e-9 {
                stop = Stop::Budget(format!(
                    "stopped before spending more than --max-credits {max} (spent {credits})"
                ));
                break;
            }
        }
        arrivals += 1;
        credits += cost;
        substituted += u64::from(sub);
        let shared = shared.clone();
        let tx = tx.clone();
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        let mut halt = shared.halt.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                sample = one(&shared, call, j, &values, due, due_us) => {
                    if !shared.stopping.load(Ordering::Acquire) {
                        let _ = tx.send(Event::Sample(sample));
                    }
                }
                _ = halt.wait_for(|h| *h) => {}
            }
            shared.in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    // Let what is in flight finish (each request is bounded by its timeout),
    // unless the run was stopped: then give up on it at once.
    if matches!(stop, Stop::Completed | Stop::Budget(_)) {
        let grace = shared.run.http_timeout + Duration::from_secs(1);
        let all = opts.max_in_flight as u32;
        tokio::select! {
            _ = slots.acquire_many(all) => {}
            _ = tokio::time::sleep(grace) => {}
            _ = wait_true(&mut cancel) => { stop = Stop::Interrupted; }
        }
    }
    shared.stopping.store(true, Ordering::Release);
    let _ = shared.halt.send(true);
    if let Some(t) = ticker {
        t.abort();
    }
    let _ = tx.send(Event::End);
    drop(tx);
    let mut stats = aggregator
        .await
        .unwrap_or_else(|_| RunStats::new(shared.mix.names(), duration_ms));
    stats.arrivals = arrivals;
    stats.credits = credits;
    stats.substituted = substituted;
    stats.unfinished = arrivals.saturating_sub(stats.dropped + stats.overall.sent);
    (stats, stop)
}

async fn wait_true(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Sends arrival `j` and judges its answer.
pub async fn one(
    shared: &Shared,
    call: usize,
    j: u64,
    values: &[(String, Value)],
    due: Instant,
    due_us: u64,
) -> Sample {
    let run = &shared.run;
    let mut sample = Sample {
        call,
        due_us,
        latency_us: 0,
        status: None,
        class: Class::Transport { timeout: false },
        documented: true,
        schema: None,
        missing_retry_after: false,
        lag_us: Instant::now().saturating_duration_since(due).as_micros() as u64,
    };
    let p = match shared.mix.prepare(run, call, j, values) {
        Ok(p) => p,
        Err(_) => {
            sample.latency_us = Instant::now().saturating_duration_since(due).as_micros() as u64;
            return sample;
        }
    };
    let answer = shared.sender.send(&p).await;
    sample.latency_us = Instant::now().saturating_duration_since(due).as_micros() as u64;
    match answer {
        Ok(a) => {
            let sampled = shared.schema_every > 0 && j % shared.schema_every == 0;
            let ok = (200..300).contains(&a.status);
            let json = if (ok && shared.mix.captures(call)) || sampled {
                serde_json::from_slice::<Value>(&a.body).ok()
            } else {
                None
            };
            if ok {
                shared.mix.capture(call, &a.headers, json.as_ref());
            }
            let v = mix::judge(run, &p, &a, sampled, json.as_ref());
            sample.status = Some(a.status);
            sample.class = v.class;
            sample.documented = v.documented;
            sample.schema = v.schema;
            sample.missing_retry_after = v.missing_retry_after;
        }
        Err(e) => {
            sample.class = Class::Transport { timeout: e.timeout };
        }
    }
    sample
}
