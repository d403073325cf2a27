//! History: what changed between two stored reports (`golive report OLD NEW`,
//! or `check --baseline FILE`), so a nightly run says what regressed since the
//! last green one.
//!
//! Checks are matched by id. A check is *failing* when its status is `fail`
//! or `error`. Findings are matched by (check, step, level, pointer,
//! expected) — not by message, which may carry ids that change every run.
//! Latency is compared per (check, step) on the median request duration; a
//! change counts when it is beyond `tolerance` (a ratio) *and* beyond
//! `floor_ms` (so 2 ms → 4 ms is not a regression).

use super::model::*;
use super::text;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// How latency changes are judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiffOptions {
    /// Relative change that counts, e.g. `0.25` for ±25 %.
    pub latency_tolerance: f64,
    /// Absolute change (ms) below which nothing counts, whatever the ratio.
    pub latency_floor_ms: f64,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            latency_tolerance: 0.25,
            latency_floor_ms: 50.0,
        }
    }
}

/// A check whose status changed (`before` is `None` for a check that is new).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusChange {
    pub id: String,
    pub family: Family,
    pub severity: Severity,
    pub before: Option<Status>,
    pub after: Status,
    /// The check's summary in the new report.
    pub summary: String,
}

/// A finding present in the new report and absent from the old one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewFinding {
    pub check: String,
    pub level: FindingLevel,
    pub step: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// A (check, step) whose median request latency moved beyond the tolerance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyChange {
    pub check: String,
    pub step: String,
    pub before_ms: f64,
    pub after_ms: f64,
    /// `(after - before) / before`.
    pub change: f64,
    /// Number of requests behind each median.
    pub samples_before: usize,
    pub samples_after: usize,
}

impl LatencyChange {
    pub fn is_regression(&self) -> bool {
        self.after_ms > self.before_ms
    }
}

/// What changed between two reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    pub before_verdict: Verdict,
    pub after_verdict: Verdict,
    pub before_started_at: String,
    pub after_started_at: String,
    /// Now `fail`/`error`, before not (or not present).
    pub newly_failing: Vec<StatusChange>,
    /// Now `pass`, before anything else.
    pub newly_passing: Vec<StatusChange>,
    /// Any other status change (e.g. pass → warn, pass → skip, fail → error).
    pub other_changes: Vec<StatusChange>,
    pub new_findings: Vec<NewFinding>,
    /// Findings of the old report that are gone, counted.
    pub resolved_findings: usize,
    /// Slower beyond the tolerance, worst first.
    pub latency_regressions: Vec<LatencyChange>,
    /// Faster beyond the tolerance, best first.
    pub latency_improvements: Vec<LatencyChange>,
    /// Check ids only in the old report.
    pub removed_checks: Vec<String>,
    pub options_tolerance: f64,
    pub options_floor_ms: f64,
}

impl Diff {
    /// True when something got worse: a newly failing check, a new finding or
    /// a latency regression.
    pub fn has_regressions(&self) -> bool {
        !self.newly_failing.is_empty()
            || !self.new_findings.is_empty()
            || !self.latency_regressions.is_empty()
    }

    /// True when nothing at all changed that the diff reports.
    pub fn is_empty(&self) -> bool {
        self.before_verdict == self.after_verdict
            && self.newly_failing.is_empty()
            && self.newly_passing.is_empty()
            && self.other_changes.is_empty()
            && self.new_findings.is_empty()
            && self.resolved_findings == 0
            && self.latency_regressions.is_empty()
            && self.latency_improvements.is_empty()
            && self.removed_checks.is_empty()
    }
}

fn failing(s: Status) -> bool {
    matches!(s, Status::Fail | Status::Error)
}

type FindingKey<'a> = (
    &'a str,
    &'a str,
    FindingLevel,
    Option<&'a str>,
    Option<&'a str>,
);

fn finding_key<'a>(c: &'a CheckResult, f: &'a Finding) -> FindingKey<'a> {
    (
        c.id.as_str(),
        f.step.as_str(),
        f.level,
        f.pointer.as_deref(),
        f.expected.as_deref(),
    )
}

fn finding_keys(r: &Report) -> BTreeMap<FindingKey<'_>, (&CheckResult, &Finding)> {
    let mut m = BTreeMap::new();
    for c in &r.checks {
        for f in &c.findings {
            m.entry(finding_key(c, f)).or_insert((c, f));
        }
    }
    m
}

/// Median request duration per (check, step), with the sample count.
fn latencies(r: &Report) -> BTreeMap<(&str, &str), (f64, usize)> {
    let mut samples: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    for c in &r.checks {
        for x in &c.evidence {
            // Only answered requests: a transport error's duration is the
            // client's timeout, not the API's latency.
            if x.response.is_some() && x.duration_ms.is_finite() && x.duration_ms >= 0.0 {
                samples
                    .entry((c.id.as_str(), x.step.as_str()))
                    .or_default()
                    .push(x.duration_ms);
            }
        }
    }
    samples
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by(f64::total_cmp);
            let n = v.len();
            let median = if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            };
            (k, (median, n))
        })
        .collect()
}

/// Compares `new` against the baseline `old`.
pub fn diff(old: &Report, new: &Report, opts: DiffOptions) -> Diff {
    let (newly_failing, newly_passing, other_changes) = status_changes(old, new);
    let (new_findings, resolved_findings) = finding_changes(old, new);
    let (latency_regressions, latency_improvements) = latency_changes(old, new, opts);
    let new_ids: BTreeSet<&str> = new.checks.iter().map(|c| c.id.as_str()).collect();
    let removed_checks = old
        .checks
        .iter()
        .filter(|c| !new_ids.contains(c.id.as_str()))
        .map(|c| c.id.clone())
        .collect();
    Diff {
        before_verdict: old.verdict,
        after_verdict: new.verdict,
        before_started_at: old.started_at.clone(),
        after_started_at: new.started_at.clone(),
        newly_failing,
        newly_passing,
        other_changes,
        new_findings,
        resolved_findings,
        latency_regressions,
        latency_improvements,
        removed_checks,
        options_tolerance: opts.latency_tolerance,
        options_floor_ms: opts.latency_floor_ms,
    }
}

type StatusChanges = (Vec<StatusChange>, Vec<StatusChange>, Vec<StatusChange>);

/// Newly failing (blockers first), newly passing, and other status changes.
fn status_changes(old: &Report, new: &Report) -> StatusChanges {
    let old_by_id: BTreeMap<&str, &CheckResult> =
        old.checks.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut newly_failing = Vec::new();
    let mut newly_passing = Vec::new();
    let mut other_changes = Vec::new();
    for c in &new.checks {
        let before = old_by_id.get(c.id.as_str()).map(|o| o.status);
        if before == Some(c.status) {
            continue;
        }
        let change = StatusChange {
            id: c.id.clone(),
            family: c.family,
            severity: c.severity,
            before,
            after: c.status,
            summary: c.summary.clone(),
        };
        if failing(c.status) && !before.is_some_and(failing) {
            newly_failing.push(change);
        } else if c.status == Status::Pass {
            newly_passing.push(change);
        } else if before.is_some() {
            other_changes.push(change);
        }
        // A new check that passes, warns or skips is listed nowhere as a
        // status change; its findings (if any) still show as new findings.
    }
    // Blockers first, then report order.
    newly_failing.sort_by_key(|c| c.severity);
    (newly_failing, newly_passing, other_changes)
}

/// Findings only in `new` (in its order), and how many of `old`'s are gone.
fn finding_changes(old: &Report, new: &Report) -> (Vec<NewFinding>, usize) {
    let old_findings = finding_keys(old);
    let new_findings_map = finding_keys(new);
    let mut seen = BTreeSet::new();
    let mut new_findings = Vec::new();
    for c in &new.checks {
        for f in &c.findings {
            let key = finding_key(c, f);
            if old_findings.contains_key(&key) || !seen.insert(key) {
                continue;
            }
            new_findings.push(NewFinding {
                check: c.id.clone(),
                level: f.level,
                step: f.step.clone(),
                message: f.message.clone(),
                pointer: f.pointer.clone(),
                request_id: f.request_id.clone(),
            });
        }
    }
    let resolved = old_findings
        .keys()
        .filter(|k| !new_findings_map.contains_key(*k))
        .count();
    (new_findings, resolved)
}

/// Latency regressions (worst first) and improvements (best first) beyond
/// the tolerance and the floor.
fn latency_changes(
    old: &Report,
    new: &Report,
    opts: DiffOptions,
) -> (Vec<LatencyChange>, Vec<LatencyChange>) {
    let old_lat = latencies(old);
    let mut regressions = Vec::new();
    let mut improvements = Vec::new();
    for (key, (after, n_after)) in latencies(new) {
        let Some(&(before, n_before)) = old_lat.get(&key) else {
            continue;
        };
        let delta = after - before;
        if delta.abs() <= opts.latency_floor_ms {
            continue;
        }
        let change = if before > 0.0 {
            delta / before
        } else {
            f64::INFINITY
        };
        if change.abs() <= opts.latency_tolerance {
            continue;
        }
        let lc = LatencyChange {
            check: key.0.to_string(),
            step: key.1.to_string(),
            before_ms: before,
            after_ms: after,
            change,
            samples_before: n_before,
            samples_after: n_after,
        };
        if lc.is_regression() {
            regressions.push(lc);
        } else {
            improvements.push(lc);
        }
    }
    regressions.sort_by(|a, b| b.change.total_cmp(&a.change));
    improvements.sort_by(|a, b| a.change.total_cmp(&b.change));
    (regressions, improvements)
}

fn status_name(s: Option<Status>) -> &'static str {
    s.map_or("absent", Status::as_str)
}

fn pct(change: f64) -> String {
    if change.is_finite() {
        format!("{:+.0}%", change * 100.0)
    } else {
        "new".to_string()
    }
}

/// The diff as plain text for a terminal or a CI log.
pub fn render_text(d: &Diff) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "golive report diff: {} ({}) → {} ({})",
        d.before_verdict,
        text::one_line(&d.before_started_at),
        d.after_verdict,
        text::one_line(&d.after_started_at)
    );
    if d.is_empty() {
        s.push_str("No change.\n");
        return s;
    }
    let change_line = |s: &mut String, c: &StatusChange| {
        let _ = write!(
            s,
            "  {} [{} {}]: {} → {}",
            c.id,
            c.severity.as_str(),
            c.family.as_str(),
            status_name(c.before),
            c.after.as_str()
        );
        if !c.summary.trim().is_empty() {
            let _ = write!(s, " — {}", text::clip(&text::one_line(&c.summary), 160));
        }
        s.push('\n');
    };
    for (title, list) in [
        ("Newly failing", &d.newly_failing),
        ("Newly passing", &d.newly_passing),
        ("Other status changes", &d.other_changes),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n{title} ({}):", list.len());
        for c in list {
            change_line(&mut s, c);
        }
    }
    text_new_findings(&mut s, d);
    if d.resolved_findings > 0 {
        let _ = writeln!(
            s,
            "\n{} finding(s) of the baseline are gone.",
            d.resolved_findings
        );
    }
    text_latency(&mut s, d);
    if !d.removed_checks.is_empty() {
        let _ = writeln!(
            s,
            "\nChecks no longer run ({}): {}",
            d.removed_checks.len(),
            d.removed_checks.join(", ")
        );
    }
    s
}

/// `render_text`'s new findings, one line each.
fn text_new_findings(s: &mut String, d: &Diff) {
    if !d.new_findings.is_empty() {
        let _ = writeln!(s, "\nNew findings ({}):", d.new_findings.len());
        for f in &d.new_findings {
            let level = f.level.as_str();
            let _ = write!(s, "  {level}: {} step `{}`", f.check, f.step);
            if let Some(p) = &f.pointer {
                let _ = write!(s, " at {p}");
            }
            let _ = write!(s, ": {}", text::clip(&text::one_line(&f.message), 200));
            if let Some(r) = &f.request_id {
                let _ = write!(s, " (request id {r})");
            }
            s.push('\n');
        }
    }
}

/// `render_text`'s latency changes beyond the tolerance, one line each.
fn text_latency(s: &mut String, d: &Diff) {
    for (title, list) in [
        ("Latency regressions", &d.latency_regressions),
        ("Latency improvements", &d.latency_improvements),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "\n{title} beyond ±{:.0}% and {} (median per step):",
            d.options_tolerance * 100.0,
            text::ms(d.options_floor_ms)
        );
        for l in list {
            let _ = writeln!(
                s,
                "  {} step `{}`: {} → {} ({}, n={}→{})",
                l.check,
                l.step,
                text::ms(l.before_ms),
                text::ms(l.after_ms),
                pct(l.change),
                l.samples_before,
                l.samples_after
            );
        }
    }
}

/// The diff as Markdown, for a nightly job's summary or a PR comment.
pub fn render_md(d: &Diff) -> String {
    use text::{md, md_code};
    let mut s = format!(
        "### Since the baseline: {} → {}\n\n<sub>baseline {} · this run {}</sub>\n\n",
        d.before_verdict,
        d.after_verdict,
        md(&d.before_started_at),
        md(&d.after_started_at)
    );
    if d.is_empty() {
        s.push_str("No change.\n");
        return s;
    }
    for (title, list) in [
        ("❌ Newly failing", &d.newly_failing),
        ("✅ Newly passing", &d.newly_passing),
        ("🔀 Other status changes", &d.other_changes),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(s, "**{title} ({})**\n", list.len());
        for c in list {
            let _ = writeln!(
                s,
                "- {} ({} {}): {} → **{}** — {}",
                md_code(&c.id),
                c.severity.as_str(),
                c.family.as_str(),
                status_name(c.before),
                c.after.as_str(),
                md(&text::clip(&c.summary, 160))
            );
        }
        s.push('\n');
    }
    if !d.new_findings.is_empty() {
        let _ = writeln!(s, "**New findings ({})**\n", d.new_findings.len());
        for f in &d.new_findings {
            let level = f.level.as_str();
            let at = f
                .pointer
                .as_deref()
                .map(|p| format!(" at {}", md_code(p)))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "- {level}: {} step {}{at}: {}",
                md_code(&f.check),
                md_code(&f.step),
                md(&text::clip(&f.message, 200))
            );
        }
        s.push('\n');
    }
    if d.resolved_findings > 0 {
        let _ = writeln!(
            s,
            "{} finding(s) of the baseline are gone.\n",
            d.resolved_findings
        );
    }
    for (title, list) in [
        ("🐢 Latency regressions", &d.latency_regressions),
        ("🐇 Latency improvements", &d.latency_improvements),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "**{title}** (median per step, beyond ±{:.0}% and {})\n\n| check | step | before | after | change |\n|---|---|--:|--:|--:|",
            d.options_tolerance * 100.0,
            text::ms(d.options_floor_ms)
        );
        for l in list {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                md_code(&l.check),
                md_code(&l.step),
                text::ms(l.before_ms),
                text::ms(l.after_ms),
                pct(l.change)
            );
        }
        s.push('\n');
    }
    if !d.removed_checks.is_empty() {
        let ids: Vec<String> = d.removed_checks.iter().map(|c| md_code(c)).collect();
        let _ = writeln!(s, "Checks no longer run: {}\n", ids.join(", "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::text::tests::{empty_report, odd_report};

    #[test]
    fn identical_reports_have_no_change() {
        let r = odd_report();
        let d = diff(&r, &r, DiffOptions::default());
        assert!(d.is_empty(), "{d:?}");
        assert!(!d.has_regressions());
        assert!(render_text(&d).ends_with("No change.\n"));
        assert!(render_md(&d).ends_with("No change.\n"));
    }

    #[test]
    fn from_empty_every_failure_is_new() {
        let d = diff(&empty_report(), &odd_report(), DiffOptions::default());
        assert_eq!(d.newly_failing.len(), 1);
        assert_eq!(d.newly_failing[0].before, None);
        assert_eq!(d.new_findings.len(), 1);
        assert!(d.has_regressions());
        let t = render_text(&d);
        assert!(t.contains("Newly failing (1):\n  p.auth.<odd> [blocker auth]: absent → fail"));
        // And back: the failure is gone, nothing regressed.
        let back = diff(&odd_report(), &empty_report(), DiffOptions::default());
        assert!(!back.has_regressions());
        assert_eq!(back.removed_checks.len(), 2);
        assert_eq!(back.resolved_findings, 1);
    }

    #[test]
    fn latency_tolerance_and_floor() {
        let mut old = odd_report();
        let x = &mut old.checks[0].evidence[0];
        x.response = Some(ResponseRecord {
            status: 200,
            headers: vec![],
            body: None,
        });
        x.duration_ms = 100.0;
        let mut new = old.clone();
        new.checks[0].evidence[0].duration_ms = 140.0;
        let opts = |t, f| DiffOptions {
            latency_tolerance: t,
            latency_floor_ms: f,
        };
        // +40 ms: below a 50 ms floor.
        assert!(
            diff(&old, &new, opts(0.1, 50.0))
                .latency_regressions
                .is_empty()
        );
        // +40 %: beyond 25 % with a 10 ms floor.
        let d = diff(&old, &new, opts(0.25, 10.0));
        assert_eq!(d.latency_regressions.len(), 1);
        assert!((d.latency_regressions[0].change - 0.4).abs() < 1e-9);
        // Within a 50 % tolerance.
        assert!(
            diff(&old, &new, opts(0.5, 10.0))
                .latency_regressions
                .is_empty()
        );
        // The other way round it is an improvement, not a regression.
        let d = diff(&new, &old, opts(0.25, 10.0));
        assert!(d.latency_regressions.is_empty());
        assert_eq!(d.latency_improvements.len(), 1);
        assert!(render_text(&d).contains("Latency improvements beyond ±25% and 10 ms"));
    }
}
