//! PostgreSQL's errors in the WIT's terms: what a caller can act on
//! (retry, refuse, shrink), with a message that says what to do.

use postgres::error::SqlState;

use crate::ports::storage::StorageError;

/// Maps a driver error to a [`StorageError`]. `target` names the database
/// (`user@host:port/db`, no password).
///
/// Every case means the statement's transaction did not commit, so nothing
/// changed: a failed statement aborts its transaction, and the driver rolls
/// back a transaction that is dropped uncommitted.
pub(crate) fn pg_error(target: &str, e: postgres::Error) -> StorageError {
    let Some(code) = e.code() else {
        // No SQLSTATE: the connection itself failed (refused, reset, closed,
        // timed out); the next call opens a new one.
        return StorageError::Unavailable(format!(
            "PostgreSQL at {target} cannot be reached ({e}); retry: the next attempt opens a \
             new connection; check that the server is up if this persists"
        ));
    };
    let text = e
        .as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_string());
    match *code {
        SqlState::T_R_SERIALIZATION_FAILURE | SqlState::T_R_DEADLOCK_DETECTED => {
            StorageError::Unavailable(format!(
                "PostgreSQL at {target}: a concurrent transaction conflicted ({text}); retry"
            ))
        }
        SqlState::DISK_FULL | SqlState::INSUFFICIENT_RESOURCES | SqlState::OUT_OF_MEMORY => {
            StorageError::Unavailable(format!(
                "PostgreSQL at {target} is out of resources ({text}); free disk or memory on the \
                 server, then retry"
            ))
        }
        SqlState::TOO_MANY_CONNECTIONS
        | SqlState::ADMIN_SHUTDOWN
        | SqlState::CRASH_SHUTDOWN
        | SqlState::CANNOT_CONNECT_NOW
        | SqlState::LOCK_NOT_AVAILABLE
        | SqlState::QUERY_CANCELED
        | SqlState::READ_ONLY_SQL_TRANSACTION => StorageError::Unavailable(format!(
            "PostgreSQL at {target} cannot serve now ({text}); retry later"
        )),
        // A key past the index's row size or a value past a field's limit.
        SqlState::PROGRAM_LIMIT_EXCEEDED | SqlState::STRING_DATA_RIGHT_TRUNCATION => {
            StorageError::TooLarge(format!("PostgreSQL at {target}: {text}"))
        }
        SqlState::UNDEFINED_TABLE | SqlState::UNDEFINED_COLUMN => StorageError::Corrupt(format!(
            "PostgreSQL at {target}: the unsubscribe_sync schema is incomplete ({text}); \
                 restore it from a backup, or point the host at a new database"
        )),
        _ => StorageError::Unavailable(format!("PostgreSQL at {target}: {text}")),
    }
}
