//! The hold engine against real stores: the S3 adapter talking to SeaweedFS on 127.0.0.1, and the
//! filesystem adapter where the behaviour is the same. Each marking mechanism alone and combined,
//! awkward keys, an overwrite during processing, the multipart copy path, a bucket without Object
//! Lock, an identity without tagging permission, manifest entries outside the export scope, and
//! a second run that changes nothing.

use std::collections::BTreeMap;

use bytes::Bytes;
use custody_core::export::{
    ExportScope, Manifest, ManifestEntry, StartingPoint, decode_s3_url_key, discover,
    encode_s3_url_key,
};
use custody_core::hold::{
    Finding, HoldEngine, HoldPolicy, HoldReport, Marking, Mechanism, ObjectOutcome, RunContext,
    Selection, StepResult,
};
use custody_core::ledger::EventKind;
use custody_core::store::{BucketSpec, ObjectStore, PutOutcome, PutRequest, StoreRead, Tag};
use custody_tests::{Backend, Identity, SeaweedFs, unique_bucket};

use sha2::{Digest, Sha256};

const VERSIONED: BucketSpec = BucketSpec {
    versioned: true,
    object_lock: false,
};
const PLAIN: BucketSpec = BucketSpec {
    versioned: false,
    object_lock: false,
};
const LOCKED: BucketSpec = BucketSpec {
    versioned: true,
    object_lock: true,
};

fn folder(conversation: &str) -> String {
    format!("org-1/year=2024/month=03/day=14/hour=09/conversation_id={conversation}/")
}

async fn put(
    store: &dyn ObjectStore,
    key: &str,
    body: &[u8],
    content_type: Option<&str>,
    meta: &[(&str, &str)],
) -> Option<String> {
    let mut request = PutRequest::new(key, Bytes::copy_from_slice(body));
    request.content_type = content_type.map(str::to_string);
    request.metadata = meta
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match store
        .put(request)
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e}"))
    {
        PutOutcome::Created { version_id, .. } => version_id,
        PutOutcome::AlreadyExists => panic!("put {key}: AlreadyExists"),
    }
}

/// One voice recording with its metadata in a conversation folder; returns (recording key, version).
async fn export_recording(
    store: &dyn ObjectStore,
    conversation: &str,
    recording: &str,
    body: &[u8],
) -> (String, Option<String>) {
    let dir = folder(conversation);
    let key = format!("{dir}{recording}.opus");
    let version = put(
        store,
        &key,
        body,
        Some("audio/ogg"),
        &[("genesys-export", "bulk")],
    )
    .await;
    let metadata = serde_json::json!({
        "conversationId": conversation, "recordingId": recording,
        "startTime": "2024-03-14T09:02:11.204+0000", "endTime": "2024-03-14T09:07:45.915Z",
        "durationMs": 334711, "mediaType": "Call", "provider": "edge", "userIds": ["u-1"]
    });
    put(
        store,
        &format!("{key}_metadata.json"),
        metadata.to_string().as_bytes(),
        Some("application/json"),
        &[],
    )
    .await;
    (key, version)
}

fn scope(store: &dyn ObjectStore) -> ExportScope {
    ExportScope::new(store.bucket(), "org-1/")
}

fn policy(marking: &str) -> HoldPolicy {
    HoldPolicy::new(
        Selection::Everything,
        Marking::parse("test", marking).expect("marking"),
    )
}

async fn run(store: &dyn ObjectStore, start: StartingPoint, policy: &HoldPolicy) -> HoldReport {
    let discovery = discover(store, &scope(store), &start).await;
    HoldEngine::new(store, policy).run(&discovery).await
}

fn outcome<'r>(report: &'r HoldReport, key: &str) -> &'r ObjectOutcome {
    report
        .outcomes
        .iter()
        .find(|o| o.observed.key == key)
        .unwrap_or_else(|| panic!("no outcome for {key}: {report:#?}"))
}

fn hold_tags(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

fn assert_no_failures(report: &HoldReport) {
    for o in &report.outcomes {
        let bad: Vec<&Finding> = o
            .findings
            .iter()
            .filter(|f| !matches!(f, Finding::Unreferenced { .. } | Finding::Missing { .. }))
            .collect();
        assert!(bad.is_empty(), "{}: {bad:#?}", o.observed.key);
    }
}

// ---------------------------------------------------------------- each mechanism alone

async fn tags_alone_merge_with_the_objects_own_tags(backend: &dyn Backend) {
    let store = backend.bucket(VERSIONED).await;
    let (key, v0) = export_recording(&*store, "c-tags", "r-1", b"voice bytes").await;
    store
        .put_tags(&key, v0.as_deref(), &[Tag::new("team", "sales")])
        .await
        .expect("own tag");
    let policy = policy("tags");
    let report = run(
        &*store,
        StartingPoint::ConversationFolder(folder("c-tags")),
        &policy,
    )
    .await;
    assert_no_failures(&report);
    let o = outcome(&report, &key);
    assert!(o.held && o.fully_marked());
    assert_eq!(
        o.step(Mechanism::Tags),
        Some(&StepResult::Applied {
            version: v0.clone()
        })
    );
    assert_eq!(o.new_version_id, None, "tags alone never copy");
    let tags = hold_tags(&store.get_tags(&key, v0.as_deref()).await.expect("tags"));
    assert_eq!(
        tags.get("team").map(String::as_str),
        Some("sales"),
        "own tag kept"
    );
    assert_eq!(tags.get("legal-hold").map(String::as_str), Some("true"));
    assert_eq!(
        store.head(&key, None).await.expect("head").version_id,
        v0,
        "no new version"
    );

    let again = run(
        &*store,
        StartingPoint::ConversationFolder(folder("c-tags")),
        &policy,
    )
    .await;
    assert!(!again.changed_anything(), "{again:#?}");
    assert_eq!(
        outcome(&again, &key).step(Mechanism::Tags),
        Some(&StepResult::AlreadyPresent { version: v0 })
    );
}

async fn metadata_alone_copies_in_place_and_proves_the_content(backend: &dyn Backend) {
    let store = backend.bucket(VERSIONED).await;
    let body = b"the exported recording, byte for byte";
    let (key, v0) = export_recording(&*store, "c-meta", "r-1", body).await;
    let policy = policy("metadata");
    let report = run(
        &*store,
        StartingPoint::ConversationFolder(folder("c-meta")),
        &policy,
    )
    .await;
    assert_no_failures(&report);
    let o = outcome(&report, &key);
    let v1 = o.new_version_id.clone();
    assert!(
        v1.is_some() && v1 != v0,
        "a versioned bucket gets a new version: {o:#?}"
    );
    assert_eq!(
        o.step(Mechanism::Metadata),
        Some(&StepResult::Applied {
            version: v1.clone()
        })
    );
    assert_eq!(o.marked_version, v1);
    let proof = o.content_proof.as_ref().expect("content proof");
    assert!(proof.holds());
    assert_eq!(proof.source_sha256, hex::encode(Sha256::digest(body)));
    let head = store.head(&key, None).await.expect("head");
    assert_eq!(head.version_id, v1);
    assert_eq!(
        head.metadata.get("legal-hold").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        head.metadata.get("genesys-export").map(String::as_str),
        Some("bulk"),
        "other metadata kept"
    );
    assert_eq!(head.metadata.get("legal-hold-source-version"), v0.as_ref());
    assert!(head.metadata.contains_key("legal-hold-applied-at"));
    assert_eq!(
        head.content_type.as_deref(),
        Some("audio/ogg"),
        "content type kept"
    );
    assert_eq!(
        &store.get_bytes(&key, v0.as_deref()).await.expect("v0")[..],
        body,
        "exported version intact"
    );

    // Second run, from the folder (pins the copy) and from a manifest pinning the exported
    // version: both recognise the copy and write nothing.
    let again = run(
        &*store,
        StartingPoint::ConversationFolder(folder("c-meta")),
        &policy,
    )
    .await;
    assert!(!again.changed_anything(), "{again:#?}");
    let manifest = Manifest::single("test", ManifestEntry::new(store.bucket(), &key, v0.clone()));
    let pinned = run(&*store, StartingPoint::Manifest(manifest), &policy).await;
    assert!(!pinned.changed_anything(), "{pinned:#?}");
    let o = outcome(&pinned, &key);
    assert_eq!(
        o.step(Mechanism::Metadata),
        Some(&StepResult::AlreadyPresent {
            version: v1.clone()
        })
    );
    assert!(o.findings.is_empty(), "{o:#?}");
    assert_eq!(
        store.head(&key, None).await.expect("head").version_id,
        v1,
        "no further version"
    );
}

async fn object_lock_alone_holds_the_exported_version(backend: &dyn Backend) {
    let store = backend.bucket(LOCKED).await;
    let (key, v0) = export_recording(&*store, "c-lock", "r-1", b"locked bytes").await;
    let policy = policy("object-lock");
    let report = run(
        &*store,
        StartingPoint::ConversationFolder(folder("c-lock")),
        &policy,
    )
    .await;
    assert_no_failures(&report);
    let o = outcome(&report, &key);
    assert_eq!(
        o.step(Mechanism::ObjectLock),
        Some(&StepResult::Applied {
            version: v0.clone()
        })
    );
    assert_eq!(
        store
            .head(&key, v0.as_deref())
            .await
            .expect("head")
            .legal_hold,
        Some(true)
    );
    let again = run(
        &*store,
        StartingPoint::ConversationFolder(folder("c-lock")),
        &policy,
    )
    .await;
    assert!(!again.changed_anything(), "{again:#?}");
}

// ---------------------------------------------------------------- combined

async fn all_three_land_on_the_copy_and_a_second_run_changes_nothing(backend: &dyn Backend) {
    let store = backend.bucket(LOCKED).await;
    let (key, v0) = export_recording(&*store, "c-all", "r-1", b"all marks").await;
    store
        .put_tags(&key, v0.as_deref(), &[Tag::new("site", "dublin")])
        .await
        .expect("tag");
    let policy = policy("tags,metadata,object-lock");
    let report = run(
        &*store,
        StartingPoint::ConversationFolder(folder("c-all")),
        &policy,
    )
    .await;
    assert_no_failures(&report);
    let o = outcome(&report, &key);
    let v1 = o.new_version_id.clone();
    assert!(v1.is_some() && v1 != v0);
    for mechanism in [Mechanism::Metadata, Mechanism::Tags, Mechanism::ObjectLock] {
        assert_eq!(
            o.step(mechanism),
            Some(&StepResult::Applied {
                version: v1.clone()
            }),
            "{mechanism:?}"
        );
    }
    let head = store.head(&key, v1.as_deref()).await.expect("head v1");
    assert_eq!(head.legal_hold, Some(true));
    let exported = store.head(&key, v0.as_deref()).await.expect("head v0");
    assert_eq!(
        exported.legal_hold,
        Some(true),
        "the exported (hashed) version is held too"
    );
    let tags = hold_tags(&store.get_tags(&key, v1.as_deref()).await.expect("tags"));
    assert_eq!(tags.get("legal-hold").map(String::as_str), Some("true"));
    assert_eq!(
        tags.get("site").map(String::as_str),
        Some("dublin"),
        "the copy keeps the object's tags"
    );
    // Every object of the conversation (the metadata file too) is held.
    for o in &report.outcomes {
        assert!(o.fully_marked(), "{o:#?}");
    }
    let records = o.to_records(&RunContext::new("s3://test/folder"));
    let kinds: Vec<EventKind> = records.iter().map(|r| r.event).collect();
    assert_eq!(kinds, vec![EventKind::Observed, EventKind::HoldApplied]);
    assert_eq!(records[1].what.new_version_id, v1);
    assert_eq!(
        records[1].how.mechanisms,
        vec!["metadata", "tags", "object-lock"]
    );
    assert!(records.iter().all(|r| r.identity_is_consistent()));

    let versions_before: Vec<_> = report
        .outcomes
        .iter()
        .map(|o| o.marked_version.clone())
        .collect();
    let again = run(
        &*store,
        StartingPoint::ConversationFolder(folder("c-all")),
        &policy,
    )
    .await;
    assert!(!again.changed_anything(), "{again:#?}");
    let versions_after: Vec<_> = again
        .outcomes
        .iter()
        .map(|o| o.marked_version.clone())
        .collect();
    assert_eq!(versions_before, versions_after);
}

async fn awkward_keys_are_marked(backend: &dyn Backend) {
    let store = backend.bucket(LOCKED).await;
    let conversation = "c 1+2%3=4 ünï€";
    let (key, _) = export_recording(&*store, conversation, "r 1+x%y=z 録音", b"awkward").await;
    // The S3 event for the metadata file arrives URL-encoded.
    let encoded = encode_s3_url_key(&format!("{key}_metadata.json"));
    assert!(encoded.contains("%3D") && encoded.contains('+') && !encoded.contains(' '));
    let decoded = decode_s3_url_key(&encoded).expect("decode");
    let report = run(&*store, StartingPoint::MetadataKey(decoded), &policy("all")).await;
    assert_no_failures(&report);
    assert_eq!(report.outcomes.len(), 2, "{report:#?}");
    let o = outcome(&report, &key);
    assert!(o.fully_marked(), "{o:#?}");
    assert_eq!(o.observed.conversation_id.as_deref(), Some(conversation));
    assert_eq!(o.observed.recording_id.as_deref(), Some("r 1+x%y=z 録音"));
    let marked = o.marked_version.clone();
    let tags = hold_tags(&store.get_tags(&key, marked.as_deref()).await.expect("tags"));
    assert_eq!(tags.get("legal-hold").map(String::as_str), Some("true"));
    assert_eq!(
        store
            .head(&key, marked.as_deref())
            .await
            .expect("head")
            .legal_hold,
        Some(true)
    );
    let again = run(
        &*store,
        StartingPoint::ConversationFolder(folder(conversation)),
        &policy("all"),
    )
    .await;
    assert!(!again.changed_anything(), "{again:#?}");
}

async fn an_unversioned_bucket_is_marked_in_place_once(backend: &dyn Backend) {
    let store = backend.bucket(PLAIN).await;
    let body = b"no versions here";
    let (key, v0) = export_recording(&*store, "c-plain", "r-1", body).await;
    let policy = policy("tags,metadata");
    let report = run(
        &*store,
        StartingPoint::ConversationFolder(folder("c-plain")),
        &policy,
    )
    .await;
    assert_no_failures(&report);
    let o = outcome(&report, &key);
    assert!(o.fully_marked(), "{o:#?}");
    let proof = o.content_proof.as_ref().expect("proof");
    assert!(proof.holds());
    assert_eq!(proof.source_sha256, hex::encode(Sha256::digest(body)));
    let head = store.head(&key, None).await.expect("head");
    assert_eq!(
        head.metadata.get("legal-hold").map(String::as_str),
        Some("true")
    );
    assert!(
        !head.metadata.contains_key("legal-hold-source-version"),
        "no version to name: {v0:?}"
    );
    let tags = hold_tags(&store.get_tags(&key, None).await.expect("tags"));
    assert_eq!(tags.get("legal-hold").map(String::as_str), Some("true"));
    let again = run(
        &*store,
        StartingPoint::ConversationFolder(folder("c-plain")),
        &policy,
    )
    .await;
    assert!(!again.changed_anything(), "{again:#?}");
}

// ---------------------------------------------------------------- races and limits

async fn an_overwrite_during_processing_marks_the_exported_version(backend: &dyn Backend) {
    let store = backend.bucket(LOCKED).await;
    let (key, v0) = export_recording(&*store, "c-race", "r-1", b"exported").await;
    let scope = scope(&*store);
    let discovery = discover(
        &*store,
        &scope,
        &StartingPoint::ConversationFolder(folder("c-race")),
    )
    .await;
    // Someone writes the key after discovery pinned the exported version.
    let v2 = put(&*store, &key, b"overwritten later", Some("audio/ogg"), &[]).await;
    let policy = policy("all");
    let report = HoldEngine::new(&*store, &policy).run(&discovery).await;
    let o = outcome(&report, &key);
    assert_eq!(o.observed.version_id, v0);
    assert!(
        o.findings.contains(&Finding::Overwritten {
            newer_version: v2.clone()
        }),
        "{o:#?}"
    );
    assert_eq!(o.step(Mechanism::Metadata), Some(&StepResult::NotDone));
    assert!(o.findings.iter().any(|f| matches!(f, Finding::CannotMark { mechanism: Mechanism::Metadata, reason } if reason.contains("newer version"))));
    assert_eq!(
        o.step(Mechanism::Tags),
        Some(&StepResult::Applied {
            version: v0.clone()
        })
    );
    assert_eq!(
        o.step(Mechanism::ObjectLock),
        Some(&StepResult::Applied {
            version: v0.clone()
        })
    );
    assert_eq!(
        store
            .head(&key, v0.as_deref())
            .await
            .expect("v0")
            .legal_hold,
        Some(true)
    );
    let newest = store.head(&key, None).await.expect("current");
    assert_eq!(
        newest.version_id, v2,
        "no copy was put above the newer version"
    );
    assert_eq!(
        newest.legal_hold,
        Some(false),
        "the newer version is reported, not marked"
    );
    assert!(
        store
            .get_tags(&key, v2.as_deref())
            .await
            .expect("tags")
            .is_empty()
    );
    let records = o.to_records(&RunContext::new("test"));
    assert!(
        records
            .iter()
            .any(|r| r.event == EventKind::Observed && r.what.version_id == v2)
    );
}

async fn the_multipart_copy_path_keeps_the_content(backend: &dyn Backend) {
    let store = backend.bucket(VERSIONED).await;
    let body: Vec<u8> = (0..11 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let (key, v0) = export_recording(&*store, "c-big", "r-big", &body).await;
    let mut policy = policy("metadata");
    policy.multipart_threshold = 1024 * 1024;
    policy.part_size = 5 * 1024 * 1024;
    let report = run(
        &*store,
        StartingPoint::ConversationFolder(folder("c-big")),
        &policy,
    )
    .await;
    assert_no_failures(&report);
    let o = outcome(&report, &key);
    let proof = o.content_proof.as_ref().expect("proof");
    assert!(proof.holds());
    assert_eq!(proof.source_sha256, hex::encode(Sha256::digest(&body)));
    assert_eq!(proof.source_version, v0);
    let head = store.head(&key, None).await.expect("head");
    assert_eq!(head.version_id, o.new_version_id);
    assert!(
        head.etag.ends_with("-3"),
        "copied in three parts: {}",
        head.etag
    );
}

async fn a_bucket_without_object_lock_is_explained(backend: &dyn Backend) {
    let store = backend.bucket(VERSIONED).await;
    let (key, v0) = export_recording(&*store, "c-nolock", "r-1", b"x").await;
    let report = run(
        &*store,
        StartingPoint::ConversationFolder(folder("c-nolock")),
        &policy("tags,object-lock"),
    )
    .await;
    let o = outcome(&report, &key);
    assert_eq!(
        o.step(Mechanism::Tags),
        Some(&StepResult::Applied { version: v0 }),
        "the other marking still happens"
    );
    assert_eq!(o.step(Mechanism::ObjectLock), Some(&StepResult::NotDone));
    let reason = o
        .findings
        .iter()
        .find_map(|f| match f {
            Finding::CannotMark {
                mechanism: Mechanism::ObjectLock,
                reason,
            } => Some(reason.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{o:#?}"));
    assert!(
        reason.contains(store.bucket()) && reason.contains("no Object Lock"),
        "{reason}"
    );
    let failed = o
        .to_records(&RunContext::new("t"))
        .into_iter()
        .find(|r| r.event == EventKind::Failed)
        .expect("failed record");
    assert!(
        failed
            .outcome
            .error
            .expect("error")
            .message
            .contains("Object Lock")
    );
}

async fn too_many_tags_is_a_finding_not_a_silent_drop(backend: &dyn Backend) {
    let store = backend.bucket(VERSIONED).await;
    let (key, v0) = export_recording(&*store, "c-tagfull", "r-1", b"x").await;
    let own: Vec<Tag> = (0..10).map(|i| Tag::new(format!("k{i}"), "v")).collect();
    store
        .put_tags(&key, v0.as_deref(), &own)
        .await
        .expect("ten tags");
    let report = run(
        &*store,
        StartingPoint::ConversationFolder(folder("c-tagfull")),
        &policy("tags"),
    )
    .await;
    let o = outcome(&report, &key);
    assert_eq!(o.step(Mechanism::Tags), Some(&StepResult::NotDone));
    assert!(o.findings.iter().any(|f| matches!(f, Finding::CannotMark { mechanism: Mechanism::Tags, reason } if reason.contains("limit of 10"))), "{o:#?}");
    assert_eq!(
        store.get_tags(&key, v0.as_deref()).await.expect("tags"),
        own,
        "nothing dropped"
    );
}

async fn manifest_entries_outside_the_scope_are_refused(backend: &dyn Backend) {
    let store = backend.bucket(VERSIONED).await;
    let (inside, v0) = export_recording(&*store, "c-scope", "r-1", b"in").await;
    let outside = "other-org/year=2024/month=03/day=14/hour=09/conversation_id=c/secret.opus";
    let v_out = put(&*store, outside, b"not ours", None, &[]).await;
    let sneaky =
        "org-1/../other-org/year=2024/month=03/day=14/hour=09/conversation_id=c/secret.opus";
    let mut manifest = Manifest::single(
        "manifest.json",
        ManifestEntry::new(store.bucket(), &inside, v0.clone()),
    );
    manifest
        .entries
        .push(ManifestEntry::new(store.bucket(), outside, None));
    manifest
        .entries
        .push(ManifestEntry::new(store.bucket(), sneaky, None));
    manifest
        .entries
        .push(ManifestEntry::new("some-other-bucket", &inside, None));
    let report = run(&*store, StartingPoint::Manifest(manifest), &policy("tags")).await;
    assert_eq!(report.outcomes.len(), 4);
    assert!(outcome(&report, &inside).fully_marked());
    let refused: Vec<&ObjectOutcome> = report
        .outcomes
        .iter()
        .filter(|o| {
            o.findings
                .iter()
                .any(|f| matches!(f, Finding::OutOfScope { .. }))
        })
        .collect();
    assert_eq!(refused.len(), 3, "{report:#?}");
    assert!(refused.iter().all(|o| !o.held && o.steps.is_empty()));
    assert!(
        store
            .get_tags(outside, v_out.as_deref())
            .await
            .expect("tags")
            .is_empty(),
        "untouched"
    );
}

// ---------------------------------------------------------------- running on both adapters

custody_tests::on_both!(
    tags_alone_merge_with_the_objects_own_tags,
    metadata_alone_copies_in_place_and_proves_the_content,
    object_lock_alone_holds_the_exported_version,
    all_three_land_on_the_copy_and_a_second_run_changes_nothing,
    awkward_keys_are_marked,
    an_unversioned_bucket_is_marked_in_place_once,
    an_overwrite_during_processing_marks_the_exported_version,
    the_multipart_copy_path_keeps_the_content,
    a_bucket_without_object_lock_is_explained,
    too_many_tags_is_a_finding_not_a_silent_drop,
    manifest_entries_outside_the_scope_are_refused,
);

// ---------------------------------------------------------------- S3 only

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_without_tagging_gets_an_explained_403_and_the_rest_is_done() {
    let server = SeaweedFs::shared().await;
    let bucket = unique_bucket("limited");
    server
        .create_bucket(&bucket, VERSIONED)
        .await
        .expect("bucket");
    let admin = server.store(&bucket).await;
    let mut keys = Vec::new();
    for i in 0..3 {
        keys.push(
            export_recording(
                &admin,
                "c-limited",
                &format!("r-{i}"),
                format!("rec {i}").as_bytes(),
            )
            .await
            .0,
        );
    }
    let limited = server.store_as(&bucket, Identity::Limited).await;
    let report = run(
        &limited,
        StartingPoint::ConversationFolder(folder("c-limited")),
        &policy("metadata,tags"),
    )
    .await;
    assert_eq!(
        report.outcomes.len(),
        6,
        "three recordings and their metadata files"
    );
    for o in &report.outcomes {
        assert!(
            matches!(
                o.step(Mechanism::Metadata),
                Some(StepResult::Applied { .. })
            ),
            "{o:#?}"
        );
        assert_eq!(o.step(Mechanism::Tags), Some(&StepResult::NotDone));
        let (action, permission) = o
            .findings
            .iter()
            .find_map(|f| match f {
                Finding::Failed {
                    action,
                    code,
                    likely_permission,
                    message,
                } => {
                    assert_eq!(code.as_deref(), Some("AccessDenied"), "{message}");
                    assert!(message.contains(&o.observed.key), "{message}");
                    Some((
                        action.clone(),
                        likely_permission.clone().expect("a permission is named"),
                    ))
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no failure finding: {o:#?}"));
        assert!(action.ends_with("ObjectTagging"), "{action}");
        assert!(
            permission.contains("s3:") && permission.contains("Tagging"),
            "{permission}"
        );
        let failed = o
            .to_records(&RunContext::new("t"))
            .into_iter()
            .find(|r| r.event == EventKind::Failed)
            .expect("failed record");
        let error = failed.outcome.error.expect("error");
        assert_eq!(
            error.likely_missing_permission.as_deref(),
            Some(permission.as_str())
        );
    }
    for key in &keys {
        let head = admin.head(key, None).await.expect("head");
        assert_eq!(
            head.metadata.get("legal-hold").map(String::as_str),
            Some("true"),
            "{key}"
        );
    }
}
