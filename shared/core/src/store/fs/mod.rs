//! A local folder standing in for a bucket, with S3's semantics for every call of the store ports.
//!
//! # On-disk layout
//!
//! ```text
//! ROOT/<key>                          the current content of each object, under its own key
//! ROOT/.custody-store/config.json     {"versioned": bool, "object_lock": bool}; absent = unversioned
//! ROOT/.custody-store/keys/<H>/       state of one key, H = hex SHA-256 of the key
//!     key.txt                         the key itself (for people reading the folder)
//!     <G>.data                        the content of generation G (immutable once written)
//!     <G>.json                        its immutable facts: size, ETag, content type, metadata, checksum
//!     <G>.tags.json                   its tag set (replaced whole, like PutObjectTagging)
//!     <G>.hold                        its legal hold, `ON` or `OFF`
//!     <G>.finished                    unversioned folders: G's write is over (published)
//! ```
//!
//! Every write makes a new generation `G` (a time-ordered hex id, random in its low half) and
//! publishes it by hard-linking `<G>.data` onto `ROOT/<key>`: atomically with `rename` for a plain
//! put, or with `link(2)`, which fails when the name exists, for a create-only put (safe between
//! processes, like `O_EXCL`). The current generation of a key is therefore the one whose `.data`
//! file *is* `ROOT/<key>` (same device and inode): no pointer file can disagree with the content.
//! On a versioned folder the generation id is the version id and old generations are kept; on an
//! unversioned one objects report no version id and replaced generations are removed.
//!
//! # Concurrent writers
//!
//! Nothing is locked, so the rules hold between threads and processes alike. Concurrent plain
//! puts all succeed and the last `rename` wins; of concurrent create-only puts exactly one `link`
//! succeeds and the others report `AlreadyExists`. Generation ids decide nothing: a writer that
//! started earlier may publish later. On an unversioned folder a writer marks its generation
//! `finished` once published, then removes the finished generations that are not current; a
//! generation that is still being written is never touched by another writer (one untouched for
//! an hour is abandoned and removed). A reader that finds the generation it opened gone reads the
//! key again.
//!
//! A file under `ROOT` with no generation (for instance an export downloaded to disk, or
//! `samples/export/`) is an object too: version `null`, ETag computed from its bytes, no tags.
//! Reading never writes; the first tag, hold or copy on such a file adopts it as a generation by
//! hard-linking it (no copy).
//!
//! Keys map to paths, so a key cannot be both an object and a "folder" of other objects (`a` and
//! `a/b`), and keys with empty, `.` or `..` segments are refused; everything else (spaces, `+`, `%`,
//! `=`, unicode) is stored as is.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::digest::Md5;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    BucketConfig, BucketSpec, ByteRange, ChecksumAlgorithm, CopyInPlace, CopyOutcome, ListPage,
    ObjectBody, ObjectHead, ObjectSummary, ObjectVersion, PutCondition, PutOutcome, PutRequest,
    StoreError, StoreErrorKind, StoreMark, StoreRead, StoreWrite, StoredChecksum, Tag, Versioning,
};

mod copy;
mod layout;
mod list;
mod plain;
mod publish;
mod read;

use layout::*;
use plain::*;
use read::*;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
struct FolderConfig {
    versioned: bool,
    object_lock: bool,
}

/// The immutable facts of one generation.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct GenerationFacts {
    size: u64,
    etag: String,
    last_modified: DateTime<Utc>,
    content_type: Option<String>,
    metadata: BTreeMap<String, String>,
    checksum_sha256: Option<String>,
    /// Base64 of the big-endian CRC64NVME of the content (absent in generations written before
    /// the store kept it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksum_crc64nvme: Option<String>,
    parts_count: Option<u32>,
    /// A plain file adopted in a versioned folder keeps S3's version id of pre-versioning
    /// objects, `null`.
    #[serde(default)]
    null_version: bool,
}

/// A local folder standing in for one bucket. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FsStore {
    inner: Arc<Folder>,
}

#[derive(Debug)]
struct Folder {
    root: PathBuf,
    name: String,
    config: FolderConfig,
    plain: PlainFacts,
}

/// One readable version, with its content held open so that a concurrent overwrite cannot change
/// what is read.
struct Resolved {
    file: File,
    size: u64,
    mtime: DateTime<Utc>,
    generation: Option<(String, GenerationFacts)>,
}

impl FsStore {
    /// Opens an existing folder: with `.custody-store/config.json` as configured there, without it
    /// as an unversioned bucket whose files are the objects.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, StoreError> {
        let root = root.as_ref().to_path_buf();
        let meta = fs::metadata(&root).map_err(|e| io_error("OpenFolder", None, &root, e))?;
        if !meta.is_dir() {
            return Err(StoreError::new(
                StoreErrorKind::NotFound,
                "OpenFolder",
                format!("{} is not a folder", root.display()),
            )
            .with_code("NoSuchBucket"));
        }
        let config_path = root.join(SIDECAR).join("config.json");
        let config = match fs::read(&config_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                StoreError::new(
                    StoreErrorKind::Other,
                    "OpenFolder",
                    format!("{} is not a valid store config: {e}", config_path.display()),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => FolderConfig {
                versioned: false,
                object_lock: false,
            },
            Err(e) => return Err(io_error("OpenFolder", None, &config_path, e)),
        };
        Ok(Self::from_parts(root, config))
    }

    /// Creates (or reopens) a folder bucket with the given versioning and Object Lock settings.
    /// Object Lock implies versioning, as on S3. Reopening with a different setup is an error,
    /// except turning versioning or Object Lock on, which S3 allows too.
    pub fn create(root: impl AsRef<Path>, spec: BucketSpec) -> Result<Self, StoreError> {
        let root = root.as_ref().to_path_buf();
        let sidecar = root.join(SIDECAR);
        fs::create_dir_all(&sidecar).map_err(|e| io_error("CreateFolder", None, &sidecar, e))?;
        let wanted = FolderConfig {
            versioned: spec.versioned || spec.object_lock,
            object_lock: spec.object_lock,
        };
        let existing = Self::open(&root)?.inner.config;
        let merged = FolderConfig {
            versioned: existing.versioned || wanted.versioned,
            object_lock: existing.object_lock || wanted.object_lock,
        };
        if merged != existing {
            let bytes = serde_json::to_vec_pretty(&merged).expect("config serializes");
            write_atomically(&sidecar, &sidecar.join("config.json"), &bytes)
                .map_err(|e| io_error("CreateFolder", None, &sidecar, e))?;
        }
        Ok(Self::from_parts(root, merged))
    }

    fn from_parts(root: PathBuf, config: FolderConfig) -> Self {
        let name = root
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| root.display().to_string());
        FsStore {
            inner: Arc::new(Folder {
                root,
                name,
                config,
                plain: PlainFacts::default(),
            }),
        }
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Full reads this store value made to compute the ETag and checksum of plain files (never
    /// written through the store). Each file is read once while it is unchanged.
    pub fn content_reads(&self) -> usize {
        self.inner.plain.computed()
    }

    async fn blocking<T, F>(&self, action: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Folder) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| StoreError::new(StoreErrorKind::Other, action, e.to_string()))?
    }
}

#[async_trait]
impl StoreRead for FsStore {
    fn location(&self) -> String {
        let path = self
            .inner
            .root
            .canonicalize()
            .unwrap_or_else(|_| self.inner.root.clone());
        format!("file://{}", path.display())
    }

    fn bucket(&self) -> &str {
        &self.inner.name
    }

    async fn list_versions(&self, prefix: &str) -> Result<Option<Vec<ObjectVersion>>, StoreError> {
        if !self.inner.config.versioned {
            return Ok(None);
        }
        let prefix = prefix.to_string();
        self.blocking("ListObjectVersions", move |folder| {
            folder.list_versions(&prefix).map(Some)
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>, StoreError> {
        let prefix = prefix.to_string();
        self.blocking("ListObjectsV2", move |folder| folder.list(&prefix))
            .await
    }

    async fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<ListPage, StoreError> {
        let prefix = prefix.to_string();
        let start_after = start_after.map(str::to_string);
        self.blocking("ListObjectsV2", move |folder| {
            folder.list_page(&prefix, start_after.as_deref(), max)
        })
        .await
    }

    async fn head(&self, key: &str, version: Option<&str>) -> Result<ObjectHead, StoreError> {
        let (key, version) = owned(key, version);
        self.blocking("HeadObject", move |folder| {
            let resolved = folder.resolve("HeadObject", &key, version.as_deref())?;
            folder.head_of(&key, resolved)
        })
        .await
    }

    async fn get(
        &self,
        key: &str,
        version: Option<&str>,
        range: Option<ByteRange>,
    ) -> Result<ObjectBody, StoreError> {
        let (key, version) = owned(key, version);
        let (resolved, version_id, etag, length) = self
            .blocking("GetObject", move |folder| {
                let mut resolved = folder.resolve("GetObject", &key, version.as_deref())?;
                let (start, length) = match range {
                    None => (0, resolved.size),
                    Some(r) => {
                        if r.first > r.last || r.first >= resolved.size {
                            return Err(StoreError::new(
                                StoreErrorKind::InvalidRequest,
                                "GetObject",
                                format!(
                                    "range {} is outside the object's {} bytes",
                                    r.header(),
                                    resolved.size
                                ),
                            )
                            .with_key(key.clone())
                            .with_code("InvalidRange"));
                        }
                        (r.first, r.last.min(resolved.size - 1) - r.first + 1)
                    }
                };
                let version_id = folder.version_id_of(&resolved);
                let etag = folder.content_facts(&key, &resolved)?.etag;
                resolved
                    .file
                    .seek(SeekFrom::Start(start))
                    .map_err(|e| io_error("GetObject", Some(&key), &folder.object_path(&key), e))?;
                Ok((resolved, version_id, etag, length))
            })
            .await?;
        Ok(ObjectBody {
            version_id,
            content_length: length,
            etag,
            chunks: chunk_stream(resolved.file, length),
        })
    }

    async fn bucket_config(&self) -> Result<BucketConfig, StoreError> {
        let config = self.inner.config;
        Ok(BucketConfig {
            versioning: if config.versioned {
                Versioning::Enabled
            } else {
                Versioning::Unversioned
            },
            object_lock: config.object_lock,
        })
    }
}

#[async_trait]
impl StoreMark for FsStore {
    async fn get_tags(&self, key: &str, version: Option<&str>) -> Result<Vec<Tag>, StoreError> {
        let (key, version) = owned(key, version);
        self.blocking("GetObjectTagging", move |folder| {
            let resolved = folder.resolve("GetObjectTagging", &key, version.as_deref())?;
            match &resolved.generation {
                None => Ok(Vec::new()),
                Some((generation, _)) => folder.read_tags(&key, generation),
            }
        })
        .await
    }

    async fn put_tags(
        &self,
        key: &str,
        version: Option<&str>,
        tags: &[Tag],
    ) -> Result<(), StoreError> {
        let (key, version) = owned(key, version);
        let tags = tags.to_vec();
        self.blocking("PutObjectTagging", move |folder| {
            super::validate_tags(&key, &tags)?;
            let resolved = folder.resolve("PutObjectTagging", &key, version.as_deref())?;
            let generation = folder.adopt("PutObjectTagging", &key, resolved)?;
            let mut sorted = tags;
            sorted.sort();
            let body = serde_json::to_vec(
                &sorted
                    .iter()
                    .map(|t| (t.key.clone(), t.value.clone()))
                    .collect::<BTreeMap<_, _>>(),
            )
            .expect("tags serialize");
            folder.write_generation_state("PutObjectTagging", &key, &generation, "tags.json", &body)
        })
        .await
    }

    async fn copy_in_place(&self, request: &CopyInPlace) -> Result<CopyOutcome, StoreError> {
        let request = request.clone();
        self.blocking("CopyObject", move |folder| folder.copy_in_place(&request))
            .await
    }

    async fn put_legal_hold(
        &self,
        key: &str,
        version: Option<&str>,
        on: bool,
    ) -> Result<(), StoreError> {
        let (key, version) = owned(key, version);
        self.blocking("PutObjectLegalHold", move |folder| {
            if !folder.config.object_lock {
                return Err(StoreError::new(
                    StoreErrorKind::NoObjectLock,
                    "PutObjectLegalHold",
                    format!(
                        "folder bucket {} has no Object Lock configuration",
                        folder.name
                    ),
                )
                .with_key(key)
                .with_code("InvalidRequest"));
            }
            let resolved = folder.resolve("PutObjectLegalHold", &key, version.as_deref())?;
            let generation = folder.adopt("PutObjectLegalHold", &key, resolved)?;
            let status: &[u8] = if on { b"ON" } else { b"OFF" };
            folder.write_generation_state("PutObjectLegalHold", &key, &generation, "hold", status)
        })
        .await
    }
}

#[async_trait]
impl StoreWrite for FsStore {
    async fn put(&self, request: PutRequest) -> Result<PutOutcome, StoreError> {
        self.blocking("PutObject", move |folder| folder.put(&request))
            .await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_string();
        self.blocking("DeleteObject", move |folder| folder.delete(&key))
            .await
    }
}

#[cfg(test)]
mod tests;
