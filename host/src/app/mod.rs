//! The application layer that both front ends (the CLI in [`crate::cli`] and
//! the service in [`crate::serve`]) stand on: the configuration, read one
//! section at a time ([`config`]); the context a command runs in, built from
//! it (credentials, the org client, the ledger, the compiled component:
//! [`context`]); the reading of an event from text ([`input`]); and the one
//! description of the component's outcomes and errors ([`describe`]), with
//! the exit status each maps to ([`failure`]).

pub mod config;
pub mod context;
pub mod describe;
pub mod failure;
pub mod input;
pub mod json;

pub use context::App;
pub use describe::{describe_push, describe_resubscribe, describe_sync_error, ts};
pub use failure::{CmdResult, Exit, Failure};
