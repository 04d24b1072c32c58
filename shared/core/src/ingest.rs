//! The main job: from one starting point in an export, through discovery, hold marking and
//! hashing, into the custody ledger. The Lambda functions and the CLI call this and nothing else.
//!
//! Marking and hashing run side by side: hashing reads the pinned (exported) version, which no
//! marking step changes (a metadata copy makes a new version; tags and legal hold are not content).

use std::sync::Arc;

use futures::{StreamExt, stream};

use crate::digest::{Check, DigestEngine, DigestError, HashOptions, ObjectDigest};
use crate::export::{Discovery, ExportScope, StartingPoint, discover};
use crate::hold::{Finding, HoldEngine, HoldPolicy, HoldReport, ObjectOutcome, RunContext};
use crate::ledger::{AppendOutcome, CustodyRecord, EventKind, Ledger, LedgerError, Outcome, What};
use crate::store::ObjectStore;

/// What one ingest run is allowed to touch and how it marks and hashes.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub scope: ExportScope,
    pub policy: HoldPolicy,
    pub hash: HashOptions,
    pub hold_concurrency: usize,
}

/// Everything one run did, for the caller's report and exit status.
#[derive(Debug)]
pub struct IngestReport {
    pub source: String,
    pub discovery: Discovery,
    pub hold: HoldReport,
    /// One entry per hold outcome: the digest of its pinned version, or why there is none.
    pub digests: Vec<Option<Result<ObjectDigest, DigestError>>>,
    pub records: Vec<CustodyRecord>,
    pub ledger: Result<AppendOutcome, LedgerError>,
}

impl IngestReport {
    /// Objects with at least one finding a person must look at.
    pub fn objects_with_findings(&self) -> usize {
        self.hold
            .outcomes
            .iter()
            .filter(|o| !o.findings.is_empty())
            .count()
    }

    /// Whether the run recorded everything it found (findings included) in the ledger.
    pub fn recorded(&self) -> bool {
        self.ledger.as_ref().is_ok_and(|a| a.rejected.is_empty())
    }
}

/// Run the main job for one starting point. Never fails as a whole: problems with single objects
/// become findings and records; only a ledger that cannot be written is reported as such.
pub async fn ingest(
    export: Arc<dyn ObjectStore>,
    ledger: &Ledger,
    config: &IngestConfig,
    start: &StartingPoint,
    ctx: &RunContext,
) -> IngestReport {
    let discovery = discover(export.as_ref(), &config.scope, start).await;
    let mut ctx = ctx.clone();
    if ctx.export_job.is_none() {
        ctx.export_job = discovery.export_job_id.clone();
    }

    let hashing = DigestEngine::new(export.clone(), config.hash.clone());
    let engine = HoldEngine::new(export.as_ref(), &config.policy)
        .with_concurrency(config.hold_concurrency)
        .with_hasher(&hashing);
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
    let ledger_result = ledger.append(records.clone()).await;
    IngestReport {
        source: ctx.source.clone(),
        discovery,
        hold,
        digests,
        records,
        ledger: ledger_result,
    }
}

/// The digest disagreeing with the ETag, the stored checksum or the manifest's expectation.
fn digest_findings(outcome: &ObjectOutcome, digest: &ObjectDigest) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (what, check) in [
        ("ETag (MD5 of the content)", &digest.etag_check),
        ("stored x-amz-checksum-sha256", &digest.checksum_check),
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
        Some(store_error) => Finding::Failed {
            action: store_error.action.to_string(),
            code: store_error.code.clone(),
            likely_permission: store.explain_denial(store_error, versioned, kms),
            message: format!("hashing failed: {error}"),
        },
        None => Finding::Failed {
            action: "GetObject".to_string(),
            code: None,
            likely_permission: None,
            message: format!("hashing failed: {error}"),
        },
    }
}

fn hashed_record(
    outcome: &ObjectOutcome,
    digest: &ObjectDigest,
    ctx: &RunContext,
) -> CustodyRecord {
    let what = What {
        bucket: outcome.observed.bucket.clone(),
        key: outcome.observed.key.clone(),
        version_id: digest.version_id.clone(),
        size: Some(digest.size),
        sha256: Some(digest.sha256_hex.clone()),
        etag: Some(digest.etag.clone()),
        s3_checksum: outcome.observed.s3_checksum.clone(),
        new_version_id: None,
    };
    let detail = format!(
        "SHA-256 of the exported version; ETag check: {}; stored checksum check: {}",
        check_text(&digest.etag_check),
        check_text(&digest.checksum_check)
    );
    let why = crate::ledger::Why {
        export_job: ctx.export_job.clone(),
        conversation_id: outcome.observed.conversation_id.clone(),
        recording_id: outcome.observed.recording_id.clone(),
        matter: (!outcome.matters.is_empty()).then(|| outcome.matters.join("+")),
        source: ctx.source.clone(),
    };
    CustodyRecord::new(
        EventKind::Hashed,
        ctx.at,
        ctx.who.clone(),
        what,
        ctx.where_.clone(),
        why,
        ctx.how.clone(),
        Outcome {
            detail: Some(detail),
            error: None,
        },
    )
}

fn check_text(check: &Check) -> String {
    match check {
        Check::Match => "match".to_string(),
        Check::Mismatch { expected, actual } => {
            format!("MISMATCH (expected {expected}, content {actual})")
        }
        Check::NotApplicable(reason) => format!("not applicable ({reason})"),
    }
}
