//! What keeps a SQLite ledger whole across processes and operators, through
//! one small file beside it (`<ledger>.lock`):
//!
//! - **One writer.** A process that writes the ledger holds an exclusive OS
//!   lock on that file for as long as it writes ([`WriterLock`]); the file
//!   names the holder (its pid and what it is), so a second `serve`, or a
//!   `push` while `serve` runs, is told which process holds it. The OS
//!   drops the lock when the holder dies, however it dies.
//! - **No silent new ledger.** The file is written when the ledger is first
//!   created and kept afterwards ([`LedgerGuard::may_create`]): a ledger that
//!   is missing while its lock file remains was deleted or moved, and is an
//!   error that says what to restore, never a fresh empty ledger.
//! - **A vanished or replaced ledger is noticed.** [`LedgerIdentity`]
//!   remembers which file (device and inode) a long-running process opened,
//!   so `serve` stops accepting when the file under the path is gone or is
//!   another one.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why the ledger cannot be used as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// Another process holds the writer lock.
    #[error(
        "the ledger {ledger} is in use by {holder}; only one process may write it at a time: \
         stop that process, or (while `serve` runs) send events to its webhook instead"
    )]
    Held {
        /// The ledger file.
        ledger: String,
        /// Who holds it, as the holder wrote it (`serve, pid 1234`).
        holder: String,
    },
    /// The ledger is missing although it was created before.
    #[error(
        "the ledger {ledger} is missing, but one was created there ({created}; see {marker}): \
         restore it from a backup; to start over with an empty ledger on purpose, delete {marker}"
    )]
    Missing {
        /// The ledger file.
        ledger: String,
        /// The lock file that remembers it.
        marker: String,
        /// When and by what it was created, as recorded.
        created: String,
    },
    /// The lock file cannot be used.
    #[error("the ledger's lock file {marker}: {reason}")]
    Io {
        /// The lock file.
        marker: String,
        /// What failed.
        reason: String,
    },
}

/// The lock file of a ledger: `<ledger>.lock`.
pub fn marker_path(ledger: &Path) -> PathBuf {
    let mut name = ledger.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// The rules about creating a ledger.
pub struct LedgerGuard;

impl LedgerGuard {
    /// Whether a ledger may be created at `ledger` now: only when there is
    /// neither a ledger nor a lock file remembering one. Call it before
    /// opening a file that does not exist yet.
    pub fn may_create(ledger: &Path) -> Result<(), GuardError> {
        if ledger.exists() {
            return Ok(());
        }
        let marker = marker_path(ledger);
        match std::fs::read_to_string(&marker) {
            Ok(text) => Err(GuardError::Missing {
                ledger: ledger.display().to_string(),
                marker: marker.display().to_string(),
                created: text
                    .lines()
                    .find_map(|l| l.strip_prefix("created: "))
                    .unwrap_or("an earlier run")
                    .to_string(),
            }),
            Err(_) => Ok(()),
        }
    }

    /// Records that a ledger was created at `ledger` (kept from then on).
    pub fn remember_creation(ledger: &Path, by: &str) -> Result<(), GuardError> {
        let marker = marker_path(ledger);
        let io = |e: std::io::Error| GuardError::Io {
            marker: marker.display().to_string(),
            reason: e.to_string(),
        };
        let mut file = open_marker(&marker).map_err(io)?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(io)?;
        if !text.contains("created: ") {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .and_then(|d| chrono::DateTime::from_timestamp(d.as_secs() as i64, 0))
                .map_or_else(
                    || "an unknown time".to_string(),
                    |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                );
            file.write_all(format!("created: {now} by {by}\n").as_bytes())
                .map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok(())
    }
}

/// The exclusive right to write a ledger, held until dropped.
#[derive(Debug)]
pub struct WriterLock {
    file: File,
    marker: PathBuf,
}

impl WriterLock {
    /// Takes the writer lock of `ledger` for `holder` (`serve`, `push`...),
    /// waiting up to `wait` for another short-lived writer to finish; a
    /// holder that is `serve` is not waited for (it holds the lock for as
    /// long as it runs).
    pub fn acquire(ledger: &Path, holder: &str, wait: Duration) -> Result<WriterLock, GuardError> {
        let marker = marker_path(ledger);
        let io = |e: std::io::Error| GuardError::Io {
            marker: marker.display().to_string(),
            reason: e.to_string(),
        };
        let mut file = open_marker(&marker).map_err(io)?;
        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    let who = holder_of(&mut file);
                    if who.starts_with("serve") || Instant::now() >= deadline {
                        return Err(GuardError::Held {
                            ledger: ledger.display().to_string(),
                            holder: who,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        // The holder line is rewritten; the creation record above it stays.
        let mut text = String::new();
        file.rewind().map_err(io)?;
        file.read_to_string(&mut text).map_err(io)?;
        let kept: String = text
            .lines()
            .filter(|l| !l.starts_with("holder: "))
            .map(|l| format!("{l}\n"))
            .collect();
        let line = format!("holder: {holder}, pid {}\n", std::process::id());
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(format!("{kept}{line}").as_bytes())
            .map_err(io)?;
        Ok(WriterLock { file, marker })
    }

    /// The lock file.
    pub fn marker(&self) -> &Path {
        &self.marker
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first makes the
        // release immediate even if a clone of the descriptor lingers.
        let _ = self.file.unlock();
    }
}

/// Opens (creating, never truncating) a ledger's lock file.
fn open_marker(marker: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(marker)
}

/// The holder a locked lock file names.
fn holder_of(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind();
    let _ = file.read_to_string(&mut text);
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix("holder: "))
        .unwrap_or("another process")
        .to_string()
}

/// Which file a process opened as its ledger, to notice it vanishing or
/// being replaced under the same path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerIdentity {
    dev: u64,
    ino: u64,
}

impl LedgerIdentity {
    /// The identity of the file now at `ledger`.
    pub fn of(ledger: &Path) -> std::io::Result<LedgerIdentity> {
        let meta = std::fs::metadata(ledger)?;
        Ok(Self::from_meta(&meta))
    }

    #[cfg(unix)]
    fn from_meta(meta: &std::fs::Metadata) -> LedgerIdentity {
        use std::os::unix::fs::MetadataExt;
        LedgerIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    #[cfg(not(unix))]
    fn from_meta(meta: &std::fs::Metadata) -> LedgerIdentity {
        // No inode: the creation time stands in.
        let created = meta
            .created()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        LedgerIdentity {
            dev: 0,
            ino: created,
        }
    }

    /// Why the file at `ledger` is no longer the one opened, if it is not.
    pub fn check(&self, ledger: &Path) -> Result<(), String> {
        match Self::of(ledger) {
            Ok(now) if now == *self => Ok(()),
            Ok(_) => Err(format!(
                "the ledger {} was replaced by another file while the service ran: stop the service, \
                 put the right ledger back (the replaced one may still be open), and restart",
                ledger.display()
            )),
            Err(_) => Err(format!(
                "the ledger {} was deleted or moved while the service ran: stop the service and \
                 restore it from a backup; events are refused until then so none is acknowledged \
                 into a lost file",
                ledger.display()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_writer_at_a_time_and_the_second_is_told_who() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("sync.db");
        let first = WriterLock::acquire(&ledger, "serve", Duration::ZERO).unwrap();
        let second = WriterLock::acquire(&ledger, "push", Duration::from_millis(100)).unwrap_err();
        let text = second.to_string();
        assert!(text.contains("serve, pid"), "{text}");
        drop(first);
        WriterLock::acquire(&ledger, "push", Duration::ZERO).unwrap();
    }

    #[test]
    fn a_ledger_once_created_is_never_silently_recreated() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("sync.db");
        LedgerGuard::may_create(&ledger).unwrap();
        std::fs::write(&ledger, b"").unwrap();
        LedgerGuard::remember_creation(&ledger, "push").unwrap();
        std::fs::remove_file(&ledger).unwrap();
        let e = LedgerGuard::may_create(&ledger).unwrap_err().to_string();
        assert!(e.contains("restore it from a backup"), "{e}");
        std::fs::remove_file(marker_path(&ledger)).unwrap();
        LedgerGuard::may_create(&ledger).unwrap();
    }

    #[test]
    fn a_deleted_or_replaced_ledger_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("sync.db");
        std::fs::write(&ledger, b"one").unwrap();
        let id = LedgerIdentity::of(&ledger).unwrap();
        id.check(&ledger).unwrap();
        let other = dir.path().join("other.db");
        std::fs::write(&other, b"two").unwrap();
        std::fs::rename(&other, &ledger).unwrap();
        assert!(id.check(&ledger).unwrap_err().contains("replaced"));
        std::fs::remove_file(&ledger).unwrap();
        assert!(id.check(&ledger).unwrap_err().contains("deleted"));
    }
}
