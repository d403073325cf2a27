//! Exact credit amounts. The contract prices a video job at
//! `duration_minutes × rate` (so 91.75 credits is an ordinary cost): the fake
//! keeps every balance, cost and usage figure as integer millionths of a
//! credit, so sums and refunds never accumulate float error, and writes them
//! as plain JSON numbers (`30`, `91.75`).
//!
//! Millionths make the cost of any clip measured in whole milliseconds exact
//! for every documented rate (rates are multiples of 3 per minute, so
//! `ms × rate / 60_000` credits is a whole number of millionths).

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Millionths per credit.
const SCALE: i64 = 1_000_000;
/// The largest magnitude accepted from outside (a config or a cost), in
/// credits: far beyond any real balance, far below `i64` overflow.
const MAX_CREDITS: f64 = 1e12;

/// An exact amount of credits (may be negative in arithmetic, e.g. a
/// balance overdrawn under the `no-402` fault).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Credits(i64);

impl Credits {
    pub const ZERO: Credits = Credits(0);

    /// `n` whole credits.
    pub const fn whole(n: i64) -> Credits {
        Credits(n.saturating_mul(SCALE))
    }

    /// The amount nearest to `value` credits (to a millionth); `None` when
    /// `value` is not finite or beyond ±10¹² credits.
    pub fn from_f64(value: f64) -> Option<Credits> {
        if !value.is_finite() || value.abs() > MAX_CREDITS {
            return None;
        }
        Some(Credits((value * SCALE as f64).round() as i64))
    }

    /// The contract's price of a clip: `duration_seconds / 60 × rate_per_minute`,
    /// exact to a millionth of a credit; zero for a negative or non-finite input.
    pub fn for_duration(duration_seconds: f64, rate_per_minute: i64) -> Credits {
        let millionths = duration_seconds * rate_per_minute as f64 * SCALE as f64 / 60.0;
        if millionths.is_finite() && millionths >= 0.0 {
            Credits(millionths.min(MAX_CREDITS * SCALE as f64).round() as i64)
        } else {
            Credits::ZERO
        }
    }

    /// Integer millionths of a credit.
    pub const fn millionths(self) -> i64 {
        self.0
    }

    /// The nearest `f64` (what JSON carries).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / SCALE as f64
    }

    pub fn is_whole(self) -> bool {
        self.0 % SCALE == 0
    }
}

impl Add for Credits {
    type Output = Credits;
    fn add(self, rhs: Credits) -> Credits {
        Credits(self.0.saturating_add(rhs.0))
    }
}

impl Sub for Credits {
    type Output = Credits;
    fn sub(self, rhs: Credits) -> Credits {
        Credits(self.0.saturating_sub(rhs.0))
    }
}

impl AddAssign for Credits {
    fn add_assign(&mut self, rhs: Credits) {
        *self = *self + rhs;
    }
}

impl SubAssign for Credits {
    fn sub_assign(&mut self, rhs: Credits) {
        *self = *self - rhs;
    }
}

impl std::iter::Sum for Credits {
    fn sum<I: Iterator<Item = Credits>>(iter: I) -> Credits {
        iter.fold(Credits::ZERO, Add::add)
    }
}

/// `30`, `91.75`, `-0.5`: whole amounts without a fraction, others with as
/// few digits as they need.
impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (int, frac) = (abs / SCALE as u64, abs % SCALE as u64);
        if frac == 0 {
            return write!(f, "{sign}{int}");
        }
        let digits = format!("{frac:06}");
        write!(f, "{sign}{int}.{}", digits.trim_end_matches('0'))
    }
}

/// A JSON integer when whole, else a JSON number with a fraction.
impl Serialize for Credits {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.is_whole() {
            s.serialize_i64(self.0 / SCALE)
        } else {
            s.serialize_f64(self.as_f64())
        }
    }
}

/// Any number (`1000`, `12.5`); rounded to a millionth.
impl<'de> Deserialize<'de> for Credits {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Credits, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Credits;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of credits (e.g. 1000 or 12.5)")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Credits, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Credits, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Credits, E> {
                Credits::from_f64(v).ok_or_else(|| {
                    E::custom(format!(
                        "credits must be a finite number within ±1e12, not {v}"
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_follow_the_contract_exactly() {
        // 1 s on original: 1/60 min × 60 = 1 credit, not rounded up from anything.
        assert_eq!(Credits::for_duration(1.0, 60), Credits::whole(1));
        assert_eq!(Credits::for_duration(30.0, 60), Credits::whole(30));
        // 1 s on light or human: 0.75 credits.
        assert_eq!(Credits::for_duration(1.0, 45).millionths(), 750_000);
        // 91.75 s on original is 91.75 credits; 105 s on light 78.75.
        assert_eq!(Credits::for_duration(91.75, 60).to_string(), "91.75");
        assert_eq!(Credits::for_duration(105.0, 45).to_string(), "78.75");
        assert_eq!(Credits::for_duration(0.001, 45).millionths(), 750);
        assert_eq!(Credits::for_duration(0.1, 60).millionths(), 100_000);
        assert_eq!(Credits::for_duration(-1.0, 60), Credits::ZERO);
        assert_eq!(Credits::for_duration(f64::NAN, 60), Credits::ZERO);
    }

    #[test]
    fn sums_of_fractions_do_not_drift() {
        let tenth = Credits::from_f64(0.1).unwrap();
        let total: Credits = std::iter::repeat_n(tenth, 1000).sum();
        assert_eq!(total, Credits::whole(100));
        let mut balance = Credits::whole(1000);
        for _ in 0..3 {
            balance -= Credits::for_duration(7.0, 45);
        }
        assert_eq!(balance.to_string(), "984.25");
    }

    #[test]
    fn json_numbers_in_and_out() {
        let j = |c: Credits| serde_json::to_string(&c).unwrap();
        assert_eq!(j(Credits::whole(30)), "30");
        assert_eq!(j(Credits::for_duration(91.75, 60)), "91.75");
        assert_eq!(j(Credits::from_f64(-0.5).unwrap()), "-0.5");
        let back: Credits = serde_json::from_str("12.5").unwrap();
        assert_eq!(back.millionths(), 12_500_000);
        let back: Credits = serde_json::from_str("1000").unwrap();
        assert_eq!(back, Credits::whole(1000));
        assert!(serde_json::from_str::<Credits>("\"ten\"").is_err());
        assert!(serde_json::from_str::<Credits>("1e300").is_err());
        let yaml: Credits = serde_yaml_ng::from_str("2.25").unwrap();
        assert_eq!(yaml.to_string(), "2.25");
    }

    #[test]
    fn display_trims_the_fraction() {
        assert_eq!(Credits::whole(0).to_string(), "0");
        assert_eq!(Credits::from_f64(0.000001).unwrap().to_string(), "0.000001");
        assert_eq!(Credits::from_f64(-12.5).unwrap().to_string(), "-12.5");
    }
}
