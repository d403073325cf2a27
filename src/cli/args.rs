//! Flags shared by several commands, and the parsers clap runs on values.

use std::path::PathBuf;

use clap::Args;
use golive::report::Format;

#[derive(Args)]
pub struct OutputArgs {
    /// Where the report goes.
    #[arg(long, default_value = "golive-report")]
    pub report_dir: PathBuf,
    #[arg(
        long,
        default_value = "all",
        value_parser = parse_formats,
        help = format!("Report formats: a comma list of {} (or `all`)", Format::names())
    )]
    pub format: FormatList,
    /// Also write every exchange as a HAR 1.2 file (opens in browsers and proxies).
    #[arg(long, value_name = "FILE")]
    pub har: Option<PathBuf>,
}

#[derive(Clone)]
pub struct FormatList(pub Vec<Format>);

fn parse_formats(s: &str) -> Result<FormatList, String> {
    Format::parse_list(s)
        .map(FormatList)
        .map_err(|e| e.to_string())
}

/// `--var NAME=VALUE`.
pub fn parse_var(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))?;
    if k.trim().is_empty() {
        return Err(format!("`{s}` has no name"));
    }
    Ok((k.trim().to_string(), v.to_string()))
}

/// A duration flag (`90s`, `5m`) that must be longer than zero.
pub fn parse_limit(s: &str) -> Result<std::time::Duration, String> {
    match golive::pack::template::parse_duration(s)? {
        d if d.is_zero() => Err("must be longer than 0 s".into()),
        d => Ok(d),
    }
}
