//! Where the query index and the day-partitioned records live under the ledger's prefix.
//!
//! ```text
//! <prefix>query/postings/<field>/<32 hex>/00000000000000000042.json   postings of one value in block 42 (create-only)
//! <prefix>query/indexed/00000000000000000042                          every object of block 42 exists (create-only, written last)
//! <prefix>query/covered.json                                          {"block":N}: hint of the newest block below which all are indexed (overwritten; checked)
//! <prefix>records/day=2024-05-01/00000000000000000042.jsonl           block 42's records of that day, one row per line (create-only)
//! ```
//!
//! `<32 hex>` is [`value_hash`](super::field::value_hash) of the value: one listing of
//! `query/postings/<field>/<hash>/` finds every block holding that value.

use crate::ledger::Layout;

use super::field::{Field, value_hash};

/// The keys of the query index of one ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKeys {
    prefix: String,
}

impl IndexKeys {
    pub fn new(layout: &Layout) -> IndexKeys {
        IndexKeys {
            prefix: layout.prefix().to_string(),
        }
    }

    /// Every posting of one value: list this.
    pub fn postings_prefix(&self, field: Field, value: &str) -> String {
        format!(
            "{}query/postings/{field}/{}/",
            self.prefix,
            value_hash(value)
        )
    }

    pub fn posting(&self, field: Field, value: &str, block: u64) -> String {
        format!("{}{block:020}.json", self.postings_prefix(field, value))
    }

    /// The block a listed posting key names, when it is one.
    pub fn posting_block(&self, key: &str) -> Option<u64> {
        let name = key.rsplit('/').next()?;
        let digits = name.strip_suffix(".json")?;
        (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse().ok())
            .flatten()
    }

    pub fn markers_prefix(&self) -> String {
        format!("{}query/indexed/", self.prefix)
    }

    pub fn marker(&self, block: u64) -> String {
        format!("{}{block:020}", self.markers_prefix())
    }

    /// The block a listed marker key names, when it is one.
    pub fn marker_block(&self, key: &str) -> Option<u64> {
        let digits = key.strip_prefix(&self.markers_prefix())?;
        (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse().ok())
            .flatten()
    }

    pub fn covered_hint(&self) -> String {
        format!("{}query/covered.json", self.prefix)
    }

    /// The Athena table's location: `<prefix>records/`.
    pub fn records_prefix(&self) -> String {
        format!("{}records/", self.prefix)
    }

    pub fn records(&self, day: &str, block: u64) -> String {
        format!("{}day={day}/{block:020}.jsonl", self.records_prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let keys = IndexKeys::new(&Layout::new("ledger"));
        let posting = keys.posting(Field::Conversation, "c-1", 42);
        assert!(posting.starts_with("ledger/query/postings/conversation/"));
        assert!(posting.starts_with(&keys.postings_prefix(Field::Conversation, "c-1")));
        assert_eq!(keys.posting_block(&posting), Some(42));
        assert_eq!(
            keys.posting_block("ledger/query/postings/x/y/42.json"),
            None
        );
        assert_eq!(keys.marker_block(&keys.marker(7)), Some(7));
        assert_eq!(
            keys.records("2024-05-01", 3),
            "ledger/records/day=2024-05-01/00000000000000000003.jsonl"
        );
    }
}
