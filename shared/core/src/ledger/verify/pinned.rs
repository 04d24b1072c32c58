//! Consistency with a checkpoint the auditor pinned earlier: the pinned checkpoint must be a
//! signed checkpoint of the auditor's origin, and the ledger must extend it (RFC 6962 §2.1.2
//! consistency): fewer records than it covers is truncation (an empty ledger included), a
//! different prefix is a fork.
//!
//! Verification streams, so the leaves are not at hand at the end: [`PrefixTree`] takes the
//! leaves of the blocks in place as they pass and keeps only a frontier (RFC 6962 §2.1, one hash
//! per set bit of the size) until it covers the pinned size, then its root. The tree of `size`
//! leaves extends the pinned tree of `m` leaves exactly when the root of its first `m` leaves is
//! the pinned root: that is what a consistency proof from `m` to `size` built from these leaves
//! shows, and what it fails to show otherwise.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::super::checkpoint::Checkpoint;
use super::super::keys::TrustedKeys;
use super::super::merkle::{Frontier, Hash};
use super::report::{Failure, LedgerCheck, VerifyReport};

/// The leaves of the ledger's blocks in place, in order: how many, and the root of the first
/// `target` of them.
#[derive(Debug, Default)]
pub(super) struct PrefixTree {
    target: u64,
    leaves: u64,
    frontier: Frontier,
    root_at_target: Option<Hash>,
}

impl PrefixTree {
    /// A tree that keeps the root of its first `target` leaves (none when `target` is 0).
    pub fn new(target: u64) -> PrefixTree {
        PrefixTree {
            target,
            ..Default::default()
        }
    }

    pub fn push(&mut self, leaves: &[Hash]) {
        let wanted = self.target.saturating_sub(self.leaves);
        for leaf in leaves
            .iter()
            .take(usize::try_from(wanted).unwrap_or(usize::MAX))
        {
            self.frontier.push(*leaf);
        }
        self.leaves = self.leaves.saturating_add(leaves.len() as u64);
        if self.root_at_target.is_none() && self.target > 0 && self.frontier.size() == self.target {
            self.root_at_target = Some(self.frontier.root());
            self.frontier = Frontier::empty();
        }
    }

    pub fn leaves(&self) -> u64 {
        self.leaves
    }
}

pub(super) fn check_pinned(
    origin: &str,
    trusted: &TrustedKeys,
    pinned: &Checkpoint,
    tree: &PrefixTree,
    report: &mut VerifyReport,
) {
    fn fail(report: &mut VerifyReport, check: LedgerCheck, message: String) {
        report.failures.push(Failure::at(check, None, message));
    }
    if pinned.origin != origin {
        fail(
            report,
            LedgerCheck::Pinned,
            format!(
                "the pinned checkpoint is for origin {:?}, this ledger is {:?}",
                pinned.origin, origin
            ),
        );
        return;
    }
    if let Err(e) = pinned.verify(trusted) {
        fail(
            report,
            LedgerCheck::Pinned,
            format!("the pinned checkpoint: {e}"),
        );
        return;
    }
    if report.failures.iter().any(|f| f.check == LedgerCheck::Gap) {
        report
            .notices
            .push("consistency with the pinned checkpoint not checked: blocks are missing".into());
        return;
    }
    let size = tree.leaves();
    if pinned.size > size {
        fail(
            report,
            LedgerCheck::Consistency,
            format!(
                "truncated: the pinned checkpoint covers {} records, the ledger holds {size}",
                pinned.size
            ),
        );
        return;
    }
    if pinned.size == 0 {
        return;
    }
    debug_assert_eq!(
        tree.target, pinned.size,
        "the tree was built for this checkpoint"
    );
    let old = tree
        .root_at_target
        .expect("the ledger holds at least the pinned size");
    if old != pinned.root {
        report.failures.push(Failure::at(
            LedgerCheck::Consistency,
            None,
            format!(
                "forked: the ledger's first {} records hash to {}, the pinned checkpoint says {}",
                pinned.size,
                BASE64.encode(old),
                BASE64.encode(pinned.root)
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::merkle::{PartialTree, check_consistency, leaf_hash};
    use super::*;

    /// The root kept as leaves pass in blocks of any sizes is the root of the first `target`
    /// leaves, and comparing it with a pinned root gives the verdict of an RFC 6962 consistency
    /// proof from the pinned size to the whole tree.
    #[test]
    fn the_root_at_the_pinned_size_decides_as_a_consistency_proof_does() {
        let leaves: Vec<Hash> = (0..97u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let empty = Frontier::empty();
        let all = PartialTree {
            base: &empty,
            leaves: &leaves,
        };
        let size = leaves.len() as u64;
        let root = all.subtree(0, size).unwrap();
        for target in 1..=size {
            for block in [1usize, 3, 7, 50] {
                let mut tree = PrefixTree::new(target);
                leaves.chunks(block).for_each(|c| tree.push(c));
                assert_eq!(tree.leaves(), size);
                let kept = tree.root_at_target.unwrap();
                assert_eq!(kept, all.subtree(0, target).unwrap(), "{target} {block}");
                let proof = all.consistency_proof(target).unwrap();
                assert!(check_consistency(&proof, target, &kept, size, &root));
                let mut other = kept;
                other[0] ^= 1;
                assert!(!check_consistency(&proof, target, &other, size, &root));
            }
        }
        let mut none = PrefixTree::new(0);
        none.push(&leaves);
        assert_eq!(none.root_at_target, None);
        assert_eq!(none.frontier.size(), 0);
    }
}
