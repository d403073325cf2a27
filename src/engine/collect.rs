//! The pack-wide judgements: every response of every check against its schema
//! (the `schema` family) and carrying a request id (`observability`).

use std::collections::BTreeMap;
use std::sync::Arc;

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
    let t = s.trim();
    let mut out: String = t.chars().take(120).collect();
    if t.chars().count() > 120 {
        out.push('…');
    }
    if out.is_empty() {
        "(empty body)".into()
    } else {
        out
    }
}

fn schema_problems(run: &PackRun, s: &Seen, out: &mut Vec<Problem>) {
    let r = &s.received;
    let pack = &run.pack.file;
    let ep_label = s.endpoint.clone().unwrap_or_else(|| {
        format!(
            "{} {}",
            s.exchange.request.method,
            path_of(&s.exchange.request.url)
        )
    });
    let status = r.status.to_string();
    let is_error = r.status >= 400;
    let endpoint = s.endpoint.as_ref().and_then(|e| pack.endpoints.get(e));
    let schema = match endpoint {
        Some(e) => match e.responses.get(&status) {
            Some(f) => Some(f.clone()),
            None => {
                out.push(Problem {
                    level: FindingLevel::Fail,
                    basis: Basis::Doc,
                    key: format!("undocumented {ep_label} {status}"),
                    message: format!(
                        "`{ep_label}` answered {status}, a status its contract does not list"
                    ),
                    expected: Some(format!(
                        "one of {}",
                        e.responses.keys().cloned().collect::<Vec<_>>().join(", ")
                    )),
                    actual: Some(format!(
                        "{status} {}",
                        short(&String::from_utf8_lossy(&r.body))
                    )),
                    pointer: None,
                    advice: None,
                });
                is_error.then(|| pack.errors.schema.clone())
            }
        },
        None => is_error.then(|| pack.errors.schema.clone()),
    };
    if is_error {
        let ct = r.content_type().unwrap_or("");
        if !ct
            .to_ascii_lowercase()
            .starts_with(&pack.errors.content_type.to_ascii_lowercase())
        {
            out.push(Problem {
                level: FindingLevel::Fail,
                basis: Basis::Doc,
                key: format!("content-type {ep_label} {status} {ct}"),
                message: format!("error {status} from `{ep_label}` has Content-Type `{}`, not {}", if ct.is_empty() { "(none)" } else { ct }, pack.errors.content_type),
                expected: Some(pack.errors.content_type.clone()),
                actual: Some(if ct.is_empty() { "(none)".into() } else { ct.to_string() }),
                pointer: None,
                advice: Some("clients parse errors as structured JSON; an HTML or text error page breaks them".into()),
            });
        }
    }
    let Some(file) = schema.filter(|f| f != crate::pack::NO_SCHEMA) else {
        return;
    };
    let ct = r.content_type().unwrap_or("");
    if !is_error && !ct.to_ascii_lowercase().contains("json") {
        // The contracts state the error Content-Type, not the success one: a
        // warning with what the integration must do, not a failure.
        out.push(Problem {
            level: FindingLevel::Warn,
            basis: Basis::Conv,
            key: format!("content-type {ep_label} {status} {ct}"),
            message: format!(
                "{status} from `{ep_label}` has Content-Type `{}`, not JSON",
                if ct.is_empty() { "(none)" } else { ct }
            ),
            expected: Some("application/json".into()),
            actual: Some(if ct.is_empty() {
                "(none)".into()
            } else {
                ct.to_string()
            }),
            pointer: None,
            advice: Some("parse the body as JSON whatever its Content-Type: clients that pick a parser by it would not read this one".into()),
        });
    }
    if r.json.is_none() && (r.capped || r.body_size > super::http::KEEP_LIMIT) {
        // Cut at the read cap, the body is broken JSON as sent; merely longer
        // than golive keeps, it is unjudged, which is no contract finding.
        out.push(Problem {
            level: if r.capped {
                FindingLevel::Fail
            } else {
                FindingLevel::Warn
            },
            basis: Basis::Doc,
            key: format!("oversize {ep_label} {status}"),
            message: format!(
                "{status} from `{ep_label}` has a {} body, too large to judge against {file} (golive keeps {} KiB of a body for this check and reads at most {} KiB)",
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
        return;
    }
    let Some(body) = &r.json else {
        out.push(Problem {
            level: FindingLevel::Fail,
            basis: Basis::Doc,
            key: format!("not-json {ep_label} {status}"),
            message: format!("{status} from `{ep_label}` is not JSON"),
            expected: Some(format!("a JSON body matching {file}")),
            actual: Some(short(&String::from_utf8_lossy(&r.body))),
            pointer: None,
            advice: None,
        });
        return;
    };
    match run.pack.schemas.validate(&file, body) {
        Ok(violations) => {
            for v in violations {
                let ptr = if v.pointer.is_empty() {
                    "/".to_string()
                } else {
                    v.pointer.clone()
                };
                let got = body
                    .pointer(&v.pointer)
                    .map(|x| short(&x.to_string()))
                    .unwrap_or_else(|| "absent".into());
                out.push(Problem {
                    // A conv member that is absent is a convention not
                    // offered: a warning with the schema's advice.
                    level: if v.is_absent_convention() {
                        FindingLevel::Warn
                    } else {
                        FindingLevel::Fail
                    },
                    basis: v.basis,
                    // Items of a list break the same way: fold /jobs/3/x and /jobs/7/x.
                    key: format!(
                        "schema {ep_label} {status} {} {}",
                        fold_indices(&v.pointer),
                        v.schema_path
                    ),
                    message: match v.message.strip_suffix(" is a required property") {
                        Some(member) if v.is_absent_convention() => format!(
                            "{status} from `{ep_label}` leaves out {member} at {ptr}, a convention ({file})"
                        ),
                        _ => format!("{status} from `{ep_label}` breaks {file} at {ptr}: {}", v.message),
                    },
                    expected: Some(format!("{file} ({})", v.schema_path)),
                    actual: Some(got),
                    pointer: Some(v.pointer),
                    advice: v.advice,
                });
            }
        }
        Err(e) => out.push(Problem {
            level: FindingLevel::Fail,
            basis: Basis::Doc,
            key: format!("schema-missing {file}"),
            message: format!("schema {file} could not be used: {e}"),
            expected: None,
            actual: None,
            pointer: None,
            advice: None,
        }),
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
