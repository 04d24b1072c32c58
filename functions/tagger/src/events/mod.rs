//! Every payload shape AWS invokes the tagger with, parsed into the typed events of the
//! `aws_lambda_events` crate and told apart in one place ([`parse_invocation`]):
//!
//! | shape                                   | told apart by                                   |
//! |-----------------------------------------|-------------------------------------------------|
//! | S3 event notification                   | `Records[].eventSource = "aws:s3"`              |
//! | SNS (S3 -> SNS -> Lambda)               | `Records[].EventSource = "aws:sns"`             |
//! | SQS, any body below                     | `Records[].eventSource = "aws:sqs"`             |
//! | EventBridge "Object Created"            | `detail-type` and `source = "aws.s3"`           |
//! | `s3:TestEvent`                          | `Event = "s3:TestEvent"`                        |
//! | S3 Batch Operations 1.0 and 2.0         | `invocationSchemaVersion` and `tasks`           |
//!
//! An SQS message body is an S3 event, an SNS envelope (`Type = "Notification"`, the S3 event
//! in `Message`), an EventBridge event or a test event. A message whose body is none of these is
//! an [`SqsItem`] with an error: the handler reports it as a batch item failure, so that it is
//! redelivered and ends in the dead-letter queue, never dropped.

pub mod batch;
pub mod notification;

use aws_lambda_events::event::sqs::SqsMessage;
use serde_json::Value;

use crate::trigger::{Trigger, TriggerError};
pub use batch::{BatchInvocation, BatchJob, BatchTask};

/// The invocation payload, told apart by its shape.
#[derive(Debug)]
pub enum Invocation {
    /// Invoked directly (S3, SNS, EventBridge, test event): one result per record.
    Direct {
        shape: Shape,
        /// One entry per record (one for EventBridge and test events).
        records: Vec<Result<Body, TriggerError>>,
    },
    /// An SQS batch: one item per message, answered with partial batch failures.
    Sqs(Vec<SqsItem>),
    Batch(BatchInvocation),
}

/// Which shape an invocation (or an SQS message body) had, for logs and the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    S3,
    Sns,
    EventBridge,
    TestEvent,
    Sqs,
    BatchOperations,
}

/// One SQS message: its id (what a batch item failure names) and its triggers, or why it could
/// not be read.
#[derive(Debug)]
pub struct SqsItem {
    pub message_id: String,
    pub body: Result<Body, TriggerError>,
}

/// What one message body (or one direct payload) asked for.
#[derive(Debug, Default)]
pub struct Body {
    pub shape: Option<Shape>,
    pub triggers: Vec<Trigger>,
    /// Records that need nothing (a test event, an event that is not "object created").
    pub ignored: usize,
}

/// A payload of no shape the tagger knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error(
        "unknown payload: expected an S3 event (Records), SQS or SNS records, an EventBridge \
         \"Object Created\" event, an s3:TestEvent or an S3 Batch Operations invocation; \
         top-level fields: {0}"
    )]
    Unknown(String),
    #[error("S3 Batch Operations invocation: {0}")]
    Batch(String),
    #[error("SQS event: {0}")]
    Sqs(String),
}

fn top_level_fields(payload: &Value) -> String {
    match payload.as_object() {
        Some(map) if !map.is_empty() => map.keys().cloned().collect::<Vec<_>>().join(", "),
        Some(_) => "none".to_string(),
        None => format!("not a JSON object ({})", kind_of(payload)),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The `eventSource` of the first record, in either spelling (`EventSource` for SNS).
fn record_source(payload: &Value) -> Option<&str> {
    let first = payload.get("Records")?.as_array()?.first()?;
    first
        .get("eventSource")
        .or_else(|| first.get("EventSource"))
        .and_then(Value::as_str)
}

/// Tell the payload's shape and reduce it to triggers. A payload of no known shape is an error;
/// one bad record or message inside a known shape is an error for that record or message only.
pub fn parse_invocation(payload: &Value) -> Result<Invocation, PayloadError> {
    if payload.get("invocationSchemaVersion").is_some() && payload.get("tasks").is_some() {
        return batch::parse(payload).map(Invocation::Batch);
    }
    if record_source(payload) == Some("aws:sqs") {
        return parse_sqs(payload).map(Invocation::Sqs);
    }
    match notification::classify(payload) {
        Some(shape) => Ok(Invocation::Direct {
            shape,
            records: notification::direct_records(shape, payload),
        }),
        None => Err(PayloadError::Unknown(top_level_fields(payload))),
    }
}

fn parse_sqs(payload: &Value) -> Result<Vec<SqsItem>, PayloadError> {
    let records = payload
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| PayloadError::Sqs("field Records is not an array".to_string()))?;
    let mut items = Vec::with_capacity(records.len());
    for (i, record) in records.iter().enumerate() {
        let message: SqsMessage = serde_json::from_value(record.clone())
            .map_err(|e| PayloadError::Sqs(format!("Records[{i}]: {e}")))?;
        let Some(message_id) = message.message_id.clone().filter(|id| !id.is_empty()) else {
            // Without its id a message cannot be named in a batch item failure; failing the
            // whole invocation makes Lambda retry the whole batch instead of deleting it.
            return Err(PayloadError::Sqs(format!(
                "Records[{i}]: field messageId is missing"
            )));
        };
        let origin = format!("Records[{i}] (SQS message {message_id})");
        let body = message.body.as_deref().unwrap_or("");
        let body = match serde_json::from_str::<Value>(body) {
            Err(e) => Err(TriggerError::new(
                &origin,
                format!("field body is not JSON: {e}"),
            )),
            Ok(inner) => notification::body(&origin, &inner, 0),
        };
        items.push(SqsItem { message_id, body });
    }
    Ok(items)
}

#[cfg(test)]
mod tests;
