//! RemoveBGVideo (`/v1`, `/health`, `/api/pricing`): its routes, its
//! `{"error": {"code", "message", "request_id"}}` envelope, its jobs (in
//! [`job`]) and its reads over an account (in [`usage`]).

mod job;
mod usage;

use std::any::Any;
use std::collections::HashMap;

use serde_json::{Value, json};

use super::api::{ApiFake, ApiId, Call, Delivered, Due, Hook, Route};
use super::core::FakeCore;
use super::credits::Credits;
use super::errors::{ApiError, CommonError};
use super::faults::{Fault, Faults};
use super::http::{Reply, rfc3339};
use super::state::State;

/// The RemoveBGVideo fake.
pub(crate) struct Video;

/// Its name in packs (`fake: removebgvideo`).
pub(crate) const NAME: &str = "removebgvideo";

/// RemoveBGVideo's jobs, in its state slot.
#[derive(Default)]
pub(crate) struct Jobs {
    jobs: HashMap<String, job::VideoJob>,
    /// Each account's job ids, oldest first.
    by_account: HashMap<usize, Vec<String>>,
}

fn jobs(st: &mut State, api: ApiId) -> &mut Jobs {
    State::api_state(&mut st.apis, api)
}

fn jobs_ref(st: &State, api: ApiId) -> &Jobs {
    State::api_state_ref(&st.apis, api)
}

/// An error reply in RemoveBGVideo's envelope.
fn video_error(call: &Call, status: u16, code: &'static str, message: &str) -> Reply {
    call.error(ApiError::new(status, code, message))
}

fn health() -> Reply {
    Reply::json(200, &json!({"status": "ok"}))
}

fn pricing() -> Reply {
    let rates: serde_json::Map<String, Value> = job::MODELS
        .iter()
        .map(|(model, rate)| ((*model).to_string(), json!(rate)))
        .collect();
    Reply::json(200, &json!({"unit": "credits_per_minute", "rates": rates}))
}

impl ApiFake for Video {
    fn name(&self) -> &'static str {
        NAME
    }

    fn claims(&self, path: &str) -> bool {
        ["/v1", "/health", "/api/pricing"].iter().any(|p| {
            path.strip_prefix(p)
                .is_some_and(|r| r.is_empty() || r.starts_with('/'))
        })
    }

    fn route(&self, method: &str, path: &str, faults: Faults) -> Option<Route> {
        let get = method.eq_ignore_ascii_case("GET");
        let post = method.eq_ignore_ascii_case("POST");
        let route = match path {
            "/health" if get => Route::public(health),
            "/api/pricing" if get => Route::public(pricing),
            "/v1/uploads" if post => Route::keyed(|c, s| job::upload(c, s).into())
                .creating()
                .billed("/v1/uploads", None),
            "/v1/jobs" if post => Route::keyed(job::create_job)
                .creating()
                .idempotent()
                .billed("/v1/jobs", None),
            "/v1/jobs" if get => Route::keyed(|c, s| usage::list_jobs(c, s).into()),
            "/v1/usage/summary" if get => Route::keyed(|c, s| usage::usage_summary(c, s).into()),
            "/v1/usage/events" if get => Route::keyed(|c, s| usage::usage_events(c, s).into()),
            _ if path == "/v1/admin" || path.starts_with("/v1/admin/") => {
                if !faults.has(Fault::AdminExposed) {
                    return None;
                }
                Route::keyed(|c, s| usage::admin(c, s).into())
            }
            _ => return job_route(path, get, post),
        };
        Some(route)
    }

    fn common_error(&self, error: &CommonError) -> ApiError {
        let message = error.message();
        let (status, code) = match error {
            CommonError::NotFound { .. } => (404, "not_found"),
            CommonError::Unauthorized { invalid: true } => (401, "invalid_api_key"),
            CommonError::Unauthorized { invalid: false } => (401, "missing_api_key"),
            CommonError::RateLimited => (429, "rate_limited"),
            CommonError::TooLarge | CommonError::IdempotencyKeyInvalid => (400, "invalid_request"),
            CommonError::IdempotencyInProgress => (409, "request_in_progress"),
            CommonError::IdempotencyKeyReused => (422, "idempotency_key_reused"),
            CommonError::Internal => (500, "internal_error"),
        };
        ApiError::new(status, code, message)
    }

    fn envelope(&self, error: &ApiError, request_id: Option<&str>) -> Value {
        let (code, message) = (error.code, &error.message);
        match request_id {
            Some(rid) => json!({"error": {"code": code, "message": message, "request_id": rid}}),
            None => json!({"error": {"code": code, "message": message}}),
        }
    }

    fn new_state(&self) -> Box<dyn Any + Send> {
        Box::new(Jobs::default())
    }

    fn settle(&self, core: &FakeCore, st: &mut State, due: Due<'_>) {
        job::settle_end(core, st, due);
    }

    /// `{"event", "data": <the job>}`, recorded in the job's `webhook_events`.
    fn webhook(&self, hook: Hook<'_>, st: &mut State) -> Option<(String, Vec<u8>)> {
        let job = jobs(st, hook.api).jobs.get_mut(hook.job)?;
        let url = job.webhook_url.clone()?;
        job.webhook_events.push(job::WebhookEvent {
            event: hook.event,
            delivery_id: hook.delivery_id.to_string(),
            at: rfc3339(hook.now),
            status_code: None,
        });
        let drift = hook.faults.has(Fault::SchemaDrift);
        let view = job::job_view(job, hook.config, hook.now, drift);
        let body = serde_json::to_vec(&json!({"event": hook.event, "data": view}));
        Some((url, body.unwrap_or_default()))
    }

    fn record_webhook(&self, st: &mut State, api: ApiId, delivered: Delivered<'_>) {
        if let Some(job) = jobs(st, api).jobs.get_mut(delivered.job)
            && let Some(ev) = job
                .webhook_events
                .iter_mut()
                .find(|e| e.delivery_id == delivered.delivery_id)
        {
            ev.status_code = delivered.status;
        }
    }
}

/// `/v1/jobs/{id}` and `/v1/jobs/{id}/start`.
fn job_route(path: &str, get: bool, post: bool) -> Option<Route> {
    let rest = path.strip_prefix("/v1/jobs/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        [id] if get && !id.is_empty() => {
            let id = (*id).to_string();
            Some(Route::keyed(move |c, s| job::get_job(c, s, &id).into()))
        }
        [id, "start"] if post && !id.is_empty() => {
            let id = (*id).to_string();
            let billed = Some(id.clone());
            Some(
                Route::keyed(move |c, s| job::start_job(c, s, &id))
                    .billed("/v1/jobs/{id}/start", billed),
            )
        }
        _ => None,
    }
}

impl FakeCore {
    /// The RemoveBGVideo credit balance of the account owning `key`.
    pub fn video_balance(&self, key: &str) -> Option<Credits> {
        self.balance(key, NAME)
    }
}
