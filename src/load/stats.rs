//! What a load run measured, in a form that merges exactly: counters and HDR
//! histograms (latency in µs from each request's intended send time), per
//! call of the mix, overall, and over time. Histograms serialize as V2 +
//! deflate, base64 in JSON, so segment files merge into the same
//! percentiles one process would have measured.

use std::collections::BTreeMap;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use super::LoadError;

/// Highest latency a histogram records (1 h, in µs); longer is clamped.
const HIGHEST_US: u64 = 3_600_000_000;

/// A latency histogram in µs.
#[derive(Debug, Clone, PartialEq)]
pub struct Hist(pub Histogram<u64>);

impl Hist {
    /// Three significant digits: within 0.1 % of every recorded value.
    pub fn new() -> Hist {
        Hist::with_sigfig(3)
    }
    /// Two significant digits (the timeline's, 1 %: smaller per bucket).
    pub fn coarse() -> Hist {
        Hist::with_sigfig(2)
    }
    fn with_sigfig(s: u8) -> Hist {
        Hist(Histogram::new_with_bounds(1, HIGHEST_US, s).expect("static bounds are valid"))
    }
    pub fn record_us(&mut self, us: u64) {
        self.0.saturating_record(us.clamp(1, HIGHEST_US));
    }
    pub fn add(&mut self, other: &Hist) -> Result<(), LoadError> {
        self.0
            .add(&other.0)
            .map_err(|e| LoadError::Merge(format!("histograms do not add up: {e:?}")))
    }
    pub fn count(&self) -> u64 {
        self.0.len()
    }
    /// The value at quantile `q` in ms (`None` when empty).
    pub fn ms_at(&self, q: f64) -> Option<f64> {
        (!self.0.is_empty()).then(|| self.0.value_at_quantile(q) as f64 / 1000.0)
    }
    pub fn max_ms(&self) -> Option<f64> {
        (!self.0.is_empty()).then(|| self.0.max() as f64 / 1000.0)
    }
    pub fn mean_ms(&self) -> Option<f64> {
        (!self.0.is_empty()).then(|| self.0.mean() / 1000.0)
    }
    /// How many recorded values are above `ms` (to within the precision).
    pub fn count_above_ms(&self, ms: f64) -> u64 {
        let us = (ms * 1000.0).max(0.0) as u64;
        let at_or_below = self.0.count_between(0, us);
        self.count().saturating_sub(at_or_below)
    }
}

impl Default for Hist {
    fn default() -> Self {
        Hist::new()
    }
}

impl Serialize for Hist {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.0, &mut buf)
            .map_err(|e| serde::ser::Error::custom(format!("histogram: {e:?}")))?;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(buf))
    }
}

impl<'de> Deserialize<'de> for Hist {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Hist, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|e| serde::de::Error::custom(format!("histogram base64: {e}")))?;
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| serde::de::Error::custom(format!("histogram: {e:?}")))?;
        Ok(Hist(h))
    }
}

/// How one response (or its absence) is classed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Ok,
    RateLimited,
    /// Another non-2xx answer.
    Refused,
    /// No answer: connection, timeout, unreadable body.
    Transport {
        timeout: bool,
    },
}

/// One finished request, as the aggregator receives it.
#[derive(Debug, Clone)]
pub struct Sample {
    pub call: usize,
    /// Intended send time, µs from the run's start.
    pub due_us: u64,
    /// From the intended send time to the end of the response.
    pub latency_us: u64,
    pub status: Option<u16>,
    pub class: Class,
    pub documented: bool,
    pub schema: Option<bool>,
    pub missing_retry_after: bool,
    /// From the intended to the actual send time (the scheduler's lag).
    pub lag_us: u64,
}

/// Counters and a latency histogram for one call (or all of them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallStats {
    pub sent: u64,
    pub ok: u64,
    /// Non-2xx answers other than 429, and transport failures.
    pub errors: u64,
    pub rate_limited: u64,
    pub transport: u64,
    pub timeouts: u64,
    /// Answers with a status the pack does not document for the endpoint.
    pub undocumented: u64,
    pub schema_checked: u64,
    pub schema_violations: u64,
    /// 429s without a `Retry-After`.
    pub missing_retry_after: u64,
    /// Status code (or `transport`) → count.
    pub statuses: BTreeMap<String, u64>,
    pub latency: Hist,
}

impl CallStats {
    pub fn record(&mut self, s: &Sample) {
        self.sent += 1;
        match s.class {
            Class::Ok => self.ok += 1,
            Class::RateLimited => self.rate_limited += 1,
            Class::Refused => self.errors += 1,
            Class::Transport { timeout } => {
                self.errors += 1;
                self.transport += 1;
                self.timeouts += u64::from(timeout);
            }
        }
        if s.status.is_some() && !s.documented {
            self.undocumented += 1;
        }
        if let Some(valid) = s.schema {
            self.schema_checked += 1;
            self.schema_violations += u64::from(!valid);
        }
        self.missing_retry_after += u64::from(s.missing_retry_after);
        let key = s
            .status
            .map_or_else(|| "transport".to_string(), |c| c.to_string());
        *self.statuses.entry(key).or_default() += 1;
        self.latency.record_us(s.latency_us);
    }

    pub fn add(&mut self, o: &CallStats) -> Result<(), LoadError> {
        self.sent += o.sent;
        self.ok += o.ok;
        self.errors += o.errors;
        self.rate_limited += o.rate_limited;
        self.transport += o.transport;
        self.timeouts += o.timeouts;
        self.undocumented += o.undocumented;
        self.schema_checked += o.schema_checked;
        self.schema_violations += o.schema_violations;
        self.missing_retry_after += o.missing_retry_after;
        for (k, v) in &o.statuses {
            *self.statuses.entry(k.clone()).or_default() += v;
        }
        self.latency.add(&o.latency)
    }
}

/// One bucket of the timeline (by intended send time).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    pub rate_limited: u64,
    pub dropped: u64,
    pub latency: Hist,
}

impl Bucket {
    fn empty() -> Bucket {
        Bucket {
            latency: Hist::coarse(),
            ..Bucket::default()
        }
    }
    fn add(&mut self, o: &Bucket) -> Result<(), LoadError> {
        self.sent += o.sent;
        self.ok += o.ok;
        self.errors += o.errors;
        self.rate_limited += o.rate_limited;
        self.dropped += o.dropped;
        self.latency.add(&o.latency)
    }
}

/// Everything a run (or a segment of one) measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// Arrivals whose time came (sent or dropped).
    pub arrivals: u64,
    /// Arrivals not sent: no in-flight slot was free.
    pub dropped: u64,
    /// Requests still in flight when the run was stopped (not counted as sent).
    pub unfinished: u64,
    /// Arrivals of a call whose captured value did not exist yet, sent as the
    /// call that captures it instead.
    pub substituted: u64,
    /// Credits the sent calls are documented to cost.
    pub credits: f64,
    /// Names of the mix's calls, in pack order (`calls` is parallel).
    pub names: Vec<String>,
    pub calls: Vec<CallStats>,
    pub overall: CallStats,
    /// Width of a timeline bucket.
    pub bucket_ms: u64,
    pub timeline: Vec<Bucket>,
    /// How late requests left against their intended time.
    pub lag: Hist,
    /// Actual send times of the first and last request, µs from the start.
    pub first_send_us: Option<u64>,
    pub last_send_us: Option<u64>,
}

/// At most this many timeline buckets (wider buckets for longer runs).
pub const MAX_BUCKETS: u64 = 120;

impl RunStats {
    pub fn new(names: Vec<String>, duration_ms: u64) -> RunStats {
        let per = duration_ms.div_ceil(MAX_BUCKETS).max(1000);
        let bucket_ms = per.div_ceil(1000) * 1000;
        let n = duration_ms.div_ceil(bucket_ms).max(1) as usize;
        RunStats {
            arrivals: 0,
            dropped: 0,
            unfinished: 0,
            substituted: 0,
            credits: 0.0,
            calls: vec![CallStats::default(); names.len()],
            names,
            overall: CallStats::default(),
            bucket_ms,
            timeline: (0..n).map(|_| Bucket::empty()).collect(),
            lag: Hist::new(),
            first_send_us: None,
            last_send_us: None,
        }
    }

    fn bucket(&mut self, due_us: u64) -> &mut Bucket {
        let i = ((due_us / 1000) / self.bucket_ms) as usize;
        let last = self.timeline.len() - 1;
        &mut self.timeline[i.min(last)]
    }

    pub fn record(&mut self, s: &Sample) {
        if let Some(c) = self.calls.get_mut(s.call) {
            c.record(s);
        }
        self.overall.record(s);
        let b = self.bucket(s.due_us);
        b.sent += 1;
        match s.class {
            Class::Ok => b.ok += 1,
            Class::RateLimited => b.rate_limited += 1,
            _ => b.errors += 1,
        }
        b.latency.record_us(s.latency_us);
        self.lag.record_us(s.lag_us);
        let sent = s.due_us + s.lag_us;
        self.first_send_us = Some(self.first_send_us.map_or(sent, |f| f.min(sent)));
        self.last_send_us = Some(self.last_send_us.map_or(sent, |l| l.max(sent)));
    }

    /// Requests a second between the first and the last actual send.
    pub fn held_rate(&self) -> Option<f64> {
        let (f, l) = (self.first_send_us?, self.last_send_us?);
        (l > f && self.overall.sent > 1)
            .then(|| (self.overall.sent - 1) as f64 / ((l - f) as f64 / 1e6))
    }

    pub fn record_drop(&mut self, due_us: u64) {
        self.dropped += 1;
        self.bucket(due_us).dropped += 1;
    }

    /// Adds another segment's results (same pack mix and plan).
    pub fn merge(&mut self, o: &RunStats) -> Result<(), LoadError> {
        if o.names != self.names || o.bucket_ms != self.bucket_ms {
            return Err(LoadError::Merge(
                "the files come from different mixes or plans".into(),
            ));
        }
        self.arrivals += o.arrivals;
        self.dropped += o.dropped;
        self.unfinished += o.unfinished;
        self.substituted += o.substituted;
        self.credits += o.credits;
        for (a, b) in self.calls.iter_mut().zip(&o.calls) {
            a.add(b)?;
        }
        self.overall.add(&o.overall)?;
        while self.timeline.len() < o.timeline.len() {
            self.timeline.push(Bucket::empty());
        }
        for (a, b) in self.timeline.iter_mut().zip(&o.timeline) {
            a.add(b)?;
        }
        self.lag.add(&o.lag)?;
        self.first_send_us = match (self.first_send_us, o.first_send_us) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_send_us = match (self.last_send_us, o.last_send_us) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(call: usize, ms: u64, status: u16) -> Sample {
        Sample {
            call,
            due_us: ms * 1000,
            latency_us: ms * 1000,
            status: Some(status),
            class: match status {
                200..=299 => Class::Ok,
                429 => Class::RateLimited,
                _ => Class::Refused,
            },
            documented: true,
            schema: None,
            missing_retry_after: false,
            lag_us: 0,
        }
    }

    #[test]
    fn merged_halves_equal_the_whole_and_survive_json() {
        let names = vec!["a".to_string(), "b".to_string()];
        let mut whole = RunStats::new(names.clone(), 5000);
        let mut halves = [
            RunStats::new(names.clone(), 5000),
            RunStats::new(names, 5000),
        ];
        for j in 0..1000u64 {
            let s = sample(
                (j % 2) as usize,
                1 + (j * 7) % 900,
                if j % 10 == 0 { 429 } else { 200 },
            );
            whole.record(&s);
            halves[(j % 3 == 0) as usize].record(&s);
        }
        let text = serde_json::to_string(&halves[0]).unwrap();
        let mut merged: RunStats = serde_json::from_str(&text).unwrap();
        merged.merge(&halves[1]).unwrap();
        assert_eq!(merged, whole);
        assert_eq!(merged.overall.rate_limited, 100);
        let p99 = whole.overall.latency.ms_at(0.99).unwrap();
        assert!((p99 - 891.0).abs() < 1.0, "{p99}");
        let above = (0..1000u64).filter(|j| 1 + (j * 7) % 900 > 500).count() as u64;
        assert_eq!(whole.overall.latency.count_above_ms(500.0), above);
    }
}
