//! What every invocation shape is reduced to: [`Trigger`]s, one object version to start from,
//! with the [`Origin`] that says how to answer for it (an SQS message id, or none).

/// One object the tagger was asked to start from, with where the request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub bucket: String,
    /// The decoded key (S3 notifications, EventBridge and Batch Operations send it URL-encoded).
    pub key: String,
    pub version_id: Option<String>,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// An S3 event notification (direct, through SNS, or inside an SQS message).
    S3Notification { sequencer: Option<String> },
    /// An EventBridge "Object Created" event (direct, or inside an SQS message).
    EventBridge { event_id: Option<String> },
    /// A Batch Operations task.
    BatchTask { task_id: String },
}

/// A part of the payload that cannot be turned into a trigger, naming where it is and what is
/// wrong, e.g. `Records[2] (SQS message 5f1...): field body is not JSON: ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct TriggerError {
    /// Which part of the payload was wrong, e.g. `Records[2]` or `SQS message 5f1...`.
    pub origin: String,
    pub message: String,
}

impl TriggerError {
    pub fn new(origin: impl Into<String>, message: impl Into<String>) -> TriggerError {
        TriggerError {
            origin: origin.into(),
            message: message.into(),
        }
    }
}

/// An S3 version id as events send it: absent, empty and `null` (unversioned bucket) are none.
pub(crate) fn version_of(version: Option<String>) -> Option<String> {
    version.filter(|v| !v.is_empty() && v != "null")
}
