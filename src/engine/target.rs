//! Where a pack's requests go, resolved once: the built-in fake started for
//! the pack (kept alive by the returned guard) or a live base URL with keys
//! from the environment; the HTTP client; and the per-pack state both
//! drivers (`golive check`, `golive load`) build their requests from.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::{Redactor, RequestIdSource, Secret};
use super::{CHECK_DEADLINE, EnvFn, PackRun, Target, pace};
use crate::fake::{FakeApi, FakeConfig};
use crate::pack::{Pack, PackFile, template};

/// A request's timeout when the pack's inputs set no `http_timeout`.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a pack has no target to run against.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "pack `{0}` has no built-in fake (its pack.yaml sets no `fake:`): it needs --target URL, the base URL of the live API"
    )]
    NoFake(String),
    #[error("the built-in fake did not start: {0}")]
    FakeStart(String),
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}

/// A target resolved for one pack.
pub struct Resolved {
    pub base: String,
    pub keys: BTreeMap<String, Secret>,
    /// The in-process fake that serves the pack (so its `fake_inputs`
    /// apply), kept alive while the pack runs; `None` for a live target.
    pub guard: Option<FakeApi>,
}

/// Resolves `target` for `pack`: starts its fake, or takes the live URL and
/// the keys the pack names from the environment.
pub async fn resolve(target: &Target, pack: &Pack, env: &EnvFn) -> Result<Resolved, TargetError> {
    match target {
        Target::Fake(opts) => {
            // A pack the fake does not implement is not sent to a fake of another API.
            if pack.file.fake.is_none() {
                return Err(TargetError::NoFake(pack.file.name.clone()));
            }
            let api = FakeApi::start(opts.clone())
                .await
                .map_err(|e| TargetError::FakeStart(e.to_string()))?;
            Ok(Resolved {
                base: api.url(),
                keys: fake_keys(pack, &opts.config),
                guard: Some(api),
            })
        }
        Target::Live(url) => Ok(Resolved {
            base: url.trim_end_matches('/').to_string(),
            keys: live_keys(pack, env),
            guard: None,
        }),
    }
}

/// The fake's keys for the roles the pack names, labelled by their variables.
pub fn fake_keys(pack: &Pack, config: &FakeConfig) -> BTreeMap<String, Secret> {
    pack.file
        .keys
        .iter()
        .filter_map(|(role, env_name)| {
            let k = config.key(role)?;
            Some((role.clone(), Secret::new(k, env_name.clone())))
        })
        .collect()
}

/// The keys the pack names, from the environment (blank ones count as unset).
pub fn live_keys(pack: &Pack, env: &EnvFn) -> BTreeMap<String, Secret> {
    pack.file
        .keys
        .iter()
        .filter_map(|(role, env_name)| {
            let k = env(env_name).filter(|k| !k.trim().is_empty())?;
            Some((role.clone(), Secret::new(k.trim(), env_name.clone())))
        })
        .collect()
}

/// golive's HTTP client: its own user agent, no redirects followed (a key
/// never travels to another origin), `pool` idle connections per host.
pub fn http_client(pool: usize) -> Result<reqwest::Client, TargetError> {
    reqwest::Client::builder()
        .user_agent(concat!("golive/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(pool)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| TargetError::Client(e.to_string()))
}

/// A request's timeout from the pack's `http_timeout` input.
pub fn http_timeout(inputs: &BTreeMap<String, Value>) -> Duration {
    inputs
        .get("http_timeout")
        .map(template::display)
        .and_then(|s| template::parse_duration(&s).ok())
        .unwrap_or(DEFAULT_HTTP_TIMEOUT)
}

impl PackRun {
    /// The state one pack's requests are built from: its inputs (with the
    /// fake's only where the fake serves it, and `--var` over both), keys,
    /// client and redactor. The check driver sets its pace and limits on top.
    pub fn new(
        pack: Pack,
        base: String,
        keys: BTreeMap<String, Secret>,
        client: reqwest::Client,
        vars: &BTreeMap<String, String>,
        served_by_fake: bool,
        run_id: String,
    ) -> PackRun {
        let inputs = inputs_with(&pack.file, served_by_fake, vars);
        PackRun {
            request_id: RequestIdSource {
                header: pack.file.request_id.header.clone(),
                pointer: pack.file.request_id.error_pointer.clone(),
            },
            http_timeout: http_timeout(&inputs),
            redactor: Redactor::new(keys.values().cloned().collect()),
            invalid_key: format!("sk_golive_invalid_{}", &run_id.to_ascii_lowercase()[..12]),
            pack,
            client,
            base,
            keys,
            inputs,
            run_start: Instant::now(),
            run_id,
            limited: AtomicBool::new(false),
            stuck_job: Mutex::new(None),
            pace: pace::Pace::off(),
            check_limit: CHECK_DEADLINE,
        }
    }
}

/// The values a pack's templates see on this target: its facts, its
/// inputs, the fake's own inputs only where the built-in fake serves it,
/// and `--var` overrides over all (parsed as YAML scalars, so `--var n=3`
/// is a number).
pub fn inputs_with(
    pack: &PackFile,
    fake: bool,
    vars: &BTreeMap<String, String>,
) -> BTreeMap<String, serde_json::Value> {
    let mut m: BTreeMap<String, serde_json::Value> = pack
        .facts
        .iter()
        .map(|(k, f)| (k.clone(), f.value.clone()))
        .collect();
    m.extend(pack.inputs.clone());
    if fake {
        m.extend(pack.fake_inputs.clone());
    }
    for (k, v) in vars {
        let val = serde_yaml_ng::from_str::<serde_json::Value>(v)
            .ok()
            .filter(|x| !x.is_object() && !x.is_array())
            .unwrap_or_else(|| serde_json::Value::String(v.clone()));
        m.insert(k.clone(), val);
    }
    m
}
