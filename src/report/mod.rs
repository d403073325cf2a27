//! The report model and its renderers. Renderers read only [`model::Report`];
//! nothing here renders from live state, and nothing here prints: every
//! renderer returns a `String`, and [`write_all`] writes files.
//!
//! | format | module | file |
//! |---|---|---|
//! | JSON (source of truth) | [`json`] | `report.json` |
//! | Markdown (PR comment, CI job summary) | [`md`] | `report.md` |
//! | HTML (one self-contained file) | [`html`] | `report.html` |
//! | JUnit XML | [`junit`] | `junit.xml` |
//! | HAR 1.2 (evidence export) | [`har`] | any path (`--har`) |
//! | terminal summary | [`terminal`] | stdout (printed by `main.rs`) |
//!
//! [`diff`] compares two stored reports; [`curl`] turns a recorded request
//! into a reproducible `curl` line.

pub mod curl;
pub mod diff;
pub mod har;
pub mod html;
pub mod json;
pub mod junit;
pub mod load;
mod load_render;
pub mod md;
pub mod model;
pub mod terminal;
pub(crate) mod text;

pub use load::{
    CapacitySection, CapacityStep, Latency, LoadPoint, LoadRow, LoadSection, SloResult,
};
pub use model::*;

use std::path::{Path, PathBuf};

/// Everything that can go wrong reading or writing a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin} is not a golive report: {source}")]
    Parse {
        /// The file (or `<input>`) that was being read.
        origin: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot serialize the report: {0}")]
    Serialize(#[source] serde_json::Error),
    #[error(
        "{origin} has report format version {found}; this golive reads up to version {supported}"
    )]
    UnsupportedVersion {
        origin: String,
        found: u32,
        supported: u32,
    },
    #[error("unknown report format `{0}` (expected a comma list of: {names})", names = Format::names())]
    UnknownFormat(String),
}

/// A report format written into `--report-dir`. (HAR is not one of these: it
/// goes to its own path, see [`write_all`].) What each one is called, where
/// it goes and what renders it is said once, in [`Format::spec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    Json,
    Md,
    Html,
    Junit,
}

/// Everything golive knows about one [`Format`].
#[derive(Debug, Clone, Copy)]
pub struct FormatSpec {
    /// The name `--format` takes (and that [`Format`] displays as).
    pub name: &'static str,
    /// Other names `--format` accepts for it.
    pub aliases: &'static [&'static str],
    /// The file it is written to inside the report directory.
    pub file_name: &'static str,
    /// Renders a report in this format.
    pub render: fn(&Report) -> Result<String, ReportError>,
}

impl Format {
    /// Every format, in the order they are written (`report.json` first: it is
    /// the source of truth).
    pub const ALL: [Format; 4] = [Format::Json, Format::Md, Format::Html, Format::Junit];

    /// The one description of this format.
    pub const fn spec(self) -> FormatSpec {
        match self {
            Format::Json => FormatSpec {
                name: "json",
                aliases: &[],
                file_name: "report.json",
                render: json::to_string,
            },
            Format::Md => FormatSpec {
                name: "md",
                aliases: &["markdown"],
                file_name: "report.md",
                render: |r| Ok(md::render(r)),
            },
            Format::Html => FormatSpec {
                name: "html",
                aliases: &[],
                file_name: "report.html",
                render: |r| Ok(html::render(r)),
            },
            Format::Junit => FormatSpec {
                name: "junit",
                aliases: &["xml"],
                file_name: "junit.xml",
                render: |r| Ok(junit::render(r)),
            },
        }
    }

    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    /// The file name the format is written to inside the report directory.
    pub fn file_name(self) -> &'static str {
        self.spec().file_name
    }

    /// The names `--format` takes, for messages: `json, md, html, junit`.
    pub fn names() -> String {
        Format::ALL.map(Format::as_str).join(", ")
    }

    /// Parses a comma list such as `md,html` (case-insensitive, spaces and empty
    /// items ignored, duplicates dropped). `all` or an empty list means every
    /// format. The result is in [`Format::ALL`] order.
    pub fn parse_list(s: &str) -> Result<Vec<Format>, ReportError> {
        let mut out = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if item.eq_ignore_ascii_case("all") {
                out.extend(Format::ALL);
            } else {
                out.push(item.parse()?);
            }
        }
        if out.is_empty() {
            out.extend(Format::ALL);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Renders `report` in this format.
    pub fn render(self, report: &Report) -> Result<String, ReportError> {
        (self.spec().render)(report)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Format {
    type Err = ReportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        Format::ALL
            .into_iter()
            .find(|f| {
                let spec = f.spec();
                std::iter::once(spec.name)
                    .chain(spec.aliases.iter().copied())
                    .any(|n| n.eq_ignore_ascii_case(name))
            })
            .ok_or_else(|| ReportError::UnknownFormat(name.to_string()))
    }
}

/// Renders `formats` into `dir` (created if needed) and, when `har` is given,
/// the evidence as a HAR 1.2 file at that path. Returns the files written, in
/// order. Each file is written whole (to a temporary name, then renamed), so a
/// reader never sees half a report.
pub fn write_all(
    report: &Report,
    dir: &Path,
    formats: &[Format],
    har: Option<&Path>,
) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut formats = formats.to_vec();
    formats.sort();
    formats.dedup();
    let mut written = Vec::new();
    for f in formats {
        let path = dir.join(f.file_name());
        write_file(&path, &f.render(report)?)?;
        written.push(path);
    }
    if let Some(path) = har {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| ReportError::Write {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        write_file(path, &har::to_string(report)?)?;
        written.push(path.to_path_buf());
    }
    Ok(written)
}

/// Writes `contents` to `path` through a temporary sibling and a rename.
pub(crate) fn write_file(path: &Path, contents: &str) -> Result<(), ReportError> {
    let err = |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, contents).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_list_parses() {
        assert_eq!(Format::parse_list("").unwrap(), Format::ALL.to_vec());
        assert_eq!(Format::parse_list("all").unwrap(), Format::ALL.to_vec());
        assert_eq!(
            Format::parse_list(" html , MD,md,").unwrap(),
            vec![Format::Md, Format::Html]
        );
        assert_eq!(Format::parse_list("junit").unwrap(), vec![Format::Junit]);
        let err = Format::parse_list("md,pdf").unwrap_err();
        assert!(matches!(err, ReportError::UnknownFormat(ref f) if f == "pdf"));
        assert!(err.to_string().contains("json, md, html, junit"));
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>().unwrap(), f);
            for alias in f.spec().aliases {
                assert_eq!(alias.to_uppercase().parse::<Format>().unwrap(), f);
            }
        }
    }

    #[test]
    fn every_format_has_its_own_name_and_file() {
        let mut names: Vec<&str> = Format::ALL
            .iter()
            .flat_map(|f| std::iter::once(f.as_str()).chain(f.spec().aliases.iter().copied()))
            .collect();
        let mut files: Vec<&str> = Format::ALL.map(Format::file_name).to_vec();
        let (n, m) = (names.len(), files.len());
        names.sort();
        names.dedup();
        files.sort();
        files.dedup();
        assert_eq!((names.len(), files.len()), (n, m));
        assert!(!names.contains(&"all"), "`all` means every format");
        assert_eq!(Format::names(), "json, md, html, junit");
    }

    #[test]
    fn write_all_writes_every_file_of_an_empty_report() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nested/out");
        let har = dir.path().join("har/evidence.har");
        let report = text::tests::empty_report();
        let files = write_all(&report, &out, &Format::ALL, Some(&har)).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "report.json",
                "report.md",
                "report.html",
                "junit.xml",
                "evidence.har"
            ]
        );
        for f in &files {
            assert!(std::fs::metadata(f).unwrap().len() > 0, "{}", f.display());
        }
        // No temporary files left behind.
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 4);
        let back = json::read(&out.join("report.json")).unwrap();
        assert_eq!(back, report);
    }
}
