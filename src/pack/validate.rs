//! Validation of a loaded pack and its scenarios: every problem an author
//! can make is refused here with the file, the step and what is wrong,
//! before anything is sent. (The byte-level checks before YAML are in
//! `text.rs`; the "exactly one action" rule is `Step::action` in `plan.rs`.)

use std::collections::BTreeSet;

use super::*;
use crate::schema::SchemaSet;
use crate::vocab::Basis;

pub(super) fn invalid(file: &str, step: Option<String>, message: impl Into<String>) -> PackError {
    PackError::Invalid {
        file: file.to_string(),
        step,
        message: message.into(),
    }
}

pub(super) fn validate_pack(
    file: &str,
    pack: &PackFile,
    schemas: &mut SchemaSet,
) -> Result<(), PackError> {
    pack_auth(pack)
        .and_then(|()| pack_endpoints(pack, schemas))
        .and_then(|()| pack_inputs(pack))
        .and_then(|()| pack_jobs(pack))
        .and_then(|()| pack_slow_target(pack))
        .map_err(|m| invalid(file, None, m))
}

/// Auth schemes carry the key, the default names one, a `valid` key role exists.
fn pack_auth(pack: &PackFile) -> Result<(), String> {
    if !pack.auth.schemes.contains_key(&pack.auth.default) {
        return Err(format!(
            "auth.default `{}` is not one of auth.schemes",
            pack.auth.default
        ));
    }
    if let Some(name) = pack
        .auth
        .schemes
        .iter()
        .find_map(|(name, s)| (!s.value.contains("{key}")).then_some(name))
    {
        return Err(format!(
            "auth scheme `{name}`: value must contain `{{key}}`"
        ));
    }
    if !pack.keys.contains_key("valid") {
        return Err("keys: the `valid` role (a key with credits) is required".into());
    }
    Ok(())
}

/// Every endpoint has a method, a path and real statuses, and every schema
/// it names (the error envelope's too) compiles.
fn pack_endpoints(pack: &PackFile, schemas: &mut SchemaSet) -> Result<(), String> {
    schemas
        .compile(&pack.errors.schema)
        .map_err(|e| format!("errors.schema: {e}"))?;
    for (id, ep) in &pack.endpoints {
        let m = ep.method.to_ascii_uppercase();
        if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].contains(&m.as_str()) {
            return Err(format!("endpoint `{id}`: unknown method `{}`", ep.method));
        }
        if !ep.path.starts_with('/') {
            return Err(format!("endpoint `{id}`: path must start with `/`"));
        }
        for (status, schema) in &ep.responses {
            if status
                .parse::<u16>()
                .map(|s| !(100..600).contains(&s))
                .unwrap_or(true)
            {
                return Err(format!("endpoint `{id}`: `{status}` is not an HTTP status"));
            }
            if schema != NO_SCHEMA {
                schemas
                    .compile(schema)
                    .map_err(|e| format!("endpoint `{id}` status {status}: {e}"))?;
            }
        }
    }
    Ok(())
}

/// Facts are not inputs; `fake_inputs` override inputs, for a named fake only.
fn pack_inputs(pack: &PackFile) -> Result<(), String> {
    if let Some(k) = pack.facts.keys().find(|k| pack.inputs.contains_key(*k)) {
        return Err(format!(
            "facts: `{k}` is also an input; a documented fact is not a knob"
        ));
    }
    if pack.fake.is_none() && !pack.fake_inputs.is_empty() {
        return Err(
            "fake_inputs: given, but no `fake:` names the built-in fake they are for".into(),
        );
    }
    match pack
        .fake_inputs
        .keys()
        .find(|k| !pack.inputs.contains_key(*k))
    {
        Some(k) => Err(format!(
            "fake_inputs: `{k}` is not one of the pack's inputs"
        )),
        None => Ok(()),
    }
}

/// Success and failure states are terminal; the poll timings are durations.
fn pack_jobs(pack: &PackFile) -> Result<(), String> {
    let Some(jobs) = &pack.jobs else {
        return Ok(());
    };
    if let Some(s) = jobs
        .success
        .iter()
        .chain(&jobs.failure)
        .find(|s| !jobs.terminal.contains(s))
    {
        return Err(format!(
            "jobs: `{s}` is a success/failure state but not terminal"
        ));
    }
    for d in [
        &jobs.poll.interval,
        &jobs.poll.max_interval,
        &jobs.poll.deadline,
    ] {
        check_duration(d).map_err(|e| format!("jobs.poll: {e}"))?;
    }
    Ok(())
}

/// `slow_target.slower_than` is a duration from the pack's own values.
fn pack_slow_target(pack: &PackFile) -> Result<(), String> {
    let Some(slow) = &pack.slow_target else {
        return Ok(());
    };
    check_duration(&slow.slower_than).map_err(|e| format!("slow_target.slower_than: {e}"))?;
    match template::names(&slow.slower_than)
        .into_iter()
        .find(|n| !pack.inputs.contains_key(n) && !pack.facts.contains_key(n))
    {
        Some(n) => Err(format!(
            "slow_target.slower_than: `{{{{{n}}}}}` is not one of the pack's inputs"
        )),
        None => Ok(()),
    }
}

pub(super) fn check_duration(s: &str) -> Result<(), String> {
    if template::names(s).is_empty() {
        template::parse_duration(s).map(|_| ())
    } else {
        Ok(())
    }
}

pub(super) struct Ctx<'a> {
    pub(super) file: &'a str,
    pub(super) pack: &'a PackFile,
    pub(super) defined: BTreeSet<String>,
    pub(super) request_steps: BTreeSet<String>,
    /// The check's basis, for expectations that name none.
    pub(super) basis: Basis,
}

/// A warning says "the API does not offer this convention": a documented
/// rule is never merely a warning.
pub(super) fn check_warn_basis(
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
    pub(super) fn err(&self, step: &str, msg: impl Into<String>) -> PackError {
        invalid(self.file, Some(step.to_string()), msg)
    }
    pub(super) fn uses(&self, step: &str, names: Vec<String>) -> Result<(), PackError> {
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
    pub(super) fn uses_str(&self, step: &str, s: &str) -> Result<(), PackError> {
        self.uses(step, template::names(s))
    }
}

pub(super) fn validate_scenario(
    file: &str,
    pack: &PackFile,
    sc: &ScenarioFile,
) -> Result<Vec<PlanStep>, PackError> {
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
    let mut plan = Vec::with_capacity(sc.steps.len());
    for (i, step) in sc.steps.iter().enumerate() {
        let label = step_label(i, step);
        if let Some(n) = &step.name {
            if !names_seen.insert(n.clone()) {
                return Err(cx.err(&label, "another step has the same name"));
            }
        }
        plan.push(validate_step(&mut cx, &label, step)?);
    }
    Ok(plan)
}

/// Checks one step against the pack and compiles it: its action, its
/// `when` and assertions parsed, its captures typed.
pub(super) fn validate_step(cx: &mut Ctx, label: &str, step: &Step) -> Result<PlanStep, PackError> {
    let action = step.action().map_err(|e| cx.err(label, e))?;
    let when = match &step.when {
        Some(w) => Some(parse_expr(cx, label, "when", w)?),
        None => None,
    };
    let mut asserts = vec![];
    let sends = match action {
        Action::Request { spec, for_each } => {
            validate_request(cx, label, spec, for_each.is_some())?;
            true
        }
        Action::Poll(p) => {
            validate_poll(cx, label, p)?;
            true
        }
        Action::Burst(b) => {
            validate_burst(cx, label, b)?;
            false
        }
        Action::Repeat(r) => {
            if !cx.request_steps.contains(r) {
                return Err(cx.err(
                    label,
                    format!("repeat: no earlier request step is named `{r}`"),
                ));
            }
            true
        }
        Action::Wait(w) => {
            check_duration(w).map_err(|e| cx.err(label, format!("wait: {e}")))?;
            cx.uses_str(label, w)?;
            false
        }
        Action::Assert(list) => {
            asserts = validate_asserts(cx, label, list)?;
            false
        }
    };
    let responds = !matches!(action, Action::Wait(_) | Action::Assert(_));
    if let Some(ex) = &step.expect {
        if !responds {
            return Err(cx.err(label, "expect goes with a request, poll, burst or repeat"));
        }
        validate_expect(cx, label, ex, step.burst.is_some())?;
    }
    let mut captures = vec![];
    for (name, src) in &step.capture {
        if !responds {
            return Err(cx.err(label, "capture goes with a request, poll, burst or repeat"));
        }
        let c = Capture::parse(src, step.burst.is_some())
            .map_err(|e| cx.err(label, format!("capture `{name}`: {e}")))?;
        captures.push((name.clone(), c));
    }
    for name in step.capture.keys() {
        cx.defined.insert(name.clone());
    }
    if let (true, Some(n)) = (sends, &step.name) {
        cx.request_steps.insert(n.clone());
    }
    Ok(PlanStep {
        label: label.to_string(),
        when,
        asserts,
        captures,
    })
}

/// Parses an expression and checks that the names it uses are defined.
fn parse_expr(cx: &Ctx, label: &str, what: &str, text: &str) -> Result<expr::Expr, PackError> {
    let e = expr::parse(text).map_err(|e| cx.err(label, format!("{what}: {e}")))?;
    let mut v = vec![];
    e.vars(&mut v);
    cx.uses(label, v)?;
    Ok(e)
}

fn validate_poll(cx: &Ctx, label: &str, p: &PollSpec) -> Result<(), PackError> {
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
    Ok(())
}

fn validate_burst(cx: &Ctx, label: &str, b: &BurstSpec) -> Result<(), PackError> {
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
    Ok(())
}

fn validate_asserts(
    cx: &Ctx,
    label: &str,
    asserts: &[Assertion],
) -> Result<Vec<expr::Expr>, PackError> {
    if asserts.is_empty() {
        return Err(cx.err(label, "assert needs at least one expression"));
    }
    let mut parsed = vec![];
    for a in asserts {
        parsed.push(parse_expr(
            cx,
            label,
            &format!("assert `{}`", a.expr),
            &a.expr,
        )?);
        check_warn_basis(cx, label, &format!("assert `{}`", a.expr), a.level, a.basis)?;
        for text in std::iter::once(a.message.as_str()).chain(a.advice.as_deref()) {
            cx.uses_str(label, text)?;
        }
    }
    Ok(parsed)
}

pub(super) fn validate_request(
    cx: &Ctx,
    label: &str,
    r: &RequestSpec,
    for_each: bool,
) -> Result<(), PackError> {
    request_route(cx, label, r, for_each)?;
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
    request_body(cx, label, r)?;
    if let Some(t) = &r.timeout {
        check_duration(t).map_err(|e| cx.err(label, format!("request.timeout: {e}")))?;
    }
    if let Some(a) = &r.auth {
        request_auth(cx, label, a)?;
    }
    Ok(())
}

/// An endpoint of the pack (with its path parameters) or a method and a path.
fn request_route(cx: &Ctx, label: &str, r: &RequestSpec, for_each: bool) -> Result<(), PackError> {
    match (&r.endpoint, &r.method, &r.path) {
        (Some(ep), None, None) => {
            let templated = !template::names(ep).is_empty();
            if templated && !for_each {
                cx.uses_str(label, ep)?;
            }
            if !templated && !cx.pack.endpoints.contains_key(ep.as_str()) {
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
            if let Some(e) = cx.pack.endpoints.get(ep.as_str()) {
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
    Ok(())
}

/// At most one body, its templates defined, multipart files sized or given.
fn request_body(cx: &Ctx, label: &str, r: &RequestSpec) -> Result<(), PackError> {
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
    Ok(())
}

/// A key role of the pack, a scheme it has, a query parameter if in the query.
fn request_auth(cx: &Ctx, label: &str, a: &AuthSpec) -> Result<(), PackError> {
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
    Ok(())
}

pub(super) fn validate_expect(
    cx: &Ctx,
    label: &str,
    ex: &Expect,
    burst: bool,
) -> Result<(), PackError> {
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
pub(super) fn check_matchers(file: &str, doc: &serde_yaml_ng::Value) -> Result<(), PackError> {
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

pub(super) fn matcher_names(m: &Matcher, out: &mut Vec<String>) {
    for v in [&m.eq, &m.ne].into_iter().flatten() {
        template::names_in_value(v, out);
    }
    if let Some(list) = &m.one_of {
        list.iter().for_each(|v| template::names_in_value(v, out));
    }
}

pub(super) fn check_status_spec(s: &StatusSpec) -> Result<(), String> {
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
