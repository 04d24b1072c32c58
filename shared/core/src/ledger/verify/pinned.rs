//! Consistency with a checkpoint the auditor pinned earlier: the pinned checkpoint must be a
//! signed checkpoint of the auditor's origin, and the ledger must extend it (RFC 6962 §2.1.2
//! consistency): fewer records than it covers is truncation (an empty ledger included), a
//! different prefix is a fork.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::super::checkpoint::Checkpoint;
use super::super::merkle::{Frontier, Hash, PartialTree, check_consistency};
use super::VerifyInput;
use super::checks::BlockResult;
use super::report::{Failure, LedgerCheck, VerifyReport};

pub(super) fn check_pinned(
    input: &VerifyInput<'_>,
    pinned: &Checkpoint,
    results: &[BlockResult],
    report: &mut VerifyReport,
) {
    fn fail(report: &mut VerifyReport, check: LedgerCheck, message: String) {
        report.failures.push(Failure::at(check, None, message));
    }
    if pinned.origin != input.origin {
        fail(
            report,
            LedgerCheck::Pinned,
            format!(
                "the pinned checkpoint is for origin {:?}, this ledger is {:?}",
                pinned.origin, input.origin
            ),
        );
        return;
    }
    if let Err(e) = pinned.verify(input.trusted) {
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
    let leaves: Vec<Hash> = results
        .iter()
        .filter(|r| r.in_place)
        .flat_map(|r| r.leaves.iter().copied())
        .collect();
    let size = leaves.len() as u64;
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
    let empty = Frontier::empty();
    let tree = PartialTree {
        base: &empty,
        leaves: &leaves,
    };
    let proof = tree
        .consistency_proof(pinned.size)
        .expect("all leaves are at hand");
    let root = tree.subtree(0, size).expect("all leaves are at hand");
    if !check_consistency(&proof, pinned.size, &pinned.root, size, &root) {
        let old = tree
            .subtree(0, pinned.size)
            .expect("all leaves are at hand");
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
