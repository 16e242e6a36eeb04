//! The guest-visible half of the trap-or-error rule (see
//! [`crate::runtime::error`]): every host-side failure of the `http` and
//! `storage` imports reaches the component as its WIT error variant, so the
//! component's policy can act on it; none traps.

use crate::ports::http::HttpError;
use crate::ports::storage::StorageError;
use crate::runtime::bindings::{wit_http, wit_storage};

/// Converts the host's [`HttpError`] for the component. Every case is a
/// guest-visible error: a denial, a failed token refresh, a timeout or a
/// connection failure is something the component's policy handles.
pub(super) fn http_error_for_guest(err: HttpError) -> wasmtime::Result<wit_http::HttpError> {
    Ok(match err {
        HttpError::Denied(t) => wit_http::HttpError::Denied(t),
        HttpError::AuthFailed(t) => wit_http::HttpError::AuthFailed(t),
        HttpError::Timeout => wit_http::HttpError::Timeout,
        HttpError::Transport(t) => wit_http::HttpError::Transport(t),
        HttpError::ResponseTooLarge(n) => wit_http::HttpError::ResponseTooLarge(n),
    })
}

/// Converts the host's [`StorageError`] for the component. Every case is a
/// guest-visible error (each means nothing was changed).
pub(super) fn storage_error_for_guest(
    err: StorageError,
) -> wasmtime::Result<wit_storage::StorageError> {
    Ok(match err {
        StorageError::Unavailable(t) => wit_storage::StorageError::Unavailable(t),
        StorageError::Corrupt(t) => wit_storage::StorageError::Corrupt(t),
        StorageError::TooLarge(t) => wit_storage::StorageError::TooLarge(t),
    })
}
