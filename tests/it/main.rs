//! The one integration-test binary. Each module tests one part end to end.

mod check_e2e;
mod report;
