//! golive: tells a team whether an API integration is ready to go live.
//!
//! Data flows one way: pack/scenario loading → target (live | fake) →
//! checks → report model → renderers. See `ARCHITECTURE.md`.

pub mod engine;
pub mod fake;
pub mod load;
pub mod pack;
pub mod report;
pub mod schema;
pub mod vocab;
