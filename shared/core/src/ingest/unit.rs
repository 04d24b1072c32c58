//! One discovery unit (a conversation folder, a part of a manifest, ...) through marking and
//! hashing into its custody records.
//!
//! Marking and hashing run side by side: hashing reads the pinned (exported) version, which no
//! marking step changes (a metadata copy makes a new version; tags and legal hold are not
//! content). An object left with a transient failure ([`Finding::Retry`]) gives no `observed`
//! record: its `observed` record in the ledger therefore means that every step of the object
//! finished, which is what lets a re-run skip it (`ingest::skip`).

use std::sync::Arc;

use futures::{StreamExt, stream};

use super::progress::Progress;
use super::{IngestConfig, attest, late_arrival, released};
use crate::digest::{Check, DigestEngine, DigestError, ObjectDigest};
use crate::export::{Discovery, DiscoveryUnit, StartingPoint};
use crate::hold::{CopyClaims, Finding, HoldEngine, HoldReport, ObjectOutcome, RunContext};
use crate::ledger::{CustodyRecord, EventKind, Ledger};
use crate::store::ObjectStore;

use super::records::hashed_record;
use super::superseded::{LazyRecordedVersions, find_successors};

/// What a run shares across its units.
pub(super) struct RunEnv<'a> {
    pub export: Arc<dyn ObjectStore>,
    pub ledger: &'a Ledger,
    pub config: &'a IngestConfig,
    pub start: &'a StartingPoint,
    pub ctx: &'a RunContext,
    pub hashing: DigestEngine,
    pub claims: CopyClaims<'a>,
    pub progress: &'a Progress,
    /// The versions the ledger recorded, looked up by key (`ingest::superseded`), opened when a
    /// unit first hashes something.
    pub versions: &'a LazyRecordedVersions<'a>,
    /// The export bucket's configuration, read once per run when Object Lock marks.
    pub bucket_config: Option<Result<crate::store::BucketConfig, crate::store::StoreError>>,
}

/// One unit, processed.
pub(super) struct UnitDone {
    pub hold: HoldReport,
    pub digests: Vec<Option<Result<ObjectDigest, DigestError>>>,
    /// The unit's records, attestations last.
    pub records: Vec<CustodyRecord>,
}

/// Complete, mark, hash and record one unit.
pub(super) async fn process_unit(env: &RunEnv<'_>, unit: DiscoveryUnit) -> UnitDone {
    let part = unit.part;
    let discovery = unit.complete(env.export.as_ref(), &env.config.scope).await;
    let mut ctx = env.ctx.clone();
    if ctx.export_job.is_none() {
        ctx.export_job = discovery.export_job_id.clone();
    }
    let released = match released::released_holds(
        env.ledger,
        &env.config.policy,
        &env.config.scope.bucket,
        &discovery,
    )
    .await
    {
        Ok(released) => released,
        // Without knowing what was released, marking could re-apply a released hold: every
        // object of the unit is left for the retry.
        Err(e) => return unfinished(&discovery, &e.to_string()),
    };
    let mut engine = HoldEngine::new(env.export.as_ref(), &env.config.policy)
        .with_concurrency(env.config.hold_concurrency)
        .with_hasher(&env.hashing)
        .with_released(&released)
        .with_copy_claims(&env.claims);
    if let Some(config) = &env.bucket_config {
        engine = engine.with_bucket_config(config);
    }
    // Discovery's HEAD of each present object pins the version hashed: no second HEAD.
    let hash_all = stream::iter(discovery.objects.iter().map(|object| async move {
        let head = object.head()?;
        let digest = env.hashing.hash_head(head.clone()).await;
        if let Ok(d) = &digest {
            env.progress.hashed(d.size);
        }
        Some(digest)
    }))
    .buffered(env.config.hash.object_concurrency.max(1))
    .collect::<Vec<_>>();
    // Boxed: the futures of one unit are large, and a run holds several at once.
    let (mut hold, digests) = tokio::join!(Box::pin(engine.run(&discovery)), hash_all);
    env.progress.marked(hold.outcomes.len());
    // Before any record is made: a successor's records say whose successor it is.
    Box::pin(find_successors(
        env.versions,
        env.ledger,
        &env.config.scope.bucket,
        &mut hold.outcomes,
        &digests,
    ))
    .await;

    let mut records = Vec::new();
    for ((outcome, digest), object) in hold
        .outcomes
        .iter_mut()
        .zip(&digests)
        .zip(&discovery.objects)
    {
        let mut hashed = None;
        let unknown_succession = outcome
            .findings
            .iter()
            .any(|f| matches!(f, Finding::Retry { action, .. } if action == "ReadLedger"));
        match digest {
            Some(Ok(_)) if unknown_succession => {}
            Some(Ok(digest)) => {
                outcome.findings.extend(digest_findings(outcome, digest));
                hashed = Some(hashed_record(outcome, digest, &ctx));
            }
            Some(Err(error)) => {
                let versioned = outcome.observed.version_id.is_some();
                let kms = object
                    .head()
                    .and_then(|h| h.encryption.as_ref())
                    .is_some_and(|e| e.is_kms());
                outcome
                    .findings
                    .push(hash_failure(env.export.as_ref(), error, versioned, kms))
            }
            None => {}
        }
        let unfinished = outcome
            .findings
            .iter()
            .any(|f| matches!(f, Finding::Retry { .. }));
        records.extend(
            outcome
                .to_records(&ctx)
                .into_iter()
                // `observed` only for an object whose every step finished.
                .filter(|r| !(unfinished && r.event == EventKind::Observed)),
        );
        records.extend(hashed);
    }
    let rejected = HoldReport {
        outcomes: Vec::new(),
        rejected_entries: hold.rejected_entries.clone(),
    };
    records.extend(rejected.to_records(&ctx, &env.config.scope.bucket));
    // Back-fills (a whole prefix, a manifest) skip the per-object lookup; the runs that follow
    // an object's arrival (its event, its folder, its metadata) resolve earlier `missing` records.
    if !matches!(
        env.start,
        StartingPoint::ExportPrefix(_) | StartingPoint::Manifest(_)
    ) {
        match late_arrival::resolutions(env.ledger, &hold.outcomes, &ctx).await {
            Ok(resolved) => records.extend(resolved),
            Err(e) => tracing::warn!(error = %e, "could not look up earlier missing records"),
        }
    }
    // Last, so that every record an attestation summarises comes before it (in the same
    // submission, which the integrator appends in order).
    records.extend(attest::attestations(
        env.start,
        part,
        &env.config.scope.bucket,
        &hold.outcomes,
        &digests,
        &ctx,
    ));
    UnitDone {
        hold,
        digests,
        records,
    }
}

/// Every object of a unit left for a retry (the ledger could not be read before marking).
fn unfinished(discovery: &Discovery, why: &str) -> UnitDone {
    let outcomes = discovery
        .objects
        .iter()
        .map(|object| {
            let mut outcome = ObjectOutcome::from_discovered(object);
            outcome.findings.push(Finding::Retry {
                action: "ReadLedger".to_string(),
                message: format!("released holds could not be looked up: {why}"),
            });
            outcome
        })
        .collect::<Vec<_>>();
    UnitDone {
        digests: outcomes.iter().map(|_| None).collect(),
        hold: HoldReport {
            outcomes,
            rejected_entries: Vec::new(),
        },
        records: Vec::new(),
    }
}

/// The digest disagreeing with the ETag, the stored checksum or the manifest's expectation.
fn digest_findings(outcome: &ObjectOutcome, digest: &ObjectDigest) -> Vec<Finding> {
    let mut findings = Vec::new();
    let stored = match &digest.cross_check {
        crate::digest::CrossCheck::StoredChecksum { algorithm } => {
            format!("stored full-object {algorithm} checksum")
        }
        crate::digest::CrossCheck::CompositeChecksum { algorithm, parts } => {
            format!("stored composite {algorithm} checksum over {parts} parts")
        }
        _ => "stored checksum".to_string(),
    };
    let etag = match &digest.cross_check {
        crate::digest::CrossCheck::MultipartEtag { parts } => {
            format!("multipart ETag over {parts} parts (MD5 of the part MD5s)")
        }
        _ => "ETag (MD5 of the content)".to_string(),
    };
    for (what, check) in [
        (etag.as_str(), &digest.etag_check),
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
