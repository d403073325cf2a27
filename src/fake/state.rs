//! The shared, API-agnostic state behind the core's one mutex: keys (with
//! their rate-limit bucket and idempotency store), accounts and their
//! per-API credit ledgers, the deadline heap, the webhook outbox, and one
//! opaque slot per API fake for its own jobs.

use std::any::Any;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};

use serde::Serialize;

use super::FakeConfig;
use super::api::{ApiId, Apis};
use super::credits::Credits;
use super::idempotency::IdemStore;
use super::ratelimit::TokenBucket;

/// Per-day usage counters of a ledger.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Daily {
    pub jobs: u64,
    pub completed: u64,
    pub failed: u64,
    pub credits_used: Credits,
}

/// One billable call, as the usage endpoints report it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct UsageEvent {
    pub id: String,
    pub request_id: String,
    pub job_id: Option<String>,
    pub endpoint: &'static str,
    pub method: &'static str,
    pub status_code: u16,
    pub credits: Credits,
    pub created_at: String,
}

/// An account's credits in one API: balance, daily usage, recent events.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pub balance: Credits,
    pub daily: BTreeMap<i64, Daily>,
    /// Usage events, oldest first (a ring capped by `max_usage_events`).
    pub events: VecDeque<UsageEvent>,
}

impl Ledger {
    /// Takes `credits`, counted as used on `day`.
    pub(crate) fn debit(&mut self, credits: Credits, day: i64) {
        self.balance -= credits;
        self.daily.entry(day).or_default().credits_used += credits;
    }

    /// Records an event, dropping the oldest beyond `cap`.
    pub(crate) fn record(&mut self, event: UsageEvent, cap: usize) {
        self.events.push_back(event);
        while self.events.len() > cap.max(1) {
            self.events.pop_front();
        }
    }
}

pub(crate) struct Account {
    pub name: String,
    /// One ledger per API fake, indexed by [`ApiId`].
    pub ledgers: Vec<Ledger>,
}

pub(crate) struct KeyEntry {
    pub key: String,
    pub account: usize,
    pub disabled: bool,
    pub bucket: TokenBucket,
    pub idem: IdemStore,
}

/// Credits taken by a successful create (what `double-charge` takes again).
#[derive(Clone, Debug)]
pub(crate) struct Charge {
    pub ledger: ApiId,
    pub account: usize,
    pub credits: Credits,
    /// Day index (days since the epoch) the credits count on.
    pub day: i64,
}

/// A transition of an API's job, due at a time ([`super::api::ApiFake::settle`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Deadline {
    pub api: ApiId,
    pub job: String,
    /// Which run of the job (a restarted job's old deadlines are stale).
    pub run: u32,
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

/// A job's `progress` as it is shown: a number, or "50%" under `schema-drift`.
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

/// Everything mutable, behind one mutex.
pub(crate) struct State {
    pub keys: Vec<KeyEntry>,
    pub key_index: HashMap<String, usize>,
    pub accounts: Vec<Account>,
    /// Each API fake's own state (its jobs), indexed by [`ApiId`].
    pub apis: Vec<Box<dyn Any + Send>>,
    deadlines: BinaryHeap<Reverse<(u64, u64, Deadline)>>,
    seq: u64,
    /// (API, job id, event) waiting for the delivery task.
    pub webhooks: VecDeque<(ApiId, String, &'static str)>,
}

impl State {
    /// Keys and accounts from the config, every ledger at the key's credits.
    pub(crate) fn new(config: &FakeConfig, apis: &Apis, now: u64) -> State {
        let mut accounts: Vec<Account> = Vec::new();
        let mut keys = Vec::new();
        let mut key_index = HashMap::new();
        for k in &config.keys {
            let account = match accounts.iter().position(|a| a.name == k.account) {
                Some(i) => i,
                None => {
                    let ledgers = (0..apis.len())
                        .map(|_| Ledger {
                            balance: k.credits,
                            ..Ledger::default()
                        })
                        .collect();
                    accounts.push(Account {
                        name: k.account.clone(),
                        ledgers,
                    });
                    accounts.len() - 1
                }
            };
            key_index.entry(k.key.clone()).or_insert(keys.len());
            let rate = &config.rate_limit;
            keys.push(KeyEntry {
                key: k.key.clone(),
                account,
                disabled: k.disabled,
                bucket: TokenBucket::new(rate.per_second, rate.burst, now),
                idem: IdemStore::default(),
            });
        }
        State {
            keys,
            key_index,
            accounts,
            apis: apis.iter().map(|(_, api)| api.new_state()).collect(),
            deadlines: BinaryHeap::new(),
            seq: 0,
            webhooks: VecDeque::new(),
        }
    }

    pub(crate) fn push_deadline(&mut self, at_ms: u64, what: Deadline) {
        self.seq += 1;
        self.deadlines.push(Reverse((at_ms, self.seq, what)));
    }

    /// The earliest deadline due by `now`, removed (with its time).
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<(u64, Deadline)> {
        let Reverse((at, _, _)) = self.deadlines.peek()?;
        if *at > now {
            return None;
        }
        self.deadlines
            .pop()
            .map(|Reverse((at, _, what))| (at, what))
    }

    /// The ledger of `account` in API `api`.
    pub(crate) fn ledger(&mut self, account: usize, api: ApiId) -> &mut Ledger {
        &mut self.accounts[account].ledgers[api]
    }

    /// The account owning `key`, if the key exists.
    pub(crate) fn account_of_key(&self, key: &str) -> Option<usize> {
        self.key_index.get(key).map(|k| self.keys[*k].account)
    }

    /// API `api`'s own state, read-only.
    pub(crate) fn api_state_ref<T: Any>(slots: &[Box<dyn Any + Send>], api: ApiId) -> &T {
        slots[api]
            .downcast_ref::<T>()
            .expect("each API's state slot holds the type its fake made")
    }

    /// API `api`'s own state, as the type that API keeps there.
    pub(crate) fn api_state<T: Any>(slots: &mut [Box<dyn Any + Send>], api: ApiId) -> &mut T {
        slots[api]
            .downcast_mut::<T>()
            .expect("each API's state slot holds the type its fake made")
    }
}
