//! RemoveBGVideo's jobs: the model and its views, uploads, creation,
//! starts, and how a run ends (charged or refunded, webhooks queued).

use serde::Serialize;
use serde_json::{Value, json};

use super::super::FakeConfig;
use super::super::api::{Call, Due, Handled};
use super::super::core::FakeCore;
use super::super::credits::Credits;
use super::super::faults::Fault;
use super::super::http::{Reply, is_http_url, is_json_mime, mime, new_ulid, rfc3339, url_path};
use super::super::multipart;
use super::super::state::{Deadline, Fate, Progress, State, fate_of};
use super::{jobs, jobs_ref, video_error};

pub(super) const MODELS: &[(&str, i64)] =
    &[("original", 60), ("light", 45), ("pro", 180), ("human", 45)];
const FORMATS: &[&str] = &["webm", "mov", "mp4", "gif", "webp", "png_sequence"];
const BG_TYPES: &[&str] = &["transparent", "green", "white", "black", "blue", "custom"];
pub(super) const STATUSES: &[&str] = &["created", "pending", "processing", "completed", "failed"];
const VIDEO_MIMES: &[&str] = &[
    "video/mp4",
    "video/quicktime",
    "video/webm",
    "video/x-msvideo",
];

#[derive(Clone, Debug, Serialize)]
pub(crate) struct WebhookEvent {
    pub event: &'static str,
    pub delivery_id: String,
    pub at: String,
    pub status_code: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Created,
    Processing,
    Completed,
    Failed,
}

impl Status {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Processing => "processing",
            Status::Completed => "completed",
            Status::Failed => "failed",
        }
    }
}

/// A RemoveBGVideo job.
pub(crate) struct VideoJob {
    id: String,
    account: usize,
    video_url: String,
    model: &'static str,
    output_format: &'static str,
    bg_type: &'static str,
    metadata: Option<Value>,
    pub webhook_url: Option<String>,
    created_at: String,
    created_day: i64,
    duration_seconds: f64,
    fate: Fate,
    slow: bool,
    pub(super) status: Status,
    /// Start of the current run.
    started_ms: Option<u64>,
    run: u32,
    /// Credits currently taken.
    charged: Credits,
    billing: Option<&'static str>,
    output_url: Option<String>,
    error: Option<&'static str>,
    pub webhook_events: Vec<WebhookEvent>,
}

fn rate(model: &str) -> i64 {
    MODELS
        .iter()
        .find(|(m, _)| *m == model)
        .map(|(_, r)| *r)
        .unwrap_or(60)
}

/// `duration_minutes × rate`, exact (the contract's price, not rounded).
fn cost(job_model: &str, duration_seconds: f64) -> Credits {
    Credits::for_duration(duration_seconds, rate(job_model))
}

fn total_ms(job: &VideoJob, cfg: &FakeConfig) -> u64 {
    let factor = if job.slow {
        u64::from(cfg.slow_factor.max(1))
    } else {
        1
    };
    cfg.processing_ms.saturating_mul(factor).max(3)
}

fn progress(job: &VideoJob, cfg: &FakeConfig, now: u64) -> u8 {
    match job.status {
        Status::Created => 0,
        Status::Completed => 100,
        Status::Failed => 66,
        Status::Processing => {
            let total = total_ms(job, cfg);
            let elapsed = now.saturating_sub(job.started_ms.unwrap_or(now));
            let p = (1 + elapsed * 98 / total).clamp(1, 99) as u8;
            if job.fate == Fate::Stuck {
                p.min(50)
            } else {
                p
            }
        }
    }
}

#[derive(Serialize)]
pub(crate) struct JobView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    status: &'static str,
    progress: Progress,
    output_url: Option<&'a str>,
    error: Option<&'static str>,
    created_at: &'a str,
    duration_seconds: f64,
    billing_status: Option<&'static str>,
    model: &'static str,
    output_format: &'static str,
    webhook_url: Option<&'a str>,
    webhook_events: &'a [WebhookEvent],
    video_url: &'a str,
    bg_type: &'static str,
    credits: Credits,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a Value>,
}

pub(super) fn job_view<'a>(
    job: &'a VideoJob,
    cfg: &FakeConfig,
    now: u64,
    drift: bool,
) -> JobView<'a> {
    JobView {
        id: (!drift).then_some(job.id.as_str()),
        status: job.status.as_str(),
        progress: Progress::new(progress(job, cfg, now), drift),
        output_url: job.output_url.as_deref(),
        error: job.error,
        created_at: &job.created_at,
        duration_seconds: job.duration_seconds,
        billing_status: job.billing,
        model: job.model,
        output_format: job.output_format,
        webhook_url: job.webhook_url.as_deref(),
        webhook_events: &job.webhook_events,
        video_url: &job.video_url,
        bg_type: job.bg_type,
        credits: cost(job.model, job.duration_seconds),
        metadata: job.metadata.as_ref(),
    }
}

fn guess_video_mime(filename: &str) -> Option<&'static str> {
    let ext = filename.rsplit('.').next()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "mp4" | "m4v" => "video/mp4",
        "mov" | "qt" => "video/quicktime",
        "webm" => "video/webm",
        "avi" => "video/x-msvideo",
        _ => return None,
    })
}

fn sanitize_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base
        .chars()
        .take(120)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        "upload.mp4".to_string()
    } else {
        clean
    }
}

/// `POST /v1/uploads` (multipart `file`).
pub(super) fn upload(call: &Call, _st: &mut State) -> Reply {
    let bad = |msg: &str| video_error(call, 400, "invalid_request", msg);
    let parts = call
        .req
        .header("content-type")
        .and_then(multipart::boundary)
        .ok_or_else(|| "Content-Type must be multipart/form-data with a boundary".to_string())
        .and_then(|b| multipart::parse(&call.req.body, &b).map_err(|e| e.to_string()));
    let parts = match parts {
        Ok(p) => p,
        Err(e) => return bad(&format!("Invalid multipart body: {e}")),
    };
    let Some(file) = parts.into_iter().find(|p| p.name == "file") else {
        return bad("Missing file");
    };
    let filename = sanitize_filename(file.filename.as_deref().unwrap_or(""));
    let ct = match file.content_type.as_deref() {
        Some(ct) if ct != "application/octet-stream" => ct.to_string(),
        _ => guess_video_mime(&filename).unwrap_or("").to_string(),
    };
    if !VIDEO_MIMES.contains(&ct.as_str()) {
        return bad("Invalid file type");
    }
    if file.data.len() as u64 > call.cfg().max_upload_bytes {
        return bad("File too large");
    }
    if file.data.is_empty() {
        return bad("Empty file");
    }
    let video_id = format!("vid_{}", new_ulid());
    Reply::json(
        200,
        &json!({
            "success": true,
            "video_id": video_id,
            "video_url": format!("https://uploads.removebgvideo.test/{video_id}/{filename}"),
            "filename": filename,
            "size": file.data.len(),
        }),
    )
}

struct NewJob {
    video_url: String,
    model: &'static str,
    output_format: &'static str,
    bg_type: &'static str,
    webhook_url: Option<String>,
    auto_start: bool,
    metadata: Option<Value>,
}

fn parse_new_job(call: &Call) -> Result<NewJob, String> {
    let m = mime(call.req);
    if !is_json_mime(&m) {
        return Err("Content-Type must be application/json".into());
    }
    if call.req.body.len() as u64 > call.cfg().max_json_bytes {
        return Err("Request body too large".into());
    }
    let body: Value =
        serde_json::from_slice(&call.req.body).map_err(|e| format!("Malformed JSON body: {e}"))?;
    let Value::Object(obj) = body else {
        return Err("Request body must be a JSON object".into());
    };
    let enum_of = |name: &str,
                   allowed: &[&'static str],
                   default: &'static str|
     -> Result<&'static str, String> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::String(s)) => allowed
                .iter()
                .copied()
                .find(|a| a == s)
                .ok_or_else(|| format!("{name} must be one of: {}", allowed.join(", "))),
            Some(_) => Err(format!("{name} must be one of: {}", allowed.join(", "))),
        }
    };
    let video_url = match obj.get("video_url") {
        None | Some(Value::Null) => return Err("video_url is required".into()),
        Some(Value::String(s)) if is_http_url(s) => s.clone(),
        Some(_) => return Err("video_url must be an http or https URL".into()),
    };
    let models: Vec<&'static str> = MODELS.iter().map(|(m, _)| *m).collect();
    let model = enum_of("model", &models, "original")?;
    let output_format = enum_of("output_format", FORMATS, "webm")?;
    let bg_type = enum_of("bg_type", BG_TYPES, "transparent")?;
    match obj.get("bg_color") {
        None | Some(Value::Null) => {
            if bg_type == "custom" {
                return Err("bg_color is required when bg_type is custom".into());
            }
        }
        Some(Value::Array(c))
            if c.len() == 3
                && c.iter()
                    .all(|x| x.as_f64().is_some_and(|f| (0.0..=1.0).contains(&f))) => {}
        Some(_) => return Err("bg_color must be [r, g, b] with values in 0..1".into()),
    }
    match obj.get("text_prompt") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(_) => return Err("text_prompt must be a string".into()),
    }
    let webhook_url = match obj.get("webhook_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if is_http_url(s) => Some(s.clone()),
        Some(_) => return Err("webhook_url must be an http or https URL".into()),
    };
    let auto_start = match obj.get("auto_start") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("auto_start must be a boolean".into()),
    };
    let metadata = match obj.get("metadata") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => return Err("metadata must be an object".into()),
    };
    Ok(NewJob {
        video_url,
        model,
        output_format,
        bg_type,
        webhook_url,
        auto_start,
        metadata,
    })
}

fn duration_of(url: &str, default: f64) -> f64 {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "duration")
                .and_then(|(_, v)| v.parse::<f64>().ok())
        })
        .filter(|d| d.is_finite() && *d >= 0.0 && *d <= 86_400.0)
        .unwrap_or(default)
}

fn insufficient(call: &Call, needed: Credits, balance: Credits) -> Reply {
    video_error(
        call,
        402,
        "insufficient_credits",
        &format!("Insufficient credits: this job needs {needed}, the balance is {balance}"),
    )
}

/// Takes the credits and starts a run.
fn start_run(call: &Call, st: &mut State, id: &str) {
    let Some(job) = jobs(st, call.api).jobs.get_mut(id) else {
        return;
    };
    let c = if call.has(Fault::WrongPrice) {
        cost("pro", job.duration_seconds)
    } else {
        cost(job.model, job.duration_seconds)
    };
    let was_failed = job.status == Status::Failed;
    job.status = Status::Processing;
    job.started_ms = Some(call.now);
    job.run += 1;
    job.charged = c;
    job.billing = Some("pending");
    job.error = None;
    job.output_url = None;
    let run = job.run;
    let end = call.now + total_ms(job, call.cfg());
    let fail = job.fate == Fate::Fail;
    let stuck = job.fate == Fate::Stuck;
    let day = job.created_day;
    let account = job.account;
    let hook = job.webhook_url.is_some();
    let ledger = st.ledger(account, call.api);
    ledger.debit(c, day);
    if was_failed {
        let daily = ledger.daily.entry(day).or_default();
        daily.failed = daily.failed.saturating_sub(1);
    }
    if !stuck {
        let at = if fail {
            call.now + (end - call.now) * 2 / 3
        } else {
            end
        };
        let deadline = Deadline {
            api: call.api,
            job: id.to_string(),
            run,
        };
        st.push_deadline(at, deadline);
    }
    if hook {
        st.webhooks
            .push_back((call.api, id.to_string(), "job.started"));
    }
}

/// A run ends: completion (charged) or failure (refunded).
pub(super) fn settle_end(core: &FakeCore, st: &mut State, due: Due<'_>) {
    let Due {
        api,
        job: id,
        run,
        at,
    } = due;
    let Some(job) = jobs(st, api).jobs.get_mut(id) else {
        return;
    };
    if job.run != run || job.status != Status::Processing {
        return;
    }
    let account = job.account;
    let day = job.created_day;
    let event;
    let mut refund = Credits::ZERO;
    let failed = job.fate == Fate::Fail;
    if failed {
        job.status = Status::Failed;
        job.error = Some("processing_failed: the input video could not be processed");
        if core.faults.has(Fault::NoRefund) {
            job.billing = Some("charged");
        } else {
            job.billing = Some("refunded");
            refund = job.charged;
            job.charged = Credits::ZERO;
        }
        event = "job.failed";
    } else {
        job.status = Status::Completed;
        job.billing = Some("charged");
        let expires = at / 1000 + 24 * 3600;
        job.output_url = Some(format!(
            "https://results.removebgvideo.test/{id}/output.{}?expires={expires}",
            job.output_format
        ));
        event = "job.completed";
    }
    let hook = job.webhook_url.is_some();
    let ledger = st.ledger(account, api);
    ledger.balance += refund;
    let daily = ledger.daily.entry(day).or_default();
    daily.credits_used -= refund;
    if failed {
        daily.failed += 1;
    } else {
        daily.completed += 1;
    }
    if hook {
        st.webhooks.push_back((api, id.to_string(), event));
    }
}

/// `POST /v1/jobs`.
pub(super) fn create_job(call: &Call, st: &mut State) -> Handled {
    let new = match parse_new_job(call) {
        Ok(n) => n,
        Err(msg) => return video_error(call, 400, "invalid_request", &msg).into(),
    };
    let account = call.account(st);
    let duration = duration_of(&new.video_url, call.cfg().default_duration_seconds);
    let c = cost(new.model, duration);
    if new.auto_start {
        let balance = call.ledger(st).balance;
        if balance < c && !call.has(Fault::No402) {
            return insufficient(call, c, balance).into();
        }
    }
    let (fate, slow) = fate_of(&url_path(&new.video_url), call.has(Fault::StuckJobs));
    let id = format!("job_{}", new_ulid());
    let day = call.day();
    let store = jobs(st, call.api);
    store
        .by_account
        .entry(account)
        .or_default()
        .push(id.clone());
    store.jobs.insert(
        id.clone(),
        VideoJob {
            id: id.clone(),
            account,
            video_url: new.video_url,
            model: new.model,
            output_format: new.output_format,
            bg_type: new.bg_type,
            metadata: new.metadata,
            webhook_url: new.webhook_url,
            created_at: rfc3339(call.now),
            created_day: day,
            duration_seconds: duration,
            fate,
            slow,
            status: Status::Created,
            started_ms: None,
            run: 0,
            charged: Credits::ZERO,
            billing: None,
            output_url: None,
            error: None,
            webhook_events: Vec::new(),
        },
    );
    call.ledger(st).daily.entry(day).or_default().jobs += 1;
    let (status, message, charge) = if new.auto_start {
        start_run(call, st, &id);
        (
            "processing",
            "Job created and processing started",
            Some(call.charge(account, c, day)),
        )
    } else {
        (
            "created",
            "Job created; start it with POST /v1/jobs/{id}/start",
            None,
        )
    };
    Handled {
        reply: Reply::json(
            200,
            &json!({"success": true, "id": id, "status": status, "message": message}),
        ),
        charge,
    }
}

fn not_found(call: &Call) -> Reply {
    video_error(call, 404, "not_found", "Job not found")
}

/// The caller's job `id` (any account's under `isolation-leak`).
fn visible_job<'a>(call: &Call, st: &'a State, id: &str) -> Option<&'a VideoJob> {
    let account = call.account(st);
    jobs_ref(st, call.api)
        .jobs
        .get(id)
        .filter(|j| j.account == account || call.has(Fault::IsolationLeak))
}

/// `POST /v1/jobs/{id}/start`.
pub(super) fn start_job(call: &Call, st: &mut State, id: &str) -> Handled {
    let account = call.account(st);
    let Some(job) = visible_job(call, st, id) else {
        return not_found(call).into();
    };
    match job.status {
        Status::Processing | Status::Completed if !call.has(Fault::RestartAllowed) => {
            let message = format!(
                "Job is {}; only created or failed jobs can be started",
                job.status.as_str()
            );
            return video_error(call, 409, "invalid_state", &message).into();
        }
        _ => {}
    }
    let c = cost(job.model, job.duration_seconds);
    let balance = st.accounts[account].ledgers[call.api].balance;
    if balance < c && !call.has(Fault::No402) {
        return insufficient(call, c, balance).into();
    }
    let day = job.created_day;
    start_run(call, st, id);
    Handled {
        reply: Reply::json(
            200,
            &json!({"success": true, "id": id, "status": "processing", "message": "Job started"}),
        ),
        charge: Some(call.charge(account, c, day)),
    }
}

/// `GET /v1/jobs/{id}`.
pub(super) fn get_job(call: &Call, st: &mut State, id: &str) -> Reply {
    let Some(job) = visible_job(call, st, id) else {
        return not_found(call);
    };
    Reply::json(
        200,
        &job_view(job, call.cfg(), call.now, call.has(Fault::SchemaDrift)),
    )
}
