//! Integration: folding records into new blocks, each identity at most once in the whole ledger
//! (`docs/ledger.md`, "Submissions and the integrator").
//!
//! One integrator holds the identity set ([`super::identities`]) in memory, so de-duplication
//! costs no store request per record. A round: read the blocks written since the set's tip (by a
//! second integrator started by mistake), keep the candidates whose identity no block holds,
//! build the next block on the tip and write it create-only (`If-None-Match: *`). Losing the
//! create means another writer took the position: read its block and go again. After a win the
//! head hint is updated and the integrated submissions are deleted; a crash before that leaves
//! them pending, and the next round finds their records present and deletes them then.
//!
//! [`Ledger::append`] integrates records handed to it in memory; [`Ledger::integrate`] the
//! pending submissions.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use futures::{StreamExt, stream};
use serde::Serialize;

use crate::store::{PutOutcome, PutRequest, StoreError, StoreErrorKind};

use super::super::block::{BlockView, MAX_BLOCK_BYTES, build_block};
use super::super::error::LedgerError;
use super::super::record::CustodyRecord;
use super::super::tiles;
use super::head::HeadHint;
use super::identities::{IdentityLoad, IdentitySet};
use super::submissions::{MAX_SUBMISSION_BYTES, PendingSubmission, RefusedLine, refuse};
use super::{AppendOutcome, Ledger, Placed, Rejected};

/// Room left in a block for its header and checkpoint note.
const BLOCK_OVERHEAD: u64 = 64 << 10;

/// Record bytes one block takes.
const BLOCK_BUDGET: u64 = MAX_BLOCK_BYTES - BLOCK_OVERHEAD;

/// Submissions read in one round at most.
const ROUND_SUBMISSIONS: usize = 20_000;

/// What one integration round did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IntegrateOutcome {
    /// Submissions integrated and deleted in this round.
    pub integrated: Vec<String>,
    /// Records appended in new blocks.
    pub appended: usize,
    /// Records of the submissions that a block already held.
    pub already_present: usize,
    /// Lines refused (the submission is kept under `rejected/`).
    pub refused: Vec<RefusedLine>,
    /// Submissions left pending: unreadable now, too large, or beyond this round's budget.
    pub left_pending: Vec<String>,
    /// Why each submission left pending was left.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The newest block written.
    pub block: Option<u64>,
    pub tree_size: u64,
    /// When each block of the round was created.
    #[serde(skip)]
    pub finished: Option<Instant>,
}

/// The identity set of this process, once loaded, and how it was loaded.
type LoadedIdentities = Option<(IdentitySet, IdentityLoad)>;

/// Records ready to place: (id, canonical line), de-duplicated.
type Candidates = Vec<(String, Vec<u8>)>;

impl Ledger {
    /// Append records, each at most once in the whole ledger. Records whose identity is already
    /// in the ledger are reported in `already_present`; records that cannot be appended as they
    /// stand are reported in `rejected`; the rest go into new blocks (one, unless they exceed the
    /// block size cap).
    pub async fn append(&self, records: Vec<CustodyRecord>) -> Result<AppendOutcome, LedgerError> {
        let mut rejected = Vec::new();
        let mut seen = HashSet::new();
        let mut candidates = Vec::new();
        for r in records {
            let line = r.to_line();
            if let Some(reason) = refuse(&r, &line) {
                rejected.push(Rejected { id: r.id, reason });
            } else if seen.insert(r.id.clone()) {
                candidates.push((r.id, line));
            }
        }
        let mut outcome = self.place(candidates).await?;
        outcome.rejected = rejected;
        Ok(outcome)
    }

    /// Integrate pending submissions: one round, reading up to one block's worth of them.
    pub async fn integrate(&self) -> Result<IntegrateOutcome, LedgerError> {
        self.integrate_within(BLOCK_BUDGET).await
    }

    /// One round reading up to `budget` bytes of submissions (at least one): a writer that
    /// integrates inline keeps its memory to a few times `budget` (the blocks are smaller).
    pub async fn integrate_within(&self, budget: u64) -> Result<IntegrateOutcome, LedgerError> {
        let mut listed = self.list_pending().await?;
        let mut out = IntegrateOutcome::default();
        let mut budget = budget.min(BLOCK_BUDGET);
        let mut chosen = Vec::new();
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        for s in listed {
            if s.size > MAX_SUBMISSION_BYTES {
                out.problems.push(format!(
                    "{}: {} bytes, larger than the {MAX_SUBMISSION_BYTES} a submission may be",
                    s.key, s.size
                ));
                out.left_pending.push(s.key);
            } else if chosen.len() < ROUND_SUBMISSIONS && (s.size <= budget || chosen.is_empty()) {
                budget = budget.saturating_sub(s.size);
                chosen.push(s.key);
            } else {
                out.left_pending.push(s.key);
            }
        }
        if chosen.is_empty() {
            let guard = self.identities.lock().await;
            out.tree_size = guard.as_ref().map_or(0, |(s, _)| s.tree_size());
            return Ok(out);
        }
        let reads = chosen.into_iter().map(|key| async move {
            let read = self.read_submission(&key).await;
            (key, read)
        });
        let mut pending: Vec<PendingSubmission> = Vec::new();
        let mut fetched = stream::iter(reads).buffered(self.config.concurrency.max(1));
        while let Some((key, read)) = fetched.next().await {
            match read {
                Ok(p) => pending.push(p),
                // Deleted meanwhile by another integrator: nothing to do.
                Err(LedgerError::Store(e)) if e.kind == StoreErrorKind::NotFound => {}
                Err(e) => {
                    out.problems.push(format!("{key}: {e}"));
                    out.left_pending.push(key);
                }
            }
        }
        let mut seen = HashSet::new();
        let mut candidates = Vec::new();
        for p in &pending {
            for (id, line) in &p.records {
                if seen.insert(id.as_str()) {
                    candidates.push((id.clone(), line.clone()));
                }
            }
        }
        let placed = self.place(candidates).await?;
        out.appended = placed.appended.len();
        out.already_present = placed.already_present.len();
        out.block = placed.block;
        out.tree_size = placed.tree_size;
        out.finished = Some(Instant::now());
        // Every record of every read submission is now in a block: retire them.
        let retirements = pending
            .iter()
            .map(|p| async move { (p, self.retire(p).await) });
        let mut retired =
            stream::iter(retirements).buffer_unordered(self.config.concurrency.max(1));
        while let Some((p, result)) = retired.next().await {
            match result {
                Ok(()) => {
                    out.integrated.push(p.key.clone());
                    out.refused.extend(p.refused.iter().cloned());
                }
                Err(e) => {
                    tracing::warn!(submission = %p.key, error = %e,
                        "integrated but not deleted: the next round finds its records present");
                    out.problems
                        .push(format!("{}: integrated, not deleted: {e}", p.key));
                    out.left_pending.push(p.key.clone());
                }
            }
        }
        Ok(out)
    }

    /// Integrate rounds until nothing is pending or `deadline` passes.
    pub async fn integrate_all(
        &self,
        deadline: Option<Instant>,
    ) -> Result<Vec<IntegrateOutcome>, LedgerError> {
        self.integrate_all_within(deadline, BLOCK_BUDGET).await
    }

    /// [`Ledger::integrate_all`] in rounds of [`Ledger::integrate_within`] `budget`.
    pub async fn integrate_all_within(
        &self,
        deadline: Option<Instant>,
        budget: u64,
    ) -> Result<Vec<IntegrateOutcome>, LedgerError> {
        let mut rounds = Vec::new();
        loop {
            let round = self.integrate_within(budget).await?;
            let idle = round.integrated.is_empty();
            let more = !round.left_pending.is_empty();
            rounds.push(round);
            if idle || !more || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(rounds);
            }
        }
    }

    /// Save the identity snapshot when the blocks since the last one cost more to re-read than
    /// the snapshot costs to write (or always, with `force`, when anything is new).
    pub async fn save_identity_snapshot(&self, force: bool) -> Result<bool, LedgerError> {
        let mut guard = self.identities.lock().await;
        let Some((set, _)) = guard.as_mut() else {
            return Ok(false);
        };
        let due = set.blocks_since_saved() >= 64
            || set.records_since_saved() >= (set.tree_size() / 8).max(100_000)
            || (force && set.blocks_since_saved() > 0);
        if due {
            self.save_identities(set).await?;
        }
        Ok(due)
    }

    /// The identity set, loaded on first use, brought up to the newest block.
    pub(super) async fn identities_now(
        &self,
    ) -> Result<tokio::sync::MutexGuard<'_, LoadedIdentities>, LedgerError> {
        let mut guard = self.identities.lock().await;
        match guard.as_mut() {
            None => *guard = Some(self.load_identities().await?),
            Some((set, load)) => load.blocks_read += self.catch_up(set).await?,
        }
        Ok(guard)
    }

    /// Place de-duplicated candidates: present ones are found, the others appended.
    async fn place(&self, candidates: Candidates) -> Result<AppendOutcome, LedgerError> {
        let signer = self.signer.as_ref().ok_or(LedgerError::ReadOnly)?;
        let mut guard = self.identities_now().await?;
        let (set, load) = guard.as_mut().expect("loaded");
        let mut total = AppendOutcome {
            appended: Vec::new(),
            already_present: Vec::new(),
            rejected: Vec::new(),
            block: None,
            tree_size: set.tree_size(),
            attempts: 0,
            identity_blocks_read: 0,
            identity_snapshot_refused: load.snapshot_refused.clone(),
        };
        let mut remaining = candidates;
        while !remaining.is_empty() {
            total.attempts += 1;
            if total.attempts > self.config.max_attempts {
                return Err(LedgerError::Contention {
                    attempts: total.attempts - 1,
                });
            }
            if total.attempts > 1 {
                load.blocks_read += self.catch_up(set).await?;
            }
            let ids: Vec<String> = remaining.iter().map(|(id, _)| id.clone()).collect();
            let present = self.confirm(set, &ids).await?;
            let mut fresh = Vec::new();
            for (id, line) in remaining {
                match present.get(&id) {
                    Some(p) => total.already_present.push(p.clone()),
                    None => fresh.push((id, line)),
                }
            }
            total.tree_size = set.tree_size();
            if fresh.is_empty() {
                break;
            }
            // One block of at most the budget; the rest waits for the next turn of the loop.
            let mut bytes = 0u64;
            let take = fresh
                .iter()
                .position(|(_, l)| {
                    bytes += l.len() as u64 + 1;
                    bytes > BLOCK_BUDGET
                })
                .unwrap_or(fresh.len())
                .max(1);
            remaining = fresh.split_off(take);
            let lines: Vec<Vec<u8>> = fresh.iter().map(|(_, l)| l.clone()).collect();
            let created = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
            let block = build_block(set.tip(), &lines, &self.config.origin, signer, &created)
                .map_err(|e| LedgerError::Config(e.to_string()))?;
            let index = block.header.index;
            let mut put =
                PutRequest::new(self.layout.block(index), block.bytes.clone()).create_only();
            put.content_type = Some("text/plain; charset=utf-8".into());
            put.checksum_sha256 = true;
            let won = match self.store.put(put).await {
                Ok(PutOutcome::Created { .. }) => true,
                Ok(PutOutcome::AlreadyExists) => false,
                Err(e) if retryable(&e) => false,
                Err(e) => return Err(e.into()),
            };
            if !won {
                // Another writer took the position (or the answer was lost): read what is there
                // and go again with the same records.
                remaining.extend(fresh);
                let pause = rand::random::<u64>() % (2 * u64::from(total.attempts.min(25)) + 1);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                continue;
            }
            let first = block.header.first_leaf;
            let ids: Vec<String> = fresh.iter().map(|(id, _)| id.clone()).collect();
            set.apply_written(&ids, first, block.tip_after.clone());
            total
                .appended
                .extend(ids.into_iter().enumerate().map(|(k, id)| Placed {
                    id,
                    block: index,
                    leaf_index: first + k as u64,
                }));
            total.block = Some(index);
            total.tree_size = block.header.tree_size;
            let hint = serde_json::to_vec(&HeadHint { block: index }).expect("serializes");
            if let Err(e) = self
                .store
                .put(PutRequest::new(self.layout.head_hint(), hint))
                .await
            {
                tracing::warn!(block = index, error = %e, "head hint not updated");
            }
            if self.config.publish_derived {
                self.publish_tiles(&block.bytes).await;
                self.index_for_queries(&block.bytes).await;
            }
        }
        total.identity_blocks_read = load.blocks_read;
        drop(guard);
        if let Err(e) = self.save_identity_snapshot(false).await {
            tracing::warn!(error = %e, "identity snapshot not saved; the next process re-reads the blocks");
        }
        Ok(total)
    }

    /// Publish the C2SP tiles of a block just written ([`crate::ledger::tiles`]). Tiles are
    /// derived from the blocks: a failure is logged and repaired by catching up from the blocks,
    /// never a failure of the append.
    async fn publish_tiles(&self, block: &[u8]) {
        let Ok(view) = BlockView::parse(block) else {
            return;
        };
        let Err(e) = tiles::publish_block(self.store.as_ref(), &self.layout, &view).await else {
            return;
        };
        tracing::warn!(block = view.header.index, error = %e, "tiles not published; catching up");
        if let Err(e) = tiles::catch_up(self).await {
            tracing::warn!(error = %e, "tiles not caught up; the next block tries again");
        }
    }

    /// Index a block just written for queries ([`crate::query`]): derived from the blocks like
    /// the tiles, so a failure is logged and repaired by catching up.
    async fn index_for_queries(&self, block: &[u8]) {
        let Err(e) = crate::query::index_block(self.store.as_ref(), &self.layout, block).await
        else {
            return;
        };
        tracing::warn!(error = %e, "block not indexed for queries; catching up");
        if let Err(e) = crate::query::catch_up(self).await {
            tracing::warn!(error = %e, "query index not caught up; the next block tries again");
        }
    }

    /// The tree size: the identity set loaded (once) and brought up to the newest block.
    pub async fn tree_size(&self) -> Result<u64, LedgerError> {
        let guard = self.identities_now().await?;
        Ok(guard.as_ref().map_or(0, |(set, _)| set.tree_size()))
    }

    /// Where each identity is in the ledger, if anywhere, checked against the blocks.
    pub async fn locate_many(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Placed>, LedgerError> {
        let guard = self.identities_now().await?;
        let (set, _) = guard.as_ref().expect("loaded");
        self.confirm(set, ids).await
    }

    /// Where record `id` is, checked against its block, and a note when the identity snapshot
    /// was refused (the blocks were then read instead).
    pub async fn locate_checked(
        &self,
        id: &str,
    ) -> Result<(Option<Placed>, Option<String>), LedgerError> {
        let found = self.locate_many(&[id.to_string()]).await?.remove(id);
        let note = self
            .identities
            .lock()
            .await
            .as_ref()
            .and_then(|(_, load)| load.snapshot_refused.clone())
            .map(|r| format!("the identity snapshot was refused ({r}); the blocks were read"));
        Ok((found, note))
    }

    pub async fn locate(&self, id: &str) -> Result<Option<Placed>, LedgerError> {
        Ok(self.locate_checked(id).await?.0)
    }
}

/// Whether a failed block write is worth another round. The round re-reads the blocks after the
/// tip, so a write whose outcome is unknown (it may have been created) is safe to retry: its
/// records are then found already present.
fn retryable(e: &StoreError) -> bool {
    !matches!(
        e.kind,
        StoreErrorKind::AccessDenied
            | StoreErrorKind::InvalidRequest
            | StoreErrorKind::NoObjectLock
    )
}

#[cfg(test)]
#[path = "integrate_tests.rs"]
mod tests;
