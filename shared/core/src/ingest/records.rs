//! The one home for turning what a run did into custody records: a builder on the
//! [`RunContext`] (who, where, when, which tool) used for every record, the records of each
//! object's outcome, of rejected manifest entries, and of each digest.
//!
//! One object's outcome gives: `observed` for a present object; `hold_applied` when any
//! mechanism is in place (naming the mechanisms, the matters, and the version carrying the
//! marks); one record per finding kind (`missing`, `unreferenced`, `mismatch`, an `observed`
//! record of a newer version); and one `failed` record gathering every permanent failure.
//! Transient failures ([`Finding::Retry`]) give no record: the run is retried.

use crate::digest::{Check, ObjectDigest};
use crate::hold::{Finding, HoldReport, MarkingStep, ObjectOutcome, RunContext, StepResult};
use crate::ledger::{CustodyRecord, EventKind, How, Outcome, RecordedError, What, Why};

impl RunContext {
    /// A record of this run: `who`, `where` and the time from the context, the rest given.
    pub fn record(
        &self,
        event: EventKind,
        what: What,
        why: Why,
        how: How,
        outcome: Outcome,
    ) -> CustodyRecord {
        CustodyRecord::new(
            event,
            self.at,
            self.who.clone(),
            what,
            self.where_.clone(),
            why,
            how,
            outcome,
        )
    }
}

impl ObjectOutcome {
    /// The recorded version this one succeeds, when the run found one ([`Finding::Superseded`]).
    fn predecessor(&self) -> Option<&str> {
        self.findings.iter().find_map(|f| match f {
            Finding::Superseded {
                recorded_version, ..
            } => Some(recorded_version.as_deref().unwrap_or("null")),
            _ => None,
        })
    }

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

    /// Why the run looked at the object: its export job, ids, matters and the run's input.
    pub(crate) fn why(&self, ctx: &RunContext) -> Why {
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
        ctx.record(event, what, self.why(ctx), how, outcome)
    }

    /// The custody records for this outcome: `observed` for a present object, `hold_applied` when
    /// any mechanism is in place, one record per finding kind (`missing`, `unreferenced`,
    /// `mismatch`, an `observed` record of a newer version), and one `failed` record gathering
    /// every failure (record identities are per object, event and source, so failures share one).
    pub fn to_records(&self, ctx: &RunContext) -> Vec<CustodyRecord> {
        let mut records = Vec::new();
        let how = ctx.how.clone();
        if self.observed.size.is_some() {
            let role = self.observed.role.map(|r| r.as_str());
            let detail = match (self.predecessor(), role) {
                (Some(recorded), role) => Some(format!(
                    "successor of the recorded version {recorded}{}, not the exported version",
                    role.map(|r| format!(" ({r})")).unwrap_or_default()
                )),
                (None, Some(role)) => Some(format!("exported file ({role})")),
                (None, None) => None,
            };
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
            // The version carrying the marks when it is not the exported one (the metadata
            // copy, made by this run or found from an earlier one): part of the fact.
            what.new_version_id = self
                .marked_version
                .clone()
                .filter(|v| Some(v) != self.observed.version_id.as_ref())
                .or_else(|| self.new_version_id.clone());
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
                Finding::Superseded {
                    recorded_version,
                    recorded_sha256,
                    recorded_at,
                    sha256,
                } => {
                    let mut what = self.what();
                    what.version_id = recorded_version.clone();
                    what.size = None;
                    what.etag = None;
                    what.s3_checksum = None;
                    what.new_version_id = self.observed.version_id.clone();
                    what.sha256 = Some(sha256.clone());
                    records.push(self.record(
                        ctx,
                        EventKind::Superseded,
                        what,
                        how.clone(),
                        Outcome {
                            detail: Some(format!(
                                "the recorded version {} (sha256 {recorded_sha256}, {recorded_at}) has a successor {} with sha256 {sha256}; the recorded version keeps its hold",
                                recorded_version.as_deref().unwrap_or("null"),
                                self.observed.version_id.as_deref().unwrap_or("null (unversioned overwrite)"),
                            )),
                            error: None,
                        },
                    ));
                }
                // Unfinished, not a fact: the run is retried.
                Finding::Retry { .. } => {}
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
            records.push(ctx.record(
                EventKind::Failed,
                what,
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
}

/// The `hashed` record of one object's digest, with the cross-checks that were made.
pub fn hashed_record(
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
    let of = match outcome.predecessor() {
        Some(recorded) => format!("the successor of the recorded version {recorded}"),
        None => "the exported version".to_string(),
    };
    let detail = format!(
        "SHA-256 of {of}; cross-check: {}; ETag check: {}; stored checksum check: {}",
        digest.cross_check,
        check_text(&digest.etag_check),
        check_text(&digest.checksum_check)
    );
    ctx.record(
        EventKind::Hashed,
        what,
        outcome.why(ctx),
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
