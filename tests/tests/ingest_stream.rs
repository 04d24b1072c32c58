//! The streaming ingest (issue 9, item 2): records are submitted chunk by chunk as objects
//! complete, a run killed part-way leaves its submitted chunks pending, the next run integrates
//! them first and skips the versions they record without reading them, and a run can leave
//! integration to the integrator.

use std::sync::Arc;

use custody_core::export::{ExportScope, StartingPoint};
use custody_core::hold::{HoldPolicy, Marking, RunContext, Selection};
use custody_core::ingest::{IngestConfig, Integration, ProgressOutput, ingest};
use custody_core::ledger::{CustodyRecord, EventKind, Ledger, LedgerConfig, Signer};
use custody_core::store::fs::FsStore;
use custody_core::store::memory::MemoryStore;
use custody_core::store::{BucketSpec, ObjectStore};
use custody_tests::generated_export::{GENERATED_PREFIX, write_generated_export};
use custody_tests::watched::WatchedStore;

const ORIGIN: &str = "custody.test/stream";

fn config(bucket: &str, chunk_objects: usize) -> IngestConfig {
    IngestConfig {
        chunk_objects,
        // Chunks close on their size alone, so that their count is known.
        chunk_wait: std::time::Duration::from_secs(600),
        progress: ProgressOutput::Off,
        ..IngestConfig::new(
            ExportScope::new(bucket, GENERATED_PREFIX),
            HoldPolicy::new(
                Selection::Everything,
                Marking::parse("marking", "tags").unwrap(),
            ),
        )
    }
}

async fn all_records(ledger: &Ledger) -> Vec<CustodyRecord> {
    let mut records = Vec::new();
    ledger
        .for_each_record(|entry| records.extend(entry.record.ok()))
        .await
        .unwrap();
    records
}

async fn pending(ledger: &Ledger) -> usize {
    ledger
        .store()
        .list(&ledger.layout().submissions_prefix())
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_killed_after_some_chunks_leaves_them_pending_and_the_rerun_reads_under_15_percent() {
    const CONVERSATIONS: usize = 40;
    const OBJECTS: usize = 2 * CONVERSATIONS;
    // Whole folders of two objects: chunks of 8 objects, 10 chunks.
    const CHUNK: usize = 8;
    const KILLED_AFTER: usize = 9;
    let dir = tempfile::tempdir().unwrap();
    let export_dir = dir.path().join("export");
    let ledger_dir = dir.path().join("ledger");
    std::fs::create_dir_all(&ledger_dir).unwrap();
    let folder: Arc<dyn ObjectStore> =
        Arc::new(FsStore::create(&export_dir, BucketSpec::default()).unwrap());
    assert_eq!(
        write_generated_export(folder.as_ref(), CONVERSATIONS, 4096)
            .await
            .unwrap(),
        OBJECTS
    );
    let bucket = folder.bucket().to_string();
    let config = config(&bucket, CHUNK);
    let start = StartingPoint::ExportPrefix(GENERATED_PREFIX.to_string());
    let ctx = RunContext::new(folder.location());
    let ledger_store: Arc<dyn ObjectStore> = Arc::new(FsStore::open(&ledger_dir).unwrap());
    let signer = Signer::generate(ORIGIN).unwrap();

    // Run 1: the write of the 10th submission never completes, and the run is dropped there
    // (a process killed while its last chunk was in flight).
    let probe = Ledger::open(ledger_store.clone(), "", LedgerConfig::new(ORIGIN), None)
        .await
        .unwrap();
    let stalling = Arc::new(
        WatchedStore::new(ledger_store.clone())
            .stall_writes_after(&probe.layout().submissions_prefix(), KILLED_AFTER),
    );
    let stalled = stalling.stalled();
    let first_export = Arc::new(WatchedStore::new(folder.clone()));
    let first_ledger = Ledger::open(
        stalling.clone(),
        "",
        LedgerConfig::new(ORIGIN),
        Some(signer.clone()),
    )
    .await
    .unwrap();
    tokio::select! {
        report = ingest(first_export.clone(), &first_ledger, &config, &start, &ctx) => {
            panic!("the run was to be killed at its 10th chunk: {}", report.summary())
        }
        _ = stalled.notified() => {}
    }
    let first_read = first_export.bytes_read();
    assert!(first_read >= (CONVERSATIONS * 4096) as u64, "{first_read}");
    let ledger = Ledger::open(
        ledger_store.clone(),
        "",
        LedgerConfig::new(ORIGIN),
        Some(signer),
    )
    .await
    .unwrap();
    assert_eq!(
        pending(&ledger).await,
        KILLED_AFTER,
        "the chunks made durable"
    );
    assert!(
        all_records(&ledger).await.is_empty(),
        "nothing was integrated"
    );

    // Run 2: integrates the killed run's chunks first, skips what they record, finishes.
    let second_export = Arc::new(WatchedStore::new(folder.clone()));
    let report = ingest(second_export.clone(), &ledger, &config, &start, &ctx).await;
    assert!(report.recorded(), "{}", report.summary());
    let account = report.ledger.as_ref().unwrap();
    assert_eq!(
        account.earlier_integrated,
        KILLED_AFTER,
        "{}",
        report.summary()
    );
    assert_eq!(report.skipped, KILLED_AFTER * CHUNK, "{}", report.summary());
    assert_eq!(report.objects, OBJECTS - KILLED_AFTER * CHUNK);
    assert!(account.pending.is_empty() && account.submissions.len() == 1);
    let second_read = second_export.bytes_read();
    assert!(
        (second_read as f64) < 0.15 * first_read as f64,
        "the re-run read {second_read} bytes, the killed run {first_read}"
    );
    assert!(second_read > 0, "the chunk lost in flight is read again");
    assert_eq!(pending(&ledger).await, 0);

    // Every object recorded: observed and hashed once each, held once; the ledger verifies.
    let records = all_records(&ledger).await;
    for event in [
        EventKind::Observed,
        EventKind::Hashed,
        EventKind::HoldApplied,
    ] {
        let mut keys: Vec<&str> = records
            .iter()
            .filter(|r| r.event == event)
            .map(|r| r.what.key.as_str())
            .collect();
        let all = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!((all, keys.len()), (OBJECTS, OBJECTS), "{event:?}");
    }
    let attested = records
        .iter()
        .filter(|r| r.event == EventKind::Attested)
        .count();
    assert_eq!(attested, CONVERSATIONS, "one attestation per folder");
    assert!(ledger.verify(None).await.is_intact());

    // A third run reads nothing at all.
    let third_export = Arc::new(WatchedStore::new(folder.clone()));
    let report = ingest(third_export.clone(), &ledger, &config, &start, &ctx).await;
    assert!(report.recorded(), "{}", report.summary());
    assert_eq!((report.skipped, report.objects), (OBJECTS, 0));
    assert_eq!(third_export.bytes_read(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn submitting_only_leaves_the_chunks_to_the_integrator() {
    let export: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new("exports", BucketSpec::default()));
    write_generated_export(export.as_ref(), 12, 64)
        .await
        .unwrap();
    let ledger = Ledger::open(
        Arc::new(MemoryStore::new("ledger", BucketSpec::default())),
        "ledger",
        LedgerConfig::new(ORIGIN),
        Some(Signer::generate(ORIGIN).unwrap()),
    )
    .await
    .unwrap();
    let start = StartingPoint::ExportPrefix(GENERATED_PREFIX.to_string());
    let ctx = RunContext::new("memory://exports/org-1/");
    let submit_only = IngestConfig {
        integration: Integration::SubmitOnly,
        ..config("exports", 6)
    };
    let report = ingest(export.clone(), &ledger, &submit_only, &start, &ctx).await;
    assert!(report.recorded(), "{}", report.summary());
    let account = report.ledger.as_ref().unwrap();
    assert_eq!(account.submissions.len(), 4, "{}", report.summary());
    assert_eq!(account.pending, account.submissions);
    assert_eq!(account.appended, 0);
    assert_eq!(pending(&ledger).await, 4);
    assert!(all_records(&ledger).await.is_empty());
    assert!(
        report
            .summary()
            .to_string()
            .contains("left to the integrator")
    );

    // The integrator folds them in; every record of the run is then in the ledger.
    ledger.integrate_all(None).await.unwrap();
    assert_eq!(pending(&ledger).await, 0);
    let ids: Vec<String> = report.records.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), report.records_total);
    let found = ledger.locate_many(&ids).await.unwrap();
    assert_eq!(found.len(), ids.len());

    // An inline re-run finds every version recorded and reads nothing.
    let again = ingest(export, &ledger, &config("exports", 6), &start, &ctx).await;
    assert!(again.recorded(), "{}", again.summary());
    assert_eq!(
        (again.skipped, again.objects, again.records_total),
        (24, 0, 0)
    );
    assert!(again.summary().to_string().contains("24 already recorded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_version_left_unfinished_is_not_skipped_by_the_next_run() {
    use custody_core::store::StoreErrorKind;
    use custody_core::store::faulty::{Fault, FaultyStore, Rule};
    let memory: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new("exports", BucketSpec::default()));
    write_generated_export(memory.as_ref(), 3, 64)
        .await
        .unwrap();
    let faulty = Arc::new(FaultyStore::new(memory.clone()));
    // Tagging fails transiently for longer than the run's own retries: those objects are left
    // for the next run, which must not take them for recorded.
    faulty.inject(Rule::on(
        "PutObjectTagging",
        u32::MAX,
        Fault::Refuse(StoreErrorKind::Transient, "SlowDown"),
    ));
    let ledger = Ledger::open(
        Arc::new(MemoryStore::new("ledger", BucketSpec::default())),
        "ledger",
        LedgerConfig::new(ORIGIN),
        Some(Signer::generate(ORIGIN).unwrap()),
    )
    .await
    .unwrap();
    let start = StartingPoint::ExportPrefix(GENERATED_PREFIX.to_string());
    let ctx = RunContext::new("memory://exports/org-1/");
    let first = ingest(
        faulty.clone(),
        &ledger,
        &config("exports", 100),
        &start,
        &ctx,
    )
    .await;
    assert!(first.needs_retry(), "{}", first.summary());
    assert!(
        first.records.iter().all(|r| r.event != EventKind::Observed),
        "no observed record for an unfinished object"
    );
    // The same bucket without the faults.
    let second = ingest(memory, &ledger, &config("exports", 100), &start, &ctx).await;
    assert!(
        second.recorded() && !second.needs_retry(),
        "{}",
        second.summary()
    );
    assert_eq!(
        (second.skipped, second.objects),
        (0, 6),
        "{}",
        second.summary()
    );
    let records = all_records(&ledger).await;
    let held = records
        .iter()
        .filter(|r| r.event == EventKind::HoldApplied)
        .count();
    assert_eq!(held, 6);
}
