//! Why a call into the component failed ([`HostError`]), and the rule for
//! trap versus guest-visible error (the guest-visible half is applied in
//! `imports::guest_errors`).
//!
//! The rule, decided once: policy denials, storage failures and upstream
//! (Salesforce, network) failures are returned to the component as the WIT
//! error variants (`http-error`, `storage-error`) so its policy can act on
//! them. Only host bugs and hostile behaviour trap, and a trap, an exceeded
//! deadline or the memory cap ends that one call with a [`HostError`]; the
//! host and the next call are unaffected.

use std::time::Duration;

/// Why a call into the component did not return a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// The component could not be compiled or loaded.
    #[error("cannot load the component: {0}")]
    Load(String),
    /// The component does not fit this host (a missing import or export).
    #[error("the component does not fit this host: {0}")]
    Incompatible(String),
    /// A fresh instance could not be created for the call.
    #[error("cannot instantiate the component for `{export}`: {message}")]
    Instantiate {
        /// The export that was to be called.
        export: &'static str,
        /// Why.
        message: String,
    },
    /// The call ran past its deadline and was interrupted.
    #[error("the component exceeded its {} deadline in `{export}`", human_duration(*.timeout))]
    Deadline {
        /// The export that was running.
        export: &'static str,
        /// The deadline.
        timeout: Duration,
    },
    /// The component tried to grow its memory past the cap.
    #[error("the component exceeded its memory cap of {} in `{export}`", human_bytes(*.limit_bytes))]
    MemoryCap {
        /// The export that was running.
        export: &'static str,
        /// The cap.
        limit_bytes: usize,
    },
    /// The component trapped (a panic, an `unreachable`, a host refusal).
    #[error("the component trapped in `{export}`: {message}")]
    Trap {
        /// The export that was running.
        export: &'static str,
        /// The trap and, when the component printed one, its panic message.
        message: String,
    },
}

/// `10 s`, `250 ms`.
pub fn human_duration(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// `64 MiB`, `1536 KiB`, `100 bytes`.
pub fn human_bytes(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// What the runtime knows after a failed call, to name the cause.
pub(crate) struct Failure<'a> {
    pub export: &'static str,
    pub timeout: Duration,
    pub memory_cap_hit: bool,
    pub memory_limit: usize,
    pub stderr: &'a [u8],
}

/// Turns a failed call's `wasmtime::Error` into a [`HostError`] that names
/// the cause: the deadline, the memory cap, or the trap and the component's
/// panic message.
pub(crate) fn classify(err: wasmtime::Error, f: Failure<'_>) -> HostError {
    let trap = err.downcast_ref::<wasmtime::Trap>().copied();
    if trap == Some(wasmtime::Trap::Interrupt) {
        return HostError::Deadline {
            export: f.export,
            timeout: f.timeout,
        };
    }
    if f.memory_cap_hit {
        return HostError::MemoryCap {
            export: f.export,
            limit_bytes: f.memory_limit,
        };
    }
    let what = match trap {
        Some(t) => t.to_string(),
        // Not a wasm trap: an error raised by the host or the runtime; its
        // first line is the message (the rest is a wasm backtrace).
        None => err
            .to_string()
            .lines()
            .next()
            .unwrap_or("unknown error")
            .to_string(),
    };
    let stderr = String::from_utf8_lossy(f.stderr);
    let said: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let message = if said.is_empty() {
        what
    } else {
        format!(
            "{what}; the component said: {}",
            crate::policy::sanitize(&said.join(" | "))
        )
    };
    HostError::Trap {
        export: f.export,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_export_and_the_limit() {
        let e = HostError::Deadline {
            export: "nightly",
            timeout: Duration::from_secs(10),
        };
        assert_eq!(
            e.to_string(),
            "the component exceeded its 10 s deadline in `nightly`"
        );
        let e = HostError::MemoryCap {
            export: "push",
            limit_bytes: 64 << 20,
        };
        assert_eq!(
            e.to_string(),
            "the component exceeded its memory cap of 64 MiB in `push`"
        );
        assert_eq!(human_duration(Duration::from_millis(250)), "250 ms");
    }
}
