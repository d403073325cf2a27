//! The fault catalogue: each fault makes the fake break exactly one promise,
//! so that every check can be shown able to fail.

use std::fmt;
use std::str::FromStr;

/// One deliberate defect of the fake. `Fault::ALL` lists them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// Upload / job creation accepted without a key, served as the first valid account.
    AuthBypass,
    /// An invalid or disabled key gets 403 instead of 401.
    WrongAuthStatus,
    /// Rate-limit headers are sent but the limit is never enforced (no 429).
    NoRateLimit,
    /// 429 responses carry no Retry-After header.
    NoRetryAfter,
    /// 429 says `Retry-After: 1` but the key stays limited for 2.5 s after it.
    ShortRetryAfter,
    /// Idempotency-Key is ignored: a replay creates a second job and charge, no Idempotent-Replayed.
    IdempotencyIgnored,
    /// A replay returns the same job but charges the account again.
    DoubleCharge,
    /// A replay is marked `Idempotent-Replayed: true` but carries a new job (and charge).
    ReplayNewJob,
    /// An empty account can create jobs; the balance goes negative.
    No402,
    /// Failed jobs keep their charge.
    NoRefund,
    /// No job ever leaves pending/processing.
    StuckJobs,
    /// `progress` becomes a string like "50%"; `job_id` (Removit status) and `id` (video job) disappear.
    SchemaDrift,
    /// Every error body is plain text or HTML, not JSON.
    UnstructuredErrors,
    /// No X-Request-Id header and no error.request_id.
    NoRequestId,
    /// Every response is delayed by `slow_response_ms` (default 2500, past a 2 s SLA).
    Slow,
    /// Every Nth request (`flaky_every`, default 7) gets a bare 503 with no JSON body and no side effect.
    Flaky,
    /// `/v1/admin/*` answers 200 with account data to a customer key.
    AdminExposed,
    /// Every response carries the same `X-Request-Id` (and error `request_id`).
    RepeatedRequestId,
    /// Removit refuses the documented `Authorization: Bearer` form (401 API key missing).
    BearerRefused,
    /// RemoveBGVideo's public `/health` and `/api/pricing` demand a key.
    PublicRoutesLocked,
    /// A key in the `?api_key=` query string is accepted.
    QueryKeyAccepted,
    /// Any valid key can read and start any account's job.
    IsolationLeak,
    /// Every RemoveBGVideo job is charged at the `pro` rate, whatever its model.
    WrongPrice,
    /// A rate-limited create still creates (and charges) the job behind its 429.
    LimitedSideEffects,
    /// A reused Idempotency-Key with another body replays the first answer instead of 422.
    IdempotencyNoConflict,
    /// Concurrent requests with one Idempotency-Key each create a job (no in-flight 409).
    IdempotencyRace,
    /// Starting a processing or completed job succeeds (and charges again) instead of 409.
    RestartAllowed,
}

impl Fault {
    /// Every fault, in catalogue order.
    pub const ALL: &'static [Fault] = &[
        Fault::AuthBypass,
        Fault::WrongAuthStatus,
        Fault::NoRateLimit,
        Fault::NoRetryAfter,
        Fault::ShortRetryAfter,
        Fault::IdempotencyIgnored,
        Fault::DoubleCharge,
        Fault::ReplayNewJob,
        Fault::No402,
        Fault::NoRefund,
        Fault::StuckJobs,
        Fault::SchemaDrift,
        Fault::UnstructuredErrors,
        Fault::NoRequestId,
        Fault::Slow,
        Fault::Flaky,
        Fault::AdminExposed,
        Fault::RepeatedRequestId,
        Fault::BearerRefused,
        Fault::PublicRoutesLocked,
        Fault::QueryKeyAccepted,
        Fault::IsolationLeak,
        Fault::WrongPrice,
        Fault::LimitedSideEffects,
        Fault::IdempotencyNoConflict,
        Fault::IdempotencyRace,
        Fault::RestartAllowed,
    ];

    /// The kebab-case name used by `--fault NAME`.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::AuthBypass => "auth-bypass",
            Fault::WrongAuthStatus => "wrong-auth-status",
            Fault::NoRateLimit => "no-rate-limit",
            Fault::NoRetryAfter => "no-retry-after",
            Fault::ShortRetryAfter => "short-retry-after",
            Fault::ReplayNewJob => "replay-new-job",
            Fault::IdempotencyIgnored => "idempotency-ignored",
            Fault::DoubleCharge => "double-charge",
            Fault::No402 => "no-402",
            Fault::NoRefund => "no-refund",
            Fault::StuckJobs => "stuck-jobs",
            Fault::SchemaDrift => "schema-drift",
            Fault::UnstructuredErrors => "unstructured-errors",
            Fault::NoRequestId => "no-request-id",
            Fault::Slow => "slow",
            Fault::Flaky => "flaky",
            Fault::AdminExposed => "admin-exposed",
            Fault::RepeatedRequestId => "repeated-request-id",
            Fault::BearerRefused => "bearer-refused",
            Fault::PublicRoutesLocked => "public-routes-locked",
            Fault::QueryKeyAccepted => "query-key-accepted",
            Fault::IsolationLeak => "isolation-leak",
            Fault::WrongPrice => "wrong-price",
            Fault::LimitedSideEffects => "limited-side-effects",
            Fault::IdempotencyNoConflict => "idempotency-no-conflict",
            Fault::IdempotencyRace => "idempotency-race",
            Fault::RestartAllowed => "restart-allowed",
        }
    }

    /// The one-line description of the broken promise.
    pub fn describe(&self) -> &'static str {
        match self {
            Fault::AuthBypass => {
                "upload/job creation accepted without a key, served as the first valid account"
            }
            Fault::WrongAuthStatus => "an invalid or disabled key gets 403 instead of 401",
            Fault::NoRateLimit => "rate-limit headers are sent but 429 never comes",
            Fault::NoRetryAfter => "429 responses carry no Retry-After header",
            Fault::ShortRetryAfter => {
                "429 says Retry-After: 1 but the key stays limited for 2.5 s (waiting it out does not recover)"
            }
            Fault::ReplayNewJob => {
                "a replay is marked Idempotent-Replayed: true but carries a new job (and charge)"
            }
            Fault::IdempotencyIgnored => {
                "a replayed Idempotency-Key creates a second job and charge; no Idempotent-Replayed"
            }
            Fault::DoubleCharge => "a replay returns the same job but charges the account again",
            Fault::No402 => "an empty account can create jobs; the balance goes negative",
            Fault::NoRefund => "failed jobs keep their charge",
            Fault::StuckJobs => "no job ever leaves pending/processing",
            Fault::SchemaDrift => {
                "progress becomes a string like \"50%\"; job_id (Removit status) and id (video job) disappear"
            }
            Fault::UnstructuredErrors => "every error body is plain text or HTML, not JSON",
            Fault::NoRequestId => "no X-Request-Id header and no error.request_id",
            Fault::Slow => {
                "every response delayed by slow_response_ms (default 2500, past a 2 s SLA)"
            }
            Fault::Flaky => {
                "every Nth request (flaky_every, default 7) gets a bare 503 with no JSON body and no side effect"
            }
            Fault::AdminExposed => "/v1/admin/* answers 200 with account data to a customer key",
            Fault::RepeatedRequestId => {
                "every response carries the same X-Request-Id (support cannot tell calls apart)"
            }
            Fault::BearerRefused => "Removit refuses the documented Authorization: Bearer form",
            Fault::PublicRoutesLocked => {
                "RemoveBGVideo's public /health and /api/pricing demand a key"
            }
            Fault::QueryKeyAccepted => {
                "a key in the ?api_key= query string is accepted (it ends up in logs)"
            }
            Fault::IsolationLeak => "any valid key can read and start another account's job",
            Fault::WrongPrice => {
                "every video job is charged at the pro rate (180/min), whatever its model"
            }
            Fault::LimitedSideEffects => {
                "a rate-limited create answers 429 but still creates and charges the job"
            }
            Fault::IdempotencyNoConflict => {
                "a reused Idempotency-Key with a different body replays the first answer instead of 422"
            }
            Fault::IdempotencyRace => {
                "concurrent requests with one Idempotency-Key each create a job (no in-flight 409)"
            }
            Fault::RestartAllowed => {
                "starting a processing or completed video job succeeds (and charges again) instead of 409"
            }
        }
    }

    /// The catalogue as text, one fault a line (for `golive fake --help`).
    pub fn catalogue() -> String {
        let width = Fault::ALL.iter().map(|f| f.name().len()).max().unwrap_or(0);
        let mut out = String::from("Faults (--fault NAME, repeatable):\n");
        for fault in Fault::ALL {
            out.push_str(&format!(
                "  {:width$}  {}\n",
                fault.name(),
                fault.describe(),
                width = width
            ));
        }
        out
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown fault name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault `{name}`; known faults: {known}")]
pub struct UnknownFault {
    pub name: String,
    pub known: String,
}

impl FromStr for Fault {
    type Err = UnknownFault;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Fault::ALL
            .iter()
            .copied()
            .find(|f| f.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownFault {
                name: wanted.to_string(),
                known: Fault::ALL
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl serde::Serialize for Fault {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Fault {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The set of active faults (a bit set over [`Fault::ALL`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Faults(u32);

impl Faults {
    pub(crate) fn new(list: &[Fault]) -> Faults {
        let mut bits = 0;
        for f in list {
            bits |= 1 << Self::bit(*f);
        }
        Faults(bits)
    }
    fn bit(f: Fault) -> u32 {
        Fault::ALL.iter().position(|x| *x == f).unwrap_or(31) as u32
    }
    pub(crate) fn has(&self, f: Fault) -> bool {
        self.0 & (1 << Self::bit(f)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for f in Fault::ALL {
            assert!(seen.insert(f.name()));
            assert_eq!(f.name().parse::<Fault>(), Ok(*f));
            assert_eq!(f.to_string(), f.name());
            assert!(!f.describe().contains('\n'));
        }
        assert!("nope".parse::<Fault>().is_err());
    }
}
