//! Export discovery over the sample export in `samples/` (voice, chat, message and email
//! conversations, one missing recording, one unreferenced file), uploaded to a real SeaweedFS
//! bucket and to a filesystem bucket: what is found, what is pinned, what is reported, and which
//! conversations each hold selection picks.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use custody_core::export::{
    DiscoveryNote, ExportScope, FileRole, Manifest, ObjectState, StartingPoint, discover,
};
use custody_core::hold::{
    Finding, HoldEngine, HoldPolicy, HoldReport, Marking, MatterRegister, RunContext, Selection,
};
use custody_core::ledger::EventKind;
use custody_core::store::{BucketSpec, ObjectStore, PutRequest};
use custody_tests::{Backend, workspace_root};

const VERSIONED: BucketSpec = BucketSpec {
    versioned: true,
    object_lock: false,
};
const ORG: &str = "3f1c9a52-7d0e-4b8a-9c61-0a2b4c6d8e10";
const C1: &str = "c0ffee01-5b2a-4e9d-9a10-3d2f7a000001";
const C2: &str = "c0ffee02-5b2a-4e9d-9a10-3d2f7a000002";
const C3: &str = "c0ffee03-5b2a-4e9d-9a10-3d2f7a000003";
const C4: &str = "c0ffee04-5b2a-4e9d-9a10-3d2f7a000004";
const SAMPLE_BUCKET: &str = "genesys-exports";

fn samples() -> PathBuf {
    workspace_root().join("samples")
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read samples") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Uploads `samples/export/` into the bucket; returns the number of objects.
async fn upload_sample_export(store: &dyn ObjectStore) -> usize {
    let root = samples().join("export");
    let mut files = Vec::new();
    files_under(&root, &mut files);
    for file in &files {
        let key = file
            .strip_prefix(&root)
            .expect("under root")
            .to_str()
            .expect("utf-8")
            .to_string();
        let body = Bytes::from(std::fs::read(file).expect("read"));
        store.put(PutRequest::new(key, body)).await.expect("upload");
    }
    files.len()
}

fn conversation_of(key: &str) -> &str {
    key.split("conversation_id=")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or("")
}

fn scope(store: &dyn ObjectStore) -> ExportScope {
    ExportScope::new(store.bucket(), ORG)
}

async fn hold_run(
    store: &dyn ObjectStore,
    start: StartingPoint,
    selection: Selection,
    marking: &str,
) -> HoldReport {
    let discovery = discover(store, &scope(store), &start).await;
    let policy = HoldPolicy::new(selection, Marking::parse("test", marking).expect("marking"));
    HoldEngine::new(store, &policy).run(&discovery).await
}

fn held_conversations(report: &HoldReport) -> Vec<String> {
    let mut held: Vec<String> = report
        .outcomes
        .iter()
        .filter(|o| o.held)
        .map(|o| conversation_of(&o.observed.key).to_string())
        .collect();
    held.sort();
    held.dedup();
    held
}

// ---------------------------------------------------------------- the checks

async fn a_whole_export_is_discovered_with_missing_and_unreferenced_findings(
    backend: &dyn Backend,
) {
    let store = backend.bucket(VERSIONED).await;
    let uploaded = upload_sample_export(&*store).await;
    let discovery = discover(
        &*store,
        &scope(&*store),
        &StartingPoint::ExportPrefix(String::new()),
    )
    .await;
    assert_eq!(
        discovery.objects.len(),
        uploaded + 1,
        "every object plus the missing recording"
    );

    let missing: Vec<_> = discovery
        .objects
        .iter()
        .filter(|o| matches!(o.state, ObjectState::Missing { .. }))
        .collect();
    assert_eq!(missing.len(), 1);
    assert!(missing[0].key.ends_with(&format!(
        "conversation_id={C4}/e5e5e5e5-0000-4000-8000-000000000001.opus"
    )));
    let ObjectState::Missing { named_by } = &missing[0].state else {
        unreachable!()
    };
    assert!(named_by.ends_with("e5e5e5e5-0000-4000-8000-000000000001.opus_metadata.json"));
    assert_eq!(
        missing[0].recording_id.as_deref(),
        Some("e5e5e5e5-0000-4000-8000-000000000001")
    );

    let unreferenced: Vec<&str> = discovery
        .objects
        .iter()
        .filter(|o| o.is_unreferenced())
        .map(|o| o.key.as_str())
        .collect();
    assert_eq!(unreferenced.len(), 1, "{unreferenced:?}");
    assert!(unreferenced[0].ends_with("stray-upload.opus"));

    for object in discovery.objects.iter().filter(|o| o.head().is_some()) {
        let current = store.head(&object.key, None).await.expect("head");
        assert_eq!(
            object.pinned_version(),
            current.version_id.as_deref(),
            "{}",
            object.key
        );
        assert!(
            current.version_id.is_some(),
            "a versioned bucket pins a version"
        );
        assert_eq!(
            object.conversation_id.as_deref(),
            Some(conversation_of(&object.key))
        );
        let invalid = object
            .notes
            .iter()
            .any(|n| matches!(n, DiscoveryNote::InvalidMetadata(_)));
        assert!(!invalid, "{}: {:?}", object.key, object.notes);
    }
    let voice = discovery
        .objects
        .iter()
        .find(|o| o.key.ends_with("a1a1a1a1-0000-4000-8000-000000000002.opus"))
        .expect("voice recording");
    assert_eq!(voice.role, FileRole::Media);
    assert_eq!(
        voice.recording_id.as_deref(),
        Some("a1a1a1a1-0000-4000-8000-000000000002")
    );
    let chat = discovery
        .objects
        .iter()
        .find(|o| o.key.ends_with("b2b2b2b2-0000-4000-8000-000000000001.json"))
        .expect("chat transcript");
    assert!(
        !chat.is_unreferenced(),
        "a chat transcript named by its metadata is referenced"
    );
    let roles: Vec<FileRole> = discovery.objects.iter().map(|o| o.role).collect();
    assert!(roles.contains(&FileRole::CallMetadata) && roles.contains(&FileRole::Transcript));
    assert_eq!(
        discovery.documents.len(),
        4,
        "metadata of every conversation is parsed"
    );

    // Held objects are marked; the unreferenced one is reported and left alone; the missing one
    // becomes a `missing` record.
    let policy = HoldPolicy::new(
        Selection::Everything,
        Marking::parse("t", "tags").expect("marking"),
    );
    let report = HoldEngine::new(&*store, &policy).run(&discovery).await;
    let records = report.to_records(&RunContext::new("s3://exports/"), store.bucket());
    let count = |kind| records.iter().filter(|r| r.event == kind).count();
    assert_eq!(count(EventKind::Missing), 1);
    assert_eq!(count(EventKind::Unreferenced), 1);
    assert_eq!(count(EventKind::Observed), uploaded);
    assert_eq!(count(EventKind::HoldApplied), uploaded - 1);
    assert_eq!(count(EventKind::Failed), 0, "{records:#?}");
    let stray = report
        .outcomes
        .iter()
        .find(|o| o.observed.key.ends_with("stray-upload.opus"))
        .expect("stray");
    assert!(!stray.held);
    let stray_tags = store
        .get_tags(&stray.observed.key, None)
        .await
        .expect("tags");
    assert!(stray_tags.is_empty());
}

async fn selections_pick_conversations_by_matter_and_by_metadata_field(backend: &dyn Backend) {
    let store = backend.bucket(VERSIONED).await;
    upload_sample_export(&*store).await;
    let whole = || StartingPoint::ExportPrefix(ORG.to_string());

    let register = MatterRegister::load_path(&samples().join("matters.json")).expect("register");
    let report = hold_run(&*store, whole(), Selection::Matters(register), "tags").await;
    assert_eq!(held_conversations(&report), vec![C1, C3, C4]);
    let c1_recording = report
        .outcomes
        .iter()
        .find(|o| {
            o.observed
                .key
                .ends_with("a1a1a1a1-0000-4000-8000-000000000001.opus")
        })
        .expect("c1 recording");
    assert_eq!(c1_recording.matters, vec!["M-1", "M-2"]);
    let tags = store
        .get_tags(
            &c1_recording.observed.key,
            c1_recording.marked_version.as_deref(),
        )
        .await
        .expect("tags");
    assert!(
        tags.iter()
            .any(|t| t.key == "legal-hold-matter" && t.value == "M-1+M-2"),
        "{tags:?}"
    );

    // The register can also live in a bucket.
    let register_bytes = std::fs::read(samples().join("matters.json")).expect("read");
    store
        .put(PutRequest::new(
            "registers/matters.json",
            Bytes::from(register_bytes),
        ))
        .await
        .expect("put");
    let from_store = MatterRegister::load_store(&*store, "registers/matters.json")
        .await
        .expect("load");
    assert_eq!(from_store.matters_for(C3), vec!["M-2"]);

    let field = Selection::FieldEquals {
        path: "participantData.legalHold".into(),
        value: "true".into(),
    };
    let report = hold_run(&*store, whole(), field, "tags").await;
    assert_eq!(
        held_conversations(&report),
        vec![C2],
        "only the chat was flagged by the flow"
    );
}

async fn the_sample_manifests_drive_discovery(backend: &dyn Backend) {
    let store = backend.bucket(VERSIONED).await;
    upload_sample_export(&*store).await;
    let bucket = store.bucket().to_string();

    let text =
        std::fs::read(samples().join("manifests/export-job-7f3e.json")).expect("read manifest");
    let mut manifest = Manifest::from_json("export-job-7f3e.json", &text).expect("manifest");
    assert!(manifest.rejected.is_empty());
    for entry in manifest.entries.iter_mut() {
        assert_eq!(entry.bucket, SAMPLE_BUCKET);
        entry.bucket = bucket.clone();
    }
    // A manifest that disagrees with the bucket is reported, and the objects are still held.
    let mut skewed = manifest.clone();
    skewed.entries.truncate(2);
    skewed.entries[0].size = Some(1);
    skewed.entries[1].sha256 = Some("0".repeat(64));
    let report = hold_run(
        &*store,
        StartingPoint::Manifest(skewed),
        Selection::Everything,
        "metadata",
    )
    .await;
    assert!(
        report.outcomes[0]
            .findings
            .iter()
            .any(|f| matches!(f, Finding::Mismatch { what, .. } if what == "size")),
        "{report:#?}"
    );
    assert!(
        report.outcomes[1]
            .findings
            .iter()
            .any(|f| matches!(f, Finding::Mismatch { what, .. } if what.contains("sha256"))),
        "{report:#?}"
    );
    assert!(report.outcomes.iter().all(|o| o.fully_marked()));

    manifest.entries.drain(..2);
    let entries = manifest.entries.len();
    let report = hold_run(
        &*store,
        StartingPoint::Manifest(manifest),
        Selection::Everything,
        "metadata",
    )
    .await;
    assert_eq!(report.outcomes.len(), entries);
    for o in &report.outcomes {
        assert!(o.fully_marked(), "{o:#?}");
        assert!(
            o.findings.is_empty(),
            "sizes and SHA-256s match the manifest: {o:#?}"
        );
        let proof = o
            .content_proof
            .as_ref()
            .expect("a copy was made and proven");
        assert_eq!(
            Some(&proof.source_sha256),
            o.observed.expected_sha256.as_ref()
        );
    }

    let csv = std::fs::read_to_string(samples().join("manifests/batch-operations.csv"))
        .expect("read csv");
    let batch =
        Manifest::from_batch_csv("batch-operations.csv", &csv.replace(SAMPLE_BUCKET, &bucket));
    assert!(batch.rejected.is_empty(), "{:?}", batch.rejected);
    let discovery = discover(
        &*store,
        &scope(&*store),
        &StartingPoint::Manifest(batch.clone()),
    )
    .await;
    assert_eq!(discovery.objects.len(), batch.entries.len());
    for o in &discovery.objects {
        assert!(o.head().is_some(), "decoded key {} exists", o.key);
        assert!(o.key.contains("conversation_id="), "%3D decoded: {}", o.key);
    }
}

async fn a_metadata_event_brings_what_it_names(backend: &dyn Backend) {
    let store = backend.bucket(VERSIONED).await;
    upload_sample_export(&*store).await;
    let folder4 = format!("{ORG}/year=2024/month=03/day=16/hour=08/conversation_id={C4}/");
    let event = StartingPoint::MetadataKey(format!(
        "{folder4}e5e5e5e5-0000-4000-8000-000000000001.opus_metadata.json"
    ));
    let discovery = discover(&*store, &scope(&*store), &event).await;
    assert_eq!(discovery.objects.len(), 2);
    assert!(matches!(
        discovery.objects[1].state,
        ObjectState::Missing { .. }
    ));

    let event = StartingPoint::MetadataKey(format!(
        "{folder4}d4d4d4d4-0000-4000-8000-000000000001.json_metadata.json"
    ));
    let discovery = discover(&*store, &scope(&*store), &event).await;
    let keys: Vec<&str> = discovery.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            format!("{folder4}d4d4d4d4-0000-4000-8000-000000000001.json_metadata.json"),
            format!("{folder4}d4d4d4d4-0000-4000-8000-000000000001.json"),
        ]
    );
    assert!(discovery.objects.iter().all(|o| o.head().is_some()));

    let folder1 = format!("{ORG}/year=2024/month=03/day=14/hour=09/conversation_id={C1}/");
    let event = StartingPoint::MetadataKey(format!("{folder1}{C1}.opus_call_metadata.json"));
    let discovery = discover(&*store, &scope(&*store), &event).await;
    let roles: Vec<FileRole> = discovery.objects.iter().map(|o| o.role).collect();
    assert_eq!(roles, vec![FileRole::CallMetadata, FileRole::Transcript]);
}

async fn bad_metadata_is_reported_and_its_recording_still_held(backend: &dyn Backend) {
    let store = backend.bucket(VERSIONED).await;
    let folder = format!("{ORG}/year=2024/month=04/day=01/hour=12/conversation_id=c-bad/");
    store
        .put(PutRequest::new(
            format!("{folder}r-9.opus"),
            Bytes::from_static(b"OggS..."),
        ))
        .await
        .expect("put");
    let metadata_key = format!("{folder}r-9.opus_metadata.json");
    store
        .put(PutRequest::new(
            metadata_key.clone(),
            Bytes::from_static(br#"{"conversationId":"c-bad","startTime":"yesterday"}"#),
        ))
        .await
        .expect("put");
    let report = hold_run(
        &*store,
        StartingPoint::ConversationFolder(folder.clone()),
        Selection::Everything,
        "tags",
    )
    .await;
    let metadata = report
        .outcomes
        .iter()
        .find(|o| o.observed.key == metadata_key)
        .expect("metadata");
    let Some(Finding::InvalidMetadata { field, problem }) = metadata.findings.first() else {
        panic!("{metadata:#?}")
    };
    assert_eq!(field.as_deref(), Some("startTime"));
    assert!(
        problem.contains(&metadata_key) && problem.contains("yesterday"),
        "{problem}"
    );
    let recording = report
        .outcomes
        .iter()
        .find(|o| o.observed.key.ends_with("r-9.opus"))
        .expect("recording");
    assert!(
        recording.fully_marked() && recording.findings.is_empty(),
        "{recording:#?}"
    );
    let failed = metadata
        .to_records(&RunContext::new("t"))
        .into_iter()
        .find(|r| r.event == EventKind::Failed)
        .expect("record");
    assert!(
        failed
            .outcome
            .error
            .expect("error")
            .message
            .contains("startTime")
    );
}

// ---------------------------------------------------------------- running on both adapters

custody_tests::on_both!(
    a_whole_export_is_discovered_with_missing_and_unreferenced_findings,
    selections_pick_conversations_by_matter_and_by_metadata_field,
    the_sample_manifests_drive_discovery,
    a_metadata_event_brings_what_it_names,
    bad_metadata_is_reported_and_its_recording_still_held,
);
