//! A store wrapper for tests and benchmarks of the streaming ingest: it counts the content bytes
//! every GET delivers (what a run read), and can stall the writes under a key prefix after a
//! number of them, so that a run can be "killed" at a known point (the caller drops the run's
//! future once [`WatchedStore::stalled`] fires).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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
}

impl WatchedStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        WatchedStore {
            inner,
            bytes_read: Arc::new(AtomicU64::new(0)),
            stall: None,
            stalled: Arc::new(Notify::new()),
        }
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
        self.inner.head(key, version).await
    }

    async fn get(
        &self,
        key: &str,
        version: Option<&str>,
        range: Option<ByteRange>,
    ) -> Result<ObjectBody, StoreError> {
        let mut body = self.inner.get(key, version, range).await?;
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
