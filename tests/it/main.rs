//! The one integration-test binary.

mod fake;
