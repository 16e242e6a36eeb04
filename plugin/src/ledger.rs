//! The ledger: how held unsubscribes, their indexes, the retry queue and the
//! audit trail are laid out in the host's key-value storage.
//!
//! One record per person (`p/`), and indexes derived from it by
//! [`index_entries`], always written in the same atomic write as the record so
//! they can never disagree:
//!
//! | key | value | meaning |
//! |---|---|---|
//! | `p/{person}` | [`PersonRecord`] JSON | everything known about the person |
//! | `h/{person}` | empty | an unsubscribe is held |
//! | `t/{L,C}/{id18}/{person}` | `c` or empty | held, naming this record; `c` once confirmed |
//! | `s/{person}` | empty | held without a valid Salesforce ID |
//! | `f/{person}` | empty | held, last attempt failed permanently |
//! | `r/{due ms, 13 digits}/{person}` | [`RetryEntry`] JSON | queued retry |
//! | `a/{person}/{seq, 12 digits}` | [`AuditEntry`] JSON | audit trail, oldest first |
//! | `n/retry-next` | JSON number or `null` | the retry queue's hint ([`RetryHint`]) |
//! | `n/...` | JSON | nightly checkpoints, reports, the audit sequence |
//!
//! Person IDs are escaped in keys (`%` and `/`) so one person's prefix never
//! covers another's.

use serde::{Deserialize, Serialize};

use crate::model::{
    AuditEntry, OwedField, RecordRef, RedirectReason, SObject, SyncError, Timestamp,
};
use crate::ports::{Store, StoreError, WriteOp};

/// Prefix of held persons.
pub const HELD: &str = "h/";
/// Prefix of held persons without a valid ID.
pub const NO_ID: &str = "s/";
/// Prefix of held persons whose last attempt failed permanently.
pub const FAILED: &str = "f/";
/// Prefix of the retry queue.
pub const RETRY: &str = "r/";
/// Key of the global audit sequence.
pub const AUDIT_SEQ: &str = "n/audit-seq";
/// Key of the retry queue's hint (see [`RetryHint`]).
pub const RETRY_NEXT: &str = "n/retry-next";

/// Everything known about one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRecord {
    /// The app's person ID.
    pub person_id: String,
    /// An unsubscribe is held.
    pub held: bool,
    /// Email, for the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Source of the held unsubscribe.
    #[serde(default)]
    pub source: String,
    /// When the held unsubscribe occurred.
    #[serde(default)]
    pub occurred_at: Timestamp,
    /// The record the app named (normalized).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salesforce_id: Option<RecordRef>,
    /// A malformed ID the app sent, kept for the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_id: Option<String>,
    /// Where writes go when the named record was converted or merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<(RecordRef, RedirectReason)>,
    /// When Salesforce last confirmed a write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<Timestamp>,
    /// Failed attempts since the last success.
    #[serde(default)]
    pub attempts: u32,
    /// The retry queue key, when queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_key: Option<String>,
    /// The last failure, when the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<SyncError>,
    /// The last failure was permanent.
    #[serde(default)]
    pub failed: bool,
    /// When the person last re-subscribed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resubscribed_at: Option<Timestamp>,
    /// Selected fields the last write could not set (missing or read-only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owed: Vec<OwedField>,
}

impl PersonRecord {
    /// A person never seen before.
    pub fn new(person_id: &str) -> Self {
        PersonRecord {
            person_id: person_id.to_string(),
            held: false,
            email: None,
            source: String::new(),
            occurred_at: 0,
            salesforce_id: None,
            invalid_id: None,
            redirect: None,
            confirmed_at: None,
            attempts: 0,
            retry_key: None,
            last_error: None,
            failed: false,
            resubscribed_at: None,
            owed: Vec::new(),
        }
    }

    /// The record a write goes to: the redirect target, else the named record.
    pub fn target(&self) -> Option<&RecordRef> {
        self.redirect
            .as_ref()
            .map(|(target, _)| target)
            .or(self.salesforce_id.as_ref())
    }
}

/// A queued retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryEntry {
    /// The person.
    pub person_id: String,
    /// Attempts so far.
    pub attempts: u32,
    /// When it was queued.
    pub queued_at: Timestamp,
}

/// Escapes a person ID for use inside a key.
pub fn escape(person_id: &str) -> String {
    let mut out = String::with_capacity(person_id.len());
    push_escaped(&mut out, person_id);
    out
}

/// Appends `person_id` escaped to `out`. Keys are built on every call, so
/// this is one pass with no intermediate strings.
fn push_escaped(out: &mut String, person_id: &str) {
    let mut rest = person_id;
    while let Some(i) = rest.find(['%', '/']) {
        out.push_str(&rest[..i]);
        out.push_str(if rest.as_bytes()[i] == b'%' {
            "%25"
        } else {
            "%2F"
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// `prefix` followed by the escaped person ID.
fn prefixed(prefix: &str, person_id: &str) -> String {
    let mut key = String::with_capacity(prefix.len() + person_id.len() + 2);
    key.push_str(prefix);
    push_escaped(&mut key, person_id);
    key
}

/// Appends `n` in decimal, zero-padded to at least `width` digits (what
/// `{:0width$}` prints), without the formatting machinery.
fn push_padded(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for _ in (digits.len() - start)..width {
        out.push('0');
    }
    for &d in &digits[start..] {
        out.push(char::from(d));
    }
}

/// Undoes [`escape`].
pub fn unescape(escaped: &str) -> String {
    escaped.replace("%2F", "/").replace("%25", "%")
}

/// The key of a person's record.
pub fn person_key(person_id: &str) -> String {
    prefixed("p/", person_id)
}

/// The prefix of one object's target index.
pub fn target_prefix(object: SObject) -> String {
    format!("t/{}/", object.tag())
}

/// A target index key.
pub fn target_key(target: &RecordRef, person_id: &str) -> String {
    let mut key = String::with_capacity(4 + target.id.len() + 1 + person_id.len() + 2);
    key.push_str("t/");
    key.push(target.object.tag());
    key.push('/');
    key.push_str(&target.id);
    key.push('/');
    push_escaped(&mut key, person_id);
    key
}

/// Splits a target index key into the record and the person.
pub fn parse_target_key(key: &str) -> Option<(RecordRef, String)> {
    let rest = key.strip_prefix("t/")?;
    let (tag, rest) = rest.split_once('/')?;
    let object = match tag {
        "L" => SObject::Lead,
        "C" => SObject::Contact,
        _ => return None,
    };
    let (id, person) = rest.split_once('/')?;
    Some((
        RecordRef {
            object,
            id: id.to_string(),
        },
        unescape(person),
    ))
}

/// A retry queue key.
pub fn retry_key(due: Timestamp, person_id: &str) -> String {
    let mut key = String::with_capacity(2 + 13 + 1 + person_id.len() + 2);
    key.push_str(RETRY);
    push_padded(&mut key, due.max(0).unsigned_abs(), 13);
    key.push('/');
    push_escaped(&mut key, person_id);
    key
}

/// The due time in a retry key.
pub fn retry_due(key: &str) -> Option<Timestamp> {
    key.strip_prefix(RETRY)?.split_once('/')?.0.parse().ok()
}

/// The prefix of a person's audit trail.
pub fn audit_prefix(person_id: &str) -> String {
    let mut key = prefixed("a/", person_id);
    key.push('/');
    key
}

/// What a push knows about the retry queue without listing it: the value of
/// [`RETRY_NEXT`], read with the person in the push's one `get-many`.
///
/// Every write that queues a retry deletes the hint (see [`queue_retry`]), and
/// removing entries can only raise the earliest due time, so a stored hint is
/// never later than the queue's earliest due retry. A push lists the queue
/// only when the hint is missing or due, which spares the listing on almost
/// every push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryHint {
    /// Not known (never stored, deleted by a queueing write, or unreadable):
    /// list to find out.
    Unknown,
    /// The queue was empty when last listed, and nothing was queued since.
    Empty,
    /// No retry is due before this time.
    NotBefore(Timestamp),
}

impl RetryHint {
    /// The hint from the stored value. An unreadable value is only a lost
    /// hint: the queue is listed, as if there were none.
    pub fn from_stored(value: Option<&[u8]>) -> Self {
        match value.map(serde_json::from_slice::<Option<Timestamp>>) {
            Some(Ok(None)) => RetryHint::Empty,
            Some(Ok(Some(due))) => RetryHint::NotBefore(due),
            None | Some(Err(_)) => RetryHint::Unknown,
        }
    }

    /// Whether a retry may be due at `now` (so the queue must be listed).
    pub fn may_be_due(self, now: Timestamp) -> bool {
        match self {
            RetryHint::Unknown => true,
            RetryHint::Empty => false,
            RetryHint::NotBefore(due) => due <= now,
        }
    }

    /// The write that stores a known hint (`None` for [`RetryHint::Unknown`],
    /// which is stored by its absence).
    pub fn store_op(self) -> Option<WriteOp> {
        let value = match self {
            RetryHint::Unknown => return None,
            RetryHint::Empty => b"null".to_vec(),
            RetryHint::NotBefore(due) => due.to_string().into_bytes(),
        };
        Some(WriteOp::Set(RETRY_NEXT.into(), value))
    }
}

/// Queues `record` for a retry due at `due`: the retry entry and the record's
/// retry key, and the deletion of the queue's hint in the same write, so the
/// hint can never claim the queue emptier than it is. Every retry is queued
/// here.
pub fn queue_retry(
    record: &mut PersonRecord,
    due: Timestamp,
    now: Timestamp,
    ops: &mut Vec<WriteOp>,
) {
    let key = retry_key(due, &record.person_id);
    ops.push(WriteOp::Set(
        key.clone(),
        serde_json::to_vec(&RetryEntry {
            person_id: record.person_id.clone(),
            attempts: record.attempts,
            queued_at: now,
        })
        .expect("retry entries serialize"),
    ));
    ops.push(WriteOp::Delete(RETRY_NEXT.into()));
    record.retry_key = Some(key);
    // Queued again: no longer a permanent failure.
    record.failed = false;
}

/// The index entries a record implies (key, value).
pub fn index_entries(record: &PersonRecord) -> Vec<(String, Vec<u8>)> {
    let mut entries = Vec::with_capacity(4);
    let person = escape(&record.person_id);
    if let Some(key) = &record.retry_key {
        // The retry entry's value is written by the caller that queues it.
        entries.push((key.clone(), Vec::new()));
    }
    if !record.held {
        return entries;
    }
    entries.push(([HELD, &person].concat(), Vec::new()));
    // Indexed by the record the app named, not a redirect target: the nightly
    // re-resolves conversions and merges on every run, so an index entry
    // never moves while a run walks the index.
    match &record.salesforce_id {
        Some(target) => {
            let confirmed = if record.confirmed_at.is_some() {
                b"c".to_vec()
            } else {
                Vec::new()
            };
            entries.push((target_key(target, &record.person_id), confirmed));
        }
        None => entries.push(([NO_ID, &person].concat(), Vec::new())),
    }
    if record.failed {
        entries.push(([FAILED, &person].concat(), Vec::new()));
    }
    entries
}

/// The writes that store `new` in place of `old`: the record and the index
/// difference. Retry entries are skipped here (their value is the caller's).
pub fn record_ops(old: Option<&PersonRecord>, new: &PersonRecord, ops: &mut Vec<WriteOp>) {
    let new_entries = index_entries(new);
    let old_entries = old.map(index_entries).unwrap_or_default();
    for (key, _) in &old_entries {
        if !new_entries.iter().any(|(k, _)| k == key) {
            ops.push(WriteOp::Delete(key.clone()));
        }
    }
    for (key, value) in new_entries {
        // Entries the old record already implied are not written again: a
        // push's second write (its outcome) then touches only what changed.
        let unchanged = old_entries.iter().any(|(k, v)| *k == key && *v == value);
        if !key.starts_with(RETRY) && !unchanged {
            ops.push(WriteOp::Set(key, value));
        }
    }
    ops.push(WriteOp::Set(
        person_key(&new.person_id),
        serde_json::to_vec(new).expect("person records serialize"),
    ));
}

/// Converts a storage failure to the WIT error.
pub fn storage_error(e: StoreError) -> SyncError {
    SyncError::StorageFailure(e.to_string())
}

/// Reads a JSON value stored under `key`.
pub fn load<T: for<'de> Deserialize<'de>>(
    store: &dyn Store,
    key: &str,
) -> Result<Option<T>, SyncError> {
    match store.get(key).map_err(storage_error)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| SyncError::StorageFailure(format!("{key} holds unreadable data: {e}"))),
    }
}

/// Reads a person's record.
pub fn load_person(store: &dyn Store, person_id: &str) -> Result<Option<PersonRecord>, SyncError> {
    load(store, &person_key(person_id))
}

/// Reads many persons' records at once.
pub fn load_persons(
    store: &dyn Store,
    person_ids: &[String],
) -> Result<Vec<Option<PersonRecord>>, SyncError> {
    let keys: Vec<String> = person_ids.iter().map(|p| person_key(p)).collect();
    store
        .get_many(&keys)
        .map_err(storage_error)?
        .into_iter()
        .zip(&keys)
        .map(|(value, key)| match value {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                SyncError::StorageFailure(format!("{key} holds unreadable data: {e}"))
            }),
        })
        .collect()
}

/// Hands out audit keys for one call. Keys carry a global sequence, so a
/// person's entries list in the order they happened; the sequence is stored
/// back with the call's last write.
pub struct AuditLog {
    next: u64,
    start: u64,
}

impl AuditLog {
    /// Loads the sequence.
    pub fn open(store: &dyn Store) -> Result<Self, SyncError> {
        let next = load::<u64>(store, AUDIT_SEQ)?.unwrap_or(0);
        Ok(AuditLog { next, start: next })
    }

    /// The sequence from the value of [`AUDIT_SEQ`] read by the caller (with
    /// other keys, in one `get-many`).
    pub fn from_stored(value: Option<&[u8]>) -> Result<Self, SyncError> {
        let next = match value {
            None => 0,
            Some(bytes) => serde_json::from_slice(bytes).map_err(|e| {
                SyncError::StorageFailure(format!("{AUDIT_SEQ} holds unreadable data: {e}"))
            })?,
        };
        Ok(AuditLog { next, start: next })
    }

    /// Adds an entry for a person to `ops`.
    pub fn append(&mut self, ops: &mut Vec<WriteOp>, person_id: &str, entry: &AuditEntry) {
        let mut key = audit_prefix(person_id);
        push_padded(&mut key, self.next, 12);
        self.next += 1;
        ops.push(WriteOp::Set(
            key,
            serde_json::to_vec(entry).expect("audit entries serialize"),
        ));
    }

    /// Adds the sequence update to `ops` if entries were appended since the
    /// last flush. Call it once per atomic write that carries entries.
    pub fn flush(&mut self, ops: &mut Vec<WriteOp>) {
        if self.next != self.start {
            ops.push(WriteOp::Set(
                AUDIT_SEQ.into(),
                self.next.to_string().into_bytes(),
            ));
            self.start = self.next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead(id: &str) -> RecordRef {
        RecordRef {
            object: SObject::Lead,
            id: id.into(),
        }
    }

    #[test]
    fn person_ids_with_slashes_do_not_share_prefixes() {
        assert_eq!(audit_prefix("abc"), "a/abc/");
        assert_eq!(audit_prefix("abc/x"), "a/abc%2Fx/");
        assert!(!audit_prefix("abc/x").starts_with(&audit_prefix("abc")));
        assert_eq!(unescape(&escape("50%/off")), "50%/off");
    }

    #[test]
    fn target_keys_round_trip() {
        let key = target_key(&lead("00Q5e00000AbCdEEAV"), "p/1");
        assert_eq!(key, "t/L/00Q5e00000AbCdEEAV/p%2F1");
        assert_eq!(
            parse_target_key(&key),
            Some((lead("00Q5e00000AbCdEEAV"), "p/1".into()))
        );
    }

    #[test]
    fn indexes_follow_the_record() {
        let mut r = PersonRecord::new("p1");
        assert!(index_entries(&r).is_empty());
        r.held = true;
        let keys: Vec<String> = index_entries(&r).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["h/p1", "s/p1"]);
        r.salesforce_id = Some(lead("00Q5e00000AbCdEEAV"));
        r.failed = true;
        let keys: Vec<String> = index_entries(&r).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["h/p1", "t/L/00Q5e00000AbCdEEAV/p1", "f/p1"]);
    }

    #[test]
    fn record_ops_delete_stale_index_entries() {
        let mut old = PersonRecord::new("p1");
        old.held = true;
        old.salesforce_id = Some(lead("00Q5e00000AbCdEEAV"));
        let mut new = old.clone();
        new.held = false;
        let mut ops = Vec::new();
        record_ops(Some(&old), &new, &mut ops);
        assert!(ops.contains(&WriteOp::Delete("h/p1".into())));
        assert!(ops.contains(&WriteOp::Delete("t/L/00Q5e00000AbCdEEAV/p1".into())));
        assert!(matches!(ops.last(), Some(WriteOp::Set(k, _)) if k == "p/p1"));
    }

    #[test]
    fn keys_are_built_as_their_format_strings_say() {
        // The keys are built by hand for speed; these are their definitions.
        let people = ["", "p1", "a/b", "100%", "%2F/%25", "ü/ß%", "//%%"];
        for person in people {
            let escaped = person.replace('%', "%25").replace('/', "%2F");
            assert_eq!(escape(person), escaped);
            assert_eq!(unescape(&escape(person)), person);
            assert_eq!(person_key(person), format!("p/{escaped}"));
            assert_eq!(audit_prefix(person), format!("a/{escaped}/"));
            for due in [
                i64::MIN,
                -1,
                0,
                7,
                1_764_561_600_000,
                99_999_999_999_999,
                i64::MAX,
            ] {
                assert_eq!(
                    retry_key(due, person),
                    format!("r/{:013}/{escaped}", due.max(0))
                );
            }
            let target = RecordRef {
                object: SObject::Contact,
                id: "0035e00000AbCdEAAV".into(),
            };
            assert_eq!(
                target_key(&target, person),
                format!("t/C/0035e00000AbCdEAAV/{escaped}")
            );
        }
        for n in [0, 1, 9, 10, 999_999_999_999, 1_000_000_000_000, u64::MAX] {
            for width in [0, 1, 12, 13, 20, 25] {
                let mut out = String::from("x");
                push_padded(&mut out, n, width);
                assert_eq!(out, format!("x{n:0width$}"), "{n} to {width}");
            }
        }
    }

    #[test]
    fn retry_keys_sort_by_due_time() {
        assert!(retry_key(9_000, "b") < retry_key(10_000, "a"));
        assert_eq!(
            retry_due(&retry_key(1_764_561_600_000, "x")),
            Some(1_764_561_600_000)
        );
    }
}
