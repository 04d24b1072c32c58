//! After the fact: comparing the objects with what the ledger says, and ending a hold.
//!
//! - [`attestations`]: every `attested` record against the records it summarises
//! - [`rehash`]: every recorded version re-read and its SHA-256 compared (`verified` records)
//! - [`holds`]: every recorded mark still in place
//! - [`release`]: a matter's hold taken off and recorded (`hold_released`)

pub mod attestations;
pub mod holds;
pub mod rehash;
pub mod release;

pub use attestations::{AttestationFailure, AttestationReport, check_attestations};
pub use holds::{HoldsReport, MarkGone, check_holds};
pub use rehash::{RehashReport, RehashResult, RehashedVersion, rehash};
pub use release::{ReleaseReport, ReleaseResult, ReleaseScope, ReleasedObject, release};
