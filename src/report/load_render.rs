//! The load section in Markdown (a table per call, the SLOs) and in HTML
//! (the same tables and three inline SVG charts over time: rate, latency
//! percentiles, errors and 429s). Reads only the report model.

use std::fmt::Write as _;

use super::load::{LoadPoint, LoadRow, LoadSection};
use super::text::{html as esc, md, md_code};

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.1}"))
}

fn pct(v: f64) -> String {
    format!("{:.2} %", v * 100.0)
}

fn headline(l: &LoadSection) -> String {
    let mut s = format!(
        "{} model, {}: {} — sent {} of {} planned arrivals at {:.1}/s",
        l.model, l.pack, l.plan, l.overall.sent, l.planned, l.achieved_rate
    );
    if l.intended_rate > 0.0 {
        let _ = write!(s, " (intended {:.1}/s)", l.intended_rate);
    }
    let _ = write!(
        s,
        "; {} dropped (max {} in flight), {} unfinished; stopped: {}",
        l.dropped, l.max_in_flight, l.unfinished, l.stopped
    );
    s
}

/// `## Load` for report.md.
pub(crate) fn markdown(out: &mut String, l: &LoadSection) {
    let _ = writeln!(out, "## Load\n\n{}\n", md(&headline(l)));
    if let (Some(h), Some(p99)) = (l.held_rate, l.lag_p99_ms) {
        let _ = writeln!(
            out,
            "Held {h:.1}/s between the first and the last send; 99 % of sends left within {p99:.1} ms of their intended time.\n"
        );
    }
    if !l.slos.is_empty() {
        out.push_str("| SLO | outcome | measured | margin |\n|---|---|--:|---|\n");
        for s in &l.slos {
            let icon = match s.outcome.as_str() {
                "met" => "✅",
                "breached" => "❌",
                _ => "⏭️",
            };
            let _ = writeln!(
                out,
                "| {} | {icon} {} | {} | {} |",
                md_code(&s.slo),
                s.outcome,
                s.actual.as_deref().unwrap_or("–"),
                md(&s.margin)
            );
        }
        out.push('\n');
    }
    out.push_str("| call | sent | req/s | errors | 429 | p50 ms | p90 ms | p95 ms | p99 ms | p99.9 ms | max ms | statuses |\n");
    out.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n");
    for r in l.calls.iter().chain(std::iter::once(&l.overall)) {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            md_code(&r.name),
            r.sent,
            r.rate,
            pct(r.error_rate),
            pct(r.rate_limited_rate),
            ms(r.latency.p50),
            ms(r.latency.p90),
            ms(r.latency.p95),
            ms(r.latency.p99),
            ms(r.latency.p999),
            ms(r.latency.max),
            md(&statuses(r))
        );
    }
    out.push('\n');
    let o = &l.overall;
    let _ = writeln!(
        out,
        "Contract under load: {} undocumented statuses, {} of {} sampled bodies off their schema, {} 429s without Retry-After.\n",
        o.undocumented, o.schema_violations, o.schema_checked, o.missing_retry_after
    );
    for n in &l.notes {
        let _ = writeln!(out, "> {}\n", md(n));
    }
}

fn statuses(r: &LoadRow) -> String {
    r.statuses
        .iter()
        .map(|(k, v)| format!("{k}×{v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The load section of report.html.
pub(crate) fn html(out: &mut String, l: &LoadSection) {
    let _ = writeln!(
        out,
        "<h2 id=\"load\">Load</h2>\n<p>{}</p>",
        esc(&headline(l))
    );
    if !l.slos.is_empty() {
        out.push_str("<table class=\"fams\"><thead><tr><th>SLO</th><th>outcome</th><th class=\"n\">measured</th><th>margin</th></tr></thead><tbody>\n");
        for s in &l.slos {
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                esc(&s.slo),
                esc(&s.outcome),
                esc(s.actual.as_deref().unwrap_or("–")),
                esc(&s.margin)
            );
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("<table class=\"fams\"><thead><tr><th>call</th><th class=\"n\">sent</th><th class=\"n\">req/s</th><th class=\"n\">errors</th><th class=\"n\">429</th><th class=\"n\">p50</th><th class=\"n\">p95</th><th class=\"n\">p99</th><th class=\"n\">p99.9</th><th class=\"n\">max</th><th>statuses</th></tr></thead><tbody>\n");
    for r in l.calls.iter().chain(std::iter::once(&l.overall)) {
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{:.1}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&r.name),
            r.sent,
            r.rate,
            esc(&pct(r.error_rate)),
            esc(&pct(r.rate_limited_rate)),
            ms(r.latency.p50),
            ms(r.latency.p95),
            ms(r.latency.p99),
            ms(r.latency.p999),
            ms(r.latency.max),
            esc(&statuses(r))
        );
    }
    out.push_str("</tbody></table>\n<p class=\"muted\">Latency in ms from each request's intended send time.</p>\n");
    let t = &l.timeline;
    let secs = l.bucket_ms as f64 / 1000.0;
    let rate = |p: &LoadPoint| p.sent as f64 / secs;
    chart(
        out,
        "Requests a second",
        t,
        &[("sent", "#2b6cb0", &rate)],
        "/s",
    );
    let (p50, p95, p99) = (
        |p: &LoadPoint| p.p50_ms.unwrap_or(0.0),
        |p: &LoadPoint| p.p95_ms.unwrap_or(0.0),
        |p: &LoadPoint| p.p99_ms.unwrap_or(0.0),
    );
    chart(
        out,
        "Latency percentiles (ms)",
        t,
        &[
            ("p50", "#2f855a", &p50),
            ("p95", "#d69e2e", &p95),
            ("p99", "#c53030", &p99),
        ],
        " ms",
    );
    let (errs, limited, dropped) = (
        |p: &LoadPoint| p.errors as f64 / secs,
        |p: &LoadPoint| p.rate_limited as f64 / secs,
        |p: &LoadPoint| p.dropped as f64 / secs,
    );
    chart(
        out,
        "Errors, 429s and dropped arrivals a second",
        t,
        &[
            ("errors", "#c53030", &errs),
            ("429", "#d69e2e", &limited),
            ("dropped", "#718096", &dropped),
        ],
        "/s",
    );
    for n in &l.notes {
        let _ = writeln!(out, "<p class=\"muted\">{}</p>", esc(n));
    }
}

type Series<'a> = (&'a str, &'a str, &'a dyn Fn(&LoadPoint) -> f64);

/// A line chart over the timeline, one polyline per series.
fn chart(out: &mut String, title: &str, t: &[LoadPoint], series: &[Series], unit: &str) {
    if t.is_empty() {
        return;
    }
    let (w, h, left, bottom, top) = (900.0, 180.0, 60.0, 22.0, 8.0);
    let max = series
        .iter()
        .flat_map(|(_, _, f)| t.iter().map(f))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let (t_lo, t_hi) = (
        t.first().map_or(0.0, |p| p.t_s),
        t.last().map_or(1.0, |p| p.t_s),
    );
    let span = (t_hi - t_lo).max(1e-9);
    let x_of = |i: usize| left + (w - left - 10.0) * (t[i].t_s - t_lo) / span;
    let y_of = |v: f64| top + (h - top - bottom) * (1.0 - (v / max).clamp(0.0, 1.0));
    let _ = writeln!(
        out,
        "<h3>{}</h3>\n<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    let _ = writeln!(
        out,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/><text x=\"4\" y=\"{}\" font-size=\"11\">{:.1}{}</text><text x=\"4\" y=\"{}\" font-size=\"11\">0</text>",
        h - bottom,
        w - 10.0,
        h - bottom,
        top + 10.0,
        max,
        esc(unit),
        h - bottom
    );
    let last_t = t.last().map_or(0.0, |p| p.t_s);
    let first_t = t.first().map_or(0.0, |p| p.t_s);
    let x_unit = if title.contains("x: rate/s") {
        "/s"
    } else {
        " s"
    };
    let _ = writeln!(
        out,
        "<text x=\"{left}\" y=\"{}\" font-size=\"11\">{first_t:.0}{x_unit}</text><text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{last_t:.0}{x_unit}</text>",
        h - 6.0,
        w - 10.0,
        h - 6.0
    );
    for (i, (name, color, f)) in series.iter().enumerate() {
        let pts: Vec<String> = t
            .iter()
            .enumerate()
            .map(|(k, p)| format!("{:.1},{:.1}", x_of(k), y_of(f(p))))
            .collect();
        let _ = writeln!(
            out,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/><text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{color}\">{}</text>",
            pts.join(" "),
            left + 10.0 + i as f64 * 90.0,
            top + 10.0,
            esc(name)
        );
    }
    out.push_str("</svg>\n");
}

fn cap_rows(c: &super::load::CapacitySection) -> Vec<[String; 9]> {
    let mut steps: Vec<&super::load::CapacityStep> = c.steps.iter().collect();
    steps.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    steps
        .iter()
        .map(|s| {
            [
                format!("{:.1}", s.rate),
                format!("{:.1}", s.achieved_rate),
                format!("{:.1} %", s.sent_share * 100.0),
                ms(s.p50_ms),
                ms(s.p95_ms),
                ms(s.p99_ms),
                pct(s.error_rate),
                pct(s.rate_limited_rate),
                if s.held {
                    "held".into()
                } else {
                    format!("broke: {}", s.broken.join(", "))
                },
            ]
        })
        .collect()
}

fn cap_headline(c: &super::load::CapacitySection) -> String {
    let mut s = match c.knee_rate {
        Some(k) => format!("Highest rate with every SLO held: {k:.1}/s"),
        None => "No rate held every SLO".to_string(),
    };
    if let Some(b) = c.broke_at {
        let _ = write!(s, "; broke at {b:.1}/s");
    }
    if let Some(l) = c.limiter_ceiling {
        let _ = write!(
            s,
            " by 429s only: the rate limiter's ceiling is about {l:.1}/s accepted (the limiter, not the API's capacity)"
        );
    }
    let _ = write!(
        s,
        ". SLOs {}; {} s warm-up and {} s measured per step; {} requests of a {} budget; {}.",
        c.slos.join(", "),
        c.warmup_ms / 1000,
        c.window_ms / 1000,
        c.requests,
        c.max_requests,
        c.stopped
    );
    s
}

const CAP_HEAD: [&str; 9] = [
    "rate/s", "sent/s", "sent", "p50 ms", "p95 ms", "p99 ms", "errors", "429", "step",
];

/// `## Capacity` for report.md.
pub(crate) fn capacity_markdown(out: &mut String, c: &super::load::CapacitySection) {
    let _ = writeln!(out, "## Capacity\n\n{}\n", md(&cap_headline(c)));
    let _ = writeln!(out, "| {} |", CAP_HEAD.join(" | "));
    out.push_str("|--:|--:|--:|--:|--:|--:|--:|--:|---|\n");
    for r in cap_rows(c) {
        let cells: Vec<String> = r.iter().map(|x| md(x)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

/// The capacity section of report.html: the table and latency/errors against rate.
pub(crate) fn capacity_html(out: &mut String, c: &super::load::CapacitySection) {
    let _ = writeln!(
        out,
        "<h2 id=\"capacity\">Capacity</h2>\n<p>{}</p>\n<table class=\"fams\"><thead><tr>",
        esc(&cap_headline(c))
    );
    for h in CAP_HEAD {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for r in cap_rows(c) {
        out.push_str("<tr>");
        for x in &r {
            let _ = write!(out, "<td>{}</td>", esc(x));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
    let mut steps: Vec<&super::load::CapacityStep> = c.steps.iter().collect();
    steps.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let points: Vec<LoadPoint> = steps
        .iter()
        .map(|s| LoadPoint {
            t_s: s.rate,
            sent: 0,
            ok: 0,
            errors: (s.error_rate * 1e6) as u64,
            rate_limited: (s.rate_limited_rate * 1e6) as u64,
            dropped: 0,
            p50_ms: s.p50_ms,
            p95_ms: s.p95_ms,
            p99_ms: s.p99_ms,
        })
        .collect();
    let (p50, p95, p99) = (
        |p: &LoadPoint| p.p50_ms.unwrap_or(0.0),
        |p: &LoadPoint| p.p95_ms.unwrap_or(0.0),
        |p: &LoadPoint| p.p99_ms.unwrap_or(0.0),
    );
    chart(
        out,
        "Latency against rate (ms; x: rate/s)",
        &points,
        &[
            ("p50", "#2f855a", &p50),
            ("p95", "#d69e2e", &p95),
            ("p99", "#c53030", &p99),
        ],
        " ms",
    );
    let (errs, limited) = (
        |p: &LoadPoint| p.errors as f64 / 1e4,
        |p: &LoadPoint| p.rate_limited as f64 / 1e4,
    );
    chart(
        out,
        "Errors and 429s against rate (%; x: rate/s)",
        &points,
        &[("errors", "#c53030", &errs), ("429", "#d69e2e", &limited)],
        " %",
    );
}
