//! `report.html` (work in progress).
use super::model::Report;
use super::text;

/// Renders the HTML report.
pub fn render(report: &Report) -> String {
    format!(
        "<!doctype html><title>golive</title><h1>{}</h1><p>{} ({})</p>\n",
        report.verdict,
        text::html(&report.verdict_reason),
        text::bytes(report.checks.len())
    )
}
