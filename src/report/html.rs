//! `report.html`: one self-contained file. CSS and charts (inline SVG) are
//! inline, nothing is fetched, and the few lines of inline JS (open every
//! `<details>` of checks that did not pass, with their exchanges, before
//! printing; expand/collapse buttons) are optional: without JS the page reads
//! the same, failing checks are already open.
//!
//! Top to bottom: the verdict banner (verdict, reason, run metadata, totals),
//! "what needs attention" (blocking failures, errors, risks, skips, each
//! linked), the per-family summary, request latency across the run, then
//! every check as a `<details>` with its findings (expected/actual, JSON
//! pointers, request ids, advice), a timeline of its requests (the poll
//! cadence of each job shows as a row of bars) and each exchange (request and
//! response headers and bodies, size/SHA-256/truncation, a `curl` line).
//! Every text is HTML-escaped; credential headers and key query parameters
//! are masked.

use super::curl::curl_line;
use super::model::*;
use super::text::{self, html as esc};
use std::fmt::Write as _;

mod charts;

use charts::{latency_chart, outcome_class, timeline};

/// The report's style sheet and its optional script, kept as files of their
/// own (so an editor and a linter read them as CSS and JS) and built in.
const CSS: &str = include_str!("assets/report.css");
const JS: &str = include_str!("assets/report.js");

/// Renders the HTML report.
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let packs: Vec<&str> = report.packs.iter().map(|p| p.name.as_str()).collect();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"golive {}\">\n\
         <title>{} — golive go-live readiness{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n",
        esc(&report.golive_version),
        report.verdict,
        if packs.is_empty() {
            String::new()
        } else {
            format!(": {}", esc(&packs.join(", ")))
        }
    );
    banner(&mut out, report);
    out.push_str("<main>\n");
    attention(&mut out, report);
    families(&mut out, report);
    if let Some(l) = &report.load {
        super::load_render::html(&mut out, l);
    }
    if let Some(c) = &report.capacity {
        super::load_render::capacity_html(&mut out, c);
    }
    latency_chart(&mut out, report);
    checks(&mut out, report);
    out.push_str("</main>\n");
    footer(&mut out, report);
    let _ = write!(out, "<script>\n{JS}</script>\n</body>\n</html>\n");
    out
}

fn chip(s: Status) -> String {
    format!(
        "<span class=\"chip s-{0}\">{1}</span>",
        s.as_str(),
        s.as_str().to_ascii_uppercase()
    )
}

fn sev(s: Severity) -> String {
    format!("<span class=\"sev {0}\">{0}</span>", s.as_str())
}

fn banner(out: &mut String, r: &Report) {
    let class = match r.verdict {
        Verdict::Go => "v-go",
        Verdict::NoGo => "v-nogo",
        Verdict::Incomplete => "v-inc",
    };
    let what = match r.verdict {
        Verdict::Go => "ready to go live",
        Verdict::NoGo => "not ready to go live",
        Verdict::Incomplete => "readiness not established",
    };
    let _ = writeln!(
        out,
        "<header class=\"banner {class}\"><div class=\"banner-in\">\n\
         <div class=\"verdict\">{}<small>{what}</small></div>\n\
         <div class=\"reason\">{}</div>",
        r.verdict,
        esc(&r.verdict_reason)
    );
    // Said once: the verdict's reason usually is the interruption already.
    if let Some(why) = r
        .interrupted
        .as_ref()
        .filter(|w| !r.verdict_reason.contains(w.as_str()))
    {
        let _ = writeln!(
            out,
            "<div class=\"cut\">The run was cut short: {}</div>",
            esc(why)
        );
    }
    let mut meta: Vec<String> = r
        .packs
        .iter()
        .map(|p| format!("pack <code>{}</code> {}", esc(&p.name), esc(&p.version)))
        .collect();
    let mut target = format!(
        "{} target <code>{}</code>",
        esc(&r.target.kind),
        esc(&text::shown_url(&r.target.url))
    );
    if !r.target.faults.is_empty() {
        let faults: Vec<String> = r
            .target
            .faults
            .iter()
            .map(|f| format!("<code>{}</code>", esc(f)))
            .collect();
        let _ = write!(target, " with faults {}", faults.join(" "));
    }
    meta.push(target);
    meta.push(format!(
        "<span class=\"nw\">{}</span> → <span class=\"nw\">{}</span> <span class=\"nw\">({})</span>",
        esc(&r.started_at),
        esc(&r.finished_at),
        text::ms(r.duration_ms)
    ));
    meta.push(format!("golive {}", esc(&r.golive_version)));
    let _ = writeln!(out, "<div class=\"meta\">{}</div>", meta.join(" · "));
    let t = &r.totals;
    out.push_str("<div class=\"totals\">");
    for (n, s) in [
        (t.pass, Status::Pass),
        (t.fail, Status::Fail),
        (t.warn, Status::Warn),
        (t.skip, Status::Skip),
        (t.error, Status::Error),
    ] {
        let _ = write!(
            out,
            "<span class=\"s-{0}\"><b class=\"dot\">{n}</b> {0}</span>",
            s.as_str()
        );
    }
    out.push_str("</div>\n</div></header>\n");
}

fn check_anchor(i: usize) -> String {
    format!("c{i}")
}

/// One line saying what went wrong: the first finding's message with expected
/// and actual, or the summary.
fn what_went_wrong(c: &CheckResult) -> String {
    let Some(f) = c
        .findings
        .iter()
        .find(|f| f.level == FindingLevel::Fail)
        .or(c.findings.first())
    else {
        return esc(&c.summary);
    };
    let mut s = format!("<span class=\"muted\">{}:</span> ", esc(&f.step));
    s.push_str(&esc(&text::clip(&f.message, 300)));
    if let Some(e) = &f.expected {
        let _ = write!(s, " — expected <code>{}</code>", esc(&text::clip(e, 120)));
    }
    if let Some(a) = &f.actual {
        let _ = write!(s, ", got <code>{}</code>", esc(&text::clip(a, 120)));
    }
    if c.findings.len() > 1 {
        let _ = write!(
            s,
            " <span class=\"muted\">(+{} more)</span>",
            c.findings.len() - 1
        );
    }
    s
}

/// From this many checks with the same status and the same reason, "what
/// needs attention" lists them as one item.
const SAME_REASON_GROUP: usize = 3;

/// Picks the checks of one group in "what needs attention".
type Pick = fn(&CheckResult) -> bool;

fn attention(out: &mut String, r: &Report) {
    let groups: [(&str, Pick); 4] = [
        (
            "Blocking failures",
            (|c| c.status == Status::Fail && c.severity == Severity::Blocker),
        ),
        ("Errors", (|c| c.status == Status::Error)),
        (
            "Risks (advisory)",
            (|c| {
                c.status == Status::Warn
                    || (c.status == Status::Fail && c.severity == Severity::Advisory)
            }),
        ),
        ("Skipped", (|c| c.status == Status::Skip)),
    ];
    let mut body = String::new();
    for (title, pred) in &groups {
        let items: Vec<(usize, &CheckResult)> = r
            .checks
            .iter()
            .enumerate()
            .filter(|(_, c)| pred(c))
            .collect();
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(
            body,
            "<h3>{title} ({})</h3>\n<ul class=\"attention\">",
            items.len()
        );
        // Checks that went wrong the same way (a cut-short run: every check
        // unreachable, or not run) are one item, not a wall of repeats.
        let whats: Vec<String> = items.iter().map(|(_, c)| what_went_wrong(c)).collect();
        let mut shown = vec![false; items.len()];
        for (k, &(i, c)) in items.iter().enumerate() {
            if shown[k] {
                continue;
            }
            let what = &whats[k];
            let same: Vec<usize> = (k..items.len())
                .filter(|&m| !shown[m] && items[m].1.status == c.status && whats[m] == *what)
                .collect();
            if same.len() >= SAME_REASON_GROUP {
                let links: Vec<String> = same
                    .iter()
                    .map(|&m| {
                        shown[m] = true;
                        format!(
                            "<a href=\"#{}\"><code>{}</code></a>",
                            check_anchor(items[m].0),
                            esc(&items[m].1.id)
                        )
                    })
                    .collect();
                let _ = writeln!(
                    body,
                    "<li class=\"s-{}\">{} <b>{} checks</b><div class=\"what\">{what}</div><div class=\"ids\">{}</div></li>",
                    c.status.as_str(),
                    chip(c.status),
                    same.len(),
                    links.join(" ")
                );
                continue;
            }
            shown[k] = true;
            let _ = writeln!(
                body,
                "<li class=\"s-{}\">{} <a href=\"#{}\"><code>{}</code></a> {} <span class=\"muted\">{}</span><div class=\"what\">{what}</div></li>",
                c.status.as_str(),
                chip(c.status),
                check_anchor(i),
                esc(&c.id),
                sev(c.severity),
                esc(&c.title),
            );
        }
        body.push_str("</ul>\n");
    }
    if body.is_empty() {
        if r.checks.is_empty() {
            out.push_str("<h2>What needs attention</h2>\n<p>No check ran.</p>\n");
        } else {
            out.push_str("<h2>What needs attention</h2>\n<p>Nothing: every check passed.</p>\n");
        }
        return;
    }
    out.push_str("<h2 id=\"attention\">What needs attention</h2>\n");
    out.push_str(&body);
}

fn families(out: &mut String, r: &Report) {
    if r.checks.is_empty() {
        return;
    }
    out.push_str(
        "<h2 id=\"families\">By family</h2>\n<table class=\"fams\">\n<thead><tr><th>family</th>\
         <th class=\"n\">checks</th><th class=\"n\">pass</th><th class=\"n\">fail</th>\
         <th class=\"n\">warn</th><th class=\"n\">skip</th><th class=\"n\">error</th><th>failing blockers</th></tr></thead>\n<tbody>\n",
    );
    for f in Family::ALL {
        let checks: Vec<&CheckResult> = r.family(f).collect();
        if checks.is_empty() {
            continue;
        }
        let t = Totals::of(checks.iter().copied());
        let n = checks.len() as f64;
        let mut bar = String::from("<div class=\"bar\">");
        for (k, s) in [
            (t.pass, Status::Pass),
            (t.warn, Status::Warn),
            (t.skip, Status::Skip),
            (t.error, Status::Error),
            (t.fail, Status::Fail),
        ] {
            if k > 0 {
                let _ = write!(
                    bar,
                    "<i class=\"s-{}\" style=\"width:{:.2}%\"></i>",
                    s.as_str(),
                    k as f64 * 100.0 / n
                );
            }
        }
        bar.push_str("</div>");
        let failing: Vec<String> = checks
            .iter()
            .filter(|c| c.severity == Severity::Blocker && c.status == Status::Fail)
            .map(|c| format!("<code>{}</code>", esc(&c.id)))
            .collect();
        let cell = |k: usize, s: Status| {
            if k == 0 {
                "<td class=\"n z\">0</td>".to_string()
            } else {
                format!(
                    "<td class=\"n\"><b class=\"dot s-{}\">{k}</b></td>",
                    s.as_str()
                )
            }
        };
        let _ = writeln!(
            out,
            "<tr><td class=\"fam\"><a href=\"#f-{0}\"><b>{0}</b></a><small>{1}</small>{bar}</td><td class=\"n\">{2}</td>{3}{4}{5}{6}{7}<td>{8}</td></tr>",
            f.as_str(),
            esc(f.describe()),
            checks.len(),
            cell(t.pass, Status::Pass),
            cell(t.fail, Status::Fail),
            cell(t.warn, Status::Warn),
            cell(t.skip, Status::Skip),
            cell(t.error, Status::Error),
            if failing.is_empty() {
                "<span class=\"muted\">—</span>".to_string()
            } else {
                failing.join(" ")
            }
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

fn checks(out: &mut String, r: &Report) {
    if r.checks.is_empty() {
        return;
    }
    out.push_str("<h2 id=\"checks\">Checks<span class=\"tools js-only\"><button type=\"button\" data-all=\"open\">expand all</button><button type=\"button\" data-all=\"close\">collapse all</button></span></h2>\n");
    for f in Family::ALL {
        let items: Vec<(usize, &CheckResult)> = r
            .checks
            .iter()
            .enumerate()
            .filter(|(_, c)| c.family == f)
            .collect();
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "<h3 id=\"f-{0}\">{0} <span class=\"muted\" style=\"font-weight:400\">— {1}</span></h3>",
            f.as_str(),
            esc(f.describe())
        );
        for (i, c) in items {
            check_block(out, i, c);
        }
    }
}

fn check_block(out: &mut String, i: usize, c: &CheckResult) {
    let open = if matches!(c.status, Status::Fail | Status::Error | Status::Warn) {
        " open"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "<details class=\"check s-{}\" id=\"{}\"{open}><summary>{} <code>{}</code> <span class=\"t\">{}</span> {} <span class=\"muted nw\">{}</span></summary>\n<div class=\"cbody\">",
        c.status.as_str(),
        check_anchor(i),
        chip(c.status),
        esc(&c.id),
        esc(&c.title),
        sev(c.severity),
        text::ms(c.duration_ms)
    );
    if !c.summary.is_empty() {
        let _ = writeln!(out, "<p>{}</p>", esc(&c.summary));
    }
    if let Some(sc) = &c.scenario {
        let _ = writeln!(
            out,
            "<p class=\"muted\">scenario <code>{}</code></p>",
            esc(sc)
        );
    }
    for f in &c.findings {
        finding(out, i, c, f);
    }
    if !c.evidence.is_empty() {
        let _ = writeln!(
            out,
            "<h4 style=\"margin:12px 0 4px\">Requests ({})</h4>",
            c.evidence.len()
        );
        out.push_str(&timeline(c));
        for (j, x) in c.evidence.iter().enumerate() {
            exchange(out, i, j, x);
        }
    }
    out.push_str("</div></details>\n");
}

fn finding(out: &mut String, i: usize, c: &CheckResult, f: &Finding) {
    let label = f.level.as_str();
    let _ = write!(
        out,
        "<div class=\"finding s-{label}\"><div class=\"msg\"><span class=\"dot\">{label}</span> in step <code>{}</code>: {}</div><dl class=\"kv\">",
        esc(&f.step),
        esc(&f.message)
    );
    let row = |out: &mut String, k: &str, v: &str| {
        let _ = write!(out, "<dt>{k}</dt><dd><code>{}</code></dd>", esc(v));
    };
    if let Some(e) = &f.expected {
        row(out, "expected", e);
    }
    if let Some(a) = &f.actual {
        row(out, "actual", a);
    }
    if let Some(p) = &f.pointer {
        row(out, "at (JSON pointer)", p);
    }
    if let Some(b) = f.basis {
        row(out, "rests on", b.describe());
    }
    let x = text::exchange_of(c, f.exchange);
    if let Some(id) = f
        .request_id
        .as_ref()
        .or_else(|| x.and_then(|x| x.request_id.as_ref()))
    {
        row(out, "request id", id);
    }
    if let (Some(j), Some(x)) = (f.exchange, x) {
        let _ = write!(
            out,
            "<dt>exchange</dt><dd><a href=\"#{}-x{j}\">#{j}</a> {}</dd>",
            check_anchor(i),
            esc(&text::exchange_line(x))
        );
    }
    if let Some(a) = &f.advice {
        let _ = write!(out, "<dt>advice</dt><dd>{}</dd>", esc(a));
    }
    out.push_str("</dl></div>\n");
}

fn headers_table(h: &[(String, String)]) -> String {
    if h.is_empty() {
        return "<p class=\"muted\">no headers</p>".to_string();
    }
    let mut s = String::from("<table class=\"hs\">");
    for (n, v) in h {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td></tr>",
            esc(n),
            esc(&text::shown_header_value(n, v))
        );
    }
    s.push_str("</table>");
    s
}

fn body_block(b: &BodyRecord) -> String {
    let mut meta = format!(
        "{} · sha256 <code>{}</code>",
        text::bytes(b.size),
        esc(&b.sha256)
    );
    if let Some(ct) = &b.content_type {
        let _ = write!(meta, " · {}", esc(ct));
    }
    if b.truncated {
        meta.push_str(" · <b>truncated</b> in the report");
    }
    let shown = match &b.text {
        None => "<p class=\"muted\">body not recorded (not text)</p>".to_string(),
        Some(t) if t.is_empty() => "<p class=\"muted\">empty body</p>".to_string(),
        Some(t) => {
            // Pretty-print complete JSON bodies (key order is kept).
            let pretty = (!b.truncated)
                .then(|| serde_json::from_str::<serde_json::Value>(t).ok())
                .flatten()
                .filter(|v| v.is_object() || v.is_array())
                .and_then(|v| serde_json::to_string_pretty(&v).ok());
            let shown = pretty.as_deref().unwrap_or(t);
            format!(
                "<pre>{}{}</pre>",
                esc(shown),
                if b.truncated { "\n… (truncated)" } else { "" }
            )
        }
    };
    format!("<div class=\"muted\" style=\"font-size:12.5px\">body: {meta}</div>{shown}")
}

fn exchange(out: &mut String, i: usize, j: usize, x: &Exchange) {
    let status = match (&x.response, &x.error) {
        (Some(r), _) => format!(
            "<span class=\"st {}\">{}</span>",
            outcome_class(x),
            r.status
        ),
        (None, Some(_)) => "<span class=\"st cx\">error</span>".to_string(),
        (None, None) => "<span class=\"st cx\">no response</span>".to_string(),
    };
    let rid = x
        .request_id
        .as_deref()
        .map(|r| format!(" <span class=\"muted\">{}</span>", esc(r)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "<details class=\"x\" id=\"{}-x{j}\"><summary><span class=\"muted\">#{j} {}</span> <b>{}</b> {} → {status} <span class=\"muted nw\">{} at +{}</span>{rid}</summary><div>",
        check_anchor(i),
        esc(&x.step),
        esc(&x.request.method),
        esc(&text::shown_url(&x.request.url)),
        text::ms(x.duration_ms),
        text::ms(x.at_ms)
    );
    out.push_str("<h5 style=\"margin:6px 0 2px\">Request</h5>");
    out.push_str(&headers_table(&x.request.headers));
    if let Some(b) = &x.request.body {
        out.push_str(&body_block(b));
    }
    let _ = write!(
        out,
        "<div class=\"muted\" style=\"font-size:12.5px\">reproduce (key from <code>$GOLIVE_KEY</code>):</div><pre>{}</pre>",
        esc(&curl_line(&x.request))
    );
    match &x.response {
        Some(r) => {
            let _ = write!(
                out,
                "<h5 style=\"margin:6px 0 2px\">Response <span class=\"st {}\">{}</span></h5>",
                outcome_class(x),
                r.status
            );
            out.push_str(&headers_table(&r.headers));
            if let Some(b) = &r.body {
                out.push_str(&body_block(b));
            }
        }
        None => out.push_str("<h5 style=\"margin:6px 0 2px\">No response</h5>"),
    }
    if let Some(e) = &x.error {
        let _ = write!(
            out,
            "<p><b class=\"st cx\">transport error:</b> {}</p>",
            esc(e)
        );
    }
    out.push_str("</div></details>\n");
}

fn footer(out: &mut String, r: &Report) {
    let _ = writeln!(
        out,
        "<footer>\n<p><b>Verdict policy.</b> {}</p>",
        esc(&r.policy)
    );
    for p in &r.packs {
        let _ = writeln!(
            out,
            "<details><summary>pack <code>{}</code> {} — {} ({}), {} scenario(s)</summary><table>",
            esc(&p.name),
            esc(&p.version),
            esc(&p.title),
            esc(&p.source),
            p.scenarios.len()
        );
        for d in &p.scenarios {
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td class=\"mono\">{}</td></tr>",
                esc(&d.file),
                esc(&d.sha256)
            );
        }
        out.push_str("</table></details>\n");
    }
    let _ = writeln!(
        out,
        "<p>golive {} · report format {} · generated from <code>report.json</code>; this file needs no network.</p>\n</footer>",
        esc(&r.golive_version),
        r.format_version
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::text::tests::{empty_report, odd_report};

    #[test]
    fn empty_report_renders() {
        let s = render(&empty_report());
        assert!(s.starts_with("<!DOCTYPE html>"));
        assert!(s.contains("<div class=\"verdict\">INCOMPLETE"));
        assert!(s.contains("No check ran."));
        assert!(s.ends_with("</html>\n"));
    }

    #[test]
    fn assets_are_inlined_whole_and_cannot_close_their_element() {
        let s = render(&empty_report());
        assert!(s.contains(&format!("<style>\n{CSS}</style>")));
        assert!(s.contains(&format!("<script>\n{JS}</script>")));
        assert!(!CSS.to_ascii_lowercase().contains("</style"));
        assert!(!JS.to_ascii_lowercase().contains("</script"));
    }

    #[test]
    fn odd_data_is_escaped_and_masked() {
        let s = render(&odd_report());
        assert!(!s.contains("<script>alert"), "unescaped title");
        assert!(s.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!s.contains("fake_key_LEAK"));
        assert!(!s.contains('\u{0}'));
        for external in ["src=", "href=\"http", "@import", "url("] {
            assert!(!s.contains(external), "external resource `{external}`");
        }
        assert_eq!(s.matches("<script>").count(), 1, "only our inline script");
    }

    #[test]
    fn a_cut_short_run_reads_at_a_glance() {
        let mut r = empty_report();
        let check = |id: &str, status: Status, summary: &str| CheckResult {
            id: id.into(),
            pack: "p".into(),
            family: Family::Auth,
            severity: Severity::Blocker,
            status,
            title: format!("title of {id}"),
            summary: summary.into(),
            duration_ms: 0.0,
            scenario: None,
            findings: vec![],
            evidence: vec![],
        };
        r.checks.push(check("p.a", Status::Pass, "ok"));
        r.checks
            .push(check("p.b", Status::Error, "interrupted while it ran"));
        for id in ["p.c", "p.d", "p.e"] {
            r.checks
                .push(check(id, Status::Skip, "not run: interrupted (Ctrl-C)"));
        }
        r.interrupted = Some("interrupted (Ctrl-C)".into());
        r.finalize();
        let s = render(&r);
        // The reason is in the banner once, not repeated in a second box.
        assert!(
            s.contains("<div class=\"reason\">the run was cut short: interrupted (Ctrl-C)</div>")
        );
        assert!(!s.contains("class=\"cut\""));
        // Three checks skipped for one reason: one item listing them.
        assert!(
            s.contains("<b>3 checks</b><div class=\"what\">not run: interrupted (Ctrl-C)</div>")
        );
        for (id, anchor) in [("p.c", "c2"), ("p.d", "c3"), ("p.e", "c4")] {
            assert!(s.contains(&format!("<a href=\"#{anchor}\"><code>{id}</code></a>")));
        }
        // A lone error keeps its own item with its title.
        assert!(s.contains("title of p.b"));
        // When the verdict says something else, the cut notice still shows.
        r.checks[0].status = Status::Fail;
        r.finalize();
        assert!(render(&r).contains("class=\"cut\""));
    }
}
