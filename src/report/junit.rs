//! `junit.xml`: one `<testsuite>` per family (in the design's family order,
//! families without checks left out), one `<testcase>` per check.
//!
//! | status | JUnit |
//! |---|---|
//! | pass | a plain testcase |
//! | fail | `<failure message="…" type="blocker|advisory">` with findings and evidence |
//! | error | `<error message="…" type="error">` with findings and evidence |
//! | skip | `<skipped message="reason"/>` |
//! | warn | a passing testcase; the warnings go to `<system-out>` (JUnit has no "warn") |
//!
//! The layout follows the common Jenkins/Surefire schema that CI consumers
//! (GitHub, GitLab, Jenkins, junitparser) accept.

use super::curl::curl_line;
use super::model::*;
use super::text::{self, xml, xml_text};
use std::fmt::Write as _;

/// Renders the JUnit XML report.
pub fn render(report: &Report) -> String {
    let t = &report.totals;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let packs: Vec<&str> = report.packs.iter().map(|p| p.name.as_str()).collect();
    let name = if packs.is_empty() {
        "golive".to_string()
    } else {
        format!("golive {}", packs.join(" "))
    };
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\">",
        xml(&name),
        report.checks.len(),
        t.fail,
        t.error,
        t.skip,
        text::secs(report.duration_ms),
        xml(&report.started_at)
    );
    for f in Family::ALL {
        let checks: Vec<&CheckResult> = report.family(f).collect();
        if checks.is_empty() {
            continue;
        }
        suite(&mut out, report, f, &checks);
    }
    out.push_str("</testsuites>\n");
    out
}

fn suite(out: &mut String, report: &Report, f: Family, checks: &[&CheckResult]) {
    let t = Totals::of(checks.iter().copied());
    let time: f64 = checks
        .iter()
        .map(|c| c.duration_ms)
        .filter(|d| d.is_finite() && *d > 0.0)
        .sum();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\">",
        f.as_str(),
        checks.len(),
        t.fail,
        t.error,
        t.skip,
        text::secs(time),
        xml(&report.started_at)
    );
    out.push_str("    <properties>\n");
    let mut props: Vec<(&str, String)> = vec![
        ("verdict", report.verdict.as_str().to_string()),
        ("verdict_reason", report.verdict_reason.clone()),
        ("family_describes", f.describe().to_string()),
        ("golive_version", report.golive_version.clone()),
        ("target", text::shown_url(&report.target.url)),
    ];
    for p in &report.packs {
        props.push(("pack", format!("{} {}", p.name, p.version)));
    }
    for (k, v) in props {
        let _ = writeln!(
            out,
            "      <property name=\"{}\" value=\"{}\"/>",
            xml(k),
            xml(&v)
        );
    }
    out.push_str("    </properties>\n");
    for c in checks {
        case(out, c);
    }
    out.push_str("  </testsuite>\n");
}

fn case(out: &mut String, c: &CheckResult) {
    let classname = format!("{}.{}", c.pack, c.family.as_str());
    let _ = write!(
        out,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
        xml(&c.id),
        xml(&classname),
        text::secs(c.duration_ms)
    );
    let message = || {
        let m = if c.summary.trim().is_empty() {
            c.findings
                .first()
                .map(|f| f.message.clone())
                .unwrap_or_else(|| format!("{} {}", c.id, c.status.as_str()))
        } else {
            c.summary.clone()
        };
        xml(&text::clip(&text::one_line(&m), 500))
    };
    match c.status {
        Status::Pass if c.findings.is_empty() => {
            out.push_str("/>\n");
            return;
        }
        Status::Pass | Status::Warn => {
            out.push_str(">\n");
            let _ = writeln!(
                out,
                "      <system-out>{}</system-out>",
                xml_text(&evidence_text(c))
            );
        }
        Status::Skip => {
            out.push_str(">\n");
            let _ = writeln!(out, "      <skipped message=\"{}\"/>", message());
        }
        Status::Fail => {
            out.push_str(">\n");
            let _ = writeln!(
                out,
                "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                message(),
                c.severity.as_str(),
                xml_text(&evidence_text(c))
            );
        }
        Status::Error => {
            out.push_str(">\n");
            let _ = writeln!(
                out,
                "      <error message=\"{}\" type=\"error\">{}</error>",
                message(),
                xml_text(&evidence_text(c))
            );
        }
    }
    out.push_str("    </testcase>\n");
}

/// Findings and exchanges as compiler-style plain text.
fn evidence_text(c: &CheckResult) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} [{} {}] {}: {}",
        c.id,
        c.severity.as_str(),
        c.family.as_str(),
        c.status.as_str(),
        c.summary
    );
    if !c.title.is_empty() {
        let _ = writeln!(s, "  check: {}", c.title);
    }
    if let Some(sc) = &c.scenario {
        let _ = writeln!(s, "  scenario: {sc}");
    }
    for f in &c.findings {
        let level = f.level.as_str();
        let _ = writeln!(s, "\n{level}: {}", text::one_line(&f.message));
        let _ = writeln!(s, "  step: {}", f.step);
        if let Some(e) = &f.expected {
            let _ = writeln!(s, "  expected: {}", text::one_line(e));
        }
        if let Some(a) = &f.actual {
            let _ = writeln!(s, "  actual: {}", text::one_line(a));
        }
        if let Some(p) = &f.pointer {
            let _ = writeln!(s, "  at: {p}");
        }
        if let Some(b) = f.basis {
            let _ = writeln!(s, "  rests on: {}", b.describe());
        }
        let x = text::exchange_of(c, f.exchange);
        if let Some(id) = f
            .request_id
            .as_ref()
            .or_else(|| x.and_then(|x| x.request_id.as_ref()))
        {
            let _ = writeln!(s, "  request id: {id}");
        }
        if let Some(a) = &f.advice {
            let _ = writeln!(s, "  advice: {}", text::one_line(a));
        }
        if let Some(x) = x {
            let _ = writeln!(s, "  exchange: {}", text::exchange_line(x));
            let _ = writeln!(s, "  reproduce: {}", curl_line(&x.request));
        }
    }
    if !c.evidence.is_empty() {
        let _ = writeln!(s, "\nexchanges ({}):", c.evidence.len());
        for (i, x) in c.evidence.iter().enumerate() {
            let rid = x
                .request_id
                .as_deref()
                .map(|r| format!(" [{r}]"))
                .unwrap_or_default();
            let _ = writeln!(s, "  #{i} {}: {}{rid}", x.step, text::exchange_line(x));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::text::tests::{empty_report, odd_report};

    #[test]
    fn empty_report_is_a_valid_empty_document() {
        let s = render(&empty_report());
        assert_eq!(
            s,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"golive\" tests=\"0\" failures=\"0\" errors=\"0\" skipped=\"0\" time=\"0.000\" timestamp=\"2026-01-01T00:00:00Z\">\n</testsuites>\n"
        );
    }

    #[test]
    fn odd_data_is_escaped() {
        let s = render(&odd_report());
        assert!(!s.contains("]]> </failure>"), "{s}");
        assert!(s.contains("]]&gt; &lt;/failure&gt;"));
        assert!(!s.contains('\u{1}'));
        assert!(!s.contains('\u{0}'));
        assert!(!s.contains("fake_key_LEAK"));
        assert!(s.contains("<skipped message=\"p.schema.empty skip\"/>"));
        assert_eq!(s.matches("<testsuite ").count(), 2);
    }
}
