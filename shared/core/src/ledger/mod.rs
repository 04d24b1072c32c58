//! The custody ledger: records, the RFC 6962 Merkle tree, blocks, signed checkpoints, proofs and
//! verification. The format, and every rule the verifier enforces, is specified in
//! `docs/ledger.md`.

mod attestation;
mod block;
mod checkpoint;
mod error;
mod identity;
mod keys;
mod layout;
mod log;
pub mod merkle;
mod receipt;
mod record;
mod verify;

pub use attestation::{Attestation, AttestedObject};
pub use block::{
    BLOCK_FORMAT, BlockError, BlockHeader, BlockView, DecodedHeader, GENESIS_PREV, MAX_BLOCK_BYTES,
    NewBlock, Tip, build_block, decode_hash, encode_block, header_hash, tip_of,
};
pub use checkpoint::{Checkpoint, CheckpointError, MAX_NOTE_BYTES, SignatureFailure};
pub use error::LedgerError;
pub use identity::{fact_identity, legacy_identity};
pub use keys::{KeyError, KeySource, Signer, TrustedKeys, VerifierKey};
pub use layout::Layout;
pub use log::{
    AppendOutcome, Head, Ledger, LedgerConfig, LedgerEntry, ListedBlock, Placed, PoisonedMarker,
    READ_BUDGET, ReadBlockError, Rejected,
};
pub use merkle::ProofError;
pub use receipt::{RECEIPT_FORMAT, Receipt, ReceiptCheck, ReceiptFailure};
pub use record::*;
pub use verify::{
    DuplicateStats, Failure, LedgerCheck, Trust, Verdict, VerifyInput, VerifyReport, verify_blocks,
    verify_blocks_timed,
};
