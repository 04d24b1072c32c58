//! Event notifications about new objects, in every envelope S3 sends them:
//!
//! - S3 event notification (S3 User Guide, "Event message structure"): `Records[].s3.bucket.name`,
//!   `Records[].s3.object.{key, versionId, sequencer}`, `eventName` `ObjectCreated:*`; the key
//!   is URL-encoded (`=` as `%3D`, a space as `+`).
//! - EventBridge (S3 User Guide, "EventBridge event message structure"):
//!   `{"detail-type": "Object Created", "source": "aws.s3", "detail": {"bucket": {"name"},
//!   "object": {"key", "version-id", "sequencer"}, "reason": "PutObject"}}`. Whether EventBridge
//!   URL-encodes the key is not confirmed by the documentation; it is decoded as for
//!   notifications, which leaves Genesys export keys (no `+`, no `%`) unchanged either way.
//! - SNS: the S3 event as the text of `Message` (`Records[].Sns.Message` when SNS invokes the
//!   function, the envelope `{"Type": "Notification", "Message": ...}` as an SQS body).
//! - `{"Service": "Amazon S3", "Event": "s3:TestEvent", ...}`: sent once when a notification
//!   is configured; nothing to do.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::S3EventRecord;
use aws_lambda_events::event::sns::{SnsMessage, SnsRecord};
use serde::Deserialize;
use serde_json::Value;

use super::{Body, Shape};
use crate::trigger::{Origin, Trigger, TriggerError, version_of};

/// The `detail` of an S3 EventBridge event (not among `aws_lambda_events`' types).
#[derive(Debug, Deserialize)]
struct S3EventBridgeDetail {
    bucket: S3EventBridgeBucket,
    object: S3EventBridgeObject,
}

#[derive(Debug, Deserialize)]
struct S3EventBridgeBucket {
    name: String,
}

#[derive(Debug, Deserialize)]
struct S3EventBridgeObject {
    key: String,
    #[serde(rename = "version-id", default)]
    version_id: Option<String>,
}

/// How deep envelopes may nest (SQS -> SNS -> S3 is two).
const MAX_DEPTH: usize = 3;

/// The shape of a payload that is not SQS or Batch Operations, if it is one the tagger knows.
pub fn classify(payload: &Value) -> Option<Shape> {
    if let Some(first) = payload
        .get("Records")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
    {
        if first.get("Sns").is_some() || first.get("EventSource").is_some() {
            return Some(Shape::Sns);
        }
        if first.get("s3").is_some()
            || first.get("eventSource").and_then(Value::as_str) == Some("aws:s3")
        {
            return Some(Shape::S3);
        }
        return None;
    }
    if payload
        .get("Records")
        .is_some_and(|r| r.as_array().is_some_and(Vec::is_empty))
    {
        return Some(Shape::S3);
    }
    if payload.get("detail-type").is_some() && payload.get("source").is_some() {
        return Some(Shape::EventBridge);
    }
    if payload.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Some(Shape::TestEvent);
    }
    if payload.get("Type").and_then(Value::as_str) == Some("Notification")
        && payload.get("Message").is_some()
    {
        return Some(Shape::Sns);
    }
    None
}

/// The records of a direct invocation of a known `shape`.
pub fn direct_records(shape: Shape, payload: &Value) -> Vec<Result<Body, TriggerError>> {
    match shape {
        Shape::S3 => records(payload)
            .enumerate()
            .map(|(i, record)| s3_record(&format!("Records[{i}]"), record))
            .collect(),
        Shape::Sns if payload.get("Records").is_some() => records(payload)
            .enumerate()
            .map(|(i, record)| sns_record(&format!("Records[{i}]"), record))
            .collect(),
        _ => vec![body("payload", payload, 0)],
    }
}

fn records(payload: &Value) -> impl Iterator<Item = &Value> {
    payload
        .get("Records")
        .and_then(Value::as_array)
        .map(|r| r.iter())
        .into_iter()
        .flatten()
}

/// What one message body (or nested message) asks for; `origin` names it in errors.
pub fn body(origin: &str, value: &Value, depth: usize) -> Result<Body, TriggerError> {
    if depth > MAX_DEPTH {
        return Err(TriggerError::new(origin, "envelopes nested too deep"));
    }
    let shape = classify(value).ok_or_else(|| {
        TriggerError::new(
            origin,
            format!(
                "not an S3 event, SNS notification, EventBridge event or s3:TestEvent \
                 (top-level fields: {})",
                super::top_level_fields(value)
            ),
        )
    })?;
    let mut body = Body {
        shape: Some(shape),
        ..Body::default()
    };
    match shape {
        Shape::S3 => {
            for (i, record) in records(value).enumerate() {
                body.absorb(s3_record(&format!("{origin} Records[{i}]"), record)?);
            }
        }
        Shape::Sns if value.get("Records").is_some() => {
            for (i, record) in records(value).enumerate() {
                body.absorb(sns_record(&format!("{origin} Records[{i}]"), record)?);
            }
        }
        Shape::Sns => {
            let envelope: SnsMessage = serde_json::from_value(value.clone())
                .map_err(|e| TriggerError::new(origin, format!("SNS notification: {e}")))?;
            body.absorb(sns_message(origin, &envelope.message, depth)?);
        }
        Shape::EventBridge => body.absorb(eventbridge(origin, value)?),
        Shape::TestEvent => body.ignored += 1,
        Shape::Sqs | Shape::BatchOperations => {
            return Err(TriggerError::new(
                origin,
                "an SQS or Batch Operations payload inside a message",
            ));
        }
    }
    Ok(body)
}

impl Body {
    fn absorb(&mut self, other: Body) {
        self.triggers.extend(other.triggers);
        self.ignored += other.ignored;
    }
}

fn s3_record(origin: &str, record: &Value) -> Result<Body, TriggerError> {
    let parsed: S3EventRecord = serde_json::from_value(record.clone())
        .map_err(|e| TriggerError::new(origin, format!("not an S3 event record: {e}")))?;
    let event_name = parsed.event_name.clone().unwrap_or_default();
    let event_name = event_name.trim_start_matches("s3:");
    if !event_name.is_empty() && !event_name.starts_with("ObjectCreated") {
        return Ok(Body {
            shape: Some(Shape::S3),
            ignored: 1,
            ..Body::default()
        });
    }
    let bucket = parsed
        .s3
        .bucket
        .name
        .clone()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| TriggerError::new(origin, "field s3.bucket.name is missing"))?;
    let raw_key = parsed
        .s3
        .object
        .key
        .clone()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| TriggerError::new(origin, "field s3.object.key is missing"))?;
    let key = custody_core::export::decode_s3_url_key(&raw_key)
        .map_err(|e| TriggerError::new(origin, format!("field s3.object.key: {e}")))?;
    Ok(Body {
        shape: Some(Shape::S3),
        triggers: vec![Trigger {
            bucket,
            key,
            version_id: version_of(parsed.s3.object.version_id.clone()),
            origin: Origin::S3Notification {
                sequencer: parsed.s3.object.sequencer.clone(),
            },
        }],
        ignored: 0,
    })
}

fn sns_record(origin: &str, record: &Value) -> Result<Body, TriggerError> {
    let parsed: SnsRecord = serde_json::from_value(record.clone())
        .map_err(|e| TriggerError::new(origin, format!("not an SNS record: {e}")))?;
    sns_message(origin, &parsed.sns.message, 0)
}

fn sns_message(origin: &str, message: &str, depth: usize) -> Result<Body, TriggerError> {
    let inner: Value = serde_json::from_str(message)
        .map_err(|e| TriggerError::new(origin, format!("field Message is not JSON: {e}")))?;
    let mut inner = body(&format!("{origin} Message"), &inner, depth + 1)?;
    inner.shape = Some(Shape::Sns);
    Ok(inner)
}

fn eventbridge(origin: &str, value: &Value) -> Result<Body, TriggerError> {
    let event: EventBridgeEvent<Value> = serde_json::from_value(value.clone())
        .map_err(|e| TriggerError::new(origin, format!("not an EventBridge event: {e}")))?;
    let ignored = Body {
        shape: Some(Shape::EventBridge),
        ignored: 1,
        ..Body::default()
    };
    if event.source != "aws.s3" || event.detail_type != "Object Created" {
        return Ok(ignored);
    }
    let detail: S3EventBridgeDetail = serde_json::from_value(event.detail.clone())
        .map_err(|e| TriggerError::new(origin, format!("field detail: {e}")))?;
    let key = custody_core::export::decode_s3_url_key(&detail.object.key)
        .map_err(|e| TriggerError::new(origin, format!("field detail.object.key: {e}")))?;
    Ok(Body {
        shape: Some(Shape::EventBridge),
        triggers: vec![Trigger {
            bucket: detail.bucket.name,
            key,
            version_id: version_of(detail.object.version_id),
            origin: Origin::EventBridge { event_id: event.id },
        }],
        ignored: 0,
    })
}
