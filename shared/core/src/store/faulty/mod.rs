//! A fault-injecting wrapper over any store: the failures S3 really produces (503 SlowDown, 500,
//! a connection reset mid-body, a reset *after* a write succeeded, latency, denials, a served
//! version or ETag other than the one asked for), injected by rule or at random with a seed, so
//! that unit tests of the engines see them without a server. End-to-end tests use a
//! fault-injecting HTTP proxy in front of a real S3-compatible server instead.
//!
//! Every call is counted per action, so a test can also assert on how many requests were made;
//! every GET is logged with its version and range, and bodies still open are counted. A body
//! *shape* ([`BodyShape`]: chunk size and a pause per chunk) makes reads look like a network's.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use super::{
    BucketConfig, ByteRange, CopyInPlace, CopyOutcome, ListPage, ObjectBody, ObjectHead,
    ObjectStore, ObjectSummary, ObjectVersion, PutOutcome, PutRequest, StoreError, StoreErrorKind,
    StoreMark, StoreRead, StoreWrite, StoredChecksum, Tag,
};

/// What an injected fault does to the call it hits.
#[derive(Debug, Clone)]
pub enum Fault {
    /// The call fails before reaching the store, with this kind and service error code
    /// (`SlowDown`, `InternalError`, `AccessDenied`, ...).
    Refuse(StoreErrorKind, &'static str),
    /// The call reaches the store and succeeds there, then the answer is lost: the caller sees a
    /// transient error (a connection reset after a CopyObject or PutObject was made).
    LoseAnswer,
    /// A GET's body ends with a transient error after this many bytes of the object (absolute
    /// offset; the object's size: after its last byte); a ranged GET that does not reach the
    /// offset is served whole.
    CutBodyAt(u64),
    /// The call waits this long before going on.
    Delay(Duration),
    /// A GET or HEAD answers with this version id in place of the real one.
    ServeVersion(Option<String>),
    /// A GET or HEAD answers with this ETag in place of the real one.
    ServeEtag(String),
    /// A HEAD reports this stored checksum (or none) in place of the real one: an object whose
    /// content no longer matches what was stored with it, or an object stored without one.
    ServeChecksum(Option<StoredChecksum>),
}

impl Fault {
    /// Whether the fault can act on a GET of `range`: a cut only acts on a body that covers its
    /// offset (so a rule is not spent on a ranged GET elsewhere in the object).
    fn acts_on(&self, range: Option<ByteRange>) -> bool {
        match (self, range) {
            (Fault::CutBodyAt(offset), Some(r)) => (r.first..=r.last).contains(offset),
            _ => true,
        }
    }
}

/// How bodies are served: in chunks of `chunk` bytes, each after `pause` (a network's pace).
#[derive(Debug, Clone, Copy)]
pub struct BodyShape {
    pub chunk: usize,
    pub pause: Option<Duration>,
}

/// One GET as the caller made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetCall {
    pub key: String,
    pub version: Option<String>,
    pub range: Option<ByteRange>,
}

/// Which calls a rule hits.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The S3 action (`GetObject`, `HeadObject`, `PutObject`, `CopyObject`, ...); `None` = all.
    pub action: Option<&'static str>,
    /// Keys starting with this; `None` = all keys.
    pub key_prefix: Option<String>,
    /// How many matching calls it hits before it is spent; `u32::MAX` = every call.
    pub times: u32,
    pub fault: Fault,
}

impl Rule {
    /// `fault` on the next `times` calls of `action` (any key).
    pub fn on(action: &'static str, times: u32, fault: Fault) -> Rule {
        Rule {
            action: Some(action),
            key_prefix: None,
            times,
            fault,
        }
    }

    /// Narrow the rule to keys starting with `prefix`.
    pub fn for_keys(mut self, prefix: impl Into<String>) -> Rule {
        self.key_prefix = Some(prefix.into());
        self
    }

    fn matches(&self, action: &str, key: &str) -> bool {
        self.times > 0
            && self.action.is_none_or(|a| a == action)
            && self
                .key_prefix
                .as_deref()
                .is_none_or(|p| key.starts_with(p))
    }
}

/// Faults at random: each call fails with probability `rate`, drawn from a seeded generator so a
/// failing run can be replayed.
#[derive(Debug, Clone, Copy)]
pub struct RandomFaults {
    pub rate: f64,
    pub seed: u64,
}

/// Wraps `inner`, injecting the faults its rules name.
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    rules: Mutex<Vec<Rule>>,
    random: Option<RandomFaults>,
    draws: AtomicU64,
    calls: Mutex<BTreeMap<&'static str, usize>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    injected: AtomicUsize,
    shape: Option<BodyShape>,
    gets: Mutex<Vec<GetCall>>,
    open_bodies: Arc<AtomicUsize>,
    max_open_bodies: Arc<AtomicUsize>,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        FaultyStore {
            inner,
            rules: Mutex::new(Vec::new()),
            random: None,
            draws: AtomicU64::new(0),
            calls: Mutex::new(BTreeMap::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            injected: AtomicUsize::new(0),
            shape: None,
            gets: Mutex::new(Vec::new()),
            open_bodies: Arc::new(AtomicUsize::new(0)),
            max_open_bodies: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Serve every body in chunks of `shape.chunk` bytes, pausing before each.
    pub fn with_body_shape(mut self, shape: BodyShape) -> Self {
        self.shape = Some(BodyShape {
            chunk: shape.chunk.max(1),
            ..shape
        });
        self
    }

    /// Every GET made so far, in the order made.
    pub fn gets(&self) -> Vec<GetCall> {
        self.gets.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The most GET bodies that were open (returned and not yet dropped) at once.
    pub fn max_open_bodies(&self) -> usize {
        self.max_open_bodies.load(Ordering::SeqCst)
    }

    /// Also fail calls at random (transient errors, resets mid-body, answers lost after writes).
    pub fn with_random(mut self, random: RandomFaults) -> Self {
        self.random = Some(random);
        self
    }

    /// Add a rule; rules are tried in the order added, the first matching one applies.
    pub fn inject(&self, rule: Rule) {
        self.rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(rule);
    }

    /// How many calls of `action` were made (faulted or not).
    pub fn calls(&self, action: &str) -> usize {
        let calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        calls.get(action).copied().unwrap_or(0)
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
    }

    /// The most calls that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Counts the call and picks the fault that hits it, if any.
    fn begin(&self, action: &'static str, key: &str) -> (Option<Fault>, InFlight<'_>) {
        self.begin_range(action, key, None)
    }

    fn begin_range(
        &self,
        action: &'static str,
        key: &str,
        range: Option<ByteRange>,
    ) -> (Option<Fault>, InFlight<'_>) {
        *self
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(action)
            .or_default() += 1;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let guard = InFlight(&self.in_flight);
        let mut fault = None;
        {
            let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(rule) = rules
                .iter_mut()
                .find(|r| r.matches(action, key) && r.fault.acts_on(range))
            {
                rule.times = rule.times.saturating_sub(u32::from(rule.times != u32::MAX));
                fault = Some(rule.fault.clone());
            }
        }
        if fault.is_none() {
            fault = self.random_fault(action);
        }
        if fault.is_some() {
            self.injected.fetch_add(1, Ordering::SeqCst);
        }
        (fault, guard)
    }

    fn random_fault(&self, action: &'static str) -> Option<Fault> {
        let random = self.random?;
        let n = self.draws.fetch_add(1, Ordering::SeqCst);
        let draw = splitmix64(random.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        if (draw >> 11) as f64 / (1u64 << 53) as f64 >= random.rate {
            return None;
        }
        Some(match (action, draw % 3) {
            ("GetObject", 0) => Fault::CutBodyAt(draw % 4096),
            ("PutObject" | "CopyObject", 0) => Fault::LoseAnswer,
            (_, 1) => Fault::Refuse(StoreErrorKind::Transient, "InternalError"),
            _ => Fault::Refuse(StoreErrorKind::Transient, "SlowDown"),
        })
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn injected_error(action: &'static str, key: &str, kind: StoreErrorKind, code: &str) -> StoreError {
    StoreError::new(kind, action, format!("injected fault: {code}"))
        .with_key(key)
        .with_code(code)
}

fn lost_answer(action: &'static str, key: &str) -> StoreError {
    injected_error(action, key, StoreErrorKind::Transient, "ConnectionReset")
}

/// Applies the faults that act before the call; returns the fault to apply after it.
async fn before(
    action: &'static str,
    key: &str,
    fault: Option<Fault>,
) -> Result<Option<Fault>, StoreError> {
    match fault {
        Some(Fault::Refuse(kind, code)) => Err(injected_error(action, key, kind, code)),
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            Ok(None)
        }
        other => Ok(other),
    }
}

#[async_trait]
impl StoreRead for FaultyStore {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn bucket(&self) -> &str {
        self.inner.bucket()
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>, StoreError> {
        let (fault, _guard) = self.begin("ListObjectsV2", prefix);
        before("ListObjectsV2", prefix, fault).await?;
        self.inner.list(prefix).await
    }

    async fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<ListPage, StoreError> {
        // Faults name a page by its prefix, as ListObjectsV2 rules name a listing.
        let (fault, _guard) = self.begin("ListObjectsV2", prefix);
        before("ListObjectsV2", prefix, fault).await?;
        self.inner.list_page(prefix, start_after, max).await
    }

    async fn list_versions(&self, prefix: &str) -> Result<Option<Vec<ObjectVersion>>, StoreError> {
        let (fault, _guard) = self.begin("ListObjectVersions", prefix);
        before("ListObjectVersions", prefix, fault).await?;
        self.inner.list_versions(prefix).await
    }

    async fn head(&self, key: &str, version: Option<&str>) -> Result<ObjectHead, StoreError> {
        let (fault, _guard) = self.begin("HeadObject", key);
        let after = before("HeadObject", key, fault).await?;
        let mut head = self.inner.head(key, version).await?;
        match after {
            Some(Fault::ServeVersion(v)) => head.version_id = v,
            Some(Fault::ServeEtag(e)) => head.etag = e,
            Some(Fault::ServeChecksum(c)) => {
                head.checksum_sha256 = c
                    .clone()
                    .filter(|c| *c.algorithm() == super::ChecksumAlgorithm::Sha256);
                head.checksum = c;
            }
            _ => {}
        }
        Ok(head)
    }

    async fn get(
        &self,
        key: &str,
        version: Option<&str>,
        range: Option<ByteRange>,
    ) -> Result<ObjectBody, StoreError> {
        self.gets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(GetCall {
                key: key.to_string(),
                version: version.map(str::to_string),
                range,
            });
        let (fault, _guard) = self.begin_range("GetObject", key, range);
        let after = before("GetObject", key, fault).await?;
        let mut body = self.inner.get(key, version, range).await?;
        if let Some(shape) = self.shape {
            body.chunks = reshape(body.chunks, shape);
        }
        body.chunks = counted(body.chunks, &self.open_bodies, &self.max_open_bodies);
        match after {
            Some(Fault::ServeVersion(v)) => body.version_id = v,
            Some(Fault::ServeEtag(e)) => body.etag = e,
            Some(Fault::CutBodyAt(offset)) => {
                let start = range.map_or(0, |r| r.first);
                if offset >= start && offset - start <= body.content_length {
                    body.chunks = cut_after(body.chunks, offset - start, key.to_string());
                }
            }
            _ => {}
        }
        Ok(body)
    }

    async fn part_sizes(
        &self,
        key: &str,
        version: Option<&str>,
        etag: &str,
        parts: u32,
    ) -> Result<Option<Vec<u64>>, StoreError> {
        self.inner.part_sizes(key, version, etag, parts).await
    }

    async fn bucket_config(&self) -> Result<BucketConfig, StoreError> {
        let (fault, _guard) = self.begin("GetBucketVersioning", "");
        before("GetBucketVersioning", "", fault).await?;
        self.inner.bucket_config().await
    }

    fn explain_denial(&self, error: &StoreError, versioned: bool, kms: bool) -> Option<String> {
        self.inner.explain_denial(error, versioned, kms)
    }
}

#[async_trait]
impl StoreMark for FaultyStore {
    async fn get_tags(&self, key: &str, version: Option<&str>) -> Result<Vec<Tag>, StoreError> {
        let (fault, _guard) = self.begin("GetObjectTagging", key);
        before("GetObjectTagging", key, fault).await?;
        self.inner.get_tags(key, version).await
    }

    async fn put_tags(
        &self,
        key: &str,
        version: Option<&str>,
        tags: &[Tag],
    ) -> Result<(), StoreError> {
        let (fault, _guard) = self.begin("PutObjectTagging", key);
        let after = before("PutObjectTagging", key, fault).await?;
        self.inner.put_tags(key, version, tags).await?;
        lose_if(after, "PutObjectTagging", key, ())
    }

    async fn copy_in_place(&self, request: &CopyInPlace) -> Result<CopyOutcome, StoreError> {
        let (fault, _guard) = self.begin("CopyObject", &request.key);
        let after = before("CopyObject", &request.key, fault).await?;
        let outcome = self.inner.copy_in_place(request).await?;
        lose_if(after, "CopyObject", &request.key, outcome)
    }

    async fn put_legal_hold(
        &self,
        key: &str,
        version: Option<&str>,
        on: bool,
    ) -> Result<(), StoreError> {
        let (fault, _guard) = self.begin("PutObjectLegalHold", key);
        let after = before("PutObjectLegalHold", key, fault).await?;
        self.inner.put_legal_hold(key, version, on).await?;
        lose_if(after, "PutObjectLegalHold", key, ())
    }
}

#[async_trait]
impl StoreWrite for FaultyStore {
    async fn put(&self, request: PutRequest) -> Result<PutOutcome, StoreError> {
        let key = request.key.clone();
        let (fault, _guard) = self.begin("PutObject", &key);
        let after = before("PutObject", &key, fault).await?;
        let outcome = self.inner.put(request).await?;
        lose_if(after, "PutObject", &key, outcome)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let (fault, _guard) = self.begin("DeleteObject", key);
        let after = before("DeleteObject", key, fault).await?;
        self.inner.delete(key).await?;
        lose_if(after, "DeleteObject", key, ())
    }
}

/// The answer of a write that was made, or the transient error of a lost answer.
fn lose_if<T>(
    fault: Option<Fault>,
    action: &'static str,
    key: &str,
    outcome: T,
) -> Result<T, StoreError> {
    match fault {
        Some(Fault::LoseAnswer) => Err(lost_answer(action, key)),
        _ => Ok(outcome),
    }
}

mod body;
#[cfg(test)]
mod tests;

use body::{counted, cut_after, reshape};
