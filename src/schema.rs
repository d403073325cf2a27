//! JSON Schema registry: the embedded `schemas/` tree (or a pack's own schema
//! directory), compiled once, resolving `$ref`s between files offline.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use include_dir::{Dir, include_dir};
use serde_json::Value;

use crate::report::Basis;

/// The `schemas/` tree, embedded in the binary.
pub static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/schemas");

/// The `$id` prefix the shipped schemas use.
pub const ID_PREFIX: &str = "https://golive.dev/schemas/";

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("reading schema {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("schema {file} is not JSON: {message}")]
    NotJson { file: String, message: String },
    #[error("schema {file} not found in {root}")]
    Missing { file: String, root: String },
    #[error("schema {file} does not compile: {message}")]
    Invalid { file: String, message: String },
}

/// The annotation keyword that says what a subschema rests on: `"doc"` or
/// `"conv"`. A broken keyword is classed by its nearest annotated ancestor
/// in the file where it is written; every shipped schema annotates its root.
pub const BASIS_KEYWORD: &str = "x-basis";
/// Beside `x-basis: conv`: what the integration must do when the API does
/// not offer the convention. A `required` under it that fails is then a
/// warning (the convention not offered) instead of a failure.
pub const ADVICE_KEYWORD: &str = "x-advice";

/// One way an instance breaks a schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// JSON pointer into the instance ("" is the whole body).
    pub pointer: String,
    pub message: String,
    /// Where in the schema the broken keyword is.
    pub schema_path: String,
    /// The broken keyword (`required`, `type`, `enum`, …).
    pub keyword: String,
    /// What the broken keyword rests on (`doc` where nothing says).
    pub basis: Basis,
    /// The nearest `x-advice` on the way to the keyword.
    pub advice: Option<String>,
}

impl Violation {
    /// A `conv` member that is absent where the schema says what to do
    /// without it (`x-advice`): the API does not offer that part of the
    /// convention (a warning). A `conv` member missing with no advice is the
    /// convention offered but broken (a failed job without its error).
    pub fn is_absent_convention(&self) -> bool {
        self.basis == Basis::Conv && self.keyword == "required" && self.advice.is_some()
    }
}

/// Walks `pointer` (a JSON pointer into `doc`) and returns the nearest
/// `x-basis` and `x-advice` met on the way, the keyword itself included.
fn classify(doc: &Value, pointer: &str) -> (Basis, Option<String>) {
    let mut basis = Basis::Doc;
    let mut advice = None;
    let mut node = Some(doc);
    let mut note = |n: &Value| {
        if let Some(b) = n.get(BASIS_KEYWORD).and_then(Value::as_str) {
            basis = if b == "conv" { Basis::Conv } else { Basis::Doc };
            advice = n
                .get(ADVICE_KEYWORD)
                .and_then(Value::as_str)
                .map(str::to_string);
        }
    };
    if let Some(n) = node {
        note(n);
    }
    for seg in pointer.split('/').skip(1) {
        let seg = percent_decode(seg).replace("~1", "/").replace("~0", "~");
        node = node.and_then(|n| match n {
            Value::Object(m) => m.get(&seg),
            Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        });
        match node {
            Some(n) => note(n),
            None => break,
        }
    }
    (basis, advice)
}

/// `%24ref` → `$ref` (keyword locations in URIs are percent-encoded).
fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// All schema documents of one tree, by relative path (`removit/status.json`).
#[derive(Clone)]
pub struct SchemaSet {
    root: String,
    docs: Arc<HashMap<String, Value>>,
    compiled: HashMap<String, Arc<jsonschema::Validator>>,
}

impl std::fmt::Debug for SchemaSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaSet")
            .field("root", &self.root)
            .field("files", &self.docs.len())
            .finish()
    }
}

struct Retriever(Arc<HashMap<String, Value>>);

impl Retriever {
    fn find(&self, uri: &str) -> Option<&Value> {
        let uri = uri.split('#').next().unwrap_or(uri);
        if let Some(rel) = uri.strip_prefix(ID_PREFIX) {
            if let Some(v) = self.0.get(rel) {
                return Some(v);
            }
        }
        self.0
            .values()
            .find(|v| v.get("$id").and_then(Value::as_str) == Some(uri))
            .or_else(|| {
                // Last resort: match on the trailing path segments.
                self.0
                    .iter()
                    .filter(|(k, _)| uri.ends_with(&format!("/{k}")))
                    .max_by_key(|(k, _)| k.len())
                    .map(|(_, v)| v)
            })
    }
}

impl jsonschema::Retrieve for Retriever {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        self.find(uri.as_str())
            .cloned()
            .ok_or_else(|| format!("schema {} is not in the schema tree", uri.as_str()).into())
    }
}

impl SchemaSet {
    /// The embedded `schemas/` tree.
    pub fn embedded() -> Result<SchemaSet, SchemaError> {
        let mut docs = HashMap::new();
        collect_embedded(&EMBEDDED, &mut docs)?;
        Ok(SchemaSet::new("embedded schemas/".into(), docs))
    }

    /// Every `*.json` below `dir` (an `examples/` folder is skipped).
    pub fn from_dir(dir: &Path) -> Result<SchemaSet, SchemaError> {
        let mut docs = HashMap::new();
        collect_dir(dir, dir, &mut docs)?;
        Ok(SchemaSet::new(dir.display().to_string(), docs))
    }

    fn new(root: String, docs: HashMap<String, Value>) -> SchemaSet {
        SchemaSet {
            root,
            docs: Arc::new(docs),
            compiled: HashMap::new(),
        }
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn contains(&self, file: &str) -> bool {
        self.docs.contains_key(file)
    }

    /// Compiles `file` (once); later `validate` calls use the compiled form.
    pub fn compile(&mut self, file: &str) -> Result<(), SchemaError> {
        if self.compiled.contains_key(file) {
            return Ok(());
        }
        let doc = self.docs.get(file).ok_or_else(|| SchemaError::Missing {
            file: file.to_string(),
            root: self.root.clone(),
        })?;
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .with_retriever(Retriever(self.docs.clone()))
            .build(doc)
            .map_err(|e| SchemaError::Invalid {
                file: file.to_string(),
                message: e.to_string(),
            })?;
        self.compiled.insert(file.to_string(), Arc::new(validator));
        Ok(())
    }

    /// Validates `instance` against a compiled schema; an uncompiled file is
    /// compiled on a copy (slower) so this never fails for a known file.
    pub fn validate(&self, file: &str, instance: &Value) -> Result<Vec<Violation>, SchemaError> {
        let validator = match self.compiled.get(file) {
            Some(v) => v.clone(),
            None => {
                let mut me = self.clone();
                me.compile(file)?;
                me.compiled[file].clone()
            }
        };
        let retriever = Retriever(self.docs.clone());
        Ok(validator
            .iter_errors(instance)
            .map(|e| {
                let schema_path = e.schema_path().to_string();
                // Class the keyword where it is written: the file (after
                // `$ref`s) and the pointer inside it.
                let (doc, ptr) = match e.absolute_keyword_location() {
                    Some(uri) => {
                        let (base, frag) =
                            uri.as_str().split_once('#').unwrap_or((uri.as_str(), ""));
                        (retriever.find(base), frag.to_string())
                    }
                    None => (self.docs.get(file), schema_path.clone()),
                };
                let (basis, advice) = doc.map(|d| classify(d, &ptr)).unwrap_or((Basis::Doc, None));
                let keyword = ptr.rsplit('/').next().unwrap_or_default().to_string();
                Violation {
                    pointer: e.instance_path().to_string(),
                    message: e.to_string(),
                    schema_path,
                    keyword,
                    basis,
                    advice,
                }
            })
            .collect())
    }
}

fn collect_embedded(
    dir: &Dir<'static>,
    docs: &mut HashMap<String, Value>,
) -> Result<(), SchemaError> {
    for f in dir.files() {
        let path = f.path().to_string_lossy().replace('\\', "/");
        if !path.ends_with(".json") || path.starts_with("examples/") {
            continue;
        }
        let v: Value = serde_json::from_slice(f.contents()).map_err(|e| SchemaError::NotJson {
            file: path.clone(),
            message: e.to_string(),
        })?;
        docs.insert(path, v);
    }
    for d in dir.dirs() {
        collect_embedded(d, docs)?;
    }
    Ok(())
}

fn collect_dir(
    root: &Path,
    dir: &Path,
    docs: &mut HashMap<String, Value>,
) -> Result<(), SchemaError> {
    let io = |e| SchemaError::Io {
        path: dir.to_path_buf(),
        source: e,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "examples") {
                continue;
            }
            collect_dir(root, &p, docs)?;
        } else if p.extension().is_some_and(|x| x == "json") {
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read(&p).map_err(|e| SchemaError::Io {
                path: p.clone(),
                source: e,
            })?;
            let v: Value = serde_json::from_slice(&text).map_err(|e| SchemaError::NotJson {
                file: rel.clone(),
                message: e.to_string(),
            })?;
            docs.insert(rel, v);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set() -> SchemaSet {
        let mut docs = HashMap::new();
        docs.insert(
            "a/envelope.json".to_string(),
            json!({
                "$id": "https://golive.dev/schemas/a/envelope.json",
                "x-basis": "doc",
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": { "type": "string" },
                    "hint": { "x-basis": "conv", "x-advice": "read the message", "type": "string" }
                }
            }),
        );
        docs.insert(
            "a/list.json".to_string(),
            json!({
                "$id": "https://golive.dev/schemas/a/list.json",
                "x-basis": "doc",
                "$ref": "envelope.json",
                "required": ["jobs"],
                "allOf": [{ "x-basis": "conv", "x-advice": "page by offset", "required": ["total"] }],
                "properties": { "jobs": { "type": "array" }, "total": { "type": "integer" } }
            }),
        );
        docs.insert(
            "a/job.json".to_string(),
            json!({
                "$id": "https://golive.dev/schemas/a/job.json",
                "x-basis": "doc",
                "allOf": [{ "x-basis": "conv", "if": { "properties": { "status": { "const": "failed" } } },
                            "then": { "required": ["error"] } }]
            }),
        );
        SchemaSet::new("test".into(), docs)
    }

    #[test]
    fn a_conv_member_missing_without_advice_is_broken_not_absent() {
        let v = set()
            .validate("a/job.json", &json!({ "status": "failed" }))
            .unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(
            (v[0].basis, v[0].is_absent_convention()),
            (Basis::Conv, false)
        );
    }

    fn one(v: Value) -> Vec<(String, Basis, bool, Option<String>)> {
        let s = set();
        let mut out: Vec<_> = s
            .validate("a/list.json", &v)
            .unwrap()
            .into_iter()
            .map(|x| {
                (
                    x.keyword.clone(),
                    x.basis,
                    x.is_absent_convention(),
                    x.advice,
                )
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_keyword_is_classed_by_its_nearest_annotated_ancestor() {
        // An absent conv member: a convention not offered, with its advice.
        assert_eq!(
            one(json!({ "error": "x", "jobs": [] })),
            vec![(
                "required".into(),
                Basis::Conv,
                true,
                Some("page by offset".into())
            )]
        );
        // A conv member offered with the wrong type is broken, not absent.
        let got = one(json!({ "error": "x", "jobs": [], "total": "3" }));
        assert_eq!(got, vec![("type".into(), Basis::Doc, false, None)]);
        // A documented member missing, and one behind a `$ref` in another file.
        let got = one(json!({ "error": 1, "total": 1, "hint": 2 }));
        assert_eq!(
            got,
            vec![
                ("required".into(), Basis::Doc, false, None),
                ("type".into(), Basis::Doc, false, None),
                (
                    "type".into(),
                    Basis::Conv,
                    false,
                    Some("read the message".into())
                ),
            ]
        );
    }

    #[test]
    fn percent_encoded_segments_are_decoded() {
        assert_eq!(percent_decode("%24ref"), "$ref");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("plain"), "plain");
    }
}
