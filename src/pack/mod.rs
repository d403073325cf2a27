//! Packs and scenarios: the API knowledge as data.
