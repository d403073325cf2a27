//! Per-key token bucket.

/// A token bucket; time in milliseconds (any epoch, monotone enough).
#[derive(Clone, Debug)]
pub struct TokenBucket {
    tokens: f64,
    last_ms: u64,
    per_second: f64,
    burst: f64,
    /// Limited until then, whatever the tokens say (the `short-retry-after` fault).
    blocked_until_ms: u64,
}

/// The outcome of one request against a bucket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    /// `X-RateLimit-Limit`.
    pub limit: u32,
    /// `X-RateLimit-Remaining`.
    pub remaining: u32,
    /// `X-RateLimit-Reset`: Unix seconds when the bucket is full again.
    pub reset_unix: u64,
    /// `Retry-After` seconds (≥ 1) when not allowed.
    pub retry_after_secs: u64,
}

impl TokenBucket {
    pub fn new(per_second: f64, burst: u32, now_ms: u64) -> Self {
        TokenBucket {
            tokens: f64::from(burst),
            last_ms: now_ms,
            per_second,
            burst: f64::from(burst),
            blocked_until_ms: 0,
        }
    }

    /// Keeps the bucket limited for `penalty_ms` from `now_ms` (longer than the
    /// `Retry-After` it advertises); a penalty already running is not extended,
    /// so a client that keeps backing off does get through in the end.
    pub fn penalize(&mut self, now_ms: u64, penalty_ms: u64) {
        if now_ms >= self.blocked_until_ms {
            self.blocked_until_ms = now_ms + penalty_ms;
        }
    }

    fn refill(&mut self, now_ms: u64) {
        if now_ms > self.last_ms {
            let elapsed = (now_ms - self.last_ms) as f64 / 1000.0;
            self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
            self.last_ms = now_ms;
        }
    }

    /// Takes one token if there is one. With `enforce == false` the token is
    /// taken when available but the request is allowed anyway.
    pub fn take(&mut self, now_ms: u64, enforce: bool) -> Decision {
        self.refill(now_ms);
        let allowed = if enforce && now_ms < self.blocked_until_ms {
            false
        } else if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            !enforce
        };
        let missing = (self.burst - self.tokens).max(0.0);
        let full_in_ms = (missing / self.per_second * 1000.0).ceil() as u64;
        let reset_unix = (now_ms + full_in_ms).div_ceil(1000);
        let retry_after_secs =
            (((1.0 - self.tokens).max(0.0) / self.per_second).ceil() as u64).max(1);
        Decision {
            allowed,
            limit: self.burst as u32,
            remaining: self.tokens.max(0.0).floor() as u32,
            reset_unix,
            retry_after_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_limit_then_refill() {
        let mut b = TokenBucket::new(2.0, 3, 1_000_000);
        for left in [2, 1, 0] {
            let d = b.take(1_000_000, true);
            assert!(d.allowed);
            assert_eq!(d.remaining, left);
        }
        let d = b.take(1_000_000, true);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_secs, 1);
        assert!(d.reset_unix > 1_000);
        assert!(b.take(1_000_500, true).allowed);
        let d = b.take(1_000_500, false);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
    }
}
