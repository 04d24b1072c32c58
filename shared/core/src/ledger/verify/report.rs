//! The verification report's vocabulary: the checks by name, one failure, the verdict, the trust
//! the verdict rests on, and the report as people and programs read it.
//!
//! ```text
//! ledger   file:///ledger/
//! origin   custody.example.com/ledger
//! blocks   5   records 20   tree size 20
//! root     <base64>
//! trust    pinned keys: custody.example.com/ledger+1a2b3c4d
//! INTACT: every check passed
//! ```
//!
//! `--json` carries the same fields, with `verdict` one of `intact`, `tampered`, `could_not_run`,
//! `empty`, `trust` one of `pinned-keys`, `published-keys`, and each failure as
//! `{"check":"root","block":2,"leaf":null,"message":"..."}`.

use std::fmt;

use serde::Serialize;

/// The checks of ledger verification, in the words the report uses. (Not to be confused with the
/// digest module's `Check`, the outcome of one checksum comparison.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerCheck {
    /// An object under `blocks/` that is not a block key, or a non-regular object named like
    /// a block.
    Listing,
    /// A block or key object has more than one version: it was overwritten.
    Overwritten,
    /// A block file larger than the writer ever writes.
    BlockSize,
    /// Block positions are contiguous from 0.
    Gap,
    /// The block file has the block layout and a canonical header.
    Parse,
    /// The block at position N says it is block N (an old block copied forward fails here).
    Position,
    /// `prev` is the hash of the previous block's header.
    Chain,
    /// `first_leaf` is the previous tree size and `tree_size = first_leaf + count`.
    LeafRange,
    /// The block holds as many records as its header says.
    RecordCount,
    /// The root recomputed from the previous frontier and this block's leaves is the stored root.
    Root,
    /// The stored frontier is the recomputed one.
    Frontier,
    /// The checkpoint note is a checkpoint of this ledger's origin, size and root.
    Checkpoint,
    /// The checkpoint is signed by a trusted key named after the origin.
    Signature,
    /// The record is a custody record.
    RecordFormat,
    /// The record's id is the identity of its fields.
    Identity,
    /// No identity appears twice in the ledger.
    Duplicate,
    /// The pinned checkpoint is a signed checkpoint of this ledger.
    Pinned,
    /// The ledger extends the pinned checkpoint (no truncation, no fork).
    Consistency,
}

impl LedgerCheck {
    pub fn name(&self) -> &'static str {
        match self {
            LedgerCheck::Listing => "listing",
            LedgerCheck::Overwritten => "overwritten",
            LedgerCheck::BlockSize => "block_size",
            LedgerCheck::Gap => "gap",
            LedgerCheck::Parse => "parse",
            LedgerCheck::Position => "position",
            LedgerCheck::Chain => "chain",
            LedgerCheck::LeafRange => "leaf_range",
            LedgerCheck::RecordCount => "record_count",
            LedgerCheck::Root => "root",
            LedgerCheck::Frontier => "frontier",
            LedgerCheck::Checkpoint => "checkpoint",
            LedgerCheck::Signature => "signature",
            LedgerCheck::RecordFormat => "record_format",
            LedgerCheck::Identity => "identity",
            LedgerCheck::Duplicate => "duplicate",
            LedgerCheck::Pinned => "pinned",
            LedgerCheck::Consistency => "consistency",
        }
    }
}

impl fmt::Display for LedgerCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One failed check, where it failed, and what was found. `block` and `leaf` are `null` in JSON
/// where they do not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub check: LedgerCheck,
    pub block: Option<u64>,
    pub leaf: Option<u64>,
    pub message: String,
}

impl Failure {
    pub fn at(check: LedgerCheck, block: Option<u64>, message: impl Into<String>) -> Failure {
        Failure {
            check,
            block,
            leaf: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.check)?;
        if let Some(b) = self.block {
            write!(f, " block {b}")?;
        }
        if let Some(l) = self.leaf {
            write!(f, " leaf {l}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The outcome of a verification, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every check passed on a ledger of at least one block.
    Intact,
    /// At least one check failed: evidence of tampering or damage.
    #[default]
    Tampered,
    /// Verification could not run (store unreachable, no keys, bad arguments): no verdict on the
    /// ledger at all.
    CouldNotRun,
    /// The ledger holds no blocks and nothing else failed.
    Empty,
}

/// What the signature checks rest on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trust {
    /// Keys the auditor gave (`--key`): a ledger re-signed by anyone else fails.
    #[default]
    PinnedKeys,
    /// The keys published in the ledger's own `keys/`: whoever can write the bucket can publish
    /// a key and re-sign the whole ledger, so the verdict proves consistency, not authorship.
    PublishedKeys,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub verdict: Verdict,
    pub location: String,
    pub origin: String,
    pub blocks: u64,
    pub records: u64,
    /// Tree size and root of the newest block that is in its place.
    pub tree_size: u64,
    pub root: Option<String>,
    /// The newest checkpoint, only when the verdict is intact and its signature was verified by
    /// a trusted key: the one to pin for the next verification.
    pub latest_checkpoint: Option<String>,
    pub trusted_keys: Vec<String>,
    pub trust: Trust,
    /// Keys that signed blocks, with the number of blocks each signed.
    pub signed_by: Vec<(String, u64)>,
    pub pinned_size: Option<u64>,
    pub failures: Vec<Failure>,
    pub notices: Vec<String>,
    /// Set when verification could not run at all.
    pub error: Option<String>,
}

impl VerifyReport {
    pub fn could_not_run(location: String, origin: String, error: String) -> Self {
        VerifyReport {
            verdict: Verdict::CouldNotRun,
            location,
            origin,
            error: Some(error),
            ..Default::default()
        }
    }

    /// Intact: every check passed on a ledger of at least one block.
    pub fn is_intact(&self) -> bool {
        self.verdict == Verdict::Intact
    }

    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// The distinct checks that failed.
    pub fn failed_checks(&self) -> Vec<LedgerCheck> {
        let mut checks: Vec<LedgerCheck> = self.failures.iter().map(|f| f.check).collect();
        checks.sort();
        checks.dedup();
        checks
    }

    /// Settle the verdict from what was found, and keep the newest checkpoint only when it may be
    /// pinned.
    pub(super) fn settle(&mut self) {
        self.verdict = if self.error.is_some() {
            Verdict::CouldNotRun
        } else if !self.failures.is_empty() {
            Verdict::Tampered
        } else if self.blocks == 0 {
            Verdict::Empty
        } else {
            Verdict::Intact
        };
        if self.verdict != Verdict::Intact {
            self.latest_checkpoint = None;
        }
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "ledger   {}", self.location)?;
        writeln!(f, "origin   {}", self.origin)?;
        if let Some(e) = &self.error {
            return writeln!(f, "COULD NOT VERIFY (no verdict on the ledger): {e}");
        }
        writeln!(
            f,
            "blocks   {}   records {}   tree size {}",
            self.blocks, self.records, self.tree_size
        )?;
        if let Some(r) = &self.root {
            writeln!(f, "root     {r}")?;
        }
        let keys = self.trusted_keys.join(", ");
        match self.trust {
            Trust::PinnedKeys => writeln!(f, "trust    pinned keys: {keys}")?,
            Trust::PublishedKeys => writeln!(
                f,
                "trust    UNPINNED: keys published in the bucket ({keys}); anyone who can write \
                 the bucket can publish a key: pass --key to pin yours"
            )?,
        }
        for (k, n) in &self.signed_by {
            writeln!(f, "signer   {k} signed {n} block(s)")?;
        }
        if let Some(p) = self.pinned_size {
            writeln!(f, "pinned   checkpoint of size {p}")?;
        }
        for n in &self.notices {
            writeln!(f, "note     {n}")?;
        }
        let unpinned = if self.trust == Trust::PublishedKeys {
            " (UNPINNED: trusting keys published in the bucket)"
        } else {
            ""
        };
        match self.verdict {
            Verdict::Intact => writeln!(f, "INTACT{unpinned}: every check passed"),
            Verdict::Empty => writeln!(
                f,
                "EMPTY{unpinned}: the ledger holds no blocks; nothing was verified"
            ),
            Verdict::CouldNotRun => writeln!(f, "COULD NOT VERIFY (no verdict on the ledger)"),
            Verdict::Tampered => {
                writeln!(f, "TAMPERED or DAMAGED: {} failure(s)", self.failures.len())?;
                for failure in &self.failures {
                    writeln!(f, "  {failure}")?;
                }
                Ok(())
            }
        }
    }
}
