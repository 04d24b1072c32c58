//! The tagger and auditor Lambda functions end to end, through their `handle` functions, against a
//! real S3 server (SeaweedFS on 127.0.0.1): the sample events of `samples/events/`, rewritten to
//! name this test's buckets, keys and versions (keys stay URL-encoded as S3 sends them).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use aws_sdk_s3::types::ObjectLockLegalHoldStatus;
use custody_aws::open;
use custody_aws::s3::StaticCredentials;
use custody_aws::services::{Services, Settings};
use custody_core::ledger::{
    Checkpoint, CustodyRecord, EventKind, Ledger, LedgerConfig, Receipt, Signer, TrustedKeys,
};
use custody_core::store::{BucketSpec, PutOutcome, PutRequest, StoreWrite};
use custody_tagger::Invoker;
use custody_tests::{Identity, SeaweedFs, unique_bucket, workspace_root};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ORG: &str = "3f1c9a52-7d0e-4b8a-9c61-0a2b4c6d8e10";
const ORIGIN: &str = "custody.test/functions";
const LEDGER_PREFIX: &str = "custody/ledger";

fn conversation_folder(day_hour: &str, conversation: &str) -> String {
    format!("{ORG}/year=2024/month=03/{day_hour}/conversation_id={conversation}/")
}

fn conv1() -> String {
    conversation_folder("day=14/hour=09", "c0ffee01-5b2a-4e9d-9a10-3d2f7a000001")
}

fn meta1() -> String {
    format!(
        "{}a1a1a1a1-0000-4000-8000-000000000001.opus_metadata.json",
        conv1()
    )
}

fn rec1() -> String {
    format!("{}a1a1a1a1-0000-4000-8000-000000000001.opus", conv1())
}

fn conv4() -> String {
    conversation_folder("day=16/hour=08", "c0ffee04-5b2a-4e9d-9a10-3d2f7a000004")
}

/// One test's world: an export bucket holding `samples/export/`, a ledger bucket, a signing key.
struct World {
    server: &'static SeaweedFs,
    export_bucket: String,
    ledger_bucket: String,
    signer: Signer,
    _key_dir: tempfile::TempDir,
    key_file: PathBuf,
    /// Every uploaded key with the version the upload created.
    versions: BTreeMap<String, String>,
}

impl World {
    async fn new(label: &str) -> World {
        let server = SeaweedFs::shared().await;
        // One bucket holds both the export (under the organization prefix) and the ledger (under
        // `custody/ledger/`): the functions open them as two independent stores either way, and
        // SeaweedFS on a shared machine runs out of volumes for two buckets per test when every
        // test of this file starts at once.
        let export_bucket = unique_bucket(&format!("{label}-exp"));
        let ledger_bucket = export_bucket.clone();
        let locked = BucketSpec {
            versioned: true,
            object_lock: true,
        };
        server.create_bucket(&export_bucket, locked).await.unwrap();
        let signer = Signer::generate(ORIGIN).unwrap();
        let key_dir = tempfile::tempdir().unwrap();
        let key_file = key_dir.path().join("ledger.key");
        std::fs::write(&key_file, signer.to_text()).unwrap();
        let mut world = World {
            server,
            export_bucket,
            ledger_bucket,
            signer,
            _key_dir: key_dir,
            key_file,
            versions: BTreeMap::new(),
        };
        let root = workspace_root().join("samples/export");
        for (key, body) in files_under(&root) {
            world.put(&key, body).await;
        }
        world
    }

    async fn put(&mut self, key: &str, body: Vec<u8>) -> String {
        let store = self.server.store(&self.export_bucket).await;
        // Test setup, not the code under test: a bucket SeaweedFS created a moment ago may answer
        // 500 InternalError to the first writes while many tests start at once; retry those.
        let mut attempt = 0;
        let outcome = loop {
            let mut request = PutRequest::new(key.to_string(), body.clone());
            request.checksum_sha256 = true;
            match store.put(request).await {
                Err(e) if e.is_retryable() && attempt < 20 => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(250 * attempt)).await;
                }
                other => break other.unwrap(),
            }
        };
        let version = match outcome {
            PutOutcome::Created {
                version_id: Some(v),
                ..
            } => v,
            other => panic!("{key}: expected a new version, got {other:?}"),
        };
        self.versions.insert(key.to_string(), version.clone());
        version
    }

    fn version(&self, key: &str) -> String {
        self.versions
            .get(key)
            .unwrap_or_else(|| panic!("{key} was not uploaded"))
            .clone()
    }

    fn settings(&self, hold_marking: &str) -> Settings {
        Settings {
            export: format!("s3://{}", self.export_bucket),
            export_prefix: format!("{ORG}/"),
            ledger: format!("s3://{}/{LEDGER_PREFIX}", self.ledger_bucket),
            origin: Some(ORIGIN.to_string()),
            hold_select: "all".to_string(),
            hold_marking: hold_marking.to_string(),
            matter: Some("M-DEFAULT".to_string()),
            signing_key: Some(format!("file:{}", self.key_file.display())),
            s3_endpoint: Some(self.server.endpoint()),
            s3_path_style: true,
            s3_region: Some("us-east-1".to_string()),
            s3_credentials: Some(StaticCredentials {
                access_key_id: Identity::Admin.access_key_id().to_string(),
                secret_access_key: Identity::Admin.secret_access_key().to_string(),
                session_token: None,
            }),
            ..Settings::default()
        }
    }

    async fn services(&self) -> Services {
        self.settings("tags,metadata,object-lock")
            .services()
            .await
            .unwrap()
    }

    /// The ledger as the auditor function opens it: read-only, no signing key.
    async fn auditor_ledger(&self) -> Ledger {
        let settings = self.settings("tags");
        let location = settings.ledger.clone();
        let opened = open(&location, &settings.s3_options()).await.unwrap();
        Ledger::open(
            opened.store,
            &opened.prefix,
            LedgerConfig::new(ORIGIN),
            None,
        )
        .await
        .unwrap()
    }

    async fn records(&self) -> Vec<CustodyRecord> {
        let ledger = self.auditor_ledger().await;
        let mut records = Vec::new();
        ledger
            .for_each_record(|entry| records.push(entry.record.expect("every record parses")))
            .await
            .unwrap();
        records
    }

    /// The S3 notification record for `key` at its uploaded version, from a sample record.
    fn notification(&self, sample: &Value, key: &str) -> Value {
        let mut record = sample.clone();
        let s3 = record.get_mut("s3").expect("an S3 event record");
        s3["bucket"]["name"] = json!(self.export_bucket);
        s3["bucket"]["arn"] = json!(format!("arn:aws:s3:::{}", self.export_bucket));
        s3["object"]["key"] = json!(s3_event_key(key));
        s3["object"]["versionId"] = json!(self.version(key));
        record
    }

    /// A direct S3 put event for `key`, from `samples/events/<sample>`.
    fn s3_event(&self, sample: &str, key: &str) -> Value {
        let mut event = sample_event(sample);
        let record = self.notification(&event["Records"][0], key);
        event["Records"][0] = record;
        event
    }

    async fn tags(&self, key: &str, version: &str) -> HashMap<String, String> {
        let client = self.server.client().await;
        let out = client
            .get_object_tagging()
            .bucket(&self.export_bucket)
            .key(key)
            .version_id(version)
            .send()
            .await
            .unwrap();
        out.tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect()
    }

    async fn legal_hold_on(&self, key: &str, version: &str) -> bool {
        let client = self.server.client().await;
        match client
            .get_object_legal_hold()
            .bucket(&self.export_bucket)
            .key(key)
            .version_id(version)
            .send()
            .await
        {
            Ok(out) => {
                out.legal_hold().and_then(|h| h.status()) == Some(&ObjectLockLegalHoldStatus::On)
            }
            // No legal hold was ever set on the version.
            Err(_) => false,
        }
    }
}

/// Every file under `root`, keyed by its path relative to `root`.
fn files_under(root: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let key = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                out.push((key, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn sample_event(name: &str) -> Value {
    let path = workspace_root().join("samples/events").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn sample_bytes(key: &str) -> Vec<u8> {
    std::fs::read(workspace_root().join("samples/export").join(key)).unwrap()
}

/// A key as S3 writes it into event notifications: URL-encoded, a space as `+`.
fn s3_event_key(key: &str) -> String {
    let mut out = String::new();
    for byte in key.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn invoker(request_id: &str) -> Invoker {
    Invoker {
        function: Some("custody-tagger".to_string()),
        function_arn: Some(
            "arn:aws:lambda:us-east-1:123456789012:function:custody-tagger".to_string(),
        ),
        request_id: Some(request_id.to_string()),
        region: Some("us-east-1".to_string()),
    }
}

fn kinds_for(records: &[CustodyRecord], key: &str) -> Vec<EventKind> {
    let mut kinds: Vec<EventKind> = records
        .iter()
        .filter(|r| r.what.key == key)
        .map(|r| r.event)
        .collect();
    kinds.sort();
    kinds
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn assert_marked_and_hashed(world: &World, records: &[CustodyRecord], key: &str) {
    let kinds = kinds_for(records, key);
    for kind in [
        EventKind::Observed,
        EventKind::HoldApplied,
        EventKind::Hashed,
    ] {
        assert_eq!(
            kinds.iter().filter(|k| **k == kind).count(),
            1,
            "{key}: expected one {kind:?} record, the ledger has {:#?}",
            records
                .iter()
                .filter(|r| r.what.key == *key)
                .map(|r| (r.event, &r.what, &r.outcome))
                .collect::<Vec<_>>()
        );
    }
    let hashed = records
        .iter()
        .find(|r| r.what.key == key && r.event == EventKind::Hashed)
        .unwrap();
    assert_eq!(
        hashed.what.sha256.as_deref(),
        Some(sha256_hex(&sample_bytes(key)).as_str())
    );
    assert_eq!(
        hashed.what.version_id.as_deref(),
        Some(world.version(key).as_str()),
        "{key}: the exported version is the one hashed"
    );
    assert_eq!(hashed.what.bucket, world.export_bucket);
    assert!(hashed.who.request_id.is_some());
    assert_eq!(hashed.where_.account.as_deref(), Some("123456789012"));
}

#[tokio::test]
async fn s3_put_event_marks_hashes_and_records_once_and_redelivery_adds_nothing() {
    let world = World::new("fn-put").await;
    let runtime = world.services().await;
    let event = world.s3_event("s3-put-metadata.json", &meta1());
    let sent_key = event["Records"][0]["s3"]["object"]["key"].as_str().unwrap();
    assert!(
        sent_key.contains("%3D"),
        "the key is URL-encoded: {sent_key}"
    );

    let response = custody_tagger::handle(&runtime, &event, &invoker("req-1"))
        .await
        .unwrap();
    assert_eq!(response["shape"], "s3", "{response:#}");
    let summary = &response["summary"];
    assert_eq!(summary["triggers"], 1, "{response:#}");
    assert_eq!(summary["objects"], 2, "{response:#}");
    assert_eq!(summary["hashed"], 2, "{response:#}");
    assert!(summary["bytesHashed"].as_u64().unwrap() > 0, "{response:#}");
    assert!(
        summary["recordsAppended"].as_u64().unwrap() >= 6,
        "{response:#}"
    );
    let records = world.records().await;
    for key in [rec1(), meta1()] {
        assert_marked_and_hashed(&world, &records, &key);
        let exported = world.version(&key);
        // The metadata copy made a new version (proven identical by hashing both); tags and
        // legal hold are on that marked version, which is the current one.
        let applied = records
            .iter()
            .find(|r| r.what.key == key && r.event == EventKind::HoldApplied)
            .unwrap();
        let marked = applied
            .what
            .new_version_id
            .clone()
            .unwrap_or_else(|| panic!("{key}: no copy version in {applied:?}"));
        assert_ne!(marked, exported);
        let tags = world.tags(&key, &marked).await;
        assert_eq!(
            tags.get("legal-hold").map(String::as_str),
            Some("true"),
            "{key}: {tags:?}"
        );
        assert_eq!(
            tags.get("legal-hold-matter").map(String::as_str),
            Some("M-DEFAULT")
        );
        assert!(world.legal_hold_on(&key, &marked).await, "{key}");
        let head = world
            .server
            .client()
            .await
            .head_object()
            .bucket(&world.export_bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.version_id(), Some(marked.as_str()), "{key}");
        let metadata = head.metadata().cloned().unwrap_or_default();
        assert_eq!(
            metadata.get("legal-hold").map(String::as_str),
            Some("true"),
            "{key}: {metadata:?}"
        );
        assert_eq!(
            metadata.get("legal-hold-source-version"),
            Some(&exported),
            "{key}"
        );
    }

    // At-least-once delivery: the same event again appends nothing.
    let again = custody_tagger::handle(&runtime, &event, &invoker("req-2"))
        .await
        .unwrap();
    assert_eq!(again["summary"]["recordsAppended"], 0, "{again:#}");
    assert_eq!(again["summary"]["retried"], 0, "{again:#}");
    let after = world.records().await;
    assert_eq!(
        after.len(),
        records.len(),
        "a redelivered event must not add records"
    );
    let report = world.auditor_ledger().await.verify(None).await;
    assert!(report.is_intact(), "{report}");
}

#[tokio::test]
async fn sqs_batch_processes_good_messages_and_returns_a_malformed_one_for_the_dead_letter_queue() {
    let mut world = World::new("fn-sqs").await;
    let manifest_key = format!("{ORG}/manifests/MATTER-2024-0173 sqs batch.custody-manifest.json");
    let conv2 = conversation_folder("day=14/hour=10", "c0ffee02-5b2a-4e9d-9a10-3d2f7a000002");
    let json2 = format!("{conv2}b2b2b2b2-0000-4000-8000-000000000001.json");
    let manifest = json!({
        "format": "custody-manifest/1",
        "exportJobId": "job-sqs",
        "entries": [{ "bucket": world.export_bucket, "key": json2, "hold": true }],
    });
    world
        .put(&manifest_key, serde_json::to_vec(&manifest).unwrap())
        .await;
    let runtime = world.services().await;

    let mut event = sample_event("sqs-s3-put.json");
    let targets = [meta1(), manifest_key.clone()];
    for (i, key) in targets.iter().enumerate() {
        let body: Value =
            serde_json::from_str(event["Records"][i]["body"].as_str().unwrap()).unwrap();
        let mut body = body;
        body["Records"][0] = world.notification(&body["Records"][0], key);
        event["Records"][i]["body"] = json!(body.to_string());
    }
    let mut malformed = event["Records"][0].clone();
    malformed["messageId"] = json!("0badbody-0000-4000-8000-000000000000");
    malformed["body"] = json!("{\"Records\": [ this is not JSON");
    let test_event = sample_event("sqs-s3-test-event.json")["Records"][0].clone();
    let records_array = event["Records"].as_array_mut().unwrap();
    records_array.insert(1, malformed);
    records_array.push(test_event);

    let response = custody_tagger::handle(&runtime, &event, &invoker("req-sqs"))
        .await
        .unwrap();
    // The malformed message is named, so SQS redelivers it and, after maxReceiveCount, moves it
    // to the dead-letter queue; the good ones and the test event are done.
    assert_eq!(
        response["batchItemFailures"],
        json!([{ "itemIdentifier": "0badbody-0000-4000-8000-000000000000" }]),
        "{response:#}"
    );
    assert_eq!(response["summary"]["unparseable"], 1, "{response:#}");
    assert_eq!(response["summary"]["ignored"], 1, "{response:#}");
    assert_eq!(response["summary"]["messages"], 4, "{response:#}");
    let records = world.records().await;
    for key in [rec1(), meta1(), json2.clone()] {
        let kinds = kinds_for(&records, &key);
        assert!(
            kinds.contains(&EventKind::Hashed) && kinds.contains(&EventKind::HoldApplied),
            "{key}: {kinds:?}"
        );
    }
    let from_manifest = records
        .iter()
        .find(|r| r.what.key == json2 && r.event == EventKind::Hashed)
        .unwrap();
    assert_eq!(from_manifest.why.export_job.as_deref(), Some("job-sqs"));
}

#[tokio::test]
async fn an_s3_test_event_does_nothing() {
    let world = World::new("fn-test-event").await;
    let runtime = world.services().await;
    let event = sample_event("sqs-s3-test-event.json");
    let response = custody_tagger::handle(&runtime, &event, &invoker("req-test"))
        .await
        .unwrap();
    assert_eq!(response["batchItemFailures"], json!([]), "{response:#}");
    assert_eq!(response["summary"]["ignored"], 1, "{response:#}");
    assert!(world.records().await.is_empty());
    assert!(world.auditor_ledger().await.head().await.unwrap().is_none());
}

#[tokio::test]
async fn a_manifest_event_processes_its_entries_and_refuses_one_outside_the_prefix() {
    let mut world = World::new("fn-manifest").await;
    // An object in the bucket but outside the export prefix: the manifest must not touch it.
    let outside = "another-org/year=2024/month=03/day=14/hour=09/conversation_id=c0ffee09/x.opus";
    let outside_version = world.put(outside, b"not part of the export".to_vec()).await;

    let sample = workspace_root().join("samples/manifests/export-job-7f3e.json");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(sample).unwrap()).unwrap();
    let mut expected = Vec::new();
    for entry in manifest["entries"].as_array_mut().unwrap() {
        entry["bucket"] = json!(world.export_bucket);
        expected.push((
            entry["key"].as_str().unwrap().to_string(),
            entry["sha256"].as_str().unwrap().to_string(),
        ));
    }
    manifest["entries"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "bucket": world.export_bucket, "key": outside, "hold": true }));
    // A key with spaces: the event sends them as `+`, as in the sample.
    let manifest_key =
        format!("{ORG}/manifests/MATTER-2024-0173 backfill batch 01.custody-manifest.json");
    world
        .put(&manifest_key, serde_json::to_vec_pretty(&manifest).unwrap())
        .await;
    let runtime = world.services().await;
    let event = world.s3_event("s3-put-manifest.json", &manifest_key);
    let sent_key = event["Records"][0]["s3"]["object"]["key"].as_str().unwrap();
    assert!(
        sent_key.contains('+') && !sent_key.contains(' '),
        "{sent_key}"
    );

    let response = custody_tagger::handle(&runtime, &event, &invoker("req-manifest"))
        .await
        .unwrap();
    assert_eq!(response["summary"]["refused"], 0, "{response:#}");
    let findings: u64 = response["summary"]["findings"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(findings, 1, "the entry outside the prefix: {response:#}");
    let records = world.records().await;
    assert_eq!(expected.len(), 8);
    for (key, sha256) in &expected {
        let hashed = records
            .iter()
            .find(|r| &r.what.key == key && r.event == EventKind::Hashed)
            .unwrap_or_else(|| panic!("{key} was not hashed: {:?}", kinds_for(&records, key)));
        assert_eq!(hashed.what.sha256.as_ref(), Some(sha256), "{key}");
        assert_eq!(
            hashed.why.export_job.as_deref(),
            Some("7f3e2b10-0000-4000-8000-00000000j0b1")
        );
        assert!(kinds_for(&records, key).contains(&EventKind::HoldApplied));
    }
    assert!(
        !records.iter().any(|r| r.event == EventKind::Mismatch),
        "the manifest's SHA-256 values match the uploaded samples"
    );
    let refused: Vec<&CustodyRecord> = records.iter().filter(|r| r.what.key == outside).collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].event, EventKind::Failed);
    let error = serde_json::to_string(&refused[0].outcome).unwrap();
    assert!(error.contains("outside the export scope"), "{error}");
    assert!(world.tags(outside, &outside_version).await.is_empty());
    assert!(!world.legal_hold_on(outside, &outside_version).await);
}

#[tokio::test]
async fn batch_operations_tasks_get_one_result_each() {
    let world = World::new("fn-batch").await;
    let runtime = world.services().await;
    let clean = format!("{}d4d4d4d4-0000-4000-8000-000000000001.json", conv4());
    let missing = format!("{}f0f0f0f0-0000-4000-8000-000000000001.opus", conv4());

    let mut event = sample_event("s3-batch-v2-recording.json");
    let task = &mut event["tasks"][0];
    task["s3Bucket"] = json!(world.export_bucket);
    task["s3Key"] = json!(s3_event_key(&clean));
    task["s3VersionId"] = json!(world.version(&clean));
    let mut missing_task = sample_event("s3-batch-v2-no-version.json")["tasks"][0].clone();
    missing_task["s3Bucket"] = json!(world.export_bucket);
    missing_task["s3Key"] = json!(s3_event_key(&missing));
    event["tasks"].as_array_mut().unwrap().push(missing_task);
    assert!(event["tasks"][0]["s3Key"].as_str().unwrap().contains("%3D"));

    let response = custody_tagger::handle(&runtime, &event, &invoker("req-batch"))
        .await
        .unwrap();
    assert_eq!(response["invocationSchemaVersion"], "2.0");
    assert_eq!(response["invocationId"], event["invocationId"]);
    let results = response["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{response:#}");
    assert_eq!(results[0]["taskId"], event["tasks"][0]["taskId"]);
    assert_eq!(results[0]["resultCode"], "Succeeded", "{response:#}");
    assert_eq!(results[1]["taskId"], event["tasks"][1]["taskId"]);
    assert_eq!(results[1]["resultCode"], "PermanentFailure", "{response:#}");

    let records = world.records().await;
    assert_marked_and_hashed(&world, &records, &clean);
    // The job's userArguments name the matter and the export job on its records.
    for record in records.iter().filter(|r| r.what.key == clean) {
        assert_eq!(
            record.why.matter.as_deref(),
            Some("MATTER-2024-0173"),
            "{record:?}"
        );
        assert_eq!(
            record.why.export_job.as_deref(),
            Some("6d2f8b4a-0c1e-4a3b-9d5f-7e8a0b2c4d6e"),
            "{record:?}"
        );
    }
    assert_eq!(kinds_for(&records, &missing), vec![EventKind::Missing]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_deliveries_of_one_event_record_everything_exactly_once() {
    let world = World::new("fn-concurrent").await;
    let event = world.s3_event("s3-put-metadata.json", &meta1());
    // Eight function instances, each with its own clients and ledger handle.
    let mut runtimes = Vec::new();
    for _ in 0..8 {
        runtimes.push(world.services().await);
    }
    // Polled together on one task: the calls' S3 requests and ledger appends interleave.
    let responses =
        futures::future::join_all(
            runtimes.iter().enumerate().map(|(i, runtime)| {
                let event = &event;
                async move {
                    custody_tagger::handle(runtime, event, &invoker(&format!("req-{i}"))).await
                }
            }),
        )
        .await;
    for response in responses {
        let response = response.unwrap();
        assert_eq!(response["summary"]["retried"], 0, "{response:#}");
        assert_eq!(response["summary"]["refused"], 0, "{response:#}");
    }
    let records = world.records().await;
    let mut ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before, "a record appears twice in the ledger");
    for key in [rec1(), meta1()] {
        assert_marked_and_hashed(&world, &records, &key);
    }
    // The copies the racing calls made are the custody marking, not overwrites.
    for record in &records {
        let text = serde_json::to_string(&record.outcome).unwrap();
        assert!(
            record.outcome.error.is_none() && !text.contains("newer version"),
            "{:?} {}: {text}",
            record.event,
            record.what.key
        );
    }
    // Every version above the exported one is a marked copy: none is left without the hold.
    let client = world.server.client().await;
    for key in [rec1(), meta1()] {
        let listed = client
            .list_object_versions()
            .bucket(&world.export_bucket)
            .prefix(&key)
            .send()
            .await
            .unwrap();
        let copies: Vec<String> = listed
            .versions()
            .iter()
            .filter(|v| v.key() == Some(key.as_str()))
            .filter_map(|v| v.version_id().map(str::to_string))
            .filter(|v| *v != world.version(&key))
            .collect();
        assert!(!copies.is_empty(), "{key}");
        for copy in copies {
            assert!(world.legal_hold_on(&key, &copy).await, "{key} @ {copy}");
            assert_eq!(
                world
                    .tags(&key, &copy)
                    .await
                    .get("legal-hold")
                    .map(String::as_str),
                Some("true"),
                "{key} @ {copy}"
            );
        }
    }
    let report = world.auditor_ledger().await.verify(None).await;
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records as usize, records.len());
}

fn function_url_request(sample: &str, path: &str, query: &[(&str, &str)]) -> Value {
    let mut request = sample_event(sample);
    request["rawPath"] = json!(path);
    request["requestContext"]["http"]["path"] = json!(path);
    let params: serde_json::Map<String, Value> = query
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    request["rawQueryString"] = json!(
        query
            .iter()
            .map(|(k, v)| format!("{k}={}", s3_event_key(v)))
            .collect::<Vec<_>>()
            .join("&")
    );
    if params.is_empty() {
        request
            .as_object_mut()
            .unwrap()
            .remove("queryStringParameters");
    } else {
        request["queryStringParameters"] = Value::Object(params);
    }
    request
}

#[tokio::test]
async fn the_auditor_answers_records_verify_receipt_and_checkpoint() {
    let world = World::new("fn-auditor").await;
    let runtime = world.services().await;
    let event = world.s3_event("s3-put-metadata.json", &meta1());
    custody_tagger::handle(&runtime, &event, &invoker("req-aud"))
        .await
        .unwrap();
    let ledger = world.auditor_ledger().await;
    let conversation = "c0ffee01-5b2a-4e9d-9a10-3d2f7a000001";

    let request = function_url_request(
        "function-url-get-records.json",
        "/records",
        &[("conversation", conversation)],
    );
    let response = custody_auditor::handle(&ledger, &request).await;
    assert_eq!(response.status_code, 200, "{}", response.body);
    let body: Value = serde_json::from_str(&response.body).unwrap();
    let found = body["records"].as_array().unwrap();
    assert!(found.len() >= 6, "{body:#}");
    assert_eq!(body["count"], json!(found.len()));
    assert!(
        found
            .iter()
            .all(|m| m["record"]["why"]["conversation_id"] == conversation)
    );

    let request = sample_event("function-url-get-verify.json");
    let response = custody_auditor::handle(&ledger, &request).await;
    assert_eq!(response.status_code, 200, "{}", response.body);
    let report: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(report["failures"], json!([]), "{report:#}");
    assert_eq!(report["records"], json!(world.records().await.len()));

    let hashed = found
        .iter()
        .find(|m| m["record"]["event"] == "hashed")
        .unwrap();
    let id = format!("sha256:{}", hashed["record"]["id"].as_str().unwrap());
    let request = function_url_request("function-url-get-receipt.json", "/receipt", &[("id", &id)]);
    let response = custody_auditor::handle(&ledger, &request).await;
    assert_eq!(response.status_code, 200, "{}", response.body);
    let receipt: Receipt = serde_json::from_str(&response.body).unwrap();
    let (published, _) = ledger.published_keys().await.unwrap();
    assert_eq!(
        published.iter().map(|k| k.to_text()).collect::<Vec<_>>(),
        vec![world.signer.verifier_key().to_text()]
    );
    let trusted = TrustedKeys::new(published);
    let checked = receipt.verify(&trusted).unwrap();
    assert_eq!(checked.record.id, hashed["record"]["id"].as_str().unwrap());
    // A receipt signed by another key is not accepted.
    let stranger = TrustedKeys::new(vec![Signer::generate(ORIGIN).unwrap().verifier_key()]);
    assert!(receipt.verify(&stranger).is_err());

    // The sample's id is in no ledger.
    let response =
        custody_auditor::handle(&ledger, &sample_event("function-url-get-receipt.json")).await;
    assert_eq!(response.status_code, 404, "{}", response.body);

    let request = function_url_request("function-url-get-verify.json", "/checkpoint", &[]);
    let response = custody_auditor::handle(&ledger, &request).await;
    assert_eq!(response.status_code, 200, "{}", response.body);
    let checkpoint = Checkpoint::parse(response.body.as_bytes()).unwrap();
    assert_eq!(checkpoint.origin, ORIGIN);
    assert_eq!(checkpoint.size, world.records().await.len() as u64);
    checkpoint.verify(&trusted).unwrap();

    let request = function_url_request("function-url-get-verify.json", "/erase", &[]);
    let response = custody_auditor::handle(&ledger, &request).await;
    assert_eq!(response.status_code, 404, "{}", response.body);
}

fn meta_a1_2() -> String {
    format!(
        "{}a1a1a1a1-0000-4000-8000-000000000002.opus_metadata.json",
        conv1()
    )
}

fn meta_b2() -> String {
    format!(
        "{}b2b2b2b2-0000-4000-8000-000000000001.json_metadata.json",
        conversation_folder("day=14/hour=10", "c0ffee02-5b2a-4e9d-9a10-3d2f7a000002")
    )
}

impl World {
    /// An EventBridge "Object Created" event for `key` at its uploaded version.
    fn eventbridge(&self, sample: &Value, key: &str) -> Value {
        let mut event = sample.clone();
        event["resources"] = json!([format!("arn:aws:s3:::{}", self.export_bucket)]);
        event["detail"]["bucket"]["name"] = json!(self.export_bucket);
        event["detail"]["object"]["key"] = json!(s3_event_key(key));
        event["detail"]["object"]["version-id"] = json!(self.version(key));
        event
    }

    /// An SQS sample whose first message's body is rewritten by `body`.
    fn sqs_with(&self, sample: &str, body: impl Fn(Value) -> Value) -> Value {
        let mut event = sample_event(sample);
        let inner: Value =
            serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
        event["Records"][0]["body"] = json!(body(inner).to_string());
        event
    }
}

fn assert_held_and_hashed(records: &[CustodyRecord], key: &str) {
    let kinds = kinds_for(records, key);
    assert!(
        kinds.contains(&EventKind::Hashed) && kinds.contains(&EventKind::HoldApplied),
        "{key}: {kinds:?}"
    );
}

/// Every event shape the tagger accepts, adapted from the public fixtures in `samples/events/`,
/// marks, hashes and records the object it names; the direct test event does nothing.
#[tokio::test]
async fn every_event_shape_aws_sends_is_recorded() {
    let world = World::new("fn-shapes").await;
    let runtime = world.services().await;

    let event = world.eventbridge(&sample_event("eventbridge-object-created.json"), &meta1());
    let response = custody_tagger::handle(&runtime, &event, &invoker("req-eb"))
        .await
        .unwrap();
    assert_eq!(response["shape"], "event-bridge", "{response:#}");
    assert_eq!(response["summary"]["triggers"], 1, "{response:#}");

    let event = world.sqs_with("sqs-eventbridge-object-created.json", |body| {
        world.eventbridge(&body, &meta_a1_2())
    });
    let response = custody_tagger::handle(&runtime, &event, &invoker("req-sqs-eb"))
        .await
        .unwrap();
    assert_eq!(response["batchItemFailures"], json!([]), "{response:#}");
    assert_eq!(response["summary"]["triggers"], 1, "{response:#}");

    let event = world.sqs_with("sqs-sns-s3-put.json", |mut envelope| {
        let mut message: Value =
            serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
        message["Records"][0] = world.notification(&message["Records"][0], &meta_b2());
        envelope["Message"] = json!(message.to_string());
        envelope
    });
    let response = custody_tagger::handle(&runtime, &event, &invoker("req-sns"))
        .await
        .unwrap();
    assert_eq!(response["batchItemFailures"], json!([]), "{response:#}");
    assert_eq!(response["summary"]["triggers"], 1, "{response:#}");

    let clean = format!("{}d4d4d4d4-0000-4000-8000-000000000001.json", conv4());
    let mut event = sample_event("s3-batch-v1-recording.json");
    event["tasks"][0]["s3BucketArn"] = json!(format!("arn:aws:s3:::{}", world.export_bucket));
    event["tasks"][0]["s3Key"] = json!(s3_event_key(&clean));
    event["tasks"][0]["s3VersionId"] = json!(world.version(&clean));
    let response = custody_tagger::handle(&runtime, &event, &invoker("req-batch-1"))
        .await
        .unwrap();
    assert_eq!(response["invocationSchemaVersion"], "1.0", "{response:#}");
    assert_eq!(
        response["results"][0]["resultCode"], "Succeeded",
        "{response:#}"
    );

    let before = world.records().await.len();
    let response =
        custody_tagger::handle(&runtime, &sample_event("s3-test-event.json"), &invoker("t"))
            .await
            .unwrap();
    assert_eq!(response["summary"]["ignored"], 1, "{response:#}");
    assert_eq!(world.records().await.len(), before);

    let records = world.records().await;
    for key in [meta1(), meta_a1_2(), meta_b2(), clean] {
        assert_held_and_hashed(&records, &key);
    }
    let report = world.auditor_ledger().await.verify(None).await;
    assert!(report.is_intact(), "{report}");
}

/// A direct invocation of no known shape, or with an unusable record, is an error (Lambda retries
/// it, then the on-failure destination has it): never a silent success.
#[tokio::test]
async fn an_unusable_direct_event_is_an_error_not_a_silent_success() {
    let world = World::new("fn-unusable").await;
    let runtime = world.services().await;
    let error = custody_tagger::handle(&runtime, &json!({"hello": "world"}), &invoker("u1"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("unknown payload"), "{error}");
    let mut event = world.s3_event("s3-put-metadata.json", &meta1());
    event["Records"][0]["s3"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("key");
    let error = custody_tagger::handle(&runtime, &event, &invoker("u2"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("s3.object.key"), "{error}");
    assert!(world.records().await.is_empty());
}

/// With the deadline already at hand, no message is started: every one goes back to the queue.
#[tokio::test]
async fn near_the_deadline_unstarted_messages_go_back_to_the_queue() {
    let world = World::new("fn-deadline").await;
    let runtime = world.services().await;
    let mut event = sample_event("sqs-s3-put.json");
    let body: Value = serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
    let mut body = body;
    body["Records"][0] = world.notification(&body["Records"][0], &meta1());
    event["Records"][0]["body"] = json!(body.to_string());
    let ids: Vec<Value> = event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!({ "itemIdentifier": r["messageId"] }))
        .collect();

    let tagger = custody_tagger::Tagger::new(&runtime).with_options(custody_tagger::Options {
        deadline_reserve: std::time::Duration::from_secs(30),
    });
    let soon = custody_lambda::Deadline::after(std::time::Duration::from_secs(5));
    let outcome = tagger.handle(&event, &invoker("req-late"), soon).await;
    let response = outcome.response.unwrap();
    assert_eq!(response["batchItemFailures"], json!(ids), "{response:#}");
    assert_eq!(outcome.summary.deferred, ids.len());
    assert!(world.records().await.is_empty());

    // With time enough, the same batch is done.
    let later = custody_lambda::Deadline::after(std::time::Duration::from_secs(600));
    let outcome = tagger.handle(&event, &invoker("req-on-time"), later).await;
    let response = outcome.response.unwrap();
    assert_eq!(outcome.summary.deferred, 0, "{response:#}");
    assert_held_and_hashed(&world.records().await, &meta1());
}

/// A warm function applies a matter added to the register at once: the register's ETag changed,
/// so it is read again before the next invocation's work.
#[tokio::test]
async fn a_warm_tagger_applies_a_new_matter_at_once() {
    let mut world = World::new("fn-register").await;
    let register_key = "registers/matters.json";
    let register = |conversations: &[&str]| {
        serde_json::to_vec(&json!({"matters": [
            {"id": "M-2026-0001", "conversations": conversations}
        ]}))
        .unwrap()
    };
    world
        .put(
            register_key,
            register(&["c0ffee02-5b2a-4e9d-9a10-3d2f7a000002"]),
        )
        .await;
    let mut settings = world.settings("tags");
    settings.hold_select = format!("matters:s3://{}/{register_key}", world.export_bucket);
    let services = settings.services().await.unwrap();
    let store = open(
        &format!("s3://{}", world.export_bucket),
        &settings.s3_options(),
    )
    .await
    .unwrap()
    .store;
    let watch =
        custody_tagger::register::RegisterWatch::for_selection(&settings.hold_select, store)
            .expect("an S3 register is watched");
    let tagger = custody_tagger::Tagger::new(&services).with_register_watch(Some(&watch));
    let none = custody_lambda::Deadline::none();

    let first = tagger
        .handle(
            &world.s3_event("s3-put-metadata.json", &meta1()),
            &invoker("r1"),
            none,
        )
        .await;
    first.response.unwrap();
    assert_eq!(first.summary.held, 0, "conversation 1 is in no matter yet");

    world
        .put(
            register_key,
            register(&[
                "c0ffee02-5b2a-4e9d-9a10-3d2f7a000002",
                "c0ffee01-5b2a-4e9d-9a10-3d2f7a000001",
            ]),
        )
        .await;
    let second = tagger
        .handle(
            &world.s3_event("s3-put-metadata.json", &meta_a1_2()),
            &invoker("r2"),
            none,
        )
        .await;
    second.response.unwrap();
    assert!(second.summary.register_reloaded);
    assert!(second.summary.held > 0, "{:?}", second.summary);
    let tags = world.tags(&meta_a1_2(), &world.version(&meta_a1_2())).await;
    assert_eq!(
        tags.get("legal-hold-matter").map(String::as_str),
        Some("M-2026-0001"),
        "{tags:?}"
    );

    // Unchanged register: one HEAD, no second read.
    let third = tagger
        .handle(
            &world.s3_event("s3-put-metadata.json", &meta_b2()),
            &invoker("r3"),
            none,
        )
        .await;
    third.response.unwrap();
    assert!(!third.summary.register_reloaded);
}

/// The auditor trusts the configured keys only, answers `verdict` with a non-200 status when the
/// ledger does not verify, takes its query from `rawQueryString`, and pages `/records`.
#[tokio::test]
async fn the_auditor_states_a_verdict_and_pages_records() {
    let world = World::new("fn-verdict").await;
    let runtime = world.services().await;
    custody_tagger::handle(
        &runtime,
        &world.s3_event("s3-put-metadata.json", &meta1()),
        &invoker("req-v"),
    )
    .await
    .unwrap();
    let settings = world.settings("tags");
    let open_with = |keys: Vec<custody_core::ledger::VerifierKey>| {
        let settings = settings.clone();
        async move {
            let opened = open(&settings.ledger, &settings.s3_options())
                .await
                .unwrap();
            let mut config = LedgerConfig::new(ORIGIN);
            config.trusted_keys = keys;
            Ledger::open(opened.store, &opened.prefix, config, None)
                .await
                .unwrap()
        }
    };
    let trusted = open_with(vec![world.signer.verifier_key()]).await;
    let verify = sample_event("function-url-get-verify.json");
    let response = custody_auditor::handle(&trusted, &verify).await;
    assert_eq!(response.status_code, 200, "{}", response.body);
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["verdict"], "intact");
    assert_eq!(body["intact"], true);

    // Configured to trust another key: the keys published in the bucket do not count.
    let stranger = Signer::generate(ORIGIN).unwrap().verifier_key();
    let misconfigured = open_with(vec![stranger]).await;
    let response = custody_auditor::handle(&misconfigured, &verify).await;
    assert_eq!(response.status_code, 409, "{}", response.body);
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["verdict"], "tampered");
    assert_eq!(body["intact"], false);

    // A pinned checkpoint from the configuration: the ledger extends its own newest one.
    let auditor = custody_auditor::Auditor {
        ledger: &trusted,
        pinned: None,
    };
    let checkpoint = auditor
        .handle(&function_url_request(
            "function-url-get-verify.json",
            "/checkpoint",
            &[],
        ))
        .await;
    let pinned = custody_auditor::trust::parse_checkpoint(&checkpoint.body).unwrap();
    let pinned_auditor = custody_auditor::Auditor {
        ledger: &trusted,
        pinned: Some(pinned),
    };
    let response = pinned_auditor.handle(&verify).await;
    assert_eq!(response.status_code, 200, "{}", response.body);

    // rawQueryString only, then page by page with limit=2.
    let conversation = "c0ffee01-5b2a-4e9d-9a10-3d2f7a000001";
    let mut request = sample_event("function-url-get-records-raw-query.json");
    request["rawQueryString"] = json!(format!("conversation={conversation}"));
    let all = custody_auditor::handle(&trusted, &request).await;
    assert_eq!(all.status_code, 200, "{}", all.body);
    let all: Value = serde_json::from_str(&all.body).unwrap();
    let total = all["records"].as_array().unwrap().len();
    assert!(total >= 6 && all["next"].is_null(), "{all:#}");
    let mut paged = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut query = format!("conversation={conversation}&limit=2");
        if let Some(token) = &next {
            query.push_str(&format!("&next={token}"));
        }
        request["rawQueryString"] = json!(query);
        let page = custody_auditor::handle(&trusted, &request).await;
        assert_eq!(page.status_code, 200, "{}", page.body);
        let page: Value = serde_json::from_str(&page.body).unwrap();
        let records = page["records"].as_array().unwrap();
        assert!(records.len() <= 2);
        paged.extend(records.iter().cloned());
        match page["next"].as_str() {
            Some(token) => next = Some(token.to_string()),
            None => break,
        }
    }
    assert_eq!(Value::Array(paged), all["records"]);
    request["rawQueryString"] = json!(format!("conversation={conversation}&next=garbage"));
    assert_eq!(
        custody_auditor::handle(&trusted, &request)
            .await
            .status_code,
        400
    );
}

/// Captures what a run logs, as the functions log it (one JSON object per line).
#[derive(Clone, Default)]
struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A full job through the tagger (events of every shape, a refused manifest, a missing object,
/// an unparseable message) and the auditor (every route): neither the signing key nor the S3
/// secret appears in any response, log line, metric line or error.
#[tokio::test]
async fn no_secret_reaches_a_response_a_log_line_or_an_error() {
    let world = World::new("fn-secrets").await;
    let log = CapturedLog::default();
    let writer = log.clone();
    let _guard =
        tracing::subscriber::set_default(custody_lambda::log::subscriber(move || writer.clone()));
    let runtime = world.services().await;
    let mut said: Vec<String> = Vec::new();
    let tagger = custody_tagger::Tagger::new(&runtime);
    let none = custody_lambda::Deadline::none();
    let mut batch = sample_event("s3-batch-v2-no-version.json");
    batch["tasks"][0]["s3Bucket"] = json!(world.export_bucket);
    batch["tasks"][0]["s3Key"] = json!(s3_event_key(&format!("{}nothing-here.opus", conv4())));
    let events = [
        world.s3_event("s3-put-metadata.json", &meta1()),
        world.eventbridge(
            &sample_event("eventbridge-object-created.json"),
            &meta_a1_2(),
        ),
        sample_event("sqs-unparseable-and-good.json"),
        batch,
        json!({"not": "an event"}),
    ];
    for (i, event) in events.iter().enumerate() {
        let outcome = tagger.handle(event, &invoker(&format!("s{i}")), none).await;
        said.push(
            outcome
                .summary
                .metric_line("custody-tagger", Some("s"))
                .to_json(1)
                .to_string(),
        );
        match outcome.response {
            Ok(response) => said.push(response.to_string()),
            Err(error) => said.push(format!("{error} {error:?}")),
        }
    }
    let ledger = world.auditor_ledger().await;
    for (sample, path, query) in [
        (
            "function-url-get-records.json",
            "/records",
            vec![("conversation", "c0ffee01-5b2a-4e9d-9a10-3d2f7a000001")],
        ),
        ("function-url-get-verify.json", "/verify", vec![]),
        ("function-url-get-verify.json", "/checkpoint", vec![]),
        (
            "function-url-get-receipt.json",
            "/receipt",
            vec![("id", "sha256:00")],
        ),
    ] {
        let response =
            custody_auditor::handle(&ledger, &function_url_request(sample, path, &query)).await;
        said.push(response.body);
    }
    let logged = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.lines().count() > 10 && logged.contains("finding recorded"),
        "the run logged what it did: {logged}"
    );
    said.push(logged);
    let key_text = world.signer.to_text();
    // PRIVATE+KEY+<name>+<id>+<base64>: the base64 itself may hold '+'.
    let secret_part = key_text
        .splitn(5, '+')
        .nth(4)
        .expect("a signed-note private key ends in +<base64>")
        .trim()
        .to_string();
    assert!(secret_part.len() >= 40, "{secret_part}");
    let s3_secret = Identity::Admin.secret_access_key();
    for text in &said {
        assert!(
            !text.contains(&secret_part),
            "the signing key leaked: {text}"
        );
        assert!(!text.contains(s3_secret), "the S3 secret leaked: {text}");
    }
}
