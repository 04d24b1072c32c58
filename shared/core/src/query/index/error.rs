//! Why the query index could not be written or read.

use crate::ledger::LedgerError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum QueryIndexError {
    /// The bytes given as a block are not one (the index is never built from a damaged block).
    #[error("block {block}: {message}")]
    Block { block: String, message: String },
    /// An object of the index exists with other content than the block gives it: someone
    /// wrote it, or it was damaged. Create-only objects are never overwritten.
    #[error("block {block}: {} index object(s) hold other content than the block gives: {}", keys.len(), keys.join(", "))]
    Conflict { block: u64, keys: Vec<String> },
    #[error("postings {key}: {message}")]
    Posting { key: String, message: String },
    #[error("index marker {key}: {message}")]
    Marker { key: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}
