//! The marker `query/indexed/<block>`: every object of the block's index exists. Written
//! create-only after them, so a crash leaves either a complete block index or no marker (and the
//! next `catch_up` finishes it).
//!
//! ```json
//! {"format":"custody-query-indexed/1","block":42,"header_sha256":"<64 hex>","first_leaf":4200,"count":100,"postings":57,"record_objects":1,"skipped":[]}
//! ```
//!
//! `header_sha256` is the block hash (SHA-256 of its header line): a reader checks the marker
//! against the block it names before believing it. `skipped` lists the leaves left out of the
//! index (a record that does not parse or whose `id` is not its identity; `custody verify`
//! reports them).

use serde::{Deserialize, Serialize};

use super::error::QueryIndexError;

pub const MARKER_FORMAT: &str = "custody-query-indexed/1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Marker {
    pub format: String,
    pub block: u64,
    pub header_sha256: String,
    pub first_leaf: u64,
    pub count: u64,
    pub postings: u64,
    pub record_objects: u64,
    pub skipped: Vec<u64>,
}

impl Marker {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("markers serialize")
    }

    pub fn parse(key: &str, bytes: &[u8]) -> Result<Marker, QueryIndexError> {
        let marker: Marker =
            serde_json::from_slice(bytes).map_err(|e| QueryIndexError::Marker {
                key: key.to_string(),
                message: format!("not an index marker: {e}"),
            })?;
        if marker.format != MARKER_FORMAT {
            return Err(QueryIndexError::Marker {
                key: key.to_string(),
                message: format!("field format is {:?}, not {MARKER_FORMAT:?}", marker.format),
            });
        }
        Ok(marker)
    }
}

/// The hint `query/covered.json`: blocks `0..=block` are indexed. Overwritten; never believed
/// before the marker of `block` is checked against the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoveredHint {
    pub block: u64,
}
