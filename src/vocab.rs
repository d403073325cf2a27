//! The words a pack and a report share: which family a check belongs to,
//! how much it weighs (severity), and what an expectation rests on (basis).
//! Packs write them, the engine carries them, every report shows them; this
//! module depends on nothing of golive's, so the pack does not depend on the
//! report.

use serde::{Deserialize, Serialize};

/// The nine check families of the design. Stable names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Auth,
    Isolation,
    Schema,
    Lifecycle,
    Timeouts,
    Credits,
    RateLimit,
    Idempotency,
    Observability,
    /// The SLO gates of a load run (`golive load`), one check per SLO.
    Load,
}

impl Family {
    /// The nine families of `golive check` (every pack covers each of them).
    pub const CHECKS: [Family; 9] = [
        Family::Auth,
        Family::Isolation,
        Family::Schema,
        Family::Lifecycle,
        Family::Timeouts,
        Family::Credits,
        Family::RateLimit,
        Family::Idempotency,
        Family::Observability,
    ];
    /// Every family a report may hold, in report order (`load` last).
    pub const ALL: [Family; 10] = [
        Family::Auth,
        Family::Isolation,
        Family::Schema,
        Family::Lifecycle,
        Family::Timeouts,
        Family::Credits,
        Family::RateLimit,
        Family::Idempotency,
        Family::Observability,
        Family::Load,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Auth => "auth",
            Family::Isolation => "isolation",
            Family::Schema => "schema",
            Family::Lifecycle => "lifecycle",
            Family::Timeouts => "timeouts",
            Family::Credits => "credits",
            Family::RateLimit => "rate_limit",
            Family::Idempotency => "idempotency",
            Family::Observability => "observability",
            Family::Load => "load",
        }
    }
    /// What the family establishes (the design's family table), for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Family::Auth => {
                "valid keys work via every accepted header form; missing and invalid keys get the documented refusal on every protected route; admin routes are not exposed"
            }
            Family::Isolation => "one account cannot see another's jobs",
            Family::Schema => {
                "every response (success and error) matches its schema and content type"
            }
            Family::Lifecycle => {
                "jobs reach a terminal state within their deadline with a result; failing inputs end failed with an error"
            }
            Family::Timeouts => {
                "requests answer within their SLA; a stuck job is reported at its deadline"
            }
            Family::Credits => {
                "jobs cost what the docs say; empty accounts get 402 and nothing is created; failures are refunded; usage agrees with balances"
            }
            Family::RateLimit => {
                "bursts get 429 with a usable Retry-After; limited requests create and charge nothing; backing off recovers"
            }
            Family::Idempotency => {
                "a replay returns the same job and charges once; a different body is refused"
            }
            Family::Observability => "request ids on responses and in error bodies; job ids echoed",
            Family::Load => {
                "under load, latency, errors and 429s stay within their SLOs and responses keep their contract"
            }
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Family {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Family::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("unknown check family `{s}`"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Blocker,
    Advisory,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Blocker => "blocker",
            Severity::Advisory => "advisory",
        }
    }
}

/// What an expectation rests on (the contract's marks): the vendor's
/// documentation, or a convention the contract assumes. Points the contract
/// leaves open are not checked, so they have no basis and make no finding.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// `[doc]`: the vendor documents it; broken is a blocker finding.
    #[default]
    Doc,
    /// `[conv]` (or a rule stated without a tag): not offered is a warning
    /// with advice; offered but broken is a blocker finding.
    Conv,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Doc => "doc",
            Basis::Conv => "conv",
        }
    }
    /// The basis with what it means, for the reports' "rests on" line.
    pub fn describe(self) -> &'static str {
        match self {
            Basis::Doc => "doc (the vendor's documentation)",
            Basis::Conv => "conv (a convention the contract assumes)",
        }
    }
}

impl std::fmt::Display for Basis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
