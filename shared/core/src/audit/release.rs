//! Releasing a hold: the end of a matter's hold on its objects, done and recorded.
//!
//! For one matter and one conversation (or one key), from the ledger's `hold_applied` records:
//!
//! 1. every object the matter holds there is found, with the version carrying its marks;
//! 2. an object that another matter still holds (named on a later `hold_applied` record and not
//!    released since) is **refused**: its marks stay, and the refusal names the other matters;
//! 3. otherwise this project's marks come off: the Object Lock legal hold OFF (on the marked and
//!    the exported version), the `legal-hold` and `legal-hold-matter` tags removed (the object's
//!    own tags kept); the metadata copy stays, as history;
//! 4. one `hold_released` record per object says who released it, why (the reason given), for
//!    which matter and which mechanisms.
//!
//! A run that fails half-way (a transient error) releases nothing it did not record: the record
//! names only the mechanisms that did come off, and a second run completes the rest.

use std::collections::{BTreeMap, BTreeSet};

use crate::hold::{RunContext, TAG_LEGAL_HOLD, TAG_LEGAL_HOLD_MATTER};
use crate::ledger::{CustodyRecord, EventKind, How, Ledger, LedgerError, Outcome, What, Why};
use crate::store::{StoreError, StoreMark, Tag};

/// Which objects a release concerns.
#[derive(Debug, Clone)]
pub enum ReleaseScope {
    Conversation(String),
    Key(String),
}

/// What became of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseResult {
    /// Marks removed (the mechanisms named) and a `hold_released` record made.
    Released { mechanisms: Vec<String> },
    /// Other matters still hold the object; nothing was changed.
    Refused { other_matters: Vec<String> },
    /// A store call failed; the mechanisms released before it are named.
    Failed {
        mechanisms: Vec<String>,
        error: String,
    },
}

#[derive(Debug, Clone)]
pub struct ReleasedObject {
    pub key: String,
    pub version_id: Option<String>,
    pub result: ReleaseResult,
}

#[derive(Debug, Default)]
pub struct ReleaseReport {
    pub objects: Vec<ReleasedObject>,
    pub records: Vec<CustodyRecord>,
}

/// The latest hold state of one object, from the ledger.
#[derive(Debug, Default, Clone)]
struct HeldObject {
    version_id: Option<String>,
    marked_version: Option<String>,
    mechanisms: BTreeSet<String>,
    matters: BTreeSet<String>,
    conversation_id: Option<String>,
    recording_id: Option<String>,
}

/// Release `matter`'s hold on the objects of `scope` in `export`'s bucket, recording each release
/// with `reason`. Nothing is appended here: the caller appends `report.records`.
pub async fn release(
    ledger: &Ledger,
    export: &dyn StoreMark,
    matter: &str,
    scope: &ReleaseScope,
    reason: &str,
    ctx: &RunContext,
) -> Result<ReleaseReport, LedgerError> {
    let bucket = export.bucket().to_string();
    let mut held: BTreeMap<String, HeldObject> = BTreeMap::new();
    ledger
        .for_each_record(|entry| {
            let Ok(r) = entry.record else { return };
            if r.what.bucket != bucket {
                return;
            }
            let in_scope = match scope {
                ReleaseScope::Conversation(c) => r.why.conversation_id.as_deref() == Some(c),
                ReleaseScope::Key(k) => &r.what.key == k,
            };
            if !in_scope {
                return;
            }
            let matters = r.why.matters();
            match r.event {
                EventKind::HoldApplied => {
                    let object = held.entry(r.what.key.clone()).or_default();
                    object.version_id = r.what.version_id.clone();
                    object.marked_version =
                        r.what.new_version_id.clone().or(r.what.version_id.clone());
                    object.mechanisms.extend(r.how.mechanisms.iter().cloned());
                    object.matters.extend(matters);
                    object.conversation_id = r.why.conversation_id.clone();
                    object.recording_id = r.why.recording_id.clone();
                }
                EventKind::HoldReleased => {
                    if let Some(object) = held.get_mut(&r.what.key) {
                        for m in &matters {
                            object.matters.remove(m);
                        }
                    }
                }
                _ => {}
            }
        })
        .await?;
    let mut report = ReleaseReport::default();
    for (key, object) in held.into_iter().filter(|(_, o)| o.matters.contains(matter)) {
        let others: Vec<String> = object
            .matters
            .iter()
            .filter(|m| m.as_str() != matter)
            .cloned()
            .collect();
        let result = if !others.is_empty() {
            ReleaseResult::Refused {
                other_matters: others,
            }
        } else {
            match unmark(export, &key, &object).await {
                (mechanisms, None) => ReleaseResult::Released { mechanisms },
                (mechanisms, Some(e)) => ReleaseResult::Failed {
                    mechanisms,
                    error: e.to_string(),
                },
            }
        };
        let released = match &result {
            ReleaseResult::Released { mechanisms } => Some(mechanisms.clone()),
            ReleaseResult::Failed { mechanisms, .. } if !mechanisms.is_empty() => {
                Some(mechanisms.clone())
            }
            _ => None,
        };
        if let Some(mechanisms) = released {
            report.records.push(released_record(
                &bucket, &key, &object, matter, reason, mechanisms, ctx,
            ));
        }
        report.objects.push(ReleasedObject {
            key,
            version_id: object.version_id.clone(),
            result,
        });
    }
    Ok(report)
}

/// Takes this project's marks off; returns the mechanisms released and the error that stopped it.
async fn unmark(
    export: &dyn StoreMark,
    key: &str,
    object: &HeldObject,
) -> (Vec<String>, Option<StoreError>) {
    let mut done = Vec::new();
    if object.mechanisms.contains("object-lock") {
        let versions: BTreeSet<Option<&str>> = [
            object.marked_version.as_deref(),
            object.version_id.as_deref(),
        ]
        .into_iter()
        .collect();
        for version in versions {
            if let Err(e) = export.put_legal_hold(key, version, false).await {
                return (done, Some(e));
            }
        }
        done.push("object-lock".to_string());
    }
    if object.mechanisms.contains("tags") {
        let version = object.marked_version.as_deref();
        let result = async {
            let tags = export.get_tags(key, version).await?;
            let kept: Vec<Tag> = tags
                .into_iter()
                .filter(|t| t.key != TAG_LEGAL_HOLD && t.key != TAG_LEGAL_HOLD_MATTER)
                .collect();
            export.put_tags(key, version, &kept).await
        }
        .await;
        if let Err(e) = result {
            return (done, Some(e));
        }
        done.push("tags".to_string());
    }
    (done, None)
}

fn released_record(
    bucket: &str,
    key: &str,
    object: &HeldObject,
    matter: &str,
    reason: &str,
    mechanisms: Vec<String>,
    ctx: &RunContext,
) -> CustodyRecord {
    let what = What {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version_id: object.version_id.clone(),
        new_version_id: object
            .marked_version
            .clone()
            .filter(|v| Some(v) != object.version_id.as_ref()),
        ..Default::default()
    };
    let why = Why {
        export_job: ctx.export_job.clone(),
        conversation_id: object.conversation_id.clone(),
        recording_id: object.recording_id.clone(),
        matter: Some(matter.to_string()),
        source: ctx.source.clone(),
    };
    let kept = if object.mechanisms.contains("metadata") {
        "; the metadata copy stays, as history"
    } else {
        ""
    };
    ctx.record(
        EventKind::HoldReleased,
        what,
        why,
        How {
            mechanisms,
            ..ctx.how.clone()
        },
        Outcome {
            detail: Some(format!("released for matter {matter}: {reason}{kept}")),
            error: None,
        },
    )
}
