//! The world of `lambda_local.rs`: SeaweedFS buckets holding the sample export and the sample
//! manifest (with the versions SeaweedFS assigned), the ledger bucket, the signing key, the
//! functions' environment, and the reads the test checks with (ledger records, tags, legal holds,
//! pending submissions).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_s3::types::ObjectLockLegalHoldStatus;
use custody_aws::open;
use custody_aws::s3::S3Options;
use custody_core::ledger::{CustodyRecord, Ledger, LedgerConfig, Signer, VerifyReport};
use custody_core::store::{BucketSpec, PutOutcome, PutRequest, StoreWrite};
use custody_tests::{Identity, SeaweedFs, unique_bucket, workspace_root};
use serde_json::{Value, json};

pub const ORG: &str = "3f1c9a52-7d0e-4b8a-9c61-0a2b4c6d8e10";
pub const ORIGIN: &str = "custody.test/lambda-local";
pub const MATTER: &str = "M-LOCAL";
pub const TAGGER: &str = "custody-tagger";
pub const SEQUENCER: &str = "custody-sequencer";
pub const AUDITOR: &str = "custody-auditor";
pub const CONV1: &str = "c0ffee01-5b2a-4e9d-9a10-3d2f7a000001";
/// The SQS message of `sqs-unparseable-and-good.json` whose body is no event.
pub const UNPARSEABLE: &str = "0badf00d-0000-4000-8000-00000000dead";

pub fn key(folder: &str, name: &str) -> String {
    format!("{ORG}/year=2024/month=03/{folder}/{name}")
}

/// The sample export's keys, by what the events below name.
pub struct Keys;

impl Keys {
    pub fn conv1(name: &str) -> String {
        key(&format!("day=14/hour=09/conversation_id={CONV1}"), name)
    }
    pub fn conv2(name: &str) -> String {
        key(
            "day=14/hour=10/conversation_id=c0ffee02-5b2a-4e9d-9a10-3d2f7a000002",
            name,
        )
    }
    pub fn conv3(name: &str) -> String {
        key(
            "day=15/hour=16/conversation_id=c0ffee03-5b2a-4e9d-9a10-3d2f7a000003",
            name,
        )
    }
    pub fn conv4(name: &str) -> String {
        key(
            "day=16/hour=08/conversation_id=c0ffee04-5b2a-4e9d-9a10-3d2f7a000004",
            name,
        )
    }
}

/// The buckets, the uploaded versions and the signing key of the run.
pub struct World {
    pub server: &'static SeaweedFs,
    pub export: String,
    pub ledger: String,
    pub versions: BTreeMap<String, String>,
    pub signer: Signer,
    pub manifest_key: String,
}

impl World {
    pub async fn new() -> World {
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

    pub async fn put(&mut self, key: &str, body: Vec<u8>) {
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

    pub fn version(&self, key: &str) -> &str {
        self.versions
            .get(key)
            .unwrap_or_else(|| panic!("{key} was not uploaded"))
    }

    /// The functions' environment, as the template sets it plus the local settings.
    pub fn function_env(&self) -> Vec<(String, String)> {
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
    pub fn notification(&self, sample: &Value, key: &str) -> Value {
        let mut record = sample.clone();
        let s3 = &mut record["s3"];
        s3["bucket"]["name"] = json!(self.export);
        s3["bucket"]["arn"] = json!(format!("arn:aws:s3:::{}", self.export));
        s3["object"]["key"] = json!(s3_event_key(key));
        s3["object"]["versionId"] = json!(self.version(key));
        record
    }

    pub fn eventbridge(&self, sample: &Value, key: &str) -> Value {
        let mut event = sample.clone();
        event["resources"] = json!([format!("arn:aws:s3:::{}", self.export)]);
        event["detail"]["bucket"]["name"] = json!(self.export);
        event["detail"]["object"]["key"] = json!(s3_event_key(key));
        event["detail"]["object"]["version-id"] = json!(self.version(key));
        event
    }

    pub async fn ledger_handle(&self) -> Ledger {
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

    pub async fn records(&self) -> Vec<CustodyRecord> {
        let mut records = Vec::new();
        self.ledger_handle()
            .await
            .for_each_record(|entry| records.push(entry.record.expect("every record parses")))
            .await
            .unwrap();
        records
    }

    pub async fn verify(&self) -> VerifyReport {
        self.ledger_handle().await.verify(None).await
    }

    /// The submissions waiting for the sequencer.
    pub async fn pending_submissions(&self) -> Vec<String> {
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

    pub async fn tags(&self, key: &str) -> HashMap<String, String> {
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

    pub async fn legal_hold_on(&self, key: &str) -> bool {
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

pub fn files_under(root: &std::path::Path) -> Vec<(String, Vec<u8>)> {
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

pub fn sample_event(name: &str) -> Value {
    let path = workspace_root().join("samples/events").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A key as S3 writes it into event notifications: URL-encoded, a space as `+`.
pub fn s3_event_key(key: &str) -> String {
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
