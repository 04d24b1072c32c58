//! What a run does with its submissions: integrate them itself (inline, the default for the CLI
//! and tests) or leave them to the integrator (`CUSTODY_INTEGRATION=sequencer`, `custody ingest
//! --submit-only`), and the account of that in [`RunLedger`].
//!
//! Inline, a run first integrates whatever earlier runs left pending (a killed run's chunks),
//! so that its look-up of what is already recorded sees them, and at the end integrates until
//! its own submissions are in blocks.

use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::ledger::{IntegrateOutcome, Ledger, LedgerError, Placed, Rejected};

/// Submission bytes one inline integration round reads: the round holds a few copies of them
/// (lines, block), so this keeps an inline run's memory flat (the ledger's blocks are then at
/// most this size plus the header).
const ROUND_BYTES: u64 = 8 << 20;

/// How long an inline run waits for another integrator holding its submissions.
const WAIT_FOR_OTHERS: Duration = Duration::from_secs(60);

/// Who integrates a run's submissions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Integration {
    /// The run integrates (every pending submission, its own included) before it reports.
    #[default]
    Inline,
    /// The run only submits; an integrator (the sequencer function, `custody integrate`)
    /// folds the submissions into blocks.
    SubmitOnly,
}

impl Integration {
    /// `inline` or `sequencer` (also `submit-only`), as `CUSTODY_INTEGRATION` spells it.
    pub fn parse(text: &str) -> Option<Integration> {
        match text.trim() {
            "inline" | "" => Some(Integration::Inline),
            "sequencer" | "submit-only" => Some(Integration::SubmitOnly),
            _ => None,
        }
    }
}

/// A run's submissions and what became of them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunLedger {
    pub integration: Integration,
    /// The run's submissions (one per chunk), in the order they were made.
    pub submissions: Vec<String>,
    /// Records submitted.
    pub submitted: usize,
    /// Records refused before submitting (never written).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Rejected>,
    /// Submissions left pending by earlier runs that this run integrated first.
    pub earlier_integrated: usize,
    /// Records the run's integration appended, and found already present (inline only; the
    /// rounds may include other writers' pending submissions).
    pub appended: usize,
    pub already_present: usize,
    /// Of the records the report shows, those this run's integration appended.
    pub appended_shown: Vec<Placed>,
    /// The run's submissions still pending when it reported (all of them, submitting only).
    pub pending: Vec<String>,
    /// The newest block written by the run's integration, and the tree size after it.
    pub block: Option<u64>,
    pub tree_size: u64,
    /// Lines of the run's submissions the integrator refused (kept under `rejected/`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
}

impl RunLedger {
    pub fn new(integration: Integration) -> Self {
        RunLedger {
            integration,
            ..Default::default()
        }
    }

    /// Every record was made durable, and (inline) integrated.
    pub fn complete(&self) -> bool {
        self.rejected.is_empty()
            && self.refused.is_empty()
            && (self.integration == Integration::SubmitOnly || self.pending.is_empty())
    }

    fn add_rounds(&mut self, rounds: &[IntegrateOutcome]) {
        for round in rounds {
            self.appended += round.appended;
            self.already_present += round.already_present;
            self.block = round.block.or(self.block);
            self.tree_size = round.tree_size;
            for refused in &round.refused {
                if self.submissions.contains(&refused.submission) {
                    self.refused.push(format!(
                        "{} line {}: {}",
                        refused.submission, refused.line, refused.reason
                    ));
                }
            }
        }
    }
}

impl fmt::Display for RunLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.integration {
            Integration::SubmitOnly => write!(
                f,
                "{} record(s) submitted in {} submission(s), left to the integrator",
                self.submitted,
                self.submissions.len()
            )?,
            Integration::Inline => write!(
                f,
                "{} record(s) appended, {} already present, tree size {} ({} record(s) submitted in {} submission(s))",
                self.appended,
                self.already_present,
                self.tree_size,
                self.submitted,
                self.submissions.len()
            )?,
        }
        if self.earlier_integrated > 0 {
            write!(
                f,
                "; {} submission(s) of earlier runs integrated first",
                self.earlier_integrated
            )?;
        }
        if self.integration == Integration::Inline && !self.pending.is_empty() {
            write!(f, "; {} submission(s) STILL PENDING", self.pending.len())?;
        }
        if !self.rejected.is_empty() || !self.refused.is_empty() {
            write!(
                f,
                "; {} record(s) refused",
                self.rejected.len() + self.refused.len()
            )?;
        }
        Ok(())
    }
}

/// Inline, before the run: integrate what earlier runs left pending. Returns the tree size
/// after it (the run's appended records are those placed at or after it).
pub(super) async fn integrate_earlier(ledger: &Ledger, account: &mut RunLedger) -> u64 {
    let integrated = async {
        let rounds = ledger.integrate_all_within(None, ROUND_BYTES).await?;
        Ok::<_, LedgerError>((rounds, ledger.tree_size().await?))
    };
    match integrated.await {
        Ok((rounds, size)) => {
            account.earlier_integrated = rounds.iter().map(|r| r.integrated.len()).sum();
            account.tree_size = size;
            size
        }
        Err(e) => {
            tracing::warn!(error = %e, "pending submissions not integrated before the run; recorded versions may be processed again");
            u64::MAX
        }
    }
}

/// Inline, after the run: integrate until the run's submissions are in blocks, then find which
/// of the shown records were appended (placed at or after `size_before`).
pub(super) async fn integrate_run(
    ledger: &Ledger,
    account: &mut RunLedger,
    shown_ids: &[String],
    size_before: u64,
) -> Result<(), LedgerError> {
    if account.submissions.is_empty() {
        return Ok(());
    }
    let rounds = ledger.integrate_all_within(None, ROUND_BYTES).await?;
    account.add_rounds(&rounds);
    // Another integrator may hold some of them in a round of its own.
    let deadline = Instant::now() + WAIT_FOR_OTHERS;
    let mut pending = ledger
        .wait_integrated(&account.submissions, Duration::ZERO)
        .await?;
    while !pending.is_empty() && Instant::now() < deadline {
        let rounds = ledger.integrate_all_within(None, ROUND_BYTES).await?;
        account.add_rounds(&rounds);
        pending = ledger
            .wait_integrated(&pending, Duration::from_secs(1))
            .await?;
    }
    account.pending = pending;
    if size_before != u64::MAX {
        let placed = ledger.locate_many(shown_ids).await?;
        account.appended_shown = shown_ids
            .iter()
            .filter_map(|id| placed.get(id))
            .filter(|p| p.leaf_index >= size_before)
            .cloned()
            .collect();
    }
    Ok(())
}
