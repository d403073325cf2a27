//! The one report model. `report.json` is this, serialized; every renderer reads
//! only this. Nothing here knows about HTTP clients or the fake.

use serde::{Deserialize, Serialize};

pub use crate::vocab::{Basis, Family, Severity};

/// Version of the `report.json` layout (bump on breaking changes).
pub const REPORT_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Verdict {
    #[serde(rename = "GO")]
    Go,
    #[serde(rename = "NO-GO")]
    NoGo,
    #[serde(rename = "INCOMPLETE")]
    Incomplete,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Go => "GO",
            Verdict::NoGo => "NO-GO",
            Verdict::Incomplete => "INCOMPLETE",
        }
    }
    /// Exit code per the design: 0 GO, 1 NO-GO, 3 INCOMPLETE (2 is bad input).
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Go => 0,
            Verdict::NoGo => 1,
            Verdict::Incomplete => 3,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    Warn,
    Skip,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Skip => "skip",
            Status::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingLevel {
    /// A broken promise: the check fails.
    Fail,
    /// A `[conv]` feature that is absent, or a risk worth reading: the check warns.
    Warn,
}

impl FindingLevel {
    /// `fail` or `warn`, as the JSON report spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingLevel::Fail => "fail",
            FindingLevel::Warn => "warn",
        }
    }
}

/// One thing a check found wrong, read like a compiler error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub level: FindingLevel,
    /// What the broken expectation rests on; `None` for what the harness
    /// itself could not do (a transport failure, an expression it could not
    /// evaluate), which is no claim about the contract.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<Basis>,
    /// The step that found it (the scenario step's name).
    pub step: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Index into the check's `evidence` of the exchange behind it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<usize>,
    /// JSON pointer into the response body (schema errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// What the integrator should do (e.g. "dedupe on your side").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

impl Finding {
    /// A finding with nothing but its level, basis, step and message; the
    /// caller adds the expected and actual values, the exchange, the advice.
    pub fn new(
        level: FindingLevel,
        basis: Option<Basis>,
        step: impl Into<String>,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            level,
            basis,
            step: step.into(),
            message: message.into(),
            expected: None,
            actual: None,
            request_id: None,
            exchange: None,
            pointer: None,
            advice: None,
        }
    }
}

/// A recorded body: text (possibly truncated), its full size and SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BodyRecord {
    pub size: usize,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// UTF-8 text of the body, cut at the evidence limit; `None` for binary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default)]
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub method: String,
    /// Full URL, credentials and keys redacted.
    pub url: String,
    /// Header name/value pairs in send order, keys redacted.
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseRecord {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyRecord>,
}

/// One request/response pair behind a check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// The scenario step that sent it.
    pub step: String,
    /// Milliseconds since the run started when the request was sent.
    pub at_ms: f64,
    /// Milliseconds until the response (or the error).
    pub duration_ms: f64,
    pub request: RequestRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseRecord>,
    /// Transport error (timeout, connection refused, …), already redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The server's request id (`X-Request-Id` or the error body's), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// `<pack>.<check>`, e.g. `removit.auth.missing_key`.
    pub id: String,
    pub pack: String,
    pub family: Family,
    pub severity: Severity,
    pub status: Status,
    pub title: String,
    /// One line: what was established, or what went wrong.
    pub summary: String,
    pub duration_ms: f64,
    /// The scenario file it came from (relative to the pack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Exchange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `fake` or `live`.
    pub kind: String,
    /// Base URL with any credentials stripped.
    pub url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioDigest {
    pub file: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackInfo {
    pub name: String,
    pub version: String,
    pub title: String,
    /// `embedded` or the directory it was loaded from.
    pub source: String,
    pub scenarios: Vec<ScenarioDigest>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub pass: usize,
    pub fail: usize,
    pub warn: usize,
    pub skip: usize,
    pub error: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub format_version: u32,
    pub golive_version: String,
    pub verdict: Verdict,
    /// Why the verdict is what it is, in one sentence.
    pub verdict_reason: String,
    /// The policy the verdict follows, stated for the reader.
    pub policy: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: f64,
    pub target: TargetInfo,
    pub packs: Vec<PackInfo>,
    /// Set when the run was cut short (Ctrl-C, unreachable target, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    pub totals: Totals,
    pub checks: Vec<CheckResult>,
    /// A load run's results (`golive load`); absent for `golive check`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<super::load::LoadSection>,
    /// A capacity search's results (`golive capacity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<super::load::CapacitySection>,
}

pub const VERDICT_POLICY: &str = "GO when every blocker check passed; NO-GO when a blocker check failed (advisory failures are listed as risks); INCOMPLETE when a blocker check was skipped or errored, or the run was cut short.";

impl Totals {
    /// Counts checks by status (over a slice, or any iterator of references).
    pub fn of<'a>(checks: impl IntoIterator<Item = &'a CheckResult>) -> Totals {
        let mut t = Totals::default();
        for c in checks {
            match c.status {
                Status::Pass => t.pass += 1,
                Status::Fail => t.fail += 1,
                Status::Warn => t.warn += 1,
                Status::Skip => t.skip += 1,
                Status::Error => t.error += 1,
            }
        }
        t
    }
}

/// The verdict policy, in one place: returns the verdict and its reason.
pub fn decide(checks: &[CheckResult], interrupted: Option<&str>) -> (Verdict, String) {
    let blockers = || checks.iter().filter(|c| c.severity == Severity::Blocker);
    let failed: Vec<&str> = blockers()
        .filter(|c| c.status == Status::Fail)
        .map(|c| c.id.as_str())
        .collect();
    if !failed.is_empty() {
        return (
            Verdict::NoGo,
            format!(
                "{} blocker check(s) failed: {}",
                failed.len(),
                failed.join(", ")
            ),
        );
    }
    if let Some(why) = interrupted {
        return (Verdict::Incomplete, format!("the run was cut short: {why}"));
    }
    let open: Vec<&str> = blockers()
        .filter(|c| matches!(c.status, Status::Skip | Status::Error))
        .map(|c| c.id.as_str())
        .collect();
    if !open.is_empty() {
        return (
            Verdict::Incomplete,
            format!(
                "{} blocker check(s) skipped or errored: {}",
                open.len(),
                open.join(", ")
            ),
        );
    }
    if checks.is_empty() {
        return (Verdict::Incomplete, "no check ran".to_string());
    }
    let risks = checks
        .iter()
        .filter(|c| matches!(c.status, Status::Fail | Status::Warn))
        .count();
    if risks == 0 {
        (Verdict::Go, "every blocker check passed".to_string())
    } else {
        (
            Verdict::Go,
            format!("every blocker check passed; {risks} advisory finding(s) listed as risks"),
        )
    }
}

impl Report {
    /// A report of `checks` against `target`, before `finalize` gives it
    /// its totals and verdict; the run fills in its times and sections.
    pub fn new(target: TargetInfo, packs: Vec<PackInfo>, checks: Vec<CheckResult>) -> Report {
        Report {
            format_version: REPORT_FORMAT_VERSION,
            golive_version: env!("CARGO_PKG_VERSION").to_string(),
            verdict: Verdict::Incomplete,
            verdict_reason: String::new(),
            policy: String::new(),
            started_at: String::new(),
            finished_at: String::new(),
            duration_ms: 0.0,
            target,
            packs,
            interrupted: None,
            totals: Totals::default(),
            checks,
            load: None,
            capacity: None,
        }
    }

    /// Recomputes totals and the verdict from the checks (call after any change).
    pub fn finalize(&mut self) {
        self.totals = Totals::of(&self.checks);
        let (v, why) = decide(&self.checks, self.interrupted.as_deref());
        self.verdict = v;
        self.verdict_reason = why;
        self.policy = VERDICT_POLICY.to_string();
    }

    /// The checks of one family, in report order.
    pub fn family(&self, f: Family) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(move |c| c.family == f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &str, sev: Severity, status: Status) -> CheckResult {
        CheckResult {
            id: id.into(),
            pack: "p".into(),
            family: Family::Auth,
            severity: sev,
            status,
            title: id.into(),
            summary: String::new(),
            duration_ms: 0.0,
            scenario: None,
            findings: vec![],
            evidence: vec![],
        }
    }

    #[test]
    fn verdict_policy() {
        use Severity::*;
        use Status::*;
        let go = [check("a", Blocker, Pass), check("b", Advisory, Fail)];
        assert_eq!(decide(&go, None).0, Verdict::Go);
        let nogo = [check("a", Blocker, Fail), check("b", Blocker, Skip)];
        assert_eq!(decide(&nogo, None).0, Verdict::NoGo);
        let inc = [check("a", Blocker, Pass), check("b", Blocker, Error)];
        assert_eq!(decide(&inc, None).0, Verdict::Incomplete);
        let skipped = [check("a", Blocker, Skip)];
        assert_eq!(decide(&skipped, None).0, Verdict::Incomplete);
        assert_eq!(decide(&[], None).0, Verdict::Incomplete);
        let cut = [check("a", Blocker, Pass)];
        assert_eq!(decide(&cut, Some("Ctrl-C")).0, Verdict::Incomplete);
        assert_eq!(
            decide(&[check("a", Blocker, Warn)], None).0,
            Verdict::Go,
            "a warning is a risk, not a blocker failure"
        );
    }
}
