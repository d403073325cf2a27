//! One named test per way a server can misbehave, each over the suite's
//! outcome for that case (both packs ran it at once).

use super::*;

#[test]
fn nothing_in_the_hostile_suite_panics() {
    for ((case, _), o) in suite() {
        assert_ne!(o.code, 101, "{case:?} exited 101 (a panic)");
        for text in [&o.stdout, &o.stderr] {
            assert!(!text.contains("panicked at"), "{case:?} panicked:\n{text}");
        }
    }
}

#[test]
fn every_case_through_the_video_pack_too() {
    // Other routes, captures and asserts: the same bounds and every report.
    for case in Case::SUITE {
        assert_bounded(case, "removebgvideo");
    }
}

#[test]
fn reset_mid_response() {
    let o = outcome(Case::ResetMidResponse);
    assert_eq!(o.verdict(), "INCOMPLETE");
    assert_said(o, "auth.disabled_key", "error", &["could not be read"]);
    assert!(o.said("schema.responses").contains("stopped answering"));
}

#[test]
fn headers_then_silence() {
    let o = outcome(Case::HeadersThenSilence);
    assert_eq!(o.verdict(), "INCOMPLETE");
    assert_said(o, "auth.disabled_key", "error", &["no answer within 1.0 s"]);
}

#[test]
fn trickling_body() {
    let o = outcome(Case::TricklingBody);
    assert_eq!(o.verdict(), "INCOMPLETE");
    assert_said(o, "auth.disabled_key", "error", &["no answer within 1.0 s"]);
}

#[test]
fn endless_chunked_body() {
    let o = outcome(Case::EndlessChunkedBody);
    // Read up to the cap, said so, and the check ends (nothing to capture).
    assert_said(
        o,
        "auth.valid_key",
        "fail",
        &["longer than golive reads (1024 KiB)"],
    );
    assert!(o.said("auth.valid_key").contains("1024 KiB cap"));
    // Evidence keeps 16 KiB of each body, not the megabyte read.
    assert!(
        o.report_json_bytes < 8 << 20,
        "{} bytes",
        o.report_json_bytes
    );
}

#[test]
fn content_length_of_a_gibibyte_with_a_short_body() {
    let o = outcome(Case::LyingContentLength);
    assert_eq!(o.verdict(), "INCOMPLETE");
    assert_said(o, "auth.disabled_key", "error", &["could not be read"]);
}

#[test]
fn invalid_json() {
    let o = outcome(Case::InvalidJson);
    assert_said(
        o,
        "auth.valid_key",
        "fail",
        &["the body is not JSON", "could not be captured"],
    );
    // Not a pass on nothing: the race check could read no job at all.
    assert_said(o, "idempotency.race", "error", &["could not be captured"]);
    // The lifecycle check ended at its first step, not at a deadline.
    let c = o.check("lifecycle.completes");
    assert!(c["duration_ms"].as_f64().unwrap() < 5000.0, "{c}");
}

#[test]
fn json_nested_100000_deep() {
    let o = outcome(Case::DeepJson);
    assert_said(o, "auth.valid_key", "fail", &["the body is not JSON"]);
}

#[test]
fn invalid_utf8() {
    let o = outcome(Case::InvalidUtf8);
    assert_said(o, "auth.valid_key", "fail", &["the body is not JSON"]);
}

#[test]
fn json_with_content_type_text_html() {
    let o = outcome(Case::JsonAsHtml);
    // A warning: the contracts state the Content-Type of errors only.
    let schema = o.check("schema.responses");
    let f = schema["findings"].as_array().unwrap().iter().find(|f| {
        f["message"]
            .as_str()
            .unwrap()
            .contains("has Content-Type `text/html; charset=utf-8`, not JSON")
    });
    assert_eq!(
        f.expect("a Content-Type finding")["level"],
        "warn",
        "{schema}"
    );
    // Its jobs never finish: one check waits out the poll deadline, the rest do not.
    assert_said(
        o,
        "lifecycle.completes",
        "fail",
        &["did not reach a terminal state (done, failed) within 2.0 s"],
    );
    assert_said(
        o,
        "lifecycle.failure",
        "error",
        &["not polled: a job already missed its 2.0 s deadline in removit.lifecycle.completes"],
    );
}

#[test]
fn redirect_loop() {
    let o = outcome(Case::RedirectLoop);
    assert_said(
        o,
        "auth.valid_key",
        "fail",
        &["expected status 200, got 302"],
    );
    // Not followed: one request per step, not a loop.
    let steps = o.check("auth.valid_key")["evidence"]
        .as_array()
        .unwrap()
        .len();
    assert!(steps <= 2, "{steps} exchanges");
}

#[test]
fn redirect_to_another_host() {
    let o = outcome(Case::RedirectOffHost);
    assert_said(
        o,
        "auth.valid_key",
        "fail",
        &["expected status 200, got 307"],
    );
    assert!(o.other.is_empty(), "the other origin got: {:?}", o.other);
}

#[test]
fn ok_where_an_error_is_due() {
    let o = outcome(Case::OkWhereErrorDue);
    assert_eq!(o.verdict(), "NO-GO");
    assert_said(
        o,
        "auth.missing_key",
        "fail",
        &["expected status 401, got 200"],
    );
    // No job id in any answer: no claim about duplicate jobs can be made.
    let none = "`jobs` could not be counted: none of the 5 matching responses carries /job_id";
    assert_said(o, "idempotency.race", "error", &[none]);
}

#[test]
fn retry_after_of_a_year() {
    let o = outcome(Case::RetryAfterYear);
    let not_waited = "Retry-After 31536000 s, longer than golive waits (10 s): not waited on";
    assert_said(o, "auth.valid_key", "fail", &[not_waited]);
    assert!(o.said("rate_limit.burst").contains("not waited on"));
    assert!(o.took < Duration::from_secs(20), "took {:?}", o.took);
}

#[test]
fn retry_after_a_past_http_date() {
    let o = outcome(Case::RetryAfterPastDate);
    assert_said(
        o,
        "auth.valid_key",
        "fail",
        &[
            "unusable Retry-After `Wed, 21 Oct 2015 07:28:00 GMT`",
            "in the past",
        ],
    );
    assert!(o.said("rate_limit.burst").contains("Retry-After"));
}

#[test]
fn retry_after_garbage() {
    let o = outcome(Case::RetryAfterGarbage);
    assert_said(
        o,
        "auth.valid_key",
        "fail",
        &["unusable Retry-After `soon, probably`"],
    );
    assert!(o.said("rate_limit.burst").contains("Retry-After"));
}

#[test]
fn rate_limit_reset_in_the_past() {
    let o = outcome(Case::RateLimitResetPast);
    assert_said(
        o,
        "rate_limit.burst",
        "fail",
        &["X-RateLimit-Reset 1000000000", "in the past"],
    );
}

#[test]
fn a_hundred_thousand_bytes_of_headers() {
    let o = outcome(Case::HugeHeaders);
    assert_said(
        o,
        "auth.missing_key",
        "fail",
        &["expected status 401, got 200"],
    );
    // Each header value is kept to 1 KiB in the evidence.
    let json = &o
        .written
        .iter()
        .find(|(p, _)| p.ends_with("report.json"))
        .unwrap()
        .1;
    assert!(
        json.contains("(2000 bytes in all)"),
        "header values not cut"
    );
    assert!(
        o.report_json_bytes < 8 << 20,
        "{} bytes",
        o.report_json_bytes
    );
}

#[test]
fn a_429_on_every_request_forever() {
    let o = outcome(Case::Always429);
    assert_eq!(o.verdict(), "NO-GO");
    assert_said(
        o,
        "auth.valid_key",
        "fail",
        &["expected status 200, got 429"],
    );
    // Backed off once through every retry; after that the pack is known limited.
    let limited = o.target.len();
    assert!(limited < 150, "{limited} requests sent");
    assert!(o.took < Duration::from_secs(30), "took {:?}", o.took);
}
