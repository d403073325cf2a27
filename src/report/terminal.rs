//! The terminal summary: one line per check, then each failure read like a
//! compiler error (which check, which step, expected, actual, request id).
//! Only formats the report model; printing is `main.rs`'s job.

use std::fmt::Write;

use crate::report::{FindingLevel, Report, Status, Verdict};

/// ANSI colours, or none (`NO_COLOR`, not a terminal).
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn status(&self, s: Status) -> String {
        let (code, text) = match s {
            Status::Pass => ("32", "PASS "),
            Status::Fail => ("1;31", "FAIL "),
            Status::Warn => ("33", "WARN "),
            Status::Skip => ("2", "SKIP "),
            Status::Error => ("1;35", "ERROR"),
        };
        self.paint(code, text)
    }
    pub fn verdict(&self, v: Verdict) -> String {
        let code = match v {
            Verdict::Go => "1;32",
            Verdict::NoGo => "1;31",
            Verdict::Incomplete => "1;33",
        };
        self.paint(code, v.as_str())
    }
}

/// One line for a finished check (also used for progress lines).
pub fn check_line(style: Style, id: &str, status: Status, summary: &str) -> String {
    format!("{} {id:<44} {summary}", style.status(status))
}

/// The whole summary: one line per check, then [`details`].
pub fn render(report: &Report, style: Style) -> String {
    let mut out = String::new();
    let width = report
        .checks
        .iter()
        .map(|c| c.id.len())
        .max()
        .unwrap_or(10)
        .max(10);
    for c in &report.checks {
        let _ = writeln!(
            out,
            "{} {:<width$}  {:<13} {:<8}  {}",
            style.status(c.status),
            c.id,
            c.family.as_str(),
            c.severity.as_str(),
            c.summary,
        );
    }
    out + &details(report, style)
}

/// The summary without the per-check lines (for a terminal that already
/// showed them as progress): each failure, then the verdict.
pub fn details(report: &Report, style: Style) -> String {
    let mut out = String::new();
    let mut any = false;
    for c in &report.checks {
        if !matches!(c.status, Status::Fail | Status::Error | Status::Warn) {
            continue;
        }
        for f in &c.findings {
            if !any {
                out.push('\n');
                any = true;
            }
            let (tag, code) = match f.level {
                FindingLevel::Fail => ("error", "1;31"),
                FindingLevel::Warn => ("warning", "33"),
            };
            let _ = writeln!(out, "{}[{}]: {}", style.paint(code, tag), c.id, f.message);
            let _ = writeln!(
                out,
                "  --> {}{}",
                c.scenario
                    .as_deref()
                    .map(|s| format!("scenarios/{}/{s}: ", c.pack))
                    .unwrap_or_default(),
                f.step
            );
            if let Some(e) = &f.expected {
                let _ = writeln!(out, "   = expected: {e}");
            }
            if let Some(a) = &f.actual {
                let _ = writeln!(out, "   = actual:   {a}");
            }
            if let Some(r) = &f.request_id {
                let _ = writeln!(out, "   = request id: {r}");
            }
            if let Some(b) = f.basis {
                let _ = writeln!(out, "   = rests on: {}", b.describe());
            }
            if let Some(a) = &f.advice {
                let _ = writeln!(out, "   = help: {a}");
            }
        }
        if c.status == Status::Error && c.findings.is_empty() {
            if !any {
                out.push('\n');
                any = true;
            }
            let _ = writeln!(
                out,
                "{}[{}]: {}",
                style.paint("1;35", "error"),
                c.id,
                c.summary
            );
        }
    }
    let t = &report.totals;
    let _ = writeln!(
        out,
        "\n{} — {} ({} passed, {} failed, {} warned, {} skipped, {} errored in {:.1} s)",
        style.verdict(report.verdict),
        report.verdict_reason,
        t.pass,
        t.fail,
        t.warn,
        t.skip,
        t.error,
        report.duration_ms / 1000.0
    );
    if let Some(i) = &report.interrupted {
        let _ = writeln!(out, "the run was cut short: {i}");
    }
    out
}
