//! The main job: from one starting point in an export, through discovery, hold marking and
//! hashing, into the custody ledger. The Lambda functions and the CLI call this and nothing else.
//!
//! Marking and hashing run side by side: hashing reads the pinned (exported) version, which no
//! marking step changes (a metadata copy makes a new version; tags and legal hold are not content).

use std::sync::Arc;

use futures::{StreamExt, stream};

use crate::digest::{Check, DigestEngine, DigestError, HashOptions, ObjectDigest};
use crate::export::{ExportScope, ObjectState, StartingPoint, discover};
use crate::hold::{CopyClaims, Finding, HoldEngine, HoldPolicy, ObjectOutcome, RunContext};
use crate::ledger::Ledger;
use crate::store::ObjectStore;
use crate::store::retrying::{RetryPolicy, RetryingStore};

mod attest;
mod late_arrival;
pub mod records;
mod released;
mod report;

pub use records::hashed_record;
pub use report::{IngestReport, RunError};

/// What one ingest run is allowed to touch and how it marks and hashes.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub scope: ExportScope,
    pub policy: HoldPolicy,
    pub hash: HashOptions,
    pub hold_concurrency: usize,
}

/// Run the main job for one starting point. Problems with single objects become findings and
/// records; transient failures become [`Finding::Retry`] (no record; the caller retries); a
/// mistake about the run itself (no such bucket, bad credentials) appends nothing and is
/// [`IngestReport::run_error`]; a ledger that cannot be written is reported as such.
pub async fn ingest(
    export: Arc<dyn ObjectStore>,
    ledger: &Ledger,
    config: &IngestConfig,
    start: &StartingPoint,
    ctx: &RunContext,
) -> IngestReport {
    // Transient failures are retried in the run before they leave a step unfinished.
    let export: Arc<dyn ObjectStore> = Arc::new(RetryingStore::new(export, RetryPolicy::default()));
    let discovery = discover(export.as_ref(), &config.scope, start).await;
    if let Some(error) = discovery.objects.iter().find_map(|o| match &o.state {
        ObjectState::Unreadable(e) if RunError::concerns_the_run(e) => Some(e.clone()),
        _ => None,
    }) {
        return IngestReport::run_failed(ctx.source.clone(), discovery, RunError::Store(error));
    }
    let mut ctx = ctx.clone();
    if ctx.export_job.is_none() {
        ctx.export_job = discovery.export_job_id.clone();
    }

    let released =
        match released::released_holds(ledger, &config.policy, &config.scope.bucket, &discovery)
            .await
        {
            Ok(released) => released,
            // Without knowing what was released, marking could re-apply a released hold: retry.
            Err(e) => {
                return IngestReport::run_failed(
                    ctx.source.clone(),
                    discovery,
                    RunError::Ledger(e.to_string()),
                );
            }
        };
    let hashing = DigestEngine::new(export.clone(), config.hash.clone());
    let claims = CopyClaims::new(ledger.store().as_ref(), ledger.layout().prefix());
    let engine = HoldEngine::new(export.as_ref(), &config.policy)
        .with_concurrency(config.hold_concurrency)
        .with_hasher(&hashing)
        .with_released(&released)
        .with_copy_claims(&claims);
    // Discovery's HEAD of each present object pins the version hashed: no second HEAD.
    let hash_all = stream::iter(discovery.objects.iter().map(|object| {
        let hashing = &hashing;
        async move {
            match object.head() {
                Some(head) => Some(hashing.hash_head(head.clone()).await),
                None => None,
            }
        }
    }))
    .buffered(config.hash.object_concurrency.max(1))
    .collect::<Vec<_>>();
    let (mut hold, digests) = tokio::join!(engine.run(&discovery), hash_all);

    let mut hashed_records = Vec::new();
    let objects = hold
        .outcomes
        .iter_mut()
        .zip(&digests)
        .zip(&discovery.objects);
    for ((outcome, digest), object) in objects {
        match digest {
            Some(Ok(digest)) => {
                outcome.findings.extend(digest_findings(outcome, digest));
                hashed_records.push(hashed_record(outcome, digest, &ctx));
            }
            Some(Err(error)) => {
                let versioned = outcome.observed.version_id.is_some();
                let kms = object
                    .head()
                    .and_then(|h| h.encryption.as_ref())
                    .is_some_and(|e| e.is_kms());
                outcome
                    .findings
                    .push(hash_failure(export.as_ref(), error, versioned, kms))
            }
            None => {}
        }
    }

    let mut records = hold.to_records(&ctx, &config.scope.bucket);
    records.extend(hashed_records);
    // Back-fills (a whole prefix, a manifest) skip the per-object lookup; the runs that follow
    // an object's arrival (its event, its folder, its metadata) resolve earlier `missing` records.
    if !matches!(
        start,
        StartingPoint::ExportPrefix(_) | StartingPoint::Manifest(_)
    ) {
        match late_arrival::resolutions(ledger, &hold.outcomes, &ctx).await {
            Ok(resolved) => records.extend(resolved),
            Err(e) => tracing::warn!(error = %e, "could not look up earlier missing records"),
        }
    }
    // Last, so that every record an attestation summarises comes before it.
    records.extend(attest::attestations(
        start,
        &config.scope.bucket,
        &hold.outcomes,
        &digests,
        &ctx,
    ));
    let ledger_result = ledger.append(records.clone()).await;
    IngestReport {
        source: ctx.source.clone(),
        discovery,
        hold,
        digests,
        records,
        ledger: ledger_result,
        run_error: None,
    }
}

/// The digest disagreeing with the ETag, the stored checksum or the manifest's expectation.
fn digest_findings(outcome: &ObjectOutcome, digest: &ObjectDigest) -> Vec<Finding> {
    let mut findings = Vec::new();
    let stored = match &digest.cross_check {
        crate::digest::CrossCheck::StoredChecksum { algorithm } => {
            format!("stored full-object {algorithm} checksum")
        }
        _ => "stored checksum".to_string(),
    };
    for (what, check) in [
        ("ETag (MD5 of the content)", &digest.etag_check),
        (stored.as_str(), &digest.checksum_check),
    ] {
        if let Check::Mismatch { expected, actual } = check {
            findings.push(Finding::Mismatch {
                what: what.to_string(),
                expected: expected.clone(),
                actual: actual.clone(),
            });
        }
    }
    if let Some(expected) = &outcome.observed.expected_sha256
        && !expected.eq_ignore_ascii_case(&digest.sha256_hex)
    {
        findings.push(Finding::Mismatch {
            what: "SHA-256 expected by the manifest".to_string(),
            expected: expected.to_ascii_lowercase(),
            actual: digest.sha256_hex.clone(),
        });
    }
    findings
}

fn hash_failure(
    store: &dyn ObjectStore,
    error: &DigestError,
    versioned: bool,
    kms: bool,
) -> Finding {
    match error.store_error() {
        Some(store_error) => match Finding::from_store_error(store, store_error, versioned, kms) {
            Finding::Failed {
                action,
                code,
                likely_permission,
                ..
            } => Finding::Failed {
                action,
                code,
                likely_permission,
                message: format!("hashing failed: {error}"),
            },
            retry => retry,
        },
        None => Finding::Failed {
            action: "GetObject".to_string(),
            code: None,
            likely_permission: None,
            message: format!("hashing failed: {error}"),
        },
    }
}
