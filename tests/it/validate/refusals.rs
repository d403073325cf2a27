//! One broken pack file per test: each refusal names the file, the step
//! and what is wrong, in words a pack author can act on.

use super::*;

#[test]
fn yaml_syntax_error_names_step_line_and_column() {
    let b = broken(
        "removit",
        "idempotency-replay.yaml",
        "    expect: { status: 200 }\n    capture: { job2",
        "    expect: { status: 200\n    capture: { job2",
    );
    refused(
        &b,
        &["step 2 `replay`", "YAML syntax error", "line 21 column 12"],
    );
}

#[test]
fn unknown_step_field_names_the_step_and_the_known_fields() {
    let b = broken(
        "removit",
        "idempotency-replay.yaml",
        "    repeat: create with an Idempotency-Key\n    expect:",
        "    repeat: create with an Idempotency-Key\n    expct:",
    );
    refused(
        &b,
        &[
            "step 2 `replay`",
            "unknown field `expct`",
            "`expect`",
            "line 20",
        ],
    );
}

#[test]
fn two_actions_in_a_step() {
    let b = broken(
        "removit",
        "idempotency-replay.yaml",
        "  - name: judge the replay\n    assert:",
        "  - name: judge the replay\n    wait: 1s\n    assert:",
    );
    refused(
        &b,
        &[
            "step 3 `judge the replay`",
            "exactly one of request, poll, burst, repeat, wait, assert (found 2)",
        ],
    );
}

#[test]
fn unknown_endpoint() {
    let b = broken(
        "removit",
        "rate-limit-burst.yaml",
        "request: { endpoint: status, params: { job_id: \"{{job}}\" } }\n    expect:\n      status: 200",
        "request: { endpoint: statuz, params: { job_id: \"{{job}}\" } }\n    expect:\n      status: 200",
    );
    refused(
        &b,
        &[
            "step 4 `recovery after backing off`",
            "request.endpoint `statuz` is not in the pack (known: status, upload)",
        ],
    );
}

#[test]
fn undefined_variable_in_a_request_and_in_an_assert_message() {
    let b = broken(
        "removit",
        "idempotency-replay.yaml",
        "json: { file_url: \"{{good_url}}\", mode: clipping }",
        "json: { file_url: \"{{good_uri}}\", mode: clipping }",
    );
    refused(
        &b,
        &[
            "step 1 `create with an Idempotency-Key`",
            "`{{good_uri}}` is neither a pack input nor captured by an earlier step",
        ],
    );
    let b = broken(
        "removit",
        "idempotency-replay.yaml",
        "message: \"the replay returned the same job",
        "message: \"{{jobz}}: the replay returned the same job",
    );
    refused(&b, &["step 3 `judge the replay`", "`{{jobz}}` is neither"]);
}

#[test]
fn bad_duration() {
    let b = broken(
        "removit",
        "rate-limit-burst.yaml",
        "wait: \"{{retry_after}}s\"",
        "wait: 2 parsecs",
    );
    refused(
        &b,
        &[
            "step 3 `wait out Retry-After`",
            "wait: `2 parsecs`: unknown duration unit `parsecs`",
        ],
    );
}

#[test]
fn invalid_expression_in_assert() {
    let b = broken(
        "removit",
        "idempotency-replay.yaml",
        "- expr: \"job1 == job2 || replayed",
        "- expr: \"job1 == == job2 || replayed",
    );
    refused(
        &b,
        &[
            "step 3 `judge the replay`",
            "assert `job1 == == job2 || replayed == 'true'`: unexpected `==`",
        ],
    );
}

#[test]
fn repeat_of_an_unknown_step() {
    let b = broken(
        "removit",
        "idempotency-replay.yaml",
        "    repeat: create with an Idempotency-Key",
        "    repeat: create with an idempotency key",
    );
    refused(
        &b,
        &[
            "step 2 `replay`",
            "repeat: no earlier request step is named `create with an idempotency key`",
        ],
    );
}

#[test]
fn unknown_key_role_short_and_long_form() {
    let b = broken(
        "removit",
        "credits-insufficient.yaml",
        "auth: empty",
        "auth: broke",
    );
    refused(
        &b,
        &[
            "step 1 `upload with an empty account`",
            "auth: `broke` is not a key role of the pack (roles: none, invalid, disabled, empty, other, valid)",
        ],
    );
    let b = broken(
        "removit",
        "credits-insufficient.yaml",
        "auth: empty",
        "auth: { key: broke }",
    );
    refused(&b, &["step 1", "`broke` is not a key role"]);
    // A typo in the long form: serde says "data did not match any variant of
    // untagged enum AuthSpec"; golive says which field.
    let b = broken(
        "removit",
        "credits-insufficient.yaml",
        "auth: empty",
        "auth: { key: empty, sheme: bearer }",
    );
    let err = refused(
        &b,
        &[
            "step 1 `upload with an empty account`",
            "request.auth: unknown field `sheme`, expected one of `key`, `scheme`, `in_query`",
        ],
    );
    assert!(!err.contains("did not match any variant"), "{err}");
}

#[test]
fn untagged_forms_say_what_is_expected() {
    let b = broken(
        "removit",
        "rate-limit-burst.yaml",
        "count: \"{{burst_size}}\"",
        "count: -5",
    );
    let err = refused(
        &b,
        &[
            "step 2 `burst`",
            "burst.count: `-5` is neither a number from 1 to 500 nor a template",
        ],
    );
    assert!(!err.contains("did not match any variant"), "{err}");
    let b = broken(
        "removit",
        "credits-insufficient.yaml",
        "status: 402",
        "status: { code: 402 }",
    );
    let err = refused(
        &b,
        &[
            "step 1 `upload with an empty account`",
            "expect.status: `code: 402` is not a status (200), a class (\"2xx\") or a list of them",
        ],
    );
    assert!(!err.contains("did not match any variant"), "{err}");
}

#[test]
fn untagged_auth_in_pack_preflight() {
    let b = broken(
        "removit",
        "pack.yaml",
        "  path: /api/v1/status\n  auth: none",
        "  path: /api/v1/status\n  auth: { key: none, in_qeury: true }",
    );
    let err = refused(
        &b,
        &["preflight.auth: unknown field `in_qeury`, expected one of `key`, `scheme`, `in_query`"],
    );
    assert!(!err.contains("did not match any variant"), "{err}");
}

#[test]
fn matcher_typo_is_not_a_silent_equality_test() {
    let b = broken(
        "removit",
        "rate-limit-burst.yaml",
        "{ present: true, message: \"429 without Retry-After\" }",
        "{ present: true, mesage: \"429 without Retry-After\" }",
    );
    refused(
        &b,
        &[
            "step 2 `burst`",
            "expect.each `429`.headers `Retry-After`",
            "unknown field `mesage`",
        ],
    );
}

#[test]
fn duplicate_check_id_names_both_files() {
    let b = broken(
        "removit",
        "credits-insufficient.yaml",
        "id: credits.insufficient",
        "id: auth.missing_key",
    );
    refused(
        &b,
        &["check id `auth.missing_key` is already used by auth-missing-key.yaml"],
    );
}

#[test]
fn severities_for_a_check_that_does_not_exist() {
    let b = broken(
        "removit",
        "pack.yaml",
        "auth.disabled_key: advisory",
        "auth.disabled_keys: advisory",
    );
    refused(
        &b,
        &["`severities` names check `auth.disabled_keys`, which no scenario defines"],
    );
}

#[test]
fn fake_inputs_without_a_builtin_fake() {
    let b = broken("removit", "pack.yaml", "fake: removit\n", "");
    refused(
        &b,
        &["fake_inputs: given, but no `fake:` names the built-in fake they are for"],
    );
}

#[test]
fn endpoint_status_mapped_to_a_missing_schema_file() {
    let b = broken(
        "removit",
        "pack.yaml",
        "\"402\": removit/error-insufficient-credits.json",
        "\"402\": removit/error-no-credits.json",
    );
    refused(
        &b,
        &["endpoint `upload` status 402: schema removit/error-no-credits.json not found"],
    );
}

#[test]
fn check_refuses_a_broken_pack_before_any_traffic() {
    let b = broken(
        "removit",
        "rate-limit-burst.yaml",
        "wait: \"{{retry_after}}s\"",
        "wait: 2 parsecs",
    );
    let expected = String::from_utf8_lossy(&validate(&b.dir).stderr).to_string();
    // A live target that records whether anyone connected.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let target = format!("http://{}", listener.local_addr().unwrap());
    let cwd = tempfile::tempdir().unwrap();
    let out = golive()
        .current_dir(cwd.path())
        .args(["check", "--quiet", "--target", &target, "--pack"])
        .arg(&b.dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err, expected, "check and validate say the same");
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "golive check connected to the target"
    );
    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "no report"
    );
}

#[test]
fn a_good_tree_validates_with_one_ok_line_per_pack() {
    let out = validate(&root().join("scenarios"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines.iter().all(|l| l.starts_with("ok: ")), "{stdout}");
    assert!(stdout.contains("pack `removebgvideo`") && stdout.contains("pack `removit`"));
    assert!(out.stderr.is_empty());
    // A single scenario file validates its pack.
    let out = validate(&root().join("scenarios/removit/auth-missing-key.yaml"));
    assert_eq!(out.status.code(), Some(0));
}

/// The test of the design: remove.bg (403 for a bad key, its own error
/// envelope, synchronous results, credits in a header) is a pack, no Rust.
#[test]
fn the_removebg_example_pack_validates() {
    let out = validate(&root().join("examples/removebg"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("ok: ") && stdout.contains("pack `removebg`"),
        "{stdout}"
    );
    // Its schemas are its own, and an error is a 403 `auth_failed` in the
    // `errors` envelope.
    let pack = golive::pack::load_dir(&root().join("examples/removebg")).unwrap();
    assert_eq!(pack.file.schema_dir.as_deref(), Some("schemas"));
    let bad_key =
        serde_json::json!({"errors": [{"title": "API Key invalid", "code": "auth_failed"}]});
    let e = pack.schemas.validate("error-auth.json", &bad_key).unwrap();
    assert!(e.is_empty(), "{e:?}");
    let not_envelope = serde_json::json!({"error": "unauthorized"});
    assert!(
        !pack
            .schemas
            .validate("error.json", &not_envelope)
            .unwrap()
            .is_empty()
    );
}
