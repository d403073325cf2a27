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

/// A `{{name}}` template from a pack file, split once when the pack is
/// read: rendering it walks its pieces, never the text again. It reads
/// (`Deref`, `Display`, serde) as the text it was written as.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    /// The pieces, or why the text is no template (an unclosed `{{`, which
    /// rendering reports as before).
    pieces: Result<Vec<Piece>, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(String),
}

impl Template {
    pub fn new(source: impl Into<String>) -> Template {
        let source = source.into();
        let pieces = split(&source, true).map(|segs| {
            segs.into_iter()
                .map(|seg| match seg {
                    Segment::Text(t) => Piece::Text(t.to_string()),
                    Segment::Var(n) => Piece::Var(n.to_string()),
                })
                .collect()
        });
        Template { source, pieces }
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Renders it; an unknown name is an error naming it.
    pub fn render(&self, vars: &dyn Vars) -> Result<String, String> {
        let pieces = self.pieces.as_ref().map_err(Clone::clone)?;
        let mut out = String::with_capacity(self.source.len());
        for p in pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(name) => {
                    let value = vars
                        .get(name)
                        .ok_or_else(|| format!("unknown variable `{name}`"))?;
                    out.push_str(&display(&value));
                }
            }
        }
        Ok(out)
    }
}

impl std::ops::Deref for Template {
    type Target = str;
    fn deref(&self) -> &str {
        &self.source
    }
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.source, f)
    }
}

impl std::fmt::Display for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl From<&str> for Template {
    fn from(s: &str) -> Template {
        Template::new(s)
    }
}

impl From<String> for Template {
    fn from(s: String) -> Template {
        Template::new(s)
    }
}

impl serde::Serialize for Template {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> serde::Deserialize<'de> for Template {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Template, D::Error> {
        String::deserialize(d).map(Template::new)
    }
}

/// A JSON value whose strings are templates, compiled once when the pack is
/// read: a string that is exactly one `{{name}}` becomes the variable's
/// value with its type; other strings (and object keys) are interpolated.
/// It reads (`Deref`, serde) as the value it was written as.
#[derive(Clone, PartialEq)]
pub struct JsonTemplate {
    value: Value,
    compiled: Json,
}

#[derive(Clone, PartialEq)]
enum Json {
    Literal(Value),
    Whole(String),
    Text(Template),
    Array(Vec<Json>),
    Object(Vec<(Template, Json)>),
}

impl Json {
    fn compile(v: &Value) -> Json {
        match v {
            Value::String(s) => match split(s.trim(), true).as_deref() {
                Ok([Segment::Var(name)]) => Json::Whole(name.to_string()),
                _ => Json::Text(Template::new(s.as_str())),
            },
            Value::Array(a) => Json::Array(a.iter().map(Json::compile).collect()),
            Value::Object(o) => Json::Object(
                o.iter()
                    .map(|(k, x)| (Template::new(k.as_str()), Json::compile(x)))
                    .collect(),
            ),
            other => Json::Literal(other.clone()),
        }
    }

    fn render(&self, vars: &dyn Vars) -> Result<Value, String> {
        Ok(match self {
            Json::Literal(v) => v.clone(),
            Json::Whole(name) => vars
                .get(name)
                .ok_or_else(|| format!("unknown variable `{name}`"))?,
            Json::Text(t) => Value::String(t.render(vars)?),
            Json::Array(a) => {
                Value::Array(a.iter().map(|x| x.render(vars)).collect::<Result<_, _>>()?)
            }
            Json::Object(o) => {
                let mut m = serde_json::Map::new();
                for (k, x) in o {
                    m.insert(k.render(vars)?, x.render(vars)?);
                }
                Value::Object(m)
            }
        })
    }
}

impl JsonTemplate {
    pub fn new(value: Value) -> JsonTemplate {
        JsonTemplate {
            compiled: Json::compile(&value),
            value,
        }
    }

    /// Renders it (what `render_value` gives for the same value).
    pub fn render(&self, vars: &dyn Vars) -> Result<Value, String> {
        self.compiled.render(vars)
    }
}

impl std::ops::Deref for JsonTemplate {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.value
    }
}

impl std::fmt::Debug for JsonTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.value, f)
    }
}

impl From<Value> for JsonTemplate {
    fn from(v: Value) -> JsonTemplate {
        JsonTemplate::new(v)
    }
}

impl serde::Serialize for JsonTemplate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for JsonTemplate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<JsonTemplate, D::Error> {
        Value::deserialize(d).map(JsonTemplate::new)
    }
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

/// Renders a string; an unknown name is an error naming it. (Text from a
/// pack is a `Template`, split once; this is for text made at run time.)
pub fn render(s: &str, vars: &dyn Vars) -> Result<String, String> {
    Template::new(s).render(vars)
}

/// Renders a JSON value: a string that is exactly one `{{name}}` becomes the
/// variable's value with its type; other strings are interpolated.
pub fn render_value(v: &Value, vars: &dyn Vars) -> Result<Value, String> {
    Json::compile(v).render(vars)
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

    #[test]
    fn a_template_is_split_once_and_renders_like_the_text() {
        let vars = |n: &str| match n {
            "id" => Some(Value::String("job_1".into())),
            "n" => Some(serde_json::json!(3)),
            _ => None,
        };
        let t = Template::new("/v1/jobs/{{ id }}?n={{n}}");
        assert_eq!(t.render(&vars).unwrap(), "/v1/jobs/job_1?n=3");
        assert_eq!(t.render(&vars), render(t.as_str(), &vars));
        assert_eq!(&*t, "/v1/jobs/{{ id }}?n={{n}}");
        assert_eq!(
            Template::new("{{nope}}").render(&vars).unwrap_err(),
            "unknown variable `nope`"
        );
        assert!(
            Template::new("{{id")
                .render(&vars)
                .unwrap_err()
                .contains("unclosed")
        );
        let back: Template = serde_json::from_value(serde_json::json!("a{{id}}")).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::json!("a{{id}}")
        );
    }

    #[test]
    fn a_json_template_keeps_whole_values_typed() {
        let vars = |n: &str| match n {
            "n" => Some(serde_json::json!(3)),
            "k" => Some(Value::String("key".into())),
            _ => None,
        };
        let v = serde_json::json!({"count": "{{n}}", "{{k}}": ["x{{n}}", true, null]});
        let t = JsonTemplate::new(v.clone());
        let out = t.render(&vars).unwrap();
        assert_eq!(
            out,
            serde_json::json!({"count": 3, "key": ["x3", true, null]})
        );
        assert_eq!(render_value(&v, &vars).unwrap(), out);
        assert_eq!(*t, v);
    }
}
