//! The object-store port: what the custody engine needs from a bucket, and nothing more.
//!
//! One [`ObjectStore`] value stands for one bucket (or one local folder standing in for a bucket).
//! Every read that matters for custody is pinned to a version where the bucket is versioned, so the
//! version hashed is the version marked and the version recorded.

mod error;
pub mod fs;
pub mod s3;
mod types;

pub use error::{StoreError, StoreErrorKind};
pub use types::*;

use async_trait::async_trait;
use bytes::Bytes;

#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Where this store points, for messages and records: `s3://bucket` or `file:///path`.
    fn location(&self) -> String;

    /// The bucket name (for the filesystem adapter, the folder's name).
    fn bucket(&self) -> &str;

    /// Current (latest, not deleted) objects whose key starts with `prefix`, in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>, StoreError>;

    /// Size, ETag, version, user metadata, stored checksum and legal-hold state of one version
    /// (the current one when `version` is `None`).
    async fn head(&self, key: &str, version: Option<&str>) -> Result<ObjectHead, StoreError>;

    /// A streaming read of one version, whole or a byte range of it.
    async fn get(
        &self,
        key: &str,
        version: Option<&str>,
        range: Option<ByteRange>,
    ) -> Result<ObjectBody, StoreError>;

    /// The object's tag set (of `version`, or of the current version).
    async fn get_tags(&self, key: &str, version: Option<&str>) -> Result<Vec<Tag>, StoreError>;

    /// Replace the whole tag set of one version. Callers merge with [`ObjectStore::get_tags`] first.
    async fn put_tags(
        &self,
        key: &str,
        version: Option<&str>,
        tags: &[Tag],
    ) -> Result<(), StoreError>;

    /// Copy one version onto the same key with replaced user metadata, keeping content type,
    /// encryption and storage class. Above `multipart_threshold` bytes the copy is a multipart
    /// upload of ranged part copies. Returns the new version.
    async fn copy_in_place(&self, request: &CopyInPlace) -> Result<CopyOutcome, StoreError>;

    /// Set or release the Object Lock legal hold of one version.
    async fn put_legal_hold(
        &self,
        key: &str,
        version: Option<&str>,
        on: bool,
    ) -> Result<(), StoreError>;

    /// Versioning and Object Lock state of the bucket.
    async fn bucket_config(&self) -> Result<BucketConfig, StoreError>;

    /// Write a whole object. With [`PutCondition::IfNoneMatch`] the write is refused when the key
    /// already exists, and that refusal is [`PutOutcome::AlreadyExists`], not an error.
    async fn put(&self, request: PutRequest) -> Result<PutOutcome, StoreError>;

    /// Read one whole version into memory. For small objects (ledger blocks, metadata JSON).
    async fn get_bytes(&self, key: &str, version: Option<&str>) -> Result<Bytes, StoreError> {
        let body = self.get(key, version, None).await?;
        body.collect().await
    }
}

/// A store opened from a location string, and the key prefix the location named inside it.
#[derive(Clone)]
pub struct OpenedStore {
    pub store: std::sync::Arc<dyn ObjectStore>,
    /// For `s3://bucket/some/prefix`, `some/prefix`; empty for a bare bucket or a folder.
    pub prefix: String,
}

/// Opens `s3://bucket[/prefix]` with the connection settings of `s3` (its `bucket` is replaced by
/// the location's), or a local folder given as a path or `file://` URL.
pub async fn open(location: &str, s3: &s3::S3Options) -> Result<OpenedStore, StoreError> {
    if let Some(rest) = location.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StoreError::new(
                StoreErrorKind::InvalidRequest,
                "OpenStore",
                format!("{location:?} names no bucket"),
            ));
        }
        let options = s3::S3Options {
            bucket: bucket.to_string(),
            ..s3.clone()
        };
        return Ok(OpenedStore {
            store: std::sync::Arc::new(s3::S3Store::connect(&options).await),
            prefix: prefix.to_string(),
        });
    }
    let path = location.strip_prefix("file://").unwrap_or(location);
    Ok(OpenedStore {
        store: std::sync::Arc::new(fs::FsStore::open(path)?),
        prefix: String::new(),
    })
}
