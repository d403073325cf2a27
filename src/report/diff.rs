//! History comparison (work in progress).
