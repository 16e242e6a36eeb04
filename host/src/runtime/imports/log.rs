//! The `log` import: the component's messages, levelled, to a [`LogSink`].
//!
//! The component is untrusted: messages are cut at
//! [`crate::limits::MAX_LOG_MESSAGE_BYTES`], control characters are escaped
//! (no forged log lines, [`crate::policy::sanitize`]), and past
//! [`crate::limits::MAX_LOG_MESSAGES_PER_CALL`] messages in one call the rest
//! are counted and dropped.

use std::sync::Arc;

use wasmtime::component::Linker;

use crate::limits;
use crate::policy::sanitize;
use crate::ports::log::{LogLevel, LogSink};
use crate::runtime::bindings::wit_log;

/// A store's data that can lend the `log` import its per-call context.
pub trait LogState {
    /// The `log` context of this call.
    fn log(&mut self) -> &mut LogCtx;
}

/// Per-call state of the `log` import.
pub struct LogCtx {
    /// Where messages go.
    pub sink: Arc<dyn LogSink>,
    /// Messages written in this call.
    pub written: u32,
    /// Messages dropped past the per-call cap.
    pub dropped: u32,
}

/// The borrowed view that implements the generated `Host` trait.
pub(crate) struct LogView<'a>(pub &'a mut LogCtx);

/// `HasData` marker for [`LogView`].
pub(crate) struct LogData;
impl wasmtime::component::HasData for LogData {
    type Data<'a> = LogView<'a>;
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

/// Adds the `log` import to a linker whose store data lends a [`LogCtx`].
pub fn add_to_linker<T: LogState + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit_log::add_to_linker::<T, LogData>(linker, |s| LogView(s.log()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::log::MemoryLog;
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
