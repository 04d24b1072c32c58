//! The ledger tells the whole truth (issue 10): a new fact about an object is always appended and
//! the same fact never twice; transient failures are retried, never recorded as findings; a
//! mistake about the run itself appends nothing; a `missing` record names its matter.
//!
//! Marking escalation and later matters run on SeaweedFS (real versions, Object Lock, tags);
//! the fault runs use the in-memory store behind the fault-injecting wrapper, so that exactly the
//! failures S3 produces (503 SlowDown, 500, resets mid-body, answers lost after a write) hit
//! every step at a known rate.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use custody_core::digest::HashOptions;
use custody_core::export::{ExportScope, StartingPoint};
use custody_core::hold::{
    DEFAULT_HOLD_CONCURRENCY, HoldPolicy, Marking, MatterRegister, RunContext, Selection,
};
use custody_core::ingest::{IngestConfig, IngestReport, ingest};
use custody_core::ledger::{CustodyRecord, EventKind, Ledger, LedgerConfig, Signer};
use custody_core::store::faulty::{FaultyStore, RandomFaults};
use custody_core::store::memory::MemoryStore;
use custody_core::store::{
    BucketSpec, ObjectStore, PutRequest, StoreErrorKind, StoreRead, StoreWrite,
};
use custody_tests::{Identity, LOCKED, SeaweedFs, VERSIONED};

const ORIGIN: &str = "custody.test/truth";
const PREFIX: &str = "org-1/";

fn folder(conversation: &str) -> String {
    format!("{PREFIX}year=2024/month=03/day=14/hour=09/conversation_id={conversation}/")
}

/// One conversation: `recordings` opus files, each with its `_metadata.json`.
async fn put_conversation(export: &dyn ObjectStore, conversation: &str, recordings: usize) {
    for r in 0..recordings {
        let recording = format!("{conversation}-rec-{r}");
        let key = format!("{}{recording}.opus", folder(conversation));
        let body = format!("audio of {recording}").into_bytes();
        export.put(PutRequest::new(key, body)).await.unwrap();
        let metadata = serde_json::json!({
            "conversationId": conversation,
            "recordingId": recording,
            "mediaType": "Call",
            "provider": "edge",
            "userIds": [],
        });
        let key = format!("{}{recording}.opus_metadata.json", folder(conversation));
        export
            .put(PutRequest::new(key, serde_json::to_vec(&metadata).unwrap()))
            .await
            .unwrap();
    }
}

fn register(matters: &[(&str, &[&str])]) -> MatterRegister {
    let json = serde_json::json!({
        "matters": matters
            .iter()
            .map(|(id, conversations)| serde_json::json!({"id": id, "conversations": conversations}))
            .collect::<Vec<_>>()
    });
    MatterRegister::from_json("matters.json", &serde_json::to_vec(&json).unwrap()).unwrap()
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

async fn all_records(ledger: &Ledger) -> Vec<CustodyRecord> {
    let mut records = Vec::new();
    ledger
        .for_each_record(|entry| {
            if let Ok(record) = entry.record {
                records.push(record);
            }
        })
        .await
        .unwrap();
    records
}

fn appended(report: &IngestReport) -> Vec<&CustodyRecord> {
    let placed = report.ledger.as_ref().expect("ledger written");
    assert!(
        report.records.len() == report.records_total,
        "a small run shows every record"
    );
    let ids: BTreeSet<&str> = placed
        .appended_shown
        .iter()
        .map(|p| p.id.as_str())
        .collect();
    report
        .records
        .iter()
        .filter(|r| ids.contains(r.id.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn further_marks_and_further_matters_are_new_facts_and_repeats_add_nothing() {
    let server = SeaweedFs::shared().await;
    let (export_name, ledger_name) = server
        .export_and_ledger("truth-escalate", LOCKED)
        .await
        .unwrap();
    let export: Arc<dyn ObjectStore> = Arc::new(server.store(&export_name).await);
    put_conversation(export.as_ref(), "conv-1", 3).await;
    put_conversation(export.as_ref(), "conv-2", 2).await;
    let ledger = Ledger::open(
        Arc::new(server.store(&ledger_name).await),
        "ledger",
        LedgerConfig::new(ORIGIN),
        Some(Signer::generate(ORIGIN).unwrap()),
    )
    .await
    .unwrap();
    let start = StartingPoint::ExportPrefix(PREFIX.to_string());
    let ctx = RunContext::new(format!("s3://{export_name}/{PREFIX}"));
    let m1 = || Selection::Matters(register(&[("M-1", &["conv-1"])]));
    let m1_m2 = || Selection::Matters(register(&[("M-1", &["conv-1"]), ("M-2", &["conv-1"])]));
    // conv-1 holds 3 recordings and their 3 metadata files.
    let held_objects = 6;

    // Each run applies a changed policy to versions already recorded: no skipping.
    let run = |selection, marking: &'static str| {
        let config = IngestConfig {
            skip_recorded: false,
            ..config(&export_name, selection, marking)
        };
        let export = export.clone();
        let ledger = &ledger;
        let start = &start;
        let ctx = &ctx;
        async move { ingest(export, ledger, &config, start, ctx).await }
    };
    let tags_only = run(m1(), "tags").await;
    assert!(
        tags_only.recorded() && !tags_only.needs_retry(),
        "{}",
        tags_only.summary()
    );
    let holds = |report: &IngestReport| -> Vec<CustodyRecord> {
        appended(report)
            .into_iter()
            .filter(|r| r.event == EventKind::HoldApplied)
            .cloned()
            .collect()
    };
    assert_eq!(holds(&tags_only).len(), held_objects);

    let escalated = run(m1(), "tags,metadata,object-lock").await;
    let new_holds = holds(&escalated);
    assert_eq!(new_holds.len(), held_objects, "{}", escalated.summary());
    for record in &new_holds {
        assert_eq!(
            record.how.mechanisms,
            ["metadata", "tags", "object-lock"],
            "{record:?}"
        );
        assert!(
            record.what.new_version_id.is_some(),
            "names the copy: {record:?}"
        );
        assert_eq!(record.why.matter.as_deref(), Some("M-1"));
    }

    let repeat = run(m1(), "tags,metadata,object-lock").await;
    assert_eq!(appended(&repeat).len(), 0, "{}", repeat.summary());

    let further_matter = run(m1_m2(), "tags,metadata,object-lock").await;
    let matter_holds = holds(&further_matter);
    assert_eq!(
        matter_holds.len(),
        held_objects,
        "{}",
        further_matter.summary()
    );
    assert!(
        matter_holds
            .iter()
            .all(|r| r.why.matter.as_deref() == Some("M-1+M-2"))
    );
    let repeat = run(m1_m2(), "tags,metadata,object-lock").await;
    assert_eq!(appended(&repeat).len(), 0, "{}", repeat.summary());

    // The ledger holds each fact once: 3 hold facts per held object, one hash per version.
    let records = all_records(&ledger).await;
    let ids: BTreeSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), records.len(), "no identity twice");
    let m1_holds = records
        .iter()
        .filter(|r| r.event == EventKind::HoldApplied)
        .filter(|r| r.why.matter.as_deref().is_some_and(|m| m.contains("M-1")))
        .count();
    assert_eq!(m1_holds, 3 * held_objects);
    let mut hashed: BTreeMap<(&str, Option<&str>), usize> = BTreeMap::new();
    for r in records.iter().filter(|r| r.event == EventKind::Hashed) {
        *hashed
            .entry((r.what.key.as_str(), r.what.version_id.as_deref()))
            .or_default() += 1;
    }
    assert!(hashed.values().all(|n| *n == 1), "{hashed:?}");
    assert_eq!(hashed.len(), 10, "every exported object hashed once");
    assert!(ledger.verify(None).await.is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transient_faults_are_retried_until_every_object_is_recorded_once_and_never_as_failed() {
    let memory: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new("exports", LOCKED));
    let conversations: Vec<String> = (0..20).map(|c| format!("conv-{c:02}")).collect();
    for conversation in &conversations {
        put_conversation(memory.as_ref(), conversation, 5).await;
    }
    let faulty = Arc::new(FaultyStore::new(memory.clone()).with_random(RandomFaults {
        rate: 0.10,
        seed: 0x5eed,
    }));
    // Beyond the random faults, the legal holds of the first objects keep failing for longer
    // than the in-run retries last: those steps must be left for the next run, not recorded.
    // (The streaming run marks up to 8 folders at once, 8 objects each: 300 failures outlast
    // the 5 attempts of every call in that first wave.)
    faulty.inject(custody_core::store::faulty::Rule::on(
        "PutObjectLegalHold",
        300,
        custody_core::store::faulty::Fault::Refuse(StoreErrorKind::Transient, "SlowDown"),
    ));
    let export: Arc<dyn ObjectStore> = faulty.clone();
    let ledger = Ledger::open(
        Arc::new(MemoryStore::new("ledger", BucketSpec::default())),
        "ledger",
        LedgerConfig::new(ORIGIN),
        Some(Signer::generate(ORIGIN).unwrap()),
    )
    .await
    .unwrap();
    let config = config("exports", Selection::Everything, "tags,object-lock");
    let start = StartingPoint::ExportPrefix(PREFIX.to_string());
    let ctx = RunContext::new("memory://exports/org-1/");
    let mut runs = 0;
    let mut retried = 0;
    loop {
        runs += 1;
        let report = ingest(export.clone(), &ledger, &config, &start, &ctx).await;
        assert!(report.recorded(), "{}", report.summary());
        if !report.needs_retry() {
            break;
        }
        retried += report.retries().count();
        assert!(
            runs < 30,
            "still retrying after {runs} runs: {}",
            report.summary()
        );
    }
    assert!(
        faulty.injected() > 50,
        "only {} faults injected",
        faulty.injected()
    );
    assert!(
        retried > 0 && runs >= 2,
        "some steps were left for a later run"
    );

    let records = all_records(&ledger).await;
    assert!(
        records.iter().all(|r| r.event != EventKind::Failed),
        "a transient failure was recorded as a finding: {:?}",
        records.iter().find(|r| r.event == EventKind::Failed)
    );
    let objects = conversations.len() * 10;
    let count = |event: EventKind| {
        let mut per_key: BTreeMap<&str, usize> = BTreeMap::new();
        for r in records.iter().filter(|r| r.event == event) {
            *per_key.entry(r.what.key.as_str()).or_default() += 1;
        }
        per_key
    };
    let hashed = count(EventKind::Hashed);
    assert_eq!(hashed.len(), objects, "every object hashed");
    assert!(hashed.values().all(|n| *n == 1), "hashed exactly once");
    assert_eq!(count(EventKind::Observed).len(), objects);
    // Every object's last hold record names every mechanism: an interrupted hold that a later
    // run completed is recorded as complete.
    let mut last_hold: BTreeMap<&str, &CustodyRecord> = BTreeMap::new();
    for r in records.iter().filter(|r| r.event == EventKind::HoldApplied) {
        last_hold.insert(r.what.key.as_str(), r);
    }
    assert_eq!(last_hold.len(), objects);
    for (key, record) in &last_hold {
        assert_eq!(record.how.mechanisms, ["tags", "object-lock"], "{key}");
        let head = memory
            .head(key, record.what.version_id.as_deref())
            .await
            .unwrap();
        assert_eq!(head.legal_hold, Some(true), "{key}");
        let tags = memory
            .get_tags(key, record.what.version_id.as_deref())
            .await
            .unwrap();
        assert!(!tags.is_empty(), "{key} carries its tags");
    }
    assert!(ledger.verify(None).await.is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mistake_about_the_run_appends_nothing_and_names_no_permission() {
    let server = SeaweedFs::shared().await;
    let (export_name, ledger_name) = server
        .export_and_ledger("truth-mistake", BucketSpec::default())
        .await
        .unwrap();
    let ledger = Ledger::open(
        Arc::new(server.store(&ledger_name).await),
        "ledger",
        LedgerConfig::new(ORIGIN),
        Some(Signer::generate(ORIGIN).unwrap()),
    )
    .await
    .unwrap();
    let start = StartingPoint::ExportPrefix(PREFIX.to_string());
    let ctx = RunContext::new("s3://typo/org-1/");

    // A bucket that does not exist (a typo in --export).
    let typo: Arc<dyn ObjectStore> = Arc::new(server.store("no-such-bucket-custody").await);
    let config_typo = config("no-such-bucket-custody", Selection::Everything, "tags");
    let report = ingest(typo, &ledger, &config_typo, &start, &ctx).await;
    assert!(report.run_error.is_some(), "{}", report.summary());
    assert!(report.records.is_empty() && !report.recorded());

    // Wrong credentials: an authentication failure, named as such, with no permission hint.
    let mut options = server.s3_options(&export_name, Identity::Admin);
    if let Some(credentials) = options.credentials.as_mut() {
        credentials.secret_access_key = "not-the-secret".to_string();
    }
    let forged: Arc<dyn ObjectStore> = Arc::new(custody_aws::s3::S3Store::connect(&options).await);
    let config_real = config(&export_name, Selection::Everything, "tags");
    let report = ingest(forged, &ledger, &config_real, &start, &ctx).await;
    let error = report.run_error.as_ref().expect("a run error");
    assert!(error.is_authentication(), "{error}");
    let summary = report.summary().to_string();
    assert!(summary.contains("authentication failed"), "{summary}");
    assert!(!summary.contains("permission"), "{summary}");
    assert!(report.records.is_empty());

    // An empty prefix: nothing found, nothing recorded, and the report says so.
    let export: Arc<dyn ObjectStore> = Arc::new(server.store(&export_name).await);
    let report = ingest(export, &ledger, &config_real, &start, &ctx).await;
    assert!(report.nothing_found(), "{}", report.summary());
    assert!(report.records.is_empty());

    assert_eq!(
        all_records(&ledger).await.len(),
        0,
        "the ledger is unchanged"
    );
}

#[tokio::test]
async fn a_missing_recording_is_missing_for_its_matter_and_transient_head_errors_are_not_findings()
{
    let memory: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new("exports", BucketSpec::default()));
    put_conversation(memory.as_ref(), "conv-9", 2).await;
    let gone = format!("{}conv-9-rec-1.opus", folder("conv-9"));
    // The recording the second metadata file names never arrived.
    let only = MemoryStore::new("exports", BucketSpec::default());
    for summary in memory.list(PREFIX).await.unwrap() {
        if summary.key != gone {
            let body = memory.get_bytes(&summary.key, None).await.unwrap();
            only.put(PutRequest::new(summary.key, body)).await.unwrap();
        }
    }
    let export: Arc<dyn ObjectStore> = Arc::new(only);
    let ledger = Ledger::open(
        Arc::new(MemoryStore::new("ledger", BucketSpec::default())),
        "ledger",
        LedgerConfig::new(ORIGIN),
        Some(Signer::generate(ORIGIN).unwrap()),
    )
    .await
    .unwrap();
    let selection = Selection::Matters(register(&[("M-7", &["conv-9"])]));
    let config = config("exports", selection, "tags");
    let start = StartingPoint::ExportPrefix(PREFIX.to_string());
    let report = ingest(
        export.clone(),
        &ledger,
        &config,
        &start,
        &RunContext::new("t"),
    )
    .await;
    let missing: Vec<_> = report
        .records
        .iter()
        .filter(|r| r.event == EventKind::Missing)
        .collect();
    assert_eq!(missing.len(), 1, "{}", report.summary());
    assert_eq!(missing[0].what.key, gone);
    assert_eq!(missing[0].why.matter.as_deref(), Some("M-7"));

    // A HEAD answered 503 SlowDown (after the store's own retries) is not a finding.
    let faulty = Arc::new(FaultyStore::new(export.clone()));
    faulty.inject(custody_core::store::faulty::Rule::on(
        "HeadObject",
        u32::MAX,
        custody_core::store::faulty::Fault::Refuse(StoreErrorKind::Transient, "SlowDown"),
    ));
    let report = ingest(faulty, &ledger, &config, &start, &RunContext::new("t")).await;
    assert!(report.needs_retry(), "{}", report.summary());
    assert!(
        report.records.iter().all(|r| r.event != EventKind::Failed),
        "{:?}",
        report.records
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recording_landing_after_or_before_its_metadata_ends_recorded_with_no_missing_left() {
    let server = SeaweedFs::shared().await;
    let (export_name, ledger_name) = server
        .export_and_ledger("truth-arrival", VERSIONED)
        .await
        .unwrap();
    let export: Arc<dyn ObjectStore> = Arc::new(server.store(&export_name).await);
    let ledger = Ledger::open(
        Arc::new(server.store(&ledger_name).await),
        "ledger",
        LedgerConfig::new(ORIGIN),
        Some(Signer::generate(ORIGIN).unwrap()),
    )
    .await
    .unwrap();
    let selection = || Selection::Matters(register(&[("M-3", &["conv-a", "conv-b"])]));
    let config = config(&export_name, selection(), "tags");
    let ctx = RunContext::new("event");
    let put = |key: String, body: Vec<u8>| {
        let export = export.clone();
        async move { export.put(PutRequest::new(key, body)).await.unwrap() }
    };
    let metadata_of = |conversation: &str| {
        serde_json::to_vec(&serde_json::json!({
            "conversationId": conversation, "recordingId": "rec", "mediaType": "Call",
        }))
        .unwrap()
    };
    let run = |start: StartingPoint| {
        let export = export.clone();
        let ledger = &ledger;
        let config = &config;
        let ctx = &ctx;
        async move { ingest(export, ledger, config, &start, ctx).await }
    };

    // Metadata first: its event finds the recording missing; the recording's own event, later,
    // records it and resolves the missing record.
    let recording_a = format!("{}rec.opus", folder("conv-a"));
    let metadata_a = format!("{recording_a}_metadata.json");
    put(metadata_a.clone(), metadata_of("conv-a")).await;
    let first = run(StartingPoint::ObjectArrived {
        key: metadata_a.clone(),
        version_id: None,
    })
    .await;
    let missing: Vec<_> = first
        .records
        .iter()
        .filter(|r| r.event == EventKind::Missing)
        .collect();
    assert_eq!(missing.len(), 1, "{}", first.summary());
    assert_eq!(missing[0].why.matter.as_deref(), Some("M-3"));
    let missing_id = missing[0].id.clone();
    put(recording_a.clone(), b"late audio".to_vec()).await;
    let late = run(StartingPoint::ObjectArrived {
        key: recording_a.clone(),
        version_id: None,
    })
    .await;
    assert!(late.recorded(), "{}", late.summary());
    let resolved: Vec<_> = appended(&late)
        .into_iter()
        .filter(|r| r.event == EventKind::Resolved)
        .collect();
    assert_eq!(resolved.len(), 1, "{}", late.summary());
    assert_eq!(resolved[0].what.key, recording_a);
    assert!(
        resolved[0]
            .outcome
            .detail
            .as_deref()
            .unwrap()
            .contains(&missing_id),
        "{:?}",
        resolved[0]
    );
    assert!(
        appended(&late)
            .iter()
            .any(|r| r.event == EventKind::Hashed && r.what.key == recording_a)
    );
    let again = run(StartingPoint::ObjectArrived {
        key: recording_a.clone(),
        version_id: None,
    })
    .await;
    assert_eq!(appended(&again).len(), 0, "{}", again.summary());

    // Recording first: its event records it at once (no metadata yet: the object alone); the
    // metadata's event then adds only what is new, and nothing is ever missing.
    let recording_b = format!("{}rec.opus", folder("conv-b"));
    let metadata_b = format!("{recording_b}_metadata.json");
    put(recording_b.clone(), b"early audio".to_vec()).await;
    let early = run(StartingPoint::ObjectArrived {
        key: recording_b.clone(),
        version_id: None,
    })
    .await;
    assert!(
        appended(&early)
            .iter()
            .any(|r| r.event == EventKind::Hashed && r.what.key == recording_b),
        "{}",
        early.summary()
    );
    put(metadata_b.clone(), metadata_of("conv-b")).await;
    let then = run(StartingPoint::ObjectArrived {
        key: metadata_b,
        version_id: None,
    })
    .await;
    assert!(then.recorded(), "{}", then.summary());
    assert!(
        !appended(&then)
            .iter()
            .any(|r| r.event == EventKind::Hashed && r.what.key == recording_b),
        "the recording's digest is not recorded twice: {}",
        then.summary()
    );

    let records = all_records(&ledger).await;
    let missing: Vec<_> = records
        .iter()
        .filter(|r| r.event == EventKind::Missing)
        .collect();
    let resolved: Vec<_> = records
        .iter()
        .filter(|r| r.event == EventKind::Resolved)
        .collect();
    assert_eq!(
        (missing.len(), resolved.len()),
        (1, 1),
        "every missing record resolved"
    );
    assert!(ledger.verify(None).await.is_intact());
}

/// Plain files (version `null`) in a versioned, Object-Lock folder, marked with metadata and
/// Object Lock: the exported null version is held, and a second run records nothing new.
#[tokio::test]
async fn plain_files_in_a_versioned_folder_get_one_hashed_record_each() {
    use custody_core::store::fs::FsStore;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("exports");
    let folder_store = FsStore::create(&root, LOCKED).unwrap();
    // Files copied in by hand, as an export downloaded to disk would be.
    let staging = MemoryStore::new("staging", BucketSpec::default());
    put_conversation(&staging, "conv-f", 2).await;
    let mut keys = Vec::new();
    for summary in staging.list(PREFIX).await.unwrap() {
        let path = root.join(&summary.key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, staging.get_bytes(&summary.key, None).await.unwrap()).unwrap();
        keys.push(summary.key);
    }
    let bucket = folder_store.location();
    let export: Arc<dyn ObjectStore> = Arc::new(folder_store);
    let ledger_dir = dir.path().join("ledger");
    std::fs::create_dir_all(&ledger_dir).unwrap();
    let ledger = Ledger::open(
        Arc::new(custody_core::store::fs::FsStore::open(&ledger_dir).unwrap()),
        "",
        LedgerConfig::new(ORIGIN),
        Some(Signer::generate(ORIGIN).unwrap()),
    )
    .await
    .unwrap();
    let name = export.bucket().to_string();
    let config = config(&name, Selection::Everything, "metadata,object-lock");
    let start = StartingPoint::ExportPrefix(PREFIX.to_string());
    for run in 1..=2 {
        let report = ingest(
            export.clone(),
            &ledger,
            &config,
            &start,
            &RunContext::new(&bucket),
        )
        .await;
        assert!(report.recorded(), "run {run}: {}", report.summary());
        let findings: Vec<String> = report
            .shown_findings
            .iter()
            .map(|f| format!("{}: {}", f.key, f.finding))
            .collect();
        assert!(findings.is_empty(), "run {run}: {findings:#?}");
        if run == 2 {
            assert_eq!(appended(&report).len(), 0, "run 2: {}", report.summary());
        }
    }
    let records = all_records(&ledger).await;
    for key in &keys {
        let hashed = records
            .iter()
            .filter(|r| r.event == EventKind::Hashed && &r.what.key == key)
            .count();
        assert_eq!(hashed, 1, "{key}");
        let head = export.head(key, Some("null")).await.unwrap();
        assert_eq!(
            head.legal_hold,
            Some(true),
            "{key}: the exported null version is held"
        );
    }
}
