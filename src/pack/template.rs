//! `{{name}}` templates over captured values and inputs, and durations.

use std::time::Duration;

use serde_json::Value;

/// Looks names up; returns `None` for an unknown name.
pub trait Vars {
    fn get(&self, name: &str) -> Option<Value>;
}

impl<F: Fn(&str) -> Option<Value>> Vars for F {
    fn get(&self, name: &str) -> Option<Value> {
        self(name)
    }
}

/// One piece of a template: text as written, or a `{{name}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// The template grammar, in one place: splits `s` into text and `{{name}}`
/// pieces (names trimmed). An unclosed `{{` is an error when `strict`, else
/// the rest reads as text (what `names` wants of a half-written template).
fn split(s: &str, strict: bool) -> Result<Vec<Segment<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            if strict {
                return Err(format!("unclosed `{{{{` in `{s}`"));
            }
            break;
        };
        if start > 0 {
            out.push(Segment::Text(&rest[..start]));
        }
        out.push(Segment::Var(after[..end].trim()));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        out.push(Segment::Text(rest));
    }
    Ok(out)
}

/// Names used by a template string, in order.
pub fn names(s: &str) -> Vec<String> {
    split(s, false)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|seg| match seg {
            Segment::Var(n) => Some(n.to_string()),
            Segment::Text(_) => None,
        })
        .collect()
}

/// Names used anywhere inside a JSON value's strings.
pub fn names_in_value(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.extend(names(s)),
        Value::Array(a) => a.iter().for_each(|x| names_in_value(x, out)),
        Value::Object(o) => o.values().for_each(|x| names_in_value(x, out)),
        _ => {}
    }
}

/// Renders a string; an unknown name is an error naming it.
pub fn render(s: &str, vars: &dyn Vars) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    for seg in split(s, true)? {
        match seg {
            Segment::Text(t) => out.push_str(t),
            Segment::Var(name) => {
                let value = vars
                    .get(name)
                    .ok_or_else(|| format!("unknown variable `{name}`"))?;
                out.push_str(&display(&value));
            }
        }
    }
    Ok(out)
}

/// Renders a JSON value: a string that is exactly one `{{name}}` becomes the
/// variable's value with its type; other strings are interpolated.
pub fn render_value(v: &Value, vars: &dyn Vars) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => match split(s.trim(), true)?.as_slice() {
            // Exactly one `{{name}}`: the value keeps its type.
            [Segment::Var(name)] => vars
                .get(name)
                .ok_or_else(|| format!("unknown variable `{name}`"))?,
            _ => Value::String(render(s, vars)?),
        },
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| render_value(x, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => {
            let mut m = serde_json::Map::new();
            for (k, x) in o {
                m.insert(render(k, vars)?, render_value(x, vars)?);
            }
            Value::Object(m)
        }
        other => other.clone(),
    })
}

/// A value as it reads in text: strings bare, null empty, the rest as JSON.
pub fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Parses `250ms`, `2s`, `1.5s`, `2m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (try `250ms`, `2s`, `1m`)"))?;
    if !n.is_finite() || n < 0.0 {
        return Err(format!("`{s}` is not a non-negative duration"));
    }
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        u => return Err(format!("`{s}`: unknown duration unit `{u}` (ms, s, m, h)")),
    };
    if secs > 86_400.0 {
        return Err(format!("`{s}` is longer than a day"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(name: &str) -> Option<Value> {
        match name {
            "job" => Some(json!("job_1")),
            "n" => Some(json!(30)),
            _ => None,
        }
    }

    #[test]
    fn renders_strings_and_keeps_types() {
        assert_eq!(
            render("id={{job}}&n={{ n }}", &vars).unwrap(),
            "id=job_1&n=30"
        );
        assert_eq!(
            render_value(&json!({"a": "{{n}}", "b": "x{{n}}"}), &vars).unwrap(),
            json!({"a": 30, "b": "x30"})
        );
        assert!(render("{{nope}}", &vars).unwrap_err().contains("nope"));
        assert!(render("{{open", &vars).is_err());
        assert_eq!(names("{{a}} and {{ b }}"), vec!["a", "b"]);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("2 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
