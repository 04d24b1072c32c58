//! Superseded versions: the key of an object the run hashes already has a `hashed` record of
//! another version (or, unversioned, of other content). The version hashed now is then the
//! successor of the recorded one, not "the exported version": the run records a `superseded`
//! finding naming both versions and both digests (identity: the successor version and digest,
//! `ledger::identity`), and the successor's own `observed` and `hashed` records say whose
//! successor it is. Nothing is taken off the recorded version: it keeps its hold and its records.
//!
//! ```text
//! {"event":"superseded","what":{"key":"…/a.opus","version_id":"V1",   ← the recorded version
//!   "new_version_id":"V2","sha256":"<successor's digest>",…},
//!  "outcome":{"detail":"the recorded version V1 (sha256 …, block 3 leaf 17) has a successor V2 …"}}
//! ```
//!
//! Which versions a key has in the ledger is a question by key, which record identities cannot
//! answer: it is asked of the query index (`docs/query.md`), one listing of the folder's postings
//! per folder a unit touches, every cited record re-checked against its block. The index's reach
//! is taken once per run, when a unit first hashes something ([`LazyRecordedVersions`]: a run
//! that hashes nothing, such as a tagger invocation for an already recorded object, asks the
//! ledger nothing for this); the blocks after it (the integrator
//! publishes the index with every block, so usually none) are read once and kept as the few
//! fields this needs. A ledger whose index lags by more than [`MAX_TAIL_BLOCKS`] blocks is
//! indexed first ([`crate::query::catch_up`]); where that cannot be done, the run says that it
//! could not look for earlier versions (a note in its report), rather than guess.
//!
//! The rule, per hashed object (key `K`, version `v`, digest `d`):
//! 1. a `hashed` record of `(K, v, d)` exists: nothing new;
//! 2. `v` is a copy custody made (`new_version_id` of a `hold_applied` record of `K`): nothing;
//! 3. a `hashed` record of `(K, v)` with another digest, `v` a real version id: S3 versions are
//!    immutable, so the recorded version's content changed: a `mismatch` finding;
//! 4. otherwise, if `K` has `hashed` records: `superseded`, naming the newest of them.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, stream};

use crate::digest::{DigestError, ObjectDigest};
use crate::hold::{Finding, ObjectOutcome};
use crate::ledger::{BlockView, CustodyRecord, EventKind, Ledger};
use crate::query::index::field::folder_of_key;
use crate::query::{RecordFilter, catch_up, coverage, find_covered};

/// Blocks past the index read whole when a run first needs the recorded versions, at most.
pub const MAX_TAIL_BLOCKS: u64 = 64;

/// How many blocks after `covered` up to `head`.
fn tail_len(head: u64, covered: Option<u64>) -> u64 {
    match covered {
        Some(c) if c >= head => 0,
        Some(c) => head - c,
        None => head.saturating_add(1),
    }
}

/// What the ledger holds of one key, as far as succession goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFact {
    pub key: String,
    pub event: EventKind,
    pub version_id: Option<String>,
    pub sha256: Option<String>,
    pub new_version_id: Option<String>,
    pub block: u64,
    pub leaf: u64,
}

impl RecordedFact {
    fn of(record: &CustodyRecord, block: u64, leaf: u64) -> Option<RecordedFact> {
        matches!(record.event, EventKind::Hashed | EventKind::HoldApplied).then(|| RecordedFact {
            key: record.what.key.clone(),
            event: record.event,
            version_id: record.what.version_id.clone(),
            sha256: record.what.sha256.clone(),
            new_version_id: record.what.new_version_id.clone(),
            block,
            leaf,
        })
    }
}

/// How the run finds the versions the ledger holds of a key.
pub enum RecordedVersions {
    /// The ledger has no block: nothing is recorded.
    Empty,
    /// Blocks `0..=covered` through the index, the blocks after it read once (their facts).
    Index {
        covered: Option<u64>,
        tail: Vec<RecordedFact>,
    },
    /// Earlier versions cannot be looked up (why).
    Unavailable(String),
}

/// [`RecordedVersions`] opened on first need: a run that hashes nothing (every version already
/// recorded, or nothing discovered) makes none of its requests (the index's reach, the tail
/// blocks), which a tagger invoked per event would otherwise make on every invocation.
pub struct LazyRecordedVersions<'a> {
    ledger: &'a Ledger,
    bucket: String,
    opened: tokio::sync::OnceCell<RecordedVersions>,
}

impl<'a> LazyRecordedVersions<'a> {
    pub fn new(ledger: &'a Ledger, bucket: &str) -> Self {
        LazyRecordedVersions {
            ledger,
            bucket: bucket.to_string(),
            opened: tokio::sync::OnceCell::new(),
        }
    }

    /// Opens them the first time (once, however many units ask at once).
    pub async fn get(&self) -> &RecordedVersions {
        self.opened
            .get_or_init(|| RecordedVersions::open(self.ledger, &self.bucket))
            .await
    }

    /// Why earlier versions could not be looked up, if they were needed and could not be.
    pub fn unavailable(&self) -> Option<&str> {
        self.opened.get().and_then(RecordedVersions::unavailable)
    }
}

impl RecordedVersions {
    /// The index's reach now, and the facts of the blocks after it.
    pub async fn open(ledger: &Ledger, bucket: &str) -> RecordedVersions {
        match Self::try_open(ledger, bucket).await {
            Ok(found) => found,
            Err(why) => RecordedVersions::Unavailable(why),
        }
    }

    async fn try_open(ledger: &Ledger, bucket: &str) -> Result<RecordedVersions, String> {
        let store = ledger.store().as_ref();
        let Some(head) = ledger.head_index().await.map_err(|e| e.to_string())? else {
            return Ok(RecordedVersions::Empty);
        };
        let mut covered = coverage(store, ledger.layout(), Some(head))
            .await
            .map_err(|e| e.to_string())?
            .covered;
        if tail_len(head, covered) > MAX_TAIL_BLOCKS {
            let caught = catch_up(ledger).await.map_err(|e| {
                format!("the query index lags the ledger and could not be brought up to date: {e}")
            })?;
            covered = caught.covered;
            if tail_len(head, covered) > MAX_TAIL_BLOCKS {
                return Err(format!(
                    "the query index covers {} of {} blocks (run `custody index`)",
                    covered.map_or(0, |c| c + 1),
                    head + 1
                ));
            }
        }
        let first = covered.map_or(0, |c| c + 1);
        let blocks: Vec<_> = stream::iter(first..=head)
            .map(|block| async move { (block, ledger.read_block(block).await) })
            .buffered(4)
            .collect()
            .await;
        let mut tail = Vec::new();
        for (block, bytes) in blocks {
            let bytes = bytes.map_err(|e| e.to_string())?;
            let view = BlockView::parse(&bytes)
                .map_err(|e| format!("{}: {e}", ledger.layout().block(block)))?;
            for (i, line) in view.records.iter().enumerate() {
                let (Ok(record), Some(leaf)) = (
                    serde_json::from_slice::<CustodyRecord>(line),
                    view.leaf_index(i),
                ) else {
                    continue;
                };
                if record.what.bucket == bucket
                    && let Some(fact) = RecordedFact::of(&record, block, leaf)
                {
                    tail.push(fact);
                }
            }
        }
        Ok(RecordedVersions::Index { covered, tail })
    }

    /// Why earlier versions could not be looked up, if so.
    pub fn unavailable(&self) -> Option<&str> {
        match self {
            RecordedVersions::Unavailable(why) => Some(why),
            _ => None,
        }
    }

    /// The facts the ledger holds of `keys` (of `bucket`), by key, oldest first.
    pub async fn of_keys(
        &self,
        ledger: &Ledger,
        bucket: &str,
        keys: &BTreeSet<&str>,
    ) -> Result<BTreeMap<String, Vec<RecordedFact>>, String> {
        let mut facts: BTreeMap<String, Vec<RecordedFact>> = BTreeMap::new();
        let (covered, tail) = match self {
            RecordedVersions::Empty => return Ok(facts),
            RecordedVersions::Unavailable(why) => return Err(why.clone()),
            RecordedVersions::Index { covered, tail } => (covered, tail),
        };
        if let Some(covered) = covered {
            let folders: BTreeSet<String> = keys.iter().map(|k| folder_of_key(k)).collect();
            for folder in folders {
                let filter = RecordFilter {
                    key_prefix: Some(folder),
                    ..RecordFilter::default()
                };
                let Some(found) = find_covered(ledger, &filter, *covered)
                    .await
                    .map_err(|e| e.to_string())?
                else {
                    continue;
                };
                for m in found.matches {
                    if m.record.what.bucket == bucket
                        && keys.contains(m.record.what.key.as_str())
                        && let Some(fact) = RecordedFact::of(&m.record, m.block, m.leaf_index)
                    {
                        facts.entry(fact.key.clone()).or_default().push(fact);
                    }
                }
            }
        }
        for fact in tail.iter().filter(|f| keys.contains(f.key.as_str())) {
            facts
                .entry(fact.key.clone())
                .or_default()
                .push(fact.clone());
        }
        for list in facts.values_mut() {
            list.sort_by_key(|f| f.leaf);
        }
        Ok(facts)
    }
}

/// The finding the rule (module docs) gives a hashed version of a key with these `facts`.
pub fn succession(facts: &[RecordedFact], version: Option<&str>, sha256: &str) -> Option<Finding> {
    let hashed = || facts.iter().filter(|f| f.event == EventKind::Hashed);
    if hashed().any(|f| f.version_id.as_deref() == version && f.sha256.as_deref() == Some(sha256)) {
        return None;
    }
    if version.is_some()
        && facts
            .iter()
            .any(|f| f.event == EventKind::HoldApplied && f.new_version_id.as_deref() == version)
    {
        return None;
    }
    if let Some(v) = version.filter(|v| *v != "null")
        && let Some(same) = hashed().find(|f| f.version_id.as_deref() == Some(v))
    {
        return Some(Finding::Mismatch {
            what: format!(
                "SHA-256 recorded for this version (block {} leaf {})",
                same.block, same.leaf
            ),
            expected: same.sha256.clone().unwrap_or_default(),
            actual: sha256.to_string(),
        });
    }
    let newest = hashed().next_back()?;
    Some(Finding::Superseded {
        recorded_version: newest.version_id.clone(),
        recorded_sha256: newest.sha256.clone().unwrap_or_default(),
        recorded_at: format!("block {} leaf {}", newest.block, newest.leaf),
        sha256: sha256.to_string(),
    })
}

/// The succession findings of a unit's hashed objects, pushed onto their outcomes. An error
/// (the ledger could not be read) leaves every hashed object of the unit for the retry: a
/// successor must not be recorded as the exported version.
pub async fn find_successors(
    versions: &LazyRecordedVersions<'_>,
    ledger: &Ledger,
    bucket: &str,
    outcomes: &mut [ObjectOutcome],
    digests: &[Option<Result<ObjectDigest, DigestError>>],
) {
    let hashed: BTreeSet<&str> = outcomes
        .iter()
        .zip(digests)
        .filter(|(_, d)| matches!(d, Some(Ok(_))))
        .map(|(o, _)| o.observed.key.as_str())
        .collect();
    if hashed.is_empty() {
        return;
    }
    let versions = versions.get().await;
    if versions.unavailable().is_some() {
        return;
    }
    let facts = match versions.of_keys(ledger, bucket, &hashed).await {
        Ok(facts) => facts,
        Err(why) => {
            for (outcome, digest) in outcomes.iter_mut().zip(digests) {
                if matches!(digest, Some(Ok(_))) {
                    outcome.findings.push(Finding::Retry {
                        action: "ReadLedger".to_string(),
                        message: format!("earlier versions could not be looked up: {why}"),
                    });
                }
            }
            return;
        }
    };
    for (outcome, digest) in outcomes.iter_mut().zip(digests) {
        let (Some(Ok(digest)), Some(facts)) = (digest, facts.get(&outcome.observed.key)) else {
            continue;
        };
        if let Some(finding) = succession(facts, digest.version_id.as_deref(), &digest.sha256_hex) {
            outcome.findings.push(finding);
        }
    }
}

#[cfg(test)]
#[path = "superseded_tests.rs"]
mod tests;
