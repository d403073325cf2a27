//! The one integration-test binary. Each module tests one part end to end.

mod check;
mod check_e2e;
mod fake;
mod report;
mod schemas;
mod validate;
mod variant;
