//! `golive check`: flags → a resolved `RunConfig` (packs loaded, the
//! target checked, every refusal before any traffic) → the run → the
//! summary, the report files and the verdict's exit code.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use golive::engine::{Progress, RunConfig, Target};
use golive::fake::{FakeConfig, FakeOptions, Fault};
use golive::pack::Pack;
use golive::report::diff::{self, DiffOptions};
use golive::report::terminal::{self, Style};

use super::args::{OutputArgs, parse_limit, parse_var};
use super::{CliError, load_fake_config, progress, runtime, say, signals, use_color};

#[derive(Args)]
#[command(
    after_help = "Exit codes: 0 GO, 1 NO-GO, 2 bad input, 3 INCOMPLETE.\n\nLive keys come from the pack's key variables (by default GOLIVE_KEY, GOLIVE_KEY_EMPTY, GOLIVE_KEY_OTHER, GOLIVE_KEY_DISABLED); a check whose key is missing is skipped with the reason."
)]
pub struct CheckArgs {
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
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_limit)]
    max_duration: std::time::Duration,
    /// Each check's time limit unless its scenario sets a deadline (e.g. 45s, 10m): a job that never ends costs at most this; against a live API whose jobs take longer, raise it.
    #[arg(long, value_name = "DURATION", default_value = "45s", value_parser = parse_limit)]
    check_limit: std::time::Duration,
    /// Run every check even against a target that answers slower than its pack's `slow_target` (by default, after a few slow answers in a row only the timeouts checks run).
    #[arg(long)]
    patient: bool,
}

pub fn run(args: CheckArgs) -> Result<ExitCode, CliError> {
    let packs = packs(&args.packs)?;
    let target = target(&args, &packs)?;
    let display = Arc::new(progress::Display::new(args.quiet));
    let shown = display.clone();
    let progress: golive::engine::ProgressFn = Arc::new(move |p: &Progress| shown.event(p));
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(None);
    let runtime = runtime()?;
    let config = RunConfig {
        target,
        packs,
        vars: args.vars.iter().cloned().collect(),
        env: Arc::new(|name: &str| std::env::var(name).ok()),
        cancel: Some(cancel_rx),
        max_duration: Some(args.max_duration),
        progress: Some(progress),
        only: args.only.clone(),
        check_limit: Some(args.check_limit),
        patient: args.patient,
    };
    let on_signal = display.clone();
    let report = runtime.block_on(async move {
        let first = move |why: &str| {
            on_signal.note(&format!(
                "interrupted: finishing the report ({why}; Ctrl-C or SIGTERM again to abort)"
            ));
            let _ = cancel_tx.send(Some(why.to_string()));
        };
        if let Err(e) = signals::install(first) {
            tracing::warn!("signals are not handled ({e}): an interrupted run writes no report");
        }
        golive::engine::run(config).await
    });
    display.finish();
    show(&report, &display);
    super::write_outputs(&report, &args.out)?;
    if let Some(base) = &args.baseline {
        match golive::report::json::read(base) {
            Ok(old) => say(&format!(
                "\n{}",
                diff::render_text(&diff::diff(&old, &report, DiffOptions::default()))
            )),
            Err(e) => eprintln!("warning: baseline not compared: {e}"),
        }
    }
    Ok(super::verdict_code(&report))
}

/// The packs named (every embedded one by default), each loaded and validated.
fn packs(names: &[String]) -> Result<Vec<Pack>, CliError> {
    let names = if names.is_empty() {
        golive::pack::embedded_names()
    } else {
        names.to_vec()
    };
    names
        .iter()
        .map(|n| golive::pack::load(n).map_err(CliError::usage))
        .collect()
}

/// The target: the built-in fake (refusing a pack it cannot serve, which a
/// fake of another API would only mislead about) or a live http(s) URL.
fn target(args: &CheckArgs, packs: &[Pack]) -> Result<Target, CliError> {
    if args.target == "fake" {
        let refused: Vec<String> = packs
            .iter()
            .filter_map(golive::engine::fake_cannot_serve)
            .collect();
        if !refused.is_empty() {
            return Err(CliError::usages(refused));
        }
        // Fast timings for a readiness run; live targets keep their own.
        let config = load_fake_config(args.fake_config.as_deref(), FakeConfig::check_profile())?;
        return Ok(Target::Fake(FakeOptions {
            config,
            faults: args.faults.clone(),
        }));
    }
    if !args.faults.is_empty() || args.fake_config.is_some() {
        return Err(CliError::usage(
            "--fault and --fake-config only apply to --target fake",
        ));
    }
    match url::Url::parse(&args.target) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Ok(Target::Live(args.target.clone()))
        }
        _ => Err(CliError::usage(format!(
            "--target must be `fake` or an http(s) URL, not `{}`",
            golive::engine::strip_credentials(&args.target)
        ))),
    }
}

/// The terminal summary. A terminal that showed every check's line as it
/// finished gets only the failures and the verdict, not the same lines again.
fn show(report: &golive::report::Report, display: &progress::Display) {
    let style = Style { color: use_color() };
    if std::io::stdout().is_terminal()
        && std::io::stderr().is_terminal()
        && display.lines_shown() == report.checks.len()
    {
        say(&terminal::details(report, style));
    } else {
        say(&terminal::render(report, style));
    }
}
