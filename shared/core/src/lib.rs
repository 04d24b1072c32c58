//! custody-core: the domain of the custody project. It compiles without any AWS SDK crate: S3,
//! Secrets Manager and IAM knowledge live in the `custody-aws` adapter crate.
//!
//! - [`export`]: the Genesys Cloud recording-export layout, metadata, manifests and S3 event keys
//! - [`hold`]: which objects are under legal hold and how each is marked
//! - [`digest`]: streaming SHA-256 (and MD5 for ETag cross-checks) in bounded memory
//! - [`ledger`]: custody records, the RFC 6962 Merkle tree, signed checkpoints, proofs, verification
//! - [`store`]: the store ports and the folder, in-memory and fault-injecting adapters (the S3
//!   adapter is in `custody-aws`)
//! - [`ingest`]: the main job, from an export to ledger records
//! - [`query`]: what auditors ask of the ledger
//! - [`audit`]: rehash, holds check and hold release: the objects against the ledger

pub mod audit;
pub mod digest;
pub mod export;
pub mod hold;
pub mod ingest;
pub mod ledger;
pub mod query;
pub mod store;
