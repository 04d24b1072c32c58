//! The marking steps of one held object, in their documented order (see the module docs of
//! `hold`): is the exported version still current; the metadata copy (claimed first, proven by
//! hashing both versions); the tags, merged with the object's own; the Object Lock legal hold, on
//! the marked version and on the exported one.

use chrono::{SecondsFormat, Utc};

use super::copy_claim::Claim;
use super::engine::{HoldEngine, failed, is_kms, is_newer};
use super::finding::Finding;
use super::marking::{
    META_LEGAL_HOLD_SOURCE_VERSION, Merge, merge_hold_metadata, merge_hold_tags, metadata_has_hold,
};
use super::outcome::{ContentProof, MarkingStep, Mechanism, ObjectOutcome, StepResult};
use crate::export::DiscoveredObject;
use crate::store::{BucketConfig, CopyInPlace, ObjectHead, StoreError, StoreErrorKind};

/// What the engine knows about the version being marked as it goes.
pub(super) struct MarkState {
    pub(super) version: Option<String>,
    pub(super) metadata_has_hold: bool,
    pub(super) legal_hold: Option<bool>,
    pub(super) versioned: bool,
    pub(super) kms: bool,
}

impl HoldEngine<'_> {
    pub(super) async fn mark(
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
