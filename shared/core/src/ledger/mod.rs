//! The custody ledger: records, the RFC 6962 Merkle tree, blocks, signed checkpoints, proofs and
//! verification. The format is specified in `docs/ledger.md`.

mod attestation;
mod batch;
mod block;
mod checkpoint;
mod engine;
mod error;
mod identity;
mod keys;
mod layout;
pub mod merkle;
mod receipt;
mod record;
mod verify;

pub use attestation::{Attestation, AttestedObject};
pub use block::{
    BLOCK_FORMAT, BlockHeader, BlockView, DecodedHeader, GENESIS_PREV, NewBlock, Tip, build_block,
    decode_hash, encode_block, header_hash, tip_of,
};
pub use checkpoint::{Checkpoint, DeferredSignature, DeferredVerdict, SignatureFailure};
pub use engine::{AppendOutcome, Head, Ledger, LedgerConfig, LedgerEntry, Placed, Rejected};
pub use error::LedgerError;
pub use identity::{fact_identity, legacy_identity};
pub use keys::{KeyError, KeySource, Signer, TrustedKeys, VerifierKey};
pub use layout::Layout;
pub use receipt::{RECEIPT_FORMAT, Receipt, ReceiptCheck, ReceiptFailure};
pub use record::*;
pub use verify::{Check, Failure, VerifyInput, VerifyReport, verify_blocks, verify_blocks_timed};
