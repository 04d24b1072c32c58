//! The values that cross the store ports: listings, heads, bodies, tags, copies, puts, bucket
//! configuration. Field names follow the S3 API (`VersionId`, `ETag`, `x-amz-checksum-*`).

use std::collections::BTreeMap;
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use super::{ChecksumAlgorithm, StoreError, StoreErrorKind};

/// One version (or delete marker) of a key, as a listing of versions reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    pub key: String,
    pub version_id: String,
    pub is_latest: bool,
    pub delete_marker: bool,
}

/// One entry of a listing: the current version of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSummary {
    pub key: String,
    pub size: u64,
    pub etag: String,
}

/// One page of a listing ([`super::StoreRead::list_page`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<ObjectSummary>,
    /// The key to pass as `start_after` for the next page; `None` when this page is the last.
    pub next: Option<String>,
}

impl ListPage {
    /// A page cut from a whole listing in key order (for adapters that list in memory).
    pub fn cut(
        all: impl IntoIterator<Item = ObjectSummary>,
        start_after: Option<&str>,
        max: usize,
    ) -> Self {
        let max = max.max(1);
        let mut objects = Vec::new();
        let mut more = false;
        for summary in all {
            if start_after.is_some_and(|after| summary.key.as_str() <= after) {
                continue;
            }
            if objects.len() == max {
                more = true;
                break;
            }
            objects.push(summary);
        }
        let next = if more {
            objects.last().map(|s: &ObjectSummary| s.key.clone())
        } else {
            None
        };
        ListPage { objects, next }
    }
}

/// A stored checksum as S3 reports it. `FullObject` values are checksums of the whole content;
/// `Composite` values (multipart uploads, suffixed `-N`) are checksums of part checksums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredChecksum {
    FullObject {
        algorithm: ChecksumAlgorithm,
        base64: String,
    },
    Composite {
        algorithm: ChecksumAlgorithm,
        base64: String,
        parts: u32,
    },
}

impl StoredChecksum {
    pub fn algorithm(&self) -> &ChecksumAlgorithm {
        match self {
            StoredChecksum::FullObject { algorithm, .. }
            | StoredChecksum::Composite { algorithm, .. } => algorithm,
        }
    }
}

/// Server-side encryption of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encryption {
    /// `AES256`, `aws:kms` or `aws:kms:dsse`.
    pub algorithm: String,
    pub kms_key_id: Option<String>,
    pub bucket_key_enabled: Option<bool>,
}

impl Encryption {
    pub fn is_kms(&self) -> bool {
        self.algorithm.starts_with("aws:kms")
    }
}

/// What HEAD tells about one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    pub key: String,
    pub version_id: Option<String>,
    pub size: u64,
    /// The ETag without its surrounding quotes.
    pub etag: String,
    pub last_modified: Option<chrono::DateTime<chrono::Utc>>,
    pub content_type: Option<String>,
    /// User metadata (`x-amz-meta-*`) with the prefix removed, keys in lower case.
    pub metadata: BTreeMap<String, String>,
    /// The stored SHA-256 checksum, when the uploader sent one (the same value as `checksum`
    /// when its algorithm is SHA-256).
    pub checksum_sha256: Option<StoredChecksum>,
    /// The checksum stored with the object, of whichever algorithm (S3 stores one per object:
    /// CRC64NVME by default since December 2024, or the one the uploader sent).
    pub checksum: Option<StoredChecksum>,
    /// Number of parts when the object was uploaded in parts.
    pub parts_count: Option<u32>,
    /// `Some(true)` when an Object Lock legal hold is ON, `Some(false)` when OFF or never set on a
    /// bucket with Object Lock, `None` when unknown.
    pub legal_hold: Option<bool>,
    pub storage_class: Option<String>,
    pub encryption: Option<Encryption>,
}

impl ObjectHead {
    /// Whether the ETag is the MD5 of the content: single-part and not SSE-KMS.
    pub fn etag_is_md5(&self) -> bool {
        !self.etag.contains('-')
            && self.etag.len() == 32
            && !self.encryption.as_ref().is_some_and(Encryption::is_kms)
    }
}

/// An inclusive byte range `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub first: u64,
    pub last: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The HTTP `Range` header value.
    pub fn header(&self) -> String {
        format!("bytes={}-{}", self.first, self.last)
    }
}

pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Bytes, StoreError>> + Send>>;

/// A streaming body of one version (or of a range of it).
pub struct ObjectBody {
    /// The version actually served: callers check it against the version they asked for.
    pub version_id: Option<String>,
    /// Bytes this body will yield.
    pub content_length: u64,
    pub etag: String,
    pub chunks: ChunkStream,
}

impl ObjectBody {
    pub async fn collect(mut self) -> Result<Bytes, StoreError> {
        let mut all = BytesMut::with_capacity(self.content_length.min(64 << 20) as usize);
        while let Some(chunk) = self.chunks.next().await {
            all.extend_from_slice(&chunk?);
        }
        Ok(all.freeze())
    }
}

impl std::fmt::Debug for ObjectBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBody")
            .field("version_id", &self.version_id)
            .field("content_length", &self.content_length)
            .field("etag", &self.etag)
            .finish_non_exhaustive()
    }
}

/// A whole version opened with one GET that also says everything HEAD says about it
/// ([`super::StoreRead::get_with_head`]): one request per object where HEAD and GET were two.
#[derive(Debug)]
pub struct HeadAndBody {
    pub head: ObjectHead,
    pub body: ObjectBody,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

impl Tag {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// A copy of one version onto its own key with new user metadata.
#[derive(Debug, Clone)]
pub struct CopyInPlace {
    pub key: String,
    /// The version to copy from; the copy source is pinned to it.
    pub version_id: Option<String>,
    /// The complete new user metadata (S3 replaces all of it: carry old entries over).
    pub metadata: BTreeMap<String, String>,
    /// Objects larger than this are copied with multipart UploadPartCopy.
    pub multipart_threshold: u64,
    /// Part size for the multipart path.
    pub part_size: u64,
}

impl CopyInPlace {
    /// The part size actually used for an object of `size` bytes: at least S3's 5 MiB minimum,
    /// and large enough to stay within S3's 10,000 parts.
    pub fn effective_part_size(&self, size: u64) -> u64 {
        self.part_size
            .max(MIN_COPY_PART_SIZE)
            .max(size.div_ceil(MAX_COPY_PARTS))
    }
}

/// S3's smallest part (except the last).
pub const MIN_COPY_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's largest number of parts in one upload.
pub const MAX_COPY_PARTS: u64 = 10_000;
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 5 * 1024 * 1024 * 1024;
pub const DEFAULT_COPY_PART_SIZE: u64 = 512 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOutcome {
    pub version_id: Option<String>,
    pub etag: String,
    /// Whether the multipart path was taken.
    pub multipart: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioning {
    Unversioned,
    Enabled,
    Suspended,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketConfig {
    pub versioning: Versioning,
    pub object_lock: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PutCondition {
    #[default]
    None,
    /// `If-None-Match: *`: create only.
    IfNoneMatch,
}

#[derive(Debug, Clone, Default)]
pub struct PutRequest {
    pub key: String,
    pub body: Bytes,
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub condition: PutCondition,
    /// Send a SHA-256 checksum so that S3 stores it (`x-amz-checksum-sha256`).
    pub checksum_sha256: bool,
}

impl PutRequest {
    pub fn new(key: impl Into<String>, body: impl Into<Bytes>) -> Self {
        PutRequest {
            key: key.into(),
            body: body.into(),
            ..Default::default()
        }
    }

    pub fn create_only(mut self) -> Self {
        self.condition = PutCondition::IfNoneMatch;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    Created {
        version_id: Option<String>,
        etag: String,
    },
    AlreadyExists,
}

/// How a new bucket (or local folder standing in for one) is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BucketSpec {
    pub versioned: bool,
    /// Object Lock (implies versioning, as on S3).
    pub object_lock: bool,
}

/// S3's limit on tags per object.
pub const MAX_TAGS_PER_OBJECT: usize = 10;

/// S3's rules for one object's tag set (S3 User Guide, tagging-managing): at most 10 tags, keys of
/// 1 to 128 and values of at most 256 Unicode characters, no key twice. Local adapters refuse what
/// S3 refuses, with S3's error code `InvalidTag`.
pub fn validate_tags(key: &str, tags: &[Tag]) -> Result<(), StoreError> {
    let refuse = |why: String| {
        Err(
            StoreError::new(StoreErrorKind::InvalidRequest, "PutObjectTagging", why)
                .with_key(key)
                .with_code("InvalidTag"),
        )
    };
    if tags.len() > MAX_TAGS_PER_OBJECT {
        return refuse(format!(
            "{} tags given; an object can have at most {MAX_TAGS_PER_OBJECT}",
            tags.len()
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for tag in tags {
        let key_chars = tag.key.chars().count();
        if key_chars == 0 || key_chars > 128 {
            return refuse(format!("tag key {:?} must be 1 to 128 characters", tag.key));
        }
        if tag.value.chars().count() > 256 {
            return refuse(format!(
                "value of tag {:?} is longer than 256 characters",
                tag.key
            ));
        }
        if !seen.insert(tag.key.as_str()) {
            return refuse(format!("tag key {:?} is given twice", tag.key));
        }
    }
    Ok(())
}
