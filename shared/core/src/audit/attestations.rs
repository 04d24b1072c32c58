//! Checking attestations against the records they summarise (`ledger::attestation`): for every
//! `attested` record, in ledger order, its attestation is present and in canonical order, its
//! digest is the record's `what.sha256`, and every entry is backed by an earlier record: a
//! `hashed` record of the same key, version and SHA-256 for present and unreferenced objects
//! with a digest, a `missing` record of the key for missing ones.
//!
//! One streaming pass ([`Ledger::for_each_record`]: a few blocks at a time); the earlier facts
//! are kept as 8-byte prefixes of their SHA-256 in a [`FactSet`] (8 bytes per `hashed`/`missing`
//! record), so memory grows with the number of such records, not with the ledger's bytes. A prefix collision could only make a check
//! pass that should fail if a signed record were crafted to collide, which needs the signing key.

use sha2::{Digest, Sha256};

use crate::ledger::{CustodyRecord, EventKind, Ledger, LedgerError};

use super::facts::FactSet;

/// One attestation that does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationFailure {
    pub block: u64,
    pub leaf_index: u64,
    pub record_id: String,
    pub problem: String,
}

#[derive(Debug, Default)]
pub struct AttestationReport {
    pub checked: usize,
    pub failures: Vec<AttestationFailure>,
}

fn fact(parts: &[&str]) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

fn hashed_fact(bucket: &str, key: &str, version: Option<&str>, sha256: &str) -> u64 {
    fact(&["hashed", bucket, key, version.unwrap_or(""), sha256])
}

fn missing_fact(bucket: &str, key: &str) -> u64 {
    fact(&["missing", bucket, key])
}

/// Check every attestation of `ledger`.
pub async fn check_attestations(ledger: &Ledger) -> Result<AttestationReport, LedgerError> {
    let mut facts = FactSet::default();
    let mut report = AttestationReport::default();
    ledger
        .for_each_record(|entry| {
            let Ok(record) = entry.record else { return };
            match record.event {
                EventKind::Hashed => {
                    if let Some(sha) = &record.what.sha256 {
                        facts.insert(hashed_fact(
                            &record.what.bucket,
                            &record.what.key,
                            record.what.version_id.as_deref(),
                            &sha.to_ascii_lowercase(),
                        ));
                    }
                }
                EventKind::Missing => {
                    facts.insert(missing_fact(&record.what.bucket, &record.what.key));
                }
                EventKind::Attested => {
                    report.checked += 1;
                    for problem in problems(&record, &facts) {
                        report.failures.push(AttestationFailure {
                            block: entry.block,
                            leaf_index: entry.leaf_index,
                            record_id: record.id.clone(),
                            problem,
                        });
                    }
                }
                _ => {}
            }
        })
        .await?;
    Ok(report)
}

fn problems(record: &CustodyRecord, facts: &FactSet) -> Vec<String> {
    let Some(attestation) = &record.attestation else {
        return vec!["an attested record without its attestation".to_string()];
    };
    let mut problems = Vec::new();
    if !attestation.is_canonical() {
        problems.push("the attestation's lists are not in canonical order".to_string());
    }
    let digest = attestation.digest();
    if record.what.sha256.as_deref() != Some(digest.as_str()) {
        problems.push(format!(
            "the attestation digests to {digest}, the record says {:?}",
            record.what.sha256
        ));
    }
    let bucket = record.what.bucket.as_str();
    for entry in attestation.present.iter().chain(&attestation.unreferenced) {
        let Some(sha) = &entry.sha256 else { continue };
        let wanted = hashed_fact(bucket, &entry.key, entry.version_id.as_deref(), sha);
        if !facts.contains(wanted) {
            problems.push(format!(
                "{} @ {} sha256 {sha}: no earlier hashed record says so",
                entry.key,
                entry.version_id.as_deref().unwrap_or("null")
            ));
        }
    }
    for key in &attestation.missing {
        if !facts.contains(missing_fact(bucket, key)) {
            problems.push(format!(
                "{key}: attested missing, but no earlier missing record"
            ));
        }
    }
    problems
}
