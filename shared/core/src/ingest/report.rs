//! What one ingest run did, for the caller's report, log line and exit status, rendered in one
//! place ([`IngestReport::summary`]) for the CLI and the functions alike.
//!
//! The verdict of a run, from worst to best:
//!
//! | verdict | meaning | CLI exit | tagger |
//! |---|---|---|---|
//! | [`RunError`] | a mistake about the run itself; nothing appended | 2 | refused |
//! | ledger not written | records not durable | 2 | retry |
//! | [`IngestReport::needs_retry`] | transient failures left steps unfinished | 2 | retry |
//! | [`IngestReport::nothing_found`] | the starting point named no object at all | 1 | recorded |
//! | findings | recorded; a person must look | 1 | recorded |
//! | clean | recorded, nothing wrong | 0 | recorded |

use std::collections::BTreeMap;
use std::fmt;

use crate::digest::{DigestError, ObjectDigest};
use crate::export::Discovery;
use crate::hold::{Finding, HoldReport};
use crate::ledger::{AppendOutcome, CustodyRecord, LedgerError};
use crate::store::StoreError;

/// A mistake about the run itself, not a fact about any object: nothing is appended.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RunError {
    /// The export location cannot be used as given (no such bucket, bad credentials).
    #[error("{0}")]
    Store(StoreError),
    /// The ledger could not be read before marking (to find released holds): retried.
    #[error("the ledger could not be read: {0}")]
    Ledger(String),
}

/// Service error codes that say the request, not the object, is wrong: the bucket does not
/// exist, or the caller could not be authenticated.
const RUN_ERROR_CODES: &[&str] = &[
    "NoSuchBucket",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "AuthorizationHeaderMalformed",
    "PermanentRedirect",
];

impl RunError {
    /// Whether a store error is about the run (bucket, credentials) rather than one object.
    pub fn concerns_the_run(error: &StoreError) -> bool {
        error
            .code
            .as_deref()
            .is_some_and(|code| RUN_ERROR_CODES.contains(&code))
    }

    /// Whether the error is an authentication failure (as opposed to a missing bucket).
    pub fn is_authentication(&self) -> bool {
        match self {
            RunError::Store(e) => e.code.as_deref().is_some_and(|c| {
                c != "NoSuchBucket" && c != "PermanentRedirect" && RUN_ERROR_CODES.contains(&c)
            }),
            RunError::Ledger(_) => false,
        }
    }

    /// Whether running again may succeed (the ledger was unreachable), as opposed to a mistake
    /// that needs the user.
    pub fn is_transient(&self) -> bool {
        matches!(self, RunError::Ledger(_))
    }
}

/// Everything one run did.
#[derive(Debug)]
pub struct IngestReport {
    pub source: String,
    pub discovery: Discovery,
    pub hold: HoldReport,
    /// One entry per hold outcome: the digest of its pinned version, or why there is none.
    pub digests: Vec<Option<Result<ObjectDigest, DigestError>>>,
    pub records: Vec<CustodyRecord>,
    /// The append; with a [`RunError`], nothing was attempted (an empty outcome).
    pub ledger: Result<AppendOutcome, LedgerError>,
    /// A mistake about the run itself: nothing was marked, hashed or appended.
    pub run_error: Option<RunError>,
}

impl IngestReport {
    pub(crate) fn run_failed(source: String, discovery: Discovery, error: RunError) -> Self {
        IngestReport {
            source,
            discovery,
            hold: HoldReport::default(),
            digests: Vec::new(),
            records: Vec::new(),
            ledger: Ok(AppendOutcome::empty()),
            run_error: Some(error),
        }
    }

    /// Objects with at least one finding a person must look at (transient failures aside).
    pub fn objects_with_findings(&self) -> usize {
        self.hold
            .outcomes
            .iter()
            .filter(|o| {
                o.findings
                    .iter()
                    .any(|f| !matches!(f, Finding::Retry { .. }))
            })
            .count()
    }

    /// Whether the run recorded everything it found (findings included) in the ledger.
    pub fn recorded(&self) -> bool {
        self.run_error.is_none() && self.ledger.as_ref().is_ok_and(|a| a.rejected.is_empty())
    }

    /// Transient failures left steps unfinished: the same input must be run again (and the run
    /// that follows records what this one could not).
    pub fn needs_retry(&self) -> bool {
        self.retries().next().is_some()
    }

    /// The transient failures, by object key.
    pub fn retries(&self) -> impl Iterator<Item = (&str, &Finding)> {
        self.hold.outcomes.iter().flat_map(|o| {
            o.findings
                .iter()
                .filter(|f| matches!(f, Finding::Retry { .. }))
                .map(move |f| (o.observed.key.as_str(), f))
        })
    }

    /// The starting point named no object at all (an empty prefix, a manifest with no entries).
    pub fn nothing_found(&self) -> bool {
        self.run_error.is_none()
            && self.hold.outcomes.is_empty()
            && self.hold.rejected_entries.is_empty()
    }

    /// Findings by kind (`missing`, `failed`, ...), for summaries and metrics.
    pub fn findings_by_kind(&self) -> BTreeMap<&'static str, usize> {
        let mut kinds = BTreeMap::new();
        for finding in self.hold.outcomes.iter().flat_map(|o| &o.findings) {
            *kinds.entry(finding.kind()).or_default() += 1;
        }
        if !self.hold.rejected_entries.is_empty() {
            kinds.insert("rejected_entry", self.hold.rejected_entries.len());
        }
        kinds
    }

    /// The one-paragraph account of the run, as the CLI prints it and the functions log it.
    pub fn summary(&self) -> Summary<'_> {
        Summary(self)
    }
}

/// [`IngestReport::summary`], rendered by `Display`.
pub struct Summary<'a>(&'a IngestReport);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.0;
        if let Some(error) = &report.run_error {
            let what = if error.is_authentication() {
                "authentication failed"
            } else {
                "the export location cannot be used"
            };
            return write!(f, "{what}: {error}; nothing was marked, hashed or recorded");
        }
        let held = report.hold.outcomes.iter().filter(|o| o.held).count();
        let hashed = report
            .digests
            .iter()
            .filter(|d| matches!(d, Some(Ok(_))))
            .count();
        write!(
            f,
            "{} object(s), {held} held, {hashed} hashed, {} with findings",
            report.hold.outcomes.len(),
            report.objects_with_findings()
        )?;
        let kinds = report.findings_by_kind();
        if !kinds.is_empty() {
            let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
            write!(f, " ({})", list.join(", "))?;
        }
        match &report.ledger {
            Ok(a) => write!(
                f,
                "; ledger: {} appended, {} already present, tree size {}",
                a.appended.len(),
                a.already_present.len(),
                a.tree_size
            )?,
            Err(e) => write!(f, "; ledger NOT WRITTEN: {e}")?,
        }
        if report.needs_retry() {
            write!(
                f,
                "; {} step(s) failed transiently and were not recorded: run again",
                report.retries().count()
            )?;
        }
        Ok(())
    }
}
