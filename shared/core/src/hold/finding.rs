//! Findings: what a run must tell the reader about one object, beyond what it did. Each finding
//! becomes a custody record (see `crate::ingest::records`), except [`Finding::Retry`]: a transient
//! failure is not a fact about the object, and the run is retried instead.

use std::fmt;

use super::Mechanism;

/// Something the run must tell the reader about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A file the export names is not in the bucket.
    Missing { named_by: String },
    /// An object no metadata names.
    Unreferenced { reason: String },
    /// Refused: outside the export bucket/prefix.
    OutOfScope { reason: String },
    /// A store call failed.
    Failed {
        action: String,
        code: Option<String>,
        likely_permission: Option<String>,
        message: String,
    },
    /// The key got a newer version than the exported one while it was processed.
    Overwritten { newer_version: Option<String> },
    /// A mechanism could not be applied for a reason that is not a failed call (too many tags,
    /// no Object Lock on the bucket, metadata too large, copy unsafe after an overwrite).
    CannotMark {
        mechanism: Mechanism,
        reason: String,
    },
    /// A metadata file could not be parsed.
    InvalidMetadata {
        field: Option<String>,
        problem: String,
    },
    /// Something measured disagreed with what was expected.
    Mismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// The ledger recorded another version (or, unversioned, other content) of this key: the
    /// version hashed now succeeds it. The recorded version keeps its hold and its records.
    Superseded {
        /// The recorded version (`None`: unversioned).
        recorded_version: Option<String>,
        recorded_sha256: String,
        /// Where its `hashed` record is (`block B leaf L`).
        recorded_at: String,
        /// The successor's digest.
        sha256: String,
    },
    /// A call failed for a transient reason (throttling, 5xx, timeout, reset) after the store's
    /// own retries. Not recorded: the step is unfinished, and the caller retries the run (batch
    /// item failure, Batch Operations TemporaryFailure, CLI exit 2).
    Retry { action: String, message: String },
}

impl Finding {
    /// A finding for a failed store call: [`Finding::Retry`] when the error is transient, else
    /// [`Finding::Failed`] with the permission the store says a denial lacks.
    pub fn from_store_error(
        store: &dyn crate::store::StoreRead,
        error: &crate::store::StoreError,
        versioned: bool,
        kms: bool,
    ) -> Finding {
        if error.is_retryable() {
            return Finding::Retry {
                action: error.action.to_string(),
                message: error.to_string(),
            };
        }
        Finding::Failed {
            action: error.action.to_string(),
            code: error.code.clone(),
            likely_permission: store.explain_denial(error, versioned, kms),
            message: error.to_string(),
        }
    }

    /// A short name of the finding's kind, as in reports and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Finding::Missing { .. } => "missing",
            Finding::Unreferenced { .. } => "unreferenced",
            Finding::OutOfScope { .. } => "out_of_scope",
            Finding::Failed { .. } => "failed",
            Finding::Overwritten { .. } => "overwritten",
            Finding::CannotMark { .. } => "cannot_mark",
            Finding::InvalidMetadata { .. } => "invalid_metadata",
            Finding::Mismatch { .. } => "mismatch",
            Finding::Superseded { .. } => "superseded",
            Finding::Retry { .. } => "retry",
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Missing { named_by } => write!(f, "missing: named by {named_by}"),
            Finding::Unreferenced { reason } => write!(f, "unreferenced: {reason}"),
            Finding::OutOfScope { reason } => write!(f, "refused: {reason}"),
            Finding::Failed {
                message,
                likely_permission,
                ..
            } => {
                write!(f, "failed: {message}")?;
                match likely_permission {
                    Some(p) => write!(f, " (likely missing permission: {p})"),
                    None => Ok(()),
                }
            }
            Finding::Overwritten { newer_version } => write!(
                f,
                "overwritten: the key has a newer version ({})",
                newer_version.as_deref().unwrap_or("unversioned overwrite")
            ),
            Finding::CannotMark { mechanism, reason } => {
                write!(f, "cannot mark with {}: {reason}", mechanism.as_str())
            }
            Finding::InvalidMetadata { field, problem } => match field {
                Some(field) => write!(f, "invalid metadata, field {field}: {problem}"),
                None => write!(f, "invalid metadata: {problem}"),
            },
            Finding::Mismatch {
                what,
                expected,
                actual,
            } => write!(f, "mismatch: {what}: expected {expected}, found {actual}"),
            Finding::Superseded {
                recorded_version,
                recorded_sha256,
                recorded_at,
                sha256,
            } => write!(
                f,
                "superseded: the recorded version {} (sha256 {recorded_sha256}, {recorded_at}) has a successor with sha256 {sha256}",
                recorded_version.as_deref().unwrap_or("null")
            ),
            Finding::Retry { action, message } => {
                write!(f, "transient failure of {action}, to be retried: {message}")
            }
        }
    }
}
