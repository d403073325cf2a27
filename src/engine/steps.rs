//! Running one scenario's steps: templating, sending, expectations, captures.
//! A broken expectation becomes a `Finding`; only problems that stop the
//! check from establishing anything are `Err(String)` (status `error`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;

use super::PackRun;
use super::http::{self, Outcome, Prepared, Received};
use super::retry::send_with_retry;
use crate::pack::expr;
use crate::pack::template::{self, parse_duration};
use crate::pack::{
    AuthSpec, Expect, Level, MatchSpec, Matcher, NumSpec, OnDeadline, RequestSpec, Scenario,
    StatusSpec, Step, status_item_matches, step_label,
};
use crate::report::{Basis, Exchange, Finding, FindingLevel};

/// Longest a `wait` step (or an automatic back-off) may sleep.
pub const WAIT_CAP: Duration = Duration::from_secs(30);
/// The most polls of one job (with the shortest interval below, a poll
/// deadline cannot turn into an unbounded request loop).
pub const MAX_POLLS: usize = 1000;
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Everything one check accumulates.
#[derive(Default)]
pub struct CheckState {
    pub vars: BTreeMap<String, Value>,
    pub findings: Vec<Finding>,
    pub evidence: Vec<Exchange>,
    /// Parallel to `evidence`: the pack endpoint each exchange targeted.
    pub endpoints: Vec<Option<String>>,
    /// Parallel to `evidence`: the whole response, for the pack-wide checks.
    pub received: Vec<Option<Arc<Received>>>,
    sent: HashMap<String, Prepared>,
    uuid: String,
    /// The check's basis, for expectations that name none.
    basis: Basis,
    /// When the check is cut off (its own limit or the run's, whichever is first).
    pub deadline: Option<Instant>,
    /// The check's id, for reasons that later checks of the pack quote.
    pub check: String,
}

impl CheckState {
    pub fn for_check(id: &str) -> CheckState {
        CheckState {
            check: id.to_string(),
            ..CheckState::default()
        }
    }

    pub(super) fn record(
        &mut self,
        ex: Exchange,
        endpoint: Option<String>,
        rec: Option<Received>,
    ) -> usize {
        self.evidence.push(ex);
        self.endpoints.push(endpoint);
        // Kept past the step (polls, the pack-wide checks): a bounded copy.
        self.received.push(rec.map(|r| {
            Arc::new(if r.body.len() > http::KEEP_LIMIT {
                r.slim()
            } else {
                r
            })
        }));
        self.evidence.len() - 1
    }

    /// Time left before the check is cut off (unbounded without a deadline).
    pub(super) fn remaining(&self) -> Duration {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::MAX)
    }

    /// A finding about one response, once per check (429s repeat).
    pub(super) fn finding_once(&mut self, step: &str, message: String, idx: usize, r: &Received) {
        if self.findings.iter().any(|f| f.message == message) {
            return;
        }
        let f = self.finding(Level::Fail, Some(Basis::Conv), step, message);
        f.exchange = Some(idx);
        f.request_id = r.request_id.clone();
    }

    /// A finding; `basis` is what the broken expectation rests on, `None`
    /// when the harness itself could not do something.
    fn finding(
        &mut self,
        level: Level,
        basis: Option<Basis>,
        step: &str,
        message: String,
    ) -> &mut Finding {
        self.findings.push(Finding {
            level: match level {
                Level::Fail => FindingLevel::Fail,
                Level::Warn => FindingLevel::Warn,
            },
            basis,
            step: step.to_string(),
            message,
            expected: None,
            actual: None,
            request_id: None,
            exchange: None,
            pointer: None,
            advice: None,
        });
        self.findings.last_mut().expect("just pushed")
    }
}

struct Lookup<'a> {
    run: &'a PackRun,
    st: &'a CheckState,
    extra: &'a [(&'a str, Value)],
}

impl template::Vars for Lookup<'_> {
    fn get(&self, name: &str) -> Option<Value> {
        if let Some((_, v)) = self.extra.iter().find(|(k, _)| *k == name) {
            return Some(v.clone());
        }
        if let Some(v) = self.st.vars.get(name) {
            return Some(v.clone());
        }
        if let Some(v) = self.run.inputs.get(name) {
            return Some(v.clone());
        }
        match name {
            "uuid" => Some(Value::String(self.st.uuid.clone())),
            "run_id" => Some(Value::String(self.run.run_id.clone())),
            "now_ms" => Some(serde_json::json!(chrono::Utc::now().timestamp_millis())),
            _ => None,
        }
    }
}

pub async fn run_steps(run: &PackRun, sc: &Scenario, st: &mut CheckState) -> Result<(), String> {
    // One uuid per check run: steps that must share a key (a replay, a
    // conflict) use `{{uuid}}`; distinct values add a prefix or `{{i}}`.
    st.uuid = uuid::Uuid::now_v7().to_string();
    st.basis = sc.spec.basis.unwrap_or(Basis::Doc);
    for (i, step) in sc.spec.steps.iter().enumerate() {
        let label = step_label(i, step);
        if let Some(w) = &step.when {
            let e = expr::parse(w).map_err(|e| format!("{label}: when: {e}"))?;
            let v = e
                .eval(&Lookup {
                    run,
                    st,
                    extra: &[],
                })
                .map_err(|e| format!("{label}: when: {e}"))?;
            if !expr::truthy(&v) {
                continue;
            }
        }
        run_step(run, step, &label, st).await?;
    }
    Ok(())
}

async fn run_step(
    run: &PackRun,
    step: &Step,
    label: &str,
    st: &mut CheckState,
) -> Result<(), String> {
    let expect = step.expect.clone().unwrap_or_default();
    if let Some(spec) = &step.request {
        if let Some(set) = &step.for_each {
            let ids: Vec<String> = run
                .pack
                .file
                .endpoints
                .iter()
                .filter(|(_, e)| set == "all" || e.auth)
                .map(|(id, _)| id.clone())
                .collect();
            for id in ids {
                let extra = [("endpoint", Value::String(id.clone()))];
                let p =
                    prepare(run, spec, st, &extra, None).map_err(|e| format!("{label}: {e}"))?;
                let sub = format!("{label} [{id}]");
                // A route that never answered was not checked: the check
                // errors rather than passing on the routes that did.
                let Some((idx, r)) = send_with_retry(run, &p, &sub, st, step, &expect).await else {
                    return Err(format!("{sub}: {}", last_error(st)));
                };
                judge(run, &expect, &sub, st, idx, &r);
            }
            return Ok(());
        }
        let p = prepare(run, spec, st, &[], None).map_err(|e| format!("{label}: {e}"))?;
        if let Some(n) = &step.name {
            st.sent.insert(n.clone(), p.clone());
        }
        let Some((idx, r)) = send_with_retry(run, &p, label, st, step, &expect).await else {
            return Err(format!("{label}: {}", last_error(st)));
        };
        judge(run, &expect, label, st, idx, &r);
        capture(run, step, label, st, &r)?;
        return Ok(());
    }
    if let Some(name) = &step.repeat {
        let p = st
            .sent
            .get(name)
            .cloned()
            .ok_or_else(|| format!("{label}: step `{name}` did not send a request"))?;
        let Some((idx, r)) = send_with_retry(run, &p, label, st, step, &expect).await else {
            return Err(format!("{label}: {}", last_error(st)));
        };
        judge(run, &expect, label, st, idx, &r);
        capture(run, step, label, st, &r)?;
        return Ok(());
    }
    if let Some(w) = &step.wait {
        let text = template::render(
            w,
            &Lookup {
                run,
                st,
                extra: &[],
            },
        )
        .map_err(|e| format!("{label}: {e}"))?;
        let d = parse_duration(&text).map_err(|e| format!("{label}: wait: {e}"))?;
        if d > WAIT_CAP {
            st.finding(
                Level::Fail,
                Some(st.basis),
                label,
                format!(
                    "asked to wait {:.0} s, longer than golive's cap of {} s: not waited on",
                    d.as_secs_f64(),
                    WAIT_CAP.as_secs()
                ),
            )
            .advice = Some(
                "a Retry-After this long makes the API unusable for interactive clients".into(),
            );
            return Ok(());
        }
        if d >= st.remaining() {
            return Err(format!(
                "{label}: a wait of {:.1} s would outlast the check's time limit",
                d.as_secs_f64()
            ));
        }
        tokio::time::sleep(d).await;
        return Ok(());
    }
    if let Some(asserts) = &step.assert {
        for a in asserts {
            let e = expr::parse(&a.expr).map_err(|e| format!("{label}: {e}"))?;
            let look = Lookup {
                run,
                st,
                extra: &[],
            };
            let ok = match e.eval(&look) {
                Ok(v) => expr::truthy(&v),
                Err(err) => {
                    let msg =
                        template::render(&a.message, &look).unwrap_or_else(|_| a.message.clone());
                    let basis = Some(a.basis.unwrap_or(st.basis));
                    let f = st.finding(
                        a.level,
                        basis,
                        label,
                        format!("{msg} (could not evaluate: {err})"),
                    );
                    f.expected = Some(a.expr.clone());
                    continue;
                }
            };
            if !ok {
                let mut names = vec![];
                e.vars(&mut names);
                names.dedup();
                let actual = names
                    .iter()
                    .map(|n| {
                        let v = look.get_display(n);
                        format!("{n} = {v}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let msg = template::render(&a.message, &look).unwrap_or_else(|_| a.message.clone());
                let basis = Some(a.basis.unwrap_or(st.basis));
                let f = st.finding(a.level, basis, label, msg);
                f.expected = Some(a.expr.clone());
                f.actual = Some(actual);
                f.advice = a.advice.clone();
            }
        }
        return Ok(());
    }
    if let Some(poll) = &step.poll {
        return run_poll(run, step, poll, label, st, &expect).await;
    }
    if let Some(burst) = &step.burst {
        return run_burst(run, step, burst, label, st, &expect).await;
    }
    Err(format!("{label}: the step has no action"))
}

impl Lookup<'_> {
    fn get_display(&self, name: &str) -> String {
        use template::Vars;
        match self.get(name) {
            Some(Value::String(s)) => format!("\"{s}\""),
            Some(v) => v.to_string(),
            None => "(undefined)".into(),
        }
    }
}

fn last_error(st: &CheckState) -> String {
    st.evidence
        .last()
        .and_then(|e| e.error.clone())
        .unwrap_or_else(|| "no response".into())
}

/// Renders a request spec into a sendable request.
pub(crate) fn prepare(
    run: &PackRun,
    spec: &RequestSpec,
    st: &CheckState,
    extra: &[(&str, Value)],
    _index: Option<usize>,
) -> Result<Prepared, String> {
    let look = Lookup { run, st, extra };
    let pack = &run.pack.file;
    let (method, mut path, endpoint) = match (&spec.endpoint, &spec.method, &spec.path) {
        (Some(ep), _, _) => {
            let id = template::render(ep, &look)?;
            let e = pack
                .endpoints
                .get(&id)
                .ok_or_else(|| format!("endpoint `{id}` is not in the pack"))?;
            (e.method.to_ascii_uppercase(), e.path.clone(), Some(id))
        }
        (None, Some(m), Some(p)) => (m.to_ascii_uppercase(), template::render(p, &look)?, None),
        _ => return Err("the request names no endpoint".into()),
    };
    // Path parameters: the step's, else the endpoint's samples.
    for name in crate::pack::path_params(&path.clone()) {
        let val = match spec.params.get(&name) {
            Some(v) => template::render(v, &look)?,
            None => endpoint
                .as_ref()
                .and_then(|e| pack.endpoints[e].sample.get(&name).cloned())
                .ok_or_else(|| format!("no value for path parameter `{name}`"))?,
        };
        path = path.replace(&format!("{{{name}}}"), &url_escape(&val));
    }
    let mut query: Vec<(String, String)> = vec![];
    for (k, v) in &spec.query {
        query.push((k.clone(), template::render(v, &look)?));
    }
    let mut headers: Vec<(String, String)> = vec![];
    // Auth.
    let (role, scheme, in_query) = match &spec.auth {
        None => ("valid".to_string(), None, false),
        Some(AuthSpec::Role(r)) => (r.clone(), None, false),
        Some(AuthSpec::Full(f)) => (f.key.clone(), f.scheme.clone(), f.in_query),
    };
    let key_value: Option<String> = match role.as_str() {
        "none" => None,
        "invalid" => Some(run.invalid_key.clone()),
        r => Some(
            run.keys
                .get(r)
                .map(|s| s.expose().to_string())
                .ok_or_else(|| format!("no key for role `{r}`"))?,
        ),
    };
    if let Some(k) = key_value {
        if in_query {
            let qp = pack
                .auth
                .query_param
                .clone()
                .unwrap_or_else(|| "api_key".into());
            query.push((qp, k));
        } else {
            let sname = scheme.unwrap_or_else(|| pack.auth.default.clone());
            let s = pack
                .auth
                .schemes
                .get(&sname)
                .ok_or_else(|| format!("unknown auth scheme `{sname}`"))?;
            headers.push((s.header.clone(), s.value.replace("{key}", &k)));
        }
    }
    for (k, v) in &spec.headers {
        let value = template::render(v, &look)?;
        // A value from an input or a server's answer must not split the header.
        if let Some(why) = crate::pack::header_problem(k, &value) {
            return Err(why);
        }
        headers.push((k.clone(), value));
    }
    let mut body = None;
    let has_ct = |h: &[(String, String)]| {
        h.iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    };
    if let Some(j) = &spec.json {
        let v = template::render_value(j, &look)?;
        body = Some(Bytes::from(
            serde_json::to_vec(&v).map_err(|e| e.to_string())?,
        ));
        if !has_ct(&headers) {
            headers.push((
                "Content-Type".into(),
                spec.content_type
                    .clone()
                    .unwrap_or_else(|| "application/json".into()),
            ));
        }
    } else if let Some(mp) = &spec.multipart {
        let boundary = format!("golive-{}", st.uuid.replace('-', ""));
        let mut fields = vec![];
        for (k, v) in &mp.fields {
            fields.push((k.clone(), template::render(v, &look)?));
        }
        let mut files = vec![];
        for f in &mp.files {
            let data = match (&f.content, f.size) {
                (Some(c), _) => c.clone().into_bytes(),
                (None, Some(n)) => http::generated_file(&f.content_type, n),
                (None, None) => vec![],
            };
            files.push((
                f.name.clone(),
                template::render(&f.filename, &look)?,
                f.content_type.clone(),
                data,
            ));
        }
        body = Some(Bytes::from(http::multipart_body(
            &boundary, &fields, &files,
        )));
        if !has_ct(&headers) {
            headers.push((
                "Content-Type".into(),
                format!("multipart/form-data; boundary={boundary}"),
            ));
        }
    } else if let Some(b) = &spec.body {
        body = Some(Bytes::from(template::render(b, &look)?.into_bytes()));
        if let Some(ct) = &spec.content_type {
            if !has_ct(&headers) {
                headers.push(("Content-Type".into(), ct.clone()));
            }
        }
    }
    let timeout = match &spec.timeout {
        Some(t) => parse_duration(&template::render(t, &look)?)?,
        None => run.http_timeout,
    };
    let mut url = format!("{}{}", run.base, path);
    if !query.is_empty() {
        let q = query
            .iter()
            .map(|(k, v)| format!("{}={}", url_escape(k), url_escape(v)))
            .collect::<Vec<_>>()
            .join("&");
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&q);
    }
    Ok(Prepared {
        method: reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("bad method `{method}`"))?,
        url,
        headers,
        body,
        timeout,
        endpoint,
    })
}

fn url_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Applies an `expect` to one response.
fn judge(run: &PackRun, ex: &Expect, label: &str, st: &mut CheckState, idx: usize, r: &Received) {
    let rid = r.request_id.as_ref().map(|x| run.redactor.redact(x));
    let push = |st: &mut CheckState,
                (level, basis): (Level, Option<Basis>),
                advice: Option<String>,
                msg: String,
                expected: String,
                actual: String,
                pointer: Option<String>| {
        let basis = Some(basis.or(ex.basis).unwrap_or(st.basis));
        let f = st.finding(level, basis, label, msg);
        f.expected = Some(expected);
        f.actual = Some(run.redactor.redact(&actual));
        f.request_id = rid.clone();
        f.exchange = Some(idx);
        f.pointer = pointer;
        f.advice = advice;
    };
    if let Some(s) = &ex.status {
        if !s.matches(r.status) {
            let body = short_body(r);
            push(
                st,
                (ex.level, None),
                ex.advice.clone(),
                format!("expected status {}, got {}", s.describe(), r.status),
                s.describe(),
                format!("{} {body}", r.status),
                None,
            );
        }
    }
    for (name, spec) in &ex.headers {
        let actual = header_any(r, name).map(|v| Value::String(v.to_string()));
        for (m, fail) in eval_matchers(run, st, spec, actual.as_ref()) {
            let msg = matcher_message(&m, &format!("header {name}"), &fail);
            push(
                st,
                (m.level.unwrap_or(ex.level), m.basis),
                m.advice.clone().or(ex.advice.clone()),
                msg,
                fail.0,
                fail.1,
                None,
            );
        }
    }
    if !ex.json.is_empty() {
        match &r.json {
            None => push(
                st,
                (ex.level, None),
                ex.advice.clone(),
                "the body is not JSON".into(),
                "a JSON body".into(),
                short_body(r),
                None,
            ),
            Some(body) => {
                for (ptr, spec) in &ex.json {
                    let actual = body.pointer(ptr).cloned();
                    for (m, fail) in eval_matchers(run, st, spec, actual.as_ref()) {
                        let msg = matcher_message(&m, &format!("body {ptr}"), &fail);
                        push(
                            st,
                            (m.level.unwrap_or(ex.level), m.basis),
                            m.advice.clone().or(ex.advice.clone()),
                            msg,
                            fail.0,
                            fail.1,
                            Some(ptr.clone()),
                        );
                    }
                }
            }
        }
    }
    if let Some(w) = &ex.within {
        let look = Lookup {
            run,
            st,
            extra: &[],
        };
        if let Ok(d) = template::render(w, &look)
            .map_err(|e| e.to_string())
            .and_then(|t| parse_duration(&t))
        {
            if r.duration > d {
                push(
                    st,
                    (ex.level, None),
                    ex.advice.clone(),
                    format!(
                        "answered in {:.0} ms, over the {:.0} ms SLA",
                        r.duration.as_secs_f64() * 1000.0,
                        d.as_secs_f64() * 1000.0
                    ),
                    format!("≤ {:.0} ms", d.as_secs_f64() * 1000.0),
                    format!("{:.0} ms", r.duration.as_secs_f64() * 1000.0),
                    None,
                );
            }
        }
    }
}

/// A header by name, or the first present of `A|B` alternatives (the
/// `X-RateLimit-*` and IETF `RateLimit-*` spellings of one convention).
fn header_any<'r>(r: &'r Received, names: &str) -> Option<&'r str> {
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

fn short_body(r: &Received) -> String {
    let t = String::from_utf8_lossy(&r.body);
    let t = t.trim();
    if t.is_empty() {
        return "(empty body)".into();
    }
    let mut s: String = t.chars().take(160).collect();
    if t.chars().count() > 160 {
        s.push('…');
    }
    s
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
    let render = |v: &Value| template::render_value(v, look).unwrap_or_else(|_| v.clone());
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
    let render = |v: &Value| {
        let v = template::render_value(v, look).unwrap_or_else(|_| v.clone());
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

fn capture_one(src: &str, r: &Received) -> Value {
    match src {
        "status" => serde_json::json!(r.status),
        "request_id" => r
            .request_id
            .clone()
            .map(Value::String)
            .unwrap_or(Value::Null),
        "duration_ms" => serde_json::json!(r.duration.as_secs_f64() * 1000.0),
        "body" => r.json.clone().unwrap_or(Value::Null),
        s => {
            if let Some(p) = s.strip_prefix("body:") {
                r.json
                    .as_ref()
                    .and_then(|j| j.pointer(p))
                    .cloned()
                    .unwrap_or(Value::Null)
            } else if let Some(h) = s.strip_prefix("header:") {
                header_any(r, h)
                    .map(|v| Value::String(v.to_string()))
                    .unwrap_or(Value::Null)
            } else {
                Value::Null
            }
        }
    }
}

/// Captures the step's values. A value taken from a body that is not JSON
/// cannot be captured: the check ends here, since later steps depend on it.
fn capture(
    _run: &PackRun,
    step: &Step,
    label: &str,
    st: &mut CheckState,
    r: &Received,
) -> Result<(), String> {
    for (name, src) in &step.capture {
        if src.starts_with("body") && r.json.is_none() {
            return Err(format!(
                "{label}: `{name}` could not be captured: {}",
                not_json_reason(r)
            ));
        }
        st.vars.insert(name.clone(), capture_one(src, r));
    }
    Ok(())
}

/// Why a response has no JSON body, in words.
fn not_json_reason(r: &Received) -> String {
    if r.capped {
        format!(
            "the {} body was cut at golive's {} KiB cap, so it could not be parsed",
            r.status,
            http::MAX_BODY / 1024
        )
    } else if r.body.is_empty() {
        format!("the {} response has an empty body, not JSON", r.status)
    } else {
        format!("the {} body is not JSON: {}", r.status, short_body(r))
    }
}

async fn run_poll(
    run: &PackRun,
    step: &Step,
    poll: &crate::pack::PollSpec,
    label: &str,
    st: &mut CheckState,
    expect: &Expect,
) -> Result<(), String> {
    let jobs = run
        .pack
        .file
        .jobs
        .as_ref()
        .ok_or("the pack has no jobs section")?;
    let look_d = |st: &CheckState, s: &Option<String>, d: &str| -> Result<Duration, String> {
        let look = Lookup {
            run,
            st,
            extra: &[],
        };
        let text = template::render(s.as_deref().unwrap_or(d), &look)?;
        parse_duration(&text)
    };
    let mut interval =
        look_d(st, &poll.interval, &jobs.poll.interval).map_err(|e| format!("{label}: {e}"))?;
    let max_interval = look_d(st, &poll.max_interval, &jobs.poll.max_interval)
        .map_err(|e| format!("{label}: {e}"))?;
    let deadline =
        look_d(st, &poll.deadline, &jobs.poll.deadline).map_err(|e| format!("{label}: {e}"))?;
    let backoff = poll.backoff.unwrap_or(jobs.poll.backoff);
    interval = interval.max(MIN_POLL_INTERVAL);
    // A job of this pack already missed its deadline: this one is not waited
    // on again (that check carries the evidence).
    if let Some(why) = run.stuck_job.lock().map(|g| g.clone()).unwrap_or(None) {
        return Err(format!("{label}: not polled: {why}"));
    }
    // The poll ends in time for the check to report it, not at the check's cut-off.
    let poll_deadline = deadline;
    let deadline = deadline.min(st.remaining().saturating_sub(Duration::from_millis(500)));
    let p = prepare(run, &poll.request, st, &[], None).map_err(|e| format!("{label}: {e}"))?;
    if let Some(n) = &step.name {
        st.sent.insert(n.clone(), p.clone());
    }
    let start = Instant::now();
    let mut polls = 0usize;
    let mut last_progress: Option<f64> = None;
    let mut states: Vec<String> = vec![];
    loop {
        polls += 1;
        let Some((idx, r)) = send_with_retry(run, &p, label, st, step, &Expect::default()).await
        else {
            return Err(format!("{label}: polling failed: {}", last_error(st)));
        };
        if r.json.is_none() && (200..300).contains(&r.status) {
            return Err(format!(
                "{label}: the job's state could not be read: {}",
                not_json_reason(&r)
            ));
        }
        let state = r
            .json
            .as_ref()
            .and_then(|j| j.pointer(&jobs.status))
            .map(template::display);
        if let Some(s) = &state {
            if states.last() != Some(s) {
                states.push(s.clone());
            }
        }
        // The contract describes progress up to success; a failed job's
        // progress is open (kept or zeroed), so it is not judged.
        let failed = state.as_ref().is_some_and(|s| jobs.failure.contains(s));
        if poll.monotonic && !failed {
            if let Some(pp) = &jobs.progress {
                let prog = r
                    .json
                    .as_ref()
                    .and_then(|j| j.pointer(pp))
                    .and_then(|v| v.as_f64());
                if let (Some(prev), Some(now)) = (last_progress, prog) {
                    if now < prev {
                        let f = st.finding(
                            Level::Fail,
                            Some(st.basis),
                            label,
                            format!("progress went backwards: {prev} → {now}"),
                        );
                        f.exchange = Some(idx);
                        f.request_id = r.request_id.clone();
                    }
                }
                if prog.is_some() {
                    last_progress = prog;
                }
            }
        }
        let terminal = state.as_ref().is_some_and(|s| jobs.terminal.contains(s));
        if terminal || !(200..300).contains(&r.status) {
            if !(200..300).contains(&r.status) && !terminal {
                let f = st.finding(
                    Level::Fail,
                    Some(st.basis),
                    label,
                    format!("polling got status {} instead of the job", r.status),
                );
                f.exchange = Some(idx);
                f.request_id = r.request_id.clone();
                f.actual = Some(short_body(&r));
            }
            st.vars.insert(
                format!("{}__polls", step.name.clone().unwrap_or_default()),
                serde_json::json!(polls),
            );
            judge(run, expect, label, st, idx, &r);
            capture(run, step, label, st, &r)?;
            return Ok(());
        }
        let elapsed = start.elapsed();
        if elapsed + interval > deadline || polls >= MAX_POLLS {
            let last = state
                .clone()
                .unwrap_or_else(|| "(no state in the response)".into());
            let limit = if deadline < poll_deadline {
                format!(
                    "{:.1} s (the check's time limit; the poll deadline is {:.0} s)",
                    deadline.as_secs_f64(),
                    poll_deadline.as_secs_f64()
                )
            } else {
                format!("{:.1} s", deadline.as_secs_f64())
            };
            let msg = format!(
                "the job did not reach a terminal state ({}) within {limit}: still `{last}` after {polls} polls (states seen: {})",
                jobs.terminal.join(", "),
                if states.is_empty() {
                    "none".to_string()
                } else {
                    states.join(" → ")
                }
            );
            let on_deadline = poll.on_deadline.unwrap_or(OnDeadline::Fail);
            if on_deadline != OnDeadline::Pass {
                if let Ok(mut g) = run.stuck_job.lock() {
                    g.get_or_insert_with(|| {
                        format!(
                            "a job already missed its {:.1} s deadline in {} (whose evidence shows it)",
                            deadline.as_secs_f64(),
                            st.check
                        )
                    });
                }
            }
            capture(run, step, label, st, &r)?;
            // Cut by the check's own limit, not the job's deadline: the claim
            // (terminal within the deadline) was not shown either way.
            let cut = deadline < poll_deadline;
            let why = if cut {
                format!(
                    "{label}: {msg}; the job's own deadline was not reached, so this is not shown either way (--check-limit raises the limit)"
                )
            } else {
                format!("{label}: {msg}")
            };
            match on_deadline {
                OnDeadline::Pass => return Ok(()),
                OnDeadline::Error => return Err(why),
                OnDeadline::Fail if cut => return Err(why),
                OnDeadline::Fail => {
                    let f = st.finding(Level::Fail, Some(st.basis), label, msg);
                    f.exchange = Some(idx);
                    f.request_id = r.request_id.clone();
                    f.expected = Some(format!(
                        "one of {} within {:.1} s",
                        jobs.terminal.join(", "),
                        deadline.as_secs_f64()
                    ));
                    f.actual = Some(last);
                    return Ok(());
                }
            }
        }
        tokio::time::sleep(interval).await;
        interval = Duration::from_secs_f64(
            (interval.as_secs_f64() * backoff).min(max_interval.as_secs_f64()),
        );
    }
}

async fn run_burst(
    run: &PackRun,
    step: &Step,
    burst: &crate::pack::BurstSpec,
    label: &str,
    st: &mut CheckState,
    expect: &Expect,
) -> Result<(), String> {
    let count =
        resolve_num(run, st, &burst.count).map_err(|e| format!("{label}: burst.count: {e}"))?;
    let concurrency = match &burst.concurrency {
        Some(c) => {
            resolve_num(run, st, c).map_err(|e| format!("{label}: burst.concurrency: {e}"))?
        }
        None => count,
    };
    let mut prepared = Vec::with_capacity(count);
    for i in 0..count {
        let extra = [("i", serde_json::json!(i))];
        prepared.push(
            prepare(run, &burst.request, st, &extra, Some(i))
                .map_err(|e| format!("{label}: {e}"))?,
        );
    }
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (i, p) in prepared.into_iter().enumerate() {
        let sem = sem.clone();
        let client = run.client.clone();
        let redactor = run.redactor.clone();
        let rid = run.request_id.clone();
        let start = run.run_start;
        let lbl = format!("{label} #{}", i + 1);
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let (ex, out) = http::send(&client, &p, &lbl, start, &redactor, &rid).await;
            (i, p.endpoint, ex, out)
        });
    }
    let mut results = Vec::with_capacity(count);
    while let Some(j) = set.join_next().await {
        if let Ok(r) = j {
            results.push(r);
        }
    }
    results.sort_by_key(|r| r.0);
    let mut responses: Vec<(usize, Received)> = vec![];
    for (_, endpoint, ex, out) in results {
        match out {
            Outcome::Response(r) => {
                let idx = st.record(ex, endpoint, Some(r.clone()));
                responses.push((idx, r));
            }
            Outcome::Failed(_) => {
                st.record(ex, endpoint, None);
            }
        }
    }
    let failed = count - responses.len();
    if responses.is_empty() {
        // Nothing was answered: nothing about the burst can be claimed.
        return Err(format!(
            "{label}: none of the {count} burst requests got an answer: {}",
            last_error(st)
        ));
    }
    if failed > 0 {
        let why = last_error(st);
        let f = st.finding(
            Level::Fail,
            None,
            label,
            format!("{failed} of {count} burst requests got no answer"),
        );
        f.actual = Some(why);
    }
    let counts = status_counts(&responses);
    if let Some(s) = &expect.status {
        for (idx, r) in &responses {
            if !s.matches(r.status) {
                let f = st.finding(
                    expect.level,
                    Some(expect.basis.unwrap_or(st.basis)),
                    label,
                    format!(
                        "a burst request got status {} (expected {})",
                        r.status,
                        s.describe()
                    ),
                );
                f.exchange = Some(*idx);
                f.request_id = r.request_id.clone();
                break;
            }
        }
    }
    if let Some(s) = &expect.some_status {
        if !responses.iter().any(|(_, r)| s.matches(r.status)) {
            let f = st.finding(
                expect.level,
                Some(expect.basis.unwrap_or(st.basis)),
                label,
                format!(
                    "no response of the burst of {count} had status {}",
                    s.describe()
                ),
            );
            f.expected = Some(format!("at least one {}", s.describe()));
            f.actual = Some(counts.clone());
            f.advice = expect.advice.clone();
        }
    }
    for (pattern, sub) in &expect.each {
        // Judge each matching response; keep one finding per distinct message.
        let before = st.findings.len();
        for (idx, r) in &responses {
            if status_item_matches(pattern, r.status).unwrap_or(false) {
                judge(run, sub, label, st, *idx, r);
            }
        }
        dedupe_since(st, before);
    }
    // Captures over the burst.
    for (name, src) in &step.capture {
        let (agg, rest) = src.split_once(':').unwrap_or((src.as_str(), ""));
        let v = match agg {
            "count" => serde_json::json!(
                responses
                    .iter()
                    .filter(|(_, r)| status_item_matches(rest, r.status).unwrap_or(false))
                    .count()
            ),
            _ => {
                let (stp, inner) = rest.split_once(':').unwrap_or(("", ""));
                if inner.starts_with("body") {
                    // A value that cannot be read must not count as absent.
                    if let Some((_, r)) = responses.iter().find(|(_, r)| {
                        r.json.is_none() && status_item_matches(stp, r.status).unwrap_or(false)
                    }) {
                        return Err(format!(
                            "{label}: `{name}` could not be captured: {}",
                            not_json_reason(r)
                        ));
                    }
                }
                let vals: Vec<Value> = responses
                    .iter()
                    .filter(|(_, r)| status_item_matches(stp, r.status).unwrap_or(false))
                    .map(|(_, r)| capture_one(inner, r))
                    .collect();
                match agg {
                    "first" => vals.first().cloned().unwrap_or(Value::Null),
                    "max" => vals
                        .iter()
                        .filter_map(expr::as_number)
                        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
                        .map(|x| serde_json::json!(x))
                        .unwrap_or(Value::Null),
                    "distinct" => {
                        if !vals.is_empty() && vals.iter().all(Value::is_null) {
                            // Nothing to count is not "no duplicates".
                            return Err(format!(
                                "{label}: `{name}` could not be counted: none of the {} matching responses carries {}",
                                vals.len(),
                                inner.strip_prefix("body:").unwrap_or(inner)
                            ));
                        }
                        let set: BTreeSet<String> = vals
                            .iter()
                            .filter(|v| !v.is_null())
                            .map(|v| v.to_string())
                            .collect();
                        serde_json::json!(set.len())
                    }
                    _ => Value::Array(vals),
                }
            }
        };
        st.vars.insert(name.clone(), v);
    }
    Ok(())
}

fn resolve_num(run: &PackRun, st: &CheckState, n: &NumSpec) -> Result<usize, String> {
    let v = match n {
        NumSpec::Num(n) => *n,
        NumSpec::Template(t) => {
            let text = template::render(
                t,
                &Lookup {
                    run,
                    st,
                    extra: &[],
                },
            )?;
            text.trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a whole number"))?
        }
    };
    if v == 0 || v > crate::pack::MAX_BURST {
        return Err(format!(
            "{v} is not between 1 and {}",
            crate::pack::MAX_BURST
        ));
    }
    Ok(v)
}

fn status_counts(responses: &[(usize, Received)]) -> String {
    let mut m: BTreeMap<u16, usize> = BTreeMap::new();
    for (_, r) in responses {
        *m.entry(r.status).or_default() += 1;
    }
    if m.is_empty() {
        return "no responses".into();
    }
    m.iter()
        .map(|(s, n)| format!("{n}× {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Folds findings added since `from` that share a message into one, noting how many.
fn dedupe_since(st: &mut CheckState, from: usize) {
    let tail: Vec<Finding> = st.findings.drain(from..).collect();
    let mut seen: Vec<(Finding, usize)> = vec![];
    for f in tail {
        if let Some(e) = seen
            .iter_mut()
            .find(|(g, _)| g.message == f.message && g.level == f.level)
        {
            e.1 += 1;
        } else {
            seen.push((f, 1));
        }
    }
    for (mut f, n) in seen {
        if n > 1 {
            f.message = format!("{} ({n} responses)", f.message);
        }
        st.findings.push(f);
    }
}

/// `StatusSpec` helper for callers outside this module.
pub fn status_ok(spec: &Option<StatusSpec>, status: u16) -> bool {
    spec.as_ref().is_none_or(|s| s.matches(status))
}
