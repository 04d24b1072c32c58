//! Completeness attestations: after a run has processed whole conversation folders (a folder or
//! prefix run, which also looks for unreferenced objects) or an export job (a manifest that
//! names one), one `attested` record per folder or job states what it contained (see
//! `ledger::attestation`). A folder with a step left for a retry is not attested by this run:
//! the run that finishes it does.
//!
//! The streaming ingest attests unit by unit, so an attestation never summarises more than one
//! unit: a folder is one unit; a manifest read in several units is attested per part, scope
//! `export-job:<id>#part-<n>-of-<count>` (a manifest of one unit keeps `export-job:<id>`). The
//! attestation goes into the same submission as the records it summarises, after them.

use std::collections::BTreeMap;

use crate::digest::{DigestError, ObjectDigest};
use crate::export::{ExportKey, StartingPoint};
use crate::hold::{Finding, ObjectOutcome, RunContext};
use crate::ledger::{Attestation, AttestedObject, CustodyRecord, EventKind, Outcome, What, Why};

/// The `attested` records of a run.
pub fn attestations(
    start: &StartingPoint,
    part: Option<(usize, usize)>,
    bucket: &str,
    outcomes: &[ObjectOutcome],
    digests: &[Option<Result<ObjectDigest, DigestError>>],
    ctx: &RunContext,
) -> Vec<CustodyRecord> {
    let mut groups: BTreeMap<String, Vec<(&ObjectOutcome, Option<&ObjectDigest>)>> =
        BTreeMap::new();
    for (outcome, digest) in outcomes.iter().zip(digests) {
        let scope = match start {
            StartingPoint::ConversationFolder(_) | StartingPoint::ExportPrefix(_) => {
                match ExportKey::parse(&outcome.observed.key) {
                    Some(k) => k.folder.prefix,
                    None => continue,
                }
            }
            StartingPoint::Manifest(_) => match &ctx.export_job {
                Some(job) => match part {
                    Some((n, count)) => format!("export-job:{job}#part-{n}-of-{count}"),
                    None => format!("export-job:{job}"),
                },
                None => return Vec::new(),
            },
            _ => return Vec::new(),
        };
        let digest = digest.as_ref().and_then(|d| d.as_ref().ok());
        groups.entry(scope).or_default().push((outcome, digest));
    }
    let mut records = Vec::new();
    for (scope, members) in groups {
        let unfinished = members.iter().any(|(o, _)| {
            o.findings
                .iter()
                .any(|f| matches!(f, Finding::Retry { .. }))
        });
        if unfinished {
            continue;
        }
        let mut attestation = Attestation {
            scope: scope.clone(),
            present: Vec::new(),
            missing: Vec::new(),
            unreferenced: Vec::new(),
        };
        let mut conversation = None;
        for (outcome, digest) in &members {
            let observed = &outcome.observed;
            conversation = conversation.or(observed.conversation_id.clone());
            let entry = AttestedObject {
                key: observed.key.clone(),
                version_id: digest
                    .map(|d| d.version_id.clone())
                    .unwrap_or(observed.version_id.clone()),
                sha256: digest.map(|d| d.sha256_hex.clone()),
            };
            let is = |f: fn(&Finding) -> bool| outcome.findings.iter().any(f);
            if is(|f| matches!(f, Finding::Missing { .. })) {
                attestation.missing.push(observed.key.clone());
            } else if is(|f| matches!(f, Finding::Unreferenced { .. })) {
                attestation.unreferenced.push(entry);
            } else if observed.size.is_some() {
                attestation.present.push(entry);
            }
        }
        let detail = format!(
            "{}: {} present, {} missing, {} unreferenced",
            scope,
            attestation.present.len(),
            attestation.missing.len(),
            attestation.unreferenced.len()
        );
        let what = What {
            bucket: bucket.to_string(),
            key: scope,
            ..Default::default()
        };
        let why = Why {
            export_job: ctx.export_job.clone(),
            conversation_id: conversation,
            source: ctx.source.clone(),
            ..Default::default()
        };
        let record = ctx.record(
            EventKind::Attested,
            what,
            why,
            ctx.how.clone(),
            Outcome {
                detail: Some(detail),
                error: None,
            },
        );
        records.push(record.attesting(attestation));
    }
    records
}
