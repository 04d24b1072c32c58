//! What the index of one block is, computed from the block's bytes alone: the postings of every
//! field value, the day-partitioned rows, and the marker. Deterministic, so that writing it
//! twice (a retry, a crash, a rebuild) writes the same objects, and a reader can recompute it.

use std::collections::BTreeMap;

use crate::ledger::{BlockView, CustodyRecord};

use super::error::QueryIndexError;
use super::field::{Field, day_of, index_values};
use super::keys::IndexKeys;
use super::marker::{MARKER_FORMAT, Marker};
use super::posting::{Entry, Postings};
use crate::query::rows::RecordRow;

/// One object of a block's index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexObject {
    pub key: String,
    pub body: Vec<u8>,
    pub content_type: &'static str,
}

/// Everything [`index_block`](super::index_block) writes for one block; the marker last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockPlan {
    pub block: u64,
    pub postings: Vec<IndexObject>,
    pub records: Vec<IndexObject>,
    pub marker: IndexObject,
    pub skipped: Vec<u64>,
}

/// The byte offset of `line` (a slice of `bytes`) in `bytes`.
fn offset_in(bytes: &[u8], line: &[u8]) -> u64 {
    (line.as_ptr() as usize - bytes.as_ptr() as usize) as u64
}

/// The index of the block in `block_bytes`. Fails when the bytes are not a block (a header in
/// its canonical form, `count` records); records that do not parse or whose `id` is not their
/// identity are left out and listed in `skipped`.
pub fn plan_block(keys: &IndexKeys, block_bytes: &[u8]) -> Result<BlockPlan, QueryIndexError> {
    let view = BlockView::parse(block_bytes).map_err(|e| QueryIndexError::Block {
        block: "(given bytes)".to_string(),
        message: e.to_string(),
    })?;
    let block = view.header.index;
    let damaged = |message: String| QueryIndexError::Block {
        block: block.to_string(),
        message,
    };
    if view.records.len() as u64 != view.header.count {
        return Err(damaged(format!(
            "the header says {} records, the block holds {}",
            view.header.count,
            view.records.len()
        )));
    }
    let mut values: BTreeMap<(Field, String), Vec<Entry>> = BTreeMap::new();
    let mut days: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut skipped = Vec::new();
    for (i, line) in view.records.iter().enumerate() {
        let leaf = view
            .leaf_index(i)
            .ok_or_else(|| damaged(format!("record {i}: leaf index beyond 64 bits")))?;
        let record = match serde_json::from_slice::<CustodyRecord>(line) {
            Ok(r) if r.identity_is_consistent() => r,
            _ => {
                skipped.push(leaf);
                continue;
            }
        };
        let entry = Entry {
            leaf,
            offset: offset_in(block_bytes, line),
            length: line.len() as u64,
        };
        for pair in index_values(&record) {
            values.entry(pair).or_default().push(entry);
        }
        // A record whose `at` is not an RFC 3339 time has no day, so no row (and no `day`
        // posting); `custody verify` does not refuse it, the scan and the postings find it.
        if let Some(day) = day_of(&record.at) {
            let row = RecordRow::new(&record, block, leaf, entry.offset, entry.length);
            days.entry(day).or_default().extend(row.to_line());
        }
    }
    let postings: Vec<IndexObject> = values
        .into_iter()
        .map(|((field, value), entries)| IndexObject {
            key: keys.posting(field, &value, block),
            body: Postings::new(field, &value, block, entries).to_bytes(),
            content_type: "application/json",
        })
        .collect();
    let records: Vec<IndexObject> = days
        .into_iter()
        .map(|(day, body)| IndexObject {
            key: keys.records(&day, block),
            body,
            content_type: "application/x-ndjson",
        })
        .collect();
    let marker = Marker {
        format: MARKER_FORMAT.to_string(),
        block,
        header_sha256: hex::encode(view.hash()),
        first_leaf: view.header.first_leaf,
        count: view.header.count,
        postings: postings.len() as u64,
        record_objects: records.len() as u64,
        skipped: skipped.clone(),
    };
    Ok(BlockPlan {
        block,
        postings,
        records,
        marker: IndexObject {
            key: keys.marker(block),
            body: marker.to_bytes(),
            content_type: "application/json",
        },
        skipped,
    })
}
