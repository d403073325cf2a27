//! The report model and its renderers. Renderers read only [`model::Report`].

pub mod model;

pub use model::*;

/// Writes `report.json` into `dir` (created if needed); returns its path.
pub fn write_json(report: &Report, dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("report.json");
    let text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(&path, text + "\n")?;
    Ok(path)
}
