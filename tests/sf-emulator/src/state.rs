//! The state shared by every request handler and by the library API.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::auth::Auth;
use crate::bulk::Jobs;
use crate::calls::CallRecorder;
use crate::config::EmulatorConfig;
use crate::faults::Faults;
use crate::limits::Limits;
use crate::query::Cursors;
use crate::store::Org;

/// Everything a running emulator holds. Locks are never held across an `.await`; when
/// two are needed they are taken in field order (org before faults before calls) so
/// no two paths can deadlock.
#[derive(Debug)]
pub struct State {
    /// The start configuration.
    pub config: EmulatorConfig,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    org: RwLock<Org>,
    faults: Mutex<Faults>,
    calls: Mutex<CallRecorder>,
    auth: Mutex<Auth>,
    limits: Mutex<Limits>,
    cursors: Mutex<Cursors>,
    jobs: Mutex<Jobs>,
}

/// Locks a mutex, recovering the data if a previous holder panicked: the emulator must
/// keep answering (a panic in one handler must not poison every later request).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl State {
    /// Builds the state around an already seeded org.
    pub fn new(config: EmulatorConfig, base_url: String, org: Org, salt: u64) -> State {
        State {
            faults: Mutex::new(Faults::new(config.faults.clone())),
            calls: Mutex::new(CallRecorder::new(config.call_log_capacity)),
            auth: Mutex::new(Auth::new(&config, salt)),
            limits: Mutex::new(Limits::new(config.daily_api_limit)),
            cursors: Mutex::new(Cursors::default()),
            jobs: Mutex::new(Jobs::default()),
            org: RwLock::new(org),
            base_url,
            config,
        }
    }

    /// Shared read access to the org.
    pub fn org(&self) -> RwLockReadGuard<'_, Org> {
        self.org
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Exclusive access to the org.
    pub fn org_mut(&self) -> RwLockWriteGuard<'_, Org> {
        self.org
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Fault state.
    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.faults)
    }

    /// Call counters and log.
    pub fn calls(&self) -> MutexGuard<'_, CallRecorder> {
        lock(&self.calls)
    }

    /// OAuth state.
    pub fn auth(&self) -> MutexGuard<'_, Auth> {
        lock(&self.auth)
    }

    /// The daily limit.
    pub fn limits(&self) -> MutexGuard<'_, Limits> {
        lock(&self.limits)
    }

    /// Open query cursors.
    pub fn cursors(&self) -> MutexGuard<'_, Cursors> {
        lock(&self.cursors)
    }

    /// Bulk jobs.
    pub fn jobs(&self) -> MutexGuard<'_, Jobs> {
        lock(&self.jobs)
    }

    /// Adds write/lock statistics of one request to the counters.
    pub fn note_writes(&self, written: u64, lock_errors: u64) {
        if written == 0 && lock_errors == 0 {
            return;
        }
        let mut calls = self.calls();
        let counts = calls.counts_mut();
        counts.records_written += written;
        counts.injected_lock_errors += lock_errors;
    }
}
