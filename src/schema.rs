//! JSON Schema registry.
