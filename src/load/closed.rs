//! The closed model on Goose: N users, each sending its next request of the
//! mix only when its last one answered. Goose schedules the users (configured
//! from code with `initialize_with_config`; golive's CLI stays the only
//! argument parser, the telnet controller is turned off and the WebSocket one is off by default); each
//! transaction draws the next arrival from the same mix, renders it with the
//! same `prepare` and judges it like the open model, so both write the same
//! stats. Latency runs from the actual send: a stalled server is hidden in
//! the percentiles (it lowers the rate instead), as the report states.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use goose::GooseAttack;
use goose::config::GooseConfiguration;
use goose::goose::{Scenario, Transaction, TransactionFunction};
use tokio::sync::watch;
use tokio::time::Instant;

use super::open::{Shared, one};
use super::plan::Plan;
use super::stats::RunStats;
use super::{LoadError, Stop};

/// The most users a closed-model run may start.
pub const MAX_USERS: usize = 10_000;

/// Goose's killswitch is process-wide: one closed run at a time.
static RUNNING: AtomicBool = AtomicBool::new(false);

struct Shared2 {
    shared: Arc<Shared>,
    stats: Mutex<RunStats>,
    next: AtomicU64,
    cap: u64,
    start: Instant,
    credits: Mutex<(f64, u64)>,
    /// The request cap pulled the killswitch (not a Ctrl-C).
    capped: AtomicBool,
}

fn transaction(s: Arc<Shared2>) -> TransactionFunction {
    Arc::new(move |_user| {
        let s = s.clone();
        Box::pin(async move {
            if s.shared.stopping.load(Ordering::Acquire) {
                tokio::time::sleep(Duration::from_millis(20)).await;
                return Ok(());
            }
            let j = s.next.fetch_add(1, Ordering::Relaxed);
            if j >= s.cap {
                s.capped.store(true, Ordering::Release);
                goose::trigger_killswitch("golive: the request cap is reached");
                tokio::time::sleep(Duration::from_millis(20)).await;
                return Ok(());
            }
            let (call, values, sub) = s.shared.mix.pick(j);
            let due = Instant::now();
            let due_us = due.saturating_duration_since(s.start).as_micros() as u64;
            s.shared.in_flight.fetch_add(1, Ordering::Relaxed);
            let sample = one(&s.shared, call, j, &values, due, due_us).await;
            s.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
            if !s.shared.stopping.load(Ordering::Acquire) {
                let mut st = s.stats.lock().unwrap_or_else(|e| e.into_inner());
                st.arrivals += 1;
                st.record(&sample);
                drop(st);
                let mut c = s.credits.lock().unwrap_or_else(|e| e.into_inner());
                c.0 += s.shared.mix.calls[call].cost;
                c.1 += u64::from(sub);
            }
            Ok(())
        })
    })
}

/// Runs `users` looping users for the plan's duration (at most its request
/// count); Ctrl-C/SIGTERM (the cancel watch) pulls Goose's killswitch.
pub async fn run(
    shared: Arc<Shared>,
    plan: &Plan,
    users: usize,
    cap: u64,
    mut cancel: watch::Receiver<bool>,
) -> Result<(RunStats, Stop), LoadError> {
    if users == 0 || users > MAX_USERS {
        return Err(LoadError::Invalid(format!(
            "--users must be between 1 and {MAX_USERS}"
        )));
    }
    if RUNNING.swap(true, Ordering::AcqRel) {
        return Err(LoadError::Invalid(
            "another closed-model run is in progress in this process".into(),
        ));
    }
    let duration_ms = plan.duration().as_millis() as u64;
    let s = Arc::new(Shared2 {
        stats: Mutex::new(RunStats::new(shared.mix.names(), duration_ms)),
        shared: shared.clone(),
        next: AtomicU64::new(0),
        cap,
        start: Instant::now(),
        credits: Mutex::new((0.0, 0)),
        capped: AtomicBool::new(false),
    });
    let mut config = GooseConfiguration::default();
    config.host = Some(shared.run.base.clone());
    config.users = Some(users);
    config.increase_rate = Some(users.to_string());
    config.run_time = Some(duration_ms.div_ceil(1000).max(1).to_string());
    config.no_telnet = true;
    config.no_print_metrics = true;
    config.no_error_summary = true;
    config.quiet = 1;
    let scenario = Scenario::new("golive load mix")
        .register_transaction(Transaction::new(transaction(s.clone())).set_name("mix"));
    goose::reset_killswitch();
    let attack = match GooseAttack::initialize_with_config(config) {
        Ok(a) => a.register_scenario(scenario),
        Err(e) => {
            RUNNING.store(false, Ordering::Release);
            return Err(LoadError::Invalid(format!("Goose refused the run: {e}")));
        }
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    let watcher = tokio::spawn(async move {
        while !*cancel.borrow_and_update() {
            if cancel.changed().await.is_err() {
                return;
            }
        }
        flag.store(true, Ordering::Release);
        goose::trigger_killswitch("golive: interrupted");
    });
    let result = attack.execute().await;
    watcher.abort();
    shared.stopping.store(true, Ordering::Release);
    let _ = shared.halt.send(true);
    RUNNING.store(false, Ordering::Release);
    if let Err(e) = result {
        return Err(LoadError::Invalid(format!("Goose failed: {e}")));
    }
    let mut stats = s.stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (credits, substituted) = *s.credits.lock().unwrap_or_else(|e| e.into_inner());
    stats.credits = credits;
    stats.substituted = substituted;
    // Goose's own Ctrl-C handler pulls the same killswitch.
    let by_signal = goose::is_killswitch_triggered() && !s.capped.load(Ordering::Acquire);
    let stop = if interrupted.load(Ordering::Acquire) || by_signal {
        Stop::Interrupted
    } else {
        Stop::Completed
    };
    Ok((stats, stop))
}
