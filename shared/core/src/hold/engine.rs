//! The hold engine: for every discovered object, decide whether it is held, apply the configured
//! marking in the documented order (metadata copy, tags, legal hold; see the module docs), and
//! return a typed outcome. One object's failure never stops the others.

use std::collections::BTreeSet;

use chrono::{SecondsFormat, Utc};
use futures::{StreamExt, stream};
use serde_json::Value;

use super::content::content_sha256;
use super::copy_claim::{Claim, CopyClaims};
use super::finding::Finding;
use super::marking::{
    META_LEGAL_HOLD_SOURCE_VERSION, Merge, merge_hold_metadata, merge_hold_tags, metadata_has_hold,
};
use super::outcome::{
    ContentProof, HoldReport, MarkingStep, Mechanism, ObjectOutcome, Observed, StepResult,
};
use super::policy::{HoldPolicy, Selection};
use crate::digest::DigestEngine;
use crate::export::{DiscoveredObject, Discovery, DiscoveryNote, ObjectState, values_at_path};
use crate::store::{
    BucketConfig, CopyInPlace, ObjectHead, StoreError, StoreErrorKind, StoreMark, StoredChecksum,
};

/// How many objects the engine marks at once.
pub const DEFAULT_HOLD_CONCURRENCY: usize = 8;

pub struct HoldEngine<'a> {
    store: &'a dyn StoreMark,
    policy: &'a HoldPolicy,
    concurrency: usize,
    /// Hashes the versions of a metadata copy; without it, a plain streaming hash is used.
    hasher: Option<&'a DigestEngine>,
    /// (key, matter) pairs whose hold the ledger says was released: never applied again.
    released: Option<&'a BTreeSet<(String, String)>>,
    /// Claims that make one metadata copy per exported version across concurrent runs.
    claims: Option<&'a CopyClaims<'a>>,
}

/// What the engine knows about the version being marked as it goes.
struct MarkState {
    version: Option<String>,
    metadata_has_hold: bool,
    legal_hold: Option<bool>,
    versioned: bool,
    kms: bool,
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
        }
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

    async fn content_hash(&self, key: &str, version: Option<&str>) -> Result<String, StoreError> {
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
        let bucket_config = if self.policy.marking.object_lock {
            Some(self.store.bucket_config().await)
        } else {
            None
        };
        let outcomes = stream::iter(discovery.objects.iter())
            .map(|object| self.process(object, discovery, bucket_config.as_ref()))
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

    async fn mark(
        &self,
        object: &DiscoveredObject,
        head: &ObjectHead,
        bucket_config: Option<&Result<BucketConfig, StoreError>>,
        outcome: &mut ObjectOutcome,
    ) {
        let key = object.key.as_str();
        let matters = outcome.matters.clone();
        let mut state = MarkState {
            version: head.version_id.clone(),
            metadata_has_hold: metadata_has_hold(&head.metadata, &matters),
            legal_hold: head.legal_hold,
            versioned: head.version_id.is_some(),
            kms: is_kms(Some(head)),
        };
        // Step 0: is the exported version still the current one?
        let mut copy_blocked = None;
        match self.store.head(key, None).await {
            Ok(current) if is_newer(&current, head) => {
                let our_copy = state.versioned
                    && current.metadata.get(META_LEGAL_HOLD_SOURCE_VERSION)
                        == head.version_id.as_ref()
                    && metadata_has_hold(&current.metadata, &matters);
                if our_copy {
                    state.version = current.version_id.clone();
                    state.metadata_has_hold = true;
                    state.legal_hold = current.legal_hold;
                } else {
                    let newer = current.version_id.clone();
                    copy_blocked = Some(format!(
                        "the key has a newer version ({}) than the exported one; copying the exported version onto the key would make its old content current again, so no metadata copy was made and the tags and legal hold went on the exported version",
                        newer.as_deref().unwrap_or("unversioned overwrite")
                    ));
                    outcome.findings.push(Finding::Overwritten {
                        newer_version: newer,
                    });
                }
            }
            Ok(_) => {}
            Err(e) => {
                copy_blocked = Some(
                    "the current version could not be checked, so copying was not safe".to_string(),
                );
                outcome
                    .findings
                    .push(failed(self.store, &e.with_key(key), false, state.kms));
            }
        }

        if self.policy.marking.metadata {
            let result = self
                .mark_metadata(object, head, &mut state, copy_blocked, outcome)
                .await;
            outcome.steps.push(MarkingStep {
                mechanism: Mechanism::Metadata,
                result,
            });
        }
        if self.policy.marking.tags {
            let result = self.mark_tags(key, &matters, &state, outcome).await;
            outcome.steps.push(MarkingStep {
                mechanism: Mechanism::Tags,
                result,
            });
        }
        if self.policy.marking.object_lock {
            let mut result = self
                .mark_legal_hold(key, &state, bucket_config, outcome)
                .await;
            // The exported version is the one hashed and recorded: when the marking landed on a
            // metadata copy, the exported version is held too, so it cannot be deleted either.
            if head.version_id.is_some()
                && state.version != head.version_id
                && !matches!(result, StepResult::NotDone)
            {
                let exported = MarkState {
                    version: head.version_id.clone(),
                    metadata_has_hold: false,
                    legal_hold: head.legal_hold,
                    versioned: state.versioned,
                    kms: state.kms,
                };
                let exported_result = self
                    .mark_legal_hold(key, &exported, bucket_config, outcome)
                    .await;
                result = match (result, exported_result) {
                    (_, StepResult::NotDone) => StepResult::NotDone,
                    (StepResult::AlreadyPresent { version }, StepResult::AlreadyPresent { .. }) => {
                        StepResult::AlreadyPresent { version }
                    }
                    (
                        StepResult::Applied { version } | StepResult::AlreadyPresent { version },
                        _,
                    ) => StepResult::Applied { version },
                    (StepResult::NotDone, _) => StepResult::NotDone,
                };
            }
            outcome.steps.push(MarkingStep {
                mechanism: Mechanism::ObjectLock,
                result,
            });
        }
        outcome.marked_version = state.version;
    }

    /// Polls the key's current version until it is another run's copy of `version` carrying
    /// the hold for `matters`, or `wait` has passed.
    async fn wait_for_copy(
        &self,
        key: &str,
        version: &str,
        matters: &[String],
        wait: std::time::Duration,
    ) -> Option<ObjectHead> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut pause = std::time::Duration::from_millis(50);
        loop {
            if let Ok(current) = self.store.head(key, None).await
                && current
                    .metadata
                    .get(META_LEGAL_HOLD_SOURCE_VERSION)
                    .map(String::as_str)
                    == Some(version)
                && metadata_has_hold(&current.metadata, matters)
            {
                return Some(current);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_secs(1));
        }
    }

    async fn mark_metadata(
        &self,
        object: &DiscoveredObject,
        head: &ObjectHead,
        state: &mut MarkState,
        copy_blocked: Option<String>,
        outcome: &mut ObjectOutcome,
    ) -> StepResult {
        let key = object.key.as_str();
        if state.metadata_has_hold {
            return StepResult::AlreadyPresent {
                version: state.version.clone(),
            };
        }
        if let Some(reason) = copy_blocked {
            outcome.findings.push(Finding::CannotMark {
                mechanism: Mechanism::Metadata,
                reason,
            });
            return StepResult::NotDone;
        }
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let metadata = match merge_hold_metadata(
            &head.metadata,
            &outcome.matters,
            &now,
            head.version_id.as_deref(),
        ) {
            Ok(Merge::Write(metadata)) => metadata,
            Ok(Merge::AlreadyPresent) => {
                return StepResult::AlreadyPresent {
                    version: state.version.clone(),
                };
            }
            Err(reason) => {
                outcome.findings.push(Finding::CannotMark {
                    mechanism: Mechanism::Metadata,
                    reason,
                });
                return StepResult::NotDone;
            }
        };
        let source_version = head.version_id.clone();
        let source_sha256 = match self.content_hash(key, source_version.as_deref()).await {
            Ok(sha) => sha,
            Err(e) => {
                outcome.findings.push(failed(
                    self.store,
                    &e.with_key(key),
                    state.versioned,
                    state.kms,
                ));
                return StepResult::NotDone;
            }
        };
        if let Some(expected) = object
            .expected_sha256
            .as_ref()
            .filter(|e| **e != source_sha256)
        {
            outcome.findings.push(Finding::Mismatch {
                what: "sha256 of the exported version".to_string(),
                expected: expected.clone(),
                actual: source_sha256.clone(),
            });
        }
        if let (Some(claims), Some(version)) = (self.claims, source_version.as_deref()) {
            match claims.claim(&object.bucket, key, version).await {
                Ok(Claim::Ours) => {}
                Ok(Claim::Theirs) => {
                    if let Some(copy) = self
                        .wait_for_copy(key, version, &outcome.matters, claims.wait)
                        .await
                    {
                        state.version = copy.version_id.clone();
                        state.metadata_has_hold = true;
                        state.legal_hold = copy.legal_hold;
                        return StepResult::AlreadyPresent {
                            version: state.version.clone(),
                        };
                    }
                    // The claimant stopped before copying: copy here (recorded like any copy).
                }
                Err(e) => {
                    outcome.findings.push(Finding::from_store_error(
                        self.store,
                        &e,
                        state.versioned,
                        state.kms,
                    ));
                    return StepResult::NotDone;
                }
            }
        }
        let request = CopyInPlace {
            key: key.to_string(),
            version_id: source_version.clone(),
            metadata,
            multipart_threshold: self.policy.multipart_threshold,
            part_size: self.policy.part_size,
        };
        let copy = match self.store.copy_in_place(&request).await {
            Ok(copy) => copy,
            Err(e) => {
                outcome.findings.push(failed(
                    self.store,
                    &e.with_key(key),
                    state.versioned,
                    state.kms,
                ));
                return StepResult::NotDone;
            }
        };
        outcome.new_version_id = copy.version_id.clone();
        state.version = copy.version_id.clone();
        state.legal_hold = Some(false);
        match self.content_hash(key, copy.version_id.as_deref()).await {
            Ok(copy_sha256) => {
                let proof = ContentProof {
                    source_version,
                    source_sha256,
                    copy_version: copy.version_id.clone(),
                    copy_sha256,
                };
                if !proof.holds() {
                    outcome.findings.push(Finding::Mismatch {
                        what: "content of the metadata copy".to_string(),
                        expected: proof.source_sha256.clone(),
                        actual: proof.copy_sha256.clone(),
                    });
                }
                outcome.content_proof = Some(proof);
            }
            Err(e) => outcome.findings.push(failed(
                self.store,
                &e.with_key(key),
                state.versioned,
                state.kms,
            )),
        }
        // A write racing the copy would leave the copy below a newer version. A concurrent
        // invocation's copy of the same exported version is no such write (at-least-once
        // delivery runs the same event side by side): it carries the same marking.
        if let Ok(current) = self.store.head(key, None).await
            && state.versioned
            && current.version_id != copy.version_id
            && !(current.metadata.get(META_LEGAL_HOLD_SOURCE_VERSION) == head.version_id.as_ref()
                && metadata_has_hold(&current.metadata, &outcome.matters))
        {
            outcome.findings.push(Finding::Overwritten {
                newer_version: current.version_id,
            });
        }
        StepResult::Applied {
            version: copy.version_id,
        }
    }

    async fn mark_tags(
        &self,
        key: &str,
        matters: &[String],
        state: &MarkState,
        outcome: &mut ObjectOutcome,
    ) -> StepResult {
        let version = state.version.as_deref();
        let existing = match self.store.get_tags(key, version).await {
            Ok(tags) => tags,
            Err(e) => {
                outcome.findings.push(failed(
                    self.store,
                    &e.with_key(key),
                    state.versioned,
                    state.kms,
                ));
                return StepResult::NotDone;
            }
        };
        match merge_hold_tags(&existing, matters) {
            Ok(Merge::AlreadyPresent) => StepResult::AlreadyPresent {
                version: state.version.clone(),
            },
            Ok(Merge::Write(tags)) => match self.store.put_tags(key, version, &tags).await {
                Ok(()) => StepResult::Applied {
                    version: state.version.clone(),
                },
                Err(e) => {
                    outcome.findings.push(failed(
                        self.store,
                        &e.with_key(key),
                        state.versioned,
                        state.kms,
                    ));
                    StepResult::NotDone
                }
            },
            Err(reason) => {
                outcome.findings.push(Finding::CannotMark {
                    mechanism: Mechanism::Tags,
                    reason,
                });
                StepResult::NotDone
            }
        }
    }

    async fn mark_legal_hold(
        &self,
        key: &str,
        state: &MarkState,
        bucket_config: Option<&Result<BucketConfig, StoreError>>,
        outcome: &mut ObjectOutcome,
    ) -> StepResult {
        let no_lock = |bucket: &str| Finding::CannotMark {
            mechanism: Mechanism::ObjectLock,
            reason: format!(
                "bucket {bucket:?} has no Object Lock configuration, so no legal hold can be set; enable Object Lock on the bucket (it needs versioning and cannot be turned off again) or drop object-lock from the marking"
            ),
        };
        if let Some(Ok(config)) = bucket_config
            && !config.object_lock
        {
            outcome.findings.push(no_lock(self.store.bucket()));
            return StepResult::NotDone;
        }
        if state.legal_hold == Some(true) {
            return StepResult::AlreadyPresent {
                version: state.version.clone(),
            };
        }
        match self
            .store
            .put_legal_hold(key, state.version.as_deref(), true)
            .await
        {
            Ok(()) => StepResult::Applied {
                version: state.version.clone(),
            },
            Err(e) if e.kind == StoreErrorKind::NoObjectLock => {
                outcome.findings.push(no_lock(self.store.bucket()));
                StepResult::NotDone
            }
            Err(e) => {
                outcome.findings.push(failed(
                    self.store,
                    &e.with_key(key),
                    state.versioned,
                    state.kms,
                ));
                StepResult::NotDone
            }
        }
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
            .and_then(|h| h.checksum_sha256.as_ref())
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

fn is_kms(head: Option<&ObjectHead>) -> bool {
    head.and_then(|h| h.encryption.as_ref())
        .is_some_and(|e| e.is_kms())
}

/// Whether `current` is a different object version than the exported `pinned` one.
fn is_newer(current: &ObjectHead, pinned: &ObjectHead) -> bool {
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

fn failed(store: &dyn StoreMark, error: &StoreError, versioned: bool, kms: bool) -> Finding {
    Finding::from_store_error(store, error, versioned, kms)
}
