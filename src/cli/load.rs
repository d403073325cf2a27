//! `golive load` and `golive merge`: flags → a `LoadConfig`, signals →
//! the cancel watch, results → report files and the exit code.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use golive::fake::{FakeOptions, Fault};
use golive::load::{self, LoadConfig, LoadTarget, Model, Plan, SloSource};
use golive::pack::slo::Slo;

use super::args::{OutputArgs, parse_var};
use super::{CliError, load_fake_config, runtime, say, signals, verdict_code, write_outputs};

#[derive(Args)]
#[command(
    after_help = "Exit codes: 0 every SLO met, 1 an SLO breached, 2 bad input, 3 incomplete (interrupted, stopped at --max-credits, or an SLO with nothing to measure).\n\nOpen model (default): arrivals follow --rate/--duration or --stage on an absolute schedule and never wait for responses; latency runs from each arrival's intended send time. Closed model: --users N.\n\nWith no --target the load goes to the built-in fake on a loopback port, with a rate limit and balance no run reaches (--fake-config for others). A non-loopback target needs --confirm-target HOST."
)]
pub struct LoadArgs {
    /// The pack whose `load:` mix is sent: an embedded name or a directory.
    #[arg(long, default_value = "removit", value_name = "NAME|DIR")]
    pack: String,
    /// The base URL of a live API (default: the built-in fake).
    #[arg(long)]
    target: Option<String>,
    /// The target's host, to confirm a load run against a non-loopback address.
    #[arg(long, value_name = "HOST")]
    confirm_target: Option<String>,
    /// With the fake: break one promise on purpose (repeatable).
    #[arg(long = "fault", value_name = "NAME")]
    faults: Vec<Fault>,
    /// With the fake: its config (YAML/JSON).
    #[arg(long, value_name = "FILE")]
    fake_config: Option<PathBuf>,
    /// Override a pack input (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// Arrivals a second (`50/s`, `3000/m`); with --duration.
    #[arg(long, conflicts_with = "stages")]
    rate: Option<String>,
    /// How long the run lasts (`60s`, `2m`).
    #[arg(long)]
    duration: Option<String>,
    /// A stage DURATION:RATE (`30s:10/s`), repeatable, run in order.
    #[arg(long = "stage", value_name = "DURATION:RATE")]
    stages: Vec<String>,
    /// Closed model: this many users, each sending when its last request answered.
    #[arg(long, value_name = "N", conflicts_with_all = ["rate", "stages"])]
    users: Option<usize>,
    /// At most this many requests over the whole plan (every segment; for capacity, every step; default 200000 there).
    #[arg(long, value_name = "N")]
    max_requests: Option<u64>,
    /// Requests in flight at most; an arrival that finds none free is dropped (counted).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    max_in_flight: usize,
    /// Share of responses validated against their JSON Schema (`1%`, `0`, `100%`).
    #[arg(long, default_value = "1%", value_name = "PCT")]
    schema_sample: String,
    /// An SLO gate (`p95<800ms`, `errors<1%`, `429<5%`, `poll:p99<1s`), repeatable; adds to the pack's.
    #[arg(long = "slo", value_name = "SLO")]
    slos: Vec<String>,
    /// Ignore the SLOs the pack declares (only --slo gates the run).
    #[arg(long)]
    no_pack_slos: bool,
    /// Stop as soon as an SLO breach is certain.
    #[arg(long)]
    abort_on_fail: bool,
    /// Stop before the calls sent would cost more than N credits (the pack's `cost`).
    #[arg(long, value_name = "N")]
    max_credits: Option<f64>,
    /// Run the I-th of N interleaved shares of the plan (I from 0, as JOB_COMPLETION_INDEX).
    #[arg(long, value_name = "I/N")]
    segment: Option<String>,
    /// When arrival 0 is due (RFC 3339), shared by every segment.
    #[arg(long, value_name = "TIME")]
    start_at: Option<String>,
    /// Where the raw results go (mergeable histograms; default REPORT_DIR/load-results.json).
    #[arg(long, value_name = "FILE")]
    raw: Option<PathBuf>,
    #[command(flatten)]
    out: OutputArgs,
    /// No progress line.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
#[command(
    after_help = "Exit codes: 0 a knee was found, 1 not even the first rate held its SLOs, 2 bad input, 3 incomplete (no step broke within --max-rate or the budget, or interrupted).\n\nEach step is an open-model run at one rate: --warmup, then a measured --window. The rate doubles from --start-rate until a step breaks an SLO or sends under 99 % of its arrivals, then bisects until the last held and first broken rates are within --precision. A step broken only by 429s is reported as the rate limiter's ceiling. The search stops at --max-requests in all."
)]
pub struct CapacityArgs {
    #[command(flatten)]
    load: Box<LoadArgs>,
    /// The first rate tried.
    #[arg(long, default_value = "10/s")]
    start_rate: String,
    /// The highest rate tried.
    #[arg(long, default_value = "5000/s")]
    max_rate: String,
    /// Warm-up of every step, excluded from its measurement (whole seconds).
    #[arg(long, default_value = "2s")]
    warmup: String,
    /// Measured window of every step (whole seconds).
    #[arg(long, default_value = "5s")]
    window: String,
    /// Narrow until (broke − held) ÷ held is at most this (`5%`).
    #[arg(long, default_value = "5%")]
    precision: String,
}

#[derive(Args)]
pub struct MergeArgs {
    /// Raw results files of the segments of one plan (`load-results.json`).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    out: OutputArgs,
}

fn parse_share(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(n) => n.trim().parse::<f64>().map(|p| p / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("--schema-sample `{s}`: a percentage like 1% or 0"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("--schema-sample `{s}` is not between 0% and 100%"));
    }
    Ok(v)
}

fn plan_of(a: &LoadArgs) -> Result<Plan, load::LoadError> {
    let segment = match &a.segment {
        Some(s) => load::Segment::parse(s)?,
        None => load::Segment::default(),
    };
    let stages = if !a.stages.is_empty() {
        if a.duration.is_some() {
            return Err(load::LoadError::Invalid(
                "--duration goes with --rate; each --stage has its own".into(),
            ));
        }
        a.stages
            .iter()
            .map(|s| load::plan::parse_stage(s))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let duration_ms = load::plan::duration_ms(a.duration.as_deref().unwrap_or("10s"))?;
        let rate = match (&a.rate, a.users) {
            // The closed model's plan is only its duration (and request cap).
            (_, Some(_)) => 1.0,
            (r, None) => load::plan::parse_rate(r.as_deref().unwrap_or("10/s"))?,
        };
        vec![load::Stage { duration_ms, rate }]
    };
    let cap = if a.users.is_some() {
        None
    } else {
        a.max_requests
    };
    Plan::new(stages, cap, segment)
}

fn config(a: &LoadArgs) -> Result<LoadConfig, CliError> {
    let pack = golive::pack::load(&a.pack).map_err(CliError::usage)?;
    let target = match &a.target {
        None => LoadTarget::Fake(FakeOptions {
            config: match &a.fake_config {
                Some(p) => load_fake_config(Some(p), golive::fake::FakeConfig::default())?,
                None => load::fake_config_for_load(),
            },
            faults: a.faults.clone(),
        }),
        Some(url) => {
            if !a.faults.is_empty() || a.fake_config.is_some() {
                return Err(CliError::usage(
                    "--fault and --fake-config only apply to the built-in fake",
                ));
            }
            load::check_target(url, a.confirm_target.as_deref()).map_err(CliError::usage)?;
            LoadTarget::Live {
                url: url.clone(),
                confirm: a.confirm_target.clone(),
            }
        }
    };
    let mut slos = vec![];
    if !a.no_pack_slos {
        for s in pack.file.load.iter().flat_map(|l| &l.slo) {
            slos.push((Slo::parse(s).map_err(CliError::usage)?, SloSource::Pack));
        }
    }
    for s in &a.slos {
        slos.push((Slo::parse(s).map_err(CliError::usage)?, SloSource::Cli));
    }
    let start_at = match &a.start_at {
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| CliError::usage(format!("--start-at `{t}`: {e}")))?
                .with_timezone(&chrono::Utc),
        ),
        None => None,
    };
    Ok(LoadConfig {
        plan: plan_of(a).map_err(CliError::usage)?,
        model: match a.users {
            Some(users) => Model::Closed {
                users,
                max_requests: a.max_requests,
            },
            None => Model::Open,
        },
        pack,
        target,
        vars: a.vars.iter().cloned().collect(),
        env: Arc::new(|name: &str| std::env::var(name).ok()),
        slos,
        max_in_flight: a.max_in_flight,
        schema_sample: parse_share(&a.schema_sample).map_err(CliError::usage)?,
        max_credits: a.max_credits,
        abort_on_fail: a.abort_on_fail,
        start_at,
        cancel: None,
        progress: None,
    })
}

/// Ctrl-C or SIGTERM flips the watch; a second one exits at once.
fn watch_signals(tx: tokio::sync::watch::Sender<bool>) {
    let first = move |_: &str| {
        eprintln!("\ninterrupted: stopping the load and writing the report (again to abort)");
        let _ = tx.send(true);
    };
    if let Err(e) = signals::install(first) {
        tracing::warn!("signals are not handled ({e}): an interrupted run writes no report");
    }
}

pub fn run_load(args: LoadArgs) -> Result<ExitCode, CliError> {
    let mut cfg = config(&args)?;
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    cfg.cancel = Some(cancel_rx);
    if !args.quiet && std::io::stderr().is_terminal() {
        cfg.progress = Some(Arc::new(|p: &load::LoadProgress| {
            let _ = write!(
                std::io::stderr().lock(),
                "\r\x1b[2K  {:>6.1} s  {} of {} done  {} in flight",
                p.elapsed.as_secs_f64(),
                p.done,
                p.planned,
                p.in_flight
            );
        }));
    }
    let runtime = runtime()?;
    let pack_info = pack_info(&cfg.pack);
    let result = runtime.block_on(async move {
        watch_signals(cancel_tx);
        load::run(cfg).await
    });
    if !args.quiet && std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
    let raw = result.map_err(CliError::usage)?;
    let raw_path = args
        .raw
        .clone()
        .unwrap_or_else(|| args.out.report_dir.join("load-results.json"));
    write_raw(&raw, &raw_path)?;
    finish(&load::report::build(&raw, Some(pack_info)), &args.out)
}

fn write_raw(raw: &load::RawResults, path: &std::path::Path) -> Result<(), CliError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::usage(format!("{}: {e}", dir.display())))?;
    }
    let text = serde_json::to_string(raw).map_err(CliError::usage)?;
    std::fs::write(path, text).map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
    say(&format!("wrote {}\n", path.display()));
    Ok(())
}

fn finish(report: &golive::report::Report, out: &OutputArgs) -> Result<ExitCode, CliError> {
    say(&load::report::summary(report));
    write_outputs(report, out)?;
    Ok(verdict_code(report))
}

fn pack_info(p: &golive::pack::Pack) -> golive::report::PackInfo {
    golive::report::PackInfo {
        name: p.file.name.clone(),
        version: p.file.version.clone(),
        title: p.file.title.clone(),
        source: p.source.clone(),
        scenarios: vec![golive::report::ScenarioDigest {
            file: "pack.yaml".into(),
            sha256: p.pack_sha256.clone(),
        }],
    }
}

pub fn run_merge(args: MergeArgs) -> Result<ExitCode, CliError> {
    let mut texts = vec![];
    for f in &args.files {
        let t = std::fs::read_to_string(f)
            .map_err(|e| CliError::usage(format!("{}: {e}", f.display())))?;
        texts.push((f.display().to_string(), t));
    }
    let merged = load::merge(&texts).map_err(CliError::usage)?;
    let raw_path = args.out.report_dir.join("load-results.json");
    write_raw(&merged, &raw_path)?;
    finish(&load::report::build(&merged, None), &args.out)
}

fn whole_secs(s: &str) -> Result<u64, String> {
    let ms = load::plan::duration_ms(s).map_err(|e| e.to_string())?;
    Ok(ms.div_ceil(1000))
}

pub fn run_capacity(args: CapacityArgs) -> Result<ExitCode, CliError> {
    let a = &args.load;
    let opts = (|| -> Result<load::capacity::CapacityOptions, String> {
        Ok(load::capacity::CapacityOptions {
            start_rate: load::plan::parse_rate(&args.start_rate).map_err(|e| e.to_string())?,
            max_rate: load::plan::parse_rate(&args.max_rate).map_err(|e| e.to_string())?,
            warmup_s: whole_secs(&args.warmup)?,
            window_s: whole_secs(&args.window)?,
            max_requests: a.max_requests.unwrap_or(200_000),
            precision: parse_share(&args.precision)?,
        })
    })();
    let opts = opts.map_err(CliError::usage)?;
    let mut cfg = config(a)?;
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    cfg.cancel = Some(cancel_rx);
    let runtime = runtime()?;
    let pack_info = pack_info(&cfg.pack);
    let result = runtime.block_on(async move {
        watch_signals(cancel_tx);
        load::capacity::run(cfg, opts).await
    });
    let res = result.map_err(CliError::usage)?;
    let report = load::capacity::report(&res, Some(pack_info));
    say(&load::report::capacity_summary(&report));
    write_outputs(&report, &a.out)?;
    Ok(verdict_code(&report))
}
