//! The custody ledger: records, the RFC 6962 Merkle tree, blocks, signed checkpoints, proofs and
//! verification. The format, and every rule the verifier enforces, is specified in
//! `docs/ledger.md`.

mod attestation;
mod block;
mod checkpoint;
pub mod cosignature;
mod error;
mod identity;
mod keys;
mod layout;
mod log;
pub mod merkle;
mod receipt;
mod record;
pub mod tiles;
mod verify;
pub mod witness;

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
    AppendOutcome, Head, IdentityLoad, IntegrateOutcome, Ledger, LedgerConfig, LedgerEntry,
    ListedBlock, MAX_RECORD_BYTES, MAX_SUBMISSION_BYTES, Placed, READ_BUDGET, ReadBlockError,
    RefusedLine, Rejected, SNAPSHOT_FORMAT, Submission,
};
pub use merkle::ProofError;
pub use receipt::{RECEIPT_FORMAT, Receipt, ReceiptCheck, ReceiptFailure};
pub use record::*;
pub use tiles::{
    CaughtUp, MAX_ENTRY_BYTES, TileLog, TileProof, TilesError, TilesPublished, catch_up,
    publish_block,
};
pub use verify::{
    DuplicateStats, Failure, LedgerCheck, Trust, Verdict, VerifyInput, VerifyProgress,
    VerifyReport, VerifySnapshot, verify_blocks, verify_blocks_timed,
};
