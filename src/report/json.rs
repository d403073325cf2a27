//! `report.json`: the source of truth. Pretty-printed, fields in model order
//! (the order `model.rs` declares them, which is stable), checks in report
//! order, a trailing newline. Reading accepts any report whose
//! `format_version` this build understands.

use super::model::{REPORT_FORMAT_VERSION, Report};
use super::{ReportError, write_file};
use std::path::Path;

/// Serializes the report as pretty JSON with a trailing newline.
///
/// Non-finite durations (which JSON cannot carry) are written as `0`, so the
/// file always validates and always reads back.
pub fn to_string(report: &Report) -> Result<String, ReportError> {
    let mut value = serde_json::to_value(report).map_err(ReportError::Serialize)?;
    // serde_json turns NaN/∞ into `null`, which would break the schema and
    // reading back; a duration that was never measured is reported as 0.
    fix_non_finite(&mut value);
    let mut s = serde_json::to_string_pretty(&value).map_err(ReportError::Serialize)?;
    s.push('\n');
    Ok(s)
}

fn fix_non_finite(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if v.is_null() && matches!(k.as_str(), "duration_ms" | "at_ms") {
                    *v = serde_json::Value::from(0);
                } else {
                    fix_non_finite(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(fix_non_finite),
        _ => {}
    }
}

/// Parses a report; `origin` names the input in errors.
pub fn from_str(s: &str, origin: &str) -> Result<Report, ReportError> {
    // Look at the version first so that a report from a newer golive gets a
    // clear message rather than a field-by-field complaint.
    #[derive(serde::Deserialize)]
    struct Head {
        format_version: u32,
    }
    let head: Head = serde_json::from_str(s).map_err(|source| ReportError::Parse {
        origin: origin.to_string(),
        source,
    })?;
    if head.format_version > REPORT_FORMAT_VERSION || head.format_version == 0 {
        return Err(ReportError::UnsupportedVersion {
            origin: origin.to_string(),
            found: head.format_version,
            supported: REPORT_FORMAT_VERSION,
        });
    }
    serde_json::from_str(s).map_err(|source| ReportError::Parse {
        origin: origin.to_string(),
        source,
    })
}

/// Reads `report.json` (or any stored report) from disk.
pub fn read(path: &Path) -> Result<Report, ReportError> {
    let s = std::fs::read_to_string(path).map_err(|source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    from_str(&s, &path.display().to_string())
}

/// Writes the report as JSON to `path`.
pub fn write(report: &Report, path: &Path) -> Result<(), ReportError> {
    write_file(path, &to_string(report)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::text::tests::{empty_report, odd_report};

    #[test]
    fn round_trips_and_is_stable() {
        let r = empty_report();
        let s = to_string(&r).unwrap();
        assert!(s.ends_with("}\n"));
        assert!(s.starts_with("{\n  \"format_version\": 1,\n  \"golive_version\""));
        let back = from_str(&s, "x").unwrap();
        assert_eq!(back, r);
        assert_eq!(to_string(&back).unwrap(), s);
    }

    #[test]
    fn non_finite_durations_become_zero() {
        let r = odd_report();
        let s = to_string(&r).unwrap();
        assert!(!s.contains("null"), "{s}");
        let back = from_str(&s, "x").unwrap();
        assert_eq!(back.checks[0].duration_ms, 0.0);
        assert_eq!(back.checks[0].evidence[0].duration_ms, 0.0);
        assert_eq!(back.checks[0].evidence[0].at_ms, -1.0);
    }

    #[test]
    fn newer_versions_and_garbage_are_refused_clearly() {
        let s = to_string(&empty_report())
            .unwrap()
            .replace("\"format_version\": 1", "\"format_version\": 99");
        let err = from_str(&s, "new.json").unwrap_err();
        assert!(matches!(
            err,
            ReportError::UnsupportedVersion { found: 99, .. }
        ));
        assert!(err.to_string().contains("new.json"));
        assert!(matches!(
            from_str("[1,2]", "x").unwrap_err(),
            ReportError::Parse { .. }
        ));
        assert!(matches!(
            read(Path::new("/nonexistent/report.json")).unwrap_err(),
            ReportError::Read { .. }
        ));
    }
}
