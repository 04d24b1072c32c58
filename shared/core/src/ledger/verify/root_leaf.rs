//! Naming the first altered record of a block whose leaves do not hash to its signed root.
//!
//! A `[root]` failure alone says that some record of a block changed after the block's root was
//! signed, not which. The tiles published beside the blocks (`ledger::tiles`, C2SP tlog-tiles)
//! hold the leaf hash of every record as it was when the tree was built. When the block's
//! checkpoint verified under a trusted key, its root is the auditor's anchor: each leaf the
//! verifier computed is checked by an inclusion proof from tiles authenticated against that root,
//! and the first that fails is the first altered record (`leaf` in the report). Tiles are
//! derived data anyone with write access could alter, but an altered tile fails authentication
//! against the signed root, so the worst an attacker can do is leave the leaf unnamed, never name
//! the wrong one. Without a verified signature nothing is named: the root could be the
//! attacker's.

use super::report::{Failure, LedgerCheck};
use crate::ledger::Ledger;
use crate::ledger::merkle::Hash;
use crate::ledger::tiles::TileLog;

/// At most this many blocks get their altered leaf looked for in one verification.
pub(super) const MAX_LEADS: usize = 8;

/// A block with a `[root]` failure whose root was signed by a trusted key.
pub(super) struct RootLead {
    pub position: u64,
    pub first_leaf: u64,
    pub tree_size: u64,
    pub root: Hash,
    pub leaves: Vec<Hash>,
}

/// For each lead: the first leaf the signed tree holds otherwise, `None` when every leaf is the
/// one it holds, or why the tiles could not tell.
pub(super) async fn first_altered_leaves(
    ledger: &Ledger,
    leads: &[RootLead],
) -> Vec<Result<Option<u64>, String>> {
    let mut found = Vec::with_capacity(leads.len());
    for lead in leads {
        let log = TileLog::new(ledger.store().as_ref(), ledger.layout(), lead.tree_size);
        found.push(
            log.first_differing_leaf(lead.first_leaf, &lead.leaves, lead.tree_size, &lead.root)
                .await
                .map_err(|e| e.to_string()),
        );
    }
    found
}

/// The `[root]` failure of block `position` in `failures`, completed with what the tiles said.
pub(super) fn name_altered_leaf(
    failures: &mut [Failure],
    position: u64,
    located: Result<Option<u64>, String>,
) {
    let Some(failure) = failures
        .iter_mut()
        .find(|f| f.check == LedgerCheck::Root && f.block == Some(position))
    else {
        return;
    };
    match located {
        Ok(Some(leaf)) => {
            failure.leaf = Some(leaf);
            failure.message.push_str(&format!(
                "; leaf {leaf} is the first whose record differs from the one the signed tree \
                 holds (inclusion proofs from tiles, authenticated against the block's signed root)"
            ));
        }
        Ok(None) => failure.message.push_str(
            "; every leaf is the one the signed tree holds: the root was computed from a wrong base",
        ),
        Err(why) => failure
            .message
            .push_str(&format!("; the altered leaf cannot be named from tiles: {why}")),
    }
}
