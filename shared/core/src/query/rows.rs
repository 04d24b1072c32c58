//! The records as rows for Athena (or DuckDB): one JSON object per line, in objects
//! `<prefix>records/day=YYYY-MM-DD/<block 20 digits>.jsonl` (one per block and UTC day of `at`),
//! written create-only by [`index_block`](super::index_block) beside the postings. The Athena
//! table (`template.yaml`, `CustodyRecordsTable`) projects the `day` partition over the ledger
//! bucket, so no crawler or `MSCK REPAIR` is needed.
//!
//! ```json
//! {"block":42,"leaf_index":4200,"line_offset":1031,"line_length":812,"id":"<64 hex>","record_schema":2,
//!  "event":"hashed","recorded_at":"2024-05-01T10:00:00.000Z","principal":"…","who_function":"…",
//!  "request_id":"…","bucket":"…","object_key":"…","version_id":"…","size":123,"sha256":"…",
//!  "etag":"…","s3_checksum":"…","new_version_id":null,"region":"…","account":"…",
//!  "export_job":"…","conversation_id":"…","recording_id":"…","matter":"M-1+M-2",
//!  "matters":["M-1","M-2"],"source":"…","tool":"custody","tool_version":"0.1.0",
//!  "mechanisms":["tags"],"detail":"…","error_action":null,"error_code":null,"error_message":null}
//! ```
//!
//! (Shown wrapped; one line each.) Every column is always present (`null` when the record has no
//! such field), so both engines see one schema. Column names avoid words Athena (Hive DDL) or
//! Trino reserve (`key`, `function`, `schema`, `date`). A row is a copy, not the record: its
//! `block`, `line_offset` and `line_length` name the stored line, so any answer can be checked
//! against the block with one ranged read (as `custody query` does with the postings).

use serde::Serialize;

use crate::ledger::CustodyRecord;

/// One record as a row of the `custody_records` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordRow {
    pub block: u64,
    pub leaf_index: u64,
    pub line_offset: u64,
    pub line_length: u64,
    pub id: String,
    pub record_schema: u32,
    pub event: String,
    pub recorded_at: String,
    pub principal: Option<String>,
    pub who_function: Option<String>,
    pub request_id: Option<String>,
    pub bucket: String,
    pub object_key: String,
    pub version_id: Option<String>,
    pub size: Option<u64>,
    pub sha256: Option<String>,
    pub etag: Option<String>,
    pub s3_checksum: Option<String>,
    pub new_version_id: Option<String>,
    pub region: Option<String>,
    pub account: Option<String>,
    pub export_job: Option<String>,
    pub conversation_id: Option<String>,
    pub recording_id: Option<String>,
    pub matter: Option<String>,
    pub matters: Vec<String>,
    pub source: String,
    pub tool: String,
    pub tool_version: String,
    pub mechanisms: Vec<String>,
    pub detail: Option<String>,
    pub error_action: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

/// The table's columns in order with their Glue (Hive) types; `template.yaml` declares the same
/// (a unit test in `custody-tests` compares them).
pub const COLUMNS: &[(&str, &str)] = &[
    ("block", "bigint"),
    ("leaf_index", "bigint"),
    ("line_offset", "bigint"),
    ("line_length", "bigint"),
    ("id", "string"),
    ("record_schema", "int"),
    ("event", "string"),
    ("recorded_at", "string"),
    ("principal", "string"),
    ("who_function", "string"),
    ("request_id", "string"),
    ("bucket", "string"),
    ("object_key", "string"),
    ("version_id", "string"),
    ("size", "bigint"),
    ("sha256", "string"),
    ("etag", "string"),
    ("s3_checksum", "string"),
    ("new_version_id", "string"),
    ("region", "string"),
    ("account", "string"),
    ("export_job", "string"),
    ("conversation_id", "string"),
    ("recording_id", "string"),
    ("matter", "string"),
    ("matters", "array<string>"),
    ("source", "string"),
    ("tool", "string"),
    ("tool_version", "string"),
    ("mechanisms", "array<string>"),
    ("detail", "string"),
    ("error_action", "string"),
    ("error_code", "string"),
    ("error_message", "string"),
];

impl RecordRow {
    pub fn new(
        record: &CustodyRecord,
        block: u64,
        leaf_index: u64,
        line_offset: u64,
        line_length: u64,
    ) -> RecordRow {
        let error = record.outcome.error.as_ref();
        RecordRow {
            block,
            leaf_index,
            line_offset,
            line_length,
            id: record.id.clone(),
            record_schema: record.schema,
            event: record.event.as_str().to_string(),
            recorded_at: record.at.clone(),
            principal: record.who.principal.clone(),
            who_function: record.who.function.clone(),
            request_id: record.who.request_id.clone(),
            bucket: record.what.bucket.clone(),
            object_key: record.what.key.clone(),
            version_id: record.what.version_id.clone(),
            size: record.what.size,
            sha256: record.what.sha256.clone(),
            etag: record.what.etag.clone(),
            s3_checksum: record.what.s3_checksum.clone(),
            new_version_id: record.what.new_version_id.clone(),
            region: record.where_.region.clone(),
            account: record.where_.account.clone(),
            export_job: record.why.export_job.clone(),
            conversation_id: record.why.conversation_id.clone(),
            recording_id: record.why.recording_id.clone(),
            matter: record.why.matter.clone(),
            matters: record.why.matters(),
            source: record.why.source.clone(),
            tool: record.how.tool.clone(),
            tool_version: record.how.tool_version.clone(),
            mechanisms: record.how.mechanisms.clone(),
            detail: record.outcome.detail.clone(),
            error_action: error.and_then(|e| e.action.clone()),
            error_code: error.and_then(|e| e.code.clone()),
            error_message: error.map(|e| e.message.clone()),
        }
    }

    /// The row as one JSON line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).expect("rows serialize");
        line.push(b'\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_has_every_column_in_order() {
        let record: CustodyRecord = serde_json::from_value(serde_json::json!({
            "schema": 2, "id": "x", "event": "hold_applied", "at": "2024-05-01T10:00:00.000Z",
            "who": {}, "what": {"bucket": "b", "key": "k"}, "where": {},
            "why": {"matter": "M-1+M-2", "source": "s"},
            "how": {"tool": "custody", "tool_version": "0.1.0"}, "outcome": {}
        }))
        .unwrap();
        let row = RecordRow::new(&record, 1, 2, 3, 4);
        let value = serde_json::to_value(&row).unwrap();
        let names: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let columns: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, columns);
        assert_eq!(value["matters"], serde_json::json!(["M-1", "M-2"]));
        assert!(value["error_code"].is_null());
        assert!(row.to_line().ends_with(b"\n"));
    }
}
