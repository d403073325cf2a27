//! SLO gates of a load run, as data: `p95<800ms`, `errors<1%`, `429<5%`,
//! optionally scoped to one call of the mix (`poll:p99<1s`). Declared in a
//! pack's `load.slo` or given with `--slo`; the load engine evaluates them.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What an SLO measures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SloMetric {
    /// A latency quantile in (0, 1], e.g. 0.95; 1.0 is the maximum.
    Latency(f64),
    /// Share of sent requests that failed (transport error, timeout, 5xx,
    /// or any other non-2xx except 429).
    Errors,
    /// Share of sent requests answered 429.
    RateLimited,
    /// Share of arrivals not sent because no in-flight slot was free.
    Dropped,
}

/// One gate: `metric < limit` (or `<=`), over the whole run or one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// The text it was written as (how reports name it).
    pub text: String,
    /// The mix call it is scoped to (`None`: every request).
    pub call: Option<String>,
    pub metric: SloMetric,
    /// Milliseconds for latencies, a fraction (0.01 = 1 %) for shares.
    pub limit: f64,
    pub inclusive: bool,
}

impl Slo {
    /// Parses `[call:]metric<value` (`<=` also accepted).
    pub fn parse(text: &str) -> Result<Slo, String> {
        let t = text.trim();
        let (lhs, rhs, inclusive) = if let Some((l, r)) = t.split_once("<=") {
            (l, r, true)
        } else if let Some((l, r)) = t.split_once('<') {
            (l, r, false)
        } else {
            return Err(format!(
                "SLO `{t}`: expected `METRIC<LIMIT`, e.g. `p95<800ms`, `errors<1%`, `429<5%`"
            ));
        };
        let lhs = lhs.trim();
        let (call, metric_s) = match lhs.rsplit_once(':') {
            Some((c, m)) if !c.trim().is_empty() => (Some(c.trim().to_string()), m.trim()),
            _ => (None, lhs),
        };
        let metric = match metric_s {
            "errors" | "error" => SloMetric::Errors,
            "429" => SloMetric::RateLimited,
            "dropped" => SloMetric::Dropped,
            "max" => SloMetric::Latency(1.0),
            p if p.starts_with('p') => {
                let q: f64 = p[1..]
                    .parse()
                    .map_err(|_| format!("SLO `{t}`: `{p}` is not a percentile like p95"))?;
                if !(q > 0.0 && q <= 100.0) {
                    return Err(format!("SLO `{t}`: a percentile is between p0 and p100"));
                }
                SloMetric::Latency((q * 1e7).round() / 1e9)
            }
            m => {
                return Err(format!(
                    "SLO `{t}`: unknown metric `{m}` (p50…p99.9, max, errors, 429, dropped)"
                ));
            }
        };
        let rhs = rhs.trim();
        let limit = match metric {
            SloMetric::Latency(_) => {
                let d = parse_latency(rhs)
                    .map_err(|e| format!("SLO `{t}`: {e} (a latency limit is like 800ms or 2s)"))?;
                d.as_secs_f64() * 1000.0
            }
            _ => {
                let pct = rhs
                    .strip_suffix('%')
                    .and_then(|n| n.trim().parse::<f64>().ok())
                    .filter(|n| n.is_finite() && (0.0..=100.0).contains(n))
                    .ok_or_else(|| {
                        format!("SLO `{t}`: a share limit is a percentage like 1% or 0.5%")
                    })?;
                pct / 100.0
            }
        };
        Ok(Slo {
            text: t.to_string(),
            call,
            metric,
            limit,
            inclusive,
        })
    }

    /// Whether `actual` (ms or a fraction, like `limit`) meets the gate.
    pub fn holds(&self, actual: f64) -> bool {
        if self.inclusive {
            actual <= self.limit
        } else {
            actual < self.limit
        }
    }

    /// A short id for report check ids: `p95`, `errors`, `poll.p99`.
    pub fn slug(&self) -> String {
        let m = match self.metric {
            SloMetric::Latency(q) if q >= 1.0 => "max".to_string(),
            SloMetric::Latency(q) => format!("p{}", trim_num(q * 100.0)),
            SloMetric::Errors => "errors".into(),
            SloMetric::RateLimited => "429".into(),
            SloMetric::Dropped => "dropped".into(),
        };
        match &self.call {
            Some(c) => format!("{c}.{m}"),
            None => m,
        }
    }

    /// The value in the SLO's own unit: `812 ms`, `1.3 %`.
    pub fn show(&self, v: f64) -> String {
        match self.metric {
            SloMetric::Latency(_) => format!("{} ms", trim_num((v * 10.0).round() / 10.0)),
            _ => format!("{} %", trim_num((v * 1000.0).round() / 10.0)),
        }
    }
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `800ms`, `2s`, `1.5s`, `500us`, `1m`.
fn parse_latency(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|i| s.split_at(i))
        .ok_or_else(|| format!("`{s}` has no unit"))?;
    let n: f64 = num.parse().map_err(|_| format!("`{s}` is not a number"))?;
    let ms = match unit.trim() {
        "us" | "µs" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        u => return Err(format!("unknown unit `{u}`")),
    };
    if !(ms.is_finite() && ms > 0.0) {
        return Err(format!("`{s}` must be above zero"));
    }
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

fn trim_num(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_of_the_docs() {
        let p = Slo::parse("p95<800ms").unwrap();
        assert_eq!(p.metric, SloMetric::Latency(0.95));
        assert_eq!(p.limit, 800.0);
        assert_eq!(p.slug(), "p95");
        let p = Slo::parse("p99.9 <= 2s").unwrap();
        assert_eq!(p.metric, SloMetric::Latency(0.999));
        assert!(p.inclusive && p.holds(2000.0));
        assert_eq!(p.slug(), "p99.9");
        let e = Slo::parse("errors<1%").unwrap();
        assert_eq!((e.metric, e.limit), (SloMetric::Errors, 0.01));
        assert!(e.holds(0.009) && !e.holds(0.01));
        let r = Slo::parse("429<5%").unwrap();
        assert_eq!(r.metric, SloMetric::RateLimited);
        let c = Slo::parse("jobs.get:p99<1s").unwrap();
        assert_eq!(c.call.as_deref(), Some("jobs.get"));
        assert_eq!(c.slug(), "jobs.get.p99");
        assert_eq!(Slo::parse("max<3s").unwrap().slug(), "max");
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for bad in [
            "p95", "p95<800", "errors<1", "p0<1s", "p101<1s", "mean<1s", "429<200%",
        ] {
            assert!(Slo::parse(bad).is_err(), "{bad}");
        }
    }
}
