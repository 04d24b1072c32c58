//! What the hold engine did to each object, typed, and its mapping to custody records.

use chrono::{DateTime, Utc};

use crate::export::{FileRole, ManifestEntryError};
use crate::ledger::{CustodyRecord, EventKind, How, Outcome, RecordedError, What, Where, Who, Why};

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

/// Something the run must tell the reader about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A file the export names is not in the bucket.
    Missing { named_by: String },
    /// An object no metadata names.
    Unreferenced { reason: String },
    /// Refused: outside the export bucket/prefix.
    OutOfScope { reason: String },
    /// A store call failed.
    Failed {
        action: String,
        code: Option<String>,
        likely_permission: Option<String>,
        message: String,
    },
    /// The key got a newer version than the exported one while it was processed.
    Overwritten { newer_version: Option<String> },
    /// A mechanism could not be applied for a reason that is not a failed call (too many tags,
    /// no Object Lock on the bucket, metadata too large, copy unsafe after an overwrite).
    CannotMark {
        mechanism: Mechanism,
        reason: String,
    },
    /// A metadata file could not be parsed.
    InvalidMetadata {
        field: Option<String>,
        problem: String,
    },
    /// Something measured disagreed with what was expected.
    Mismatch {
        what: String,
        expected: String,
        actual: String,
    },
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

/// Who ran, where, from which input, with which tool: the parts of a record the engine cannot
/// know by itself.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub who: Who,
    pub where_: Where,
    /// The input that caused the run (`s3://bucket/key#version` of the metadata or manifest).
    pub source: String,
    pub how: How,
    pub export_job: Option<String>,
    pub at: DateTime<Utc>,
}

impl RunContext {
    pub fn new(source: impl Into<String>) -> Self {
        RunContext {
            who: Who::default(),
            where_: Where::default(),
            source: source.into(),
            how: How::default(),
            export_job: None,
            at: Utc::now(),
        }
    }
}

impl ObjectOutcome {
    fn what(&self) -> What {
        What {
            bucket: self.observed.bucket.clone(),
            key: self.observed.key.clone(),
            version_id: self.observed.version_id.clone(),
            size: self.observed.size,
            sha256: None,
            etag: self.observed.etag.clone(),
            s3_checksum: self.observed.s3_checksum.clone(),
            new_version_id: None,
        }
    }

    fn why(&self, ctx: &RunContext) -> Why {
        Why {
            export_job: ctx.export_job.clone(),
            conversation_id: self.observed.conversation_id.clone(),
            recording_id: self.observed.recording_id.clone(),
            matter: (!self.matters.is_empty()).then(|| self.matters.join("+")),
            source: ctx.source.clone(),
        }
    }

    fn record(
        &self,
        ctx: &RunContext,
        event: EventKind,
        what: What,
        how: How,
        outcome: Outcome,
    ) -> CustodyRecord {
        CustodyRecord::new(
            event,
            ctx.at,
            ctx.who.clone(),
            what,
            ctx.where_.clone(),
            self.why(ctx),
            how,
            outcome,
        )
    }

    /// The custody records for this outcome: `observed` for a present object, `hold_applied` when
    /// any mechanism is in place, one record per finding kind (`missing`, `unreferenced`,
    /// `mismatch`, an `observed` record of a newer version), and one `failed` record gathering
    /// every failure (record identities are per object, event and source, so failures share one).
    pub fn to_records(&self, ctx: &RunContext) -> Vec<CustodyRecord> {
        let mut records = Vec::new();
        let how = ctx.how.clone();
        if self.observed.size.is_some() {
            let detail = self
                .observed
                .role
                .map(|r| format!("exported file ({})", r.as_str()));
            records.push(self.record(
                ctx,
                EventKind::Observed,
                self.what(),
                how.clone(),
                Outcome {
                    detail,
                    error: None,
                },
            ));
        }
        let in_place: Vec<&MarkingStep> = self
            .steps
            .iter()
            .filter(|s| !matches!(s.result, StepResult::NotDone))
            .collect();
        if self.held && !in_place.is_empty() {
            let mut what = self.what();
            what.new_version_id = self.new_version_id.clone();
            if let Some(proof) = self.content_proof.as_ref().filter(|p| p.holds()) {
                what.sha256 = Some(proof.source_sha256.clone());
            }
            let mut how = how.clone();
            how.mechanisms = in_place
                .iter()
                .map(|s| s.mechanism.as_str().to_string())
                .collect();
            let parts: Vec<String> = self
                .steps
                .iter()
                .map(|s| {
                    let (state, version) = match &s.result {
                        StepResult::Applied { version } => ("applied", version.as_deref()),
                        StepResult::AlreadyPresent { version } => {
                            ("already present", version.as_deref())
                        }
                        StepResult::NotDone => ("not done", None),
                    };
                    match version {
                        Some(v) => format!("{} {state} on version {v}", s.mechanism.as_str()),
                        None => format!("{} {state}", s.mechanism.as_str()),
                    }
                })
                .collect();
            let mut detail = parts.join("; ");
            if let Some(proof) = &self.content_proof {
                detail.push_str(&format!(
                    "; copy content sha256 {} {} source {}",
                    proof.copy_sha256,
                    if proof.holds() {
                        "equals"
                    } else {
                        "DIFFERS FROM"
                    },
                    proof.source_sha256
                ));
            }
            records.push(self.record(
                ctx,
                EventKind::HoldApplied,
                what,
                how.clone(),
                Outcome {
                    detail: Some(detail),
                    error: None,
                },
            ));
        }
        let mut failures: Vec<RecordedError> = Vec::new();
        let mut mismatches: Vec<String> = Vec::new();
        for finding in &self.findings {
            match finding {
                Finding::Missing { named_by } => {
                    let mut what = self.what();
                    what.size = None;
                    records.push(self.record(
                        ctx,
                        EventKind::Missing,
                        what,
                        how.clone(),
                        Outcome {
                            detail: Some(format!("named by {named_by} but not in the bucket")),
                            error: None,
                        },
                    ));
                }
                Finding::Unreferenced { reason } => {
                    records.push(self.record(
                        ctx,
                        EventKind::Unreferenced,
                        self.what(),
                        how.clone(),
                        Outcome {
                            detail: Some(reason.clone()),
                            error: None,
                        },
                    ));
                }
                Finding::Overwritten { newer_version } => {
                    let mut what = self.what();
                    what.version_id = newer_version.clone();
                    what.size = None;
                    what.etag = None;
                    what.s3_checksum = None;
                    records.push(self.record(ctx, EventKind::Observed, what, how.clone(), Outcome {
                        detail: Some(format!(
                            "a newer version was written during processing; the exported version {} was the one marked",
                            self.observed.version_id.as_deref().unwrap_or("null")
                        )),
                        error: None,
                    }));
                }
                Finding::Mismatch {
                    what,
                    expected,
                    actual,
                } => {
                    mismatches.push(format!("{what}: expected {expected}, found {actual}"));
                }
                Finding::Failed {
                    action,
                    code,
                    likely_permission,
                    message,
                } => failures.push(RecordedError {
                    action: Some(action.clone()),
                    code: code.clone(),
                    likely_missing_permission: likely_permission.clone(),
                    message: message.clone(),
                }),
                Finding::OutOfScope { reason } => failures.push(RecordedError {
                    message: format!("refused: {reason}"),
                    ..Default::default()
                }),
                Finding::CannotMark { mechanism, reason } => failures.push(RecordedError {
                    action: Some(mechanism.as_str().to_string()),
                    message: reason.clone(),
                    ..Default::default()
                }),
                Finding::InvalidMetadata { field, problem } => failures.push(RecordedError {
                    action: Some("ParseMetadata".to_string()),
                    code: field.clone(),
                    message: problem.clone(),
                    ..Default::default()
                }),
            }
        }
        if !mismatches.is_empty() {
            records.push(self.record(
                ctx,
                EventKind::Mismatch,
                self.what(),
                how.clone(),
                Outcome {
                    detail: Some(mismatches.join("; ")),
                    error: None,
                },
            ));
        }
        if !failures.is_empty() {
            let mut error = failures[0].clone();
            if failures.len() > 1 {
                error.message = failures
                    .iter()
                    .map(|f| match &f.action {
                        Some(a) => format!("{a}: {}", f.message),
                        None => f.message.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(" | ");
            }
            let detail = Some(format!("{} step(s) failed", failures.len()));
            records.push(self.record(
                ctx,
                EventKind::Failed,
                self.what(),
                how,
                Outcome {
                    detail,
                    error: Some(error),
                },
            ));
        }
        records
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
    /// Records for every outcome, and a `failed` record for each rejected manifest entry (keyed
    /// by the manifest and the entry's position).
    pub fn to_records(&self, ctx: &RunContext, bucket: &str) -> Vec<CustodyRecord> {
        let mut records: Vec<CustodyRecord> = self
            .outcomes
            .iter()
            .flat_map(|o| o.to_records(ctx))
            .collect();
        for rejected in &self.rejected_entries {
            let what = What {
                bucket: bucket.to_string(),
                key: format!("{}#{}", rejected.source_name, rejected.position),
                ..Default::default()
            };
            let why = Why {
                export_job: ctx.export_job.clone(),
                source: ctx.source.clone(),
                ..Default::default()
            };
            records.push(CustodyRecord::new(
                EventKind::Failed,
                ctx.at,
                ctx.who.clone(),
                what,
                ctx.where_.clone(),
                why,
                ctx.how.clone(),
                Outcome {
                    detail: Some("manifest entry rejected".to_string()),
                    error: Some(RecordedError {
                        action: Some("ReadManifest".to_string()),
                        message: rejected.to_string(),
                        ..Default::default()
                    }),
                },
            ));
        }
        records
    }

    pub fn changed_anything(&self) -> bool {
        self.outcomes.iter().any(ObjectOutcome::changed_anything)
    }
}
