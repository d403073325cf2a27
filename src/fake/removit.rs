//! Removit (`/api/v1`): upload and status, its `{"error", "message"}`
//! envelope, and its two ways of presenting a key.

use std::any::Any;
use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::FakeConfig;
use super::api::{ApiFake, ApiId, Call, Due, Handled, Route};
use super::core::FakeCore;
use super::credits::Credits;
use super::errors::{ApiError, CommonError};
use super::faults::{Fault, Faults};
use super::http::{FakeRequest, Reply, is_http_url, is_json_mime, mime, rfc3339, url_path};
use super::multipart;
use super::state::{Deadline, Fate, Progress, State, fate_of};

/// The Removit fake.
pub(crate) struct Removit;

/// Its name in packs (`fake: removit`).
pub(crate) const NAME: &str = "removit";

/// Removit's jobs, in its state slot.
type Jobs = HashMap<String, RemovitJob>;

fn jobs(st: &mut State, api: ApiId) -> &mut Jobs {
    State::api_state(&mut st.apis, api)
}

impl ApiFake for Removit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn claims(&self, path: &str) -> bool {
        path == "/api/v1" || path.starts_with("/api/v1/")
    }

    fn route(&self, method: &str, path: &str, _faults: Faults) -> Option<Route> {
        let get = method.eq_ignore_ascii_case("GET");
        let post = method.eq_ignore_ascii_case("POST");
        match path {
            "/api/v1/upload" if post => Some(Route::keyed(upload).creating().idempotent()),
            "/api/v1/status" if get => Some(Route::keyed(|c, s| status(c, s).into())),
            _ => None,
        }
    }

    fn common_error(&self, error: &CommonError) -> ApiError {
        let message = error.message();
        let in_details = |field: &str| {
            let mut details = Details::new();
            add(&mut details, field, message.clone());
            validation(Value::Object(details))
        };
        match error {
            CommonError::NotFound { .. } => ApiError::new(404, "not_found", message),
            CommonError::Unauthorized { .. } => ApiError::new(401, "unauthorized", message),
            CommonError::RateLimited => ApiError::new(429, "rate_limited", message),
            CommonError::TooLarge => in_details("file"),
            CommonError::IdempotencyKeyInvalid | CommonError::IdempotencyKeyReused => {
                in_details("idempotency_key")
            }
            CommonError::IdempotencyInProgress => {
                ApiError::new(409, "request_in_progress", message)
            }
            CommonError::Internal => {
                let mut e =
                    ApiError::new(503, "service_unavailable", "Internal error, retry later");
                e.extra.push(("retry-after", "1".into()));
                e
            }
        }
    }

    /// `{"error": code, "message": …}`, or `{"error": code, "details": …}`.
    fn envelope(&self, error: &ApiError, _request_id: Option<&str>) -> Value {
        match &error.details {
            Some(details) => json!({"error": error.code, "details": details}),
            None => json!({"error": error.code, "message": error.message}),
        }
    }

    /// `X-Api-Key`, or `Authorization: Bearer` (unless `bearer-refused`).
    fn presented_key<'r>(&self, req: &'r FakeRequest, faults: Faults) -> Option<&'r str> {
        req.api_key_header().or_else(|| {
            if faults.has(Fault::BearerRefused) {
                return None;
            }
            let (scheme, token) = req.header("authorization")?.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
                .filter(|t| !t.is_empty())
        })
    }

    fn new_state(&self) -> Box<dyn Any + Send> {
        Box::new(Jobs::new())
    }

    /// A failing job fails: refund (unless `no-refund`).
    fn settle(&self, core: &FakeCore, st: &mut State, due: Due<'_>) {
        let Some(job) = jobs(st, due.api).get(due.job) else {
            return;
        };
        if !core.faults.has(Fault::NoRefund) {
            let account = job.account;
            st.ledger(account, due.api).balance += UPLOAD_COST;
        }
    }
}

impl FakeCore {
    /// The Removit credit balance of the account owning `key`.
    pub fn removit_balance(&self, key: &str) -> Option<Credits> {
        self.balance(key, NAME)
    }
}

/// One upload costs one credit, taken at creation [conv].
const UPLOAD_COST: Credits = Credits::whole(1);
const MODES: &[&str] = &["background", "clipping", "params"];
const DELIVERY: &[&str] = &["url", "final_url"];
const FORMATS: &[&str] = &["png", "jpg", "jpeg", "psd", "tiff", "webp"];
const VARIATIONS: &[&str] = &["clipping", "background", "compose", "shadowTop"];
const IMAGE_MIMES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/jpg",
    "image/webp",
    "image/gif",
    "image/avif",
    "image/tiff",
    "image/vnd.adobe.photoshop",
    "image/psd",
    "image/x-photoshop",
    "application/x-photoshop",
    "image/svg+xml",
];

/// A Removit job.
pub(crate) struct RemovitJob {
    account: usize,
    mode: &'static str,
    delivery_mode: &'static str,
    output_format: &'static str,
    created_ms: u64,
    created_at: String,
    fate: Fate,
    slow: bool,
    variations: Vec<&'static str>,
    params: bool,
    warnings: Map<String, Value>,
    ignored: Vec<String>,
}

/// Picks `value` out of `allowed` (as a static str).
fn one_of(value: &str, allowed: &[&'static str]) -> Option<&'static str> {
    allowed.iter().copied().find(|a| *a == value)
}

struct File {
    filename: String,
    content_type: String,
    size: usize,
}

fn guess_image_mime(filename: &str) -> Option<&'static str> {
    let ext = filename.rsplit('.').next()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "avif" => "image/avif",
        "tif" | "tiff" => "image/tiff",
        "psd" => "image/vnd.adobe.photoshop",
        "svg" => "image/svg+xml",
        _ => return None,
    })
}

/// A field's messages, as Removit's 422 `details` list them.
type Details = Map<String, Value>;

fn add(details: &mut Details, field: &str, msg: impl Into<String>) {
    if let Value::Array(list) = details
        .entry(field.to_string())
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        list.push(Value::String(msg.into()));
    }
}

/// Removit's 422 `{"error": "validation", "details": …}`.
fn validation(details: Value) -> ApiError {
    ApiError::with_details(422, "validation", details)
}

/// An upload's fields and file, as sent (JSON or multipart).
#[derive(Default)]
struct Input {
    fields: Map<String, Value>,
    file: Option<File>,
    /// Problems found while reading (a `file` in JSON).
    details: Details,
}

/// A valid upload.
struct Order {
    file_url: Option<String>,
    file: Option<File>,
    mode: &'static str,
    delivery_mode: &'static str,
    output_format: &'static str,
    params: Option<Value>,
}

/// `POST /api/v1/upload` (JSON or multipart).
fn upload(call: &Call, st: &mut State) -> Handled {
    let order = read_input(call).and_then(|input| validate(input).map_err(validation));
    match order {
        Ok(order) => create(call, st, order),
        Err(error) => call.error(error).into(),
    }
}

fn read_input(call: &Call) -> Result<Input, ApiError> {
    let m = mime(call.req);
    if is_json_mime(&m) {
        read_json(call)
    } else if m == "multipart/form-data" {
        read_multipart(call)
    } else {
        Err(validation(json!({"body": [
            "Content-Type must be application/json or multipart/form-data"
        ]})))
    }
}

fn read_json(call: &Call) -> Result<Input, ApiError> {
    if call.req.body.len() as u64 > call.cfg().max_json_bytes {
        return Err(validation(json!({"body": ["Request body too large"]})));
    }
    let fields = match serde_json::from_slice::<Value>(&call.req.body) {
        Ok(Value::Object(obj)) => obj,
        Ok(_) => {
            return Err(validation(
                json!({"body": ["Request body must be a JSON object"]}),
            ));
        }
        Err(e) => {
            return Err(validation(
                json!({"body": [format!("Malformed JSON: {e}")]}),
            ));
        }
    };
    let mut details = Details::new();
    if fields.get("file").is_some_and(|v| !v.is_null()) {
        add(
            &mut details,
            "file",
            "file must be sent as a multipart/form-data file part",
        );
    }
    Ok(Input {
        fields,
        file: None,
        details,
    })
}

fn read_multipart(call: &Call) -> Result<Input, ApiError> {
    let parts = call
        .req
        .header("content-type")
        .and_then(multipart::boundary)
        .ok_or_else(|| "multipart/form-data needs a boundary".to_string())
        .and_then(|b| multipart::parse(&call.req.body, &b).map_err(|e| e.to_string()))
        .map_err(|e| validation(json!({"body": [format!("Malformed multipart body: {e}")]})))?;
    let mut input = Input::default();
    for p in parts {
        if p.name == "file" {
            if p.data.len() as u64 > call.cfg().max_upload_bytes {
                return Err(validation(json!({"file": ["File too large"]})));
            }
            let filename = p.filename.clone().unwrap_or_default();
            let ct = match p.content_type.as_deref() {
                Some(ct) if ct != "application/octet-stream" => ct.to_string(),
                _ => guess_image_mime(&filename).unwrap_or("").to_string(),
            };
            input.file = Some(File {
                filename,
                content_type: ct,
                size: p.data.len(),
            });
        } else if !input.fields.contains_key(&p.name) {
            let text = String::from_utf8_lossy(&p.data).into_owned();
            input.fields.insert(p.name.clone(), Value::String(text));
        }
    }
    Ok(input)
}

/// The upload's source: a `file_url` or a `file`, exactly one, usable.
fn check_source(input: &mut Input) -> Option<String> {
    let Input {
        fields,
        file,
        details,
    } = input;
    let file_url = match fields.get("file_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if is_http_url(s) => Some(s.clone()),
        Some(_) => {
            add(details, "file_url", "must be an http or https URL");
            None
        }
    };
    let has_url_field = fields.get("file_url").is_some_and(|v| !v.is_null());
    match (&file, has_url_field) {
        (None, false) if !details.contains_key("file") => {
            add(details, "file_url", "file_url or file is required");
        }
        (Some(_), true) => add(details, "file_url", "send exactly one of file_url or file"),
        _ => {}
    }
    if let Some(f) = &file {
        if f.size == 0 {
            add(details, "file", "file is empty");
        } else if !IMAGE_MIMES.contains(&f.content_type.as_str()) {
            add(
                details,
                "file",
                "unsupported image type; expected png, jpeg, webp, gif, avif, tiff, psd or svg+xml",
            );
        }
    }
    file_url
}

/// A string field out of `allowed`, `default` when absent.
fn enum_field(
    input: &mut Input,
    name: &str,
    allowed: &[&'static str],
    default: &'static str,
) -> Option<&'static str> {
    let problem = match input.fields.get(name) {
        None | Some(Value::Null) => return Some(default),
        Some(Value::String(s)) => match one_of(s, allowed) {
            Some(v) => return Some(v),
            None => format!("must be one of: {}", allowed.join(", ")),
        },
        Some(_) => format!("must be a string, one of: {}", allowed.join(", ")),
    };
    add(&mut input.details, name, problem);
    None
}

/// `params`, required (a string or an object) when `mode=params`.
fn check_params(input: &mut Input) -> Option<Value> {
    let required = "params is required when mode=params";
    match input.fields.get("params") {
        None | Some(Value::Null) => add(&mut input.details, "params", required),
        Some(Value::String(s)) if s.trim().is_empty() => {
            add(&mut input.details, "params", required);
        }
        Some(v @ (Value::String(_) | Value::Object(_))) => return Some(v.clone()),
        Some(_) => add(
            &mut input.details,
            "params",
            "must be a string or an object",
        ),
    }
    None
}

/// Every field checked; all problems at once.
fn validate(mut input: Input) -> Result<Order, Value> {
    let file_url = check_source(&mut input);
    let mode = enum_field(&mut input, "mode", MODES, "clipping");
    let delivery_mode = enum_field(&mut input, "delivery_mode", DELIVERY, "url");
    let output_format = enum_field(&mut input, "output_format", FORMATS, "png");
    let params = if mode == Some("params") {
        check_params(&mut input)
    } else {
        None
    };
    match (mode, delivery_mode, output_format) {
        (Some(mode), Some(delivery_mode), Some(output_format)) if input.details.is_empty() => {
            Ok(Order {
                file_url,
                file: input.file,
                mode,
                delivery_mode,
                output_format,
                params,
            })
        }
        _ => Err(Value::Object(input.details)),
    }
}

/// Charges one credit and creates the job.
fn create(call: &Call, st: &mut State, order: Order) -> Handled {
    let account = call.account(st);
    if call.ledger(st).balance < UPLOAD_COST && !call.has(Fault::No402) {
        let error = ApiError::new(402, "insufficient_credits", "Not enough credits");
        return call.error(error).into();
    }
    let marker = match (&order.file_url, &order.file) {
        (Some(u), _) => url_path(u),
        (None, Some(f)) => f.filename.clone(),
        (None, None) => String::new(),
    };
    let (fate, slow) = fate_of(&marker, call.has(Fault::StuckJobs));
    let mode = order.mode;
    let (variations, warnings, ignored) = match (mode, &order.params) {
        ("params", Some(p)) => parse_params(p),
        ("background", _) => (vec!["background", "compose"], Map::new(), Vec::new()),
        _ => (vec!["clipping"], Map::new(), Vec::new()),
    };
    let id = uuid::Uuid::now_v7().to_string();
    call.ledger(st).balance -= UPLOAD_COST;
    let job = RemovitJob {
        account,
        mode,
        delivery_mode: order.delivery_mode,
        output_format: order.output_format,
        created_ms: call.now,
        created_at: rfc3339(call.now),
        fate,
        slow,
        variations,
        params: mode == "params",
        warnings,
        ignored,
    };
    if fate == Fate::Fail {
        let (step, _) = steps(&job, call.cfg());
        let deadline = Deadline {
            api: call.api,
            job: id.clone(),
            run: 0,
        };
        st.push_deadline(call.now + 2 * step, deadline);
    }
    jobs(st, call.api).insert(id.clone(), job);
    Handled {
        reply: Reply::json(
            200,
            &json!({"job_id": id, "status": "queued", "mode": mode}),
        ),
        charge: Some(call.charge(account, UPLOAD_COST, call.day())),
    }
}

/// `params` (object, JSON string, or comma-separated names) → requested
/// variations, warnings, ignored names.
fn parse_params(p: &Value) -> (Vec<&'static str>, Map<String, Value>, Vec<String>) {
    let obj: Vec<(String, Value)> = match p {
        Value::Object(o) => o.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(o)) => o.into_iter().collect(),
            _ => s
                .split(',')
                .map(|n| n.trim())
                .filter(|n| !n.is_empty())
                .map(|n| (n.to_string(), Value::Bool(true)))
                .collect(),
        },
        _ => Vec::new(),
    };
    let mut variations = Vec::new();
    let mut warnings = Map::new();
    let mut ignored = Vec::new();
    for (name, settings) in obj {
        match VARIATIONS.iter().copied().find(|v| *v == name) {
            Some(v) => {
                if !variations.contains(&v) {
                    variations.push(v);
                }
                if !matches!(settings, Value::Object(_) | Value::Bool(_) | Value::Null) {
                    warnings.insert(name, json!(["settings must be an object; defaults used"]));
                }
            }
            None => ignored.push(name),
        }
    }
    if variations.is_empty() {
        variations = vec!["clipping", "compose"];
    }
    (variations, warnings, ignored)
}

/// (step length, total) in ms.
fn steps(job: &RemovitJob, cfg: &FakeConfig) -> (u64, u64) {
    let factor = if job.slow {
        u64::from(cfg.slow_factor.max(1))
    } else {
        1
    };
    let total = cfg.processing_ms.saturating_mul(factor).max(3);
    (total / 3, total)
}

#[derive(Serialize)]
struct StatusView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    job_id: Option<&'a str>,
    status: &'static str,
    state: &'static str,
    mode: &'static str,
    progress: Progress,
    delivery_mode: &'static str,
    output_format: &'static str,
    created_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    final_url: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    final_urls: Option<Option<Map<String, Value>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<&'a Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ignored_variations: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
}

/// (status, state, progress) at `now`.
fn phase(job: &RemovitJob, cfg: &FakeConfig, now: u64) -> (&'static str, &'static str, u8) {
    let (step, total) = steps(job, cfg);
    let elapsed = now.saturating_sub(job.created_ms);
    let pending = |elapsed: u64| -> u8 {
        let p = 1 + elapsed.saturating_sub(step) * 98 / (2 * step).max(1);
        p.clamp(1, 99) as u8
    };
    if elapsed < step {
        return ("queued", "pending", 0);
    }
    match job.fate {
        Fate::Stuck => ("pending_clipping", "pending", 10),
        Fate::Fail if elapsed >= 2 * step => ("failed", "failed", 50),
        _ if elapsed >= total && job.fate == Fate::Succeed => ("done", "done", 100),
        _ if elapsed < 2 * step => ("pending_clipping", "pending", pending(elapsed)),
        _ => ("pending_compose", "pending", pending(elapsed)),
    }
}

fn result_url(id: &str, variation: &str, format: &str) -> String {
    format!("https://results.removit.test/{id}/{variation}.{format}")
}

/// `GET /api/v1/status?job_id=`.
fn status(call: &Call, st: &mut State) -> Reply {
    let Some(id) = call
        .req
        .query_param("job_id")
        .filter(|s| !s.trim().is_empty())
    else {
        return call.error(validation(json!({"job_id": ["job_id is required"]})));
    };
    let account = call.account(st);
    let Some(job) = jobs(st, call.api)
        .get(id.trim())
        .filter(|j| j.account == account || call.has(Fault::IsolationLeak))
    else {
        return call.error(ApiError::new(404, "not_found", "Job not found"));
    };
    let drift = call.has(Fault::SchemaDrift);
    let (status, state, progress) = phase(job, call.cfg(), call.now);
    let done = status == "done";
    let (final_url, final_urls) = if job.delivery_mode == "final_url" {
        let main = job.variations.last().copied().unwrap_or("clipping");
        (
            Some(done.then(|| result_url(&id, main, job.output_format))),
            None,
        )
    } else {
        let urls = done.then(|| {
            job.variations
                .iter()
                .map(|v| {
                    (
                        (*v).to_string(),
                        Value::String(result_url(&id, v, job.output_format)),
                    )
                })
                .collect::<Map<String, Value>>()
        });
        (None, Some(urls))
    };
    let view = StatusView {
        job_id: (!drift).then_some(id.as_str()),
        status,
        state,
        mode: job.mode,
        progress: Progress::new(progress, drift),
        delivery_mode: job.delivery_mode,
        output_format: job.output_format,
        created_at: &job.created_at,
        final_url,
        final_urls,
        warnings: job.params.then_some(&job.warnings),
        ignored_variations: job.params.then_some(job.ignored.as_slice()),
        error: (status == "failed").then_some("processing_failed"),
    };
    Reply::json(200, &view)
}
