//! Every fixture in `samples/events/` the tagger accepts, parsed: each shape gives the trigger the
//! S3 event of `s3-put-metadata.json` names (same bucket, decoded key, version).

use super::*;
use crate::trigger::Origin;

fn sample(name: &str) -> Value {
    let path = format!("{}/../../samples/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

const BUCKET: &str = "genesys-exports-example";
const VERSION: &str = "k3Q9vXz1.Yb7LmN2pR4sT6uW8yA0cE3g";
const KEY_END: &str = "/3f8a2c6d-1b4e-4a9f-8c7d-6e5f4a3b2c1d.opus_metadata.json";

fn assert_metadata_trigger(trigger: &Trigger) {
    assert_eq!(trigger.bucket, BUCKET);
    assert!(trigger.key.ends_with(KEY_END), "{}", trigger.key);
    assert!(trigger.key.contains("/year=2024/"), "{}", trigger.key);
    assert_eq!(trigger.version_id.as_deref(), Some(VERSION));
}

fn direct(name: &str) -> (Shape, Vec<Body>) {
    match parse_invocation(&sample(name)).unwrap() {
        Invocation::Direct { shape, records } => {
            (shape, records.into_iter().map(Result::unwrap).collect())
        }
        other => panic!("{name}: expected a direct invocation, got {other:?}"),
    }
}

fn sqs(name: &str) -> Vec<SqsItem> {
    match parse_invocation(&sample(name)).unwrap() {
        Invocation::Sqs(items) => items,
        other => panic!("{name}: expected an SQS batch, got {other:?}"),
    }
}

#[test]
fn a_direct_s3_event_keeps_bucket_version_and_sequencer_and_decodes_the_key() {
    let (shape, records) = direct("s3-put-metadata.json");
    assert_eq!(shape, Shape::S3);
    let trigger = &records[0].triggers[0];
    assert_metadata_trigger(trigger);
    assert!(matches!(
        trigger.origin,
        Origin::S3Notification { sequencer: Some(_) }
    ));
}

#[test]
fn a_plus_in_an_event_key_is_a_space() {
    let (_, records) = direct("s3-put-manifest.json");
    let trigger = &records[0].triggers[0];
    assert!(trigger.key.contains(' '), "{}", trigger.key);
    assert!(!trigger.key.contains('+'));
}

#[test]
fn an_eventbridge_object_created_event_invoked_directly_is_a_trigger() {
    let (shape, records) = direct("eventbridge-object-created.json");
    assert_eq!(shape, Shape::EventBridge);
    assert_eq!(records.len(), 1);
    assert_metadata_trigger(&records[0].triggers[0]);
    assert!(matches!(
        &records[0].triggers[0].origin,
        Origin::EventBridge { event_id: Some(id) } if id == "f5f1e65c-dc3a-93ca-6c1e-b1647eac7963"
    ));
}

#[test]
fn an_eventbridge_event_of_another_kind_is_ignored_not_an_error() {
    let mut event = sample("eventbridge-object-created.json");
    event["detail-type"] = serde_json::json!("Object Deleted");
    let Invocation::Direct { records, .. } = parse_invocation(&event).unwrap() else {
        panic!()
    };
    let body = records[0].as_ref().unwrap();
    assert!(body.triggers.is_empty());
    assert_eq!(body.ignored, 1);
}

#[test]
fn a_direct_test_event_is_ignored() {
    let (shape, records) = direct("s3-test-event.json");
    assert_eq!(shape, Shape::TestEvent);
    assert!(records[0].triggers.is_empty());
    assert_eq!(records[0].ignored, 1);
}

#[test]
fn s3_in_sqs_carries_the_message_id() {
    let items = sqs("sqs-s3-put.json");
    assert_eq!(items[0].message_id, "2d6a1f0e-5b3c-4e9a-8f7d-1c2b3a4d5e6f");
    let body = items[0].body.as_ref().unwrap();
    assert_eq!(body.shape, Some(Shape::S3));
    assert_metadata_trigger(&body.triggers[0]);
}

#[test]
fn sns_in_sqs_is_unwrapped_to_the_s3_event() {
    let items = sqs("sqs-sns-s3-put.json");
    let body = items[0].body.as_ref().unwrap();
    assert_eq!(body.shape, Some(Shape::Sns));
    assert_eq!(body.triggers.len(), 1);
    assert_metadata_trigger(&body.triggers[0]);
}

#[test]
fn eventbridge_in_sqs_is_a_trigger() {
    let items = sqs("sqs-eventbridge-object-created.json");
    let body = items[0].body.as_ref().unwrap();
    assert_eq!(body.shape, Some(Shape::EventBridge));
    assert_metadata_trigger(&body.triggers[0]);
}

#[test]
fn a_test_event_in_sqs_is_ignored() {
    let items = sqs("sqs-s3-test-event.json");
    let body = items[0].body.as_ref().unwrap();
    assert!(body.triggers.is_empty());
    assert_eq!(body.ignored, 1);
}

#[test]
fn an_unparseable_sqs_message_is_an_error_for_that_message_only() {
    let items = sqs("sqs-unparseable-and-good.json");
    assert_eq!(items.len(), 2);
    let error = items[0].body.as_ref().unwrap_err();
    assert_eq!(items[0].message_id, "0badf00d-0000-4000-8000-00000000dead");
    assert!(error.origin.contains("0badf00d"), "{error}");
    assert!(error.message.contains("message, username"), "{error}");
    assert_metadata_trigger(&items[1].body.as_ref().unwrap().triggers[0]);
}

#[test]
fn a_malformed_sqs_body_names_the_message_and_field() {
    let payload = serde_json::json!({"Records": [
        {"eventSource": "aws:sqs", "messageId": "m-1", "body": "{not json"}
    ]});
    let Invocation::Sqs(items) = parse_invocation(&payload).unwrap() else {
        panic!()
    };
    let error = items[0].body.as_ref().unwrap_err();
    assert!(error.origin.contains("m-1"), "{error}");
    assert!(error.message.contains("field body"), "{error}");
}

#[test]
fn an_sns_envelope_with_a_broken_message_is_an_error() {
    let mut payload = sample("sqs-sns-s3-put.json");
    let mut envelope: Value =
        serde_json::from_str(payload["Records"][0]["body"].as_str().unwrap()).unwrap();
    envelope["Message"] = serde_json::json!("{\"Records\": [{\"s3\": 1}]}");
    payload["Records"][0]["body"] = serde_json::json!(envelope.to_string());
    let Invocation::Sqs(items) = parse_invocation(&payload).unwrap() else {
        panic!()
    };
    let error = items[0].body.as_ref().unwrap_err();
    assert!(error.origin.contains("Message Records[0]"), "{error}");
}

#[test]
fn an_sqs_record_without_a_message_id_fails_the_whole_invocation() {
    let payload = serde_json::json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]});
    assert!(matches!(
        parse_invocation(&payload),
        Err(PayloadError::Sqs(_))
    ));
}

#[test]
fn batch_operations_1_0_takes_the_bucket_from_its_arn() {
    let Invocation::Batch(batch) = parse_invocation(&sample("s3-batch-v1-recording.json")).unwrap()
    else {
        panic!("expected a batch invocation")
    };
    assert_eq!(batch.invocation_schema_version, "1.0");
    assert_eq!(batch.tasks[0].bucket().as_deref(), Some(BUCKET));
    assert!(batch.tasks[0].s3_version_id.is_some());
    assert!(batch.job.user_arguments.is_empty());
}

#[test]
fn batch_operations_2_0_keeps_bucket_version_and_user_arguments() {
    let Invocation::Batch(batch) = parse_invocation(&sample("s3-batch-v2-recording.json")).unwrap()
    else {
        panic!("expected a batch invocation")
    };
    assert_eq!(batch.invocation_schema_version, "2.0");
    assert_eq!(batch.tasks[0].bucket().as_deref(), Some(BUCKET));
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
fn an_unknown_batch_schema_version_is_refused() {
    let mut payload = sample("s3-batch-v2-recording.json");
    payload["invocationSchemaVersion"] = serde_json::json!("3.0");
    let error = parse_invocation(&payload).unwrap_err();
    assert!(
        error.to_string().contains("invocationSchemaVersion"),
        "{error}"
    );
}

#[test]
fn an_unknown_payload_is_refused_naming_its_fields() {
    let error = parse_invocation(&serde_json::json!({"hello": 1})).unwrap_err();
    assert!(error.to_string().contains("hello"), "{error}");
    assert!(parse_invocation(&serde_json::json!([1, 2])).is_err());
}
