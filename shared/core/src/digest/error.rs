//! Why one object could not be hashed. Every message names the key (and the version when pinned).

use crate::store::StoreError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum DigestError {
    /// The store refused or kept failing (after retries, for transient errors).
    #[error("{source}{}", attempts_note(*.attempts))]
    Store { source: StoreError, attempts: u32 },

    /// The store answered with another version than the pinned one: nothing of it was hashed.
    #[error(
        "{key:?}: the store served version {served:?} where version {pinned:?} was pinned; \
         refusing to hash a different version"
    )]
    VersionChanged {
        key: String,
        pinned: Option<String>,
        served: Option<String>,
    },

    /// The ETag changed between HEAD and a GET: the object was overwritten while being read.
    #[error(
        "{key:?} (version {version:?}) changed while it was read: ETag {pinned_etag} at HEAD, \
         {served_etag} in a GET"
    )]
    ContentChanged {
        key: String,
        version: Option<String>,
        pinned_etag: String,
        served_etag: String,
    },

    /// The object no longer has the ETag a listing (or a record) gave for it: the GET pinned
    /// with `If-Match` was refused (`412 Precondition Failed`), or HEAD answered another ETag.
    /// The object changed between listing and reading; nothing of it was hashed.
    #[error(
        "{key:?} (version {version:?}) changed since it was listed: its ETag is no longer \
         {listed_etag} ({how}); nothing of it was hashed"
    )]
    ChangedSinceListed {
        key: String,
        version: Option<String>,
        listed_etag: String,
        how: String,
    },

    /// A body was longer (or announced another length) than HEAD's size allows.
    #[error(
        "{key:?} (version {version:?}): {what}: expected {expected} bytes, the store served {served}"
    )]
    LengthMismatch {
        key: String,
        version: Option<String>,
        what: &'static str,
        expected: u64,
        served: u64,
    },

    /// The hashing worker failed (a panic); a bug, reported rather than hidden.
    #[error("hashing {key:?} failed: {message}")]
    Internal { key: String, message: String },
}

fn attempts_note(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (gave up after {attempts} attempts)")
    } else {
        String::new()
    }
}

impl DigestError {
    pub(crate) fn store(key: &str, source: StoreError, attempts: u32) -> Self {
        let source = if source.key.is_none() {
            source.with_key(key)
        } else {
            source
        };
        DigestError::Store { source, attempts }
    }

    /// The key of the object that could not be hashed.
    pub fn key(&self) -> &str {
        match self {
            DigestError::Store { source, .. } => source.key.as_deref().unwrap_or_default(),
            DigestError::VersionChanged { key, .. }
            | DigestError::ContentChanged { key, .. }
            | DigestError::ChangedSinceListed { key, .. }
            | DigestError::LengthMismatch { key, .. }
            | DigestError::Internal { key, .. } => key,
        }
    }

    /// Whether the object changed while (or before) it was read: another version or ETag was
    /// served than the one pinned or listed. Not a hashing fault: reading it again hashes the
    /// new content.
    pub fn is_changed_object(&self) -> bool {
        matches!(
            self,
            DigestError::VersionChanged { .. }
                | DigestError::ContentChanged { .. }
                | DigestError::ChangedSinceListed { .. }
        )
    }

    /// The store error behind this one, when there is one (e.g. to tell NotFound from AccessDenied).
    pub fn store_error(&self) -> Option<&StoreError> {
        match self {
            DigestError::Store { source, .. } => Some(source),
            _ => None,
        }
    }
}
