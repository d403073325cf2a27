//! The load section of the report model: what a `golive load` run sent and
//! measured, as plain numbers (the mergeable histograms live in the raw
//! results file, not here). Renderers read only this.

use serde::{Deserialize, Serialize};

/// A load run's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSection {
    /// `open` (arrivals on a schedule) or `closed` (N users in a loop).
    pub model: String,
    pub pack: String,
    /// The plan in words (`50/s for 60s`, `20 users for 30s`).
    pub plan: String,
    /// Arrivals per second asked for (open model; 0 for closed).
    pub intended_rate: f64,
    /// Requests sent per second over the measured time.
    pub achieved_rate: f64,
    /// Requests a second between the first and the last actual send (how
    /// well the schedule was held; `None` below two requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_rate: Option<f64>,
    /// How late requests left against their intended time, ms (p99, max).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_p99_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_max_ms: Option<f64>,
    pub duration_ms: f64,
    /// Arrivals whose time came (sent + dropped).
    pub arrivals: u64,
    /// Arrivals the plan held for this run (all of them when it ran to the end).
    pub planned: u64,
    /// Arrivals not sent because no in-flight slot was free.
    pub dropped: u64,
    pub max_in_flight: u64,
    /// Requests still in flight when the run stopped (not in the counts).
    pub unfinished: u64,
    /// Arrivals sent as the call that captures a value they needed, because
    /// no such value existed yet.
    pub substituted: u64,
    /// Credits the sent calls are documented to cost (the pack's `cost`).
    pub credits: f64,
    /// Credits the API's usage route says the run used (`load.usage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits_measured: Option<f64>,
    /// Share of responses validated against their JSON Schema.
    pub schema_sample: f64,
    /// Why the run stopped (`completed`, or what stopped it early).
    pub stopped: String,
    /// Segments merged into these results (1 for a single process).
    #[serde(default = "one")]
    pub segments: u32,
    pub overall: LoadRow,
    pub calls: Vec<LoadRow>,
    pub slos: Vec<SloResult>,
    /// Per bucket of `bucket_ms`, by intended send time.
    pub bucket_ms: u64,
    pub timeline: Vec<LoadPoint>,
    /// What the reader must know to read the numbers right.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn one() -> u32 {
    1
}

/// Counts and latency of one call of the mix, or of all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadRow {
    pub name: String,
    /// The endpoint the call targets, when it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    pub rate_limited: u64,
    pub transport: u64,
    pub timeouts: u64,
    pub undocumented: u64,
    pub schema_checked: u64,
    pub schema_violations: u64,
    pub missing_retry_after: u64,
    /// Requests per second over the run.
    pub rate: f64,
    /// errors ÷ sent, 429s ÷ sent.
    pub error_rate: f64,
    pub rate_limited_rate: f64,
    /// Status code (or `transport`) → count.
    pub statuses: std::collections::BTreeMap<String, u64>,
    pub latency: Latency,
}

/// Latency from each request's intended send time, in ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
}

/// One SLO gate's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloResult {
    /// As written: `p95<800ms`.
    pub slo: String,
    /// `met`, `breached` or `unknown` (nothing to measure it on).
    pub outcome: String,
    /// The measured value in the SLO's unit (`812 ms`, `1.3 %`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// How far past (or inside) the limit, in words.
    pub margin: String,
    /// `pack` or `cli`.
    pub source: String,
}

/// One timeline bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoadPoint {
    /// Start of the bucket, seconds from the run's start.
    pub t_s: f64,
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    pub rate_limited: u64,
    pub dropped: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// A capacity search's results (`golive capacity`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacitySection {
    pub pack: String,
    /// The highest rate at which every SLO held and ≥ 99 % of arrivals were
    /// sent (`None`: not even the first step held).
    pub knee_rate: Option<f64>,
    /// The lowest rate found to break (`None`: none broke within the search).
    pub broke_at: Option<f64>,
    /// What broke at `broke_at`: `slo` (latency/errors), `rate_limiter`
    /// (only the 429 SLOs), `sending` (under 99 % of arrivals sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limited_by: Option<String>,
    /// Accepted (non-429) requests a second where the limiter refused: its
    /// ceiling, not the server's capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limiter_ceiling: Option<f64>,
    /// How close the search got: (broke_at − knee) ÷ knee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<f64>,
    pub warmup_ms: u64,
    pub window_ms: u64,
    /// Requests sent over every step, and the budget.
    pub requests: u64,
    pub max_requests: u64,
    pub slos: Vec<String>,
    /// Why the search ended.
    pub stopped: String,
    /// Every step, in the order run: the curve of latency and errors against rate.
    pub steps: Vec<CapacityStep>,
}

/// One step of the search, measured over its window (after the warm-up).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityStep {
    pub rate: f64,
    pub achieved_rate: f64,
    pub sent_share: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub error_rate: f64,
    pub rate_limited_rate: f64,
    pub held: bool,
    /// The SLOs it broke, or `sent 97 % of arrivals`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub broken: Vec<String>,
}
