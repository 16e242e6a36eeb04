//! A small pool of synchronous PostgreSQL connections: the storages, inboxes
//! and leases of many orgs share a few connections instead of holding one
//! each (a replica serves thousands of orgs; a server allows ~100
//! connections).

use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use postgres::{Client, Config, NoTls};

use super::error::pg_error;
use crate::ports::storage::StorageError;

/// How long a caller waits for a connection when all are busy before it
/// gets `unavailable` (retryable) rather than blocking forever.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);

/// The connections not in use, and how many exist in all.
struct Slots {
    idle: Vec<Client>,
    open: usize,
}

/// Connections to one database, at most `max` at once.
pub(super) struct Pool {
    config: Config,
    max: usize,
    slots: Mutex<Slots>,
    freed: Condvar,
    /// `user@host:port/db`, never the password: what errors name.
    pub(super) target: String,
}

impl Pool {
    pub(super) fn new(config: Config, max: usize, target: String) -> Pool {
        Pool {
            config,
            max: max.max(1),
            slots: Mutex::new(Slots {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
            target,
        }
    }

    fn slots(&self) -> Result<MutexGuard<'_, Slots>, StorageError> {
        self.slots
            .lock()
            .map_err(|_| StorageError::Unavailable("the PostgreSQL pool's lock is poisoned".into()))
    }

    /// A connection: an idle one, a new one while fewer than `max` exist,
    /// else the next one given back (up to [`CHECKOUT_TIMEOUT`]).
    pub(super) fn get(&self) -> Result<Pooled<'_>, StorageError> {
        let mut slots = self.slots()?;
        loop {
            if let Some(client) = slots.idle.pop() {
                // A connection the server closed while idle (a restart, an
                // idle timeout) is dropped here rather than failing a call.
                if client.is_closed() {
                    slots.open -= 1;
                    continue;
                }
                return Ok(Pooled {
                    pool: self,
                    client: Some(client),
                });
            }
            if slots.open < self.max {
                slots.open += 1;
                drop(slots);
                return match self.config.connect(NoTls) {
                    Ok(client) => Ok(Pooled {
                        pool: self,
                        client: Some(client),
                    }),
                    Err(e) => {
                        self.slots()?.open -= 1;
                        self.freed.notify_one();
                        Err(pg_error(&self.target, e))
                    }
                };
            }
            let (next, timeout) =
                self.freed
                    .wait_timeout(slots, CHECKOUT_TIMEOUT)
                    .map_err(|_| {
                        StorageError::Unavailable("the PostgreSQL pool's lock is poisoned".into())
                    })?;
            slots = next;
            if timeout.timed_out() && slots.idle.is_empty() && slots.open >= self.max {
                return Err(StorageError::Unavailable(format!(
                    "{}: all {} PostgreSQL connections stayed busy for {CHECKOUT_TIMEOUT:?}; \
                     retry later, or allow more connections",
                    self.target, self.max
                )));
            }
        }
    }

    fn put_back(&self, client: Client) {
        if let Ok(mut slots) = self.slots.lock() {
            if client.is_closed() {
                slots.open -= 1;
            } else {
                slots.idle.push(client);
            }
        }
        self.freed.notify_one();
    }
}

/// A connection taken from the [`Pool`]; given back when dropped (or
/// discarded, when the server closed it).
pub(super) struct Pooled<'a> {
    pool: &'a Pool,
    client: Option<Client>,
}

impl Deref for Pooled<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("present until dropped")
    }
}

impl DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("present until dropped")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            self.pool.put_back(client);
        }
    }
}
