//! What the hold engine did to each object, typed. Turning outcomes into custody records is
//! `crate::ingest::records`.

use super::Finding;
use crate::export::{FileRole, ManifestEntryError};

/// One marking mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mechanism {
    Tags,
    Metadata,
    ObjectLock,
}

impl Mechanism {
    pub fn as_str(&self) -> &'static str {
        match self {
            Mechanism::Tags => "tags",
            Mechanism::Metadata => "metadata",
            Mechanism::ObjectLock => "object-lock",
        }
    }
}

/// What became of one mechanism on one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepResult {
    /// Written by this run, on `version`.
    Applied { version: Option<String> },
    /// Found in place on `version`; nothing written.
    AlreadyPresent { version: Option<String> },
    /// Not attempted; a finding says why.
    NotDone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkingStep {
    pub mechanism: Mechanism,
    pub result: StepResult,
}

/// Proof that an in-place copy kept the content: both versions hash the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentProof {
    pub source_version: Option<String>,
    pub source_sha256: String,
    pub copy_version: Option<String>,
    pub copy_sha256: String,
}

impl ContentProof {
    pub fn holds(&self) -> bool {
        self.source_sha256 == self.copy_sha256
    }
}

/// What was observed of the object at discovery.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    pub bucket: String,
    pub key: String,
    /// The pinned (exported) version.
    pub version_id: Option<String>,
    /// `None` when the object is missing, refused or unreadable.
    pub size: Option<u64>,
    pub etag: Option<String>,
    /// The checksum S3 stores, as `ALGORITHM:base64` (`-N` suffix when composite).
    pub s3_checksum: Option<String>,
    pub role: Option<FileRole>,
    pub conversation_id: Option<String>,
    pub recording_id: Option<String>,
    pub expected_size: Option<u64>,
    pub expected_sha256: Option<String>,
}

/// The typed outcome for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectOutcome {
    pub observed: Observed,
    /// Whether the policy put the object under hold.
    pub held: bool,
    /// The matters holding it (empty when held for another reason, or not held).
    pub matters: Vec<String>,
    /// One step per configured mechanism, in the order they ran (metadata, tags, object-lock).
    pub steps: Vec<MarkingStep>,
    /// The version the tags and legal hold landed on: the copy when one was made, else the pinned.
    pub marked_version: Option<String>,
    /// The version a metadata copy created in this run.
    pub new_version_id: Option<String>,
    pub content_proof: Option<ContentProof>,
    pub findings: Vec<Finding>,
}

impl ObjectOutcome {
    pub(crate) fn new(observed: Observed) -> Self {
        ObjectOutcome {
            observed,
            held: false,
            matters: Vec::new(),
            steps: Vec::new(),
            marked_version: None,
            new_version_id: None,
            content_proof: None,
            findings: Vec::new(),
        }
    }

    /// Whether this run wrote anything (a tag set, a copy, a legal hold).
    pub fn changed_anything(&self) -> bool {
        self.new_version_id.is_some()
            || self
                .steps
                .iter()
                .any(|s| matches!(s.result, StepResult::Applied { .. }))
    }

    pub fn step(&self, mechanism: Mechanism) -> Option<&StepResult> {
        self.steps
            .iter()
            .find(|s| s.mechanism == mechanism)
            .map(|s| &s.result)
    }

    /// Held, and every configured mechanism applied or already present.
    pub fn fully_marked(&self) -> bool {
        self.held
            && !self.steps.is_empty()
            && self
                .steps
                .iter()
                .all(|s| !matches!(s.result, StepResult::NotDone))
    }

    pub fn failures(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| matches!(f, Finding::Failed { .. }))
    }
}

/// Everything one hold run produced.
#[derive(Debug, Clone, Default)]
pub struct HoldReport {
    pub outcomes: Vec<ObjectOutcome>,
    /// Manifest entries that could not be read (they name no usable object).
    pub rejected_entries: Vec<ManifestEntryError>,
}

impl HoldReport {
    pub fn changed_anything(&self) -> bool {
        self.outcomes.iter().any(ObjectOutcome::changed_anything)
    }
}
