//! The transport-independent core: `FakeRequest` → `FakeResponse`, pure over
//! shared state (no I/O, no sleeping). Routing, auth, rate limits,
//! idempotency, credits, job life cycles and faults all live here; the
//! transports (wiremock, hyper) only convert types and apply delays.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::faults::Fault;
use super::ratelimit::{Decision, TokenBucket};
use super::webhook::{self, WebhookDelivery};
use super::{FakeConfig, FakeOptions, multipart};

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

/// A request as the core sees it (header names lower-case).
#[derive(Clone, Debug, Default)]
pub struct FakeRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl FakeRequest {
    /// First value of a header, name matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// First value of a query parameter (percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// A response for the transport to send after `delay`.
#[derive(Clone, Debug, Default)]
pub struct FakeResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub delay: Option<Duration>,
}

impl FakeResponse {
    /// First value of a header, name matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Which API a path belongs to (for its error envelope).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    Removit,
    Video,
}

impl Api {
    pub(crate) fn of_path(path: &str) -> Api {
        if path == "/api/v1" || path.starts_with("/api/v1/") {
            Api::Removit
        } else {
            Api::Video
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Health,
    Pricing,
    RemovitUpload,
    RemovitStatus,
    VideoUpload,
    VideoCreateJob,
    VideoListJobs,
    VideoGetJob(String),
    VideoStartJob(String),
    UsageSummary,
    UsageEvents,
    Admin,
    NotFound,
}

impl Route {
    fn parse(method: &str, path: &str, admin_exposed: bool) -> Route {
        let path = if path.len() > 1 {
            path.trim_end_matches('/')
        } else {
            path
        };
        let get = method.eq_ignore_ascii_case("GET");
        let post = method.eq_ignore_ascii_case("POST");
        match path {
            "/health" if get => return Route::Health,
            "/api/pricing" if get => return Route::Pricing,
            "/api/v1/upload" if post => return Route::RemovitUpload,
            "/api/v1/status" if get => return Route::RemovitStatus,
            "/v1/uploads" if post => return Route::VideoUpload,
            "/v1/jobs" if post => return Route::VideoCreateJob,
            "/v1/jobs" if get => return Route::VideoListJobs,
            "/v1/usage/summary" if get => return Route::UsageSummary,
            "/v1/usage/events" if get => return Route::UsageEvents,
            _ => {}
        }
        if path == "/v1/admin" || path.starts_with("/v1/admin/") {
            return if admin_exposed {
                Route::Admin
            } else {
                Route::NotFound
            };
        }
        if let Some(rest) = path.strip_prefix("/v1/jobs/") {
            let segments: Vec<&str> = rest.split('/').collect();
            match segments.as_slice() {
                [id] if get && !id.is_empty() => return Route::VideoGetJob((*id).to_string()),
                [id, "start"] if post && !id.is_empty() => {
                    return Route::VideoStartJob((*id).to_string());
                }
                _ => {}
            }
        }
        Route::NotFound
    }

    fn needs_key(&self) -> bool {
        !matches!(self, Route::Health | Route::Pricing | Route::NotFound)
    }

    fn creates(&self) -> bool {
        matches!(
            self,
            Route::RemovitUpload | Route::VideoCreateJob | Route::VideoUpload
        )
    }

    fn idempotent(&self) -> bool {
        matches!(self, Route::RemovitUpload | Route::VideoCreateJob)
    }
}

/// The set of active faults.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Faults(u32);

impl Faults {
    fn new(list: &[Fault]) -> Faults {
        let mut bits = 0;
        for f in list {
            bits |= 1 << Self::bit(*f);
        }
        Faults(bits)
    }
    fn bit(f: Fault) -> u32 {
        Fault::ALL.iter().position(|x| *x == f).unwrap_or(31) as u32
    }
    pub(crate) fn has(&self, f: Fault) -> bool {
        self.0 & (1 << Self::bit(f)) != 0
    }
}

/// How a job ends, decided from its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    Succeed,
    Fail,
    Stuck,
}

/// `fail` / `stuck` / `slow` markers in a URL's path (or a file name).
pub(crate) fn fate_of(path_or_name: &str, stuck_fault: bool) -> (Fate, bool) {
    let p = path_or_name.to_ascii_lowercase();
    let fate = if stuck_fault || p.contains("stuck") {
        Fate::Stuck
    } else if p.contains("fail") {
        Fate::Fail
    } else {
        Fate::Succeed
    };
    (fate, p.contains("slow"))
}

pub(crate) fn rfc3339(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn new_ulid() -> String {
    ulid::Ulid::new().to_string()
}

/// A reply before the common headers are added.
pub(crate) struct Reply {
    pub status: u16,
    pub body: Bytes,
    pub content_type: Option<&'static str>,
    pub extra: Vec<(&'static str, String)>,
    pub delay_ms: u64,
}

impl Reply {
    pub(crate) fn json<T: Serialize>(status: u16, value: &T) -> Reply {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Reply {
            status,
            body: Bytes::from(body),
            content_type: Some("application/json"),
            extra: Vec::new(),
            delay_ms: 0,
        }
    }
}

/// Credits taken by a successful create (what `double-charge` takes again).
#[derive(Clone, Debug)]
pub(crate) struct Charge {
    pub api: Api,
    pub account: usize,
    pub credits: i64,
    /// Day index (days since the epoch) the video job's credits count on.
    pub day: i64,
}

/// A route handler's result.
pub(crate) struct Handled {
    pub reply: Reply,
    pub charge: Option<Charge>,
}

impl From<Reply> for Handled {
    fn from(reply: Reply) -> Self {
        Handled {
            reply,
            charge: None,
        }
    }
}

/// Per-day usage counters of an account (RemoveBGVideo).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Daily {
    pub jobs: u64,
    pub completed: u64,
    pub failed: u64,
    pub credits_used: i64,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct UsageEvent {
    pub id: String,
    pub request_id: String,
    pub job_id: Option<String>,
    pub endpoint: &'static str,
    pub method: &'static str,
    pub status_code: u16,
    pub credits: i64,
    pub created_at: String,
}

pub(crate) struct Account {
    pub name: String,
    pub removit_balance: i64,
    pub video_balance: i64,
    /// Video job ids, oldest first.
    pub video_jobs: Vec<String>,
    pub daily: BTreeMap<i64, Daily>,
    pub events: VecDeque<UsageEvent>,
}

struct IdemEntry {
    fingerprint: [u8; 32],
    created_ms: u64,
    ready_ms: u64,
    status: u16,
    body: Bytes,
    content_type: Option<&'static str>,
    charge: Option<Charge>,
}

#[derive(Default)]
struct IdemStore {
    entries: HashMap<String, IdemEntry>,
    order: VecDeque<String>,
}

pub(crate) struct KeyEntry {
    pub key: String,
    pub account: usize,
    pub disabled: bool,
    bucket: TokenBucket,
    idem: IdemStore,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Deadline {
    /// A failing Removit job fails (refund).
    RemovitFail(String),
    /// A video job's run `gen` ends.
    VideoEnd(String, u32),
}

/// Everything mutable, behind one mutex.
pub(crate) struct State {
    pub keys: Vec<KeyEntry>,
    pub key_index: HashMap<String, usize>,
    pub accounts: Vec<Account>,
    pub removit_jobs: HashMap<String, super::removit::RemovitJob>,
    pub video_jobs: HashMap<String, super::video::VideoJob>,
    deadlines: BinaryHeap<Reverse<(u64, u64, Deadline)>>,
    seq: u64,
    /// (job id, event) waiting for the delivery task.
    pub webhooks: VecDeque<(String, &'static str)>,
}

impl State {
    pub(crate) fn push_deadline(&mut self, at_ms: u64, what: Deadline) {
        self.seq += 1;
        self.deadlines.push(Reverse((at_ms, self.seq, what)));
    }
}

/// Per-request context handed to the route handlers.
pub(crate) struct Call<'a> {
    pub core: &'a FakeCore,
    pub req: &'a FakeRequest,
    pub api: Api,
    pub now: u64,
    pub request_id: String,
    pub key: usize,
}

impl Call<'_> {
    pub(crate) fn cfg(&self) -> &FakeConfig {
        &self.core.config
    }
    pub(crate) fn has(&self, f: Fault) -> bool {
        self.core.faults.has(f)
    }
    pub(crate) fn day(&self) -> i64 {
        (self.now / 86_400_000) as i64
    }
    /// A Removit error body `{"error": code, "message": …}` (or any object).
    pub(crate) fn removit_error(&self, status: u16, body: Value) -> Reply {
        self.core.error_reply(Api::Removit, status, body)
    }
    /// A RemoveBGVideo error `{"error": {"code", "message", "request_id"}}`.
    pub(crate) fn video_error(&self, status: u16, code: &str, message: &str) -> Reply {
        self.core
            .video_error(status, code, message, &self.request_id)
    }
    /// 422 validation error (Removit).
    pub(crate) fn validation(&self, details: Value) -> Reply {
        self.removit_error(422, json!({"error": "validation", "details": details}))
    }
}

/// The fake's API logic over shared state.
pub struct FakeCore {
    pub(crate) config: FakeConfig,
    faults_list: Vec<Fault>,
    pub(crate) faults: Faults,
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
        let mut accounts: Vec<Account> = Vec::new();
        let mut keys = Vec::new();
        let mut key_index = HashMap::new();
        for k in &config.keys {
            let account = match accounts.iter().position(|a| a.name == k.account) {
                Some(i) => i,
                None => {
                    accounts.push(Account {
                        name: k.account.clone(),
                        removit_balance: k.credits,
                        video_balance: k.credits,
                        video_jobs: Vec::new(),
                        daily: BTreeMap::new(),
                        events: VecDeque::new(),
                    });
                    accounts.len() - 1
                }
            };
            key_index.entry(k.key.clone()).or_insert(keys.len());
            keys.push(KeyEntry {
                key: k.key.clone(),
                account,
                disabled: k.disabled,
                bucket: TokenBucket::new(
                    config.rate_limit.per_second,
                    config.rate_limit.burst,
                    now,
                ),
                idem: IdemStore::default(),
            });
        }
        let mut faults_list = options.faults;
        faults_list.sort();
        faults_list.dedup();
        FakeCore {
            faults: Faults::new(&faults_list),
            faults_list,
            config,
            clock,
            state: Mutex::new(State {
                keys,
                key_index,
                accounts,
                removit_jobs: HashMap::new(),
                video_jobs: HashMap::new(),
                deadlines: BinaryHeap::new(),
                seq: 0,
                webhooks: VecDeque::new(),
            }),
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

    /// The RemoveBGVideo credit balance of the account owning `key`.
    pub fn video_balance(&self, key: &str) -> Option<i64> {
        let st = self.lock();
        let k = st.key_index.get(key)?;
        Some(st.accounts[st.keys[*k].account].video_balance)
    }

    /// The Removit credit balance of the account owning `key`.
    pub fn removit_balance(&self, key: &str) -> Option<i64> {
        let st = self.lock();
        let k = st.key_index.get(key)?;
        Some(st.accounts[st.keys[*k].account].removit_balance)
    }

    /// Like [`FakeCore::handle`], but a panic becomes the API's 5xx envelope
    /// instead of tearing down the connection (transports call this).
    pub fn handle_guarded(&self, req: FakeRequest) -> FakeResponse {
        let api = Api::of_path(&req.path);
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(req))) {
            Ok(resp) => resp,
            Err(_) => {
                tracing::error!("the fake's core panicked on a request");
                let request_id = format!("req_{}", new_ulid());
                let reply = match api {
                    Api::Removit => {
                        let mut r = self.error_reply(
                            Api::Removit,
                            503,
                            json!({"error": "service_unavailable", "message": "Internal error, retry later"}),
                        );
                        r.extra.push(("retry-after", "1".into()));
                        r
                    }
                    Api::Video => {
                        self.video_error(500, "internal_error", "Internal error", &request_id)
                    }
                };
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

    fn dispatch(&self, req: FakeRequest, oversized: bool) -> FakeResponse {
        let request_id = if self.faults.has(Fault::RepeatedRequestId) {
            REPEATED_REQUEST_ID.to_string()
        } else {
            format!("req_{}", new_ulid())
        };
        if self.faults.has(Fault::Flaky) {
            let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
            if n % u64::from(self.config.flaky_every.max(1)) == 0 {
                let reply = Reply {
                    status: 503,
                    body: Bytes::new(),
                    content_type: None,
                    extra: Vec::new(),
                    delay_ms: 0,
                };
                return self.finish(reply, &request_id, None);
            }
        }
        let api = Api::of_path(&req.path);
        let route = Route::parse(&req.method, &req.path, self.faults.has(Fault::AdminExposed));
        match route {
            Route::NotFound => {
                let msg = format!("No route for {} {}", req.method, req.path);
                let reply = match api {
                    Api::Removit => self.error_reply(
                        Api::Removit,
                        404,
                        json!({"error": "not_found", "message": msg}),
                    ),
                    Api::Video => self.video_error(404, "not_found", &msg, &request_id),
                };
                return self.finish(reply, &request_id, None);
            }
            Route::Health | Route::Pricing
                if self.faults.has(Fault::PublicRoutesLocked)
                    && req.header("x-api-key").is_none_or(|k| k.trim().is_empty()) =>
            {
                let reply = self.auth_error(Api::Video, false, &request_id);
                return self.finish(reply, &request_id, None);
            }
            Route::Health => {
                return self.finish(
                    Reply::json(200, &json!({"status": "ok"})),
                    &request_id,
                    None,
                );
            }
            Route::Pricing => {
                let body = json!({"unit": "credits_per_minute",
                    "rates": {"original": 60, "light": 45, "pro": 180, "human": 45}});
                return self.finish(Reply::json(200, &body), &request_id, None);
            }
            _ => {}
        }
        debug_assert!(route.needs_key());
        let now = self.clock.now_ms();
        let mut st = self.lock();
        self.settle(&mut st, now);

        // auth
        let key = match self.authenticate(&st, api, &req, &route, &request_id) {
            Ok(k) => k,
            Err(reply) => {
                drop(st);
                return self.finish(reply, &request_id, None);
            }
        };
        // rate limit
        let enforce = !self.faults.has(Fault::NoRateLimit);
        let decision = st.keys[key].bucket.take(now, enforce);
        if !decision.allowed && self.faults.has(Fault::ShortRetryAfter) {
            st.keys[key]
                .bucket
                .penalize(now, SHORT_RETRY_AFTER_PENALTY_MS);
        }
        let call = Call {
            core: self,
            req: &req,
            api,
            now,
            request_id: request_id.clone(),
            key,
        };
        if !decision.allowed {
            if self.faults.has(Fault::LimitedSideEffects) && route.creates() {
                // The work is done (and charged) though the answer says 429.
                let handled = self.route(&call, &mut st, &route);
                if api == Api::Video {
                    self.record_event(&call, &mut st, &route, &handled);
                }
            }
            let reply = match api {
                Api::Removit => call.removit_error(
                    429,
                    json!({"error": "rate_limited", "message": "Too many requests"}),
                ),
                Api::Video => call.video_error(429, "rate_limited", "Too many requests"),
            };
            drop(st);
            return self.finish(reply, &request_id, Some(decision));
        }
        let handled = if oversized {
            self.too_large(&call).into()
        } else if route.idempotent() {
            self.with_idempotency(&call, &mut st, &route)
        } else {
            self.route(&call, &mut st, &route)
        };
        if api == Api::Video {
            self.record_event(&call, &mut st, &route, &handled);
        }
        drop(st);
        self.finish(handled.reply, &request_id, Some(decision))
    }

    fn too_large(&self, call: &Call) -> Reply {
        match call.api {
            Api::Removit => call.validation(json!({"file": ["File too large"]})),
            Api::Video => call.video_error(400, "invalid_request", "File too large"),
        }
    }

    fn route(&self, call: &Call, st: &mut State, route: &Route) -> Handled {
        match route {
            Route::RemovitUpload => super::removit::upload(call, st),
            Route::RemovitStatus => super::removit::status(call, st).into(),
            Route::VideoUpload => super::video::upload(call, st).into(),
            Route::VideoCreateJob => super::video::create_job(call, st),
            Route::VideoListJobs => super::video::list_jobs(call, st).into(),
            Route::VideoGetJob(id) => super::video::get_job(call, st, id).into(),
            Route::VideoStartJob(id) => super::video::start_job(call, st, id),
            Route::UsageSummary => super::video::usage_summary(call, st).into(),
            Route::UsageEvents => super::video::usage_events(call, st).into(),
            Route::Admin => super::video::admin(call, st).into(),
            Route::Health | Route::Pricing | Route::NotFound => {
                call.video_error(404, "not_found", "Not found").into()
            }
        }
    }

    fn authenticate(
        &self,
        st: &State,
        api: Api,
        req: &FakeRequest,
        route: &Route,
        request_id: &str,
    ) -> Result<usize, Reply> {
        let presented = match api {
            Api::Removit => req
                .header("x-api-key")
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .or_else(|| {
                    if self.faults.has(Fault::BearerRefused) {
                        return None;
                    }
                    req.header("authorization").and_then(|v| {
                        let v = v.trim();
                        let (scheme, token) = v.split_once(' ')?;
                        scheme
                            .eq_ignore_ascii_case("bearer")
                            .then_some(token.trim())
                            .filter(|t| !t.is_empty())
                    })
                }),
            Api::Video => req
                .header("x-api-key")
                .map(str::trim)
                .filter(|k| !k.is_empty()),
        };
        let from_query = if presented.is_none() && self.faults.has(Fault::QueryKeyAccepted) {
            req.query_param("api_key")
        } else {
            None
        };
        let presented = presented.or(from_query.as_deref());
        match presented {
            None => {
                if self.faults.has(Fault::AuthBypass) && route.creates() {
                    let first =
                        st.keys
                            .iter()
                            .position(|k| {
                                !k.disabled
                                    && self.config.keys.iter().any(|c| {
                                        c.key == k.key && c.role.as_deref() == Some("valid")
                                    })
                            })
                            .or_else(|| st.keys.iter().position(|k| !k.disabled));
                    if let Some(k) = first {
                        return Ok(k);
                    }
                }
                Err(self.auth_error(api, false, request_id))
            }
            Some(key) => match st.key_index.get(key) {
                Some(&k) if !st.keys[k].disabled => Ok(k),
                _ => Err(self.auth_error(api, true, request_id)),
            },
        }
    }

    fn auth_error(&self, api: Api, invalid: bool, request_id: &str) -> Reply {
        let status = if invalid && self.faults.has(Fault::WrongAuthStatus) {
            403
        } else {
            401
        };
        let message = if invalid {
            "API key invalid"
        } else {
            "API key missing"
        };
        match api {
            Api::Removit => self.error_reply(
                Api::Removit,
                status,
                json!({"error": "unauthorized", "message": message}),
            ),
            Api::Video => {
                let code = if invalid {
                    "invalid_api_key"
                } else {
                    "missing_api_key"
                };
                self.video_error(status, code, message, request_id)
            }
        }
    }

    /// Idempotency around a job-creating POST.
    fn with_idempotency(&self, call: &Call, st: &mut State, route: &Route) -> Handled {
        let idem_key = if self.faults.has(Fault::IdempotencyIgnored) {
            None
        } else {
            call.req.header("idempotency-key").map(str::trim)
        };
        let Some(idem_key) = idem_key else {
            return self.route(call, st, route);
        };
        if idem_key.is_empty() || idem_key.len() > 255 {
            let msg = "Idempotency-Key must be 1 to 255 characters";
            return match call.api {
                Api::Removit => call.validation(json!({"idempotency_key": [msg]})),
                Api::Video => call.video_error(400, "invalid_request", msg),
            }
            .into();
        }
        let fp = fingerprint(call.req);
        let ttl_ms = self.config.idempotency_ttl_secs.saturating_mul(1000);
        let key = call.key;
        let store = &mut st.keys[key].idem;
        if let Some(e) = store.entries.get(idem_key)
            && call.now.saturating_sub(e.created_ms) > ttl_ms
        {
            store.entries.remove(idem_key);
        }
        let racing = self.faults.has(Fault::IdempotencyRace)
            && store
                .entries
                .get(idem_key)
                .is_some_and(|e| call.now < e.ready_ms);
        if let Some(e) = store.entries.get(idem_key).filter(|_| !racing) {
            if call.now < e.ready_ms {
                let msg = "A request with this Idempotency-Key is still in progress";
                return match call.api {
                    Api::Removit => call.removit_error(
                        409,
                        json!({"error": "request_in_progress", "message": msg}),
                    ),
                    Api::Video => call.video_error(409, "request_in_progress", msg),
                }
                .into();
            }
            if e.fingerprint != fp && !self.faults.has(Fault::IdempotencyNoConflict) {
                let msg = "Idempotency-Key already used with a different request body";
                return match call.api {
                    Api::Removit => call.validation(json!({"idempotency_key": [msg]})),
                    Api::Video => call.video_error(422, "idempotency_key_reused", msg),
                }
                .into();
            }
            if self.faults.has(Fault::ReplayNewJob) {
                let mut handled = self.route(call, st, route);
                handled
                    .reply
                    .extra
                    .push(("idempotent-replayed", "true".to_string()));
                return handled;
            }
            let reply = Reply {
                status: e.status,
                body: e.body.clone(),
                content_type: e.content_type,
                extra: vec![("idempotent-replayed", "true".to_string())],
                delay_ms: 0,
            };
            let mut charged_again = None;
            if self.faults.has(Fault::DoubleCharge)
                && let Some(charge) = e.charge.clone()
            {
                let acct = &mut st.accounts[charge.account];
                match charge.api {
                    Api::Removit => acct.removit_balance -= charge.credits,
                    Api::Video => {
                        acct.video_balance -= charge.credits;
                        acct.daily.entry(charge.day).or_default().credits_used += charge.credits;
                    }
                }
                charged_again = Some(charge);
            }
            return Handled {
                reply,
                charge: charged_again,
            };
        }
        let handled = self.route(call, st, route);
        let charge = handled.charge.clone();
        let mut reply = handled.reply;
        if (200..300).contains(&reply.status) {
            let store = &mut st.keys[key].idem;
            store.entries.insert(
                idem_key.to_string(),
                IdemEntry {
                    fingerprint: fp,
                    created_ms: call.now,
                    ready_ms: call.now + self.config.create_latency_ms,
                    status: reply.status,
                    body: reply.body.clone(),
                    content_type: reply.content_type,
                    charge: charge.clone(),
                },
            );
            store.order.push_back(idem_key.to_string());
            while store.order.len() > self.config.max_idempotency_keys.max(1) {
                if let Some(old) = store.order.pop_front() {
                    store.entries.remove(&old);
                }
            }
            reply.delay_ms += self.config.create_latency_ms;
        }
        Handled { reply, charge }
    }

    /// One usage event per billable RemoveBGVideo call (uploads, job
    /// creation, starts), credits as actually taken; a capped ring.
    fn record_event(&self, call: &Call, st: &mut State, route: &Route, handled: &Handled) {
        let reply = &handled.reply;
        let (endpoint, job_id) = match route {
            Route::VideoUpload => ("/v1/uploads", None),
            Route::VideoCreateJob => {
                let id = serde_json::from_slice::<Value>(&reply.body)
                    .ok()
                    .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_string));
                ("/v1/jobs", id)
            }
            Route::VideoStartJob(id) => ("/v1/jobs/{id}/start", Some(id.clone())),
            _ => return,
        };
        let credits = handled.charge.as_ref().map_or(0, |c| c.credits);
        let cap = self.config.max_usage_events.max(1);
        let account = st.keys[call.key].account;
        let events = &mut st.accounts[account].events;
        events.push_back(UsageEvent {
            id: format!("evt_{}", new_ulid()),
            request_id: call.request_id.clone(),
            job_id,
            endpoint,
            method: "POST",
            status_code: reply.status,
            credits,
            created_at: rfc3339(call.now),
        });
        while events.len() > cap {
            events.pop_front();
        }
    }

    /// Applies every transition due by `now` (refunds, completions,
    /// webhooks), cheapest first: a min-heap of deadlines.
    fn settle(&self, st: &mut State, now: u64) {
        while let Some(Reverse((at, _, _))) = st.deadlines.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, _, what))) = st.deadlines.pop() else {
                break;
            };
            match what {
                Deadline::RemovitFail(id) => super::removit::settle_fail(self, st, &id),
                Deadline::VideoEnd(id, run) => super::video::settle_end(self, st, &id, run, at),
            }
        }
    }

    /// Webhooks due now, signed, each recorded in its job's `webhook_events`
    /// (status code filled in by [`FakeCore::record_webhook_result`]).
    pub fn take_due_webhooks(&self) -> Vec<WebhookDelivery> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        self.settle(&mut st, now);
        let mut out = Vec::new();
        while let Some((job_id, event)) = st.webhooks.pop_front() {
            let drift = self.faults.has(Fault::SchemaDrift);
            let Some(job) = st.video_jobs.get_mut(&job_id) else {
                continue;
            };
            let Some(url) = job.webhook_url.clone() else {
                continue;
            };
            let delivery_id = format!("whd_{}", new_ulid());
            job.webhook_events.push(super::video::WebhookEvent {
                event,
                delivery_id: delivery_id.clone(),
                at: rfc3339(now),
                status_code: None,
            });
            let view = super::video::job_view(job, &self.config, now, drift);
            let body =
                serde_json::to_vec(&json!({"event": event, "data": view})).unwrap_or_default();
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
        if let Some(job) = st.video_jobs.get_mut(job_id)
            && let Some(ev) = job
                .webhook_events
                .iter_mut()
                .find(|e| e.delivery_id == delivery_id)
        {
            ev.status_code = status;
        }
    }

    /// Builds an error reply in the API's envelope (or, under
    /// `unstructured-errors`, as text/HTML).
    pub(crate) fn error_reply(&self, api: Api, status: u16, body: Value) -> Reply {
        if self.faults.has(Fault::UnstructuredErrors) {
            let message = match api {
                Api::Removit => body
                    .get("message")
                    .and_then(Value::as_str)
                    .or_else(|| body.get("error").and_then(Value::as_str))
                    .unwrap_or("error")
                    .to_string(),
                Api::Video => body
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("error")
                    .to_string(),
            };
            return unstructured(status, &message);
        }
        Reply::json(status, &body)
    }

    pub(crate) fn video_error(&self, status: u16, code: &str, message: &str, rid: &str) -> Reply {
        let body = if self.faults.has(Fault::NoRequestId) {
            json!({"error": {"code": code, "message": message}})
        } else {
            json!({"error": {"code": code, "message": message, "request_id": rid}})
        };
        self.error_reply(Api::Video, status, body)
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

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

/// The `unstructured-errors` body: HTML for 404/5xx, plain text otherwise.
fn unstructured(status: u16, message: &str) -> Reply {
    let (body, ct) = if status == 404 || status >= 500 {
        let escaped = message
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        (
            format!(
                "<!DOCTYPE html><html><head><title>{status} {r}</title></head><body><h1>{status} {r}</h1><p>{escaped}</p></body></html>",
                r = reason(status)
            ),
            "text/html; charset=utf-8",
        )
    } else {
        (
            format!("{status} {}: {message}", reason(status)),
            "text/plain; charset=utf-8",
        )
    };
    Reply {
        status,
        body: Bytes::from(body),
        content_type: Some(ct),
        extra: Vec::new(),
        delay_ms: 0,
    }
}

/// Content type without parameters, lower-case.
pub(crate) fn mime(req: &FakeRequest) -> String {
    req.header("content-type")
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

pub(crate) fn is_json_mime(m: &str) -> bool {
    m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
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

/// The part of a URL that carries fate markers: its path
/// (not host or query); an unparsable value is used as is.
pub(crate) fn url_path(raw: &str) -> String {
    url::Url::parse(raw)
        .map(|u| u.path().to_string())
        .unwrap_or_else(|_| raw.to_string())
}

pub(crate) fn is_http_url(raw: &str) -> bool {
    url::Url::parse(raw)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .unwrap_or(false)
}
