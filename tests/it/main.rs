//! The one integration-test binary. Each module tests one part end to end.

mod bounded;
mod check;
mod check_e2e;
mod fake;
mod hostile;
mod load;
mod pack_props;
mod report;
mod schemas;
mod validate;
mod variant;
