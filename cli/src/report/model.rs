//! The custody report's content, built from the ledger's records about one matter, conversation
//! or export job (in ledger order): a summary, one entry per conversation (its objects with
//! their digests, the hold marks, the findings), the attestations, and, filled in by
//! `verification`, the checkpoint it was made against. `custody report --format json` prints
//! exactly this; the HTML page renders it.
//!
//! ```json
//! {"subject":{"kind":"matter","value":"M-1"},"ledger":"s3://…/ledger","origin":"…",
//!  "summary":{"conversations":2,"objects":9,"hashed":9,"bytes":48213,"held":9,…},
//!  "conversations":[{"conversation_id":"c0ffee01-…","folder":"org/…/conversation_id=c0ffee01-…/",
//!    "objects":[{"key":"…/r1.opus","name":"r1.opus","version_id":"3HL4","size":4096,
//!                "sha256":"9f86…","held":true}],
//!    "marks":["object-lock","tags"],"matters":["M-1"],"findings":[…],"attestation":"5e0f…"}],
//!  "attestations":[{"scope":"…/","digest":"5e0f…","present":4,"missing":0,"unreferenced":1,
//!                   "record_id":"…","block":0,"leaf_index":12}],
//!  "verification":{…},"reverify":[{"purpose":"…","command":"custody verify …"}]}
//! ```

use std::collections::{BTreeMap, BTreeSet};

use custody_core::ledger::EventKind;
use custody_core::query::Match;
use serde::Serialize;

use super::verification::Verification;

/// What the report is about: the `--matter`, `--conversation` or `--export-job` given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subject {
    /// `matter`, `conversation` or `export_job`.
    pub kind: &'static str,
    pub value: String,
}

impl Subject {
    /// The flag that names it on the command line.
    pub fn flag(&self) -> String {
        format!("--{}", self.kind.replace('_', "-"))
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct CustodyReport {
    pub subject: Subject,
    /// When the report was made (RFC 3339, UTC).
    pub generated_at: String,
    pub tool_version: String,
    pub ledger: String,
    pub origin: String,
    pub summary: Summary,
    pub conversations: Vec<Conversation>,
    pub attestations: Vec<AttestationEntry>,
    pub verification: Verification,
    pub reverify: Vec<Reverify>,
}

/// Counts over everything the report covers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub conversations: usize,
    /// Distinct object versions (key and version) the records name.
    pub objects: usize,
    /// Of those, how many were hashed, and their bytes.
    pub hashed: usize,
    pub bytes: u64,
    /// Object versions a hold was applied to, and released from.
    pub held: usize,
    pub released: usize,
    /// Findings by kind (`missing`, `unreferenced`, `mismatch`, `failed`, `superseded`).
    pub findings: BTreeMap<String, usize>,
    pub records: usize,
    /// The first and last record's time.
    pub first_at: Option<String>,
    pub last_at: Option<String>,
    pub matters: Vec<String>,
    pub export_jobs: Vec<String>,
    /// The export buckets the objects are in.
    pub buckets: Vec<String>,
}

/// One conversation and what the ledger says about it.
#[derive(Debug, Clone, Serialize)]
pub struct Conversation {
    /// The conversation id, or `(none)` for records that name none.
    pub conversation_id: String,
    /// The longest folder all its keys share (`…/conversation_id=<id>/`).
    pub folder: String,
    pub objects: Vec<ObjectEntry>,
    /// Hold mechanisms applied (`tags`, `metadata`, `object-lock`).
    pub marks: Vec<String>,
    pub matters: Vec<String>,
    pub findings: Vec<FindingEntry>,
    /// The digest of the newest attestation of its folder.
    pub attestation: Option<String>,
    pub records: usize,
}

/// One object version of a conversation.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectEntry {
    pub key: String,
    /// The key relative to the conversation's folder.
    pub name: String,
    pub version_id: Option<String>,
    pub size: Option<u64>,
    pub sha256: Option<String>,
    pub held: bool,
    pub released: bool,
}

/// One finding record.
#[derive(Debug, Clone, Serialize)]
pub struct FindingEntry {
    pub event: &'static str,
    pub key: String,
    pub version_id: Option<String>,
    pub detail: String,
    pub at: String,
    pub block: u64,
    pub leaf_index: u64,
}

/// One `attested` record: what a conversation folder (or export job) contained.
#[derive(Debug, Clone, Serialize)]
pub struct AttestationEntry {
    pub scope: String,
    pub digest: String,
    pub present: usize,
    pub missing: usize,
    pub unreferenced: usize,
    pub conversation_id: Option<String>,
    pub record_id: String,
    pub at: String,
    pub block: u64,
    pub leaf_index: u64,
}

/// A command that re-checks the report independently.
#[derive(Debug, Clone, Serialize)]
pub struct Reverify {
    pub purpose: String,
    pub command: String,
}

/// The events that are findings a person must look at (or their resolution).
fn finding_event(event: EventKind) -> bool {
    matches!(
        event,
        EventKind::Missing
            | EventKind::Unreferenced
            | EventKind::Mismatch
            | EventKind::Failed
            | EventKind::Superseded
            | EventKind::Resolved
    )
}

/// The summary, conversations and attestations of `matches` (in ledger order).
pub fn build(matches: &[Match]) -> (Summary, Vec<Conversation>, Vec<AttestationEntry>) {
    let mut summary = Summary {
        records: matches.len(),
        first_at: matches.iter().map(|m| m.record.at.clone()).min(),
        last_at: matches.iter().map(|m| m.record.at.clone()).max(),
        ..Summary::default()
    };
    let mut matters = BTreeSet::new();
    let mut jobs = BTreeSet::new();
    let mut buckets = BTreeSet::new();
    let mut conversations: BTreeMap<String, Conversation> = BTreeMap::new();
    let mut attestations = Vec::new();
    for m in matches {
        let r = &m.record;
        matters.extend(r.why.matters());
        jobs.extend(r.why.export_job.clone());
        if r.event == EventKind::Attested {
            let attestation = r.attestation.as_ref();
            let scope = attestation.map_or_else(|| r.what.key.clone(), |a| a.scope.clone());
            let digest = r.what.sha256.clone().unwrap_or_default();
            let conversation_id = r
                .why
                .conversation_id
                .clone()
                .or_else(|| conversation_in(&scope));
            if let Some(id) = &conversation_id {
                let conversation = entry(&mut conversations, id);
                conversation.records += 1;
                conversation.attestation = Some(digest.clone());
            }
            attestations.push(AttestationEntry {
                scope,
                digest,
                present: attestation.map_or(0, |a| a.present.len()),
                missing: attestation.map_or(0, |a| a.missing.len()),
                unreferenced: attestation.map_or(0, |a| a.unreferenced.len()),
                conversation_id,
                record_id: r.id.clone(),
                at: r.at.clone(),
                block: m.block,
                leaf_index: m.leaf_index,
            });
            continue;
        }
        let id = r
            .why
            .conversation_id
            .clone()
            .unwrap_or_else(|| "(none)".to_string());
        let conversation = entry(&mut conversations, &id);
        conversation.records += 1;
        for matter in r.why.matters() {
            if !conversation.matters.contains(&matter) {
                conversation.matters.push(matter);
            }
        }
        buckets.insert(r.what.bucket.clone());
        if finding_event(r.event) {
            *summary
                .findings
                .entry(r.event.as_str().to_string())
                .or_default() += 1;
            let detail = r
                .outcome
                .error
                .as_ref()
                .map(|e| e.message.clone())
                .or_else(|| r.outcome.detail.clone())
                .unwrap_or_default();
            conversation.findings.push(FindingEntry {
                event: r.event.as_str(),
                key: r.what.key.clone(),
                version_id: r.what.version_id.clone(),
                detail,
                at: r.at.clone(),
                block: m.block,
                leaf_index: m.leaf_index,
            });
            if matches!(r.event, EventKind::Missing | EventKind::Superseded) {
                continue;
            }
        }
        let object = object_of(conversation, &r.what.key, r.what.version_id.as_deref());
        match r.event {
            EventKind::Hashed => {
                object.sha256 = r.what.sha256.clone();
                object.size = r.what.size.or(object.size);
            }
            EventKind::HoldApplied => {
                object.held = true;
                for mark in &r.how.mechanisms {
                    if !conversation.marks.contains(mark) {
                        conversation.marks.push(mark.clone());
                    }
                }
            }
            EventKind::HoldReleased => object.released = true,
            _ => object.size = object.size.or(r.what.size),
        }
    }
    let mut conversations: Vec<Conversation> = conversations.into_values().collect();
    for c in &mut conversations {
        c.marks.sort();
        c.matters.sort();
        c.objects
            .sort_by(|a, b| (&a.key, &a.version_id).cmp(&(&b.key, &b.version_id)));
        c.folder = common_folder(c.objects.iter().map(|o| o.key.as_str()));
        for o in &mut c.objects {
            o.name = o.key.strip_prefix(&c.folder).unwrap_or(&o.key).to_string();
        }
        summary.objects += c.objects.len();
        summary.hashed += c.objects.iter().filter(|o| o.sha256.is_some()).count();
        summary.bytes += c
            .objects
            .iter()
            .filter(|o| o.sha256.is_some())
            .filter_map(|o| o.size)
            .sum::<u64>();
        summary.held += c.objects.iter().filter(|o| o.held).count();
        summary.released += c.objects.iter().filter(|o| o.released).count();
    }
    summary.conversations = conversations
        .iter()
        .filter(|c| c.conversation_id != "(none)")
        .count();
    summary.matters = matters.into_iter().collect();
    summary.export_jobs = jobs.into_iter().collect();
    summary.buckets = buckets.into_iter().filter(|b| !b.is_empty()).collect();
    (summary, conversations, attestations)
}

/// The conversation entry of `id`, made empty when new.
fn entry<'a>(
    conversations: &'a mut BTreeMap<String, Conversation>,
    id: &str,
) -> &'a mut Conversation {
    conversations
        .entry(id.to_string())
        .or_insert_with(|| Conversation {
            conversation_id: id.to_string(),
            folder: String::new(),
            objects: Vec::new(),
            marks: Vec::new(),
            matters: Vec::new(),
            findings: Vec::new(),
            attestation: None,
            records: 0,
        })
}

/// The conversation id a folder scope names (`…/conversation_id=<id>/`).
fn conversation_in(scope: &str) -> Option<String> {
    let (_, rest) = scope.rsplit_once("conversation_id=")?;
    let id = rest.split('/').next().unwrap_or_default();
    (!id.is_empty()).then(|| id.to_string())
}

fn object_of<'a>(
    conversation: &'a mut Conversation,
    key: &str,
    version: Option<&str>,
) -> &'a mut ObjectEntry {
    let at = conversation
        .objects
        .iter()
        .position(|o| o.key == key && o.version_id.as_deref() == version);
    let at = at.unwrap_or_else(|| {
        conversation.objects.push(ObjectEntry {
            key: key.to_string(),
            name: String::new(),
            version_id: version.map(str::to_string),
            size: None,
            sha256: None,
            held: false,
            released: false,
        });
        conversation.objects.len() - 1
    });
    &mut conversation.objects[at]
}

/// The longest folder (ending in `/`) every key starts with.
fn common_folder<'a>(mut keys: impl Iterator<Item = &'a str>) -> String {
    let Some(first) = keys.next() else {
        return String::new();
    };
    let mut common = first.rsplit_once('/').map_or("", |(folder, _)| folder);
    for key in keys {
        while !common.is_empty() && !key.starts_with(&format!("{common}/")) {
            common = common.rsplit_once('/').map_or("", |(folder, _)| folder);
        }
    }
    if common.is_empty() {
        String::new()
    } else {
        format!("{common}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_folder_ends_at_a_slash() {
        let keys = ["o/c=1/a.opus", "o/c=1/b/x.json", "o/c=1/b.json"];
        assert_eq!(common_folder(keys.into_iter()), "o/c=1/");
        assert_eq!(common_folder(["o/c=1/a", "o/c=10/a"].into_iter()), "o/");
        assert_eq!(common_folder(["a", "b"].into_iter()), "");
        assert_eq!(common_folder(std::iter::empty()), "");
    }
}
