//! What invoked the tagger: S3 event notifications (direct, or wrapped in SQS messages) and S3
//! Batch Operations tasks (invocation schema 2.0).
//! Every shape is reduced to [`Trigger`]s: one object version to start from.

use serde::Deserialize;
use serde_json::Value;

/// One object the tagger was asked to start from, with where the request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub bucket: String,
    /// The decoded key (S3 notifications and Batch Operations send it URL-encoded).
    pub key: String,
    pub version_id: Option<String>,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    S3Notification {
        sequencer: Option<String>,
    },
    /// A notification inside an SQS message: the message id is what partial batch failure names.
    Sqs {
        message_id: String,
    },
}

/// An S3 Batch Operations invocation (schema 2.0): every task must be answered.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchInvocation {
    pub invocation_schema_version: String,
    pub invocation_id: String,
    pub job: BatchJob,
    pub tasks: Vec<BatchTask>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchJob {
    pub id: String,
    #[serde(default)]
    pub user_arguments: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchTask {
    pub task_id: String,
    pub s3_key: String,
    #[serde(default)]
    pub s3_version_id: Option<String>,
    /// Schema 2.0 names the bucket; schema 1.0 sends its ARN.
    #[serde(default)]
    pub s3_bucket: Option<String>,
    #[serde(default)]
    pub s3_bucket_arn: Option<String>,
}

impl BatchTask {
    pub fn bucket(&self) -> Option<String> {
        self.s3_bucket.clone().or_else(|| {
            self.s3_bucket_arn
                .as_deref()
                .map(|arn| arn.rsplit(':').next().unwrap_or(arn).to_string())
        })
    }
}

/// The invocation payload, told apart by its shape.
#[derive(Debug)]
pub enum Invocation {
    Notifications(Vec<Result<Trigger, TriggerError>>),
    Batch(BatchInvocation),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct TriggerError {
    /// Which part of the payload was wrong, e.g. `Records[2]` or `SQS message 5f1...`.
    pub origin: String,
    /// The SQS message to report as failed, when the bad part came in one.
    pub sqs_message_id: Option<String>,
    pub message: String,
}

#[derive(Deserialize)]
struct NotificationRecord {
    #[serde(rename = "eventName", default)]
    event_name: String,
    s3: NotificationS3,
}

#[derive(Deserialize)]
struct NotificationS3 {
    bucket: NotificationBucket,
    object: NotificationObject,
}

#[derive(Deserialize)]
struct NotificationBucket {
    name: String,
}

#[derive(Deserialize)]
struct NotificationObject {
    key: String,
    #[serde(rename = "versionId", default)]
    version_id: Option<String>,
    #[serde(default)]
    sequencer: Option<String>,
}

/// Tell the payload's shape and reduce it to triggers. A payload of no known shape is an error;
/// one bad record inside a known shape is an error for that record only.
pub fn parse_invocation(payload: &Value) -> Result<Invocation, String> {
    if payload.get("invocationSchemaVersion").is_some() && payload.get("tasks").is_some() {
        let batch: BatchInvocation = serde_json::from_value(payload.clone())
            .map_err(|e| format!("S3 Batch Operations invocation: {e}"))?;
        return Ok(Invocation::Batch(batch));
    }
    let Some(records) = payload.get("Records").and_then(Value::as_array) else {
        return Err(
            "unknown payload: expected S3 notification `Records`, SQS `Records` \
                    or an S3 Batch Operations invocation"
                .to_string(),
        );
    };
    let mut triggers = Vec::new();
    for (i, record) in records.iter().enumerate() {
        if record.get("eventSource").and_then(Value::as_str) == Some("aws:sqs") {
            triggers.extend(sqs_triggers(i, record));
        } else {
            triggers.extend(notification_triggers(
                &format!("Records[{i}]"),
                record,
                None,
            ));
        }
    }
    Ok(Invocation::Notifications(triggers))
}

fn notification_triggers(
    origin: &str,
    record: &Value,
    sqs_message_id: Option<&str>,
) -> Option<Result<Trigger, TriggerError>> {
    let error = |message: String| TriggerError {
        origin: origin.to_string(),
        sqs_message_id: sqs_message_id.map(str::to_string),
        message,
    };
    let parsed: NotificationRecord = match serde_json::from_value(record.clone()) {
        Ok(parsed) => parsed,
        Err(e) => return Some(Err(error(format!("not an S3 event record: {e}")))),
    };
    if !parsed.event_name.is_empty() && !parsed.event_name.starts_with("ObjectCreated") {
        return None;
    }
    let key = match custody_core::export::decode_s3_url_key(&parsed.s3.object.key) {
        Ok(key) => key,
        Err(e) => return Some(Err(error(format!("field s3.object.key: {e}")))),
    };
    let origin = match sqs_message_id {
        Some(id) => Origin::Sqs {
            message_id: id.to_string(),
        },
        None => Origin::S3Notification {
            sequencer: parsed.s3.object.sequencer,
        },
    };
    Some(Ok(Trigger {
        bucket: parsed.s3.bucket.name,
        key,
        version_id: parsed
            .s3
            .object
            .version_id
            .filter(|v| !v.is_empty() && v != "null"),
        origin,
    }))
}

fn sqs_triggers(index: usize, record: &Value) -> Vec<Result<Trigger, TriggerError>> {
    let message_id = record
        .get("messageId")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let origin = format!("Records[{index}] (SQS message {message_id})");
    let body = record.get("body").and_then(Value::as_str).unwrap_or("");
    let inner: Value = match serde_json::from_str(body) {
        Ok(inner) => inner,
        Err(e) => {
            return vec![Err(TriggerError {
                origin,
                sqs_message_id: Some(message_id),
                message: format!("field body is not JSON: {e}"),
            })];
        }
    };
    // S3 sends one `s3:TestEvent` when a notification is configured: nothing to do.
    if inner.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Vec::new();
    }
    let Some(records) = inner.get("Records").and_then(Value::as_array) else {
        return vec![Err(TriggerError {
            origin,
            sqs_message_id: Some(message_id),
            message: "field body holds no S3 event `Records`".to_string(),
        })];
    };
    records
        .iter()
        .enumerate()
        .filter_map(|(j, r)| {
            notification_triggers(&format!("{origin} Records[{j}]"), r, Some(&message_id))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Value {
        let path = format!("{}/../../samples/events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn notifications(payload: &Value) -> Vec<Result<Trigger, TriggerError>> {
        match parse_invocation(payload).unwrap() {
            Invocation::Notifications(triggers) => triggers,
            Invocation::Batch(_) => panic!("not a batch"),
        }
    }

    #[test]
    fn s3_put_event_keys_are_decoded() {
        let triggers = notifications(&sample("s3-put-metadata.json"));
        let trigger = triggers[0].as_ref().unwrap();
        assert!(trigger.key.contains("/year=2024/"), "{}", trigger.key);
        assert!(!trigger.key.contains('%'));
        assert!(matches!(
            trigger.origin,
            Origin::S3Notification { sequencer: Some(_) }
        ));
    }

    #[test]
    fn a_plus_in_an_event_key_is_a_space() {
        let triggers = notifications(&sample("s3-put-manifest.json"));
        let trigger = triggers[0].as_ref().unwrap();
        assert!(trigger.key.contains(' '), "{}", trigger.key);
        assert!(!trigger.key.contains('+'));
    }

    #[test]
    fn sqs_messages_carry_their_id_and_test_events_are_ignored() {
        let triggers = notifications(&sample("sqs-s3-put.json"));
        assert!(matches!(
            &triggers[0].as_ref().unwrap().origin,
            Origin::Sqs { message_id } if message_id == "2d6a1f0e-5b3c-4e9a-8f7d-1c2b3a4d5e6f"
        ));
        assert!(notifications(&sample("sqs-s3-test-event.json")).is_empty());
    }

    #[test]
    fn a_malformed_sqs_body_is_an_error_naming_the_message() {
        let payload = serde_json::json!({"Records": [
            {"eventSource": "aws:sqs", "messageId": "m-1", "body": "{not json"}
        ]});
        let triggers = notifications(&payload);
        let error = triggers[0].as_ref().unwrap_err();
        assert_eq!(error.sqs_message_id.as_deref(), Some("m-1"));
        assert!(error.message.contains("field body"), "{error}");
    }

    #[test]
    fn batch_tasks_keep_their_bucket_version_and_user_arguments() {
        let Invocation::Batch(batch) =
            parse_invocation(&sample("s3-batch-v2-recording.json")).unwrap()
        else {
            panic!("expected a batch invocation")
        };
        assert_eq!(batch.invocation_schema_version, "2.0");
        assert_eq!(
            batch.tasks[0].bucket().as_deref(),
            Some("genesys-exports-example")
        );
        assert!(batch.tasks[0].s3_version_id.is_some());
        assert!(batch.job.user_arguments.contains_key("matter"));
        let Invocation::Batch(batch) =
            parse_invocation(&sample("s3-batch-v2-no-version.json")).unwrap()
        else {
            panic!("expected a batch invocation")
        };
        assert!(batch.tasks[0].s3_version_id.is_none());
    }

    #[test]
    fn an_unknown_payload_is_refused() {
        assert!(parse_invocation(&serde_json::json!({"hello": 1})).is_err());
    }
}
