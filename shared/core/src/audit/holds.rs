//! Holds check: every mark a `hold_applied` record says was in place is still in place, unless a
//! later `hold_released` record released it for that matter.
//!
//! Per recorded mechanism, on the version the record names as carrying the marks
//! (`what.new_version_id`, else `what.version_id`):
//!
//! | mechanism | still in place when |
//! |---|---|
//! | `tags` | the tag `legal-hold` is `true` and `legal-hold-matter` names every recorded matter |
//! | `metadata` | `x-amz-meta-legal-hold` is `true` on that version (the copy still exists) |
//! | `object-lock` | the Object Lock legal hold is ON on that version and on the exported one |
//!
//! Two streaming passes over the ledger: the first gathers the releases (few), the second checks
//! the holds block by block, so memory does not grow with the ledger.

use std::collections::BTreeSet;

use crate::hold::{MATTER_SEPARATOR, META_LEGAL_HOLD, TAG_LEGAL_HOLD, TAG_LEGAL_HOLD_MATTER};
use crate::ledger::{CustodyRecord, EventKind, Ledger, LedgerError};
use crate::store::{StoreErrorKind, StoreMark};

/// One recorded mark that is no longer (or could not be seen) in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkGone {
    pub key: String,
    pub version_id: Option<String>,
    pub mechanism: String,
    pub matter: Option<String>,
    /// The `hold_applied` record that says the mark was placed.
    pub record_id: String,
    pub problem: String,
    /// `false` when the mark could not be read (a transient or access failure), not seen gone.
    pub seen_gone: bool,
}

#[derive(Debug, Default)]
pub struct HoldsReport {
    /// Marks checked (one per mechanism per `hold_applied` record not released).
    pub checked: usize,
    pub gone: Vec<MarkGone>,
}

impl HoldsReport {
    pub fn all_in_place(&self) -> bool {
        self.gone.is_empty()
    }
}

/// Check the marks of every `hold_applied` record about `export`'s bucket.
pub async fn check_holds(
    ledger: &Ledger,
    export: &dyn StoreMark,
) -> Result<HoldsReport, LedgerError> {
    let bucket = export.bucket().to_string();
    let mut released: BTreeSet<(String, String)> = BTreeSet::new();
    ledger
        .for_each_record(|entry| {
            if let Ok(r) = entry.record
                && r.event == EventKind::HoldReleased
                && r.what.bucket == bucket
            {
                for matter in r.why.matter.iter().flat_map(|m| m.split(MATTER_SEPARATOR)) {
                    released.insert((r.what.key.clone(), matter.to_string()));
                }
            }
        })
        .await?;
    let mut report = HoldsReport::default();
    let (blocks, _) = ledger.list_blocks().await?;
    for listed in blocks {
        let index = listed.index;
        for record in super::block_records(ledger, index).await? {
            if record.event != EventKind::HoldApplied || record.what.bucket != bucket {
                continue;
            }
            let matters = record.why.matters();
            let still_held = matters.is_empty()
                || matters
                    .iter()
                    .any(|m| !released.contains(&(record.what.key.clone(), m.clone())));
            if !still_held {
                continue;
            }
            check_record(export, &record, &matters, &mut report).await;
        }
    }
    Ok(report)
}

async fn check_record(
    export: &dyn StoreMark,
    record: &CustodyRecord,
    matters: &[String],
    report: &mut HoldsReport,
) {
    let key = record.what.key.as_str();
    let exported = record.what.version_id.as_deref();
    let marked = record.what.new_version_id.as_deref().or(exported);
    for mechanism in &record.how.mechanisms {
        report.checked += 1;
        let problem = match mechanism.as_str() {
            "tags" => match export.get_tags(key, marked).await {
                Ok(tags) => {
                    let value = |k: &str| tags.iter().find(|t| t.key == k).map(|t| t.value.clone());
                    let on = value(TAG_LEGAL_HOLD).as_deref() == Some("true");
                    let named: BTreeSet<String> = value(TAG_LEGAL_HOLD_MATTER)
                        .unwrap_or_default()
                        .split(MATTER_SEPARATOR)
                        .map(str::to_string)
                        .collect();
                    let missing: Vec<&String> =
                        matters.iter().filter(|m| !named.contains(*m)).collect();
                    if !on {
                        Some(Ok(format!("tag {TAG_LEGAL_HOLD}=true is gone")))
                    } else if !missing.is_empty() {
                        Some(Ok(format!(
                            "tag {TAG_LEGAL_HOLD_MATTER} no longer names {missing:?}"
                        )))
                    } else {
                        None
                    }
                }
                Err(e) => Some(Err(e)),
            },
            "metadata" => match export.head(key, marked).await {
                Ok(head)
                    if head.metadata.get(META_LEGAL_HOLD).map(String::as_str) == Some("true") =>
                {
                    None
                }
                Ok(_) => Some(Ok(format!("x-amz-meta-{META_LEGAL_HOLD} is gone"))),
                Err(e) => Some(Err(e)),
            },
            "object-lock" => {
                let mut found = None;
                let versions: BTreeSet<Option<&str>> = [marked, exported].into_iter().collect();
                for version in versions {
                    match export.head(key, version).await {
                        Ok(head) if head.legal_hold == Some(true) => {}
                        Ok(_) => {
                            found = Some(Ok(format!(
                                "the Object Lock legal hold of version {} is OFF",
                                version.unwrap_or("null")
                            )));
                            break;
                        }
                        Err(e) => {
                            found = Some(Err(e));
                            break;
                        }
                    }
                }
                found
            }
            other => Some(Ok(format!("unknown mechanism {other:?}"))),
        };
        let Some(problem) = problem else {
            continue;
        };
        let (problem, seen_gone) = match problem {
            Ok(text) => (text, true),
            Err(e) if e.kind == StoreErrorKind::NotFound => {
                (format!("the marked version is gone: {e}"), true)
            }
            Err(e) => (format!("could not be checked: {e}"), false),
        };
        report.gone.push(MarkGone {
            key: key.to_string(),
            version_id: marked.map(str::to_string),
            mechanism: mechanism.clone(),
            matter: record.why.matter.clone(),
            record_id: record.id.clone(),
            problem,
            seen_gone,
        });
    }
}
