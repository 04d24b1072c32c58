//! The query index beside the ledger: for every field value (conversation, recording, folder of
//! the key, matter, event kind, day), which records of which block hold it, with the byte range
//! of each record's line in the block, so that a query reads a few small objects and ranged
//! slices of blocks instead of every block. Format and guarantees: `docs/query.md`.
//!
//! - [`field`]: the indexed fields and the values a record gives each;
//! - [`keys`]: where the index lives under the ledger's prefix;
//! - [`posting`], [`marker`]: the wire formats of a postings object and a block's marker;
//! - [`plan`]: a block's index computed from its bytes alone (deterministic);
//! - [`write`]: [`index_block`], writing it create-only, the marker last;
//! - [`coverage`]: how far the index reaches, checked against the blocks;
//! - [`catch_up`](mod@catch_up): indexing the blocks the index does not cover yet, or rebuilding it;
//! - [`header`]: the ranged reads of block headers and record lines.
//!
//! The index is derived from the blocks and rebuildable from them ([`rebuild`]); it is never
//! trusted over them: every answer is re-checked against the record it cites
//! ([`super::search`]).

pub mod catch_up;
pub mod coverage;
mod error;
pub mod field;
pub mod header;
pub mod keys;
pub mod marker;
pub mod plan;
pub mod posting;
pub mod write;

pub use catch_up::{BlockFailure, CatchUp, catch_up, rebuild};
pub use coverage::{Coverage, MarkerCheck, check_marker, coverage};
pub use error::QueryIndexError;
pub use field::Field;
pub use keys::IndexKeys;
pub use plan::{BlockPlan, IndexObject, plan_block};
pub use write::{IndexedBlock, index_block};
