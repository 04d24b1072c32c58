//! The custody ledger: records, the RFC 6962 Merkle tree, blocks, signed checkpoints, proofs and
//! verification.

mod record;

pub use record::*;
