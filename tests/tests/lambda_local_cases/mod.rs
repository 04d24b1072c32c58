//! One case per fixture of `samples/events/` for `lambda_local.rs`: the fixture adapted to the
//! test's buckets, keys and versions, what its response must say, and which objects it marks. A
//! fixture with no case here fails the test: add one with the fixture.

use custody_core::ledger::{CustodyRecord, EventKind};
use serde_json::{Value, json};

use super::{CONV1, Keys, UNPARSEABLE, World, s3_event_key, sample_event};

/// A fixture ready to send, the check of its response, the objects it must leave marked.
pub struct Case {
    pub event: Value,
    pub check: Box<dyn Fn(&Value)>,
    pub marks: Vec<String>,
}

fn case(event: Value, check: impl Fn(&Value) + 'static, marks: Vec<String>) -> Case {
    Case {
        event,
        check: Box::new(check),
        marks,
    }
}

/// The SQS sample's message `index`, its body rewritten by `body`.
fn sqs_body(event: &mut Value, index: usize, body: impl FnOnce(Value) -> Value) {
    let inner: Value =
        serde_json::from_str(event["Records"][index]["body"].as_str().unwrap()).unwrap();
    event["Records"][index]["body"] = json!(body(inner).to_string());
}

fn summary_says(response: &Value, field: &str, want: u64) {
    assert_eq!(
        response["summary"][field].as_u64(),
        Some(want),
        "summary.{field}: {response:#}"
    );
}

fn no_batch_failures(response: &Value) {
    assert_eq!(response["batchItemFailures"], json!([]), "{response:#}");
}

fn batch_result(response: &Value, schema: &str, code: &str) {
    assert_eq!(response["invocationSchemaVersion"], schema, "{response:#}");
    let results = response["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{response:#}");
    assert_eq!(results[0]["resultCode"], code, "{response:#}");
}

/// The tagger's case for `name`.
pub fn tagger_case(world: &World, name: &str) -> Case {
    let meta1 = Keys::conv1("a1a1a1a1-0000-4000-8000-000000000001.opus_metadata.json");
    let rec1 = Keys::conv1("a1a1a1a1-0000-4000-8000-000000000001.opus");
    let mut event = sample_event(name);
    match name {
        "s3-put-metadata.json" => {
            event["Records"][0] = world.notification(&event["Records"][0], &meta1);
            case(
                event,
                |r| {
                    assert_eq!(r["shape"], "s3", "{r:#}");
                    summary_says(r, "triggers", 1);
                    summary_says(r, "objects", 2);
                },
                vec![meta1, rec1],
            )
        }
        "s3-put-manifest.json" => {
            event["Records"][0] = world.notification(&event["Records"][0], &world.manifest_key);
            let sent = event["Records"][0]["s3"]["object"]["key"].as_str().unwrap();
            assert!(sent.contains('+') && !sent.contains(' '), "{sent}");
            let marks = [
                "a1a1a1a1-0000-4000-8000-000000000002.opus",
                "a1a1a1a1-0000-4000-8000-000000000002.opus_metadata.json",
            ]
            .map(Keys::conv1)
            .to_vec();
            case(event, |r| summary_says(r, "refused", 0), marks)
        }
        "s3-test-event.json" => case(event, |r| summary_says(r, "ignored", 1), vec![]),
        "sqs-s3-test-event.json" => case(
            event,
            |r| {
                no_batch_failures(r);
                summary_says(r, "ignored", 1);
            },
            vec![],
        ),
        "eventbridge-object-created.json" => {
            let meta = Keys::conv2("b2b2b2b2-0000-4000-8000-000000000001.json_metadata.json");
            let event = world.eventbridge(&event, &meta);
            let check = |r: &Value| {
                assert_eq!(r["shape"], "event-bridge", "{r:#}");
                summary_says(r, "triggers", 1);
            };
            let data = Keys::conv2("b2b2b2b2-0000-4000-8000-000000000001.json");
            case(event, check, vec![meta, data])
        }
        "sqs-eventbridge-object-created.json" => {
            let meta = Keys::conv3("c3c3c3c3-0000-4000-8000-000000000001.json_metadata.json");
            sqs_body(&mut event, 0, |body| world.eventbridge(&body, &meta));
            let check = |r: &Value| {
                no_batch_failures(r);
                summary_says(r, "triggers", 1);
            };
            let data = Keys::conv3("c3c3c3c3-0000-4000-8000-000000000001.json");
            case(event, check, vec![meta, data])
        }
        "sqs-sns-s3-put.json" => {
            let meta = Keys::conv4("d4d4d4d4-0000-4000-8000-000000000001.json_metadata.json");
            sqs_body(&mut event, 0, |mut envelope| {
                let mut message: Value =
                    serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
                message["Records"][0] = world.notification(&message["Records"][0], &meta);
                envelope["Message"] = json!(message.to_string());
                envelope
            });
            let check = |r: &Value| {
                no_batch_failures(r);
                summary_says(r, "triggers", 1);
            };
            let data = Keys::conv4("d4d4d4d4-0000-4000-8000-000000000001.json");
            case(event, check, vec![meta, data])
        }
        "sqs-s3-put.json" => {
            // Two messages: the first recording again (a redelivery) and one whose recording
            // was never exported (a finding, still a processed message).
            let e5 = Keys::conv4("e5e5e5e5-0000-4000-8000-000000000001.opus_metadata.json");
            let count = event["Records"].as_array().unwrap().len();
            assert_eq!(count, 2, "{name}: two messages");
            for (index, key) in [&meta1, &e5].into_iter().enumerate() {
                sqs_body(&mut event, index, |mut body| {
                    body["Records"][0] = world.notification(&body["Records"][0], key);
                    body
                });
            }
            let check = |r: &Value| {
                no_batch_failures(r);
                summary_says(r, "messages", 2);
                summary_says(r, "triggers", 2);
            };
            case(event, check, vec![e5])
        }
        "sqs-unparseable-and-good.json" => {
            assert_eq!(event["Records"][0]["messageId"], UNPARSEABLE);
            sqs_body(&mut event, 1, |mut body| {
                body["Records"][0] = world.notification(&body["Records"][0], &meta1);
                body
            });
            let check = |r: &Value| {
                // Named, so SQS redelivers it and then moves it to the dead-letter queue.
                assert_eq!(
                    r["batchItemFailures"],
                    json!([{ "itemIdentifier": UNPARSEABLE }]),
                    "{r:#}"
                );
                summary_says(r, "unparseable", 1);
                summary_says(r, "triggers", 1);
            };
            case(event, check, vec![])
        }
        "s3-batch-v1-recording.json" => {
            let key = Keys::conv1("a1a1a1a1-0000-4000-8000-000000000001.opus");
            let task = &mut event["tasks"][0];
            task["s3BucketArn"] = json!(format!("arn:aws:s3:::{}", world.export));
            task["s3Key"] = json!(s3_event_key(&key));
            task["s3VersionId"] = json!(world.version(&key));
            case(event, |r| batch_result(r, "1.0", "Succeeded"), vec![key])
        }
        "s3-batch-v2-recording.json" => {
            let key = Keys::conv2("b2b2b2b2-0000-4000-8000-000000000001.json");
            let task = &mut event["tasks"][0];
            task["s3Bucket"] = json!(world.export);
            task["s3Key"] = json!(s3_event_key(&key));
            task["s3VersionId"] = json!(world.version(&key));
            case(event, |r| batch_result(r, "2.0", "Succeeded"), vec![key])
        }
        "s3-batch-v2-no-version.json" => {
            // No version in the task: the current one, which is the uploaded one.
            let key = Keys::conv1(&format!(
                "{CONV1}-77aa0000-0000-4000-8000-000000000c01.transcript.json"
            ));
            let task = &mut event["tasks"][0];
            task["s3Bucket"] = json!(world.export);
            task["s3Key"] = json!(s3_event_key(&key));
            assert!(task["s3VersionId"].is_null());
            case(event, |r| batch_result(r, "2.0", "Succeeded"), vec![key])
        }
        other => panic!(
            "samples/events/{other}: no case in tests/tests/lambda_local_cases; add one that \
             says what the function must answer"
        ),
    }
}

fn status(response: &Value, want: u64) -> Value {
    assert_eq!(response["statusCode"].as_u64(), Some(want), "{response:#}");
    serde_json::from_str(response["body"].as_str().expect("a body")).expect("a JSON body")
}

/// The auditor's case for the Function URL request `name`; `records` is the ledger's content.
pub fn auditor_case(name: &str, records: &[CustodyRecord]) -> Case {
    let mut event = sample_event(name);
    let total = records.len() as u64;
    let in_conv1 = records
        .iter()
        .filter(|r| r.why.conversation_id.as_deref() == Some(CONV1))
        .count() as u64;
    let hashed_in_conv1 = records
        .iter()
        .filter(|r| r.why.conversation_id.as_deref() == Some(CONV1) && r.event == EventKind::Hashed)
        .count();
    assert!(in_conv1 >= 6 && hashed_in_conv1 >= 4, "{in_conv1}");
    match name {
        "function-url-get-verify.json" => case(
            event,
            move |r| {
                let body = status(r, 200);
                assert_eq!(body["verdict"], "intact", "{body:#}");
                assert_eq!(body["intact"], true, "{body:#}");
                assert_eq!(body["records"].as_u64(), Some(total), "{body:#}");
            },
            vec![],
        ),
        "function-url-get-records.json" => {
            event["rawQueryString"] = json!(format!("conversation={CONV1}"));
            event["queryStringParameters"] = json!({ "conversation": CONV1 });
            case(
                event,
                move |r| {
                    let body = status(r, 200);
                    let found = body["records"].as_array().unwrap();
                    assert_eq!(found.len() as u64, in_conv1, "{body:#}");
                    assert_eq!(body["count"].as_u64(), Some(in_conv1), "{body:#}");
                    assert!(
                        found
                            .iter()
                            .all(|m| m["record"]["why"]["conversation_id"] == CONV1)
                    );
                },
                vec![],
            )
        }
        "function-url-get-records-raw-query.json" => {
            assert!(event.get("queryStringParameters").is_none());
            event["rawQueryString"] = json!(format!("conversation={CONV1}&event=hashed"));
            case(
                event,
                move |r| {
                    let body = status(r, 200);
                    let found = body["records"].as_array().unwrap();
                    assert_eq!(found.len(), hashed_in_conv1, "{body:#}");
                    assert!(found.iter().all(|m| m["record"]["event"] == "hashed"));
                },
                vec![],
            )
        }
        // The sample's id is in no ledger: 404, as documented.
        "function-url-get-receipt.json" => case(
            event,
            |r| {
                let body = status(r, 404);
                assert!(body["error"].is_string(), "{body:#}");
            },
            vec![],
        ),
        other => panic!(
            "samples/events/{other}: no case in tests/tests/lambda_local_cases; add one that \
             says what the auditor must answer"
        ),
    }
}
