//! golive's binary: parse, set up tracing, call the library, map the outcome
//! to an exit code. The only place that prints or exits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use golive::engine::{Progress, RunConfig, Target};
use golive::fake::{FakeConfig, FakeOptions, Fault};
use golive::report::Format;
use golive::report::diff::{self, DiffOptions};
use golive::report::terminal::{self, Style};

mod cli_load;
mod progress;
mod signals;

#[derive(Parser)]
#[command(
    name = "golive",
    version,
    about = "Tells a team whether an API integration is ready to go live",
    // Help as written in the source, whatever the terminal's width.
    term_width = 0
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every check of the packs against a target and write the readiness report.
    Check(CheckArgs),
    /// Lint packs and scenario files (a pack directory, a scenario file, or a folder of packs).
    Validate(ValidateArgs),
    /// Compare two reports (what regressed), or re-render a stored report.
    Report(ReportArgs),
    /// Run the built-in fake of both APIs until Ctrl-C.
    Fake(FakeArgs),
    /// Send a pack's load mix at a rate (open model) or with N users (closed), gated by SLOs.
    Load(Box<cli_load::LoadArgs>),
    /// Find the highest rate at which every SLO holds (steps the rate up, then bisects).
    Capacity(cli_load::CapacityArgs),
    /// Merge the raw results of the segments of one load plan into one report.
    Merge(cli_load::MergeArgs),
}

#[derive(Args)]
#[command(
    after_help = "Exit codes: 0 GO, 1 NO-GO, 2 bad input, 3 INCOMPLETE.\n\nLive keys come from the pack's key variables (by default GOLIVE_KEY, GOLIVE_KEY_EMPTY, GOLIVE_KEY_OTHER, GOLIVE_KEY_DISABLED); a check whose key is missing is skipped with the reason."
)]
struct CheckArgs {
    /// `fake` (the built-in fake, in-process on loopback) or the base URL of a live API.
    #[arg(long, default_value = "fake")]
    target: String,
    /// A pack: an embedded name (removit, removebgvideo) or a directory with pack.yaml (repeatable; default: every embedded pack).
    #[arg(long = "pack", value_name = "NAME|DIR")]
    packs: Vec<String>,
    /// With --target fake: break one promise of the fake on purpose (repeatable).
    #[arg(long = "fault", value_name = "NAME")]
    faults: Vec<Fault>,
    /// With --target fake: a YAML/JSON config for the fake (keys, credits, rate limit, timings); fields left out keep the fast check profile (250 ms jobs, a bucket that refills in 1 s).
    #[arg(long, value_name = "FILE")]
    fake_config: Option<PathBuf>,
    /// Override a pack input, e.g. --var fail_url=https://… (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// Only run checks whose id contains this text (repeatable).
    #[arg(long = "only", value_name = "TEXT")]
    only: Vec<String>,
    #[command(flatten)]
    out: OutputArgs,
    /// A previous report.json (e.g. the last green run): print what changed since.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// No progress bars or lines; the summary still prints.
    #[arg(long, short)]
    quiet: bool,
    /// The whole run's time limit (e.g. 90s, 5m): past it the remaining checks are skipped and the verdict is INCOMPLETE.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_max_duration)]
    max_duration: std::time::Duration,
    /// Each check's time limit unless its scenario sets a deadline (e.g. 45s, 10m): a job that never ends costs at most this; against a live API whose jobs take longer, raise it.
    #[arg(long, value_name = "DURATION", default_value = "45s", value_parser = parse_max_duration)]
    check_limit: std::time::Duration,
    /// Run every check even against a target that answers slower than its pack's `slow_target` (by default, after a few slow answers in a row only the timeouts checks run).
    #[arg(long)]
    patient: bool,
}

fn parse_max_duration(s: &str) -> Result<std::time::Duration, String> {
    match golive::pack::template::parse_duration(s)? {
        d if d.is_zero() => Err("must be longer than 0 s".into()),
        d => Ok(d),
    }
}

#[derive(Args)]
pub(crate) struct OutputArgs {
    /// Where the report goes.
    #[arg(long, default_value = "golive-report")]
    pub(crate) report_dir: PathBuf,
    #[arg(
        long,
        default_value = "all",
        value_parser = parse_formats,
        help = format!("Report formats: a comma list of {} (or `all`)", Format::names())
    )]
    format: FormatList,
    /// Also write every exchange as a HAR 1.2 file (opens in browsers and proxies).
    #[arg(long, value_name = "FILE")]
    har: Option<PathBuf>,
}

#[derive(Args)]
#[command(
    after_help = "With two files, prints what changed from OLD to NEW (exit 1 when something regressed). With one file, re-renders it into --report-dir in --format."
)]
struct ReportArgs {
    /// A report.json (OLD when NEW is given).
    file: PathBuf,
    /// A newer report.json to compare with FILE.
    new: Option<PathBuf>,
    /// Compare FILE against this older report.
    #[arg(long, value_name = "FILE", conflicts_with = "new")]
    baseline: Option<PathBuf>,
    /// Latency change (as a fraction, 0.25 = 25 %) beyond which a check's latency is reported.
    #[arg(long, default_value_t = 0.25)]
    latency_tolerance: f64,
    #[command(flatten)]
    out: OutputArgs,
}

#[derive(Clone)]
struct FormatList(Vec<Format>);

fn parse_formats(s: &str) -> Result<FormatList, String> {
    Format::parse_list(s)
        .map(FormatList)
        .map_err(|e| e.to_string())
}

#[derive(Args)]
struct ValidateArgs {
    /// A pack directory, a scenario file, or a folder of pack directories.
    #[arg(default_value = "scenarios")]
    path: PathBuf,
}

pub(crate) fn parse_var(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))?;
    if k.trim().is_empty() {
        return Err(format!("`{s}` has no name"));
    }
    Ok((k.trim().to_string(), v.to_string()))
}

#[derive(Args)]
#[command(after_help = Fault::catalogue())]
struct FakeArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// A YAML or JSON config (keys, credits, rate limit, processing time…).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Break one promise on purpose (repeatable); see the list below.
    #[arg(long = "fault", value_name = "NAME")]
    faults: Vec<Fault>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_ansi(progress::color_for(std::io::stderr().is_terminal()))
        .with_writer(|| progress::LogWriter)
        .init();
    match cli.command {
        Command::Check(args) => run_check(args),
        Command::Validate(args) => run_validate(args),
        Command::Report(args) => run_report(args),
        Command::Fake(args) => run_fake(args),
        Command::Load(args) => cli_load::run_load(*args),
        Command::Capacity(args) => cli_load::run_capacity(args),
        Command::Merge(args) => cli_load::run_merge(args),
    }
}

/// Prints to stdout; a closed pipe (`golive check | head`) is not an error,
/// so the run still writes its report and exits with its verdict's code.
pub(crate) fn say(s: &str) {
    let _ = std::io::stdout().lock().write_all(s.as_bytes());
}

/// Colour on stdout: a terminal, and no `NO_COLOR`.
fn use_color() -> bool {
    progress::color_for(std::io::stdout().is_terminal())
}

fn run_validate(args: ValidateArgs) -> ExitCode {
    match golive::pack::validate_path(&args.path) {
        Ok(lines) => {
            for l in lines {
                say(&format!("ok: {l}\n"));
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            ExitCode::from(2)
        }
    }
}

fn run_check(args: CheckArgs) -> ExitCode {
    // Resolve everything that can be wrong with the invocation before any traffic.
    let names = if args.packs.is_empty() {
        golive::pack::embedded_names()
    } else {
        args.packs.clone()
    };
    let mut packs = Vec::new();
    for n in &names {
        match golive::pack::load(n) {
            Ok(p) => packs.push(p),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if args.target == "fake" {
        // Refused before any work: a fake of another API would only mislead.
        let refused: Vec<String> = packs
            .iter()
            .filter_map(golive::engine::fake_cannot_serve)
            .collect();
        if !refused.is_empty() {
            for why in refused {
                eprintln!("error: {why}");
            }
            return ExitCode::from(2);
        }
    }
    let target = if args.target == "fake" {
        // Fast timings for a readiness run; live targets keep their own.
        let config =
            match load_fake_config(args.fake_config.as_deref(), FakeConfig::check_profile()) {
                Ok(c) => c,
                Err(code) => return code,
            };
        Target::Fake(FakeOptions {
            config,
            faults: args.faults.clone(),
        })
    } else {
        if !args.faults.is_empty() || args.fake_config.is_some() {
            eprintln!("error: --fault and --fake-config only apply to --target fake");
            return ExitCode::from(2);
        }
        match url::Url::parse(&args.target) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                eprintln!(
                    "error: --target must be `fake` or an http(s) URL, not `{}`",
                    golive::engine::strip_credentials(&args.target)
                );
                return ExitCode::from(2);
            }
        }
        Target::Live(args.target.clone())
    };
    let color = use_color();
    let display = Arc::new(progress::Display::new(args.quiet));
    let shown = display.clone();
    let progress: golive::engine::ProgressFn = Arc::new(move |p: &Progress| shown.event(p));
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(None);
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let config = RunConfig {
        target,
        packs,
        vars: args.vars.into_iter().collect(),
        env: Arc::new(|name: &str| std::env::var(name).ok()),
        cancel: Some(cancel_rx),
        max_duration: Some(args.max_duration),
        progress: Some(progress),
        only: args.only,
        check_limit: Some(args.check_limit),
        patient: args.patient,
    };
    let on_signal = display.clone();
    let report = runtime.block_on(async move {
        if let Err(e) = signals::install(cancel_tx, move |m| on_signal.note(m)) {
            tracing::warn!("signals are not handled ({e}): an interrupted run writes no report");
        }
        golive::engine::run(config).await
    });
    display.finish();
    // A terminal that showed every check's line as it finished gets only the
    // failures and the verdict, not the same lines again.
    let style = Style { color };
    if std::io::stdout().is_terminal()
        && std::io::stderr().is_terminal()
        && display.lines_shown() == report.checks.len()
    {
        say(&terminal::details(&report, style));
    } else {
        say(&terminal::render(&report, style));
    }
    if let Err(code) = write_outputs(&report, &args.out) {
        return code;
    }
    if let Some(base) = &args.baseline {
        match golive::report::json::read(base) {
            Ok(old) => say(&format!(
                "\n{}",
                diff::render_text(&diff::diff(&old, &report, DiffOptions::default()))
            )),
            Err(e) => eprintln!("warning: baseline not compared: {e}"),
        }
    }
    ExitCode::from(report.verdict.exit_code() as u8)
}

/// Writes the report files (and the CI job summary when `$GITHUB_STEP_SUMMARY` is set).
pub(crate) fn write_outputs(
    report: &golive::report::Report,
    out: &OutputArgs,
) -> Result<(), ExitCode> {
    match golive::report::write_all(report, &out.report_dir, &out.format.0, out.har.as_deref()) {
        Ok(paths) => {
            for p in paths {
                say(&format!("wrote {}\n", p.display()));
            }
        }
        Err(e) => {
            eprintln!("error: the report could not be written: {e}");
            return Err(ExitCode::from(2));
        }
    }
    if let Some(path) = golive::report::md::step_summary_path() {
        if let Err(e) = golive::report::md::append_step_summary(report, &path) {
            eprintln!("warning: job summary not written: {e}");
        }
    }
    Ok(())
}

fn run_report(args: ReportArgs) -> ExitCode {
    let read = |p: &PathBuf| {
        golive::report::json::read(p).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        })
    };
    let opts = DiffOptions {
        latency_tolerance: args.latency_tolerance,
        ..DiffOptions::default()
    };
    let (old, new) = match (&args.new, &args.baseline) {
        (Some(n), _) => match (read(&args.file), read(n)) {
            (Ok(o), Ok(n)) => (Some(o), n),
            (Err(c), _) | (_, Err(c)) => return c,
        },
        (None, Some(b)) => match (read(b), read(&args.file)) {
            (Ok(o), Ok(n)) => (Some(o), n),
            (Err(c), _) | (_, Err(c)) => return c,
        },
        (None, None) => match read(&args.file) {
            Ok(n) => (None, n),
            Err(c) => return c,
        },
    };
    match old {
        Some(old) => {
            let d = diff::diff(&old, &new, opts);
            say(&diff::render_text(&d));
            if d.has_regressions() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        None => match write_outputs(&new, &args.out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(c) => c,
        },
    }
}

/// The multi-thread runtime every command runs on.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            eprintln!("error: cannot start the runtime: {err}");
            ExitCode::FAILURE
        })
}

/// The fake's config from a file, or the contract's defaults; a bad file is exit 2.
/// The fake's config: `base` with the file's fields laid over it.
pub(crate) fn load_fake_config(
    path: Option<&std::path::Path>,
    base: FakeConfig,
) -> Result<FakeConfig, ExitCode> {
    match path {
        Some(path) => FakeConfig::from_file_over(path, &base).map_err(|err| {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }),
        None => Ok(base),
    }
}

fn run_fake(args: FakeArgs) -> ExitCode {
    let config = match load_fake_config(args.config.as_deref(), FakeConfig::default()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let keys: Vec<(String, String)> = ["valid", "other", "empty", "disabled"]
        .iter()
        .filter_map(|role| config.key(role).map(|k| (role.to_string(), k.to_string())))
        .collect();
    let faults = args.faults.clone();
    let options = FakeOptions { config, faults };
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = runtime.block_on(async move {
        let ready = move |bound: SocketAddr| {
            println!("golive fake listening on http://{bound}");
            for (role, key) in &keys {
                println!("  key {role:<8} {key}");
            }
            for fault in &args.faults {
                println!("  fault {fault}: {}", fault.describe());
            }
            println!("Ctrl-C to stop");
        };
        tokio::select! {
            res = golive::fake::server::serve(options, addr, ready) => res,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
