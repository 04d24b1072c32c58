//! Streaming SHA-256 of object versions, cross-checked with the cheapest value the store already
//! holds, in bounded memory.
//!
//! - [`StreamingDigest`]: SHA-256 (SHA-NI / ARMv8 picked at run time by `sha2`) and, in the same
//!   pass, the checksum S3 stored with the object (CRC64NVME, CRC32, CRC32C, SHA-1) or, only where
//!   no full-object checksum is stored, MD5 for the ETag ([`Md5`], AWS-LC's).
//! - [`CrossCheck`]: which comparison was made (stored full-object checksum, ETag as MD5, or none
//!   and why), recorded in each [`ObjectDigest`].
//! - [`DigestEngine`] / [`hash_version`] / [`hash_many`]: read one version (pinned by HEAD) from an
//!   [`ObjectStore`](crate::store::ObjectStore) as concurrent ranged GETs, hash the parts in order
//!   off the async runtime, and cross-check the result with the ETag and the stored checksum.
//! - [`HashItem`]: what is known about a version; with a listed ETag and size, a small object is
//!   read with one GET pinned by `If-Match` instead of HEAD + GET.
//! - Transient store errors are retried with exponential backoff and jitter; a broken body resumes
//!   from its byte offset with a ranged GET of the same version.
//! - Memory: every buffered byte holds a share of one budget ([`HashOptions::memory_budget`]), so
//!   peak memory depends neither on object size nor on the number of objects.

mod check;
mod checksum;
mod engine;
mod error;
mod fetch;
mod item;
mod md5;
mod multipart;
mod options;
mod plan;
mod result;
mod retry;
mod streaming;
mod tasks;

pub use check::{Check, CrossCheck};
pub use checksum::stored_checksum_of;
pub use engine::{DigestEngine, HashOutcome, hash_many, hash_version};
pub use error::DigestError;
pub use item::HashItem;
pub use md5::Md5;
pub use options::HashOptions;
pub use result::ObjectDigest;
pub use retry::RetryPolicy;
pub use streaming::{Digests, StreamingDigest, sha256_hex};

#[cfg(test)]
mod engine_tests;
