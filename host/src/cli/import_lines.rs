//! Reading an `import` file a record at a time: JSON lines or CSV from any
//! buffered reader, so importing millions of rows holds one batch of events
//! in memory rather than the whole file and all its events.
//!
//! A record that cannot be read (not UTF-8, malformed, over the size cap, a
//! person ID the contract refuses) is reported with its line number and the
//! rest of the file is still read; only an unreadable CSV header, or the
//! reader itself failing, ends the file.

use std::io::{BufRead, Read};

use super::input::{MAX_EVENT_BYTES, unsubscribe_from_fields, unsubscribe_from_json};
use crate::api;

/// One record of an import; `Err` carries the line number and why.
pub type ImportLine = Result<api::UnsubscribeEvent, (usize, String)>;

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

/// JSON lines (one unsubscribe per line; blank lines skipped), read lazily.
pub struct JsonLines<R> {
    reader: R,
    now_ms: i64,
    line: usize,
    buf: Vec<u8>,
    done: bool,
}

/// Reads JSON lines from `reader`.
pub fn read_jsonl<R: BufRead>(reader: R, now_ms: i64) -> JsonLines<R> {
    JsonLines {
        reader,
        now_ms,
        line: 0,
        buf: Vec::new(),
        done: false,
    }
}

impl<R: BufRead> JsonLines<R> {
    /// Reads the next line into `buf` (without its line break), at most
    /// [`MAX_EVENT_BYTES`] of it; a longer line is skipped to its end.
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

impl<R: BufRead> Iterator for JsonLines<R> {
    type Item = ImportLine;

    fn next(&mut self) -> Option<ImportLine> {
        while !self.done {
            self.line += 1;
            let line = self.line;
            match self.next_line() {
                LineRead::End => self.done = true,
                LineRead::Line => {
                    let text = match std::str::from_utf8(&self.buf) {
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
                        unsubscribe_from_json(text, self.now_ms, "import").map_err(|e| (line, e)),
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
pub type HeaderThenRest<R> = std::io::Chain<std::io::Cursor<Vec<u8>>, R>;

/// CSV records after the header, read lazily.
pub struct CsvLines<R> {
    reader: csv::Reader<R>,
    columns: CsvColumns,
    now_ms: i64,
    /// Blank lines skipped before the header, added to the reader's line
    /// numbers.
    line_offset: usize,
    record: csv::ByteRecord,
    done: bool,
}

/// Where each known column is.
struct CsvColumns {
    person: usize,
    salesforce_id: Option<usize>,
    email: Option<usize>,
    source: Option<usize>,
    occurred_at: Option<usize>,
}

/// Reads CSV from `reader`: a header row naming the columns `person_id`
/// (required), `salesforce_id`, `email`, `source`, `occurred_at` (any case,
/// any order), then one event per record. Values are trimmed and may be
/// quoted (RFC 4180: commas, quotes and line breaks inside quotes); a
/// record's line number is where it starts. Blank lines before the header
/// are skipped; a file with nothing else holds no events. `Err` for a header
/// that cannot be used.
pub fn read_csv<R: BufRead>(
    mut reader: R,
    now_ms: i64,
) -> Result<CsvLines<HeaderThenRest<R>>, String> {
    // The header is the first line that is not blank.
    let mut header_line = Vec::new();
    let mut skipped = 0;
    loop {
        header_line.clear();
        let n = (&mut reader)
            .take(MAX_EVENT_BYTES as u64 + 1)
            .read_until(b'\n', &mut header_line)
            .map_err(|e| format!("reading: {e}"))?;
        if n == 0 || !header_line.iter().all(u8::is_ascii_whitespace) {
            break;
        }
        skipped += 1;
    }
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(std::io::Cursor::new(header_line).chain(reader));
    let headers = csv
        .byte_headers()
        .map_err(|e| format!("CSV header: {e}"))?
        .clone();
    let headers: Vec<String> = headers
        .iter()
        .map(|h| {
            String::from_utf8(h.to_vec()).map_err(|_| "the CSV header is not UTF-8".to_string())
        })
        .collect::<Result<_, _>>()?;
    let columns = if headers.is_empty() {
        // An empty (or all blank) file: no events.
        None
    } else {
        Some(csv_columns(&headers)?)
    };
    Ok(CsvLines {
        reader: csv,
        done: columns.is_none(),
        columns: columns.unwrap_or(CsvColumns {
            person: 0,
            salesforce_id: None,
            email: None,
            source: None,
            occurred_at: None,
        }),
        now_ms,
        line_offset: skipped,
        record: csv::ByteRecord::new(),
    })
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

impl<R: Read> CsvLines<R> {
    /// The event in `self.record`, or why it is not one.
    fn event(&self) -> Result<api::UnsubscribeEvent, String> {
        if self.record.as_slice().len() > MAX_EVENT_BYTES {
            return Err(format!(
                "the record is longer than {} MiB; an event is a few small values",
                MAX_EVENT_BYTES >> 20
            ));
        }
        let get = |c: Option<usize>| -> Result<Option<String>, String> {
            match c.and_then(|c| self.record.get(c)) {
                None => Ok(None),
                Some(bytes) => String::from_utf8(bytes.to_vec()).map(Some).map_err(|e| {
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

impl<R: Read> Iterator for CsvLines<R> {
    type Item = ImportLine;

    fn next(&mut self) -> Option<ImportLine> {
        if self.done {
            return None;
        }
        let line = self.reader.position().line() as usize + self.line_offset;
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => {
                self.done = true;
                None
            }
            Ok(true) => {
                let line = self
                    .record
                    .position()
                    .map_or(line, |p| p.line() as usize + self.line_offset);
                Some(self.event().map_err(|e| (line, e)))
            }
            Err(e) => {
                let line = e
                    .position()
                    .map_or(line, |p| p.line() as usize + self.line_offset);
                // A record with the wrong number of fields is skipped; any
                // other reader error cannot be resumed safely.
                if !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) {
                    self.done = true;
                }
                Some(Err((line, format!("CSV: {e}"))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_lines(text: &[u8], now: i64) -> Result<Vec<ImportLine>, String> {
        read_csv(text, now).map(Iterator::collect)
    }

    fn jsonl(text: &[u8], now: i64) -> Vec<ImportLine> {
        read_jsonl(text, now).collect()
    }

    #[test]
    fn csv_and_jsonl_imports_report_bad_lines_by_number() {
        let csv =
            b"person_id,salesforce_id,occurred_at\np1,00Q5e00000AbCdEEAV,1000\np2,,not-a-time\n";
        let lines = csv_lines(csv, 7).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].as_ref().unwrap().occurred_at, Some(1000));
        assert_eq!(lines[1].as_ref().unwrap_err().0, 3);
        assert!(
            csv_lines(b"email\nx@y\n", 0)
                .err()
                .unwrap()
                .contains("person_id")
        );
        let lines = jsonl(
            b"{\"person_id\":\"a\"}\n\n{\"nope\":1}\r\n{\"person_id\":\"b\"}",
            0,
        );
        assert_eq!(lines.len(), 3);
        assert!(lines[0].is_ok());
        assert_eq!(lines[1].as_ref().unwrap_err().0, 3);
        assert_eq!(
            lines[2].as_ref().unwrap().person_id,
            "b",
            "no final newline"
        );
    }

    #[test]
    fn oversized_and_non_utf8_lines_are_reported_and_the_rest_is_read() {
        let big = "x".repeat(MAX_EVENT_BYTES + 1);
        let mut text = format!("{{\"person_id\":\"{big}\"}}\n").into_bytes();
        text.extend_from_slice(b"{\"person_id\":\"p\xff\"}\n{\"person_id\":\"after\"}\n");
        let lines = jsonl(&text, 0);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[0].as_ref().unwrap_err().0, 1);
        assert!(
            lines[0]
                .as_ref()
                .unwrap_err()
                .1
                .contains("longer than 1 MiB")
        );
        assert_eq!(
            lines[1].as_ref().unwrap_err(),
            &(
                2,
                "the line is not UTF-8 (invalid byte at offset 15)".to_string()
            )
        );
        assert_eq!(lines[2].as_ref().unwrap().person_id, "after");

        let lines = csv_lines(b"person_id,email\np-\xff\xfe,a@b\np2,b@c\n", 0).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].as_ref().unwrap_err().0, 2);
        assert!(lines[0].as_ref().unwrap_err().1.contains("not UTF-8"));
        assert_eq!(lines[1].as_ref().unwrap().person_id, "p2");
        assert!(
            csv_lines(b"person_\xffid\np1\n", 0)
                .err()
                .unwrap()
                .contains("header is not UTF-8")
        );
    }

    #[test]
    fn csv_values_may_hold_quotes_commas_and_line_breaks() {
        let csv = b"person_id,email\n\"p,1\",\"\"\"O'Brien, Pat\"\" <pat@x.com>\"\n\"p\n2\",x@y\n,z@y\np3,a,b\np4,\"multi\nline@x.com\"\n";
        let lines = csv_lines(csv, 0).unwrap();
        let first = lines[0].as_ref().unwrap();
        assert_eq!(first.person_id, "p,1");
        assert_eq!(first.email.as_deref(), Some("\"O'Brien, Pat\" <pat@x.com>"));
        assert_eq!(lines[1].as_ref().unwrap_err().0, 3, "{:?}", lines[1]);
        assert!(
            lines[1]
                .as_ref()
                .unwrap_err()
                .1
                .contains("control characters")
        );
        assert_eq!(
            lines[2].as_ref().unwrap_err(),
            &(5, "person_id is empty".to_string())
        );
        assert!(
            lines[3].as_ref().unwrap_err().1.contains("CSV"),
            "{:?}",
            lines[3]
        );
        assert_eq!(
            lines[4].as_ref().unwrap().email.as_deref(),
            Some("multi\nline@x.com")
        );
        assert!(
            csv_lines(b"person_id,Person_ID\na,b\n", 0)
                .err()
                .unwrap()
                .contains("twice")
        );
    }

    #[test]
    fn blank_files_hold_no_events_and_blank_lines_before_the_header_are_skipped() {
        for blank in [&b""[..], b"\n", b" \r\n ", b"\n\n\t\n"] {
            assert!(csv_lines(blank, 0).unwrap().is_empty(), "{blank:?}");
            assert!(jsonl(blank, 0).is_empty(), "{blank:?}");
        }
        let lines = csv_lines(b"\n \nperson_id\np1\n\"p\n2\"\np3\n", 0).unwrap();
        assert_eq!(lines[0].as_ref().unwrap().person_id, "p1");
        // Line numbers count the skipped lines: p1 is on line 4.
        assert_eq!(lines[1].as_ref().unwrap_err().0, 5, "{:?}", lines[1]);
        assert_eq!(lines[2].as_ref().unwrap().person_id, "p3");
    }

    #[test]
    fn a_large_file_is_read_as_it_is_consumed() {
        use std::cell::Cell;
        use std::rc::Rc;
        // A reader producing 200,000 records on demand, counting how many it
        // has produced: when the first event comes out, only a buffer's worth
        // of the file may have been read.
        struct Generated {
            produced: Rc<Cell<u32>>,
            pending: Vec<u8>,
        }
        impl Read for Generated {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                if self.pending.is_empty() {
                    let n = self.produced.get();
                    if n == 200_000 {
                        return Ok(0);
                    }
                    self.pending = format!("p{n},00Q5e00000AbCdEEAV\n").into_bytes();
                    self.produced.set(n + 1);
                }
                let n = out.len().min(self.pending.len());
                out[..n].copy_from_slice(&self.pending[..n]);
                self.pending.drain(..n);
                Ok(n)
            }
        }
        let produced = Rc::new(Cell::new(0));
        let source = std::io::Cursor::new(b"person_id,salesforce_id\n".to_vec()).chain(Generated {
            produced: produced.clone(),
            pending: Vec::new(),
        });
        let mut lines = read_csv(std::io::BufReader::new(source), 0).unwrap();
        assert_eq!(lines.next().unwrap().unwrap().person_id, "p0");
        assert!(
            produced.get() < 2_000,
            "{} records read before the first event",
            produced.get()
        );
        assert_eq!(lines.count(), 199_999);
        assert_eq!(produced.get(), 200_000);
    }
}
