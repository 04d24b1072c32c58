//! Retries in the run: a wrapper over any store that retries transient failures (throttling,
//! 5xx, timeouts, resets: [`StoreError::is_retryable`]) of idempotent calls, with exponential
//! backoff and full jitter, before the failure reaches the engines (which then leave the step
//! unfinished for a later run, never a finding).
//!
//! Over S3 this runs after the SDK's own retries have given up, so that a burst of errors (which
//! empties the SDK's retry quota at once) slows a run instead of failing its steps.
//!
//! Not retried here: `CopyObject` (a retry after a lost answer makes a second copy: the hold
//! engine decides what to do), `PutObject` (a plain put retried after a lost answer writes a
//! second version; a create-only one reports `AlreadyExists`, hiding that the first attempt
//! made it: the ledger resolves such unknown outcomes itself, by reading back), and failures
//! inside a streamed body (the hashing engine resumes those by range; a whole small object read
//! with `get_bytes` is read again).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{
    BucketConfig, ByteRange, CopyInPlace, CopyOutcome, HeadAndBody, ListPage, ObjectBody,
    ObjectHead, ObjectStore, ObjectSummary, PutOutcome, PutRequest, StoreError, StoreMark,
    StoreRead, StoreWrite, Tag,
};

/// How often and how long to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Runs `call` until it succeeds, fails for a reason that is not transient, or the attempts
    /// are spent.
    pub async fn run<T, F, Fut>(&self, mut call: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut attempt = 1;
        loop {
            match call().await {
                Err(e) if e.is_retryable() && attempt < self.attempts => {
                    tokio::time::sleep(self.backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Full jitter: a uniform wait in `[0, min(max, initial * 2^(attempt-1))]`.
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .initial_backoff
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.max_backoff);
        cap.mul_f64(rand::random::<f64>())
    }
}

/// Wraps `inner`, retrying the transient failures of its idempotent calls.
pub struct RetryingStore {
    inner: Arc<dyn ObjectStore>,
    policy: RetryPolicy,
}

impl RetryingStore {
    pub fn new(inner: Arc<dyn ObjectStore>, policy: RetryPolicy) -> Self {
        RetryingStore { inner, policy }
    }
}

#[async_trait]
impl StoreRead for RetryingStore {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn bucket(&self) -> &str {
        self.inner.bucket()
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>, StoreError> {
        self.policy.run(|| self.inner.list(prefix)).await
    }

    async fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<ListPage, StoreError> {
        self.policy
            .run(|| self.inner.list_page(prefix, start_after, max))
            .await
    }

    async fn head(&self, key: &str, version: Option<&str>) -> Result<ObjectHead, StoreError> {
        self.policy.run(|| self.inner.head(key, version)).await
    }

    async fn get(
        &self,
        key: &str,
        version: Option<&str>,
        range: Option<ByteRange>,
    ) -> Result<ObjectBody, StoreError> {
        self.policy
            .run(|| self.inner.get(key, version, range))
            .await
    }

    async fn bucket_config(&self) -> Result<BucketConfig, StoreError> {
        self.policy.run(|| self.inner.bucket_config()).await
    }

    async fn part_sizes(
        &self,
        key: &str,
        version: Option<&str>,
        etag: &str,
        parts: u32,
    ) -> Result<Option<Vec<u64>>, StoreError> {
        self.policy
            .run(|| self.inner.part_sizes(key, version, etag, parts))
            .await
    }

    async fn get_with_head(
        &self,
        key: &str,
        version: Option<&str>,
        if_match: Option<&str>,
    ) -> Result<HeadAndBody, StoreError> {
        self.policy
            .run(|| self.inner.get_with_head(key, version, if_match))
            .await
    }

    /// A whole small object (a marker, a block, metadata): a body cut mid-way is read again.
    async fn get_bytes(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> Result<bytes::Bytes, StoreError> {
        self.policy.run(|| self.inner.get_bytes(key, version)).await
    }

    fn explain_denial(&self, error: &StoreError, versioned: bool, kms: bool) -> Option<String> {
        self.inner.explain_denial(error, versioned, kms)
    }
}

#[async_trait]
impl StoreMark for RetryingStore {
    async fn get_tags(&self, key: &str, version: Option<&str>) -> Result<Vec<Tag>, StoreError> {
        self.policy.run(|| self.inner.get_tags(key, version)).await
    }

    async fn put_tags(
        &self,
        key: &str,
        version: Option<&str>,
        tags: &[Tag],
    ) -> Result<(), StoreError> {
        self.policy
            .run(|| self.inner.put_tags(key, version, tags))
            .await
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
        self.policy
            .run(|| self.inner.put_legal_hold(key, version, on))
            .await
    }
}

#[async_trait]
impl StoreWrite for RetryingStore {
    async fn put(&self, request: PutRequest) -> Result<PutOutcome, StoreError> {
        self.inner.put(request).await
    }

    /// Deleting is idempotent (deleting an absent key succeeds), so it is retried.
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.policy.run(|| self.inner.delete(key)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::faulty::{Fault, FaultyStore, Rule};
    use crate::store::memory::MemoryStore;
    use crate::store::{BucketSpec, StoreErrorKind};

    fn quick() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
        }
    }

    #[tokio::test]
    async fn transient_failures_are_retried_and_permanent_ones_are_not() {
        let faulty = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new(
            "b",
            BucketSpec::default(),
        ))));
        let store = RetryingStore::new(faulty.clone(), quick());
        store.put(PutRequest::new("k", "x")).await.unwrap();
        let slow = Fault::Refuse(StoreErrorKind::Transient, "SlowDown");
        faulty.inject(Rule::on("HeadObject", 3, slow.clone()));
        assert!(store.head("k", None).await.is_ok());
        assert_eq!(faulty.calls("HeadObject"), 4);

        faulty.inject(Rule::on("GetObjectTagging", 4, slow));
        assert!(store.get_tags("k", None).await.unwrap_err().is_retryable());
        assert_eq!(faulty.calls("GetObjectTagging"), 4, "attempts are bounded");

        let denied = Fault::Refuse(StoreErrorKind::AccessDenied, "AccessDenied");
        faulty.inject(Rule::on("PutObjectTagging", 1, denied));
        assert!(store.put_tags("k", None, &[]).await.is_err());
        assert_eq!(
            faulty.calls("PutObjectTagging"),
            1,
            "a denial is not retried"
        );
    }

    #[tokio::test]
    async fn a_small_object_whose_body_was_cut_is_read_again() {
        let faulty = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new(
            "b",
            BucketSpec::default(),
        ))));
        let store = RetryingStore::new(faulty.clone(), quick());
        store
            .put(PutRequest::new("marker", vec![7u8; 100]))
            .await
            .unwrap();
        faulty.inject(Rule::on("GetObject", 2, Fault::CutBodyAt(10)));
        assert_eq!(store.get_bytes("marker", None).await.unwrap().len(), 100);
        assert_eq!(faulty.calls("GetObject"), 3);
    }

    #[tokio::test]
    async fn copies_and_puts_are_never_retried() {
        let memory = Arc::new(MemoryStore::new(
            "b",
            BucketSpec {
                versioned: true,
                object_lock: false,
            },
        ));
        let faulty = Arc::new(FaultyStore::new(memory.clone()));
        let store = RetryingStore::new(faulty.clone(), quick());
        store.put(PutRequest::new("k", "x")).await.unwrap();
        faulty.inject(Rule::on("CopyObject", 1, Fault::LoseAnswer));
        let copy = CopyInPlace {
            key: "k".into(),
            version_id: None,
            metadata: [("legal-hold".to_string(), "true".to_string())].into(),
            multipart_threshold: u64::MAX,
            part_size: 1 << 20,
        };
        assert!(store.copy_in_place(&copy).await.is_err());
        assert_eq!(memory.versions("k").len(), 2, "one copy, not two");

        faulty.inject(Rule::on("PutObject", 1, Fault::LoseAnswer));
        let lost = store.put(PutRequest::new("block", "b").create_only()).await;
        assert!(
            lost.unwrap_err().is_retryable(),
            "the caller learns the outcome is unknown"
        );
        assert_eq!(memory.versions("block").len(), 1);
        assert_eq!(
            faulty.calls("PutObject"),
            2,
            "the first put and this one, no retry"
        );
    }
}
