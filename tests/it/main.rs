//! The one integration-test binary. Each module tests one part end to end.

mod check;
mod check_e2e;
mod fake;
mod load;
mod report;
mod validate;
