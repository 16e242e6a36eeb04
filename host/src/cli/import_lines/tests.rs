//! Tests of the `import_lines` module.

use super::*;

fn csv_lines(text: &[u8], now: i64) -> Result<Vec<ImportLine>, String> {
    read_csv(text, now).map(Iterator::collect)
}

fn jsonl(text: &[u8], now: i64) -> Vec<ImportLine> {
    read_jsonl(text, now).collect()
}

#[test]
fn csv_and_jsonl_imports_report_bad_lines_by_number() {
    let csv = b"person_id,salesforce_id,occurred_at\np1,00Q5e00000AbCdEEAV,1000\np2,,not-a-time\n";
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
fn csv_values_may_hold_quotes_and_commas_and_a_malformed_row_swallows_nothing() {
    let csv = b"person_id,email\n\"p,1\",\"\"\"O'Brien, Pat\"\" <pat@x.com>\"\n\"p2,x@y\np3,a@b\n,z@y\np4,a,b\np5,c@d\n";
    let lines = csv_lines(csv, 0).unwrap();
    assert_eq!(lines.len(), 6, "{lines:?}");
    let first = lines[0].as_ref().unwrap();
    assert_eq!(first.person_id, "p,1");
    assert_eq!(first.email.as_deref(), Some("\"O'Brien, Pat\" <pat@x.com>"));
    // An unterminated quote on line 3 is refused by its line; the rows
    // after it are read as rows, not swallowed into its value.
    let (line, why) = lines[1].as_ref().unwrap_err();
    assert_eq!(*line, 3);
    assert!(why.contains("quote is left open"), "{why}");
    assert_eq!(lines[2].as_ref().unwrap().person_id, "p3");
    assert_eq!(
        lines[3].as_ref().unwrap_err(),
        &(5, "person_id is empty".to_string())
    );
    let (line, why) = lines[4].as_ref().unwrap_err();
    assert_eq!(*line, 6);
    assert!(why.contains("3 values; the header names 2"), "{why}");
    assert_eq!(lines[5].as_ref().unwrap().person_id, "p5");
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
    // Line numbers count the skipped lines: p1 is on line 4, and the
    // value broken over lines 5 and 6 is refused on each of them.
    assert_eq!(lines[1].as_ref().unwrap_err().0, 5, "{:?}", lines[1]);
    assert_eq!(lines[2].as_ref().unwrap_err().0, 6, "{:?}", lines[2]);
    assert_eq!(lines[3].as_ref().unwrap().person_id, "p3");
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
