//! The main job (`custody_core::ingest`) on a real S3 server: discovery, marking and hashing side
//! by side, and every finding recorded in the ledger.

use std::sync::Arc;

use custody_core::digest::HashOptions;
use custody_core::export::{ExportScope, Manifest, ManifestEntry, StartingPoint};
use custody_core::hold::{DEFAULT_HOLD_CONCURRENCY, HoldPolicy, Marking, RunContext, Selection};
use custody_core::ingest::{IngestConfig, ingest};
use custody_core::ledger::{EventKind, Ledger, LedgerConfig, Signer};
use custody_core::store::{ObjectStore, PutRequest};
use custody_tests::{LOCKED, SeaweedFs};
use sha2::{Digest, Sha256};

const ORIGIN: &str = "custody.test/ingest";
const PREFIX: &str = "org-1/";
const FOLDER: &str = "org-1/year=2024/month=03/day=14/hour=09/conversation_id=conv-1/";

async fn setup(label: &str) -> (Arc<dyn ObjectStore>, Ledger, IngestConfig) {
    let server = SeaweedFs::shared().await;
    let (export_name, ledger_name) = server.export_and_ledger(label, LOCKED).await.unwrap();
    let export: Arc<dyn ObjectStore> = Arc::new(server.store(&export_name).await);
    let ledger_store: Arc<dyn ObjectStore> = Arc::new(server.store(&ledger_name).await);
    let signer = Signer::generate(ORIGIN).unwrap();
    let ledger = Ledger::open(
        ledger_store,
        "ledger",
        LedgerConfig::new(ORIGIN),
        Some(signer),
    )
    .await
    .unwrap();
    let config = IngestConfig {
        hash: HashOptions::default(),
        hold_concurrency: DEFAULT_HOLD_CONCURRENCY,
        ..IngestConfig::new(
            ExportScope::new(export_name, PREFIX),
            HoldPolicy::new(
                Selection::Everything,
                Marking::parse("marking", "tags,object-lock").unwrap(),
            ),
        )
    };
    (export, ledger, config)
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_manifest_run_records_hashes_holds_and_every_finding() {
    let (export, ledger, config) = setup("ingest-manifest").await;
    let bucket = config.scope.bucket.clone();
    let good = format!("{FOLDER}rec-good.opus");
    let wrong = format!("{FOLDER}rec-wrong.opus");
    let absent = format!("{FOLDER}rec-absent.opus");
    let outside = "other-org/year=2024/x.opus".to_string();
    for (key, body) in [
        (&good, b"good audio".as_slice()),
        (&wrong, b"other audio".as_slice()),
    ] {
        let mut put = PutRequest::new(key.clone(), body.to_vec());
        put.checksum_sha256 = true;
        export.put(put).await.unwrap();
    }
    export
        .put(PutRequest::new(outside.clone(), b"x".to_vec()))
        .await
        .unwrap();
    let mut good_entry = ManifestEntry::new(bucket.clone(), good.clone(), None);
    good_entry.sha256 = Some(sha256_hex(b"good audio"));
    let mut wrong_entry = ManifestEntry::new(bucket.clone(), wrong.clone(), None);
    wrong_entry.sha256 = Some(sha256_hex(b"what the export said"));
    let absent_entry = ManifestEntry::new(bucket.clone(), absent.clone(), None);
    let outside_entry = ManifestEntry::new(bucket.clone(), outside.clone(), None);
    let mut manifest = Manifest::single("manifest-1", good_entry);
    manifest
        .entries
        .extend([wrong_entry, absent_entry, outside_entry]);

    let ctx = RunContext::new("s3://test/manifest-1");
    let start = StartingPoint::Manifest(manifest);
    let report = ingest(export.clone(), &ledger, &config, &start, &ctx).await;
    let appended = report.ledger.as_ref().expect("ledger written");
    assert!(appended.rejected.is_empty());

    let mut by_key: std::collections::BTreeMap<String, Vec<EventKind>> = Default::default();
    for record in &report.records {
        by_key
            .entry(record.what.key.clone())
            .or_default()
            .push(record.event);
    }
    let hashed = report
        .records
        .iter()
        .find(|r| r.what.key == good && r.event == EventKind::Hashed)
        .expect("the good object is hashed");
    assert_eq!(
        hashed.what.sha256.as_deref(),
        Some(sha256_hex(b"good audio").as_str())
    );
    assert!(
        hashed.what.version_id.is_some(),
        "hashed at a pinned version"
    );
    assert!(
        by_key[&good].contains(&EventKind::HoldApplied),
        "{by_key:?}"
    );
    assert!(!by_key[&good].contains(&EventKind::Mismatch), "{by_key:?}");
    assert!(by_key[&wrong].contains(&EventKind::Mismatch), "{by_key:?}");
    assert!(by_key[&absent].contains(&EventKind::Missing), "{by_key:?}");
    assert!(by_key[&outside].contains(&EventKind::Failed), "{by_key:?}");
    assert!(
        !by_key[&outside].contains(&EventKind::Hashed),
        "out of scope is never read"
    );
    let outside_tags = export.get_tags(&outside, None).await.unwrap();
    assert!(
        outside_tags.is_empty(),
        "out of scope is never marked: {outside_tags:?}"
    );

    let again = ingest(export, &ledger, &config, &start, &ctx).await;
    // The manifest's unit holds an object out of scope, so it is processed again (not skipped),
    // and every record it submits is found present.
    assert_eq!(again.skipped, 0, "{}", again.summary());
    let again = again.ledger.expect("ledger written");
    assert_eq!(
        again.appended, 0,
        "a redelivered manifest adds nothing: {again:?}"
    );
    assert_eq!(again.already_present, appended.appended);
    let verified = ledger.verify(None).await;
    assert!(verified.is_intact(), "{verified}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_intact_object_passes_every_cross_check() {
    let (export, ledger, config) = setup("ingest-checksum").await;
    let key = format!("{FOLDER}rec-1.opus");
    // The positive control of the mismatch test above: with a stored full-object SHA-256
    // checksum, that is the cross-check (no MD5 pass is needed) and it agrees.
    let mut put = PutRequest::new(key.clone(), b"audio bytes".to_vec());
    put.checksum_sha256 = true;
    export.put(put).await.unwrap();
    let start = StartingPoint::Manifest(Manifest::single(
        "m",
        ManifestEntry::new(config.scope.bucket.clone(), key.clone(), None),
    ));
    let report = ingest(
        export,
        &ledger,
        &config,
        &start,
        &RunContext::new("s3://test/m"),
    )
    .await;
    let (sha256, _) = report.shown_objects[0].sha256.clone().expect("hashed");
    assert_eq!(sha256, sha256_hex(b"audio bytes"));
    let hashed = report
        .records
        .iter()
        .find(|r| r.event == EventKind::Hashed)
        .expect("a hashed record");
    let detail = hashed.outcome.detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains("cross-check: stored full-object SHA256 checksum"),
        "{detail}"
    );
    assert!(detail.contains("stored checksum check: match"), "{detail}");
    assert!(
        report
            .records
            .iter()
            .all(|r| r.event != EventKind::Mismatch)
    );
}
