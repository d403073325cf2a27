//! Sending with the resilience a real integration has, and judging the
//! rate-limit answers golive acts on: a 429 waits out a usable `Retry-After`
//! of at most `RETRY_AFTER_CAP` (else a finding, not waited on), a 502/503/504
//! or a transport failure is retried with a short back-off.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::PackRun;
use super::http::{self, Outcome, Prepared, Received};
use super::steps::CheckState;
use crate::pack::Expect;

/// Automatic retries of a 429 / 5xx / transport failure outside `raw` steps.
const RETRIES: usize = 3;
/// The longest golive waits on one `Retry-After` before retrying; a longer
/// one is reported and not waited on.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(10);

/// Whether the step expects `status` itself (then it is not retried).
fn expects_status(expect: &Expect, status: u16) -> bool {
    expect.status.as_ref().is_some_and(|s| s.matches(status))
}

/// Sends with the client-side resilience a real integration has: a 429 waits
/// out `Retry-After` (when it is usable and at most `RETRY_AFTER_CAP`), a
/// 502/503/504 or a transport failure is retried with a short back-off.
/// Every attempt is evidence. Returns the last response.
pub(super) async fn send_with_retry(
    run: &PackRun,
    p: &Prepared,
    label: &str,
    st: &mut CheckState,
    raw: bool,
    expect: &Expect,
) -> Option<(usize, Received)> {
    let mut attempt = 0;
    loop {
        let (ex, out) = http::send(
            &run.client,
            p,
            label,
            run.run_start,
            &run.redactor,
            &run.request_id,
        )
        .await;
        match out {
            Outcome::Response(r) => {
                run.pace
                    .observe(Duration::from_secs_f64(ex.duration_ms.max(0.0) / 1000.0));
                let idx = st.record(ex, p.endpoint.clone(), Some(r.clone()));
                if r.capped {
                    st.finding_once(
                        label,
                        format!(
                            "the response body is longer than golive reads ({} KiB): the rest was not read",
                            http::MAX_BODY / 1024
                        ),
                        idx,
                        &r,
                    );
                }
                if raw || expects_status(expect, r.status) {
                    return Some((idx, r));
                }
                let wait = match r.status {
                    // Once a request stayed limited through every back-off,
                    // the pack's later 429s are not waited on again.
                    429 => retry_wait(st, label, idx, &r)
                        .filter(|_| !run.limited.load(Ordering::Relaxed)),
                    502..=504 => Some(Duration::from_millis(200 * (attempt as u64 + 1))),
                    _ => None,
                };
                if r.status != 429 {
                    run.limited.store(false, Ordering::Relaxed);
                } else if attempt >= RETRIES {
                    run.limited.store(true, Ordering::Relaxed);
                }
                match wait {
                    Some(w) if attempt < RETRIES && w < st.remaining() => {
                        attempt += 1;
                        tokio::time::sleep(w).await;
                    }
                    _ => return Some((idx, r)),
                }
            }
            Outcome::Failed(_) => {
                st.record(ex, p.endpoint.clone(), None);
                if raw || attempt >= 1 {
                    return None;
                }
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}

/// What a 429's `Retry-After` asks for, judged as golive acts on it: the wait
/// to make before retrying, or `None` (not waited on). Unusable values are
/// findings on the step, once per check.
fn retry_wait(st: &mut CheckState, label: &str, idx: usize, r: &Received) -> Option<Duration> {
    let now = chrono::Utc::now();
    if let Some(reset) = r.header("x-ratelimit-reset").map(str::trim) {
        if let Ok(at) = reset.parse::<i64>() {
            if at < now.timestamp() - 5 {
                st.finding_once(
                    label,
                    format!(
                        "429 with X-RateLimit-Reset {at}, a time in the past (Unix seconds): a client waiting for the reset would retry at once"
                    ),
                    idx,
                    r,
                );
            }
        }
    }
    let Some(value) = r.header("retry-after").map(str::trim) else {
        return Some(Duration::from_secs(1));
    };
    let secs = match parse_retry_after(value, now) {
        Ok(s) => s,
        Err(why) => {
            st.finding_once(
                label,
                format!(
                    "429 with an unusable Retry-After `{}`: {why}",
                    super::http::clip_chars(value, 80)
                ),
                idx,
                r,
            );
            return Some(Duration::from_secs(1));
        }
    };
    if secs > RETRY_AFTER_CAP.as_secs_f64() {
        st.finding_once(
            label,
            format!(
                "429 with Retry-After {:.0} s, longer than golive waits ({} s): not waited on",
                secs,
                RETRY_AFTER_CAP.as_secs()
            ),
            idx,
            r,
        );
        return None;
    }
    Some(Duration::from_secs_f64(secs))
}

/// `Retry-After` as seconds from `now`: whole seconds ≥ 1, as the contract
/// says; an HTTP date is read but one in the past is refused.
fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Result<f64, String> {
    if let Ok(n) = value.parse::<u64>() {
        return if n == 0 {
            Err("0 s asks for an immediate retry; the contract says whole seconds ≥ 1".into())
        } else {
            Ok(n as f64)
        };
    }
    if let Ok(at) = chrono::DateTime::parse_from_rfc2822(value) {
        let secs = (at.with_timezone(&chrono::Utc) - now).num_milliseconds() as f64 / 1000.0;
        return if secs <= 0.0 {
            Err("an HTTP date in the past, i.e. no back-off at all".into())
        } else {
            Ok(secs)
        };
    }
    Err("neither whole seconds nor an HTTP date".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_or_a_future_http_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("3", now), Ok(3.0));
        assert_eq!(parse_retry_after("31536000", now), Ok(31_536_000.0));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:00:05 GMT", now),
            Ok(5.0)
        );
        for bad in [
            "0",
            "-1",
            "1.5",
            "soon",
            "",
            "Wed, 21 Oct 2015 07:28:00 GMT",
        ] {
            assert!(parse_retry_after(bad, now).is_err(), "{bad}");
        }
    }
}
