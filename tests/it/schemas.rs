//! The response schemas are exactly as strict as the contract: every schema
//! says what it rests on, and its examples under `schemas/examples/` pin the
//! three outcomes. `valid-*.json` passes (`valid-open-*` is a choice the
//! contract leaves open, once pinned to the fake's, now legal); `warn-*.json`
//! only leaves out `conv` members (a warning: the API does not offer that
//! part of the convention); `invalid-*.json` breaks a rule (a failure).

use std::path::{Path, PathBuf};

use golive::schema::{BASIS_KEYWORD, SchemaSet};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|x| x == "json"));
    v.sort();
    v
}

const APIS: [&str; 2] = ["removit", "removebgvideo"];

#[test]
fn every_response_schema_says_what_it_rests_on() {
    for api in APIS {
        for f in json_files(&root().join(api)) {
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
            let basis = v.get(BASIS_KEYWORD).and_then(|b| b.as_str());
            assert!(
                matches!(basis, Some("doc" | "conv")),
                "{}: the root needs \"{BASIS_KEYWORD}\": \"doc\" or \"conv\"",
                f.display()
            );
        }
    }
}

#[test]
fn examples_pass_warn_or_fail_as_their_names_say() {
    let set = SchemaSet::embedded().expect("schemas load");
    let mut counts = [0usize; 3];
    let mut wrong = vec![];
    for api in APIS {
        for schema in json_files(&root().join(api)) {
            let stem = schema.file_stem().unwrap().to_string_lossy().to_string();
            let file = format!("{api}/{stem}.json");
            for ex in json_files(&root().join("examples").join(api).join(&stem)) {
                let name = ex.file_name().unwrap().to_string_lossy().to_string();
                let instance: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&ex).unwrap()).unwrap();
                let v = set.validate(&file, &instance).unwrap();
                let broken: Vec<_> = v.iter().filter(|x| !x.is_absent_convention()).collect();
                let at = format!("{api}/{stem}/{name}");
                let ok = if name.starts_with("valid-") {
                    counts[0] += 1;
                    v.is_empty()
                } else if name.starts_with("warn-") {
                    counts[1] += 1;
                    !v.is_empty() && broken.is_empty()
                } else {
                    counts[2] += 1;
                    name.starts_with("invalid-") && !broken.is_empty()
                };
                if !ok {
                    let got: Vec<_> = v
                        .iter()
                        .map(|x| format!("{} {} ({})", x.pointer, x.message, x.basis))
                        .collect();
                    wrong.push(format!("{at}: {got:?}"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "examples whose outcome is not their name's:\n{}",
        wrong.join("\n")
    );
    assert!(
        counts[0] > 100 && counts[1] >= 3 && counts[2] > 150,
        "{counts:?}"
    );
}
