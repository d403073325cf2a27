//! The arrival plan of an open-model run: stages of constant rate on an
//! absolute schedule (arrival `j` of a stage at rate `r` is due `j / r`
//! seconds into it), bounded by duration and request count, and cut into
//! interleaved segments (arrival `j` belongs to segment `j mod N`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::LoadError;
use crate::pack::template::parse_duration;

/// The most arrivals one plan may hold (a bound on every run).
pub const MAX_ARRIVALS: u64 = 50_000_000;

/// The highest rate a stage may ask for.
pub const MAX_RATE: f64 = 1_000_000.0;

/// One stage: `rate` arrivals a second for `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub duration_ms: u64,
    pub rate: f64,
}

impl Stage {
    fn arrivals(&self) -> u64 {
        ((self.duration_ms as f64 / 1000.0) * self.rate).floor() as u64
    }
}

/// `I/N`: this process sends arrivals `j` with `j mod N == I` (I from 0,
/// as Kubernetes' `JOB_COMPLETION_INDEX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub index: u32,
    pub of: u32,
}

impl Default for Segment {
    fn default() -> Self {
        Segment { index: 0, of: 1 }
    }
}

impl Segment {
    pub fn parse(s: &str) -> Result<Segment, LoadError> {
        let bad = || LoadError::Invalid(format!("--segment `{s}`: expected I/N with 0 ≤ I < N"));
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let of: u32 = n.trim().parse().map_err(|_| bad())?;
        if of == 0 || index >= of || of > 10_000 {
            return Err(bad());
        }
        Ok(Segment { index, of })
    }
    pub fn holds(&self, j: u64) -> bool {
        j % self.of as u64 == self.index as u64
    }
}

/// The whole schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub stages: Vec<Stage>,
    /// At most this many arrivals over all segments (`--max-requests`).
    pub max_requests: u64,
    pub segment: Segment,
}

/// `50/s`, `50` (a second), `3000/m`, `0.5/s`.
pub fn parse_rate(s: &str) -> Result<f64, LoadError> {
    let t = s.trim();
    let (n, per) = match t.split_once('/') {
        Some((n, u)) => (n.trim(), u.trim()),
        None => (t, "s"),
    };
    let n: f64 = n
        .parse()
        .map_err(|_| LoadError::Invalid(format!("rate `{s}`: expected e.g. 50/s or 3000/m")))?;
    let per_s = match per {
        "s" => n,
        "m" => n / 60.0,
        "h" => n / 3600.0,
        u => {
            return Err(LoadError::Invalid(format!(
                "rate `{s}`: unknown unit `/{u}` (/s, /m, /h)"
            )));
        }
    };
    if !(per_s.is_finite() && per_s > 0.0 && per_s <= MAX_RATE) {
        return Err(LoadError::Invalid(format!(
            "rate `{s}` must be above 0 and at most {MAX_RATE}/s"
        )));
    }
    Ok(per_s)
}

/// `30s:10/s`.
pub fn parse_stage(s: &str) -> Result<Stage, LoadError> {
    let (d, r) = s.split_once(':').ok_or_else(|| {
        LoadError::Invalid(format!(
            "--stage `{s}`: expected DURATION:RATE, e.g. 30s:10/s"
        ))
    })?;
    Ok(Stage {
        duration_ms: duration_ms(d)?,
        rate: parse_rate(r)?,
    })
}

pub fn duration_ms(s: &str) -> Result<u64, LoadError> {
    let d = parse_duration(s).map_err(LoadError::Invalid)?;
    if d.is_zero() {
        return Err(LoadError::Invalid(format!(
            "duration `{s}` must be above zero"
        )));
    }
    Ok(d.as_millis() as u64)
}

impl Plan {
    pub fn new(
        stages: Vec<Stage>,
        max_requests: Option<u64>,
        segment: Segment,
    ) -> Result<Plan, LoadError> {
        if stages.is_empty() {
            return Err(LoadError::Invalid(
                "a plan needs --rate and --duration, or --stage".into(),
            ));
        }
        let all: u64 = stages.iter().map(Stage::arrivals).sum();
        if all == 0 {
            return Err(LoadError::Invalid(
                "the plan holds no arrival (rate × duration < 1)".into(),
            ));
        }
        let max_requests = max_requests.unwrap_or(all).min(all);
        if max_requests > MAX_ARRIVALS {
            return Err(LoadError::Invalid(format!(
                "the plan holds {max_requests} arrivals; at most {MAX_ARRIVALS} (cap it with --max-requests)"
            )));
        }
        Ok(Plan {
            stages,
            max_requests,
            segment,
        })
    }

    /// Arrivals over every segment.
    pub fn total(&self) -> u64 {
        self.max_requests
    }

    /// Arrivals of this segment.
    pub fn own(&self) -> u64 {
        let n = self.segment.of as u64;
        let i = self.segment.index as u64;
        self.total() / n + u64::from(self.total() % n > i)
    }

    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.stages.iter().map(|s| s.duration_ms).sum())
    }

    /// The rate asked for over the whole plan (arrivals ÷ duration, all segments).
    pub fn intended_rate(&self) -> f64 {
        self.total() as f64 / self.duration().as_secs_f64().max(1e-9)
    }

    /// In words: `50/s for 60s`, `10/s for 30s, then 50/s for 60s`.
    pub fn describe(&self) -> String {
        let s: Vec<String> = self
            .stages
            .iter()
            .map(|s| format!("{}/s for {}", num(s.rate), secs(s.duration_ms)))
            .collect();
        let mut out = s.join(", then ");
        if self.segment.of > 1 {
            out.push_str(&format!(
                " (segment {}/{})",
                self.segment.index, self.segment.of
            ));
        }
        out
    }

    /// This segment's arrivals: (global index, offset from the start).
    pub fn arrivals(&self) -> impl Iterator<Item = (u64, Duration)> + '_ {
        let max = self.total();
        let seg = self.segment;
        let mut base_ms = 0u64;
        let mut first = 0u64;
        self.stages
            .iter()
            .flat_map(move |st| {
                let n = st.arrivals();
                let (b, f) = (base_ms, first);
                base_ms += st.duration_ms;
                first += n;
                let rate = st.rate;
                (0..n).map(move |k| {
                    let at = Duration::from_millis(b) + Duration::from_secs_f64(k as f64 / rate);
                    (f + k, at)
                })
            })
            .take_while(move |(j, _)| *j < max)
            .filter(move |(j, _)| seg.holds(*j))
    }
}

fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn secs(ms: u64) -> String {
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{}ms", ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_stages() {
        assert_eq!(parse_rate("50/s").unwrap(), 50.0);
        assert_eq!(parse_rate("120/m").unwrap(), 2.0);
        assert_eq!(parse_rate("7").unwrap(), 7.0);
        assert!(
            parse_rate("0/s").is_err() && parse_rate("x").is_err() && parse_rate("5/d").is_err()
        );
        let s = parse_stage("30s:10/s").unwrap();
        assert_eq!((s.duration_ms, s.rate), (30_000, 10.0));
    }

    #[test]
    fn the_schedule_is_absolute_and_segments_interleave() {
        let stages = vec![
            parse_stage("1s:10/s").unwrap(),
            parse_stage("1s:20/s").unwrap(),
        ];
        let one = Plan::new(stages.clone(), None, Segment::default()).unwrap();
        let all: Vec<_> = one.arrivals().collect();
        assert_eq!(all.len(), 30);
        assert_eq!(all[1].1, Duration::from_millis(100));
        assert_eq!(all[10].1, Duration::from_secs(1));
        assert_eq!(all[11].1, Duration::from_millis(1050));
        let mut merged: Vec<_> = (0..3)
            .flat_map(|i| {
                let p = Plan::new(stages.clone(), None, Segment { index: i, of: 3 }).unwrap();
                assert_eq!(p.own() as usize, p.arrivals().count());
                p.arrivals().collect::<Vec<_>>()
            })
            .collect();
        merged.sort_by_key(|a| a.0);
        assert_eq!(merged, all, "the segments are the plan, cut");
        let capped = Plan::new(stages, Some(7), Segment { index: 1, of: 2 }).unwrap();
        assert_eq!(
            capped.arrivals().map(|a| a.0).collect::<Vec<_>>(),
            vec![1, 3, 5]
        );
        assert!(Segment::parse("2/2").is_err() && Segment::parse("0/0").is_err());
        assert_eq!(Segment::parse("1/8").unwrap(), Segment { index: 1, of: 8 });
    }
}
