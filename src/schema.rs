//! JSON Schema registry: the embedded `schemas/` tree (or a pack's own schema
//! directory), compiled once, resolving `$ref`s between files offline.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use include_dir::{Dir, include_dir};
use serde_json::Value;

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

/// One way an instance breaks a schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// JSON pointer into the instance ("" is the whole body).
    pub pointer: String,
    pub message: String,
    /// Where in the schema the broken keyword is.
    pub schema_path: String,
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
        Ok(validator
            .iter_errors(instance)
            .map(|e| Violation {
                pointer: e.instance_path().to_string(),
                message: e.to_string(),
                schema_path: e.schema_path().to_string(),
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
