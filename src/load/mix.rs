//! The pack's load mix as something to send: which call arrival `j` makes
//! (a fixed weighted sequence, so segments of a plan send exactly what one
//! process would), the request rendered with the check engine's own
//! `prepare` (keys, templates, auth schemes), a lean send, and how the
//! response is judged against the pack (documented status, sampled schema).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::Value;

use super::stats::Class;
use crate::engine::PackRun;
use crate::engine::http::Prepared;
use crate::engine::request::prepare;
use crate::engine::steps::CheckState;
use crate::pack::{LoadCall, LoadSpec, NO_SCHEMA, load::needs, template};

/// The most of a response body a load request reads (the rest is dropped).
pub const LOAD_BODY_LIMIT: usize = 1024 * 1024;

/// Captured values kept per name (the newest win).
const POOL_CAP: usize = 1024;

/// The mix, ready to send.
pub struct Mix {
    pub calls: Vec<LoadCall>,
    needs: Vec<Vec<String>>,
    /// Capture name → the call that captures it.
    producer: BTreeMap<String, usize>,
    /// One cycle of call indices, each call `weight` times, spread out.
    sequence: Vec<usize>,
    /// Requests that render the same every time, rendered once.
    fixed: Vec<Option<Arc<Prepared>>>,
    pool: Mutex<HashMap<String, VecDeque<Value>>>,
}

impl Mix {
    pub fn new(spec: &LoadSpec, run: &PackRun) -> Result<Mix, String> {
        let calls = spec.mix.clone();
        let needs: Vec<Vec<String>> = (0..calls.len()).map(|i| needs(spec, i)).collect();
        let mut producer = BTreeMap::new();
        for (i, c) in calls.iter().enumerate() {
            for name in c.capture.keys() {
                producer.entry(name.clone()).or_insert(i);
            }
        }
        let mut fixed = Vec::new();
        for (i, c) in calls.iter().enumerate() {
            let varies = !needs[i].is_empty() || uses_builtins(c);
            fixed.push(if varies {
                None
            } else {
                Some(Arc::new(prepare(
                    run,
                    &c.request,
                    &CheckState::default(),
                    &[],
                )?))
            });
        }
        Ok(Mix {
            sequence: smooth_sequence(&calls),
            calls,
            needs,
            producer,
            fixed,
            pool: Mutex::new(HashMap::new()),
        })
    }

    pub fn names(&self) -> Vec<String> {
        self.calls.iter().map(|c| c.name.clone()).collect()
    }

    /// The call arrival `j` makes, before substitution.
    pub fn planned(&self, j: u64) -> usize {
        self.sequence[(j % self.sequence.len() as u64) as usize]
    }

    /// The call to send for arrival `j` and the captured values it uses;
    /// `true` when it was substituted by the call producing a missing value.
    pub fn pick(&self, j: u64) -> (usize, Vec<(String, Value)>, bool) {
        let mut call = self.planned(j);
        let mut substituted = false;
        // At most one hop per call: producers are themselves senders.
        for _ in 0..self.calls.len() {
            let mut values = Vec::new();
            let mut missing = None;
            {
                let pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
                for n in &self.needs[call] {
                    match pool.get(n).filter(|q| !q.is_empty()) {
                        Some(q) => {
                            values.push((n.clone(), q[(j % q.len() as u64) as usize].clone()))
                        }
                        None => {
                            missing = Some(n.clone());
                            break;
                        }
                    }
                }
            }
            match missing.and_then(|n| self.producer.get(&n).copied()) {
                Some(p) if p != call => {
                    call = p;
                    substituted = true;
                }
                _ => return (call, values, substituted),
            }
        }
        (call, Vec::new(), substituted)
    }

    /// Renders call `call`'s request with the engine's `prepare`.
    pub fn prepare(
        &self,
        run: &PackRun,
        call: usize,
        j: u64,
        values: &[(String, Value)],
    ) -> Result<Arc<Prepared>, String> {
        // Shared, not copied: a fixed request costs no allocation per arrival.
        if let Some(p) = &self.fixed[call] {
            return Ok(Arc::clone(p));
        }
        let uuid = uuid::Uuid::now_v7().to_string();
        let mut extra: Vec<(&str, Value)> =
            vec![("uuid", Value::String(uuid)), ("i", Value::from(j))];
        for (k, v) in values {
            extra.push((k.as_str(), v.clone()));
        }
        prepare(
            run,
            &self.calls[call].request,
            &CheckState::default(),
            &extra,
        )
        .map(Arc::new)
    }

    /// Keeps what a successful answer of `call` captures, for later calls.
    pub fn capture(&self, call: usize, headers: &reqwest::header::HeaderMap, json: Option<&Value>) {
        let c = &self.calls[call];
        if c.capture.is_empty() {
            return;
        }
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        for (name, src) in &c.capture {
            let v = if let Some(ptr) = src.strip_prefix("body:") {
                json.and_then(|j| {
                    if ptr.is_empty() {
                        Some(j)
                    } else {
                        j.pointer(ptr)
                    }
                })
                .cloned()
            } else if let Some(h) = src.strip_prefix("header:") {
                headers
                    .get(h)
                    .and_then(|v| v.to_str().ok())
                    .map(|s| Value::String(s.to_string()))
            } else {
                None
            };
            if let Some(v) = v.filter(|v| !v.is_null()) {
                let q = pool.entry(name.clone()).or_default();
                if q.len() >= POOL_CAP {
                    q.pop_front();
                }
                q.push_back(v);
            }
        }
    }

    /// Whether the call captures anything (its body must be parsed).
    pub fn captures(&self, call: usize) -> bool {
        !self.calls[call].capture.is_empty()
    }
}

fn uses_builtins(c: &LoadCall) -> bool {
    let text = serde_json::to_string(&c.request).unwrap_or_default();
    ["uuid", "i", "now_ms"]
        .iter()
        .any(|b| template::names(&text).iter().any(|n| n == b))
}

/// Smooth weighted round-robin: each call `weight` times per cycle, spread
/// evenly (weights 1 and 4 give `b b a b b` rather than `a b b b b`).
fn smooth_sequence(calls: &[LoadCall]) -> Vec<usize> {
    let total: i64 = calls.iter().map(|c| c.weight as i64).sum();
    let mut current = vec![0i64; calls.len()];
    let mut seq = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (i, c) in calls.iter().enumerate() {
            current[i] += c.weight as i64;
        }
        let best = (0..calls.len())
            .max_by_key(|&i| (current[i], -(i as i64)))
            .unwrap_or(0);
        current[best] -= total;
        seq.push(best);
    }
    seq
}

/// A response as the load engine keeps it.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Bytes,
}

/// Sends one request (no retries: a load run measures what the API does).
pub async fn send(client: &reqwest::Client, p: &Prepared) -> Result<Answer, reqwest::Error> {
    let mut resp = crate::engine::http::request(client, p).send().await?;
    let status = resp.status().as_u16();
    let headers = std::mem::take(resp.headers_mut());
    let (body, _) = crate::engine::http::read_capped(&mut resp, LOAD_BODY_LIMIT).await?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// What the pack says about one answer.
pub struct Judged {
    pub class: Class,
    pub documented: bool,
    /// `Some(valid)` when this answer was schema-checked.
    pub schema: Option<bool>,
    pub missing_retry_after: bool,
}

/// Judges an answer: its class, whether the pack documents its status for
/// the endpoint, and (when `sample`) whether the body matches its schema.
pub fn judge(
    run: &PackRun,
    p: &Prepared,
    a: &Answer,
    sample: bool,
    json: Option<&Value>,
) -> Judged {
    let class = match a.status {
        200..=299 => Class::Ok,
        429 => Class::RateLimited,
        _ => Class::Refused,
    };
    let ep = p
        .endpoint
        .as_ref()
        .and_then(|e| run.pack.file.endpoints.get(e));
    let schema_file = ep.map(|e| e.responses.get(&a.status.to_string()));
    let documented = match schema_file {
        Some(f) => f.is_some(),
        None => true,
    };
    let schema = match (sample, schema_file.flatten()) {
        (true, Some(file)) if file != NO_SCHEMA => Some(match json {
            Some(v) => run
                .pack
                .schemas
                .validate(file, v)
                .map(|e| e.is_empty())
                .unwrap_or(false),
            None => serde_json::from_slice::<Value>(&a.body)
                .ok()
                .and_then(|v| run.pack.schemas.validate(file, &v).ok())
                .is_some_and(|e| e.is_empty()),
        }),
        _ => None,
    };
    Judged {
        class,
        documented,
        schema,
        missing_retry_after: a.status == 429 && !a.headers.contains_key("retry-after"),
    }
}
