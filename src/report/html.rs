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

const CSS: &str = r#"
:root{--pass:#1a7f37;--fail:#cf222e;--warn:#9a6700;--skip:#6e7781;--error:#8250df;
--go:#1a7f37;--nogo:#cf222e;--inc:#bf8700;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg2:#f6f8fa}
*{box-sizing:border-box}
html{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:#fff}
main,.banner-in{max-width:1120px;margin:0 auto;padding:0 24px}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,"SF Mono",Menlo,Consolas,"Liberation Mono",monospace;font-size:13px}
pre{background:var(--bg2);border:1px solid var(--line);border-radius:6px;padding:8px 10px;margin:4px 0 10px;white-space:pre-wrap;overflow-wrap:anywhere;max-height:28em;overflow:auto}
a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}
h2{font-size:20px;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:16px;margin:20px 0 8px}
.banner{color:#fff;padding:22px 0 18px}
.banner.v-go{background:var(--go)}.banner.v-nogo{background:var(--nogo)}.banner.v-inc{background:var(--inc)}
.verdict{font-size:44px;font-weight:800;letter-spacing:.5px;line-height:1.1}
.verdict small{font-size:16px;font-weight:500;opacity:.9;margin-left:12px;letter-spacing:0}
.reason{font-size:19px;font-weight:600;margin-top:6px;overflow-wrap:anywhere}
.cut{margin-top:8px;font-weight:600;background:rgba(0,0,0,.18);display:inline-block;padding:2px 10px;border-radius:4px}
.meta{margin-top:8px;opacity:.95;font-size:14px;overflow-wrap:anywhere}
.meta code{font-size:13px;background:rgba(255,255,255,.18);padding:0 4px;border-radius:3px}
.totals{margin-top:12px;display:flex;gap:8px;flex-wrap:wrap}
.totals span{background:#fff;color:var(--fg);border-radius:14px;padding:2px 12px;font-weight:600;font-size:14px}
.totals b{font-size:16px}
.chip{display:inline-block;min-width:54px;text-align:center;border-radius:4px;padding:0 6px;font-size:12px;font-weight:700;color:#fff;letter-spacing:.3px;vertical-align:1px}
.s-pass{--c:var(--pass)}.s-fail{--c:var(--fail)}.s-warn{--c:var(--warn)}.s-skip{--c:var(--skip)}.s-error{--c:var(--error)}
.chip{background:var(--c)}.dot{color:var(--c)}
.sev{font-size:12px;border:1px solid var(--line);border-radius:4px;padding:0 5px;color:var(--muted)}
.sev.blocker{border-color:var(--fg);color:var(--fg);font-weight:600}
.muted{color:var(--muted)}
.nw{white-space:nowrap}
.attention{list-style:none;padding:0;margin:0}
.attention li{padding:8px 12px;border-left:4px solid var(--c);background:var(--bg2);margin:6px 0;border-radius:0 6px 6px 0}
.attention .what{margin-top:2px;font-size:14px;overflow-wrap:anywhere}
.attention .ids{margin-top:2px;font-size:13px;line-height:1.7;overflow-wrap:anywhere}
.attention .what code{background:#fff;border:1px solid var(--line);border-radius:3px;padding:0 3px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:13px;color:var(--muted);font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.z{color:#c4cbd3}
.fam small{display:block;color:var(--muted);font-size:12.5px;line-height:1.35}
.bar{display:flex;height:10px;border-radius:5px;overflow:hidden;min-width:120px;background:var(--line);margin-top:5px}
.bar i{display:block;background:var(--c)}
details.check{border:1px solid var(--line);border-left:5px solid var(--c);border-radius:6px;margin:8px 0;background:#fff}
details.check>summary{padding:8px 12px;cursor:pointer}
details.check>summary .t{font-weight:600}
details.check[open]>summary{border-bottom:1px solid var(--line);background:var(--bg2)}
.cbody{padding:6px 14px 12px}
.finding{border-left:3px solid var(--c);padding:4px 10px;margin:8px 0;background:var(--bg2);border-radius:0 4px 4px 0}
.finding .msg{font-weight:600;overflow-wrap:anywhere}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:1px 12px;margin:4px 0;font-size:14px}
.kv dt{color:var(--muted)}.kv dd{margin:0;overflow-wrap:anywhere}
.kv dd code{background:#fff;border:1px solid var(--line);border-radius:3px;padding:0 3px}
details.x{margin:4px 0;border:1px solid var(--line);border-radius:4px}
details.x>summary{padding:4px 8px;cursor:pointer;font-size:13.5px;overflow-wrap:anywhere}
details.x>div{padding:4px 10px 8px}
.hs td{font-size:12.5px;padding:2px 6px;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.hs td:first-child{color:var(--muted);white-space:nowrap;width:1%}
.st{font-weight:700}.st.c2{color:var(--pass)}.st.c3{color:#0969da}.st.c4{color:var(--warn)}.st.c5,.st.cx{color:var(--fail)}
svg{display:block;max-width:100%;height:auto;font-family:inherit}
svg text{font-size:11px;fill:var(--muted)}
svg .lbl{fill:var(--fg)}
.legend{font-size:12.5px;color:var(--muted)}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px;vertical-align:-1px}
.tools{float:right;font-size:13px}.tools button{font:inherit;font-size:12.5px;margin-left:4px;cursor:pointer}
.js-only{display:none}.js .js-only{display:inline}
footer{max-width:1120px;margin:30px auto 40px;padding:12px 24px 0;border-top:1px solid var(--line);color:var(--muted);font-size:13px}
footer table td{font-size:12.5px}
@media print{
 body{font-size:12px}.verdict{font-size:34px}.banner{padding:12px 0}
 details.check,details.x,.finding,li,tr{break-inside:avoid}
 pre{max-height:none;overflow:visible}
 .tools{display:none}
 a{color:inherit}
}
"#;

const JS: &str = r#"
document.documentElement.classList.add('js');
(function(){
 var all=function(open){document.querySelectorAll('details').forEach(function(d){d.open=open;});};
 var saved=[];
 var sel='details.check:not(.s-pass), details.check:not(.s-pass) details.x';
 window.addEventListener('beforeprint',function(){saved=[];document.querySelectorAll('details').forEach(function(d){saved.push(d.open);if(d.matches(sel))d.open=true;});});
 window.addEventListener('afterprint',function(){document.querySelectorAll('details').forEach(function(d,i){if(i<saved.length)d.open=saved[i];});});
 document.addEventListener('click',function(e){var b=e.target.closest&&e.target.closest('[data-all]');if(b){all(b.getAttribute('data-all')==='open');}});
})();
"#;

/// Renders the HTML report.
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let packs: Vec<&str> = report.packs.iter().map(|p| p.name.as_str()).collect();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"golive {}\">\n\
         <title>{} — golive go-live readiness{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
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
    let _ = write!(out, "<script>{JS}</script>\n</body>\n</html>\n");
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

/// A "nice" tick step (1, 2 or 5 × 10ⁿ) giving about `n` ticks up to `max`.
fn tick_step(max: f64, n: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let raw = max / n;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let k = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    k * mag
}

fn finite(v: f64) -> f64 {
    if v.is_finite() { v.max(0.0) } else { 0.0 }
}

/// Colour class of an exchange's outcome.
fn outcome_class(x: &Exchange) -> &'static str {
    match x.response.as_ref().map(|r| r.status / 100) {
        Some(2) => "c2",
        Some(3) => "c3",
        Some(4) => "c4",
        Some(5) => "c5",
        _ => "cx",
    }
}

fn outcome_color(class: &str) -> &'static str {
    match class {
        "c2" => "#2da44e",
        "c3" => "#0969da",
        "c4" => "#d4a72c",
        "c5" => "#cf222e",
        _ => "#6e7781",
    }
}

const LEGEND: &str = "<div class=\"legend\">response:<i style=\"background:#2da44e\"></i>2xx<i style=\"background:#0969da\"></i>3xx<i style=\"background:#d4a72c\"></i>4xx<i style=\"background:#cf222e\"></i>5xx<i style=\"background:#6e7781\"></i>no response</div>\n";

/// A tick label: `0`, `20 ms`, `1 s`, `2.5 s`.
fn tick_label(v: f64) -> String {
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    if v == 0.0 {
        "0".to_string()
    } else if v < 1000.0 {
        format!("{} ms", round(v))
    } else {
        format!("{} s", round(v / 1000.0))
    }
}

fn grid_line(out: &mut String, x: f64, y_top: f64, y_axis: f64, label: Option<&str>) {
    let _ = write!(
        out,
        "<line x1=\"{x:.1}\" y1=\"{y_top:.1}\" x2=\"{x:.1}\" y2=\"{y_axis:.1}\" stroke=\"{}\"/>",
        if label.is_some() {
            "#d8dee4"
        } else {
            "#eef1f4"
        }
    );
    if let Some(l) = label {
        let _ = write!(
            out,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            y_axis + 13.0,
            esc(l)
        );
    }
}

/// A linear time axis from 0 to `max` (a multiple of its tick step).
fn x_axis(out: &mut String, x0: f64, w: f64, max: f64, y_top: f64, y_axis: f64) {
    let step = tick_step(max, 6.0);
    let n = ((max / step).round() as usize).min(50);
    for k in 0..=n {
        let v = k as f64 * step;
        grid_line(out, x0 + w * v / max, y_top, y_axis, Some(&tick_label(v)));
    }
}

/// A logarithmic latency scale over whole decades, `lo` to `hi` ms.
struct LogScale {
    x0: f64,
    w: f64,
    lo: f64,
    hi: f64,
}

impl LogScale {
    fn over(values: impl Iterator<Item = f64>, x0: f64, w: f64) -> LogScale {
        let (mut min, mut max) = (f64::INFINITY, 0.0f64);
        for v in values.filter(|v| v.is_finite() && *v > 0.0) {
            min = min.min(v);
            max = max.max(v);
        }
        let lo = if min.is_finite() {
            10f64.powf(min.log10().floor()).clamp(0.1, 1.0)
        } else {
            1.0
        };
        // Capped at 10⁹ ms (11 days): beyond that nothing is a latency.
        let hi = if max > 0.0 {
            10f64.powf(max.log10().ceil().min(9.0)).max(lo * 100.0)
        } else {
            lo * 100.0
        };
        LogScale { x0, w, lo, hi }
    }
    fn x(&self, v: f64) -> f64 {
        let v = finite(v).max(self.lo).min(self.hi);
        self.x0 + self.w * (v / self.lo).log10() / (self.hi / self.lo).log10()
    }
    fn axis(&self, out: &mut String, y_top: f64, y_axis: f64) {
        let mut decade = self.lo;
        for _ in 0..12 {
            if decade > self.hi * 1.0001 {
                break;
            }
            grid_line(
                out,
                self.x(decade),
                y_top,
                y_axis,
                Some(&tick_label(decade)),
            );
            for m in [2.0, 5.0] {
                if decade * m < self.hi {
                    grid_line(out, self.x(decade * m), y_top, y_axis, None);
                }
            }
            decade *= 10.0;
        }
    }
}

/// Request latency across the run: one row per check, one dot per request
/// (grey for no response), the median of answered requests marked. A log
/// scale, so 5 ms and 5 s requests both read.
fn latency_chart(out: &mut String, r: &Report) {
    let rows: Vec<(usize, &CheckResult)> = r
        .checks
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.evidence.is_empty())
        .collect();
    if rows.is_empty() {
        return;
    }
    let (label_w, width, row_h, top) = (300.0, 1000.0, 18.0, 6.0);
    let scale = LogScale::over(
        rows.iter()
            .flat_map(|(_, c)| c.evidence.iter().map(|x| x.duration_ms)),
        label_w,
        width - label_w - 20.0,
    );
    let height = top + rows.len() as f64 * row_h + 22.0;
    out.push_str("<h2 id=\"latency\">Request latency</h2>\n");
    let _ = writeln!(
        out,
        "<p class=\"muted\">Each dot is one request of the check (time to response, log scale); the black bar is the median of its answered requests.</p>\n\
         <svg viewBox=\"0 0 {width} {height:.0}\" width=\"{width}\" role=\"img\" aria-label=\"request latency per check\">"
    );
    let axis_y = top + rows.len() as f64 * row_h + 2.0;
    scale.axis(out, top, axis_y);
    for (k, (i, c)) in rows.iter().enumerate() {
        let y = top + k as f64 * row_h + row_h / 2.0;
        if k % 2 == 0 {
            let _ = write!(
                out,
                "<rect x=\"0\" y=\"{:.1}\" width=\"{width}\" height=\"{row_h}\" fill=\"#f6f8fa\" opacity=\".6\"/>",
                y - row_h / 2.0
            );
        }
        let _ = write!(
            out,
            "<a href=\"#{}\"><text class=\"lbl\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text></a>",
            check_anchor(*i),
            label_w - 8.0,
            y + 4.0,
            esc(&text::clip(&c.id, 44))
        );
        for x in &c.evidence {
            let _ = write!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{}\" fill-opacity=\".75\"><title>{}</title></circle>",
                scale.x(x.duration_ms),
                outcome_color(outcome_class(x)),
                esc(&format!("{}: {}", x.step, text::exchange_line(x)))
            );
        }
        let mut answered: Vec<f64> = c
            .evidence
            .iter()
            .filter(|x| x.response.is_some())
            .map(|x| finite(x.duration_ms))
            .collect();
        answered.sort_by(f64::total_cmp);
        if let Some(&med) = answered.get(answered.len() / 2) {
            let mx = scale.x(med);
            let _ = write!(
                out,
                "<line x1=\"{mx:.1}\" y1=\"{:.1}\" x2=\"{mx:.1}\" y2=\"{:.1}\" stroke=\"#1f2328\" stroke-width=\"2\"><title>median {}</title></line>",
                y - 7.0,
                y + 7.0,
                text::ms(med)
            );
        }
    }
    out.push_str("</svg>\n");
    out.push_str(LEGEND);
}

/// A check's requests over time: one row per step, one bar per request from
/// send to response; repeated polls of a job show as a row of bars.
fn timeline(c: &CheckResult) -> String {
    if c.evidence.len() < 2 {
        return String::new();
    }
    let t0 = c
        .evidence
        .iter()
        .map(|x| finite(x.at_ms))
        .fold(f64::INFINITY, f64::min);
    let t0 = if t0.is_finite() { t0 } else { 0.0 };
    let end = c
        .evidence
        .iter()
        .map(|x| finite(x.at_ms) + finite(x.duration_ms) - t0)
        .fold(0.0, f64::max);
    let max = if end > 0.0 {
        let step = tick_step(end, 6.0);
        (end / step).ceil() * step
    } else {
        1.0
    };
    let mut steps: Vec<&str> = Vec::new();
    for x in &c.evidence {
        if !steps.contains(&x.step.as_str()) {
            steps.push(&x.step);
        }
    }
    let (label_w, width, row_h, top) = (170.0, 1000.0, 20.0, 4.0);
    let plot_w = width - label_w - 20.0;
    let height = top + steps.len() as f64 * row_h + 22.0;
    let mut s = format!(
        "<svg viewBox=\"0 0 {width} {height:.0}\" width=\"{width}\" role=\"img\" aria-label=\"request timeline\">"
    );
    let axis_y = top + steps.len() as f64 * row_h + 2.0;
    x_axis(&mut s, label_w, plot_w, max, top, axis_y);
    for (k, step) in steps.iter().enumerate() {
        let y = top + k as f64 * row_h;
        let n = c.evidence.iter().filter(|x| x.step == *step).count();
        let label = if n > 1 {
            format!("{} ×{n}", text::clip(step, 20))
        } else {
            text::clip(step, 24)
        };
        let _ = write!(
            s,
            "<text class=\"lbl\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            label_w - 8.0,
            y + row_h / 2.0 + 4.0,
            esc(&label)
        );
    }
    for x in &c.evidence {
        let k = steps.iter().position(|st| *st == x.step).unwrap_or(0);
        let y = top + k as f64 * row_h + 4.0;
        let x0 = label_w + plot_w * (finite(x.at_ms) - t0) / max;
        let w = (plot_w * finite(x.duration_ms) / max).max(2.5);
        let _ = write!(
            s,
            "<rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" rx=\"2\" fill=\"{}\"><title>{}</title></rect>",
            row_h - 8.0,
            outcome_color(outcome_class(x)),
            esc(&format!(
                "+{} {}",
                text::ms(finite(x.at_ms) - t0),
                text::exchange_line(x)
            ))
        );
    }
    s.push_str("</svg>\n");
    s
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
    let (class, label) = match f.level {
        FindingLevel::Fail => ("s-fail", "fail"),
        FindingLevel::Warn => ("s-warn", "warn"),
    };
    let _ = write!(
        out,
        "<div class=\"finding {class}\"><div class=\"msg\"><span class=\"dot\">{label}</span> in step <code>{}</code>: {}</div><dl class=\"kv\">",
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
    fn odd_data_is_escaped_and_masked() {
        let s = render(&odd_report());
        assert!(!s.contains("<script>alert"), "unescaped title");
        assert!(s.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!s.contains("sk_live_LEAK"));
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

    #[test]
    fn ticks_are_nice() {
        assert_eq!(tick_step(1000.0, 5.0), 200.0);
        assert_eq!(tick_step(7.0, 6.0), 2.0);
        assert_eq!(tick_step(0.0, 6.0), 1.0);
        assert_eq!(tick_step(f64::NAN, 6.0), 1.0);
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(20.0), "20 ms");
        assert_eq!(tick_label(0.30000000000000004), "0.3 ms");
        assert_eq!(tick_label(2500.0), "2.5 s");
    }

    #[test]
    fn log_scale_spans_whole_decades() {
        let s = LogScale::over([4.2, 30_000.0, f64::NAN, 0.0].into_iter(), 0.0, 500.0);
        assert_eq!((s.lo, s.hi), (1.0, 100_000.0));
        assert_eq!(s.x(1.0), 0.0);
        assert_eq!(s.x(100_000.0), 500.0);
        assert_eq!(s.x(1000.0), 300.0);
        assert_eq!(s.x(f64::NAN), 0.0);
        let empty = LogScale::over(std::iter::empty(), 0.0, 100.0);
        assert_eq!((empty.lo, empty.hi), (1.0, 100.0));
    }
}
