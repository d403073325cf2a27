//! The report model and its renderers. Renderers read only [`model::Report`].

pub mod model;

pub use model::*;
