//! The pack and scenario format, as serde types. `schemas/scenario.schema.json`
//! describes the same format for editors; a test keeps the two in step.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::template::{JsonTemplate, Template};
use crate::vocab::{Basis, Family, Severity};

/// `pack.yaml`: everything golive knows about one API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackFile {
    pub name: String,
    pub version: String,
    pub title: String,
    /// The API's production origin (documentation; `--target` overrides).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Which API of the built-in fake serves this pack; absent: none does,
    /// and the pack needs `--target URL`.
    #[serde(default)]
    pub fake: Option<BuiltinFake>,
    pub auth: AuthConfig,
    /// Key role → environment variable holding that key on a live target.
    pub keys: BTreeMap<String, String>,
    #[serde(default)]
    pub request_id: RequestIdConfig,
    /// Error envelope: which content type every non-2xx must carry, and the
    /// schema used for error statuses an endpoint does not map itself.
    pub errors: ErrorConfig,
    pub endpoints: BTreeMap<String, Endpoint>,
    #[serde(default)]
    pub jobs: Option<JobsConfig>,
    /// Inputs scenarios read as `{{name}}`; `--var name=value` overrides.
    #[serde(default)]
    pub inputs: BTreeMap<String, Value>,
    /// What the vendor documents (or the contract assumes) as data: rates,
    /// costs, codes. Scenarios read them as `{{name}}`, like inputs, and
    /// compute from them; each says where in the contract it comes from.
    #[serde(default)]
    pub facts: BTreeMap<String, Fact>,
    /// Input values used instead when the target is the built-in fake (its
    /// jobs take about a second, so deadlines can be short); `--var` still wins.
    #[serde(default)]
    pub fake_inputs: BTreeMap<String, Value>,
    /// Check id → severity, overriding the scenario's default.
    #[serde(default)]
    pub severities: BTreeMap<String, Severity>,
    /// Where this pack's schemas live, relative to the pack directory; by
    /// default the embedded `schemas/` tree.
    #[serde(default)]
    pub schema_dir: Option<String>,
    /// A request that proves the target is reachable before checks start.
    #[serde(default)]
    pub preflight: Option<RequestSpec>,
    /// When the target is too slow to check in bounded time (see `SlowTarget`).
    #[serde(default)]
    pub slow_target: Option<SlowTarget>,
    /// What `golive load` and `golive capacity` send: a weighted mix of the
    /// pack's calls, and the SLOs that gate the run.
    #[serde(default)]
    pub load: Option<LoadSpec>,
}

/// `slow_target:` in `pack.yaml`: after `answers` responses in a row each
/// slower than `slower_than`, only the pack's `timeouts` checks still run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowTarget {
    /// A duration or a template of one (usually `{{sla}}`).
    pub slower_than: Template,
    #[serde(default = "three")]
    pub answers: usize,
}

fn three() -> usize {
    3
}

/// `load:` in `pack.yaml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    /// The calls of the mix; each arrival sends one, in proportion to its weight.
    pub mix: Vec<LoadCall>,
    /// SLO gates (`p95<800ms`, `errors<1%`, `429<5%`, `jobs.get:p99<1s`);
    /// `--slo` adds to them.
    #[serde(default)]
    pub slo: Vec<String>,
    /// Where the API reports credits used, read before and after a run to
    /// check the estimate from the calls' `cost`.
    #[serde(default)]
    pub usage: Option<UsageProbe>,
}

/// `load.usage`: a request and the JSON pointer of the credits used so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageProbe {
    pub request: RequestSpec,
    /// JSON pointer of the account's credits used (a number that grows).
    pub credits_used: String,
}

/// One call of a load mix.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadCall {
    /// The call's name in the results (e.g. `create`, `poll`).
    pub name: String,
    /// Relative share of arrivals (default 1).
    #[serde(default = "one")]
    pub weight: u32,
    pub request: RequestSpec,
    /// Name → source (`body:/ptr` or `header:Name`): values that later calls
    /// of the same run use as `{{name}}` (e.g. a created job's id).
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// Credits one call is documented to cost (for `--max-credits`).
    #[serde(default)]
    pub cost: f64,
}

fn one() -> u32 {
    1
}

/// One documented fact: its value, what it rests on, and the contract line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fact {
    pub value: Value,
    pub basis: Basis,
    /// Where it is written, e.g. `api-contract.md › RemoveBGVideo › Credits [doc rates]`.
    pub source: String,
}

/// The APIs the built-in fake implements (`fake:` in `pack.yaml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuiltinFake {
    /// Removit, paths under `/api/v1`.
    Removit,
    /// RemoveBGVideo, paths under `/v1`.
    Removebgvideo,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Scheme name → how a key is sent.
    pub schemes: BTreeMap<String, AuthScheme>,
    /// The scheme used when a step names none.
    pub default: String,
    /// Query parameter used to probe "keys in query strings are refused".
    #[serde(default)]
    pub query_param: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthScheme {
    pub header: String,
    /// The header value, with `{key}` where the key goes.
    #[serde(default = "default_scheme_value")]
    pub value: String,
}

fn default_scheme_value() -> String {
    "{key}".to_string()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestIdConfig {
    /// Response header carrying the request id.
    #[serde(default = "default_request_id_header")]
    pub header: String,
    /// JSON pointer of the request id inside error bodies, if the API puts it there.
    #[serde(default)]
    pub error_pointer: Option<String>,
}

impl Default for RequestIdConfig {
    fn default() -> Self {
        RequestIdConfig {
            header: default_request_id_header(),
            error_pointer: None,
        }
    }
}

fn default_request_id_header() -> String {
    "X-Request-Id".to_string()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorConfig {
    #[serde(default = "default_json")]
    pub content_type: String,
    /// Schema for error statuses an endpoint does not list (the envelope).
    pub schema: String,
}

fn default_json() -> String {
    "application/json".to_string()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub method: String,
    /// Path with `{param}` placeholders, e.g. `/v1/jobs/{id}`.
    pub path: String,
    /// Whether a key is required (auth checks probe every such endpoint).
    #[serde(default = "yes")]
    pub auth: bool,
    /// Placeholder values used when probing the endpoint without real ids.
    #[serde(default)]
    pub sample: BTreeMap<String, String>,
    /// Status code → schema file (relative to the schema dir). Every status
    /// the endpoint may answer is listed; any other is an undocumented status.
    /// `"-"` documents a status whose body is not JSON (e.g. image bytes).
    pub responses: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// JSON pointer of the job state in the poll response.
    pub status: String,
    /// JSON pointer of the progress (0–100), if any.
    #[serde(default)]
    pub progress: Option<String>,
    pub terminal: Vec<String>,
    pub success: Vec<String>,
    pub failure: Vec<String>,
    /// Other names of a state: alias → the state it stands for (the video
    /// API's `pending` for `created`). A `state:` matcher accepts either.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// Poll defaults: interval, backoff factor, interval cap, deadline.
    #[serde(default)]
    pub poll: PollDefaults,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollDefaults {
    #[serde(default = "d_interval")]
    pub interval: Template,
    #[serde(default = "d_backoff")]
    pub backoff: f64,
    #[serde(default = "d_max_interval")]
    pub max_interval: Template,
    #[serde(default = "d_deadline")]
    pub deadline: Template,
}

impl Default for PollDefaults {
    fn default() -> Self {
        PollDefaults {
            interval: d_interval(),
            backoff: d_backoff(),
            max_interval: d_max_interval(),
            deadline: d_deadline(),
        }
    }
}

fn d_interval() -> Template {
    "2s".into()
}
fn d_backoff() -> f64 {
    1.5
}
fn d_max_interval() -> Template {
    "10s".into()
}
fn d_deadline() -> Template {
    "600s".into()
}

/// One scenario file: one check.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Check id within the pack, e.g. `auth.missing_key`.
    pub id: String,
    pub family: Family,
    pub title: String,
    #[serde(default = "d_severity")]
    pub severity: Severity,
    /// What this check's expectations rest on unless one says otherwise
    /// (default `doc`).
    #[serde(default)]
    pub basis: Option<Basis>,
    /// Longer description for reports.
    #[serde(default)]
    pub description: Option<String>,
    /// For a `schema` check: also judge every response of every other check
    /// of the pack against its schema (the pack's schema verdict).
    #[serde(default)]
    pub collect_schema_findings: bool,
    /// For an `observability` check: also require the request id on every
    /// response of every other check of the pack.
    #[serde(default)]
    pub collect_request_ids: Option<CollectRequestIds>,
    /// Upper bound on the whole check (default 60 s).
    #[serde(default)]
    pub deadline: Option<Template>,
    pub steps: Vec<Step>,
}

fn d_severity() -> Severity {
    Severity::Blocker
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectRequestIds {
    /// `fail` if the API documents request ids, `warn` if they are a convention.
    pub level: Level,
    /// What the request-id header rests on (the body's id follows `level` = fail).
    #[serde(default)]
    pub basis: Option<Basis>,
    #[serde(default)]
    pub advice: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    #[default]
    Fail,
    Warn,
}

/// A step: exactly one action (`request`, `poll`, `burst`, `repeat`, `wait`,
/// `assert`) plus what to expect and capture.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub name: Option<String>,
    /// Run the step only when this expression is true.
    #[serde(default)]
    pub when: Option<String>,
    #[serde(default)]
    pub request: Option<RequestSpec>,
    /// With `request`: send it once per endpoint of this set
    /// (`protected`: every endpoint with `auth: true`), `{{endpoint}}` bound.
    #[serde(default)]
    pub for_each: Option<String>,
    #[serde(default)]
    pub poll: Option<PollSpec>,
    #[serde(default)]
    pub burst: Option<BurstSpec>,
    /// Send again exactly the request of the named earlier step.
    #[serde(default)]
    pub repeat: Option<String>,
    /// A duration (`1s`, `250ms`, `{{retry_after}}s`).
    #[serde(default)]
    pub wait: Option<Template>,
    #[serde(default)]
    pub assert: Option<Vec<Assertion>>,
    #[serde(default)]
    pub expect: Option<Expect>,
    /// Name → source: `body:/ptr`, `header:Name`, `status`, `request_id`,
    /// `duration_ms`; for bursts `count:429`, `count:2xx`,
    /// `first:429:header:Name`, `max:429:header:Name`, `distinct:2xx:body:/ptr`.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// Do not retry this step's 429/503 answers (the check inspects them itself).
    #[serde(default)]
    pub raw: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    #[serde(default)]
    pub endpoint: Option<Template>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path: Option<Template>,
    /// Values for `{param}` placeholders of the endpoint's path.
    #[serde(default)]
    pub params: BTreeMap<String, Template>,
    /// Query parameters appended to the path.
    #[serde(default)]
    pub query: BTreeMap<String, Template>,
    #[serde(default)]
    pub auth: Option<AuthSpec>,
    #[serde(default)]
    pub headers: BTreeMap<String, Template>,
    #[serde(default)]
    pub json: Option<JsonTemplate>,
    #[serde(default)]
    pub multipart: Option<MultipartSpec>,
    #[serde(default)]
    pub body: Option<Template>,
    #[serde(default)]
    pub content_type: Option<String>,
    /// HTTP timeout for this request (default: the pack's `http_timeout` input or 10 s).
    #[serde(default)]
    pub timeout: Option<Template>,
}

/// `none`, a key role (`valid`, `other`, `empty`, `disabled`), `invalid`
/// (a made-up key), or the long form.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AuthSpec {
    Role(String),
    Full(AuthFull),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFull {
    #[serde(default = "d_role")]
    pub key: String,
    #[serde(default)]
    pub scheme: Option<String>,
    /// Send the key as a query parameter (the pack's `auth.query_param`) instead of a header.
    #[serde(default)]
    pub in_query: bool,
}

fn d_role() -> String {
    "valid".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultipartSpec {
    #[serde(default)]
    pub fields: BTreeMap<String, Template>,
    #[serde(default)]
    pub files: Vec<FilePart>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePart {
    pub name: String,
    pub filename: Template,
    pub content_type: String,
    /// Generated content of this many bytes (a valid magic header first where known).
    #[serde(default)]
    pub size: Option<usize>,
    /// Literal content.
    #[serde(default)]
    pub content: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollSpec {
    pub request: RequestSpec,
    #[serde(default)]
    pub interval: Option<Template>,
    #[serde(default)]
    pub backoff: Option<f64>,
    #[serde(default)]
    pub max_interval: Option<Template>,
    #[serde(default)]
    pub deadline: Option<Template>,
    /// What reaching the deadline means: `fail` (default), `error` (the check
    /// cannot establish what it wanted), or `pass` (a stuck job is expected).
    #[serde(default)]
    pub on_deadline: Option<OnDeadline>,
    /// Flag progress that goes backwards.
    #[serde(default = "yes")]
    pub monotonic: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDeadline {
    Fail,
    Error,
    Pass,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurstSpec {
    pub request: RequestSpec,
    /// How many requests (a number or a template like `{{burst_size}}`).
    pub count: NumSpec,
    /// How many in flight at once (default: all).
    #[serde(default)]
    pub concurrency: Option<NumSpec>,
}

/// A number, or a template rendering to one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NumSpec {
    Num(usize),
    Template(Template),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assertion {
    /// An expression over captured values and inputs, e.g. `before - after == 30`.
    pub expr: String,
    pub message: Template,
    #[serde(default)]
    pub level: Level,
    #[serde(default)]
    pub basis: Option<Basis>,
    #[serde(default)]
    pub advice: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default)]
    pub status: Option<StatusSpec>,
    /// Header name (any case) → matcher(s).
    #[serde(default)]
    pub headers: BTreeMap<String, MatchSpec>,
    /// JSON pointer → matcher(s).
    #[serde(default)]
    pub json: BTreeMap<String, MatchSpec>,
    /// Response time at most this (a duration).
    #[serde(default)]
    pub within: Option<Template>,
    /// Level for the status/json/within expectations of this step (default `fail`).
    #[serde(default)]
    pub level: Level,
    /// What these expectations rest on (default: the check's basis).
    #[serde(default)]
    pub basis: Option<Basis>,
    #[serde(default)]
    pub advice: Option<String>,
    /// Bursts: at least one response had this status.
    #[serde(default)]
    pub some_status: Option<StatusSpec>,
    /// Bursts: expectations for every response whose status matches the key
    /// (`"429"`, `"2xx"`).
    #[serde(default)]
    pub each: BTreeMap<String, Box<Expect>>,
}

/// `200`, `"2xx"`, or a list of either.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatusSpec {
    One(StatusItem),
    Many(Vec<StatusItem>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatusItem {
    Code(u16),
    Class(String),
}

/// A list of matchers, a matcher object, or a plain value (equality).
/// (`Many` comes first: serde would read a list into a struct's fields.)
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // a few per step; boxing would ripple into the engine
pub enum MatchSpec {
    Many(Vec<Matcher>),
    One(Box<Matcher>),
    Equals(JsonTemplate),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    #[serde(default)]
    pub eq: Option<JsonTemplate>,
    #[serde(default)]
    pub ne: Option<JsonTemplate>,
    #[serde(default)]
    pub present: Option<bool>,
    #[serde(default)]
    pub one_of: Option<Vec<JsonTemplate>>,
    #[serde(default)]
    pub gte: Option<f64>,
    #[serde(default)]
    pub lte: Option<f64>,
    #[serde(default)]
    pub gt: Option<f64>,
    #[serde(default)]
    pub lt: Option<f64>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub contains: Option<String>,
    /// JSON type: string, number, integer, boolean, object, array, null.
    #[serde(rename = "type", default)]
    pub type_: Option<String>,
    /// A job state by the pack's name for it: the value or one of its
    /// `jobs.aliases` (`state: created` also accepts `pending`).
    #[serde(default)]
    pub state: Option<String>,
    /// Skip the other tests of this matcher when the value is absent.
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub level: Option<Level>,
    #[serde(default)]
    pub basis: Option<Basis>,
    #[serde(default)]
    pub advice: Option<String>,
    /// Why this matters, shown with the finding.
    #[serde(default)]
    pub message: Option<String>,
}
