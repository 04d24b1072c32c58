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

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use md5::Md5;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    BucketConfig, BucketSpec, ByteRange, CopyInPlace, CopyOutcome, ObjectBody, ObjectHead,
    ObjectSummary, ObjectVersion, PutCondition, PutOutcome, PutRequest, StoreError, StoreErrorKind,
    StoreMark, StoreRead, StoreWrite, StoredChecksum, Tag, Versioning,
};

const SIDECAR: &str = ".custody-store";
const READ_CHUNK: usize = 1 << 20;
/// The marker of a generation whose write is finished: published, adopted or superseded.
const FINISHED: &str = "finished";
const STAGING_PREFIX: &str = ".staging-";
/// A generation never marked finished, or a staged file, untouched for this long was left by a
/// writer that stopped (a put writes its facts moments before publishing them).
const ABANDONED_AFTER: Duration = Duration::from_secs(3600);

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
            inner: Arc::new(Folder { root, name, config }),
        }
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
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

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>, StoreError> {
        let prefix = prefix.to_string();
        self.blocking("ListObjectsV2", move |folder| folder.list(&prefix))
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
                let etag = folder.etag_of(&key, &mut resolved)?;
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
}

impl Folder {
    fn object_path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn key_dir(&self, key: &str) -> PathBuf {
        let digest = Sha256::digest(key.as_bytes());
        self.root
            .join(SIDECAR)
            .join("keys")
            .join(hex::encode(digest))
    }

    fn reported_version(&self, generation: Option<&str>) -> Option<String> {
        if !self.config.versioned {
            return None;
        }
        Some(generation.unwrap_or("null").to_string())
    }

    fn version_id_of(&self, resolved: &Resolved) -> Option<String> {
        match &resolved.generation {
            Some((_, facts)) if facts.null_version => self.reported_version(None),
            Some((generation, _)) => self.reported_version(Some(generation)),
            None => self.reported_version(None),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>, StoreError> {
        // Walk only the folder the prefix points into.
        let (dir_part, _) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let start = if dir_part.is_empty() {
            self.root.clone()
        } else {
            self.root.join(dir_part)
        };
        let mut keys = Vec::new();
        if start.is_dir() {
            collect_files(&self.root, &start, &mut keys)
                .map_err(|e| io_error("ListObjectsV2", None, &start, e))?;
        }
        keys.retain(|k| k.starts_with(prefix));
        keys.sort();
        let mut summaries = Vec::with_capacity(keys.len());
        for key in keys {
            let mut resolved = match self.resolve("ListObjectsV2", &key, None) {
                Ok(r) => r,
                // Replaced or removed while listing: S3 listings are not snapshots either.
                Err(e) if e.kind == StoreErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let etag = self.etag_of(&key, &mut resolved)?;
            summaries.push(ObjectSummary {
                key,
                size: resolved.size,
                etag,
            });
        }
        Ok(summaries)
    }

    /// Every generation of every key under `prefix` (a versioned folder keeps them all), newest
    /// first per key, the current one marked latest.
    fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>, StoreError> {
        const ACTION: &str = "ListObjectVersions";
        let keys_dir = self.root.join(SIDECAR).join("keys");
        let entries = match fs::read_dir(&keys_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(ACTION, None, &keys_dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let dir = entry
                .map_err(|e| io_error(ACTION, None, &keys_dir, e))?
                .path();
            let Ok(key) = fs::read_to_string(dir.join("key.txt")) else {
                continue;
            };
            if !key.starts_with(prefix) {
                continue;
            }
            let current = self.current(ACTION, &key).ok().and_then(|r| r.generation);
            let mut generations: Vec<String> = fs::read_dir(&dir)
                .map_err(|e| io_error(ACTION, Some(&key), &dir, e))?
                .filter_map(|e| {
                    let name = e.ok()?.file_name().into_string().ok()?;
                    let g = name.strip_suffix(".data")?;
                    is_generation_id(g).then(|| g.to_string())
                })
                .collect();
            generations.sort_unstable_by(|a, b| b.cmp(a));
            for g in generations {
                out.push(ObjectVersion {
                    is_latest: current.as_ref().is_some_and(|(c, _)| *c == g),
                    key: key.clone(),
                    version_id: g,
                    delete_marker: false,
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Finds one version of a key and opens its content.
    fn resolve(
        &self,
        action: &'static str,
        key: &str,
        version: Option<&str>,
    ) -> Result<Resolved, StoreError> {
        validate_key(action, key)?;
        let no_such_version = |v: &str| {
            StoreError::new(
                StoreErrorKind::NotFound,
                action,
                format!("version {v} of {key} does not exist"),
            )
            .with_key(key)
            .with_code("NoSuchVersion")
        };
        match version {
            Some(v) if v != "null" => {
                if !self.config.versioned || !is_generation_id(v) {
                    return Err(no_such_version(v));
                }
                let dir = self.key_dir(key);
                let data = dir.join(format!("{v}.data"));
                let file = match File::open(&data) {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        return Err(no_such_version(v));
                    }
                    Err(e) => return Err(io_error(action, Some(key), &data, e)),
                };
                let facts = self.read_facts(action, key, v)?;
                let meta = file
                    .metadata()
                    .map_err(|e| io_error(action, Some(key), &data, e))?;
                Ok(Resolved {
                    file,
                    size: meta.len(),
                    mtime: facts.last_modified,
                    generation: Some((v.to_string(), facts)),
                })
            }
            Some(_null) if self.config.versioned => {
                let resolved = self.current(action, key)?;
                match &resolved.generation {
                    None => Ok(resolved),
                    Some((_, facts)) if facts.null_version => Ok(resolved),
                    Some(_) => match self.null_generation(action, key)? {
                        Some(generation) => self.resolve(action, key, Some(&generation)),
                        None => Err(no_such_version("null")),
                    },
                }
            }
            _ => self.current(action, key),
        }
    }

    /// The current content of a key, and the generation it belongs to if any.
    ///
    /// Opening `ROOT/<key>` and finding the generation with the same inode are two steps; a
    /// writer may replace the key and collect the generation in between. When the generation is
    /// gone or missing, the answer counts only if the key still names the file that was opened;
    /// otherwise the read starts again on the newer content.
    fn current(&self, action: &'static str, key: &str) -> Result<Resolved, StoreError> {
        const ATTEMPTS: usize = 100;
        let path = self.object_path(key);
        for _ in 0..ATTEMPTS {
            let (file, meta) = self.open_current(action, key, &path)?;
            let found = self.generation_with_inode(action, key, meta.dev(), meta.ino());
            let settled = match &found {
                Ok(Some(_)) => true,
                Ok(None) => same_file(&path, &meta),
                Err(e) if e.kind == StoreErrorKind::NotFound => same_file(&path, &meta),
                Err(_) => true,
            };
            if !settled {
                continue;
            }
            let generation = found?;
            let mtime = match &generation {
                Some((_, facts)) => facts.last_modified,
                None => meta
                    .modified()
                    .map(DateTime::<Utc>::from)
                    .unwrap_or_else(|_| Utc::now()),
            };
            return Ok(Resolved {
                file,
                size: meta.len(),
                mtime,
                generation,
            });
        }
        Err(StoreError::new(
            StoreErrorKind::Transient,
            action,
            format!("{key} was replaced {ATTEMPTS} times while it was being read; retry"),
        )
        .with_key(key))
    }

    fn open_current(
        &self,
        action: &'static str,
        key: &str,
        path: &Path,
    ) -> Result<(File, fs::Metadata), StoreError> {
        let not_found = || {
            StoreError::new(
                StoreErrorKind::NotFound,
                action,
                format!("no object {key} in {}", self.root.display()),
            )
            .with_key(key)
            .with_code("NoSuchKey")
        };
        // Not a regular file (a FIFO, a socket, a device, an empty folder): an error naming it,
        // never "no such key" and never an open that blocks. The type is checked before opening,
        // and the open is non-blocking in case the name changes type in between.
        let not_an_object = |what: &str| {
            StoreError::new(
                StoreErrorKind::InvalidRequest,
                action,
                format!("{} is {what}, not a regular file", path.display()),
            )
            .with_key(key)
            .with_code("NotAnObject")
        };
        match fs::metadata(path) {
            Ok(meta) if meta.is_file() => {}
            Ok(meta) if meta.is_dir() => {
                let empty = fs::read_dir(path).is_ok_and(|mut d| d.next().is_none());
                return Err(if empty {
                    not_an_object("an empty folder")
                } else {
                    not_found()
                });
            }
            Ok(meta) => return Err(not_an_object(&file_kind(&meta))),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Err(not_found());
            }
            Err(e) => return Err(io_error(action, Some(key), path, e)),
        }
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
        {
            Ok(f) => f,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Err(not_found());
            }
            Err(e) => return Err(io_error(action, Some(key), path, e)),
        };
        let meta = file
            .metadata()
            .map_err(|e| io_error(action, Some(key), path, e))?;
        if !meta.is_file() {
            return Err(not_an_object(&file_kind(&meta)));
        }
        Ok((file, meta))
    }

    fn generation_with_inode(
        &self,
        action: &'static str,
        key: &str,
        dev: u64,
        ino: u64,
    ) -> Result<Option<(String, GenerationFacts)>, StoreError> {
        let dir = self.key_dir(key);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(action, Some(key), &dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_error(action, Some(key), &dir, e))?;
            let name = entry.file_name();
            let Some(generation) = name.to_str().and_then(|n| n.strip_suffix(".data")) else {
                continue;
            };
            if !is_generation_id(generation) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if meta.dev() == dev && meta.ino() == ino {
                let facts = self.read_facts(action, key, generation)?;
                return Ok(Some((generation.to_string(), facts)));
            }
        }
        Ok(None)
    }

    /// The adopted pre-versioning generation of a key, if it has one.
    fn null_generation(
        &self,
        action: &'static str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let dir = self.key_dir(key);
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(None);
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(generation) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if is_generation_id(generation)
                && self.read_facts(action, key, generation)?.null_version
            {
                return Ok(Some(generation.to_string()));
            }
        }
        Ok(None)
    }

    fn read_facts(
        &self,
        action: &'static str,
        key: &str,
        generation: &str,
    ) -> Result<GenerationFacts, StoreError> {
        let path = self.key_dir(key).join(format!("{generation}.json"));
        let bytes = fs::read(&path).map_err(|e| io_error(action, Some(key), &path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            StoreError::new(
                StoreErrorKind::Other,
                action,
                format!("{} is not valid generation state: {e}", path.display()),
            )
            .with_key(key)
        })
    }

    fn read_tags(&self, key: &str, generation: &str) -> Result<Vec<Tag>, StoreError> {
        let path = self.key_dir(key).join(format!("{generation}.tags.json"));
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("GetObjectTagging", Some(key), &path, e)),
        };
        let map: BTreeMap<String, String> = serde_json::from_slice(&bytes).map_err(|e| {
            StoreError::new(
                StoreErrorKind::Other,
                "GetObjectTagging",
                format!("{} is not a valid tag set: {e}", path.display()),
            )
            .with_key(key)
        })?;
        Ok(map.into_iter().map(|(k, v)| Tag::new(k, v)).collect())
    }

    fn read_hold(&self, key: &str, generation: &str) -> Result<bool, StoreError> {
        let path = self.key_dir(key).join(format!("{generation}.hold"));
        match fs::read(&path) {
            Ok(b) => Ok(b.as_slice() == b"ON"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error("HeadObject", Some(key), &path, e)),
        }
    }

    fn etag_of(&self, key: &str, resolved: &mut Resolved) -> Result<String, StoreError> {
        if let Some((_, facts)) = &resolved.generation {
            return Ok(facts.etag.clone());
        }
        resolved
            .file
            .seek(SeekFrom::Start(0))
            .and_then(|_| md5_hex(&mut resolved.file))
            .map_err(|e| io_error("HeadObject", Some(key), &self.object_path(key), e))
    }

    fn head_of(&self, key: &str, mut resolved: Resolved) -> Result<ObjectHead, StoreError> {
        let etag = self.etag_of(key, &mut resolved)?;
        let version_id = self.version_id_of(&resolved);
        let legal_hold = match (&resolved.generation, self.config.object_lock) {
            (_, false) => None,
            (None, true) => Some(false),
            (Some((generation, _)), true) => Some(self.read_hold(key, generation)?),
        };
        let (content_type, metadata, checksum_sha256, parts_count) = match resolved.generation {
            Some((_, facts)) => (
                facts.content_type,
                facts.metadata,
                facts.checksum_sha256.map(parse_checksum),
                facts.parts_count,
            ),
            None => (None, BTreeMap::new(), None, None),
        };
        Ok(ObjectHead {
            key: key.to_string(),
            version_id,
            size: resolved.size,
            etag,
            last_modified: Some(resolved.mtime),
            content_type,
            metadata,
            checksum_sha256,
            parts_count,
            legal_hold,
            storage_class: None,
            encryption: None,
        })
    }

    /// Makes sure a version has a generation (adopting a plain file by hard-linking it) and
    /// returns its id.
    fn adopt(
        &self,
        action: &'static str,
        key: &str,
        resolved: Resolved,
    ) -> Result<String, StoreError> {
        if let Some((generation, _)) = resolved.generation {
            return Ok(generation);
        }
        let mut resolved = resolved;
        let etag = self.etag_of(key, &mut resolved)?;
        let dir = self.prepare_key_dir(action, key)?;
        let io = |e| io_error(action, Some(key), &dir, e);
        let held = resolved.file.metadata().map_err(io)?;
        // Named after the file itself, so that concurrent adopters of one file agree on it.
        let generation = adopted_generation_id(&held);
        let facts = GenerationFacts {
            size: resolved.size,
            etag,
            last_modified: resolved.mtime,
            content_type: None,
            metadata: BTreeMap::new(),
            checksum_sha256: None,
            parts_count: None,
            null_version: true,
        };
        write_atomically(
            &dir,
            &dir.join(format!("{generation}.json")),
            &serde_json::to_vec(&facts).expect("facts serialize"),
        )
        .map_err(io)?;
        let data = dir.join(format!("{generation}.data"));
        let linked_here = match fs::hard_link(self.object_path(key), &data) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(io(e)),
        };
        let linked = fs::metadata(&data).map_err(io)?;
        if (held.dev(), held.ino()) != (linked.dev(), linked.ino()) {
            if linked_here {
                let _ = fs::remove_file(&data);
                let _ = fs::remove_file(dir.join(format!("{generation}.json")));
            }
            return Err(StoreError::new(
                StoreErrorKind::Transient,
                action,
                format!("{key} was replaced while it was being adopted; retry"),
            )
            .with_key(key));
        }
        self.retire_superseded(key, &generation);
        Ok(generation)
    }

    /// Writes a replaceable part of a generation's state (its tags or legal hold). When the
    /// generation was replaced and collected meanwhile, the write applied to a version that no
    /// longer exists, as on an unversioned bucket: the file is removed again.
    fn write_generation_state(
        &self,
        action: &'static str,
        key: &str,
        generation: &str,
        suffix: &str,
        body: &[u8],
    ) -> Result<(), StoreError> {
        let dir = self.key_dir(key);
        let path = dir.join(format!("{generation}.{suffix}"));
        write_atomically(&dir, &path, body).map_err(|e| io_error(action, Some(key), &dir, e))?;
        if !dir.join(format!("{generation}.data")).exists() {
            let _ = fs::remove_file(&path);
        }
        Ok(())
    }

    fn prepare_key_dir(&self, action: &'static str, key: &str) -> Result<PathBuf, StoreError> {
        let dir = self.key_dir(key);
        fs::create_dir_all(&dir).map_err(|e| io_error(action, Some(key), &dir, e))?;
        let key_file = dir.join("key.txt");
        if !key_file.exists() {
            write_atomically(&dir, &key_file, key.as_bytes())
                .map_err(|e| io_error(action, Some(key), &dir, e))?;
        }
        Ok(dir)
    }

    fn put(&self, request: &PutRequest) -> Result<PutOutcome, StoreError> {
        const ACTION: &str = "PutObject";
        let key = request.key.as_str();
        validate_key(ACTION, key)?;
        if request.condition == PutCondition::IfNoneMatch && self.object_path(key).is_file() {
            return Ok(PutOutcome::AlreadyExists);
        }
        let dir = self.prepare_key_dir(ACTION, key)?;
        let generation = new_generation_id();
        let outcome = self.write_and_publish(&dir, &generation, request);
        if !matches!(outcome, Ok(PutOutcome::Created { .. })) {
            // Never published (or lost a create-only race): nobody else will ever use it.
            self.forget_generation(key, &generation);
        }
        outcome
    }

    fn write_and_publish(
        &self,
        dir: &Path,
        generation: &str,
        request: &PutRequest,
    ) -> Result<PutOutcome, StoreError> {
        const ACTION: &str = "PutObject";
        let key = request.key.as_str();
        let io = |e| io_error(ACTION, Some(key), dir, e);
        let data = dir.join(format!("{generation}.data"));
        write_atomically(dir, &data, &request.body).map_err(io)?;
        let facts = GenerationFacts {
            size: request.body.len() as u64,
            etag: hex::encode(Md5::digest(&request.body)),
            last_modified: Utc::now(),
            content_type: request.content_type.clone(),
            metadata: lower_case_keys(&request.metadata),
            checksum_sha256: request
                .checksum_sha256
                .then(|| BASE64.encode(Sha256::digest(&request.body))),
            parts_count: None,
            null_version: false,
        };
        write_atomically(
            dir,
            &dir.join(format!("{generation}.json")),
            &serde_json::to_vec(&facts).expect("facts serialize"),
        )
        .map_err(io)?;
        if !self.publish(ACTION, key, generation, request.condition)? {
            return Ok(PutOutcome::AlreadyExists);
        }
        Ok(PutOutcome::Created {
            version_id: self.reported_version(Some(generation)),
            etag: facts.etag,
        })
    }

    /// Makes a written generation the current content of the key. Returns false when a
    /// create-only publish found the key taken.
    fn publish(
        &self,
        action: &'static str,
        key: &str,
        generation: &str,
        condition: PutCondition,
    ) -> Result<bool, StoreError> {
        let dir = self.key_dir(key);
        let data = dir.join(format!("{generation}.data"));
        let target = self.object_path(key);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| {
                let conflict = matches!(
                    e.kind(),
                    io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory
                );
                if conflict {
                    StoreError::new(
                        StoreErrorKind::InvalidRequest,
                        action,
                        format!(
                            "{key} needs {} to be a folder, but it is an object",
                            parent.display()
                        ),
                    )
                    .with_key(key)
                } else {
                    io_error(action, Some(key), parent, e)
                }
            })?;
        }
        if target.is_dir() {
            return Err(StoreError::new(
                StoreErrorKind::InvalidRequest,
                action,
                format!("{} is a folder of other objects", target.display()),
            )
            .with_key(key));
        }
        match condition {
            PutCondition::IfNoneMatch => match fs::hard_link(&data, &target) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
                Err(e) => return Err(io_error(action, Some(key), &target, e)),
            },
            PutCondition::None => {
                let staged = dir.join(format!("{generation}.publish"));
                fs::hard_link(&data, &staged)
                    .and_then(|_| fs::rename(&staged, &target))
                    .map_err(|e| {
                        let _ = fs::remove_file(&staged);
                        io_error(action, Some(key), &target, e)
                    })?;
            }
        }
        sync_dir(target.parent().unwrap_or(&self.root));
        self.retire_superseded(key, generation);
        Ok(true)
    }

    /// On an unversioned folder, called once `generation` has been published (or adopted):
    /// records that it is finished and removes every finished generation that is no longer
    /// current, so an overwrite leaves nothing of the older ones.
    ///
    /// Only finished generations are removed: another writer's generation that is still being
    /// written or is about to be published is left alone, whatever its id. A finished generation
    /// that is not current has been replaced for good (each generation is published once), so
    /// whichever writer collects last removes it. Removal races with other collectors and readers
    /// are benign: files already gone are skipped, and readers retry when a generation vanishes.
    fn retire_superseded(&self, key: &str, generation: &str) {
        if self.config.versioned {
            return;
        }
        let dir = self.key_dir(key);
        // Best effort: a generation left unmarked is collected once it is abandoned.
        let _ = File::create(dir.join(format!("{generation}.{FINISHED}")));
        self.collect_generations(key);
    }

    fn collect_generations(&self, key: &str) {
        let dir = self.key_dir(key);
        let Ok(entries) = fs::read_dir(&dir) else {
            return;
        };
        let mut finished = Vec::new();
        let mut unfinished: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        let mut stray = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((stem, suffix)) = name.split_once('.') else {
                continue;
            };
            if is_generation_id(stem) {
                match suffix {
                    FINISHED => finished.push(stem.to_string()),
                    "data" | "json" => unfinished
                        .entry(stem.to_string())
                        .or_default()
                        .push(entry.path()),
                    "publish" => stray.push(entry.path()),
                    _ => {}
                }
            } else if name.starts_with(STAGING_PREFIX) {
                stray.push(entry.path());
            }
        }
        // The key is read after the markers: a generation marked before is current now or
        // replaced for good.
        let Ok(current) = fs::metadata(self.object_path(key)) else {
            return;
        };
        let is_current = |generation: &str| {
            fs::metadata(dir.join(format!("{generation}.data")))
                .is_ok_and(|data| (data.dev(), data.ino()) == (current.dev(), current.ino()))
        };
        for generation in &finished {
            unfinished.remove(generation);
            if !is_current(generation) {
                self.forget_generation(key, generation);
            }
        }
        // Left behind by a writer that stopped half-way (or by a version of this store that kept
        // no markers).
        for (generation, paths) in unfinished {
            if paths.iter().all(|p| is_abandoned(p)) && !is_current(&generation) {
                self.forget_generation(key, &generation);
            }
        }
        for path in stray {
            if is_abandoned(&path) {
                let _ = fs::remove_file(path);
            }
        }
    }

    /// Removes every file of a generation; the marker goes last, so that an interrupted removal
    /// is finished by the next collection.
    fn forget_generation(&self, key: &str, generation: &str) {
        let dir = self.key_dir(key);
        for suffix in ["data", "json", "tags.json", "hold", FINISHED] {
            let _ = fs::remove_file(dir.join(format!("{generation}.{suffix}")));
        }
    }

    fn copy_in_place(&self, request: &CopyInPlace) -> Result<CopyOutcome, StoreError> {
        const ACTION: &str = "CopyObject";
        let key = request.key.as_str();
        let source = self.resolve(ACTION, key, request.version_id.as_deref())?;
        let dir = self.prepare_key_dir(ACTION, key)?;
        let generation = new_generation_id();
        let outcome = self.copy_to_generation(request, source, &dir, &generation);
        if outcome.is_err() {
            self.forget_generation(key, &generation);
        }
        outcome
    }

    fn copy_to_generation(
        &self,
        request: &CopyInPlace,
        mut source: Resolved,
        dir: &Path,
        generation: &str,
    ) -> Result<CopyOutcome, StoreError> {
        const ACTION: &str = "CopyObject";
        let key = request.key.as_str();
        let source_tags = match &source.generation {
            Some((generation, _)) => self.read_tags(key, generation)?,
            None => Vec::new(),
        };
        let (content_type, had_sha256) = match &source.generation {
            Some((_, facts)) => (facts.content_type.clone(), facts.checksum_sha256.is_some()),
            None => (None, false),
        };
        let multipart = source.size > request.multipart_threshold;
        let part_size = if multipart {
            request.effective_part_size(source.size)
        } else {
            source.size.max(1)
        };
        let data = dir.join(format!("{generation}.data"));
        let io = |e| io_error(ACTION, Some(key), dir, e);
        source.file.seek(SeekFrom::Start(0)).map_err(io)?;
        let parts = copy_in_parts(&mut source.file, dir, &data, part_size).map_err(io)?;
        let (etag, checksum, parts_count) = if multipart {
            let mut md5s = Md5::new();
            let mut shas = Sha256::new();
            for part in &parts {
                md5s.update(part.md5);
                shas.update(part.sha256);
            }
            let n = parts.len();
            (
                format!("{}-{n}", hex::encode(md5s.finalize())),
                had_sha256.then(|| format!("{}-{n}", BASE64.encode(shas.finalize()))),
                Some(n as u32),
            )
        } else {
            let part = parts.first().copied().unwrap_or_else(PartDigest::empty);
            (
                hex::encode(part.md5),
                had_sha256.then(|| BASE64.encode(part.sha256)),
                None,
            )
        };
        let facts = GenerationFacts {
            size: source.size,
            etag: etag.clone(),
            last_modified: Utc::now(),
            content_type,
            metadata: lower_case_keys(&request.metadata),
            checksum_sha256: checksum,
            parts_count,
            null_version: false,
        };
        write_atomically(
            dir,
            &dir.join(format!("{generation}.json")),
            &serde_json::to_vec(&facts).expect("facts serialize"),
        )
        .map_err(io)?;
        if !source_tags.is_empty() {
            let body = serde_json::to_vec(
                &source_tags
                    .iter()
                    .map(|t| (t.key.clone(), t.value.clone()))
                    .collect::<BTreeMap<_, _>>(),
            )
            .expect("tags serialize");
            write_atomically(dir, &dir.join(format!("{generation}.tags.json")), &body)
                .map_err(io)?;
        }
        self.publish(ACTION, key, generation, PutCondition::None)?;
        Ok(CopyOutcome {
            version_id: self.reported_version(Some(generation)),
            etag,
            multipart,
        })
    }
}

#[derive(Clone, Copy)]
struct PartDigest {
    md5: [u8; 16],
    sha256: [u8; 32],
}

impl PartDigest {
    fn empty() -> Self {
        PartDigest {
            md5: Md5::digest(b"").into(),
            sha256: Sha256::digest(b"").into(),
        }
    }
}

/// Copies `source` into a new file at `target`, returning the MD5 and SHA-256 of each part.
fn copy_in_parts(
    source: &mut File,
    dir: &Path,
    target: &Path,
    part_size: u64,
) -> io::Result<Vec<PartDigest>> {
    let staged = staging_path(dir);
    let mut out = File::create(&staged)?;
    let mut parts = Vec::new();
    let mut buffer = vec![0u8; READ_CHUNK];
    loop {
        let mut md5 = Md5::new();
        let mut sha = Sha256::new();
        let mut in_part = 0u64;
        while in_part < part_size {
            let want = (part_size - in_part).min(buffer.len() as u64) as usize;
            let n = source.read(&mut buffer[..want])?;
            if n == 0 {
                break;
            }
            md5.update(&buffer[..n]);
            sha.update(&buffer[..n]);
            out.write_all(&buffer[..n])?;
            in_part += n as u64;
        }
        if in_part == 0 && !parts.is_empty() {
            break;
        }
        parts.push(PartDigest {
            md5: md5.finalize().into(),
            sha256: sha.finalize().into(),
        });
        if in_part < part_size {
            break;
        }
    }
    out.sync_all()?;
    drop(out);
    fs::rename(&staged, target).inspect_err(|_| {
        let _ = fs::remove_file(&staged);
    })?;
    Ok(parts)
}

fn chunk_stream(file: File, length: u64) -> super::ChunkStream {
    let file = tokio::fs::File::from_std(file);
    Box::pin(futures::stream::unfold(
        (file, length),
        |(mut file, remaining)| async move {
            use tokio::io::AsyncReadExt;
            if remaining == 0 {
                return None;
            }
            let want = remaining.min(READ_CHUNK as u64) as usize;
            let mut buffer = BytesMut::with_capacity(want);
            let mut read = 0;
            while read < want {
                match file.read_buf(&mut buffer).await {
                    Ok(0) => break,
                    Ok(n) => read += n,
                    Err(e) => {
                        let error =
                            StoreError::new(StoreErrorKind::Other, "GetObject", e.to_string());
                        return Some((Err(error), (file, 0)));
                    }
                }
                if buffer.len() >= want {
                    break;
                }
            }
            if read == 0 {
                let error = StoreError::new(
                    StoreErrorKind::Other,
                    "GetObject",
                    format!("object ended {remaining} bytes early"),
                );
                return Some((Err(error), (file, 0)));
            }
            let chunk: Bytes = buffer.freeze();
            let left = remaining - chunk.len() as u64;
            Some((Ok(chunk), (file, left)))
        },
    ))
}

/// What kind of file a non-regular file is, for messages.
fn file_kind(meta: &fs::Metadata) -> String {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_fifo() {
        "a FIFO".into()
    } else if t.is_socket() {
        "a socket".into()
    } else if t.is_block_device() || t.is_char_device() {
        "a device".into()
    } else if t.is_dir() {
        "a folder".into()
    } else {
        "not a regular file".into()
    }
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let file_type = entry.file_type()?;
        if dir == root && entry.file_name() == SIDECAR {
            continue;
        }
        if file_type.is_dir() {
            collect_files(root, &path, out)?;
        } else if file_type.is_file() || (file_type.is_symlink() && path.is_file()) {
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let Some(key) = relative.to_str() else {
                continue;
            };
            out.push(key.to_string());
        }
    }
    Ok(())
}

fn validate_key(action: &'static str, key: &str) -> Result<(), StoreError> {
    let refuse = |why: &str| {
        Err(StoreError::new(
            StoreErrorKind::InvalidRequest,
            action,
            format!("key {key:?} cannot be stored in a folder: {why}"),
        )
        .with_key(key)
        .with_code("InvalidKey"))
    };
    if key.is_empty() || key.len() > 1024 {
        return refuse("a key is 1 to 1024 bytes");
    }
    if key.contains('\0') {
        return refuse("it contains a NUL character");
    }
    if key
        .split('/')
        .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return refuse("it has an empty, `.` or `..` path segment");
    }
    if key == SIDECAR || key.starts_with(&format!("{SIDECAR}/")) {
        return refuse("the store keeps its own state there");
    }
    Ok(())
}

fn is_generation_id(candidate: &str) -> bool {
    candidate.len() == 36 && candidate.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A time-ordered id: 20 decimal digits of nanoseconds then 16 hex digits of randomness, both
/// fitting `is_generation_id` (digits are hex digits).
fn new_generation_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:020}{:016x}", rand::random::<u64>())
}

/// The generation id of an adopted plain file: its modification time in nanoseconds and its
/// inode. The generation's hard link keeps the inode from being reused while it exists.
fn adopted_generation_id(file: &fs::Metadata) -> String {
    let nanos = (file.mtime().max(0) as u128) * 1_000_000_000 + file.mtime_nsec().max(0) as u128;
    format!("{:020}{:016x}", nanos % 10u128.pow(20), file.ino())
}

fn staging_path(dir: &Path) -> PathBuf {
    dir.join(format!("{STAGING_PREFIX}{:016x}", rand::random::<u64>()))
}

/// Writes a file under a temporary name in `dir`, syncs it and renames it into place.
fn write_atomically(dir: &Path, target: &Path, bytes: &[u8]) -> io::Result<()> {
    let staged = staging_path(dir);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staged)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&staged, target)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&staged);
    }
    result
}

fn is_abandoned(path: &Path) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age > ABANDONED_AFTER))
}

/// Whether `path` still names the file described by `opened`.
fn same_file(path: &Path, opened: &fs::Metadata) -> bool {
    fs::metadata(path).is_ok_and(|now| (now.dev(), now.ino()) == (opened.dev(), opened.ino()))
}

fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

fn md5_hex(file: &mut File) -> io::Result<String> {
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; READ_CHUNK];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn parse_checksum(stored: String) -> StoredChecksum {
    match stored.rsplit_once('-') {
        Some((base64, parts)) if parts.parse::<u32>().is_ok() => StoredChecksum::Composite {
            algorithm: "SHA256".into(),
            base64: base64.to_string(),
            parts: parts.parse().unwrap_or(0),
        },
        _ => StoredChecksum::FullObject {
            algorithm: "SHA256".into(),
            base64: stored,
        },
    }
}

fn lower_case_keys(metadata: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    metadata
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect()
}

fn owned(key: &str, version: Option<&str>) -> (String, Option<String>) {
    (key.to_string(), version.map(str::to_string))
}

fn io_error(action: &'static str, key: Option<&str>, path: &Path, error: io::Error) -> StoreError {
    let (kind, code) = match error.kind() {
        io::ErrorKind::NotFound => (StoreErrorKind::NotFound, "NoSuchKey"),
        io::ErrorKind::PermissionDenied => (StoreErrorKind::AccessDenied, "AccessDenied"),
        _ => (StoreErrorKind::Other, "IoError"),
    };
    let mut store_error =
        StoreError::new(kind, action, format!("{}: {error}", path.display())).with_code(code);
    if let Some(key) = key {
        store_error = store_error.with_key(key);
    }
    store_error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generations(store: &FsStore, key: &str) -> usize {
        fs::read_dir(store.inner.key_dir(key))
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".data"))
                    .count()
            })
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn an_unversioned_overwrite_keeps_only_the_newest_generation() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::create(dir.path(), BucketSpec::default()).unwrap();
        for body in ["one", "two", "three"] {
            let outcome = store.put(PutRequest::new("k.json", body)).await.unwrap();
            assert!(matches!(
                outcome,
                PutOutcome::Created {
                    version_id: None,
                    ..
                }
            ));
        }
        assert_eq!(generations(&store, "k.json"), 1);
        assert_eq!(store.get_bytes("k.json", None).await.unwrap(), "three");
        assert_eq!(fs::read(dir.path().join("k.json")).unwrap(), b"three");
    }

    fn files_named(store: &FsStore, key: &str, wanted: impl Fn(&str) -> bool) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(store.inner.key_dir(key))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| wanted(n))
            .collect();
        names.sort();
        names
    }

    /// Writes a generation's content and facts the way a put does, without publishing it.
    fn write_unpublished(store: &FsStore, key: &str, body: &[u8]) -> String {
        let folder = &store.inner;
        let dir = folder.prepare_key_dir("PutObject", key).unwrap();
        let generation = new_generation_id();
        fs::write(dir.join(format!("{generation}.data")), body).unwrap();
        let facts = GenerationFacts {
            size: body.len() as u64,
            etag: hex::encode(Md5::digest(body)),
            last_modified: Utc::now(),
            content_type: None,
            metadata: BTreeMap::new(),
            checksum_sha256: None,
            parts_count: None,
            null_version: false,
        };
        fs::write(
            dir.join(format!("{generation}.json")),
            serde_json::to_vec(&facts).unwrap(),
        )
        .unwrap();
        generation
    }

    fn age(path: &Path) {
        let old = SystemTime::now() - ABANDONED_AFTER - Duration::from_secs(60);
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }

    #[tokio::test]
    async fn a_put_leaves_another_writers_unpublished_generation_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::create(dir.path(), BucketSpec::default()).unwrap();
        // Older id than the put below: the old collector removed it because of that.
        let pending = write_unpublished(&store, "k", b"slow writer");
        store
            .put(PutRequest::new("k", "fast writer"))
            .await
            .unwrap();
        assert!(
            store
                .inner
                .key_dir("k")
                .join(format!("{pending}.data"))
                .exists()
        );
        let published = store
            .inner
            .publish("PutObject", "k", &pending, PutCondition::None)
            .unwrap();
        assert!(published);
        assert_eq!(store.get_bytes("k", None).await.unwrap(), "slow writer");
        assert_eq!(generations(&store, "k"), 1);
    }

    #[tokio::test]
    async fn concurrent_unversioned_puts_leave_one_generation_and_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::create(dir.path(), BucketSpec::default()).unwrap();
        let puts = (0..16).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let body = format!("writer {i}").repeat(1000);
                store.put(PutRequest::new("k", body)).await
            })
        });
        for put in futures::future::join_all(puts).await {
            put.unwrap().unwrap();
        }
        let left = files_named(&store, "k", |n| n != "key.txt");
        assert_eq!(left.len(), 3, "{left:?}");
        assert!(left.iter().any(|n| n.ends_with(".data")));
        assert!(left.iter().any(|n| n.ends_with(".json")));
        assert!(left.iter().any(|n| n.ends_with(FINISHED)));
        let head = store.head("k", None).await.unwrap();
        let body = store.get_bytes("k", None).await.unwrap();
        assert_eq!(head.etag, hex::encode(Md5::digest(&body)));
    }

    #[tokio::test]
    async fn abandoned_generations_and_staged_files_are_collected_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::create(dir.path(), BucketSpec::default()).unwrap();
        let abandoned = write_unpublished(&store, "k", b"crashed writer");
        let key_dir = store.inner.key_dir("k");
        age(&key_dir.join(format!("{abandoned}.data")));
        age(&key_dir.join(format!("{abandoned}.json")));
        let old_staged = key_dir.join(format!("{STAGING_PREFIX}0000000000000001"));
        fs::write(&old_staged, b"half").unwrap();
        age(&old_staged);
        let fresh_staged = key_dir.join(format!("{STAGING_PREFIX}0000000000000002"));
        fs::write(&fresh_staged, b"being written").unwrap();
        let running = write_unpublished(&store, "k", b"running writer");

        store.put(PutRequest::new("k", "now")).await.unwrap();

        assert!(!key_dir.join(format!("{abandoned}.data")).exists());
        assert!(!key_dir.join(format!("{abandoned}.json")).exists());
        assert!(!old_staged.exists());
        assert!(fresh_staged.exists());
        assert!(key_dir.join(format!("{running}.data")).exists());
    }

    #[tokio::test]
    async fn concurrent_taggers_of_a_plain_file_adopt_one_generation() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("call.opus"), b"downloaded export").unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        let taggers = (0..8).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let tags = [Tag::new("writer", i.to_string())];
                store.put_tags("call.opus", None, &tags).await
            })
        });
        for tagger in futures::future::join_all(taggers).await {
            tagger.unwrap().unwrap();
        }
        assert_eq!(generations(&store, "call.opus"), 1);
        let tags = store.get_tags("call.opus", None).await.unwrap();
        assert_eq!(tags.len(), 1, "{tags:?}");
        assert_eq!(
            store.get_bytes("call.opus", None).await.unwrap(),
            "downloaded export"
        );
    }

    #[tokio::test]
    async fn an_adopted_file_in_a_versioned_folder_keeps_version_null() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("old.opus"), b"before versioning").unwrap();
        let store = FsStore::create(
            dir.path(),
            BucketSpec {
                versioned: true,
                object_lock: true,
            },
        )
        .unwrap();
        let head = store.head("old.opus", None).await.unwrap();
        assert_eq!(head.version_id.as_deref(), Some("null"));
        store
            .put_legal_hold("old.opus", Some("null"), true)
            .await
            .unwrap();
        let head = store.head("old.opus", Some("null")).await.unwrap();
        assert_eq!(head.version_id.as_deref(), Some("null"));
        assert_eq!(head.legal_hold, Some(true));
        let PutOutcome::Created { version_id, .. } = store
            .put(PutRequest::new("old.opus", "after"))
            .await
            .unwrap()
        else {
            panic!("put reported AlreadyExists")
        };
        assert_ne!(version_id.as_deref(), Some("null"));
        assert_eq!(
            store.get_bytes("old.opus", Some("null")).await.unwrap(),
            "before versioning"
        );
        assert_eq!(
            store
                .head("old.opus", Some("null"))
                .await
                .unwrap()
                .legal_hold,
            Some(true)
        );
        assert_eq!(store.get_bytes("old.opus", None).await.unwrap(), "after");
    }

    #[tokio::test]
    async fn keys_that_cannot_be_paths_are_refused_with_the_key_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::create(dir.path(), BucketSpec::default()).unwrap();
        for key in [
            "",
            "a//b",
            "../escape",
            "a/./b",
            "trailing/",
            ".custody-store/config.json",
        ] {
            let error = store.put(PutRequest::new(key, "x")).await.unwrap_err();
            assert_eq!(
                error.kind,
                StoreErrorKind::InvalidRequest,
                "{key:?}: {error}"
            );
            assert_eq!(error.key.as_deref(), Some(key));
        }
        store.put(PutRequest::new("a", "x")).await.unwrap();
        let error = store.put(PutRequest::new("a/b", "y")).await.unwrap_err();
        assert_eq!(error.kind, StoreErrorKind::InvalidRequest, "{error}");
        assert!(!dir.path().join("..").join("escape").exists());
    }

    #[tokio::test]
    async fn a_reader_keeps_the_version_it_opened_across_an_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::create(dir.path(), BucketSpec::default()).unwrap();
        store
            .put(PutRequest::new("k", "first content"))
            .await
            .unwrap();
        let body = store.get("k", None, None).await.unwrap();
        store.put(PutRequest::new("k", "second")).await.unwrap();
        assert_eq!(body.etag, hex::encode(Md5::digest(b"first content")));
        assert_eq!(body.collect().await.unwrap(), "first content");
    }

    #[test]
    fn generation_ids_are_time_ordered_and_recognised() {
        let first = new_generation_id();
        std::thread::sleep(std::time::Duration::from_millis(1));
        let second = new_generation_id();
        assert!(is_generation_id(&first) && is_generation_id(&second));
        assert!(first < second);
        assert!(!is_generation_id("null"));
        assert!(!is_generation_id("../../../../etc/passwd"));
    }
}
