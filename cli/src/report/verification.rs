//! What the report was made against, and whether it holds: the whole ledger verified as
//! `custody verify` does (every block, record, Merkle root and signed checkpoint;
//! `docs/ledger.md`), every attestation checked against the records it summarises, and the
//! newest block's signed checkpoint (C2SP signed note) shown with the result of checking its
//! signature against the trusted keys:
//!
//! ```text
//! custody.example.com/ledger
//! 127
//! 4ZzTk1vqvQrMbnzt2hKn0x8xg2w8ZP9kGJd4T5rZ0AA=
//!
//! — custody.example.com/ledger 3iD7Kg…
//! ```
//!
//! The keys trusted are those given with `--key` (pinned) or, without them, the keys published
//! beside the ledger: then the headline says UNPINNED, as `custody verify` does, because anyone
//! who can write the bucket can publish a key and re-sign the whole ledger.

use custody_core::audit::check_attestations;
use custody_core::ledger::{BlockView, Ledger, Trust, Verdict};
use serde::Serialize;

/// The verification a report carries.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// `intact`, `tampered`, `empty` or `could_not_run`.
    pub verdict: Verdict,
    /// The verdict in one line, as `custody verify` prints it.
    pub headline: String,
    /// `pinned-keys` (the auditor's `--key`) or `published-keys` (UNPINNED).
    pub trust: Trust,
    pub unpinned: bool,
    pub trusted_keys: Vec<String>,
    pub blocks: u64,
    pub records: u64,
    pub tree_size: u64,
    pub root: Option<String>,
    /// Each failed check, by block, leaf and check.
    pub failures: Vec<String>,
    pub error: Option<String>,
    /// The newest block and its signed checkpoint, as stored.
    pub checkpoint_block: Option<u64>,
    pub checkpoint: Option<String>,
    /// The trusted key (`name+id`) whose signature on that checkpoint verified, or why none did.
    pub checkpoint_signed_by: Option<String>,
    pub checkpoint_problem: Option<String>,
    pub attestations_checked: usize,
    pub attestation_failures: Vec<String>,
}

impl Verification {
    /// Whether the report may be relied on: the ledger intact, its newest checkpoint signed by
    /// a trusted key, every attestation holding.
    pub fn holds(&self) -> bool {
        self.verdict == Verdict::Intact
            && self.checkpoint_signed_by.is_some()
            && self.attestation_failures.is_empty()
    }
}

/// Verify `ledger` for a report.
pub async fn verify_for_report(ledger: &Ledger) -> Verification {
    let report = ledger.verify(None).await;
    let unpinned = report.trust == Trust::PublishedKeys;
    let word = match report.verdict {
        Verdict::Intact => "INTACT",
        Verdict::Tampered => "TAMPERED",
        Verdict::Empty => "EMPTY",
        Verdict::CouldNotRun => "COULD NOT VERIFY",
    };
    let headline = if unpinned {
        format!(
            "{word} (UNPINNED: trusting keys published in the bucket; anyone who can write the \
             bucket can publish a key and re-sign the ledger: pass --key to pin yours)"
        )
    } else {
        format!("{word} (pinned keys: {})", report.trusted_keys.join(", "))
    };
    let mut verification = Verification {
        verdict: report.verdict,
        headline,
        trust: report.trust,
        unpinned,
        trusted_keys: report.trusted_keys.clone(),
        blocks: report.blocks,
        records: report.records,
        tree_size: report.tree_size,
        root: report.root.clone(),
        failures: report.failures.iter().map(ToString::to_string).collect(),
        error: report.error.clone(),
        checkpoint_block: None,
        checkpoint: None,
        checkpoint_signed_by: None,
        checkpoint_problem: None,
        attestations_checked: 0,
        attestation_failures: Vec::new(),
    };
    newest_checkpoint(ledger, &mut verification).await;
    if report.verdict == Verdict::Intact {
        match check_attestations(ledger).await {
            Ok(checked) => {
                verification.attestations_checked = checked.checked;
                verification.attestation_failures = checked
                    .failures
                    .iter()
                    .map(|f| {
                        format!(
                            "block {} leaf {} record {}: {}",
                            f.block, f.leaf_index, f.record_id, f.problem
                        )
                    })
                    .collect();
            }
            Err(e) => verification
                .attestation_failures
                .push(format!("the attestations could not be checked: {e}")),
        }
    }
    verification
}

/// The newest block's checkpoint, and whether a trusted key signed it.
async fn newest_checkpoint(ledger: &Ledger, verification: &mut Verification) {
    let head = match ledger.head().await {
        Ok(Some(head)) => head,
        Ok(None) => {
            verification.checkpoint_problem = Some("the ledger has no block".to_string());
            return;
        }
        Err(e) => {
            verification.checkpoint_problem = Some(format!("the newest block: {e}"));
            return;
        }
    };
    verification.checkpoint_block = Some(head.index);
    let checkpoint = match BlockView::parse(&head.bytes)
        .map_err(|e| e.to_string())
        .and_then(|view| view.checkpoint().map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            verification.checkpoint_problem = Some(format!("block {}: {e}", head.index));
            return;
        }
    };
    verification.checkpoint = Some(checkpoint.note().to_string());
    match ledger.trusted_keys().await {
        Ok((trusted, _)) => match checkpoint.verify(&trusted) {
            Ok(signer) => verification.checkpoint_signed_by = Some(signer),
            Err(e) => verification.checkpoint_problem = Some(e.to_string()),
        },
        Err(e) => verification.checkpoint_problem = Some(format!("the trusted keys: {e}")),
    }
}
