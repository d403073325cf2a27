//! The built-in fake of both APIs (issue 2).
//!
//! [`FakeCore`] holds the API logic (routing, state, faults) and is
//! transport-independent. [`FakeApi`] serves it with wiremock on a free
//! loopback port (tests, `golive check`); [`server::serve`] serves it with
//! hyper on a multi-thread runtime (the long-running `golive fake`).

mod api;
pub mod core;
pub mod credits;
mod errors;
pub mod faults;
mod http;
mod idempotency;
mod multipart;
pub mod ratelimit;
mod removit;
pub mod server;
mod state;
mod video;
pub mod webhook;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use self::core::{Clock, FakeCore, FakeRequest, FakeResponse, SystemClock};
pub use credits::Credits;
pub use faults::Fault;

/// Errors of the fake's setup and transports (never of a request: bad
/// requests get the API's own error envelope).
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    #[error("cannot bind the fake to {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read the fake's config {path}: {source}")]
    ConfigRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid fake config {path}: {source}")]
    ConfigParse {
        path: PathBuf,
        source: serde_yaml_ng::Error,
    },
    #[error("invalid fake config: {0}")]
    ConfigInvalid(String),
    #[error("fake server I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// One API key the fake accepts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    pub key: String,
    /// The account owning the key; jobs and credits belong to the account.
    pub account: String,
    /// Starting credits of the account (in each API); fractions allowed.
    #[serde(default)]
    pub credits: Credits,
    #[serde(default)]
    pub disabled: bool,
    /// `valid`, `other`, `empty`, `disabled` (what golive's checks look up).
    #[serde(default)]
    pub role: Option<String>,
}

/// The per-key token bucket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Refill rate, tokens per second.
    pub per_second: f64,
    /// Bucket size (also `X-RateLimit-Limit`).
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_second: 10.0,
            burst: 20,
        }
    }
}

/// The fake's configuration; `Default` is the contract's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FakeConfig {
    pub keys: Vec<KeyConfig>,
    pub rate_limit: RateLimitConfig,
    /// Total processing time of a job (three equal steps), in ms.
    pub processing_ms: u64,
    /// How many times longer a job whose input contains `slow` takes.
    pub slow_factor: u32,
    /// Response delay under the `slow` fault.
    pub slow_response_ms: u64,
    /// Under the `flaky` fault, every Nth request gets a bare 503.
    pub flaky_every: u32,
    /// Idempotency in-flight window: a job-creating POST with an
    /// Idempotency-Key is answered after this delay, and a concurrent
    /// same-key request meanwhile gets 409.
    pub create_latency_ms: u64,
    /// HMAC-SHA256 secret of webhook signatures.
    pub webhook_secret: String,
    /// Largest accepted upload.
    pub max_upload_bytes: u64,
    /// Largest accepted JSON body.
    pub max_json_bytes: u64,
    /// Video duration when the URL has no `?duration=`.
    pub default_duration_seconds: f64,
    /// How long idempotency keys are kept.
    pub idempotency_ttl_secs: u64,
    /// Usage events kept per account (a ring).
    pub max_usage_events: usize,
    /// Idempotency keys kept per API key (oldest evicted first).
    pub max_idempotency_keys: usize,
    /// A fixed delay added to every response (a known latency for load tests).
    pub response_delay_ms: u64,
    /// A window in which the server stalls: every answer due in it is held
    /// until it ends (what a GC pause or a failover looks like to clients).
    pub stall: Option<StallConfig>,
    /// Over hyper (`golive fake`, `golive load`): at most this many requests
    /// are served at once, each holding its slot through its delay; the
    /// rest queue. With `response_delay_ms` this is a known capacity:
    /// `concurrency_limit × 1000 / response_delay_ms` requests a second.
    pub concurrency_limit: Option<usize>,
}

/// `stall: { after_ms, for_ms }`, counted from the fake's start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StallConfig {
    pub after_ms: u64,
    pub for_ms: u64,
}

impl Default for FakeConfig {
    fn default() -> Self {
        let key = |key: &str, account: &str, credits: i64, disabled: bool, role: &str| KeyConfig {
            key: key.to_string(),
            account: account.to_string(),
            credits: Credits::whole(credits),
            disabled,
            role: Some(role.to_string()),
        };
        FakeConfig {
            keys: vec![
                key("sk_test_valid", "acct_valid", 1000, false, "valid"),
                key("sk_test_other", "acct_other", 1000, false, "other"),
                key("sk_test_empty", "acct_empty", 0, false, "empty"),
                key("sk_test_disabled", "acct_disabled", 1000, true, "disabled"),
            ],
            rate_limit: RateLimitConfig::default(),
            processing_ms: 1000,
            slow_factor: 10,
            slow_response_ms: 2500,
            flaky_every: 7,
            create_latency_ms: 50,
            webhook_secret: "whsec_golive_fake".to_string(),
            max_upload_bytes: 500 * 1024 * 1024,
            max_json_bytes: 1024 * 1024,
            default_duration_seconds: 30.0,
            idempotency_ttl_secs: 24 * 3600,
            max_usage_events: 10_000,
            max_idempotency_keys: 10_000,
            response_delay_ms: 0,
            stall: None,
            concurrency_limit: None,
        }
    }
}

impl FakeConfig {
    /// The fake `golive check` starts: the contract's defaults, with the
    /// timings a readiness run waits on made short. Jobs take 250 ms instead
    /// of a second, and a key's bucket (same burst of 20) refills at 20/s:
    /// empty to full in the 1 s a 429's `Retry-After` asks for at least, so
    /// the checks after a burst are not limited again. No faster: a burst of
    /// 50 must still meet a 429 when it takes up to 1.5 s to send (a loaded
    /// machine). What the checks judge is unchanged: bursts are limited,
    /// `Retry-After` is whole seconds ≥ 1. `golive fake` keeps
    /// [`FakeConfig::default`].
    pub fn check_profile() -> FakeConfig {
        FakeConfig {
            processing_ms: 250,
            rate_limit: RateLimitConfig {
                per_second: 20.0,
                burst: 20,
            },
            ..FakeConfig::default()
        }
    }

    /// The key with this role (`valid`, `other`, `empty`, `disabled`).
    pub fn key(&self, role: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|k| k.role.as_deref() == Some(role))
            .map(|k| k.key.as_str())
    }

    /// Parses a YAML (or JSON) config; missing fields take the defaults.
    pub fn from_yaml_str(text: &str) -> Result<FakeConfig, serde_yaml_ng::Error> {
        serde_yaml_ng::from_str(text)
    }

    /// Parses a YAML (or JSON) config; missing fields (at any depth, e.g.
    /// `rate_limit.burst`) take their values from `base`.
    pub fn from_yaml_str_over(
        text: &str,
        base: &FakeConfig,
    ) -> Result<FakeConfig, serde_yaml_ng::Error> {
        // Parsed on its own first, so that errors point into the text.
        Self::from_yaml_str(text)?;
        let mut merged = serde_yaml_ng::to_value(base)?;
        let given: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)?;
        if !given.is_null() {
            // An empty file changes nothing.
            overlay(&mut merged, given);
        }
        serde_yaml_ng::from_value(merged)
    }

    /// Reads a YAML or JSON config file; missing fields take the defaults.
    pub fn from_file(path: &Path) -> Result<FakeConfig, FakeError> {
        Self::from_file_over(path, &FakeConfig::default())
    }

    /// Reads a YAML or JSON config file; missing fields take `base`'s values.
    pub fn from_file_over(path: &Path, base: &FakeConfig) -> Result<FakeConfig, FakeError> {
        let text = std::fs::read_to_string(path).map_err(|source| FakeError::ConfigRead {
            path: path.to_path_buf(),
            source,
        })?;
        let config =
            Self::from_yaml_str_over(&text, base).map_err(|source| FakeError::ConfigParse {
                path: path.to_path_buf(),
                source,
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Rejects configs the fake cannot run with.
    pub fn validate(&self) -> Result<(), FakeError> {
        if !(self.rate_limit.per_second.is_finite() && self.rate_limit.per_second > 0.0) {
            return Err(FakeError::ConfigInvalid(
                "rate_limit.per_second must be > 0".into(),
            ));
        }
        if self.rate_limit.burst == 0 {
            return Err(FakeError::ConfigInvalid(
                "rate_limit.burst must be ≥ 1".into(),
            ));
        }
        if self.concurrency_limit == Some(0) {
            return Err(FakeError::ConfigInvalid(
                "concurrency_limit must be ≥ 1".into(),
            ));
        }
        if self.flaky_every == 0 {
            return Err(FakeError::ConfigInvalid("flaky_every must be ≥ 1".into()));
        }
        if !(self.default_duration_seconds.is_finite() && self.default_duration_seconds >= 0.0) {
            return Err(FakeError::ConfigInvalid(
                "default_duration_seconds must be ≥ 0".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for k in &self.keys {
            if k.key.is_empty() || !seen.insert(k.key.as_str()) {
                return Err(FakeError::ConfigInvalid(format!(
                    "keys must be non-empty and unique (`{}`)",
                    k.key
                )));
            }
        }
        Ok(())
    }
}

/// Lays the mappings of `given` over `base`, key by key (other values, lists
/// included, replace).
fn overlay(base: &mut serde_yaml_ng::Value, given: serde_yaml_ng::Value) {
    match (base, given) {
        (serde_yaml_ng::Value::Mapping(b), serde_yaml_ng::Value::Mapping(g)) => {
            for (k, v) in g {
                match b.get_mut(&k) {
                    Some(slot) => overlay(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, given) => *slot = given,
    }
}

/// What to start the fake with.
#[derive(Clone, Debug, Default)]
pub struct FakeOptions {
    pub config: FakeConfig,
    pub faults: Vec<Fault>,
}

/// The fake served by wiremock on `127.0.0.1:<free port>`; dropping it
/// stops the server and its webhook deliveries.
pub struct FakeApi {
    server: wiremock::MockServer,
    core: Arc<FakeCore>,
    _webhooks: webhook::DeliveryTask,
}

impl std::fmt::Debug for FakeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeApi").field("url", &self.url()).finish()
    }
}

/// Matches every request: the core does the routing.
struct AnyRequest;

impl wiremock::Match for AnyRequest {
    fn matches(&self, _request: &wiremock::Request) -> bool {
        true
    }
}

/// The wiremock `Respond` implementation: converts to/from the core's types.
struct CoreResponder(Arc<FakeCore>);

impl wiremock::Respond for CoreResponder {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        let headers = request
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let req = FakeRequest {
            method: request.method.as_str().to_string(),
            path: request.url.path().to_string(),
            query: request.url.query().map(str::to_string),
            headers,
            body: bytes::Bytes::from(request.body.clone()),
        };
        let resp = self.0.handle_guarded(req);
        let mut template = wiremock::ResponseTemplate::new(resp.status);
        let mut content_type = None;
        for (name, value) in &resp.headers {
            if name == "content-type" {
                content_type = Some(value.clone());
            } else {
                template = template.append_header(name.as_str(), value.as_str());
            }
        }
        if let Some(ct) = content_type {
            template = template.set_body_raw(resp.body.to_vec(), &ct);
        } else if !resp.body.is_empty() {
            template = template.set_body_bytes(resp.body.to_vec());
        }
        if let Some(delay) = resp.delay {
            template = template.set_delay(delay);
        }
        template
    }
}

impl FakeApi {
    /// Starts the fake on a free loopback port.
    pub async fn start(options: FakeOptions) -> Result<FakeApi, FakeError> {
        options.config.validate()?;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let listener =
            std::net::TcpListener::bind(addr).map_err(|source| FakeError::Bind { addr, source })?;
        let core = Arc::new(FakeCore::new(options));
        let server = wiremock::MockServer::builder()
            .listener(listener)
            .disable_request_recording()
            .start()
            .await;
        wiremock::Mock::given(AnyRequest)
            .respond_with(CoreResponder(core.clone()))
            .mount(&server)
            .await;
        let webhooks = webhook::DeliveryTask::spawn(core.clone());
        Ok(FakeApi {
            server,
            core,
            _webhooks: webhooks,
        })
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        self.server.uri().trim_end_matches('/').to_string()
    }

    /// The core, e.g. to read its config or inspect balances.
    pub fn core(&self) -> &FakeCore {
        &self.core
    }
}
