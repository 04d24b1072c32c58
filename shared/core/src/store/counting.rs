//! A store that counts what passes through it: requests by kind and bytes read, so that a
//! command can say what a query cost (the figures that become GET/LIST charges and transfer on
//! S3). Wraps any store that writes; counts only, changes nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;

use super::{
    BucketConfig, ByteRange, ListPage, ObjectBody, ObjectHead, ObjectSummary, ObjectVersion,
    PutOutcome, PutRequest, StoreError, StoreRead, StoreWrite,
};

/// Requests and bytes so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub lists: u64,
    pub heads: u64,
    pub gets: u64,
    /// GETs of a byte range.
    pub ranged_gets: u64,
    pub puts: u64,
    /// Body bytes served by GETs (whole or ranged).
    pub bytes_read: u64,
}

impl Usage {
    pub fn requests(&self) -> u64 {
        self.lists + self.heads + self.gets + self.puts
    }
}

#[derive(Default)]
struct Counters {
    lists: AtomicU64,
    heads: AtomicU64,
    gets: AtomicU64,
    ranged_gets: AtomicU64,
    puts: AtomicU64,
    bytes_read: AtomicU64,
}

/// Wraps a store and counts its requests.
pub struct CountingStore {
    inner: Arc<dyn StoreWrite>,
    counters: Arc<Counters>,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn StoreWrite>) -> CountingStore {
        CountingStore {
            inner,
            counters: Arc::default(),
        }
    }

    pub fn usage(&self) -> Usage {
        let c = &self.counters;
        Usage {
            lists: c.lists.load(Ordering::Relaxed),
            heads: c.heads.load(Ordering::Relaxed),
            gets: c.gets.load(Ordering::Relaxed),
            ranged_gets: c.ranged_gets.load(Ordering::Relaxed),
            puts: c.puts.load(Ordering::Relaxed),
            bytes_read: c.bytes_read.load(Ordering::Relaxed),
        }
    }

    /// Start counting from zero again.
    pub fn reset(&self) {
        let c = &self.counters;
        for n in [
            &c.lists,
            &c.heads,
            &c.gets,
            &c.ranged_gets,
            &c.puts,
            &c.bytes_read,
        ] {
            n.store(0, Ordering::Relaxed);
        }
    }
}

#[async_trait]
impl StoreRead for CountingStore {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn bucket(&self) -> &str {
        self.inner.bucket()
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>, StoreError> {
        let listed = self.inner.list(prefix).await?;
        // A listing answers at most 1,000 keys per request.
        let pages = (listed.len() as u64).div_ceil(1000).max(1);
        self.counters.lists.fetch_add(pages, Ordering::Relaxed);
        Ok(listed)
    }

    async fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<ListPage, StoreError> {
        let page = self.inner.list_page(prefix, start_after, max).await?;
        let requests = (page.objects.len() as u64).div_ceil(1000).max(1);
        self.counters.lists.fetch_add(requests, Ordering::Relaxed);
        Ok(page)
    }

    async fn head(&self, key: &str, version: Option<&str>) -> Result<ObjectHead, StoreError> {
        self.counters.heads.fetch_add(1, Ordering::Relaxed);
        self.inner.head(key, version).await
    }

    async fn get(
        &self,
        key: &str,
        version: Option<&str>,
        range: Option<ByteRange>,
    ) -> Result<ObjectBody, StoreError> {
        self.counters.gets.fetch_add(1, Ordering::Relaxed);
        if range.is_some() {
            self.counters.ranged_gets.fetch_add(1, Ordering::Relaxed);
        }
        let mut body = self.inner.get(key, version, range).await?;
        let counters = self.counters.clone();
        body.chunks = Box::pin(body.chunks.map(move |chunk| {
            if let Ok(bytes) = &chunk {
                counters
                    .bytes_read
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            chunk
        }));
        Ok(body)
    }

    async fn part_sizes(
        &self,
        key: &str,
        version: Option<&str>,
        etag: &str,
        parts: u32,
    ) -> Result<Option<Vec<u64>>, StoreError> {
        self.counters
            .heads
            .fetch_add(u64::from(parts), Ordering::Relaxed);
        self.inner.part_sizes(key, version, etag, parts).await
    }

    async fn bucket_config(&self) -> Result<BucketConfig, StoreError> {
        self.inner.bucket_config().await
    }

    async fn list_versions(&self, prefix: &str) -> Result<Option<Vec<ObjectVersion>>, StoreError> {
        self.counters.lists.fetch_add(1, Ordering::Relaxed);
        self.inner.list_versions(prefix).await
    }

    async fn get_bytes(&self, key: &str, version: Option<&str>) -> Result<Bytes, StoreError> {
        self.get(key, version, None).await?.collect().await
    }

    fn explain_denial(&self, error: &StoreError, versioned: bool, kms: bool) -> Option<String> {
        self.inner.explain_denial(error, versioned, kms)
    }
}

#[async_trait]
impl StoreWrite for CountingStore {
    async fn put(&self, request: PutRequest) -> Result<PutOutcome, StoreError> {
        self.counters.puts.fetch_add(1, Ordering::Relaxed);
        self.inner.put(request).await
    }

    /// Counted with the puts (a write request).
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.counters.puts.fetch_add(1, Ordering::Relaxed);
        self.inner.delete(key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::BucketSpec;
    use crate::store::memory::MemoryStore;

    #[tokio::test]
    async fn counts_requests_and_bytes_served() {
        let store = CountingStore::new(Arc::new(MemoryStore::new("b", BucketSpec::default())));
        store
            .put(PutRequest::new("k", Bytes::from_static(b"0123456789")))
            .await
            .unwrap();
        store.get_bytes("k", None).await.unwrap();
        let part = store
            .get("k", None, Some(ByteRange { first: 2, last: 4 }))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(part.as_ref(), b"234");
        store.list("").await.unwrap();
        let usage = store.usage();
        assert_eq!(
            usage,
            Usage {
                lists: 1,
                heads: 0,
                gets: 2,
                ranged_gets: 1,
                puts: 1,
                bytes_read: 13
            }
        );
        assert_eq!(usage.requests(), 4);
        store.reset();
        assert_eq!(store.usage(), Usage::default());
    }
}
