//! `report.json`: the source of truth. Pretty-printed, fields in model order
//! (the order `model.rs` declares them, which is stable), checks in report
//! order, a trailing newline. Reading accepts any report whose
//! `format_version` this build understands.
//!
//! The engine redacts every exchange before it enters the model; writing
//! masks credential headers, key query parameters and URL passwords once more
//! (idempotent on redacted data), so that no format, this one included, can
//! carry a key.

use super::model::{REPORT_FORMAT_VERSION, Report};
use super::text;
use super::{ReportError, write_file};
use std::path::Path;

/// Serializes the report as pretty JSON with a trailing newline.
///
/// Non-finite durations (which JSON cannot carry) are written as `0`, so the
/// file always validates and always reads back.
pub fn to_string(report: &Report) -> Result<String, ReportError> {
    let mut s = serde_json::to_string_pretty(&scrubbed(report)).map_err(ReportError::Serialize)?;
    s.push('\n');
    Ok(s)
}

/// The report with credentials masked again (see the module docs) and
/// non-finite times zeroed: serde_json would write them as `null`, which
/// neither the schema nor reading back accepts.
fn scrubbed(report: &Report) -> Report {
    let finite = |v: &mut f64| {
        if !v.is_finite() {
            *v = 0.0;
        }
    };
    let mut r = report.clone();
    finite(&mut r.duration_ms);
    let headers = |h: &mut Vec<(String, String)>| {
        for (n, v) in h.iter_mut() {
            *v = text::shown_header_value(n, v);
        }
    };
    r.target.url = text::shown_url(&r.target.url);
    for c in &mut r.checks {
        finite(&mut c.duration_ms);
        for x in &mut c.evidence {
            finite(&mut x.at_ms);
            finite(&mut x.duration_ms);
            x.request.url = text::shown_url(&x.request.url);
            headers(&mut x.request.headers);
            if let Some(resp) = &mut x.response {
                headers(&mut resp.headers);
            }
        }
    }
    r
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
    fn credentials_are_masked_once_more() {
        let r = odd_report();
        let s = to_string(&r).unwrap();
        assert!(!s.contains("fake_key_LEAK"), "{s}");
        let back = from_str(&s, "x").unwrap();
        assert_eq!(to_string(&back).unwrap(), s, "masking is idempotent");
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
