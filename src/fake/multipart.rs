//! A small, total `multipart/form-data` parser (no panics on any input).

use bytes::Bytes;

/// One part of a multipart body.
#[derive(Clone, Debug)]
pub(crate) struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Bytes,
}

/// The boundary parameter of a `multipart/form-data` content type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let mut pieces = content_type.split(';');
    let mime = pieces.next()?.trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    for param in pieces {
        let (k, v) = param.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("boundary") {
            let v = v.trim().trim_matches('"');
            if !v.is_empty() && v.len() <= 200 {
                return Some(v.to_string());
            }
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Why a body is not valid multipart (the message is shown to the client).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MultipartError {
    #[error("multipart boundary not found")]
    BoundaryNotFound,
    #[error("truncated multipart body")]
    Truncated,
    #[error("malformed multipart delimiter")]
    MalformedDelimiter,
    #[error("multipart part without headers end")]
    NoHeadersEnd,
    #[error("multipart closing boundary missing")]
    NoClosingBoundary,
    #[error("multipart part without a name")]
    NoName,
    #[error("too many multipart parts")]
    TooManyParts,
}

/// Parses the body; `Err` says why it is not valid multipart.
pub(crate) fn parse(body: &Bytes, boundary: &str) -> Result<Vec<Part>, MultipartError> {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let mut pos = find(body, delim, 0).ok_or(MultipartError::BoundaryNotFound)?;
    let mut parts = Vec::new();
    loop {
        let after = pos + delim.len();
        let rest = body.get(after..).ok_or(MultipartError::Truncated)?;
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        // Skip the line break after the delimiter.
        let start = if rest.starts_with(b"\r\n") {
            after + 2
        } else if rest.starts_with(b"\n") {
            after + 1
        } else {
            return Err(MultipartError::MalformedDelimiter);
        };
        let head_end = find(body, b"\r\n\r\n", start)
            .map(|p| (p, p + 4))
            .or_else(|| find(body, b"\n\n", start).map(|p| (p, p + 2)))
            .ok_or(MultipartError::NoHeadersEnd)?;
        let head = String::from_utf8_lossy(&body[start..head_end.0]).into_owned();
        let next = find(body, delim, head_end.1).ok_or(MultipartError::NoClosingBoundary)?;
        let mut data_end = next;
        if data_end >= head_end.1 + 2 && &body[data_end - 2..data_end] == b"\r\n" {
            data_end -= 2;
        } else if data_end > head_end.1 && body[data_end - 1] == b'\n' {
            data_end -= 1;
        }
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in head.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let k = k.trim().to_ascii_lowercase();
            if k == "content-disposition" {
                for param in v.split(';').skip(1) {
                    if let Some((pk, pv)) = param.split_once('=') {
                        let pv = pv.trim().trim_matches('"').to_string();
                        match pk.trim().to_ascii_lowercase().as_str() {
                            "name" => name = Some(pv),
                            "filename" => filename = Some(pv),
                            _ => {}
                        }
                    }
                }
            } else if k == "content-type" {
                content_type = Some(v.trim().to_ascii_lowercase());
            }
        }
        let name = name.ok_or(MultipartError::NoName)?;
        parts.push(Part {
            name,
            filename,
            content_type,
            data: body.slice(head_end.1..data_end.max(head_end.1)),
        });
        if parts.len() > 64 {
            return Err(MultipartError::TooManyParts);
        }
        pos = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_files() {
        let body = Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"mode\"\r\n\r\nbackground\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--XyZ--\r\n",
        );
        let ct = "multipart/form-data; boundary=XyZ";
        let parts = parse(&body, &boundary(ct).unwrap()).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "mode");
        assert_eq!(&parts[0].data[..], b"background");
        assert_eq!(parts[1].filename.as_deref(), Some("a.png"));
        assert_eq!(parts[1].content_type.as_deref(), Some("image/png"));
        assert_eq!(&parts[1].data[..], b"\x89PNG");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for body in [
            &b""[..],
            b"--XyZ",
            b"--XyZ\r\n",
            b"--XyZ\r\nfoo\r\n\r\n",
            b"x--XyZ--",
        ] {
            let _ = parse(&Bytes::copy_from_slice(body), "XyZ");
        }
        assert!(boundary("application/json").is_none());
    }
}
