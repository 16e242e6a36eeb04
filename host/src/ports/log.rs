//! Where the component's log messages go: a [`LogSink`] ([`TracingLog`] in
//! production, under the tracing target `component`).

use std::sync::Mutex;

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
