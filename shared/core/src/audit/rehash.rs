//! Rehash: read every object version the ledger recorded as `hashed` again and compare its
//! SHA-256 with the recorded one. The ledger is read one block at a time and the versions of a
//! block are hashed in parallel by the hashing engine, so memory is bounded by one block whatever
//! the ledger's size.
//!
//! Each recorded version ends in one [`RehashResult`]: still the same, changed (a mismatch, named
//! with both digests), gone (the version or key no longer exists), or not checked (a transient
//! or access failure: nothing is concluded). With `record`, a `verified` record is made for every
//! version found unchanged, so that the ledger itself says when each was last checked.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::digest::{DigestEngine, DigestError, HashItem, HashOptions};
use crate::hold::RunContext;
use crate::ledger::VerifyProgress;
use crate::ledger::{CustodyRecord, EventKind, How, Ledger, LedgerError, Outcome, What, Why};
use crate::store::{StoreErrorKind, StoreRead};

/// What became of one recorded version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RehashResult {
    Unchanged,
    Changed { actual_sha256: String },
    Gone { message: String },
    NotChecked { message: String },
}

/// One recorded version and what rehashing it found.
#[derive(Debug, Clone)]
pub struct RehashedVersion {
    pub key: String,
    pub version_id: Option<String>,
    pub recorded_sha256: String,
    /// The id of the `hashed` record that was checked.
    pub record_id: String,
    pub result: RehashResult,
}

/// Totals, the versions that need a person's attention, and the `verified` records made.
#[derive(Debug, Default)]
pub struct RehashReport {
    pub checked: usize,
    pub unchanged: usize,
    /// Changed, gone or not checked.
    pub problems: Vec<RehashedVersion>,
    pub verified_records: Vec<CustodyRecord>,
}

impl RehashReport {
    /// Whether every recorded version was read and still hashes as recorded.
    pub fn all_unchanged(&self) -> bool {
        self.problems.is_empty()
    }

    /// Whether some version changed or disappeared (evidence), as opposed to only being
    /// unreadable now.
    pub fn found_changes(&self) -> bool {
        self.problems
            .iter()
            .any(|p| !matches!(p.result, RehashResult::NotChecked { .. }))
    }
}

/// Rehash every version of `export`'s bucket that `ledger` recorded as `hashed`. With
/// `record_as`, unchanged versions get a `verified` record built from that context.
pub async fn rehash(
    ledger: &Ledger,
    export: Arc<dyn StoreRead>,
    options: HashOptions,
    record_as: Option<&RunContext>,
) -> Result<RehashReport, LedgerError> {
    rehash_with_progress(ledger, export, options, record_as, None).await
}

/// [`rehash`], raising `progress` block by block (the blocks listed, then each block whose
/// recorded versions were re-read), for a progress display.
pub async fn rehash_with_progress(
    ledger: &Ledger,
    export: Arc<dyn StoreRead>,
    options: HashOptions,
    record_as: Option<&RunContext>,
    progress: Option<&VerifyProgress>,
) -> Result<RehashReport, LedgerError> {
    let bucket = export.bucket().to_string();
    let engine = DigestEngine::new(export, options);
    let (blocks, _) = ledger.list_blocks().await?;
    if let Some(p) = progress {
        p.listed(blocks.len() as u64, blocks.iter().map(|b| b.size).sum());
    }
    let mut report = RehashReport::default();
    let mut seen: BTreeSet<(String, Option<String>, String)> = BTreeSet::new();
    for listed in blocks {
        let index = listed.index;
        let mut recorded: Vec<CustodyRecord> = Vec::new();
        for record in super::block_records(ledger, index).await? {
            let Some(sha256) = record.what.sha256.clone() else {
                continue;
            };
            if record.event != EventKind::Hashed || record.what.bucket != bucket {
                continue;
            }
            let fact = (
                record.what.key.clone(),
                record.what.version_id.clone(),
                sha256,
            );
            if seen.insert(fact) {
                recorded.push(record);
            }
        }
        // The recorded ETag and size: a small version is read with one GET pinned by If-Match.
        let items = recorded.iter().map(|r| {
            let item = HashItem::new(r.what.key.clone(), r.what.version_id.clone());
            match (&r.what.etag, r.what.size) {
                (Some(etag), Some(size)) => item.listed(etag.clone(), size),
                _ => item,
            }
        });
        let digests = engine.hash_many(items).await;
        for (record, digest) in recorded.into_iter().zip(digests) {
            // Its ETag is no longer the recorded one: hash what is there now, as before, so
            // that the change is reported with the content's SHA-256.
            let digest = match digest {
                Err(DigestError::ChangedSinceListed { .. }) => {
                    engine
                        .hash_version(&record.what.key, record.what.version_id.as_deref())
                        .await
                }
                other => other,
            };
            report.checked += 1;
            let recorded_sha256 = record.what.sha256.clone().unwrap_or_default();
            let result = match digest {
                Ok(d) if d.sha256_hex.eq_ignore_ascii_case(&recorded_sha256) => {
                    RehashResult::Unchanged
                }
                Ok(d) => RehashResult::Changed {
                    actual_sha256: d.sha256_hex,
                },
                Err(e) => match e.store_error().map(|s| s.kind) {
                    Some(StoreErrorKind::NotFound) => RehashResult::Gone {
                        message: e.to_string(),
                    },
                    _ => RehashResult::NotChecked {
                        message: e.to_string(),
                    },
                },
            };
            if result == RehashResult::Unchanged {
                report.unchanged += 1;
                if let Some(ctx) = record_as {
                    report.verified_records.push(verified_record(&record, ctx));
                }
                continue;
            }
            report.problems.push(RehashedVersion {
                key: record.what.key.clone(),
                version_id: record.what.version_id.clone(),
                recorded_sha256,
                record_id: record.id.clone(),
                result,
            });
        }
        if let Some(p) = progress {
            p.checked(1, listed.size);
        }
    }
    Ok(report)
}

fn verified_record(hashed: &CustodyRecord, ctx: &RunContext) -> CustodyRecord {
    let what = What {
        bucket: hashed.what.bucket.clone(),
        key: hashed.what.key.clone(),
        version_id: hashed.what.version_id.clone(),
        size: hashed.what.size,
        sha256: hashed.what.sha256.clone(),
        etag: hashed.what.etag.clone(),
        ..Default::default()
    };
    let why = Why {
        source: ctx.source.clone(),
        ..hashed.why.clone()
    };
    ctx.record(
        EventKind::Verified,
        what,
        why,
        How {
            mechanisms: Vec::new(),
            ..ctx.how.clone()
        },
        Outcome {
            detail: Some(format!(
                "re-read and still hashes to the SHA-256 of hashed record {}",
                hashed.id
            )),
            error: None,
        },
    )
}
