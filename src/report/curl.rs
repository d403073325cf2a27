//! A reproducible `curl` line for a recorded request.
//!
//! Every word is shell-quoted (POSIX single quotes; `$'…'` only for bodies with
//! control characters), key headers and key query parameters carry
//! `$GOLIVE_KEY` (expanded by the reader's shell, never the key itself), and
//! headers curl computes on its own (`Host`, `Content-Length`, …) are left out.
//! A body that was not recorded whole (truncated or binary) is read from a
//! file named in a trailing comment, with its size and SHA-256 so the reader
//! can check they supplied the same bytes.

use super::model::RequestRecord;
use super::text;

/// The environment variable the reader's shell holds the key in.
pub const KEY_VAR: &str = "GOLIVE_KEY";

/// Headers curl sets itself, or that would make the replay lie.
fn is_transport_header(name: &str) -> bool {
    [
        "host",
        "content-length",
        "connection",
        "transfer-encoding",
        "accept-encoding",
        "keep-alive",
        "te",
        "upgrade",
    ]
    .iter()
    .any(|h| h.eq_ignore_ascii_case(name.trim()))
}

/// One shell word made of literal text and key variable references.
enum Piece<'a> {
    Lit(&'a str),
    /// `$GOLIVE_KEY`, or the variable a placeholder named.
    Key(&'a str),
}

/// The curl command line that replays `req` (one line, no trailing newline).
pub fn curl_line(req: &RequestRecord) -> String {
    let mut words: Vec<String> = vec!["curl".into(), "-sS".into(), "-i".into()];
    let method = req.method.trim().to_ascii_uppercase();
    let has_body = req.body.as_ref().is_some_and(|b| b.size > 0);
    match method.as_str() {
        "GET" if !has_body => {}
        "HEAD" => words.push("--head".into()),
        "POST" if has_body => {}
        "" => {}
        m => {
            words.push("-X".into());
            words.push(quote(m));
        }
    }
    for (name, value) in &req.headers {
        if is_transport_header(name) {
            continue;
        }
        words.push("-H".into());
        words.push(header_word(name, value));
    }
    let mut comment = None;
    if let Some(body) = req.body.as_ref().filter(|b| b.size > 0) {
        match (&body.text, body.truncated) {
            (Some(t), false) => {
                words.push("--data-binary".into());
                words.push(quote_body(t));
            }
            _ => {
                words.push("--data-binary".into());
                words.push("@request-body.bin".into());
                comment = Some(format!(
                    "# request-body.bin: the original body ({} bytes, sha256 {}){}",
                    body.size,
                    body.sha256,
                    if body.text.is_some() {
                        ", truncated in the report"
                    } else {
                        ", not text"
                    }
                ));
            }
        }
    }
    words.push(url_word(&req.url));
    let mut line = words.join(" ");
    if let Some(c) = comment {
        line.push_str("  ");
        line.push_str(&text::one_line(&c));
    }
    line
}

fn header_word(name: &str, value: &str) -> String {
    let name = text::one_line(name);
    if text::is_credential_header(&name) && !value.is_empty() {
        let prefix = match text::auth_scheme(value) {
            Some(scheme) => format!("{name}: {scheme} "),
            None => format!("{name}: "),
        };
        let var = text::key_var_hint(value).unwrap_or(KEY_VAR);
        return word(&[Piece::Lit(&prefix), Piece::Key(var)]);
    }
    let value = text::one_line(value);
    quote(&format!("{name}: {value}"))
}

fn url_word(url: &str) -> String {
    const MARK: &str = "\u{0}GOLIVE_KEY\u{0}";
    let url = text::one_line(url);
    let masked = text::mask_query(&url, MARK);
    let pieces: Vec<Piece> = masked
        .split(MARK)
        .enumerate()
        .flat_map(|(i, lit)| {
            let key = (i > 0).then_some(Piece::Key(KEY_VAR));
            key.into_iter().chain(Some(Piece::Lit(lit)))
        })
        .collect();
    word(&pieces)
}

/// Joins pieces into one shell word: `"X-Api-Key: $GOLIVE_KEY"` when the
/// literal text is plain, otherwise single-quoted literals spliced with
/// `"$GOLIVE_KEY"`.
fn word(pieces: &[Piece]) -> String {
    let has_key = pieces.iter().any(|p| matches!(p, Piece::Key(_)));
    if !has_key {
        let lit: String = pieces
            .iter()
            .map(|p| match p {
                Piece::Lit(s) => *s,
                Piece::Key(_) => "",
            })
            .collect();
        return quote(&lit);
    }
    let dq_safe = pieces.iter().all(|p| match p {
        Piece::Lit(s) => s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " -_.:/=?&%,+@".contains(c)),
        Piece::Key(_) => true,
    });
    if dq_safe {
        let mut s = String::from("\"");
        for p in pieces {
            match p {
                Piece::Lit(l) => s.push_str(l),
                Piece::Key(var) => {
                    s.push_str("${");
                    s.push_str(var);
                    s.push('}');
                }
            }
        }
        s.push('"');
        return s;
    }
    let mut s = String::new();
    for p in pieces {
        match p {
            Piece::Lit("") => {}
            Piece::Lit(l) => s.push_str(&single_quote(l)),
            Piece::Key(var) => {
                s.push_str("\"${");
                s.push_str(var);
                s.push_str("}\"");
            }
        }
    }
    s
}

/// Quotes `s` as one shell word; plain words stay bare.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        s.to_string()
    } else {
        single_quote(s)
    }
}

fn single_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A body word: single quotes unless it holds control characters (newlines
/// included), which get bash's `$'…'` so the line stays one line.
fn quote_body(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return single_quote(s);
    }
    let mut out = String::from("$'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // `\u` needs bash ≥ 4.2; \x is universal for these.
            c if c.is_control() && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::BodyRecord;

    fn req(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> RequestRecord {
        RequestRecord {
            method: method.into(),
            url: url.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.map(|b| BodyRecord {
                size: b.len(),
                sha256: "0".repeat(64),
                content_type: Some("application/json".into()),
                text: Some(b.into()),
                truncated: false,
            }),
        }
    }

    #[test]
    fn get_with_key_header() {
        let r = req(
            "GET",
            "https://api.removit.eu/api/v1/status?job_id=1",
            &[("X-API-Key", "fake_key_SECRET"), ("Host", "api.removit.eu")],
            None,
        );
        assert_eq!(
            curl_line(&r),
            "curl -sS -i -H \"X-API-Key: ${GOLIVE_KEY}\" 'https://api.removit.eu/api/v1/status?job_id=1'"
        );
    }

    #[test]
    fn post_json_with_bearer_and_quotes() {
        let r = req(
            "POST",
            "http://127.0.0.1:8080/api/v1/upload",
            &[
                ("Authorization", "Bearer fake_key_SECRET"),
                ("Content-Type", "application/json"),
                ("Content-Length", "30"),
            ],
            Some(r#"{"file_url":"http://x/it's.png"}"#),
        );
        let line = curl_line(&r);
        assert_eq!(
            line,
            r#"curl -sS -i -H "Authorization: Bearer ${GOLIVE_KEY}" -H 'Content-Type: application/json' --data-binary '{"file_url":"http://x/it'\''s.png"}' http://127.0.0.1:8080/api/v1/upload"#
        );
        assert!(!line.contains("SECRET"));
    }

    #[test]
    fn odd_header_names_and_keys_in_the_query() {
        let r = req(
            "DELETE",
            "https://h/p?api_key=fake_key_SECRET&x=$(rm -rf)",
            &[("X-Api-Key", "it's `odd`")],
            None,
        );
        let line = curl_line(&r);
        assert!(!line.contains("SECRET"), "{line}");
        assert!(!line.contains("odd"), "{line}");
        assert!(line.contains("-X DELETE"));
        assert!(
            line.ends_with(r#"'https://h/p?api_key='"${GOLIVE_KEY}"'&x=$(rm -rf)'"#),
            "{line}"
        );
    }

    #[test]
    fn truncated_and_binary_bodies_come_from_a_file() {
        let mut r = req("PUT", "https://h/p", &[], Some("{\"a\":"));
        r.body.as_mut().unwrap().truncated = true;
        let line = curl_line(&r);
        assert!(line.contains("-X PUT --data-binary @request-body.bin https://h/p  # request-body.bin: the original body (5 bytes, sha256 0000"), "{line}");
        r.body.as_mut().unwrap().text = None;
        assert!(curl_line(&r).ends_with(", not text"));
    }

    #[test]
    fn multi_line_bodies_stay_on_one_line() {
        let r = req("POST", "https://h/p", &[], Some("a\n'b'\\\u{1}"));
        let line = curl_line(&r);
        assert!(!line.contains('\n'));
        assert!(line.contains(r"$'a\n\'b\'\\\x01'"), "{line}");
    }

    #[test]
    fn placeholders_name_their_variable() {
        let r = req(
            "GET",
            "https://h/p",
            &[("Authorization", "Bearer <GOLIVE_KEY_EMPTY>")],
            None,
        );
        assert_eq!(
            curl_line(&r),
            "curl -sS -i -H \"Authorization: Bearer ${GOLIVE_KEY_EMPTY}\" https://h/p"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("plain-word_1.2"), "plain-word_1.2");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
