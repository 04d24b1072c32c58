//! The hold engine: for every discovered object, decide whether it is held, apply the configured
//! marking in the documented order (metadata copy, tags, legal hold; see the module docs), and
//! return a typed outcome. One object's failure never stops the others.

use std::collections::BTreeSet;

use futures::{StreamExt, stream};
use serde_json::Value;

use super::content::content_sha256;
use super::copy_claim::CopyClaims;
use super::finding::Finding;
use super::outcome::{HoldReport, ObjectOutcome, Observed};
use super::policy::{HoldPolicy, Selection};
use crate::digest::DigestEngine;
use crate::export::{DiscoveredObject, Discovery, DiscoveryNote, ObjectState, values_at_path};
use crate::store::{
    BucketConfig, ObjectHead, StoreError, StoreErrorKind, StoreMark, StoredChecksum,
};

/// How many objects the engine marks at once.
pub const DEFAULT_HOLD_CONCURRENCY: usize = 8;

pub struct HoldEngine<'a> {
    pub(super) store: &'a dyn StoreMark,
    pub(super) policy: &'a HoldPolicy,
    pub(super) concurrency: usize,
    /// Hashes the versions of a metadata copy; without it, a plain streaming hash is used.
    pub(super) hasher: Option<&'a DigestEngine>,
    /// (key, matter) pairs whose hold the ledger says was released: never applied again.
    pub(super) released: Option<&'a BTreeSet<(String, String)>>,
    /// Claims that make one metadata copy per exported version across concurrent runs.
    pub(super) claims: Option<&'a CopyClaims<'a>>,
    /// The bucket's configuration, read once by the caller for many runs of the engine.
    pub(super) bucket_config: Option<&'a Result<BucketConfig, StoreError>>,
}

impl<'a> HoldEngine<'a> {
    pub fn new(store: &'a dyn StoreMark, policy: &'a HoldPolicy) -> Self {
        HoldEngine {
            store,
            policy,
            concurrency: DEFAULT_HOLD_CONCURRENCY,
            hasher: None,
            released: None,
            claims: None,
            bucket_config: None,
        }
    }

    /// Use this bucket configuration (read once per ingest run) instead of reading it per run
    /// of the engine.
    pub fn with_bucket_config(mut self, config: &'a Result<BucketConfig, StoreError>) -> Self {
        self.bucket_config = Some(config);
        self
    }

    /// Claim each metadata copy before making it, so concurrent runs make one copy.
    pub fn with_copy_claims(mut self, claims: &'a CopyClaims<'a>) -> Self {
        self.claims = Some(claims);
        self
    }

    /// Matters released for a key (from the ledger's `hold_released` records) no longer hold
    /// it: a later run never re-applies their hold.
    pub fn with_released(mut self, released: &'a BTreeSet<(String, String)>) -> Self {
        self.released = Some(released);
        self
    }

    /// Prove metadata copies with the parallel, resumable hashing engine (hashing off the async
    /// runtime, retries, ranged reads), as the main job does.
    pub fn with_hasher(mut self, hasher: &'a DigestEngine) -> Self {
        self.hasher = Some(hasher);
        self
    }

    pub(super) async fn content_hash(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> Result<String, StoreError> {
        match self.hasher {
            Some(engine) => engine
                .hash_version(key, version)
                .await
                .map(|digest| digest.sha256_hex)
                .map_err(|e| {
                    e.store_error().cloned().unwrap_or_else(|| {
                        StoreError::new(StoreErrorKind::Other, "GetObject", e.to_string())
                    })
                }),
            None => content_sha256(self.store, key, version)
                .await
                .map(|(sha, _)| sha),
        }
    }

    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Mark every discovered object as the policy says; outcomes come back in discovery order.
    pub async fn run(&self, discovery: &Discovery) -> HoldReport {
        let read = match (self.policy.marking.object_lock, self.bucket_config) {
            (true, None) => Some(self.store.bucket_config().await),
            _ => None,
        };
        let bucket_config = if self.policy.marking.object_lock {
            self.bucket_config.or(read.as_ref())
        } else {
            None
        };
        let outcomes = stream::iter(discovery.objects.iter())
            .map(|object| self.process(object, discovery, bucket_config))
            .buffered(self.concurrency)
            .collect()
            .await;
        HoldReport {
            outcomes,
            rejected_entries: discovery.rejected_entries.clone(),
        }
    }

    async fn process(
        &self,
        object: &DiscoveredObject,
        discovery: &Discovery,
        bucket_config: Option<&Result<BucketConfig, StoreError>>,
    ) -> ObjectOutcome {
        let mut outcome = ObjectOutcome::new(observed_of(object));
        let versioned_request = object.requested_version.is_some();
        for note in &object.notes {
            outcome.findings.push(match note {
                DiscoveryNote::Unreferenced { reason } => Finding::Unreferenced {
                    reason: reason.clone(),
                },
                DiscoveryNote::InvalidMetadata(e) => Finding::InvalidMetadata {
                    field: e.field.clone(),
                    problem: e.to_string(),
                },
                DiscoveryNote::MetadataUnreadable(e) => failed(
                    self.store,
                    e,
                    object.pinned_version().is_some(),
                    is_kms(object.head()),
                ),
                DiscoveryNote::SizeMismatch { expected, actual } => Finding::Mismatch {
                    what: "size".to_string(),
                    expected: expected.to_string(),
                    actual: actual.to_string(),
                },
            });
        }
        let head = match &object.state {
            ObjectState::Present(head) => head,
            ObjectState::Missing { named_by } => {
                // A missing file is missing for the matters that would hold it: the record says
                // so, so that a matter's query finds it.
                outcome.matters = self.hold_decision(object, discovery).unwrap_or_default();
                outcome.findings.push(Finding::Missing {
                    named_by: named_by.clone(),
                });
                return outcome;
            }
            ObjectState::OutOfScope(refused) => {
                outcome.findings.push(Finding::OutOfScope {
                    reason: refused.to_string(),
                });
                return outcome;
            }
            ObjectState::Unreadable(e) => {
                outcome
                    .findings
                    .push(failed(self.store, e, versioned_request, false));
                return outcome;
            }
        };
        if object.is_unreferenced() {
            return outcome;
        }
        let Some(matters) = self.hold_decision(object, discovery) else {
            return outcome;
        };
        outcome.held = true;
        outcome.matters = matters;
        self.mark(object, head, bucket_config, &mut outcome).await;
        outcome
    }

    /// `None`: not held. `Some(matters)`: held, for these matters (empty when held for another
    /// reason). A manifest's hold flag overrides the policy; the decision is per conversation.
    fn hold_decision(
        &self,
        object: &DiscoveredObject,
        discovery: &Discovery,
    ) -> Option<Vec<String>> {
        let conversation = object.conversation_id.as_deref();
        let matters = match (&self.policy.selection, conversation) {
            (Selection::Matters(register), Some(c)) => register.matters_for(c),
            _ => Vec::new(),
        };
        let registered = !matters.is_empty();
        let matters: Vec<String> = match self.released {
            Some(released) => matters
                .into_iter()
                .filter(|m| !released.contains(&(object.key.clone(), m.clone())))
                .collect(),
            None => matters,
        };
        if registered && matters.is_empty() {
            // Every matter that held the object released it.
            return None;
        }
        let held = match (object.hold_flag, &self.policy.selection) {
            (Some(flag), _) => flag,
            (None, Selection::Everything) => true,
            (None, Selection::Matters(_)) => !matters.is_empty(),
            (None, Selection::FieldEquals { path, value }) => conversation
                .and_then(|c| discovery.documents.get(c))
                .is_some_and(|documents| {
                    documents.iter().any(|d| {
                        values_at_path(d, path)
                            .into_iter()
                            .any(|v| value_equals(v, value))
                    })
                }),
        };
        if !held {
            return None;
        }
        match (&self.policy.default_matter, matters.is_empty()) {
            (Some(default), true)
                if self
                    .released
                    .is_some_and(|r| r.contains(&(object.key.clone(), default.clone()))) =>
            {
                None
            }
            (Some(default), true) => Some(vec![default.clone()]),
            _ => Some(matters),
        }
    }
}

impl ObjectOutcome {
    /// The outcome of an object nothing was done to yet: what discovery observed of it.
    pub(crate) fn from_discovered(object: &DiscoveredObject) -> Self {
        ObjectOutcome::new(observed_of(object))
    }
}

fn observed_of(object: &DiscoveredObject) -> Observed {
    let head = object.head();
    Observed {
        bucket: object.bucket.clone(),
        key: object.key.clone(),
        version_id: object.pinned_version().map(str::to_string),
        size: head.map(|h| h.size),
        etag: head.map(|h| h.etag.clone()),
        s3_checksum: head
            .and_then(|h| h.checksum.as_ref().or(h.checksum_sha256.as_ref()))
            .map(|c| match c {
                StoredChecksum::FullObject { algorithm, base64 } => format!("{algorithm}:{base64}"),
                StoredChecksum::Composite {
                    algorithm,
                    base64,
                    parts,
                } => format!("{algorithm}:{base64}-{parts}"),
            }),
        role: Some(object.role),
        conversation_id: object.conversation_id.clone(),
        recording_id: object.recording_id.clone(),
        expected_size: object.expected_size,
        expected_sha256: object.expected_sha256.clone(),
    }
}

pub(super) fn is_kms(head: Option<&ObjectHead>) -> bool {
    head.and_then(|h| h.encryption.as_ref())
        .is_some_and(|e| e.is_kms())
}

/// Whether `current` is a different object version than the exported `pinned` one.
pub(super) fn is_newer(current: &ObjectHead, pinned: &ObjectHead) -> bool {
    match (&current.version_id, &pinned.version_id) {
        (Some(c), Some(p)) => c != p,
        _ => current.etag != pinned.etag || current.last_modified != pinned.last_modified,
    }
}

fn value_equals(found: &Value, wanted: &str) -> bool {
    match found {
        Value::String(s) => s == wanted,
        Value::Bool(b) => b.to_string().eq_ignore_ascii_case(wanted),
        Value::Number(n) => n.to_string() == wanted,
        _ => false,
    }
}

pub(super) fn failed(
    store: &dyn StoreMark,
    error: &StoreError,
    versioned: bool,
    kms: bool,
) -> Finding {
    Finding::from_store_error(store, error, versioned, kms)
}
