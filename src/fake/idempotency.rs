//! `Idempotency-Key` around job-creating POSTs, the same for every API:
//! per-key stores of answers (capped, with a TTL), an in-flight window,
//! request fingerprints, and the faults that break each promise.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::api::{Call, Handled};
use super::errors::CommonError;
use super::faults::Fault;
use super::http::{FakeRequest, Reply};
use super::multipart;
use super::state::{Charge, State};

struct IdemEntry {
    fingerprint: [u8; 32],
    created_ms: u64,
    ready_ms: u64,
    status: u16,
    body: Bytes,
    content_type: Option<&'static str>,
    charge: Option<Charge>,
}

/// One API key's remembered answers, oldest first in `order`.
#[derive(Default)]
pub(crate) struct IdemStore {
    entries: HashMap<String, IdemEntry>,
    order: VecDeque<String>,
}

impl IdemStore {
    fn insert(&mut self, key: &str, entry: IdemEntry, cap: usize) {
        self.entries.insert(key.to_string(), entry);
        self.order.push_back(key.to_string());
        while self.order.len() > cap.max(1) {
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
            }
        }
    }
}

/// Runs `run` (the route) under the request's `Idempotency-Key`, if any.
pub(crate) fn with_idempotency(
    call: &Call,
    st: &mut State,
    run: impl FnOnce(&Call, &mut State) -> Handled,
) -> Handled {
    let idem_key = if call.has(Fault::IdempotencyIgnored) {
        None
    } else {
        call.req.header("idempotency-key").map(str::trim)
    };
    let Some(idem_key) = idem_key else {
        return run(call, st);
    };
    if idem_key.is_empty() || idem_key.len() > 255 {
        return common(call, CommonError::IdempotencyKeyInvalid);
    }
    let fp = fingerprint(call.req);
    match seen(call, st, idem_key, &fp) {
        Seen::No => first(call, st, idem_key, fp, run),
        Seen::Refused(error) => common(call, error),
        Seen::Replay(_) if call.has(Fault::ReplayNewJob) => {
            let mut handled = run(call, st);
            handled.reply.extra.push(replayed());
            handled
        }
        Seen::Replay(stored) => replay(call, st, stored),
    }
}

enum Seen {
    No,
    /// The stored answer and what it charged.
    Replay(Handled),
    Refused(CommonError),
}

/// Whether this key was seen (expired entries forgotten first).
fn seen(call: &Call, st: &mut State, idem_key: &str, fp: &[u8; 32]) -> Seen {
    let ttl_ms = call.cfg().idempotency_ttl_secs.saturating_mul(1000);
    let store = &mut st.keys[call.key].idem;
    if let Some(e) = store.entries.get(idem_key)
        && call.now.saturating_sub(e.created_ms) > ttl_ms
    {
        store.entries.remove(idem_key);
    }
    let Some(e) = store.entries.get(idem_key) else {
        return Seen::No;
    };
    if call.now < e.ready_ms {
        if call.has(Fault::IdempotencyRace) {
            return Seen::No;
        }
        return Seen::Refused(CommonError::IdempotencyInProgress);
    }
    if e.fingerprint != *fp && !call.has(Fault::IdempotencyNoConflict) {
        return Seen::Refused(CommonError::IdempotencyKeyReused);
    }
    let reply = Reply::raw(e.status, e.body.clone(), e.content_type);
    Seen::Replay(Handled {
        reply,
        charge: e.charge.clone(),
    })
}

fn common(call: &Call, error: CommonError) -> Handled {
    call.error(call.core.common_error(call.api, &error)).into()
}

fn replayed() -> (&'static str, String) {
    ("idempotent-replayed", "true".to_string())
}

/// The stored answer again (charged again under `double-charge`).
fn replay(call: &Call, st: &mut State, stored: Handled) -> Handled {
    let mut reply = stored.reply;
    reply.extra.push(replayed());
    let charge = stored.charge.filter(|_| call.has(Fault::DoubleCharge));
    if let Some(c) = &charge {
        st.ledger(c.account, c.ledger).debit(c.credits, c.day);
    }
    Handled { reply, charge }
}

/// A first use: run, and remember a 2xx answer (answered after the
/// in-flight window).
fn first(
    call: &Call,
    st: &mut State,
    idem_key: &str,
    fingerprint: [u8; 32],
    run: impl FnOnce(&Call, &mut State) -> Handled,
) -> Handled {
    let Handled { mut reply, charge } = run(call, st);
    if (200..300).contains(&reply.status) {
        let latency = call.cfg().create_latency_ms;
        let entry = IdemEntry {
            fingerprint,
            created_ms: call.now,
            ready_ms: call.now + latency,
            status: reply.status,
            body: reply.body.clone(),
            content_type: reply.content_type,
            charge: charge.clone(),
        };
        let cap = call.cfg().max_idempotency_keys;
        st.keys[call.key].idem.insert(idem_key, entry, cap);
        reply.delay_ms += latency;
    }
    Handled { reply, charge }
}

/// What identifies "the same request" for idempotency: method, path and
/// body; multipart bodies by their parts (boundaries differ per send).
fn fingerprint(req: &FakeRequest) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(req.method.to_ascii_uppercase().as_bytes());
    h.update(b" ");
    h.update(req.path.trim_end_matches('/').as_bytes());
    h.update(b"\n");
    let parts = req
        .header("content-type")
        .and_then(multipart::boundary)
        .and_then(|b| multipart::parse(&req.body, &b).ok());
    match parts {
        Some(parts) => {
            for p in parts {
                for field in [
                    p.name.as_str(),
                    p.filename.as_deref().unwrap_or(""),
                    p.content_type.as_deref().unwrap_or(""),
                ] {
                    h.update((field.len() as u64).to_le_bytes());
                    h.update(field.as_bytes());
                }
                h.update((p.data.len() as u64).to_le_bytes());
                h.update(&p.data);
            }
        }
        None => h.update(&req.body),
    }
    h.finalize().into()
}
