//! The one integration-test binary. Each module tests one part end to end.

mod check;
mod fake;
mod report;
mod validate;
