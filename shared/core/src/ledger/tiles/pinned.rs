//! A checkpoint the auditor pinned earlier, checked against the ledger's newest block with the
//! tiles: one RFC 6962 consistency proof (C2SP tlog-tiles, "Merkle Tree") from the pinned tree to
//! the newest signed checkpoint, O(log n) reads, where the full verification reads every block.
//!
//! It answers one question only: does the ledger's newest signed tree extend the pinned one
//! (truncation and forks). It checks neither the blocks nor the records; `custody verify` does.
//! Both checkpoints must be signed by a trusted key named after the ledger's origin; the tiles
//! are authenticated against the newest one's root before the proof is made of them.

use super::super::block::BlockView;
use super::super::checkpoint::Checkpoint;
use super::super::keys::TrustedKeys;
use super::super::log::Ledger;
use super::super::merkle::check_consistency;
use super::error::TilesError;
use super::proofs::{TileLog, TileProof};

/// The verdict on a pinned checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinnedVerdict {
    /// The newest block's signed tree extends the pinned one.
    Consistent {
        newest: Checkpoint,
        block: u64,
        /// The consistency proof, and the reads it took.
        proof: TileProof,
    },
    /// The pinned checkpoint is not a signed checkpoint of this ledger's origin by a trusted key.
    PinnedRefused(String),
    /// The newest block's checkpoint is not signed by a trusted key.
    NewestRefused { block: u64, reason: String },
    /// The ledger holds fewer records than the pinned checkpoint covers (an empty ledger
    /// included).
    Truncated { pinned: u64, size: u64 },
    /// The ledger's tree is not an extension of the pinned one.
    Forked { pinned: u64, size: u64 },
}

/// Check `pinned` against the newest block of `ledger` with a consistency proof from the tiles.
/// Errors are what stops the check from being made (the store, tiles not published up to the
/// newest block, an altered tile); the verdict is what it found.
pub async fn check_pinned(
    ledger: &Ledger,
    pinned: &Checkpoint,
    trusted: &TrustedKeys,
) -> Result<PinnedVerdict, TilesError> {
    let origin = &ledger.config().origin;
    if &pinned.origin != origin {
        return Ok(PinnedVerdict::PinnedRefused(format!(
            "the pinned checkpoint is for origin {:?}, this ledger is {origin:?}",
            pinned.origin
        )));
    }
    if let Err(e) = pinned.verify(trusted) {
        return Ok(PinnedVerdict::PinnedRefused(e.to_string()));
    }
    let Some(head) = ledger.head().await? else {
        return Ok(if pinned.size == 0 {
            PinnedVerdict::PinnedRefused("the pinned checkpoint covers no record".to_string())
        } else {
            PinnedVerdict::Truncated {
                pinned: pinned.size,
                size: 0,
            }
        });
    };
    let view = BlockView::parse(&head.bytes).map_err(|e| TilesError::Block {
        index: head.index,
        message: e.to_string(),
    })?;
    let newest = view.checkpoint().map_err(|e| TilesError::Block {
        index: head.index,
        message: e.to_string(),
    })?;
    if let Err(e) = newest.verify(trusted) {
        return Ok(PinnedVerdict::NewestRefused {
            block: head.index,
            reason: e.to_string(),
        });
    }
    if pinned.size > newest.size {
        return Ok(PinnedVerdict::Truncated {
            pinned: pinned.size,
            size: newest.size,
        });
    }
    let store = ledger.store().as_ref();
    let (_, published) = TileLog::open(store, ledger.layout()).await?;
    if published.size < newest.size {
        return Err(TilesError::NotPublished {
            tree_size: newest.size,
            published: published.size,
        });
    }
    let log = TileLog::new(store, ledger.layout(), newest.size);
    let proof = if pinned.size == 0 || pinned.size == newest.size {
        TileProof {
            proof: Vec::new(),
            reads: 0,
            bytes: 0,
            keys: Vec::new(),
        }
    } else {
        log.consistency_proof(pinned.size, newest.size, &newest.root)
            .await?
    };
    let consistent = pinned.size == 0
        || check_consistency(
            &proof.proof,
            pinned.size,
            &pinned.root,
            newest.size,
            &newest.root,
        );
    Ok(if consistent {
        PinnedVerdict::Consistent {
            newest,
            block: head.index,
            proof,
        }
    } else {
        PinnedVerdict::Forked {
            pinned: pinned.size,
            size: newest.size,
        }
    })
}
