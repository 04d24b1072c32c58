use crate::store::StoreError;

use super::super::error::LedgerError;
use super::bundle::MAX_ENTRY_BYTES;

/// Why tiles could not be published or read, or a proof could not be made from them.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TilesError {
    #[error("tiles store, {key}: {source}")]
    Store { key: String, source: StoreError },
    #[error(
        "{key} already exists with content other than this ledger's tile: it was not written by \
         custody from these blocks"
    )]
    Conflict { key: String },
    #[error(
        "leaf {leaf} is {len} bytes, above the {MAX_ENTRY_BYTES} bytes an entry bundle can hold \
         (its length is a uint16)"
    )]
    EntryTooLarge { leaf: u64, len: usize },
    #[error("block {index}: {message}")]
    Block { index: u64, message: String },
    #[error("{key} is missing")]
    Missing { key: String },
    #[error(
        "{key}, a tile of tree size {tree_size} (the predecessor's), is missing: publish the \
         earlier blocks' tiles first (catch_up)"
    )]
    NotCaughtUp { key: String, tree_size: u64 },
    #[error("{key}: {message}")]
    Malformed { key: String, message: String },
    #[error(
        "the tiles do not reproduce block {block}'s frontier at tree size {tree_size}: the \
         predecessor's tiles read ({keys}) are not this ledger's"
    )]
    Frontier {
        block: u64,
        tree_size: u64,
        keys: String,
    },
    #[error(
        "the tiles read do not hash to the trusted root of tree size {tree_size}: a tile was \
         altered ({keys})"
    )]
    Inconsistent { tree_size: u64, keys: String },
    #[error("tree size {tree_size} is beyond the {published} leaves the tiles cover")]
    NotPublished { tree_size: u64, published: u64 },
    #[error("proof: {0}")]
    Proof(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl TilesError {
    pub(super) fn store(key: &str, source: StoreError) -> TilesError {
        TilesError::Store {
            key: key.to_string(),
            source,
        }
    }
}
