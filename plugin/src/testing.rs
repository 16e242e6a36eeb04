//! In-memory fakes of the ports, for the policy's native unit tests.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};

use crate::model::{ApiBudget, Schedule, Settings, Timestamp};
use crate::ports::{
    Clock, Http, HttpFailure, HttpRequest, HttpResponse, Level, Log, Method, Page, Ports, Store,
    StoreError, WriteOp,
};

/// 2026-12-01T04:00:00Z.
pub const NOW: Timestamp = 1_796_097_600_000;

/// Default settings: enabled, Email Opt Out only, no percentage budget.
pub fn settings() -> Settings {
    Settings {
        sync_enabled: true,
        email_opt_out: true,
        sales_opt_out_field: None,
        api_version: "62.0".into(),
        schedule: Schedule {
            hour: 20,
            minute: 0,
            time_zone: "America/Los_Angeles".into(),
        },
        bulk_threshold: 10_000,
        budget: ApiBudget {
            max_calls: None,
            max_percent_of_remaining: None,
            reserve: 0,
        },
    }
}

/// A sorted in-memory store.
#[derive(Default)]
pub struct MemStore {
    /// The data.
    pub map: RefCell<BTreeMap<String, Vec<u8>>>,
    /// The prefixes listed, in order.
    pub listed: RefCell<Vec<String>>,
}

impl MemStore {
    /// Keys under a prefix.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        self.map
            .borrow()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }
}

impl Store for MemStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map.borrow().get(key).cloned())
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        Ok(keys
            .iter()
            .map(|k| self.map.borrow().get(k).cloned())
            .collect())
    }
    fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let mut map = self.map.borrow_mut();
        for op in ops {
            match op {
                WriteOp::Set(k, v) => {
                    map.insert(k, v);
                }
                WriteOp::Delete(k) => {
                    map.remove(&k);
                }
            }
        }
        Ok(())
    }
    fn list(&self, prefix: &str, after: Option<&str>, limit: u32) -> Result<Page, StoreError> {
        self.listed.borrow_mut().push(prefix.to_string());
        let map = self.map.borrow();
        let mut entries: Vec<(String, Vec<u8>)> = map
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
            .take(limit as usize + 1)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let next = if entries.len() > limit as usize {
            entries.pop();
            entries.last().map(|(k, _)| k.clone())
        } else {
            None
        };
        Ok(Page { entries, next })
    }
    fn count(&self, prefix: &str) -> Result<u64, StoreError> {
        Ok(self.keys(prefix).len() as u64)
    }
}

/// One expected request and its canned answer.
pub struct Exchange {
    /// Method.
    pub method: Method,
    /// Path (query-decoded comparison is the caller's business).
    pub path: String,
    /// The answer.
    pub response: Result<HttpResponse, HttpFailure>,
}

/// An HTTP fake that answers a script in order and panics on a surprise.
#[derive(Default)]
pub struct ScriptedHttp {
    /// What is still expected.
    pub script: RefCell<VecDeque<Exchange>>,
    /// What was sent.
    pub sent: RefCell<Vec<HttpRequest>>,
}

impl ScriptedHttp {
    /// Expects a request and answers it.
    pub fn expect(&self, method: Method, path: &str, status: u16, body: &str) -> &Self {
        self.script.borrow_mut().push_back(Exchange {
            method,
            path: path.to_string(),
            response: Ok(HttpResponse {
                status,
                headers: vec![("sforce-limit-info".into(), "api-usage=10/100000".into())],
                body: body.as_bytes().to_vec(),
            }),
        });
        self
    }

    /// Expects a request and fails it.
    pub fn expect_failure(&self, method: Method, path: &str, failure: HttpFailure) -> &Self {
        self.script.borrow_mut().push_back(Exchange {
            method,
            path: path.to_string(),
            response: Err(failure),
        });
        self
    }

    /// Panics if anything expected was not sent.
    pub fn assert_done(&self) {
        let left: Vec<String> = self
            .script
            .borrow()
            .iter()
            .map(|e| format!("{:?} {}", e.method, e.path))
            .collect();
        assert!(left.is_empty(), "requests expected but not sent: {left:?}");
    }
}

impl Http for ScriptedHttp {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        self.sent.borrow_mut().push(request.clone());
        let request = &request;
        let next =
            self.script.borrow_mut().pop_front().unwrap_or_else(|| {
                panic!("unexpected request {:?} {}", request.method, request.path)
            });
        assert_eq!(
            (next.method, next.path.as_str()),
            (request.method, request.path.as_str())
        );
        next.response
    }
}

/// A clock that reads what it is set to.
pub struct FixedClock(pub Cell<Timestamp>);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0.get()
    }
}

/// A log that keeps its messages.
#[derive(Default)]
pub struct MemLog(pub RefCell<Vec<String>>);

impl Log for MemLog {
    fn write(&self, level: Level, message: &str) {
        self.0.borrow_mut().push(format!("{level:?}: {message}"));
    }
}

/// A full set of fakes.
pub struct Fakes {
    /// HTTP.
    pub http: ScriptedHttp,
    /// Storage.
    pub store: MemStore,
    /// Clock.
    pub clock: FixedClock,
    /// Log.
    pub log: MemLog,
}

impl Fakes {
    /// Fakes at [`NOW`].
    pub fn new() -> Self {
        Fakes {
            http: ScriptedHttp::default(),
            store: MemStore::default(),
            clock: FixedClock(Cell::new(NOW)),
            log: MemLog::default(),
        }
    }

    /// The ports over these fakes.
    pub fn ports(&self) -> Ports<'_> {
        Ports {
            http: &self.http,
            store: &self.store,
            clock: &self.clock,
            log: &self.log,
        }
    }
}
