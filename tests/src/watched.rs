//! A store wrapper for tests and benchmarks against a real store: it counts the content bytes
//! every GET delivers (what a run read), and can
//! - stall the writes under a key prefix after a number of them, so that a run can be "killed"
//!   at a known point (the caller drops the run's future once [`WatchedStore::stalled`] fires);
//! - answer HEADs and GETs with another ETag and without the stored checksum, as a corrupted
//!   object's answers look ([`WatchedStore::serving_etag`], [`WatchedStore::without_checksums`]);
//! - not tell part sizes, as a store without part HEADs ([`WatchedStore::without_part_sizes`]);
//! - write new content to a key just before the first GET, as a concurrent writer would
//!   ([`WatchedStore::writing_before_first_get`]).
//!
//! Everything else is forwarded to the real store unchanged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use custody_core::store::{
    BucketConfig, ByteRange, CopyInPlace, CopyOutcome, ListPage, ObjectBody, ObjectHead,
    ObjectStore, ObjectSummary, ObjectVersion, PutOutcome, PutRequest, StoreError, StoreMark,
    StoreRead, StoreWrite, Tag,
};
use futures::StreamExt;
use tokio::sync::Notify;

/// Writes under `prefix` succeed `allowed` times; the next one never completes.
struct Stall {
    prefix: String,
    allowed: usize,
    seen: AtomicUsize,
}

/// Wraps any store; see the module docs.
pub struct WatchedStore {
    inner: Arc<dyn ObjectStore>,
    bytes_read: Arc<AtomicU64>,
    stall: Option<Stall>,
    stalled: Arc<Notify>,
    served_etag: Option<String>,
    without_checksums: bool,
    without_part_sizes: bool,
    /// The write made before the first GET, and whether it was made.
    before_first_get: Option<(PutRequest, AtomicBool)>,
}

impl WatchedStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        WatchedStore {
            inner,
            bytes_read: Arc::new(AtomicU64::new(0)),
            stall: None,
            stalled: Arc::new(Notify::new()),
            served_etag: None,
            without_checksums: false,
            without_part_sizes: false,
            before_first_get: None,
        }
    }

    /// HEADs and GETs answer `etag` in place of the real ETag (part sizes are still asked of the
    /// store with the real one).
    pub fn serving_etag(mut self, etag: &str) -> Self {
        self.served_etag = Some(etag.to_string());
        self
    }

    /// HEADs answer no stored checksum: only the ETag is left to compare with.
    pub fn without_checksums(mut self) -> Self {
        self.without_checksums = true;
        self
    }

    /// Part sizes are never told, as by a store without part HEADs.
    pub fn without_part_sizes(mut self) -> Self {
        self.without_part_sizes = true;
        self
    }

    /// Just before the first GET, `body` is put at `key` (a new version, or an overwrite of an
    /// unversioned object).
    pub fn writing_before_first_get(mut self, key: &str, body: Vec<u8>) -> Self {
        self.before_first_get = Some((
            PutRequest::new(key.to_string(), body),
            AtomicBool::new(false),
        ));
        self
    }

    /// Let `allowed` writes under `prefix` through, then hang the next one forever.
    pub fn stall_writes_after(mut self, prefix: &str, allowed: usize) -> Self {
        self.stall = Some(Stall {
            prefix: prefix.to_string(),
            allowed,
            seen: AtomicUsize::new(0),
        });
        self
    }

    /// Content bytes delivered by GETs so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::SeqCst)
    }

    /// Resolves once a write has been stalled.
    pub fn stalled(&self) -> Arc<Notify> {
        self.stalled.clone()
    }
}

#[async_trait]
impl StoreRead for WatchedStore {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn bucket(&self) -> &str {
        self.inner.bucket()
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>, StoreError> {
        self.inner.list(prefix).await
    }

    async fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<ListPage, StoreError> {
        self.inner.list_page(prefix, start_after, max).await
    }

    async fn head(&self, key: &str, version: Option<&str>) -> Result<ObjectHead, StoreError> {
        let mut head = self.inner.head(key, version).await?;
        if self.without_checksums {
            head.checksum = None;
            head.checksum_sha256 = None;
        }
        if let Some(etag) = &self.served_etag {
            head.etag = etag.clone();
        }
        Ok(head)
    }

    async fn get(
        &self,
        key: &str,
        version: Option<&str>,
        range: Option<ByteRange>,
    ) -> Result<ObjectBody, StoreError> {
        if let Some((write, made)) = &self.before_first_get
            && !made.swap(true, Ordering::SeqCst)
        {
            self.inner.put(write.clone()).await?;
        }
        let mut body = self.inner.get(key, version, range).await?;
        if let Some(etag) = &self.served_etag {
            body.etag = etag.clone();
        }
        let counter = self.bytes_read.clone();
        body.chunks = Box::pin(body.chunks.inspect(move |chunk| {
            if let Ok(bytes) = chunk {
                counter.fetch_add(bytes.len() as u64, Ordering::SeqCst);
            }
        }));
        Ok(body)
    }

    async fn get_bytes(&self, key: &str, version: Option<&str>) -> Result<Bytes, StoreError> {
        self.get(key, version, None).await?.collect().await
    }

    async fn part_sizes(
        &self,
        key: &str,
        version: Option<&str>,
        etag: &str,
        parts: u32,
    ) -> Result<Option<Vec<u64>>, StoreError> {
        if self.without_part_sizes {
            return Ok(None);
        }
        let etag = match &self.served_etag {
            Some(_) => self.inner.head(key, version).await?.etag,
            None => etag.to_string(),
        };
        self.inner.part_sizes(key, version, &etag, parts).await
    }

    async fn bucket_config(&self) -> Result<BucketConfig, StoreError> {
        self.inner.bucket_config().await
    }

    async fn list_versions(&self, prefix: &str) -> Result<Option<Vec<ObjectVersion>>, StoreError> {
        self.inner.list_versions(prefix).await
    }

    fn explain_denial(&self, error: &StoreError, versioned: bool, kms: bool) -> Option<String> {
        self.inner.explain_denial(error, versioned, kms)
    }
}

#[async_trait]
impl StoreMark for WatchedStore {
    async fn get_tags(&self, key: &str, version: Option<&str>) -> Result<Vec<Tag>, StoreError> {
        self.inner.get_tags(key, version).await
    }

    async fn put_tags(
        &self,
        key: &str,
        version: Option<&str>,
        tags: &[Tag],
    ) -> Result<(), StoreError> {
        self.inner.put_tags(key, version, tags).await
    }

    async fn copy_in_place(&self, request: &CopyInPlace) -> Result<CopyOutcome, StoreError> {
        self.inner.copy_in_place(request).await
    }

    async fn put_legal_hold(
        &self,
        key: &str,
        version: Option<&str>,
        on: bool,
    ) -> Result<(), StoreError> {
        self.inner.put_legal_hold(key, version, on).await
    }
}

#[async_trait]
impl StoreWrite for WatchedStore {
    async fn put(&self, request: PutRequest) -> Result<PutOutcome, StoreError> {
        if let Some(stall) = &self.stall
            && request.key.starts_with(&stall.prefix)
            && stall.seen.fetch_add(1, Ordering::SeqCst) >= stall.allowed
        {
            self.stalled.notify_one();
            return std::future::pending().await;
        }
        self.inner.put(request).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
}
