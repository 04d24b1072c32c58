//! Reading a folder store (listings are in [`super::list`]): resolving a key (and version) to an open file and its
//! generation, HEAD facts, and streaming bodies.

use super::*;

impl Folder {
    /// Finds one version of a key and opens its content.
    pub(super) fn resolve(
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
    pub(super) fn current(&self, action: &'static str, key: &str) -> Result<Resolved, StoreError> {
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

    pub(super) fn open_current(
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

    pub(super) fn generation_with_inode(
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
    pub(super) fn null_generation(
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

    pub(super) fn read_facts(
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

    pub(super) fn read_tags(&self, key: &str, generation: &str) -> Result<Vec<Tag>, StoreError> {
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

    pub(super) fn read_hold(&self, key: &str, generation: &str) -> Result<bool, StoreError> {
        let path = self.key_dir(key).join(format!("{generation}.hold"));
        match fs::read(&path) {
            Ok(b) => Ok(b.as_slice() == b"ON"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error("HeadObject", Some(key), &path, e)),
        }
    }

    pub(super) fn head_of(&self, key: &str, resolved: Resolved) -> Result<ObjectHead, StoreError> {
        let content = self.content_facts(key, &resolved)?;
        let etag = content.etag;
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
                facts.checksum_sha256,
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
            checksum_sha256: checksum_sha256.clone().map(parse_checksum),
            // SHA-256 when the writer asked for it, else CRC64NVME, as S3 stores them.
            checksum: checksum_sha256.map(parse_checksum).or_else(|| {
                content.crc64nvme.map(|base64| StoredChecksum::FullObject {
                    algorithm: ChecksumAlgorithm::Crc64Nvme,
                    base64,
                })
            }),
            parts_count,
            legal_hold,
            storage_class: None,
            encryption: None,
        })
    }
}

pub(super) fn chunk_stream(file: File, length: u64) -> crate::store::ChunkStream {
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
