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
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
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

/// The arrival loop's state: what it shares with its request tasks, the stop
/// signals it watches, the tasks beside it, and what it has counted so far.
struct Scheduler<'a> {
    shared: Arc<Shared>,
    opts: &'a OpenOptions,
    tx: mpsc::UnboundedSender<Event>,
    slots: Arc<Semaphore>,
    cancel: watch::Receiver<bool>,
    breach_rx: watch::Receiver<Option<String>>,
    aggregator: JoinHandle<RunStats>,
    ticker: Option<JoinHandle<()>>,
    arrivals: u64,
    credits: f64,
    substituted: u64,
}

/// One arrival of the plan: its index and when it is due.
struct Arrival {
    j: u64,
    due: Instant,
    due_us: u64,
}

/// Runs the plan; returns what was measured and why it stopped.
pub async fn run(
    shared: Arc<Shared>,
    plan: &Plan,
    opts: &OpenOptions,
    cancel: watch::Receiver<bool>,
    abort: Option<Abort>,
    progress: Option<super::ProgressFn>,
) -> (RunStats, Stop) {
    let (tx, rx) = mpsc::unbounded_channel::<Event>();
    let names = shared.mix.names();
    let duration_ms = plan.duration().as_millis() as u64;
    let (breach_tx, breach_rx) = watch::channel::<Option<String>>(None);
    let done = Arc::new(AtomicU64::new(0));
    let stats = RunStats::new(names, duration_ms);
    let aggregator = spawn_aggregator(stats, abort, rx, breach_tx, done.clone());
    let slots = Arc::new(Semaphore::new(opts.max_in_flight));
    let ticker = progress.map(|f| spawn_ticker(f, shared.clone(), done, plan.own(), opts.start));
    let mut s = Scheduler {
        shared,
        opts,
        tx,
        slots,
        cancel,
        breach_rx,
        aggregator,
        ticker,
        arrivals: 0,
        credits: 0.0,
        substituted: 0,
    };
    let stop = s.schedule(plan).await;
    let stop = s.drain(stop).await;
    s.finish(stop, duration_ms).await
}

/// Spawns the task that folds every event into the run's stats and raises a
/// certain `--abort-on-fail` breach as soon as the stats show one.
fn spawn_aggregator(
    mut stats: RunStats,
    abort: Option<Abort>,
    mut rx: mpsc::UnboundedReceiver<Event>,
    breach_tx: watch::Sender<Option<String>>,
    done: Arc<AtomicU64>,
) -> JoinHandle<RunStats> {
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            match ev {
                Event::Sample(s) => {
                    stats.record(&s);
                    done.fetch_add(1, Ordering::Relaxed);
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
    })
}

/// Spawns the task that reports progress every half second.
fn spawn_ticker(
    f: super::ProgressFn,
    shared: Arc<Shared>,
    done: Arc<AtomicU64>,
    planned: u64,
    start: Instant,
) -> JoinHandle<()> {
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
}

impl Scheduler<'_> {
    /// Walks the plan's arrivals in order: wait, take a slot, pick, check the
    /// budget, send; returns why the walk stopped.
    async fn schedule(&mut self, plan: &Plan) -> Stop {
        for (j, offset) in plan.arrivals() {
            let due = self.opts.start + offset;
            if let Some(stop) = self.wait_until(due).await {
                return stop;
            }
            let due_us = offset.as_micros() as u64;
            // A slot first: an arrival that finds none is dropped before it
            // costs a pick from the mix (at saturation most arrivals are drops).
            let Some(permit) = self.take_slot(due_us) else {
                continue;
            };
            let (call, values, sub) = self.shared.mix.pick(j);
            let cost = self.shared.mix.calls[call].cost;
            if let Some(stop) = self.over_budget(cost) {
                return stop;
            }
            self.arrivals += 1;
            self.credits += cost;
            self.substituted += u64::from(sub);
            self.spawn_request(Arrival { j, due, due_us }, call, values, permit);
        }
        Stop::Completed
    }

    /// Waits for an arrival's due time, watching the stop signals; returns
    /// the reason to stop if one came first.
    async fn wait_until(&mut self, due: Instant) -> Option<Stop> {
        if Instant::now() < due {
            tokio::select! {
                biased;
                _ = wait_true(&mut self.cancel) => { return Some(Stop::Interrupted); }
                r = self.breach_rx.changed() => {
                    if r.is_ok() {
                        if let Some(why) = self.breach_rx.borrow().clone() { return Some(Stop::Breach(why)); }
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
            if *self.cancel.borrow() {
                return Some(Stop::Interrupted);
            }
            if let Some(why) = self.breach_rx.borrow().clone() {
                return Some(Stop::Breach(why));
            }
            if self.arrivals % 64 == 0 {
                tokio::task::yield_now().await;
            }
        }
        None
    }

    /// Takes an in-flight slot; without one, counts the arrival as dropped.
    fn take_slot(&mut self, due_us: u64) -> Option<OwnedSemaphorePermit> {
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            self.arrivals += 1;
            let _ = self.tx.send(Event::Drop(due_us));
            return None;
        };
        Some(permit)
    }

    /// The `--max-credits` stop, when a call of this cost would pass it.
    fn over_budget(&self, cost: f64) -> Option<Stop> {
        let max = self.opts.max_credits?;
        let credits = self.credits;
        (credits + cost > max + 1e-9).then(|| {
            Stop::Budget(format!(
                "stopped before spending more than --max-credits {max} (spent {credits})"
            ))
        })
    }

    /// Spawns the task that sends one arrival and reports its sample.
    fn spawn_request(
        &self,
        a: Arrival,
        call: usize,
        values: Vec<(String, Value)>,
        permit: OwnedSemaphorePermit,
    ) {
        let shared = self.shared.clone();
        let tx = self.tx.clone();
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        let mut halt = shared.halt.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                sample = one(&shared, call, a.j, &values, a.due, a.due_us) => {
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

    /// Lets what is in flight finish (each request is bounded by its
    /// timeout), unless the run was stopped: then it gives up on it at once.
    async fn drain(&mut self, stop: Stop) -> Stop {
        if !matches!(stop, Stop::Completed | Stop::Budget(_)) {
            return stop;
        }
        let grace = self.shared.run.http_timeout + Duration::from_secs(1);
        let all = self.opts.max_in_flight as u32;
        tokio::select! {
            _ = self.slots.acquire_many(all) => {}
            _ = tokio::time::sleep(grace) => {}
            _ = wait_true(&mut self.cancel) => { return Stop::Interrupted; }
        }
        stop
    }

    /// Halts the request tasks and the ticker, collects the aggregated stats
    /// and adds the scheduler's counts.
    async fn finish(self, stop: Stop, duration_ms: u64) -> (RunStats, Stop) {
        let shared = &self.shared;
        shared.stopping.store(true, Ordering::Release);
        let _ = shared.halt.send(true);
        if let Some(t) = &self.ticker {
            t.abort();
        }
        let _ = self.tx.send(Event::End);
        drop(self.tx);
        let mut stats = self
            .aggregator
            .await
            .unwrap_or_else(|_| RunStats::new(shared.mix.names(), duration_ms));
        stats.arrivals = self.arrivals;
        stats.credits = self.credits;
        stats.substituted = self.substituted;
        stats.unfinished = self
            .arrivals
            .saturating_sub(stats.dropped + stats.overall.sent);
        (stats, stop)
    }
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
