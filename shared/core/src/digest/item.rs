//! What to hash, and what is already known about it: one request per small object when a
//! listing (or a record) already gave its ETag.
//!
//! | known about the item | requests | pinned by |
//! |---|---|---|
//! | nothing (key, maybe version) | HEAD, then GET(s) | HEAD's version and ETag |
//! | ETag and size, size <= `part_size` | one `GET ?versionId=V` with `If-Match: "E"` and `x-amz-checksum-mode: ENABLED` | the GET's own headers |
//! | ETag, larger or size unknown | HEAD (its ETag must be the listed one), then ranged GETs | HEAD |
//!
//! S3 answers a GET with `If-Match` whose ETag is no longer the object's with
//! `412 Precondition Failed` (RFC 9110 §13.1.1): the object changed between listing and GET.
//! That is [`DigestError::ChangedSinceListed`], a changed object (as a GET serving another ETag
//! than HEAD's is), not a hashing fault.

use super::DigestError;
use super::engine::DigestEngine;
use super::fetch::{pin, unquote};
use super::{ObjectDigest, RetryPolicy};
use crate::store::{HeadAndBody, StoreErrorKind};

/// One object version to hash: the current version when `version_id` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashItem {
    pub key: String,
    pub version_id: Option<String>,
    /// The ETag a listing or a record gave (without quotes); the version read must have it.
    pub etag: Option<String>,
    /// The size a listing or a record gave: with the ETag, a small object is read in one GET.
    pub size: Option<u64>,
}

impl HashItem {
    pub fn new(key: impl Into<String>, version_id: Option<String>) -> Self {
        HashItem {
            key: key.into(),
            version_id,
            etag: None,
            size: None,
        }
    }

    /// What a listing (ListObjectsV2 / ListObjectVersions) or a custody record said: the version
    /// read must have this ETag, and a small one is read with one GET instead of HEAD + GET.
    pub fn listed(mut self, etag: impl Into<String>, size: u64) -> Self {
        self.etag = Some(unquote(&etag.into()).to_string());
        self.size = Some(size);
        self
    }
}

impl From<&str> for HashItem {
    fn from(key: &str) -> Self {
        HashItem::new(key, None)
    }
}

impl From<String> for HashItem {
    fn from(key: String) -> Self {
        HashItem::new(key, None)
    }
}

impl DigestEngine {
    /// Hashes one item with as few requests as what is known about it allows (see the module
    /// documentation).
    pub async fn hash_item(&self, item: &HashItem) -> Result<ObjectDigest, DigestError> {
        let version = item.version_id.as_deref();
        let Some(etag) = item.etag.as_deref() else {
            return self.hash_version(&item.key, version).await;
        };
        if item
            .size
            .is_some_and(|size| size <= self.inner.options.part_size)
        {
            return self.hash_in_one_request(&item.key, version, etag).await;
        }
        let mut retries = 0;
        let head = self
            .head_with_retries(&item.key, version, &mut retries)
            .await?;
        if unquote(&head.etag) != etag {
            return Err(changed_since_listed(
                &item.key,
                version,
                etag,
                format!("HEAD answered ETag {}", unquote(&head.etag)),
            ));
        }
        let pinned = pin(&item.key, version, &head)?;
        self.hash_at(head, pinned, retries, None).await
    }

    /// One GET pinned with `versionId` and `If-Match`, whose headers describe the object (no
    /// HEAD). Should the object be larger than one part after all, it is read as parts, pinned by
    /// what the GET said.
    async fn hash_in_one_request(
        &self,
        key: &str,
        version: Option<&str>,
        etag: &str,
    ) -> Result<ObjectDigest, DigestError> {
        let mut retries = 0;
        let HeadAndBody { head, body } = self
            .get_with_head_retried(key, version, etag, &mut retries)
            .await?;
        if unquote(&head.etag) != etag {
            return Err(changed_since_listed(
                key,
                version,
                etag,
                format!("the GET served ETag {}", unquote(&head.etag)),
            ));
        }
        let pinned = pin(key, version, &head)?;
        let opened = (head.size <= self.inner.options.part_size).then_some(body);
        self.hash_at(head, pinned, retries, opened).await
    }

    async fn get_with_head_retried(
        &self,
        key: &str,
        version: Option<&str>,
        etag: &str,
        retries: &mut u32,
    ) -> Result<HeadAndBody, DigestError> {
        let policy: &RetryPolicy = &self.inner.options.retry;
        let mut failures = 0;
        loop {
            match self
                .inner
                .store
                .get_with_head(key, version, Some(etag))
                .await
            {
                Ok(opened) => return Ok(opened),
                Err(error) if error.kind == StoreErrorKind::PreconditionFailed => {
                    return Err(changed_since_listed(
                        key,
                        version,
                        etag,
                        format!("GET with If-Match refused: {}", error.message),
                    ));
                }
                Err(error) => {
                    failures += 1;
                    if !error.is_retryable() || failures >= policy.max_attempts {
                        return Err(DigestError::store(key, error, failures));
                    }
                    *retries += 1;
                    tokio::time::sleep(policy.delay(failures)).await;
                }
            }
        }
    }
}

fn changed_since_listed(
    key: &str,
    version: Option<&str>,
    listed_etag: &str,
    how: String,
) -> DigestError {
    DigestError::ChangedSinceListed {
        key: key.to_string(),
        version: version.map(str::to_string),
        listed_etag: listed_etag.to_string(),
        how,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::digest::{HashOptions, sha256_hex};
    use crate::store::faulty::{Fault, FaultyStore, Rule};
    use crate::store::memory::MemoryStore;
    use crate::store::{BucketSpec, PutOutcome, PutRequest, StoreRead, StoreWrite};

    fn engine(store: Arc<dyn StoreRead>) -> DigestEngine {
        DigestEngine::new(
            store,
            HashOptions {
                part_size: 64 * 1024,
                retry: RetryPolicy {
                    max_attempts: 4,
                    base_delay: Duration::from_millis(1),
                    max_delay: Duration::from_millis(5),
                },
                ..HashOptions::default()
            },
        )
    }

    async fn put(memory: &MemoryStore, key: &str, body: &[u8]) -> Option<String> {
        match memory
            .put(PutRequest::new(key, body.to_vec()))
            .await
            .unwrap()
        {
            PutOutcome::Created { version_id, .. } => version_id,
            PutOutcome::AlreadyExists => unreachable!("unconditional put"),
        }
    }

    #[tokio::test]
    async fn a_listed_object_hashes_and_a_changed_one_is_reported_as_changed() {
        let memory = Arc::new(MemoryStore::new("m", BucketSpec::default()));
        put(&memory, "a", b"first").await;
        put(&memory, "big", &[7u8; 100_000]).await;
        let listed = memory.list("").await.unwrap();
        let items: Vec<HashItem> = listed
            .iter()
            .map(|o| HashItem::from(o.key.as_str()).listed(&o.etag, o.size))
            .collect();
        let engine = engine(memory.clone());
        let digest = engine.hash_item(&items[0]).await.unwrap();
        assert_eq!(digest.sha256_hex, sha256_hex(b"first"));

        put(&memory, "a", b"second").await;
        put(&memory, "big", &[8u8; 100_000]).await;
        for item in &items {
            let error = engine.hash_item(item).await.unwrap_err();
            assert!(
                matches!(&error, DigestError::ChangedSinceListed { key, listed_etag, .. }
                    if *key == item.key && Some(listed_etag) == item.etag.as_ref()),
                "{error}"
            );
            assert!(error.is_changed_object());
        }
    }

    #[tokio::test]
    async fn transient_refusals_of_the_one_request_are_retried() {
        let memory = Arc::new(MemoryStore::new("m", BucketSpec::default()));
        put(&memory, "a", b"content").await;
        let listed = memory.list("").await.unwrap();
        let faulty = Arc::new(FaultyStore::new(memory.clone()));
        faulty.inject(Rule {
            action: None,
            key_prefix: Some("a".into()),
            times: 2,
            fault: Fault::Refuse(crate::store::StoreErrorKind::Transient, "SlowDown"),
        });
        let item = HashItem::from("a").listed(&listed[0].etag, listed[0].size);
        let digest = engine(faulty).hash_item(&item).await.unwrap();
        assert_eq!(digest.sha256_hex, sha256_hex(b"content"));
        assert_eq!(digest.retries, 2);
    }
}
