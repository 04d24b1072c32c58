//! The object-store ports: what the custody engine needs from a bucket, and nothing more.
//!
//! One store value stands for one bucket (or one local folder standing in for a bucket). Every
//! read that matters for custody is pinned to a version where the bucket is versioned, so the
//! version hashed is the version marked and the version recorded.
//!
//! The port is split by what callers need, so that each caller (and each test double) sees only
//! the calls it makes:
//!
//! | port | calls | used by |
//! |---|---|---|
//! | [`StoreRead`] | list (whole or by page), head, get, bucket configuration | discovery, hashing, verification |
//! | [`StoreMark`] | tags, metadata copy, legal hold | the hold engine |
//! | [`StoreWrite`] | conditional put, delete | the ledger |
//! | [`ObjectStore`] | all of them | what settings build for a run |
//!
//! Adapters: [`fs::FsStore`] (a local folder), [`memory::MemoryStore`] (in memory, for unit tests)
//! and [`faulty::FaultyStore`] (wraps any store and injects the failures a test names);
//! [`counting::CountingStore`] wraps any store to count requests and bytes read (what a query cost);
//! [`retrying::RetryingStore`] wraps any store to retry transient failures in the run. The S3
//! adapter lives in the `custody-aws` crate.

mod checksum;
pub mod counting;
mod error;
pub mod faulty;
pub mod fs;
pub mod memory;
mod model;
pub mod retrying;

pub use checksum::ChecksumAlgorithm;
pub use error::{StoreError, StoreErrorKind};
pub use model::*;

use async_trait::async_trait;
use bytes::Bytes;

/// Reading a bucket: listings, HEADs, pinned reads.
#[async_trait]
pub trait StoreRead: Send + Sync {
    /// Where this store points, for messages and records: `s3://bucket` or `file:///path`.
    fn location(&self) -> String;

    /// The bucket name (for the filesystem adapter, the folder's name).
    fn bucket(&self) -> &str;

    /// Current (latest, not deleted) objects whose key starts with `prefix`, in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>, StoreError>;

    /// One page of [`StoreRead::list`]: at most `max` current objects whose key starts with
    /// `prefix` and comes after `start_after` (S3's ListObjectsV2 `StartAfter`, `MaxKeys`) in the
    /// store's listing order, and the key to start the next page after (`None` on the last
    /// page). S3 lists in UTF-8 binary key order; some S3-compatible servers (SeaweedFS) list
    /// folder by folder; either way the pages add up to the listing, each key once, and the keys
    /// under one `/`-separated folder come together. Discovery of a whole export reads the
    /// listing page by page, so its memory does not grow with the export.
    async fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<ListPage, StoreError>;

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

    /// A whole version read with one request that also answers what HEAD would (size, ETag,
    /// version, stored checksum with checksum mode on, encryption, parts count). With
    /// `if_match`, the store refuses a version whose ETag is another one with
    /// [`StoreErrorKind::PreconditionFailed`] (S3: `If-Match`, `412 Precondition Failed`): the
    /// object changed since whoever gave the ETag (a listing, a record) saw it.
    ///
    /// The default asks HEAD then GET (two requests) and refuses a HEAD with another ETag itself;
    /// the S3 adapter sends one `GetObject` with `versionId`, `If-Match` and
    /// `x-amz-checksum-mode: ENABLED`. The legal-hold state is only what the GET's headers say.
    async fn get_with_head(
        &self,
        key: &str,
        version: Option<&str>,
        if_match: Option<&str>,
    ) -> Result<HeadAndBody, StoreError> {
        let head = self.head(key, version).await?;
        if let Some(expected) = if_match
            && expected.trim_matches('"') != head.etag.trim_matches('"')
        {
            return Err(StoreError::new(
                StoreErrorKind::PreconditionFailed,
                "GetObject",
                format!(
                    "If-Match {expected:?} refused: the object's ETag is now {:?}",
                    head.etag
                ),
            )
            .with_key(key));
        }
        // Pinned to the version HEAD described, so that a write in between is not read.
        let body = self
            .get(key, head.version_id.as_deref().or(version), None)
            .await?;
        Ok(HeadAndBody { head, body })
    }

    /// The size of each part of a multipart upload of `parts` parts, in part order, or `Ok(None)`
    /// when the store cannot tell (the default: folders and memory keep no parts). S3: one
    /// `HEAD ?partNumber=n&versionId=V` per part, each answering part n's `Content-Length`;
    /// an answer with another ETag than `etag` (the object changed) gives `Ok(None)`.
    async fn part_sizes(
        &self,
        key: &str,
        version: Option<&str>,
        etag: &str,
        parts: u32,
    ) -> Result<Option<Vec<u64>>, StoreError> {
        let _ = (key, version, etag, parts);
        Ok(None)
    }

    /// Versioning and Object Lock state of the bucket.
    async fn bucket_config(&self) -> Result<BucketConfig, StoreError>;

    /// Every version and delete marker of every key under `prefix`, in key order, where the
    /// store keeps versions (S3's ListObjectVersions); `Ok(None)` when it cannot tell (an
    /// unversioned folder, or an adapter without the capability). The ledger's verifier uses it
    /// to find overwritten blocks and keys.
    async fn list_versions(&self, prefix: &str) -> Result<Option<Vec<ObjectVersion>>, StoreError> {
        let _ = prefix;
        Ok(None)
    }

    /// Read one whole version into memory. For small objects (ledger blocks, metadata JSON).
    async fn get_bytes(&self, key: &str, version: Option<&str>) -> Result<Bytes, StoreError> {
        let body = self.get(key, version, None).await?;
        body.collect().await
    }

    /// The permission a denied call most likely lacks, in the terms of the store's access
    /// control (for S3, the IAM actions), or `None` when the error is not a denial or the store
    /// has no such notion. `versioned`: a specific version was addressed; `kms`: the object is
    /// encrypted with a managed key.
    fn explain_denial(&self, error: &StoreError, versioned: bool, kms: bool) -> Option<String> {
        let _ = (error, versioned, kms);
        None
    }
}

/// Marking objects under legal hold: tags, metadata copies, Object Lock legal holds.
#[async_trait]
pub trait StoreMark: StoreRead {
    /// The object's tag set (of `version`, or of the current version).
    async fn get_tags(&self, key: &str, version: Option<&str>) -> Result<Vec<Tag>, StoreError>;

    /// Replace the whole tag set of one version. Callers merge with [`StoreMark::get_tags`] first.
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
}

/// Writing whole objects (the ledger's blocks, keys and indexes).
#[async_trait]
pub trait StoreWrite: StoreRead {
    /// Write a whole object. With [`PutCondition::IfNoneMatch`] the write is refused when the key
    /// already exists, and that refusal is [`PutOutcome::AlreadyExists`], not an error.
    async fn put(&self, request: PutRequest) -> Result<PutOutcome, StoreError>;

    /// Remove the current object under `key` (S3 DeleteObject without a version: on a versioned
    /// bucket a delete marker, older versions kept). Deleting a key that does not exist succeeds,
    /// as on S3. The ledger deletes only integrated submissions.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// Every call: what settings build for a run. Implemented for anything that reads, marks and
/// writes.
pub trait ObjectStore: StoreMark + StoreWrite {}

impl<T: StoreMark + StoreWrite + ?Sized> ObjectStore for T {}

/// A local folder opened as a store, given as a path or a `file://` URL.
pub fn open_folder(location: &str) -> Result<std::sync::Arc<dyn ObjectStore>, StoreError> {
    let path = location.strip_prefix("file://").unwrap_or(location);
    Ok(std::sync::Arc::new(fs::FsStore::open(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_folder_takes_a_path_or_file_url() {
        let dir = tempfile::tempdir().unwrap();
        for location in [
            dir.path().display().to_string(),
            format!("file://{}", dir.path().display()),
        ] {
            let store = open_folder(&location).unwrap();
            assert!(store.location().starts_with("file://"));
        }
        let missing = open_folder("/no/such/folder/anywhere");
        assert_eq!(
            missing.err().map(|e| e.kind),
            Some(StoreErrorKind::NotFound)
        );
    }
}
