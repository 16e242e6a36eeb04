//! The fuzz targets' bodies and the invariants they check, shared by the
//! `cargo fuzz` targets (this file is the fuzz crate's library) and by the
//! plugin's `fuzz_corpus` test, which includes it with `#[path]` and replays
//! the committed corpora through the same functions on stable Rust.
//!
//! Every check panics on a broken invariant: libFuzzer turns a panic into a
//! crash artifact, the replay test into a failure naming the corpus file.
//! Depends only on the plugin, `serde_json` and `csv`, which both users have.
//!
//! Where an invariant could be checked with the plugin's own helper (the ID
//! checksum, SOQL escaping, CSV quoting), it is re-derived here independently,
//! so a bug in the helper cannot hide behind itself.

use unsubscribe_sync_plugin::intake::{self, CleanEvent, Intake};
use unsubscribe_sync_plugin::ledger::PersonRecord;
use unsubscribe_sync_plugin::model::{
    AuditEntry, RecordRef, ResubscribeEvent, SObject, Settings, SyncError, Timestamp,
    UnsubscribeEvent,
};
use unsubscribe_sync_plugin::salesforce::bulk::UpdateCsv;
use unsubscribe_sync_plugin::salesforce::soql;
use unsubscribe_sync_plugin::{schedule, settings, sfid};

/// A target's body: checks one input, panicking on a broken invariant.
pub type Target = fn(&[u8]);

/// Every target: its name (the `fuzz_targets/<name>.rs` file and the
/// `corpus/<name>/` directory) and its body.
pub const TARGETS: [(&str, Target); 4] = [
    ("event_decoding", event_decoding),
    ("settings_decoding", settings_decoding),
    ("soql_builder", soql_builder),
    ("csv_builder", csv_builder),
];

/// The time events are received at: 2026-05-28T20:26:40Z.
pub const NOW: Timestamp = 1_780_000_000_000;
/// 2000-01-01T00:00:00Z: the plugin replaces earlier event times.
const EARLIEST_PLAUSIBLE: Timestamp = 946_684_800_000;
/// The plugin tolerates event times up to a day ahead of `NOW`.
const FUTURE_SKEW_MS: Timestamp = 24 * 3_600_000;
const HOUR_MS: Timestamp = 3_600_000;

// ---------------------------------------------------------------- events --

/// Bytes → unsubscribe and re-subscribe events → the intake path.
pub fn event_decoding(data: &[u8]) {
    if let Ok(event) = serde_json::from_slice::<UnsubscribeEvent>(data) {
        check_unsubscribe(&event);
    }
    if let Ok(event) = serde_json::from_slice::<ResubscribeEvent>(data) {
        check_resubscribe(&event);
    }
}

/// `clean`, then `apply` on a fresh record: only a bad person ID rejects an
/// event; a kept email or source has no control characters and fits its
/// limit; a kept time is plausible; an accepted ID is well formed (see
/// [`check_accepted_id`]) and a rejected one is reported; what is stored
/// reads back; applying the event again or after a re-subscribe changes
/// nothing.
pub fn check_unsubscribe(event: &UnsubscribeEvent) {
    let clean = match intake::clean(event, NOW) {
        Ok(clean) => clean,
        Err(e) => {
            // Only the person ID may reject an event: anything else is repaired.
            assert!(
                matches!(e, SyncError::InvalidEvent(_)),
                "clean failed: {e:?}"
            );
            assert!(
                !person_id_ok(&event.person_id),
                "good person ID rejected: {e}"
            );
            return;
        }
    };
    assert!(person_id_ok(&clean.person_id), "bad person ID accepted");
    assert_eq!(clean.person_id, event.person_id);
    check_source(&clean.source);
    if let Some(email) = &clean.email {
        assert!(!email.is_empty(), "empty email kept");
        assert!(
            email.chars().count() <= intake::MAX_EMAIL_CHARS,
            "long email kept"
        );
        assert!(
            !email.chars().any(char::is_control),
            "control character in {email:?}"
        );
    }
    check_time(event.occurred_at, event.received_at, clean.occurred_at);

    let mut record = PersonRecord::new(&clean.person_id);
    let (outcome, audit) = intake::apply(&mut record, &clean, NOW);
    let Intake::Held {
        added, id_problem, ..
    } = &outcome
    else {
        panic!("a fresh record did not hold the unsubscribe: {outcome:?}");
    };
    assert!(*added && record.held);
    assert_eq!(record.email, clean.email);
    assert_eq!(record.occurred_at, clean.occurred_at);
    match (&clean.salesforce_id, &record.salesforce_id) {
        (Some(raw), Some(id)) => {
            check_accepted_id(raw, id);
            assert!(id_problem.is_none());
        }
        (Some(raw), None) => {
            assert!(
                id_problem.is_some(),
                "ID {raw:?} neither accepted nor reported"
            );
            assert!(sfid::parse(raw).is_err());
            assert!(!id_must_be_accepted(raw), "valid ID {raw:?} rejected");
        }
        (None, id) => assert!(id.is_none() && id_problem.is_none()),
    }
    for entry in &audit {
        if let Some(id) = &entry.record {
            assert_eq!(Some(id), record.salesforce_id.as_ref());
        }
    }
    check_stored_json(&record, &audit);

    // The same event again changes nothing (webhooks are retried).
    let before = record.clone();
    let (again, _) = intake::apply(&mut record, &clean, NOW);
    assert!(
        matches!(
            again,
            Intake::Held {
                added: false,
                changed: false,
                ..
            }
        ),
        "{again:?}"
    );
    assert_eq!(record, before);

    // A re-subscribe at the same instant wins over the unsubscribe.
    check_stale(&clean);
}

/// A re-subscribe runs the same person-ID, source and time checks.
pub fn check_resubscribe(event: &ResubscribeEvent) {
    if intake::check_person_id(&event.person_id).is_err() {
        assert!(!person_id_ok(&event.person_id), "good person ID rejected");
        return;
    }
    assert!(person_id_ok(&event.person_id), "bad person ID accepted");
    check_source(&intake::clean_source(&event.source, &mut Vec::new()));
    check_time(
        event.occurred_at,
        event.received_at,
        intake::event_time(event.occurred_at, event.received_at, NOW, &mut Vec::new()),
    );
}

fn check_stale(clean: &CleanEvent) {
    let mut record = PersonRecord::new(&clean.person_id);
    record.resubscribed_at = Some(clean.occurred_at);
    let before = record.clone();
    let (outcome, _) = intake::apply(&mut record, clean, NOW);
    assert_eq!(outcome, Intake::Stale(clean.occurred_at));
    assert_eq!(record, before, "a stale unsubscribe changed the record");
}

/// What `intake::check_person_id` must accept, restated.
fn person_id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.chars().count() <= intake::MAX_PERSON_ID_CHARS
        && !id.chars().any(char::is_control)
}

fn check_source(source: &str) {
    assert!(
        source.chars().count() <= intake::MAX_SOURCE_CHARS,
        "long source kept"
    );
    assert!(
        !source.chars().any(char::is_control),
        "control character in {source:?}"
    );
}

/// A cleaned time is the event's own if plausible (after 2000, at most a day
/// after its receipt), else the time received; the time received is the
/// host's if plausible (at most a day after the call), else the call's.
fn check_time(raw: Option<Timestamp>, received: Timestamp, cleaned: Timestamp) {
    let plausible = |t: Timestamp, reference: Timestamp| {
        (EARLIEST_PLAUSIBLE..=reference.saturating_add(FUTURE_SKEW_MS)).contains(&t)
    };
    let received = if plausible(received, NOW) {
        received
    } else {
        NOW
    };
    let expected = match raw {
        Some(t) if plausible(t, received) => t,
        _ => received,
    };
    assert_eq!(
        cleaned, expected,
        "occurred-at {raw:?} cleaned to {cleaned}"
    );
}

/// An accepted ID is 18 ASCII alphanumerics with a valid checksum and the
/// prefix of its object, and names the same record as the raw value.
pub fn check_accepted_id(raw: &str, id: &RecordRef) {
    let s = id.id.as_str();
    assert_eq!(s.len(), 18, "accepted ID {s:?} is not 18 characters");
    assert!(
        s.bytes().all(|b| b.is_ascii_alphanumeric()),
        "accepted ID {s:?}"
    );
    assert_eq!(
        &s[15..],
        checksum(&s[..15]),
        "accepted ID {s:?} has a bad checksum"
    );
    assert!(
        s.starts_with(id.object.key_prefix()),
        "{s:?} is not a {:?}",
        id.object
    );
    let trimmed = raw.trim_matches(|c: char| c.is_ascii_whitespace());
    match trimmed.len() {
        15 => assert_eq!(&s[..15], trimmed, "a 15-character ID's case changed"),
        18 => assert!(s.eq_ignore_ascii_case(trimmed), "{raw:?} became {s:?}"),
        _ => panic!("{raw:?} accepted although it is not 15 or 18 characters"),
    }
}

/// Whether an ID must be accepted: a Lead or Contact prefix and 15 ASCII
/// alphanumerics, or 18 whose suffix is the checksum of the first 15
/// (surrounding ASCII whitespace aside).
fn id_must_be_accepted(raw: &str) -> bool {
    let id = raw.trim_matches(|c: char| c.is_ascii_whitespace());
    id.bytes().all(|b| b.is_ascii_alphanumeric())
        && (id.starts_with("00Q") || id.starts_with("003"))
        && (id.len() == 15 || (id.len() == 18 && id[15..] == checksum(&id[..15])))
}

/// The 18-character suffix of a 15-character ID: per 5-character chunk, a
/// bit per upper-case letter (first character = lowest bit), as a letter
/// `A`–`Z` or digit `0`–`5`. Written independently of `sfid::checksum_suffix`.
fn checksum(id15: &str) -> String {
    id15.as_bytes()
        .chunks(5)
        .map(|chunk| {
            let bits = (0..5)
                .filter(|&i| chunk[i].is_ascii_uppercase())
                .map(|i| 1u8 << i)
                .sum::<u8>();
            (if bits < 26 {
                b'A' + bits
            } else {
                b'0' + bits - 26
            }) as char
        })
        .collect()
}

/// What the ledger stores must serialize and read back unchanged (the
/// ledger `expect`s the serialization).
fn check_stored_json(record: &PersonRecord, audit: &[AuditEntry]) {
    let bytes = serde_json::to_vec(record).expect("person records serialize");
    let back: PersonRecord = serde_json::from_slice(&bytes).expect("person records read back");
    assert_eq!(&back, record);
    serde_json::to_vec(audit).expect("audit entries serialize");
}

// -------------------------------------------------------------- settings --

/// Bytes → settings → `validate`, and what valid settings are used for.
pub fn settings_decoding(data: &[u8]) {
    let Ok(s) = serde_json::from_slice::<Settings>(data) else {
        return;
    };
    let valid = settings::validate(&s);
    if let Err(e) = &valid {
        assert!(matches!(e, SyncError::InvalidSettings(_)), "{e:?}");
    }
    // The host asks for the next run even with otherwise invalid settings.
    for after in instants(data) {
        check_next_nightly(&s, after);
    }
    if valid.is_err() {
        return;
    }
    let version = settings::api_version_number(&s.api_version).expect("validated");
    assert!((42..=999).contains(&version));
    let fields = settings::fields_to_write(&s);
    assert!(!fields.is_empty(), "valid settings write no field");
    for f in &fields {
        assert!(
            soql::is_identifier(f),
            "field {f:?} is not a SOQL identifier"
        );
    }
    // Valid settings feed the builders: their output must be well formed too.
    let id = "0035e00000XyZaBAAV";
    check_csv(&fields, &[id.to_string()]);
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    check_query(&s.api_version, false, &fields, SObject::Contact, &[id]);
}

/// `next_nightly` is strictly after its input and at most two local days
/// later (a zone may skip a whole day, as Samoa did in 2011).
fn check_next_nightly(s: &Settings, after: Timestamp) {
    match schedule::next_nightly(&s.schedule, after) {
        Ok(due) => {
            assert!(due > after, "next_nightly({after}) = {due} is not after it");
            assert!(
                due - after <= 50 * HOUR_MS,
                "next_nightly({after}) = {due} is too late"
            );
        }
        Err(e) => {
            assert!(matches!(e, SyncError::InvalidSettings(_)), "{e:?}");
            // Only a bad schedule or an instant chrono cannot represent fails.
            let realistic = (-5_000_000_000_000..=10_000_000_000_000).contains(&after);
            assert!(
                schedule::validate(&s.schedule).is_err() || !realistic,
                "next_nightly({after}) failed on a valid schedule: {e}"
            );
        }
    }
}

/// The instants `next_nightly` is asked about: fixed ones (DST switches,
/// Samoa's skipped day, the ends of `i64`), one derived from the input so the
/// fuzzer explores times as well as schedules, and the document's own
/// `"next_nightly_after"` number if it has one (`Settings` ignores unknown
/// keys), so a seed can pin an exact instant.
fn instants(data: &[u8]) -> Vec<Timestamp> {
    // FNV-1a: a stable, dependency-free hash; the same input, the same instant.
    let hash = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let span = 200 * 365 * 24 * HOUR_MS; // 1900 to 2100
    let derived = -2_208_988_800_000 + (hash % span as u64) as Timestamp;
    let mut instants = vec![
        derived,
        NOW,
        0,
        -1,
        1_772_928_000_000,   // 2026-03-08T00:00Z, US spring-forward day
        1_793_491_200_000,   // 2026-11-01T00:00Z, US fall-back day
        1_774_746_000_000,   // 2026-03-29T01:00Z, EU spring-forward instant
        1_325_152_800_000,   // 2011-12-29T10:00Z, Samoa skips 30 December
        253_402_300_799_999, // 9999-12-31T23:59:59.999Z
        Timestamp::MAX,
        Timestamp::MIN,
    ];
    let pinned = serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .and_then(|doc| doc.get("next_nightly_after")?.as_i64());
    instants.extend(pinned);
    instants
}

// ------------------------------------------------------------------ SOQL --

/// Splits fuzz bytes into groups of strings. Byte `0xFE` ends a group and
/// `0xFF` ends an item (a trailing item needs no terminator). Neither byte
/// occurs in UTF-8, so every string is expressible; any other invalid UTF-8
/// becomes U+FFFD, since the builders take `&str`.
pub fn groups(data: &[u8]) -> Vec<Vec<String>> {
    data.split(|&b| b == 0xFE)
        .map(|group| {
            let mut items: Vec<String> = group
                .split(|&b| b == 0xFF)
                .map(|item| String::from_utf8_lossy(item).into_owned())
                .collect();
            if items.last().is_some_and(String::is_empty) {
                items.pop();
            }
            items
        })
        .collect()
}

/// Input: a flags byte (bit 0: Contact, not Lead; bit 1: `queryAll`; bits
/// 2–4: how many times, 1 to 8, the ID list repeats, so 200-ID chunks are
/// reached with small inputs), then the groups fields and IDs. Fields that
/// are not identifiers are skipped: `select_by_ids` only takes fields from
/// validated settings and asserts so.
pub fn soql_builder(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut g = groups(rest).into_iter();
    let fields: Vec<String> = g.next().unwrap_or_default();
    let once: Vec<String> = g.next().unwrap_or_default();
    let object = if flags & 1 == 0 {
        SObject::Lead
    } else {
        SObject::Contact
    };
    let all = flags & 2 != 0;
    let repeat = 1 + usize::from((flags >> 2) & 7);

    for value in fields.iter().chain(&once) {
        let quoted = soql::quote(value);
        let (decoded, rest) =
            scan_literal(&quoted).unwrap_or_else(|e| panic!("quote({value:?}) = {quoted:?}: {e}"));
        assert!(
            rest.is_empty(),
            "quote({value:?}) = {quoted:?} is more than one literal"
        );
        assert_eq!(
            decoded,
            literal_value(value),
            "quote({value:?}) = {quoted:?}"
        );
    }
    let mut fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    fields.retain(|f| soql::is_identifier(f));
    if fields.is_empty() {
        fields.push("Id");
    }
    let ids: Vec<&str> = (0..repeat)
        .flat_map(|_| once.iter().map(String::as_str))
        .collect();
    check_query("62.0", all, &fields, object, &ids);
}

/// Chunks `ids` and checks every chunk's query and path: order and count
/// kept, at most 200 IDs, and within the URI limit unless one ID alone
/// exceeds it.
fn check_query(version: &str, all: bool, fields: &[&str], object: SObject, ids: &[&str]) {
    let chunks = soql::chunk_ids(version, fields, object, ids);
    let flat: Vec<&str> = chunks.iter().flatten().copied().collect();
    assert_eq!(flat, ids, "chunks lost, added or reordered IDs");
    for chunk in &chunks {
        assert!(!chunk.is_empty(), "empty chunk");
        assert!(
            chunk.len() <= soql::MAX_IDS_PER_QUERY,
            "chunk of {} IDs",
            chunk.len()
        );
        let soql = soql::select_by_ids(fields, object, chunk);
        check_select(&soql, fields, object, chunk);
        // The nightly sends chunks as `query` or `queryAll`: both must fit.
        let path = soql::query_path(version, all, &soql);
        check_path(&path, version, all, &soql);
        assert!(
            path.len() <= soql::MAX_ENCODED_URI_BYTES || chunk.len() == 1,
            "a chunk of {} IDs has a {}-byte path",
            chunk.len(),
            path.len()
        );
    }
}

/// The query is exactly the fixed text around one literal per ID, separated
/// by commas: nothing an ID contains can end its literal early.
fn check_select(soql: &str, fields: &[&str], object: SObject, ids: &[&str]) {
    let head = format!(
        "SELECT {} FROM {} WHERE Id IN (",
        fields.join(", "),
        object.api_name()
    );
    let mut rest = soql
        .strip_prefix(head.as_str())
        .unwrap_or_else(|| panic!("{soql:?} does not start with {head:?}"));
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            rest = rest
                .strip_prefix(',')
                .unwrap_or_else(|| panic!("no comma before ID {i} in {soql:?}"));
        }
        let (value, after) = scan_literal(rest).unwrap_or_else(|e| panic!("ID {i}: {e}"));
        assert_eq!(value, literal_value(id), "ID {i} in {soql:?}");
        rest = after;
    }
    assert_eq!(rest, ")", "trailing text in {soql:?}");
}

/// Reads the SOQL string literal at the start of `s`: a `'`, characters with
/// `\` escapes (no raw control characters, no unknown escapes), a closing
/// `'`. Returns its value and the text after it.
pub fn scan_literal(s: &str) -> Result<(String, &str), String> {
    let mut chars = s.char_indices();
    if !matches!(chars.next(), Some((_, '\''))) {
        return Err("does not start with a quote".into());
    }
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' => return Ok((value, &s[i + 1..])),
            '\\' => value.push(match chars.next().map(|(_, e)| e) {
                Some('n') => '\n',
                Some('r') => '\r',
                Some('t') => '\t',
                Some('b') => '\u{8}',
                Some('f') => '\u{c}',
                Some(e @ ('\\' | '\'' | '"')) => e,
                other => return Err(format!("bad escape {other:?} at byte {i}")),
            }),
            c if c.is_control() => return Err(format!("raw control character {c:?}")),
            c => value.push(c),
        }
    }
    Err("unterminated literal".into())
}

/// The value a quoted literal must hold: the input minus the control
/// characters SOQL has no escape for.
fn literal_value(value: &str) -> String {
    value
        .chars()
        .filter(|&c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\u{8}' | '\u{c}'))
        .collect()
}

/// A query path is the fixed resource, then `?q=` and only unreserved
/// characters and `%XX`, which decode back to the query exactly.
fn check_path(path: &str, version: &str, all: bool, soql: &str) {
    let resource = if all { "queryAll" } else { "query" };
    let head = format!("/services/data/v{version}/{resource}?q=");
    let encoded = path
        .strip_prefix(head.as_str())
        .unwrap_or_else(|| panic!("{path:?} does not start with {head:?}"));
    let mut decoded = Vec::with_capacity(encoded.len());
    let mut bytes = encoded.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => decoded.push(b),
            b'%' => {
                let hex = |d: Option<u8>| match d {
                    Some(d @ b'0'..=b'9') => d - b'0',
                    Some(d @ b'A'..=b'F') => d - b'A' + 10,
                    _ => panic!("bad %-escape in {path:?}"),
                };
                let hi = hex(bytes.next());
                decoded.push(hi * 16 + hex(bytes.next()));
            }
            _ => panic!("unencoded byte {:?} in {path:?}", b as char),
        }
    }
    assert_eq!(
        decoded,
        soql.as_bytes(),
        "{path:?} does not decode to the query"
    );
}

// ------------------------------------------------------------------- CSV --

/// Input: the groups field names and IDs. The Bulk update CSV must read
/// back, with the `csv` crate and with a strict RFC 4180 reader, as exactly
/// the header `Id,<fields>` and one `<id>,true…` row per ID.
pub fn csv_builder(data: &[u8]) {
    let mut g = groups(data).into_iter();
    let fields = g.next().unwrap_or_default();
    let ids = g.next().unwrap_or_default();
    check_csv(&fields, &ids);
}

fn check_csv(fields: &[String], ids: &[String]) {
    let mut csv = UpdateCsv::new(fields, ids.len());
    for id in ids {
        csv.push(id);
    }
    assert_eq!(csv.rows(), ids.len() as u64);
    let bytes = csv.finish();

    let mut expected = vec![
        std::iter::once("Id")
            .chain(fields.iter().map(String::as_str))
            .collect(),
    ];
    for id in ids {
        let mut row = vec![id.as_str()];
        row.extend(std::iter::repeat_n("true", fields.len()));
        expected.push(row);
    }
    assert_eq!(
        read_back(&bytes),
        expected,
        "the csv crate read back other records"
    );
    let strict = strict_csv(&bytes).unwrap_or_else(|e| {
        panic!(
            "not strict RFC 4180: {e}: {:?}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_eq!(strict, expected, "a strict reader read back other records");
}

/// Reads CSV back with the `csv` crate's defaults (RFC 4180, any line end).
fn read_back(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|r| {
            let record = r.expect("the csv crate reads the CSV back");
            record.iter().map(String::from).collect()
        })
        .collect()
}

/// Reads RFC 4180 CSV with LF line ends (what the Bulk job declares): a field
/// is either bare (no `"`, `,`, CR or LF) or quoted with `""` for a quote,
/// and every record ends with LF. Stricter than the `csv` crate, which
/// accepts a stray quote inside a bare field.
pub fn strict_csv(bytes: &[u8]) -> Result<Vec<Vec<String>>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("unterminated quoted field".into()),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                match c {
                    ',' | '\n' => break,
                    '"' | '\r' => return Err(format!("{c:?} in a bare field")),
                    c => field.push(c),
                }
                chars.next();
            }
        }
        record.push(field);
        match chars.next() {
            Some(',') => {}
            Some('\n') => records.push(std::mem::take(&mut record)),
            other => return Err(format!("{other:?} after a field")),
        }
    }
    if !record.is_empty() {
        return Err("last record has no line end".into());
    }
    Ok(records)
}
