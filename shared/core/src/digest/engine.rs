//! The hashing engine: pinned versions, concurrent ranged GETs, in-order hashing off the runtime.
//!
//! The pipeline (budget, parts in flight, in-order hand-off to the hashing threads) is here;
//! running work off the async runtime (rayon, owned tasks) is in `super::tasks`.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use futures::stream::{self, Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::check::{CrossCheck, checksum_check, computed_checksum, cross_check_plan, etag_check};
use super::fetch::{Pinned, Progress, fetch_part, pin, unquote};
use super::multipart;
use super::plan::{Part, parts};
use super::tasks::{on_rayon, spawn_owned};
use super::{Check, DigestError, HashItem, HashOptions, ObjectDigest, StreamingDigest};
use crate::store::{ObjectBody, ObjectHead, StoreRead};

/// Parts up to this size are hashed on the task that fetched them: handing them to a worker
/// thread costs more than hashing them (64 KiB take about 40 µs with SHA-NI).
pub(super) const INLINE_HASH_MAX_BYTES: u64 = 64 * 1024;

/// The memory budget is counted in KiB so that a `u32` permit count covers any part size.
const BUDGET_UNIT: u64 = 1024;

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
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) store: Arc<dyn StoreRead>,
    pub(super) options: HashOptions,
    pub(super) budget: Arc<Semaphore>,
}

/// Hashes one version (the current one when `version` is `None`) with a fresh engine.
pub async fn hash_version(
    store: &Arc<dyn StoreRead>,
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
    store: &Arc<dyn StoreRead>,
    items: impl IntoIterator<Item = HashItem>,
    options: &HashOptions,
) -> Vec<Result<ObjectDigest, DigestError>> {
    DigestEngine::new(store.clone(), options.clone())
        .hash_many(items)
        .await
}

impl DigestEngine {
    pub fn new(store: Arc<dyn StoreRead>, options: HashOptions) -> Self {
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
        self.hash_at(head, pinned, retries, None).await
    }

    /// Hashes the version a HEAD the caller already made describes (`head.version_id`, or the
    /// current object with `head.etag` on an unversioned bucket), saving a second HEAD.
    pub async fn hash_head(&self, head: ObjectHead) -> Result<ObjectDigest, DigestError> {
        let pinned = pin(&head.key, head.version_id.as_deref(), &head)?;
        self.hash_at(head, pinned, 0, None).await
    }

    pub(super) async fn hash_at(
        &self,
        head: ObjectHead,
        pinned: Pinned,
        mut retries: u32,
        opened: Option<ObjectBody>,
    ) -> Result<ObjectDigest, DigestError> {
        let verify_md5 = self.inner.options.verify_etag_md5;
        let mut plan = cross_check_plan(&head, verify_md5);
        let mut parted = None;
        if let CrossCheck::NotComparable(why) = &plan
            && let Some(wanted) = multipart::wanted(&head, verify_md5)
        {
            (plan, parted) = self.multipart_plan(&pinned, wanted, why).await;
        }
        let mut digest = StreamingDigest::new(plan == CrossCheck::EtagMd5);
        if let CrossCheck::StoredChecksum { algorithm } = &plan {
            digest = digest.with_stored_checksum(&algorithm.as_str().into());
        }
        if let Some(parted) = parted {
            digest = digest.with_parts(parted);
        }
        let digest = self
            .hash_pinned(&pinned, digest, &mut retries, opened)
            .await?;
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
            etag_check: match &plan {
                CrossCheck::StoredChecksum { algorithm } if head.etag_is_md5() => {
                    Check::NotApplicable(format!(
                        "the stored full-object {algorithm} checksum was compared instead \
                         (computed in the same pass, far cheaper than MD5)"
                    ))
                }
                CrossCheck::MultipartEtag { parts } => {
                    multipart::multipart_etag_check(&head, *parts, digests.parted.as_deref())
                }
                _ => etag_check(&head, digests.md5.as_ref()),
            },
            checksum_check: match &plan {
                CrossCheck::CompositeChecksum { .. } => {
                    multipart::composite_check(&head, digests.parted.as_deref())
                }
                _ => checksum_check(
                    head.checksum.as_ref().or(head.checksum_sha256.as_ref()),
                    &digests.sha256,
                    digests.checksum.as_ref(),
                ),
            },
            computed_checksum: computed_checksum(&plan, &digests),
            cross_check: plan,
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
                let task = spawn_owned(async move { engine.hash_item(&task_item).await });
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

    pub(super) async fn head_with_retries(
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

    /// Reads the pinned version and hashes it in order. Small objects are fetched and hashed on
    /// this task. Larger ones go through a pipeline: up to `part_concurrency` ranged GETs run as
    /// their own tasks, each holding its share of the memory budget from before its GET until its
    /// last byte is hashed; the part at the head is hashed as its bytes arrive, the parts behind
    /// it are buffered until their turn. `opened`: the whole object's body, already asked for
    /// (only for an object of one part), read instead of a first GET.
    async fn hash_pinned(
        &self,
        pinned: &Pinned,
        mut digest: StreamingDigest,
        retries: &mut u32,
        opened: Option<ObjectBody>,
    ) -> Result<StreamingDigest, DigestError> {
        let options = &self.inner.options;
        debug_assert!(opened.is_none() || pinned.size <= options.part_size);

        if pinned.size <= INLINE_HASH_MAX_BYTES && pinned.size <= options.part_size {
            let part = parts(pinned.size, options.part_size)
                .next()
                .expect("every object has a first part");
            let (part, _permit) = acquire(&self.inner.budget, part).await;
            let mut chunks = Vec::new();
            let progress = fetch_part(
                self.inner.store.as_ref(),
                pinned,
                part,
                &options.retry,
                &mut |chunk| chunks.push(chunk),
                opened,
            )
            .await?;
            *retries += progress.retries;
            digest.update_chunks(&chunks);
            return Ok(digest);
        }

        let mut pipeline = Pipeline {
            inner: self.inner.clone(),
            pinned: Arc::new(pinned.clone()),
            parts: (Box::new(parts(pinned.size, options.part_size))
                as Box<dyn Iterator<Item = Part> + Send>)
                .peekable(),
            started: VecDeque::new(),
            opened,
            head_active: false,
            limit: parts_in_flight(options),
        };
        let internal = |message| DigestError::Internal {
            key: pinned.key.clone(),
            message,
        };
        while let Some(mut head) = pipeline.next_head().await {
            let mut batch = Vec::new();
            while let Some(chunk) = head.chunks.recv().await {
                let mut batch_len = chunk.len();
                batch.push(chunk);
                while batch_len < MAX_BATCH_BYTES {
                    match head.chunks.try_recv() {
                        Ok(chunk) => {
                            batch_len += chunk.len();
                            batch.push(chunk);
                        }
                        Err(_) => break,
                    }
                }
                digest = hash_batch(digest, std::mem::take(&mut batch))
                    .await
                    .map_err(internal)?;
                pipeline.top_up();
            }
            let progress = head.task.await.map_err(internal)??;
            *retries += progress.retries;
            drop(head.permit);
            pipeline.head_active = false;
            pipeline.top_up();
        }
        Ok(digest)
    }
}

/// Bytes hashed per hand-off to the rayon pool, at most: large enough that the hand-off costs
/// nothing, small enough that the head part's memory is returned quickly.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// How a part's fetch task ended: `Err` when it panicked or was cancelled.
type FetchTask =
    Pin<Box<dyn Future<Output = Result<Result<Progress, DigestError>, String>> + Send>>;

/// A part whose GET has started: its bytes arrive on `chunks` in order; `task` says how it ended.
struct StartedPart {
    chunks: mpsc::UnboundedReceiver<Bytes>,
    task: FetchTask,
    permit: OwnedSemaphorePermit,
}

/// The parts of one object in flight, in object order.
struct Pipeline {
    inner: Arc<Inner>,
    pinned: Arc<Pinned>,
    parts: std::iter::Peekable<Box<dyn Iterator<Item = Part> + Send>>,
    started: VecDeque<StartedPart>,
    /// The whole object's body when a GET that described it is already open (one-part objects).
    opened: Option<ObjectBody>,
    /// Whether the part being hashed still holds its budget.
    head_active: bool,
    /// Parts of this object holding budget at once, the one being hashed included.
    limit: usize,
}

/// Parts of one object that may hold budget at once: `part_concurrency`, and no more than half
/// the budget when several objects hash at once, so that a second object always finds budget
/// and both cores hash (each object's parts are hashed in order, on one core at a time).
pub(super) fn parts_in_flight(options: &HashOptions) -> usize {
    let share = if options.object_concurrency > 1 {
        (options.memory_budget / 2).max(options.part_size)
    } else {
        options.memory_budget
    };
    let by_budget = (share / options.part_size.max(1)).max(1);
    options
        .part_concurrency
        .min(usize::try_from(by_budget).unwrap_or(usize::MAX))
        .max(1)
}

impl Pipeline {
    /// The next part to hash. When nothing is in flight it waits for budget; parts further
    /// ahead are only started when budget is free right away ([`Pipeline::top_up`]), so a later
    /// part never holds budget that an earlier part of the same object waits for.
    async fn next_head(&mut self) -> Option<StartedPart> {
        if self.started.is_empty() {
            let part = self.parts.next()?;
            let (part, permit) = acquire(&self.inner.budget, part).await;
            self.start(part, permit);
        }
        self.top_up();
        let head = self.started.pop_front();
        self.head_active = head.is_some();
        head
    }

    /// Starts further parts while fewer than `part_concurrency` are in flight and budget is free.
    fn top_up(&mut self) {
        while self.started.len() + usize::from(self.head_active) < self.limit {
            let Some(next) = self.parts.peek().copied() else {
                return;
            };
            let units = budget_units(next.len);
            let Ok(permit) = self.inner.budget.clone().try_acquire_many_owned(units) else {
                return;
            };
            self.parts.next();
            self.start(next, permit);
        }
    }

    fn start(&mut self, part: Part, permit: OwnedSemaphorePermit) {
        let (sender, chunks) = mpsc::unbounded_channel();
        let inner = self.inner.clone();
        let pinned = self.pinned.clone();
        let opened = self.opened.take();
        let task = spawn_owned(async move {
            // The receiver only goes away when the whole hash is abandoned: nothing to do then.
            let mut sink = |chunk: Bytes| {
                let _ = sender.send(chunk);
            };
            fetch_part(
                inner.store.as_ref(),
                &pinned,
                part,
                &inner.options.retry,
                &mut sink,
                opened,
            )
            .await
        });
        self.started.push_back(StartedPart {
            chunks,
            task: Box::pin(task),
            permit,
        });
    }
}

fn budget_units(len: u64) -> u32 {
    u32::try_from(len.div_ceil(BUDGET_UNIT).max(1)).unwrap_or(u32::MAX)
}

pub(super) async fn acquire(budget: &Arc<Semaphore>, part: Part) -> (Part, OwnedSemaphorePermit) {
    let permit = budget
        .clone()
        .acquire_many_owned(budget_units(part.len))
        .await
        .expect("the memory budget semaphore is never closed");
    (part, permit)
}

/// Hashes a batch of consecutive chunks: inline when small, else on the rayon pool.
pub(super) async fn hash_batch(
    mut digest: StreamingDigest,
    batch: Vec<Bytes>,
) -> Result<StreamingDigest, String> {
    let len: usize = batch.iter().map(Bytes::len).sum();
    if len as u64 <= INLINE_HASH_MAX_BYTES {
        digest.update_chunks(&batch);
        return Ok(digest);
    }
    on_rayon(move || {
        digest.update_chunks(&batch);
        digest
    })
    .await
}
