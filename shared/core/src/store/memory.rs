//! An in-memory bucket with S3's semantics for every call of the store ports: versions (when
//! versioned), the `null` version of an unversioned bucket, tags per version, user metadata,
//! Object Lock legal holds, self-copies with replaced metadata (multipart above the threshold,
//! with S3's `-N` ETag) and create-only puts. For unit tests and examples; the contract suite
//! (`tests/tests/store_contract.rs`) holds it to the same behaviour as the folder and S3 adapters.
//!
//! Versions are numbered in write order and reported as 16 hex digits, so that they sort like
//! the folder store's time-ordered generation ids.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use sha2::Digest as _;
use sha2::Sha256;

use crate::digest::Md5;

use super::{
    BucketConfig, BucketSpec, ByteRange, ChecksumAlgorithm, CopyInPlace, CopyOutcome, ListPage,
    ObjectBody, ObjectHead, ObjectSummary, ObjectVersion, PutCondition, PutOutcome, PutRequest,
    StoreError, StoreErrorKind, StoreMark, StoreRead, StoreWrite, StoredChecksum, Tag, Versioning,
    validate_tags,
};

/// Bodies are served in slices of this size (no copy), as a network body arrives in bounded
/// chunks.
const BODY_CHUNK: usize = 1 << 20;

/// One bucket held in memory. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct MemoryStore {
    name: String,
    spec: BucketSpec,
    state: Mutex<Bucket>,
}

#[derive(Debug, Default)]
struct Bucket {
    /// Every version of every key, oldest first; the last one is current.
    keys: BTreeMap<String, Vec<Version>>,
    next_version: u64,
}

#[derive(Debug, Clone)]
struct Version {
    id: String,
    body: Bytes,
    etag: String,
    last_modified: chrono::DateTime<chrono::Utc>,
    content_type: Option<String>,
    metadata: BTreeMap<String, String>,
    /// SHA-256 when the uploader asked for it, else CRC64NVME (S3's default since Dec 2024).
    checksum: StoredChecksum,
    parts_count: Option<u32>,
    tags: Vec<Tag>,
    legal_hold: bool,
}

impl MemoryStore {
    /// An empty bucket named `name`, set up as `spec` says (Object Lock implies versioning).
    pub fn new(name: impl Into<String>, spec: BucketSpec) -> Self {
        MemoryStore {
            name: name.into(),
            spec: BucketSpec {
                versioned: spec.versioned || spec.object_lock,
                object_lock: spec.object_lock,
            },
            state: Mutex::new(Bucket::default()),
        }
    }

    fn bucket_state(&self) -> std::sync::MutexGuard<'_, Bucket> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every version id of `key`, oldest first (for tests that count copies).
    pub fn versions(&self, key: &str) -> Vec<String> {
        self.bucket_state()
            .keys
            .get(key)
            .map(|vs| vs.iter().map(|v| v.id.clone()).collect())
            .unwrap_or_default()
    }

    fn reported(&self, version: &Version) -> Option<String> {
        self.spec.versioned.then(|| version.id.clone())
    }

    /// Runs `f` on the version addressed (the current one when `version` is `None`).
    fn with_version<T>(
        &self,
        action: &'static str,
        key: &str,
        version: Option<&str>,
        f: impl FnOnce(&mut Version) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut state = self.bucket_state();
        let versions = state
            .keys
            .get_mut(key)
            .ok_or_else(|| no_such_key(action, key))?;
        let found = match version {
            None => versions.last_mut(),
            Some("null") if !self.spec.versioned => versions.last_mut(),
            Some(id) => versions.iter_mut().find(|v| v.id == id),
        };
        match found {
            Some(v) => f(v),
            None => Err(StoreError::new(
                StoreErrorKind::NotFound,
                action,
                format!("no version {version:?} of the key"),
            )
            .with_key(key)
            .with_code("NoSuchVersion")),
        }
    }

    /// Makes `version` the current version of `key` (the only one, unversioned).
    fn push(&self, state: &mut Bucket, key: &str, mut version: Version) -> Option<String> {
        state.next_version += 1;
        version.id = format!("{:016x}", state.next_version);
        let reported = self.reported(&version);
        let versions = state.keys.entry(key.to_string()).or_default();
        if !self.spec.versioned {
            versions.clear();
        }
        versions.push(version);
        reported
    }

    fn head_of(&self, key: &str, v: &Version) -> ObjectHead {
        ObjectHead {
            key: key.to_string(),
            version_id: self.reported(v),
            size: v.body.len() as u64,
            etag: v.etag.clone(),
            last_modified: Some(v.last_modified),
            content_type: v.content_type.clone(),
            metadata: v.metadata.clone(),
            checksum_sha256: Some(v.checksum.clone())
                .filter(|c| *c.algorithm() == ChecksumAlgorithm::Sha256),
            checksum: Some(v.checksum.clone()),
            parts_count: v.parts_count,
            legal_hold: self.spec.object_lock.then_some(v.legal_hold),
            storage_class: None,
            encryption: None,
        }
    }
}

#[async_trait]
impl StoreRead for MemoryStore {
    fn location(&self) -> String {
        format!("memory://{}", self.name)
    }

    fn bucket(&self) -> &str {
        &self.name
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>, StoreError> {
        let state = self.bucket_state();
        Ok(state
            .keys
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter_map(|(k, vs)| {
                vs.last().map(|v| ObjectSummary {
                    key: k.clone(),
                    size: v.body.len() as u64,
                    etag: v.etag.clone(),
                })
            })
            .collect())
    }

    async fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<ListPage, StoreError> {
        let state = self.bucket_state();
        let from = match start_after {
            Some(after) if after >= prefix => after.to_string(),
            _ => prefix.to_string(),
        };
        let page = state
            .keys
            .range(from..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter_map(|(k, vs)| {
                vs.last().map(|v| ObjectSummary {
                    key: k.clone(),
                    size: v.body.len() as u64,
                    etag: v.etag.clone(),
                })
            })
            .take(max.max(1) + 2);
        Ok(ListPage::cut(page, start_after, max))
    }

    async fn list_versions(&self, prefix: &str) -> Result<Option<Vec<ObjectVersion>>, StoreError> {
        if !self.spec.versioned {
            return Ok(None);
        }
        let state = self.bucket_state();
        let mut out = Vec::new();
        for (key, versions) in state
            .keys
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            for (i, v) in versions.iter().enumerate().rev() {
                out.push(ObjectVersion {
                    key: key.clone(),
                    version_id: v.id.clone(),
                    is_latest: i + 1 == versions.len(),
                    delete_marker: false,
                });
            }
        }
        Ok(Some(out))
    }

    async fn head(&self, key: &str, version: Option<&str>) -> Result<ObjectHead, StoreError> {
        self.with_version("HeadObject", key, version, |v| Ok(v.clone()))
            .map(|v| self.head_of(key, &v))
    }

    async fn get(
        &self,
        key: &str,
        version: Option<&str>,
        range: Option<ByteRange>,
    ) -> Result<ObjectBody, StoreError> {
        let v = self.with_version("GetObject", key, version, |v| Ok(v.clone()))?;
        let size = v.body.len() as u64;
        let body = match range {
            None => v.body.clone(),
            Some(r) if r.first > r.last || r.first >= size => {
                return Err(StoreError::new(
                    StoreErrorKind::InvalidRequest,
                    "GetObject",
                    format!("range {} is outside the object's {size} bytes", r.header()),
                )
                .with_key(key)
                .with_code("InvalidRange"));
            }
            Some(r) => v
                .body
                .slice(r.first as usize..=r.last.min(size - 1) as usize),
        };
        Ok(ObjectBody {
            version_id: self.reported(&v),
            content_length: body.len() as u64,
            etag: v.etag.clone(),
            chunks: Box::pin(futures::stream::iter(
                (0..body.len().max(1))
                    .step_by(BODY_CHUNK)
                    .map(move |at| Ok(body.slice(at..(at + BODY_CHUNK).min(body.len())))),
            )),
        })
    }

    async fn bucket_config(&self) -> Result<BucketConfig, StoreError> {
        Ok(BucketConfig {
            versioning: if self.spec.versioned {
                Versioning::Enabled
            } else {
                Versioning::Unversioned
            },
            object_lock: self.spec.object_lock,
        })
    }
}

#[async_trait]
impl StoreMark for MemoryStore {
    async fn get_tags(&self, key: &str, version: Option<&str>) -> Result<Vec<Tag>, StoreError> {
        self.with_version("GetObjectTagging", key, version, |v| Ok(v.tags.clone()))
    }

    async fn put_tags(
        &self,
        key: &str,
        version: Option<&str>,
        tags: &[Tag],
    ) -> Result<(), StoreError> {
        validate_tags(key, tags)?;
        let mut sorted = tags.to_vec();
        sorted.sort();
        self.with_version("PutObjectTagging", key, version, |v| {
            v.tags = sorted;
            Ok(())
        })
    }

    async fn copy_in_place(&self, request: &CopyInPlace) -> Result<CopyOutcome, StoreError> {
        let key = request.key.as_str();
        let source = self.with_version("CopyObject", key, request.version_id.as_deref(), |v| {
            Ok(v.clone())
        })?;
        let size = source.body.len() as u64;
        let multipart = size > request.multipart_threshold;
        let sha256 = *source.checksum.algorithm() == ChecksumAlgorithm::Sha256;
        let (etag, checksum, parts_count) = if multipart {
            let part_size = request.effective_part_size(size) as usize;
            let mut md5s = Md5::new();
            let mut shas = Sha256::new();
            let mut n = 0;
            for part in source.body.chunks(part_size.max(1)) {
                md5s.update(&Md5::digest(part));
                shas.update(Sha256::digest(part));
                n += 1;
            }
            // A SHA-256 multipart upload stores a composite checksum; CRC64NVME is full-object.
            let checksum = if sha256 {
                StoredChecksum::Composite {
                    algorithm: ChecksumAlgorithm::Sha256,
                    base64: BASE64.encode(shas.finalize()),
                    parts: n,
                }
            } else {
                default_checksum(&source.body)
            };
            (
                format!("{}-{n}", hex::encode(md5s.finalize())),
                checksum,
                Some(n),
            )
        } else {
            let checksum = if sha256 {
                full_sha256(&source.body)
            } else {
                default_checksum(&source.body)
            };
            (hex::encode(Md5::digest(&source.body)), checksum, None)
        };
        let copy = Version {
            id: String::new(),
            body: source.body.clone(),
            etag: etag.clone(),
            last_modified: chrono::Utc::now(),
            content_type: source.content_type.clone(),
            metadata: lower_case_keys(&request.metadata),
            checksum,
            parts_count,
            tags: source.tags.clone(),
            legal_hold: false,
        };
        let version_id = self.push(&mut self.bucket_state(), key, copy);
        Ok(CopyOutcome {
            version_id,
            etag,
            multipart,
        })
    }

    async fn put_legal_hold(
        &self,
        key: &str,
        version: Option<&str>,
        on: bool,
    ) -> Result<(), StoreError> {
        if !self.spec.object_lock {
            return Err(StoreError::new(
                StoreErrorKind::NoObjectLock,
                "PutObjectLegalHold",
                format!("bucket {} has no Object Lock configuration", self.name),
            )
            .with_key(key)
            .with_code("InvalidRequest"));
        }
        self.with_version("PutObjectLegalHold", key, version, |v| {
            v.legal_hold = on;
            Ok(())
        })
    }
}

#[async_trait]
impl StoreWrite for MemoryStore {
    async fn put(&self, request: PutRequest) -> Result<PutOutcome, StoreError> {
        let etag = hex::encode(Md5::digest(&request.body));
        let version = Version {
            id: String::new(),
            etag: etag.clone(),
            last_modified: chrono::Utc::now(),
            content_type: request.content_type.clone(),
            metadata: lower_case_keys(&request.metadata),
            checksum: if request.checksum_sha256 {
                full_sha256(&request.body)
            } else {
                default_checksum(&request.body)
            },
            parts_count: None,
            tags: Vec::new(),
            legal_hold: false,
            body: request.body,
        };
        // Create-only is decided under the same lock as the write.
        let mut state = self.bucket_state();
        if request.condition == PutCondition::IfNoneMatch && state.keys.contains_key(&request.key) {
            return Ok(PutOutcome::AlreadyExists);
        }
        let version_id = self.push(&mut state, &request.key, version);
        Ok(PutOutcome::Created { version_id, etag })
    }

    /// Removes the key with every version: the memory store keeps no delete markers.
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.bucket_state().keys.remove(key);
        Ok(())
    }
}

/// The checksum S3 stores when the uploader sent none: full-object CRC64NVME.
fn default_checksum(body: &[u8]) -> StoredChecksum {
    StoredChecksum::FullObject {
        algorithm: ChecksumAlgorithm::Crc64Nvme,
        base64: BASE64.encode(crc_fast::crc64_nvme(body).to_be_bytes()),
    }
}

fn full_sha256(body: &[u8]) -> StoredChecksum {
    StoredChecksum::FullObject {
        algorithm: ChecksumAlgorithm::Sha256,
        base64: BASE64.encode(Sha256::digest(body)),
    }
}

fn no_such_key(action: &'static str, key: &str) -> StoreError {
    StoreError::new(StoreErrorKind::NotFound, action, "the key does not exist")
        .with_key(key)
        .with_code("NoSuchKey")
}

fn lower_case_keys(metadata: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    metadata
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect()
}

#[cfg(test)]
#[path = "memory_tests.rs"]
mod tests;
