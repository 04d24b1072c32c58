//! The main job: from one starting point in an export, through discovery, hold marking and
//! hashing, into the custody ledger. The Lambda functions and the CLI call this and nothing else.
//!
//! The run streams (`docs/records.md`, "Runs, chunks and re-runs"): discovery delivers units (a
//! conversation folder, a part of a manifest; listings read page by page) into a bounded queue;
//! units are gathered into chunks, each chunk looked up in the ledger (versions already
//! recorded are skipped unread), marked and hashed with bounded concurrency, and submitted as
//! one submission ([`Ledger::submit`]). Memory is flat in the size of the export, and a crash
//! loses at most the chunk in flight: what was submitted stays pending until an integrator (or
//! the next run, inline) folds it into the ledger.
//!
//! | module | concept |
//! |---|---|
//! | `chunks` | gathering units into chunks, submitting, counting into the report |
//! | `unit` | one unit through marking and hashing into records |
//! | `skip` | re-runs skipping recorded versions |
//! | `integration` | inline integration or submitting only |
//! | `progress` | the periodic progress line |
//! | `records`, `attest`, `late_arrival`, `released` | the records of a unit |
//! | `report` | the bounded account of a run |

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::digest::{DigestEngine, HashOptions};
use crate::export::{ExportScope, StartingPoint, discover_units};
use crate::hold::{CopyClaims, HoldPolicy, RunContext};
use crate::ledger::Ledger;
use crate::store::ObjectStore;
use crate::store::retrying::{RetryPolicy, RetryingStore};

mod attest;
mod chunks;
mod integration;
mod late_arrival;
mod progress;
pub mod records;
mod released;
mod report;
mod skip;
pub mod superseded;
mod unit;

pub use chunks::{CHUNK_OBJECTS, CHUNK_WAIT};
pub use integration::{Integration, RunLedger};
pub use progress::{PROGRESS_EVERY, Progress, ProgressOutput, ProgressSnapshot, human_bytes};
pub use records::hashed_record;
pub use report::{IngestReport, ObjectLine, RunError, SHOWN, ShownFinding};

/// Discovery units queued ahead of the chunk being processed.
const UNITS_QUEUED: usize = 64;

/// What one ingest run is allowed to touch and how it marks, hashes and records.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub scope: ExportScope,
    pub policy: HoldPolicy,
    pub hash: HashOptions,
    pub hold_concurrency: usize,
    /// Integrate the run's submissions (inline) or leave them to the integrator.
    pub integration: Integration,
    /// Skip versions the ledger already records (`ingest::skip`); off to re-apply a changed
    /// policy to recorded versions.
    pub skip_recorded: bool,
    /// Where the periodic progress line goes.
    pub progress: ProgressOutput,
    /// Counters shared with the caller, who draws its own progress from
    /// [`Progress::snapshot`] (a fresh set when `None`).
    pub progress_counters: Option<Arc<Progress>>,
    /// Objects a chunk gathers before it is submitted ([`CHUNK_OBJECTS`]); whole units only.
    pub chunk_objects: usize,
    /// How long a chunk waits for discovery before it is submitted anyway ([`CHUNK_WAIT`]).
    pub chunk_wait: std::time::Duration,
}

impl IngestConfig {
    /// A configuration with the defaults: hold concurrency, inline integration, skipping
    /// recorded versions, progress logged.
    pub fn new(scope: ExportScope, policy: HoldPolicy) -> Self {
        IngestConfig {
            scope,
            policy,
            hash: HashOptions::default(),
            hold_concurrency: crate::hold::DEFAULT_HOLD_CONCURRENCY,
            integration: Integration::Inline,
            skip_recorded: true,
            progress: ProgressOutput::Log,
            progress_counters: None,
            chunk_objects: CHUNK_OBJECTS,
            chunk_wait: CHUNK_WAIT,
        }
    }
}

/// Run the main job for one starting point. Problems with single objects become findings and
/// records; transient failures become [`crate::hold::Finding::Retry`] (no record; the caller
/// retries); a mistake about the run itself (no such bucket, bad credentials) stops the run and
/// is [`IngestReport::run_error`]; a ledger that cannot be written is reported as such.
pub async fn ingest(
    export: Arc<dyn ObjectStore>,
    ledger: &Ledger,
    config: &IngestConfig,
    start: &StartingPoint,
    ctx: &RunContext,
) -> IngestReport {
    // Transient failures are retried in the run before they leave a step unfinished.
    let export: Arc<dyn ObjectStore> = Arc::new(RetryingStore::new(export, RetryPolicy::default()));
    let mut account = RunLedger::new(config.integration);
    let size_before = match config.integration {
        Integration::Inline => integration::integrate_earlier(ledger, &mut account).await,
        Integration::SubmitOnly => u64::MAX,
    };
    let mut report = IngestReport::new(ctx.source.clone(), account);
    let versions = superseded::LazyRecordedVersions::new(ledger, &config.scope.bucket);
    let progress = config.progress_counters.clone().unwrap_or_default();
    let env = unit::RunEnv {
        export: export.clone(),
        ledger,
        config,
        start,
        ctx,
        hashing: DigestEngine::new(export.clone(), config.hash.clone()),
        claims: CopyClaims::new(ledger.store().as_ref(), ledger.layout().prefix()),
        progress: &progress,
        versions: &versions,
        bucket_config: if config.policy.marking.object_lock {
            Some(export.bucket_config().await)
        } else {
            None
        },
    };
    let (sink, units) = mpsc::channel(UNITS_QUEUED);
    let discovery = async move {
        discover_units(export.as_ref(), &config.scope, start, &sink).await;
    };
    let pipeline = async {
        let (_, stop) = tokio::join!(discovery, chunks::run_chunks(&env, units, &mut report));
        stop
    };
    let stop = {
        let mut stop = None;
        progress
            .tick_until(config.progress, async { stop = pipeline.await })
            .await;
        stop
    };
    if let Some(why) = versions.unavailable() {
        tracing::warn!(why, "earlier versions of the objects cannot be looked up");
        report
            .notes
            .push(format!("superseded versions were not looked for: {why}"));
    }
    match stop {
        Some(chunks::Stop::Run(error)) => report.run_error = Some(error),
        Some(chunks::Stop::Ledger(error)) => report.ledger = Err(error),
        None => {}
    }
    if config.integration == Integration::Inline
        && let Ok(account) = report.ledger.as_mut()
    {
        let shown: Vec<String> = report.records.iter().map(|r| r.id.clone()).collect();
        if let Err(e) = integration::integrate_run(ledger, account, &shown, size_before).await {
            report.ledger = Err(e);
        }
    } else if let Ok(account) = report.ledger.as_mut() {
        account.pending = account.submissions.clone();
    }
    if config.progress != ProgressOutput::Off && progress_worth_a_line(&report) {
        progress.emit(config.progress);
    }
    report
}

/// A final progress line only for runs long enough to have shown one.
fn progress_worth_a_line(report: &IngestReport) -> bool {
    report.objects + report.skipped >= 1_000
}
