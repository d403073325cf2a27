//! `golive report` (compare two reports, or re-render one) and
//! `golive validate` (lint packs and scenario files).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use golive::report::Report;
use golive::report::diff::{self, DiffOptions};

use super::args::OutputArgs;
use super::{CliError, say, write_outputs};

#[derive(Args)]
#[command(
    after_help = "With two files, prints what changed from OLD to NEW (exit 1 when something regressed). With one file, re-renders it into --report-dir in --format."
)]
pub struct ReportArgs {
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

#[derive(Args)]
pub struct ValidateArgs {
    /// A pack directory, a scenario file, or a folder of pack directories.
    #[arg(default_value = "scenarios")]
    path: PathBuf,
}

pub fn validate(args: ValidateArgs) -> Result<ExitCode, CliError> {
    match golive::pack::validate_path(&args.path) {
        Ok(lines) => {
            for l in lines {
                say(&format!("ok: {l}\n"));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => Err(CliError::usages(errors)),
    }
}

pub fn run(args: ReportArgs) -> Result<ExitCode, CliError> {
    let read = |p: &PathBuf| golive::report::json::read(p).map_err(CliError::usage);
    // (older, newer): a comparison, or one report to re-render.
    let (old, new): (Option<Report>, Report) = match (&args.new, &args.baseline) {
        (Some(n), _) => (Some(read(&args.file)?), read(n)?),
        (None, Some(b)) => (Some(read(b)?), read(&args.file)?),
        (None, None) => (None, read(&args.file)?),
    };
    let Some(old) = old else {
        write_outputs(&new, &args.out)?;
        return Ok(ExitCode::SUCCESS);
    };
    let opts = DiffOptions {
        latency_tolerance: args.latency_tolerance,
        ..DiffOptions::default()
    };
    let d = diff::diff(&old, &new, opts);
    say(&diff::render_text(&d));
    Ok(if d.has_regressions() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
