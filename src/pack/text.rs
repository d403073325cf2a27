//! What a pack file's bytes must be before the YAML parser sees them (size,
//! UTF-8, no control characters, bounded bracket nesting), and positions for
//! the parser errors that come without one.

use super::{MAX_FILE, PackError, invalid};

/// The deepest `[`/`{` nesting a pack file may have.
pub const MAX_NESTING: usize = 100;

/// Where brackets first nest deeper than `MAX_NESTING` (quotes not
/// considered: a balanced bracket in a string costs nothing).
fn too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// A pack file is UTF-8 text without control characters (other than tab and
/// line ends); the YAML parser's own errors for these give no line.
pub(super) fn check_text(file: &str, bytes: &[u8]) -> Result<(), PackError> {
    if bytes.len() > MAX_FILE {
        return Err(invalid(
            file,
            None,
            format!(
                "the file is {} bytes, more than golive reads ({} KiB)",
                bytes.len(),
                MAX_FILE / 1024
            ),
        ));
    }
    let (text, bad) = match std::str::from_utf8(bytes) {
        Ok(t) => (t, None),
        Err(e) => (
            std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
            Some(e.valid_up_to()),
        ),
    };
    let at = |offset: usize| {
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("line {line} column {column}")
    };
    let message = if let Some(off) = bad {
        format!(
            "not UTF-8: byte 0x{:02x} at {} (pack files are UTF-8 text)",
            bytes[off],
            at(off)
        )
    } else if let Some((i, c)) = text
        .char_indices()
        .find(|(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{85}'))
    {
        format!(
            "control character U+{:04X} at {} (write it as an escape in a double-quoted string)",
            c as u32,
            at(i)
        )
    } else if let Some(i) = too_deep(text) {
        // The YAML parser reads a whole document before judging its depth,
        // in time that grows with the square of the nesting.
        format!(
            "brackets nested deeper than {MAX_NESTING} levels at {}",
            at(i)
        )
    } else {
        return Ok(());
    };
    Err(PackError::Parse {
        file: file.to_string(),
        message,
    })
}

/// Where an error the YAML parser reported without a position is: the
/// syntax error's own mark, the line of an unknown field, a second document.
pub(super) fn locate(text: &str, message: &str, bytes: &[u8]) -> String {
    if let Some(field) = message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
    {
        let key = format!("{field}:");
        if let Some(n) = text.lines().position(|l| l.trim_start().starts_with(&key)) {
            return format!(" (at line {})", n + 1);
        }
    }
    if let Some(line) = second_document(text) {
        return format!(" (the second document starts at line {line})");
    }
    match serde_yaml_ng::from_slice::<serde_yaml_ng::Value>(bytes) {
        Err(e) => match e.location() {
            Some(l) => format!(" (at line {} column {})", l.line(), l.column()),
            None => format!(" (the YAML parser gives no position: {e})"),
        },
        Ok(_) => " (the YAML parser gives no position)".to_string(),
    }
}

/// The line where a second YAML document starts (`---` after content).
fn second_document(text: &str) -> Option<usize> {
    let mut content = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_end();
        if t == "---" || t.starts_with("--- ") || t == "..." {
            if content {
                return Some(i + 1);
            }
            content = t == "...";
        } else if !t.trim().is_empty() && !t.trim_start().starts_with('#') && !t.starts_with('%') {
            content = true;
        }
    }
    None
}
