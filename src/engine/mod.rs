//! Runs scenarios against a target and judges checks.
