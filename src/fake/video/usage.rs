//! RemoveBGVideo's reads over an account: the job list, usage summary and
//! events, and the admin view the `admin-exposed` fault opens.

use serde_json::{Map, Value, json};

use super::super::api::Call;
use super::super::credits::Credits;
use super::super::faults::Fault;
use super::super::http::Reply;
use super::super::state::State;
use super::job::{STATUSES, job_view};
use super::{jobs_ref, video_error};

/// An integer query parameter in `lo..=hi`, `default` when absent.
fn int_param(call: &Call, name: &str, default: u64, lo: u64, hi: u64) -> Result<u64, Reply> {
    match call.req.query_param(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(n),
            _ => Err(video_error(
                call,
                400,
                "invalid_request",
                &format!("{name} must be an integer between {lo} and {hi}"),
            )),
        },
    }
}

/// `GET /v1/jobs?limit=&offset=&status=`.
pub(super) fn list_jobs(call: &Call, st: &mut State) -> Reply {
    let limit = match int_param(call, "limit", 20, 1, 100) {
        Ok(v) => v as usize,
        Err(r) => return r,
    };
    let offset = match int_param(call, "offset", 0, 0, u64::from(u32::MAX)) {
        Ok(v) => v as usize,
        Err(r) => return r,
    };
    let filter = match call.req.query_param("status") {
        None => None,
        Some(s) => match STATUSES.iter().copied().find(|x| *x == s) {
            Some("pending") => Some("created"),
            Some(x) => Some(x),
            None => {
                return video_error(
                    call,
                    400,
                    "invalid_request",
                    &format!("status must be one of: {}", STATUSES.join(", ")),
                );
            }
        },
    };
    let account = call.account(st);
    let drift = call.has(Fault::SchemaDrift);
    let mut total = 0usize;
    let mut jobs = Vec::new();
    let store = jobs_ref(st, call.api);
    let ids = store
        .by_account
        .get(&account)
        .map_or(&[][..], Vec::as_slice);
    for id in ids.iter().rev() {
        let Some(job) = store.jobs.get(id) else {
            continue;
        };
        if filter.is_some_and(|f| f != job.status.as_str()) {
            continue;
        }
        if total >= offset && jobs.len() < limit {
            jobs.push(job_view(job, call.cfg(), call.now, drift));
        }
        total += 1;
    }
    Reply::json(
        200,
        &json!({"jobs": jobs, "total": total, "limit": limit, "offset": offset}),
    )
}

/// `GET /v1/usage/summary?days=N`.
pub(super) fn usage_summary(call: &Call, st: &mut State) -> Reply {
    let days = match int_param(call, "days", 7, 1, 90) {
        Ok(v) => v as i64,
        Err(r) => return r,
    };
    let ledger = &st.accounts[call.account(st)].ledgers[call.api];
    let today = call.day();
    let (mut jobs, mut completed, mut failed, mut credits) = (0u64, 0u64, 0u64, Credits::ZERO);
    let mut daily = Vec::new();
    for day in (today - days + 1)..=today {
        let d = ledger.daily.get(&day).copied().unwrap_or_default();
        jobs += d.jobs;
        completed += d.completed;
        failed += d.failed;
        credits += d.credits_used;
        let date = chrono::DateTime::from_timestamp(day * 86_400, 0)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        daily.push(
            json!({"date": date, "jobs": d.jobs, "completed_jobs": d.completed,
            "credits_used": d.credits_used}),
        );
    }
    Reply::json(
        200,
        &json!({"days": days, "total_jobs": jobs, "completed_jobs": completed,
            "failed_jobs": failed, "credits_used": credits,
            "credits_remaining": ledger.balance, "daily": daily}),
    )
}

/// `GET /v1/usage/events?limit=N`.
pub(super) fn usage_events(call: &Call, st: &mut State) -> Reply {
    let limit = match int_param(call, "limit", 20, 1, 100) {
        Ok(v) => v as usize,
        Err(r) => return r,
    };
    let ledger = &st.accounts[call.account(st)].ledgers[call.api];
    let events: Vec<_> = ledger.events.iter().rev().take(limit).collect();
    Reply::json(200, &json!({"events": events}))
}

/// `/v1/admin/*` under the `admin-exposed` fault: account data to anyone
/// with a key.
pub(super) fn admin(call: &Call, st: &mut State) -> Reply {
    let store = jobs_ref(st, call.api);
    let accounts: Vec<Value> = st
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let keys: Vec<Value> = st
                .keys
                .iter()
                .filter(|k| k.account == i)
                .map(|k| json!({"key": k.key, "disabled": k.disabled}))
                .collect();
            let jobs = store.by_account.get(&i).map_or(0, Vec::len);
            json!({"account": a.name, "credits": a.ledgers[call.api].balance, "keys": keys,
                "jobs": jobs})
        })
        .collect();
    let mut body = Map::new();
    body.insert("admin".into(), Value::Bool(true));
    body.insert("accounts".into(), Value::Array(accounts));
    Reply::json(200, &Value::Object(body))
}
