//! The one integration-test binary. Each module tests one part end to end.

mod report;
mod validate;
