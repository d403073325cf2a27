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

/// Names used by a template string, in order.
pub fn names(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push(after[..end].trim().to_string());
                rest = &after[end + 2..];
            }
            None => break,
        }
    }
    out
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
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(format!("unclosed `{{{{` in `{s}`"));
        };
        let name = after[..end].trim();
        let value = vars
            .get(name)
            .ok_or_else(|| format!("unknown variable `{name}`"))?;
        out.push_str(&display(&value));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Renders a JSON value: a string that is exactly one `{{name}}` becomes the
/// variable's value with its type; other strings are interpolated.
pub fn render_value(v: &Value, vars: &dyn Vars) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => {
            let t = s.trim();
            if t.starts_with("{{")
                && t.ends_with("}}")
                && names(t).len() == 1
                && t.matches("{{").count() == 1
            {
                let name = &t[2..t.len() - 2];
                vars.get(name.trim())
                    .ok_or_else(|| format!("unknown variable `{}`", name.trim()))?
            } else {
                Value::String(render(s, vars)?)
            }
        }
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
