//! From raw load results to the readiness report: one check per SLO (family
//! `load`, the verdict and exit code follow from them), an advisory check
//! for contract drift under load, and the load section with every number.

use super::RawResults;
use super::stats::{CallStats, RunStats};
use crate::pack::slo::{Slo, SloMetric};
use crate::report::{
    CheckResult, Family, Finding, FindingLevel, Latency, LoadPoint, LoadRow, LoadSection, PackInfo,
    Report, Severity, SloResult, Status, Verdict,
};

/// One SLO measured: the value in its unit (`None`: nothing to measure).
pub fn measure(slo: &Slo, s: &RunStats) -> Option<f64> {
    let c: &CallStats = match &slo.call {
        Some(name) => s.calls.get(s.names.iter().position(|n| n == name)?)?,
        None => &s.overall,
    };
    let share = |n: u64, of: u64| (of > 0).then(|| n as f64 / of as f64);
    match slo.metric {
        SloMetric::Latency(q) if q >= 1.0 => c.latency.max_ms(),
        SloMetric::Latency(q) => c.latency.ms_at(q),
        SloMetric::Errors => share(c.errors, c.sent),
        SloMetric::RateLimited => share(c.rate_limited, c.sent),
        SloMetric::Dropped if slo.call.is_none() => share(s.dropped, s.arrivals),
        SloMetric::Dropped => None,
    }
}

/// `1203 ms: 403 ms (50 %) over the 800 ms limit`.
fn margin(slo: &Slo, v: f64) -> String {
    let over = v - slo.limit;
    let pct = if slo.limit > 0.0 {
        format!(" ({:.0} %)", over.abs() / slo.limit * 100.0)
    } else {
        String::new()
    };
    let limit = slo.show(slo.limit);
    if slo.holds(v) {
        format!(
            "{}, {} under the {limit} limit",
            slo.show(v),
            slo.show(-over)
        )
    } else {
        format!(
            "{} — {}{pct} over the {limit} limit",
            slo.show(v),
            slo.show(over)
        )
    }
}

fn slo_check(pack: &str, slo: &Slo, s: &RunStats) -> (CheckResult, SloResult, String) {
    let measured = measure(slo, s);
    let (status, outcome, summary) = match measured {
        None => (
            Status::Skip,
            "unknown",
            "nothing was measured that this SLO applies to".to_string(),
        ),
        Some(v) if slo.holds(v) => (Status::Pass, "met", margin(slo, v)),
        Some(v) => (Status::Fail, "breached", margin(slo, v)),
    };
    let mut findings = vec![];
    if status == Status::Fail {
        findings.push(Finding {
            expected: Some(format!(
                "{} {}",
                if slo.inclusive { "≤" } else { "<" },
                slo.show(slo.limit)
            )),
            actual: measured.map(|v| slo.show(v)),
            ..Finding::new(
                FindingLevel::Fail,
                None,
                "load",
                format!("SLO `{slo}` breached: {summary}"),
            )
        });
    }
    let check = CheckResult {
        id: format!("{pack}.load.{}", slo.slug()),
        pack: pack.to_string(),
        family: Family::Load,
        severity: Severity::Blocker,
        status,
        title: format!("SLO {slo}"),
        summary: summary.clone(),
        duration_ms: 0.0,
        scenario: None,
        findings,
        evidence: vec![],
    };
    let res = SloResult {
        slo: slo.text.clone(),
        outcome: outcome.to_string(),
        actual: measured.map(|v| slo.show(v)),
        margin: summary.clone(),
        source: String::new(),
    };
    (check, res, summary)
}

/// Contract drift under load: undocumented statuses, schema violations,
/// 429s without `Retry-After` (advisory: the SLOs set the verdict).
fn contract_check(pack: &str, s: &RunStats) -> CheckResult {
    let o = &s.overall;
    let mut findings = vec![];
    let mut add = |n: u64, msg: String, expected: &str| {
        if n > 0 {
            findings.push(Finding {
                expected: Some(expected.to_string()),
                actual: Some(format!("{n} of {} responses", o.sent)),
                ..Finding::new(
                    FindingLevel::Fail,
                    Some(crate::report::Basis::Doc),
                    "load",
                    msg,
                )
            });
        }
    };
    add(
        o.undocumented,
        "statuses the pack does not document for their endpoint".into(),
        "only documented statuses",
    );
    add(
        o.schema_violations,
        format!(
            "sampled responses that break their JSON Schema ({} checked)",
            o.schema_checked
        ),
        "every sampled body matches its schema",
    );
    add(
        o.missing_retry_after,
        "429 answers without Retry-After".into(),
        "Retry-After on every 429",
    );
    let status = if findings.is_empty() {
        Status::Pass
    } else {
        Status::Fail
    };
    CheckResult {
        id: format!("{pack}.load.contract"),
        pack: pack.to_string(),
        family: Family::Load,
        severity: Severity::Advisory,
        status,
        title: "Responses keep their contract under load".into(),
        summary: match findings.first() {
            Some(f) => format!("{} ({})", f.message, f.actual.clone().unwrap_or_default()),
            None => format!(
                "every status documented; {} sampled bodies match their schemas",
                o.schema_checked
            ),
        },
        duration_ms: 0.0,
        scenario: None,
        findings,
        evidence: vec![],
    }
}

fn row(name: &str, endpoint: Option<String>, c: &CallStats, secs: f64) -> LoadRow {
    let share = |n: u64| {
        if c.sent > 0 {
            n as f64 / c.sent as f64
        } else {
            0.0
        }
    };
    LoadRow {
        name: name.to_string(),
        endpoint,
        sent: c.sent,
        ok: c.ok,
        errors: c.errors,
        rate_limited: c.rate_limited,
        transport: c.transport,
        timeouts: c.timeouts,
        undocumented: c.undocumented,
        schema_checked: c.schema_checked,
        schema_violations: c.schema_violations,
        missing_retry_after: c.missing_retry_after,
        rate: c.sent as f64 / secs.max(1e-9),
        error_rate: share(c.errors),
        rate_limited_rate: share(c.rate_limited),
        statuses: c.statuses.clone(),
        latency: Latency {
            p50: c.latency.ms_at(0.50),
            p90: c.latency.ms_at(0.90),
            p95: c.latency.ms_at(0.95),
            p99: c.latency.ms_at(0.99),
            p999: c.latency.ms_at(0.999),
            max: c.latency.max_ms(),
            mean: c.latency.mean_ms(),
        },
    }
}

/// The readiness report of a load run (or of merged segments).
pub fn build(raw: &RawResults, pack: Option<PackInfo>) -> Report {
    let (mut checks, slos) = slo_checks(raw);
    checks.push(contract_check(&raw.pack, &raw.stats));
    let section = load_section(raw, slos);
    let interrupted = (raw.stopped != "completed" && !raw.stopped.starts_with("--abort-on-fail"))
        .then(|| raw.stopped.clone());
    let mut report = Report {
        started_at: raw.started_at.clone(),
        finished_at: raw.finished_at.clone(),
        duration_ms: raw.duration_ms,
        interrupted,
        load: Some(section),
        ..Report::new(raw.target.clone(), pack.into_iter().collect(), checks)
    };
    report.finalize();
    if report.load.as_ref().is_some_and(|l| l.overall.sent == 0) && report.verdict == Verdict::Go {
        report.verdict = Verdict::Incomplete;
        report.verdict_reason = "no request was sent".into();
    }
    report
}

/// One check and one result per SLO that parses, with where it came from.
fn slo_checks(raw: &RawResults) -> (Vec<CheckResult>, Vec<SloResult>) {
    let mut checks = vec![];
    let mut slos = vec![];
    for (text, src) in &raw.slos {
        let Ok(slo) = Slo::parse(text) else { continue };
        let (c, mut r, _) = slo_check(&raw.pack, &slo, &raw.stats);
        r.source = match src {
            super::SloSource::Pack => "pack".into(),
            super::SloSource::Cli => "cli".into(),
        };
        checks.push(c);
        slos.push(r);
    }
    (checks, slos)
}

/// The load section: the plan, the rates, every count and the per-call rows.
fn load_section(raw: &RawResults, slos: Vec<SloResult>) -> LoadSection {
    let s = &raw.stats;
    let secs = measured_secs(raw);
    let planned = planned(raw);
    LoadSection {
        model: raw.model.clone(),
        pack: raw.pack.clone(),
        plan: plan_text(raw),
        intended_rate: if raw.model == "open" {
            planned as f64 / raw.plan.duration().as_secs_f64().max(1e-9)
        } else {
            0.0
        },
        achieved_rate: s.overall.sent as f64 / secs.max(1e-9),
        held_rate: s.held_rate(),
        lag_p99_ms: s.lag.ms_at(0.99),
        lag_max_ms: s.lag.max_ms(),
        duration_ms: raw.duration_ms,
        arrivals: s.arrivals,
        planned,
        dropped: s.dropped,
        max_in_flight: raw.max_in_flight,
        unfinished: s.unfinished,
        substituted: s.substituted,
        credits: s.credits,
        credits_measured: raw.credits_measured,
        schema_sample: raw.schema_sample,
        stopped: raw.stopped.clone(),
        segments: raw.segments,
        overall: row("all", None, &s.overall, secs),
        calls: s
            .names
            .iter()
            .zip(&s.calls)
            .enumerate()
            .map(|(i, (n, c))| row(n, raw.endpoints.get(i).cloned().flatten(), c, secs))
            .collect(),
        slos,
        bucket_ms: s.bucket_ms,
        timeline: timeline(s),
        notes: notes(raw),
    }
}

/// The seconds the rates are over: the plan's length for a completed open
/// run, else the time the run took.
fn measured_secs(raw: &RawResults) -> f64 {
    if raw.model == "open" && raw.stopped == "completed" {
        raw.plan.duration().as_secs_f64()
    } else {
        raw.duration_ms / 1000.0
    }
}

/// The arrivals planned: the ones made (closed model), the whole plan (every
/// segment merged) or this segment's share.
fn planned(raw: &RawResults) -> u64 {
    let all_segments = raw.segments >= raw.plan.segment.of;
    if raw.users.is_some() {
        raw.stats.arrivals
    } else if all_segments && raw.segments > 1 {
        raw.plan.total()
    } else {
        raw.plan.own()
    }
}

/// The plan in words: users, merged segments, or the plan itself.
fn plan_text(raw: &RawResults) -> String {
    if let Some(u) = raw.users {
        format!("{u} users for {:.0}s", raw.plan.duration().as_secs_f64())
    } else if raw.segments > 1 {
        let mut p = raw.plan.clone();
        p.segment = super::Segment::default();
        format!("{} ({} segments merged)", p.describe(), raw.segments)
    } else {
        raw.plan.describe()
    }
}

/// One point per timeline bucket.
fn timeline(s: &RunStats) -> Vec<LoadPoint> {
    s.timeline
        .iter()
        .enumerate()
        .map(|(i, b)| LoadPoint {
            t_s: (i as u64 * s.bucket_ms) as f64 / 1000.0,
            sent: b.sent,
            ok: b.ok,
            errors: b.errors,
            rate_limited: b.rate_limited,
            dropped: b.dropped,
            p50_ms: b.latency.ms_at(0.5),
            p95_ms: b.latency.ms_at(0.95),
            p99_ms: b.latency.ms_at(0.99),
        })
        .collect()
}

/// The run's notes, then the credits measured and a partial merge, if any.
fn notes(raw: &RawResults) -> Vec<String> {
    let s = &raw.stats;
    let all_segments = raw.segments >= raw.plan.segment.of;
    let mut notes = raw.notes.clone();
    if let Some(m) = raw.credits_measured {
        let note = if (m - s.credits).abs() < 0.5 {
            format!("credits: {m} used by the usage route, as the pack's costs estimate")
        } else {
            format!(
                "credits: the usage route says {m} were used, the pack's costs estimate {} (another client of the account, or costs that differ from the docs)",
                s.credits
            )
        };
        notes.push(note);
    }
    if raw.segments > 1 && !all_segments {
        notes.push(format!(
            "{} of {} segments merged: the counts are a part of the plan",
            raw.segments, raw.plan.segment.of
        ));
    }
    notes
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.1}"))
}

/// The terminal summary of a load report (the caller prints it).
pub fn summary(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let Some(l) = &r.load else {
        return out;
    };
    let _ = writeln!(out, "{} load, {}: {}", l.model, l.pack, l.plan);
    if let (Some(h), Some(p99)) = (l.held_rate, l.lag_p99_ms) {
        let _ = writeln!(
            out,
            "  held {h:.1}/s between the first and last send; sends left up to {p99:.1} ms late (p99)"
        );
    }
    let _ = writeln!(
        out,
        "  sent {} of {} arrivals ({} dropped, {} unfinished) at {:.1}/s (intended {:.1}/s), stopped: {}",
        l.overall.sent,
        l.planned,
        l.dropped,
        l.unfinished,
        l.achieved_rate,
        l.intended_rate,
        l.stopped
    );
    let _ = writeln!(
        out,
        "  {:<10} {:>8} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "call", "sent", "err%", "429%", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    for row in l.calls.iter().chain(std::iter::once(&l.overall)) {
        let _ = writeln!(
            out,
            "  {:<10} {:>8} {:>7.2} {:>7.2} {:>9} {:>9} {:>9} {:>9} {:>9}",
            row.name,
            row.sent,
            row.error_rate * 100.0,
            row.rate_limited_rate * 100.0,
            ms(row.latency.p50),
            ms(row.latency.p95),
            ms(row.latency.p99),
            ms(row.latency.p999),
            ms(row.latency.max)
        );
    }
    for c in &r.checks {
        let _ = writeln!(out, "  {:<5} {}: {}", c.status.as_str(), c.title, c.summary);
    }
    let _ = writeln!(out, "{}: {}", r.verdict, r.verdict_reason);
    out
}

/// The terminal summary of a capacity report (the caller prints it).
pub fn capacity_summary(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let Some(c) = &r.capacity else {
        return out;
    };
    let _ = writeln!(
        out,
        "capacity search, {}: {} steps, {} requests (budget {}), SLOs {}",
        c.pack,
        c.steps.len(),
        c.requests,
        c.max_requests,
        c.slos.join(", ")
    );
    let _ = writeln!(
        out,
        "  {:>10} {:>10} {:>7} {:>9} {:>9} {:>9} {:>7} {:>7}  held",
        "rate/s", "sent/s", "sent%", "p50 ms", "p95 ms", "p99 ms", "err%", "429%"
    );
    for s in &c.steps {
        let _ = writeln!(
            out,
            "  {:>10.1} {:>10.1} {:>7.1} {:>9} {:>9} {:>9} {:>7.2} {:>7.2}  {}",
            s.rate,
            s.achieved_rate,
            s.sent_share * 100.0,
            ms(s.p50_ms),
            ms(s.p95_ms),
            ms(s.p99_ms),
            s.error_rate * 100.0,
            s.rate_limited_rate * 100.0,
            if s.held {
                "yes".to_string()
            } else {
                format!("no: {}", s.broken.join(", "))
            }
        );
    }
    for ch in &r.checks {
        let _ = writeln!(
            out,
            "  {:<5} {}: {}",
            ch.status.as_str(),
            ch.title,
            ch.summary
        );
    }
    let _ = writeln!(out, "  search: {}", c.stopped);
    let _ = writeln!(out, "{}: {}", r.verdict, r.verdict_reason);
    out
}
