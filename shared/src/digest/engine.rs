//! The hashing engine: pinned versions, concurrent ranged GETs, in-order hashing off the runtime.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::stream::{self, Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::check::{checksum_check, etag_check};
use super::fetch::{FetchedPart, Pinned, fetch_part, unquote};
use super::plan::{Part, parts};
use super::{DigestError, HashOptions, ObjectDigest, StreamingDigest};
use crate::store::{ObjectHead, ObjectStore};

/// Parts up to this size are hashed on the task that fetched them: handing them to a worker
/// thread costs more than hashing them (64 KiB take about 40 µs with SHA-NI).
const INLINE_HASH_MAX_BYTES: u64 = 64 * 1024;

/// The memory budget is counted in KiB so that a `u32` permit count covers any part size.
const BUDGET_UNIT: u64 = 1024;

/// One object version to hash: the current version when `version_id` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashItem {
    pub key: String,
    pub version_id: Option<String>,
}

impl HashItem {
    pub fn new(key: impl Into<String>, version_id: Option<String>) -> Self {
        HashItem {
            key: key.into(),
            version_id,
        }
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

/// The result for one item of [`DigestEngine::hash_stream`]; `index` is its position in the input.
#[derive(Debug)]
pub struct HashOutcome {
    pub index: usize,
    pub item: HashItem,
    pub result: Result<ObjectDigest, DigestError>,
}

/// Hashes object versions of one store. Cheap to clone; clones share the memory budget.
#[derive(Clone)]
pub struct DigestEngine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ObjectStore>,
    options: HashOptions,
    budget: Arc<Semaphore>,
}

/// Hashes one version (the current one when `version` is `None`) with a fresh engine.
pub async fn hash_version(
    store: &Arc<dyn ObjectStore>,
    key: &str,
    version: Option<&str>,
    options: &HashOptions,
) -> Result<ObjectDigest, DigestError> {
    DigestEngine::new(store.clone(), options.clone())
        .hash_version(key, version)
        .await
}

/// Hashes many versions with bounded concurrency; one result per item, in item order.
pub async fn hash_many(
    store: &Arc<dyn ObjectStore>,
    items: impl IntoIterator<Item = HashItem>,
    options: &HashOptions,
) -> Vec<Result<ObjectDigest, DigestError>> {
    DigestEngine::new(store.clone(), options.clone())
        .hash_many(items)
        .await
}

impl DigestEngine {
    pub fn new(store: Arc<dyn ObjectStore>, options: HashOptions) -> Self {
        let options = options.normalized();
        let units = options.memory_budget.div_ceil(BUDGET_UNIT);
        let units = usize::try_from(units)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        DigestEngine {
            inner: Arc::new(Inner {
                store,
                options,
                budget: Arc::new(Semaphore::new(units)),
            }),
        }
    }

    pub fn options(&self) -> &HashOptions {
        &self.inner.options
    }

    /// Hashes one version. HEAD pins the version (and its ETag); every GET then asks for that
    /// version, and a body of any other version or ETag is an error, never hashed.
    pub async fn hash_version(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> Result<ObjectDigest, DigestError> {
        let mut retries = 0;
        let head = self.head_with_retries(key, version, &mut retries).await?;
        let pinned = pin(key, version, &head)?;
        self.hash_at(head, pinned, retries).await
    }

    /// Hashes the version a HEAD the caller already made describes (`head.version_id`, or the
    /// current object with `head.etag` on an unversioned bucket), saving a second HEAD.
    pub async fn hash_head(&self, head: ObjectHead) -> Result<ObjectDigest, DigestError> {
        let pinned = pin(&head.key, head.version_id.as_deref(), &head)?;
        self.hash_at(head, pinned, 0).await
    }

    async fn hash_at(
        &self,
        head: ObjectHead,
        pinned: Pinned,
        mut retries: u32,
    ) -> Result<ObjectDigest, DigestError> {
        let with_md5 = self.inner.options.verify_etag_md5 && head.etag_is_md5();
        let digest = self.hash_pinned(&pinned, with_md5, &mut retries).await?;
        let digests = digest.finish();
        if digests.size != pinned.size {
            return Err(DigestError::LengthMismatch {
                key: pinned.key,
                version: pinned.version_id,
                what: "the bytes read differ from the size at HEAD",
                expected: head.size,
                served: digests.size,
            });
        }
        Ok(ObjectDigest {
            key: pinned.key,
            version_id: pinned.version_id,
            size: digests.size,
            etag: unquote(&head.etag).to_string(),
            sha256_hex: digests.sha256_hex(),
            md5_hex: digests.md5_hex(),
            etag_check: etag_check(&head, digests.md5.as_ref()),
            checksum_check: checksum_check(head.checksum_sha256.as_ref(), &digests.sha256),
            retries,
            head,
        })
    }

    /// Hashes many versions, at most `object_concurrency` at once, yielding each result as soon
    /// as it is ready (not in input order: see [`HashOutcome::index`]). Only the items in flight
    /// are held, so a stream of millions of items runs in bounded memory.
    pub fn hash_stream<S>(&self, items: S) -> impl Stream<Item = HashOutcome> + Send + 'static
    where
        S: Stream<Item = HashItem> + Send + 'static,
    {
        let engine = self.clone();
        let concurrency = self.inner.options.object_concurrency;
        items
            .enumerate()
            .map(move |(index, item)| {
                let engine = engine.clone();
                let task_item = item.clone();
                let task = spawn_owned(async move {
                    engine
                        .hash_version(&task_item.key, task_item.version_id.as_deref())
                        .await
                });
                async move {
                    let result = task.await.unwrap_or_else(|message| {
                        Err(DigestError::Internal {
                            key: item.key.clone(),
                            message,
                        })
                    });
                    HashOutcome {
                        index,
                        item,
                        result,
                    }
                }
            })
            .buffer_unordered(concurrency)
    }

    /// Hashes many versions; one result per item, in item order. An error for one item never
    /// stops the others.
    pub async fn hash_many(
        &self,
        items: impl IntoIterator<Item = HashItem>,
    ) -> Vec<Result<ObjectDigest, DigestError>> {
        let items: Vec<HashItem> = items.into_iter().collect();
        let mut results: Vec<Option<Result<ObjectDigest, DigestError>>> =
            (0..items.len()).map(|_| None).collect();
        let mut outcomes = std::pin::pin!(self.hash_stream(stream::iter(items)));
        while let Some(outcome) = outcomes.next().await {
            results[outcome.index] = Some(outcome.result);
        }
        results
            .into_iter()
            .map(|result| result.expect("every item yields exactly one outcome"))
            .collect()
    }

    async fn head_with_retries(
        &self,
        key: &str,
        version: Option<&str>,
        retries: &mut u32,
    ) -> Result<ObjectHead, DigestError> {
        let policy = &self.inner.options.retry;
        let mut failures = 0;
        loop {
            match self.inner.store.head(key, version).await {
                Ok(head) => return Ok(head),
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

    /// Fetches the parts of the pinned version concurrently (each part its own task, holding its
    /// share of the memory budget from before the fetch until it is hashed) and hashes them in
    /// order on the rayon pool.
    async fn hash_pinned(
        &self,
        pinned: &Pinned,
        with_md5: bool,
        retries: &mut u32,
    ) -> Result<StreamingDigest, DigestError> {
        let options = &self.inner.options;
        let mut digest = StreamingDigest::new(with_md5);
        let internal = |message| DigestError::Internal {
            key: pinned.key.clone(),
            message,
        };

        if pinned.size <= options.part_size {
            // One GET: fetched on this task, no pipeline needed.
            let part = parts(pinned.size, options.part_size)
                .next()
                .expect("every object has a first part");
            let (part, permit) = acquire(self.inner.budget.clone(), part).await;
            let fetched =
                fetch_part(self.inner.store.as_ref(), pinned, part, &options.retry).await?;
            *retries += fetched.retries;
            return hash_part(digest, fetched, permit).await.map_err(internal);
        }

        let pinned = Arc::new(pinned.clone());
        let budget = self.inner.budget.clone();
        let engine = self.inner.clone();
        // Permits are taken one part after the other (`then`), so a later part of an object never
        // holds budget that an earlier part of the same object waits for.
        let mut fetches = std::pin::pin!(
            stream::iter(parts(pinned.size, options.part_size))
                .then(move |part| acquire(budget.clone(), part))
                .map(move |(part, permit)| {
                    let engine = engine.clone();
                    let pinned = pinned.clone();
                    spawn_owned(async move {
                        let fetched =
                            fetch_part(engine.store.as_ref(), &pinned, part, &engine.options.retry)
                                .await;
                        fetched.map(|fetched| (fetched, permit))
                    })
                })
                .buffered(options.part_concurrency)
        );

        while let Some(joined) = fetches.next().await {
            let (fetched, permit) = joined.map_err(internal)??;
            *retries += fetched.retries;
            digest = hash_part(digest, fetched, permit).await.map_err(internal)?;
        }
        Ok(digest)
    }
}

async fn acquire(budget: Arc<Semaphore>, part: Part) -> (Part, OwnedSemaphorePermit) {
    let units = part.len.div_ceil(BUDGET_UNIT).max(1);
    let units = u32::try_from(units).unwrap_or(u32::MAX);
    let permit = budget
        .acquire_many_owned(units)
        .await
        .expect("the memory budget semaphore is never closed");
    (part, permit)
}

/// Hashes one fetched part, inline when small, else on the rayon pool; the part's budget is
/// released once its bytes are hashed and dropped.
async fn hash_part(
    mut digest: StreamingDigest,
    fetched: FetchedPart,
    permit: OwnedSemaphorePermit,
) -> Result<StreamingDigest, String> {
    if fetched.len <= INLINE_HASH_MAX_BYTES {
        digest.update_chunks(&fetched.chunks);
        drop(permit);
        return Ok(digest);
    }
    on_rayon(move || {
        digest.update_chunks(&fetched.chunks);
        drop(fetched);
        drop(permit);
        digest
    })
    .await
}

/// Runs CPU work on the rayon pool (sized to the cores) and awaits it without blocking a runtime
/// thread. A panic comes back as an error message.
async fn on_rayon<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (done, result) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(work)).map_err(panic_message);
        let _ = done.send(outcome);
    });
    result
        .await
        .map_err(|_| "the hashing worker went away".to_string())?
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string())
}

/// Decides the version every GET will ask for, and refuses a HEAD that answered for another one.
fn pin(key: &str, requested: Option<&str>, head: &ObjectHead) -> Result<Pinned, DigestError> {
    if let Some(requested) = requested
        && head.version_id.as_deref() != Some(requested)
    {
        return Err(DigestError::VersionChanged {
            key: key.to_string(),
            pinned: Some(requested.to_string()),
            served: head.version_id.clone(),
        });
    }
    Ok(Pinned {
        key: key.to_string(),
        version_id: head.version_id.clone(),
        etag: unquote(&head.etag).to_string(),
        size: head.size,
    })
}

/// A spawned task that is aborted when its handle is dropped, so that dropping a hash (an error
/// in one part, a cancelled caller) stops its other fetches too. Resolves to `Err` on a panic.
fn spawn_owned<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> impl Future<Output = Result<T, String>> + Send + 'static {
    let handle = AbortOnDrop(tokio::spawn(work));
    async move {
        let mut handle = handle;
        (&mut handle.0).await.map_err(|error| {
            if error.is_panic() {
                panic_message(error.into_panic())
            } else {
                "the task was cancelled".to_string()
            }
        })
    }
}

struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
