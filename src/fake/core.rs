//! The transport-independent core: `FakeRequest` → `FakeResponse`, pure over
//! shared state (no I/O, no sleeping). The core owns what every API shares —
//! request ids, faults, routing to the API that claims a path, auth, rate
//! limits, idempotency, usage, deadlines, webhooks, the common headers — and
//! knows no API by name: each is an [`ApiFake`](super::api::ApiFake) in
//! [`Apis`]. The transports (wiremock, hyper) only convert types and apply
//! delays.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::Value;

pub use super::http::{FakeRequest, FakeResponse};

use super::api::{ApiId, Apis, Call, Delivered, Due, Handled, Handler, Hook, KeyedHandler, Route};
use super::credits::Credits;
use super::errors::{ApiError, CommonError, unstructured};
use super::faults::{Fault, Faults};
use super::http::{Reply, new_ulid, rfc3339};
use super::idempotency::with_idempotency;
use super::ratelimit::Decision;
use super::state::{State, UsageEvent};
use super::webhook::{self, WebhookDelivery};
use super::{FakeConfig, FakeOptions};

/// The one request id every response carries under `repeated-request-id`.
pub const REPEATED_REQUEST_ID: &str = "req_01J0000000000000000000000R";

/// How long the `short-retry-after` fault keeps a limited key limited,
/// while its 429s still say `Retry-After: 1`.
pub const SHORT_RETRY_AFTER_PENALTY_MS: u64 = 2_500;

/// Where the core's time comes from (Unix milliseconds).
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> u64;
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// Where a keyed request goes.
struct Target<'a> {
    api: ApiId,
    route: &'a Route,
    handler: &'a KeyedHandler,
}

/// The fake's API logic over shared state.
pub struct FakeCore {
    pub(crate) config: FakeConfig,
    faults_list: Vec<Fault>,
    pub(crate) faults: Faults,
    apis: Apis,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    requests: AtomicU64,
    /// When the core was made (`stall` windows count from here).
    started_ms: u64,
}

impl std::fmt::Debug for FakeCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeCore")
            .field("faults", &self.faults_list)
            .finish_non_exhaustive()
    }
}

impl FakeCore {
    /// A core on the wall clock.
    pub fn new(options: FakeOptions) -> Self {
        Self::with_clock(options, Arc::new(SystemClock))
    }

    /// A core on the given clock (tests drive time by hand).
    pub fn with_clock(options: FakeOptions, clock: Arc<dyn Clock>) -> Self {
        let now = clock.now_ms();
        let config = options.config;
        let apis = Apis::builtin();
        let state = State::new(&config, &apis, now);
        let mut faults_list = options.faults;
        faults_list.sort();
        faults_list.dedup();
        FakeCore {
            faults: Faults::new(&faults_list),
            faults_list,
            config,
            apis,
            clock,
            state: Mutex::new(state),
            requests: AtomicU64::new(0),
            started_ms: now,
        }
    }

    /// The configuration the core runs with.
    pub fn config(&self) -> &FakeConfig {
        &self.config
    }

    /// The active faults.
    pub fn faults(&self) -> &[Fault] {
        &self.faults_list
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The credit balance, in the API fake called `api`, of the account
    /// owning `key`.
    pub(crate) fn balance(&self, key: &str, api: &str) -> Option<Credits> {
        let api = self.apis.named(api)?;
        let mut st = self.lock();
        let account = st.account_of_key(key)?;
        Some(st.ledger(account, api).balance)
    }

    /// Like [`FakeCore::handle`], but a panic becomes the API's 5xx envelope
    /// instead of tearing down the connection (transports call this).
    pub fn handle_guarded(&self, req: FakeRequest) -> FakeResponse {
        let api = self.apis.claiming(&req.path);
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(req))) {
            Ok(resp) => resp,
            Err(_) => {
                tracing::error!("the fake's core panicked on a request");
                let request_id = format!("req_{}", new_ulid());
                let error = self.common_error(api, &CommonError::Internal);
                let reply = self.error_reply(api, error, &request_id);
                self.finish(reply, &request_id, None)
            }
        }
    }

    /// A request whose body exceeded the transport's limit (the body is not
    /// read): answered with the API's "too large" error after route, auth
    /// and rate limit.
    pub fn handle_oversized(&self, req: FakeRequest) -> FakeResponse {
        self.dispatch(req, true)
    }

    /// The largest body a transport needs to read before calling
    /// [`FakeCore::handle_oversized`] instead.
    pub fn max_body_bytes(&self) -> u64 {
        self.config
            .max_upload_bytes
            .max(self.config.max_json_bytes)
            .saturating_add(1024 * 1024)
    }

    /// Answers one request. Pure over the shared state: no I/O, no sleeping.
    pub fn handle(&self, req: FakeRequest) -> FakeResponse {
        let oversized = req.body.len() as u64 > self.max_body_bytes();
        self.dispatch(req, oversized)
    }

    fn new_request_id(&self) -> String {
        if self.faults.has(Fault::RepeatedRequestId) {
            REPEATED_REQUEST_ID.to_string()
        } else {
            format!("req_{}", new_ulid())
        }
    }

    /// Under `flaky`, whether this request is the Nth.
    fn flaky_hit(&self) -> bool {
        self.faults.has(Fault::Flaky) && {
            let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
            n % u64::from(self.config.flaky_every.max(1)) == 0
        }
    }

    fn dispatch(&self, req: FakeRequest, oversized: bool) -> FakeResponse {
        let request_id = self.new_request_id();
        if self.flaky_hit() {
            let bare = Reply::raw(503, Bytes::new(), None);
            return self.finish(bare, &request_id, None);
        }
        let api = self.apis.claiming(&req.path);
        let path = if req.path.len() > 1 {
            req.path.trim_end_matches('/')
        } else {
            &req.path
        };
        let Some(route) = self.apis.get(api).route(&req.method, path, self.faults) else {
            let not_found = CommonError::NotFound {
                method: req.method.clone(),
                path: req.path.clone(),
            };
            let reply = self.error_reply(api, self.common_error(api, &not_found), &request_id);
            return self.finish(reply, &request_id, None);
        };
        let reply = match &route.handler {
            Handler::Public(_)
                if self.faults.has(Fault::PublicRoutesLocked) && req.api_key_header().is_none() =>
            {
                let missing = CommonError::Unauthorized { invalid: false };
                self.error_reply(api, self.common_error(api, &missing), &request_id)
            }
            Handler::Public(answer) => answer(),
            Handler::Keyed(handler) => {
                let to = Target {
                    api,
                    route: &route,
                    handler: handler.as_ref(),
                };
                return self.keyed(&req, to, oversized, request_id);
            }
        };
        self.finish(reply, &request_id, None)
    }

    /// A route that needs a key: auth, rate limit, then the handler (under
    /// idempotency when the route honours it), usage last.
    fn keyed(
        &self,
        req: &FakeRequest,
        to: Target<'_>,
        oversized: bool,
        request_id: String,
    ) -> FakeResponse {
        let Target {
            api,
            route,
            handler,
        } = to;
        let now = self.clock.now_ms();
        let mut st = self.lock();
        self.settle(&mut st, now);
        let key = match self.authenticate(&st, api, req, route) {
            Ok(k) => k,
            Err(error) => {
                drop(st);
                let reply = self.error_reply(api, self.common_error(api, &error), &request_id);
                return self.finish(reply, &request_id, None);
            }
        };
        let decision = self.take_token(&mut st, key, now);
        let call = Call {
            core: self,
            req,
            api,
            now,
            request_id,
            key,
        };
        let handled = if !decision.allowed {
            if self.faults.has(Fault::LimitedSideEffects) && route.creates {
                // The work is done (and charged) though the answer says 429.
                let handled = handler(&call, &mut st);
                self.record_usage(&call, &mut st, route, &handled);
            }
            drop(st);
            let reply = call.error(self.common_error(api, &CommonError::RateLimited));
            return self.finish(reply, &call.request_id, Some(decision));
        } else if oversized {
            call.error(self.common_error(api, &CommonError::TooLarge))
                .into()
        } else if route.idempotent {
            with_idempotency(&call, &mut st, |c, s| handler(c, s))
        } else {
            handler(&call, &mut st)
        };
        self.record_usage(&call, &mut st, route, &handled);
        drop(st);
        self.finish(handled.reply, &call.request_id, Some(decision))
    }

    /// One token of the key's bucket (never refused under `no-rate-limit`).
    fn take_token(&self, st: &mut State, key: usize, now: u64) -> Decision {
        let enforce = !self.faults.has(Fault::NoRateLimit);
        let bucket = &mut st.keys[key].bucket;
        let decision = bucket.take(now, enforce);
        if !decision.allowed && self.faults.has(Fault::ShortRetryAfter) {
            bucket.penalize(now, SHORT_RETRY_AFTER_PENALTY_MS);
        }
        decision
    }

    /// The key's index, or the auth error (the API decides where a key is
    /// read from; the core what it is worth).
    fn authenticate(
        &self,
        st: &State,
        api: ApiId,
        req: &FakeRequest,
        route: &Route,
    ) -> Result<usize, CommonError> {
        let presented = self.apis.get(api).presented_key(req, self.faults);
        let from_query = if presented.is_none() && self.faults.has(Fault::QueryKeyAccepted) {
            req.query_param("api_key")
        } else {
            None
        };
        match presented.or(from_query.as_deref()) {
            None if self.faults.has(Fault::AuthBypass) && route.creates => self
                .bypass_key(st)
                .ok_or(CommonError::Unauthorized { invalid: false }),
            None => Err(CommonError::Unauthorized { invalid: false }),
            Some(key) => match st.key_index.get(key) {
                Some(&k) if !st.keys[k].disabled => Ok(k),
                _ => Err(CommonError::Unauthorized { invalid: true }),
            },
        }
    }

    /// Under `auth-bypass`: the first enabled `valid` key, else any enabled one.
    fn bypass_key(&self, st: &State) -> Option<usize> {
        let valid = |key: &str| {
            self.config
                .keys
                .iter()
                .any(|c| c.key == key && c.role.as_deref() == Some("valid"))
        };
        st.keys
            .iter()
            .position(|k| !k.disabled && valid(&k.key))
            .or_else(|| st.keys.iter().position(|k| !k.disabled))
    }

    /// One usage event per billable call of a route that has one, credits
    /// as actually taken; a capped ring in the API's ledger.
    fn record_usage(&self, call: &Call, st: &mut State, route: &Route, handled: &Handled) {
        let Some(usage) = &route.usage else {
            return;
        };
        let reply = &handled.reply;
        let job_id = usage.job_id.clone().or_else(|| {
            serde_json::from_slice::<Value>(&reply.body)
                .ok()
                .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_string))
        });
        let event = UsageEvent {
            id: format!("evt_{}", new_ulid()),
            request_id: call.request_id.clone(),
            job_id,
            endpoint: usage.endpoint,
            method: "POST",
            status_code: reply.status,
            credits: handled.charge.as_ref().map_or(Credits::ZERO, |c| c.credits),
            created_at: rfc3339(call.now),
        };
        call.ledger(st).record(event, self.config.max_usage_events);
    }

    /// Applies every transition due by `now` (refunds, completions,
    /// webhooks), earliest first: a min-heap of deadlines.
    fn settle(&self, st: &mut State, now: u64) {
        while let Some((at, due)) = st.pop_due(now) {
            let api = self.apis.get(due.api);
            let due = Due {
                api: due.api,
                job: &due.job,
                run: due.run,
                at,
            };
            api.settle(self, st, due);
        }
    }

    /// Webhooks due now, signed, each recorded in its job's events (status
    /// code filled in by [`FakeCore::record_webhook_result`]).
    pub fn take_due_webhooks(&self) -> Vec<WebhookDelivery> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        self.settle(&mut st, now);
        let mut out = Vec::new();
        while let Some((api, job_id, event)) = st.webhooks.pop_front() {
            let delivery_id = format!("whd_{}", new_ulid());
            let hook = Hook {
                api,
                job: &job_id,
                event,
                delivery_id: &delivery_id,
                now,
                config: &self.config,
                faults: self.faults,
            };
            let Some((url, body)) = self.apis.get(api).webhook(hook, &mut st) else {
                continue;
            };
            let timestamp = now / 1000;
            out.push(WebhookDelivery {
                signature: webhook::sign(&self.config.webhook_secret, timestamp, &body),
                job_id,
                delivery_id,
                event: event.to_string(),
                url,
                timestamp,
                body: Bytes::from(body),
            });
        }
        out
    }

    /// Records the outcome of a webhook delivery (`None`: not delivered).
    pub fn record_webhook_result(&self, job_id: &str, delivery_id: &str, status: Option<u16>) {
        let mut st = self.lock();
        for (id, api) in self.apis.iter() {
            let delivered = Delivered {
                job: job_id,
                delivery_id,
                status,
            };
            api.record_webhook(&mut st, id, delivered);
        }
    }

    /// The API's own status and code for an error of the shared machinery.
    pub(crate) fn common_error(&self, api: ApiId, error: &CommonError) -> ApiError {
        let mut out = self.apis.get(api).common_error(error);
        if *error == (CommonError::Unauthorized { invalid: true })
            && self.faults.has(Fault::WrongAuthStatus)
        {
            out.status = 403;
        }
        out
    }

    /// An error reply in the API's envelope (or, under
    /// `unstructured-errors`, as text/HTML).
    pub(crate) fn error_reply(&self, api: ApiId, error: ApiError, request_id: &str) -> Reply {
        let mut reply = if self.faults.has(Fault::UnstructuredErrors) {
            unstructured(&error)
        } else {
            let request_id = (!self.faults.has(Fault::NoRequestId)).then_some(request_id);
            let body = self.apis.get(api).envelope(&error, request_id);
            Reply::json(error.status, &body)
        };
        reply.extra.extend(error.extra);
        reply
    }

    /// Inside the configured stall window, how long until it ends.
    fn stall_ms(&self) -> u64 {
        let Some(st) = &self.config.stall else {
            return 0;
        };
        let t = self.clock.now_ms().saturating_sub(self.started_ms);
        let end = st.after_ms.saturating_add(st.for_ms);
        if t >= st.after_ms && t < end {
            end - t
        } else {
            0
        }
    }

    /// Adds the common headers: request id, rate limit, Retry-After, delay.
    fn finish(&self, reply: Reply, request_id: &str, rate: Option<Decision>) -> FakeResponse {
        let mut headers: Vec<(String, String)> = Vec::with_capacity(8);
        if let Some(ct) = reply.content_type {
            headers.push(("content-type".into(), ct.into()));
        }
        if !self.faults.has(Fault::NoRequestId) {
            headers.push(("x-request-id".into(), request_id.to_string()));
        }
        if let Some(d) = rate {
            headers.push(("x-ratelimit-limit".into(), d.limit.to_string()));
            headers.push(("x-ratelimit-remaining".into(), d.remaining.to_string()));
            headers.push(("x-ratelimit-reset".into(), d.reset_unix.to_string()));
            if reply.status == 429 && !self.faults.has(Fault::NoRetryAfter) {
                headers.push(("retry-after".into(), d.retry_after_secs.to_string()));
            }
        }
        for (k, v) in reply.extra {
            headers.push((k.to_string(), v));
        }
        let mut delay_ms = reply.delay_ms + self.config.response_delay_ms;
        if self.faults.has(Fault::Slow) {
            delay_ms += self.config.slow_response_ms;
        }
        delay_ms += self.stall_ms();
        FakeResponse {
            status: reply.status,
            headers,
            body: reply.body,
            delay: (delay_ms > 0).then(|| Duration::from_millis(delay_ms)),
        }
    }
}
