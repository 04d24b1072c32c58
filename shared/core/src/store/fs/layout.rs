//! Where a folder store keeps things: paths of objects and of per-key state, key rules,
//! generation ids, atomic file writes, and the mapping of I/O errors to store errors.

use super::*;

pub(super) const SIDECAR: &str = ".custody-store";
pub(super) const READ_CHUNK: usize = 1 << 20;
/// The marker of a generation whose write is finished: published, adopted or superseded.
pub(super) const FINISHED: &str = "finished";
pub(super) const STAGING_PREFIX: &str = ".staging-";
/// A generation never marked finished, or a staged file, untouched for this long was left by a
/// writer that stopped (a put writes its facts moments before publishing them).
pub(super) const ABANDONED_AFTER: Duration = Duration::from_secs(3600);

impl Folder {
    pub(super) fn object_path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    pub(super) fn key_dir(&self, key: &str) -> PathBuf {
        let digest = Sha256::digest(key.as_bytes());
        self.root
            .join(SIDECAR)
            .join("keys")
            .join(hex::encode(digest))
    }

    pub(super) fn reported_version(&self, generation: Option<&str>) -> Option<String> {
        if !self.config.versioned {
            return None;
        }
        Some(generation.unwrap_or("null").to_string())
    }

    pub(super) fn version_id_of(&self, resolved: &Resolved) -> Option<String> {
        match &resolved.generation {
            Some((_, facts)) if facts.null_version => self.reported_version(None),
            Some((generation, _)) => self.reported_version(Some(generation)),
            None => self.reported_version(None),
        }
    }

    pub(super) fn prepare_key_dir(
        &self,
        action: &'static str,
        key: &str,
    ) -> Result<PathBuf, StoreError> {
        let dir = self.key_dir(key);
        fs::create_dir_all(&dir).map_err(|e| io_error(action, Some(key), &dir, e))?;
        let key_file = dir.join("key.txt");
        if !key_file.exists() {
            write_atomically(&dir, &key_file, key.as_bytes())
                .map_err(|e| io_error(action, Some(key), &dir, e))?;
        }
        Ok(dir)
    }
}

pub(super) fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> io::Result<()> {
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

pub(super) fn validate_key(action: &'static str, key: &str) -> Result<(), StoreError> {
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

pub(super) fn is_generation_id(candidate: &str) -> bool {
    candidate.len() == 36 && candidate.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A time-ordered id: 20 decimal digits of nanoseconds then 16 hex digits of randomness, both
/// fitting `is_generation_id` (digits are hex digits).
pub(super) fn new_generation_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:020}{:016x}", rand::random::<u64>())
}

/// The generation id of an adopted plain file: its modification time in nanoseconds and its
/// inode. The generation's hard link keeps the inode from being reused while it exists.
pub(super) fn adopted_generation_id(file: &fs::Metadata) -> String {
    let nanos = (file.mtime().max(0) as u128) * 1_000_000_000 + file.mtime_nsec().max(0) as u128;
    format!("{:020}{:016x}", nanos % 10u128.pow(20), file.ino())
}

pub(super) fn staging_path(dir: &Path) -> PathBuf {
    dir.join(format!("{STAGING_PREFIX}{:016x}", rand::random::<u64>()))
}

/// Writes a file under a temporary name in `dir`, syncs it and renames it into place.
pub(super) fn write_atomically(dir: &Path, target: &Path, bytes: &[u8]) -> io::Result<()> {
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

pub(super) fn is_abandoned(path: &Path) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age > ABANDONED_AFTER))
}

/// Whether `path` still names the file described by `opened`.
pub(super) fn same_file(path: &Path, opened: &fs::Metadata) -> bool {
    fs::metadata(path).is_ok_and(|now| (now.dev(), now.ino()) == (opened.dev(), opened.ino()))
}

pub(super) fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

pub(super) fn parse_checksum(stored: String) -> StoredChecksum {
    match stored.rsplit_once('-') {
        Some((base64, parts)) if parts.parse::<u32>().is_ok() => StoredChecksum::Composite {
            algorithm: ChecksumAlgorithm::Sha256,
            base64: base64.to_string(),
            parts: parts.parse().unwrap_or(0),
        },
        _ => StoredChecksum::FullObject {
            algorithm: ChecksumAlgorithm::Sha256,
            base64: stored,
        },
    }
}

pub(super) fn lower_case_keys(metadata: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    metadata
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect()
}

pub(super) fn owned(key: &str, version: Option<&str>) -> (String, Option<String>) {
    (key.to_string(), version.map(str::to_string))
}

pub(super) fn io_error(
    action: &'static str,
    key: Option<&str>,
    path: &Path,
    error: io::Error,
) -> StoreError {
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
