//! The objects against the ledger, after the fact (issue 10 items 5 and 6): rehash catches one
//! changed byte (folder export and unversioned bucket), the holds check names each mark that is
//! gone, and a release takes a matter's marks off, is refused while another matter holds the
//! object, is recorded, and is never undone by a later run.

use std::sync::Arc;

use custody_core::audit::{
    RehashResult, ReleaseResult, ReleaseScope, check_holds, rehash, release,
};
use custody_core::digest::HashOptions;
use custody_core::export::{ExportScope, StartingPoint};
use custody_core::hold::{
    DEFAULT_HOLD_CONCURRENCY, HoldPolicy, Marking, MatterRegister, RunContext, Selection,
};
use custody_core::ingest::{IngestConfig, ingest};
use custody_core::ledger::{EventKind, Ledger, LedgerConfig, Signer};
use custody_core::store::fs::FsStore;
use custody_core::store::{BucketSpec, ObjectStore, PutRequest, StoreRead, Tag};
use custody_tests::{LOCKED, SeaweedFs, VERSIONED};

const ORIGIN: &str = "custody.test/audit";
const PREFIX: &str = "org-1/";

fn folder(conversation: &str) -> String {
    format!("{PREFIX}year=2024/month=05/day=02/hour=11/conversation_id={conversation}/")
}

async fn put_recording(export: &dyn ObjectStore, conversation: &str, name: &str) -> String {
    let key = format!("{}{name}.opus", folder(conversation));
    export
        .put(PutRequest::new(
            key.clone(),
            format!("audio {name}").into_bytes(),
        ))
        .await
        .unwrap();
    let metadata = serde_json::json!({"conversationId": conversation, "recordingId": name});
    export
        .put(PutRequest::new(
            format!("{key}_metadata.json"),
            serde_json::to_vec(&metadata).unwrap(),
        ))
        .await
        .unwrap();
    key
}

fn matters(list: &[(&str, &[&str])]) -> Selection {
    let json = serde_json::json!({"matters": list.iter().map(|(id, c)| serde_json::json!({"id": id, "conversations": c})).collect::<Vec<_>>()});
    Selection::Matters(
        MatterRegister::from_json("matters.json", &serde_json::to_vec(&json).unwrap()).unwrap(),
    )
}

fn config(bucket: &str, selection: Selection, marking: &str) -> IngestConfig {
    IngestConfig {
        hash: HashOptions::default(),
        hold_concurrency: DEFAULT_HOLD_CONCURRENCY,
        ..IngestConfig::new(
            ExportScope::new(bucket, PREFIX),
            HoldPolicy::new(selection, Marking::parse("marking", marking).unwrap()),
        )
    }
}

async fn ledger_on(store: Arc<dyn ObjectStore>) -> Ledger {
    Ledger::open(
        store,
        "ledger",
        LedgerConfig::new(ORIGIN),
        Some(Signer::generate(ORIGIN).unwrap()),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn release_is_refused_while_another_matter_holds_and_sticks_once_done() {
    let server = SeaweedFs::shared().await;
    let (export_name, ledger_name) = server
        .export_and_ledger("audit-release", LOCKED)
        .await
        .unwrap();
    let export: Arc<dyn ObjectStore> = Arc::new(server.store(&export_name).await);
    let shared_key = put_recording(export.as_ref(), "conv-1", "r1").await;
    let alone_key = put_recording(export.as_ref(), "conv-2", "r2").await;
    let ledger = ledger_on(Arc::new(server.store(&ledger_name).await)).await;
    let selection = || matters(&[("M-1", &["conv-1", "conv-2"]), ("M-2", &["conv-1"])]);
    let config = config(&export_name, selection(), "tags,object-lock");
    let start = StartingPoint::ExportPrefix(PREFIX.to_string());
    let ctx = RunContext::new("test");
    let report = ingest(export.clone(), &ledger, &config, &start, &ctx).await;
    assert!(report.recorded(), "{}", report.summary());
    let holds = check_holds(&ledger, export.as_ref()).await.unwrap();
    assert!(holds.all_in_place() && holds.checked > 0, "{holds:?}");

    // M-2 still holds conv-1: releasing M-1 there is refused and changes nothing.
    let refused = release(
        &ledger,
        export.as_ref(),
        "M-1",
        &ReleaseScope::Conversation("conv-1".into()),
        "closed",
        &ctx,
    )
    .await
    .unwrap();
    assert!(!refused.objects.is_empty());
    assert!(refused.objects.iter().all(|o| matches!(
        &o.result,
        ReleaseResult::Refused { other_matters } if other_matters == &["M-2".to_string()]
    )));
    assert!(refused.records.is_empty());
    assert_eq!(
        export.head(&shared_key, None).await.unwrap().legal_hold,
        Some(true)
    );

    // conv-2 is held by M-1 alone: released, recorded, marks gone.
    let released = release(
        &ledger,
        export.as_ref(),
        "M-1",
        &ReleaseScope::Conversation("conv-2".into()),
        "matter M-1 closed",
        &ctx,
    )
    .await
    .unwrap();
    assert!(released.objects.iter().all(|o| matches!(
        &o.result,
        ReleaseResult::Released { mechanisms } if mechanisms.len() == 2
    )));
    let appended = ledger.append(released.records.clone()).await.unwrap();
    assert_eq!(appended.appended.len(), released.objects.len());
    let record = &released.records[0];
    assert_eq!(record.event, EventKind::HoldReleased);
    assert_eq!(record.why.matter.as_deref(), Some("M-1"));
    assert!(
        record
            .outcome
            .detail
            .as_deref()
            .unwrap()
            .contains("matter M-1 closed")
    );
    let head = export.head(&alone_key, None).await.unwrap();
    assert_eq!(head.legal_hold, Some(false));
    let tags = export.get_tags(&alone_key, None).await.unwrap();
    assert!(
        tags.iter().all(|t| !t.key.starts_with("legal-hold")),
        "{tags:?}"
    );

    // A later run with the same register does not hold conv-2 again (revisiting the recorded
    // versions, so that the hold decision is made again rather than skipped).
    let revisit = IngestConfig {
        skip_recorded: false,
        ..config.clone()
    };
    let again = ingest(export.clone(), &ledger, &revisit, &start, &ctx).await;
    assert!(again.recorded(), "{}", again.summary());
    let conv2 = again
        .shown_objects
        .iter()
        .find(|o| o.key == alone_key)
        .unwrap();
    assert!(!conv2.held, "a released hold was applied again");
    assert_eq!(
        export.head(&alone_key, None).await.unwrap().legal_hold,
        Some(false)
    );
    let holds = check_holds(&ledger, export.as_ref()).await.unwrap();
    assert!(holds.all_in_place(), "{holds:?}");

    // A tag taken off by hand is named by the holds check.
    let own: Vec<Tag> = vec![Tag::new("team", "billing")];
    export.put_tags(&shared_key, None, &own).await.unwrap();
    let holds = check_holds(&ledger, export.as_ref()).await.unwrap();
    assert_eq!(holds.gone.len(), 1, "{holds:?}");
    assert_eq!(holds.gone[0].key, shared_key);
    assert_eq!(holds.gone[0].mechanism, "tags");
    assert!(holds.gone[0].seen_gone);
    assert!(ledger.verify(None).await.is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rehash_catches_one_changed_byte_in_a_folder_export_and_an_unversioned_bucket() {
    // A folder export: the file edited in place on disk.
    let dir = tempfile::tempdir().unwrap();
    let folder_store = FsStore::create(dir.path().join("exports"), BucketSpec::default()).unwrap();
    let bucket = folder_store.bucket().to_string();
    let export: Arc<dyn ObjectStore> = Arc::new(folder_store.clone());
    let changed = put_recording(export.as_ref(), "conv-1", "r1").await;
    let kept = put_recording(export.as_ref(), "conv-1", "r2").await;
    let ledger_dir = dir.path().join("ledger");
    std::fs::create_dir_all(&ledger_dir).unwrap();
    let ledger = ledger_on(Arc::new(FsStore::open(&ledger_dir).unwrap())).await;
    let folder_config = config(&bucket, Selection::Everything, "tags");
    let start = StartingPoint::ExportPrefix(PREFIX.to_string());
    let report = ingest(
        export.clone(),
        &ledger,
        &folder_config,
        &start,
        &RunContext::new("t"),
    )
    .await;
    assert!(report.recorded(), "{}", report.summary());
    let clean = rehash(&ledger, export.clone(), HashOptions::default(), None)
        .await
        .unwrap();
    assert!(clean.all_unchanged() && clean.checked == 4, "{clean:?}");

    let path = folder_store.root().join(&changed);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let ctx = RunContext::new("custody verify --rehash");
    let found = rehash(&ledger, export.clone(), HashOptions::default(), Some(&ctx))
        .await
        .unwrap();
    assert!(found.found_changes());
    assert_eq!(found.problems.len(), 1, "{found:?}");
    assert_eq!(found.problems[0].key, changed);
    assert!(matches!(
        found.problems[0].result,
        RehashResult::Changed { .. }
    ));
    assert_eq!(
        found.verified_records.len(),
        3,
        "the unchanged ones are verified"
    );
    assert!(found.verified_records.iter().all(|r| r.what.key != changed));
    assert!(found.verified_records.iter().any(|r| r.what.key == kept));
    ledger.append(found.verified_records.clone()).await.unwrap();

    // An unversioned bucket: the object overwritten with other bytes.
    let server = SeaweedFs::shared().await;
    let (name, ledger_name) = server
        .export_and_ledger("audit-rehash", BucketSpec::default())
        .await
        .unwrap();
    let s3: Arc<dyn ObjectStore> = Arc::new(server.store(&name).await);
    let key = put_recording(s3.as_ref(), "conv-7", "r7").await;
    let s3_ledger = ledger_on(Arc::new(server.store(&ledger_name).await)).await;
    let config = config(&name, Selection::Everything, "tags");
    let report = ingest(
        s3.clone(),
        &s3_ledger,
        &config,
        &start,
        &RunContext::new("t"),
    )
    .await;
    assert!(report.recorded(), "{}", report.summary());
    s3.put(PutRequest::new(
        key.clone(),
        b"audio r7 but edited".to_vec(),
    ))
    .await
    .unwrap();
    let found = rehash(&s3_ledger, s3.clone(), HashOptions::default(), None)
        .await
        .unwrap();
    assert_eq!(found.problems.len(), 1, "{found:?}");
    assert_eq!(found.problems[0].key, key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_conversation_is_attested_and_a_false_attestation_is_caught() {
    use custody_core::audit::check_attestations;
    use custody_core::ledger::{Attestation, AttestedObject, Outcome, What, Why};

    let server = SeaweedFs::shared().await;
    let (name, ledger_name) = server
        .export_and_ledger("audit-attest", VERSIONED)
        .await
        .unwrap();
    let export: Arc<dyn ObjectStore> = Arc::new(server.store(&name).await);
    let r1 = put_recording(export.as_ref(), "conv-1", "r1").await;
    put_recording(export.as_ref(), "conv-2", "r2").await;
    // conv-2's metadata names a recording that never landed, and a stray file sits beside it.
    let metadata = serde_json::json!({"conversationId": "conv-2", "recordingId": "r3"});
    let absent = format!("{}r3.opus", folder("conv-2"));
    export
        .put(PutRequest::new(
            format!("{absent}_metadata.json"),
            serde_json::to_vec(&metadata).unwrap(),
        ))
        .await
        .unwrap();
    let stray = format!("{}stray.opus", folder("conv-2"));
    export
        .put(PutRequest::new(stray.clone(), b"stray".to_vec()))
        .await
        .unwrap();
    let ledger = ledger_on(Arc::new(server.store(&ledger_name).await)).await;
    let config = config(&name, Selection::Everything, "tags");
    let start = StartingPoint::ExportPrefix(PREFIX.to_string());
    let ctx = RunContext::new("t");
    let report = ingest(export.clone(), &ledger, &config, &start, &ctx).await;
    assert!(report.recorded(), "{}", report.summary());
    let attested: Vec<_> = report
        .records
        .iter()
        .filter(|r| r.event == EventKind::Attested)
        .collect();
    assert_eq!(attested.len(), 2, "one per conversation folder");
    let conv2 = attested
        .iter()
        .find(|r| r.what.key == folder("conv-2"))
        .unwrap();
    let list = conv2.attestation.as_ref().unwrap();
    assert_eq!(list.missing, vec![absent.clone()]);
    assert_eq!(list.unreferenced.len(), 1);
    assert_eq!(list.unreferenced[0].key, stray);
    assert_eq!(list.present.len(), 3, "r2, its metadata and r3's metadata");
    assert!(
        list.present
            .iter()
            .all(|o| o.version_id.is_some() && o.sha256.is_some())
    );
    let checked = check_attestations(&ledger).await.unwrap();
    assert_eq!(
        (checked.checked, checked.failures.len()),
        (2, 0),
        "{checked:?}"
    );

    // A second run (revisiting, not skipping) attests the same content: the same fact,
    // nothing appended.
    let revisit = IngestConfig {
        skip_recorded: false,
        ..config.clone()
    };
    let again = ingest(export.clone(), &ledger, &revisit, &start, &ctx).await;
    assert_eq!(
        again.ledger.as_ref().unwrap().appended,
        0,
        "{}",
        again.summary()
    );

    // A writer holding the key attests a digest no hashed record backs, and a list whose digest
    // is not the one the record carries: both are caught, by name.
    let false_list = Attestation {
        scope: folder("conv-1"),
        present: vec![AttestedObject {
            key: r1.clone(),
            version_id: list.present[0].version_id.clone(),
            sha256: Some("00".repeat(32)),
        }],
        missing: vec![],
        unreferenced: vec![],
    };
    let what = What {
        bucket: name.clone(),
        key: folder("conv-1"),
        ..Default::default()
    };
    let forged = ctx
        .record(
            EventKind::Attested,
            what.clone(),
            Why::default(),
            Default::default(),
            Outcome::default(),
        )
        .attesting(false_list.clone());
    let mut relabelled = ctx
        .record(
            EventKind::Attested,
            what,
            Why {
                source: "other".into(),
                ..Default::default()
            },
            Default::default(),
            Outcome::default(),
        )
        .attesting(Attestation {
            present: vec![],
            ..false_list
        });
    relabelled.what.sha256 = Some("11".repeat(32));
    relabelled.id = relabelled.identity();
    ledger.append(vec![forged, relabelled]).await.unwrap();
    let checked = check_attestations(&ledger).await.unwrap();
    assert_eq!(checked.checked, 4);
    let problems: Vec<&str> = checked
        .failures
        .iter()
        .map(|f| f.problem.as_str())
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("no earlier hashed record")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("digests to")),
        "{problems:?}"
    );
}
