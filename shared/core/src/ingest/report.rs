//! What one ingest run did, for the caller's report, log line and exit status, rendered in one
//! place ([`IngestReport::summary`]) for the CLI and the functions alike.
//!
//! The report is bounded whatever the size of the export: counts, findings by kind, the
//! transient failures, the first [`SHOWN`] objects, findings and records (with counts of the
//! rest), and the run's submissions. Everything else went to the ledger chunk by chunk.
//!
//! The verdict of a run, from worst to best:
//!
//! | verdict | meaning | CLI exit | tagger |
//! |---|---|---|---|
//! | [`RunError`] | a mistake about the run itself; nothing (more) submitted | 2 | refused |
//! | ledger not written | records not durable, or (inline) not integrated | 2 | retry |
//! | [`IngestReport::needs_retry`] | transient failures left steps unfinished | 2 | retry |
//! | [`IngestReport::nothing_found`] | the starting point named no object at all | 1 | recorded |
//! | findings | recorded; a person must look | 1 | recorded |
//! | clean | recorded, nothing wrong | 0 | recorded |

use std::collections::BTreeMap;
use std::fmt;

use crate::hold::{Finding, MarkingStep};
use crate::ledger::{CustodyRecord, LedgerError};
use crate::store::StoreError;

use super::integration::RunLedger;

/// How many objects, findings and records a report lists (the rest are counted).
pub const SHOWN: usize = 1_000;

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

/// One object as the report shows it (the first [`SHOWN`] of a run).
#[derive(Debug, Clone)]
pub struct ObjectLine {
    pub key: String,
    pub version_id: Option<String>,
    pub held: bool,
    pub matters: Vec<String>,
    pub steps: Vec<MarkingStep>,
    pub new_version_id: Option<String>,
    /// The SHA-256 of the pinned version and its size, when it was hashed.
    pub sha256: Option<(String, u64)>,
    pub findings: Vec<Finding>,
}

/// One finding of one object.
#[derive(Debug, Clone)]
pub struct ShownFinding {
    pub key: String,
    pub version_id: Option<String>,
    pub finding: Finding,
}

/// Everything one run did, bounded.
#[derive(Debug)]
pub struct IngestReport {
    pub source: String,
    /// Objects marked and hashed (or found missing, refused, unreadable) by this run.
    pub objects: usize,
    /// Present object versions skipped because the ledger already records them ("already
    /// recorded"): not marked, not read.
    pub skipped: usize,
    pub held: usize,
    pub hashed: usize,
    pub bytes_hashed: u64,
    /// Objects with at least one finding a person must look at (transient failures aside).
    pub objects_with_findings: usize,
    /// Findings by kind (`missing`, `failed`, ..., `retry`, `rejected_entry`).
    pub findings: BTreeMap<&'static str, usize>,
    /// The first [`SHOWN`] objects processed.
    pub shown_objects: Vec<ObjectLine>,
    /// The first [`SHOWN`] findings (transient ones included), and how many more there were.
    pub shown_findings: Vec<ShownFinding>,
    pub findings_not_shown: usize,
    /// The transient failures (first [`SHOWN`]); `retries_total` counts them all.
    pub retry_findings: Vec<ShownFinding>,
    pub retries_total: usize,
    /// Manifest entries that could not be read.
    pub rejected_entries: Vec<String>,
    /// The first [`SHOWN`] records submitted, and how many the run submitted in all.
    pub records: Vec<CustodyRecord>,
    pub records_total: usize,
    /// The run's submissions and what became of them; with a [`RunError`] before anything was
    /// submitted, an empty outcome.
    pub ledger: Result<RunLedger, LedgerError>,
    /// A mistake about the run itself: nothing more was marked, hashed or submitted.
    pub run_error: Option<RunError>,
    /// What the run could not do that a reader of its report must know (a check not made).
    pub notes: Vec<String>,
}

impl IngestReport {
    pub(crate) fn new(source: String, ledger: RunLedger) -> Self {
        IngestReport {
            source,
            objects: 0,
            skipped: 0,
            held: 0,
            hashed: 0,
            bytes_hashed: 0,
            objects_with_findings: 0,
            findings: BTreeMap::new(),
            shown_objects: Vec::new(),
            shown_findings: Vec::new(),
            findings_not_shown: 0,
            retry_findings: Vec::new(),
            retries_total: 0,
            rejected_entries: Vec::new(),
            records: Vec::new(),
            records_total: 0,
            ledger: Ok(ledger),
            run_error: None,
            notes: Vec::new(),
        }
    }

    /// Objects with at least one finding a person must look at (transient failures aside).
    pub fn objects_with_findings(&self) -> usize {
        self.objects_with_findings
    }

    /// Whether the run recorded everything it found (findings included): submitted, and, when
    /// the run integrates, integrated.
    pub fn recorded(&self) -> bool {
        self.run_error.is_none() && self.ledger.as_ref().is_ok_and(RunLedger::complete)
    }

    /// Transient failures left steps unfinished: the same input must be run again (and the run
    /// that follows records what this one could not).
    pub fn needs_retry(&self) -> bool {
        self.retries_total > 0
    }

    /// The transient failures, by object key (the first [`SHOWN`]).
    pub fn retries(&self) -> impl Iterator<Item = (&str, &Finding)> {
        self.retry_findings
            .iter()
            .map(|f| (f.key.as_str(), &f.finding))
    }

    /// The starting point named no object at all (an empty prefix, a manifest with no entries).
    pub fn nothing_found(&self) -> bool {
        self.run_error.is_none()
            && self.objects == 0
            && self.skipped == 0
            && self.rejected_entries.is_empty()
    }

    /// Findings by kind (`missing`, `failed`, ...), for summaries and metrics.
    pub fn findings_by_kind(&self) -> BTreeMap<&'static str, usize> {
        self.findings.clone()
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
        write!(
            f,
            "{} object(s), {} held, {} hashed, {} with findings",
            report.objects, report.held, report.hashed, report.objects_with_findings
        )?;
        let kinds = &report.findings;
        if !kinds.is_empty() {
            let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
            write!(f, " ({})", list.join(", "))?;
        }
        if report.skipped > 0 {
            write!(f, "; {} already recorded (skipped)", report.skipped)?;
        }
        match &report.ledger {
            Ok(ledger) => write!(f, "; ledger: {ledger}")?,
            Err(e) => write!(f, "; ledger NOT WRITTEN: {e}")?,
        }
        if report.needs_retry() {
            write!(
                f,
                "; {} step(s) failed transiently and were not recorded: run again",
                report.retries_total
            )?;
        }
        for note in &report.notes {
            write!(f, "; NOTE: {note}")?;
        }
        Ok(())
    }
}
