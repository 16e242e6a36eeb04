//! The `log` import: the component's messages, levelled, to a [`LogSink`]
//! ([`TracingLog`] in production, under the tracing target `component`).
//!
//! The component is untrusted: messages are cut at
//! [`crate::limits::MAX_LOG_MESSAGE_BYTES`], control characters are escaped
//! (no forged log lines), and past [`crate::limits::MAX_LOG_MESSAGES_PER_CALL`]
//! messages in one call the rest are counted and dropped.

use std::sync::{Arc, Mutex};

use crate::bindings::wit_log;
use crate::limits;

/// A log level, as the component names it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum LogLevel {
    /// Step-by-step detail.
    Trace,
    /// Detail for an investigation.
    Debug,
    /// Normal progress.
    Info,
    /// Handled failure.
    Warn,
    /// Needs an operator.
    Error,
}

/// Where the component's log messages go.
pub trait LogSink: Send + Sync {
    /// Writes one message (already sanitized by the host).
    fn write(&self, level: LogLevel, message: &str);
}

/// Sends messages to `tracing` with target `component`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingLog;

impl LogSink for TracingLog {
    fn write(&self, level: LogLevel, message: &str) {
        match level {
            LogLevel::Trace => tracing::trace!(target: "component", "{message}"),
            LogLevel::Debug => tracing::debug!(target: "component", "{message}"),
            LogLevel::Info => tracing::info!(target: "component", "{message}"),
            LogLevel::Warn => tracing::warn!(target: "component", "{message}"),
            LogLevel::Error => tracing::error!(target: "component", "{message}"),
        }
    }
}

/// Keeps every message in memory: for tests.
#[derive(Debug, Default)]
pub struct MemoryLog(Mutex<Vec<(LogLevel, String)>>);

impl MemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }
    /// The messages so far.
    pub fn messages(&self) -> Vec<(LogLevel, String)> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl LogSink for MemoryLog {
    fn write(&self, level: LogLevel, message: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.push((level, message.to_string()));
        }
    }
}

/// Drops every message: for benchmarks.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullLog;

impl LogSink for NullLog {
    fn write(&self, _level: LogLevel, _message: &str) {}
}

/// Per-call state of the `log` import.
pub(crate) struct LogCtx {
    pub sink: Arc<dyn LogSink>,
    pub written: u32,
    pub dropped: u32,
}

/// The borrowed view that implements the generated `Host` trait.
pub(crate) struct LogView<'a>(pub &'a mut LogCtx);

/// `HasData` marker for [`LogView`].
pub(crate) struct LogData;
impl wasmtime::component::HasData for LogData {
    type Data<'a> = LogView<'a>;
}

/// Cuts a message to the cap (on a character boundary) and escapes control
/// characters, so a message is always one line of bounded size.
pub(crate) fn sanitize(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(limits::MAX_LOG_MESSAGE_BYTES));
    for c in message.chars() {
        if out.len() >= limits::MAX_LOG_MESSAGE_BYTES {
            out.push_str("...(cut)");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl wit_log::Host for LogView<'_> {
    fn write(&mut self, level: wit_log::Level, message: String) -> wasmtime::Result<()> {
        if self.0.written >= limits::MAX_LOG_MESSAGES_PER_CALL {
            self.0.dropped += 1;
            return Ok(());
        }
        self.0.written += 1;
        let level = match level {
            wit_log::Level::Trace => LogLevel::Trace,
            wit_log::Level::Debug => LogLevel::Debug,
            wit_log::Level::Info => LogLevel::Info,
            wit_log::Level::Warn => LogLevel::Warn,
            wit_log::Level::Error => LogLevel::Error,
        };
        self.0.sink.write(level, &sanitize(&message));
        Ok(())
    }
}

/// Adds the `log` import to the linker.
pub(crate) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<crate::state::HostState>,
) -> wasmtime::Result<()> {
    wit_log::add_to_linker::<_, LogData>(linker, |s| LogView(&mut s.log))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wit_log::Host as _;

    #[test]
    fn messages_are_one_bounded_line() {
        let s = sanitize("line one\nFORGED: line two\u{1b}[31m");
        assert!(!s.contains('\n') && !s.contains('\u{1b}'), "{s}");
        let long = sanitize(&"é".repeat(limits::MAX_LOG_MESSAGE_BYTES));
        assert!(long.len() <= limits::MAX_LOG_MESSAGE_BYTES + 16);
    }

    #[test]
    fn a_flood_is_capped_per_call() {
        let sink = Arc::new(MemoryLog::new());
        let mut ctx = LogCtx {
            sink: sink.clone(),
            written: 0,
            dropped: 0,
        };
        for _ in 0..limits::MAX_LOG_MESSAGES_PER_CALL + 5 {
            LogView(&mut ctx)
                .write(wit_log::Level::Info, "x".into())
                .unwrap();
        }
        assert_eq!(
            sink.messages().len() as u32,
            limits::MAX_LOG_MESSAGES_PER_CALL
        );
        assert_eq!(ctx.dropped, 5);
    }
}
