use std::fmt;

/// What went wrong, in the terms the engine reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    NotFound,
    AccessDenied,
    /// A conditional write lost (412) or met a concurrent conflicting write (409).
    PreconditionFailed,
    /// SlowDown, 500/InternalError, throttling, dropped connection: worth retrying.
    Transient,
    /// The request is refused as it stands (e.g. a self-copy that changes nothing).
    InvalidRequest,
    /// The bucket has no Object Lock configuration.
    NoObjectLock,
    /// The version served is not the version asked for.
    VersionMismatch,
    Other,
}

/// An error from one store call, naming the S3 action, the key and what the server said.
#[derive(Debug, Clone, thiserror::Error)]
pub struct StoreError {
    pub kind: StoreErrorKind,
    /// The S3 API action that failed, e.g. `PutObjectTagging`.
    pub action: &'static str,
    pub key: Option<String>,
    /// The service's error code (`AccessDenied`, `SlowDown`, ...) when there is one.
    pub code: Option<String>,
    pub message: String,
}

impl StoreError {
    pub fn new(kind: StoreErrorKind, action: &'static str, message: impl Into<String>) -> Self {
        StoreError {
            kind,
            action,
            key: None,
            code: None,
            message: message.into(),
        }
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn is_retryable(&self) -> bool {
        self.kind == StoreErrorKind::Transient
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed", self.action)?;
        if let Some(key) = &self.key {
            write!(f, " for key {key:?}")?;
        }
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        write!(f, ": {}", self.message)
    }
}
