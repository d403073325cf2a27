//! Captures, parsed once: where a value comes from in one response
//! (`body:/ptr`, `header:Name`, `status`, …) and, over a burst's responses,
//! how the matching answers are folded (`count:429`, `max:429:header:X`, …).
//! Validation parses each capture with these types and the engine runs the
//! parsed form: the grammar is written once.

use std::fmt;

/// `429` or `2xx`: one status or one class of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPattern {
    Code(u16),
    /// The hundreds digit: `2` for `2xx`.
    Class(u16),
}

impl StatusPattern {
    pub fn parse(pattern: &str) -> Result<StatusPattern, String> {
        let p = pattern.trim().to_ascii_lowercase();
        if let Some(class) = p.strip_suffix("xx") {
            return class
                .parse()
                .ok()
                .filter(|d| (1..=5).contains(d))
                .map(StatusPattern::Class)
                .ok_or_else(|| format!("`{pattern}` is not a status class like 2xx"));
        }
        p.parse()
            .map(StatusPattern::Code)
            .map_err(|_| format!("`{pattern}` is not a status or class"))
    }

    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusPattern::Code(c) => c == status,
            StatusPattern::Class(d) => status / 100 == d,
        }
    }
}

impl fmt::Display for StatusPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusPattern::Code(c) => write!(f, "{c}"),
            StatusPattern::Class(d) => write!(f, "{d}xx"),
        }
    }
}

/// Where one response's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Status,
    RequestId,
    DurationMs,
    /// The whole JSON body.
    Body,
    /// A JSON pointer into the body (`body:/job_id`).
    BodyPointer(String),
    /// A header, or the first present of `A|B` alternatives.
    Header(String),
}

impl Source {
    pub fn parse(s: &str) -> Result<Source, String> {
        match s {
            "status" => return Ok(Source::Status),
            "request_id" => return Ok(Source::RequestId),
            "duration_ms" => return Ok(Source::DurationMs),
            "body" => return Ok(Source::Body),
            _ => {}
        }
        if let Some(p) = s.strip_prefix("body:") {
            return match p {
                "" => Ok(Source::Body),
                p if p.starts_with('/') => Ok(Source::BodyPointer(p.to_string())),
                _ => Err(format!("`{s}`: body pointers start with `/`")),
            };
        }
        match s.strip_prefix("header:") {
            Some(h) if !h.is_empty() => Ok(Source::Header(h.to_string())),
            _ => Err(format!(
                "`{s}` is not a capture source (body:/ptr, header:Name, status, request_id, duration_ms)"
            )),
        }
    }

    /// The value needs a JSON body (a body that is not JSON cannot give it).
    pub fn needs_json(&self) -> bool {
        matches!(self, Source::Body | Source::BodyPointer(_))
    }

    /// The words for it in a message (`/job_id`, `header X-Request-Id`).
    pub fn describe(&self) -> String {
        match self {
            Source::Status => "status".into(),
            Source::RequestId => "request_id".into(),
            Source::DurationMs => "duration_ms".into(),
            Source::Body => "body".into(),
            Source::BodyPointer(p) => p.clone(),
            Source::Header(h) => format!("header:{h}"),
        }
    }
}

/// How a burst's matching answers fold into one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    First,
    Max,
    /// How many distinct values (an error when none carries one).
    Distinct,
    /// Every value, as a list.
    All,
}

/// A capture over a burst's responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BurstCapture {
    /// `count:<status>`: how many answers match.
    Count(StatusPattern),
    /// `first|max|distinct|all:<status>:<source>`.
    Fold {
        fold: Fold,
        status: StatusPattern,
        source: Source,
    },
}

impl BurstCapture {
    pub fn parse(src: &str) -> Result<BurstCapture, String> {
        let (agg, rest) = src.split_once(':').unwrap_or((src, ""));
        let fold = match agg {
            "count" => return StatusPattern::parse(rest).map(BurstCapture::Count),
            "first" => Fold::First,
            "max" => Fold::Max,
            "distinct" => Fold::Distinct,
            "all" => Fold::All,
            _ => {
                return Err(format!(
                    "`{src}`: burst captures are count:<status>, first|max|distinct|all:<status>:<source>"
                ));
            }
        };
        let (status, inner) = rest
            .split_once(':')
            .ok_or_else(|| format!("`{src}`: expected `{agg}:<status>:<source>`"))?;
        Ok(BurstCapture::Fold {
            fold,
            status: StatusPattern::parse(status)?,
            source: Source::parse(inner)?,
        })
    }
}

/// A step's capture: from its one response, or folded over a burst's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capture {
    One(Source),
    Burst(BurstCapture),
}

impl Capture {
    /// Parses a capture of a step (`burst`: the step is a burst).
    pub fn parse(src: &str, burst: bool) -> Result<Capture, String> {
        if burst {
            BurstCapture::parse(src).map(Capture::Burst)
        } else {
            Source::parse(src).map(Capture::One)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_patterns() {
        assert!(StatusPattern::parse("2xx").unwrap().matches(204));
        assert!(!StatusPattern::parse("2XX").unwrap().matches(301));
        assert!(StatusPattern::parse(" 429 ").unwrap().matches(429));
        assert_eq!(StatusPattern::parse("4xx").unwrap().to_string(), "4xx");
        assert!(StatusPattern::parse("9xx").is_err());
        assert!(StatusPattern::parse("ok").is_err());
    }

    #[test]
    fn sources() {
        assert_eq!(
            Source::parse("body:/job_id"),
            Ok(Source::BodyPointer("/job_id".into()))
        );
        assert_eq!(Source::parse("body:"), Ok(Source::Body));
        assert_eq!(
            Source::parse("header:Retry-After"),
            Ok(Source::Header("Retry-After".into()))
        );
        assert!(
            Source::parse("body:job_id")
                .unwrap_err()
                .contains("start with `/`")
        );
        assert!(Source::parse("header:").is_err());
        assert!(
            Source::parse("cookie")
                .unwrap_err()
                .contains("not a capture source")
        );
        assert!(Source::parse("body:/x").unwrap().needs_json());
        assert!(!Source::parse("status").unwrap().needs_json());
    }

    #[test]
    fn burst_captures() {
        assert_eq!(
            BurstCapture::parse("count:429"),
            Ok(BurstCapture::Count(StatusPattern::Code(429)))
        );
        assert_eq!(
            BurstCapture::parse("distinct:2xx:body:/id"),
            Ok(BurstCapture::Fold {
                fold: Fold::Distinct,
                status: StatusPattern::Class(2),
                source: Source::BodyPointer("/id".into()),
            })
        );
        assert!(
            BurstCapture::parse("max:429")
                .unwrap_err()
                .contains("expected `max:<status>:<source>`")
        );
        assert!(
            BurstCapture::parse("sum:2xx:status")
                .unwrap_err()
                .contains("burst captures are")
        );
        assert!(BurstCapture::parse("count:abc").is_err());
        assert!(matches!(
            Capture::parse("status", false),
            Ok(Capture::One(Source::Status))
        ));
        assert!(Capture::parse("status", true).is_err());
    }
}
