//! How commands whose result is rows print them (`--output table|json|csv`): an aligned text
//! table for people (the default when standard output is a terminal), one JSON object per line
//! for programs (the default otherwise), or RFC 4180 CSV with a header line for spreadsheets.
//!
//! ```text
//! table:  block  leaf  at                    event   key
//!         0      3     2026-12-02T05:00:00Z  hashed  org/…/r1.opus
//! json:   {"block":0,"leaf_index":3,"record":{…}}
//! csv:    block,leaf,at,event,key
//!         0,3,2026-12-02T05:00:00Z,hashed,org/…/r1.opus
//! ```
//!
//! The JSON line of a row is the full value (for `query`, the record as stored); the table and
//! CSV carry the columns named.

use std::io::{IsTerminal, Write};

use clap::ValueEnum;
use comfy_table::{Table, presets};

/// The format of a command's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns, for people.
    Table,
    /// One JSON object per line.
    Json,
    /// RFC 4180 CSV with a header line.
    Csv,
}

impl OutputFormat {
    /// The format asked for, or the default: a table on a terminal, JSON lines otherwise.
    pub fn resolve(asked: Option<OutputFormat>) -> OutputFormat {
        asked.unwrap_or_else(|| {
            if std::io::stdout().is_terminal() {
                OutputFormat::Table
            } else {
                OutputFormat::Json
            }
        })
    }
}

/// Rows with named columns, and the full JSON value of each row.
#[derive(Debug, Default)]
pub struct Rows {
    pub columns: Vec<&'static str>,
    pub cells: Vec<Vec<String>>,
    pub values: Vec<serde_json::Value>,
}

/// Writing rows failed (standard output closed, a value that does not serialize).
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("writing the rows: {0}")]
    Io(#[from] std::io::Error),
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl Rows {
    pub fn new(columns: Vec<&'static str>) -> Rows {
        Rows {
            columns,
            ..Rows::default()
        }
    }

    /// Add one row: its cells (one per column) and its JSON value.
    pub fn push(&mut self, cells: Vec<String>, value: serde_json::Value) {
        debug_assert_eq!(cells.len(), self.columns.len());
        self.cells.push(cells);
        self.values.push(value);
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The rows in `format`, as text.
    pub fn render(&self, format: OutputFormat) -> Result<String, OutputError> {
        match format {
            OutputFormat::Table => Ok(self.table()),
            OutputFormat::Json => {
                let mut out = String::new();
                for value in &self.values {
                    out.push_str(&serde_json::to_string(value)?);
                    out.push('\n');
                }
                Ok(out)
            }
            OutputFormat::Csv => {
                let mut writer = csv::Writer::from_writer(Vec::new());
                writer.write_record(&self.columns)?;
                for row in &self.cells {
                    writer.write_record(row)?;
                }
                let bytes = writer
                    .into_inner()
                    .map_err(|e| OutputError::Io(e.into_error()))?;
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            }
        }
    }

    /// Print the rows in `format` to standard output.
    pub fn print(&self, format: OutputFormat) -> Result<(), OutputError> {
        let text = self.render(format)?;
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
        Ok(())
    }

    fn table(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        let mut table = Table::new();
        table.load_preset(presets::NOTHING);
        table.set_header(self.columns.iter().map(|c| c.to_uppercase()));
        for row in &self.cells {
            table.add_row(row);
        }
        let mut text: String = table
            .lines()
            .map(|l| format!("{}\n", l.trim_end()))
            .collect();
        if text.is_empty() {
            text.push('\n');
        }
        text
    }
}

/// Terminal control characters in a value from the ledger (keys are chosen by whoever wrote
/// the export) shown as `\u{…}` escapes, so a table cannot be made to rewrite the screen.
pub fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_unicode().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Rows {
        let mut rows = Rows::new(vec!["key", "sha256"]);
        rows.push(
            vec!["a,\"b\".opus".into(), "9f86".into()],
            serde_json::json!({"key": "a,\"b\".opus", "sha256": "9f86"}),
        );
        rows.push(
            vec!["c.opus".into(), "2c26".into()],
            serde_json::json!({"key": "c.opus", "sha256": "2c26"}),
        );
        rows
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let text = rows().render(OutputFormat::Csv).unwrap();
        assert_eq!(text, "key,sha256\n\"a,\"\"b\"\".opus\",9f86\nc.opus,2c26\n");
    }

    #[test]
    fn json_is_one_value_per_line() {
        let text = rows().render(OutputFormat::Json).unwrap();
        let values: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(values, rows().values);
    }

    #[test]
    fn the_table_aligns_columns_under_a_header() {
        let text = rows().render(OutputFormat::Table).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].contains("KEY") && lines[0].contains("SHA256"),
            "{text}"
        );
        let at = lines[0].find("SHA256").unwrap();
        assert_eq!(&lines[1][at..at + 4], "9f86", "{text}");
        assert_eq!(&lines[2][at..at + 4], "2c26", "{text}");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
    }
}
