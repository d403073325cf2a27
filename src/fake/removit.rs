//! Removit (`/api/v1`): upload and status.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::FakeConfig;
use super::core::{
    Api, Call, Charge, Deadline, FakeCore, Fate, Handled, Reply, State, fate_of, is_http_url,
    is_json_mime, mime, rfc3339, url_path,
};
use super::credits::Credits;
use super::faults::Fault;
use super::multipart;

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

/// `POST /api/v1/upload` (JSON or multipart).
pub(crate) fn upload(call: &Call, st: &mut State) -> Handled {
    let cfg = call.cfg();
    let m = mime(call.req);
    let mut fields: Map<String, Value> = Map::new();
    let mut file: Option<File> = None;
    let mut details: Map<String, Value> = Map::new();
    let add = |details: &mut Map<String, Value>, field: &str, msg: String| {
        if let Value::Array(list) = details
            .entry(field.to_string())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            list.push(Value::String(msg));
        }
    };
    if is_json_mime(&m) {
        if call.req.body.len() as u64 > cfg.max_json_bytes {
            return call
                .validation(json!({"body": ["Request body too large"]}))
                .into();
        }
        match serde_json::from_slice::<Value>(&call.req.body) {
            Ok(Value::Object(obj)) => fields = obj,
            Ok(_) => {
                return call
                    .validation(json!({"body": ["Request body must be a JSON object"]}))
                    .into();
            }
            Err(e) => {
                return call
                    .validation(json!({"body": [format!("Malformed JSON: {e}")]}))
                    .into();
            }
        }
        if fields.get("file").is_some_and(|v| !v.is_null()) {
            add(
                &mut details,
                "file",
                "file must be sent as a multipart/form-data file part".into(),
            );
        }
    } else if m == "multipart/form-data" {
        let parts = call
            .req
            .header("content-type")
            .and_then(multipart::boundary)
            .ok_or_else(|| "multipart/form-data needs a boundary".to_string())
            .and_then(|b| multipart::parse(&call.req.body, &b));
        let parts = match parts {
            Ok(p) => p,
            Err(e) => {
                return call
                    .validation(json!({"body": [format!("Malformed multipart body: {e}")]}))
                    .into();
            }
        };
        for p in parts {
            if p.name == "file" {
                if p.data.len() as u64 > cfg.max_upload_bytes {
                    return call.validation(json!({"file": ["File too large"]})).into();
                }
                let filename = p.filename.clone().unwrap_or_default();
                let ct = match p.content_type.as_deref() {
                    Some(ct) if ct != "application/octet-stream" => ct.to_string(),
                    _ => guess_image_mime(&filename).unwrap_or("").to_string(),
                };
                file = Some(File {
                    filename,
                    content_type: ct,
                    size: p.data.len(),
                });
            } else if !fields.contains_key(&p.name) {
                fields.insert(
                    p.name.clone(),
                    Value::String(String::from_utf8_lossy(&p.data).into_owned()),
                );
            }
        }
    } else {
        return call
            .validation(json!({"body": [
                "Content-Type must be application/json or multipart/form-data"
            ]}))
            .into();
    }

    // file_url / file
    let file_url = match fields.get("file_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if is_http_url(s) => Some(s.clone()),
        Some(_) => {
            add(
                &mut details,
                "file_url",
                "must be an http or https URL".into(),
            );
            None
        }
    };
    let has_url_field = fields.get("file_url").is_some_and(|v| !v.is_null());
    match (&file, has_url_field) {
        (None, false) if !details.contains_key("file") => {
            add(
                &mut details,
                "file_url",
                "file_url or file is required".into(),
            );
        }
        (Some(_), true) => add(
            &mut details,
            "file_url",
            "send exactly one of file_url or file".into(),
        ),
        _ => {}
    }
    if let Some(f) = &file {
        if f.size == 0 {
            add(&mut details, "file", "file is empty".into());
        } else if !IMAGE_MIMES.contains(&f.content_type.as_str()) {
            add(
                &mut details,
                "file",
                "unsupported image type; expected png, jpeg, webp, gif, avif, tiff, psd or svg+xml"
                    .into(),
            );
        }
    }
    let enum_field = |details: &mut Map<String, Value>,
                      name: &str,
                      allowed: &[&'static str],
                      default: &'static str| {
        match fields.get(name) {
            None | Some(Value::Null) => Some(default),
            Some(Value::String(s)) => match one_of(s, allowed) {
                Some(v) => Some(v),
                None => {
                    if let Value::Array(list) = details
                        .entry(name.to_string())
                        .or_insert_with(|| Value::Array(Vec::new()))
                    {
                        list.push(Value::String(format!(
                            "must be one of: {}",
                            allowed.join(", ")
                        )));
                    }
                    None
                }
            },
            Some(_) => {
                if let Value::Array(list) = details
                    .entry(name.to_string())
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    list.push(Value::String(format!(
                        "must be a string, one of: {}",
                        allowed.join(", ")
                    )));
                }
                None
            }
        }
    };
    let mode = enum_field(&mut details, "mode", MODES, "clipping");
    let delivery_mode = enum_field(&mut details, "delivery_mode", DELIVERY, "url");
    let output_format = enum_field(&mut details, "output_format", FORMATS, "png");
    let mut params = None;
    if mode == Some("params") {
        match fields.get("params") {
            None | Some(Value::Null) => {
                add(
                    &mut details,
                    "params",
                    "params is required when mode=params".into(),
                );
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                add(
                    &mut details,
                    "params",
                    "params is required when mode=params".into(),
                );
            }
            Some(v @ (Value::String(_) | Value::Object(_))) => params = Some(v.clone()),
            Some(_) => add(
                &mut details,
                "params",
                "must be a string or an object".into(),
            ),
        }
    }
    let (Some(mode), Some(delivery_mode), Some(output_format), true) =
        (mode, delivery_mode, output_format, details.is_empty())
    else {
        return call.validation(Value::Object(details)).into();
    };

    // credits
    let account = st.keys[call.key].account;
    if st.accounts[account].removit_balance < UPLOAD_COST && !call.has(Fault::No402) {
        return call
            .removit_error(
                402,
                json!({"error": "insufficient_credits", "message": "Not enough credits"}),
            )
            .into();
    }

    // create
    let marker = match (&file_url, &file) {
        (Some(u), _) => url_path(u),
        (None, Some(f)) => f.filename.clone(),
        (None, None) => String::new(),
    };
    let (fate, slow) = fate_of(&marker, call.has(Fault::StuckJobs));
    let (variations, warnings, ignored) = match (mode, &params) {
        ("params", Some(p)) => parse_params(p),
        ("background", _) => (vec!["background", "compose"], Map::new(), Vec::new()),
        _ => (vec!["clipping"], Map::new(), Vec::new()),
    };
    let id = uuid::Uuid::now_v7().to_string();
    st.accounts[account].removit_balance -= UPLOAD_COST;
    let job = RemovitJob {
        account,
        mode,
        delivery_mode,
        output_format,
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
        st.push_deadline(call.now + 2 * step, Deadline::RemovitFail(id.clone()));
    }
    st.removit_jobs.insert(id.clone(), job);
    Handled {
        reply: Reply::json(
            200,
            &json!({"job_id": id, "status": "queued", "mode": mode}),
        ),
        charge: Some(Charge {
            api: Api::Removit,
            account,
            credits: UPLOAD_COST,
            day: call.day(),
        }),
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

/// A failing job fails: refund (unless `no-refund`).
pub(crate) fn settle_fail(core: &FakeCore, st: &mut State, id: &str) {
    let Some(job) = st.removit_jobs.get(id) else {
        return;
    };
    if !core.faults.has(Fault::NoRefund) {
        let account = job.account;
        st.accounts[account].removit_balance += UPLOAD_COST;
    }
}

#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum Progress {
    Int(u8),
    Text(String),
}

impl Progress {
    pub(crate) fn new(p: u8, drift: bool) -> Progress {
        if drift {
            Progress::Text(format!("{p}%"))
        } else {
            Progress::Int(p)
        }
    }
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
pub(crate) fn status(call: &Call, st: &mut State) -> Reply {
    let Some(id) = call
        .req
        .query_param("job_id")
        .filter(|s| !s.trim().is_empty())
    else {
        return call.validation(json!({"job_id": ["job_id is required"]}));
    };
    let account = st.keys[call.key].account;
    let Some(job) = st
        .removit_jobs
        .get(id.trim())
        .filter(|j| j.account == account || call.has(Fault::IsolationLeak))
    else {
        return call.removit_error(
            404,
            json!({"error": "not_found", "message": "Job not found"}),
        );
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
