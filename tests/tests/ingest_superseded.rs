//! An overwrite after ingest (issue 10, item 2): new bytes put over a held, recorded object are
//! recorded as a `superseded` finding naming both versions and both digests; the successor is
//! hashed as a new fact, not as "the exported version"; the recorded version keeps its hold; a
//! further run adds nothing. On SeaweedFS (real versions, Object Lock) and on an unversioned
//! folder (the same key, other bytes).

use std::sync::Arc;

use custody_core::digest::HashOptions;
use custody_core::export::{ExportScope, StartingPoint};
use custody_core::hold::{HoldPolicy, Marking, RunContext, Selection};
use custody_core::ingest::{IngestConfig, IngestReport, ingest};
use custody_core::ledger::{CustodyRecord, EventKind, Ledger, LedgerConfig, Signer};
use custody_core::store::fs::FsStore;
use custody_core::store::{BucketSpec, ObjectStore, PutRequest};
use custody_tests::{LOCKED, SeaweedFs};
use sha2::{Digest, Sha256};

const ORIGIN: &str = "custody.test/superseded";
const PREFIX: &str = "org-1/";
const FOLDER: &str = "org-1/year=2024/month=03/day=14/hour=09/conversation_id=conv-s/";

async fn put_export(export: &dyn ObjectStore) -> String {
    let recording = format!("{FOLDER}rec-0.opus");
    export
        .put(PutRequest::new(
            recording.clone(),
            b"the exported audio".to_vec(),
        ))
        .await
        .unwrap();
    let metadata = serde_json::json!({
        "conversationId": "conv-s",
        "recordingId": "rec-0",
        "mediaType": "Call",
        "userIds": [],
    });
    export
        .put(PutRequest::new(
            format!("{recording}_metadata.json"),
            serde_json::to_vec(&metadata).unwrap(),
        ))
        .await
        .unwrap();
    recording
}

fn config(bucket: &str, marking: &str) -> IngestConfig {
    IngestConfig {
        hash: HashOptions::default(),
        ..IngestConfig::new(
            ExportScope::new(bucket, PREFIX),
            HoldPolicy::new(
                Selection::Everything,
                Marking::parse("marking", marking).unwrap(),
            ),
        )
    }
}

async fn run(export: &Arc<dyn ObjectStore>, ledger: &Ledger, marking: &str) -> IngestReport {
    let report = ingest(
        export.clone(),
        ledger,
        &config(export.bucket(), marking),
        &StartingPoint::ExportPrefix(PREFIX.to_string()),
        &RunContext::new(format!("{}/{PREFIX}", export.bucket())),
    )
    .await;
    assert!(
        report.recorded() && !report.needs_retry(),
        "{}",
        report.summary()
    );
    report
}

async fn records(ledger: &Ledger) -> Vec<CustodyRecord> {
    let mut all = Vec::new();
    ledger
        .for_each_record(|entry| all.extend(entry.record.ok()))
        .await
        .unwrap();
    all
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The checks common to both stores, after the overwrite's run: one `superseded` record naming
/// the recorded version and digest and the successor's, and the successor's `hashed` record
/// saying whose successor it is.
fn assert_superseded(
    all: &[CustodyRecord],
    key: &str,
    recorded_version: Option<&str>,
    successor_version: Option<&str>,
) {
    let old = sha256_hex(b"the exported audio");
    let new = sha256_hex(b"other bytes put over the held recording");
    let superseded: Vec<&CustodyRecord> = all
        .iter()
        .filter(|r| r.event == EventKind::Superseded)
        .collect();
    assert_eq!(superseded.len(), 1, "{superseded:#?}");
    let s = superseded[0];
    assert_eq!(s.what.key, key);
    assert_eq!(s.what.version_id.as_deref(), recorded_version);
    assert_eq!(s.what.new_version_id.as_deref(), successor_version);
    assert_eq!(s.what.sha256.as_deref(), Some(new.as_str()));
    let detail = s.outcome.detail.as_deref().unwrap();
    assert!(detail.contains(&old), "names the recorded digest: {detail}");
    assert!(
        detail.contains(&new),
        "names the successor's digest: {detail}"
    );
    assert_eq!(s.why.conversation_id.as_deref(), Some("conv-s"));

    let hashed: Vec<&CustodyRecord> = all
        .iter()
        .filter(|r| r.event == EventKind::Hashed && r.what.key == key)
        .collect();
    assert_eq!(hashed.len(), 2, "the recorded version and its successor");
    assert_eq!(hashed[0].what.sha256.as_deref(), Some(old.as_str()));
    assert!(
        hashed[0]
            .outcome
            .detail
            .as_deref()
            .unwrap()
            .contains("of the exported version")
    );
    assert_eq!(hashed[1].what.sha256.as_deref(), Some(new.as_str()));
    let successor = hashed[1].outcome.detail.as_deref().unwrap();
    assert!(
        successor.contains("successor of the recorded version")
            && !successor.contains("exported version;"),
        "{successor}"
    );
    // The metadata file was not overwritten: nothing superseded it.
    assert!(
        !superseded
            .iter()
            .any(|r| r.what.key.ends_with("_metadata.json"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_overwrite_of_a_held_recorded_version_is_superseded_and_the_recorded_version_stays_held()
{
    let server = SeaweedFs::shared().await;
    let (export_name, ledger_name) = server
        .export_and_ledger("superseded", LOCKED)
        .await
        .unwrap();
    let export: Arc<dyn ObjectStore> = Arc::new(server.store(&export_name).await);
    let key = put_export(export.as_ref()).await;
    let exported = export.head(&key, None).await.unwrap().version_id.unwrap();
    let ledger = Ledger::open(
        Arc::new(server.store(&ledger_name).await),
        "ledger",
        LedgerConfig::new(ORIGIN),
        Some(Signer::generate(ORIGIN).unwrap()),
    )
    .await
    .unwrap();
    let marking = "tags,metadata,object-lock";
    run(&export, &ledger, marking).await;
    assert!(
        !records(&ledger)
            .await
            .iter()
            .any(|r| r.event == EventKind::Superseded)
    );

    // Someone puts new bytes over the held recording (the copy custody made is the current
    // version before this put; the put makes a version that is neither).
    export
        .put(PutRequest::new(
            key.clone(),
            b"other bytes put over the held recording".to_vec(),
        ))
        .await
        .unwrap();
    let successor = export.head(&key, None).await.unwrap().version_id.unwrap();
    let second = run(&export, &ledger, marking).await;
    assert_eq!(
        second.findings.get("superseded"),
        Some(&1),
        "{}",
        second.summary()
    );
    let all = records(&ledger).await;
    assert_superseded(&all, &key, Some(&exported), Some(&successor));
    // The recorded version keeps its legal hold.
    let held = export.head(&key, Some(&exported)).await.unwrap();
    assert_eq!(held.legal_hold, Some(true));

    // Nothing new: a further run (revisiting recorded versions too) appends nothing.
    let third = ingest(
        export.clone(),
        &ledger,
        &IngestConfig {
            skip_recorded: false,
            ..config(&export_name, marking)
        },
        &StartingPoint::ExportPrefix(PREFIX.to_string()),
        &RunContext::new(format!("{export_name}/{PREFIX}")),
    )
    .await;
    let placed = third.ledger.as_ref().unwrap();
    assert!(placed.appended_shown.is_empty(), "{}", third.summary());
    assert_eq!(records(&ledger).await.len(), all.len());
    assert!(ledger.verify(None).await.is_intact());
}

#[tokio::test]
async fn new_bytes_under_an_unversioned_key_are_superseded() {
    let dir = tempfile::tempdir().unwrap();
    let folder = FsStore::create(dir.path().join("exports"), BucketSpec::default()).unwrap();
    let export: Arc<dyn ObjectStore> = Arc::new(folder);
    let key = put_export(export.as_ref()).await;
    let ledger_dir = dir.path().join("ledger");
    std::fs::create_dir_all(&ledger_dir).unwrap();
    let ledger = Ledger::open(
        Arc::new(FsStore::open(&ledger_dir).unwrap()),
        "",
        LedgerConfig::new(ORIGIN),
        Some(Signer::generate(ORIGIN).unwrap()),
    )
    .await
    .unwrap();
    run(&export, &ledger, "tags").await;
    export
        .put(PutRequest::new(
            key.clone(),
            b"other bytes put over the held recording".to_vec(),
        ))
        .await
        .unwrap();
    let second = run(&export, &ledger, "tags").await;
    assert_eq!(
        second.findings.get("superseded"),
        Some(&1),
        "{}",
        second.summary()
    );
    let all = records(&ledger).await;
    assert_superseded(&all, &key, None, None);
    let third = run(&export, &ledger, "tags").await;
    assert!(
        third.ledger.as_ref().unwrap().appended_shown.is_empty(),
        "{}",
        third.summary()
    );
    assert!(ledger.verify(None).await.is_intact());
}
