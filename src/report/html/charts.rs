//! The HTML report's charts, inline SVG drawn from the report model: request
//! latency across the run (a log scale, one row per check) and each check's
//! request timeline (one row per step, one bar per request). Colours follow
//! the response class, as in the legend.

use super::check_anchor;
use crate::report::model::*;
use crate::report::text::{self, finite, html as esc};
use std::fmt::Write as _;

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

/// Colour class of an exchange's outcome.
pub(super) fn outcome_class(x: &Exchange) -> &'static str {
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
pub(super) fn latency_chart(out: &mut String, r: &Report) {
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
pub(super) fn timeline(c: &CheckResult) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
