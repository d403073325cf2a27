//! The pack and scenario format: `schemas/scenario.schema.json` and the serde
//! model (`src/pack/model.rs`) stay in step, every shipped YAML validates
//! against the schema, broken files are refused by both the schema and
//! `golive validate`, and the refusals name the file, the step and the problem.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use golive::pack::{PackFile, ScenarioFile};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn golive() -> Command {
    Command::new(env!("CARGO_BIN_EXE_golive"))
}

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("schemas/scenario.schema.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).expect("scenario.schema.json is JSON");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&doc)
        .expect("scenario.schema.json compiles")
}

fn yaml_to_json(text: &str) -> Value {
    serde_yaml_ng::from_str(text).expect("YAML")
}

/// Schema violations of a document, as readable lines (empty: valid).
fn violations(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

fn shipped_yaml() -> Vec<PathBuf> {
    let mut files = vec![];
    yaml_files(&root().join("scenarios"), &mut files);
    yaml_files(&root().join("examples/removebg"), &mut files);
    files
}

const MODELINE: &str = "# yaml-language-server: $schema=../../schemas/scenario.schema.json";

#[test]
fn every_shipped_yaml_validates_against_the_schema() {
    let v = schema();
    let files = shipped_yaml();
    assert!(files.len() > 40, "found only {} files", files.len());
    let mut bad = vec![];
    for f in &files {
        let doc = yaml_to_json(&std::fs::read_to_string(f).unwrap());
        for e in violations(&v, &doc) {
            bad.push(format!("{}: {e}", f.display()));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn every_shipped_yaml_names_the_schema_on_its_first_line() {
    for f in shipped_yaml() {
        let text = std::fs::read_to_string(&f).unwrap();
        assert_eq!(text.lines().next(), Some(MODELINE), "{}", f.display());
        // And the modeline's relative path really reaches the schema.
        let target = f
            .parent()
            .unwrap()
            .join(MODELINE.split_once("$schema=").unwrap().1);
        assert!(target.is_file(), "{} → {}", f.display(), target.display());
    }
}

/// A pack and a scenario that between them use every field of the model.
const KITCHEN_PACK: &str = r#"
name: sink
version: "1"
title: Every field
base_url: https://api.example.com
fake: removit
auth:
  schemes:
    key: { header: X-Key, value: "{key}" }
  default: key
  query_param: api_key
keys: { valid: K, other: K2 }
request_id: { header: X-Request-Id, error_pointer: /error/request_id }
errors: { content_type: application/json, schema: sink/error.json }
endpoints:
  get:
    method: GET
    path: /v1/things/{id}
    auth: true
    sample: { id: t1 }
    responses: { "200": sink/thing.json }
jobs:
  status: /status
  progress: /progress
  terminal: [done, failed]
  success: [done]
  failure: [failed]
  poll: { interval: 1s, backoff: 1.5, max_interval: 2s, deadline: 10s }
inputs: { n: 3 }
facts: { rate: { value: 60, basis: doc, source: "api-contract.md › Credits [doc rates]" } }
fake_inputs: { n: 1 }
severities: { sink.all: advisory }
schema_dir: schemas
preflight:
  endpoint: get
  params: { id: x }
  query: { q: "1" }
  auth: { key: valid, scheme: key, in_query: false }
  headers: { X-A: b }
  json: { a: 1 }
  content_type: application/json
  timeout: 5s
load:
  mix:
    - name: make
      weight: 2
      request: { endpoint: get }
      capture: { made: body:/id }
      cost: 1.5
    - name: read
      request: { endpoint: get, params: { id: "{{made}}" } }
  slo: ["p95<800ms", "read:errors<1%"]
  usage: { request: { endpoint: get }, credits_used: /used }
"#;

const KITCHEN_SCENARIO: &str = r#"
id: sink.all
family: rate_limit
title: Every field
severity: advisory
description: all of them
collect_schema_findings: true
collect_request_ids: { level: warn, advice: log it }
deadline: 30s
steps:
  - name: plain
    when: "n > 0"
    request:
      method: POST
      path: /v1/upload
      multipart:
        fields: { a: b }
        files: [{ name: file, filename: a.png, content_type: image/png, size: 10 }]
    expect:
      status: [200, "2xx"]
      headers:
        X-A: { eq: a, ne: b, present: true, one_of: [a], gte: 1, lte: 2, gt: 0, lt: 3, prefix: a, contains: a, type: string, optional: true, level: warn, advice: x, message: y }
      json: { /a: 1 }
      within: 2s
      level: warn
      advice: z
    capture: { a: body:/a }
    raw: true
  - name: each endpoint
    for_each: protected
    request: { endpoint: "{{endpoint}}", auth: none, body: "x" }
  - name: poll
    poll:
      request: { endpoint: get }
      interval: 1s
      backoff: 2
      max_interval: 2s
      deadline: 5s
      on_deadline: error
      monotonic: false
  - name: burst
    burst: { request: { endpoint: get }, count: "{{n}}", concurrency: 2 }
    expect:
      some_status: 429
      each: { "429": { headers: { Retry-After: [{ present: true }] } } }
    capture: { limited: count:429 }
  - name: again
    repeat: plain
  - wait: 1s
  - assert:
      - { expr: "a == 1", message: "a is {{a}}", level: warn, advice: fix it }
"#;

/// Removes nulls and empty maps/lists: serde writes every field, the YAML
/// author leaves unset ones out, and both mean the same.
fn prune(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Object(o) => {
            let m: serde_json::Map<String, Value> = o
                .iter()
                .filter_map(|(k, v)| prune(v).map(|v| (k.clone(), v)))
                .collect();
            (!m.is_empty()).then_some(Value::Object(m))
        }
        Value::Array(a) => {
            (!a.is_empty()).then(|| Value::Array(a.iter().filter_map(prune).collect()))
        }
        x => Some(x.clone()),
    }
}

fn keys_in(v: &Value, out: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                out.insert(k.clone());
                keys_in(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| keys_in(x, out)),
        _ => {}
    }
}

#[test]
fn model_and_schema_have_the_same_fields() {
    let v = schema();
    let pack: PackFile = serde_yaml_ng::from_str(KITCHEN_PACK).expect("kitchen pack parses");
    let sc: ScenarioFile = serde_yaml_ng::from_str(KITCHEN_SCENARIO).expect("kitchen scenario");
    // The files themselves validate.
    for text in [KITCHEN_PACK, KITCHEN_SCENARIO] {
        let e = violations(&v, &yaml_to_json(text));
        assert!(e.is_empty(), "{e:?}");
    }
    // serde writes every field of every struct it holds: a field the model
    // has and the schema lacks breaks `additionalProperties: false`.
    let written = [
        serde_json::to_value(&pack).unwrap(),
        serde_json::to_value(&sc).unwrap(),
    ];
    for w in &written {
        let pruned = prune(w).unwrap();
        let e = violations(&v, &pruned);
        assert!(e.is_empty(), "model field missing from the schema? {e:?}");
    }
    // And every property the schema describes is a field serde wrote.
    let mut model_keys = std::collections::BTreeSet::new();
    written.iter().for_each(|w| keys_in(w, &mut model_keys));
    let text = std::fs::read_to_string(root().join("schemas/scenario.schema.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut missing = vec![];
    for (def, d) in doc["$defs"].as_object().unwrap() {
        for (prop, p) in d["properties"].as_object().into_iter().flatten() {
            if !model_keys.contains(prop) {
                missing.push(format!("{def}.{prop}"));
            }
            // Hover help: every property has a description, inline or on its $ref.
            let described = p.get("description").is_some()
                || p.get("$ref").and_then(Value::as_str).is_some_and(|r| {
                    let name = r.trim_start_matches("#/$defs/");
                    doc["$defs"][name].get("description").is_some()
                });
            assert!(described, "{def}.{prop} has no description");
        }
    }
    assert!(
        missing.is_empty(),
        "schema properties not in the model: {missing:?}"
    );
}

/// A copy of a shipped pack in a temp dir, one text edit applied.
struct Broken {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    file: String,
}

fn broken(pack: &str, file: &str, old: &str, new: &str) -> Broken {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(pack);
    std::fs::create_dir(&dir).unwrap();
    let src = root().join("scenarios").join(pack);
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(old), "{file} has no `{old}`");
    std::fs::write(&path, text.replacen(old, new, 1)).unwrap();
    Broken {
        _tmp: tmp,
        dir,
        file: file.to_string(),
    }
}

fn validate(dir: &Path) -> Output {
    golive().arg("validate").arg(dir).output().unwrap()
}

/// Runs `golive validate` on the broken copy: exit 2, and stderr names the
/// file and contains every `expect`ed fragment.
fn refused(b: &Broken, expect: &[&str]) -> String {
    let out = validate(&b.dir);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(out.stdout.is_empty() || !String::from_utf8_lossy(&out.stdout).contains("ok:"));
    let file = format!("{}/{}", b.dir.display(), b.file);
    assert!(err.contains(&file), "stderr does not name {file}: {err}");
    for e in expect {
        assert!(err.contains(e), "stderr lacks `{e}`: {err}");
    }
    err
}

/// Structural defects: the schema (what an editor shows) and `golive
/// validate` both refuse them.
#[test]
fn broken_files_are_refused_by_the_schema_and_by_validate() {
    let v = schema();
    let replay = "idempotency-replay.yaml";
    let cases: &[(&str, &str, &str, &str)] = &[
        // (file, old, new, why)
        (
            replay,
            "    expect: { status: 200 }\n    capture: { job2",
            "    expct: { status: 200 }\n    capture: { job2",
            "unknown step field",
        ),
        (
            replay,
            "  - name: judge the replay\n    assert:",
            "  - name: judge the replay\n    wait: 1s\n    assert:",
            "two actions",
        ),
        (
            replay,
            "    repeat: create with an Idempotency-Key\n",
            "",
            "no action",
        ),
        (
            replay,
            "family: idempotency",
            "family: idempotence",
            "unknown family",
        ),
        (
            replay,
            "title: A replay",
            "titel: A replay",
            "missing title",
        ),
        (
            replay,
            "        level: warn\n        message: \"Idempotency-Key is not",
            "        level: error\n        message: \"Idempotency-Key is not",
            "bad level",
        ),
        (
            "credits-insufficient.yaml",
            "auth: empty",
            "auth: { key: empty, sheme: bearer }",
            "auth long form typo",
        ),
        (
            "credits-insufficient.yaml",
            "status: 402",
            "status: 4xx2",
            "bad status class",
        ),
        (
            "credits-insufficient.yaml",
            "status: 402",
            "status: 42",
            "status out of range",
        ),
        (
            "credits-insufficient.yaml",
            "  - name: nothing was created\n    assert:",
            "  - name: nothing was created\n    for_each: all\n    assert:",
            "for_each without request",
        ),
        (
            "credits-insufficient.yaml",
            "  - name: nothing was created\n    assert:",
            "  - name: nothing was created\n    capture: { x: status }\n    assert:",
            "capture on an assert step",
        ),
        (
            "credits-insufficient.yaml",
            "request: { endpoint: upload, auth: empty,",
            "request: { endpoint: upload, method: POST, auth: empty,",
            "endpoint and method",
        ),
        (
            "rate-limit-burst.yaml",
            "count: \"{{burst_size}}\"",
            "count: -5",
            "negative burst count",
        ),
        (
            "rate-limit-burst.yaml",
            "{ present: true, message: \"429 without Retry-After\" }",
            "{ present: true, mesage: \"429 without Retry-After\" }",
            "matcher typo in a list",
        ),
        (
            "rate-limit-burst.yaml",
            "X-RateLimit-Limit|RateLimit-Limit: { present: true, level: warn,",
            "X-RateLimit-Limit|RateLimit-Limit: { present: true, levle: warn,",
            "matcher typo in an object",
        ),
        (
            "schema-responses.yaml",
            "files: [{ name: file, filename: photo.png, content_type: image/png, size: 2048 }]",
            "files: [{ name: file, filename: photo.png, content_type: image/png, size: 2048, content: x }]",
            "file with size and content",
        ),
        (
            "schema-responses.yaml",
            "request: { endpoint: upload, body: '{\"file_url\": ', content_type: application/json }",
            "request: { endpoint: upload, json: {}, body: '{\"file_url\": ', content_type: application/json }",
            "two bodies",
        ),
        (
            "lifecycle-completes.yaml",
            "      request: { endpoint: status",
            "      backoff: 20\n      request: { endpoint: status",
            "poll backoff out of range",
        ),
        (
            "pack.yaml",
            "  valid: GOLIVE_KEY\n",
            "",
            "no valid key role",
        ),
        (
            "pack.yaml",
            "base_url: https://api.removit.eu",
            "base_uri: https://api.removit.eu",
            "unknown pack field",
        ),
        (
            "pack.yaml",
            "\"{key}\" }\n    bearer",
            "\"key\" }\n    bearer",
            "scheme value without {key}",
        ),
        (
            "pack.yaml",
            "\"401\": removit/error-unauthorized.json\n      \"402\"",
            "\"4011\": removit/error-unauthorized.json\n      \"402\"",
            "not a status",
        ),
        (
            "pack.yaml",
            "auth.disabled_key: advisory",
            "auth.disabled_key: minor",
            "bad severity",
        ),
        (
            "pack.yaml",
            "  terminal: [done, failed]\n",
            "",
            "jobs without terminal",
        ),
        (
            "pack.yaml",
            "fake: removit\n",
            "fake: removebg\n",
            "a built-in fake that does not exist",
        ),
    ];
    let mut failures = vec![];
    for (file, old, new, why) in cases {
        let b = broken("removit", file, old, new);
        let doc = yaml_to_json(&std::fs::read_to_string(b.dir.join(file)).unwrap());
        if violations(&v, &doc).is_empty() {
            failures.push(format!("{why}: the schema accepts it"));
        }
        let out = validate(&b.dir);
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(2) || !err.contains(*file) {
            failures.push(format!(
                "{why}: golive validate exit {:?}, stderr {err}",
                out.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

mod refusals;
