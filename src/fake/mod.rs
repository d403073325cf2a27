//! The built-in fake of both APIs (issue 2).
