//! custody-aws: the AWS side of custody, kept out of the domain crate (`custody-core`), which
//! compiles without any AWS SDK crate.
//!
//! - [`doctor`]: `custody doctor`, a deployment's buckets, events and permissions checked with
//!   harmless calls
//! - [`s3`]: the S3 adapter of the store ports, over aws-sdk-s3
//! - [`secrets`]: the ledger signing key read from AWS Secrets Manager
//! - `permissions`: which IAM permission a denied S3 call lacks (the S3 adapter's
//!   [`custody_core::store::StoreRead::explain_denial`])
//! - [`location`]: `s3://bucket/prefix` or a folder, opened as a store
//! - [`services`]: the configuration of a run (environment variables and CLI flags) and the
//!   services built from it

pub mod doctor;
pub mod location;
mod permissions;
pub mod s3;
pub mod secrets;
pub mod services;

pub use location::{OpenedStore, open};
pub use secrets::load_signer;
pub use services::{Services, SettingError, Settings};
