//! `report.md`: fits a pull-request comment and a CI job summary.
//!
//! Verdict first (with its reason and the policy), then a table by family,
//! then every blocking failure, error and risk with expected vs actual, the
//! request id and a reproducible `curl` line (`$GOLIVE_KEY` for the key),
//! then the skipped checks with their reasons and, folded, every check. The
//! whole stays under GitHub's comment limit: past [`MAX_LEN`] the remaining
//! details are counted, not shown.

use super::curl::curl_line;
use super::model::*;
use super::text::{self, md, md_block, md_code};
use super::{ReportError, ReportError::Write};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

/// Stay well under GitHub's 65,536-character comment limit.
pub const MAX_LEN: usize = 60_000;

/// Renders the Markdown report.
pub fn render(report: &Report) -> String {
    render_with_limit(report, MAX_LEN)
}

/// Where a CI job summary goes: `$GITHUB_STEP_SUMMARY`, when set and non-empty.
/// (The caller decides whether to append; the library reads the variable only.)
pub fn step_summary_path() -> Option<std::path::PathBuf> {
    std::env::var_os("GITHUB_STEP_SUMMARY")
        .filter(|v| !v.is_empty())
        .map(Into::into)
}

/// Appends the Markdown report to a CI job summary file (GitHub's
/// `$GITHUB_STEP_SUMMARY`), creating it if needed.
pub fn append_step_summary(report: &Report, path: &Path) -> Result<(), ReportError> {
    use std::io::Write as _;
    let err = |source| Write {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    f.write_all(render(report).as_bytes()).map_err(err)?;
    f.write_all(b"\n").map_err(err)
}

fn verdict_icon(v: Verdict) -> &'static str {
    match v {
        Verdict::Go => "✅",
        Verdict::NoGo => "❌",
        Verdict::Incomplete => "⚠️",
    }
}

/// The checks that get a section of their own, by kind.
struct Groups<'a> {
    blockers: Vec<&'a CheckResult>,
    errors: Vec<&'a CheckResult>,
    risks: Vec<&'a CheckResult>,
    skipped: Vec<&'a CheckResult>,
}

impl<'a> Groups<'a> {
    /// Sorts a report's checks into blocking failures, errors, risks and skips.
    fn of(report: &'a Report) -> Self {
        let pick = |keep: fn(&CheckResult) -> bool| -> Vec<&'a CheckResult> {
            report.checks.iter().filter(|c| keep(c)).collect()
        };
        Groups {
            blockers: pick(|c| c.status == Status::Fail && c.severity == Severity::Blocker),
            errors: pick(|c| c.status == Status::Error),
            risks: pick(|c| {
                c.status == Status::Warn
                    || (c.status == Status::Fail && c.severity == Severity::Advisory)
            }),
            skipped: pick(|c| c.status == Status::Skip),
        }
    }
}

/// Renders the Markdown report within `limit` characters.
fn render_with_limit(report: &Report, limit: usize) -> String {
    let mut out = String::new();
    head(&mut out, report);
    family_table(&mut out, report);
    if let Some(l) = &report.load {
        super::load_render::markdown(&mut out, l);
    }
    if let Some(c) = &report.capacity {
        super::load_render::capacity_markdown(&mut out, c);
    }
    let groups = Groups::of(report);
    // The tail is always shown; details fill what is left of the budget.
    let tail = skipped_list(&groups.skipped);
    let all = all_checks(report);
    let footer = footer(report);
    let budget = limit.saturating_sub(out.len() + tail.len() + footer.len() + 200);
    let (details, left_out) = details(&groups, budget);
    out.push_str(&details);
    if left_out > 0 {
        let _ = writeln!(
            out,
            "_…and {left_out} more failing or warning check(s) not shown here (size limit): see `report.html` or `report.json`._\n"
        );
    }
    out.push_str(&tail);
    if out.len() + all.len() + footer.len() <= limit {
        out.push_str(&all);
    }
    out.push_str(&footer);
    out
}

/// The skipped checks with their reasons (empty when none was skipped).
fn skipped_list(skipped: &[&CheckResult]) -> String {
    let mut tail = String::new();
    if !skipped.is_empty() {
        let _ = writeln!(tail, "### ⏭️ Skipped ({})\n", skipped.len());
        for c in skipped {
            let reason = if c.summary.trim().is_empty() {
                "no reason given".to_string()
            } else {
                md(&c.summary)
            };
            let _ = writeln!(
                tail,
                "- {} ({}): {reason}",
                md_code(&c.id),
                c.severity.as_str()
            );
        }
        tail.push('\n');
    }
    tail
}

/// The policy, golive version and report format line.
fn footer(report: &Report) -> String {
    format!(
        "<sub>Verdict policy: {} · golive {} · report format {}</sub>\n",
        md(&report.policy),
        md(&report.golive_version),
        report.format_version
    )
}

/// The blocking failures, errors and risks in detail, as many as fit in
/// `budget`; also how many did not fit.
fn details(groups: &Groups, budget: usize) -> (String, usize) {
    let mut details = String::new();
    let mut left_out = 0usize;
    for (title, note, checks) in [
        ("❌ Blocking failures", "", &groups.blockers),
        ("💥 Errors", " — the check could not finish", &groups.errors),
        (
            "⚠️ Risks",
            " — advisory failures and warnings",
            &groups.risks,
        ),
    ] {
        if checks.is_empty() {
            continue;
        }
        let mut section = format!("### {title} ({}){note}\n\n", checks.len());
        let mut shown = 0;
        for c in checks.iter() {
            let block = check_detail(c);
            if details.len() + section.len() + block.len() > budget {
                break;
            }
            section.push_str(&block);
            shown += 1;
        }
        left_out += checks.len() - shown;
        if shown > 0 {
            details.push_str(&section);
        }
    }
    (details, left_out)
}

fn head(out: &mut String, r: &Report) {
    let _ = writeln!(
        out,
        "## {} golive: **{}**\n",
        verdict_icon(r.verdict),
        r.verdict
    );
    let _ = writeln!(out, "**{}**\n", md(&r.verdict_reason));
    if let Some(why) = &r.interrupted {
        let _ = writeln!(out, "> ⚠️ The run was cut short: {}\n", md(why));
    }
    let packs: Vec<String> = r
        .packs
        .iter()
        .map(|p| format!("{} {}", md_code(&p.name), md(&p.version)))
        .collect();
    let packs = if packs.is_empty() {
        "no pack".to_string()
    } else {
        packs.join(", ")
    };
    let mut target = format!(
        "{} {}",
        md(&r.target.kind),
        md_code(&text::shown_url(&r.target.url))
    );
    if !r.target.faults.is_empty() {
        let faults: Vec<String> = r.target.faults.iter().map(|f| md_code(f)).collect();
        let _ = write!(target, " (faults: {})", faults.join(", "));
    }
    let t = &r.totals;
    let _ = writeln!(
        out,
        "{packs} against {target} · {} check(s) in {} · started {}\n",
        r.checks.len(),
        text::ms(r.duration_ms),
        md(&r.started_at)
    );
    let _ = writeln!(
        out,
        "✅ {} passed · ❌ {} failed · ⚠️ {} warned · ⏭️ {} skipped · 💥 {} errored\n",
        t.pass, t.fail, t.warn, t.skip, t.error
    );
}

/// The worst status among checks, for a family's icon.
fn worst(checks: &[&CheckResult]) -> Option<Status> {
    let rank = |s: Status| match s {
        Status::Pass => 0,
        Status::Skip => 1,
        Status::Warn => 2,
        Status::Error => 3,
        Status::Fail => 4,
    };
    checks.iter().map(|c| c.status).max_by_key(|s| rank(*s))
}

fn family_table(out: &mut String, r: &Report) {
    if r.checks.is_empty() {
        out.push_str("_No check ran._\n\n");
        return;
    }
    out.push_str("| family | checks | pass | fail | warn | skip | error | blockers failing |\n");
    out.push_str("|---|--:|--:|--:|--:|--:|--:|---|\n");
    for f in Family::ALL {
        let checks: Vec<&CheckResult> = r.family(f).collect();
        let Some(w) = worst(&checks) else { continue };
        let t = Totals::of(checks.iter().copied());
        let failing: Vec<String> = checks
            .iter()
            .filter(|c| c.severity == Severity::Blocker && c.status == Status::Fail)
            .map(|c| md_code(&c.id))
            .collect();
        let _ = writeln!(
            out,
            "| {} {} | {} | {} | {} | {} | {} | {} | {} |",
            text::status_icon(w),
            f.as_str(),
            checks.len(),
            t.pass,
            t.fail,
            t.warn,
            t.skip,
            t.error,
            if failing.is_empty() {
                "—".to_string()
            } else {
                failing.join(", ")
            }
        );
    }
    out.push('\n');
}

/// One failing/warning check: summary, findings, curl lines.
fn check_detail(c: &CheckResult) -> String {
    let mut s = String::new();
    let title = if c.title.trim().is_empty() {
        String::new()
    } else {
        format!(" — {}", md(&c.title))
    };
    let _ = writeln!(
        s,
        "#### {} {}{title}\n",
        text::status_icon(c.status),
        md_code(&c.id)
    );
    let _ = write!(
        s,
        "{} · {} · {}",
        c.severity.as_str(),
        c.family.as_str(),
        text::ms(c.duration_ms)
    );
    if let Some(sc) = &c.scenario {
        let _ = write!(s, " · {}", md_code(sc));
    }
    s.push_str("\n\n");
    if !c.summary.trim().is_empty() {
        let _ = writeln!(s, "{}\n", md(&c.summary));
    }
    let mut curled = BTreeSet::new();
    for f in &c.findings {
        let level = f.level.as_str();
        let _ = writeln!(
            s,
            "- **{level}** in step {}: {}",
            md_code(&f.step),
            md(&f.message)
        );
        let x = text::exchange_of(c, f.exchange);
        if let Some(e) = &f.expected {
            let _ = writeln!(s, "  - expected: {}", md_code(e));
        }
        if let Some(a) = &f.actual {
            let _ = writeln!(s, "  - actual: {}", md_code(a));
        }
        if let Some(p) = &f.pointer {
            let _ = writeln!(s, "  - at: {}", md_code(p));
        }
        if let Some(b) = f.basis {
            let _ = writeln!(s, "  - rests on: {}", md(b.describe()));
        }
        if let Some(id) = f
            .request_id
            .as_ref()
            .or_else(|| x.and_then(|x| x.request_id.as_ref()))
        {
            let _ = writeln!(s, "  - request id: {}", md_code(id));
        }
        if let Some(x) = x {
            let _ = writeln!(s, "  - exchange: {}", md_code(&text::exchange_line(x)));
        }
        if let Some(a) = &f.advice {
            let _ = writeln!(s, "  - advice: {}", md(a));
        }
        if let (Some(i), Some(x)) = (f.exchange, x) {
            if curled.insert(i) {
                s.push('\n');
                s.push_str(&indent(&md_block("sh", &curl_line(&x.request)), "  "));
            }
        }
    }
    // A failure with no finding pointing at an exchange still gets a way to
    // reproduce it: the last exchange of the check.
    let last = c
        .evidence
        .last()
        .filter(|_| curled.is_empty() && c.status != Status::Warn);
    if let Some(x) = last {
        if !s.ends_with("\n\n") {
            s.push('\n');
        }
        let _ = writeln!(s, "Last exchange: {}", md_code(&text::exchange_line(x)));
        if let Some(id) = &x.request_id {
            let _ = writeln!(s, "(request id {})", md_code(id));
        }
        s.push('\n');
        s.push_str(&md_block("sh", &curl_line(&x.request)));
    }
    s.push('\n');
    s
}

fn indent(block: &str, pad: &str) -> String {
    block
        .lines()
        .map(|l| format!("{pad}{l}\n"))
        .collect::<String>()
}

fn all_checks(r: &Report) -> String {
    if r.checks.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "<details><summary>All {} checks</summary>\n\n",
        r.checks.len()
    );
    s.push_str("| | check | family | severity | time | summary |\n|---|---|---|---|--:|---|\n");
    for c in &r.checks {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            text::status_icon(c.status),
            md_code(&c.id),
            c.family.as_str(),
            c.severity.as_str(),
            text::ms(c.duration_ms),
            md(&text::clip(&c.summary, 200))
        );
    }
    s.push_str("\n</details>\n\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::text::tests::{empty_report, odd_report};

    #[test]
    fn empty_report_says_so() {
        let s = render(&empty_report());
        assert!(s.starts_with("## ⚠️ golive: **INCOMPLETE**\n\n**no check ran**"));
        assert!(s.contains("_No check ran._"));
    }

    #[test]
    fn odd_data_is_escaped_and_masked() {
        let s = render(&odd_report());
        assert!(s.starts_with("## ❌ golive: **NO-GO**"));
        assert!(!s.contains("<script>"), "{s}");
        assert!(!s.contains("fake_key_LEAK"), "{s}");
        assert!(s.contains("${GOLIVE_KEY}"));
        assert!(s.contains("&lt;script&gt;"));
        assert!(s.contains("(faults") || !s.contains("faults"));
    }

    #[test]
    fn stays_under_the_limit() {
        let mut r = odd_report();
        let c = r.checks[0].clone();
        for i in 0..2000 {
            let mut c = c.clone();
            c.id = format!("p.auth.c{i}");
            r.checks.push(c);
        }
        r.finalize();
        let s = render(&r);
        assert!(s.len() <= MAX_LEN, "{}", s.len());
        assert!(s.contains("more failing or warning check(s) not shown"));
        assert!(s.contains("Verdict policy"));
    }

    #[test]
    fn appends_to_a_step_summary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("summary.md");
        std::fs::write(&p, "before\n").unwrap();
        append_step_summary(&empty_report(), &p).unwrap();
        let s = std::fs::read_to_string(&p).unwrap();
        assert!(s.starts_with("before\n## ⚠️ golive"));
    }
}
