//! Packs and scenarios: the API knowledge as data. Loading, embedding and
//! validation; the format itself is in [`model`].

pub mod expr;
pub mod load;
pub mod model;
pub mod plan;
pub mod slo;
pub mod template;
mod text;
pub use text::MAX_NESTING;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};
use sha2::{Digest, Sha256};

pub use model::*;
pub use plan::{Action, ForEach};

use crate::report::Basis;
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
}

impl Scenario {
    /// The check's severity: the pack's override, else the scenario's own.
    pub fn severity(&self, pack: &PackFile) -> crate::report::Severity {
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
        let spec = scenario_file(&full, &pack, bytes)?;
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
            spec,
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
    let spec: ScenarioFile = parse_yaml(file, bytes)?;
    if let Ok(doc) = serde_yaml_ng::from_slice::<serde_yaml_ng::Value>(bytes) {
        check_matchers(file, &doc)?;
    }
    validate_scenario(file, pack, &spec)?;
    Ok(spec)
}

/// Builds a pack from its files (name, bytes) with the embedded schemas, as
/// `load_dir` would from a directory labelled `label`.
pub fn from_files(label: &str, files: Vec<(String, Vec<u8>)>) -> Result<Pack, PackError> {
    build(label, label, files, SchemaSet::embedded()?)
}

fn invalid(file: &str, step: Option<String>, message: impl Into<String>) -> PackError {
    PackError::Invalid {
        file: file.to_string(),
        step,
        message: message.into(),
    }
}

fn validate_pack(file: &str, pack: &PackFile, schemas: &mut SchemaSet) -> Result<(), PackError> {
    if !pack.auth.schemes.contains_key(&pack.auth.default) {
        return Err(invalid(
            file,
            None,
            format!(
                "auth.default `{}` is not one of auth.schemes",
                pack.auth.default
            ),
        ));
    }
    for (name, s) in &pack.auth.schemes {
        if !s.value.contains("{key}") {
            return Err(invalid(
                file,
                None,
                format!("auth scheme `{name}`: value must contain `{{key}}`"),
            ));
        }
    }
    if !pack.keys.contains_key("valid") {
        return Err(invalid(
            file,
            None,
            "keys: the `valid` role (a key with credits) is required",
        ));
    }
    schemas
        .compile(&pack.errors.schema)
        .map_err(|e| invalid(file, None, format!("errors.schema: {e}")))?;
    for (id, ep) in &pack.endpoints {
        let m = ep.method.to_ascii_uppercase();
        if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].contains(&m.as_str()) {
            return Err(invalid(
                file,
                None,
                format!("endpoint `{id}`: unknown method `{}`", ep.method),
            ));
        }
        if !ep.path.starts_with('/') {
            return Err(invalid(
                file,
                None,
                format!("endpoint `{id}`: path must start with `/`"),
            ));
        }
        for (status, schema) in &ep.responses {
            if status
                .parse::<u16>()
                .map(|s| !(100..600).contains(&s))
                .unwrap_or(true)
            {
                return Err(invalid(
                    file,
                    None,
                    format!("endpoint `{id}`: `{status}` is not an HTTP status"),
                ));
            }
            if schema != NO_SCHEMA {
                schemas.compile(schema).map_err(|e| {
                    invalid(file, None, format!("endpoint `{id}` status {status}: {e}"))
                })?;
            }
        }
    }
    if let Some(k) = pack.facts.keys().find(|k| pack.inputs.contains_key(*k)) {
        return Err(invalid(
            file,
            None,
            format!("facts: `{k}` is also an input; a documented fact is not a knob"),
        ));
    }
    if pack.fake.is_none() && !pack.fake_inputs.is_empty() {
        return Err(invalid(
            file,
            None,
            "fake_inputs: given, but no `fake:` names the built-in fake they are for",
        ));
    }
    for k in pack.fake_inputs.keys() {
        if !pack.inputs.contains_key(k) {
            return Err(invalid(
                file,
                None,
                format!("fake_inputs: `{k}` is not one of the pack's inputs"),
            ));
        }
    }
    if let Some(jobs) = &pack.jobs {
        for s in jobs.success.iter().chain(&jobs.failure) {
            if !jobs.terminal.contains(s) {
                return Err(invalid(
                    file,
                    None,
                    format!("jobs: `{s}` is a success/failure state but not terminal"),
                ));
            }
        }
        for d in [
            &jobs.poll.interval,
            &jobs.poll.max_interval,
            &jobs.poll.deadline,
        ] {
            check_duration(d).map_err(|e| invalid(file, None, format!("jobs.poll: {e}")))?;
        }
    }
    if let Some(slow) = &pack.slow_target {
        check_duration(&slow.slower_than)
            .map_err(|e| invalid(file, None, format!("slow_target.slower_than: {e}")))?;
        if let Some(n) = template::names(&slow.slower_than)
            .into_iter()
            .find(|n| !pack.inputs.contains_key(n) && !pack.facts.contains_key(n))
        {
            return Err(invalid(
                file,
                None,
                format!("slow_target.slower_than: `{{{{{n}}}}}` is not one of the pack's inputs"),
            ));
        }
    }
    Ok(())
}

fn check_duration(s: &str) -> Result<(), String> {
    if template::names(s).is_empty() {
        template::parse_duration(s).map(|_| ())
    } else {
        Ok(())
    }
}

struct Ctx<'a> {
    file: &'a str,
    pack: &'a PackFile,
    defined: BTreeSet<String>,
    request_steps: BTreeSet<String>,
    /// The check's basis, for expectations that name none.
    basis: Basis,
}

/// A warning says "the API does not offer this convention": a documented
/// rule is never merely a warning.
fn check_warn_basis(
    cx: &Ctx,
    label: &str,
    what: &str,
    level: Level,
    basis: Option<Basis>,
) -> Result<(), PackError> {
    if level == Level::Warn && basis.unwrap_or(cx.basis) == Basis::Doc {
        return Err(cx.err(
            label,
            format!(
                "{what}: `level: warn` rests on `basis: doc`; a documented rule broken is a failure (a warning is for a `conv` feature the API does not offer: add `basis: conv`)"
            ),
        ));
    }
    Ok(())
}

impl Ctx<'_> {
    fn err(&self, step: &str, msg: impl Into<String>) -> PackError {
        invalid(self.file, Some(step.to_string()), msg)
    }
    fn uses(&self, step: &str, names: Vec<String>) -> Result<(), PackError> {
        for n in names {
            if !self.defined.contains(&n) && !BUILTINS.contains(&n.as_str()) {
                return Err(self.err(
                    step,
                    format!(
                        "`{{{{{n}}}}}` is neither a pack input nor captured by an earlier step"
                    ),
                ));
            }
        }
        Ok(())
    }
    fn uses_str(&self, step: &str, s: &str) -> Result<(), PackError> {
        self.uses(step, template::names(s))
    }
}

/// A step's display name: its `name`, or `step N`.
pub fn step_label(index: usize, step: &Step) -> String {
    match &step.name {
        Some(n) => format!("step {} `{n}`", index + 1),
        None => format!("step {}", index + 1),
    }
}

fn validate_scenario(file: &str, pack: &PackFile, sc: &ScenarioFile) -> Result<(), PackError> {
    if sc.id.trim().is_empty() || sc.id.contains(char::is_whitespace) {
        return Err(invalid(
            file,
            None,
            "`id` must be a non-empty word like `auth.missing_key`",
        ));
    }
    if sc.steps.is_empty() {
        return Err(invalid(file, None, "a scenario needs at least one step"));
    }
    if let Some(d) = &sc.deadline {
        check_duration(d).map_err(|e| invalid(file, None, format!("deadline: {e}")))?;
    }
    let mut cx = Ctx {
        file,
        pack,
        defined: pack
            .inputs
            .keys()
            .chain(pack.facts.keys())
            .cloned()
            .collect(),
        request_steps: BTreeSet::new(),
        basis: sc.basis.unwrap_or(Basis::Doc),
    };
    let mut names_seen = BTreeSet::new();
    for (i, step) in sc.steps.iter().enumerate() {
        let label = step_label(i, step);
        if let Some(n) = &step.name {
            if !names_seen.insert(n.clone()) {
                return Err(cx.err(&label, "another step has the same name"));
            }
        }
        validate_step(&mut cx, &label, step)?;
    }
    Ok(())
}

fn validate_step(cx: &mut Ctx, label: &str, step: &Step) -> Result<(), PackError> {
    step.action().map_err(|e| cx.err(label, e))?;
    if let Some(w) = &step.when {
        let e = expr::parse(w).map_err(|e| cx.err(label, format!("when: {e}")))?;
        let mut v = vec![];
        e.vars(&mut v);
        cx.uses(label, v)?;
    }
    let mut is_request = false;
    if let Some(r) = &step.request {
        validate_request(cx, label, r, step.for_each.is_some())?;
        is_request = true;
    }
    if let Some(p) = &step.poll {
        if cx.pack.jobs.is_none() {
            return Err(cx.err(
                label,
                "poll needs the pack's `jobs` section (status pointer, terminal states)",
            ));
        }
        validate_request(cx, label, &p.request, false)?;
        for d in [&p.interval, &p.max_interval, &p.deadline]
            .into_iter()
            .flatten()
        {
            check_duration(d).map_err(|e| cx.err(label, format!("poll: {e}")))?;
            cx.uses_str(label, d)?;
        }
        if let Some(b) = p.backoff {
            if !(1.0..=10.0).contains(&b) {
                return Err(cx.err(label, "poll.backoff must be between 1 and 10"));
            }
        }
        is_request = true;
    }
    if let Some(b) = &step.burst {
        validate_request(cx, label, &b.request, false)?;
        for (what, n) in [
            ("count", Some(&b.count)),
            ("concurrency", b.concurrency.as_ref()),
        ] {
            match n {
                Some(NumSpec::Num(n)) if *n == 0 || *n > MAX_BURST => {
                    return Err(cx.err(
                        label,
                        format!("burst.{what} must be between 1 and {MAX_BURST}"),
                    ));
                }
                Some(NumSpec::Template(t)) => cx.uses_str(label, t)?,
                _ => {}
            }
        }
    }
    if let Some(r) = &step.repeat {
        if !cx.request_steps.contains(r) {
            return Err(cx.err(
                label,
                format!("repeat: no earlier request step is named `{r}`"),
            ));
        }
        is_request = true;
    }
    if let Some(w) = &step.wait {
        check_duration(w).map_err(|e| cx.err(label, format!("wait: {e}")))?;
        cx.uses_str(label, w)?;
    }
    if let Some(asserts) = &step.assert {
        if asserts.is_empty() {
            return Err(cx.err(label, "assert needs at least one expression"));
        }
        for a in asserts {
            let e = expr::parse(&a.expr)
                .map_err(|e| cx.err(label, format!("assert `{}`: {e}", a.expr)))?;
            let mut v = vec![];
            e.vars(&mut v);
            cx.uses(label, v)?;
            check_warn_basis(cx, label, &format!("assert `{}`", a.expr), a.level, a.basis)?;
            for text in std::iter::once(&a.message).chain(a.advice.as_ref()) {
                cx.uses_str(label, text)?;
            }
        }
    }
    if let Some(ex) = &step.expect {
        if step.wait.is_some() || step.assert.is_some() {
            return Err(cx.err(label, "expect goes with a request, poll, burst or repeat"));
        }
        validate_expect(cx, label, ex, step.burst.is_some())?;
    }
    for (name, src) in &step.capture {
        if step.wait.is_some() || step.assert.is_some() {
            return Err(cx.err(label, "capture goes with a request, poll, burst or repeat"));
        }
        validate_capture(src, step.burst.is_some())
            .map_err(|e| cx.err(label, format!("capture `{name}`: {e}")))?;
    }
    for name in step.capture.keys() {
        cx.defined.insert(name.clone());
    }
    if is_request {
        if let Some(n) = &step.name {
            cx.request_steps.insert(n.clone());
        }
    }
    Ok(())
}

fn validate_request(
    cx: &Ctx,
    label: &str,
    r: &RequestSpec,
    for_each: bool,
) -> Result<(), PackError> {
    match (&r.endpoint, &r.method, &r.path) {
        (Some(ep), None, None) => {
            let templated = !template::names(ep).is_empty();
            if templated && !for_each {
                cx.uses_str(label, ep)?;
            }
            if !templated && !cx.pack.endpoints.contains_key(ep) {
                return Err(cx.err(
                    label,
                    format!(
                        "request.endpoint `{ep}` is not in the pack (known: {})",
                        cx.pack
                            .endpoints
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if let Some(e) = cx.pack.endpoints.get(ep) {
                for p in path_params(&e.path) {
                    if !r.params.contains_key(&p) && !e.sample.contains_key(&p) {
                        return Err(cx.err(
                            label,
                            format!("request.params: `{p}` is needed by `{}`", e.path),
                        ));
                    }
                }
            }
        }
        (None, Some(m), Some(p)) => {
            if m.trim().is_empty() || !p.starts_with('/') {
                return Err(cx.err(
                    label,
                    "request.method must be set and request.path must start with `/`",
                ));
            }
            cx.uses_str(label, p)?;
        }
        (None, None, None) if for_each => {}
        _ => {
            return Err(cx.err(
                label,
                "a request names either `endpoint` (from the pack) or both `method` and `path`",
            ));
        }
    }
    for v in r
        .params
        .values()
        .chain(r.query.values())
        .chain(r.headers.values())
    {
        cx.uses_str(label, v)?;
    }
    for (k, v) in &r.headers {
        if let Some(why) = header_problem(k, v) {
            return Err(cx.err(label, format!("request.headers: {why}")));
        }
    }
    let bodies = [r.json.is_some(), r.multipart.is_some(), r.body.is_some()];
    if bodies.iter().filter(|b| **b).count() > 1 {
        return Err(cx.err(label, "a request has at most one of json, multipart, body"));
    }
    if let Some(j) = &r.json {
        let mut v = vec![];
        template::names_in_value(j, &mut v);
        cx.uses(label, v)?;
    }
    if let Some(b) = &r.body {
        cx.uses_str(label, b)?;
    }
    if let Some(mp) = &r.multipart {
        for v in mp.fields.values() {
            cx.uses_str(label, v)?;
        }
        for f in &mp.files {
            if f.size.is_some() == f.content.is_some() {
                return Err(cx.err(
                    label,
                    format!(
                        "multipart file `{}`: give exactly one of size, content",
                        f.name
                    ),
                ));
            }
            cx.uses_str(label, &f.filename)?;
        }
    }
    if let Some(t) = &r.timeout {
        check_duration(t).map_err(|e| cx.err(label, format!("request.timeout: {e}")))?;
    }
    if let Some(a) = &r.auth {
        let (role, scheme, in_query) = match a {
            AuthSpec::Role(r) => (r.as_str(), None, false),
            AuthSpec::Full(f) => (f.key.as_str(), f.scheme.as_deref(), f.in_query),
        };
        if !matches!(role, "none" | "invalid") && !cx.pack.keys.contains_key(role) {
            return Err(cx.err(
                label,
                format!(
                    "auth: `{role}` is not a key role of the pack (roles: none, invalid, {})",
                    cx.pack.keys.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        if let Some(s) = scheme {
            if !cx.pack.auth.schemes.contains_key(s) {
                return Err(cx.err(
                    label,
                    format!("auth.scheme `{s}` is not in the pack's auth.schemes"),
                ));
            }
        }
        if in_query && cx.pack.auth.query_param.is_none() {
            return Err(cx.err(label, "auth.in_query needs the pack's auth.query_param"));
        }
    }
    Ok(())
}

fn validate_expect(cx: &Ctx, label: &str, ex: &Expect, burst: bool) -> Result<(), PackError> {
    check_warn_basis(cx, label, "expect", ex.level, ex.basis)?;
    for (k, spec) in ex.json.iter().chain(&ex.headers) {
        let list: Vec<&Matcher> = match spec {
            MatchSpec::One(m) => vec![m],
            MatchSpec::Many(ms) => ms.iter().collect(),
            MatchSpec::Equals(_) => vec![],
        };
        for m in list {
            let level = m.level.unwrap_or(ex.level);
            check_warn_basis(
                cx,
                label,
                &format!("expect `{k}`"),
                level,
                m.basis.or(ex.basis),
            )?;
        }
    }
    if let Some(s) = &ex.status {
        check_status_spec(s).map_err(|e| cx.err(label, format!("expect.status: {e}")))?;
    }
    if (ex.some_status.is_some() || !ex.each.is_empty()) && !burst {
        return Err(cx.err(label, "expect.some_status and expect.each go with burst"));
    }
    if let Some(s) = &ex.some_status {
        check_status_spec(s).map_err(|e| cx.err(label, format!("expect.some_status: {e}")))?;
    }
    for (k, sub) in &ex.each {
        status_item_matches(k, 200)
            .map_err(|e| cx.err(label, format!("expect.each `{k}`: {e}")))?;
        validate_expect(cx, label, sub, false)?;
    }
    for p in ex.json.keys() {
        if !(p.is_empty() || p.starts_with('/')) {
            return Err(cx.err(
                label,
                format!("expect.json: `{p}` is not a JSON pointer (start with `/`)"),
            ));
        }
    }
    for m in ex.json.values().chain(ex.headers.values()) {
        let mut v = vec![];
        match m {
            MatchSpec::Equals(x) => template::names_in_value(x, &mut v),
            MatchSpec::One(m) => matcher_names(m, &mut v),
            MatchSpec::Many(ms) => ms.iter().for_each(|m| matcher_names(m, &mut v)),
        }
        cx.uses(label, v)?;
    }
    if let Some(w) = &ex.within {
        check_duration(w).map_err(|e| cx.err(label, format!("expect.within: {e}")))?;
        cx.uses_str(label, w)?;
    }
    Ok(())
}

/// Matcher fields: an object using one is meant as a matcher.
const MATCHER_FIELDS: [&str; 13] = [
    "eq", "ne", "present", "one_of", "gte", "lte", "gt", "lt", "prefix", "contains", "type",
    "optional", "state",
];

/// serde reads a list of matchers with a typo as one matcher filled by
/// position (`[{ present: true, mesage: … }]` becomes `eq: {…}`), and an
/// object with a typo as a value to compare with. So, on the raw YAML: a list
/// must be a list of matchers, and an object using a matcher field must be a
/// valid matcher; anything else is a value to compare with.
fn check_matchers(file: &str, doc: &serde_yaml_ng::Value) -> Result<(), PackError> {
    let Some(steps) = doc.get("steps").and_then(|s| s.as_sequence()) else {
        return Ok(());
    };
    for (i, step) in steps.iter().enumerate() {
        if let Some(ex) = step.get("expect") {
            check_expect_matchers(ex, "expect").map_err(|m| {
                let name = step.get("name").and_then(|n| n.as_str());
                invalid(file, Some(label_of(i, name)), m)
            })?;
        }
    }
    Ok(())
}

fn check_expect_matchers(ex: &serde_yaml_ng::Value, at: &str) -> Result<(), String> {
    for what in ["headers", "json"] {
        let Some(map) = ex.get(what).and_then(|m| m.as_mapping()) else {
            continue;
        };
        for (k, v) in map {
            let key = k.as_str().unwrap_or("?");
            check_match_value(v).map_err(|e| format!("{at}.{what} `{key}`: {e}"))?;
        }
    }
    if let Some(each) = ex.get("each").and_then(|m| m.as_mapping()) {
        for (k, sub) in each {
            let key = k
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| k.as_u64().map(|n| n.to_string()).unwrap_or_default());
            check_expect_matchers(sub, &format!("{at}.each `{key}`"))?;
        }
    }
    Ok(())
}

fn check_match_value(v: &serde_yaml_ng::Value) -> Result<(), String> {
    let meant = |x: &serde_yaml_ng::Value| {
        x.as_mapping().is_some_and(|m| {
            m.keys()
                .any(|k| k.as_str().is_some_and(|k| MATCHER_FIELDS.contains(&k)))
        })
    };
    if v.is_sequence() {
        return serde_yaml_ng::from_value::<Vec<Matcher>>(v.clone())
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "a list here is a list of matchers, and this one is not: {}; to compare with a list write `{{ eq: [...] }}`",
                    strip_location(&e.to_string())
                )
            });
    }
    if meant(v) {
        return serde_yaml_ng::from_value::<Matcher>(v.clone())
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "{} (an object with matcher fields is a matcher; to compare with such an object write `{{ eq: {{...}} }}`)",
                    strip_location(&e.to_string())
                )
            });
    }
    Ok(())
}

fn matcher_names(m: &Matcher, out: &mut Vec<String>) {
    for v in [&m.eq, &m.ne].into_iter().flatten() {
        template::names_in_value(v, out);
    }
    if let Some(list) = &m.one_of {
        list.iter().for_each(|v| template::names_in_value(v, out));
    }
}

fn check_status_spec(s: &StatusSpec) -> Result<(), String> {
    let items: Vec<&StatusItem> = match s {
        StatusSpec::One(i) => vec![i],
        StatusSpec::Many(v) => v.iter().collect(),
    };
    for i in items {
        match i {
            StatusItem::Code(c) if (100..600).contains(c) => {}
            StatusItem::Code(c) => return Err(format!("{c} is not an HTTP status")),
            StatusItem::Class(c) => {
                status_item_matches(c, 200)?;
            }
        }
    }
    Ok(())
}

/// Whether `status` matches `"429"` or `"2xx"`; errors on a malformed pattern.
pub fn status_item_matches(pattern: &str, status: u16) -> Result<bool, String> {
    let p = pattern.trim().to_ascii_lowercase();
    if let Some(class) = p.strip_suffix("xx") {
        let d: u16 = class
            .parse()
            .ok()
            .filter(|d| (1..=5).contains(d))
            .ok_or_else(|| format!("`{pattern}` is not a status class like 2xx"))?;
        return Ok(status / 100 == d);
    }
    let c: u16 = p
        .parse()
        .map_err(|_| format!("`{pattern}` is not a status or class"))?;
    Ok(c == status)
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

/// Capture sources: `body:/ptr`, `header:Name`, `status`, `request_id`,
/// `duration_ms`; bursts add `count:<status>`, `first:<status>:…`,
/// `max:<status>:header:Name`, `distinct:<status>:body:/ptr`.
fn validate_capture(src: &str, burst: bool) -> Result<(), String> {
    let simple = |s: &str| -> Result<(), String> {
        if matches!(s, "status" | "request_id" | "duration_ms" | "body") {
            return Ok(());
        }
        if let Some(p) = s.strip_prefix("body:") {
            if p.is_empty() || p.starts_with('/') {
                return Ok(());
            }
            return Err(format!("`{s}`: body pointers start with `/`"));
        }
        if s.strip_prefix("header:").is_some_and(|h| !h.is_empty()) {
            return Ok(());
        }
        Err(format!(
            "`{s}` is not a capture source (body:/ptr, header:Name, status, request_id, duration_ms)"
        ))
    };
    if !burst {
        return simple(src);
    }
    let (agg, rest) = src.split_once(':').unwrap_or((src, ""));
    match agg {
        "count" => status_item_matches(rest, 200).map(|_| ()),
        "first" | "max" | "distinct" | "all" => {
            let (st, inner) = rest
                .split_once(':')
                .ok_or_else(|| format!("`{src}`: expected `{agg}:<status>:<source>`"))?;
            status_item_matches(st, 200)?;
            simple(inner)
        }
        _ => Err(format!(
            "`{src}`: burst captures are count:<status>, first|max|distinct|all:<status>:<source>"
        )),
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

/// Inputs of a pack with `--var` overrides applied (values parsed as YAML
/// scalars, so `--var n=3` is a number).
pub fn inputs_with(
    pack: &PackFile,
    fake: bool,
    vars: &BTreeMap<String, String>,
) -> BTreeMap<String, serde_json::Value> {
    let mut m: BTreeMap<String, serde_json::Value> = pack
        .facts
        .iter()
        .map(|(k, f)| (k.clone(), f.value.clone()))
        .collect();
    m.extend(pack.inputs.clone());
    if fake {
        m.extend(pack.fake_inputs.clone());
    }
    for (k, v) in vars {
        let val = serde_yaml_ng::from_str::<serde_json::Value>(v)
            .ok()
            .filter(|x| !x.is_object() && !x.is_array())
            .unwrap_or_else(|| serde_json::Value::String(v.clone()));
        m.insert(k.clone(), val);
    }
    m
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
