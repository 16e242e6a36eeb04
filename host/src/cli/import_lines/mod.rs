//! Reading an `import` file a record at a time: JSON lines or CSV from any
//! buffered reader, so importing millions of rows holds one batch of events
//! in memory rather than the whole file and all its events.
//!
//! A record that cannot be read (not UTF-8, malformed, over the size cap, a
//! person ID the contract refuses) is reported with its line number and the
//! rest of the file is still read; only an unreadable CSV header, or the
//! reader itself failing, ends the file.

use std::io::{BufRead, Read};

use crate::api;
use crate::app::input::{MAX_EVENT_BYTES, unsubscribe_from_fields, unsubscribe_from_json};

/// One record of an import; `Err` carries the line number and why.
/// One record of the file: the event with the line it starts on, or the
/// line and why it is not an event.
pub type ImportLine = Result<Numbered, (usize, String)>;

/// An event and the line of the file it was read from.
#[derive(Debug)]
pub struct Numbered {
    /// The 1-based line number in the file.
    pub line: usize,
    /// The event.
    pub event: api::UnsubscribeEvent,
}

impl std::ops::Deref for Numbered {
    type Target = api::UnsubscribeEvent;
    fn deref(&self) -> &api::UnsubscribeEvent {
        &self.event
    }
}

/// The columns a CSV import may have (`person_id` is required).
const CSV_COLUMNS: [&str; 5] = [
    "person_id",
    "salesforce_id",
    "email",
    "source",
    "occurred_at",
];

/// What reading one line of JSON lines gave.
enum LineRead {
    /// The end of the input.
    End,
    /// A line that fit, in the buffer.
    Line,
    /// A line over the cap (skipped).
    TooLong,
    /// Reading failed.
    Failed(String),
}

/// Physical lines of a file, each capped at the event size: a line over
/// the cap is skipped to its end without being kept.
struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    /// Reads the next line into `self.buf`, without its line ending.
    fn next_line(&mut self) -> LineRead {
        self.buf.clear();
        let cap = MAX_EVENT_BYTES as u64 + 1;
        let n = (&mut self.reader)
            .take(cap)
            .read_until(b'\n', &mut self.buf);
        let n = match n {
            Ok(n) => n,
            Err(e) => return LineRead::Failed(format!("reading: {e}")),
        };
        if n == 0 {
            return LineRead::End;
        }
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        } else if self.buf.len() as u64 == cap {
            // Over the cap: skip to the end of the line without keeping it.
            let mut skipped = Vec::new();
            loop {
                skipped.clear();
                let n = match (&mut self.reader)
                    .take(64 << 10)
                    .read_until(b'\n', &mut skipped)
                {
                    Ok(n) => n,
                    Err(e) => return LineRead::Failed(format!("reading: {e}")),
                };
                if n == 0 || skipped.last() == Some(&b'\n') {
                    break;
                }
            }
            self.buf.clear();
            return LineRead::TooLong;
        }
        LineRead::Line
    }
}

/// JSON lines: one event per line.
pub struct JsonLines<R> {
    lines: Lines<R>,
    now_ms: i64,
    line: usize,
    done: bool,
}

/// Reads JSON lines from `reader`, one event per non-blank line.
pub fn read_jsonl<R: BufRead>(reader: R, now_ms: i64) -> JsonLines<R> {
    JsonLines {
        lines: Lines {
            reader,
            buf: Vec::new(),
        },
        now_ms,
        line: 0,
        done: false,
    }
}

impl<R: BufRead> Iterator for JsonLines<R> {
    type Item = ImportLine;

    fn next(&mut self) -> Option<ImportLine> {
        while !self.done {
            self.line += 1;
            let line = self.line;
            match self.lines.next_line() {
                LineRead::End => self.done = true,
                LineRead::Line => {
                    let text = match std::str::from_utf8(&self.lines.buf) {
                        Ok(text) => text,
                        Err(e) => {
                            return Some(Err((
                                line,
                                format!(
                                    "the line is not UTF-8 (invalid byte at offset {})",
                                    e.valid_up_to()
                                ),
                            )));
                        }
                    };
                    if text.trim().is_empty() {
                        continue;
                    }
                    return Some(
                        unsubscribe_from_json(text, self.now_ms, "import")
                            .map(|event| Numbered { line, event })
                            .map_err(|e| (line, e)),
                    );
                }
                LineRead::TooLong => {
                    return Some(Err((
                        line,
                        format!(
                            "the line is longer than {} MiB; an event is one small JSON object",
                            MAX_EVENT_BYTES >> 20
                        ),
                    )));
                }
                LineRead::Failed(why) => {
                    self.done = true;
                    return Some(Err((line, why)));
                }
            }
        }
        None
    }
}

/// The header line read ahead of the CSV parser, then the rest of the input.
/// CSV records, one per line.
pub struct CsvLines<R> {
    lines: Lines<R>,
    columns: CsvColumns,
    /// How many columns the header has: every record must have as many.
    width: usize,
    now_ms: i64,
    line: usize,
    done: bool,
}

struct CsvColumns {
    person: usize,
    salesforce_id: Option<usize>,
    email: Option<usize>,
    source: Option<usize>,
    occurred_at: Option<usize>,
}

/// Reads CSV from `reader`: a header row naming the columns `person_id`
/// (required), `salesforce_id`, `email`, `source` and `occurred_at` (in
/// any order), then one event per line. Values are trimmed and may be
/// quoted (RFC 4180: commas and doubled quotes inside quotes), but a record
/// is one line: a quote left open at the end of its line is refused by that
/// line's number rather than read on into the rows after it, as is a record
/// with more or fewer values than the header. Blank lines are skipped; a
/// file with nothing else holds no events. `Err` for a header that cannot
/// be used.
pub fn read_csv<R: BufRead>(reader: R, now_ms: i64) -> Result<CsvLines<R>, String> {
    let mut lines = Lines {
        reader,
        buf: Vec::new(),
    };
    let mut line = 0;
    // The header is the first line that is not blank.
    let headers = loop {
        line += 1;
        match lines.next_line() {
            LineRead::End => break None,
            LineRead::Failed(why) => return Err(why),
            LineRead::TooLong => return Err("the CSV header line is too long".into()),
            LineRead::Line if lines.buf.iter().all(u8::is_ascii_whitespace) => continue,
            LineRead::Line => {
                break Some(split_record(&lines.buf).map_err(|e| format!("CSV header: {e}"))?);
            }
        }
    };
    let (columns, width, done) = match headers {
        None => (None, 0, true),
        Some(fields) => {
            let headers: Vec<String> = fields
                .into_iter()
                .map(|h| {
                    String::from_utf8(h).map_err(|_| "the CSV header is not UTF-8".to_string())
                })
                .collect::<Result<_, _>>()?;
            (Some(csv_columns(&headers)?), headers.len(), false)
        }
    };
    Ok(CsvLines {
        lines,
        columns: columns.unwrap_or(CsvColumns {
            person: 0,
            salesforce_id: None,
            email: None,
            source: None,
            occurred_at: None,
        }),
        width,
        now_ms,
        line,
        done,
    })
}

/// The values of one CSV line, unquoted and trimmed; refused when a quote
/// is left open (the line's quotes do not pair up).
fn split_record(line: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    // In RFC 4180 a quote inside a quoted value is doubled, so a record on
    // one line always holds an even number of quote characters.
    if line.iter().filter(|b| **b == b'"').count() % 2 == 1 {
        return Err(
            "a quote is left open at the end of the line (a value cannot span lines): \
             close it, or double a quote inside a quoted value"
                .into(),
        );
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(line);
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => Ok(record.iter().map(<[u8]>::to_vec).collect()),
        Ok(false) => Ok(Vec::new()),
        Err(e) => Err(e.to_string()),
    }
}

/// Finds the known columns in a header; refuses unknown, repeated or
/// missing ones.
fn csv_columns(headers: &[String]) -> Result<CsvColumns, String> {
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    if let Some(unknown) = headers
        .iter()
        .find(|h| !CSV_COLUMNS.iter().any(|k| k.eq_ignore_ascii_case(h)))
    {
        return Err(format!(
            "the CSV header has an unknown column {unknown:?} (expected {})",
            CSV_COLUMNS.join(", ")
        ));
    }
    if let Some((i, twice)) = headers.iter().enumerate().find(|(i, h)| {
        headers
            .iter()
            .take(*i)
            .any(|earlier| earlier.eq_ignore_ascii_case(h))
    }) {
        return Err(format!(
            "the CSV header names the column {twice:?} twice (column {})",
            i + 1
        ));
    }
    Ok(CsvColumns {
        person: col("person_id").ok_or("the CSV header has no person_id column")?,
        salesforce_id: col("salesforce_id"),
        email: col("email"),
        source: col("source"),
        occurred_at: col("occurred_at"),
    })
}

impl<R: BufRead> CsvLines<R> {
    /// The event in one line's values, or why it is not one.
    fn event(&self, values: &[Vec<u8>]) -> Result<api::UnsubscribeEvent, String> {
        if values.len() != self.width {
            return Err(format!(
                "the record has {} values; the header names {} columns",
                values.len(),
                self.width
            ));
        }
        let get = |c: Option<usize>| -> Result<Option<String>, String> {
            match c.and_then(|c| values.get(c)) {
                None => Ok(None),
                Some(bytes) => String::from_utf8(bytes.clone()).map(Some).map_err(|e| {
                    format!(
                        "the record is not UTF-8 (invalid byte at offset {} of a value)",
                        e.utf8_error().valid_up_to()
                    )
                }),
            }
        };
        let c = &self.columns;
        unsubscribe_from_fields(
            get(Some(c.person))?.unwrap_or_default(),
            get(c.salesforce_id)?,
            get(c.email)?,
            get(c.source)?,
            get(c.occurred_at)?,
            self.now_ms,
        )
    }
}

impl<R: BufRead> Iterator for CsvLines<R> {
    type Item = ImportLine;

    fn next(&mut self) -> Option<ImportLine> {
        while !self.done {
            self.line += 1;
            let line = self.line;
            match self.lines.next_line() {
                LineRead::End => self.done = true,
                LineRead::Failed(why) => {
                    self.done = true;
                    return Some(Err((line, why)));
                }
                LineRead::TooLong => {
                    return Some(Err((
                        line,
                        format!(
                            "the record is longer than {} MiB; an event is a few small values",
                            MAX_EVENT_BYTES >> 20
                        ),
                    )));
                }
                LineRead::Line if self.lines.buf.iter().all(u8::is_ascii_whitespace) => {}
                LineRead::Line => {
                    let read = split_record(&self.lines.buf)
                        .map_err(|e| format!("CSV: {e}"))
                        .and_then(|values| self.event(&values));
                    return Some(
                        read.map(|event| Numbered { line, event })
                            .map_err(|e| (line, e)),
                    );
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;
