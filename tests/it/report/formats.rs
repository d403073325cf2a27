//! Every renderer on the sample reports: snapshots, the JSON schema, the
//! JUnit consumer, HAR 1.2, key masking, the history diff.

use super::*;

#[test]
fn sample_reports_have_the_expected_verdicts() {
    let go = go_report();
    assert_eq!(go.verdict, Verdict::Go, "{}", go.verdict_reason);
    let nogo = nogo_report();
    assert_eq!(nogo.verdict, Verdict::NoGo);
    assert_eq!(
        nogo.verdict_reason,
        "2 blocker check(s) failed: removit.schema.responses, removit.credits.charge_once"
    );
    assert_eq!(
        (
            nogo.totals.pass,
            nogo.totals.fail,
            nogo.totals.warn,
            nogo.totals.skip,
            nogo.totals.error
        ),
        (5, 2, 1, 1, 1)
    );
}

#[test]
fn snapshots_go() {
    let r = go_report();
    snapshot("report_go.json", &json::to_string(&r).unwrap());
    snapshot("report_go.md", &md::render(&r));
    snapshot("report_go.html", &html::render(&r));
    snapshot("report_go.junit.xml", &junit::render(&r));
}

#[test]
fn snapshots_nogo() {
    let r = nogo_report();
    snapshot("report_nogo.json", &json::to_string(&r).unwrap());
    snapshot("report_nogo.md", &md::render(&r));
    snapshot("report_nogo.html", &html::render(&r));
    snapshot("report_nogo.junit.xml", &junit::render(&r));
    snapshot("report_nogo.har", &har::to_string(&r).unwrap());
}

#[test]
fn snapshot_diff_nogo_against_go_baseline() {
    let d = diff::diff(&go_report(), &nogo_report(), DiffOptions::default());
    snapshot("report_diff.txt", &diff::render_text(&d));
    snapshot("report_diff.md", &diff::render_md(&d));
}

fn schema_validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::draft202012::new(&schema).expect("report.schema.json is a valid 2020-12 schema")
}

fn schema_errors(v: &jsonschema::Validator, instance: &serde_json::Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn report_json_validates_against_the_schema() {
    let v = schema_validator();
    let mut empty = base_report(&[]);
    empty.packs.clear();
    empty.finalize();
    for r in [go_report(), nogo_report(), empty] {
        let s = json::to_string(&r).unwrap();
        let instance: serde_json::Value = serde_json::from_str(&s).unwrap();
        let errors = schema_errors(&v, &instance);
        assert!(errors.is_empty(), "{}: {errors:#?}", r.verdict);
        // And it reads back to what was written.
        let back = json::from_str(&s, "x").unwrap();
        assert_eq!(json::to_string(&back).unwrap(), s);
    }
}

#[test]
fn the_schema_refuses_what_the_model_refuses() {
    let v = schema_validator();
    let good: serde_json::Value =
        serde_json::from_str(&json::to_string(&nogo_report()).unwrap()).unwrap();
    let broken = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut i = good.clone();
        f(&mut i);
        i
    };
    let cases: Vec<(&str, serde_json::Value)> = vec![
        (
            "unknown status",
            broken(&|i| i["checks"][0]["status"] = "passed".into()),
        ),
        (
            "unknown verdict",
            broken(&|i| i["verdict"] = "MAYBE".into()),
        ),
        (
            "unknown family",
            broken(&|i| i["checks"][0]["family"] = "security".into()),
        ),
        (
            "unknown severity",
            broken(&|i| i["checks"][0]["severity"] = "minor".into()),
        ),
        (
            "unknown level",
            broken(&|i| i["checks"][3]["findings"][0]["level"] = "info".into()),
        ),
        (
            "missing id",
            broken(&|i| {
                i["checks"][0].as_object_mut().unwrap().remove("id");
            }),
        ),
        (
            "unknown field",
            broken(&|i| i["checks"][0]["colour"] = "red".into()),
        ),
        (
            "header not a pair",
            broken(&|i| i["checks"][0]["evidence"][0]["request"]["headers"][0] = "X: y".into()),
        ),
    ];
    for (what, instance) in cases {
        assert!(
            !schema_errors(&v, &instance).is_empty(),
            "the schema accepted a report with {what}"
        );
        // The model refuses it too (the schema is not stricter than the model
        // on these).
        if what != "unknown field" {
            assert!(
                serde_json::from_value::<Report>(instance).is_err(),
                "the model accepted {what}"
            );
        }
    }
}

#[test]
fn the_schema_enums_match_the_model() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let names = |def: &str| -> Vec<String> {
        schema["$defs"][def]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let ser = |v: serde_json::Value| v.as_str().unwrap().to_string();
    assert_eq!(
        names("family"),
        Family::ALL
            .iter()
            .map(|f| ser(serde_json::to_value(f).unwrap()))
            .collect::<Vec<_>>()
    );
    let statuses = [
        Status::Pass,
        Status::Fail,
        Status::Warn,
        Status::Skip,
        Status::Error,
    ];
    assert_eq!(
        names("status"),
        statuses
            .iter()
            .map(|s| ser(serde_json::to_value(s).unwrap()))
            .collect::<Vec<_>>()
    );
    let verdicts = [Verdict::Go, Verdict::NoGo, Verdict::Incomplete];
    assert_eq!(
        names("verdict"),
        verdicts
            .iter()
            .map(|s| ser(serde_json::to_value(s).unwrap()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        names("severity"),
        [Severity::Blocker, Severity::Advisory]
            .iter()
            .map(|s| ser(serde_json::to_value(s).unwrap()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        names("level"),
        [FindingLevel::Fail, FindingLevel::Warn]
            .iter()
            .map(|s| ser(serde_json::to_value(s).unwrap()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        schema["properties"]["format_version"]["const"],
        REPORT_FORMAT_VERSION
    );
}

#[test]
fn no_renderer_lets_a_key_through() {
    let r = nogo_report();
    // The planted key is in the model (the engine "forgot" to redact it)…
    assert!(serde_json::to_string(&r).unwrap().contains(SECRET));
    // …and in no rendered output.
    let outputs = [
        ("report.json", json::to_string(&r).unwrap()),
        ("report.md", md::render(&r)),
        ("report.html", html::render(&r)),
        ("junit.xml", junit::render(&r)),
        ("HAR", har::to_string(&r).unwrap()),
    ];
    for (name, out) in &outputs {
        assert!(!out.contains(SECRET), "{name} contains the key");
        assert!(
            !out.contains("DO_NOT_LEAK"),
            "{name} contains part of the key"
        );
    }
    // Curl lines take the key from the reader's shell.
    let md = &outputs[1].1;
    assert!(md.contains(r#"-H "X-API-Key: ${GOLIVE_KEY}""#), "{md}");
    assert!(
        md.contains(r#"-H "Authorization: Bearer ${GOLIVE_KEY}""#),
        "{md}"
    );
    for c in &r.checks {
        for x in &c.evidence {
            let line = curl::curl_line(&x.request);
            assert!(!line.contains(SECRET), "{line}");
        }
    }
    // Markup from the API is escaped everywhere it is shown.
    let html = &outputs[2].1;
    assert!(!html.contains("<img"), "unescaped markup in HTML");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    // Markdown shows API values in code spans, which GitHub never renders as
    // HTML; outside code spans markup is escaped.
    for (i, _) in md.match_indices("<img") {
        assert_eq!(&md[i - 1..i], "`", "markup outside a code span in Markdown");
    }
    assert!(md.contains("`<img src=x onerror=alert(1)>`"));
    assert!(!outputs[3].1.contains("<img"), "unescaped markup in JUnit");
}

#[test]
fn html_is_self_contained() {
    for r in [go_report(), nogo_report()] {
        let s = html::render(&r);
        for external in [
            "<link",
            " src=\"",
            "src='",
            "@import",
            "url(",
            "href=\"http",
            "href=\"//",
        ] {
            assert!(!s.contains(external), "external resource: {external}");
        }
        assert_eq!(s.matches("<script>").count(), 1);
        assert!(s.contains("<svg"), "inline charts");
        assert!(s.contains("<details"), "collapsible evidence");
    }
    let s = html::render(&nogo_report());
    // The banner comes first and says NO-GO with the reason.
    let banner = s.find("<header class=\"banner v-nogo\">").unwrap();
    assert!(banner < s.find("<main>").unwrap());
    assert!(s.contains("2 blocker check(s) failed: removit.schema.responses"));
    // Schema errors with their JSON pointers, failing checks open.
    assert!(s.contains("<dt>at (JSON pointer)</dt><dd><code>/job_id</code></dd>"));
    assert!(s.contains("<details class=\"check s-fail\" id=\"c3\" open>"));
    assert!(s.contains("<b>truncated</b> in the report"));
    assert!(s.contains("body not recorded (not text)"));
}

#[test]
fn markdown_leads_with_the_verdict_and_shows_failures() {
    let s = md::render(&nogo_report());
    assert!(s.starts_with("## ❌ golive: **NO-GO**\n"));
    let table = s.find("| family |").unwrap();
    let failures = s.find("### ❌ Blocking failures (2)").unwrap();
    assert!(table < failures);
    assert!(s.contains("  - expected: `string (uuid)`\n  - actual: `12345 (integer)`\n  - at: `/job_id`\n  - rests on: doc (the vendor's documentation)\n  - request id: `req_01JDSCHEMA1`"));
    assert!(s.contains("```sh\n  curl -sS -i"));
    // The double charge has no exchange index: its last exchange is shown.
    assert!(s.contains("curl -sS -i -H 'User-Agent: golive/0.1.0' -H \"X-API-Key: ${GOLIVE_KEY}\" http://127.0.0.1:41234/api/v1/account"));
    assert!(s.contains("### ⏭️ Skipped (1)\n\n- `removit.idempotency.replay` (advisory): skipped: GOLIVE\\_KEY\\_EMPTY is not set"));
    assert!(s.len() < md::MAX_LEN);
}

#[test]
fn junit_is_accepted_by_junitparser() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, junit::render(&nogo_report())).unwrap();
    const SCRIPT: &str = r#"
import json, sys
from junitparser import JUnitXml, Failure, Error, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
out = {"suites": [], "cases": {}}
for suite in xml:
    out["suites"].append([suite.name, suite.tests, suite.failures, suite.errors, suite.skipped])
    for case in suite:
        out["cases"][case.name] = {
            "suite": suite.name,
            "classname": case.classname,
            "time": case.time,
            "results": [type(r).__name__ for r in case.result],
            "messages": [r.message for r in case.result],
            "texts": [r.text or "" for r in case.result],
        }
print(json.dumps(out))
"#;
    let run = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(&file)
        .output();
    let missing = match &run {
        Err(e) => Some(format!("python3 not runnable: {e}")),
        Ok(o)
            if !o.status.success()
                && String::from_utf8_lossy(&o.stderr).contains("junitparser") =>
        {
            Some(format!(
                "junitparser not importable: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ))
        }
        Ok(_) => None,
    };
    if let Some(why) = missing {
        if std::env::var_os("CI").is_some() {
            panic!("{why} (CI is set: `.ci/run` installs junitparser==3.*)");
        }
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !! SKIPPED junit_is_accepted_by_junitparser: {why}\n\
             !! install it with: python3 -m pip install 'junitparser==3.*'\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
        return;
    }
    let o = run.unwrap();
    assert!(
        o.status.success(),
        "junitparser refused junit.xml: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let suites: Vec<String> = v["suites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[0].as_str().unwrap().to_string())
        .collect();
    // One suite per family that has checks, in the design's order.
    let r = nogo_report();
    let expected: Vec<&str> = Family::ALL
        .iter()
        .filter(|f| r.checks.iter().any(|c| c.family == **f))
        .map(|f| f.as_str())
        .collect();
    assert_eq!(suites, expected);
    assert_eq!(suites[0], "auth");
    // One testcase per check.
    let cases = v["cases"].as_object().unwrap();
    assert_eq!(cases.len(), nogo_report().checks.len());
    let case = |id: &str| &cases[id];
    let schema = case("removit.schema.responses");
    assert_eq!(schema["suite"], "schema");
    assert_eq!(schema["results"], serde_json::json!(["Failure"]));
    assert_eq!(
        schema["messages"][0],
        "2 responses break their schema: upload (/job_id, /status)"
    );
    let text = schema["texts"][0].as_str().unwrap();
    assert!(text.contains("at: /job_id"), "{text}");
    assert!(text.contains("request id: req_01JDSCHEMA1"), "{text}");
    assert!(text.contains("reproduce: curl "), "{text}");
    assert_eq!(
        case("removit.isolation.foreign_job")["results"],
        serde_json::json!(["Error"])
    );
    let skip = case("removit.idempotency.replay");
    assert_eq!(skip["results"], serde_json::json!(["Skipped"]));
    assert!(
        skip["messages"][0]
            .as_str()
            .unwrap()
            .contains("GOLIVE_KEY_EMPTY is not set")
    );
    assert_eq!(
        case("removit.rate_limit.retry_after")["results"],
        serde_json::json!([]),
        "a warning is not a JUnit failure"
    );
    assert_eq!(
        case("removit.auth.missing_key")["results"],
        serde_json::json!([])
    );
    // The suites' counters agree with the cases.
    let schema_suite = v["suites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s[0] == "schema")
        .unwrap();
    assert_eq!(schema_suite, &serde_json::json!(["schema", 1, 1, 0, 0]));
}

#[test]
fn diff_lists_newly_failing_checks_and_latency_regressions() {
    let d = diff::diff(&go_report(), &nogo_report(), DiffOptions::default());
    let failing: Vec<&str> = d.newly_failing.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        failing,
        [
            "removit.isolation.foreign_job",
            "removit.schema.responses",
            "removit.credits.charge_once"
        ]
    );
    assert_eq!(d.newly_failing[1].before, Some(Status::Pass));
    assert_eq!(
        d.newly_failing[2].before, None,
        "a check the baseline lacked"
    );
    let slower: Vec<(&str, &str)> = d
        .latency_regressions
        .iter()
        .map(|l| (l.check.as_str(), l.step.as_str()))
        .collect();
    assert_eq!(
        slower,
        [
            ("removit.lifecycle.happy_path", "poll"),
            ("removit.lifecycle.happy_path", "upload"),
            ("removit.timeouts.sla", "upload"),
        ]
    );
    assert!(d.has_regressions());
    assert!(d.new_findings.len() >= 4);
    // A wide tolerance keeps only the big regressions.
    let wide = diff::diff(
        &go_report(),
        &nogo_report(),
        DiffOptions {
            latency_tolerance: 7.0,
            latency_floor_ms: 50.0,
        },
    );
    assert_eq!(
        wide.latency_regressions.len(),
        2,
        "{:?}",
        wide.latency_regressions
    );
    // The baseline against itself: nothing.
    assert!(diff::diff(&go_report(), &go_report(), DiffOptions::default()).is_empty());
}

#[test]
fn write_all_writes_the_samples_and_they_read_back() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-samples");
    for (name, r) in [("go", go_report()), ("nogo", nogo_report())] {
        let dir = root.join(name);
        let har_path = dir.join("evidence.har");
        let files = write_all(&r, &dir, &Format::ALL, Some(&har_path)).unwrap();
        assert_eq!(files.len(), 5);
        // Re-rendering from the stored report.json gives the same files.
        let back = json::read(&dir.join("report.json")).unwrap();
        for f in Format::ALL {
            assert_eq!(
                f.render(&back).unwrap(),
                std::fs::read_to_string(dir.join(f.file_name())).unwrap(),
                "{f} re-rendered from report.json differs"
            );
        }
        let har: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&har_path).unwrap()).unwrap();
        assert_eq!(har["log"]["version"], "1.2");
        let n: usize = r.checks.iter().map(|c| c.evidence.len()).sum();
        assert_eq!(har["log"]["entries"].as_array().unwrap().len(), n);
    }
}

/// The parts of the HAR 1.2 spec (http://www.softwareishard.com/blog/har-12-spec/)
/// that viewers rely on: required fields and their types.
const HAR_1_2_SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["log"],
  "properties": {
    "log": {
      "type": "object",
      "required": ["version", "creator", "entries"],
      "properties": {
        "version": { "const": "1.2" },
        "creator": { "type": "object", "required": ["name", "version"] },
        "pages": {
          "type": "array",
          "items": {
            "type": "object",
            "required": ["startedDateTime", "id", "title", "pageTimings"],
            "properties": { "startedDateTime": { "$ref": "#/$defs/time" } }
          }
        },
        "entries": { "type": "array", "items": { "$ref": "#/$defs/entry" } }
      }
    }
  },
  "$defs": {
    "time": { "type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$" },
    "nv": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["name", "value"],
        "properties": { "name": { "type": "string" }, "value": { "type": "string" } }
      }
    },
    "entry": {
      "type": "object",
      "required": ["startedDateTime", "time", "request", "response", "cache", "timings"],
      "properties": {
        "pageref": { "type": "string" },
        "startedDateTime": { "$ref": "#/$defs/time" },
        "time": { "type": "number", "minimum": 0 },
        "request": {
          "type": "object",
          "required": ["method", "url", "httpVersion", "cookies", "headers", "queryString", "headersSize", "bodySize"],
          "properties": {
            "headers": { "$ref": "#/$defs/nv" },
            "queryString": { "$ref": "#/$defs/nv" },
            "postData": { "type": "object", "required": ["mimeType", "text"] },
            "headersSize": { "type": "integer" },
            "bodySize": { "type": "integer" }
          }
        },
        "response": {
          "type": "object",
          "required": ["status", "statusText", "httpVersion", "cookies", "headers", "content", "redirectURL", "headersSize", "bodySize"],
          "properties": {
            "status": { "type": "integer" },
            "headers": { "$ref": "#/$defs/nv" },
            "content": {
              "type": "object",
              "required": ["size", "mimeType"],
              "properties": { "size": { "type": "integer" }, "mimeType": { "type": "string" } }
            },
            "headersSize": { "type": "integer" },
            "bodySize": { "type": "integer" }
          }
        },
        "cache": { "type": "object" },
        "timings": {
          "type": "object",
          "required": ["send", "wait", "receive"],
          "properties": {
            "send": { "type": "number", "minimum": -1 },
            "wait": { "type": "number", "minimum": -1 },
            "receive": { "type": "number", "minimum": -1 }
          }
        }
      }
    }
  }
}"##;

#[test]
fn har_follows_the_1_2_spec() {
    let schema: serde_json::Value = serde_json::from_str(HAR_1_2_SCHEMA).unwrap();
    let v = jsonschema::draft202012::new(&schema).unwrap();
    let r = nogo_report();
    let har = har::to_value(&r);
    let errors = schema_errors(&v, &har);
    assert!(errors.is_empty(), "{errors:#?}");
    let entries = har["log"]["entries"].as_array().unwrap();
    // Every page an entry refers to exists.
    let pages: Vec<&str> = har["log"]["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    for e in entries {
        assert!(pages.contains(&e["pageref"].as_str().unwrap()));
    }
    // Entries in run order; the truncated body says so; the transport error
    // is an entry with status 0.
    let times: Vec<&str> = entries
        .iter()
        .map(|e| e["startedDateTime"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    assert!(entries.iter().any(|e| {
        e["response"]["content"]["comment"]
            .as_str()
            .is_some_and(|c| c.contains("truncated"))
    }));
    assert!(entries.iter().any(|e| {
        e["response"]["status"] == 0
            && e["_error"]
                .as_str()
                .is_some_and(|c| c.contains("connection reset"))
    }));
}
