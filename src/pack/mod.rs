//! Packs and scenarios: the API knowledge as data. Loading, embedding and
//! validation; the format itself is in [`model`].

pub mod capture;
pub mod expr;
pub mod load;
pub mod model;
pub mod plan;
pub mod slo;
pub mod template;
mod text;
mod validate;
pub use text::MAX_NESTING;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};
use sha2::{Digest, Sha256};

pub use capture::{BurstCapture, Capture, Fold, Source, StatusPattern};
pub use model::*;
pub use plan::{Action, ForEach, PlanStep, Requirements};
use validate::{Ctx, check_matchers, invalid, validate_pack, validate_request, validate_scenario};

use crate::schema::{SchemaError, SchemaSet};

/// The `scenarios/` tree, embedded in the binary.
pub static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/scenarios");

/// In `responses`: a documented status whose body is not JSON (not validated).
pub const NO_SCHEMA: &str = "-";

/// Upper bound on one burst (requests and concurrency).
pub const MAX_BURST: usize = 500;

/// Names every template may use besides inputs and captures.
pub const BUILTINS: [&str; 5] = ["uuid", "run_id", "i", "endpoint", "now_ms"];

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: {}{message}", step.as_ref().map(|s| format!("{s}: ")).unwrap_or_default())]
    Invalid {
        file: String,
        step: Option<String>,
        message: String,
    },
    #[error("no pack named `{name}` (embedded packs: {known})")]
    Unknown { name: String, known: String },
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

/// One scenario, loaded and checked.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// File name relative to the pack directory.
    pub file: String,
    pub sha256: String,
    pub spec: ScenarioFile,
    /// Compiled beside `spec.steps`, one per step.
    pub plan: Vec<PlanStep>,
    /// The key roles and inputs the check needs, known before it runs.
    pub needs: Requirements,
}

impl Scenario {
    /// `pack.check`: how reports, `--only` and progress name the check.
    pub fn check_id(&self, pack: &PackFile) -> String {
        format!("{}.{}", pack.name, self.spec.id)
    }

    /// The check's severity: the pack's override, else the scenario's own.
    pub fn severity(&self, pack: &PackFile) -> crate::vocab::Severity {
        pack.severities
            .get(&self.spec.id)
            .copied()
            .unwrap_or(self.spec.severity)
    }
}

/// A pack, loaded, validated, with its schemas compiled.
#[derive(Debug, Clone)]
pub struct Pack {
    pub file: PackFile,
    pub pack_sha256: String,
    pub scenarios: Vec<Scenario>,
    /// `embedded` or the directory it came from.
    pub source: String,
    pub schemas: SchemaSet,
}

/// Names of the embedded packs.
pub fn embedded_names() -> Vec<String> {
    let mut v: Vec<String> = EMBEDDED
        .dirs()
        .filter(|d| d.get_file(d.path().join("pack.yaml")).is_some())
        .map(|d| d.path().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

/// Loads an embedded pack by name.
pub fn load_embedded(name: &str) -> Result<Pack, PackError> {
    let dir = EMBEDDED.get_dir(name).ok_or_else(|| PackError::Unknown {
        name: name.to_string(),
        known: embedded_names().join(", "),
    })?;
    let mut files = Vec::new();
    for f in dir.files() {
        let fname = f
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        files.push((fname, f.contents().to_vec()));
    }
    let schemas = SchemaSet::embedded()?;
    build(&format!("scenarios/{name}"), "embedded", files, schemas)
}

/// Loads a pack from a directory holding `pack.yaml` and scenario files.
pub fn load_dir(dir: &Path) -> Result<Pack, PackError> {
    let io = |e| PackError::Io {
        path: dir.to_path_buf(),
        source: e,
    };
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io)? {
        let e = e.map_err(io)?;
        let p = e.path();
        if p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            let size = e.metadata().map_err(io)?.len();
            if size > MAX_FILE as u64 {
                return Err(invalid(
                    &p.display().to_string(),
                    None,
                    format!(
                        "the file is {size} bytes, more than golive reads ({} KiB)",
                        MAX_FILE / 1024
                    ),
                ));
            }
            let bytes = std::fs::read(&p).map_err(|e| PackError::Io {
                path: p.clone(),
                source: e,
            })?;
            files.push((e.file_name().to_string_lossy().to_string(), bytes));
        }
    }
    // `dir/` and `dir` name the same pack; no `dir//file` in messages.
    let shown = dir.display().to_string();
    let label = match shown.trim_end_matches('/') {
        "" => shown.clone(),
        l => l.to_string(),
    };
    let pack_text = files
        .iter()
        .find(|(n, _)| n == "pack.yaml")
        .map(|(_, b)| b.clone())
        .ok_or_else(|| PackError::Invalid {
            file: label.clone(),
            step: None,
            message: "no pack.yaml in this directory".into(),
        })?;
    // A pack may carry its own schemas; otherwise the embedded tree serves.
    let pack_file: PackFile = parse_yaml(&format!("{label}/pack.yaml"), &pack_text)?;
    let schemas = match &pack_file.schema_dir {
        Some(rel) => SchemaSet::from_dir(&dir.join(rel))?,
        None => SchemaSet::embedded()?,
    };
    build(&label, &label, files, schemas)
}

/// Loads `--pack` values: an embedded name or a directory.
pub fn load(name_or_dir: &str) -> Result<Pack, PackError> {
    let p = Path::new(name_or_dir);
    if p.is_dir() {
        load_dir(p)
    } else {
        load_embedded(name_or_dir)
    }
}

fn parse_yaml<T: serde::de::DeserializeOwned>(file: &str, bytes: &[u8]) -> Result<T, PackError> {
    text::check_text(file, bytes)?;
    serde_yaml_ng::from_slice(bytes).map_err(|e| explain_parse_error(file, bytes, &e))
}

/// Turns a serde error into one naming the step (`step 3 \`name\``) and,
/// for the untagged forms (auth, status, burst counts), the actual problem
/// instead of serde's "data did not match any variant".
fn explain_parse_error(file: &str, bytes: &[u8], e: &serde_yaml_ng::Error) -> PackError {
    let full = e.to_string();
    // serde_yaml_ng: "<path>: <problem> at line L column C" (the path is absent at the top level).
    let (path, rest) = match full.split_once(": ") {
        Some((p, r)) if !p.is_empty() && !p.contains(char::is_whitespace) => (p, r),
        _ => ("", full.as_str()),
    };
    let (problem, location) = match rest.find(" at line ") {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let doc: Option<serde_yaml_ng::Value> = serde_yaml_ng::from_slice(bytes).ok();
    let mut segs: Vec<String> = path_segments(path);
    // The step, from the path (`steps[2].request`) or, for a syntax error, from the line.
    let mut step = None;
    if segs.first().is_some_and(|s| s == "steps") && segs.len() >= 2 {
        if let Ok(i) = segs[1].parse::<usize>() {
            let name = doc.as_ref().and_then(|d| {
                d.get("steps")?
                    .get(i)?
                    .get("name")?
                    .as_str()
                    .map(str::to_string)
            });
            step = Some(label_of(i, name.as_deref()));
            segs.drain(..2);
        }
    } else if doc.is_none() {
        if let Some(loc) = e.location() {
            step = step_at_line(&String::from_utf8_lossy(bytes), loc.line());
        }
    }
    let parent = doc.as_ref().and_then(|d| lookup(d, path));
    let problem = match problem.strip_prefix("data did not match any variant of untagged enum ") {
        Some(which) => {
            explain_untagged(which.trim(), parent).unwrap_or_else(|| problem.to_string())
        }
        None => problem.to_string(),
    };
    let within = segs.join(".");
    let mut message = match (within.is_empty(), problem.strip_prefix('.')) {
        (true, Some(field_first)) => field_first.to_string(),
        (false, Some(field_first)) => format!("{within}.{field_first}"),
        (true, None) => problem,
        (false, None) => format!("{within}: {problem}"),
    };
    if doc.is_none() {
        message = format!("YAML syntax error: {full}");
        if !full.contains(" line ") {
            message.push_str(&match e.location() {
                Some(l) => format!(" (at line {} column {})", l.line(), l.column()),
                None => text::locate(&String::from_utf8_lossy(bytes), &full, bytes),
            });
        }
    } else if !location.is_empty() {
        message = format!("{message} ({location})");
    }
    match (step, doc.is_some()) {
        (None, false) => PackError::Parse {
            file: file.to_string(),
            message,
        },
        (step, _) => PackError::Invalid {
            file: file.to_string(),
            step,
            message,
        },
    }
}

fn label_of(index: usize, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("step {} `{n}`", index + 1),
        None => format!("step {}", index + 1),
    }
}

/// `steps[2].request.auth` → `["steps", "2", "request", "auth"]`.
fn path_segments(path: &str) -> Vec<String> {
    path.split('.')
        .filter(|s| !s.is_empty())
        .flat_map(|s| s.split(['[', ']']).filter(|x| !x.is_empty()))
        .map(str::to_string)
        .collect()
}

fn lookup<'a>(doc: &'a serde_yaml_ng::Value, path: &str) -> Option<&'a serde_yaml_ng::Value> {
    let mut v = doc;
    for s in path_segments(path) {
        v = match (v, s.parse::<usize>()) {
            (serde_yaml_ng::Value::Sequence(seq), Ok(i)) => seq.get(i)?,
            _ => v.get(s.as_str())?,
        };
    }
    Some(v)
}

/// A clear message for a field of an untagged type that matched no form,
/// starting with `.field: ` (the caller prefixes the path);
/// `parent` is the mapping holding the field.
fn explain_untagged(which: &str, parent: Option<&serde_yaml_ng::Value>) -> Option<String> {
    let parent = parent?;
    let show = |v: &serde_yaml_ng::Value| {
        serde_yaml_ng::to_string(v)
            .map(|s| s.trim().replace('\n', " "))
            .unwrap_or_default()
    };
    let bad = |field: &str, ok: &dyn Fn(&serde_yaml_ng::Value) -> bool| {
        parent
            .get(field)
            .filter(|v| !ok(v))
            .map(|v| (field.to_string(), v))
    };
    match which {
        "AuthSpec" => {
            let v = parent.get("auth")?;
            Some(if v.is_mapping() {
                match serde_yaml_ng::from_value::<AuthFull>(v.clone()) {
                    Err(e) => format!(".auth: {}", strip_location(&e.to_string())),
                    Ok(_) => return None,
                }
            } else {
                format!(
                    ".auth: `{}` is neither a key role (`valid`, `none`, `invalid`, …) nor {{ key, scheme, in_query }}",
                    show(v)
                )
            })
        }
        "NumSpec" => {
            let ok =
                |v: &serde_yaml_ng::Value| serde_yaml_ng::from_value::<NumSpec>(v.clone()).is_ok();
            let (field, v) = bad("count", &ok).or_else(|| bad("concurrency", &ok))?;
            Some(format!(
                ".{field}: `{}` is neither a number from 1 to {MAX_BURST} nor a template like \"{{{{burst_size}}}}\"",
                show(v)
            ))
        }
        "StatusSpec" | "StatusItem" => {
            let ok = |v: &serde_yaml_ng::Value| {
                serde_yaml_ng::from_value::<StatusSpec>(v.clone()).is_ok()
            };
            let (field, v) = bad("status", &ok).or_else(|| bad("some_status", &ok))?;
            Some(format!(
                ".{field}: `{}` is not a status (200), a class (\"2xx\") or a list of them",
                show(v)
            ))
        }
        _ => None,
    }
}

fn strip_location(msg: &str) -> &str {
    msg.find(" at line ").map(|i| &msg[..i]).unwrap_or(msg)
}

/// For a YAML syntax error, the step whose lines hold `line` (1-based), found
/// from the text alone: the items of the top-level `steps:` sequence.
fn step_at_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_end() == "steps:" || l.starts_with("steps: #"))?;
    if line <= start + 1 {
        return None;
    }
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut item_indent = None;
    let mut current: Option<(usize, Option<String>)> = None;
    let mut count = 0;
    for (n, l) in lines.iter().enumerate().skip(start + 1) {
        if n + 1 > line {
            break;
        }
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if indent(l) == 0 && !t.starts_with('-') {
            return None; // past the steps
        }
        let ii = *item_indent.get_or_insert(indent(l));
        if indent(l) == ii && (t == "-" || t.starts_with("- ")) {
            count += 1;
            let first = t.trim_start_matches('-').trim_start();
            current = Some((count, first.strip_prefix("name:").map(unquote)));
        } else if let Some((_, name @ None)) = current.as_mut() {
            if indent(l) == ii + 2 {
                *name = t.strip_prefix("name:").map(unquote);
            }
        }
    }
    current.map(|(i, name)| label_of(i - 1, name.as_deref()))
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .or_else(|| s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
        .unwrap_or(s)
        .to_string()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn build(
    label: &str,
    source: &str,
    mut files: Vec<(String, Vec<u8>)>,
    mut schemas: SchemaSet,
) -> Result<Pack, PackError> {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some((name, bytes)) = files.iter().find(|(_, b)| b.len() > MAX_FILE) {
        return Err(invalid(
            &format!("{label}/{name}"),
            None,
            format!(
                "the file is {} bytes, more than golive reads ({} KiB)",
                bytes.len(),
                MAX_FILE / 1024
            ),
        ));
    }
    let (_, pack_bytes) = files
        .iter()
        .find(|(n, _)| n == "pack.yaml")
        .ok_or_else(|| PackError::Invalid {
            file: label.to_string(),
            step: None,
            message: "no pack.yaml".into(),
        })?;
    let pack_name = format!("{label}/pack.yaml");
    let pack: PackFile = parse_yaml(&pack_name, pack_bytes)?;
    let pack_sha256 = sha256_hex(pack_bytes);
    validate_pack(&pack_name, &pack, &mut schemas)?;
    if let Some(spec) = &pack.load {
        load::validate_load(&pack_name, &pack, spec)?;
    }

    let mut scenarios = Vec::new();
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    for (fname, bytes) in &files {
        if fname == "pack.yaml" || !(fname.ends_with(".yaml") || fname.ends_with(".yml")) {
            continue;
        }
        let full = format!("{label}/{fname}");
        let (spec, plan) = compile_scenario(&full, &pack, bytes)?;
        if let Some(other) = ids.insert(spec.id.clone(), fname.clone()) {
            return Err(PackError::Invalid {
                file: full,
                step: None,
                message: format!(
                    "check id `{}` is already used by {other}; check ids are unique within a pack",
                    spec.id
                ),
            });
        }
        scenarios.push(Scenario {
            file: fname.clone(),
            sha256: sha256_hex(bytes),
            needs: Requirements::of(&spec),
            spec,
            plan,
        });
    }
    for id in pack.severities.keys() {
        if !ids.contains_key(id) {
            return Err(PackError::Invalid {
                file: pack_name,
                step: None,
                message: format!("`severities` names check `{id}`, which no scenario defines"),
            });
        }
    }
    if scenarios.is_empty() {
        return Err(PackError::Invalid {
            file: label.to_string(),
            step: None,
            message: "the pack has no scenario files".into(),
        });
    }
    Ok(Pack {
        file: pack,
        pack_sha256,
        scenarios,
        source: source.to_string(),
        schemas,
    })
}

/// Why a header (name, value) cannot be sent as written: a name that is not a
/// token, or a value with a control character (CR/LF would split the header).
pub fn header_problem(name: &str, value: &str) -> Option<String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Some(format!("`{}` is not a header name", name.escape_debug()));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Some(format!(
            "the value of `{name}` holds a control character (CR/LF would split the header): `{}`",
            value.escape_debug()
        ));
    }
    None
}

/// The largest pack or scenario file golive reads.
pub const MAX_FILE: usize = 1024 * 1024;

/// One scenario file (`file` names it in errors) read and checked against a pack.
pub fn scenario_file(file: &str, pack: &PackFile, bytes: &[u8]) -> Result<ScenarioFile, PackError> {
    compile_scenario(file, pack, bytes).map(|(spec, _)| spec)
}

/// Parses, validates and compiles one scenario file against a loaded pack.
pub fn compile_scenario(
    file: &str,
    pack: &PackFile,
    bytes: &[u8],
) -> Result<(ScenarioFile, Vec<PlanStep>), PackError> {
    let spec: ScenarioFile = parse_yaml(file, bytes)?;
    if let Ok(doc) = serde_yaml_ng::from_slice::<serde_yaml_ng::Value>(bytes) {
        check_matchers(file, &doc)?;
    }
    let plan = validate_scenario(file, pack, &spec)?;
    Ok((spec, plan))
}

/// Builds a pack from its files (name, bytes) with the embedded schemas, as
/// `load_dir` would from a directory labelled `label`.
pub fn from_files(label: &str, files: Vec<(String, Vec<u8>)>) -> Result<Pack, PackError> {
    build(label, label, files, SchemaSet::embedded()?)
}

/// A step's display name: its `name`, or `step N`.
pub fn step_label(index: usize, step: &Step) -> String {
    match &step.name {
        Some(n) => format!("step {} `{n}`", index + 1),
        None => format!("step {}", index + 1),
    }
}

/// Whether `status` matches `"429"` or `"2xx"`; errors on a malformed pattern.
pub fn status_item_matches(pattern: &str, status: u16) -> Result<bool, String> {
    StatusPattern::parse(pattern).map(|p| p.matches(status))
}

impl StatusSpec {
    pub fn matches(&self, status: u16) -> bool {
        let one = |i: &StatusItem| match i {
            StatusItem::Code(c) => *c == status,
            StatusItem::Class(c) => status_item_matches(c, status).unwrap_or(false),
        };
        match self {
            StatusSpec::One(i) => one(i),
            StatusSpec::Many(v) => v.iter().any(one),
        }
    }
    pub fn describe(&self) -> String {
        let one = |i: &StatusItem| match i {
            StatusItem::Code(c) => c.to_string(),
            StatusItem::Class(c) => c.clone(),
        };
        match self {
            StatusSpec::One(i) => one(i),
            StatusSpec::Many(v) => v.iter().map(one).collect::<Vec<_>>().join(" or "),
        }
    }
}

/// `{name}` placeholders of an endpoint path.
pub fn path_params(path: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = path;
    while let Some(s) = rest.find('{') {
        let after = &rest[s + 1..];
        match after.find('}') {
            Some(e) => {
                if !after[..e].starts_with('{') {
                    out.push(after[..e].to_string());
                }
                rest = &after[e + 1..];
            }
            None => break,
        }
    }
    out
}

/// Validates packs at `path`: a pack directory, a single scenario file (its
/// directory's pack.yaml is read), or a folder of pack directories.
/// Returns one line per pack loaded.
pub fn validate_path(path: &Path) -> Result<Vec<String>, Vec<PackError>> {
    let describe = |p: &Pack| {
        format!(
            "{}: pack `{}` {} — {} scenario(s) valid",
            p.source,
            p.file.name,
            p.file.version,
            p.scenarios.len()
        )
    };
    if path.is_file() {
        let dir = path.parent().unwrap_or(Path::new("."));
        return load_dir(dir)
            .map(|p| vec![describe(&p)])
            .map_err(|e| vec![e]);
    }
    if path.join("pack.yaml").is_file() {
        return load_dir(path)
            .map(|p| vec![describe(&p)])
            .map_err(|e| vec![e]);
    }
    let mut ok = vec![];
    let mut errs = vec![];
    let entries = match std::fs::read_dir(path) {
        Ok(e) => e,
        Err(e) => {
            return Err(vec![PackError::Io {
                path: path.to_path_buf(),
                source: e,
            }]);
        }
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("pack.yaml").is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        return Err(vec![invalid(
            &path.display().to_string(),
            None,
            "no pack.yaml here or in any sub-directory",
        )]);
    }
    for d in dirs {
        match load_dir(&d) {
            Ok(p) => ok.push(describe(&p)),
            Err(e) => errs.push(e),
        }
    }
    if errs.is_empty() { Ok(ok) } else { Err(errs) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_patterns() {
        assert!(status_item_matches("2xx", 204).unwrap());
        assert!(!status_item_matches("2xx", 429).unwrap());
        assert!(status_item_matches("429", 429).unwrap());
        assert!(status_item_matches("9xx", 200).is_err());
        assert!(status_item_matches("abc", 200).is_err());
    }

    #[test]
    fn syntax_errors_find_their_step_from_the_text() {
        let text = "id: a\nsteps:\n  - name: one\n    wait: 1s\n  # a comment\n  - wait: 2s\n    name: \"two\"\n    expect: {\n  - wait: 3s\nafter: x\n";
        assert_eq!(step_at_line(text, 1), None);
        assert_eq!(step_at_line(text, 4).as_deref(), Some("step 1 `one`"));
        assert_eq!(step_at_line(text, 8).as_deref(), Some("step 2 `two`"));
        assert_eq!(step_at_line(text, 9).as_deref(), Some("step 3"));
        assert_eq!(step_at_line(text, 10), None);
    }

    #[test]
    fn path_placeholders() {
        assert_eq!(path_params("/v1/jobs/{id}/start"), vec!["id"]);
        assert!(path_params("/health").is_empty());
    }

    #[test]
    fn every_embedded_pack_loads() {
        let names = embedded_names();
        assert!(names.contains(&"removit".to_string()), "{names:?}");
        assert!(names.contains(&"removebgvideo".to_string()), "{names:?}");
        for n in names {
            let p = load_embedded(&n).unwrap_or_else(|e| panic!("{e}"));
            assert!(!p.scenarios.is_empty());
        }
    }
}
