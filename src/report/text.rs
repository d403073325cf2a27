//! Small text helpers shared by the renderers: escaping for each output
//! language, durations for humans, and the last line of defence against a
//! credential reaching a rendered file.

use super::model::{CheckResult, Exchange, Status};
use std::fmt::Write as _;

/// Headers whose values are credentials. The engine redacts them before they
/// enter the report; renderers mask them again so that no output format can
/// ever re-add a key (`curl` lines use `$GOLIVE_KEY` instead).
pub(crate) fn is_credential_header(name: &str) -> bool {
    const NAMES: [&str; 9] = [
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "apikey",
        "x-auth-token",
        "x-access-token",
        "cookie",
        "set-cookie",
    ];
    NAMES.iter().any(|n| n.eq_ignore_ascii_case(name.trim()))
}

/// Query parameters that carry keys (never accepted by the packed APIs, but a
/// live integration might try them).
pub(crate) fn is_credential_param(name: &str) -> bool {
    const NAMES: [&str; 7] = [
        "api_key",
        "apikey",
        "api-key",
        "key",
        "token",
        "access_token",
        "x-api-key",
    ];
    NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

pub(crate) const MASK: &str = "[redacted]";

/// The value to show for a header: credential values masked (an
/// `Authorization` scheme such as `Bearer` is kept), others unchanged. A value
/// that is already a placeholder naming a key variable (`$GOLIVE_KEY_EMPTY`,
/// `<GOLIVE_KEY_OTHER>`) is shown as `$NAME`: it says which key was used
/// without being one.
pub(crate) fn shown_header_value(name: &str, value: &str) -> String {
    if !is_credential_header(name) || value.is_empty() {
        return value.to_string();
    }
    let shown = match key_var_hint(value) {
        Some(var) => format!("${var}"),
        None => MASK.to_string(),
    };
    match auth_scheme(value) {
        Some(scheme) => format!("{scheme} {shown}"),
        None => shown,
    }
}

/// `GOLIVE_KEY_EMPTY` in `Bearer <GOLIVE_KEY_EMPTY>` or `$GOLIVE_KEY_EMPTY`: a
/// placeholder naming the environment variable a key came from.
pub(crate) fn key_var_hint(value: &str) -> Option<&str> {
    let v = value.trim();
    let v = match auth_scheme(v) {
        Some(scheme) => v[scheme.len()..].trim(),
        None => v,
    };
    let var = v.trim_matches(|c: char| "<>[]{}$ ".contains(c));
    (var.starts_with("GOLIVE_KEY")
        && var
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
    .then_some(var)
}

/// `Bearer` in `Bearer abc`: a leading alphabetic word followed by a space.
pub(crate) fn auth_scheme(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    (!scheme.is_empty()
        && scheme.len() <= 16
        && scheme.chars().all(|c| c.is_ascii_alphabetic())
        && !rest.trim().is_empty())
    .then_some(scheme)
}

/// A URL with any user/password and the values of key-carrying query
/// parameters masked. Other URLs come back byte for byte.
pub(crate) fn shown_url(url: &str) -> String {
    let url = mask_query(url, MASK);
    match url::Url::parse(&url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("redacted");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url,
    }
}

/// Replaces the value of every key-carrying query parameter with `with`
/// (verbatim, not percent-encoded), leaving the rest of the URL untouched.
pub(crate) fn mask_query(url: &str, with: &str) -> String {
    let Some((head, rest)) = url.split_once('?') else {
        return url.to_string();
    };
    let (query, fragment) = match rest.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (rest, None),
    };
    let mut changed = false;
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode(k);
            if is_credential_param(&name) && !v.is_empty() {
                changed = true;
                format!("{k}={with}")
            } else {
                pair.to_string()
            }
        })
        .collect();
    if !changed {
        return url.to_string();
    }
    let mut out = format!("{head}?{}", parts.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("{s}=").as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_else(|| s.to_string())
}

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if is_bad_control(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for XML 1.0 content and attributes; characters XML 1.0 cannot
/// carry at all (most C0 controls, lone surrogates cannot occur in `str`,
/// U+FFFE/U+FFFF) become U+FFFD so the document always parses.
pub(crate) fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Keep newlines and tabs readable in element text but stable in
            // attributes (attribute-value normalisation would eat them).
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c if is_bad_control(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Like [`xml`] but for element text: only `&`, `<` and `>` are escaped
/// (quotes read better raw), newlines and tabs stay literal, and carriage
/// returns are dropped (XML parsers would normalise them anyway).
pub(crate) fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => {}
            '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c if is_bad_control(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// C0 controls other than tab, newline and carriage return, plus DEL and C1.
fn is_bad_control(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{7F}'
}

/// Escapes text for Markdown prose (and table cells): no HTML, no emphasis,
/// no table breaks, one line.
pub(crate) fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in one_line(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("\\|"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A Markdown code span that shows `s` verbatim, whatever backticks it holds.
/// Safe inside table cells (`|` is escaped, which GitHub honours in spans).
pub(crate) fn md_code(s: &str) -> String {
    let s = one_line(s).replace('|', "\\|");
    if s.is_empty() {
        return "` `".to_string();
    }
    let fence = "`".repeat(longest_run(&s, '`') + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// A fenced Markdown code block holding `s` verbatim.
pub(crate) fn md_block(lang: &str, s: &str) -> String {
    let fence = "`".repeat((longest_run(s, '`') + 1).max(3));
    let s = s.trim_end_matches('\n');
    format!("{fence}{lang}\n{s}\n{fence}\n")
}

fn longest_run(s: &str, c: char) -> usize {
    let (mut best, mut cur) = (0, 0);
    for ch in s.chars() {
        if ch == c {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

/// Collapses line breaks and control characters into spaces.
pub(crate) fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    out.trim().to_string()
}

/// The standard reason phrase of an HTTP status (`429` → `Too Many
/// Requests`), from the `http` crate's table; `None` for a status it has none
/// for.
pub(crate) fn reason_phrase(status: u16) -> Option<&'static str> {
    hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
}

/// A duration or offset fit to draw or export: NaN, infinities and negatives
/// become 0.
pub(crate) fn finite(v: f64) -> f64 {
    if v.is_finite() { v.max(0.0) } else { 0.0 }
}

/// Cuts `s` to at most `max` characters, marking the cut with `…`.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A duration for humans: `840 ms`, `2.35 s`, `3 min 05 s`.
pub(crate) fn ms(v: f64) -> String {
    if !v.is_finite() || v < 0.0 {
        return "?".to_string();
    }
    if v < 10.0 {
        format!("{v:.1} ms")
    } else if v < 1000.0 {
        format!("{v:.0} ms")
    } else if v < 60_000.0 {
        format!("{:.2} s", v / 1000.0)
    } else {
        let s = (v / 1000.0).round() as u64;
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

/// Seconds with millisecond precision, for JUnit `time` attributes.
pub(crate) fn secs(v: f64) -> String {
    if !v.is_finite() || v < 0.0 {
        return "0.000".to_string();
    }
    format!("{:.3}", v / 1000.0)
}

/// A byte count for humans.
pub(crate) fn bytes(n: usize) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    }
}

/// The glyph for a status, shared by the Markdown and text outputs.
pub(crate) fn status_icon(s: Status) -> &'static str {
    match s {
        Status::Pass => "✅",
        Status::Fail => "❌",
        Status::Warn => "⚠️",
        Status::Skip => "⏭️",
        Status::Error => "💥",
    }
}

/// The exchange a finding points at, if the index is valid.
pub(crate) fn exchange_of(check: &CheckResult, idx: Option<usize>) -> Option<&Exchange> {
    idx.and_then(|i| check.evidence.get(i))
}

/// `POST /api/v1/upload → 401 (12 ms)`: one line describing an exchange.
pub(crate) fn exchange_line(x: &Exchange) -> String {
    let mut s = format!("{} {}", x.request.method, shown_url(&x.request.url));
    match (&x.response, &x.error) {
        (Some(r), _) => {
            let _ = write!(s, " → {}", r.status);
        }
        (None, Some(e)) => {
            let _ = write!(s, " → error: {}", one_line(e));
        }
        (None, None) => s.push_str(" → no response"),
    }
    let _ = write!(s, " ({})", ms(x.duration_ms));
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::model::*;

    pub(crate) fn empty_report() -> Report {
        let mut r = Report {
            format_version: REPORT_FORMAT_VERSION,
            golive_version: "0.1.0".into(),
            verdict: Verdict::Incomplete,
            verdict_reason: String::new(),
            policy: String::new(),
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:00:00Z".into(),
            duration_ms: 0.0,
            target: TargetInfo {
                kind: "fake".into(),
                url: "http://127.0.0.1:1".into(),
                faults: vec![],
            },
            packs: vec![],
            interrupted: None,
            totals: Totals::default(),
            checks: vec![],
            load: None,
            capacity: None,
        };
        r.finalize();
        r
    }

    /// A report exercising odd data: a check with no evidence, an exchange
    /// without a response, a binary body, control characters, markup.
    pub(crate) fn odd_report() -> Report {
        let mut r = empty_report();
        let body = |text: Option<&str>| BodyRecord {
            size: 3,
            sha256: "ab".repeat(32),
            content_type: Some("application/octet-stream".into()),
            text: text.map(str::to_string),
            truncated: false,
        };
        r.checks.push(CheckResult {
            id: "p.auth.<odd>".into(),
            pack: "p".into(),
            family: Family::Auth,
            severity: Severity::Blocker,
            status: Status::Fail,
            title: "<script>alert(1)</script> & `ticks` | pipes".into(),
            summary: "line one\nline two \u{1} \u{FFFF}".into(),
            duration_ms: f64::NAN,
            scenario: None,
            findings: vec![Finding {
                level: FindingLevel::Fail,
                basis: None,
                step: "s\"tep".into(),
                message: "]]> </failure> <b>".into(),
                expected: Some("```".into()),
                actual: None,
                request_id: None,
                exchange: Some(99),
                pointer: Some("/a~1b/0".into()),
                advice: None,
            }],
            evidence: vec![Exchange {
                step: "s".into(),
                at_ms: -1.0,
                duration_ms: f64::INFINITY,
                request: RequestRecord {
                    method: "POST".into(),
                    url: "http://h/p?key=fake_key_LEAK&x='1'".into(),
                    headers: vec![("X-API-Key".into(), "fake_key_LEAK".into())],
                    body: Some(body(None)),
                },
                response: None,
                error: Some("connection refused\u{0}".into()),
                request_id: None,
            }],
        });
        r.checks.push(CheckResult {
            id: "p.schema.empty".into(),
            pack: "p".into(),
            family: Family::Schema,
            severity: Severity::Advisory,
            status: Status::Skip,
            title: String::new(),
            summary: String::new(),
            duration_ms: 0.0,
            scenario: None,
            findings: vec![],
            evidence: vec![],
        });
        r.finalize();
        r
    }

    /// Every renderer survives extreme numbers and odd strings.
    #[test]
    fn extreme_values_render_everywhere() {
        let mut r = odd_report();
        let mut x = r.checks[0].evidence[0].clone();
        for (at, dur) in [
            (1e300, f64::MAX),
            (f64::MAX, 1e-300),
            (f64::NEG_INFINITY, f64::NAN),
        ] {
            x.at_ms = at;
            x.duration_ms = dur;
            r.checks[0].evidence.push(x.clone());
        }
        r.checks[0].evidence[1].response = Some(ResponseRecord {
            status: u16::MAX,
            headers: vec![("".into(), "".into())],
            body: Some(BodyRecord {
                size: usize::MAX,
                sha256: String::new(),
                content_type: None,
                text: Some(String::new()),
                truncated: true,
            }),
        });
        r.duration_ms = f64::MAX;
        r.started_at = "not a date".into();
        for f in crate::report::Format::ALL {
            assert!(!f.render(&r).unwrap().is_empty());
        }
        crate::report::har::to_string(&r).unwrap();
        let d = crate::report::diff::diff(&r, &empty_report(), Default::default());
        crate::report::diff::render_text(&d);
    }

    #[test]
    fn credential_headers_are_masked_keeping_the_scheme() {
        assert_eq!(
            shown_header_value("Authorization", "Bearer sk_x"),
            "Bearer [redacted]"
        );
        assert_eq!(shown_header_value("x-api-key", "sk_x"), "[redacted]");
        assert_eq!(shown_header_value("X-Api-Key", ""), "");
        assert_eq!(
            shown_header_value("X-Api-Key", "<GOLIVE_KEY_EMPTY>"),
            "$GOLIVE_KEY_EMPTY"
        );
        assert_eq!(
            shown_header_value("Authorization", "Bearer $GOLIVE_KEY"),
            "Bearer $GOLIVE_KEY"
        );
        assert_eq!(
            shown_header_value("X-Api-Key", "GOLIVE_KEYsk"),
            "[redacted]"
        );
        assert_eq!(
            shown_header_value("Content-Type", "text/plain"),
            "text/plain"
        );
    }

    #[test]
    fn query_keys_are_masked_and_other_urls_untouched() {
        assert_eq!(
            shown_url("https://h/p?a=1&api_key=sk_1#f"),
            "https://h/p?a=1&api_key=[redacted]#f"
        );
        assert_eq!(shown_url("https://h/p?a=1&b"), "https://h/p?a=1&b");
        assert_eq!(shown_url("https://h/p"), "https://h/p");
        assert_eq!(
            shown_url("https://h/p?%6Bey=x"),
            "https://h/p?%6Bey=[redacted]"
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(
            html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(xml("a\u{1}b\nc"), "a\u{FFFD}b&#10;c");
        assert_eq!(xml_text("a\nb<'\"\r\u{1}"), "a\nb&lt;'\"\u{FFFD}");
        assert_eq!(md("a|b*c\nd<e>"), "a\\|b\\*c d&lt;e&gt;");
        assert_eq!(md_code("a`b"), "``a`b``");
        assert_eq!(md_code("`x"), "`` `x ``");
        assert_eq!(md_code(""), "` `");
        assert!(md_block("sh", "```\nx").starts_with("````sh\n"));
    }

    #[test]
    fn reason_phrases_and_finite() {
        assert_eq!(reason_phrase(429), Some("Too Many Requests"));
        assert_eq!(reason_phrase(200), Some("OK"));
        assert_eq!(reason_phrase(299), None);
        assert_eq!(reason_phrase(1000), None);
        assert_eq!(finite(-1.0), 0.0);
        assert_eq!(finite(f64::NAN), 0.0);
        assert_eq!(finite(f64::INFINITY), 0.0);
        assert_eq!(finite(2.5), 2.5);
    }

    #[test]
    fn durations() {
        assert_eq!(ms(4.25), "4.2 ms");
        assert_eq!(ms(840.4), "840 ms");
        assert_eq!(ms(2345.0), "2.35 s");
        assert_eq!(ms(185_000.0), "3 min 05 s");
        assert_eq!(ms(f64::NAN), "?");
        assert_eq!(secs(1234.0), "1.234");
        assert_eq!(secs(-1.0), "0.000");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(bytes(2048), "2.0 KiB");
    }
}
