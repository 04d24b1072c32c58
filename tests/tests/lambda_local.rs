//! The real function binaries as Lambda runs them, locally and offline (issue 13, item 8):
//! `cargo lambda watch -A 127.0.0.1` serves custody-tagger, custody-sequencer and custody-auditor
//! ([`custody_tests::lambda_watch`]) against SeaweedFS on 127.0.0.1, configured as the template
//! configures them (the tagger only submits, the sequencer integrates), and every event fixture
//! in `samples/events/` is sent with `cargo lambda invoke --data-file`, adapted only in bucket,
//! key and version (SeaweedFS assigns the version ids). A fixture this test has no case for fails
//! it. Asserted: each response, the marks on every object an event named, the ledger (records
//! appended once, redelivery appends nothing, verification intact), the unparseable SQS message
//! answered as a batch item failure (so it reaches the dead-letter queue), and the Function URL
//! answers documented in `functions/auditor/src/lib.rs`.
//!
//! The events sent, the responses and the functions' logs stay in
//! `target/lambda-local/test-<pid>/`.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_s3::types::ObjectLockLegalHoldStatus;
use custody_aws::open;
use custody_aws::s3::S3Options;
use custody_core::ledger::{CustodyRecord, EventKind, Ledger, LedgerConfig, Receipt, Signer};
use custody_core::ledger::{TrustedKeys, VerifyReport};
use custody_core::store::{BucketSpec, PutOutcome, PutRequest, StoreWrite};
use custody_tests::lambda_watch::{LambdaWatch, target_dir};
use custody_tests::{Identity, SeaweedFs, unique_bucket, workspace_root};
use serde_json::{Value, json};

const ORG: &str = "3f1c9a52-7d0e-4b8a-9c61-0a2b4c6d8e10";
const ORIGIN: &str = "custody.test/lambda-local";
const MATTER: &str = "M-LOCAL";
const TAGGER: &str = "custody-tagger";
const SEQUENCER: &str = "custody-sequencer";
const AUDITOR: &str = "custody-auditor";
const CONV1: &str = "c0ffee01-5b2a-4e9d-9a10-3d2f7a000001";
/// The SQS message of `sqs-unparseable-and-good.json` whose body is no event.
const UNPARSEABLE: &str = "0badf00d-0000-4000-8000-00000000dead";

fn key(folder: &str, name: &str) -> String {
    format!("{ORG}/year=2024/month=03/{folder}/{name}")
}

/// The sample export's keys, by what the events below name.
struct Keys;

impl Keys {
    fn conv1(name: &str) -> String {
        key(&format!("day=14/hour=09/conversation_id={CONV1}"), name)
    }
    fn conv2(name: &str) -> String {
        key(
            "day=14/hour=10/conversation_id=c0ffee02-5b2a-4e9d-9a10-3d2f7a000002",
            name,
        )
    }
    fn conv3(name: &str) -> String {
        key(
            "day=15/hour=16/conversation_id=c0ffee03-5b2a-4e9d-9a10-3d2f7a000003",
            name,
        )
    }
    fn conv4(name: &str) -> String {
        key(
            "day=16/hour=08/conversation_id=c0ffee04-5b2a-4e9d-9a10-3d2f7a000004",
            name,
        )
    }
}

/// The buckets, the uploaded versions and the signing key of the run.
struct World {
    server: &'static SeaweedFs,
    export: String,
    ledger: String,
    versions: BTreeMap<String, String>,
    signer: Signer,
    manifest_key: String,
}

impl World {
    async fn new() -> World {
        let server = SeaweedFs::shared().await;
        let locked = BucketSpec {
            versioned: true,
            object_lock: true,
        };
        let export = unique_bucket("lambda-exp");
        let ledger = unique_bucket("lambda-ledger");
        server.create_bucket(&export, locked).await.unwrap();
        server.create_bucket(&ledger, locked).await.unwrap();
        let mut world = World {
            server,
            export,
            ledger,
            versions: BTreeMap::new(),
            signer: Signer::generate(ORIGIN).unwrap(),
            manifest_key: format!(
                "{ORG}/manifests/MATTER-2024-0173 local batch 01.custody-manifest.json"
            ),
        };
        let root = workspace_root().join("samples/export");
        for (key, body) in files_under(&root) {
            world.put(&key, body).await;
        }
        // The sample manifest, naming this test's bucket.
        let sample = workspace_root().join("samples/manifests/export-job-7f3e.json");
        let mut manifest: Value = serde_json::from_slice(&std::fs::read(sample).unwrap()).unwrap();
        for entry in manifest["entries"].as_array_mut().unwrap() {
            entry["bucket"] = json!(world.export);
        }
        let manifest_key = world.manifest_key.clone();
        world
            .put(&manifest_key, serde_json::to_vec_pretty(&manifest).unwrap())
            .await;
        world
    }

    async fn put(&mut self, key: &str, body: Vec<u8>) {
        let store = self.server.store(&self.export).await;
        // A bucket made a moment ago may answer 500 to its first writes: retry those (setup).
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
        let PutOutcome::Created {
            version_id: Some(version),
            ..
        } = outcome
        else {
            panic!("{key}: expected a new version, got {outcome:?}");
        };
        self.versions.insert(key.to_string(), version);
    }

    fn version(&self, key: &str) -> &str {
        self.versions
            .get(key)
            .unwrap_or_else(|| panic!("{key} was not uploaded"))
    }

    /// The functions' environment, as the template sets it plus the local settings.
    fn function_env(&self) -> Vec<(String, String)> {
        let vars = [
            ("CUSTODY_EXPORT_BUCKET", self.export.clone()),
            ("CUSTODY_EXPORT_PREFIX", format!("{ORG}/")),
            ("CUSTODY_LEDGER", format!("s3://{}/ledger", self.ledger)),
            ("CUSTODY_LEDGER_ORIGIN", ORIGIN.to_string()),
            ("CUSTODY_HOLD_SELECT", "all".to_string()),
            ("CUSTODY_HOLD_MARKING", "tags,object-lock".to_string()),
            ("CUSTODY_MATTER", MATTER.to_string()),
            ("CUSTODY_INTEGRATION", "sequencer".to_string()),
            ("CUSTODY_SIGNING_KEY", self.signer.to_text()),
            ("CUSTODY_TRUSTED_KEYS", self.signer.verifier_key().to_text()),
            ("CUSTODY_S3_ENDPOINT", self.server.endpoint()),
            ("CUSTODY_S3_PATH_STYLE", "true".to_string()),
            ("AWS_ACCESS_KEY_ID", Identity::Admin.access_key_id().into()),
            (
                "AWS_SECRET_ACCESS_KEY",
                Identity::Admin.secret_access_key().into(),
            ),
            ("RUST_LOG", "info".to_string()),
        ];
        vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// An S3 notification record pointed at `key` (at its uploaded version when `versioned`).
    fn notification(&self, sample: &Value, key: &str) -> Value {
        let mut record = sample.clone();
        let s3 = &mut record["s3"];
        s3["bucket"]["name"] = json!(self.export);
        s3["bucket"]["arn"] = json!(format!("arn:aws:s3:::{}", self.export));
        s3["object"]["key"] = json!(s3_event_key(key));
        s3["object"]["versionId"] = json!(self.version(key));
        record
    }

    fn eventbridge(&self, sample: &Value, key: &str) -> Value {
        let mut event = sample.clone();
        event["resources"] = json!([format!("arn:aws:s3:::{}", self.export)]);
        event["detail"]["bucket"]["name"] = json!(self.export);
        event["detail"]["object"]["key"] = json!(s3_event_key(key));
        event["detail"]["object"]["version-id"] = json!(self.version(key));
        event
    }

    async fn ledger_handle(&self) -> Ledger {
        let mut options = S3Options::new("");
        options.endpoint = Some(self.server.endpoint());
        options.force_path_style = true;
        options.region = Some("us-east-1".into());
        options.credentials = self.server.s3_options("", Identity::Admin).credentials;
        let opened = open(&format!("s3://{}/ledger", self.ledger), &options)
            .await
            .unwrap();
        let mut config = LedgerConfig::new(ORIGIN);
        config.trusted_keys = vec![self.signer.verifier_key()];
        Ledger::open(opened.store, &opened.prefix, config, None)
            .await
            .unwrap()
    }

    async fn records(&self) -> Vec<CustodyRecord> {
        let mut records = Vec::new();
        self.ledger_handle()
            .await
            .for_each_record(|entry| records.push(entry.record.expect("every record parses")))
            .await
            .unwrap();
        records
    }

    async fn verify(&self) -> VerifyReport {
        self.ledger_handle().await.verify(None).await
    }

    /// The submissions waiting for the sequencer.
    async fn pending_submissions(&self) -> Vec<String> {
        let listed = self
            .server
            .client()
            .await
            .list_objects_v2()
            .bucket(&self.ledger)
            .prefix("ledger/submissions/")
            .send()
            .await
            .unwrap();
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    }

    async fn tags(&self, key: &str) -> HashMap<String, String> {
        let out = self
            .server
            .client()
            .await
            .get_object_tagging()
            .bucket(&self.export)
            .key(key)
            .version_id(self.version(key))
            .send()
            .await
            .unwrap();
        out.tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect()
    }

    async fn legal_hold_on(&self, key: &str) -> bool {
        let answer = self
            .server
            .client()
            .await
            .get_object_legal_hold()
            .bucket(&self.export)
            .key(key)
            .version_id(self.version(key))
            .send()
            .await;
        answer.is_ok_and(|out| {
            out.legal_hold().and_then(|h| h.status()) == Some(&ObjectLockLegalHoldStatus::On)
        })
    }
}

mod lambda_local_cases;

use lambda_local_cases::{auditor_case, tagger_case};

fn files_under(root: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let key = path.strip_prefix(root).unwrap().display().to_string();
                out.push((key, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn sample_event(name: &str) -> Value {
    let path = workspace_root().join("samples/events").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
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

fn kinds_for(records: &[CustodyRecord], key: &str) -> Vec<EventKind> {
    let mut kinds: Vec<EventKind> = records
        .iter()
        .filter(|r| r.what.key == key)
        .map(|r| r.event)
        .collect();
    kinds.sort();
    kinds
}

/// The sequencer, woken as the ledger bucket's notification of a new submission wakes it.
async fn run_sequencer(world: &World, watch: &LambdaWatch, name: &str) -> Value {
    let pending = world.pending_submissions().await;
    let submission = pending.first().cloned().unwrap_or_default();
    let mut event = sample_event("sqs-s3-put.json");
    event["Records"].as_array_mut().unwrap().truncate(1);
    let mut body: Value =
        serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
    let s3 = &mut body["Records"][0]["s3"];
    s3["bucket"]["name"] = json!(world.ledger);
    s3["bucket"]["arn"] = json!(format!("arn:aws:s3:::{}", world.ledger));
    s3["object"]["key"] = json!(s3_event_key(&submission));
    s3["object"].as_object_mut().unwrap().remove("versionId");
    event["Records"][0]["body"] = json!(body.to_string());
    let response = watch
        .invoke(SEQUENCER, name, &event)
        .await
        .unwrap_or_else(|e| panic!("{SEQUENCER} {name}: {e}\n{}", watch.log_tail()));
    println!("{SEQUENCER} {name}: {response}");
    assert_eq!(response["batchItemFailures"], json!([]), "{response:#}");
    let summary = &response["summary"];
    assert_eq!(summary["refused"], 0, "{response:#}");
    assert_eq!(summary["left_pending"], 0, "{response:#}");
    assert!(world.pending_submissions().await.is_empty());
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_through_the_real_functions_under_cargo_lambda_watch() {
    let logs = target_dir()
        .join("lambda-local")
        .join(format!("test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&logs);
    let functions = [TAGGER, SEQUENCER, AUDITOR];
    let built = tokio::task::spawn_blocking({
        let logs = logs.clone();
        move || LambdaWatch::build(&functions, &logs)
    })
    .await
    .unwrap()
    .unwrap();
    println!(
        "built {functions:?} in {:.1} s (target {})",
        built.as_secs_f64(),
        target_dir().display()
    );

    let world = World::new().await;
    let watch = LambdaWatch::start(&world.function_env(), &logs).unwrap();
    println!("cargo lambda watch up; logs in {}", logs.display());

    let mut fixtures: Vec<String> = std::fs::read_dir(workspace_root().join("samples/events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    fixtures.sort();
    let (url_requests, tagger_events): (Vec<String>, Vec<String>) = fixtures
        .into_iter()
        .partition(|n| n.starts_with("function-url-"));
    assert!(tagger_events.len() >= 12 && url_requests.len() >= 4);

    // Every tagger event; each case says which objects it marks.
    let mut marked: Vec<String> = Vec::new();
    for name in &tagger_events {
        let case = tagger_case(&world, name);
        let started = std::time::Instant::now();
        let answer = watch.invoke(TAGGER, name, &case.event).await;
        let response =
            answer.unwrap_or_else(|e| panic!("{TAGGER} {name}: {e}\n{}", watch.log_tail()));
        println!(
            "{TAGGER} {name} ({} ms): {response}",
            started.elapsed().as_millis()
        );
        (case.check)(&response);
        marked.extend(case.marks);
    }

    // The tagger only submitted: nothing is in the ledger until the sequencer integrates.
    assert!(world.records().await.is_empty());
    assert!(!world.pending_submissions().await.is_empty());
    let first = run_sequencer(&world, &watch, "integrate-1").await;
    let records = world.records().await;
    assert_eq!(
        first["summary"]["appended"].as_u64(),
        Some(records.len() as u64),
        "{first:#}"
    );
    for key in &marked {
        let kinds = kinds_for(&records, key);
        assert!(
            kinds.contains(&EventKind::HoldApplied) && kinds.contains(&EventKind::Hashed),
            "{key}: {kinds:?}"
        );
        assert_eq!(
            kinds.iter().filter(|k| **k == EventKind::Hashed).count(),
            1,
            "{key}: hashed once whatever the number of events naming it: {kinds:?}"
        );
        let hashed = records
            .iter()
            .find(|r| &r.what.key == key && r.event == EventKind::Hashed)
            .unwrap();
        assert_eq!(
            hashed.what.version_id.as_deref(),
            Some(world.version(key)),
            "{key}"
        );
        let tags = world.tags(key).await;
        assert_eq!(
            tags.get("legal-hold").map(String::as_str),
            Some("true"),
            "{key}: {tags:?}"
        );
        assert!(world.legal_hold_on(key).await, "{key}: no legal hold");
    }
    let report = world.verify().await;
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records as usize, records.len());

    // At-least-once delivery: the first event again, integrated again, appends nothing.
    let again = watch
        .invoke(
            TAGGER,
            "s3-put-metadata-redelivered",
            &tagger_case(&world, "s3-put-metadata.json").event,
        )
        .await
        .unwrap_or_else(|e| panic!("redelivery: {e}\n{}", watch.log_tail()));
    println!("{TAGGER} s3-put-metadata-redelivered: {again}");
    let second = run_sequencer(&world, &watch, "integrate-2").await;
    assert_eq!(second["summary"]["appended"], 0, "{second:#}");
    assert_eq!(world.records().await.len(), records.len());
    assert!(world.verify().await.is_intact());

    // The auditor's Function URL, every request fixture.
    for name in &url_requests {
        let case = auditor_case(name, &records);
        let response = watch
            .invoke(AUDITOR, name, &case.event)
            .await
            .unwrap_or_else(|e| panic!("{AUDITOR} {name}: {e}\n{}", watch.log_tail()));
        println!("{AUDITOR} {name}: status {}", response["statusCode"]);
        (case.check)(&response);
    }
    // A receipt the auditor issued verifies offline with the configured key.
    let hashed = records
        .iter()
        .find(|r| r.event == EventKind::Hashed)
        .unwrap();
    let mut request = sample_event("function-url-get-receipt.json");
    let id = format!("sha256:{}", hashed.id);
    request["rawQueryString"] = json!(format!("id={}", s3_event_key(&id)));
    request["queryStringParameters"] = json!({ "id": id });
    let response = watch
        .invoke(AUDITOR, "function-url-get-receipt-issued", &request)
        .await
        .unwrap();
    assert_eq!(response["statusCode"], 200, "{response:#}");
    let receipt: Receipt = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    let trusted = TrustedKeys::new(vec![world.signer.verifier_key()]);
    assert_eq!(receipt.verify(&trusted).unwrap().record.id, hashed.id);

    // The functions logged JSON lines, and no secret reached the log.
    let log = watch.log();
    assert!(
        log.contains("\"requestId\""),
        "no JSON log line:\n{}",
        watch.log_tail()
    );
    let key_text = world.signer.to_text();
    let (_key_id, secret_part) = key_text
        .strip_prefix(&format!("PRIVATE+KEY+{ORIGIN}+"))
        .and_then(|rest| rest.split_once('+'))
        .expect("a C2SP private key");
    assert!(!log.contains(secret_part), "the signing key is in the log");
    assert!(
        !log.contains(Identity::Admin.secret_access_key()),
        "the S3 secret is in the log"
    );
    let rebuilt = log.contains("Compiling custody");
    println!(
        "cargo lambda watch {} the functions (build before it: {:.1} s)",
        if rebuilt {
            "recompiled"
        } else {
            "reused the built"
        },
        built.as_secs_f64()
    );
}
