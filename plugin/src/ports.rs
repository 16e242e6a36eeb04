//! The capabilities the policy needs, as small traits. `lib.rs` implements them
//! with the WIT imports; unit tests implement them with in-memory fakes
//! (`testing.rs`), so every decision module runs natively.

use crate::model::Timestamp;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// A request to the org, relative to its instance URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Path and percent-encoded query.
    pub path: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body; empty for none.
    pub body: Vec<u8>,
}

/// The org's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    /// Status.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request got no response (mirrors the WIT `http-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpFailure {
    /// Refused by the host.
    Denied(String),
    /// No access token could be obtained.
    AuthFailed(String),
    /// Timed out.
    Timeout,
    /// Connection failure.
    Transport(String),
    /// Response over the host's cap.
    ResponseTooLarge(u64),
}

/// Sends requests to the org.
pub trait Http {
    /// Sends one request. Takes the request by value so a large body (a
    /// Bulk API upload) is never copied.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure>;
}

/// Why storage failed (mirrors the WIT `storage-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// Temporarily unusable.
    Unavailable(String),
    /// Damaged or foreign.
    Corrupt(String),
    /// A key or value too large.
    TooLarge(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(m) => write!(f, "storage unavailable: {m}"),
            StoreError::Corrupt(m) => write!(f, "storage corrupt: {m}"),
            StoreError::TooLarge(m) => write!(f, "storage limit: {m}"),
        }
    }
}

/// One change of an atomic write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Set a key.
    Set(String, Vec<u8>),
    /// Delete a key.
    Delete(String),
}

/// A page of a prefix listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// Entries in key order.
    pub entries: Vec<(String, Vec<u8>)>,
    /// Cursor for the next page.
    pub next: Option<String>,
}

/// Durable key-value storage.
pub trait Store {
    /// Reads a key.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Reads many keys.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError>;
    /// Applies changes atomically.
    fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;
    /// Lists keys under a prefix after a cursor.
    fn list(&self, prefix: &str, after: Option<&str>, limit: u32) -> Result<Page, StoreError>;
    /// Counts keys under a prefix.
    fn count(&self, prefix: &str) -> Result<u64, StoreError>;
}

/// The host's wall clock.
pub trait Clock {
    /// Now, in ms since the epoch.
    fn now(&self) -> Timestamp;
}

/// Log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Debugging detail.
    Debug,
    /// Normal progress.
    Info,
    /// Handled failure.
    Warn,
    /// Needs an operator.
    Error,
}

/// The host's log.
pub trait Log {
    /// Writes one message.
    fn write(&self, level: Level, message: &str);
}

/// Everything a policy call may use.
#[derive(Clone, Copy)]
pub struct Ports<'a> {
    /// HTTP to the org.
    pub http: &'a dyn Http,
    /// Storage.
    pub store: &'a dyn Store,
    /// Clock.
    pub clock: &'a dyn Clock,
    /// Log.
    pub log: &'a dyn Log,
}
