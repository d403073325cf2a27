//! Judging one response against an `expect`: status, headers, JSON
//! pointers with their matchers, and the answer time. A broken expectation
//! becomes a `Finding` on the check, with what was expected and what came.

use serde_json::Value;

use super::PackRun;
use super::http::Received;
use super::request::Lookup;
use super::steps::CheckState;
use crate::pack::expr;
use crate::pack::template::{JsonTemplate, Template, parse_duration};
use crate::pack::{Expect, Level, MatchSpec, Matcher};
use crate::report::Basis;

/// Applies an `expect` to one response.
pub(super) fn judge(
    run: &PackRun,
    ex: &Expect,
    label: &str,
    st: &mut CheckState,
    idx: usize,
    r: &Received,
) {
    let j = Judging {
        run,
        ex,
        label,
        idx,
        r,
        rid: r.request_id.as_ref().map(|x| run.redactor.redact(x)),
    };
    if let Some(s) = &ex.status {
        if !s.matches(r.status) {
            j.push(
                st,
                Broken {
                    level: ex.level,
                    basis: None,
                    advice: ex.advice.clone(),
                    message: format!("expected status {}, got {}", s.describe(), r.status),
                    expected: s.describe(),
                    actual: format!("{} {}", r.status, short_body(r)),
                    pointer: None,
                },
            );
        }
    }
    for (name, spec) in &ex.headers {
        let actual = header_any(r, name).map(|v| Value::String(v.to_string()));
        j.matchers(st, spec, actual.as_ref(), &format!("header {name}"), None);
    }
    if !ex.json.is_empty() {
        match &r.json {
            None => j.push(
                st,
                Broken {
                    level: ex.level,
                    basis: None,
                    advice: ex.advice.clone(),
                    message: "the body is not JSON".into(),
                    expected: "a JSON body".into(),
                    actual: short_body(r),
                    pointer: None,
                },
            ),
            Some(body) => {
                for (ptr, spec) in &ex.json {
                    let actual = body.pointer(ptr).cloned();
                    j.matchers(st, spec, actual.as_ref(), &format!("body {ptr}"), Some(ptr));
                }
            }
        }
    }
    if let Some(w) = &ex.within {
        j.within(st, w);
    }
}

/// One response being judged against one `expect`.
struct Judging<'a> {
    run: &'a PackRun,
    ex: &'a Expect,
    label: &'a str,
    idx: usize,
    r: &'a Received,
    /// The response's request id, redacted.
    rid: Option<String>,
}

/// A broken expectation, before it becomes a finding.
struct Broken {
    level: Level,
    /// The matcher's own basis, if it names one (else the expect's, else the check's).
    basis: Option<Basis>,
    advice: Option<String>,
    message: String,
    expected: String,
    actual: String,
    pointer: Option<String>,
}

impl Judging<'_> {
    fn push(&self, st: &mut CheckState, b: Broken) {
        let basis = Some(b.basis.or(self.ex.basis).unwrap_or(st.basis));
        let f = st.finding(b.level, basis, self.label, b.message);
        f.expected = Some(b.expected);
        f.actual = Some(self.run.redactor.redact(&b.actual));
        f.request_id = self.rid.clone();
        f.exchange = Some(self.idx);
        f.pointer = b.pointer;
        f.advice = b.advice;
    }

    /// Every matcher of `spec` on one value (a header or a JSON pointer).
    fn matchers(
        &self,
        st: &mut CheckState,
        spec: &MatchSpec,
        actual: Option<&Value>,
        subject: &str,
        pointer: Option<&String>,
    ) {
        for (m, fail) in eval_matchers(self.run, st, spec, actual) {
            let message = matcher_message(&m, subject, &fail);
            self.push(
                st,
                Broken {
                    level: m.level.unwrap_or(self.ex.level),
                    basis: m.basis,
                    advice: m.advice.clone().or(self.ex.advice.clone()),
                    message,
                    expected: fail.0,
                    actual: fail.1,
                    pointer: pointer.cloned(),
                },
            );
        }
    }

    /// `within`: the answer came inside the SLA (a template of a duration).
    fn within(&self, st: &mut CheckState, w: &Template) {
        let look = Lookup {
            run: self.run,
            st,
            extra: &[],
        };
        let Ok(d) = w.render(&look).and_then(|t| parse_duration(&t)) else {
            return;
        };
        let took = self.r.duration;
        if took > d {
            self.push(
                st,
                Broken {
                    level: self.ex.level,
                    basis: None,
                    advice: self.ex.advice.clone(),
                    message: format!(
                        "answered in {:.0} ms, over the {:.0} ms SLA",
                        took.as_secs_f64() * 1000.0,
                        d.as_secs_f64() * 1000.0
                    ),
                    expected: format!("≤ {:.0} ms", d.as_secs_f64() * 1000.0),
                    actual: format!("{:.0} ms", took.as_secs_f64() * 1000.0),
                    pointer: None,
                },
            );
        }
    }
}

/// A header by name, or the first present of `A|B` alternatives (the
/// `X-RateLimit-*` and IETF `RateLimit-*` spellings of one convention).
pub(super) fn header_any<'r>(r: &'r Received, names: &str) -> Option<&'r str> {
    names.split('|').find_map(|n| r.header(n.trim()))
}

/// The scenario's own words ("429 without Retry-After"), or else
/// "header Retry-After: expected present, got absent". Expected and actual
/// also travel in the finding's own fields, which every renderer shows.
fn matcher_message(m: &Matcher, subject: &str, (expected, actual): &(String, String)) -> String {
    match &m.message {
        Some(text) => text.clone(),
        None => format!("{subject}: expected {expected}, got {actual}"),
    }
}

pub(super) fn short_body(r: &Received) -> String {
    super::http::snippet(&String::from_utf8_lossy(&r.body), 160)
}

/// Returns the failed matchers with (expected, actual) text.
fn eval_matchers<'m>(
    run: &PackRun,
    st: &CheckState,
    spec: &'m MatchSpec,
    actual: Option<&Value>,
) -> Vec<(std::borrow::Cow<'m, Matcher>, (String, String))> {
    let list: Vec<std::borrow::Cow<'m, Matcher>> = match spec {
        MatchSpec::One(m) => vec![std::borrow::Cow::Borrowed(m)],
        MatchSpec::Many(ms) => ms.iter().map(std::borrow::Cow::Borrowed).collect(),
        MatchSpec::Equals(v) => vec![std::borrow::Cow::Owned(Matcher {
            eq: Some(v.clone()),
            ..Matcher::default()
        })],
    };
    let look = Lookup {
        run,
        st,
        extra: &[],
    };
    let show = |v: Option<&Value>| match v {
        None => "absent".to_string(),
        Some(Value::String(s)) => format!("\"{s}\""),
        Some(v) => v.to_string(),
    };
    let mut out = vec![];
    for m in list {
        if let Some(e) = check_matcher(&m, actual, &look) {
            out.push((m, (e, show(actual))));
        }
    }
    out
}

/// `None` when the matcher holds, else what was expected.
fn check_matcher(m: &Matcher, actual: Option<&Value>, look: &Lookup) -> Option<String> {
    if let Some(p) = m.present {
        if p != actual.is_some() {
            return Some(if p { "present".into() } else { "absent".into() });
        }
    }
    let Some(a) = actual else {
        let needs_value = m.eq.is_some()
            || m.one_of.is_some()
            || m.gte.is_some()
            || m.lte.is_some()
            || m.gt.is_some()
            || m.lt.is_some()
            || m.prefix.is_some()
            || m.contains.is_some()
            || m.type_.is_some()
            || m.state.is_some();
        if needs_value && !m.optional {
            return Some(describe_matcher(m, look));
        }
        return None;
    };
    let render = |v: &JsonTemplate| v.render(look).unwrap_or_else(|_| Value::clone(v));
    if let Some(e) = &m.eq {
        if !expr::equal(a, &render(e)) {
            return Some(describe_matcher(m, look));
        }
    }
    if let Some(e) = &m.ne {
        if expr::equal(a, &render(e)) {
            return Some(describe_matcher(m, look));
        }
    }
    if let Some(list) = &m.one_of {
        if !list.iter().any(|x| expr::equal(a, &render(x))) {
            return Some(describe_matcher(m, look));
        }
    }
    let n = expr::as_number(a);
    let bound =
        |b: Option<f64>, ok: fn(f64, f64) -> bool| b.is_some_and(|b| !n.is_some_and(|x| ok(x, b)));
    if bound(m.gte, |x, b| x >= b)
        || bound(m.lte, |x, b| x <= b)
        || bound(m.gt, |x, b| x > b)
        || bound(m.lt, |x, b| x < b)
    {
        return Some(describe_matcher(m, look));
    }
    if let Some(p) = &m.prefix {
        if !a.as_str().is_some_and(|s| s.starts_with(p.as_str())) {
            return Some(describe_matcher(m, look));
        }
    }
    if let Some(c) = &m.contains {
        if !a.as_str().is_some_and(|s| s.contains(c.as_str())) {
            return Some(describe_matcher(m, look));
        }
    }
    if let Some(want) = &m.state {
        let aliases = look.run.pack.file.jobs.as_ref().map(|j| &j.aliases);
        let ok = a
            .as_str()
            .is_some_and(|got| got == want || aliases.and_then(|al| al.get(got)) == Some(want));
        if !ok {
            return Some(describe_matcher(m, look));
        }
    }
    if let Some(t) = &m.type_ {
        let ok = match t.as_str() {
            "string" => a.is_string(),
            "number" => a.is_number(),
            "integer" => a.is_i64() || a.is_u64(),
            "boolean" => a.is_boolean(),
            "object" => a.is_object(),
            "array" => a.is_array(),
            "null" => a.is_null(),
            _ => false,
        };
        if !ok {
            return Some(describe_matcher(m, look));
        }
    }
    None
}

fn describe_matcher(m: &Matcher, look: &Lookup) -> String {
    let render = |v: &JsonTemplate| {
        let v = v.render(look).unwrap_or_else(|_| Value::clone(v));
        match v {
            Value::String(s) => format!("\"{s}\""),
            v => v.to_string(),
        }
    };
    let mut parts = vec![];
    if let Some(p) = m.present {
        parts.push(if p {
            "present".to_string()
        } else {
            "absent".to_string()
        });
    }
    if let Some(e) = &m.eq {
        parts.push(render(e));
    }
    if let Some(e) = &m.ne {
        parts.push(format!("not {}", render(e)));
    }
    if let Some(l) = &m.one_of {
        parts.push(format!(
            "one of {}",
            l.iter().map(render).collect::<Vec<_>>().join(", ")
        ));
    }
    for (op, b) in [("≥", m.gte), ("≤", m.lte), (">", m.gt), ("<", m.lt)] {
        if let Some(b) = b {
            parts.push(format!("{op} {b}"));
        }
    }
    if let Some(p) = &m.prefix {
        parts.push(format!("starting with \"{p}\""));
    }
    if let Some(c) = &m.contains {
        parts.push(format!("containing \"{c}\""));
    }
    if let Some(t) = &m.type_ {
        parts.push(format!(
            "a{} {t}",
            if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "n"
            } else {
                ""
            }
        ));
    }
    if let Some(want) = &m.state {
        let aliases = look.run.pack.file.jobs.as_ref().map(|j| &j.aliases);
        let mut names = vec![format!("\"{want}\"")];
        for (alias, of) in aliases.into_iter().flatten() {
            if of == want {
                names.push(format!("\"{alias}\""));
            }
        }
        parts.push(format!("state {}", names.join(" or ")));
    }
    if m.optional {
        parts.push("(when present)".into());
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::pack::Matcher;

    /// The video pack's run state (its `jobs.aliases` has `pending: created`).
    fn run() -> PackRun {
        let vars = BTreeMap::from([("sla".to_string(), "2s".to_string())]);
        PackRun::new(
            crate::pack::load_embedded("removebgvideo").expect("embedded pack"),
            "http://127.0.0.1:9".into(),
            BTreeMap::new(),
            reqwest::Client::new(),
            &vars,
            true,
            "01TESTRUN0000000000000000".into(),
        )
    }

    fn holds(m: &Matcher, actual: Option<Value>) -> Option<String> {
        let run = run();
        let st = CheckState::default();
        let look = Lookup {
            run: &run,
            st: &st,
            extra: &[("want", json!("created"))],
        };
        check_matcher(m, actual.as_ref(), &look)
    }

    #[test]
    fn presence_and_optional_values() {
        let present = Matcher {
            present: Some(true),
            ..Matcher::default()
        };
        assert_eq!(holds(&present, Some(json!(1))), None);
        assert_eq!(holds(&present, None).as_deref(), Some("present"));
        let typed = Matcher {
            type_: Some("integer".into()),
            ..Matcher::default()
        };
        assert_eq!(holds(&typed, None).as_deref(), Some("an integer"));
        let optional = Matcher {
            optional: true,
            ..typed.clone()
        };
        assert_eq!(holds(&optional, None), None);
        assert!(holds(&optional, Some(json!("7"))).is_some());
    }

    #[test]
    fn equality_renders_templates_and_compares_numbers_by_value() {
        let eq = Matcher {
            eq: Some(json!("{{want}}").into()),
            ..Matcher::default()
        };
        assert_eq!(holds(&eq, Some(json!("created"))), None);
        assert_eq!(
            holds(&eq, Some(json!("completed"))).as_deref(),
            Some("\"created\"")
        );
        let one = Matcher {
            eq: Some(json!(1).into()),
            ..Matcher::default()
        };
        assert_eq!(holds(&one, Some(json!(1.0))), None);
    }

    #[test]
    fn bounds_prefixes_and_lists() {
        let bounded = Matcher {
            gte: Some(1.0),
            lte: Some(100.0),
            ..Matcher::default()
        };
        assert_eq!(holds(&bounded, Some(json!(91.75))), None);
        assert_eq!(
            holds(&bounded, Some(json!(0))).as_deref(),
            Some("≥ 1, ≤ 100")
        );
        assert!(
            holds(&bounded, Some(json!("50"))).is_none(),
            "numeric strings count"
        );
        let prefix = Matcher {
            prefix: Some("req_".into()),
            ..Matcher::default()
        };
        assert!(holds(&prefix, Some(json!("abc"))).is_some());
        let one_of = Matcher {
            one_of: Some(vec![json!(401).into(), json!(403).into()]),
            ..Matcher::default()
        };
        assert_eq!(holds(&one_of, Some(json!(403))), None);
        assert_eq!(
            holds(&one_of, Some(json!(200))).as_deref(),
            Some("one of 401, 403")
        );
    }

    #[test]
    fn a_state_matches_its_aliases() {
        let state = Matcher {
            state: Some("created".into()),
            ..Matcher::default()
        };
        assert_eq!(holds(&state, Some(json!("created"))), None);
        assert_eq!(holds(&state, Some(json!("pending"))), None);
        assert_eq!(
            holds(&state, Some(json!("processing"))).as_deref(),
            Some("state \"created\" or \"pending\"")
        );
    }
}
