//! One built-in API fake = one [`ApiFake`]: it claims its paths, maps them
//! to [`Route`]s, and writes errors in its own envelope. The core
//! ([`super::core`]) owns everything shared (keys, ledgers, rate limits,
//! idempotency, faults, request ids) and dispatches to the API that claims
//! a path. A new API fake is one module implementing this trait plus a line
//! in [`Apis::builtin`].

use std::any::Any;

use serde_json::Value;

use super::FakeConfig;
use super::core::FakeCore;
use super::errors::{ApiError, CommonError};
use super::faults::{Fault, Faults};
use super::http::{FakeRequest, Reply};
use super::state::{Charge, Ledger, State};

/// An API fake's index in the core's registry (its ledger and state slot).
pub(crate) type ApiId = usize;

/// What an API fake provides to the core.
pub(crate) trait ApiFake: Send + Sync {
    /// The name packs use (`fake: removit|removebgvideo`).
    fn name(&self) -> &'static str;
    /// Whether `path` (as sent) is this API's (its routes, its envelope).
    fn claims(&self, path: &str) -> bool;
    /// The route for a claimed path (trailing `/` trimmed); `None` is a 404.
    fn route(&self, method: &str, path: &str, faults: Faults) -> Option<Route>;
    /// This API's status, code and details for an error of the core.
    fn common_error(&self, error: &CommonError) -> ApiError;
    /// The JSON error body; `request_id` is `None` under `no-request-id`.
    fn envelope(&self, error: &ApiError, request_id: Option<&str>) -> Value;
    /// The key the request presents (by default the `X-Api-Key` header).
    fn presented_key<'r>(&self, req: &'r FakeRequest, _faults: Faults) -> Option<&'r str> {
        req.api_key_header()
    }
    /// This API's state slot (its jobs), made once per core.
    fn new_state(&self) -> Box<dyn Any + Send>;
    /// A deadline this API pushed is due.
    fn settle(&self, _core: &FakeCore, _st: &mut State, _due: Due<'_>) {}
    /// A queued webhook of this API: `(url, JSON body)`, recorded on its job
    /// under `delivery_id`; `None` when the job has no webhook any more.
    fn webhook(&self, _hook: Hook<'_>, _st: &mut State) -> Option<(String, Vec<u8>)> {
        None
    }
    /// The outcome of a delivery of this API's webhook (`None`: not
    /// delivered); a job this API does not have is ignored.
    fn record_webhook(&self, _st: &mut State, _api: ApiId, _delivery: Delivered<'_>) {}
}

/// A deadline handed back to its API.
pub(crate) struct Due<'a> {
    pub api: ApiId,
    pub job: &'a str,
    pub run: u32,
    /// When it was due (Unix ms).
    pub at: u64,
}

/// A webhook to build.
pub(crate) struct Hook<'a> {
    pub api: ApiId,
    pub job: &'a str,
    pub event: &'static str,
    pub delivery_id: &'a str,
    pub now: u64,
    pub config: &'a FakeConfig,
    pub faults: Faults,
}

/// A webhook delivery's outcome.
pub(crate) struct Delivered<'a> {
    pub job: &'a str,
    pub delivery_id: &'a str,
    pub status: Option<u16>,
}

/// The handler of a route that needs a key.
pub(crate) type KeyedHandler = dyn Fn(&Call, &mut State) -> Handled;

/// What a route does.
pub(crate) enum Handler {
    /// Answered without a key or state (unless `public-routes-locked`).
    Public(fn() -> Reply),
    /// Needs a valid key; runs under the state lock.
    Keyed(Box<KeyedHandler>),
}

/// A billable call the API's usage ledger records.
pub(crate) struct Usage {
    pub endpoint: &'static str,
    /// The job, when the path names it; else the reply's `id`, if any.
    pub job_id: Option<String>,
}

/// A matched route.
pub(crate) struct Route {
    pub handler: Handler,
    /// Creates work (what `auth-bypass` and `limited-side-effects` touch).
    pub creates: bool,
    /// Honours `Idempotency-Key`.
    pub idempotent: bool,
    pub usage: Option<Usage>,
}

impl Route {
    pub(crate) fn public(f: fn() -> Reply) -> Route {
        Route {
            handler: Handler::Public(f),
            creates: false,
            idempotent: false,
            usage: None,
        }
    }

    pub(crate) fn keyed(f: impl Fn(&Call, &mut State) -> Handled + 'static) -> Route {
        Route {
            handler: Handler::Keyed(Box::new(f)),
            creates: false,
            idempotent: false,
            usage: None,
        }
    }

    pub(crate) fn creating(mut self) -> Route {
        self.creates = true;
        self
    }

    pub(crate) fn idempotent(mut self) -> Route {
        self.idempotent = true;
        self
    }

    pub(crate) fn billed(mut self, endpoint: &'static str, job_id: Option<String>) -> Route {
        self.usage = Some(Usage { endpoint, job_id });
        self
    }
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

/// Per-request context handed to the route handlers.
pub(crate) struct Call<'a> {
    pub core: &'a FakeCore,
    pub req: &'a FakeRequest,
    pub api: ApiId,
    pub now: u64,
    pub request_id: String,
    /// The key's index in [`State::keys`].
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
    /// The account owning the call's key.
    pub(crate) fn account(&self, st: &State) -> usize {
        st.keys[self.key].account
    }
    /// The caller's ledger in this API.
    pub(crate) fn ledger<'s>(&self, st: &'s mut State) -> &'s mut Ledger {
        let account = self.account(st);
        st.ledger(account, self.api)
    }
    /// An error reply in this API's envelope.
    pub(crate) fn error(&self, error: ApiError) -> Reply {
        self.core.error_reply(self.api, error, &self.request_id)
    }
    /// A charge of `credits` to `account`'s ledger in this API.
    pub(crate) fn charge(&self, account: usize, credits: super::Credits, day: i64) -> Charge {
        Charge {
            ledger: self.api,
            account,
            credits,
            day,
        }
    }
}

/// The registered API fakes, in claim order.
pub(crate) struct Apis {
    list: Vec<Box<dyn ApiFake>>,
    /// Whose envelope a path no API claims gets its 404 in.
    fallback: ApiId,
}

impl Apis {
    /// Both built-in fakes; unclaimed paths get RemoveBGVideo's 404.
    pub(crate) fn builtin() -> Apis {
        Apis {
            list: vec![
                Box::new(super::removit::Removit),
                Box::new(super::video::Video),
            ],
            fallback: 1,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn get(&self, id: ApiId) -> &dyn ApiFake {
        self.list[id].as_ref()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (ApiId, &dyn ApiFake)> {
        self.list.iter().map(|a| a.as_ref()).enumerate()
    }

    /// The API claiming `path`, else the fallback.
    pub(crate) fn claiming(&self, path: &str) -> ApiId {
        self.iter()
            .find(|(_, api)| api.claims(path))
            .map_or(self.fallback, |(id, _)| id)
    }

    /// The API called `name`.
    pub(crate) fn named(&self, name: &str) -> Option<ApiId> {
        self.iter()
            .find(|(_, api)| api.name() == name)
            .map(|(id, _)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_is_claimed_by_one_api_and_the_rest_falls_back() {
        let apis = Apis::builtin();
        let removit = apis.named("removit").expect("registered");
        let video = apis.named("removebgvideo").expect("registered");
        for (path, owner) in [
            ("/api/v1", removit),
            ("/api/v1/", removit),
            ("/api/v1/upload", removit),
            ("/v1", video),
            ("/v1/jobs/x/start", video),
            ("/health", video),
            ("/api/pricing", video),
        ] {
            let claimants: Vec<ApiId> = apis
                .iter()
                .filter(|(_, api)| api.claims(path))
                .map(|(id, _)| id)
                .collect();
            assert_eq!(claimants, vec![owner], "{path}");
        }
        for unclaimed in ["/", "/nope", "/api/v10", "/v10/jobs", "/healthz"] {
            assert!(apis.iter().all(|(_, api)| !api.claims(unclaimed)));
            assert_eq!(apis.claiming(unclaimed), video, "{unclaimed}");
        }
    }
}
