//! The Genesys Cloud recording export as it lands in S3: the key layout, the JSON metadata beside
//! each recording, batch manifests (the project's own JSON and S3 Batch Operations CSV), S3 event
//! key decoding, and discovery of the objects one run must process.

mod discovery;
mod layout;
mod manifest;
mod metadata;
mod s3_keys;
mod scope;

pub use discovery::*;
pub use layout::*;
pub use manifest::*;
pub use metadata::*;
pub use s3_keys::*;
pub use scope::*;
