//! The witness: an independent party that countersigns the ledger's checkpoints only when each
//! extends the last one it countersigned, so that an operator holding the signing key cannot show
//! two auditors two histories (a fork) or roll one back without one of them seeing a checkpoint
//! the witness never cosigned.
//!
//! One run ([`witness`]):
//!
//! 1. the newest block's signed checkpoint, verified with the ledger keys the witness was given
//!    (never the keys published in the bucket);
//! 2. against the last checkpoint this witness cosigned (its state, kept by the caller, outside
//!    the ledger bucket): not smaller, the same root at the same size, and otherwise an RFC 6962
//!    consistency proof from tiles (`tiles::check_pinned`) from the old tree to the new one;
//! 3. the new checkpoint cosigned (C2SP tlog-cosignature v1, [`super::cosignature`]) and
//!    published create-only at `witness/<key id>/<tree size, 20 digits>` beside the ledger, where
//!    `custody verify --witness-key` reads it; the caller then saves it as the new state.
//!
//! A checkpoint that does not extend the state is refused ([`WitnessError::Refused`]): nothing is
//! cosigned and the state is kept, so the fork stays visible at every later run.

use bytes::Bytes;

use super::block::BlockView;
use super::checkpoint::Checkpoint;
use super::cosignature::{CosignatureError, WitnessKey, WitnessSigner};
use super::keys::TrustedKeys;
use super::log::Ledger;
use super::tiles::{PinnedVerdict, check_pinned};
use crate::store::{PutRequest, StoreErrorKind};

/// What a witness run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessed {
    /// The checkpoint cosigned (the new state), note and cosignature included.
    pub cosigned: Vec<u8>,
    pub size: u64,
    /// The size of the previous state, if any.
    pub previous: Option<u64>,
    /// Where the cosigned checkpoint was published.
    pub published: String,
    /// Whether it was already published (a run that saw no new block, or a repeated run).
    pub already_published: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The ledger's newest checkpoint does not extend the one last cosigned: nothing is signed.
    #[error("refused: {0}")]
    Refused(String),
    /// The witness's own state is not a checkpoint it cosigned.
    #[error("the witness state is not a checkpoint this witness cosigned: {0}")]
    State(CosignatureError),
    /// The check could not be made (store, tiles, empty ledger).
    #[error("could not witness: {0}")]
    CouldNotRun(String),
}

/// One witness run over `ledger`: see the module docs. `state` is the last checkpoint this
/// witness cosigned (`None` at the first run: the newest checkpoint is trusted on first use);
/// `now` the POSIX time of the cosignature.
pub async fn witness(
    ledger: &Ledger,
    log_keys: &TrustedKeys,
    signer: &WitnessSigner,
    state: Option<&[u8]>,
    now: u64,
) -> Result<Witnessed, WitnessError> {
    let could_not = |e: &dyn std::fmt::Display| WitnessError::CouldNotRun(e.to_string());
    let origin = &ledger.config().origin;
    let key = signer.verifier();
    let previous = match state {
        None => None,
        Some(note) => {
            let (cp, _) = key.verify(note, log_keys).map_err(WitnessError::State)?;
            if &cp.origin != origin {
                return Err(WitnessError::State(CosignatureError::NotLogSigned(
                    format!(
                        "the state is a checkpoint of {:?}, this ledger is {origin:?}",
                        cp.origin
                    ),
                )));
            }
            Some(cp)
        }
    };
    let newest = match &previous {
        Some(old) => match check_pinned(ledger, old, log_keys)
            .await
            .map_err(|e| could_not(&e))?
        {
            PinnedVerdict::Consistent { newest, .. } => newest,
            PinnedVerdict::Truncated { pinned, size } => {
                return Err(WitnessError::Refused(format!(
                    "the ledger holds {size} records, fewer than the {pinned} of the checkpoint last cosigned (truncated or rolled back)"
                )));
            }
            PinnedVerdict::Forked { pinned, size } => {
                return Err(WitnessError::Refused(format!(
                    "the tree of {size} records does not extend the tree of {pinned} records last cosigned (a fork)"
                )));
            }
            PinnedVerdict::NewestRefused { block, reason } => {
                return Err(WitnessError::Refused(format!(
                    "the checkpoint of block {block} is not signed by a trusted ledger key: {reason}"
                )));
            }
            PinnedVerdict::PinnedRefused(why) => return Err(WitnessError::Refused(why)),
        },
        None => newest_checkpoint(ledger, log_keys).await?,
    };
    if &newest.origin != origin {
        return Err(WitnessError::Refused(format!(
            "the newest checkpoint names origin {:?}, not {origin:?}",
            newest.origin
        )));
    }
    let published = ledger.layout().cosignature(key.key_id(), newest.size);
    let store = ledger.store();
    // Published already (a run that saw no new block)? Keep what is there if it is ours and of
    // this very checkpoint; anything else at that key is refused rather than trusted.
    match store.get_bytes(&published, None).await {
        Ok(bytes) => {
            let (there, _) = key.verify(&bytes, log_keys).map_err(|e| {
                WitnessError::Refused(format!(
                    "{published} holds what is not this witness's cosignature: {e}"
                ))
            })?;
            if there.root != newest.root || there.size != newest.size {
                return Err(WitnessError::Refused(format!(
                    "{published} cosigns another root for size {}",
                    newest.size
                )));
            }
            return Ok(Witnessed {
                cosigned: bytes.to_vec(),
                size: newest.size,
                previous: previous.map(|p| p.size),
                published,
                already_published: true,
            });
        }
        Err(e) if e.kind == StoreErrorKind::NotFound => {}
        Err(e) => return Err(could_not(&e)),
    }
    let cosigned = signer
        .cosign(newest.note().as_bytes(), now)
        .map_err(|e| could_not(&e))?;
    store
        .put(PutRequest::new(published.clone(), Bytes::from(cosigned.clone())).create_only())
        .await
        .map_err(|e| could_not(&format!("publishing {published}: {e}")))?;
    Ok(Witnessed {
        cosigned,
        size: newest.size,
        previous: previous.map(|p| p.size),
        published,
        already_published: false,
    })
}

/// The newest block's checkpoint, verified with `log_keys`.
async fn newest_checkpoint(
    ledger: &Ledger,
    log_keys: &TrustedKeys,
) -> Result<Checkpoint, WitnessError> {
    let head = ledger
        .head()
        .await
        .map_err(|e| WitnessError::CouldNotRun(e.to_string()))?
        .ok_or_else(|| WitnessError::CouldNotRun("the ledger is empty".to_string()))?;
    let view = BlockView::parse(&head.bytes)
        .map_err(|e| WitnessError::Refused(format!("block {}: {e}", head.index)))?;
    let newest = view
        .checkpoint()
        .map_err(|e| WitnessError::Refused(format!("block {}: {e}", head.index)))?;
    newest.verify(log_keys).map_err(|e| {
        WitnessError::Refused(format!(
            "the checkpoint of block {} is not signed by a trusted ledger key: {e}",
            head.index
        ))
    })?;
    Ok(newest)
}

/// What an auditor learns from a witness's cosignatures beside a ledger whose newest signed
/// checkpoint is `newest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WitnessVerdict {
    /// The largest cosigned checkpoint is consistent with the ledger: the tree up to `size` is
    /// the one the witness saw (at POSIX time `time`).
    Witnessed { size: u64, time: u64, newest: u64 },
    /// No cosignature of that witness on a checkpoint of this ledger.
    NotWitnessed(String),
    /// A cosigned checkpoint the ledger does not extend: the ledger was forked or truncated
    /// after the witness saw it.
    Contradicted(String),
}

/// Check the witness's largest cosigned checkpoint beside `ledger` against it.
pub async fn check_witnessed(
    ledger: &Ledger,
    log_keys: &TrustedKeys,
    witness: &WitnessKey,
) -> Result<WitnessVerdict, WitnessError> {
    let store = ledger.store();
    let prefix = ledger.layout().cosignatures_prefix(witness.key_id());
    let mut listed = store
        .list(&prefix)
        .await
        .map_err(|e| WitnessError::CouldNotRun(e.to_string()))?;
    listed.sort_by(|a, b| b.key.cmp(&a.key));
    let mut refused = Vec::new();
    for object in listed {
        let bytes = match store.get_bytes(&object.key, None).await {
            Ok(b) => b,
            Err(e) => return Err(WitnessError::CouldNotRun(e.to_string())),
        };
        let (cp, time) = match witness.verify(&bytes, log_keys) {
            Ok(found) => found,
            Err(e) => {
                refused.push(format!("{}: {e}", object.key));
                continue;
            }
        };
        if cp.origin != ledger.config().origin
            || ledger.layout().cosignature(witness.key_id(), cp.size) != object.key
        {
            refused.push(format!(
                "{}: a checkpoint of size {} of {:?}",
                object.key, cp.size, cp.origin
            ));
            continue;
        }
        return Ok(
            match check_pinned(ledger, &cp, log_keys)
                .await
                .map_err(|e| WitnessError::CouldNotRun(e.to_string()))?
            {
                PinnedVerdict::Consistent { newest, .. } => WitnessVerdict::Witnessed {
                    size: cp.size,
                    time,
                    newest: newest.size,
                },
                PinnedVerdict::Truncated { pinned, size } => WitnessVerdict::Contradicted(format!(
                    "{} cosigned a tree of {pinned} records; the ledger holds {size}",
                    witness.label()
                )),
                PinnedVerdict::Forked { pinned, size } => WitnessVerdict::Contradicted(format!(
                    "the ledger's tree of {size} records does not extend the tree of {pinned} records {} cosigned",
                    witness.label()
                )),
                PinnedVerdict::NewestRefused { block, reason } => WitnessVerdict::Contradicted(
                    format!("the checkpoint of block {block} is not trusted: {reason}"),
                ),
                PinnedVerdict::PinnedRefused(why) => WitnessVerdict::Contradicted(why),
            },
        );
    }
    Ok(WitnessVerdict::NotWitnessed(if refused.is_empty() {
        format!(
            "no checkpoint cosigned by {} under {prefix}",
            witness.label()
        )
    } else {
        format!(
            "no valid cosignature by {} under {prefix}: {}",
            witness.label(),
            refused.join("; ")
        )
    }))
}
