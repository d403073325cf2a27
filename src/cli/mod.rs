//! The binary's command line, the ripgrep way: clap parses raw flags
//! (`*Args`), each command resolves them into what the library takes
//! (packs loaded, target checked, a `RunConfig` or `LoadConfig`) before any
//! traffic, then runs it and maps the outcome to an exit code. The library
//! never reads argv, never prints, never exits; this module does all three.

mod args;
mod check;
mod error;
mod fake;
mod load;
mod progress;
mod report;
mod signals;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use golive::fake::FakeConfig;

use args::OutputArgs;
pub use error::CliError;

#[derive(Parser)]
#[command(
    name = "golive",
    version,
    about = "Tells a team whether an API integration is ready to go live",
    // Help as written in the source, whatever the terminal's width.
    term_width = 0
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every check of the packs against a target and write the readiness report.
    Check(check::CheckArgs),
    /// Lint packs and scenario files (a pack directory, a scenario file, or a folder of packs).
    Validate(report::ValidateArgs),
    /// Compare two reports (what regressed), or re-render a stored report.
    Report(report::ReportArgs),
    /// Run the built-in fake of both APIs until Ctrl-C.
    Fake(fake::FakeArgs),
    /// Send a pack's load mix at a rate (open model) or with N users (closed), gated by SLOs.
    Load(Box<load::LoadArgs>),
    /// Find the highest rate at which every SLO holds (steps the rate up, then bisects).
    Capacity(load::CapacityArgs),
    /// Merge the raw results of the segments of one load plan into one report.
    Merge(load::MergeArgs),
}

/// Sets up logging (to stderr, under the progress display) and runs the command.
pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_ansi(progress::color_for(std::io::stderr().is_terminal()))
        .with_writer(|| progress::LogWriter)
        .init();
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Validate(args) => report::validate(args),
        Command::Report(args) => report::run(args),
        Command::Fake(args) => fake::run(args),
        Command::Load(args) => load::run_load(*args),
        Command::Capacity(args) => load::run_capacity(args),
        Command::Merge(args) => load::run_merge(args),
    }
}

/// Prints to stdout; a closed pipe (`golive check | head`) is not an error,
/// so the run still writes its report and exits with its verdict's code.
fn say(s: &str) {
    let _ = std::io::stdout().lock().write_all(s.as_bytes());
}

/// Colour on stdout: a terminal, and no `NO_COLOR`.
fn use_color() -> bool {
    progress::color_for(std::io::stdout().is_terminal())
}

/// The multi-thread runtime every command runs on.
fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::failed(format!("cannot start the runtime: {err}")))
}

/// The fake's config: `base` with the file's fields laid over it.
fn load_fake_config(
    path: Option<&std::path::Path>,
    base: FakeConfig,
) -> Result<FakeConfig, CliError> {
    match path {
        Some(path) => FakeConfig::from_file_over(path, &base).map_err(CliError::usage),
        None => Ok(base),
    }
}

/// Writes the report files (and the CI job summary when `$GITHUB_STEP_SUMMARY` is set).
fn write_outputs(report: &golive::report::Report, out: &OutputArgs) -> Result<(), CliError> {
    let paths =
        golive::report::write_all(report, &out.report_dir, &out.format.0, out.har.as_deref())
            .map_err(|e| CliError::usage(format!("the report could not be written: {e}")))?;
    for p in paths {
        say(&format!("wrote {}\n", p.display()));
    }
    if let Some(path) = golive::report::md::step_summary_path() {
        if let Err(e) = golive::report::md::append_step_summary(report, &path) {
            eprintln!("warning: job summary not written: {e}");
        }
    }
    Ok(())
}

/// The exit code a report's verdict means (0 GO, 1 NO-GO, 3 INCOMPLETE).
fn verdict_code(report: &golive::report::Report) -> ExitCode {
    ExitCode::from(report.verdict.exit_code() as u8)
}
