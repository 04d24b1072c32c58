//! After the fact: comparing the objects with what the ledger says, and ending a hold.
//!
//! - [`attestations`]: every `attested` record against the records it summarises
//! - [`rehash`]: every recorded version re-read and its SHA-256 compared (`verified` records)
//! - [`holds`]: every recorded mark still in place
//! - [`release`]: a matter's hold taken off and recorded (`hold_released`)

pub mod attestations;
mod facts;
pub mod holds;
pub mod rehash;
pub mod release;

pub use attestations::{AttestationFailure, AttestationReport, check_attestations};
pub use holds::{HoldsReport, MarkGone, check_holds};
pub use rehash::{RehashReport, RehashResult, RehashedVersion, rehash, rehash_with_progress};
pub use release::{ReleaseReport, ReleaseResult, ReleaseScope, ReleasedObject, release};

use crate::ledger::{BlockView, CustodyRecord, Ledger, LedgerError};

/// The records of block `index` that parse (a record that does not is the verifier's business,
/// not the audit's), read whole: one block at a time is what bounds an audit's memory.
async fn block_records(ledger: &Ledger, index: u64) -> Result<Vec<CustodyRecord>, LedgerError> {
    let bytes = ledger.read_block(index).await?;
    let view = BlockView::parse(&bytes).map_err(|message| LedgerError::Damaged {
        key: ledger.layout().block(index),
        message: message.to_string(),
    })?;
    Ok(view
        .records
        .iter()
        .filter_map(|line| serde_json::from_slice::<CustodyRecord>(line).ok())
        .collect())
}
