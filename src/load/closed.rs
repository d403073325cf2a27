//! The closed model on Goose: N users, each sending its next request of the
//! mix when the last one answered.

use std::sync::Arc;

use tokio::sync::watch;

use super::open::Shared;
use super::plan::Plan;
use super::stats::RunStats;
use super::{LoadError, Stop};

pub async fn run(
    _shared: Arc<Shared>,
    _plan: &Plan,
    _users: usize,
    _cancel: watch::Receiver<bool>,
) -> Result<(RunStats, Stop), LoadError> {
    Err(LoadError::Invalid(
        "the closed model (--users) is not built yet".into(),
    ))
}
