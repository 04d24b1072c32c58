//! Ingest through a fault-injecting proxy in front of SeaweedFS (issue 10's must-show): 10% of
//! the connections to both buckets are reset, answered 503 SlowDown or 500 InternalError, or cut
//! mid-answer, and another 10% are delayed. Over an export of 1,000 objects, runs are repeated
//! until none is left to retry; then every object is marked, hashed and recorded exactly once,
//! and no `failed` record was written for a transient fault.

use std::collections::BTreeMap;
use std::sync::Arc;

use custody_aws::s3::S3Store;
use custody_core::digest::HashOptions;
use custody_core::export::{ExportScope, StartingPoint};
use custody_core::hold::{DEFAULT_HOLD_CONCURRENCY, HoldPolicy, Marking, RunContext, Selection};
use custody_core::ingest::{IngestConfig, ingest};
use custody_core::ledger::{EventKind, Ledger, LedgerConfig, Signer};
use custody_core::store::retrying::{RetryPolicy, RetryingStore};
use custody_core::store::{ObjectStore, PutRequest};
use custody_tests::fault_proxy::FaultProxy;
use custody_tests::{Identity, LOCKED, SeaweedFs};
use futures::{StreamExt, stream};

const ORIGIN: &str = "custody.test/faults";
const PREFIX: &str = "org-1/";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_objects_through_ten_percent_faults_end_recorded_exactly_once() {
    let server = SeaweedFs::shared().await;
    let (export_name, ledger_name) = server
        .export_and_ledger("faults-export", LOCKED)
        .await
        .unwrap();

    // 100 conversations of 5 recordings, each with its metadata: 1,000 objects, written directly.
    let direct: Arc<dyn ObjectStore> = Arc::new(server.store(&export_name).await);
    let mut puts = Vec::new();
    for c in 0..100 {
        let conversation = format!("conv-{c:03}");
        let folder =
            format!("{PREFIX}year=2024/month=06/day=01/hour=12/conversation_id={conversation}/");
        for r in 0..5 {
            let recording = format!("{conversation}-rec-{r}");
            let key = format!("{folder}{recording}.opus");
            let metadata =
                serde_json::json!({"conversationId": conversation, "recordingId": recording});
            puts.push(PutRequest::new(
                format!("{key}_metadata.json"),
                serde_json::to_vec(&metadata).unwrap(),
            ));
            puts.push(PutRequest::new(
                key,
                format!("audio of {recording}").into_bytes(),
            ));
        }
    }
    let objects = puts.len();
    stream::iter(puts)
        .for_each_concurrent(16, |put| {
            let direct = direct.clone();
            async move {
                direct.put(put).await.unwrap();
            }
        })
        .await;

    let proxy = FaultProxy::start(&server.endpoint(), 0.10, 0xfa_u64)
        .await
        .unwrap();
    let through = |bucket: &str| {
        let mut options = server.s3_options(bucket, Identity::Admin);
        options.endpoint = Some(proxy.endpoint());
        options
    };
    let export: Arc<dyn ObjectStore> = Arc::new(S3Store::connect(&through(&export_name)).await);
    // As the services wire it: the ledger's reads retried in the run.
    let ledger_store: Arc<dyn ObjectStore> =
        Arc::new(S3Store::connect(&through(&ledger_name)).await);
    let ledger = Ledger::open(
        Arc::new(RetryingStore::new(ledger_store, RetryPolicy::default())),
        "ledger",
        LedgerConfig::new(ORIGIN),
        Some(Signer::generate(ORIGIN).unwrap()),
    )
    .await
    .unwrap();
    let config = IngestConfig {
        hash: HashOptions::default(),
        hold_concurrency: DEFAULT_HOLD_CONCURRENCY,
        ..IngestConfig::new(
            ExportScope::new(&export_name, PREFIX),
            HoldPolicy::new(
                Selection::Everything,
                Marking::parse("marking", "tags,object-lock").unwrap(),
            ),
        )
    };
    let start = StartingPoint::ExportPrefix(PREFIX.to_string());
    let ctx = RunContext::new(format!("s3://{export_name}/{PREFIX}"));
    let mut runs = 0;
    loop {
        runs += 1;
        let report = ingest(export.clone(), &ledger, &config, &start, &ctx).await;
        let finished = report.recorded() && !report.needs_retry() && report.run_error.is_none();
        eprintln!("run {runs}: {}", report.summary());
        if finished {
            break;
        }
        assert!(
            runs < 8,
            "still unfinished after {runs} runs: {}",
            report.summary()
        );
    }
    assert!(
        proxy.faults() > 20,
        "only {} faults injected",
        proxy.faults()
    );

    // Read the ledger back directly (no faults), and the objects too.
    let clean_ledger = Ledger::open(
        Arc::new(server.store(&ledger_name).await),
        "ledger",
        LedgerConfig::new(ORIGIN),
        None,
    )
    .await
    .unwrap();
    let mut per_kind: BTreeMap<EventKind, BTreeMap<String, usize>> = BTreeMap::new();
    clean_ledger
        .for_each_record(|entry| {
            let record = entry.record.expect("every record parses");
            *per_kind
                .entry(record.event)
                .or_default()
                .entry(record.what.key.clone())
                .or_default() += 1;
        })
        .await
        .unwrap();
    assert!(
        !per_kind.contains_key(&EventKind::Failed),
        "a transient fault was recorded as a failure: {:?}",
        per_kind.get(&EventKind::Failed)
    );
    for kind in [
        EventKind::Observed,
        EventKind::Hashed,
        EventKind::HoldApplied,
    ] {
        let keys = per_kind.get(&kind).cloned().unwrap_or_default();
        assert_eq!(keys.len(), objects, "{kind:?}: {} objects", keys.len());
        let twice: Vec<_> = keys.iter().filter(|(_, n)| **n != 1).collect();
        assert!(
            twice.is_empty(),
            "{kind:?} recorded more than once: {twice:?}"
        );
    }
    for summary in direct.list(PREFIX).await.unwrap() {
        let head = direct.head(&summary.key, None).await.unwrap();
        assert_eq!(head.legal_hold, Some(true), "{}", summary.key);
        let tags = direct.get_tags(&summary.key, None).await.unwrap();
        assert!(
            tags.iter().any(|t| t.key == "legal-hold"),
            "{}",
            summary.key
        );
    }
    assert!(clean_ledger.verify(None).await.is_intact());
}
