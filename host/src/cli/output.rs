//! Printing: aligned tables and JSON.

use serde::Serialize;

use crate::app::Failure;

/// A value in the documented JSON shape, to embed in a host object.
pub fn shaped<T: Serialize + ?Sized>(v: &T) -> Result<serde_json::Value, Failure> {
    crate::app::json::to_json(v).map_err(|e| Failure::runtime(e.to_string()))
}

/// Prints a value as pretty JSON on stdout, in the documented shape
/// ([`crate::app::json`]).
pub fn print_json<T: Serialize>(v: &T) -> Result<(), Failure> {
    let mut shaped = shaped(v)?;
    // The host's own objects (written with `json!`) get the same kebab-case
    // names as the WIT's records.
    crate::app::json::kebab_keys(&mut shaped);
    let text = serde_json::to_string_pretty(&shaped)
        .map_err(|e| Failure::runtime(format!("encoding JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// The width a table fits in: a terminal of 100 columns.
pub const TABLE_WIDTH: usize = 100;

/// The narrowest a column is squeezed to before the table is let overflow.
const MIN_COLUMN: usize = 12;

/// A plain-text table with aligned columns that fits [`TABLE_WIDTH`]: the
/// widest columns are narrowed first and their cells wrap onto more lines
/// (at spaces where they can), so nothing is cut off.
#[derive(Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with a header row.
    pub fn new(header: &[&str]) -> Self {
        Table {
            rows: vec![header.iter().map(|s| s.to_string()).collect()],
        }
    }
    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Each column's width: its widest cell, narrowed (widest first) until
    /// the table fits.
    fn widths(&self) -> Vec<usize> {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths: Vec<usize> = (0..cols)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let gaps = 2 * cols.saturating_sub(1);
        while widths.iter().sum::<usize>() + gaps > TABLE_WIDTH {
            let Some((widest, w)) = widths.iter().copied().enumerate().max_by_key(|(_, w)| *w)
            else {
                break;
            };
            if w <= MIN_COLUMN {
                break;
            }
            widths[widest] = w - 1;
        }
        widths
    }

    /// Renders the table.
    pub fn render(&self) -> String {
        let widths = self.widths();
        let mut out = String::new();
        for (i, row) in self.rows.iter().enumerate() {
            let cells: Vec<Vec<String>> = row
                .iter()
                .enumerate()
                .map(|(c, cell)| wrap(cell, widths[c]))
                .collect();
            let height = cells.iter().map(Vec::len).max().unwrap_or(1);
            for line in 0..height {
                let parts: Vec<String> = cells
                    .iter()
                    .enumerate()
                    .map(|(c, lines)| {
                        let text = lines.get(line).map(String::as_str).unwrap_or("");
                        format!("{text:<w$}", w = widths[c])
                    })
                    .collect();
                out.push_str(parts.join("  ").trim_end());
                out.push('\n');
            }
            if i == 0 {
                let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
                out.push_str(&rule.join("  "));
                out.push('\n');
            }
        }
        out
    }
}

/// Cuts `text` into lines of at most `width` characters, at a space where
/// one falls in the second half of the line.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= width || width == 0 {
        return vec![text.to_string()];
    }
    let mut lines = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let mut end = (start + width).min(chars.len());
        if end < chars.len()
            && let Some(space) = (start + width / 2..end).rev().find(|&i| chars[i] == ' ')
        {
            end = space;
        }
        lines.push(
            chars[start..end]
                .iter()
                .collect::<String>()
                .trim()
                .to_string(),
        );
        start = end;
        while start < chars.len() && chars[start] == ' ' {
            start += 1;
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let mut t = Table::new(&["a", "bb"]);
        t.row(vec!["long cell".into(), "x".into()]);
        assert_eq!(t.render(), "a          bb\n---------  --\nlong cell  x\n");
    }

    #[test]
    fn a_wide_table_wraps_to_fit_and_loses_nothing() {
        let mut t = Table::new(&["when", "what", "detail"]);
        let detail = "word ".repeat(60);
        t.row(vec![
            "2025-07-08T10:00:00Z".into(),
            "attempt".into(),
            detail.clone(),
        ]);
        let text = t.render();
        assert!(
            text.lines().all(|l| l.chars().count() <= TABLE_WIDTH),
            "{text}"
        );
        assert_eq!(text.matches("word").count(), 60, "{text}");
    }
}
