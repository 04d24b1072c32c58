//! custody-core: the domain of the custody project, free of AWS types in its public API.
//!
//! - [`export`]: the Genesys Cloud recording-export layout, metadata, manifests and S3 event keys
//! - [`hold`]: which objects are under legal hold and how each is marked
//! - [`digest`]: streaming SHA-256 (and MD5 for ETag cross-checks) in bounded memory
//! - [`ledger`]: custody records, the RFC 6962 Merkle tree, signed checkpoints, proofs, verification
//! - [`store`]: the [`store::ObjectStore`] port and its S3 and filesystem adapters
//! - [`ingest`]: the main job, from an export to ledger records
//! - [`settings`]: the configuration shared by the Lambda functions and the CLI
//! - [`query`]: what auditors ask of the ledger

pub mod digest;
pub mod export;
pub mod hold;
pub mod ingest;
pub mod ledger;
pub mod query;
pub mod settings;
pub mod store;
