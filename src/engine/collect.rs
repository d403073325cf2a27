//! The pack-wide judgements: every response of every check against its schema
//! (the `schema` family) and carrying a request id (`observability`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::PackRun;
use super::http::Received;
use super::steps::CheckState;
use crate::pack::{Level, Scenario};
use crate::report::{Basis, Exchange, Finding, FindingLevel};

/// At most this many offending exchanges are copied into a collector's evidence.
const EVIDENCE_CAP: usize = 60;

/// One response some check saw.
#[derive(Clone)]
pub struct Seen {
    /// The check that sent it (its id within the pack).
    pub check: String,
    pub exchange: Exchange,
    pub endpoint: Option<String>,
    pub received: Arc<Received>,
}

/// The responses a finished check saw.
pub fn seen(check: &str, st: &CheckState) -> Vec<Seen> {
    st.evidence
        .iter()
        .zip(&st.endpoints)
        .zip(&st.received)
        .filter_map(|((ex, ep), r)| {
            r.as_ref().map(|r| Seen {
                check: check.to_string(),
                exchange: ex.clone(),
                endpoint: ep.clone(),
                received: r.clone(),
            })
        })
        .collect()
}

/// A problem with one response, before folding.
struct Problem {
    level: FindingLevel,
    basis: Basis,
    key: String,
    message: String,
    expected: Option<String>,
    actual: Option<String>,
    pointer: Option<String>,
    advice: Option<String>,
}

/// Judges the pool (plus the collector's own exchanges) and adds findings.
pub fn judge_pool(run: &PackRun, sc: &Scenario, pool: &[Seen], st: &mut CheckState) {
    let mut all: Vec<Seen> = pool.to_vec();
    all.extend(seen(&sc.spec.id, st));
    // A request id names one call: the same id on two responses is useless to support.
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    if sc.spec.collect_request_ids.is_some() {
        let header = &run.pack.file.request_id.header;
        // A replay repeats the first response, id included: it names the
        // same call, so it is not counted again.
        for s in all.iter().filter(|s| !is_replay(&s.received)) {
            if let Some(h) = s
                .received
                .header(header)
                .map(str::trim)
                .filter(|h| !h.is_empty())
            {
                *ids.entry(h.to_string()).or_default() += 1;
            }
        }
    }
    // key → (first problem, count, exchange)
    let mut folded: BTreeMap<String, (Problem, usize, Seen)> = BTreeMap::new();
    for s in &all {
        let mut problems = Vec::new();
        if sc.spec.collect_schema_findings {
            schema_problems(run, s, &mut problems);
        }
        if let Some(c) = &sc.spec.collect_request_ids {
            request_id_problems(run, s, c, &mut problems);
            let header = &run.pack.file.request_id.header;
            if let Some(h) = s.received.header(header).map(str::trim) {
                if ids.get(h).copied().unwrap_or(0) > 1 && !is_replay(&s.received) {
                    problems.push(Problem {
                        level: FindingLevel::Fail,
                        basis: c.basis.unwrap_or(Basis::Conv),
                        key: format!("repeated-id {h}"),
                        message: format!("{} `{h}` names more than one response", header),
                        expected: Some("a distinct request id on every response".into()),
                        actual: Some(format!("`{h}` on {} responses", ids[h])),
                        pointer: None,
                        advice: Some(
                            "support finds a call by its request id; a repeated id finds many"
                                .into(),
                        ),
                    });
                }
            }
        }
        for p in problems {
            folded
                .entry(p.key.clone())
                .and_modify(|e| e.1 += 1)
                .or_insert((p, 1, s.clone()));
        }
    }
    let mut copied = 0;
    for (_, (p, n, s)) in folded {
        let idx = if copied < EVIDENCE_CAP {
            copied += 1;
            st.evidence.push(s.exchange.clone());
            st.endpoints.push(s.endpoint.clone());
            st.received.push(Some(s.received.clone()));
            Some(st.evidence.len() - 1)
        } else {
            None
        };
        let times = if n > 1 {
            format!(" ({n} responses)")
        } else {
            String::new()
        };
        st.findings.push(Finding {
            level: p.level,
            basis: Some(p.basis),
            step: format!(
                "{} {} (sent by {}, {})",
                s.exchange.request.method,
                path_of(&s.exchange.request.url),
                s.check,
                s.exchange.step
            ),
            message: format!("{}{times}", p.message),
            expected: p.expected,
            actual: p.actual,
            request_id: s.exchange.request_id.clone(),
            exchange: idx,
            pointer: p.pointer,
            advice: p.advice,
        });
    }
}

/// A response the API marks as a replay of an earlier one (`Idempotent-Replayed: true`).
fn is_replay(r: &Received) -> bool {
    r.header("Idempotent-Replayed")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

fn path_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => u.path().to_string(),
        Err(_) => url.to_string(),
    }
}

fn short(s: &str) -> String {
    super::http::snippet(s, 120)
}

fn schema_problems(run: &PackRun, s: &Seen, out: &mut Vec<Problem>) {
    let a = Answer::of(s);
    let schema = documented_schema(run, s, &a, out);
    if a.is_error {
        error_content_type(run, &a, out);
    }
    let Some(file) = schema.filter(|f| f != crate::pack::NO_SCHEMA) else {
        return;
    };
    if !a.is_error {
        success_content_type(&a, out);
    }
    if unjudged(&a, &file, out) {
        return;
    }
    let Some(body) = &a.r.json else {
        out.push(Problem {
            level: FindingLevel::Fail,
            basis: Basis::Doc,
            key: format!("not-json {} {}", a.ep_label, a.status),
            message: format!("{} from `{}` is not JSON", a.status, a.ep_label),
            expected: Some(format!("a JSON body matching {file}")),
            actual: Some(short(&String::from_utf8_lossy(&a.r.body))),
            pointer: None,
            advice: None,
        });
        return;
    };
    violations(run, &a, &file, body, out);
}

/// One response as the schema check names it.
struct Answer<'a> {
    r: &'a Received,
    /// The pack endpoint, else `METHOD /path`.
    ep_label: String,
    status: String,
    is_error: bool,
}

impl Answer<'_> {
    fn of(s: &Seen) -> Answer<'_> {
        let ep_label = s.endpoint.clone().unwrap_or_else(|| {
            format!(
                "{} {}",
                s.exchange.request.method,
                path_of(&s.exchange.request.url)
            )
        });
        Answer {
            r: &s.received,
            ep_label,
            status: s.received.status.to_string(),
            is_error: s.received.status >= 400,
        }
    }

    /// The Content-Type, `(none)` when absent.
    fn content_type(&self) -> &str {
        match self.r.content_type().unwrap_or("") {
            "" => "(none)",
            ct => ct,
        }
    }
}

/// The schema the pack documents for this endpoint and status (an error's
/// envelope for an undocumented error); an undocumented status is a finding.
fn documented_schema(
    run: &PackRun,
    s: &Seen,
    a: &Answer,
    out: &mut Vec<Problem>,
) -> Option<String> {
    let pack = &run.pack.file;
    let envelope = || a.is_error.then(|| pack.errors.schema.clone());
    let Some(e) = s.endpoint.as_ref().and_then(|e| pack.endpoints.get(e)) else {
        return envelope();
    };
    if let Some(f) = e.responses.get(&a.status) {
        return Some(f.clone());
    }
    out.push(Problem {
        level: FindingLevel::Fail,
        basis: Basis::Doc,
        key: format!("undocumented {} {}", a.ep_label, a.status),
        message: format!(
            "`{}` answered {}, a status its contract does not list",
            a.ep_label, a.status
        ),
        expected: Some(format!(
            "one of {}",
            e.responses.keys().cloned().collect::<Vec<_>>().join(", ")
        )),
        actual: Some(format!(
            "{} {}",
            a.status,
            short(&String::from_utf8_lossy(&a.r.body))
        )),
        pointer: None,
        advice: None,
    });
    envelope()
}

/// An error must come as the pack's error Content-Type (JSON), never a page.
fn error_content_type(run: &PackRun, a: &Answer, out: &mut Vec<Problem>) {
    let want = &run.pack.file.errors.content_type;
    let ct = a.r.content_type().unwrap_or("");
    if ct
        .to_ascii_lowercase()
        .starts_with(&want.to_ascii_lowercase())
    {
        return;
    }
    out.push(Problem {
        level: FindingLevel::Fail,
        basis: Basis::Doc,
        key: format!("content-type {} {} {ct}", a.ep_label, a.status),
        message: format!(
            "error {} from `{}` has Content-Type `{}`, not {want}",
            a.status,
            a.ep_label,
            a.content_type()
        ),
        expected: Some(want.clone()),
        actual: Some(a.content_type().to_string()),
        pointer: None,
        advice: Some(
            "clients parse errors as structured JSON; an HTML or text error page breaks them"
                .into(),
        ),
    });
}

/// The contracts state the error Content-Type, not the success one: a
/// success labelled otherwise is a warning with what the integration must
/// do, not a failure.
fn success_content_type(a: &Answer, out: &mut Vec<Problem>) {
    let ct = a.r.content_type().unwrap_or("");
    if ct.to_ascii_lowercase().contains("json") {
        return;
    }
    out.push(Problem {
        level: FindingLevel::Warn,
        basis: Basis::Conv,
        key: format!("content-type {} {} {ct}", a.ep_label, a.status),
        message: format!(
            "{} from `{}` has Content-Type `{}`, not JSON",
            a.status,
            a.ep_label,
            a.content_type()
        ),
        expected: Some("application/json".into()),
        actual: Some(a.content_type().to_string()),
        pointer: None,
        advice: Some("parse the body as JSON whatever its Content-Type: clients that pick a parser by it would not read this one".into()),
    });
}

/// A body too large to judge: cut at the read cap, it is broken JSON as
/// sent (a failure); merely longer than golive keeps, it is unjudged, which
/// is no contract finding (a warning). True when the body is not judged.
fn unjudged(a: &Answer, file: &str, out: &mut Vec<Problem>) -> bool {
    let r = a.r;
    if r.json.is_some() || !(r.capped || r.body_size > super::http::KEEP_LIMIT) {
        return false;
    }
    out.push(Problem {
        level: if r.capped {
            FindingLevel::Fail
        } else {
            FindingLevel::Warn
        },
        basis: Basis::Doc,
        key: format!("oversize {} {}", a.ep_label, a.status),
        message: format!(
            "{} from `{}` has a {} body, too large to judge against {file} (golive keeps {} KiB of a body for this check and reads at most {} KiB)",
            a.status,
            a.ep_label,
            if r.capped { format!("more than {}-byte", super::http::MAX_BODY) } else { format!("{}-byte", r.body_size) },
            super::http::KEEP_LIMIT / 1024,
            super::http::MAX_BODY / 1024
        ),
        expected: Some(format!("a JSON body matching {file}")),
        actual: Some(short(&String::from_utf8_lossy(&r.body))),
        pointer: None,
        advice: (!r.capped).then(|| {
            "golive keeps 64 KiB of a body for the pack-wide checks: judge this response's schema by hand, or ask for smaller pages".to_string()
        }),
    });
    true
}

/// Each schema violation, classed by the basis of its nearest annotated
/// subschema: a conv member that is absent is a convention not offered (a
/// warning with the schema's advice); anything else broken is a failure.
fn violations(run: &PackRun, a: &Answer, file: &str, body: &Value, out: &mut Vec<Problem>) {
    let found = match run.pack.schemas.validate(file, body) {
        Ok(v) => v,
        Err(e) => {
            out.push(Problem {
                level: FindingLevel::Fail,
                basis: Basis::Doc,
                key: format!("schema-missing {file}"),
                message: format!("schema {file} could not be used: {e}"),
                expected: None,
                actual: None,
                pointer: None,
                advice: None,
            });
            return;
        }
    };
    for v in found {
        let ptr = if v.pointer.is_empty() {
            "/".to_string()
        } else {
            v.pointer.clone()
        };
        let got = body
            .pointer(&v.pointer)
            .map(|x| short(&x.to_string()))
            .unwrap_or_else(|| "absent".into());
        let absent_convention = v.is_absent_convention();
        out.push(Problem {
            level: if absent_convention {
                FindingLevel::Warn
            } else {
                FindingLevel::Fail
            },
            basis: v.basis,
            // Items of a list break the same way: fold /jobs/3/x and /jobs/7/x.
            key: format!(
                "schema {} {} {} {}",
                a.ep_label,
                a.status,
                fold_indices(&v.pointer),
                v.schema_path
            ),
            message: match v.message.strip_suffix(" is a required property") {
                Some(member) if absent_convention => format!(
                    "{} from `{}` leaves out {member} at {ptr}, a convention ({file})",
                    a.status, a.ep_label
                ),
                _ => format!(
                    "{} from `{}` breaks {file} at {ptr}: {}",
                    a.status, a.ep_label, v.message
                ),
            },
            expected: Some(format!("{file} ({})", v.schema_path)),
            actual: Some(got),
            pointer: Some(v.pointer),
            advice: v.advice,
        });
    }
}

/// `/jobs/11/billing_status` → `/jobs/*/billing_status`.
fn fold_indices(pointer: &str) -> String {
    pointer
        .split('/')
        .map(|seg| {
            if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
                "*"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn request_id_problems(
    run: &PackRun,
    s: &Seen,
    c: &crate::pack::CollectRequestIds,
    out: &mut Vec<Problem>,
) {
    let (level, advice) = (c.level, c.advice.as_deref());
    let r = &s.received;
    let cfg = &run.pack.file.request_id;
    let ep_label = s.endpoint.clone().unwrap_or_else(|| {
        format!(
            "{} {}",
            s.exchange.request.method,
            path_of(&s.exchange.request.url)
        )
    });
    let header = r
        .header(&cfg.header)
        .map(str::trim)
        .filter(|h| !h.is_empty());
    if header.is_none() {
        out.push(Problem {
            level: match level {
                Level::Fail => FindingLevel::Fail,
                Level::Warn => FindingLevel::Warn,
            },
            basis: c.basis.unwrap_or(Basis::Conv),
            key: format!("no-header {ep_label} {}", r.status),
            message: format!(
                "{} from `{ep_label}` carries no {} header",
                r.status, cfg.header
            ),
            expected: Some(format!("a {} header", cfg.header)),
            actual: Some("absent".into()),
            pointer: None,
            advice: advice.map(str::to_string),
        });
    }
    if r.status >= 400 {
        if let Some(ptr) = &cfg.error_pointer {
            let in_body = r
                .json
                .as_ref()
                .and_then(|j| j.pointer(ptr))
                .and_then(|v| v.as_str());
            match (in_body, header) {
                (None, _) => out.push(Problem {
                    level: FindingLevel::Fail,
                    basis: Basis::Doc,
                    key: format!("no-body-id {ep_label} {}", r.status),
                    message: format!(
                        "error {} from `{ep_label}` does not carry its request id at {ptr}",
                        r.status
                    ),
                    expected: Some(format!("a request id at {ptr}")),
                    actual: Some(short(&String::from_utf8_lossy(&r.body))),
                    pointer: Some(ptr.clone()),
                    advice: Some(
                        "support needs the request id from the error body to trace a failed call"
                            .into(),
                    ),
                }),
                (Some(b), Some(h)) if b != h => out.push(Problem {
                    level: FindingLevel::Fail,
                    basis: Basis::Doc,
                    key: format!("id-mismatch {ep_label} {}", r.status),
                    message: format!(
                        "error {} from `{ep_label}`: body request id differs from the {} header",
                        r.status, cfg.header
                    ),
                    expected: Some(h.to_string()),
                    actual: Some(b.to_string()),
                    pointer: Some(ptr.clone()),
                    advice: None,
                }),
                _ => {}
            }
        }
    }
}
